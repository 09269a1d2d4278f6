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
# # 5. Training the generator through a frozen discriminator
#
# **What you will learn**
#
# 1. why the generator is trained *through* the discriminator, and why the discriminator must
#    stay frozen while that happens;
# 2. the "trick": every generated image gets the realness target **0.95 ("real")**, and the
#    class target is the digit the generator was asked to draw;
# 3. to check that a generator step changes every generator parameter and **no** discriminator
#    parameter (bit for bit);
# 4. what the class loss does when the generator is asked for an 8 but the discriminator sees
#    a 9 — and how its gradient pushes the drawing back toward an 8.
#
# The book's figure of the generator step, as code:
#
# ```
#  z, labels (2B) ─► G (training) ─► images ─► D (frozen, dropout on) ─┬─► realness ─► BCE vs 0.95 ("real") ──┐
#                                                                     └─► class ────► sparse CE vs labels ───┴─► sum ─► ∇ ─► update G only
# ```

# %%
import os

SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
FIX_STEPS = 4 if SMOKE else 40        # generator steps in section 5

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from acgan_lib import checkpoint, models, plotting, pretrained, training

# %% [markdown]
# ## 1. A fresh generator against a trained discriminator
#
# So that the discriminator's opinion means something, we load the discriminator that was trained
# together with the project's pretrained generator (see `acgan_lib/assets/pretrained_generator/PROVENANCE.md`),
# and start a brand-new generator.

# %%
disc = checkpoint.load_discriminator(pretrained.DISCRIMINATOR_DIR)
gen = models.Generator(rngs=nnx.Rngs(0))
g_opt = training.make_optimizer(gen)   # Adam(2e-4, beta1=0.5) on the generator's parameters only

# %% [markdown]
# ## 2. The "trick" targets
#
# The generator wants the discriminator to say "real" about its fakes and to recognise the digit
# it was asked for. So the generator's loss uses the discriminator's two heads with
#
# * realness targets all `SOFT_ONE = 0.95` — the opposite of what the discriminator is trained
#   to answer for fakes, which is the whole point;
# * class targets = the sampled labels the generator was given.
#
# The reference uses twice the discriminator's batch here (`2B = 200`).

# %%
key = jax.random.key(0)
kz, kl, kd = jax.random.split(key, 3)
z = models.sample_latent(kz, 2 * training.BATCH_SIZE)
labels = models.sample_labels(kl, 2 * training.BATCH_SIZE)
terms, aux = training.generator_loss_terms(gen, disc, z, labels, kd)
print("realness targets:", np.unique(np.asarray(aux["realness_targets"])))
print({k: round(float(v), 4) for k, v in terms.items()})
print("discriminator thinks the fresh generator's images are real with probability",
      round(float(jnp.mean(jax.nn.sigmoid(aux["realness_logits"]))), 4))

# %% [markdown]
# A trained discriminator is not fooled by an untrained generator: the realness loss is large,
# and the class loss is about ln 10 ≈ 2.3 or worse (it cannot find the requested digits).
#
# ## 3. One generator step, and the frozen discriminator
#
# `training.generator_step` differentiates the loss with respect to the **generator's**
# parameters only and updates them with the generator's optimizer. The discriminator is just a
# function inside the loss: it is never updated. (Its dropout stays active, as in the reference,
# and the generator runs in training mode, so its batch-norm statistics move.)

# %%
def snapshot(module, kind=nnx.Param):
    return [np.array(x) for x in jax.tree.leaves(nnx.state(module, kind))]


d_before, g_before = snapshot(disc), snapshot(gen)
m = training.generator_step(gen, disc, g_opt, 2 * training.BATCH_SIZE, jax.random.key(1))
d_after, g_after = snapshot(disc), snapshot(gen)
print({k: round(float(v), 4) for k, v in m.items()})

# %%
# NBVAL_CHECK_OUTPUT
print("discriminator parameters bit-identical:", all(np.array_equal(a, b) for a, b in zip(d_before, d_after)))
print("generator parameter arrays changed:", sum(not np.array_equal(a, b) for a, b in zip(g_before, g_after)),
      "of", len(g_before))

