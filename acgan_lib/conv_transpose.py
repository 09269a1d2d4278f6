"""A fast transposed convolution: one matrix multiplication plus an overlap-add.

:class:`ConvTranspose` is ``nnx.ConvTranspose`` with the same parameters (``kernel`` (kh, kw, in,
out), ``bias`` (out,)) and the same math, computed by :func:`conv_transpose_matmul` where that is
faster.  Which implementation is faster depends on the backend (:func:`default_conv_impl`):

* CPU: XLA:CPU lowers transposed convolutions to a slow direct loop; the matmul form is about
  30x faster for the 3x3 -> 7x7 layer and turns a ~9 s training iteration into ~0.5 s
  (``benchmarks/train_step.py``, notebook 6).
* GPU: measured on an NVIDIA H200 (jax 0.11.2 CUDA, ``benchmarks/train_step.py``), the matmul
  form is faster too: 2.4 vs 3.6 ms per iteration at batch 100, 10.3 vs 25.4 ms at batch 1000.

Both forms share one description of the geometry, :func:`_plan`, used by the forward pass and the
custom backward pass alike.
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

from .config import CONV_IMPLS   # ("auto", "matmul", "xla"): the setting's choices, defined once

ConvImpl = Literal["auto", "matmul", "xla"]


def default_conv_impl() -> str:
    """The transposed-convolution implementation that is fastest on the current backend, by measurement.

    ``"matmul"`` on every backend measured so far (see the module docstring for the figures):
    on CPU it is ~30x faster for the 3x3 -> 7x7 layer; on an H200 GPU 1.5x (batch 100) to 2.5x
    (batch 1000) faster per training iteration.  Backends nobody has measured (e.g. TPU) keep
    XLA's own layer.  ``benchmarks/train_step.py --conv-impl xla|matmul`` re-measures it.
    """
    return "matmul" if jax.default_backend() in ("cpu", "gpu", "cuda", "rocm") else "xla"


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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Geometry of one transposed convolution, shared by its forward and backward pass.

    Input pixel ``i`` times (flipped) kernel tap ``k`` lands on output row ``s*i + k - c``
    (``c = ch`` for rows, ``cw`` for columns).  ``mh, mw``: rows / columns per stride phase.
    """
    b: int
    h: int
    w: int
    cin: int
    kh: int
    kw: int
    cout: int
    sh: int
    sw: int
    out_h: int
    out_w: int
    ch: int
    cw: int

    @property
    def mh(self) -> int:
        return -(-self.out_h // self.sh)

    @property
    def mw(self) -> int:
        return -(-self.out_w // self.sw)

    @property
    def use_scatter_matrix(self) -> bool:
        """Overlap-add by matmul with a 0/1 matrix S when that costs little next to the main matmul.

        The S product costs out_h*out_w / Cin of the main matmul's FLOPs: about 13 % for the
        3x3 -> 7x7 layer (49 / 384), whose 25 shifted slabs XLA would otherwise write out one by
        one; the larger layers keep the slab sums (S would cost as much as the layer itself).
        """
        return self.out_h * self.out_w * 4 <= self.cin

    def scatter_matrix(self) -> np.ndarray:
        """S (out_h*out_w, h*w*kh*kw): S[o, (i, j, ky, kx)] = 1 where pixel (i, j) times tap (ky, kx) lands."""
        s = np.zeros((self.out_h * self.out_w, self.h * self.w * self.kh * self.kw), np.float32)
        i, j, ky, kx = np.meshgrid(np.arange(self.h), np.arange(self.w), np.arange(self.kh),
                                   np.arange(self.kw), indexing="ij")
        oy, ox = self.sh * i + ky - self.ch, self.sw * j + kx - self.cw
        ok = (oy >= 0) & (oy < self.out_h) & (ox >= 0) & (ox < self.out_w)
        s[(oy * self.out_w + ox)[ok], np.arange(s.shape[1]).reshape(i.shape)[ok]] = 1.0
        return s


def _plan(x_shape, k_shape, strides, padding: str) -> _Plan:
    """The :class:`_Plan` of ``lax.conv_transpose(x, kernel, strides, padding)`` (flax layout)."""
    b, h, w, cin = x_shape
    kh, kw, kin, cout = k_shape
    if kin != cin:
        raise ValueError(f"kernel expects {kin} input channels, input has {cin}")
    sh, sw = strides
    (lo_h, hi_h), (lo_w, hi_w) = _transpose_padding(kh, sh, padding), _transpose_padding(kw, sw, padding)
    out_h = (h - 1) * sh + 1 + lo_h + hi_h - kh + 1
    out_w = (w - 1) * sw + 1 + lo_w + hi_w - kw + 1
    return _Plan(b, h, w, cin, kh, kw, cout, sh, sw, out_h, out_w, kh - 1 - lo_h, kw - 1 - lo_w)


def _kernel_matrix(kernel: jax.Array) -> jax.Array:
    """(K, K, Cin, Cout) -> (Cin, K*K*Cout) with the taps flipped (scatter order)."""
    kh, kw, cin, cout = kernel.shape
    return jnp.transpose(kernel[::-1, ::-1], (2, 0, 1, 3)).reshape(cin, kh * kw * cout)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose_matmul(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: str) -> jax.Array:
    """``lax.conv_transpose(x, kernel, strides, padding)`` (flax layout, no kernel flip) as matmul + overlap-add.

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
    return _forward(x, kernel, _plan(x.shape, kernel.shape, strides, padding))


def _forward(x: jax.Array, kernel: jax.Array, p: _Plan) -> jax.Array:
    cols = x.reshape(p.b * p.h * p.w, p.cin) @ _kernel_matrix(kernel)
    if p.use_scatter_matrix:
        out = jnp.einsum("op,bpc->boc", p.scatter_matrix(), cols.reshape(p.b, p.h * p.w * p.kh * p.kw, p.cout))
        return out.reshape(p.b, p.out_h, p.out_w, p.cout)
    cols = cols.reshape(p.b, p.h, p.w, p.kh, p.kw, p.cout)
    zero = jnp.zeros((), x.dtype)
    phase_rows = []
    for py in range(p.sh):
        phase_row = []
        for px in range(p.sw):
            acc = None
            for ky in range(p.kh):
                if (ky - p.ch - py) % p.sh:
                    continue
                dy = (ky - p.ch - py) // p.sh
                for kx in range(p.kw):
                    if (kx - p.cw - px) % p.sw:
                        continue
                    dx = (kx - p.cw - px) // p.sw
                    slab = lax.pad(cols[:, :, :, ky, kx, :], zero,
                                   ((0, 0, 0), (dy, p.mh - dy - p.h, 0), (dx, p.mw - dx - p.w, 0), (0, 0, 0)))
                    acc = slab if acc is None else acc + slab
            phase_row.append(jnp.zeros((p.b, p.mh, p.mw, p.cout), x.dtype) if acc is None else acc)
        phase_rows.append(jnp.stack(phase_row, axis=3))  # (B, mh, mw, sw, C)
    out = jnp.stack(phase_rows, axis=2).reshape(p.b, p.mh * p.sh, p.mw * p.sw, p.cout)  # interleave phases
    return out[:, :p.out_h, :p.out_w, :]


def _fwd(x, kernel, strides, padding):
    return _forward(x, kernel, _plan(x.shape, kernel.shape, strides, padding)), (x, kernel)


def _bwd(strides, padding, residuals, dy):
    """Both gradients as two matmuls with the im2col of dy (the transpose of the overlap-add).

    Every (pixel, tap) product of the forward pass landed on one output position, so its
    gradient is dy read back at that position: ``dcols[b, i, j, ky, kx] = dy[s*i + ky - c]``.
    Gathering those reads as one (B*H*W, K*K*Cout) matrix turns the backward pass into
    ``dx = dcols @ Wmat.T`` and ``dWmat = x.T @ dcols`` - two large matmuls, no scatter.
    """
    x, kernel = residuals
    dy = lax.optimization_barrier(dy)  # computed once, then read by all K*K taps
    p = _plan(x.shape, kernel.shape, strides, padding)
    if p.use_scatter_matrix:
        dcols = jnp.einsum("op,boc->bpc", p.scatter_matrix(), dy.reshape(p.b, p.out_h * p.out_w, p.cout))
        dcols = dcols.reshape(p.b * p.h * p.w, p.kh * p.kw * p.cout)
    else:
        dcols = _im2col_of_dy(dy, p)
    dx = (dcols @ _kernel_matrix(kernel).T).reshape(x.shape)
    dwmat = x.reshape(p.b * p.h * p.w, p.cin).T @ dcols                       # (Cin, K*K*Cout)
    dkernel = jnp.transpose(dwmat.reshape(p.cin, p.kh, p.kw, p.cout), (1, 2, 0, 3))[::-1, ::-1]
    return dx, dkernel


def _im2col_of_dy(dy: jax.Array, p: _Plan) -> jax.Array:
    """(B*H*W, K*K*Cout): for every input pixel and tap, dy at the output position it landed on."""
    full_h, full_w = (p.h - 1) * p.sh + p.kh, (p.w - 1) * p.sw + p.kw
    dyf = lax.pad(dy, jnp.zeros((), dy.dtype),
                  ((0, 0, 0), (p.ch, full_h - p.ch - p.out_h, 0), (p.cw, full_w - p.cw - p.out_w, 0), (0, 0, 0)))
    taps = [dyf[:, ky: ky + (p.h - 1) * p.sh + 1: p.sh, kx: kx + (p.w - 1) * p.sw + 1: p.sw, :]
            for ky in range(p.kh) for kx in range(p.kw)]
    return jnp.stack(taps, axis=3).reshape(p.b * p.h * p.w, p.kh * p.kw * p.cout)


conv_transpose_matmul.defvjp(_fwd, _bwd)


class ConvTranspose(nnx.ConvTranspose):
    """``nnx.ConvTranspose`` with a fast path; same parameters, same math.

    ``impl``: ``"xla"`` is flax's own layer (``lax.conv_transpose``); ``"matmul"`` is
    :func:`conv_transpose_matmul`; ``"auto"`` (default) picks :func:`default_conv_impl` when traced.
    The matmul form covers 2-D inputs with SAME/VALID padding, no kernel dilation and no mask:
    ``impl="matmul"`` with any other setting raises ValueError; ``"auto"`` uses XLA's layer for
    those (documented, not silent: :meth:`chosen_impl` says which one runs).
    Checkpoints are interchangeable between implementations.
    """

    def __init__(self, *args, impl: ConvImpl = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        if impl not in CONV_IMPLS:
            raise ValueError(f"impl must be 'auto', 'matmul' or 'xla', got {impl!r}")
        self.impl = impl
        if impl == "matmul" and self._unsupported_by_matmul():
            raise ValueError(f"impl='matmul' does not support {self._unsupported_by_matmul()}; "
                             f"use impl='xla' (or 'auto', which picks XLA's layer for this setting)")

    def _unsupported_by_matmul(self) -> str:
        """Why the matmul form cannot compute this layer ('' when it can)."""
        if self.mask is not None:
            return "a kernel mask"
        if self.kernel_dilation not in (None, 1, (1, 1)):
            return f"kernel_dilation={self.kernel_dilation}"
        if self.padding not in ("SAME", "VALID"):
            return f"padding={self.padding!r} (only 'SAME' and 'VALID')"
        if len(self.kernel_size) != 2:
            return f"{len(self.kernel_size)}-D kernels (only 2-D)"
        return ""

    def chosen_impl(self) -> str:
        """The implementation this layer runs on the current backend: "matmul" or "xla"."""
        impl = default_conv_impl() if self.impl == "auto" else self.impl
        return "xla" if impl == "matmul" and self._unsupported_by_matmul() else impl

    def __call__(self, inputs: jax.Array) -> jax.Array:
        if self.chosen_impl() == "xla":
            return super().__call__(inputs)
        if inputs.ndim != 4:
            raise ValueError(f"ConvTranspose(impl='matmul') needs (N, H, W, C) inputs, got shape {inputs.shape}")
        strides = self.strides if isinstance(self.strides, tuple) else (self.strides or 1,) * 2
        y = conv_transpose_matmul(inputs, self.kernel[...], tuple(strides), self.padding)
        if self.bias is not None:
            y = y + self.bias[...]
        return y
