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
# # 4. Training the discriminator: two losses, two gradients, one update
#
# **What you will learn**
#
# 1. how one discriminator step builds its batch: real digits **plus** as many generated ones;
# 2. the two target sets — realness (soft one 0.95 for real, 0 for generated) and class (the real
#    labels and the labels the generator was asked for);
# 3. the two losses, the gradient of **each** loss separately, their sizes per layer, and that
#    adding them gives exactly the gradient of the total loss;
# 4. how the discriminator's realness and class accuracy change over a few steps.
#
# This is the book's figure of the discriminator step, written as code:
#
# ```
#  real images (B) ─────────────────────┐                      realness targets: 0.95 … 0.95 | 0 … 0
#                                       ├─► D ─┬─► realness ─► binary cross-entropy ──┐
#  z, sampled labels ─► G (frozen) ─► fake (B) ┘  └─► class ──► sparse categorical CE ─┴─► sum ─► ∇ ─► update D
#                                                         class targets: real labels | sampled labels
# ```

# %%
import os

SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
DATA = os.environ.get("ACGAN_DATA", "bundled")
STEPS = 6 if SMOKE else 60          # discriminator steps in section 6

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from acgan_lib import data, models, plotting, training

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
fig, axes = plt.subplots(2, 1, figsize=(9, 2.8))
plotting.show_grid(images[:10], 10, ax=axes[0], col_labels=real_labels[:10].tolist())
axes[0].set_ylabel("real\n→ 0.95", rotation=0, labelpad=30)
plotting.show_grid(images[B:B + 10], 10, ax=axes[1], col_labels=sampled_labels[:10].tolist())
axes[1].set_ylabel("fake\n→ 0", rotation=0, labelpad=30)
fig.suptitle("the discriminator's batch and its targets (numbers: class targets)")
plt.show()

# %% [markdown]
# **Why 0.95 and not 1?** *One-sided label smoothing*: if the discriminator is rewarded for
# being only 95 % sure, it cannot push its realness logits to infinity on real digits, so its
# gradients toward the generator stay informative. The reference uses `SOFT_ONE = 0.95`.
#
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

# %%
def terms_fn(d):
    """The discriminator's two loss terms on this batch (same dropout mask every call)."""
    return training.discriminator_loss_terms(d, images, realness_targets, class_targets, kd)


terms, aux = terms_fn(disc)
for name, value in terms.items():
    print(f"{name:<14} {float(value):.4f}")
print(f"{'loss (sum)':<14} {float(sum(terms.values())):.4f}")
print(f"untrained guesses: ln 2 = {np.log(2):.4f} for realness, ln 10 = {np.log(10):.4f} for class")

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
plt.ylabel("gradient norm")
plt.title("which layers each loss wants to change")
plt.legend()
plt.show()

# %% [markdown]
# Each head only receives the gradient of its own loss (the other bar is exactly zero), while
# the shared convolutions receive both: the class loss teaches the shared features to tell
# digits apart, the realness loss teaches them to spot fakes.
#
# ## 4. Adding the gradients
#
# Differentiation is linear, so the gradient of `realness_loss + class_loss` equals the sum of
# the two gradients. The library's update applies that sum; let us check it against
# differentiating the total directly.

# %%
# NBVAL_CHECK_OUTPUT
summed = jax.tree.map(lambda a, b: a + b, grads["realness_loss"], grads["class_loss"])
total = nnx.grad(lambda d: sum(terms_fn(d)[0].values()))(disc)
max_diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(summed), jax.tree.leaves(total)))
print("heads get one loss each:", bool(jnp.all(grads["class_loss"]["realness_head"]["kernel"][...] == 0)))
print("sum of per-loss gradients equals the gradient of the total loss:", max_diff < 1e-5)

# %% [markdown]
# ## 5. One update
#
# The optimizer applies Adam to the summed gradient. Evaluated on the same batch with the same
# dropout mask, both losses go down.

