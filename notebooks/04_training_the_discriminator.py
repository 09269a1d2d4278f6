# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 4. Training the discriminator: two losses, two gradients, one update
#
# **What you will learn**
#
# 1. how one discriminator step builds its batch: real digits **plus** as many generated ones;
# 2. the two target sets — realness (soft one 0.95 for real, 0 for generated) and class (the real
#    labels and the labels the generator was asked for);
# 3. the two losses, the gradient of **each** loss separately, their sizes per layer, and that
#    adding them gives exactly the gradient of the total loss;
# 4. whether the two losses cooperate (the cosine between their gradients, layer by layer), why
#    one Adam step on the summed gradient is **not** two Adam steps, and that the trainer's fused
#    single-backward path gives the same parameters;
# 5. how the discriminator's realness and class accuracy change over a few steps, and how to read
#    those curves against their reference values.
#
# **Prerequisites:** [notebooks 1](01_mnist_and_the_acgan_idea.ipynb) (the objective, the reference
# values) and [3](03_architecture.ipynb) (the two networks); binary and categorical cross-entropy
# (d2l.ai [§4.1](https://d2l.ai/chapter_linear-classification/softmax-regression.html)); the Adam
# optimizer (d2l.ai [§12.10](https://d2l.ai/chapter_optimization/adam.html)); `jax.grad` and
# pytrees ([autodiff](https://docs.jax.dev/en/latest/automatic-differentiation.html),
# [pytrees](https://docs.jax.dev/en/latest/pytrees.html)); `nnx.split` / `nnx.merge`
# ([NNX basics](https://flax.readthedocs.io/en/latest/nnx_basics.html)).
#
# **Time:** about 40 minutes (the code runs in about a minute on a 2-core CPU).
#
# Section 1 draws the book's figure of the discriminator step as a diagram.

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

SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
DATA = os.environ.get("ACGAN_DATA", "bundled")
STEPS = 6 if SMOKE else 40          # discriminator steps in section 6

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import optax

from acgan_lib import compile_cache, data, diagrams, exercises, models, plotting, pretrained, training

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

# %%
ds = data.load_mnist(DATA)
gen = models.Generator(rngs=nnx.Rngs(0))
disc = models.Discriminator(rngs=nnx.Rngs(1))
d_opt = nnx.Optimizer(disc, training.make_optimizer(disc).tx, wrt=nnx.Param)   # Adam(2e-4, b1=0.5)
print("learning rate", training.LEARNING_RATE, "beta1", training.ADAM_BETA1, "SOFT_ONE", training.SOFT_ONE)

# %% [markdown]
# ## 1. The combined batch
#
# We take `B = 100` real digits and ask the generator for `B` fakes of randomly sampled classes.
# The generator is only *used* here, not trained: it runs in inference mode (`train=False`,
# batch-norm running statistics), exactly like the reference's `generator.predict`.
#
# The whole step drawn: the grey, hatched generator is frozen, and the red arrow is the only update.

# %%
fig = diagrams.draw_discriminator_step()
plt.show()

# %%
B = training.BATCH_SIZE
rng = np.random.default_rng(0)
idx = rng.choice(len(ds), B, replace=False)
real_images, real_labels = jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx])

key = jax.random.key(0)
kz, kl, kd = jax.random.split(key, 3)
z = models.sample_latent(kz, B)
sampled_labels = models.sample_labels(kl, B)
fakes = gen(z, sampled_labels, train=False)
images = jnp.concatenate([real_images, fakes])
realness_targets, class_targets = training.discriminator_targets(real_labels, sampled_labels)
print("combined batch:", images.shape)
print("realness targets:", realness_targets[:3], "...", realness_targets[-3:])
print("class targets:   ", class_targets[:3], "...", class_targets[-3:])

