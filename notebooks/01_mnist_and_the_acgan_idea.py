# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# 3. the objective **as equations** — the minimax GAN loss, the non-saturating ("trick") generator
#    loss and ACGAN's $L_S$ and $L_C$ — and how they map onto the library's two named losses,
#    `realness_loss` and `class_loss`, with the soft 0.95 target;
# 4. the reference values that tell you how to read every loss curve in this series;
# 5. how to load MNIST with `acgan_lib.data` (full data set when cached or downloadable,
#    a bundled real subset offline) and why the pixels are scaled to [-1, 1].
#
# **Prerequisites** (skim the links if a word is new):
#
# * cross-entropy and softmax — d2l.ai [§4.1 Softmax regression](https://d2l.ai/chapter_linear-classification/softmax-regression.html);
# * convolutions — d2l.ai [chapter 7](https://d2l.ai/chapter_convolutional-neural-networks/index.html);
# * the GAN idea — d2l.ai [§20.1 Generative adversarial networks](https://d2l.ai/chapter_generative-adversarial-networks/gan.html);
# * JAX basics — [PRNG keys](https://docs.jax.dev/en/latest/random-numbers.html),
#   [`jax.jit`](https://docs.jax.dev/en/latest/jit-compilation.html),
#   [`jax.grad`](https://docs.jax.dev/en/latest/automatic-differentiation.html);
#   Flax NNX modules and `nnx.split` / `nnx.merge` — [NNX basics](https://flax.readthedocs.io/en/latest/nnx_basics.html).
#
# **Time:** about 30 minutes to read and run (the code runs in about 15 s).

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

# CI runs every notebook with ACGAN_SMOKE=1: same code, fewer steps.
SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
# "bundled" = the 5,000 real digits shipped in the package (offline); "auto" tries full MNIST.
DATA = os.environ.get("ACGAN_DATA", "bundled")

import matplotlib.pyplot as plt
import numpy as np

from acgan_lib import compile_cache, data, diagrams, plotting

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

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
# The whole picture, with the shapes of one discriminator step (B real digits and B fakes):

# %%
fig = diagrams.draw_acgan_idea()
plt.show()

# %% [markdown]
# ## 3. The objective, as equations
#
# Write the discriminator's realness output as a probability $D(x) = \sigma(\ell(x))$, where
# $\ell$ is the **logit** (the number the realness head returns) and $\sigma(\ell) = 1/(1+e^{-\ell})$.
#
# **The original (minimax) GAN** (Goodfellow et al., 2014) is a two-player game on one value:
#
# $$\min_G \max_D \; V(D, G) = \mathbb{E}_{x \sim \text{data}}\big[\log D(x)\big]
#   + \mathbb{E}_{z}\big[\log\big(1 - D(G(z))\big)\big].$$
#
# `D` maximises $V$ (say "real" on data, "fake" on fakes); `G` minimises the second term.
#
# *Predict before you read on:* early in training `D` rejects the fakes confidently
# ($\ell \ll 0$). Does the generator's minimax loss $\log(1 - \sigma(\ell))$ then give it a large
# gradient, or almost none?

# %% [markdown]
# **Why the generator usually uses the "trick" target instead.** For one fake with logit $\ell$
# the minimax generator loss is $\log(1-\sigma(\ell))$; the non-saturating one, which Goodfellow
# et al. themselves recommend, is $-\log \sigma(\ell)$ — binary cross-entropy with target 1
# ("real"), the *trick* target. Their gradients are $-\sigma(\ell)$ and $-(1-\sigma(\ell))$.
# Early in training `D` rejects the fakes confidently: $\ell \ll 0$, $\sigma(\ell) \approx 0$.
# Then the minimax gradient **vanishes** — the generator learns nothing exactly when it is
# worst — while the non-saturating gradient is $\approx -1$, as large as it gets. Both losses
# push `D(G(z))` the same way; only the size of the push differs.
#
# <details><summary>Deeper: the two gradients</summary>
#
# With $\sigma'(\ell) = \sigma(\ell)(1-\sigma(\ell))$:
#
# $$\frac{\partial}{\partial \ell}\log\big(1-\sigma(\ell)\big) = -\frac{\sigma(\ell)(1-\sigma(\ell))}{1-\sigma(\ell)} = -\sigma(\ell), \qquad
#   \frac{\partial}{\partial \ell}\big(-\log\sigma(\ell)\big) = -\frac{\sigma(\ell)(1-\sigma(\ell))}{\sigma(\ell)} = -\big(1-\sigma(\ell)\big).$$
#
# </details>

