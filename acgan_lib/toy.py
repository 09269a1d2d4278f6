"""A 2-D toy ACGAN: class-labelled Gaussian clusters on a ring, and two small MLPs.

Notebook 2 trains these with the *same* library functions as the MNIST networks
(:func:`acgan_lib.training.discriminator_step` / :func:`~acgan_lib.training.generator_step`,
the two named losses, :func:`~acgan_lib.training.per_loss_gradients`); only the data and the
networks are smaller, so a whole training run takes seconds on a CPU and every point can be
drawn.

The networks follow the MNIST call protocol of :mod:`acgan_lib.models`:

* ``ToyGenerator(z, labels, train=...)`` -> points (N, 2); attributes ``latent_dim``,
  ``num_classes``; the label enters as ``z * embedding(label)``, like the MNIST generator.
* ``ToyDiscriminator(x, train=..., rngs=...)`` -> ``(realness_logits (N,), class_logits (N, C))``;
  it declares ``input_shape = (2,)`` and ``input_range = None`` (points are not scaled to
  [-1, 1]) for the training step's input check.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import models, training

NUM_CLASSES = 6          # clusters (= classes) on the ring
RING_RADIUS = 1.0        # distance of every cluster centre from the origin
CLUSTER_STD = 0.1        # standard deviation of each Gaussian cluster, per coordinate
POINTS_PER_CLASS = 200   # real points per class in the data set
POINT_DIM = 2            # a "sample" is a point in the plane
LATENT_DIM = 16          # the toy generator's z
HIDDEN = 64              # width of every hidden layer of both MLPs
LEAKY_SLOPE = models.LEAKY_SLOPE
LEARNING_RATE = 5e-3     # Adam step for both toy networks (MNIST: 2e-4); beta1 0.5 as there
BATCH_SIZE = 64          # real points per discriminator step (the generator step uses 2x)


@dataclasses.dataclass(frozen=True)
class ToyData:
    """The toy data set. points (N, 2) float32, labels (N,) int32, centres (num_classes, 2)."""
    points: np.ndarray
    labels: np.ndarray
    centres: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.centres)


def ring_centres(num_classes: int = NUM_CLASSES, radius: float = RING_RADIUS) -> np.ndarray:
    """(num_classes, 2) float32: class c sits at angle 2*pi*c/num_classes on a circle of ``radius``."""
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def make_clusters(seed: int = 0, num_classes: int = NUM_CLASSES, points_per_class: int = POINTS_PER_CLASS,
                  std: float = CLUSTER_STD, radius: float = RING_RADIUS) -> ToyData:
    """Deterministic data: ``points_per_class`` Gaussian points around each ring centre, shuffled.

    The same ``seed`` gives bit-identical arrays (numpy's PCG64 generator).
    Returns ToyData with points (num_classes * points_per_class, 2), labels (same N,).
    """
    if num_classes < 2 or points_per_class < 1 or std <= 0:
        raise ValueError(f"need num_classes >= 2, points_per_class >= 1, std > 0; got "
                         f"{num_classes}, {points_per_class}, {std}")
    rng = np.random.default_rng(seed)
    centres = ring_centres(num_classes, radius)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), points_per_class)
    points = centres[labels] + std * rng.standard_normal((len(labels), POINT_DIM))
    order = rng.permutation(len(labels))
    return ToyData(points[order].astype(np.float32), labels[order], centres)


def batches(ds: ToyData, batch_size: int, seed: int = 0):
    """Endless (points (B, 2), labels (B,)) batches: a fresh permutation every epoch, as MNIST's loop."""
    rng = np.random.default_rng(seed)
    n = len(ds.labels)
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            yield ds.points[idx], ds.labels[idx]


class ToyGenerator(nnx.Module):
    """(z (N, latent_dim) in [-1, 1], labels (N,) int) -> points (N, 2).

    ``h = z * embedding(label)`` (the MNIST generator's conditioning), then
    Linear(latent, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 2).  No batch norm and no tanh:
    ``train`` is accepted for the common protocol and changes nothing.
    """

    def __init__(self, latent_dim: int = LATENT_DIM, num_classes: int = NUM_CLASSES, *,
                 hidden: int = HIDDEN, rngs: nnx.Rngs):
        if latent_dim < 1 or num_classes < 2:
            raise ValueError(f"need latent_dim >= 1 and num_classes >= 2, got {latent_dim}, {num_classes}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embedding = nnx.Embed(num_classes, latent_dim, embedding_init=models.glorot_normal, rngs=rngs)
        self.hidden1 = nnx.Linear(latent_dim, hidden, rngs=rngs)
        self.hidden2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, POINT_DIM, rngs=rngs)

    def __call__(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> jax.Array:
        models.check_latent(z, self.latent_dim)
        models.check_labels(labels, n=z.shape[0], num_classes=self.num_classes)
        h = z * self.embedding(labels)                         # (N, latent)
        h = nnx.relu(self.hidden1(h))                          # (N, hidden)
        h = nnx.relu(self.hidden2(h))                          # (N, hidden)
        return self.out(h)                                     # (N, 2)


class ToyDiscriminator(nnx.Module):
    """points (N, 2) -> (realness_logits (N,), class_logits (N, num_classes)).

    Linear(2, 64) - LeakyReLU(0.2) - Linear(64, 64) - LeakyReLU(0.2), then two linear heads on
    the shared features, like the MNIST discriminator's two heads.  No dropout: ``train`` and
    ``rngs`` are accepted for the common protocol and change nothing.
    """

    input_shape = (POINT_DIM,)   # one input is a point in the plane
    input_range = None           # no fixed range

    def __init__(self, num_classes: int = NUM_CLASSES, *, hidden: int = HIDDEN, rngs: nnx.Rngs):
        if num_classes < 2:
            raise ValueError(f"need num_classes >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.hidden1 = nnx.Linear(POINT_DIM, hidden, rngs=rngs)
        self.hidden2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.realness_head = nnx.Linear(hidden, 1, rngs=rngs)
        self.class_head = nnx.Linear(hidden, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool | None = None, rngs=None) -> tuple[jax.Array, jax.Array]:
        models.check_images(x, shape=self.input_shape, value_range=self.input_range)
        h = nnx.leaky_relu(self.hidden1(x), LEAKY_SLOPE)      # (N, hidden)
        h = nnx.leaky_relu(self.hidden2(h), LEAKY_SLOPE)      # (N, hidden)
        return self.realness_head(h)[:, 0], self.class_head(h)


def grid(lim: float = 1.6, n: int = 81) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n grid over [-lim, lim]^2: (xs (n,), ys (n,), points (n*n, 2) row-major in y)."""
    xs = np.linspace(-lim, lim, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, xs)
    return xs, xs, np.stack([gx.ravel(), gy.ravel()], axis=1)


@nnx.jit
def _judge(disc: ToyDiscriminator, x: jax.Array):
    realness_logits, class_logits = disc(x, train=False)
    return jax.nn.sigmoid(realness_logits), jnp.argmax(class_logits, -1)


def judge(disc: ToyDiscriminator, x) -> tuple[np.ndarray, np.ndarray]:
    """D's verdict on points x (N, 2): (P(real) (N,), predicted class (N,)), inference mode."""
    p, c = _judge(disc, jnp.asarray(x, jnp.float32))
    return np.asarray(p), np.asarray(c)


@nnx.jit
def _generate(gen: ToyGenerator, z: jax.Array, labels: jax.Array):
    return gen(z, labels, train=False)


def generate(gen: ToyGenerator, z, labels) -> np.ndarray:
    """Fake points (N, 2) for z (N, latent_dim) and labels (N,), inference mode."""
    return np.asarray(_generate(gen, jnp.asarray(z, jnp.float32), jnp.asarray(labels, jnp.int32)))


def on_cluster_fraction(points, labels, centres, radius: float = 3 * CLUSTER_STD) -> float:
    """Fraction of points within ``radius`` of their own class centre. points (N, 2), labels (N,)."""
    d = np.linalg.norm(np.asarray(points) - np.asarray(centres)[np.asarray(labels)], axis=1)
    return float(np.mean(d <= radius))


def spread_ratio(points, labels, num_classes: int, std: float = CLUSTER_STD) -> np.ndarray:
    """Per class: the fakes' standard deviation (root-mean over both coordinates) / the real ``std``.

    About 1 when the generator reproduces a cluster's spread; near 0 when it collapses onto a
    point (mode collapse). points (N, 2), labels (N,); returns (num_classes,).
    """
    points, labels = np.asarray(points), np.asarray(labels)
    out = []
    for c in range(num_classes):
        p = points[labels == c]
        out.append(np.sqrt(p.var(axis=0).mean()) / std if len(p) > 1 else np.nan)
    return np.array(out)


def make_optimizer(module: nnx.Module, lr: float = LEARNING_RATE) -> nnx.Optimizer:
    """Adam(lr, beta1 0.5) on ``module``'s parameters: :func:`acgan_lib.training.make_optimizer`.

    The learning rate is held in the optimizer state, so every toy run reuses the compiled steps.
    """
    return training.make_optimizer(module, lr)


def train(gen: ToyGenerator, disc: ToyDiscriminator, ds: ToyData, steps: int, *, seed: int = 0,
          lr_g: float = LEARNING_RATE, lr_d: float = LEARNING_RATE, batch_size: int = BATCH_SIZE,
          weights: training.LossWeights = training.LossWeights(),
          callback: Callable[[int], None] | None = None, callback_every: int = 0) -> dict[str, np.ndarray]:
    """The MNIST recipe's loop on the toy: per iteration one ``training.discriminator_step`` on
    ``batch_size`` real + ``batch_size`` fake points, then one ``training.generator_step`` on
    ``2 * batch_size`` fakes (D frozen).  Adam(lr, beta1 0.5) per network, soft target 0.95.

    ``callback(i)`` runs before the first step (i = 0) and after every ``callback_every`` steps.
    Returns the per-iteration metrics as arrays (steps,), keys ``"d_" + name`` / ``"g_" + name``
    (see :func:`acgan_lib.training.discriminator_step` / ``generator_step``).
    """
    g_opt = make_optimizer(gen, lr=lr_g)
    d_opt = make_optimizer(disc, lr=lr_d)
    data = batches(ds, batch_size, seed)
    key = jax.random.key(seed)
    history = []
    if callback is not None:
        callback(0)
    for i in range(steps):
        real_points, real_labels = next(data)
        key, key_d_step, key_g_step = jax.random.split(key, 3)   # (kd is the dropout key everywhere else)
        dm = training.discriminator_step(gen, disc, d_opt, real_points, real_labels, key_d_step, weights=weights)
        gm = training.generator_step(gen, disc, g_opt, 2 * batch_size, key_g_step, weights=weights)
        history.append({**{f"d_{k}": v for k, v in dm.items()}, **{f"g_{k}": v for k, v in gm.items()}})
        if callback is not None and callback_every and (i + 1) % callback_every == 0:
            callback(i + 1)
    history = jax.device_get(history)
    return {k: np.array([h[k] for h in history]) for k in history[0]} if history else {}