# %%
lo, hi = fakes.min(axis=(1, 2, 3), keepdims=True), fakes.max(axis=(1, 2, 3), keepdims=True)
fig, axes = plt.subplots(3, 1, figsize=(10, 4.6))
plotting.show_grid(images[:10], 10, ax=axes[0], col_labels=real_labels[:10].tolist())
axes[0].set_ylabel("real\n→ 0.95", rotation=0, labelpad=35)
plotting.show_grid(images[B:B + 10], 10, ax=axes[1], col_labels=sampled_labels[:10].tolist())
axes[1].set_ylabel("fake\n→ 0", rotation=0, labelpad=35)
plotting.show_grid((2 * (fakes - lo) / (hi - lo) - 1)[:10], 10, ax=axes[2])
axes[2].set_ylabel("same fakes,\ncontrast-\nstretched", rotation=0, labelpad=35)
fig.suptitle("the discriminator's batch and its realness targets (numbers above: class targets)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Why 0.95 and not 1?** *One-sided label smoothing*: if the discriminator is rewarded for
# being only 95 % sure, it cannot push its realness logits to infinity on real digits, so its
# gradients toward the generator stay informative. The reference uses `SOFT_ONE = 0.95`.
#
# **Which recipe we follow, and why.** The references differ in the discriminator step:
#
# * **tfjs `gan.js`** (Deep Learning with JavaScript §10.3.3), which this series ports: realness
#   targets 0.95 / 0, and the class loss on **both** halves — the fakes' class targets are the
#   labels they were drawn for. That is the ACGAN paper's $L_C$, which sums over real and fake.
# * **Keras `mnist_acgan.py`**, in its later versions (e.g. keras-team/keras commit 017fe07), trains the class head on **real images only**:
#   `sample_weight` 2 for the real half and 0 for the fake half of the class loss ("we don't want
#   the discriminator to also maximize the classification accuracy of the auxiliary classifier on
#   generated images"). Its soft labels also changed between versions: one version on GitHub
#   (keras-team/keras, commit 017fe07) uses `soft_zero, soft_one = 0.1, 0.9` (and 0.9 as the
#   generator's trick target), the copy in the Keras documentation uses 0 and 0.95; an earlier
#   version (commit d811048) used hard 1 / 0 targets and no sample weights.
#
# We follow `gan.js` because it is the program this series ports and because it is the paper's
# objective. Its cost: a discriminator that also learns to name the *fakes* can learn whatever
# marks the generator leaves for each label, even on images that look nothing like digits — the
# class loss then rewards easy-to-classify fakes (notebook 5, section 8). Exercise 4 below writes
# the Keras variant with the library's own loss functions.

# %% [markdown]
# ## 2. The two losses
#
# `training.discriminator_loss_terms` runs the discriminator (dropout on, as in training) and
# returns the two named terms:
#
# ```python
# realness_loss = optax.sigmoid_binary_cross_entropy(realness_logits, realness_targets).mean()
# class_loss    = optax.softmax_cross_entropy_with_integer_labels(class_logits, class_targets).mean()
# loss          = realness_loss + class_loss
# ```
#
# *Predict before you run:* the discriminator is untrained. What realness loss and what class
# loss do you expect on this batch? (Notebook 1, section 4.)

# %%
def terms_fn(d):
    """The discriminator's two loss terms on this batch (same dropout mask every call)."""
    return training.discriminator_loss_terms(d, images, realness_targets, class_targets, kd)


terms, aux = terms_fn(disc)
for name, value in terms.items():
    print(f"{name:<14} {float(value):.4f}")
print(f"{'loss (sum)':<14} {float(sum(terms.values())):.4f}")
print(f"untrained guesses: ln 2 = {np.log(2):.4f} for realness, ln 10 = {np.log(10):.4f} for class")
assert abs(float(terms["realness_loss"]) - np.log(2)) < 0.05 and abs(float(terms["class_loss"]) - np.log(10)) < 0.05

# %% [markdown]
# Both are within 0.05 of the "guessing" values: an untrained head outputs logits near 0, so
# $\sigma(\ell) \approx 0.5$ (loss $\ln 2$ whatever the target) and a near-uniform softmax
# (loss $\ln 10$).

# %% [markdown]
# ## 3. The gradient of each loss, separately
#
# `training.per_loss_gradients` differentiates each named term on its own. Each result is a
# pytree shaped like the discriminator's parameters.

# %%
grads, _, _ = training.per_loss_gradients(disc, terms_fn, explicit=True)


def layer_norms(g):
    """Frobenius norm of the kernel gradient of every layer."""
    out = {f"conv{i + 1}": float(jnp.linalg.norm(g["convs"][i]["kernel"][...])) for i in range(4)}
    out["realness_head"] = float(jnp.linalg.norm(g["realness_head"]["kernel"][...]))
    out["class_head"] = float(jnp.linalg.norm(g["class_head"]["kernel"][...]))
    return out


nr, nc = layer_norms(grads["realness_loss"]), layer_norms(grads["class_loss"])
print(f"{'layer':<14}{'|grad realness|':>16}{'|grad class|':>14}")
for layer in nr:
    print(f"{layer:<14}{nr[layer]:>16.4f}{nc[layer]:>14.4f}")

# %%
pos = np.arange(len(nr))
plt.figure(figsize=(8, 3))
plt.bar(pos - 0.2, list(nr.values()), 0.4, label="realness loss")
plt.bar(pos + 0.2, list(nc.values()), 0.4, label="class loss")
plt.xticks(pos, list(nr))
plt.xlabel("layer (kernel only)")
plt.ylabel("gradient norm ‖∂loss/∂kernel‖")
plt.title("which layers each loss wants to change (untrained discriminator)")
plt.legend()
plt.show()

# %% [markdown]
# Each head only receives the gradient of its own loss (the other bar is exactly zero), while
# the shared convolutions receive both: the class loss teaches the shared features to tell
# digits apart, the realness loss teaches them to spot fakes.
#
# **Do the two losses cooperate?** Where both reach a layer, compare the *directions* of their
# gradients with the cosine $\cos\theta = \frac{g_r \cdot g_c}{\lVert g_r\rVert\,\lVert g_c\rVert}$
# over all of that layer's parameters: +1 means they pull the same way, −1 opposite ways, 0 that
# they are unrelated (each step serves one loss without helping or hurting the other).

# %%
def flat(tree):
    return jnp.concatenate([x.ravel() for x in jax.tree.leaves(tree)])


def layer_cosines(g1, g2):
    """Cosine between two gradients, per shared convolution (kernel and bias together)."""
    out = {}
    for i in range(4):
        a, b = flat(g1["convs"][i]), flat(g2["convs"][i])
        out[f"conv{i + 1}"] = float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))
    return out