# %% [markdown]
# **With a soft target.** The library's realness loss is binary cross-entropy with a target $t$:
#
# $$\text{BCE}(\ell, t) = -t\log\sigma(\ell) - (1-t)\log\big(1-\sigma(\ell)\big), \qquad
#   \frac{\partial\,\text{BCE}}{\partial \ell} = \sigma(\ell) - t.$$
#
# The gradient is zero at $\sigma(\ell) = t$, so the loss is smallest there, and its minimum is
# the **entropy** $H(t) = -t\log t - (1-t)\log(1-t)$, not 0. For $t = 0.95$ (`SOFT_ONE`):
# $H(0.95) \approx 0.199$, reached at $\ell = \log\frac{0.95}{0.05} \approx 2.94$.
#
# **ACGAN** (Odena, Olah & Shlens, 2017, eqs. 2–3) gives the discriminator two log-likelihoods,
# of the correct *source* $S$ (real / fake) and of the correct *class* $C$:
#
# $$L_S = \mathbb{E}\big[\log P(S{=}\text{real} \mid X_\text{real})\big] + \mathbb{E}\big[\log P(S{=}\text{fake} \mid X_\text{fake})\big],$$
# $$L_C = \mathbb{E}\big[\log P(C{=}c \mid X_\text{real})\big] + \mathbb{E}\big[\log P(C{=}c \mid X_\text{fake})\big].$$
#
# `D` maximises $L_S + L_C$; `G` maximises $L_C - L_S$.

# %% [markdown]
# **From the paper to the library's two losses.** The library minimises two named losses, each
# a **mean over all the images of one step**:
#
# | step | `realness_loss` (binary cross-entropy) | `class_loss` (sparse categorical cross-entropy) |
# |---|---|---|
# | discriminator (one batch: N real + N fake) | $\approx -L_S/2$: targets **0.95** for real, 0 for fake | $= -L_C/2$: the real labels and the labels the fakes were drawn for |
# | generator (2N fakes) | $\approx -\mathbb{E}[\log P(S{=}\text{real} \mid X_\text{fake})]$: target 0.95 for every fake | $= -\mathbb{E}[\log P(C{=}c \mid X_\text{fake})]$, the fake term of $-L_C$ |
#
# *Why halves:* $L_S$ and $L_C$ are **sums** of two expectations (one over N real, one over N
# fake images); a mean over all 2N images is their **average**. "≈" because the real target is
# 0.95, not 1. The factor 1/2 scales the gradient, not its direction.
#
# *The generator's signs:* `G` maximises $L_C - L_S$. Only the fake terms depend on `G`, so it
# wants $\mathbb{E}[\log P(C{=}c \mid X_\text{fake})]$ large (its class loss) and
# $\mathbb{E}[\log P(S{=}\text{fake} \mid X_\text{fake})] = \mathbb{E}[\log(1-D(G(z)))]$ small —
# the saturating minimax form. The library, like the Keras and TF.js references, replaces the
# latter by minimising $-\mathbb{E}[\log D(G(z))]$, the non-saturating loss above (with target
# 0.95). Not every GAN makes this swap: WGAN, LSGAN and hinge-loss GANs use other losses altogether.
#
# **Both** players minimise the class loss on fakes: on the class question they cooperate, on
# the realness question they compete. The soft 0.95 replaces the target 1 ("one-sided label
# smoothing", Salimans et al. 2016): a discriminator rewarded for being 95 % sure cannot push
# its logits on real digits to infinity. The next cell checks the halves on random logits.

