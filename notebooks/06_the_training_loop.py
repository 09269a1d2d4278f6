# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. The full training loop
#
# **What you will learn**
#
# 1. how the discriminator step and the generator step alternate, one *iteration* at a time,
#    with a fresh shuffle every epoch;
# 2. to watch a run: live loss curves and sample grids over time;
# 3. to checkpoint a run and resume it **exactly** where it stopped;
# 4. how long training takes on this machine, and why a transposed convolution rewritten as a
#    matrix multiplication makes it several times faster on a CPU;
# 5. what failure looks like (the discriminator winning, collapsed or blank samples) and the
#    remedies the reference uses;
# 6. a remedy that leaves the recipe untouched: averaging the generator's weights over time.

# %%
import os
import shutil
import time
from pathlib import Path

SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
DATA = os.environ.get("ACGAN_DATA", "bundled")
ITERATIONS = 10 if SMOKE else 200        # about 2.5 minutes on a 2-core laptop CPU
SNAPSHOT_EVERY = 5 if SMOKE else 50

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx
from IPython.display import display

from acgan_lib import checkpoint, conv_transpose, data, models, plotting, pretrained, trainer

# %% [markdown]
# ## 1. One iteration = a discriminator step, then a generator step
#
# The loop in `acgan_lib.trainer.Trainer` follows the reference:
#
# ```python
# for epoch in range(epochs):
#     perm = shuffle(dataset)                        # a new order every epoch
#     for each batch of 100 real digits:
#         discriminator_step(real batch + 100 fakes)  # notebook 4
#         generator_step(200 fresh z and labels)      # notebook 5
#     checkpoint, sample grid, metadata.json
# ```
#
# For speed, the trainer compiles the **whole iteration** — both steps — into one XLA program
# (`jax.jit`), keeps the training set on the device and gathers each batch inside that program,
# and fetches the losses to Python only every `log_every` iterations.

# %%
ds = data.load_mnist(DATA)
out = Path("../build/notebook_runs/06_loop")
shutil.rmtree(out, ignore_errors=True)
config = trainer.TrainConfig(epochs=100, seed=0, log_every=10)   # the reference recipe
run = trainer.Trainer(config, ds, out)
print(config)
print("iterations per epoch:", run.steps_per_epoch)

# %% [markdown]
# ## 2. Training, with live loss curves and sample grids
#
# Every `log_every` iterations the callback redraws the losses; every `SNAPSHOT_EVERY`
# iterations it keeps a grid of samples (one row per fixed `z`, one column per class).

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
handle = display(fig, display_id=True)
plt.close(fig)
snapshots = {0: run.sample_grid()}


def on_log(rows):
    """Redraw the loss curves and keep a sample grid now and then."""
    log = trainer.read_log(out)
    for ax in axes:
        ax.clear()
    plotting.plot_losses(log, window=5, axes=axes)
    handle.update(fig)
    if run.step % SNAPSHOT_EVERY == 0:
        snapshots[run.step] = run.sample_grid()


t0 = time.perf_counter()
history = run.train(max_steps=ITERATIONS, progress=False, on_log=on_log)
wall = time.perf_counter() - t0
print(f"{run.step} iterations in {wall:.0f} s ({1000 * wall / run.step:.0f} ms per iteration, including compilation)")

# %%
steps = sorted(snapshots)
fig, axes = plt.subplots(1, len(steps), figsize=(3 * len(steps), 3.3))
for ax, s in zip(np.atleast_1d(axes), steps):
    plotting.show_grid(snapshots[s][:50], 10, ax=ax, title=f"iteration {s}")
plt.show()

# %% [markdown]
# After a couple of hundred iterations these grids are still grey. That is not (only) slow
# learning: samples are drawn in inference mode, with the batch-norm *running* statistics, which
# lag far behind the training batches early on (section 6). Meanwhile the losses above show the
# generator already fooling the discriminator in training mode. Section 5 shows the same run
# carried on for 12,500 iterations, where the samples catch up.
#
# ## 3. Checkpoints and exact resume
#
# The trainer wrote a checkpoint (both networks, both optimizer states, the batch-norm
# statistics, the step and the config) at the end. Every random number of step `t` comes from
# `fold_in(key(seed), t)` and every epoch's shuffle from `fold_in(key(seed + 1), epoch)`, so a
# run restored from a checkpoint computes exactly what the original would have.

# %%
for p in sorted(out.rglob("*"))[:12]:
    print(p.relative_to(out))
print(open(out / "checkpoints" / "LATEST").read())

# %%
resumed = trainer.Trainer(config, ds, out)
meta = resumed.restore()       # the latest checkpoint of this run directory

