# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 3. Architecture: the generator and the two-headed discriminator
#
# **What you will learn**
#
# 1. how the generator mixes the class into `z` (an embedding, multiplied element-wise) and grows
#    a 3×3 feature map into a 28×28 image with three transposed convolutions;
# 2. how the discriminator shrinks an image with four convolutions and ends in **two heads**;
# 3. the output shape after every layer and the parameter counts, which equal the reference
#    (generator 2,657,321, discriminator 525,835);
# 4. what an untrained generator draws, and why a transposed convolution can be computed as one
#    matrix multiplication plus an overlap-add.
#
# **Prerequisites:** [notebook 1](01_mnist_and_the_acgan_idea.ipynb); convolutions, padding and
# stride (d2l.ai [§7.2–7.3](https://d2l.ai/chapter_convolutional-neural-networks/conv-layer.html)) and
# transposed convolutions (d2l.ai [§14.10](https://d2l.ai/chapter_computer-vision/transposed-conv.html));
# batch normalisation (d2l.ai [§8.5](https://d2l.ai/chapter_convolutional-modern/batch-norm.html));
# Flax NNX modules, `nnx.Rngs` and `nnx.split` / `nnx.merge`
# ([NNX basics](https://flax.readthedocs.io/en/latest/nnx_basics.html)); JAX
# [PRNG keys](https://docs.jax.dev/en/latest/random-numbers.html).
#
# **Time:** about 25 minutes (the code runs in well under a minute).
#
# All arrays are **NHWC** (batch, height, width, channels), Flax's convention for `nnx.Conv` and
# `nnx.ConvTranspose`; kernels are HWIO. (JAX's low-level `jax.lax.conv_general_dilated` defaults
# to NCHW / OIHW unless `dimension_numbers` says otherwise.)

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

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from acgan_lib import compile_cache, conv_transpose, diagrams, models, plotting

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

# %% [markdown]
# ## 1. Building the two networks
#
# Both are `flax.nnx` modules: plain Python objects that own their parameters. `nnx.Rngs(seed)`
# supplies the random initialisation, so the same seed gives the same network.

# %%
gen = models.Generator(latent_dim=100, num_classes=10, rngs=nnx.Rngs(0))
disc = models.Discriminator(num_classes=10, rngs=nnx.Rngs(1))

# %% [markdown]
# ## 2. The generator, layer by layer
#
# ```python
# h = z * embedding(label)                       # (N, 100)  class ⊙ latent
# h = relu(dense(h)).reshape(-1, 3, 3, 384)      # (N, 3, 3, 384)
# h = batch_norm(relu(deconv1(h)))               # (N, 7, 7, 192)   5×5, stride 1, VALID
# h = batch_norm(relu(deconv2(h)))               # (N, 14, 14, 96)  5×5, stride 2, SAME
# image = tanh(deconv3(h))                       # (N, 28, 28, 1)   5×5, stride 2, SAME
# ```
#
# (This is `Generator.layers` in `acgan_lib/models.py`.) The class enters by **multiplying** `z`
# with a learned 100-number vector per class, so every class reuses the same `z` (notebook 7
# shows how loosely it carries a style). Batch normalisation comes *after* the activation, as in the reference, with
# Keras' settings (momentum 0.99, epsilon 1e-3).

# %% tags=["nbval-check-output"]
z = models.sample_latent(jax.random.key(0), 4)        # U[-1, 1], as the reference draws it
labels = jnp.array([0, 3, 7, 9])
for name, act in gen.layers(z, labels, train=False):
    print(f"{name:<28} {str(act.shape):<18}")

# %% [markdown]
# ## 3. The discriminator, layer by layer
#
# Four 3×3 convolutions (32, 64, 128, 256 filters; strides 2, 1, 2, 1), each followed by
# LeakyReLU(0.2) and Dropout(0.3), then a flatten and **two heads**:
#
# * `realness_head`: Dense(1) — one logit, "how real?"
# * `class_head`: Dense(10) — ten logits, "which digit?"
#
# The reference ends the heads with sigmoid and softmax. We return the *logits* and put the
# sigmoid / softmax inside the losses (`optax.sigmoid_binary_cross_entropy`,
# `optax.softmax_cross_entropy_with_integer_labels`): the same functions, computed in a
# numerically stable way.

# %% tags=["nbval-check-output"]
images = gen(z, labels, train=False)
for name, act in disc.features(images, train=False):
    print(f"{name:<32} {str(act.shape):<18}")
realness_logits, class_logits = disc(images, train=False)
print("realness logits:", realness_logits.shape, " class logits:", class_logits.shape)

# %% [markdown]
# **Both networks, drawn.** `diagrams.draw_networks` takes every shape and parameter count from
# the models themselves (it traces a batch of one), so the picture cannot drift from the code.
# Box heights grow with the image size; the class enters at the product `z * embedding`, and the
# discriminator splits into its two heads after the shared features.

