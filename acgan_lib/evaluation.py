"""Measuring generated digits with an independent judge.

The judge is a small CNN digit classifier - deliberately *not* the ACGAN discriminator, which was
trained together with the generator and can be fooled by it.  It is trained by this project's own
code (``python -m acgan_lib train-judge``) on real digits only; the shipped weights
(``assets/judge``) record the command, data and held-out accuracy.

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

import json
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import checkpoint, data, models, pretrained

JUDGE_HOLDOUT_PER_CLASS = 100   # of the bundled 500 per class, never used to train the judge
JUDGE_SPLIT_SEED = 0
FEATURE_DIM = 128


class DigitJudge(nnx.Module):
    """Small CNN classifier: conv32-pool-conv64-pool-dense128-dense10 (ReLU), dropout 0.25 on features.

    ``judge(images)`` -> class logits (N, 10); ``judge.features(images)`` -> (N, 128) penultimate
    activations used for the Fréchet distance and diversity.  images (N, 28, 28, 1) in [-1, 1].
    """

    def __init__(self, num_classes: int = 10, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 32, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        self.dense = nnx.Linear(7 * 7 * 64, FEATURE_DIM, rngs=rngs)
        self.dropout = nnx.Dropout(0.25, rngs=rngs)
        self.head = nnx.Linear(FEATURE_DIM, num_classes, rngs=rngs)

    def features(self, images: jax.Array) -> jax.Array:
        h = nnx.max_pool(nnx.relu(self.conv1(images)), (2, 2), (2, 2))
        h = nnx.max_pool(nnx.relu(self.conv2(h)), (2, 2), (2, 2))
        return nnx.relu(self.dense(h.reshape(h.shape[0], -1)))

    def __call__(self, images: jax.Array, *, train: bool = False, rngs=None) -> jax.Array:
        return self.head(self.dropout(self.features(images), deterministic=not train, rngs=rngs))


def judge_split(ds: data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, heldout_idx) of the bundled subset: 100 per class held out, fixed seed."""
    return data.stratified_split(ds.labels, JUDGE_HOLDOUT_PER_CLASS, seed=JUDGE_SPLIT_SEED)


def _shift(images: jax.Array, key: jax.Array, max_shift: int = 2) -> jax.Array:
    """Random translation by up to ``max_shift`` pixels (augmentation; background is -1)."""
    n = images.shape[0]
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)), constant_values=-1.0)
    offs = jax.random.randint(key, (n, 2), 0, 2 * max_shift + 1)
    return jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (28, 28, 1)))(padded, offs)


def train_judge(images: np.ndarray, labels: np.ndarray, *, epochs: int = 15, batch_size: int = 100,
                lr: float = 1e-3, seed: int = 0, log=print) -> DigitJudge:
    """Train the judge on real digits (random ±2 px shifts as augmentation)."""
    judge = DigitJudge(rngs=nnx.Rngs(seed))
    opt = nnx.Optimizer(judge, optax.adam(lr), wrt=nnx.Param)
    x, y = jnp.asarray(images), jnp.asarray(labels, jnp.int32)

    @nnx.jit
    def step(judge, opt, xb, yb, key):
        ks, kd = jax.random.split(key)
        xb = _shift(xb, ks)

        def loss_fn(j):
            return optax.softmax_cross_entropy_with_integer_labels(j(xb, train=True, rngs=kd), yb).mean()

        loss, g = nnx.value_and_grad(loss_fn)(judge)
        opt.update(judge, g)
        return loss

    key = jax.random.key(seed)
    steps = len(y) // batch_size
    for epoch in range(epochs):
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), len(y))
        losses = [step(judge, opt, x[perm[i * batch_size:(i + 1) * batch_size]],
                       y[perm[i * batch_size:(i + 1) * batch_size]], jax.random.fold_in(key, 10_000 + epoch * steps + i))
                  for i in range(steps)]
        log(f"judge epoch {epoch + 1}/{epochs}: loss {float(jnp.mean(jnp.stack(losses))):.4f}")
    return judge


