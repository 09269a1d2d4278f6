"""Measuring generated digits with the independent digit judge (:mod:`acgan_lib.judge`).

Metrics for a generator (``evaluate_generator``):

* **class accuracy** - the judge's accuracy on generated digits, scored against the class the
  generator was asked to draw; overall and per class.
* **Fréchet distance** - between Gaussian fits of the judge's penultimate-layer features
  (128-d) of generated digits and of real held-out digits (the "FID" recipe with a digit
  network), together with the **real-vs-real floor**: the same distance between two disjoint
  real sets of the same size, so "good" has a scale.
* **diversity** - per class, the mean pairwise feature distance of generated digits divided by
  that of real digits of the class; about 1 is healthy, near 0 is mode collapse.
"""
from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np

from . import data, models
from .judge import DigitJudge, judge_outputs, judge_split, load_judge

# A matrix square root of a product of two covariance matrices is real in exact arithmetic; float
# rounding leaves small imaginary parts. Larger ones mean the covariances are not what we think.
MAX_IMAGINARY_FRACTION = 1e-3
MIN_PER_CLASS = 2    # the diversity ratio compares pairs, the covariance needs two samples
CHUNK = 1000         # digits generated (and feature rows compared) per piece: memory stays ~constant


class GeneratorOutputError(ValueError):
    """The generator drew NaN or infinite pixels (its weights are finite but blow up): nothing to score."""


def generate_in_chunks(gen: models.Generator, labels: np.ndarray, key: jax.Array, chunk: int = CHUNK) -> np.ndarray:
    """``models.generate(gen, labels, key=key)`` computed ``chunk`` digits at a time.

    labels (N,) int; returns (N, 28, 28, 1) float32 in [-1, 1].  The latent vectors are drawn
    once for all N (the same as one call); only the network runs in pieces, so N = 100,000
    (``--per-class 10000``) needs ~0.3 GB instead of tens of GB.  Raises GeneratorOutputError
    when a pixel is NaN or infinite.
    """
    labels = np.asarray(labels)
    if len(labels) <= chunk:
        images = models.generate(gen, labels, key=key)
    else:
        z = models.sample_latent(key, len(labels), gen.latent_dim)
        images = np.empty((len(labels), *models.IMAGE_SHAPE), np.float32)
        for i in range(0, len(labels), chunk):
            images[i:i + chunk] = models.generate(gen, labels[i:i + chunk], z=z[i:i + chunk])
    bad = int((~np.isfinite(images)).sum())
    if bad:
        raise GeneratorOutputError(f"the generator drew {bad} NaN or infinite pixels (of {images.size}); its "
                                   f"weights are unusable - load an earlier checkpoint")
    return images


# ----------------------------------------------------------------------------- metrics
def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussian fits of two (N, D) sets."""
    import scipy.linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (N, D) feature sets with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 samples in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # collapsed samples give singular covariances; handled below
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(a.shape[1])
        covmean = scipy.linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = _real_part(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def _real_part(m: np.ndarray) -> np.ndarray:
    """``m``'s real part; ValueError when its imaginary part is not negligible (not just rounding)."""
    if np.iscomplexobj(m):
        imag = float(np.max(np.abs(m.imag)))
        scale = max(float(np.max(np.abs(m.real))), 1e-12)
        if imag > MAX_IMAGINARY_FRACTION * scale:
            raise ValueError(f"the covariance square root has an imaginary part of {imag:.3g} "
                             f"({imag / scale:.2g} of its largest entry, allowed {MAX_IMAGINARY_FRACTION:g}); "
                             f"the feature sets are too small or degenerate for a Fréchet distance")
        m = m.real
    return m


