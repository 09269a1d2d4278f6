# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 2. A 2-D toy ACGAN
#
# *Part 2 of the ACGAN series. Before the 28×28 digits, the whole ACGAN game on points in the
# plane, where every sample, the discriminator's whole verdict and every gradient can be drawn.*
#
# **What you will learn**
#
# 1. the ACGAN objective as two named loss terms per network, and the reference values
#    (floors, ln 2, ln C) that tell you how to read their curves;
# 2. that the *same* library functions that train the MNIST networks
#    (`training.discriminator_step`, `training.generator_step`, `training.per_loss_gradients`)
#    train any generator / discriminator pair that follows the same call protocol;
# 3. what training looks like: the fakes moving onto their clusters, the discriminator's
#    "realness" landscape and class regions, as an animation;
# 4. how the gradient of the summed loss splits into a realness part and a class part;
# 5. what mode collapse looks like, and one recipe change that produces it.
#
# **Prerequisites**: [notebook 1](01_mnist_and_the_acgan_idea.ipynb) (the two players and the
# auxiliary classifier); [cross-entropy](https://en.wikipedia.org/wiki/Cross-entropy) (binary and
# categorical); JAX basics: [PRNG keys](https://docs.jax.dev/en/latest/random-numbers.html),
# [`jit`](https://docs.jax.dev/en/latest/jit-compilation.html), and Flax NNX
# [modules, `split` / `merge`](https://flax.readthedocs.io/en/latest/nnx_basics.html);
# [Adam](https://optax.readthedocs.io/en/latest/api/optimizers.html#optax.adam).
#
# **Time:** about 40 minutes with the exercises. The notebook runs in under a minute on a
# 2-core CPU (no GPU needed).

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
import math
import os

# CI runs every notebook with ACGAN_SMOKE=1: same code, fewer steps.
SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx
from IPython.display import HTML
from matplotlib import animation

from acgan_lib import compile_cache, exercises, models, toy, training

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

SEED = 0
TRAIN_STEPS = 600 if SMOKE else 1200      # iterations (one D step + one G step each)
EXERCISE_STEPS = 300 if SMOKE else 400    # iterations of the exercises' re-runs
FRAMES = 20                               # animation frames after the initial one
N_SHOW = 60 * toy.NUM_CLASSES             # fakes drawn in every figure (60 per class)
CMAP = plt.get_cmap("tab10")
plt.rcParams.update({"figure.dpi": 80, "font.size": 11, "axes.titlesize": 12})

# %% [markdown]
# ## 1. The data: labelled clusters on a ring
#
# Class $c \in \{0, \dots, C-1\}$ is a Gaussian cluster around the point at angle $2\pi c / C$ on a
# circle of radius $R$:
#
# $$x = \mu_c + \sigma\,\varepsilon, \qquad \mu_c = R\,(\cos\tfrac{2\pi c}{C},\ \sin\tfrac{2\pi c}{C}),
# \qquad \varepsilon \sim \mathcal N(0, I_2).$$
#
# `toy.make_clusters(seed)` draws the same points for the same seed (numpy's PCG64 generator). A
# "sample" is a point (2 numbers) instead of an image (784 numbers); a "class" is a cluster instead
# of a digit.

# %% tags=["nbval-check-output"]
ds = toy.make_clusters(SEED)
print("classes C =", ds.num_classes, "| radius R =", toy.RING_RADIUS, "| sigma =", toy.CLUSTER_STD)
print("points", ds.points.shape, ds.points.dtype, "| labels", ds.labels.shape, ds.labels.dtype)
print("points per class:", np.bincount(ds.labels).tolist())
again = toy.make_clusters(SEED)
print("same seed, same data:", np.array_equal(ds.points, again.points) and np.array_equal(ds.labels, again.labels))


# %%
def scatter_real(ax, alpha=0.35, s=8):
    """The real points, coloured by class."""
    ax.scatter(ds.points[:, 0], ds.points[:, 1], c=CMAP(ds.labels), s=s, alpha=alpha, linewidths=0)
    ax.set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")


LIM = 1.6
fig, ax = plt.subplots(figsize=(5, 5))
scatter_real(ax, alpha=0.6)
for c, (cx, cy) in enumerate(ds.centres):
    ax.annotate(f"class {c}", (cx, cy), xytext=(1.25 * cx, 1.25 * cy), ha="center", va="center",
                color=CMAP(c), fontweight="bold")
ax.set_title(f"Real data: {ds.num_classes} classes, {toy.POINTS_PER_CLASS} points each")
plt.show()

