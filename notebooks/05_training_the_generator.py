# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# 4. the generator's two losses split like the discriminator's: per-loss gradients and whether
#    they cooperate, layer by layer;
# 5. what goes wrong if the discriminator is *not* frozen during the generator step;
# 6. what the class loss does when the generator is asked for an 8 but the discriminator sees
#    a 9, how its gradient pushes the drawing back toward an 8 — and why computing the loss from
#    **logits** matters exactly there (the reference clips probabilities at $10^{-7}$);
# 7. where ACGAN sits among its relatives (conditional GAN) and its known weakness.
#
# **Prerequisites:** [notebook 1](01_mnist_and_the_acgan_idea.ipynb) §3–4 (the objective: the
# generator's non-saturating loss and the reference values) and
# [notebook 4](04_training_the_discriminator.ipynb) (per-loss gradients); softmax cross-entropy and
# its gradient (d2l.ai [§4.1.2](https://d2l.ai/chapter_linear-classification/softmax-regression.html));
# `jax.grad` ([autodiff](https://docs.jax.dev/en/latest/automatic-differentiation.html)),
# `nnx.clone` and `nnx.jit` ([NNX basics](https://flax.readthedocs.io/en/latest/nnx_basics.html)).
#
# **Time:** about 45 minutes (the code runs in about 80 s on a 2-core CPU).
#
# Section 3 draws the book's figure of the generator step as a diagram.

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
FIX_STEPS = 4 if SMOKE else 24        # generator steps in section 7
FREE_STEPS = 2 if SMOKE else 5        # steps of the unfrozen-discriminator experiment (section 4)

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from acgan_lib import checkpoint, compile_cache, data, diagrams, exercises, models, plotting, pretrained, training

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

G_REALNESS_MIN = exercises.binary_entropy(training.SOFT_ONE)   # H(0.95) = 0.199: notebook 1, section 4

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
# In the equations of notebook 1 (section 3), for fakes $x = G(z, c)$ with realness logit $\ell$
# and class logits $\mathbf{s}$ (a vector of 10 scores; not the latent $z$):
#
# $$\text{loss}_G = \underbrace{\tfrac{1}{N}\textstyle\sum \text{BCE}(\ell, 0.95)}_{\text{realness loss: non-saturating stand-in for the fake term of } L_S}
#   \; + \; \underbrace{\tfrac{1}{N}\textstyle\sum -\log \operatorname{softmax}(\mathbf{s})_c}_{\text{class loss: the fake term of } -L_C},
# \qquad \frac{\partial \text{BCE}}{\partial \ell} = \sigma(\ell) - 0.95 .$$
#
# Minimising it is `G`'s side of "maximise $L_C - L_S$", with $\log(1 - D)$ replaced by the
# non-saturating $-\log D$ (soft target 0.95) so the gradient stays large while the
# discriminator still rejects the fakes.
#
# The reference uses twice the discriminator's batch here (`2B = 200`). The realness loss has
# the generator's floor and equilibrium values of notebook 1's
# [reference values](01_mnist_and_the_acgan_idea.ipynb#reference-values).
#
# *Predict before you run:* a **trained** discriminator looks at a fresh generator's flat-grey
# images. What realness loss and class loss do you expect? Above or below $\ln 10 \approx 2.3$?

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
probs = jax.nn.softmax(aux["class_logits"])
top = np.bincount(np.asarray(jnp.argmax(probs, -1)), minlength=10)
print("discriminator's top class for these images (count per class 0..9):", top.tolist())
per_sample = -jnp.log(jnp.take_along_axis(probs, labels[:, None], 1)[:, 0])
others = labels != int(np.argmax(top))
print(f"mean probability of its top class {float(probs.max(-1).mean()):.3f}; mean class loss of the images "
      f"that asked for another class {float(per_sample[others].mean()):.1f}, of those that asked for it "
      f"{float(per_sample[~others].mean()):.2f}")
assert float(terms["class_loss"]) > np.log(10) + 5 and float(terms["realness_loss"]) > 5
assert top.max() >= 0.9 * len(labels) and float(probs.max(-1).mean()) > 0.9

