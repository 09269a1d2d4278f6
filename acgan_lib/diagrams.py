"""Drawn figures: the two networks as block diagrams and a transposed convolution as overlap-add
(notebook 3); the ACGAN idea, the discriminator's and the generator's training steps, and a
conditional GAN beside ACGAN as flow diagrams (notebooks 1, 4 and 5).

Matplotlib only. The shapes and parameter counts on the blocks come from the models themselves
(:func:`acgan_lib.models.summary_rows`, which traces a batch of one with ``jax.eval_shape``), so a
change to the architecture changes the drawing. The flow diagrams label their tensors with shapes
built from :mod:`acgan_lib.models`' constants and :data:`acgan_lib.training.BATCH_SIZE` (B).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from acgan_lib import models, training

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


# ----------------------------------------------------------------------------- flow diagrams (notebooks 1, 4 and 5)
# Boxes are placed in inches (each axes spans its figure's size in inches, aspect 1), so a box's
# size and its text's size can be compared directly: 9 pt is 1/8 inch.

_FLOW_COLOURS = {"tensor": "#ffffff", "net": "#c7e9c0", "disc": "#dadaeb", "frozen": "#d9d9d9",
                 "loss": "#fdd0a2", "grad": "#fcbba1"}
FROZEN_HATCH = "///"
UPDATE_COLOUR = "#cb181d"
_LINE = 0.21          # inches between two text lines in a box


def shape_label(batch: str, *dims: int) -> str:
    """A tensor's shape with a symbolic batch axis, written like a Python tuple: ``"(2B, 28, 28, 1)"``, ``"(B,)"``."""
    return "(" + ", ".join([batch, *(str(d) for d in dims)]) + ("," if not dims else "") + ")"


def _flow_axes(ax, width: float, height: float) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")


def _node(ax, x: float, y: float, w: float, h: float, lines: list[tuple[str, dict]], kind: str,
          gid: str | None = None) -> FancyBboxPatch:
    """A box of ``kind`` centred at (x, y), size (w, h) inches, its ``lines`` of text stacked in the middle.

    Each line is (text, matplotlib text keywords). A frozen box is grey and hatched, its text on
    white so the hatching does not cross the letters.
    """
    frozen = kind == "frozen"
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                           facecolor=_FLOW_COLOURS[kind], edgecolor="dimgrey" if frozen else "black",
                           hatch=FROZEN_HATCH if frozen else None, gid=gid,
                           lw=1.6 if kind in ("net", "disc", "frozen") else 1.0)
    ax.add_patch(patch)
    top = y + (len(lines) - 1) * _LINE / 2
    for i, (text, style) in enumerate(lines):
        style = {"fontsize": 9, **style}
        if frozen:
            style["bbox"] = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}
        ax.text(x, top - i * _LINE, text, ha="center", va="center", **style)
    return patch


def _tensor(ax, x: float, y: float, name: str, shape: str, w: float = 1.5) -> FancyBboxPatch:
    """A tensor: its name, and its shape in bold below it."""
    return _node(ax, x, y, w, 0.62, [(name, {}), (shape, {"fontweight": "bold"})], "tensor")


def _update_node(ax, x: float, y: float, net: str) -> FancyBboxPatch:
    """The optimizer step, "update <net> only" in the update colour."""
    return _node(ax, x, y, 2.0, 0.62, [("Adam step", {}), (f"update {net} only", {"fontweight": "bold",
                                                                                  "color": UPDATE_COLOUR})],
                 "grad", gid="update")


def _edge(patch: FancyBboxPatch, side: str, frac: float = 0.5) -> tuple[float, float]:
    """A point on one side of a box: ``side`` in left/right/top/bottom, ``frac`` along it (0 = bottom / left)."""
    x0, y0, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
    return {"left": (x0, y0 + frac * h), "right": (x0 + w, y0 + frac * h),
            "bottom": (x0 + frac * w, y0), "top": (x0 + frac * w, y0 + h)}[side]


