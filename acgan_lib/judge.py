"""The digit judge: a small CNN classifier that scores generated digits (see :mod:`acgan_lib.evaluation`).

It is deliberately *not* the ACGAN discriminator, which was trained together with the generator
and can be fooled by it.  It is trained by this project's own code (``python -m acgan_lib
train-judge``) on real digits only; the shipped weights (``assets/judge``) record the command,
data and held-out accuracy.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import checkpoint, data, files, models, pretrained

JUDGE_HOLDOUT_PER_CLASS = 100   # of the bundled 500 per class, never used to train the judge
JUDGE_SPLIT_SEED = 0
FEATURE_DIM = 128


class DigitJudge(nnx.Module):
    """Small CNN classifier: conv32-pool-conv64-pool-dense128-dense10 (ReLU), dropout 0.25 on features.

    ``judge(images)`` -> class logits (N, 10); ``judge.features(images)`` -> (N, 128) penultimate
    activations used for the Fréchet distance and diversity.  images (N, 28, 28, 1) in [-1, 1].
    """

    def __init__(self, num_classes: int = models.NUM_CLASSES, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 32, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        self.dense = nnx.Linear((models.IMAGE_SIZE // 4) ** 2 * 64, FEATURE_DIM, rngs=rngs)
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
    return jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), models.IMAGE_SHAPE))(padded, offs)


def train_judge(images: np.ndarray, labels: np.ndarray, *, epochs: int = 15, batch_size: int = 100,
                lr: float = 1e-3, seed: int = 0, log=print) -> DigitJudge:
    """Train the judge on real digits (random ±2 px shifts as augmentation)."""
    # one key per purpose, split from one root: no key is used twice
    init_key, shuffle_key, step_key = jax.random.split(jax.random.key(seed), 3)
    judge = DigitJudge(rngs=nnx.Rngs(init_key))
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

    steps = len(y) // batch_size
    for epoch in range(epochs):
        perm = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), len(y))
        losses = [step(judge, opt, x[perm[i * batch_size:(i + 1) * batch_size]],
                       y[perm[i * batch_size:(i + 1) * batch_size]], jax.random.fold_in(step_key, epoch * steps + i))
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
    files.write_text_atomic(Path(out) / "PROVENANCE.json", json.dumps(prov, indent=2) + "\n")
    return prov