# %%
# NBVAL_CHECK_OUTPUT
more = 2
run.train(max_steps=ITERATIONS + more, progress=False)       # the original keeps going ...
resumed.train(max_steps=ITERATIONS + more, progress=False)   # ... and so does the restored copy


def all_arrays(t):
    return [np.asarray(x) for o in (t.gen, t.disc, t.g_opt, t.d_opt)
            for x in jax.tree.leaves(nnx.state(o, nnx.Not(nnx.RngState)))]


print("resumed run is bit-identical to the uninterrupted one:",
      all(np.array_equal(a, b) for a, b in zip(all_arrays(run), all_arrays(resumed))))

# %% [markdown]
# From the command line the same is `python -m acgan_lib train --out DIR` and, after a Ctrl-C
# (which saves a checkpoint) or a crash, `python -m acgan_lib train --out DIR --resume`.
#
# ## 4. How long does it take, and why it is fast
#
# One iteration pushes about 100 GFLOP through the two networks (the generator alone costs
# ≈ 80 MFLOP per image). Most of it is in the generator's transposed convolutions. XLA on a CPU
# computes a transposed convolution with a slow direct loop; `acgan_lib` computes the *same sum*
# as one matrix multiplication followed by an overlap-add (notebook 3, section 6). For this first
# layer (3×3 → 7×7) even the overlap-add is a matrix product: a fixed 0/1 matrix `S` of shape
# (49 output pixels, 9 input pixels × 25 taps) says where each (pixel, tap) product lands, and
# `S @ products` adds them up in one call instead of 25 shifted copies. Here is that layer at the
# batch size of a generator step:

# %%
x = jax.random.normal(jax.random.key(0), (200, 3, 3, 384))
kernel = run.gen.deconv1.kernel[...]
flax_layer = jax.jit(lambda x, k: jax.lax.conv_transpose(x, k, (1, 1), "VALID"))
ours = jax.jit(lambda x, k: conv_transpose.conv_transpose_matmul(x, k, (1, 1), "VALID"))


def best_of(f, n=3):
    jax.block_until_ready(f(x, kernel))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(f(x, kernel))
        times.append(time.perf_counter() - t)
    return min(times)


t_flax, t_ours = best_of(flax_layer), best_of(ours)
print(f"deconv1 forward, batch 200: lax.conv_transpose {1000 * t_flax:.0f} ms, matmul + overlap-add {1000 * t_ours:.0f} ms "
      f"({t_flax / t_ours:.0f}x faster)")
print("same numbers:", bool(jnp.allclose(flax_layer(x, kernel), ours(x, kernel), atol=1e-3)))
log = trainer.read_log(out)
per_iter = np.diff(log["train_seconds"]).mean() if len(log["train_seconds"]) > 2 else float("nan")
print(f"this run: about {1000 * per_iter:.0f} ms per iteration after compilation")

# %% [markdown]
# `benchmarks/train_step.py` times the whole iteration against a PyTorch implementation of the
# same architecture and recipe, side by side on the same machine; see the README for the
# figures. On the 2-core machine this series was built on, one iteration takes about 0.45 s
# (PyTorch eager on the same machine: about 0.48 s; the same Flax model with
# `nnx.ConvTranspose`: about 9 s).
#
# ## 5. A long run: what the losses say, and what they don't
#
# The pretrained generator shipped with the project was trained with the commands below; its
# per-step log, per-epoch evaluation by an independent digit classifier (notebook 7) and sample
# grids were saved next to it. Loading them costs nothing.

# %%
prov_dir = pretrained.GENERATOR_DIR
prov_text = (prov_dir / "PROVENANCE.md").read_text()
print(prov_text[prov_text.index("## How this run was made"):prov_text.index("Library versions")])
long_log = trainer.read_log(prov_dir)
evals = [__import__("json").loads(l) for l in open(prov_dir / "evaluation.jsonl")]

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
plotting.plot_losses(long_log, window=50, axes=axes[:2])
secs = dict(zip(long_log["step"].astype(int), long_log["train_seconds"]))
t_eval = [secs.get(e["step"], np.nan) / 60 for e in evals]
axes[2].plot(t_eval, [e["class_accuracy"] for e in evals], label="class accuracy (judge)")
axes[2].set_xlabel("training time (minutes, this CPU)")
axes[2].set_ylim(0, 1.02)
ax2 = axes[2].twinx()
ax2.plot(t_eval, [e["frechet_ratio"] for e in evals], color="tab:red", label="Fréchet distance / real floor")
with_avg = [(t, e["ema"]["frechet_ratio"]) for t, e in zip(t_eval, evals) if "ema" in e]
if with_avg:
    ax2.plot(*zip(*with_avg), color="tab:orange", label="… of the averaged generator (section 7)")