def _flow_arrow(ax, start, end, colour: str = "black", lw: float = 1.2, gid: str | None = None,
                **kwargs) -> FancyArrowPatch:
    """An arrow from ``start`` to ``end`` (inches); ``kwargs`` go to FancyArrowPatch (e.g. ``connectionstyle``)."""
    arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=colour, lw=lw,
                            shrinkA=0, shrinkB=1, gid=gid, **kwargs)
    ax.add_patch(arrow)
    return arrow


def draw_acgan_idea(batch_size: int = training.BATCH_SIZE, latent_dim: int = models.LATENT_DIM,
                    num_classes: int = models.NUM_CLASSES,
                    image_shape: tuple[int, ...] = models.IMAGE_SHAPE) -> Figure:
    """The ACGAN idea as a flow diagram: (z, class c) -> G -> fake; real and fake -> D -> two heads -> two losses.

    Shapes are those of one discriminator step of the library: ``batch_size`` (B) real digits and
    B fakes, stacked into one batch of 2B (:func:`acgan_lib.training.discriminator_targets`).
    Returns the figure (open in pyplot: ``plt.show()`` or ``plt.close`` it).
    """
    fig, ax = plt.subplots(figsize=(11.0, 3.3))
    fig.subplots_adjust(0, 0, 1, 1)
    _flow_axes(ax, 11.0, 3.3)
    z = _tensor(ax, 0.85, 2.55, "latent z", shape_label("B", latent_dim), w=1.4)
    c = _tensor(ax, 0.85, 1.6, f"class c (0…{num_classes - 1})", shape_label("B"), w=1.4)
    g = _node(ax, 2.6, 2.075, 1.2, 1.6, [("G", {"fontsize": 13, "fontweight": "bold"}), ("generator", {})], "net",
              gid="G")
    fake = _tensor(ax, 4.35, 2.075, "fake image", shape_label("B", *image_shape), w=1.5)
    real = _tensor(ax, 4.35, 0.65, "real image", shape_label("B", *image_shape), w=1.5)
    d = _node(ax, 6.3, 1.35, 1.5, 1.75, [("D", {"fontsize": 13, "fontweight": "bold"}), ("discriminator", {}),
                                        ("sees real + fake:", {"fontsize": 8}),
                                        (shape_label("2B", *image_shape), {"fontsize": 8, "fontweight": "bold"})],
              "disc", gid="D")
    realness = _tensor(ax, 8.1, 2.1, "realness logit", shape_label("2B"), w=1.45)
    classes = _tensor(ax, 8.1, 0.6, "class logits", shape_label("2B", num_classes), w=1.45)
    bce = _node(ax, 9.95, 2.1, 1.85, 0.62, [("binary cross-entropy", {}), ("target: real or fake", {"fontsize": 8})],
                "loss")
    sce = _node(ax, 9.95, 0.6, 1.85, 0.62, [("sparse categorical CE", {}),
                                            (f"target: the digit 0…{num_classes - 1}", {"fontsize": 8})], "loss")
    _flow_arrow(ax, _edge(z, "right"), _edge(g, "left", 0.7))
    _flow_arrow(ax, _edge(c, "right"), _edge(g, "left", 0.3))
    _flow_arrow(ax, _edge(g, "right"), _edge(fake, "left"))
    _flow_arrow(ax, _edge(fake, "right"), _edge(d, "left", 0.75))
    _flow_arrow(ax, _edge(real, "right"), _edge(d, "left", 0.25))
    _flow_arrow(ax, _edge(d, "right", 0.75), _edge(realness, "left"))
    _flow_arrow(ax, _edge(d, "right", 0.25), _edge(classes, "left"))
    _flow_arrow(ax, _edge(realness, "right"), _edge(bce, "left"))
    _flow_arrow(ax, _edge(classes, "right"), _edge(sce, "left"))
    ax.text(5.5, 3.2, f"shapes for one discriminator step: B = {batch_size} real digits (the batch size) and B fakes; "
            "the generator's step sends only fakes through D", ha="center", va="top", fontsize=9, color="dimgrey")
    return fig