# %% [markdown]
# ## 4. Asked for an 8, seen as a 9
#
# Now the pretrained generator. Its class embedding decides which digit it draws, so we can make
# it *misbehave* on purpose: copy the embedding row of 9 into row 8. Asked for an 8, it now draws
# a 9 — and the discriminator's class head says so.

# %%
good = checkpoint.load_generator(pretrained.GENERATOR_DIR)
confused = nnx.clone(good)
confused.embedding.embedding[8] = good.embedding.embedding[9]

z8 = models.sample_latent(jax.random.key(3), 10)
eights = jnp.full((10,), 8)
fig, axes = plt.subplots(2, 1, figsize=(9, 2.6))
plotting.show_grid(good(z8, eights, train=False), 10, ax=axes[0])
axes[0].set_ylabel("pretrained\nasked 8", rotation=0, labelpad=35)
plotting.show_grid(confused(z8, eights, train=False), 10, ax=axes[1])
axes[1].set_ylabel("confused\nasked 8", rotation=0, labelpad=35)
plt.show()

# %%
def class_view(g, z, asked):
    """The discriminator's class probabilities and class loss for images g draws when asked for `asked`."""
    imgs = g(z, asked, train=False)
    _, logits = disc(imgs, train=False)
    return jax.nn.softmax(logits), float(training.class_loss(logits, asked))


p_good, loss_good = class_view(good, z8, eights)
p_conf, loss_conf = class_view(confused, z8, eights)
print(f"class loss when asked for 8: pretrained {loss_good:.3f}   confused {loss_conf:.3f}")
plt.figure(figsize=(8, 2.8))
plt.bar(np.arange(10) - 0.2, p_good.mean(0), 0.4, label="pretrained")
plt.bar(np.arange(10) + 0.2, p_conf.mean(0), 0.4, label="confused (draws 9s)")
plt.xticks(range(10))
plt.xlabel("discriminator's class")
plt.ylabel("mean probability")
plt.title("asked for an 8")
plt.legend()
plt.show()

# %% [markdown]
# ## 5. The gradient pushes the 8 back
#
# The class loss is high, so its gradient is large. Where does it point? For the *image*, the
# gradient of the class loss says which pixels to darken or brighten to look more like an 8. For
# the *generator*, it flows back through the images into the parameters — including the
# embedding row of class 8.

# %%
def class_loss_of_images(imgs):
    _, logits = disc(imgs, train=False)
    return training.class_loss(logits, eights)


