"""Drawn figures for notebook 3: the two networks as block diagrams, a transposed convolution as overlap-add.

Matplotlib only. The shapes and parameter counts on the blocks come from the models themselves
(:func:`acgan_lib.models.summary_rows`, which traces a batch of one with ``jax.eval_shape``), so a
change to the architecture changes the drawing.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

from acgan_lib import models

_COLOURS = {"embedding": "#c6dbef", "dense": "#fdd0a2", "deconv": "#c7e9c0", "conv": "#dadaeb",
            "flatten": "#f0f0f0", "head": "#fcbba1", "input": "#ffffff", "z": "#ffffff"}


def _colour(name: str) -> str:
    for key in ("embedding(", "dense", "deconv", "conv", "flatten", "head"):
        if key in name:
            return _COLOURS[key.rstrip("(")]
    return _COLOURS["z"]


def _block_height(shape: tuple[int, ...]) -> float:
    """Drawn height: grows with the spatial size of an (H, W, C) map; vectors are drawn as thin bars."""
    if len(shape) == 3:
        return 0.35 + 0.65 * shape[0] / 28
    return 0.9


def _block(ax, x: float, y: float, name: str, shape: tuple[int, ...], params: int, width: float = 1.0) -> str:
    """One layer as a box centred at height ``y``: name above, output shape inside, parameters below."""
    h = _block_height(shape)
    ax.add_patch(Rectangle((x, y - h / 2), width, h, facecolor=_colour(name), edgecolor="black", lw=1))
    shape_text = str(tuple(shape))
    ax.text(x + width / 2, y + h / 2 + 0.06, name.replace(" + ", "\n+ "), ha="center", va="bottom", fontsize=7.5)
    ax.text(x + width / 2, y, shape_text, ha="center", va="center", fontsize=8, fontweight="bold")
    ax.text(x + width / 2, y - h / 2 - 0.06, f"{params:,} params" if params else "no params",
            ha="center", va="top", fontsize=7, color="dimgrey")
    return shape_text


def _arrow(ax, start, end) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="black"))


Block = tuple[str, tuple[int, ...], int]


def _draw_chain(ax, chain: list[Block], title: str, side: tuple[int, Block] | None = None,
                heads: list[Block] | None = None) -> list[str]:
    """Draw ``chain`` left to right with arrows; ``side`` = (index, block) feeds that chain block from above;
    ``heads`` branch in parallel from the last block. Returns the shape labels drawn, in order
    (chain, then the side input after the block it feeds, then the heads)."""
    width, gap = 1.3, 0.55
    labels: list[str] = []
    for i, (name, shape, params) in enumerate(chain):
        x = i * (width + gap)
        labels.append(_block(ax, x, 0.0, name, shape, params, width))
        if i:
            _arrow(ax, (x - gap + 0.05, 0), (x - 0.05, 0))
        if side is not None and side[0] == i:
            s_name, s_shape, s_params = side[1]
            sx = x - (width + gap)
            labels.append(_block(ax, sx, 1.9, s_name, s_shape, s_params, width))
            _arrow(ax, (sx + width, 1.9), (x + width / 2, _block_height(chain[i][1]) / 2 + 0.35))
    last_x = (len(chain) - 1) * (width + gap)
    for k, (name, shape, params) in enumerate(heads or []):
        y = 1.0 if k == 0 else -1.0
        hx = last_x + width + gap
        labels.append(_block(ax, hx, y, name, shape, params, width))
        _arrow(ax, (last_x + width + 0.05, 0), (hx - 0.05, y))
    n_cols = len(chain) + (1 if heads else 0)
    ax.set_xlim(-0.2, n_cols * (width + gap) - gap + 0.2)
    ax.set_ylim(-1.9, 2.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return labels


def generator_blocks(gen: models.Generator, disc: models.Discriminator) -> tuple[list[Block], Block]:
    """The generator's chain (label first) and the latent ``z`` that joins it at the product.

    Each block is (name, output shape without the batch axis, trainable parameters), from
    :func:`acgan_lib.models.summary_rows`.
    """
    rows = models.summary_rows(gen, disc)["generator"]
    chain = [("label", (1,), 0)] + [(r.name, r.shape, r.params) for r in rows]
    return chain, ("z (latent)", (gen.latent_dim,), 0)


def discriminator_blocks(gen: models.Generator, disc: models.Discriminator) -> tuple[list[Block], list[Block]]:
    """The discriminator's chain (image first, up to the flattened features) and its two heads."""
    rows = [(r.name, r.shape, r.params) for r in models.summary_rows(gen, disc)["discriminator"]]
    return [("image", tuple(models.IMAGE_SHAPE), 0)] + rows[:-2], rows[-2:]