def _two_losses_to_update(ax, net, realness, classes, bce, sce, total, grad, update) -> None:
    """The arrows both training steps share: the network's two heads -> their losses -> sum -> ∇ -> update."""
    for a, b in [(_edge(net, "right", 0.8), _edge(realness, "left")),
                 (_edge(net, "right", 0.2), _edge(classes, "left")),
                 (_edge(realness, "right"), _edge(bce, "left")), (_edge(classes, "right"), _edge(sce, "left")),
                 (_edge(sce, "bottom"), _edge(total, "top")), (_edge(total, "left"), _edge(grad, "right")),
                 (_edge(grad, "left"), _edge(update, "right"))]:
        _flow_arrow(ax, a, b)
    # the realness loss joins the sum around the right of the class loss
    _flow_arrow(ax, _edge(bce, "right"), _edge(total, "right"),
                connectionstyle="arc,angleA=0,angleB=0,armA=18,armB=18,rad=6")


def draw_generator_step(batch_size: int = training.BATCH_SIZE, latent_dim: int = models.LATENT_DIM,
                        num_classes: int = models.NUM_CLASSES, image_shape: tuple[int, ...] = models.IMAGE_SHAPE,
                        soft_one: float = training.SOFT_ONE) -> Figure:
    """One generator step as a flow diagram: forward through the frozen discriminator, the update back to G.

    Shapes for the reference's generator batch of 2B = ``2 * batch_size``
    (:func:`acgan_lib.training.generator_loss_terms`). The discriminator is drawn grey and hatched,
    labelled "frozen"; the red arrow marks where the update goes (G only).
    Returns the figure (open in pyplot: ``plt.show()`` or ``plt.close`` it).
    """
    fig, ax = plt.subplots(figsize=(11.0, 4.5))
    fig.subplots_adjust(0, 0, 1, 1)
    _flow_axes(ax, 11.0, 4.5)
    y = 2.95
    z = _tensor(ax, 0.8, y + 0.5, "latent z", shape_label("2B", latent_dim), w=1.3)
    labels = _tensor(ax, 0.8, y - 0.5, "labels", shape_label("2B"), w=1.3)
    g = _node(ax, 2.45, y, 1.25, 1.7, [("G", {"fontsize": 13, "fontweight": "bold"}), ("generator", {}),
                                       ("training mode", {"fontsize": 8})], "net", gid="G")
    images = _tensor(ax, 4.2, y, "images", shape_label("2B", *image_shape), w=1.5)
    d = _node(ax, 6.0, y, 1.4, 1.7, [("D", {"fontsize": 13, "fontweight": "bold"}),
                                     ("frozen", {"fontweight": "bold"}), ("not updated", {"fontsize": 8}),
                                     ("dropout on", {"fontsize": 8})], "frozen", gid="frozen")
    realness = _tensor(ax, 7.85, y + 0.6, "realness logit", shape_label("2B"), w=1.45)
    classes = _tensor(ax, 7.85, y - 0.6, "class logits", shape_label("2B", num_classes), w=1.45)
    bce = _node(ax, 9.8, y + 0.6, 1.75, 0.62, [("BCE", {}), (f"vs {soft_one:g} (\"real\")", {"fontsize": 8})], "loss")
    sce = _node(ax, 9.8, y - 0.6, 1.75, 0.62, [("sparse CE", {}), ("vs labels", {"fontsize": 8})], "loss")
    total = _node(ax, 9.8, 0.75, 1.75, 0.62, [("sum", {}), ("loss_G", {"fontsize": 8})], "loss")
    grad = _node(ax, 6.6, 0.75, 2.3, 0.62, [("∇ of loss_G", {}), ("w.r.t. G's parameters only", {"fontsize": 8})],
                 "grad")
    update = _update_node(ax, 3.5, 0.75, "G")
    for a, b in [(_edge(z, "right"), _edge(g, "left", 0.75)), (_edge(labels, "right"), _edge(g, "left", 0.25)),
                 (_edge(g, "right"), _edge(images, "left")), (_edge(images, "right"), _edge(d, "left"))]:
        _flow_arrow(ax, a, b)
    _two_losses_to_update(ax, d, realness, classes, bce, sce, total, grad, update)
    _flow_arrow(ax, _edge(update, "left", 0.5), _edge(g, "bottom"), colour=UPDATE_COLOUR, lw=2.2, gid="update-G",
                connectionstyle="angle,angleA=180,angleB=90,rad=8")
    ax.text(5.5, 4.4, f"one generator step: 2B = {2 * batch_size} generated digits (B = training.BATCH_SIZE); "
            "labels are both G's input and the class target", ha="center", va="top", fontsize=9, color="dimgrey")
    return fig


