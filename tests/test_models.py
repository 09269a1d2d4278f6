import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from acgan_lib import models


def test_parameter_counts_match_reference():
    gen = models.Generator(latent_dim=100, num_classes=10, rngs=nnx.Rngs(0))
    disc = models.Discriminator(num_classes=10, rngs=nnx.Rngs(1))
    assert models.count_params(gen) == 2_657_321
    assert models.count_params(gen, nnx.BatchStat) == 576
    assert models.count_params(disc) == 525_835
    # the tfjs summary of the combined model counts batch-norm statistics too
    assert models.count_params(gen) + models.count_params(disc) + 576 == 3_183_732


def test_output_shapes_and_ranges(nets):
    gen, disc, _, _ = nets
    z = models.sample_latent(jax.random.key(0), 6)
    labels = jnp.array([0, 1, 2, 7, 8, 9])
    images = gen(z, labels)
    assert images.shape == (6, 28, 28, 1) and images.dtype == jnp.float32
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    realness, classes = disc(images)
    assert realness.shape == (6,) and classes.shape == (6, 10)
    shapes = [tuple(a.shape[1:]) for _, a in gen.layers(z, labels)]
    assert shapes == [(100,), (100,), (3, 3, 384), (7, 7, 192), (14, 14, 96), (28, 28, 1)]
    dshapes = [tuple(a.shape[1:]) for _, a in disc.features(images, train=False)]
    assert dshapes == [(14, 14, 32), (14, 14, 64), (7, 7, 128), (7, 7, 256), (12544,)]


def test_latent_sampling_is_uniform_in_range():
    z = np.asarray(models.sample_latent(jax.random.key(3), 2000, 100))
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.01


@pytest.mark.parametrize("batch,size,cin,cout,stride,padding", [
    (4, 3, 384, 192, 1, "VALID"),   # deconv1: 3x3 -> 7x7
    (4, 7, 192, 96, 2, "SAME"),     # deconv2: 7x7 -> 14x14
    (4, 14, 96, 1, 2, "SAME"),      # deconv3: 14x14 -> 28x28
    (2, 5, 3, 4, 3, "SAME"),        # a stride larger than in the model
    (2, 4, 3, 4, 2, "VALID"),
])
def test_fast_conv_transpose_equals_flax_layer(batch, size, cin, cout, stride, padding):
    key = jax.random.key(0)
    fast = models.ConvTranspose(cin, cout, kernel_size=(5, 5), strides=(stride, stride), padding=padding,
                                kernel_init=models.glorot_normal, impl="matmul", rngs=nnx.Rngs(0))
    ref = nnx.ConvTranspose(cin, cout, kernel_size=(5, 5), strides=(stride, stride), padding=padding,
                            kernel_init=models.glorot_normal, rngs=nnx.Rngs(0))
    # same parameter layout: names, shapes, and (same init) values
    fs, rs = nnx.state(fast, nnx.Param), nnx.state(ref, nnx.Param)
    assert jax.tree.structure(fs) == jax.tree.structure(rs)
    for a, b in zip(jax.tree.leaves(fs), jax.tree.leaves(rs)):
        assert a.shape == b.shape and np.array_equal(a, b)
    ref.bias[...] = jax.random.normal(jax.random.key(5), ref.bias.shape)
    fast.bias[...] = ref.bias[...]
    x = jax.random.normal(key, (batch, size, size, cin))
    np.testing.assert_allclose(fast(x), ref(x), rtol=1e-4, atol=1e-4)

    def loss(kernel, x, impl):
        y = (models.conv_transpose_matmul(x, kernel, (stride, stride), padding) if impl == "matmul"
             else lax.conv_transpose(x, kernel, (stride, stride), padding))
        return jnp.sum(jnp.sin(y))

    kernel = ref.kernel[...]
    gk_fast, gx_fast = jax.grad(loss, (0, 1))(kernel, x, "matmul")
    gk_ref, gx_ref = jax.grad(loss, (0, 1))(kernel, x, "xla")
    np.testing.assert_allclose(gx_fast, gx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gk_fast, gk_ref, rtol=1e-4, atol=1e-3)