# %% tags=["nbval-check-output"]
# The library's discriminator losses are the averages of ACGAN's two terms, i.e. -L_S/2 and -L_C/2.
import jax
import jax.numpy as jnp

from acgan_lib import training

k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
n = 100
realness_logits = 3 * jax.random.normal(k1, (2 * n,))        # first n: real images, last n: fakes
class_logits = 3 * jax.random.normal(k2, (2 * n, 10))
labels = jax.random.randint(k3, (2 * n,), 0, 10)
real_term = jnp.mean(jax.nn.log_sigmoid(realness_logits[:n]))            # E log P(S=real | X_real)
fake_term = jnp.mean(jax.nn.log_sigmoid(-realness_logits[n:]))           # E log P(S=fake | X_fake)
log_p = jax.nn.log_softmax(class_logits)[jnp.arange(2 * n), labels]
L_S, L_C = real_term + fake_term, log_p[:n].mean() + log_p[n:].mean()
hard = jnp.concatenate([jnp.ones(n), jnp.zeros(n)])                     # targets 1 / 0
soft = jnp.concatenate([jnp.full(n, training.SOFT_ONE), jnp.zeros(n)])  # targets 0.95 / 0
assert jnp.allclose(training.realness_loss(realness_logits, hard), -L_S / 2, atol=1e-5)
assert jnp.allclose(training.class_loss(class_logits, labels), -L_C / 2, atol=1e-5)
print("class_loss == -L_C / 2: True;  realness_loss with target 1 == -L_S / 2: True")
print("with the soft target 0.95 the realness loss differs from -L_S / 2 by "
      f"{abs(float(training.realness_loss(realness_logits, soft) + L_S / 2)) / float(-L_S / 2):.0%} here")

# %%
logit = np.linspace(-8, 8, 401)
sig = 1 / (1 + np.exp(-logit))
t = 0.95                                          # SOFT_ONE
bce = lambda l, target: np.logaddexp(0, -l) * target + np.logaddexp(0, l) * (1 - target)  # stable BCE
curves = {                                        # name: (loss, d loss / d logit)
    "D, real image: BCE(ℓ, 0.95)": (bce(logit, t), sig - t),
    "D, fake image: BCE(ℓ, 0)": (bce(logit, 0.0), sig),
    "G, minimax: log(1 − σ(ℓ))": (-np.logaddexp(0, logit), -sig),
    "G, non-saturating: BCE(ℓ, 0.95)": (bce(logit, t), sig - t),
}
styles = ["-", "-", "--", ":"]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
for (name, (loss, grad)), style in zip(curves.items(), styles):
    axes[0].plot(logit, loss, style, lw=2, label=name)
    axes[1].plot(logit, grad, style, lw=2, label=name)
entropy = -(t * np.log(t) + (1 - t) * np.log(1 - t))
axes[0].axhline(entropy, color="grey", lw=0.8)
axes[0].annotate(f"minimum H(0.95) = {entropy:.3f} at ℓ = {np.log(t / (1 - t)):.2f}", (np.log(t / (1 - t)), entropy),
                 xytext=(-7.5, 4.5), arrowprops=dict(arrowstyle="->"), fontsize=10)
axes[0].set_ylim(-8.5, 8.5)
axes[0].set_title("loss of one image against its realness logit")
axes[0].set_ylabel("loss (nats)")
axes[1].set_title("its gradient d loss / d logit")
axes[1].set_ylabel("gradient")
for ax in axes:
    ax.axvline(0, color="grey", lw=0.5)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("realness logit ℓ  (σ(ℓ) = P(real))")
    ax.legend(fontsize=9)