@nnx.jit
def _logits_and_features(judge: DigitJudge, images: jax.Array):
    f = judge.features(images)
    return judge.head(f), f


def judge_outputs(judge: DigitJudge, images: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, 10), features (N, 128)) for images (N, 28, 28, 1) in [-1, 1], in batches."""
    models.check_images(np.asarray(images))
    outs = [_logits_and_features(judge, jnp.asarray(images[i:i + batch])) for i in range(0, len(images), batch)]
    return np.concatenate([np.asarray(o[0]) for o in outs]), np.concatenate([np.asarray(o[1]) for o in outs])


def accuracy(judge: DigitJudge, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` the judge assigns to ``labels``."""
    logits, _ = judge_outputs(judge, images)
    return float(np.mean(logits.argmax(-1) == np.asarray(labels)))


def save_judge(judge: DigitJudge, path: str | Path, provenance: dict) -> Path:
    return checkpoint.save(path, 0, {"judge": judge}, {"config": {"kind": "digit_judge"}, "provenance": provenance},
                           keep=None)


def load_judge(path: str | Path | None = None) -> DigitJudge:
    """The shipped judge (or one saved at ``path``)."""
    judge = DigitJudge(rngs=nnx.Rngs(0))
    checkpoint.load(path or pretrained.JUDGE_DIR, {"judge": judge})
    return judge


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
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def mean_pairwise_distance(feats: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of rows of (N, D) features (N >= 2)."""
    f = np.asarray(feats, np.float64)
    sq = np.sum(f ** 2, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0.0)
    n = len(f)
    return float(np.sqrt(d2)[np.triu_indices(n, 1)].mean())


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
    from .trainer import generate

    judge = judge or load_judge()
    reference = reference or reference_features(judge)
    labels = np.repeat(np.arange(gen.num_classes, dtype=np.int32), per_class)
    images = generate(gen, labels, key=jax.random.key(seed))
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


def train_and_save_judge(out: str | Path, epochs: int = 15, seed: int = 0, command: str = "",
                         source: str = "bundled") -> dict:
    """Train the judge and save it with provenance.

    ``source="bundled"``: train on the bundled subset minus the stratified held-out split (100 per
    class) and report accuracy on that split.  Any other source (full MNIST): train on the train
    split, report accuracy on the test split; the bundled held-out digits are excluded from
    training when they occur in it (they are the evaluation's real reference set).
    """
    bundled = data.load_bundled()
    _, held = judge_split(bundled)
    if source == "bundled":
        train_idx, _ = judge_split(bundled)
        x, y = bundled.images[train_idx], bundled.labels[train_idx]
        tx, ty, src, split = bundled.images[held], bundled.labels[held], bundled.source, \
            f"stratified, {JUDGE_HOLDOUT_PER_CLASS} per class, seed {JUDGE_SPLIT_SEED}"
    else:
        tr, te = data.load_mnist(source, "train"), data.load_mnist(source, "test")
        ref = {hash(im.tobytes()) for im in bundled.images[held]}
        keep = np.array([hash(im.tobytes()) not in ref for im in tr.images])
        x, y, tx, ty, src, split = tr.images[keep], tr.labels[keep], te.images, te.labels, tr.source, "MNIST test split"
    judge = train_judge(x, y, epochs=epochs, seed=seed)
    acc = accuracy(judge, tx, ty)
    prov = {"command": command, "data": src, "train_examples": int(len(y)),
            "heldout_examples": int(len(ty)), "heldout_accuracy": acc, "epochs": epochs, "seed": seed,
            "heldout_split": split}
    save_judge(judge, out, prov)
    (Path(out) / "PROVENANCE.json").write_text(json.dumps(prov, indent=2) + "\n")
    return prov
