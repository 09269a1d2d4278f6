# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 8. Appendix: scaling out — one recipe, many devices
#
# *Optional engineering appendix of the ACGAN series. About 15 minutes.*
#
# **What you will learn**
#
# 1. what *data parallelism* is: the batch is split across devices, the parameters are copied;
# 2. why the split does not change the maths — neither the gradient nor the batch-norm
#    statistics of the *global* batch;
# 3. how JAX expresses it: a device **mesh**, a **sharding** per array, and one `jax.jit`;
# 4. that `acgan_lib`'s trainer gives the same losses on 1, 2 and 4 devices, and that a run can
#    resume on a different number of devices.
#
# **Prerequisites:** notebook 6 (the training loop); `jax.jit`; the idea of a pytree. Background
# reading: JAX's [Distributed arrays and automatic parallelization](https://docs.jax.dev/en/latest/notebooks/Distributed_arrays_and_automatic_parallelization.html)
# and d2l's [Multiple GPUs](https://d2l.ai/chapter_computational-performance/multiple-gpus.html).
#
# This notebook needs no GPU: the first cell asks XLA to pretend the CPU is four devices
# (`--xla_force_host_platform_device_count=4`). They share the same cores, so nothing gets
# faster here — the point is that the *program* is the one you would run on four GPUs.

# %%
# Setup for Colab, Binder or any Jupyter: installs acgan_lib if it is missing, does nothing if not.
# Source: $ACGAN_LIB_SOURCE (a folder, wheel or pip URL such as git+https://HOST/OWNER/REPO.git)
# when set, else the checkout this notebook sits in (README, "Run it anywhere").
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("acgan_lib") is None:
    checkout = next((str(d) for d in [Path.cwd(), *Path.cwd().parents]
                     if (d / "acgan_lib" / "__init__.py").is_file()), None)
    source = os.environ.get("ACGAN_LIB_SOURCE") or checkout
    if source is None:
        raise SystemExit("acgan_lib is not installed and this notebook is not inside the project's checkout: "
                         "set ACGAN_LIB_SOURCE to the project's folder or pip URL (e.g. run "
                         "`%env ACGAN_LIB_SOURCE=git+https://HOST/OWNER/REPO.git` in a cell), then rerun this cell")
    widgets = [] if importlib.util.find_spec("ipywidgets") else ["ipywidgets>=8.1,<9"]
    print(f"installing acgan_lib from {source} (a minute or two) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source, *widgets], check=True)
    importlib.invalidate_caches()
import acgan_lib  # noqa: E402,F401

# %%
import os

# Must be set before JAX starts: simulate 4 devices on the CPU.
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
DATA = os.environ.get("ACGAN_DATA", "bundled")
ITERATIONS = 3                      # per device count (smoke and default: compilation dominates)

import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from acgan_lib import compile_cache, data, parallel, trainer

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

# %% tags=["nbval-check-output"]
print("backend:", jax.default_backend(), "| devices:", len(jax.devices()))

# %% [markdown]
# ## 1. Splitting a batch does not change the gradient
#
# The loss of a batch of $B$ digits is a mean, $L = \frac{1}{B}\sum_{i=1}^{B} \ell_i$. Split the
# batch into $N$ equal shards $S_1, \dots, S_N$ of $B/N$ digits, one per device. Each device
# computes the gradient of *its* shard's mean, $g_k = \frac{N}{B}\sum_{i \in S_k} \nabla \ell_i$, and
#
# $$\nabla L = \frac{1}{B}\sum_{i=1}^{B} \nabla \ell_i = \frac{1}{N}\sum_{k=1}^{N} g_k ,$$
#
# the **mean of the per-device gradients** — one all-reduce. Every device then applies the same
# Adam update to its copy of the parameters, so the copies never drift apart.
#
# Batch normalisation is the subtle part: the generator normalises with the mean and variance of
# the *batch* (in the generator step, 200 fakes). Per-shard statistics would be a different recipe
# (each device normalising by its own 50 of them). The global ones are again sums over shards,
#
# $$\mu = \frac{1}{N}\sum_k \mu_k, \qquad \sigma^2 = \frac{1}{N}\sum_k \overline{x^2}_k - \mu^2 ,$$
#
# so they cost one more all-reduce, and the result is *the single-device recipe*.
#
# ## 2. A mesh and two shardings
#
# A **mesh** names the devices' axes; ours is one axis called `"data"`. A **sharding** says how an
# array is laid out over the mesh: `PartitionSpec()` = every device holds all of it (replicated),
# `PartitionSpec("data")` = the first axis is split across `"data"`.

# %%
mesh = parallel.make_mesh(4)
params_like = jax.device_put(jnp.ones((5, 5, 384, 192)), parallel.replicated(mesh))   # deconv1's kernel shape
batch = jax.device_put(jnp.zeros((100, 28, 28, 1)), parallel.batch_sharding(mesh, 4))
for name, x in [("deconv1 kernel (replicated)", params_like), ("batch (split)", batch)]:
    shapes = [s.data.shape for s in x.addressable_shards]
    print(f"{name:<28} global {x.shape} -> per device {shapes[0]} on {len(shapes)} devices")

# %% tags=["nbval-check-output"]
assert all(s.data.shape == (25, 28, 28, 1) for s in batch.addressable_shards)
assert all(s.data.shape == params_like.shape for s in params_like.addressable_shards)
print("each device holds 1/4 of the batch and all of the kernel")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
for ax, (title, x) in zip(axes, [("parameters: replicated", params_like), ("batch: split along axis 0", batch)]):
    for d, shard in enumerate(x.addressable_shards):
        rows = shard.index[0]
        lo = 0 if rows.start is None else rows.start
        hi = x.shape[0] if rows.stop is None else rows.stop
        ax.barh(d, hi - lo, left=lo, color=f"C{d}")
        ax.text((lo + hi) / 2, d, f"{hi - lo}", ha="center", va="center", color="white", fontsize=11)
    ax.set_yticks(range(4), [f"device {d}" for d in range(4)])
    ax.set_xlabel("rows of axis 0 held")
    ax.set_title(title)
    ax.invert_yaxis()
plt.tight_layout()
plt.show()

# %% [markdown]
# Left: every device holds all rows of a parameter. Right: each holds a quarter of the batch.
#
# ## 3. One `jit`, whatever the layout
#
# `jax.jit` compiles a function of *global* arrays: its result does not depend on how the inputs
# are laid out, only how fast it is computed. XLA inserts the all-reduces of section 1 itself.
# Check it on batch-norm statistics: the same function on the split batch and on one device.

# %%
x = jax.random.normal(jax.random.key(0), (100, 7, 7, 192))


@jax.jit
def batch_stats(x):
    """Per-channel batch mean and variance, as batch normalisation computes them."""
    return x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))