ax2.set_yscale("log")
axes[2].legend(loc="center right")
ax2.legend(loc="upper right")
axes[2].set_title("sample quality over time")
plt.tight_layout()
plt.show()

# %% [markdown]
# The losses settle early and then barely move, while the sample quality (right) keeps
# changing: GAN losses measure a *game*, not image quality. That is why notebook 7 scores the
# samples with a separate classifier.

# %%
shots = sorted(prov_dir.glob("samples/epoch_*.png"))
fig, axes = plt.subplots(1, len(shots), figsize=(2.6 * len(shots), 2.9))
for ax, path in zip(np.atleast_1d(axes), shots):
    ax.imshow(plt.imread(path)[:, :, 0], cmap="gray")
    ax.set_title(f"epoch {int(path.stem.split('_')[1])}")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 6. What failure looks like, and the reference's remedies
#
# * **The discriminator wins.** Early on the discriminator's probability that a fake is real
#   drops to almost 0 (below). If it stays there, the generator's realness gradient vanishes and
#   it stops learning. The reference keeps the game balanced with *one-sided label smoothing*
#   (real targets 0.95, not 1: the discriminator is never rewarded for total certainty),
#   dropout in the discriminator, and Adam with β₁ = 0.5.
# * **Collapse: every row the same image.** In the early epochs above every row (every `z`) of a
#   column shows the same digit: the generator ignores `z` and draws one "safe" image per class.
#   The class loss alone is happy with that; only the realness loss — the discriminator noticing
#   that real digits vary — pushes it back toward variety, slowly.
# * **All-black or all-grey images.** The batch-norm statistics used to *draw* samples are running
#   averages (momentum 0.99, i.e. about 100 steps of memory); in the first few hundred
#   iterations they lag behind the training batches, and samples drawn with them look blank even
#   though training is fine.

# %%
plt.figure(figsize=(8, 3))
plt.plot(long_log["step"], plotting.smooth(long_log["d_fake_probability"], 20), label="D: P(real) on fakes")
plt.plot(long_log["step"], plotting.smooth(long_log["d_real_probability"], 20), label="D: P(real) on real digits")
plt.plot(long_log["step"], plotting.smooth(long_log["g_fool_rate"], 20), label="G step: fraction judged real")
plt.xscale("log")
plt.xlabel("iteration")
plt.legend()
plt.title("who is winning?")
plt.show()

# %% [markdown]
# ## 7. A variation: average the generator's weights
#
# The quality curve in section 5 is noisy: from about 3,000 iterations on, the Fréchet distance
# of the generator *as trained* jumps between roughly 2× and 5× the real-vs-real floor from one
# epoch to the next, and its trend falls only slowly. The two networks keep chasing each other,
# so the generator's weights circle around a good solution rather than settle on it. A well-documented remedy (Yazıcı et al. 2019, *The Unusual
# Effectiveness of Averaging in GAN Training*; ProGAN, StyleGAN and BigGAN all use it) is to
# keep an **exponential moving average** of the generator's weights next to training and to draw
# samples with the average:

# %%
import inspect

from acgan_lib import training

print(inspect.getsource(training.update_ema))

# %% [markdown]
# The average is only *read* from the generator, never trained, so the reference recipe runs
# exactly as before — the trainer test `test_generator_moving_average` checks that the
# networks are bit-identical with and without it. With `ema_decay = 0.999` the average spans
# roughly the last 1,000 iterations. Turn it on with `TrainConfig(ema_decay=0.999)` or
# `python -m acgan_lib train ... --ema-decay 0.999` (also when resuming a run that had none), and
# export it with `python -m acgan_lib export ... --ema`. The long run above switched it on
# partway through; from then on the judge scored both generators every epoch:

# %%
both = [e for e in evals if "ema" in e]
if both:
    steps_b = [e["step"] for e in both]
    plt.figure(figsize=(8, 3))
    plt.plot(steps_b, [e["frechet_ratio"] for e in both], color="tab:red", label="generator as trained")
    plt.plot(steps_b, [e["ema"]["frechet_ratio"] for e in both], color="tab:orange", label="moving average (0.999)")
    plt.axhline(2.0, color="k", ls="--", lw=1, label="target: 2× the real floor")
    plt.xlabel("iteration")
    plt.ylabel("Fréchet distance / floor")
    plt.legend()
    plt.title("averaging the weights, same training run")
    plt.show()
    print("mean Fréchet / floor per 2,500 iterations (50 digits per class): as trained vs averaged")
    for start in range(steps_b[0] // 2500 * 2500, steps_b[-1], 2500):
        part = [e for e in both if start < e["step"] <= start + 2500]
        print(f"  iterations {start + 1:>6,}-{start + 2500:>6,}: {np.mean([e['frechet_ratio'] for e in part]):.2f} "
              f"vs {np.mean([e['ema']['frechet_ratio'] for e in part]):.2f}")
print([l for l in prov_text.splitlines() if l.startswith("- weights")][0])

# %% [markdown]
# The average is steadier and ahead of the generator as trained for most of the run. By
# 12,500 iterations the generator has caught up (on five sampling seeds: Fréchet ratio 1.77 as
# trained, 1.72 averaged), and the average has a little *less* variety in its 1s (diversity
# 0.78–0.84 of real against 0.85–0.90) — averaging trades some variety for steadiness. So the
# shipped weights are the generator itself, the reference recipe with no variation; averaging
# is the cheap way to get good samples *earlier* in a run.

# %% [markdown]
# ## Summary
#
# * An iteration is one discriminator step and one generator step; the trainer compiles it into
#   one program and logs, samples and checkpoints as it goes.
# * Checkpoints hold everything that defines the state; with keys derived from the step, a
#   resumed run is bit-identical to an uninterrupted one.
# * A transposed convolution computed as matmul + overlap-add is the same math and many times
#   faster on a CPU; one iteration takes well under a second here.
# * Losses say who is winning the game, not how good the digits are: watch samples, and measure
#   them (notebook 7).
# * Averaging the generator's weights over the last thousand iterations draws better digits than
#   the last weights alone, without changing training at all.
#
# Next: [7. Exploring a trained generator](07_exploring_the_generator.ipynb).
#
# ## Exercises
#
# 1. Train for 50 iterations with `soft_one=1.0` and compare `d_real_probability` with the
#    run above. What does label smoothing change?
# 2. Using `trainer.read_log`, find the iteration of the long run where the generator's class
#    accuracy (the `g_class_accuracy` column) first exceeds 0.9.
# 3. Interrupt-and-resume by hand: train a new run for 7 iterations, restore it into a new
#    `Trainer`, train both to 10 and compare the generators.
# 4. Train two runs of 20 iterations with the same seed, one with `ema_decay=0.9`. Check that their
#    generators are identical, and find how far the average is from the generator.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 1: without smoothing the discriminator is pushed to be certain about real digits.
n = 5 if SMOKE else 50
hard = trainer.Trainer(trainer.TrainConfig(soft_one=1.0, seed=0, log_every=10), ds, out.parent / "06_hard")
shutil.rmtree(hard.out, ignore_errors=True)
h = hard.train(max_steps=n, progress=False)
print("mean P(real) on real digits, last 10 logged steps:",
      "smoothed", round(float(np.mean([r["d_real_probability"] for r in history[-10:]])), 3),
      "hard", round(float(np.mean([r["d_real_probability"] for r in h[-10:]])), 3))

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 2
above = np.flatnonzero(plotting.smooth(long_log["g_class_accuracy"], 10) > 0.9)
print("first iteration with generator class accuracy > 0.9:", int(long_log["step"][above[0]]) if len(above) else None)

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 3
d3 = out.parent / "06_ex3"
shutil.rmtree(d3, ignore_errors=True)
cfg3 = trainer.TrainConfig(seed=1, log_every=5)
a = trainer.Trainer(cfg3, ds, d3)
a.train(max_steps=4 if SMOKE else 7, progress=False)
b = trainer.Trainer(cfg3, ds, d3)
b.restore()
a.train(max_steps=6 if SMOKE else 10, progress=False)
b.train(max_steps=6 if SMOKE else 10, progress=False)
print("same generator:", all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(nnx.state(a.gen)),
                                                                  jax.tree.leaves(nnx.state(b.gen)))))

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 4
n4 = 4 if SMOKE else 20
runs4 = {}
for decay in (0.0, 0.9):
    d4 = out.parent / f"06_ex4_{decay}"
    shutil.rmtree(d4, ignore_errors=True)
    runs4[decay] = trainer.Trainer(trainer.TrainConfig(seed=2, log_every=10, ema_decay=decay), ds, d4)
    runs4[decay].train(max_steps=n4, progress=False)
plain_w = jax.tree.leaves(nnx.state(runs4[0.0].gen, nnx.Param))
avg_run = runs4[0.9]
print("training unchanged:", all(np.array_equal(x, y) for x, y in zip(plain_w, jax.tree.leaves(nnx.state(avg_run.gen, nnx.Param)))))
gap = max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(nnx.state(avg_run.gen, nnx.Param)),
                                                      jax.tree.leaves(nnx.state(avg_run.gen_ema, nnx.Param))))
print(f"largest weight difference between the generator and its average: {gap:.2e}")