plt.tight_layout()
plt.show()

# %% tags=["nbval-check-output"]
# The formulas above, checked against the library's loss and JAX's gradient of it.


l = jnp.linspace(-8.0, 8.0, 101)
library_grad = jax.vmap(jax.grad(lambda x: training.realness_loss(x[None], jnp.array([t]))))(l)
print("d BCE / d logit == sigmoid(logit) - 0.95:", bool(jnp.allclose(library_grad, jax.nn.sigmoid(l) - t, atol=1e-6)))
print(f"minimum of BCE(., 0.95) = H(0.95) = {float(training.realness_loss(jnp.array([np.log(t / (1 - t))]), jnp.array([t]))):.3f}")
s8 = 1 / (1 + np.exp(8.0))                                                 # sigma(-8)
print(f"at logit -8: minimax gradient {-s8:.4f}, non-saturating gradient {s8 - 1:.4f} "
      f"(target 1), {s8 - t:.4f} (target 0.95)")

# %% [markdown]
# The dotted red curve (the generator's non-saturating loss on a fake) lies exactly on the blue
# one (the discriminator's loss on a real image): both are BCE with target 0.95. The dashed green
# minimax curve is the flat one on the left. At a confidently rejected fake (logit −8) the minimax gradient is −0.0003, the
# non-saturating one −0.9997 (−0.9497 with the soft target): that is the whole reason for the trick target. With the soft target
# the generator's gradient $\sigma(\ell) - 0.95$ even changes sign past $\ell \approx 2.94$: a fake
# judged *more* than 95 % real is pushed back toward 95 %.

# %% [markdown]
# <a id="reference-values"></a>
#
# ## 4. How to read the loss curves: reference values
#
# Every loss plot in this series draws some of these lines; the other notebooks link here
# instead of deriving them again.
#
# | value | where | derivation |
# |---|---|---|
# | $H(0.95)/2 \approx 0.099$ | discriminator `realness_loss`, **lowest possible** | half real (target 0.95, minimum $H(0.95)$), half fake (target 0, minimum 0): the mean is $H(0.95)/2$ |
# | $H(0.95) \approx 0.199$ | generator `realness_loss`, **lowest possible** | every fake has target 0.95: reached only if `D` says exactly 95 % real |
# | $\ln 2 \approx 0.693$ | either `realness_loss` when `D` says **0.5 to every image** (an untrained `D`) | $\text{BCE}(0, t) = -t\ln\frac12 - (1-t)\ln\frac12 = \ln 2$ for every $t$ |
# | $D^* = 0.475$; **0.692** (D), **0.739** (G) | the realness losses at the **equilibrium**, fakes indistinguishable from reals | the best `D` for $p_g = p_\text{data}$ says 0.475, not 0.5, because of the soft target (below) |
# | $\ln 10 \approx 2.303$ | `class_loss` of an **untrained** class head | near-uniform softmax over 10 digits: $-\ln\frac{1}{10}$ |
#
# A discriminator realness loss near 0.099 means `D` wins completely; near 0.69 it cannot tell.
# At the equilibrium the generator's realness loss is **0.739, above $\ln 2$**: that is why the
# generator's curve settles above the discriminator's in notebooks 2 and 6. A class loss *above*
# $\ln 10$ means the class head is confidently **wrong** (notebook 5 shows one at 12.5).

# %% [markdown]
# <details><summary>Deeper: the equilibrium with the soft target</summary>
#
# Where real and fake images are equally likely ($p_g = p_\text{data}$), `D` sees each image as
# real (target 0.95) half the time and as fake (target 0) half the time. Its loss at that image,
# $\tfrac12[\text{BCE}(D, 0.95) + \text{BCE}(D, 0)]$, is smallest where its derivative in $D$ is 0:
# $-\tfrac{0.95}{D} + \tfrac{0.05}{1-D} + \tfrac{1}{1-D} = 0$, so $D^* = 0.95/2 = 0.475$.
# (In general $D^*(x) = 0.95\,p_\text{data}/(p_\text{data}+p_g)$.) Then
# $\text{BCE}(0.475, 0.95) = 0.739$ (the generator's loss, and the discriminator's on reals),
# $\text{BCE}(0.475, 0) = -\ln 0.525 = 0.644$ (on fakes); the discriminator's mean is 0.692.
# With target 1 instead, $D^* = 1/2$ and both losses would be exactly $\ln 2$.
#
# </details>