cosines = layer_cosines(grads["realness_loss"], grads["class_loss"])
print({k: round(v, 3) for k, v in cosines.items()})
plt.figure(figsize=(6, 2.8))
plt.bar(list(cosines), list(cosines.values()), color="tab:purple")
plt.axhline(0, color="grey", lw=0.8)
plt.ylim(-1, 1)
plt.xlabel("shared layer")
plt.ylabel("cos(∇ realness, ∇ class)")
plt.title("do the two losses pull the same way? (untrained D)")
plt.show()
assert all(abs(c) < 0.3 for c in cosines.values())

# %% [markdown]
# All cosines are small (below 0.3 in size): in the untrained discriminator the two losses want
# nearly **unrelated** changes of the shared layers — they neither cooperate nor fight, so adding
# them loses little of either.
#
# ## 4. Adding the gradients
#
# Differentiation is linear, so the gradient of `realness_loss + class_loss` equals the sum of
# the two gradients. The library's update applies that sum; let us check it against
# differentiating the total directly.

# %% tags=["nbval-check-output"]
summed = jax.tree.map(lambda a, b: a + b, grads["realness_loss"], grads["class_loss"])
total = nnx.grad(lambda d: sum(terms_fn(d)[0].values()))(disc)
max_diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(summed), jax.tree.leaves(total)))
print("heads get one loss each:", bool(jnp.all(grads["class_loss"]["realness_head"]["kernel"][...] == 0)))
print("sum of per-loss gradients equals the gradient of the total loss (max abs diff < 1e-5):", max_diff < 1e-5)

# %%
largest = float(jnp.max(jnp.abs(flat(total))))
print(f"max |sum of per-loss gradients - gradient of total| = {max_diff:.1e}  (largest gradient entry {largest:.1e})")
# One worked weight: the entry of conv1's kernel with the largest total gradient.
k_total = total["convs"][0]["kernel"][...]
idx = np.unravel_index(int(jnp.argmax(jnp.abs(k_total))), k_total.shape)
g_r = float(grads["realness_loss"]["convs"][0]["kernel"][...][idx])
g_c = float(grads["class_loss"]["convs"][0]["kernel"][...][idx])
print(f"conv1 kernel{tuple(int(i) for i in idx)}:  g_real {g_r:+.6f} + g_class {g_c:+.6f} = {g_r + g_c:+.6f};"
      f"  gradient of the total {float(k_total[idx]):+.6f}")
assert max_diff < 1e-5 and abs(g_r + g_c - float(k_total[idx])) < 1e-6

# %% [markdown]
# ## 5. One update
#
# The optimizer applies Adam to the summed gradient. *Predict:* on the same batch with the same
# dropout mask, do both losses go down after one step, or only the larger one?

# %%
disc_before = nnx.clone(disc)                 # kept for the two comparisons below
before = {k: float(v) for k, v in terms.items()}
d_opt.update(disc, grads["total"])
after = {k: float(v) for k, v in terms_fn(disc)[0].items()}
for k in before:
    print(f"{k:<14} {before[k]:.4f} -> {after[k]:.4f}")
