"""The two ACGAN networks, layer for layer as the reference (tfjs ``mnist-acgan`` / Keras ``mnist_acgan.py``).

Generator (latent_dim 100): 2,657,321 trainable parameters (+ 576 batch-norm statistics).
Discriminator: 525,835 trainable parameters.

Deviations from the reference:

* The discriminator heads return **logits**, not probabilities. The losses in
  :mod:`acgan_lib.training` apply the sigmoid / softmax inside the cross-entropy. This equals the
  reference's ``sigmoid -> binary_crossentropy`` / ``softmax -> sparse_categorical_crossentropy``
  wherever the reference's clipping of probabilities to [1e-7, 1 - 1e-7] is inactive. Where it is
  active (a loss above -ln(1e-7) = 16.1) the reference's gradient is 0 and ours is
  softmax - onehot (notebook 5, section 6). Use :func:`realness_probability` /
  :func:`class_probabilities` to get the reference's outputs.
* Transposed convolutions use :class:`acgan_lib.conv_transpose.ConvTranspose`, a subclass of
  ``nnx.ConvTranspose`` with the same parameters (``kernel`` (kh, kw, in, out), ``bias`` (out,))
  that computes the same sum as one matrix multiplication followed by an overlap-add.
  Flax's kernel layout is not flipped like Keras' ``Conv2DTranspose``; since the kernel is learned
  from a symmetric (Glorot) initialisation the two layers describe the same family of functions.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .config import LATENT_DIM, NUM_CLASSES   # 100 and 10 (digits 0..9), the recipe's settings
from .conv_transpose import ConvImpl, ConvTranspose

IMAGE_SIZE = 28          # MNIST digits are 28 x 28 grey pixels (acgan_lib.data checks its files against this)
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
# Keras BatchNormalization defaults, which the reference uses.
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
LEAKY_SLOPE = 0.2
DROPOUT_RATE = 0.3
# The layers by name, in order (``Generator.layers``, ``Discriminator.features``, ``format_summary``).
GENERATOR_LAYERS = ("embedding(label)", "z * embedding", "dense + relu -> reshape", "deconv1 + relu + bn",
                    "deconv2 + relu + bn", "deconv3 + tanh")
DISCRIMINATOR_CONVS = ((1, 32, 2), (32, 64, 1), (64, 128, 2), (128, 256, 1))   # (in, out, stride)
DISCRIMINATOR_LAYERS = tuple(f"conv{i + 1} + leaky_relu + dropout" for i in range(len(DISCRIMINATOR_CONVS))) + ("flatten",)

# Keras initialisers: glorot_normal where the reference asks for it, glorot_uniform (Keras' default)
# everywhere else; biases zero.
glorot_normal = nnx.initializers.glorot_normal()
glorot_uniform = nnx.initializers.glorot_uniform()


# ----------------------------------------------------------------------------- input checks
def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_num_classes(num_classes) -> int:
    """``num_classes`` as an int, or ValueError unless it is a whole number >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be a whole number >= 2 (a classifier needs two classes), "
                         f"got {num_classes!r}")
    return int(num_classes)


def check_labels(labels, n: int | None = None, num_classes: int = NUM_CLASSES, name: str = "labels") -> None:
    """Raise ValueError unless ``labels`` is an integer (N,) array with values in [0, num_classes)."""
    shape = tuple(np.shape(labels))
    if len(shape) != 1 or (n is not None and shape[0] != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{name} must have shape {want} (one class id per example), got {shape}")
    dtype = np.dtype(labels.dtype) if hasattr(labels, "dtype") else np.asarray(labels).dtype
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"{name} must be integers in 0..{num_classes - 1}, got dtype {dtype}; "
                         f"convert with labels.astype('int32') if they are whole numbers")
    if _is_concrete(labels) and shape[0] > 0:
        arr = np.asarray(labels)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} must be in 0..{num_classes - 1}, got values in {lo}..{hi}")