# %% [markdown]
# ## 2. Two small networks with the MNIST call protocol
#
# The generator gets a latent vector $z \in [-1, 1]^{16}$ and a class $c$. As the MNIST
# generator, it *multiplies* $z$ by a learned class embedding $e_c$ and maps the product to a point:
#
# $$G(z, c) = \mathrm{MLP}_G(z \odot e_c) \in \mathbb R^2 .$$
#
# The discriminator maps a point to two outputs from shared features $h(x)$, a realness logit
# and $C$ class logits:
#
# $$D(x) = \big(\ell_{\text{real}}(x),\ \ell_{\text{class}}(x)\big) \in \mathbb R \times \mathbb R^{C},
# \qquad P(\text{real} \mid x) = \sigma(\ell_{\text{real}}(x)).$$
#
# Both are two-hidden-layer MLPs (`acgan_lib/toy.py`). What matters is that they are called
# exactly like the MNIST networks: `gen(z, labels, train=...)` with `gen.latent_dim` and
# `gen.num_classes`; `disc(x, train=..., rngs=...)` returning `(realness_logits (N,),
# class_logits (N, C))`. The discriminator also declares what one input is
# (`disc.input_shape`, `disc.input_range`); the training step checks real inputs against that
# instead of assuming 28×28 digits in [-1, 1].

# %% tags=["nbval-check-output"]
gen = toy.ToyGenerator(rngs=nnx.Rngs(SEED))
disc = toy.ToyDiscriminator(rngs=nnx.Rngs(SEED + 1))
print(f"generator: latent_dim={gen.latent_dim}, num_classes={gen.num_classes}, "
      f"{models.count_params(gen):,} parameters")
print(f"discriminator: input_shape={disc.input_shape}, input_range={disc.input_range}, "
      f"{models.count_params(disc):,} parameters")
print(f"MNIST discriminator: input_shape={models.Discriminator.input_shape}, "
      f"input_range={models.Discriminator.input_range}")
z_show = models.sample_latent(jax.random.key(99), N_SHOW, gen.latent_dim)   # fixed for every figure
labels_show = np.arange(N_SHOW) % toy.NUM_CLASSES
shapes = jax.eval_shape(lambda: disc(gen(z_show, labels_show, train=False), train=False))
print("fakes", (N_SHOW, 2), "| realness logits", shapes[0].shape, "| class logits", shapes[1].shape)

# %% [markdown]
# To *see* the discriminator we evaluate it on a grid of points covering the plane: the
# probability $P(\text{real} \mid x)$ as a contour map, and $\arg\max_c \ell_{\text{class}}(x)_c$
# (the class it would name) as coloured regions. Before training, both are arbitrary and the fakes
# (crosses, coloured by the class they were asked for) sit in a small blob near the origin.

# %%
xs, ys, grid_points = toy.grid(LIM)


def snapshot(step):
    """Everything a frame needs: the fixed fakes and D's two maps on the grid."""
    p_real, cls = toy.judge(disc, grid_points)
    return {"step": step, "fakes": toy.generate(gen, z_show, labels_show),
            "p_real": p_real.reshape(len(ys), len(xs)), "regions": cls.reshape(len(ys), len(xs))}


def draw(axes, snap):
    """Left: P(real) contours with real points and fakes; right: D's class regions with fakes."""
    for ax in axes:
        ax.clear()
    ax1, ax2 = axes
    cs = ax1.contourf(xs, ys, snap["p_real"], levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.8)
    scatter_real(ax1, alpha=0.25, s=6)
    f = snap["fakes"]
    ax1.scatter(f[:, 0], f[:, 1], c=CMAP(labels_show), marker="x", s=14, linewidths=1)
    ax1.set_title(f"D's P(real) (red 0 → blue 1), step {snap['step']}")
    ax2.imshow(snap["regions"], origin="lower", extent=(-LIM, LIM, -LIM, LIM), alpha=0.35,
               cmap=CMAP, vmin=0, vmax=10, interpolation="nearest")
    ax2.scatter(f[:, 0], f[:, 1], c=CMAP(labels_show), marker="x", s=14, linewidths=1)
    ax2.set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    ax2.set_title(f"D's class regions (argmax), step {snap['step']}")
    return cs


snaps = [snapshot(0)]
fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.8), layout="constrained")
cs = draw(axes, snaps[0])
fig.colorbar(cs, ax=axes[0], fraction=0.046, label="P(real | x)")
plt.show()

# %%
# The claim above: the untrained generator's fakes sit near the origin, far from the ring.
radius_of_fakes = np.linalg.norm(snaps[0]["fakes"], axis=1)
print(f"untrained fakes: mean distance from the origin {radius_of_fakes.mean():.2f} (ring radius {toy.RING_RADIUS})")
assert radius_of_fakes.mean() < 0.5 * toy.RING_RADIUS