assert all(after[k] < before[k] for k in before)

# %% [markdown]
# Both go down.
#
# **Adam on the sum is not two Adam steps.** Adam divides each coordinate's step by a running
# estimate of that coordinate's gradient size: its first step is
# $\Delta\theta = -\eta\, \frac{g}{\sqrt{g^2} + \epsilon} \approx -\eta\,\operatorname{sign}(g)$,
# with $\eta = 2\cdot10^{-4}$. So one step on $g_r + g_c$ moves every weight by at most $\eta$.
# Two steps, $g_r$ then $g_c$, **share the moments**: the second step's average still remembers
# $g_r$ (with $\beta_1 = 0.5$, $\beta_2 = 0.999$), and after bias correction it is
#
# $$\Delta_2 \approx -\eta\,\frac{\sqrt 2\,(\beta_1 g_r + g_c)}{(1+\beta_1)\sqrt{g_r^2 + g_c^2}} .$$
#
# Add $\Delta_1 = -\eta\operatorname{sign}(g_r)$. Equal and opposite gradients ($g_c = -g_r$) do
# **not** cancel: they leave $\eta\,(1 - \tfrac{1-\beta_1}{1+\beta_1}) = \tfrac23\eta$. The largest
# total move, at $g_c = g_r/\beta_1$, is $\eta\,\big(1 + \sqrt2\,\sqrt{1+\beta_1^2}/(1+\beta_1)\big)
# \approx 2.05\,\eta$ — more than $2\eta$; the smallest, for a $g_c$ far larger and opposite,
# $\approx 0.06\,\eta$. So "train on the sum" and "train on each loss in turn" are different
# algorithms. Let us compare them from the same starting parameters, with `optax.adam` directly:

# %%
params0 = nnx.state(disc_before, nnx.Param)
adam = optax.adam(training.LEARNING_RATE, b1=training.ADAM_BETA1)
update, _ = adam.update(grads["total"], adam.init(params0), params0)
one_step = optax.apply_updates(params0, update)
state = adam.init(params0)
update, state = adam.update(grads["realness_loss"], state, params0)
p1 = optax.apply_updates(params0, update)
update, state = adam.update(grads["class_loss"], state, p1)
two_steps = optax.apply_updates(p1, update)
move_one = float(jnp.max(jnp.abs(flat(one_step) - flat(params0))))
move_two = float(jnp.max(jnp.abs(flat(two_steps) - flat(params0))))
gap = float(jnp.max(jnp.abs(flat(one_step) - flat(two_steps))))
print(f"largest move of a weight: one step on the sum {move_one:.2e}, two steps {move_two:.2e}")
print(f"max |one step on the sum - two sequential steps| = {gap:.2e}  (learning rate {training.LEARNING_RATE:.0e})")
assert gap > 0.5 * training.LEARNING_RATE and move_one < 1.01 * training.LEARNING_RATE < move_two

# The bounds of the text, from optax itself on one weight: g_c = -g_r, and g_c = g_r / beta1.
b1 = training.ADAM_BETA1
bound = 1 + 2 ** 0.5 * (1 + b1 ** 2) ** 0.5 / (1 + b1)


def two_adam_steps(g_r, g_c):
    """Move of one weight after an Adam step on g_r, then one on g_c (shared moments), in units of lr."""
    w, st = jnp.zeros(1), adam.init(jnp.zeros(1))
    for g in (g_r, g_c):
        up, st = adam.update(jnp.array([g]), st, w)
        w = optax.apply_updates(w, up)
    return abs(float(w[0])) / training.LEARNING_RATE


opposite, aligned = two_adam_steps(1e-3, -1e-3), two_adam_steps(1e-3, 1e-3 / b1)
print(f"two steps, in learning rates: opposite gradients {opposite:.2f}, g_c = g_r / beta1 {aligned:.2f} "
      f"(bound {bound:.2f}); this batch's largest {move_two / training.LEARNING_RATE:.2f}")
assert abs(opposite - 2 / 3) < 0.01 and abs(aligned - bound) < 0.01
assert move_two <= bound * training.LEARNING_RATE * 1.001

