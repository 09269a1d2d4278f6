"""The two ACGAN networks, layer for layer as the reference (tfjs ``mnist-acgan`` / Keras ``mnist_acgan.py``).

Generator (latent_dim 100): 2,657,321 trainable parameters (+ 576 batch-norm statistics).
Discriminator: 525,835 trainable parameters.

Deviations from the reference, all mathematically equivalent:

* The discriminator heads return **logits**, not sigmoid / softmax probabilities.  The losses in
  :mod:`acgan_lib.training` apply the sigmoid / softmax inside the cross-entropy (the numerically
  stable form), which is the same function of the parameters as the reference's
  ``sigmoid -> binary_crossentropy`` and ``softmax -> sparse_categorical_crossentropy``.
  Use :func:`realness_probability` / :func:`class_probabilities` to get the reference's outputs.
* Transposed convolutions use :class:`ConvTranspose`, a subclass of ``nnx.ConvTranspose`` with the
  same parameters (``kernel`` (kh, kw, in, out), ``bias`` (out,)) whose CPU path computes the same
  sum as one matrix multiplication followed by an overlap-add (see :func:`conv_transpose_matmul`).
  Flax's kernel layout is not flipped like Keras' ``Conv2DTranspose``; since the kernel is learned
  from a symmetric (Glorot) initialisation the two layers describe the same family of functions.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

NUM_CLASSES = 10
LATENT_DIM = 100
IMAGE_SHAPE = (28, 28, 1)
# Keras BatchNormalization defaults, which the reference uses.
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
LEAKY_SLOPE = 0.2
DROPOUT_RATE = 0.3

# Keras initialisers: glorot_normal where the reference asks for it, glorot_uniform (Keras' default)
# everywhere else; biases zero.
glorot_normal = nnx.initializers.glorot_normal()
glorot_uniform = nnx.initializers.glorot_uniform()

ConvImpl = Literal["auto", "matmul", "xla"]


# ----------------------------------------------------------------------------- fast transposed conv
def _transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """Low/high padding of the dilated input that ``lax.conv_transpose`` uses (same formula)."""
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    else:
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    return pad_a, pad_len - pad_a


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose_matmul(
    x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: str
) -> jax.Array:
    """``lax.conv_transpose(x, kernel, strides, padding)`` (flax layout, no kernel flip) as matmul + overlap-add.

    Why: XLA:CPU lowers transposed convolutions to a slow direct loop; the same sum written as one
    big matrix multiplication runs at matmul speed, and its gradients are matmuls too.

    The transposed convolution scatters every input pixel, multiplied by the whole kernel, into the
    output: input pixel ``i`` with (flipped) kernel tap ``k`` lands on output row ``s*i + k - c``
    where ``c = K - 1 - pad_low``.  So we

    1. compute every (pixel, tap) product at once: ``(B*H*W, Cin) @ (Cin, K*K*Cout)``;
    2. add the products up where they land (col2im / overlap-add).  Output rows ``o = s*m + p``
       of one *phase* ``p`` only receive taps with ``k - c = p (mod s)``, each shifted by a whole
       number of rows, so each phase is a sum of shifted slabs (``lax.pad`` with edge padding,
       negative = crop) and the phases interleave by a reshape.  This is the sub-pixel view of
       a strided transposed convolution, and it keeps every memory access contiguous.

    Args:
      x: (B, H, W, Cin) input.
      kernel: (K, K, Cin, Cout), the ``nnx.ConvTranspose`` kernel.
      strides: (sh, sw).
      padding: "SAME" or "VALID", as ``lax.conv_transpose``.
    Returns:
      (B, H_out, W_out, Cout), equal to ``lax.conv_transpose`` up to float rounding.
    """
    return _conv_transpose_forward(x, kernel, strides, padding)


def _geometry(x_shape, k_shape, strides, padding):
    """Output size and the offset c = K - 1 - pad_low of the overlap-add, per spatial axis."""
    _, h, w, cin = x_shape
    kh, kw, kin, _ = k_shape
    if kin != cin:
        raise ValueError(f"kernel expects {kin} input channels, input has {cin}")
    sh, sw = strides
    (lo_h, hi_h), (lo_w, hi_w) = _transpose_padding(kh, sh, padding), _transpose_padding(kw, sw, padding)
    out_h = (h - 1) * sh + 1 + lo_h + hi_h - kh + 1
    out_w = (w - 1) * sw + 1 + lo_w + hi_w - kw + 1
    return out_h, out_w, kh - 1 - lo_h, kw - 1 - lo_w


def _kernel_matrix(kernel: jax.Array) -> jax.Array:
    """(K, K, Cin, Cout) -> (Cin, K*K*Cout) with the taps flipped (scatter order)."""
    kh, kw, cin, cout = kernel.shape
    return jnp.transpose(kernel[::-1, ::-1], (2, 0, 1, 3)).reshape(cin, kh * kw * cout)


def _scatter_matrix(h: int, w: int, kh: int, kw: int, strides, out_h: int, out_w: int,
                    ch: int, cw: int) -> np.ndarray:
    """The overlap-add as a 0/1 matrix S (out_h*out_w, h*w*kh*kw): S[o, (i, j, ky, kx)] = 1 where
    input pixel (i, j) times tap (ky, kx) lands, i.e. o = (s*i + ky - c, s*j + kx - c)."""
    sh, sw = strides
    s = np.zeros((out_h * out_w, h * w * kh * kw), np.float32)
    i, j, ky, kx = np.meshgrid(np.arange(h), np.arange(w), np.arange(kh), np.arange(kw), indexing="ij")
    oy, ox = sh * i + ky - ch, sw * j + kx - cw
    ok = (oy >= 0) & (oy < out_h) & (ox >= 0) & (ox < out_w)
    s[(oy * out_w + ox)[ok], np.arange(s.shape[1]).reshape(i.shape)[ok]] = 1.0
    return s


def _use_scatter_matrix(x_shape, out_h: int, out_w: int) -> bool:
    """Overlap-add by matmul with S when that costs little next to the main matmul.

    The S product costs out_h*out_w / Cin of the main matmul's FLOPs: about 13 % for the
    3x3 -> 7x7 layer (49 / 384), whose 25 shifted slabs XLA would otherwise write out one by one;
    the larger layers keep the slab sums (S would cost as much as the layer itself).
    """
    return out_h * out_w * 4 <= x_shape[-1]


def _conv_transpose_forward(x, kernel, strides, padding):
    b, h, w, cin = x.shape
    kh, kw, _, cout = kernel.shape
    sh, sw = strides
    out_h, out_w, ch, cw = _geometry(x.shape, kernel.shape, strides, padding)
    cols = x.reshape(b * h * w, cin) @ _kernel_matrix(kernel)
    if _use_scatter_matrix(x.shape, out_h, out_w):
        s = _scatter_matrix(h, w, kh, kw, strides, out_h, out_w, ch, cw)
        out = jnp.einsum("op,bpc->boc", s, cols.reshape(b, h * w * kh * kw, cout))
        return out.reshape(b, out_h, out_w, cout)
    mh, mw = -(-out_h // sh), -(-out_w // sw)          # rows / cols per phase
    cols = cols.reshape(b, h, w, kh, kw, cout)
    zero = jnp.zeros((), x.dtype)
    phase_rows = []
    for py in range(sh):
        phase_row = []
        for px in range(sw):
            acc = None
            for ky in range(kh):
                if (ky - ch - py) % sh:
                    continue
                dy = (ky - ch - py) // sh
                for kx in range(kw):
                    if (kx - cw - px) % sw:
                        continue
                    dx = (kx - cw - px) // sw
                    slab = lax.pad(cols[:, :, :, ky, kx, :], zero,
                                   ((0, 0, 0), (dy, mh - dy - h, 0), (dx, mw - dx - w, 0), (0, 0, 0)))
                    acc = slab if acc is None else acc + slab
            phase_row.append(jnp.zeros((b, mh, mw, cout), x.dtype) if acc is None else acc)
        phase_rows.append(jnp.stack(phase_row, axis=3))  # (B, mh, mw, sw, C)
    out = jnp.stack(phase_rows, axis=2).reshape(b, mh * sh, mw * sw, cout)  # interleave phases
    return out[:, :out_h, :out_w, :]


def _conv_transpose_fwd(x, kernel, strides, padding):
    return _conv_transpose_forward(x, kernel, strides, padding), (x, kernel)


def _conv_transpose_bwd(strides, padding, residuals, dy):
    """Both gradients as two matmuls with the im2col of dy (the transpose of the overlap-add).

    Every (pixel, tap) product of the forward pass landed on one output position, so its
    gradient is dy read back at that position: ``dcols[b, i, j, ky, kx] = dy[s*i + ky - c]``.
    Gathering those reads as one (B*H*W, K*K*Cout) matrix turns the backward pass into
    ``dx = dcols @ Wmat.T`` and ``dWmat = x.T @ dcols`` - two large matmuls, no scatter.
    """
    x, kernel = residuals
    dy = lax.optimization_barrier(dy)  # computed once, then read by all K*K taps
    b, h, w, cin = x.shape
    kh, kw, _, cout = kernel.shape
    sh, sw = strides
    out_h, out_w, ch, cw = _geometry(x.shape, kernel.shape, strides, padding)
    if _use_scatter_matrix(x.shape, out_h, out_w):
        s = _scatter_matrix(h, w, kh, kw, strides, out_h, out_w, ch, cw)
        dcols = jnp.einsum("op,boc->bpc", s, dy.reshape(b, out_h * out_w, cout))
        dcols = dcols.reshape(b * h * w, kh * kw * cout)
    else:
        dcols = _im2col_of_dy(dy, x.shape, kernel.shape, strides, out_h, out_w, ch, cw)
    wmat = _kernel_matrix(kernel)
    dx = (dcols @ wmat.T).reshape(x.shape)
    dwmat = x.reshape(b * h * w, cin).T @ dcols                       # (Cin, K*K*Cout)
    dkernel = jnp.transpose(dwmat.reshape(cin, kh, kw, cout), (1, 2, 0, 3))[::-1, ::-1]
    return dx, dkernel


def _im2col_of_dy(dy, x_shape, k_shape, strides, out_h, out_w, ch, cw):
    """(B*H*W, K*K*Cout): for every input pixel and tap, dy at the output position it landed on."""
    b, h, w, _ = x_shape
    kh, kw, _, cout = k_shape
    sh, sw = strides
    full_h, full_w = (h - 1) * sh + kh, (w - 1) * sw + kw
    dyf = lax.pad(dy, jnp.zeros((), dy.dtype),
                  ((0, 0, 0), (ch, full_h - ch - out_h, 0), (cw, full_w - cw - out_w, 0), (0, 0, 0)))
    taps = [dyf[:, ky: ky + (h - 1) * sh + 1: sh, kx: kx + (w - 1) * sw + 1: sw, :]
            for ky in range(kh) for kx in range(kw)]
    return jnp.stack(taps, axis=3).reshape(b * h * w, kh * kw * cout)


conv_transpose_matmul.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def default_conv_impl() -> str:
    """The transposed-convolution implementation that is fastest on the current backend.

    Measured on CPU (``benchmarks/train_step.py --conv-impl xla`` vs ``matmul``; notebook 6,
    section 4): the matmul form is about 30x faster for the 3x3 -> 7x7 layer and turns a ~9 s
    iteration into ~0.5 s.  On GPU the native layer uses cuDNN and we keep it there; that choice
    is not measured yet (no GPU was available), the same benchmark flag compares both.
    """
    return "matmul" if jax.default_backend() == "cpu" else "xla"


class ConvTranspose(nnx.ConvTranspose):
    """``nnx.ConvTranspose`` with a fast CPU path; same parameters, same math.

    ``impl``: ``"xla"`` is flax's own layer (``lax.conv_transpose``); ``"matmul"`` is
    :func:`conv_transpose_matmul`; ``"auto"`` (default) picks :func:`default_conv_impl` when traced.
    Checkpoints are interchangeable between implementations.
    """

    def __init__(self, *args, impl: ConvImpl = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        if impl not in ("auto", "matmul", "xla"):
            raise ValueError(f"impl must be 'auto', 'matmul' or 'xla', got {impl!r}")
        self.impl = impl

    def __call__(self, inputs: jax.Array) -> jax.Array:
        impl = default_conv_impl() if self.impl == "auto" else self.impl
        if impl == "xla" or inputs.ndim != 4 or self.mask is not None:
            return super().__call__(inputs)
        if self.kernel_dilation not in (None, 1, (1, 1)) or self.padding not in ("SAME", "VALID"):
            return super().__call__(inputs)
        strides = self.strides if isinstance(self.strides, tuple) else (self.strides or 1,) * 2
        kernel = self.kernel[...]
        y = conv_transpose_matmul(inputs, kernel, tuple(strides), self.padding)
        if self.bias is not None:
            y = y + self.bias[...]
        return y


# ----------------------------------------------------------------------------- input checks
def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


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
    """Raise ValueError unless ``z`` is a float (N, latent_dim) array."""
    shape = tuple(np.shape(z))
    if len(shape) != 2 or shape[1] != latent_dim or (n is not None and shape[0] != n):
        want = f"({n if n is not None else 'N'}, {latent_dim})"
        raise ValueError(f"latent vectors z must have shape {want}, got {shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise ValueError(f"latent vectors z must be floating point, got dtype {z.dtype}")


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
        if latent_dim < 1 or num_classes < 2:
            raise ValueError(f"need latent_dim >= 1 and num_classes >= 2, got {latent_dim}, {num_classes}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embedding = nnx.Embed(num_classes, latent_dim, embedding_init=glorot_normal, rngs=rngs)
        self.dense = nnx.Linear(latent_dim, 3 * 3 * 384, kernel_init=glorot_uniform, rngs=rngs)
        conv = dict(kernel_size=(5, 5), kernel_init=glorot_normal, impl=conv_impl, rngs=rngs)
        self.deconv1 = ConvTranspose(384, 192, strides=(1, 1), padding="VALID", **conv)
        self.bn1 = nnx.BatchNorm(192, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, rngs=rngs)
        self.deconv2 = ConvTranspose(192, 96, strides=(2, 2), padding="SAME", **conv)
        self.bn2 = nnx.BatchNorm(96, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, rngs=rngs)
        self.deconv3 = ConvTranspose(96, 1, strides=(2, 2), padding="SAME", **conv)

    def layers(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> list[tuple[str, jax.Array]]:
        """Every intermediate activation, in order, as (name, array): for teaching and ``info``."""
        check_latent(z, self.latent_dim)
        check_labels(labels, n=z.shape[0], num_classes=self.num_classes)
        emb = self.embedding(labels)                           # (N, latent)
        h = z * emb                                            # (N, latent) Hadamard product
        return [("embedding(label)", emb), ("z * embedding", h)] + self.decode_layers(h, train=train)

    def decode_layers(self, h: jax.Array, *, train: bool | None = None) -> list[tuple[str, jax.Array]]:
        """From the class-conditioned latent ``h = z * embedding`` (N, latent_dim) to the image, layer by layer."""
        ura = None if train is None else (not train)
        out = []
        h = nnx.relu(self.dense(h)).reshape(-1, 3, 3, 384)     # (N, 3, 3, 384)
        out.append(("dense + relu -> reshape", h))
        h = self.bn1(nnx.relu(self.deconv1(h)), use_running_average=ura)   # (N, 7, 7, 192)
        out.append(("deconv1 + relu + bn", h))
        h = self.bn2(nnx.relu(self.deconv2(h)), use_running_average=ura)   # (N, 14, 14, 96)
        out.append(("deconv2 + relu + bn", h))
        h = jnp.tanh(self.deconv3(h))                          # (N, 28, 28, 1)
        out.append(("deconv3 + tanh", h))
        return out

    def decode(self, h: jax.Array, *, train: bool | None = None) -> jax.Array:
        """Images (N, 28, 28, 1) from ``h = z * class_vector``; lets you feed mixed class vectors."""
        return self.decode_layers(h, train=train)[-1][1]

    def __call__(self, z: jax.Array, labels: jax.Array, *, train: bool | None = None) -> jax.Array:
        return self.layers(z, labels, train=train)[-1][1]


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
        self.num_classes = num_classes
        spec = [(1, 32, 2), (32, 64, 1), (64, 128, 2), (128, 256, 1)]
        self.convs = nnx.List([
            nnx.Conv(cin, cout, kernel_size=(3, 3), strides=(s, s), padding="SAME",
                     kernel_init=glorot_uniform, rngs=rngs)
            for cin, cout, s in spec
        ])
        self.dropout = nnx.Dropout(DROPOUT_RATE, rngs=rngs)
        self.realness_head = nnx.Linear(7 * 7 * 256, 1, kernel_init=glorot_uniform, rngs=rngs)
        self.class_head = nnx.Linear(7 * 7 * 256, num_classes, kernel_init=glorot_uniform, rngs=rngs)

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
        for i, (conv, key) in enumerate(zip(self.convs, keys)):
            # Dropout masks in threefry's original bit layout: XLA:CPU draws the ~7.5 M uniforms
            # per pass about 30 ms/iteration faster that way (benchmarks/RESULTS.md). Same
            # Bernoulli(0.7) keep-probability and determinism; only the bit-to-element order differs.
            with jax.threefry_partitionable(False):
                h = self.dropout(nnx.leaky_relu(conv(h), LEAKY_SLOPE), deterministic=det, rngs=key)
            out.append((f"conv{i + 1} + leaky_relu + dropout", h))
        h = h.reshape(h.shape[0], -1)
        out.append(("flatten", h))
        return out

    def __call__(self, images: jax.Array, *, train: bool | None = None, rngs=None) -> tuple[jax.Array, jax.Array]:
        h = self.features(images, train=train, rngs=rngs)[-1][1]
        return self.realness_head(h)[:, 0], self.class_head(h)


def realness_probability(realness_logits: jax.Array) -> jax.Array:
    """The reference's sigmoid output: probability that each image is real, (N,)."""
    return jax.nn.sigmoid(realness_logits)