# %% [markdown]
# ## 3. The objective: two named loss terms per network
#
# Write $\mathrm{BCE}(\ell, t) = -t \log \sigma(\ell) - (1 - t) \log(1 - \sigma(\ell))$ and
# $\mathrm{CE}(\ell, y) = -\log \mathrm{softmax}(\ell)_y$. Each step takes a batch of $N$ real
# points $(x_i, y_i)$ and $N$ fakes $\tilde x_j = G(z_j, c_j)$ with requested classes $c_j$.
#
# **Discriminator step** (batch $[x; \tilde x]$ of $2N$ points, realness targets $0.95$ for real,
# $0$ for fake; `training.discriminator_step`):
#
# $$L_D = \underbrace{\tfrac{1}{2N}\Big[\textstyle\sum_i \mathrm{BCE}(\ell_{\text{real}}(x_i), 0.95)
#  + \sum_j \mathrm{BCE}(\ell_{\text{real}}(\tilde x_j), 0)\Big]}_{\texttt{realness\_loss}}
#  + \underbrace{\tfrac{1}{2N}\Big[\textstyle\sum_i \mathrm{CE}(\ell_{\text{class}}(x_i), y_i)
#  + \sum_j \mathrm{CE}(\ell_{\text{class}}(\tilde x_j), c_j)\Big]}_{\texttt{class\_loss}} .$$
#
# **Generator step** ($2N$ fresh fakes, every realness target $0.95$ = "real", the discriminator
# frozen; `training.generator_step`):
#
# $$L_G = \underbrace{\tfrac{1}{2N}\textstyle\sum_j \mathrm{BCE}(\ell_{\text{real}}(\tilde x_j), 0.95)}_{\texttt{realness\_loss}}
#  + \underbrace{\tfrac{1}{2N}\textstyle\sum_j \mathrm{CE}(\ell_{\text{class}}(\tilde x_j), c_j)}_{\texttt{class\_loss}} .$$

# %% [markdown]
# These are the ACGAN paper's $L_S$ (source) and $L_C$ (class) terms as cross-entropies: D
# lowers both, G lowers the class term and the *non-saturating* realness term (target "real"
# for its fakes instead of maximising D's error), with the soft target 0.95 of the reference.
#
# **Reference values for the loss curves** are those of notebook 1 (its section 4 derives them):
# floors $H(0.95)/2 \approx 0.099$ (D) and $H(0.95) \approx 0.199$ (G) for the realness losses,
# $\ln 2$ when D says 0.5 to every point, **0.692 (D) and 0.739 (G) at the equilibrium** (where the
# best D says 0.475, because of the soft target), and $\ln C$ for an untrained class head, here
# with $C = 6$. The next cell computes them for this toy; see the [reference values of notebook 1](01_mnist_and_the_acgan_idea.ipynb#reference-values).

# %% tags=["nbval-check-output"]
def entropy(t):
    """H(t) of a Bernoulli(t), in nats."""
    return -(t * math.log(t) + (1 - t) * math.log(1 - t))


G_REALNESS_FLOOR = entropy(training.SOFT_ONE)
D_REALNESS_FLOOR = G_REALNESS_FLOOR / 2
LN2, LNC = math.log(2), math.log(toy.NUM_CLASSES)
print(f"G realness floor H(0.95)   = {G_REALNESS_FLOOR:.4f}")
print(f"D realness floor H(0.95)/2 = {D_REALNESS_FLOOR:.4f}")
print(f"ln 2 = {LN2:.4f}   ln C = ln {toy.NUM_CLASSES} = {LNC:.4f}")
# the library's loss reaches the floor exactly where sigma(logit) = 0.95
at_floor = training.realness_loss(jnp.array([math.log(0.95 / 0.05)]), jnp.array([0.95]))
print("training.realness_loss at sigma(logit) = 0.95 equals H(0.95):", abs(float(at_floor) - G_REALNESS_FLOOR) < 1e-5)

# %%
p = np.linspace(1e-3, 1 - 1e-3, 400)
fig, ax = plt.subplots(figsize=(6.5, 4))
for t, style in ((training.SOFT_ONE, "-"), (0.0, "--")):
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    ax.plot(p, bce, style, label=f"BCE, target t = {t:g}")
ax.axhline(G_REALNESS_FLOOR, color="k", lw=0.8, ls=":", label="H(0.95) = 0.199 (floor for t = 0.95)")
ax.axhline(LN2, color="grey", lw=0.8, ls="-.", label="ln 2 = 0.693 (any t, at p = 1/2)")
ax.axvline(0.95, color="C0", lw=0.6)
ax.set(xlabel="D's probability of real, σ(ℓ)", ylabel="loss (nats)", ylim=(0, 3),
       title="Binary cross-entropy: the floor is H(t), not 0")
ax.legend(fontsize=9)
plt.show()

# %% [markdown]
# ## 4. Training with the MNIST library steps
#
# One iteration is exactly the MNIST recipe (notebooks 4–6), on points instead of digits:
#
# 1. `training.discriminator_step(gen, disc, d_opt, real_points, real_labels, key)`: fakes from
#    fresh $z$ and sampled classes, batch $[x; \tilde x]$, $\theta_D \leftarrow \mathrm{Adam}(\nabla_{\theta_D} L_D)$;
# 2. `training.generator_step(gen, disc, g_opt, 2N, key)`: $\theta_G \leftarrow \mathrm{Adam}(\nabla_{\theta_G} L_G)$
#    with D frozen (its parameters bit-identical afterwards).
#
# `toy.train` is that loop (shown below); the only toy-specific choices are the batch size
# ($N = 64$) and a larger Adam step ($5 \times 10^{-3}$ instead of $2 \times 10^{-4}$) so that
# it converges in seconds. Every `TRAIN_STEPS // FRAMES` iterations we keep a snapshot for the
# animation.