# %% [markdown]
# One step on the sum moves no weight by more than the learning rate. The two sequential steps
# move some weight by about 2.05 learning rates, the bound derived above (equal and opposite
# gradients leave 0.67 of one, not 0), and the two results differ by more than half a learning
# rate — the same order as the step itself.
#
# **The trainer's fused path gives the same parameters.** `training.discriminator_step(...,
# explicit=True)` (what this notebook teaches) computes the two gradients separately and adds them;
# `explicit=False` (the default of `train_iteration` and the `Trainer`) does one backward pass
# through `realness_loss + class_loss` — the same gradient by linearity, at half the backward
# cost. One step of each from identical copies, same batch and key:

# %%
d_explicit, d_fused = nnx.clone(disc_before), nnx.clone(disc_before)
o_explicit, o_fused = training.make_optimizer(d_explicit), training.make_optimizer(d_fused)
training.discriminator_step(gen, d_explicit, o_explicit, real_images, real_labels, jax.random.key(5), explicit=True)
training.discriminator_step(gen, d_fused, o_fused, real_images, real_labels, jax.random.key(5), explicit=False)
fused_gap = float(jnp.max(jnp.abs(flat(nnx.state(d_explicit, nnx.Param)) - flat(nnx.state(d_fused, nnx.Param)))))
print(f"max |explicit - fused| over all discriminator parameters after one step: {fused_gap:.1e}")
assert fused_gap < 0.1 * training.LEARNING_RATE

# %% [markdown]
# The difference is float rounding, more than 10 times smaller than one step (about
# $2\cdot10^{-4}$ per weight). It is
# not exactly 0: the two paths add the same numbers in a different order, and Adam's first step
# $g/(|g| + \epsilon)$ magnifies the rounding of gradients that are almost exactly 0.

# %% [markdown]
# ### Write it yourself: the discriminator update
#
# Now write what `training.discriminator_step` does, in about 20 lines. With the combined batch
# of section 1 ($n$ real digits, then $n$ fakes of the sampled classes $c_j$), realness logits
# $\ell_i$ and class logits $\mathbf{s}_i$:
#
# $$L_{\text{realness}} = \frac{1}{2n}\sum_{i=1}^{2n} \mathrm{BCE}(\ell_i, t_i),\quad t = [\,0.95 \dots 0.95 \mid 0 \dots 0\,];
# \qquad L_{\text{class}} = \frac{1}{2n}\sum_{i=1}^{2n} -\log \operatorname{softmax}(\mathbf{s}_i)_{y_i},\quad y = [\,y_{\text{real}} \mid c\,];$$
#
# $$\theta_D \leftarrow \operatorname{Adam}\big(\nabla_{\theta_D} L_{\text{realness}} + \nabla_{\theta_D} L_{\text{class}}\big)\quad\text{(one step).}$$
#
# Write each loss as a function of the discriminator alone and take **one gradient per loss**
# with `nnx.grad` (it differentiates a function of a module with respect to the module's
# `nnx.Param`s and returns a pytree shaped like them); add the two pytrees with `jax.tree.map`;
# give the sum to `d_opt.update(disc, grads)` once. The key is split as the library splits it,
# so the checker can draw the same fakes and the same dropout mask; the discriminator trains with
# dropout on (`d(images, train=True, rngs=kd)`). `optax.sigmoid_binary_cross_entropy` and
# `optax.softmax_cross_entropy_with_integer_labels` give one loss per image (average them).
#
# `step_checks.check_discriminator_update` runs your function on **copies** of `gen` and `disc`
# with a fresh optimizer (the notebook's networks stay as they are), compares both gradients and
# the updated weights with the library's, and when they differ names the mistake it looks like.

# %%
from acgan_lib import step_checks


