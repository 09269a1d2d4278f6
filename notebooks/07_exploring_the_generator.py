# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 7. Exploring a trained generator
#
# **What you will learn**
#
# 1. to load the pretrained generator shipped with the project (no training needed);
# 2. to draw any digit on request, and to see what `z` controls (style) versus what the class
#    controls (the digit), by reusing one `z` across all classes;
# 3. to walk through latent space by interpolation;
# 4. why, for a given class, only a few of the 100 coordinates of `z` matter — derived from the
#    model and measured — and to play with the ones that do, like the tfjs example's browser demo;
# 5. to *measure* the samples with an independent digit classifier: class accuracy, a
#    requested-vs-judged confusion matrix, Fréchet distance against a real-vs-real floor, and
#    diversity.
#
# **Prerequisites:** notebook [3](03_architecture.ipynb) (the generator multiplies `z` by a class
# embedding) and notebook [6](06_the_training_loop.ipynb) (how the shipped generator was trained);
# JAX [PRNG keys](https://docs.jax.dev/en/latest/random-numbers.html) and
# [`jax.jit`](https://docs.jax.dev/en/latest/jit-compilation.html); the Fréchet distance idea is
# explained in section 7. No training happens here.
#
# **Time:** about 20 minutes to read and run. It trains nothing; executing it takes about 40 s on a
# 2-core CPU.

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
import json
import os

SMOKE = os.environ.get("ACGAN_SMOKE", "0") == "1"
PER_CLASS = 20 if SMOKE else 100          # samples per class for the evaluation

import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from acgan_lib import checkpoint, compile_cache, evaluation, exercises, models, plotting, pretrained

compile_cache.enable();  # compiled programs kept on disk: a second run compiles far less

# %% [markdown]
# ## 1. Loading the pretrained generator

# %%
gen = checkpoint.load_generator(pretrained.GENERATOR_DIR)   # inference mode: batch-norm running statistics
print((pretrained.GENERATOR_DIR / "PROVENANCE.md").read_text().split("## ")[1])

# %% [markdown]
# ## 2. One row per class
#
# `models.generate(gen, labels, key)` draws `z ~ U[-1, 1]` and returns images in [-1, 1].

# %%
per_row = 12
labels = np.repeat(np.arange(10), per_row)
images = models.generate(gen, labels, key=jax.random.key(0))
plotting.show_grid(images, per_row, row_labels=range(10), title="asked for each class (rows), random z (columns)")
plt.show()

# %% [markdown]
# ## 3. The same `z` across classes: style versus class
#
# Now each **row** shares one `z` and each **column** is a class. What changes along a row is
# the class. What stays the same is at most a *loosely shared* style — look for stroke width or
# slant carried across some of the digits of a row, not all of them: the generator multiplies `z`
# by a class vector, and section 5 shows that each class reads mostly different coordinates of
# `z`, so one `z` does not mean one style for every class.

# %%
rows = 8
z = models.sample_latent(jax.random.key(1), rows)
zz = jnp.repeat(z, 10, axis=0)
cls = np.tile(np.arange(10), rows)
plotting.show_grid(models.generate(gen, cls, z=zz), 10, col_labels=range(10),
                   row_labels=[f"z{i}" for i in range(rows)], title="one z per row, one class per column")
plt.show()

# %% [markdown]
# ## 4. Walking through latent space
#
# Linear interpolation between two latent vectors, for a fixed class, changes the style
# smoothly. Interpolating the *class embedding* between two classes (same `z`) morphs one
# digit into another — the generator never saw such in-between classes.

# %%
steps = 10
t = jnp.linspace(0, 1, steps)[:, None]
za, zb = models.sample_latent(jax.random.key(2), 2)
walk = (1 - t) * za + t * zb
rows_z = [models.generate(gen, np.full(steps, c), z=walk) for c in (2, 5, 8)]


def morph(gen, z, a, b, steps):
    """Same z, class embedding moving from class a to class b (Generator.decode takes z * class vector)."""
    ea, eb = gen.embedding.embedding[a], gen.embedding.embedding[b]
    mix = jnp.linspace(0, 1, steps)[:, None]
    return gen.decode(z * ((1 - mix) * ea + mix * eb), train=False)


rows_c = [morph(gen, za, 1, 7, steps), morph(gen, za, 3, 8, steps)]
plotting.show_grid(jnp.concatenate(rows_z + rows_c), steps,
                   row_labels=["2: z walk", "5: z walk", "8: z walk", "1 → 7", "3 → 8"],
                   title="interpolation: in z (top three rows), in the class embedding (bottom two)")