imgs = confused(z8, eights, train=False)
pixel_grad = jax.grad(class_loss_of_images)(imgs)
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
axes[0].imshow(imgs[0, ..., 0], cmap="gray")
axes[0].set_title("drawn (asked 8)")
lim = float(jnp.abs(pixel_grad[0]).max())
axes[1].imshow(-pixel_grad[0, ..., 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
axes[1].set_title("-∇ class loss\n(red: brighten)")
axes[2].imshow(jnp.clip(imgs[0, ..., 0] - 0.3 * pixel_grad[0, ..., 0] / lim, -1, 1), cmap="gray")
axes[2].set_title("image nudged along it")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# Now let the gradient train the confused generator. We run the library's generator loss and
# per-loss gradients on batches in which every requested label is 8, and apply the summed
# gradient with Adam — the same computation as `training.generator_step`, with the labels fixed.

# %%
fix_opt = training.make_optimizer(confused)


@nnx.jit
def eights_step(g, opt, key):
    kz, kd = jax.random.split(key)
    z = models.sample_latent(kz, 100)
    asked = jnp.full((100,), 8)
    grads, terms, _ = training.per_loss_gradients(
        g, lambda m: training.generator_loss_terms(m, disc, z, asked, kd))
    opt.update(g, grads["total"])
    return terms, jnp.linalg.norm(grads["class_loss"]["embedding"]["embedding"][...][8])


losses, snapshots = [], [confused(z8, eights, train=False)]
for i in range(FIX_STEPS):
    terms, emb_grad = eights_step(confused, fix_opt, jax.random.key(1000 + i))
    losses.append((float(terms["class_loss"]), float(terms["realness_loss"]), float(emb_grad)))
    if (i + 1) % max(1, FIX_STEPS // 4) == 0:
        snapshots.append(confused(z8, eights, train=False))
print(f"class loss for 8s: {losses[0][0]:.3f} -> {losses[-1][0]:.3f}")
print(f"gradient norm on embedding row 8: {losses[0][2]:.4f} -> {losses[-1][2]:.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3), gridspec_kw={"width_ratios": [1, 1.4]})
axes[0].plot([l[0] for l in losses], label="class loss (asked 8)")
axes[0].plot([l[1] for l in losses], label="realness loss")
axes[0].set_xlabel("generator step")
axes[0].legend()
plotting.show_grid(jnp.concatenate([s[:6] for s in snapshots]), 6, ax=axes[1],
                   row_labels=[f"step {i * max(1, FIX_STEPS // 4)}" for i in range(len(snapshots))])
axes[1].set_title("asked for 8, over the steps")
plt.show()

# %% [markdown]
# The class loss falls within a few steps and the drawings move from 9s toward closed, 8-like
# shapes: the discriminator's class head is a teacher that tells the generator *which* digit it
# is failing to draw. It is satisfied long before the 8s look natural — with the class loss
# near zero, only the (slowly falling) realness loss keeps pushing toward real-looking strokes,
# which is why the full recipe trains both terms together on every batch.
#
# ## Summary
#
# * The generator is trained through the discriminator: realness targets all 0.95 ("real"),
#   class targets = the requested labels, `loss = realness_loss + class_loss`.
# * Only the generator's parameters are differentiated and updated; every discriminator
#   parameter stays bit-identical.
# * When the generator draws the wrong digit, the class loss is high, and its gradient flows into
#   exactly the parameters that decide the digit (here, the class-8 embedding row).
#
# Next: [6. The full training loop](06_the_training_loop.ipynb).
#
# ## Exercises
#
# 1. Run a generator step with `LossWeights(realness=0.0)` (class loss only). Does the
#    discriminator still stay unchanged? Which generator parameters receive no gradient?
# 2. In section 5, which embedding rows other than 8 receive a non-zero gradient? Why?
# 3. Instead of copying row 9 into row 8, copy row 1. Is the class loss at the start higher or
#    lower than with 9? Explain with the discriminator's class probabilities.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 1: the discriminator is still untouched; every generator parameter still gets a
# gradient, because the class loss also depends on all of them.
g1 = models.Generator(rngs=nnx.Rngs(5))
opt1 = training.make_optimizer(g1)
before = snapshot(disc)
training.generator_step(g1, disc, opt1, 50, jax.random.key(9), weights=training.LossWeights(realness=0.0))
print("discriminator unchanged:", all(np.array_equal(a, b) for a, b in zip(before, snapshot(disc))))

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 2: only row 8 - the embedding lookup routes the gradient to the rows that were used.
zz = models.sample_latent(jax.random.key(4), 20)
gr, _, _ = training.per_loss_gradients(nnx.clone(good), lambda m: training.generator_loss_terms(
    m, disc, zz, jnp.full((20,), 8), jax.random.key(5)))
rows = jnp.linalg.norm(gr["class_loss"]["embedding"]["embedding"][...], axis=1)
print("rows with gradient:", [int(i) for i in jnp.flatnonzero(rows > 0)])

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 3: compare the class loss of "asked 8, draws 1" with "asked 8, draws 9".
# The loss is -log P(8): whichever drawing the discriminator is more certain is *not* an 8 gives
# the higher loss. Compare the two numbers below with your intuition about shared strokes.
nines, ones = nnx.clone(good), nnx.clone(good)
nines.embedding.embedding[8] = good.embedding.embedding[9]
ones.embedding.embedding[8] = good.embedding.embedding[1]
for name, g in [("9", nines), ("1", ones)]:
    probs, loss = class_view(g, z8, eights)
    print(f"asked 8, draws {name}: class loss {loss:.3f}, mean P(8) = {float(probs[:, 8].mean()):.4f}")