def my_discriminator_update(gen, disc, d_opt, real_images, real_labels, key):
    """One discriminator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    n = real_images.shape[0]
    kz, kl, kd = jax.random.split(key, 3)        # the library's order: z, sampled labels, dropout
    z = models.sample_latent(kz, n, gen.latent_dim)
    sampled = models.sample_labels(kl, n, gen.num_classes)
    fakes = ...                                  # (n, 28, 28, 1): G only draws them (which mode? section 1)
    images = ...                                 # (2n, 28, 28, 1): real first, then fakes
    realness_targets = ...                       # (2n,)
    class_targets = ...                          # (2n,)

    def realness_loss(d):                        # a function of the discriminator alone
        ...

    def class_loss(d):
        ...

    g_real = ...                                 # one gradient per loss
    g_class = ...
    ...                                          # ONE optimizer step on their sum
    return {"realness_loss": g_real, "class_loss": g_class}


# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution update: the discriminator's combined update, one gradient per loss, one Adam step.
def my_discriminator_update(gen, disc, d_opt, real_images, real_labels, key):
    """One discriminator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    n = real_images.shape[0]
    kz, kl, kd = jax.random.split(key, 3)        # the library's order: z, sampled labels, dropout
    z = models.sample_latent(kz, n, gen.latent_dim)
    sampled = models.sample_labels(kl, n, gen.num_classes)
    fakes = gen(z, sampled, train=False)         # inference mode: G is not trained here
    images = jnp.concatenate([real_images, fakes])
    realness_targets = jnp.concatenate([jnp.full(n, training.SOFT_ONE), jnp.zeros(n)])
    class_targets = jnp.concatenate([real_labels, sampled])

    def realness_loss(d):
        realness_logits, _ = d(images, train=True, rngs=kd)
        return optax.sigmoid_binary_cross_entropy(realness_logits, realness_targets).mean()

    def class_loss(d):
        _, class_logits = d(images, train=True, rngs=kd)
        return optax.softmax_cross_entropy_with_integer_labels(class_logits, class_targets).mean()

    g_real = nnx.grad(realness_loss)(disc)
    g_class = nnx.grad(class_loss)(disc)
    d_opt.update(disc, jax.tree.map(jnp.add, g_real, g_class))
    return {"realness_loss": g_real, "class_loss": g_class}


# %% tags=["nbval-check-output"]
_ = step_checks.check_discriminator_update(my_discriminator_update, gen, disc, real_images, real_labels,
                                           jax.random.key(6))

# %% [markdown]
# ## 6. A few discriminator steps
#
# `training.discriminator_step` does all of the above in one jitted call (fresh `z` and labels
# every step) and returns the losses and accuracies. We take its fused path (`explicit=False`:
# section 5 showed it gives the same parameters, and it needs one backward pass instead of two).
# The generator stays untrained here.
#
# *Predict before you run:* which of the two losses falls faster? Where can the realness loss
# end up at best (notebook 1, section 4)? The class accuracy is measured on the whole combined
# batch — half real digits, half flat-grey fakes whose "class" is only the label the generator
# was given. How high can it go?

# %%
D_REALNESS_MIN = exercises.binary_entropy(training.SOFT_ONE) / 2     # H(0.95)/2: notebook 1, section 4
history = []
for step in range(STEPS):
    idx = rng.choice(len(ds), B, replace=False)
    m = training.discriminator_step(gen, disc, d_opt, jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx]),
                                    jax.random.key(100 + step), explicit=False)
    history.append({k: float(v) for k, v in m.items()})
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
axes[0].plot([h["realness_loss"] for h in history], label="realness loss")
axes[0].plot([h["class_loss"] for h in history], label="class loss")
for value, text in [(D_REALNESS_MIN, "realness minimum H(0.95)/2"), (np.log(2), "ln 2: cannot tell"),
                    (np.log(10), "ln 10: class guessing")]:
    axes[0].axhline(value, color="grey", ls="--", lw=0.8)
    axes[0].text(0, value, text, va="bottom", fontsize=9, color="dimgrey")
axes[0].set_xlabel("discriminator step")
axes[0].set_ylabel("loss (nats)")
axes[0].set_title("discriminator losses, untrained generator")
axes[0].legend(loc="center right")
axes[1].plot([h["realness_accuracy"] for h in history], label="realness accuracy")
axes[1].plot([h["class_accuracy"] for h in history], label="class accuracy (real + fake)")
axes[1].axhline(0.1, color="grey", ls="--", lw=0.8)
axes[1].text(0, 0.1, "chance: 1/10", va="bottom", fontsize=9, color="dimgrey")
axes[1].set_xlabel("discriminator step")
axes[1].set_ylabel("fraction of the batch")
axes[1].set_title("discriminator accuracies")
axes[1].set_ylim(0, 1.05)
axes[1].legend(loc="center right")
plt.tight_layout()
plt.show()
print({k: round(v, 3) for k, v in history[-1].items()})
assert history[-1]["realness_loss"] < history[0]["realness_loss"]
assert history[-1]["realness_loss"] > D_REALNESS_MIN          # never below its minimum

# %% [markdown]
# The realness loss falls toward (never below) its minimum $H(0.95)/2$: telling real digits from
# flat grey is easy. What limits the class accuracy? Split it into the two halves, on 500 fresh
# real digits and 500 fresh fakes (inference mode):