# %% [markdown]
# A trained discriminator is not fooled by an untrained generator: the realness loss is large
# (above 5; the generator's best is 0.199). The class loss is **far above** $\ln 10 \approx 2.3$ —
# it is above $\ln 10 + 5$ (about 12.5 here). $\ln 10$ is the loss of a head that *guesses*
# (uniform probabilities); this head is **confidently wrong**: it names all 200 of these flat-grey
# images as one and the same digit (an 8, the counts above), whatever was requested, with a mean
# probability above 0.9. The images that asked for that digit cost almost nothing; all the others
# get a tiny probability for their requested class, and $-\ln p$ of a tiny $p$ is large, so the
# mean lands far above $\ln 10$. Nothing in the discriminator's training asked it to be unsure on
# images unlike anything it saw. For the generator that is good news: a large class loss has a
# large gradient (section 6).
#
# ## 3. One generator step, and the frozen discriminator
#
# `training.generator_step` differentiates the loss with respect to the **generator's**
# parameters only and updates them with the generator's optimizer. The discriminator is just a
# function inside the loss: it is never updated. (Its dropout stays active, as in the reference,
# and the generator runs in training mode, so its batch-norm statistics move.)
#
# The step drawn: the grey, hatched discriminator is frozen, and the red arrow is the only update.

# %%
fig = diagrams.draw_generator_step()
plt.show()

# %%
def snapshot(module, kind=nnx.Param):
    return [np.array(x) for x in jax.tree.leaves(nnx.state(module, kind))]


d_before, g_before = snapshot(disc), snapshot(gen)
m = training.generator_step(gen, disc, g_opt, 2 * training.BATCH_SIZE, jax.random.key(1))
d_after, g_after = snapshot(disc), snapshot(gen)
print({k: round(float(v), 4) for k, v in m.items()})

# %% tags=["nbval-check-output"]
print("discriminator parameters bit-identical:", all(np.array_equal(a, b) for a, b in zip(d_before, d_after)))
print("generator parameter arrays changed:", sum(not np.array_equal(a, b) for a, b in zip(g_before, g_after)),
      "of", len(g_before))

# %% [markdown]
# **The same split as for the discriminator.** Both generator losses reach *every* generator
# layer (there are no separate heads here: the two heads are the discriminator's). Their
# gradients per layer, and the cosine between them:

# %%
def flat(tree):
    return jnp.concatenate([x.ravel() for x in jax.tree.leaves(tree)])


g_grads, _, _ = training.per_loss_gradients(gen, lambda g: training.generator_loss_terms(g, disc, z, labels, kd))
g_layers = ["embedding", "dense", "deconv1", "deconv2", "deconv3"]
g_norm = {name: [float(jnp.linalg.norm(flat(g_grads[t][name]))) for t in ("realness_loss", "class_loss")]
          for name in g_layers}
g_cos = {name: float(flat(g_grads["realness_loss"][name]) @ flat(g_grads["class_loss"][name])
                     / (g_norm[name][0] * g_norm[name][1])) for name in g_layers}
summed = flat(g_grads["realness_loss"]) + flat(g_grads["class_loss"])
one_backward, _, _ = training.per_loss_gradients(gen, lambda g: training.generator_loss_terms(g, disc, z, labels, kd),
                                                 explicit=False)
g_gap = float(jnp.max(jnp.abs(summed - flat(one_backward["total"]))))
print(f"max |g_real + g_class - gradient of the total (one backward pass)| = {g_gap:.1e}")
print("cosine per layer:", {k: round(v, 2) for k, v in g_cos.items()})
fig, axes = plt.subplots(1, 2, figsize=(13, 3.4))
pos = np.arange(len(g_layers))
axes[0].bar(pos - 0.2, [g_norm[n][0] for n in g_layers], 0.4, label="realness loss")
axes[0].bar(pos + 0.2, [g_norm[n][1] for n in g_layers], 0.4, label="class loss")
axes[0].set_yscale("log")
axes[0].set_ylabel("gradient norm (log scale)")
axes[0].set_title("generator: which layers each loss wants to change")
axes[0].legend()
axes[1].bar(pos, [g_cos[n] for n in g_layers], color="tab:purple")
axes[1].axhline(0, color="grey", lw=0.8)
axes[1].set_ylim(-1, 1)
axes[1].set_ylabel("cos(∇ realness, ∇ class)")
axes[1].set_title("do the generator's two losses pull the same way?")
for ax in axes:
    ax.set_xticks(pos, g_layers)
    ax.set_xlabel("generator layer (all parameters)")
plt.tight_layout()
plt.show()
assert g_gap < 1e-4
assert all(0 < c < 0.5 for c in g_cos.values())
assert all(g_norm[n][1] > g_norm[n][0] for n in ("embedding", "dense"))

