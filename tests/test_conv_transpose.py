"""The fast transposed convolution (acgan_lib.conv_transpose) against flax's / XLA's layer.

Numerics are compared under ``jax.default_matmul_precision("highest")`` so the fp32 tolerances
hold on every backend: on NVIDIA GPUs JAX's default fp32 matmul precision is TF32 (10-bit
mantissa), which alone moves these sums by ~1e-3.  Both implementations are forced explicitly
(``impl="matmul"`` / ``"xla"``), so the GPU code path (matmul, the GPU default) is covered on CPU.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from acgan_lib import conv_transpose as ct
from acgan_lib import models

HIGHEST = jax.default_matmul_precision("highest")


@pytest.mark.parametrize("batch,size,cin,cout,stride,padding", [
    (4, 3, 384, 192, 1, "VALID"),   # deconv1: 3x3 -> 7x7
    (4, 7, 192, 96, 2, "SAME"),     # deconv2: 7x7 -> 14x14
    (4, 14, 96, 1, 2, "SAME"),      # deconv3: 14x14 -> 28x28
    (2, 5, 3, 4, 3, "SAME"),        # a stride larger than in the model
    (2, 4, 3, 4, 2, "VALID"),
])
def test_fast_conv_transpose_equals_flax_layer(batch, size, cin, cout, stride, padding):
    key = jax.random.key(0)
    fast = ct.ConvTranspose(cin, cout, kernel_size=(5, 5), strides=(stride, stride), padding=padding,
                            kernel_init=models.glorot_normal, impl="matmul", rngs=nnx.Rngs(0))
    ref = nnx.ConvTranspose(cin, cout, kernel_size=(5, 5), strides=(stride, stride), padding=padding,
                            kernel_init=models.glorot_normal, rngs=nnx.Rngs(0))
    # same parameter layout: names, shapes, and (same init) values
    fs, rs = nnx.state(fast, nnx.Param), nnx.state(ref, nnx.Param)
    assert jax.tree.structure(fs) == jax.tree.structure(rs)
    for a, b in zip(jax.tree.leaves(fs), jax.tree.leaves(rs), strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
    ref.bias[...] = jax.random.normal(jax.random.key(5), ref.bias.shape)
    fast.bias[...] = ref.bias[...]
    x = jax.random.normal(key, (batch, size, size, cin))

    def loss(kernel, x, impl):
        y = (ct.conv_transpose_matmul(x, kernel, (stride, stride), padding) if impl == "matmul"
             else lax.conv_transpose(x, kernel, (stride, stride), padding))
        return jnp.sum(jnp.sin(y))

    with HIGHEST:
        np.testing.assert_allclose(fast(x), ref(x), rtol=1e-4, atol=1e-4)
        kernel = ref.kernel[...]
        gk_fast, gx_fast = jax.grad(loss, (0, 1))(kernel, x, "matmul")
        gk_ref, gx_ref = jax.grad(loss, (0, 1))(kernel, x, "xla")
    np.testing.assert_allclose(gx_fast, gx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gk_fast, gk_ref, rtol=1e-4, atol=1e-3)


def test_generator_impls_share_checkpoint_layout():
    a = models.Generator(rngs=nnx.Rngs(0), conv_impl="matmul")
    b = models.Generator(rngs=nnx.Rngs(0), conv_impl="xla")
    assert a.deconv1.chosen_impl() == "matmul" and b.deconv1.chosen_impl() == "xla"
    z = models.sample_latent(jax.random.key(1), 3)
    labels = jnp.array([1, 5, 9])
    with HIGHEST:
        np.testing.assert_allclose(a(z, labels, train=False), b(z, labels, train=False), atol=1e-5)
    assert jax.tree.structure(nnx.state(a)) == jax.tree.structure(nnx.state(b))


@pytest.mark.parametrize("size,cin,cout,stride,padding", [
    (3, 16, 8, 1, "VALID"),     # the deconv1 geometry (S is used there)
    (7, 8, 4, 2, "SAME"),       # the deconv2 geometry (slab sums are used there)
    (4, 3, 2, 3, "SAME"),
])
def test_overlap_add_by_scatter_matrix_equals_slab_sums(monkeypatch, size, cin, cout, stride, padding):
    """The two overlap-add forms (0/1 matrix S, or shifted slab sums) give the same layer and gradients."""
    x = jax.random.normal(jax.random.key(0), (2, size, size, cin))
    kernel = jax.random.normal(jax.random.key(1), (5, 5, cin, cout))

    def value_and_grads(use_s):
        monkeypatch.setattr(ct._Plan, "use_scatter_matrix", property(lambda self: use_s))
        f = lambda x, k: ct.conv_transpose_matmul(x, k, (stride, stride), padding)  # noqa: E731
        return f(x, kernel), jax.grad(lambda x, k: jnp.sum(jnp.sin(f(x, k))), (0, 1))(x, kernel)

    with HIGHEST:
        (ys, gs), (yp, gp) = value_and_grads(True), value_and_grads(False)
        ref = lax.conv_transpose(x, kernel, (stride, stride), padding)
    np.testing.assert_allclose(ys, yp, rtol=1e-5, atol=1e-4)
    for a, b in zip(gs, gp, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ys, ref, rtol=1e-4, atol=1e-3)


def test_scatter_matrix_is_used_only_where_cheap():
    k = (5, 5)
    assert ct._plan((200, 3, 3, 384), (*k, 384, 192), (1, 1), "VALID").use_scatter_matrix      # deconv1
    assert not ct._plan((200, 7, 7, 192), (*k, 192, 96), (2, 2), "SAME").use_scatter_matrix     # deconv2
    assert not ct._plan((200, 14, 14, 96), (*k, 96, 1), (2, 2), "SAME").use_scatter_matrix      # deconv3
    p = ct._plan((1, 3, 3, 384), (*k, 384, 192), (1, 1), "VALID")
    assert (p.out_h, p.out_w) == (7, 7)
    s = p.scatter_matrix()
    assert s.shape == (49, 225) and np.all(s.sum(0) == 1)  # every (pixel, tap) product lands once


def test_default_impl_is_matmul_on_cpu_and_gpu(monkeypatch):
    """Measured: matmul is faster on CPU (~30x for deconv1) and on an H200 GPU (2.4 vs 3.6 ms/it)."""
    for backend, want in (("cpu", "matmul"), ("gpu", "matmul"), ("cuda", "matmul"), ("tpu", "xla")):
        monkeypatch.setattr(jax, "default_backend", lambda b=backend: b)
        assert ct.default_conv_impl() == want
        assert ct.ConvTranspose(4, 2, kernel_size=(5, 5), rngs=nnx.Rngs(0)).chosen_impl() == want


def test_matmul_impl_refuses_settings_it_cannot_compute():
    with pytest.raises(ValueError, match=r"impl='matmul' does not support kernel_dilation=\(2, 2\)"):
        ct.ConvTranspose(4, 2, kernel_size=(3, 3), kernel_dilation=(2, 2), impl="matmul", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="impl='matmul' does not support padding"):
        ct.ConvTranspose(4, 2, kernel_size=(3, 3), padding="CIRCULAR", impl="matmul", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="impl must be"):
        ct.ConvTranspose(4, 2, kernel_size=(3, 3), impl="fast", rngs=nnx.Rngs(0))
    # "auto" says which one it runs for such a setting (XLA's), and computes flax's layer
    auto = ct.ConvTranspose(4, 2, kernel_size=(3, 3), kernel_dilation=(2, 2), rngs=nnx.Rngs(0))
    ref = nnx.ConvTranspose(4, 2, kernel_size=(3, 3), kernel_dilation=(2, 2), rngs=nnx.Rngs(0))
    assert auto.chosen_impl() == "xla"
    x = jax.random.normal(jax.random.key(0), (1, 4, 4, 4))
    np.testing.assert_array_equal(auto(x), ref(x))
    with pytest.raises(ValueError, match=r"needs \(N, H, W, C\) inputs"):
        ct.ConvTranspose(4, 2, kernel_size=(3, 3), impl="matmul", rngs=nnx.Rngs(0))(jnp.zeros((4, 4, 4)))