# %%
idx = rng.choice(len(ds), 500, replace=False)
z_eval, asked_eval = models.sample_latent(jax.random.key(900), 500), models.sample_labels(jax.random.key(901), 500)
_, class_real = disc(jnp.asarray(ds.images[idx]), train=False)
_, class_fake = disc(gen(z_eval, asked_eval, train=False), train=False)
acc_real = float(jnp.mean(jnp.argmax(class_real, -1) == ds.labels[idx]))
acc_fake = float(jnp.mean(jnp.argmax(class_fake, -1) == asked_eval))
print(f"class accuracy after {STEPS} steps: real half {acc_real:.2f}, fake half {acc_fake:.2f} "
      f"(chance 0.10); combined about {(acc_real + acc_fake) / 2:.2f}")
assert acc_fake < 0.25                                  # the fakes' labels stay unreadable here
if not SMOKE:
    assert acc_real > 0.6 and acc_real > acc_fake + 0.4

# %% [markdown]
# The real half is learned; the fake half stays near chance (below 0.25). The untrained
# generator's images *do* depend on the label — through the embedding — but only by about
# 0.001 per pixel (notebook 3, exercise 3), and in these few steps the discriminator does not learn
# to read that. So here the combined class accuracy is about the average of the two halves, below
# $(1 + 0.1)/2 = 55\%$.
#
# That ceiling is **not** a law. In real training the generator is trained too, and its class
# loss rewards exactly "make the discriminator read my label" — on the class question the two
# players cooperate. The generator's outputs become label-readable long before they look like
# digits, and the discriminator's class accuracy on the combined batch climbs far above 55 %. The
# pretrained generator's own training log shows it:

# %%
import csv

with open(pretrained.GENERATOR_DIR / "losses.csv") as f:
    log = [row for row in csv.DictReader(f) if int(row["step"]) <= 600]
steps = np.array([int(r["step"]) for r in log])
d_class_acc = np.array([float(r["d_class_accuracy"]) for r in log])
g_class_acc = np.array([float(r["g_class_accuracy"]) for r in log])
plt.figure(figsize=(9, 3.2))
plt.plot(steps, plotting.smooth(d_class_acc, 10), label="D: class accuracy, combined batch")
plt.plot(steps, plotting.smooth(g_class_acc, 10), label="G step: fakes read as the requested class")
plt.axhline(0.55, color="grey", ls="--", lw=0.8)
plt.text(0, 0.55, "ceiling with unreadable fakes (1 + 0.1)/2", va="bottom", fontsize=9, color="dimgrey")
plt.xlabel("training iteration (D step + G step)")
plt.ylabel("accuracy (moving average of 10)")
plt.title("the shipped run's log: class accuracy while both networks train")
plt.ylim(0, 1.05)
plt.legend(loc="lower right")
plt.show()
late = d_class_acc[(steps >= 200) & (steps <= 300)].mean()
print(f"D class accuracy, mean over iterations 200-300: {late:.2f}")
assert late > 0.85

# %% [markdown]
# Over iterations 200–300 the discriminator names the class of more than 85 % of the combined
# batch (the mean is printed above), fakes included: the generator has learned to draw its label
# in a way the discriminator reads, and the 55 % ceiling is gone.
#
# ## Summary
#
# * A discriminator step sees `B` real and `B` generated digits. Realness targets are 0.95 (real)
#   and 0 (fake); class targets are the real labels and the sampled labels.
# * Two losses: binary cross-entropy on the realness logit and sparse categorical cross-entropy
#   on the class logits, `loss = realness_loss + class_loss`.
# * The gradient of each loss can be computed and inspected on its own; their sum **is** the
#   gradient of the total loss (to float rounding), and that sum is what the update applies — to
#   the discriminator only. In the untrained discriminator the two gradients are nearly
#   orthogonal in every shared layer.
# * Adam on the summed gradient is a different algorithm from one Adam step per loss; the fused
#   single-backward path (`explicit=False`) gives the same parameters as the explicit one, to
#   float rounding.
# * Reading the curves: the realness loss has a floor above 0 (notebook 1, section 4); with an
#   untrained generator the fakes' labels stay unreadable and the class accuracy stays near
#   the average of the real half and chance, while in real training it passes 85 % (0.93 over
#   iterations 200–300 of the shipped run).
# * We follow `gan.js` (class loss on real **and** fake images); later Keras versions train the
#   class head on real images only.
#
# Next: [5. Training the generator](05_training_the_generator.ipynb).