def check_latent(z, latent_dim: int, n: int | None = None) -> None:
    """Raise ValueError unless ``z`` is a finite float (N, latent_dim) array (finiteness checked when concrete)."""
    shape = tuple(np.shape(z))
    if len(shape) != 2 or shape[1] != latent_dim or (n is not None and shape[0] != n):
        want = f"({n if n is not None else 'N'}, {latent_dim})"
        raise ValueError(f"latent vectors z must have shape {want}, got {shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise ValueError(f"latent vectors z must be floating point, got dtype {z.dtype}")
    if _is_concrete(z) and not np.isfinite(np.asarray(z)).all():
        raise ValueError("latent vectors z contain NaN or inf; in training mode they would poison the "
                         "batch-norm running statistics for good. Draw z with models.sample_latent")


def check_images(images, n: int | None = None, check_range: bool = True, *,
                 shape: tuple[int, ...] = IMAGE_SHAPE,
                 value_range: tuple[float, float] | None = (-1.0, 1.0)) -> None:
    """Raise ValueError unless ``images`` is a float (N, *shape) array with values in ``value_range``.

    Defaults: MNIST digits, (N, 28, 28, 1) in [-1, 1].  A discriminator declares what it reads
    as ``input_shape`` / ``input_range`` (``None``: any value), e.g. the 2-D points of
    :mod:`acgan_lib.toy`; the training steps check real inputs against those.
    """
    shape = tuple(shape)
    got = tuple(np.shape(images))
    digits = shape == IMAGE_SHAPE
    if len(got) != 1 + len(shape) or got[1:] != shape or (n is not None and got[0] != n):
        want = f"({n if n is not None else 'N'}, {', '.join(map(str, shape))})"
        layout = " (NHWC, one channel)" if digits else ""
        raise ValueError(f"images must have shape {want}{layout}, got {got}")
    span = "" if value_range is None else f" in [{value_range[0]:g}, {value_range[1]:g}]"
    scale_hint = "; scale uint8 pixels with x / 127.5 - 1" if digits else ""
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(f"images must be floating point{span}, got dtype {images.dtype}{scale_hint}")
    if value_range is not None and check_range and _is_concrete(images) and got[0] > 0:
        arr = np.asarray(images)
        lo, hi = float(arr.min()), float(arr.max())
        if not (lo >= value_range[0] - 1e-3 and hi <= value_range[1] + 1e-3):
            raise ValueError(f"images must be scaled to [{value_range[0]:g}, {value_range[1]:g}], "
                             f"got values in [{lo:.3g}, {hi:.3g}]{scale_hint}")


# ----------------------------------------------------------------------------- the networks
class Generator(nnx.Module):
    """Draws a digit of a requested class from a latent vector.

    The class enters by *multiplying* the latent vector with a learned per-class embedding, so
    the same z means "the same style" for every class.

    Call: ``gen(z, labels)`` with z (N, latent_dim) float32 in [-1, 1] and labels (N,) int in
    0..9; returns (N, 28, 28, 1) float32 in [-1, 1] (tanh).  ``train=False`` uses the batch-norm
    running statistics (the reference's ``generator.predict``); ``None`` follows ``gen.train()`` /
    ``gen.eval()`` (training by default).
    """

    def __init__(self, latent_dim: int = LATENT_DIM, num_classes: int = NUM_CLASSES, *,
                 rngs: nnx.Rngs, conv_impl: ConvImpl = "auto"):
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a whole number >= 1, got {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        self.num_classes = check_num_classes(num_classes)
        self.embedding = nnx.Embed(self.num_classes, self.latent_dim, embedding_init=glorot_normal, rngs=rngs)
        self.dense = nnx.Linear(self.latent_dim, 3 * 3 * 384, kernel_init=glorot_uniform, rngs=rngs)
        conv = dict(kernel_size=(5, 5), kernel_init=glorot_normal, impl=conv_impl, rngs=rngs)
        self.deconv1 = ConvTranspose(384, 192, strides=(1, 1), padding="VALID", **conv)
        self.bn1 = nnx.BatchNorm(192, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, rngs=rngs)
        self.deconv2 = ConvTranspose(192, 96, strides=(2, 2), padding="SAME", **conv)
        self.bn2 = nnx.BatchNorm(96, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, rngs=rngs)
        self.deconv3 = ConvTranspose(96, 1, strides=(2, 2), padding="SAME", **conv)

    def layers(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> list[tuple[str, jax.Array]]:
        """Every intermediate activation, in order, as (name, array): for teaching and ``info``."""
        z, labels = jnp.asarray(z), jnp.asarray(labels) if not hasattr(labels, "dtype") else labels
        check_latent(z, self.latent_dim)
        check_labels(labels, n=z.shape[0], num_classes=self.num_classes)
        emb = self.embedding(labels)                           # (N, latent)
        h = z * emb                                            # (N, latent) Hadamard product
        return list(zip(GENERATOR_LAYERS[:2], (emb, h))) + self.decode_layers(h, train=train)

    def decode_layers(self, h: jax.Array, *, train: bool | None = None) -> list[tuple[str, jax.Array]]:
        """From the class-conditioned latent ``h = z * embedding`` (N, latent_dim) to the image, layer by layer."""
        ura = None if train is None else (not train)
        out = []
        h = nnx.relu(self.dense(h)).reshape(-1, 3, 3, 384)     # (N, 3, 3, 384)
        out.append(h)
        h = self.bn1(nnx.relu(self.deconv1(h)), use_running_average=ura)   # (N, 7, 7, 192)
        out.append(h)
        h = self.bn2(nnx.relu(self.deconv2(h)), use_running_average=ura)   # (N, 14, 14, 96)
        out.append(h)
        h = jnp.tanh(self.deconv3(h))                          # (N, 28, 28, 1)
        out.append(h)
        return list(zip(GENERATOR_LAYERS[2:], out))

    def decode(self, h: jax.Array, *, train: bool | None = None) -> jax.Array:
        """Images (N, 28, 28, 1) from ``h = z * class_vector``; lets you feed mixed class vectors."""
        return self.decode_layers(h, train=train)[-1][1]

    def __call__(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> jax.Array:
        z, labels = jnp.asarray(z), jnp.asarray(labels) if not hasattr(labels, "dtype") else labels
        check_latent(z, self.latent_dim)                       # here, where the values are concrete
        check_labels(labels, n=z.shape[0], num_classes=self.num_classes)
        graphdef, state = nnx.split(self)
        images, batch_stats = _generator_forward(graphdef, state, z, labels, train)
        if train or (train is None and not self.bn1.use_running_average):
            nnx.update(self, batch_stats)                      # training mode moves the running averages
        return images

    def forward(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> jax.Array:
        """The generator's maths (what ``gen(z, labels)`` computes, without the input checks)."""
        return self.decode(z * self.embedding(labels), train=train)


class Discriminator(nnx.Module):
    """Looks at a digit and answers two questions: is it real, and which digit is it?

    Call: ``disc(images)`` with images (N, 28, 28, 1) float32 in [-1, 1]; returns
    ``(realness_logits (N,), class_logits (N, num_classes))`` - logits, see the module docstring.
    ``train`` / ``rngs`` control dropout (``rngs`` may be a key); ``train=None`` follows
    ``disc.train()`` / ``disc.eval()``.
    """

    input_shape = IMAGE_SHAPE      # what one input is (checked by the training steps)
    input_range = (-1.0, 1.0)      # the range real inputs must lie in

    def __init__(self, num_classes: int = NUM_CLASSES, *, rngs: nnx.Rngs):
        self.num_classes = check_num_classes(num_classes)
        self.convs = nnx.List([
            nnx.Conv(cin, cout, kernel_size=(3, 3), strides=(s, s), padding="SAME",
                     kernel_init=glorot_uniform, rngs=rngs)
            for cin, cout, s in DISCRIMINATOR_CONVS
        ])
        self.dropout = nnx.Dropout(DROPOUT_RATE, rngs=rngs)
        flat = (IMAGE_SIZE // 4) ** 2 * DISCRIMINATOR_CONVS[-1][1]
        self.realness_head = nnx.Linear(flat, 1, kernel_init=glorot_uniform, rngs=rngs)
        self.class_head = nnx.Linear(flat, self.num_classes, kernel_init=glorot_uniform, rngs=rngs)

    def features(self, images: jax.Array, *, train: bool | None = None, rngs=None) -> list[tuple[str, jax.Array]]:
        """Every intermediate activation, in order, as (name, array)."""
        check_images(images, check_range=False)
        det = None if train is None else (not train)
        keys = [None] * len(self.convs)
        if isinstance(rngs, jax.Array):
            keys = list(jax.random.split(rngs, len(self.convs)))
        elif rngs is not None:
            keys = [rngs] * len(self.convs)
        out = []
        h = images
        for conv, key in zip(self.convs, keys):
            # Dropout masks in threefry's original bit layout: XLA:CPU draws the ~7.5 M uniforms
            # per pass about 30 ms/iteration faster that way (benchmarks/RESULTS.md). Same
            # Bernoulli(0.7) keep-probability and determinism; only the bit-to-element order differs.
            with jax.threefry_partitionable(False):
                h = self.dropout(nnx.leaky_relu(conv(h), LEAKY_SLOPE), deterministic=det, rngs=key)
            out.append(h)
        out.append(h.reshape(h.shape[0], -1))
        return list(zip(DISCRIMINATOR_LAYERS, out))

    def __call__(self, images: jax.Array, *, train: bool | None = None, rngs=None) -> tuple[jax.Array, jax.Array]:
        check_images(images, check_range=False)
        if not (train is False or isinstance(rngs, jax.Array)):
            return self.forward(images, rngs, train=train)     # dropout may draw from stateful Rngs
        graphdef, state = nnx.split(self)
        return _discriminator_forward(graphdef, state, images, train, rngs)

    def forward(self, images: jax.Array, rngs=None, *, train: bool | None = None) -> tuple[jax.Array, jax.Array]:
        """The discriminator's maths (what ``disc(images)`` computes, without the input check)."""
        h = self.features(images, train=train, rngs=rngs)[-1][1]
        return self.realness_head(h)[:, 0], self.class_head(h)


# Calling a network from plain Python (a notebook cell, or inside per_loss_gradients' jax.vjp)
# runs its ``forward`` as ONE compiled XLA program per input shape, instead of dispatching - and
# compiling - hundreds of small operations one at a time: a notebook-sized first generator-loss
# gradient took about twice as long op by op (benchmarks/RESULTS.md).  Inside an outer jit (the
# training steps) it is inlined.  Plain jax.jit of the split state, not nnx.jit: nnx.jit writes
# every variable back, which jax.grad of a function that closes over a network refuses.
@functools.partial(jax.jit, static_argnums=(0, 4))
def _generator_forward(graphdef, state, z, labels, train):
    gen = nnx.merge(graphdef, state)
    return gen.forward(z, labels, train=train), nnx.state(gen, nnx.BatchStat)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _discriminator_forward(graphdef, state, images, train, key):
    return nnx.merge(graphdef, state).forward(images, key, train=train)


def realness_probability(realness_logits: jax.Array) -> jax.Array:
    """The reference's sigmoid output: probability that each image is real, (N,)."""
    return jax.nn.sigmoid(realness_logits)


def class_probabilities(class_logits: jax.Array) -> jax.Array:
    """The reference's softmax output, (N, num_classes)."""
    return jax.nn.softmax(class_logits, axis=-1)


def sample_latent(key: jax.Array, n: int, latent_dim: int = LATENT_DIM) -> jax.Array:
    """z ~ U[-1, 1]^(n, latent_dim), as the reference draws it."""
    return jax.random.uniform(key, (int(n), int(latent_dim)), jnp.float32, -1.0, 1.0)


def sample_labels(key: jax.Array, n: int, num_classes: int = NUM_CLASSES) -> jax.Array:
    """n class ids drawn uniformly from 0..num_classes-1, int32."""
    return jax.random.randint(key, (int(n),), 0, num_classes, jnp.int32)


# ----------------------------------------------------------------------------- drawing digits
@nnx.jit
def _sample(gen: Generator, z: jax.Array, labels: jax.Array) -> jax.Array:
    return gen.forward(z, labels, train=False)


def generate(gen: Generator, labels: Sequence[int] | np.ndarray | jax.Array, key: jax.Array | None = None,
             z: jax.Array | np.ndarray | None = None) -> np.ndarray:
    """Digits of the given classes from a generator in inference mode (batch-norm running statistics).

    labels (N,) int in 0..num_classes-1 (a list is fine); either ``z`` (N, latent_dim) or a PRNG
    ``key`` to draw z ~ U[-1, 1] from - one of the two is required (ValueError otherwise).
    Returns (N, 28, 28, 1) float32 in [-1, 1].
    """
    labels = np.asarray(labels)
    check_labels(labels, num_classes=gen.num_classes)
    if z is None:
        if key is None:
            raise ValueError("generate needs a PRNG key (e.g. key=jax.random.key(0)) or the latent vectors z")
        z = sample_latent(key, len(labels), gen.latent_dim)
    elif key is not None:
        raise ValueError("pass either key (to draw z) or z, not both")
    z = jnp.asarray(z, jnp.float32) if not hasattr(z, "dtype") else z
    check_latent(z, gen.latent_dim, n=len(labels))
    return np.asarray(_sample(gen, jnp.asarray(z, jnp.float32), jnp.asarray(labels, jnp.int32)))


# ----------------------------------------------------------------------------- summaries
def __getattr__(name: str):
    """``models.count_params`` / ``format_summary`` / ``summary_rows`` / ``LayerRow`` live in :mod:`acgan_lib.summary`."""
    if name in ("count_params", "format_summary", "summary_rows", "LayerRow"):
        from . import summary
        return getattr(summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