# %% [markdown]
# The sum of the two gradients equals the gradient of the total loss (to float rounding), as for
# the discriminator. Here every cosine is **positive but small** (between 0 and 0.5): for this
# fresh generator the two losses mildly cooperate — making its images look real and making them
# readable as the requested digit push every layer in somewhat similar directions. The class
# gradient is the larger one in every layer but the last, and by far (about 2–3×) in the layers
# nearest the input (embedding, dense), where the requested class enters the generator.

# %% [markdown]
# ### Write it yourself: the generator update
#
# Now write what `training.generator_step` does. For $N$ fresh latent vectors $z_j$ and requested
# classes $c_j$, fakes $\tilde x_j = G(z_j, c_j)$ in **training** mode, judged by the frozen
# discriminator (dropout on):
#
# $$L_{\text{realness}} = \frac{1}{N}\sum_j \mathrm{BCE}\big(\ell(\tilde x_j), 0.95\big),\qquad
# L_{\text{class}} = \frac{1}{N}\sum_j -\log \operatorname{softmax}\big(\mathbf{s}(\tilde x_j)\big)_{c_j},$$
#
# $$\theta_G \leftarrow \operatorname{Adam}\big(\nabla_{\theta_G} L_{\text{realness}} + \nabla_{\theta_G} L_{\text{class}}\big)\quad\text{(one step; } \theta_D \text{ unchanged).}$$
#
# **Why `nnx.split` / `nnx.merge` here.** The generator holds two kinds of state: its weights
# (`nnx.Param`, trained) and its batch-norm running averages (`nnx.BatchStat`, which every
# training-mode forward pass moves). `nnx.split(gen, nnx.Param, ...)` returns the structure
# (`graphdef`) and the two states; inside `loss`, `nnx.merge(graphdef, params, stats, copy=True)`
# builds a throwaway generator from them. `loss` is then a pure function of the weights, so plain
# `jax.grad(loss, has_aux=True)` differentiates it — and returns, as auxiliary output, the running
# averages the forward pass produced. Apply those to `gen` once with `nnx.update`: one forward pass
# per loss must not move them twice. The discriminator is never an argument of `jax.grad`, and
# only `g_opt` steps: that is what "frozen" means.
#
# `step_checks.check_generator_update` runs your function on copies of `gen` and `disc` and
# compares gradients, weights, running averages and the frozen discriminator with the library's.

# %%
import optax

from acgan_lib import step_checks


def my_generator_update(gen, disc, g_opt, batch_size, key):
    """One generator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    kz, kl, kd = jax.random.split(key, 3)        # the library's order: z, requested labels, dropout
    z = models.sample_latent(kz, batch_size, gen.latent_dim)
    labels = models.sample_labels(kl, batch_size, gen.num_classes)
    graphdef, params, stats = nnx.split(gen, nnx.Param, ...)    # structure | weights | running averages

    def loss(params, name):
        """One named loss as a pure function of the weights; aux: the new running averages."""
        g = nnx.merge(graphdef, params, stats, copy=True)
        images = ...                             # (batch_size, 28, 28, 1): which mode?
        realness_logits, class_logits = ...      # the frozen discriminator, dropout on (rngs=kd)
        terms = {"realness_loss": ..., "class_loss": ...}
        return terms[name], nnx.state(g, nnx.BatchStat)

    g_real, new_stats = ...                      # one gradient per loss
    g_class, _ = ...
    ...                                          # ONE optimizer step on their sum
    nnx.update(gen, new_stats)                   # the running averages move once
    return {"realness_loss": g_real, "class_loss": g_class}


# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution update: the generator's update through the frozen discriminator.
def my_generator_update(gen, disc, g_opt, batch_size, key):
    """One generator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    kz, kl, kd = jax.random.split(key, 3)        # the library's order: z, requested labels, dropout
    z = models.sample_latent(kz, batch_size, gen.latent_dim)
    labels = models.sample_labels(kl, batch_size, gen.num_classes)
    graphdef, params, stats = nnx.split(gen, nnx.Param, ...)    # structure | weights | running averages
    targets = jnp.full((batch_size,), training.SOFT_ONE)        # the trick: "real", 0.95

    def loss(params, name):
        """One named loss as a pure function of the weights; aux: the new running averages."""
        g = nnx.merge(graphdef, params, stats, copy=True)
        images = g(z, labels, train=True)
        realness_logits, class_logits = disc(images, train=True, rngs=kd)
        terms = {"realness_loss": optax.sigmoid_binary_cross_entropy(realness_logits, targets).mean(),
                 "class_loss": optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()}
        return terms[name], nnx.state(g, nnx.BatchStat)

    g_real, new_stats = jax.grad(loss, has_aux=True)(params, "realness_loss")
    g_class, _ = jax.grad(loss, has_aux=True)(params, "class_loss")
    g_opt.update(gen, jax.tree.map(jnp.add, g_real, g_class))
    nnx.update(gen, new_stats)                   # the running averages move once
    return {"realness_loss": g_real, "class_loss": g_class}