# %%
before = {k: float(v) for k, v in terms.items()}
d_opt.update(disc, grads["total"])
after = {k: float(v) for k, v in terms_fn(disc)[0].items()}
for k in before:
    print(f"{k:<14} {before[k]:.4f} -> {after[k]:.4f}")

# %% [markdown]
# ## 6. A few discriminator steps
#
# `training.discriminator_step` does all of the above in one jitted call (fresh `z` and labels
# every step) and returns the losses and accuracies. The generator stays untrained here, so the
# realness question is easy — its grey noise is nothing like a digit — while naming the digit
# takes longer to learn.

# %%
history = []
for step in range(STEPS):
    idx = rng.choice(len(ds), B, replace=False)
    m = training.discriminator_step(gen, disc, d_opt, jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx]),
                                    jax.random.key(100 + step))
    history.append({k: float(v) for k, v in m.items()})
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].plot([h["realness_loss"] for h in history], label="realness loss")
axes[0].plot([h["class_loss"] for h in history], label="class loss")
axes[0].set_xlabel("discriminator step")
axes[0].legend()
axes[1].plot([h["realness_accuracy"] for h in history], label="realness accuracy")
axes[1].plot([h["class_accuracy"] for h in history], label="class accuracy (real + fake)")
axes[1].set_xlabel("discriminator step")
axes[1].set_ylim(0, 1.05)
axes[1].legend()
plt.show()
print({k: round(v, 3) for k, v in history[-1].items()})

# %% [markdown]
# The class accuracy is computed over the whole combined batch: the real half can be learned,
# but the fake half is noise whose "class" is just the label the generator was given, so the
# accuracy cannot pass about 50 % until the generator learns to draw.
#
# ## Summary
#
# * A discriminator step sees `B` real and `B` generated digits. Realness targets are 0.95 (real)
#   and 0 (fake); class targets are the real labels and the sampled labels.
# * Two losses: binary cross-entropy on the realness logit and sparse categorical cross-entropy
#   on the class logits, `loss = realness_loss + class_loss`.
# * The gradient of each loss can be computed and inspected on its own; their sum **is** the
#   gradient of the total loss, and that sum is what the update applies — to the discriminator
#   only.
#
# Next: [5. Training the generator](05_training_the_generator.ipynb).
#
# ## Exercises
#
# 1. Weight the class loss by 0.5 (`training.LossWeights(classification=0.5)`) and recompute the
#    per-layer gradient norms. Which bars change, and by how much?
# 2. Replace `SOFT_ONE` by 1.0 and compare the realness loss of the real half before and after
#    a step. Why is 0.95 a lower bound on what the loss can reach with soft targets?
# 3. Check that the discriminator step really leaves the generator alone: compare every
#    generator parameter before and after `training.discriminator_step`.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 1: only the class-loss bars change, each exactly halved.
half = training.LossWeights(classification=0.5)
g_half, _, _ = training.per_loss_gradients(
    disc, lambda d: training.discriminator_loss_terms(d, images, realness_targets, class_targets, kd, half))
g_full, _, _ = training.per_loss_gradients(disc, terms_fn)
print({k: round(a / b, 3) for (k, a), b in zip(layer_norms(g_half["class_loss"]).items(),
                                                 layer_norms(g_full["class_loss"]).values()) if b > 0})

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 2: with target t the binary cross-entropy is minimised at p = t, where it equals the
# entropy H(t) > 0; for t = 0.95 that is about 0.199, so a "perfect" discriminator still has loss.
t = training.SOFT_ONE
print("minimum BCE for target 0.95:", -(t * np.log(t) + (1 - t) * np.log(1 - t)))

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 3
before = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
training.discriminator_step(gen, disc, d_opt, real_images, real_labels, jax.random.key(7))
after = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
print("generator unchanged:", all(np.array_equal(a, b) for a, b in zip(before, after)))