# %%
import inspect

print(inspect.getsource(toy.train))

# %% [markdown]
# ### Write it yourself: the discriminator step
#
# Before the library trains the pair, write its discriminator step yourself: $L_D$ of §3 on the
# batch $[x; \tilde x]$, then
#
# $$\theta_D \leftarrow \operatorname{Adam}\big(\nabla_{\theta_D}\,\texttt{realness\_loss} + \nabla_{\theta_D}\,\texttt{class\_loss}\big)\quad\text{(one step).}$$
#
# `jax.grad` differentiates functions of arrays (or pytrees of arrays), not of a module object.
# **`nnx.split(disc)`** takes a network apart into its structure (`graphdef`) and its arrays
# (`params`, a pytree), and **`nnx.merge(graphdef, params)`** builds it back. So write
# `loss(params, name)`, a pure function that merges the network and returns one named loss, and
# take **one gradient per loss** with `jax.grad`; each gradient is a pytree shaped like `params`.
# Add the two with `jax.tree.map` and give the sum to `d_opt.update(disc, grads)` once. `optax.sigmoid_binary_cross_entropy` and
# `optax.softmax_cross_entropy_with_integer_labels` give one loss per point (average them).
#
# `step_checks.check_toy_update` runs your function on **copies** of `gen` and `disc` (the pair
# trained below is not touched), compares both gradients and the new weights with
# `training.discriminator_step`'s, and when they differ names the mistake it looks like.

# %%
import optax

from acgan_lib import step_checks


def my_toy_discriminator_update(gen, disc, d_opt, real_points, real_labels, key):
    """One toy discriminator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    n = real_points.shape[0]
    kz, kl, _ = jax.random.split(key, 3)         # the library's order: z, sampled labels (dropout: none here)
    z = models.sample_latent(kz, n, gen.latent_dim)
    fake_labels = models.sample_labels(kl, n, gen.num_classes)
    points = jnp.concatenate([real_points, gen(z, fake_labels, train=False)])   # [x; x~]: (2n, 2)
    realness_targets = ...                       # (2n,)
    class_targets = ...                          # (2n,)
    graphdef, params = nnx.split(disc)           # structure | arrays

    def loss(params, name):
        """One named loss as a pure function of the discriminator's arrays."""
        realness_logits, class_logits = nnx.merge(graphdef, params)(points)
        terms = {"realness_loss": ..., "class_loss": ...}
        return terms[name]

    g_real = ...                                 # one gradient per loss
    g_class = ...
    ...                                          # ONE optimizer step on their sum
    return {"realness_loss": g_real, "class_loss": g_class}


# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution update: the toy discriminator step written by hand (split/merge + jax.grad).
def my_toy_discriminator_update(gen, disc, d_opt, real_points, real_labels, key):
    """One toy discriminator step by hand. Returns {"realness_loss": gradient, "class_loss": gradient}."""
    n = real_points.shape[0]
    kz, kl, _ = jax.random.split(key, 3)         # the library's order: z, sampled labels (dropout: none here)
    z = models.sample_latent(kz, n, gen.latent_dim)
    fake_labels = models.sample_labels(kl, n, gen.num_classes)
    points = jnp.concatenate([real_points, gen(z, fake_labels, train=False)])   # [x; x~]: (2n, 2)
    realness_targets = jnp.concatenate([jnp.full(n, training.SOFT_ONE), jnp.zeros(n)])
    class_targets = jnp.concatenate([real_labels, fake_labels])
    graphdef, params = nnx.split(disc)           # structure | arrays

    def loss(params, name):
        """One named loss as a pure function of the discriminator's arrays."""
        realness_logits, class_logits = nnx.merge(graphdef, params)(points)
        terms = {"realness_loss": optax.sigmoid_binary_cross_entropy(realness_logits, realness_targets).mean(),
                 "class_loss": optax.softmax_cross_entropy_with_integer_labels(class_logits, class_targets).mean()}
        return terms[name]

    g_real = jax.grad(loss)(params, "realness_loss")
    g_class = jax.grad(loss)(params, "class_loss")
    d_opt.update(disc, jax.tree.map(jnp.add, g_real, g_class))
    return {"realness_loss": g_real, "class_loss": g_class}


# %% tags=["nbval-check-output"]
real_points, real_labels = next(toy.batches(ds, toy.BATCH_SIZE, seed=SEED))
_ = step_checks.check_toy_update(my_toy_discriminator_update, gen, disc, real_points, real_labels, jax.random.key(2))

# %%
every = TRAIN_STEPS // FRAMES
hist = toy.train(gen, disc, ds, TRAIN_STEPS, seed=SEED,
                 callback=lambda i: snaps.append(snapshot(i)) if i else None, callback_every=every)
print(f"{TRAIN_STEPS} iterations, {len(snaps)} snapshots; last D step: "
      f"realness {hist['d_realness_loss'][-1]:.3f}, class {hist['d_class_loss'][-1]:.3f}")

