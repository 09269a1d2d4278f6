import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acgan_lib import models
from conftest import pairs


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


def test_dropout_drops_thirty_percent_deterministically():
    disc = models.Discriminator(rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(1), (64, 28, 28, 1), minval=-1, maxval=1)
    feats = disc.features(x, train=True, rngs=jax.random.key(2))
    again = disc.features(x, train=True, rngs=jax.random.key(2))
    other = disc.features(x, train=True, rngs=jax.random.key(3))
    for (_, a), (_, b), (_, c) in pairs(feats[:4], again[:4], other[:4]):
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        dropped = float(jnp.mean(a == 0))
        assert abs(dropped - models.DROPOUT_RATE) < 0.01, dropped


def test_generate_needs_a_key_or_z_and_accepts_lists(nets):
    gen = nets[0]
    with pytest.raises(ValueError, match="needs a PRNG key"):
        models.generate(gen, [1, 2])
    with pytest.raises(ValueError, match="either key"):
        models.generate(gen, [1], key=jax.random.key(0), z=np.zeros((1, 100), np.float32))
    a = models.generate(gen, [0, 5, 9], key=jax.random.key(0))
    b = models.generate(gen, np.array([0, 5, 9]), z=models.sample_latent(jax.random.key(0), 3))
    assert a.shape == (3, 28, 28, 1) and np.array_equal(a, b)
    z_list = np.asarray(models.sample_latent(jax.random.key(1), 2)).tolist()   # plain Python lists
    assert models.generate(gen, [3, 4], z=z_list).shape == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="0..9"):
        models.generate(gen, [10], key=jax.random.key(0))


def test_nan_latent_is_refused_before_it_reaches_batch_norm(nets):
    gen = nets[0]
    stats = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.BatchStat))]
    z = np.asarray(models.sample_latent(jax.random.key(0), 4)).copy()
    z[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf.*batch-norm"):
        gen(jnp.asarray(z), jnp.array([0, 1, 2, 3]), train=True)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in pairs(stats, jax.tree.leaves(nnx.state(gen, nnx.BatchStat))))


@pytest.mark.parametrize("n", [1, 0, -3, 2.0, True])
def test_num_classes_below_two_or_not_whole_is_refused(n):
    with pytest.raises(ValueError, match="num_classes must be a whole number >= 2"):
        models.Generator(num_classes=n, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_classes must be a whole number >= 2"):
        models.Discriminator(num_classes=n, rngs=nnx.Rngs(0))
    assert models.Discriminator(num_classes=np.int64(3), rngs=nnx.Rngs(0)).num_classes == 3


def test_layer_names_are_defined_once(nets):
    gen, disc = nets[0], nets[1]
    z, lab = models.sample_latent(jax.random.key(0), 1), jnp.array([3])
    assert tuple(n for n, _ in gen.layers(z, lab)) == models.GENERATOR_LAYERS
    assert tuple(n for n, _ in disc.features(jnp.zeros((1, 28, 28, 1)))) == models.DISCRIMINATOR_LAYERS
    rows = models.summary_rows(gen, disc)
    assert tuple(r.name for r in rows["generator"]) == models.GENERATOR_LAYERS


def test_python_calls_run_compiled_and_compute_what_the_layers_compute(nets):
    """A call from plain Python runs one compiled program; it must equal the layer-by-layer path,
    move the batch-norm averages exactly when training, and leave them alone in inference."""
    gen, disc = nets[:2]
    z = models.sample_latent(jax.random.key(3), 6)
    labels = jnp.arange(6) % 10
    for train in (False, True):
        g_call, g_layers = nnx.clone(gen), nnx.clone(gen)
        out_call = g_call(z, labels, train=train)
        out_layers = g_layers.layers(z, labels, train=train)[-1][1]
        np.testing.assert_allclose(nnx.clone(gen).forward(z, labels, train=train), out_layers, atol=1e-5)
        np.testing.assert_allclose(out_call, out_layers, atol=1e-5)
        for a, b in pairs(jax.tree.leaves(nnx.state(g_call, nnx.BatchStat)),
                        jax.tree.leaves(nnx.state(g_layers, nnx.BatchStat))):
            np.testing.assert_allclose(a, b, atol=1e-6)
        moved = any(not np.array_equal(a, b) for a, b in pairs(jax.tree.leaves(nnx.state(g_call, nnx.BatchStat)),
                                                            jax.tree.leaves(nnx.state(gen, nnx.BatchStat))))
        assert moved == train
    images = gen(z, labels, train=False)
    for train, rngs in [(False, None), (True, jax.random.key(4)), (True, nnx.Rngs(dropout=5))]:
        call = disc(images, train=train, rngs=rngs)
        ref = disc.forward(images, jax.random.key(4) if isinstance(rngs, jax.Array) else None, train=train)
        if rngs is None or isinstance(rngs, jax.Array):
            for a, b in pairs(call, ref):
                np.testing.assert_allclose(a, b, atol=1e-5)
        assert call[0].shape == (6,) and call[1].shape == (6, 10)
    # inside a transformation (per_loss_gradients' vjp, a jitted step) the same call is traced through
    grad = jax.grad(lambda x: disc(x, train=False)[0].sum())(images)
    assert grad.shape == images.shape and bool(jnp.all(jnp.isfinite(grad)))
