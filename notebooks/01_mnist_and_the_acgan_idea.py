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
# # 1. MNIST and the ACGAN idea
#
# *Part 1 of the ACGAN series: a JAX / Flax NNX port of the TensorFlow.js `mnist-acgan` example
# (Deep Learning with JavaScript, §10.3.3) and the Keras `mnist_acgan.py` it follows.*
#
# **What you will learn**
#
# 1. what a generative adversarial network (GAN) is, in one picture and two players;
# 2. what the *auxiliary classifier* of an ACGAN adds: a class the generator is asked to draw,
#    and a second head on the discriminator that names the digit;
# 3. how to load MNIST with `acgan_lib.data` (full data set when cached or downloadable,
#    a bundled real subset offline) and why the pixels are scaled to [-1, 1].
#
# Every notebook in the series imports the same small library, `acgan_lib`; nothing is copied
# between notebooks.

# %%
import os

# CI runs every notebook with ACGAN_SMOKE=1: same code, fewer steps.
SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
# "bundled" = the 5,000 real digits shipped in the package (offline); "auto" tries full MNIST.
DATA = os.environ.get("ACGAN_DATA", "bundled")

import matplotlib.pyplot as plt
import numpy as np

from acgan_lib import data, plotting

# %% [markdown]
# ## 1. Two players
#
# A GAN trains two networks against each other:
#
# * the **generator** `G` turns a random vector `z` (the *latent* vector) into an image;
# * the **discriminator** `D` looks at an image and says how likely it is to be real.
#
# `D` is trained to tell real digits from `G`'s fakes; `G` is trained to make `D` say "real".
# If both improve, `G`'s images end up hard to tell from real digits.
#
# ## 2. What the auxiliary classifier adds
#
# A plain GAN draws *some* digit; we cannot ask for a 7. The **ACGAN** (Odena, Olah & Shlens,
# 2017) changes both players:
#
# | | plain GAN | ACGAN |
# |---|---|---|
# | generator input | `z` | `z` **and a class label** (which digit to draw) |
# | discriminator output | realness | realness **and the digit's class** (10 logits) |
# | discriminator loss | binary cross-entropy on realness | the same **+** sparse categorical cross-entropy on class |
# | generator loss | make `D` say "real" | make `D` say "real" **and** recognise the requested class |
#
# The class head gives the generator a second, very informative signal: if it was asked for an 8
# and the discriminator sees a 9, the class loss is high and its gradient pushes the drawing
# toward an 8. Notebooks 4 and 5 write those two losses out and show their gradients.
#
# ```
#            z ─┐
#               ├─► G ─► fake image ─┐
#   class c  ───┘                    ├─► D ─┬─► realness  (real / fake)   ← binary cross-entropy
#            real image ─────────────┘      └─► class     (0 … 9)         ← sparse categorical cross-entropy
# ```

# %% [markdown]
# ## 3. Loading MNIST
#
# `data.load_mnist(source)` returns images and labels and says where they came from:
#
# * `"auto"` — the canonical MNIST files from the cache directory, downloaded (SHA-256 checked)
#   when missing; without a network it falls back to the bundled subset;
# * `"bundled"` — 5,000 real MNIST training digits, 500 per class, shipped inside the package;
#   this series uses it by default so it runs offline on a laptop in minutes.

# %%
ds = data.load_mnist(DATA)
print("images:", ds.images.shape, ds.images.dtype, "labels:", ds.labels.shape, ds.labels.dtype)
print("digits per class:", np.bincount(ds.labels).tolist())

# %% [markdown]
# The images are `(N, 28, 28, 1)` float32 — height, width, one grey channel (the "NHWC" layout
# JAX convolutions use) — and the labels are integers 0–9. Here are ten real examples of every
# class, one class per column:

# %%
rng = np.random.default_rng(0)
picks = np.stack([rng.choice(np.flatnonzero(ds.labels == c), 10, replace=False) for c in range(10)], axis=1)
plotting.show_grid(ds.images[picks.ravel()], ncols=10, col_labels=range(10), title="real MNIST digits")
plt.show()

# %% [markdown]
# ## 4. Why [-1, 1]?
#
# MNIST stores pixels as bytes 0–255. The generator's last layer is a `tanh`, whose outputs lie
# in (-1, 1), so the real images are scaled the same way: `x / 127.5 - 1`. Otherwise the
# discriminator could tell real from fake by the value range alone.

# %%
raw = data.to_pixels(ds.images[:500])  # back to bytes 0..255
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
axes[0].hist(raw.ravel(), bins=50, color="grey")
axes[0].set_title("stored bytes 0..255")
axes[1].hist(ds.images[:500].ravel(), bins=50, color="tab:blue")
axes[1].set_title("model input: x / 127.5 - 1")
t = np.linspace(-4, 4, 200)
axes[2].plot(t, np.tanh(t))
axes[2].set_title("tanh: the generator's last activation")
for ax in axes[:2]:
    ax.set_yscale("log")
plt.tight_layout()
plt.show()
print(f"range of the model input: [{ds.images.min():.1f}, {ds.images.max():.1f}]")

# %% [markdown]
# Most pixels are background (-1) and a few are stroke (near +1): the generator will have to
# learn to make mostly-black images with thin bright strokes.
#
# ## Summary
#
# * A GAN trains a generator and a discriminator against each other; an ACGAN adds a class:
#   the generator is told which digit to draw, and the discriminator has a second head that
#   names the digit.
# * The discriminator therefore has **two losses** — realness (binary cross-entropy) and class
#   (sparse categorical cross-entropy) — and the generator is trained through both.
# * `acgan_lib.data` loads MNIST as `(N, 28, 28, 1)` float32 in [-1, 1] with int32 labels and
#   reports which source it used; offline it uses 5,000 bundled real digits.
#
# Next: [2. A 2-D toy ACGAN](02_a_2d_toy_acgan.ipynb).
#
# ## Exercises
#
# 1. Compute the mean image of each class (in [-1, 1]) and show the ten means in a row.
#    Which two classes look most alike?
# 2. What fraction of all pixels is exactly background (-1)? Why does this matter for a
#    generator whose last activation is `tanh`?
# 3. The bundled subset is sorted by class. Why must training shuffle it every epoch?
#
# Solutions are in the collapsed cells below (click to expand).

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 1: per-class mean images; 7 and 9 (and 4 and 9) share the most ink.
means = np.stack([ds.images[ds.labels == c].mean(0) for c in range(10)])
plotting.show_grid(means, ncols=10, col_labels=range(10), title="mean image per class")
plt.show()
flat = means.reshape(10, -1)
d = ((flat[:, None] - flat[None]) ** 2).sum(-1) + np.eye(10) * 1e9
i, j = np.unravel_index(d.argmin(), d.shape)
print(f"closest pair of class means: {i} and {j}")

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 2: about 80% of pixels are pure background. tanh only reaches -1 asymptotically,
# so the generator has to push those pre-activations far negative; it learns that quickly.
print(f"background fraction: {np.mean(ds.images == -1.0):.3f}")

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 3: without shuffling, a batch of 100 consecutive digits would hold a single class,
# so the discriminator's class head would see one class at a time and the real batches would
# differ systematically from the fakes (whose labels are sampled uniformly).
print("first 20 labels as stored:", ds.labels[:20].tolist())