# %%
fig, drawn_shapes = diagrams.draw_networks(gen, disc)
plt.show()
traced = [str(tuple(a.shape[1:])) for _, a in gen.layers(z, labels, train=False)]
assert set(traced) <= set(drawn_shapes["generator"]) and drawn_shapes["discriminator"][-2:] == ["(1,)", "(10,)"]

# %% [markdown]
# ## 4. Parameter counts equal the reference

# %% tags=["nbval-check-output"]
print(models.format_summary(gen, disc))
assert models.count_params(gen) == 2_657_321 and models.count_params(disc) == 525_835

# %% [markdown]
# The generator holds 5× more parameters than the discriminator, most of them in `deconv1`
# (5·5·384·192 weights). Its 576 batch-norm statistics (running mean and variance of 192 + 96
# channels) are not trained by gradients; they are averaged during training and used when we
# *draw* digits (`train=False`). The tfjs summary of the combined model prints
# 2,657,321 + 525,835 + 576 = 3,183,732.

# %%
sizes = {name: models.count_params(m) for name, m in
         [("embedding", gen.embedding), ("dense", gen.dense), ("deconv1", gen.deconv1),
          ("deconv2", gen.deconv2), ("deconv3", gen.deconv3)]}
dsizes = {f"conv{i + 1}": models.count_params(c) for i, c in enumerate(disc.convs)}
dsizes.update(realness_head=models.count_params(disc.realness_head), class_head=models.count_params(disc.class_head))
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
axes[0].barh(list(sizes), list(sizes.values()), color="tab:orange")
axes[0].set_title("generator parameters per layer")
axes[1].barh(list(dsizes), list(dsizes.values()), color="tab:blue")
axes[1].set_title("discriminator parameters per layer")
for ax in axes:
    ax.set_xlabel("trainable parameters")
    ax.invert_yaxis()                      # first layer on top
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. What an untrained generator draws
#
# One row per `z`, one column per class. *Predict before you run:* the last layer is
# `tanh(deconv3(h))` with small random initial weights — what pixel values do you expect?
#
# On the model's own scale ([-1, 1] → black…white) the untrained output is **flat grey**: every
# pixel is close to 0 (mid-grey). Only after contrast-stretching each image to its own
# min…max (right) do you see a faint texture — the imprint of the transposed convolutions'
# random kernels — which the class embedding changes a little.

# %%
rows = 4
zs = jnp.repeat(models.sample_latent(jax.random.key(1), rows), 10, axis=0)
cls = jnp.tile(jnp.arange(10), rows)
untrained = gen(zs, cls, train=False)
lo = untrained.min(axis=(1, 2, 3), keepdims=True)
hi = untrained.max(axis=(1, 2, 3), keepdims=True)
stretched = 2 * (untrained - lo) / (hi - lo) - 1                     # each image mapped to [-1, 1]
fig, axes = plt.subplots(1, 2, figsize=(14, 4))
row_names = [f"z{i}" for i in range(rows)]
plotting.show_grid(untrained, ncols=10, col_labels=range(10), row_labels=row_names, ax=axes[0],
                   title="untrained generator, model scale [-1, 1]")
plotting.show_grid(stretched, ncols=10, col_labels=range(10), row_labels=row_names, ax=axes[1],
                   title="the same images, each contrast-stretched to its min…max")
for ax in axes:
    ax.set_xlabel("requested class")
    ax.xaxis.set_label_position("top")
plt.tight_layout()
plt.show()
print(f"untrained pixel values: min {float(untrained.min()):.4f}, max {float(untrained.max()):.4f}, "
      f"std {float(untrained.std()):.4f}")
assert float(jnp.abs(untrained).max()) < 0.01, "an untrained generator should draw (near) flat grey"

# %% [markdown]
# ## 6. A transposed convolution is a matrix multiplication plus an overlap-add
#
# A transposed convolution ("deconvolution") *spreads* each input pixel into the output: pixel
# `i` multiplied by the whole `5×5` kernel lands on the output window starting at `stride·i`.
# So it can be computed in two steps:
#
# 1. multiply **every** input pixel by **every** kernel tap at once — one matrix product
#    `(N·H·W, C_in) @ (C_in, 5·5·C_out)`;
# 2. add each tap's result into its place in the output (*overlap-add*, or *col2im*).
#
# Here it is in one dimension, with stride 2 and a 3-tap kernel: every input pixel adds a scaled
# copy of the kernel, two positions further on than the previous one; where copies overlap, the
# output adds them (the "2 terms" positions). A 5×5 kernel with stride 2 in 2-D overlaps the same way.