def mean_pairwise_distance(feats: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of rows of (N, D) features (N >= 2)."""
    f = np.asarray(feats, np.float64)
    n = len(f)
    sq = np.sum(f ** 2, 1)
    total = 0.0
    for i in range(0, n, CHUNK):       # rows i..i+CHUNK against all later rows: memory O(CHUNK * N)
        d2 = np.maximum(sq[i:i + CHUNK, None] + sq[None, :] - 2 * f[i:i + CHUNK] @ f.T, 0.0)
        rows, cols = np.triu_indices(len(d2), 1, n - i)   # pairs (r, c) with c > r, in block coordinates
        total += float(np.sqrt(d2[rows, cols + i]).sum())
    return total / (n * (n - 1) / 2)


def reference_features(judge: DigitJudge) -> dict[str, np.ndarray]:
    """Judge features and labels of the bundled held-out real digits (never seen by the judge)."""
    ds = data.load_bundled()
    _, held = judge_split(ds)
    _, feats = judge_outputs(judge, ds.images[held])
    return {"features": feats, "labels": ds.labels[held]}


def real_floor(reference: dict[str, np.ndarray]) -> float:
    """Fréchet distance between two disjoint halves (stratified) of the real reference set."""
    labels = reference["labels"]
    a = np.concatenate([np.flatnonzero(labels == c)[0::2] for c in np.unique(labels)])
    b = np.concatenate([np.flatnonzero(labels == c)[1::2] for c in np.unique(labels)])
    return frechet_distance(reference["features"][a], reference["features"][b])


def evaluate_generator(gen: models.Generator, judge: DigitJudge | None = None, per_class: int = 100,
                       seed: int = 0, reference: dict | None = None, with_diversity: bool = True) -> dict[str, Any]:
    """Class accuracy, Fréchet distance (+ real floor) and diversity of ``gen``'s digits.

    Draws ``per_class`` digits of every class (z ~ U[-1, 1], inference mode).  The Fréchet
    distance compares half the real reference set (50 per class) with the same number of
    generated digits, and the floor compares the two real halves, so both use equal sizes.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < MIN_PER_CLASS:
        raise ValueError(f"per_class must be a whole number >= {MIN_PER_CLASS} (the diversity and the "
                         f"Fréchet distance compare pairs of samples), got {per_class!r}")
    judge = judge or load_judge()
    reference = reference or reference_features(judge)
    labels = np.repeat(np.arange(gen.num_classes, dtype=np.int32), per_class)
    images = generate_in_chunks(gen, labels, jax.random.key(seed))
    logits, feats = judge_outputs(judge, images)
    pred = logits.argmax(-1)
    per_class_acc = {int(c): float(np.mean(pred[labels == c] == c)) for c in range(gen.num_classes)}
    ref_f, ref_l = reference["features"], reference["labels"]
    half_b = np.concatenate([np.flatnonzero(ref_l == c)[1::2] for c in np.unique(ref_l)])
    n_cmp = len(half_b)
    rng = np.random.default_rng(seed)
    gen_idx = rng.choice(len(feats), size=min(n_cmp, len(feats)), replace=False)
    res: dict[str, Any] = {
        "per_class_samples": per_class,
        "class_accuracy": float(np.mean(pred == labels)),
        "class_accuracy_per_class": per_class_acc,
        "frechet_distance": frechet_distance(feats[gen_idx], ref_f[half_b]),
        "frechet_floor_real_vs_real": real_floor(reference),
    }
    res["frechet_ratio"] = res["frechet_distance"] / res["frechet_floor_real_vs_real"]
    if with_diversity:
        div = {}
        for c in range(gen.num_classes):
            g = mean_pairwise_distance(feats[labels == c])
            r = mean_pairwise_distance(ref_f[ref_l == c])
            div[c] = g / r
        res["diversity_ratio_per_class"] = div
    return res


def format_report(res: dict[str, Any]) -> str:
    """A printable table of :func:`evaluate_generator`'s results."""
    lines = [f"class accuracy (judge)      {res['class_accuracy']:.3f}",
             f"Fréchet distance            {res['frechet_distance']:.2f}",
             f"  real-vs-real floor        {res['frechet_floor_real_vs_real']:.2f}  (ratio {res['frechet_ratio']:.2f})",
             "", "class  accuracy  diversity (generated / real)"]
    for c, acc in res["class_accuracy_per_class"].items():
        d = res.get("diversity_ratio_per_class", {}).get(c)
        lines.append(f"{c:>5}  {acc:8.3f}  {'' if d is None else f'{d:9.2f}'}")
    return "\n".join(lines)