def draw_discriminator_step(batch_size: int = training.BATCH_SIZE, latent_dim: int = models.LATENT_DIM,
                            num_classes: int = models.NUM_CLASSES, image_shape: tuple[int, ...] = models.IMAGE_SHAPE,
                            soft_one: float = training.SOFT_ONE, soft_zero: float = training.SOFT_ZERO) -> Figure:
    """One discriminator step as a flow diagram: B real and B generated digits -> D -> two losses -> update D only.

    Shapes for B = ``batch_size`` real digits; the frozen generator draws B fakes in inference mode
    and the discriminator sees the 2B stacked (:func:`acgan_lib.training.discriminator_targets`).
    The generator is drawn grey and hatched, labelled "frozen"; the red arrow marks where the
    update goes (D only). Returns the figure (open in pyplot: ``plt.show()`` or ``plt.close`` it).
    """
    fig, ax = plt.subplots(figsize=(11.0, 4.35))
    fig.subplots_adjust(0, 0, 1, 1)
    _flow_axes(ax, 11.0, 4.35)
    z = _tensor(ax, 0.8, 2.65, "latent z", shape_label("B", latent_dim), w=1.3)
    sampled = _tensor(ax, 0.8, 1.75, "sampled labels", shape_label("B"), w=1.3)
    g = _node(ax, 2.45, 2.2, 1.25, 1.5, [("G", {"fontsize": 13, "fontweight": "bold"}),
                                         ("frozen", {"fontweight": "bold"}), ("inference mode", {"fontsize": 8})],
              "frozen", gid="frozen")
    fake = _tensor(ax, 4.2, 2.2, "fake images", shape_label("B", *image_shape), w=1.5)
    real = _tensor(ax, 4.2, 3.55, "real images", shape_label("B", *image_shape), w=1.5)
    d = _node(ax, 6.05, 2.9, 1.5, 1.8, [("D", {"fontsize": 13, "fontweight": "bold"}), ("dropout on", {"fontsize": 8}),
                                        ("sees real + fake:", {"fontsize": 8}),
                                        (shape_label("2B", *image_shape), {"fontsize": 8, "fontweight": "bold"})],
              "disc", gid="D")
    realness = _tensor(ax, 7.9, 3.5, "realness logit", shape_label("2B"), w=1.45)
    classes = _tensor(ax, 7.9, 2.3, "class logits", shape_label("2B", num_classes), w=1.45)
    bce = _node(ax, 9.85, 3.5, 1.75, 0.62, [("BCE", {}), (f"vs {soft_one:g} real | {soft_zero:g} fake",
                                                          {"fontsize": 8})], "loss")
    sce = _node(ax, 9.85, 2.3, 1.75, 0.62, [("sparse CE", {}), ("vs real | sampled labels", {"fontsize": 8})], "loss")
    total = _node(ax, 9.85, 0.75, 1.75, 0.62, [("sum", {}), ("loss_D", {"fontsize": 8})], "loss")
    grad = _node(ax, 7.45, 0.75, 2.3, 0.62, [("∇ of loss_D", {}), ("w.r.t. D's parameters only", {"fontsize": 8})],
                 "grad")
    update = _update_node(ax, 4.9, 0.75, "D")
    for a, b in [(_edge(z, "right"), _edge(g, "left", 0.75)), (_edge(sampled, "right"), _edge(g, "left", 0.25)),
                 (_edge(g, "right"), _edge(fake, "left")),
                 (_edge(fake, "right"), _edge(d, "left", 0.3)), (_edge(real, "right"), _edge(d, "left", 0.7))]:
        _flow_arrow(ax, a, b)
    _two_losses_to_update(ax, d, realness, classes, bce, sce, total, grad, update)
    x_up = 5.55
    _flow_arrow(ax, (x_up, _edge(update, "top")[1]), (x_up, _edge(d, "bottom")[1]), colour=UPDATE_COLOUR, lw=2.2,
                gid="update-D")
    ax.text(5.5, 4.25, f"one discriminator step: B = {batch_size} real digits (training.BATCH_SIZE) "
            "and B fakes from the frozen generator", ha="center", va="top", fontsize=9, color="dimgrey")
    return fig