# %% tags=["nbval-check-output"]
bce_p = lambda p, target: -target * np.log(p) - (1 - target) * np.log(1 - p)   # BCE of a probability
p = np.linspace(0.001, 0.999, 99_901)
d_star = p[np.argmin(bce_p(p, t) + bce_p(p, 0.0))]          # best D where fakes and reals overlap
EQUILIBRIUM = {"D*": d_star, "D realness loss": (bce_p(d_star, t) + bce_p(d_star, 0.0)) / 2,
               "G realness loss": bce_p(d_star, t)}
assert abs(d_star - t / 2) < 1e-4 and EQUILIBRIUM["G realness loss"] > np.log(2) > EQUILIBRIUM["D realness loss"]
REFERENCE_LINES = {
    "D realness minimum H(0.95)/2": entropy / 2,
    "G realness minimum H(0.95)": entropy,
    "D says 0.5: ln 2": np.log(2),
    "equilibrium: D says D*": EQUILIBRIUM["D*"],
    "equilibrium: D realness loss": EQUILIBRIUM["D realness loss"],
    "equilibrium: G realness loss": EQUILIBRIUM["G realness loss"],
    "untrained class head: ln 10": np.log(10),
}
for name, value in REFERENCE_LINES.items():
    print(f"{name:<30} {value:.3f}")

# %% [markdown]
# ## 5. Loading MNIST
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
# The images are `(N, 28, 28, 1)` float32 — batch, height, width, one grey channel: the "NHWC"
# layout that Flax's `nnx.Conv` / `nnx.ConvTranspose` (like TensorFlow) use. (JAX's low-level
# `jax.lax.conv_general_dilated` defaults to NCHW unless its `dimension_numbers` say otherwise.)
# The labels are integers 0–9. Here are ten real examples of every
# class, one class per column:

# %%
rng = np.random.default_rng(0)
picks = np.stack([rng.choice(np.flatnonzero(ds.labels == c), 10, replace=False) for c in range(10)], axis=1)
plotting.show_grid(ds.images[picks.ravel()], ncols=10, col_labels=range(10), title="real MNIST digits")
plt.show()

# %% [markdown]
# ## 6. Why [-1, 1]?
#
# MNIST stores pixels as bytes 0–255. The generator's last layer is a `tanh`, whose outputs lie
# in (-1, 1), so the real images are scaled the same way: `x / 127.5 - 1`. Otherwise the
# discriminator could tell real from fake by the value range alone. The histograms below count
# the pixels of 500 digits drawn at random, 50 per class (the bundled subset is stored sorted by
# class, so its first 500 images would all be zeros).