# %%
fig, out_1d = diagrams.draw_overlap_add(x=(1.0, 2.0, -1.0), w=(0.5, 1.0, 0.5), stride=2)
plt.show()
# The same sum from the library's transposed convolution (a 1 x 3 image, a 1 x 3 kernel). Note that
# lax.conv_transpose / the library apply the kernel reversed relative to this picture: with an
# asymmetric kernel, the overlap-add of the reversed kernel is what they compute.
w_asym = np.array([0.5, 1.0, 0.25])
lib_1d = conv_transpose.conv_transpose_matmul(jnp.array([1.0, 2.0, -1.0]).reshape(1, 1, 3, 1),
                                              jnp.asarray(w_asym).reshape(1, 3, 1, 1), (1, 2), "VALID")
assert np.allclose(np.asarray(lib_1d).ravel(), diagrams.overlap_add_1d(np.array([1.0, 2.0, -1.0]), w_asym[::-1], 2)[1])
assert out_1d.tolist() == [0.5, 1.0, 1.5, 2.0, 0.5, -1.0, -0.5]

# %% [markdown]
# Same sum, different order — so the outputs agree to float rounding, and the parameters are the
# same `kernel` of shape `(5, 5, C_in, C_out)` (HWIO). `jax.lax.conv_transpose`, which
# `nnx.ConvTranspose` calls, defaults to NHWC / HWIO. On a CPU the matrix product is much faster than
# XLA's direct transposed convolution (notebook 6 measures it), so `acgan_lib` uses it there and
# picks the faster form per backend (`conv_transpose.default_conv_impl()`).

# %% tags=["nbval-check-output"]
x = jax.random.normal(jax.random.key(2), (8, 7, 7, 192))
kernel = gen.deconv2.kernel[...]
fast = conv_transpose.conv_transpose_matmul(x, kernel, (2, 2), "SAME")
reference = jax.lax.conv_transpose(x, kernel, (2, 2), "SAME")   # what nnx.ConvTranspose computes
print("output shape:", fast.shape)
print("same result (to float rounding):", bool(jnp.allclose(fast, reference, atol=1e-4)))
print("implementation used on this backend:", conv_transpose.default_conv_impl())

# %% [markdown]
# ## Summary
#
# * Generator: `z ⊙ embedding(class)` → Dense → 3×3×384 → three 5×5 transposed convolutions
#   (7×7, 14×14, 28×28) with ReLU + batch norm, `tanh` at the end; 2,657,321 parameters.
# * Discriminator: four 3×3 convolutions with LeakyReLU and dropout, then two heads (realness,
#   class); 525,835 parameters. Heads return logits; the losses apply sigmoid/softmax.
# * An untrained generator draws flat grey (every pixel within ±0.01 of 0); its faint texture only
#   shows after contrast stretching.
# * A transposed convolution equals one big matmul followed by an overlap-add — the trick that
#   makes this model train fast on a CPU.
#
# Next: [4. Training the discriminator](04_training_the_discriminator.ipynb).
#
# ## Exercises
#
# 1. Count by hand the trainable parameters of `deconv1` together with the batch norm that
#    follows it.
#    Check: `exercises.check_deconv1_params(n)`.
# 2. Build a generator with `latent_dim=16`. Which layers change size, and by how much does the
#    parameter count drop? Check: `exercises.check_latent16_param_drop(n)`.
# 3. Show that the class really changes the output of an untrained generator: for one `z`,
#    compute the mean absolute difference between the images for class 0 and for each other class.
#    Compare it with the pixel values' standard deviation printed in section 5.

# %%
from acgan_lib import exercises

exercises.check_deconv1_params(0)        # replace 0 with your count
_ = exercises.check_latent16_param_drop(0)   # replace 0 with your count

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: 5 * 5 * 384 * 192 = 1,843,200 kernel weights + 192 biases + 2 * 192 batch-norm
# scale/offset = 1,843,776 (the number on deconv1's block in the diagram of section 3).
k = 5 * 5 * 384 * 192
print("deconv1:", k, "+ bias 192 =", k + 192, "; with batch-norm scale+offset:", k + 192 + 2 * 192)
print("library says:", models.count_params(gen.deconv1) + models.count_params(gen.bn1))

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: only the embedding (10 x latent) and the dense layer (latent x 3456) depend on it:
# the count drops by (100 - 16) * (10 + 3456) = 291,144 parameters.
small = models.Generator(latent_dim=16, rngs=nnx.Rngs(0))
print("latent 16:", models.count_params(small), " drop:", models.count_params(gen) - models.count_params(small),
      "=", (100 - 16) * (10 + 3456))

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: about 0.001 per pixel - the same order as the images' own spread (std ~0.001):
# the class is in the output from the start, but every image is nearly flat grey.
z1 = jnp.repeat(models.sample_latent(jax.random.key(5), 1), 10, axis=0)
imgs = gen(z1, jnp.arange(10), train=False)
print([round(float(jnp.abs(imgs[c] - imgs[0]).mean()), 4) for c in range(10)])