# %% tags=["nbval-check-output"]
# The generator step leaves every discriminator parameter bit-identical (D is frozen there).
gen_copy = nnx.clone(gen)                  # a copy, so the trained generator stays as it is
g_opt_check = toy.make_optimizer(gen_copy)
before = [np.asarray(x) for x in jax.tree.leaves(nnx.state(disc, nnx.Param))]
training.generator_step(gen_copy, disc, g_opt_check, 2 * toy.BATCH_SIZE, jax.random.key(1))
after = [np.asarray(x) for x in jax.tree.leaves(nnx.state(disc, nnx.Param))]
print("discriminator unchanged by generator_step:", all(np.array_equal(a, b) for a, b in zip(before, after)))
print("snapshots:", len(snaps), "(the untrained state +", FRAMES, "during training)")

# %% [markdown]
# ## 5. Watching it train
#
# Each frame shows the same 360 latent vectors (60 per class) pushed through the generator at
# that moment. Left: D's $P(\text{real} \mid x)$ with the real points; right: the class D would
# name at each point of the plane. Press play.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4.3), dpi=60)
anim = animation.FuncAnimation(fig, lambda k: draw(axes, snaps[k]), frames=len(snaps), interval=300)
plt.rcParams["animation.frame_format"] = "jpeg"   # keeps the committed notebook small
html = anim.to_jshtml(fps=4, default_mode="once")
plt.close(fig)
HTML(html)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.8), layout="constrained")
cs = draw(axes, snaps[-1])
fig.colorbar(cs, ax=axes[0], fraction=0.046, label="P(real | x)")
plt.show()
first, last = snaps[0]["fakes"], snaps[-1]["fakes"]
on_before = toy.on_cluster_fraction(first, labels_show, ds.centres)
on_after = toy.on_cluster_fraction(last, labels_show, ds.centres)
spread = toy.spread_ratio(last, labels_show, toy.NUM_CLASSES)
print(f"fakes within 3 sigma of their requested cluster: {on_before:.0%} before, {on_after:.0%} after")
print("spread of the fakes per class / real spread:", np.round(spread, 2))

# %% [markdown]
# What the final frame shows (checked below): far more fakes sit on the cluster they were asked
# for than before training (90 %, from 0 %; the asserts require over 40 %, from under 10 %), each class's fakes are spread out rather than piled on one point, and D's class regions
# split the plane around the origin, one per class, with each cluster centre inside the region
# of its own class. $P(\text{real})$ is no longer high only on the clusters: where the
# fakes overlap the reals, D can no longer separate them, so the map is close to 1/2 there.

# %%
assert on_before < 0.1 and on_after > 0.4, (on_before, on_after)
assert spread.min() > 0.4, spread                    # no class has collapsed onto a point
centre_regions = toy.judge(disc, ds.centres)[1]
assert np.array_equal(centre_regions, np.arange(toy.NUM_CLASSES)), centre_regions
p_on_real = toy.judge(disc, ds.points)[0]
assert 0.3 < np.median(p_on_real) < 0.7, np.median(p_on_real)
print(f"D's median P(real) on the real points: {np.median(p_on_real):.2f}; "
      f"each cluster centre is in its own class region: {np.array_equal(centre_regions, np.arange(toy.NUM_CLASSES))}")

# %% [markdown]
# ## 6. Reading the loss curves
#
# Predict before you look: where should each curve end, relative to the reference lines of §3?

# %%
def smooth(x, w=25):
    """Moving average over w iterations (the raw curves are noisy)."""
    return np.convolve(x, np.ones(w) / w, mode="valid")