# %% tags=["nbval-check-output"]
_ = step_checks.check_generator_update(my_generator_update, gen, disc, 2 * training.BATCH_SIZE, jax.random.key(2))

# %% [markdown]
# ## 4. Why the discriminator must stay frozen
#
# In the reference the generator is trained through a *combined* model built after
# `discriminator.trainable = false` (tfjs `gan.js` `buildCombinedModel`, the book's §10.3.3; Keras
# `discriminator.trainable = False`). Here "frozen" simply means we differentiate the generator's
# loss with respect to the **generator's** parameters only, and only the generator's optimizer
# steps.
#
# What if we forgot? The generator's loss labels every fake "real" (target 0.95). Updating the
# discriminator on that loss teaches it **that fakes are real** — the opposite of its own job.
# *Predict:* what happens to the discriminator's P(real) on fresh fakes, and to its realness loss
# on a proper discriminator batch (real digits → 0.95, fakes → 0)? Let us apply a few Adam steps
# to a copy of the discriminator using the generator step's loss:

# %%
ds = data.load_mnist(DATA)
rng = np.random.default_rng(0)
idx = rng.choice(len(ds), training.BATCH_SIZE, replace=False)
real_images, real_labels = jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx])
z_eval, asked_eval = models.sample_latent(jax.random.key(50), training.BATCH_SIZE), models.sample_labels(jax.random.key(51), training.BATCH_SIZE)
fakes_eval = gen(z_eval, asked_eval, train=False)
d_batch = jnp.concatenate([real_images, fakes_eval])
d_realness_targets, _ = training.discriminator_targets(real_labels, asked_eval)


def judge(d):
    """Mean P(real) on the held-out fakes and the realness loss on a proper discriminator batch."""
    logits, _ = d(d_batch, train=False)
    return float(jax.nn.sigmoid(logits[training.BATCH_SIZE:]).mean()), float(training.realness_loss(logits, d_realness_targets))


free = nnx.clone(disc)                                 # the discriminator we forget to freeze
free_opt = training.make_optimizer(free)
trace = [judge(free)]
for i in range(FREE_STEPS):
    kz, kl, kd2 = jax.random.split(jax.random.key(60 + i), 3)
    zi, li = models.sample_latent(kz, 2 * training.BATCH_SIZE), models.sample_labels(kl, 2 * training.BATCH_SIZE)
    fakes_i = gen(zi, li, train=False)
    trick = jnp.full((2 * training.BATCH_SIZE,), training.SOFT_ONE)

    def trick_terms(d):                                # the generator step's loss, seen from D
        r, c = d(fakes_i, train=True, rngs=kd2)
        return {"realness_loss": training.realness_loss(r, trick), "class_loss": training.class_loss(c, li)}, {}

    grads_free, _, _ = training.per_loss_gradients(free, trick_terms)
    free_opt.update(free, grads_free["total"])
    trace.append(judge(free))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
axes[0].semilogy([t[0] for t in trace], "o-", color="tab:red")
axes[0].set_ylabel("mean P(real) on held-out fakes (log)")
axes[0].set_title("unfrozen D learns that fakes are real")
axes[1].plot([t[1] for t in trace], "o-", color="tab:red", label="unfrozen D")
axes[1].axhline(trace[0][1], color="grey", ls="--", lw=0.8, label="frozen D (unchanged)")
axes[1].axhline(exercises.binary_entropy(training.SOFT_ONE) / 2, color="grey", ls=":", lw=0.8, label="D minimum H(0.95)/2")
axes[1].set_ylabel("D realness loss, real + fake batch")
axes[1].set_title("... and gets worse at its own job")
axes[1].legend(fontsize=9)
for ax in axes:
    ax.set_xlabel("Adam steps on the generator's loss")
