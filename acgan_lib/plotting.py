"""Pictures: digit grids (as arrays, PNG files or matplotlib figures) and loss curves."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import files
from .data import to_pixels


def tile(images: np.ndarray, ncols: int, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """(N, 28, 28, 1) float in [-1, 1] -> one (rows*30, ncols*30) uint8 image, row-major."""
    pix = to_pixels(np.asarray(images))
    n, h, w = pix.shape
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = pix[i]
    return out


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A uint8 grey image (H, W) as PNG file contents (H*scale, W*scale), in memory.

    The package's one PNG encoder (matplotlib's ``imsave``), lossless: an RGBA PNG whose R = G = B
    are exactly the grey levels (given as RGBA bytes, not through a colormap, which can round a
    level down by one). :func:`save_png` writes it to a file, the demo page sends it as a data URL."""
    import io

    import matplotlib.image

    image = np.asarray(image, np.uint8)
    big = np.kron(image, np.ones((scale, scale), np.uint8)) if scale > 1 else image
    rgba = np.stack([big, big, big, np.full_like(big, 255)], axis=-1)
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, rgba, format="png")
    return buf.getvalue()


def save_png(image: np.ndarray, path: str | Path, scale: int = 2) -> Path:
    """Write a uint8 grey image (H, W) as PNG, atomically (temporary file + rename)."""
    path = Path(path)
    data = png_bytes(image, scale)
    with files.atomic_write(path, "wb") as f:
        f.write(data)
    return path


def show_grid(images: np.ndarray, ncols: int, *, title: str | None = None,
              col_labels: Sequence | None = None, row_labels: Sequence | None = None,
              ax=None, scale: float = 0.6):
    """Show (N, 28, 28, 1) digits in a grid on a matplotlib axis; returns the axis."""
    import matplotlib.pyplot as plt

    grid = tile(images, ncols)
    nrows = -(-len(images) // ncols)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.0, ncols * scale), max(2.0, nrows * scale)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([] if col_labels is None else [2 + 30 * i + 14 for i in range(ncols)])
    ax.set_yticks([] if row_labels is None else [2 + 30 * i + 14 for i in range(nrows)])
    if col_labels is not None:
        ax.set_xticklabels([str(c) for c in col_labels])
        ax.xaxis.tick_top()
    if row_labels is not None:
        ax.set_yticklabels([str(r) for r in row_labels])
    ax.tick_params(length=0)
    if title:
        ax.set_title(title)
    return ax


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (same length), for noisy per-step losses."""
    values = np.asarray(values, float)
    if window <= 1 or len(values) < 2:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_losses(log: Mapping[str, np.ndarray], *, window: int = 10, axes=None):
    """Discriminator and generator losses (realness / class terms) against step; returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    steps = np.asarray(log["step"])
    for ax, who in zip(axes, ("d", "g")):
        for term, style in (("loss", "-"), ("realness_loss", "--"), ("class_loss", ":")):
            key = f"{who}_{term}"
            if key in log and len(log[key]):
                ax.plot(steps, smooth(log[key], window), style, label=term)
        ax.set_title({"d": "discriminator", "g": "generator"}[who] + f" (moving average of {window})")
        ax.set_xlabel("iteration")
        ax.legend()
    return axes


def binary_entropy(p: float) -> float:
    """H(p) = -p ln p - (1 - p) ln(1 - p): the smallest binary cross-entropy against target p (nats)."""
    return float(-sum(q * np.log(q) for q in (p, 1.0 - p) if q > 0)) + 0.0   # + 0.0: no "-0.0" for p = 1


def loss_reference_levels(soft_one: float = 0.95, num_classes: int = 10) -> dict[str, float]:
    """Values worth drawing on every loss plot (nats).

    ``d_realness_floor``: the discriminator's realness loss at its minimum on a half-real
    (target ``soft_one``) / half-fake (target 0) batch, H(soft_one) / 2; ``g_realness_floor``: the
    generator's, all targets ``soft_one``, H(soft_one); ``ln2``: either realness loss when the
    discriminator says 0.5 for every image, ln 2 (not the equilibrium: see the next two);
    ``d_at_equilibrium`` / ``g_at_equilibrium``: the realness losses where fakes and reals are
    indistinguishable and the discriminator is at its best, which with a soft target says
    D* = soft_one / 2, not 0.5 (notebook 1, "reference values"): 0.692 / 0.739 for 0.95, both ln 2
    for 1.0; ``untrained_class``: a class head that spreads its probability evenly, ln(num_classes).
    """
    d_star = soft_one / 2

    def bce(p: float, t: float) -> float:
        return float(-t * np.log(p) - (1 - t) * np.log(1 - p))

    return {"d_realness_floor": binary_entropy(soft_one) / 2, "g_realness_floor": binary_entropy(soft_one),
            "ln2": float(np.log(2.0)),
            "d_at_equilibrium": (bce(d_star, soft_one) + bce(d_star, 0.0)) / 2,
            "g_at_equilibrium": bce(d_star, soft_one),
            "untrained_class": float(np.log(num_classes))}


def add_loss_references(axes, soft_one: float = 0.95, num_classes: int = 10) -> None:
    """Draw :func:`loss_reference_levels` on the (discriminator, generator) axes of :func:`plot_losses`."""
    lv = loss_reference_levels(soft_one, num_classes)
    for ax, floor, who in zip(axes, (lv["d_realness_floor"], lv["g_realness_floor"]), ("D", "G")):
        ax.axhline(floor, color="tab:green", lw=1, ls="-.", label=f"{who} realness minimum {floor:.3f}")
        ax.axhline(lv["ln2"], color="grey", lw=1, ls="-.", label=f"ln 2 = {lv['ln2']:.3f} (D says 0.5)")
        if who == "G":   # D's equilibrium value (0.692) would sit on the ln 2 line
            ax.axhline(lv["g_at_equilibrium"], color="tab:purple", lw=1, ls=":",
                       label=f"G at the equilibrium {lv['g_at_equilibrium']:.3f} (D says {soft_one / 2:g})")
        ax.axhline(lv["untrained_class"], color="tab:red", lw=1, ls="-.",
                   label=f"ln {num_classes} = {lv['untrained_class']:.2f} (class head guessing)")
        ax.set_ylabel("loss (nats)")
        ax.legend(fontsize=8, loc="best")