def draw_networks(gen: models.Generator, disc: models.Discriminator):
    """Both networks as block diagrams (shapes from the models). Returns (figure, {net: [shape label, ...]}).

    The generator's labels list the chain from the label, with ``z`` right after the product it
    feeds; the discriminator's list the chain from the image, then the realness and class heads.
    """
    g_chain, z_block = generator_blocks(gen, disc)
    d_chain, heads = discriminator_blocks(gen, disc)
    n = max(len(g_chain), len(d_chain) + 1)
    fig, axes = plt.subplots(2, 1, figsize=(1.75 * n, 6.6))
    product = next(i for i, b in enumerate(g_chain) if b[0].startswith("z *"))
    shapes = {"generator": _draw_chain(axes[0], g_chain, "generator: (label, z) -> image", side=(product, z_block)),
              "discriminator": _draw_chain(axes[1], d_chain, "discriminator: image -> two heads", heads=heads)}
    fig.tight_layout()
    return fig, shapes


def overlap_add_1d(x: np.ndarray, w: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D transposed convolution as overlap-add: (contributions (len(x), L), output (L,)).

    Input pixel ``i`` adds ``x[i] * w`` into the output at positions ``stride*i .. stride*i + len(w) - 1``
    (L = stride*(len(x) - 1) + len(w), the "VALID" output). The output is the sum over the rows.
    """
    x, w = np.asarray(x, float), np.asarray(w, float)
    length = stride * (len(x) - 1) + len(w)
    rows = np.zeros((len(x), length))
    for i, xi in enumerate(x):
        rows[i, stride * i: stride * i + len(w)] = xi * w
    return rows, rows.sum(0)


def draw_overlap_add(x=(1.0, 2.0, -1.0), w=(0.5, 1.0, 0.5), stride: int = 2):
    """Draw the overlap-add of :func:`overlap_add_1d`: one row per input pixel, their sum at the bottom.

    Returns (figure, output). Where two rows overlap (the kernel is longer than the stride), the
    output adds both; with stride 2 and a length-3 kernel every other output position gets two terms.
    """
    rows, out = overlap_add_1d(np.asarray(x), np.asarray(w), stride)
    n, length = rows.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * length, 0.75 * (n + 2.2)))
    cmap = plt.get_cmap("tab10")
    for i in range(n):
        y = n - i
        ax.text(-0.6, y, f"x[{i}] = {x[i]:g}  ×  w", ha="right", va="center", fontsize=9, color=cmap(i))
        for j in range(length):
            inside = stride * i <= j < stride * i + len(w)
            ax.add_patch(Rectangle((j - 0.45, y - 0.35), 0.9, 0.7, facecolor=cmap(i) if inside else "white",
                                   alpha=0.35 if inside else 1.0, edgecolor="lightgrey"))
            if inside:
                ax.text(j, y, f"{rows[i, j]:g}", ha="center", va="center", fontsize=9)
    ax.plot([-0.5, length - 0.5], [0.55, 0.55], color="black", lw=1)
    for j in range(length):
        terms = int(np.count_nonzero([stride * i <= j < stride * i + len(w) for i in range(n)]))
        ax.add_patch(Rectangle((j - 0.45, -0.35), 0.9, 0.7, facecolor="#f0f0f0", edgecolor="black"))
        ax.text(j, 0, f"{out[j]:g}", ha="center", va="center", fontsize=9, fontweight="bold")
        ax.text(j, -0.6, f"{terms} term{'s' if terms != 1 else ''}", ha="center", va="top", fontsize=7, color="dimgrey")
    ax.text(-0.6, 0, "output = sum", ha="right", va="center", fontsize=9, fontweight="bold")
    ax.set_xlim(-4.6, length)
    ax.set_ylim(-1.1, n + 0.7)
    ax.axis("off")
    ax.set_title(f"transposed convolution, stride {stride}, kernel w = {list(w)}:\neach input pixel adds a "
                 f"scaled copy of w, {stride} positions further on; overlaps add up", fontsize=9)
    fig.tight_layout()
    return fig, out