plt.show()

# %% [markdown]
# ## 5. Which coordinates of `z` matter?
#
# The generator does not feed `z` to its layers directly. It first multiplies it, coordinate by
# coordinate, with a learned vector $e_c$ for the requested class $c$ (notebook 3):
#
# $$h = z \odot e_c, \qquad h_i = z_i \, e_{c,i}, \qquad \frac{\partial h_i}{\partial z_i} = e_{c,i}.$$
#
# Moving $z_i$ over its whole range $[-1, 1]$ moves $h_i$ by $2\,e_{c,i}$ and nothing else. Where
# $e_{c,i}$ is close to 0 the rest of the network never sees the change, whatever the slider
# says. Training made most entries of each class vector small, so every class uses a handful of
# coordinates strongly, and a different handful for each class.
#
# We measure it for one class: starting from a fixed `z`, set one coordinate to −1, then to +1,
# and record how much the picture changes (pixel brightness on a 0–1 scale: the mean change over
# all 784 pixels, used for the ranking, and the largest single-pixel change).

# %%
CLASS = 3                                  # the class we explore; try others
base_z = np.asarray(models.sample_latent(jax.random.key(3), 1))[0]


def coordinate_influence(gen, digit, z):
    """Move each coordinate of z (latent_dim,) from -1 to +1 alone; returns (mean, max) |pixel change|, 0..1 scale, each (latent_dim,)."""
    d = len(z)
    lo, hi = np.tile(z, (d, 1)), np.tile(z, (d, 1))
    lo[np.arange(d), np.arange(d)], hi[np.arange(d), np.arange(d)] = -1.0, 1.0
    a, b = (models.generate(gen, np.full(d, digit), z=jnp.asarray(v)) for v in (lo, hi))
    change = np.abs(a - b).reshape(d, -1) / 2          # images are in [-1, 1]; /2 -> brightness 0..1
    return change.mean(1), change.max(1)


mean_change, max_change = coordinate_influence(gen, CLASS, base_z)
ranked = np.argsort(-mean_change)                  # most influential first
emb = np.asarray(gen.embedding.embedding[...])[CLASS]
print("most influential coordinates for class", CLASS, ":", ranked[:6].tolist())
print("their |e_c,i|:", [round(float(v), 2) for v in np.abs(emb[ranked[:6]])], " median |e_c,i| over all 100:",
      round(float(np.median(np.abs(emb))), 3))