m1, v1 = batch_stats(x)
m4, v4 = batch_stats(jax.device_put(x, parallel.batch_sharding(mesh, 4)))
diff = max(float(jnp.max(jnp.abs(m1 - m4))), float(jnp.max(jnp.abs(v1 - v4))))
print(f"max |single device - 4 devices| = {diff:.1e}")
assert diff < 1e-5

# %% [markdown]
# The difference is float rounding: four partial sums added in a different order. The trainer
# relies on exactly this. Its iteration is one jitted function (notebook 6); with `devices=N` it
# puts the training state and the data set on every device (`parallel.replicated`) and marks
# every batch-shaped array inside the step — real digits, latent vectors, sampled labels — with
# `jax.lax.with_sharding_constraint(x, parallel.batch_sharding(...))`. Nothing else changes:
# the dropout masks and latent draws are the same numbers on any device count, because they are
# part of the same global program.
#
# **Predict before you run:** the next cell trains the same seed for 3 iterations on 1, 2 and 4
# devices. Will the losses be equal, nearly equal, or just similar?

# %%
ds = data.load_mnist(DATA, verbose=False)
root = Path("runs/08_scaling")   # under the folder this notebook runs in
shutil.rmtree(root, ignore_errors=True)
losses = {}
for n in (1, 2, 4):
    run = trainer.Trainer(trainer.TrainConfig(devices=n, log_every=1, seed=0), ds, root / f"devices_{n}",
                          log=lambda s: None)
    rows = run.train(max_steps=ITERATIONS, progress=False)
    losses[n] = np.array([[r[k] for k in trainer.LOSS_KEYS] for r in rows])
    print(f"{n} device(s): mesh {dict(run.mesh.shape) if run.mesh else None}, last losses "
          + ", ".join(f"{k}={v:.5f}" for k, v in zip(trainer.LOSS_KEYS, losses[n][-1])))