# %% [markdown]
# ## Exercises
#
# 1. Weight the class loss by 0.5 (`training.LossWeights(classification=0.5)`) and recompute the
#    per-layer gradient norms. Which bars change, and by what factor? Check:
#    `exercises.check_class_weight_ratio(factor)`.
# 2. With the soft target 0.95 the discriminator's realness loss cannot go below 0.099 (notebook
#    1's reference values). What is its **lowest** value with hard targets, `soft_one=1.0`, and
#    at which logits is it reached? Check: `exercises.check_d_realness_floor(value, soft_one=1.0)`. Then run a few
#    `training.discriminator_step(..., soft_one=1.0)` steps on a copy of the discriminator and
#    compare its realness logits on real digits with those of a copy trained with 0.95.
# 3. Check that the discriminator step really leaves the generator alone: compare every
#    generator parameter before and after `training.discriminator_step`.
# 4. Write the Keras variant of the discriminator loss: the class loss on the **real half only**
#    (Keras' sample weights 2 for real and 0 for fake make the mean over 200 equal to the mean
#    over the 100 real digits). Use `training.realness_loss`, `training.class_loss` and
#    `training.per_loss_gradients` with your own `terms_fn`, and compare the class-loss gradient
#    norms per layer with ours. Which part of the class gradient disappears?

# %%
exercises.check_class_weight_ratio(1.0)          # replace with your factor
_ = exercises.check_d_realness_floor(0.95, soft_one=1.0)   # replace 0.95 (the first number) with your minimum

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: only the class-loss bars change, each exactly halved.
half = training.LossWeights(classification=0.5)
g_half, _, _ = training.per_loss_gradients(
    disc, lambda d: training.discriminator_loss_terms(d, images, realness_targets, class_targets, kd, half))
g_full, _, _ = training.per_loss_gradients(disc, terms_fn)
print({k: round(a / b, 3) for (k, a), b in zip(layer_norms(g_half["class_loss"]).items(),
                                                 layer_norms(g_full["class_loss"]).values()) if b > 0})

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: BCE with target t is minimised at sigmoid(logit) = t, where it equals the entropy
# H(t): H(0.95) = 0.199 on the real half, 0 on the fake half (target 0), so the batch mean cannot go
# below H(0.95)/2 = 0.099. With soft_one = 1.0 the minimum is 0, approached only as the real logits
# go to +∞ and the fake logits to −∞: hard targets keep pushing the real logits up, while the soft
# target's optimum is the training-mode (dropout on) logit ln(0.95/0.05) = 2.94. Measured below in
# inference mode: after the same steps the hard-target copy's logits are higher.
print(f"minimum D realness loss: soft 0.95 -> {exercises.binary_entropy(0.95) / 2:.4f}, "
      f"hard 1.0 -> {exercises.binary_entropy(1.0) / 2:.4f}")
real_logit = {}
for soft in (0.95, 1.0):
    d_copy = nnx.clone(disc)
    o_copy = training.make_optimizer(d_copy)
    for i in range(2 if SMOKE else 4):
        idx = rng.choice(len(ds), B, replace=False)
        training.discriminator_step(gen, d_copy, o_copy, jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx]),
                                    jax.random.key(300 + i), soft_one=soft, explicit=False)
    real_logit[soft] = float(d_copy(real_images, train=False)[0].mean())
print("mean realness logit on real digits after the extra steps:", {k: round(v, 2) for k, v in real_logit.items()})

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3
before = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
training.discriminator_step(gen, disc, d_opt, real_images, real_labels, jax.random.key(7))
after = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
print("generator unchanged:", all(np.array_equal(a, b) for a, b in zip(before, after)))

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 4: the class loss of the real half only. The part of the class gradient that came from
# the fakes' labels disappears; the real half's part counts twice as much (the mean is now over 100
# digits, as Keras' weight 2 makes it), so here - where the fakes' labels are still unreadable and
# contribute little - the norms roughly double.
def keras_terms_fn(d):
    realness_logits, class_logits = d(images, train=True, rngs=kd)
    terms = {"realness_loss": training.realness_loss(realness_logits, realness_targets),
             "class_loss": training.class_loss(class_logits[:B], class_targets[:B])}
    return terms, {}


g_keras, _, _ = training.per_loss_gradients(disc, keras_terms_fn)
g_ours, _, _ = training.per_loss_gradients(disc, terms_fn)
print(f"{'layer':<14}{'|grad class| ours':>20}{'real half only':>16}")
for (layer, a), b in zip(layer_norms(g_ours["class_loss"]).items(), layer_norms(g_keras["class_loss"]).values()):
    print(f"{layer:<14}{a:>20.4f}{b:>16.4f}")