strong = int((mean_change > 0.02).sum())
print(f"coordinates whose move changes the mean pixel by more than 0.02: {strong} of {len(ranked)}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
axes[0].bar(range(len(ranked)), mean_change[ranked], color="tab:blue")
axes[0].set_xlabel("coordinates of z, most influential first")
axes[0].set_ylabel("mean |pixel change| (0-1 scale)")
axes[0].set_title(f"class {CLASS}: effect of moving one coordinate from -1 to +1")
axes[1].scatter(np.abs(emb), mean_change, s=14)
for i in ranked[:4]:
    axes[1].annotate(f"z[{i}]", (abs(emb[i]), mean_change[i]), fontsize=9)
axes[1].set_xlabel("|class embedding entry| $|e_{c,i}|$")
axes[1].set_ylabel("mean |pixel change| (0-1 scale)")
axes[1].set_title("the embedding predicts the effect")
plt.tight_layout()
plt.show()
corr = float(np.corrcoef(np.abs(emb), mean_change)[0, 1])
print(f"correlation between |e_c,i| and the measured effect: {corr:.2f}")

# %% [markdown]
# The bars fall off a cliff: a few coordinates change the digit a lot, most almost not at all
# (fewer than 20 of 100 move the mean pixel by more than 0.02, printed above and checked below),
# and the class embedding predicts which (the correlation printed above is checked below to be
# above 0.7). Sweeping the most influential coordinate shows *what* it controls; one from the
# middle of the ranking for comparison:

# %%
top, middle = int(ranked[0]), int(ranked[len(ranked) // 2])
values = np.linspace(-1, 1, 9)
rows_s = []
for i in (top, middle):
    zs = np.tile(base_z, (len(values), 1))
    zs[:, i] = values
    rows_s.append(models.generate(gen, np.full(len(values), CLASS), z=jnp.asarray(zs)))
plotting.show_grid(np.concatenate(rows_s), len(values), col_labels=[f"{v:.2f}" for v in values],
                   row_labels=[f"z[{top}] (rank 1)", f"z[{middle}] (rank {len(ranked) // 2 + 1})"], scale=0.9,
                   title=f"class {CLASS}: sweeping one coordinate from -1 to +1")
plt.show()

# %%
assert corr > 0.7, corr
assert strong < 20, strong
assert max_change[top] > 0.3, max_change[top]                 # the top slider visibly changes the digit
assert max_change[ranked[-1]] < 0.05, max_change[ranked[-1]]   # the lowest-ranked one hardly does
assert max(max_change[0], max_change[1]) < 0.1                  # z[0], z[1]: sliders there would hardly move the digit
print(f"largest pixel change: z[{top}] {max_change[top]:.2f}, z[{middle}] {max_change[middle]:.2f}, "
      f"z[{ranked[-1]}] {max_change[ranked[-1]]:.3f}, z[0] {max_change[0]:.2f}, z[1] {max_change[1]:.2f}")

# %% [markdown]
# Each class has its own handful. The six largest entries of every class vector:

# %%
all_emb = np.abs(np.asarray(gen.embedding.embedding[...]))
tops = {c: sorted(np.argsort(-all_emb[c])[:6].tolist()) for c in range(10)}
for c, top6 in tops.items():
    print(f"class {c}: z{top6}")
shared = sum(len(set(tops[a]) & set(tops[b])) for a in range(10) for b in range(a + 1, 10))
print("coordinates shared by two classes' top six, over all 45 pairs:", shared)

# %% [markdown]
# So one `z` means only a loosely shared style across classes (section 3): each class reads
# mostly different coordinates of it.
#
# ## 6. Interactive: sliders on the coordinates that matter
#
# The sliders below sit on the six most influential coordinates for the chosen class (ranked
# again, as above, whenever you pick another class); the other 94 stay as drawn. "random z" draws
# a new `z`. The picture updates when you release a slider (it needs a running kernel).

# %%
from IPython.display import clear_output

N_SLIDERS = 6
state = {"z": base_z.copy(), "coords": ranked[:N_SLIDERS], "seed": 3, "busy": False}
sliders = [widgets.FloatSlider(min=-1, max=1, step=0.05, continuous_update=False) for _ in range(N_SLIDERS)]
digit = widgets.Dropdown(options=list(range(10)), value=CLASS, description="class")
random_z = widgets.Button(description="random z")
picture = widgets.Output()


def redraw(*_):
    if state["busy"]:
        return
    z = state["z"].copy()
    z[state["coords"]] = [s.value for s in sliders]
    img = models.generate(gen, [digit.value], z=jnp.asarray(z)[None])
    with picture:
        clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(2.5, 2.5))
        ax.imshow(img[0, ..., 0], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"class {digit.value}")
        ax.axis("off")
        plt.show()


def rerank(*_):
    """Put the sliders on the most influential coordinates for the current class and z."""
    state["busy"] = True
    state["coords"] = np.argsort(-coordinate_influence(gen, digit.value, state["z"])[0])[:N_SLIDERS]
    for s, i in zip(sliders, state["coords"]):
        s.description, s.value = f"z[{i}]", float(state["z"][i])
    state["busy"] = False
    redraw()


def new_z(_):
    state["seed"] += 1
    state["z"] = np.array(models.sample_latent(jax.random.key(state["seed"]), 1))[0]
    rerank()


digit.observe(rerank, names="value")
random_z.on_click(new_z)
for s in sliders:
    s.observe(redraw, names="value")
rerank()
display(widgets.HBox([widgets.VBox([digit, random_z] + sliders), picture]))

# %% [markdown]
# ## 7. Measuring the samples
#
# Looking is not measuring. The project ships an independent **digit judge**: a small CNN
# classifier trained by `python -m acgan_lib train-judge` on real digits only, never on
# generated ones, and never on the 1,000 held-out real digits used below. (It is *not* the
# ACGAN's discriminator, which was trained with this generator and can be fooled by it.)

# %%
judge = evaluation.load_judge()
judge_prov = json.loads((pretrained.JUDGE_DIR / "PROVENANCE.json").read_text())
print(f"judge accuracy on {judge_prov['heldout_examples']} held-out real digits: {judge_prov['heldout_accuracy']:.3f}")
print("trained with:", judge_prov["command"])

# %% [markdown]
# Three measurements (`evaluation.evaluate_generator`):
#
# * **class accuracy** — how often the judge recognises the digit the generator was asked for;
# * **Fréchet distance** between the judge's 128-dimensional features of generated digits and
#   of real held-out digits (the FID recipe with a digit network), next to the **floor**: the same
#   distance between two halves of the real digits, which is what "as good as real" scores;
# * **diversity** — per class, the average distance between generated digits' features divided by
#   the same for real digits: near 1 is healthy, near 0 means every sample looks the same.

# %%
res = evaluation.evaluate_generator(gen, judge, per_class=PER_CLASS, seed=0)
print(evaluation.format_report(res))

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
acc = res["class_accuracy_per_class"]
axes[0].bar(list(acc), list(acc.values()), color="tab:green")
axes[0].axhline(0.95, color="k", ls="--", lw=1, label="target 0.95")
axes[0].set_ylim(0, 1.05)
axes[0].set_xticks(range(10))
axes[0].set(xlabel="requested class", ylabel="judge's accuracy")
axes[0].set_title(f"judge's class accuracy (overall {res['class_accuracy']:.3f})")
axes[0].legend(loc="lower right")
div = res["diversity_ratio_per_class"]
axes[1].bar(list(div), list(div.values()), color="tab:purple")
axes[1].axhspan(0.8, 1.2, color="grey", alpha=0.2, label="within 20 % of real")
axes[1].set_xticks(range(10))
axes[1].set(xlabel="class", ylabel="diversity (generated / real)")
axes[1].set_title("diversity: generated / real")
axes[1].legend(loc="lower right")
plt.show()
print(f"Fréchet distance {res['frechet_distance']:.1f} vs real-vs-real floor {res['frechet_floor_real_vs_real']:.1f} "
      f"(ratio {res['frechet_ratio']:.1f})")

# %% [markdown]
# Which digit does the judge see when the generator is asked for each class? The
# **requested-vs-judged confusion matrix** counts, for every requested class (row), how the
# judge classified the drawings (column); a perfect generator puts everything on the diagonal.

# %%
requested = np.repeat(np.arange(10), PER_CLASS)
drawn = models.generate(gen, requested, key=jax.random.key(7))
judged = evaluation.judge_outputs(judge, drawn)[0].argmax(-1)
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (requested, judged), 1)
fig, ax = plt.subplots(figsize=(5.5, 4.8))
im = ax.imshow(confusion / PER_CLASS, cmap="Blues", vmin=0, vmax=1)
for r, c in zip(*np.nonzero(confusion)):
    ax.text(c, r, confusion[r, c], ha="center", va="center", fontsize=8,
            color="white" if confusion[r, c] > PER_CLASS / 2 else "black")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("class the judge sees")
ax.set_ylabel("class requested")
ax.set_title(f"requested vs judged ({PER_CLASS} per class)")
fig.colorbar(im, ax=ax, label="fraction of the row")
plt.show()
off = confusion.sum() - np.trace(confusion)
print(f"{off} of {confusion.sum()} drawings judged as another class")
assert np.trace(confusion) >= 0.95 * confusion.sum()

# %% [markdown]
# The project set itself four targets for the shipped generator. Here they are against the
# numbers just measured:

# %%
targets = [
    ("class accuracy >= 0.98", res["class_accuracy"] >= 0.98, f"{res['class_accuracy']:.3f}"),
    ("every class >= 0.95", min(acc.values()) >= 0.95, f"worst class {min(acc.values()):.2f}"),
    ("Fréchet distance <= 2x the floor", res["frechet_ratio"] <= 2.0, f"{res['frechet_ratio']:.2f}x"),
    ("diversity within 20 % of real", all(0.8 <= d <= 1.2 for d in div.values()),
     f"{min(div.values()):.2f} to {max(div.values()):.2f}"),
]
for name, ok, value in targets:
    print(f"{'met    ' if ok else 'NOT met'}  {name:<34} {value}")

# %% [markdown]
# The shipped generator is the reference recipe trained for 12,500 iterations on the bundled
# digits (`PROVENANCE.md`). The Fréchet ratio depends a little on which digits are drawn: over
# sampling seeds 0–4 it was 1.60–1.93 (mean 1.77), so read its second decimal loosely. How the
# numbers grew during training is in notebook 6, sections 8 and 10, and `benchmarks/quality.py`.
#
# ## Summary
#
# * The pretrained generator draws any requested digit; within a row of shared `z` the digit
#   changes and at most a loose style carries over, because each class reads mostly different
#   coordinates of `z`.
# * Interpolating `z` changes style smoothly; interpolating the class embedding morphs digits.
# * The generator sees `z` only through `z ⊙ e_c`, so each class uses the few coordinates where
#   its embedding is large; measuring the effect of each coordinate finds them, and the sliders
#   sit on those.
# * An independent judge turns "looks fine" into numbers: class accuracy and the
#   requested-vs-judged confusion matrix, Fréchet distance with a real-vs-real floor, and
#   diversity — the last one catches the collapse that losses hide.
#
# ## Exercises
#
# 1. From the model alone: for class 0, which coordinate of `z` does the generator multiply by
#    the largest |weight|? Check it with `exercises.check_largest_embedding_coordinate(i, digit=0)`,
#    then measure with `coordinate_influence` whether it is also the most influential one.
# 2. Evaluate the *untrained* generator with `evaluation.evaluate_generator` and compare all
#    three numbers with the pretrained one.
# 3. Draw the requested-vs-judged confusion matrix for the generator of iteration 200 of
#    notebook 6's early run (`checkpoint.load_generator(pretrained.EARLY_RUN_DIR / "generator_0200")`),
#    once in inference mode (`models.generate`) and once in training mode
#    (`nnx.clone(g)(z, labels, train=True)`, batch statistics). What does notebook 6, section 6,
#    lead you to expect?

# %%
exercises.check_largest_embedding_coordinate(0, digit=0);     # replace 0 with your answer

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: z[28] has the largest |weight| in class 0's vector (0.53), but it is not the most
# influential coordinate when measured: z[50] is, and z[28] ranks second (printed below). The
# weight is only half the story: how much the decoder responds to that coordinate also counts.
e0 = np.abs(np.asarray(gen.embedding.embedding[...])[0])
exercises.check_largest_embedding_coordinate(int(e0.argmax()), digit=0);
mean0, _ = coordinate_influence(gen, 0, base_z)
print("largest |e_0,i|:", int(e0.argmax()), " most influential (measured):", int(mean0.argmax()),
      " rank of the first among the measured:", int(np.flatnonzero(np.argsort(-mean0) == e0.argmax())[0]) + 1)
assert int(e0.argmax()) == 28 and int(mean0.argmax()) == 50

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: the untrained generator is at chance on class accuracy (0.10), its Fréchet ratio is
# about 128 (against under 2 for the pretrained one) and its diversity is 0: flat grey, whatever
# the class or z.
from flax import nnx

raw = models.Generator(rngs=nnx.Rngs(0))
raw.eval()
r0 = evaluation.evaluate_generator(raw, judge, per_class=20, seed=0, with_diversity=True)
print(f"untrained: accuracy {r0['class_accuracy']:.2f}, Fréchet ratio {r0['frechet_ratio']:.1f}, "
      f"min diversity {min(r0['diversity_ratio_per_class'].values()):.2f}")
assert r0["class_accuracy"] < 0.2 and r0["frechet_ratio"] > 50

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: in inference mode (running statistics) the flat blobs are all, or nearly all, judged
# an "8". Training mode (batch statistics) gives the images strokes (notebook 6, section 6), but
# the judge still reads the requested digit only for class 8, and calls more than 90 % of them
# "8" (printed). Yet the early run's log says its own discriminator read the requested label
# from 98 % of the generator step's fakes at iteration 200 (`g_class_accuracy`): the generator
# already marks each label in a way its discriminator reads, not yet as a digit that a classifier
# of real digits recognises. Class 8 scores 1.0 only because the judge calls almost everything 8.
g200 = checkpoint.load_generator(pretrained.EARLY_RUN_DIR / "generator_0200")
z200 = models.sample_latent(jax.random.key(7), len(requested))
for mode, imgs in (("inference", models.generate(g200, requested, z=z200)),
                   ("training", nnx.clone(g200)(z200, jnp.asarray(requested), train=True))):
    j = evaluation.judge_outputs(judge, np.asarray(imgs))[0].argmax(-1)
    c = np.zeros((10, 10), int)
    np.add.at(c, (requested, j), 1)
    print(f"{mode:>9} mode: judged as requested per class", (np.diag(c) / PER_CLASS).round(2).tolist(),
          f"| called 8: {int(np.sum(j == 8))} of {len(j)}")
    per_class, eights = np.diag(c) / PER_CLASS, float(np.mean(j == 8))
    if mode == "inference":
        assert eights > 0.95, eights
    else:
        assert set(np.flatnonzero(per_class > 0.5).tolist()) == {8} and eights > 0.9, (per_class, eights)
early_log = np.genfromtxt(pretrained.EARLY_RUN_DIR / "losses.csv", delimiter=",", names=True)
g_acc_200 = float(early_log["g_class_accuracy"][early_log["step"] == 200][0])
print(f"early run, iteration 200: the discriminator read the requested label from {g_acc_200:.0%} of G's fakes")
assert 0.97 < g_acc_200 < 0.99, g_acc_200