it = np.arange(TRAIN_STEPS)[24:] + 1
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
ax1.plot(it, smooth(hist["d_realness_loss"]), label="D realness loss")
ax1.plot(it, smooth(hist["g_realness_loss"]), label="G realness loss")
ax1.axhline(LN2, color="k", ls="-.", lw=0.9, label="ln 2 = 0.693: D cannot tell")
ax1.axhline(G_REALNESS_FLOOR, color="C1", ls=":", lw=1.2, label="G floor H(0.95) = 0.199")
ax1.axhline(D_REALNESS_FLOOR, color="C0", ls=":", lw=1.2, label="D floor H(0.95)/2 = 0.099")
ax1.set(xlabel="iteration", ylabel="loss (nats)", ylim=(0, 1.2), title="Realness terms")
ax1.legend(fontsize=9, loc="upper right")
ax2.plot(it, smooth(hist["d_class_loss"]), label="D class loss")
ax2.plot(it, smooth(hist["g_class_loss"]), label="G class loss")
ax2.axhline(LNC, color="k", ls="-.", lw=0.9, label=f"ln {toy.NUM_CLASSES} = {LNC:.2f}: untrained head")
ax2.set(xlabel="iteration", ylabel="loss (nats)", yscale="log", title="Class terms (log scale)")
ax2.legend(fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# How to read them:
#
# * The **class losses** start near $\ln 6 \approx 1.79$ (an untrained head is about uniform
#   over 6 classes) and fall far below it: the clusters are easy to name and the generator
#   quickly draws points of the requested class.
# * The **discriminator's realness loss** ends near $\ln 2$, far above its floor 0.099: D
#   cannot separate the fakes from the reals any more. That is the goal of the game, not a
#   sign that D failed.
# * The **generator's realness loss** ends above $\ln 2$, near the equilibrium value 0.739 of the
#   [reference values of notebook 1](01_mnist_and_the_acgan_idea.ipynb#reference-values): where fakes and reals overlap, the best D says 0.475 to both, and BCE(0.475, 0.95) =
#   0.739. It stays far above its floor 0.199: G would only reach the floor if D said "real" with
#   probability 0.95 to every fake, and D is retrained against that at every step.
#
# The averages over the last quarter of training, with the checks for these sentences:

# %%
q = TRAIN_STEPS // 4
last = {k: float(hist[k][-q:].mean()) for k in ("d_realness_loss", "g_realness_loss", "d_class_loss", "g_class_loss")}
print({k: round(v, 3) for k, v in last.items()}, "| first D class loss:", round(float(hist["d_class_loss"][0]), 3))
assert abs(hist["d_class_loss"][0] - LNC) < 0.5
assert last["d_class_loss"] < 0.2 * LNC and last["g_class_loss"] < 0.2 * LNC
assert abs(last["d_realness_loss"] - LN2) < 0.08 and last["d_realness_loss"] > 3 * D_REALNESS_FLOOR
assert LN2 - 0.02 < last["g_realness_loss"] < 1.0 and last["g_realness_loss"] > 3 * G_REALNESS_FLOOR
assert abs(last["g_realness_loss"] - 0.739) < 0.05   # notebook 1's equilibrium value, above ln 2

# %% [markdown]
# ## 7. One step, two gradients
#
# Both steps follow the gradient of the *sum* of the two named terms. By linearity of
# differentiation,
#
# $$\nabla_\theta L = \nabla_\theta\,\texttt{realness\_loss} + \nabla_\theta\,\texttt{class\_loss},$$
#
# so `training.per_loss_gradients` computes each term's gradient separately (the "explicit"
# form the notebooks teach), and the fused trainer takes one backward pass through the sum. Here
# for one generator step of the trained pair: the two parts per layer, and the largest
# difference between their sum and the single-backward gradient. After training, the class term
# is nearly satisfied (its loss is printed first), so most of the step comes from the realness
# term (checked below the figure).

# %%
z = models.sample_latent(jax.random.key(5), 2 * toy.BATCH_SIZE, gen.latent_dim)
labels = models.sample_labels(jax.random.key(6), 2 * toy.BATCH_SIZE, gen.num_classes)


@nnx.jit
def both_ways(gen, disc):
    """Per-term gradients (explicit) and the single-backward total, for the same batch."""
    def g_terms(g):
        return training.generator_loss_terms(g, disc, z, labels, jax.random.key(7))

    grads, terms, _ = training.per_loss_gradients(gen, g_terms)
    fused, _, _ = training.per_loss_gradients(gen, g_terms, explicit=False)
    return grads, terms, fused


grads, terms, fused = both_ways(gen, disc)
diff = max(float(jnp.abs(a + b - c).max()) for a, b, c in zip(
    jax.tree.leaves(grads["realness_loss"]), jax.tree.leaves(grads["class_loss"]), jax.tree.leaves(fused["total"])))
print({k: round(float(v), 4) for k, v in terms.items()})
print(f"max |g_realness + g_class - g_total(one backward pass)| = {diff:.1e}")
assert diff < 1e-5


def layer_norms(g):
    """Euclidean norm of a gradient per layer (kernel and bias together)."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(g):
        name = str(path[0].key)
        out[name] = out.get(name, 0.0) + float(jnp.sum(leaf ** 2))
    return {k: v ** 0.5 for k, v in out.items()}


nr, nc = layer_norms(grads["realness_loss"]), layer_norms(grads["class_loss"])
names = list(nr)
pos = np.arange(len(names))
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.bar(pos - 0.2, [nr[n] for n in names], 0.4, label="realness_loss")
ax.bar(pos + 0.2, [nc[n] for n in names], 0.4, label="class_loss")
ax.set_xticks(pos, names)
ax.set(ylabel="gradient norm", title="Generator step: the two terms' gradients per layer")
ax.legend()
plt.show()
assert sum(nr.values()) > 2 * sum(nc.values()), (nr, nc)

# %% [markdown]
# In the plane we can also see *where each term pushes each fake*: the negative gradient of
# each term with respect to the fake point $\tilde x$ (the generator's parameters follow these
# through the chain rule). The class loss is $-\log \mathrm{softmax}(\ell_{\text{class}})_c$, so
# the class arrow points where D's **log-probability** of the *requested* class rises fastest —
# not its raw logit, which could also rise while the other classes' logits rise faster. The
# realness arrow, $(0.95 - \sigma(\ell))\,\nabla_x \ell$, points where $P(\text{real})$ rises
# fastest as long as it is below 0.95. The asserts under the figure check both.

# %%
x_fake = jnp.asarray(snaps[-1]["fakes"][::7])      # every 7th fake: all classes (labels cycle by 6)
l_fake = jnp.asarray(labels_show[::7])
t_fake = jnp.full((x_fake.shape[0],), training.SOFT_ONE)


@nnx.jit
def pushes(disc, x):
    """-d(term)/dx for every fake point x (N, 2), for each of the generator's two terms."""
    real = jax.grad(lambda x: training.realness_loss(disc(x, train=False)[0], t_fake))(x)
    cls = jax.grad(lambda x: training.class_loss(disc(x, train=False)[1], l_fake))(x)
    return -real, -cls


push_real, push_class = pushes(disc, x_fake)
fig, ax = plt.subplots(figsize=(5.5, 5.5))
ax.contourf(xs, ys, snaps[-1]["p_real"], levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.5)
scatter_real(ax, alpha=0.2, s=5)
for push, color, name in ((push_real, "k", "−∇ realness_loss"), (push_class, "m", "−∇ class_loss")):
    u = push / (jnp.linalg.norm(push, axis=1, keepdims=True) + 1e-12) * 0.15   # directions only
    ax.quiver(x_fake[:, 0], x_fake[:, 1], u[:, 0], u[:, 1], color=color, angles="xy",
              scale_units="xy", scale=1, width=0.004, label=name)
ax.set_title("Where each term pushes the fakes (unit arrows)")
ax.legend(loc="lower right", fontsize=9)
plt.show()


@nnx.jit
def ascent_directions(disc, x):
    """Gradients in x of log softmax(class logits)[requested class] and of the realness logit."""
    log_p = jax.grad(lambda x: jnp.sum(jax.nn.log_softmax(disc(x, train=False)[1])[jnp.arange(x.shape[0]), l_fake]))(x)
    logit = jax.grad(lambda x: jnp.sum(disc(x, train=False)[0]))(x)
    return log_p, logit


def cosine(a, b):
    return jnp.sum(a * b, 1) / (jnp.linalg.norm(a, axis=1) * jnp.linalg.norm(b, axis=1) + 1e-20)


grad_log_p, grad_logit = ascent_directions(disc, x_fake)
below = jax.nn.sigmoid(disc(x_fake, train=False)[0]) < training.SOFT_ONE   # fakes D rates < 95 % real
assert float(cosine(push_class, grad_log_p).min()) > 0.999       # class arrow = ascent of log P(requested class)
assert float(cosine(push_real, grad_logit)[below].min()) > 0.999  # realness arrow = ascent of P(real) below 0.95
print(f"class arrows along grad log P(class): all {len(x_fake)}; realness arrows along grad P(real): "
      f"all {int(below.sum())} fakes rated below 95 % real")

# %% [markdown]
# ## 8. Exercises
#
# **Exercise 1 (mode collapse).** The two players must learn at comparable speeds. Give the
# generator an Adam step 20× the discriminator's (`lr_g=0.1`, `lr_d=5e-3`), train a fresh pair
# for `EXERCISE_STEPS` iterations with `toy.train`, and draw the fakes. *Predict first*: what do
# the fakes of one class look like when the generator can jump straight to wherever the current
# discriminator says "most real"? Measure the spread of each class's fakes relative to the real
# clusters with `toy.spread_ratio` (about 1 = right spread, near 0 = collapsed onto a point,
# above 1 = scattered wider than the cluster).
#
# **Exercise 2 (a softer target).** The reference lines of section 3 are for the soft target
# 0.95. Predict them for `soft_one = 0.9`, pen and paper first: the discriminator's and the
# generator's realness floors, and both realness losses at the equilibrium (what does the best
# discriminator say there now?). Are the floors higher or lower than with 0.95? Does the
# generator's equilibrium value move towards $\ln 2$ or away from it? Check your four numbers
# with `exercises.check_soft_target_levels`.
#
# **Exercise 3 (what the class term buys).** Retrain a fresh pair with
# `weights=training.LossWeights(classification=0.0)` (both steps drop their class term: a plain
# GAN whose generator still gets a label). Does the label still decide which cluster a fake
# lands on? Measure `toy.on_cluster_fraction` and compare with $1/C$.

# %%
# Exercise 2: replace the 0.0s with your predictions for soft_one = 0.9.
exercises.check_soft_target_levels(d_floor=0.0, g_floor=0.0, d_equilibrium=0.0, g_equilibrium=0.0);


# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: G outruns D. Against a discriminator that barely moves between two of its steps,
# the best answer for every z of a class is the single point D currently rates "most real", so
# some classes shrink to under half of the real spread (a third to a half in our runs: on the way
# to mode collapse) while others overshoot as G jumps past D's moving target (more than twice as
# wide; the ratios are printed). Which classes collapse varies with the seed
# and the step count; the spreads leave the neighbourhood of 1 every time.
def fresh_pair(seed=SEED):
    return toy.ToyGenerator(rngs=nnx.Rngs(seed)), toy.ToyDiscriminator(rngs=nnx.Rngs(seed + 1))


gen_c, disc_c = fresh_pair()
toy.train(gen_c, disc_c, ds, EXERCISE_STEPS, seed=SEED, lr_g=0.1, lr_d=toy.LEARNING_RATE)
fakes_c = toy.generate(gen_c, z_show, labels_show)
spread_c = toy.spread_ratio(fakes_c, labels_show, toy.NUM_CLASSES)
print("spread per class / real spread:", np.round(spread_c, 2))
fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
for ax, f, title in ((axes[0], snaps[-1]["fakes"], "recipe: lr_g = lr_d"),
                     (axes[1], fakes_c, f"lr_g = 20 × lr_d: spread ratios {spread_c.min():.2f} to {spread_c.max():.1f}")):
    scatter_real(ax, alpha=0.25, s=6)
    ax.scatter(f[:, 0], f[:, 1], c=CMAP(labels_show), marker="x", s=14, linewidths=1)
    ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), title=title)