plt.tight_layout()
plt.show()
print(f"P(real) on fakes: {trace[0][0]:.1e} -> {trace[-1][0]:.1e} (x{trace[-1][0] / trace[0][0]:.0f});  "
      f"D realness loss: {trace[0][1]:.3f} -> {trace[-1][1]:.3f}")
assert trace[-1][0] > trace[0][0] and trace[-1][1] > trace[0][1]
if not SMOKE:
    assert trace[-1][0] > 2 * trace[0][0]

# %% [markdown]
# After only five steps the unfrozen discriminator's P(real) on fakes has grown by a factor of
# about 340 (printed above; it started tiny, since this discriminator is trained) and its realness loss
# on a proper batch has risen: each generator step would undo the previous
# discriminator step. Freezing is what makes the two steps a *game* — each player only moves
# its own parameters against the other's current strategy.
#
# ## 5. Asked for an 8, seen as a 9
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
fig.suptitle("the same ten z, asked for 8")
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
plt.ylabel("mean probability over 10 images")
plt.title("asked for an 8: what the discriminator's class head says")
plt.legend()
plt.show()

# %% [markdown]
# ## 6. The gradient pushes the 8 back
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
lim = float(jnp.abs(pixel_grad[0]).max())
fig, ax = plt.subplots(figsize=(3.6, 3))
im = ax.imshow(-pixel_grad[0, ..., 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
fig.colorbar(im, ax=ax, label="−∂ class loss / ∂ pixel")
ax.set_title("−∇ class loss (red: brighten)")
ax.set_xticks([])
ax.set_yticks([])
plt.show()
fig, axes = plt.subplots(1, 2, figsize=(5.6, 2.9))
axes[0].imshow(imgs[0, ..., 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title("drawn (asked 8)")
axes[1].imshow(jnp.clip(imgs[0, ..., 0] - 0.3 * pixel_grad[0, ..., 0] / lim, -1, 1), cmap="gray", vmin=-1, vmax=1)
axes[1].set_title("nudged along −∇")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("one confused sample, asked for 8")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Where logits and the reference's clipped probabilities differ
#
# The reference ends the class head with a softmax and computes the cross-entropy from the
# *probabilities*, clipped to $[\epsilon, 1-\epsilon]$ with $\epsilon = 10^{-7}$ (tfjs-layers'
# `categoricalCrossentropy` and `binaryCrossentropy`; Keras' backend does the same), so that
# $\log 0$ cannot happen. We compute the loss from the **logits** $\mathbf{s}$ instead:
#
# $$L = -\log \operatorname{softmax}(\mathbf{s})_c, \qquad \frac{\partial L}{\partial \mathbf{s}} = \operatorname{softmax}(\mathbf{s}) - \text{onehot}(c).$$
#
# Where $p_c = \operatorname{softmax}(\mathbf{s})_c \ge 10^{-7}$ the two are the same function. Where
# $p_c < 10^{-7}$ — loss above $-\ln 10^{-7} \approx 16.1$ — the clipped loss is the constant
# $-\ln 10^{-7}$ and **its gradient is exactly 0** (clipping has zero derivative outside its
# range), while the logit form's gradient is $\approx -1$ on the requested class's logit, its
# largest. The confused generator's mean class loss was printed above: is it past 16.1?

# %%
_, conf_logits = disc(imgs, train=False)
p8 = jax.nn.softmax(conf_logits)[:, 8]
EPS = 1e-7                                                   # tfjs / Keras epsilon
print(f"mean class loss {loss_conf:.2f} vs -ln(1e-7) = {-np.log(EPS):.2f}; "
      f"{int(jnp.sum(p8 < EPS))} of {len(p8)} samples have P(8) < 1e-7")


def clipped_class_loss(logits, asked):
    """The reference's form: softmax, clip to [eps, 1 - eps], then -log p of the requested class."""
    p = jnp.clip(jax.nn.softmax(logits), EPS, 1 - EPS)
    return -jnp.mean(jnp.log(jnp.take_along_axis(p, asked[:, None], 1)[:, 0]))


g_logit = jax.grad(training.class_loss)(conf_logits, eights)
g_clip = jax.grad(clipped_class_loss)(conf_logits, eights)
print("per-sample gradient norm, logit form:  ", [round(float(v), 2) for v in jnp.linalg.norm(g_logit * len(p8), axis=1)])
print("per-sample gradient norm, clipped form:", [round(float(v), 2) for v in jnp.linalg.norm(g_clip * len(p8), axis=1)])
assert loss_conf > -np.log(EPS) and int(jnp.sum(p8 < EPS)) >= 5
assert bool(jnp.all((jnp.linalg.norm(g_clip, axis=1) == 0) == (p8 < EPS)))

# %%
# Both gradients against the margin m = s_8 - s_9, for class logits s (s_8 = m, s_9 = 0, the others -30).
margins = jnp.linspace(-25, 5, 301)
grid = jnp.full((len(margins), 10), -30.0).at[:, 9].set(0.0).at[:, 8].set(margins)
asked_grid = jnp.full((len(margins),), 8)
ds8_logit = jax.grad(training.class_loss)(grid, asked_grid)[:, 8] * len(margins)
ds8_clip = jax.grad(clipped_class_loss)(grid, asked_grid)[:, 8] * len(margins)
conf_margin = conf_logits[:, 8] - jnp.max(conf_logits.at[:, 8].set(-jnp.inf), axis=1)
plt.figure(figsize=(9, 3.4))
plt.plot(margins, ds8_logit, lw=2.5, label="logit form: softmax − onehot (ours)")
plt.plot(margins, ds8_clip, "--", lw=2, label="clipped probabilities, ε = 1e-7 (reference)")
plt.axvline(np.log(EPS), color="grey", lw=0.8)
plt.text(np.log(EPS) + 0.3, -0.5, "P(8) = 1e-7", fontsize=9, color="dimgrey")
plt.plot(np.asarray(conf_margin), np.zeros(len(conf_margin)), "k|", ms=18, label="the 10 confused samples' margins")
plt.xlabel("logit margin of the requested class: s₈ − (largest other logit)")
plt.ylabel("∂ loss / ∂ s₈ (one sample)")
plt.title("class-loss gradient on the requested logit")
plt.legend(fontsize=9, loc="center right")
plt.show()

# %% [markdown]
# Left of the grey line the reference's gradient is exactly 0: a sample the discriminator is
# sure is *not* an 8 teaches the reference generator nothing about being an 8, while the logit
# form gives it the largest gradient (norm $\sqrt{2} \approx 1.41$: −1 on the requested logit, +1
# on the winning one). So the two are **not** equivalent there — and at least half of our confused
# samples sit there (the tick marks; the count, 6 of 10, and the per-sample norms are printed above). The logit form is better
# twice: it keeps the gradient where the generator is most wrong, and it never evaluates $\log 0$,
# so it needs no clipping at all. (The same holds for the realness loss: the reference clips
# $P(\text{real})$ at $10^{-7}$, so a fake rejected with $P(\text{real}) < 10^{-7}$ gives its
# generator no realness gradient there; ours gives $\sigma(\ell) - 0.95 \approx -0.95$.)

# %% [markdown]
# ## 7. Training the confused generator back
#
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
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
axes[0].plot([l[0] for l in losses], label="class loss (asked 8)")
axes[0].plot([l[1] for l in losses], label="realness loss")
for value, text in [(G_REALNESS_MIN, "G realness minimum H(0.95)"), (np.log(2), "ln 2"),
                    (np.log(10), "ln 10"), (-np.log(EPS), "−ln 1e-7: reference clips")]:
    axes[0].axhline(value, color="grey", ls="--", lw=0.8)
    axes[0].text(len(losses) - 1, value, text, ha="right", va="bottom", fontsize=8, color="dimgrey")
axes[0].set_yscale("log")
axes[0].set_xlabel("generator step")
axes[0].set_ylabel("loss (nats, log scale)")
axes[0].set_title("the confused generator's two losses")
axes[0].legend(loc="lower left")
plotting.show_grid(jnp.concatenate([s[:6] for s in snapshots]), 6, ax=axes[1],
                   row_labels=[f"step {i * max(1, FIX_STEPS // 4)}" for i in range(len(snapshots))])
axes[1].set_title("asked for 8, over the steps")
plt.tight_layout()
plt.show()
real_losses = np.array([l[1] for l in losses])
print(f"realness loss: first {real_losses[0]:.3f}, last {real_losses[-1]:.3f}, range {real_losses.min():.3f}..{real_losses.max():.3f}")
assert losses[-1][0] < losses[0][0] / 10 or SMOKE
assert real_losses.max() - real_losses.min() < 0.3 and 0.4 < real_losses.mean() < 1.0
assert 0.65 < real_losses.min() and real_losses.max() < 0.8 or SMOKE   # "between about 0.68 and 0.76"

# %% [markdown]
# The class loss falls by more than a factor of 10 within these steps and the drawings change from
# 9s into shapes the discriminator reads as 8 (not yet natural 8s): the discriminator's class head is a teacher that tells the
# generator *which* digit it is failing to draw. The realness loss, meanwhile, stays **flat**
# between about 0.68 and 0.76 (its range is printed above), around $\ln 2 \approx 0.69$ (BCE with
# target 0.95 at P(real) = 0.5) and the generator's equilibrium value 0.739 (notebook 1): on
# the pretrained generator's images this discriminator is about as unsure as at the equilibrium,
# so the realness term changes little here. The class loss alone
# does the repair.

# %% [markdown]
# ## 8. ACGAN among its relatives
#
# Notebook 1 wrote ACGAN's objective: `D` maximises $L_S + L_C$, `G` maximises $L_C - L_S$
# (in practice with the non-saturating realness term). Its close relative, the conditional GAN,
# puts the label in a different place; the two discriminators side by side:

# %%
fig = diagrams.draw_cgan_vs_acgan()
plt.show()

# %% [markdown]
# * In a **conditional GAN** the discriminator is shown the label and asked "is this a real
#   (image, label) pair?". A 9 presented as an 8 is a fake pair; the generator is pushed toward
#   the *whole* distribution of real 8s, but only through the one realness signal.
# * In an **ACGAN** the discriminator never sees the label; its auxiliary head must *predict* it.
#   This gives the generator a second, dense signal (section 6: the class gradient names the
#   digit it fails to draw); notebook 4's training-log figure shows the fakes becoming readable as
#   their requested class early in the run, long before they look like digits.

# %% [markdown]
# **The known weakness.** $L_C$ rewards the generator for images the class head finds *easy to
# classify*: a sample far from every decision boundary has class loss near 0, while a real but
# ambiguous 8 (one that looks a little like a 3) is penalised. So ACGAN tends to lose
# **within-class variety**, drawing prototypical, easy-to-name digits (Odena et al. measure
# per-class diversity with MS-SSIM; Shu et al. 2017, "AC-GAN learns a biased distribution", and
# Gong et al. 2019, TAC-GAN, show that the class loss on fakes biases the learned distribution
# toward easily classified samples). Training the class
# head on fakes too (our `gan.js` recipe; notebook 4) makes this cooperation on the class
# question stronger; Keras' later recipe trains the class head on real images only. Notebook 7
# measures the pretrained generator's variety against real digits. Exercise 4 below switches the
# generator's class term off; notebook 4's exercise 4 writes the Keras variant (class head trained
# on real images only).

# %% [markdown]
# ## Summary
#
# * The generator is trained through the discriminator: realness targets all 0.95 ("real"),
#   class targets = the requested labels, `loss = realness_loss + class_loss`: the non-saturating
#   stand-in for the fake term of ACGAN's $L_S$, and the fake term of $-L_C$ (notebook 1, section 3).
# * Only the generator's parameters are differentiated and updated; every discriminator
#   parameter stays bit-identical. Updating the discriminator on the generator's "trick" targets
#   teaches it that fakes are real: within a few steps its P(real) on fakes grows more than a hundredfold.
# * A trained discriminator is *confidently wrong* about a fresh generator's flat grey: class loss
#   far above $\ln 10$.
# * When the generator draws the wrong digit, the class loss is high, and its gradient flows back
#   through every generator layer, the class embedding included. Past
#   $-\ln 10^{-7} \approx 16.1$ the reference's clipped loss has gradient 0; the logit form keeps
#   its largest gradient there — the library's losses are **not** equivalent to the reference's
#   in that regime, and better.
# * Reading the curves: the generator's realness loss has a floor $H(0.95) \approx 0.199$ and
#   sits near 0.739, a little above $\ln 2$, when the discriminator cannot tell (notebook 1).
#
# Next: [6. The full training loop](06_the_training_loop.ipynb).

# %% [markdown]
# ## Exercises
#
# 1. Run a generator step with `LossWeights(realness=0.0)` (class loss only). Does the
#    discriminator still stay unchanged? Which generator parameters receive no gradient?
# 2. In section 7 every requested label is 8. Which rows of the embedding table (0–9) receive a
#    non-zero gradient from the class loss? Why? Check: `exercises.check_embedding_rows_with_gradient(rows)`
#    with `rows` a list of row numbers.
# 3. Instead of copying row 9 into row 8, copy row 1. Is the class loss at the start higher or
#    lower than with 9? Explain with the discriminator's class probabilities. Which of the two
#    would the reference's clipped loss (section 6) still teach?
# 4. *Class loss off.* Repair the confused generator of section 7 with
#    `training.LossWeights(classification=0.0)` (realness loss only). Does the class loss for 8s
#    fall? Explain your answer with what the realness loss knows about the requested digit.

# %%
_ = exercises.check_embedding_rows_with_gradient(range(10))   # replace with your rows

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: the discriminator is still untouched; every generator layer still changes (its
# largest parameter change is printed), so each gets a gradient from the class loss alone: the
# class loss also depends on all of them.
g1 = models.Generator(rngs=nnx.Rngs(5))
opt1 = training.make_optimizer(g1)
before = snapshot(disc)
g1_layers = ["embedding", "dense", "deconv1", "bn1", "deconv2", "bn2", "deconv3"]
g1_before = {name: snapshot(getattr(g1, name)) for name in g1_layers}
training.generator_step(g1, disc, opt1, 50, jax.random.key(9), weights=training.LossWeights(realness=0.0))
print("discriminator unchanged:", all(np.array_equal(a, b) for a, b in zip(before, snapshot(disc))))
moved = {name: max(float(np.max(np.abs(a - b))) for a, b in zip(g1_before[name], snapshot(getattr(g1, name)), strict=True))
         for name in g1_layers}
print("largest parameter change per generator layer:", {k: f"{v:.1e}" for k, v in moved.items()})
assert all(v > 0 for v in moved.values())

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: only row 8 - the embedding lookup routes the gradient to the rows that were used.
gr, _, _ = training.per_loss_gradients(nnx.clone(good), lambda m: training.generator_loss_terms(
    m, disc, z, jnp.full(labels.shape, 8), jax.random.key(5)))   # section 2's z, every label an 8
rows = jnp.linalg.norm(gr["class_loss"]["embedding"]["embedding"][...], axis=1)
print("rows with gradient:", [int(i) for i in jnp.flatnonzero(rows > 0)])

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: copying row 1 gives a LOWER starting class loss than copying row 9: 13.3 against
# 16.9 (printed below). The loss is -log P(8), so the discriminator is more certain that these 9s
# are not 8s than it is about these 1s, despite the strokes 8 and 9 share. The reference's clipped
# loss has no gradient past -ln 1e-7 = 16.1: the counts of samples with P(8) < 1e-7 printed
# below are the samples of each copy the reference could no longer teach.
nines, ones = nnx.clone(good), nnx.clone(good)
nines.embedding.embedding[8] = good.embedding.embedding[9]
ones.embedding.embedding[8] = good.embedding.embedding[1]
start_loss = {}
for name, g in [("9", nines), ("1", ones)]:
    probs, loss = class_view(g, z8, eights)
    print(f"asked 8, draws {name}: class loss {loss:.3f}, mean P(8) = {float(probs[:, 8].mean()):.4f}, "
          f"samples with P(8) < 1e-7 (no gradient in the reference): {int(jnp.sum(probs[:, 8] < EPS))} of {len(probs)}")
    start_loss[name] = loss
assert abs(start_loss["1"] - 13.3) < 0.1 and abs(start_loss["9"] - 16.9) < 0.1, start_loss

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 4: the realness loss does not depend on the requested label at all, so nothing tells
# the generator that its "8"s are 9s: the class loss stays high.
no_class = training.LossWeights(classification=0.0)
repair = nnx.clone(good)
repair.embedding.embedding[8] = good.embedding.embedding[9]
repair_opt = training.make_optimizer(repair)


@nnx.jit
def realness_only_step(g, opt, key):
    kz, kd = jax.random.split(key)
    zb, asked = models.sample_latent(kz, 100), jnp.full((100,), 8)
    grads, _, _ = training.per_loss_gradients(
        g, lambda m: training.generator_loss_terms(m, disc, zb, asked, kd, weights=no_class))
    opt.update(g, grads["total"])


start = class_view(repair, z8, eights)[1]
for i in range(2 if SMOKE else 10):
    realness_only_step(repair, repair_opt, jax.random.key(2000 + i))
print(f"class loss for 8s with the class term switched off: {start:.2f} -> {class_view(repair, z8, eights)[1]:.2f}")
