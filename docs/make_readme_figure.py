"""Render docs/samples.png, the picture at the top of the README, from the shipped generator.

    python docs/make_readme_figure.py            # writes docs/samples.png

Four rows of the ten digit classes drawn by acgan_lib/assets/pretrained_generator: each column asks
for one class, each row reuses one random latent vector z across its ten digits, so a row shows one
"style" (stroke width, slant) applied to every class. Seeded, so it is reproducible on one machine.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from acgan_lib import checkpoint, models, plotting, pretrained  # noqa: E402

ROWS = 4
SEED = 0
DPI = 100
OUT = Path(__file__).resolve().parent / "samples.png"


def sample_grid(rows: int = ROWS, seed: int = SEED) -> np.ndarray:
    """(rows * 10, 28, 28, 1) digits in [-1, 1], row-major: row r uses one z for classes 0..9."""
    gen = checkpoint.load_generator(pretrained.GENERATOR_DIR)
    n_cls = gen.num_classes
    z = np.repeat(np.asarray(models.sample_latent(jax.random.key(seed), rows, gen.latent_dim)), n_cls, axis=0)
    labels = np.tile(np.arange(n_cls), rows)
    return models.generate(gen, labels, z=z)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    images = sample_grid()
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    plotting.show_grid(images, ncols=10, ax=ax, col_labels=range(10),
                       row_labels=[f"z{i + 1}" for i in range(ROWS)],
                       title="Digits drawn by the shipped ACGAN generator\n"
                             "(column: the class asked for; row: one latent vector z)")
    ax.tick_params(labelsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