plt.show()
assert spread_c.min() < 0.5 and spread_c.max() > 2 and spread.min() > 0.4, (spread_c, spread)

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: BCE with target t is smallest (= H(t)) where sigma(logit) = t, and a fake can reach
# 0, so the floors are H(0.9) (G) and H(0.9) / 2 (D): both higher than with 0.95, a softer target
# being further from certainty. At the equilibrium the best D says 0.9 / 2 = 0.45 to every point;
# the generator's loss there moves further above ln 2, the discriminator's a little below it.
def bce(p, t):
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


soft_levels = {}
for soft in (0.95, 0.9):
    d_star = soft / 2
    soft_levels[soft] = [entropy(soft) / 2, entropy(soft), (bce(d_star, soft) + bce(d_star, 0.0)) / 2, bce(d_star, soft)]
    print(f"soft_one = {soft}: floors D {soft_levels[soft][0]:.4f}, G {soft_levels[soft][1]:.4f}; "
          f"at the equilibrium D {soft_levels[soft][2]:.4f}, G {soft_levels[soft][3]:.4f}")
assert soft_levels[0.9][0] > soft_levels[0.95][0] and soft_levels[0.9][1] > soft_levels[0.95][1]
assert soft_levels[0.9][3] - LN2 > soft_levels[0.95][3] - LN2 > 0 and soft_levels[0.9][2] < soft_levels[0.95][2] < LN2
exercises.check_soft_target_levels(*soft_levels[0.9]);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: without the class term nothing ties a label to a cluster: the generator still
# covers the ring, but a fake lands on the cluster of its requested class no more often than by
# chance (the cell prints it: 6–7 % in our runs, against 1/C = 17 % if every fake sat on some
# cluster at random),
# against 90 % with the class term. The label no longer decides where the fake goes.
gen_n, disc_n = fresh_pair()
toy.train(gen_n, disc_n, ds, EXERCISE_STEPS, seed=SEED, weights=training.LossWeights(classification=0.0))
fakes_n = toy.generate(gen_n, z_show, labels_show)
on_n = toy.on_cluster_fraction(fakes_n, labels_show, ds.centres)
print(f"on their own cluster: {on_n:.0%} without the class term (1/C = {1 / toy.NUM_CLASSES:.0%}), "
      f"{on_after:.0%} with it")