def test_generator_impls_share_checkpoint_layout():
    a = models.Generator(rngs=nnx.Rngs(0), conv_impl="matmul")
    b = models.Generator(rngs=nnx.Rngs(0), conv_impl="xla")
    z = models.sample_latent(jax.random.key(1), 3)
    labels = jnp.array([1, 5, 9])
    np.testing.assert_allclose(a(z, labels, train=False), b(z, labels, train=False), atol=1e-5)
    assert jax.tree.structure(nnx.state(a)) == jax.tree.structure(nnx.state(b))


@pytest.mark.parametrize("labels,match", [
    (jnp.array([0, 10]), r"0\.\.9, got values in 0\.\.10"),
    (jnp.array([-1, 3]), r"0\.\.9, got values in -1\.\.3"),
    (jnp.array([0.0, 1.0]), r"integers"),
    (jnp.array([[0, 1]]), r"shape \(2,\)"),
])
def test_bad_labels_raise_clear_errors(nets, labels, match):
    gen = nets[0]
    z = models.sample_latent(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=match):
        gen(z, labels)


def test_bad_latent_and_images_raise_clear_errors(nets):
    gen, disc, _, _ = nets
    with pytest.raises(ValueError, match=r"shape \(N, 100\), got \(2, 64\)"):
        gen(jnp.zeros((2, 64)), jnp.array([0, 1]))
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\).*got \(2, 28, 28\)"):
        disc(jnp.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="floating point"):
        disc(jnp.zeros((2, 28, 28, 1), jnp.uint8))


def test_summary_lists_every_layer(nets):
    text = models.format_summary(nets[0], nets[1])
    assert "2,657,321" in text and "525,835" in text and "(7, 7, 192)" in text


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
        monkeypatch.setattr(models, "_use_scatter_matrix", lambda *a: use_s)
        f = lambda x, k: models.conv_transpose_matmul(x, k, (stride, stride), padding)
        return f(x, kernel), jax.grad(lambda x, k: jnp.sum(jnp.sin(f(x, k))), (0, 1))(x, kernel)

    (ys, gs), (yp, gp) = value_and_grads(True), value_and_grads(False)
    np.testing.assert_allclose(ys, yp, rtol=1e-5, atol=1e-4)
    for a, b in zip(gs, gp):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ys, lax.conv_transpose(x, kernel, (stride, stride), padding), rtol=1e-4, atol=1e-3)


def test_scatter_matrix_is_used_only_where_cheap():
    assert models._use_scatter_matrix((200, 3, 3, 384), 7, 7)        # deconv1: 49 outputs, 384 channels
    assert not models._use_scatter_matrix((200, 7, 7, 192), 14, 14)  # deconv2
    assert not models._use_scatter_matrix((200, 14, 14, 96), 28, 28)  # deconv3
    s = models._scatter_matrix(3, 3, 5, 5, (1, 1), 7, 7, 0, 0)
    assert s.shape == (49, 225) and np.all(s.sum(0) == 1)  # every (pixel, tap) product lands once


def test_dropout_drops_thirty_percent_deterministically():
    disc = models.Discriminator(rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(1), (64, 28, 28, 1), minval=-1, maxval=1)
    feats = disc.features(x, train=True, rngs=jax.random.key(2))
    again = disc.features(x, train=True, rngs=jax.random.key(2))
    other = disc.features(x, train=True, rngs=jax.random.key(3))
    for (_, a), (_, b), (_, c) in zip(feats[:4], again[:4], other[:4]):
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        dropped = float(jnp.mean(a == 0))
        assert abs(dropped - models.DROPOUT_RATE) < 0.01, dropped