def class_probabilities(class_logits: jax.Array) -> jax.Array:
    """The reference's softmax output, (N, num_classes)."""
    return jax.nn.softmax(class_logits, axis=-1)


def sample_latent(key: jax.Array, n: int, latent_dim: int = LATENT_DIM) -> jax.Array:
    """z ~ U[-1, 1]^(n, latent_dim), as the reference draws it."""
    return jax.random.uniform(key, (n, latent_dim), jnp.float32, -1.0, 1.0)


def sample_labels(key: jax.Array, n: int, num_classes: int = NUM_CLASSES) -> jax.Array:
    """n class ids drawn uniformly from 0..num_classes-1, int32."""
    return jax.random.randint(key, (n,), 0, num_classes, jnp.int32)


def count_params(module: nnx.Module, kind=nnx.Param) -> int:
    """Number of scalars in the module's variables of ``kind`` (trainable parameters by default)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(module, kind))))


@dataclasses.dataclass(frozen=True)
class LayerRow:
    name: str
    shape: tuple[int, ...]
    params: int


def summary_rows(gen: Generator, disc: Discriminator) -> dict[str, list[LayerRow]]:
    """Per-layer output shape and parameter count of both networks (batch of 1, shapes only)."""
    def params_of(*mods):
        return sum(count_params(m) for m in mods)

    z = jnp.zeros((1, gen.latent_dim))
    lab = jnp.zeros((1,), jnp.int32)
    gshapes = jax.eval_shape(lambda: [a for _, a in gen.layers(z, lab, train=False)])
    names = ["embedding(label)", "z * embedding", "dense + relu -> reshape", "deconv1 + relu + bn",
             "deconv2 + relu + bn", "deconv3 + tanh"]
    gparams = [params_of(gen.embedding), 0, params_of(gen.dense), params_of(gen.deconv1, gen.bn1),
               params_of(gen.deconv2, gen.bn2), params_of(gen.deconv3)]
    g_rows = [LayerRow(n, tuple(s.shape[1:]), p) for n, s, p in zip(names, gshapes, gparams)]
    x = jnp.zeros((1, *IMAGE_SHAPE))
    dshapes = jax.eval_shape(lambda: [a for _, a in disc.features(x, train=False)])
    d_rows = [LayerRow(f"conv{i + 1} + leaky_relu + dropout", tuple(s.shape[1:]), params_of(c))
              for i, (s, c) in enumerate(zip(dshapes, disc.convs))]
    d_rows.append(LayerRow("flatten", tuple(dshapes[-1].shape[1:]), 0))
    d_rows.append(LayerRow("realness head (logit)", (1,), params_of(disc.realness_head)))
    d_rows.append(LayerRow("class head (logits)", (disc.num_classes,), params_of(disc.class_head)))
    return {"generator": g_rows, "discriminator": d_rows}


def format_summary(gen: Generator, disc: Discriminator) -> str:
    """A printable layer table of both networks with totals (the ``info`` command)."""
    lines = []
    for net, rows in summary_rows(gen, disc).items():
        module = gen if net == "generator" else disc
        lines.append(f"{net}")
        lines.append(f"  {'layer':<32}{'output shape':<18}{'params':>12}")
        for r in rows:
            lines.append(f"  {r.name:<32}{str(r.shape):<18}{r.params:>12,}")
        lines.append(f"  {'trainable parameters':<50}{count_params(module):>12,}")
        stats = count_params(module, nnx.BatchStat)
        if stats:
            lines.append(f"  {'batch-norm statistics (not trained)':<50}{stats:>12,}")
        lines.append("")
    return "\n".join(lines)