# %%
worst = {n: float(np.max(np.abs(losses[n] - losses[1]))) for n in (2, 4)}
print("max |loss(N devices) - loss(1 device)| over all iterations and terms:",
      {n: f"{d:.1e}" for n, d in worst.items()})
assert all(d < 2e-4 for d in worst.values())

# %%
fig, axes = plt.subplots(1, len(trainer.LOSS_KEYS), figsize=(13, 2.8))
for j, (ax, key) in enumerate(zip(axes, trainer.LOSS_KEYS)):
    for n, style in [(1, "o-"), (2, "s--"), (4, "x:")]:
        ax.plot(range(1, ITERATIONS + 1), losses[n][:, j], style, label=f"{n} device(s)", markersize=7)
    ax.set_title(key)
    ax.set_xlabel("iteration")
    ax.set_xticks(range(1, ITERATIONS + 1))
axes[0].set_ylabel("loss")
axes[0].legend()
fig.suptitle("the same recipe on 1, 2 and 4 devices (note each panel's own y-range)")
plt.tight_layout()
plt.show()
spans = losses[1].max(axis=0) - losses[1].min(axis=0)
print("y-range of each panel:", {k: f"{s:.4f}" for k, s in zip(trainer.LOSS_KEYS, spans)})
assert max(worst.values()) < 0.01 * min(spans)   # under 1% of the smallest panel's y-range

# %% [markdown]
# Nearly equal: the losses agree to a few times $10^{-5}$ — the rounding of section 3, grown a
# little through three updates — so the run *is* the single-device recipe. In every panel the
# curves lie on top of each other: the largest difference is under 1% of the smallest panel's
# y-range.

# %% [markdown]
# ## 4. Checkpoints do not know the device count
#
# A checkpoint stores plain arrays (notebook 6), gathered from the devices. So a run trained on
# four devices resumes on one, and vice versa: `TrainConfig.devices` is not part of the recipe
# that `--resume` checks. (`tests/test_parallel.py` checks it: 2 iterations on 4 devices, the
# third on 1, give the 1-device losses.)
#
# ## 5. On real hardware
#
# * One machine with several GPUs: `python -m acgan_lib train --devices 0` uses all of them
#   (0, the default, means "all local devices"; 1 on a CPU). The batch size must be a multiple of
#   the device count; otherwise the trainer says so before it starts.
# * Several machines: call `jax.distributed.initialize()` first on every host (coordinator
#   address, number of processes, this process's id — or nothing on a cluster JAX recognises);
#   `jax.devices()` then lists every host's devices and the same code path builds the mesh over
#   all of them. Each host loads the same data set.
# * Larger batches change the *recipe*, not just the speed: the reference uses 100. Scale the
#   batch to keep every device busy only if you are ready to retune the learning rate.

# %% [markdown]
# ## Summary
#
# * Data parallelism splits the batch and replicates the parameters; the gradient of the mean
#   loss is the mean of the per-device gradients.
# * With `jax.jit` and shardings the program stays the global one — batch-norm statistics over
#   the whole batch, the same random numbers — and XLA adds the cross-device sums.
# * `acgan_lib` trains on 1, 2 or 4 devices with the same losses up to float rounding, and its
#   checkpoints move freely between device counts.
#
# ## Exercises
#
# 1. Ask for a batch of 30 on 4 devices (`trainer.TrainConfig(devices=4, batch_size=30)`). What
#    does the trainer say, and why must the batch split evenly?
# 2. Section 3 checked batch-norm *statistics*. Write the per-shard statistics instead (reshape
#    the batch to `(4, 25, ...)` and take the mean over each shard's 25 digits): how far are they
#    from the global ones, and why would per-shard normalisation be a different recipe?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: each device must get the same number of digits (100/4 = 25; 30/4 is not whole).
try:
    trainer.Trainer(trainer.TrainConfig(devices=4, batch_size=30), ds, root / "bad")
except ValueError as e:
    print("ValueError:", e)

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: per-shard means differ from the global mean by sampling noise of 25 digits
# (about std / sqrt(25 * 7 * 7) per channel here); normalising each shard by its own statistics
# changes every activation, so the generator would learn a different function.
shard_means = x.reshape(4, 25, 7, 7, 192).mean(axis=(1, 2, 3))
print("max |shard mean - global mean| =", float(jnp.max(jnp.abs(shard_means - m1))))