fig, ax = plt.subplots(figsize=(5, 5))
scatter_real(ax, alpha=0.25, s=6)
ax.scatter(fakes_n[:, 0], fakes_n[:, 1], c=CMAP(labels_show), marker="x", s=14, linewidths=1)
ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), title="No class term: colours (requested classes) mixed")
plt.show()
assert on_n < 1 / toy.NUM_CLASSES + 0.05 and on_n < 0.4 < on_after, (on_n, on_after)

# %% [markdown]
# ## Summary
#
# * An ACGAN is two networks and two named loss terms each: realness (binary cross-entropy,
#   soft target 0.95 for real) and class (categorical cross-entropy); D lowers both on real and
#   fake points, G lowers both on its fakes with D frozen and the target "real".
# * The library's `discriminator_step`, `generator_step` and `per_loss_gradients` trained these
#   2-D networks unchanged: the discriminator declares its input shape and range, the steps check
#   real inputs against that.
# * Read the curves against notebook 1's reference lines: realness floors 0.099 (D) and 0.199
#   (G), $\ln 2$ when D says 0.5, 0.692 (D) / 0.739 (G) at the equilibrium, $\ln C$ for an
#   untrained class head. A D realness loss near $\ln 2$ means the fakes overlap the reals.
# * The gradient of the sum is the sum of the two terms' gradients; in the plane, the class term
#   pushes each fake up D's log-probability of its class, the realness term toward higher $P(\text{real})$.
# * When the generator learns much faster than the discriminator, training stops settling: some
#   classes shrink to a fraction of the real spread (toward mode collapse), others scatter wider; without the class term
#   the label no longer picks the cluster.
#
# Next: [3. Architecture](03_architecture.ipynb), the real networks for 28×28 digits.