# %%
sample = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), 50, replace=False) for c in range(10)])
assert np.bincount(ds.labels[sample], minlength=10).tolist() == [50] * 10  # stratified: 50 of every digit
raw = data.to_pixels(ds.images[sample])  # back to bytes 0..255
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
axes[0].hist(raw.ravel(), bins=50, color="grey")
axes[0].set_title("stored bytes 0..255 (500 random digits)")
axes[0].set_xlabel("byte value")
axes[1].hist(ds.images[sample].ravel(), bins=50, color="tab:blue")
axes[1].set_title("model input: x / 127.5 - 1 (same digits)")
axes[1].set_xlabel("pixel value")
u = np.linspace(-4, 4, 200)
axes[2].plot(u, np.tanh(u))
axes[2].set_title("tanh: the generator's last activation")
axes[2].set_xlabel("pre-activation")
axes[2].set_ylabel("output pixel value")
for ax in axes[:2]:
    ax.set_yscale("log")
    ax.set_ylabel("number of pixels (log scale)")
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
#   (sparse categorical cross-entropy) — and the generator is trained through both. For the
#   discriminator they are ACGAN's terms averaged over its batch, $-L_C/2$ and (soft target)
#   $\approx -L_S/2$; the generator uses the fake term of $-L_C$ and the non-saturating ("trick")
#   stand-in for $L_S$, whose gradient $\sigma(\ell) - 0.95$ stays large when the discriminator
#   rejects a fake.
# * [Reference values](#reference-values) for every loss curve: 0.099 (best discriminator
#   realness loss with the soft 0.95), 0.199 (best generator realness loss), $\ln 2$ (`D` says
#   0.5), 0.692 / 0.739 (discriminator / generator at the equilibrium, where `D` says 0.475),
#   $\ln 10$ (class head guessing).
# * `acgan_lib.data` loads MNIST as `(N, 28, 28, 1)` float32 in [-1, 1] with int32 labels and
#   reports which source it used; offline it uses 5,000 bundled real digits.
#
# Next: [2. A 2-D toy ACGAN](02_a_2d_toy_acgan.ipynb).

# %% [markdown]
# ## Exercises
#
# 1. Compute the mean image of each class (in [-1, 1]) and show the ten means in a row.
#    Which two classes have the closest mean images (smallest squared distance)? Check with
#    `exercises.check_closest_class_means(ds, a, b)`.
# 2. What fraction of all pixels is exactly background (-1)? Why does this matter for a
#    generator whose last activation is `tanh`? Check with `exercises.check_background_fraction(ds, f)`.
# 3. The bundled subset is sorted by class. Why must training shuffle it every epoch?
# 4. A discriminator outputs realness logit $\ell = -3$ for a fake. Compute the generator's
#    gradient $\partial/\partial\ell$ for the minimax loss and for the non-saturating loss with the
#    soft target 0.95. Check with `exercises.check_generator_logit_gradients(minimax, non_saturating)`.
#
# Solutions are in the collapsed cells below (click to expand).

# %%
from acgan_lib import exercises

exercises.check_closest_class_means(ds, 0, 1)          # replace with your pair
exercises.check_background_fraction(ds, 0.5)           # replace with your fraction
_ = exercises.check_generator_logit_gradients(-0.5, -0.5)   # replace with your two gradients

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: per-class mean images; the closest pair is printed below (4 and 9 on the bundled data).
means = np.stack([ds.images[ds.labels == c].mean(0) for c in range(10)])
plotting.show_grid(means, ncols=10, col_labels=range(10), title="mean image per class")
plt.show()
flat = means.reshape(10, -1)
d = ((flat[:, None] - flat[None]) ** 2).sum(-1) + np.eye(10) * 1e9
i, j = np.unravel_index(d.argmin(), d.shape)
print(f"closest pair of class means: {i} and {j}")

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: about 81 % of pixels are pure background (printed below). tanh only reaches -1
# asymptotically, so to draw background the generator must push those pre-activations far negative.
print(f"background fraction: {np.mean(ds.images == -1.0):.3f}")

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: without shuffling, a batch of 100 consecutive digits would hold a single class,
# so the discriminator's class head would see one class at a time and the real batches would
# differ systematically from the fakes (whose labels are sampled uniformly).
print("first 20 labels as stored:", ds.labels[:20].tolist())

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 4: minimax d/dl log(1 - sigma(l)) = -sigma(l); non-saturating d/dl BCE(l, 0.95) = sigma(l) - 0.95.
s3 = 1 / (1 + np.exp(3.0))
print(f"minimax {-s3:.4f}, non-saturating {s3 - 0.95:.4f}")