def draw_cgan_vs_acgan(batch_size: int = training.BATCH_SIZE, num_classes: int = models.NUM_CLASSES,
                       image_shape: tuple[int, ...] = models.IMAGE_SHAPE) -> Figure:
    """Two panels: a conditional GAN's D(image, label) -> realness of the pair; ACGAN's D(image) -> realness, class.

    Shapes for a batch of B = ``batch_size`` images. Returns the figure (open in pyplot).
    """
    width, height = 5.5, 3.1
    fig, (left, right) = plt.subplots(1, 2, figsize=(2 * width, height))
    fig.subplots_adjust(0, 0, 1, 1, wspace=0)
    for ax in (left, right):
        _flow_axes(ax, width, height)
    mid = 1.45
    # conditional GAN: the label is an input
    image = _tensor(left, 0.85, mid + 0.55, "image", shape_label("B", *image_shape), w=1.5)
    label = _tensor(left, 0.85, mid - 0.55, "label", shape_label("B"), w=1.5)
    d = _node(left, 2.65, mid, 1.0, 1.5, [("D", {"fontsize": 13, "fontweight": "bold"})], "disc")
    pair = _tensor(left, 4.45, mid, "realness of the pair", shape_label("B"), w=1.75)
    _flow_arrow(left, _edge(image, "right"), _edge(d, "left", 0.75))
    _flow_arrow(left, _edge(label, "right"), _edge(d, "left", 0.25))
    _flow_arrow(left, _edge(d, "right"), _edge(pair, "left"))
    left.text(width / 2, height - 0.1, "conditional GAN (Mirza & Osindero 2014)", ha="center", va="top",
              fontsize=10, fontweight="bold")
    left.text(width / 2, 0.15, "the label is an input: is this (image, label) a real pair?", ha="center",
              va="bottom", fontsize=9, color="dimgrey")
    # ACGAN: the label is predicted
    image = _tensor(right, 0.85, mid, "image", shape_label("B", *image_shape), w=1.5)
    d = _node(right, 2.65, mid, 1.0, 1.5, [("D", {"fontsize": 13, "fontweight": "bold"})], "disc")
    realness = _tensor(right, 4.45, mid + 0.55, "realness logit", shape_label("B"), w=1.75)
    classes = _tensor(right, 4.45, mid - 0.55, "class logits", shape_label("B", num_classes), w=1.75)
    _flow_arrow(right, _edge(image, "right"), _edge(d, "left"))
    _flow_arrow(right, _edge(d, "right", 0.75), _edge(realness, "left"))
    _flow_arrow(right, _edge(d, "right", 0.25), _edge(classes, "left"))
    right.text(width / 2, height - 0.1, "ACGAN (Odena et al. 2017)", ha="center", va="top", fontsize=10,
               fontweight="bold")
    right.text(width / 2, 0.15, "the label is predicted: it is the class head's target", ha="center",
               va="bottom", fontsize=9, color="dimgrey")
    right.axvline(0.02, color="lightgrey", lw=1)
    return fig
