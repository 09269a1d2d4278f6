"""The 2-D toy ACGAN (acgan_lib.toy): data, networks, and training with the MNIST library steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acgan_lib import models, toy, training
from conftest import pairs


def test_clusters_shapes_and_counts():
    ds = toy.make_clusters(0)
    n = toy.NUM_CLASSES * toy.POINTS_PER_CLASS
    assert ds.points.shape == (n, 2) and ds.points.dtype == np.float32
    assert ds.labels.shape == (n,) and ds.labels.dtype == np.int32
    assert np.bincount(ds.labels).tolist() == [toy.POINTS_PER_CLASS] * toy.NUM_CLASSES
    np.testing.assert_allclose(np.linalg.norm(ds.centres, axis=1), toy.RING_RADIUS, rtol=1e-6)
    # every class's points sit around its own centre with about the cluster spread
    for c in range(toy.NUM_CLASSES):
        p = ds.points[ds.labels == c]
        assert np.linalg.norm(p.mean(0) - ds.centres[c]) < 0.05
        assert 0.8 < p.std(0).mean() / toy.CLUSTER_STD < 1.2


def test_clusters_deterministic():
    a, b, c = toy.make_clusters(0), toy.make_clusters(0), toy.make_clusters(1)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.points, c.points)
    with pytest.raises(ValueError):
        toy.make_clusters(0, num_classes=1)


def test_networks_follow_the_mnist_protocol():
    gen, disc = toy.ToyGenerator(rngs=nnx.Rngs(0)), toy.ToyDiscriminator(rngs=nnx.Rngs(1))
    assert (gen.latent_dim, gen.num_classes, disc.num_classes) == (toy.LATENT_DIM, toy.NUM_CLASSES, toy.NUM_CLASSES)
    z = models.sample_latent(jax.random.key(0), 5, gen.latent_dim)
    labels = jnp.arange(5) % gen.num_classes
    x = gen(z, labels, train=True)
    assert x.shape == (5, 2) and x.dtype == jnp.float32
    real_logits, class_logits = disc(x, train=True, rngs=jax.random.key(1))
    assert real_logits.shape == (5,) and class_logits.shape == (5, toy.NUM_CLASSES)
    # label conditioning: same z, different label -> different point
    assert not np.allclose(gen(z, jnp.zeros(5, jnp.int32)), gen(z, jnp.ones(5, jnp.int32)))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        disc(jnp.zeros((3, 3)))
    with pytest.raises(ValueError):
        gen(z, jnp.full((5,), toy.NUM_CLASSES))


def test_discriminator_step_checks_the_declared_input_shape():
    gen, disc = toy.ToyGenerator(rngs=nnx.Rngs(0)), toy.ToyDiscriminator(rngs=nnx.Rngs(1))
    d_opt = training.make_optimizer(disc)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        training.discriminator_step(gen, disc, d_opt, np.zeros((4, 28, 28, 1), np.float32),
                                    np.zeros(4, np.int32), jax.random.key(0))
    # points are not scaled to [-1, 1]: values beyond are fine for the toy ...
    m = training.discriminator_step(gen, disc, d_opt, np.full((4, 2), 3.0, np.float32),
                                    np.zeros(4, np.int32), jax.random.key(0))
    assert np.isfinite(float(m["loss"]))
    # ... while the MNIST discriminator still insists on digits in [-1, 1]
    mdisc = models.Discriminator(rngs=nnx.Rngs(1))
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        models.check_images(np.zeros((2, 2), np.float32), shape=mdisc.input_shape, value_range=mdisc.input_range)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        models.check_images(np.full((1, 28, 28, 1), 2.0, np.float32), shape=mdisc.input_shape,
                            value_range=mdisc.input_range)


def test_spread_ratio_and_on_cluster_fraction():
    ds = toy.make_clusters(0)
    assert toy.on_cluster_fraction(ds.points, ds.labels, ds.centres) > 0.95
    np.testing.assert_allclose(toy.spread_ratio(ds.points, ds.labels, toy.NUM_CLASSES), 1.0, atol=0.15)
    collapsed = ds.centres[ds.labels]            # every point on its centre: no spread at all
    assert np.all(toy.spread_ratio(collapsed, ds.labels, toy.NUM_CLASSES) < 1e-3)
    wrong = ds.centres[(ds.labels + 3) % toy.NUM_CLASSES]
    assert toy.on_cluster_fraction(wrong, ds.labels, ds.centres) == 0


def test_a_few_hundred_steps_move_the_fakes_onto_their_clusters():
    ds = toy.make_clusters(0)
    gen, disc = toy.ToyGenerator(rngs=nnx.Rngs(0)), toy.ToyDiscriminator(rngs=nnx.Rngs(1))
    z = models.sample_latent(jax.random.key(9), 600, gen.latent_dim)
    labels = np.arange(600) % toy.NUM_CLASSES

    def mean_distance():
        fakes = toy.generate(gen, z, labels)
        return np.linalg.norm(fakes - ds.centres[labels], axis=1).mean(), fakes

    d0, fakes0 = mean_distance()
    before = toy.on_cluster_fraction(fakes0, labels, ds.centres)
    hist = toy.train(gen, disc, ds, 400, seed=0)
    d1, fakes1 = mean_distance()
    after = toy.on_cluster_fraction(fakes1, labels, ds.centres)
    assert before < 0.1 and after > 0.4, (before, after)
    assert d1 < d0 / 3, (d0, d1)
    assert hist["d_class_loss"].shape == (400,)
    assert hist["g_class_loss"][-50:].mean() < 0.3        # the requested class is recognised


def test_toy_optimizer_honours_its_learning_rate():
    gen, disc = toy.ToyGenerator(rngs=nnx.Rngs(0)), toy.ToyDiscriminator(rngs=nnx.Rngs(1))
    before = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
    training.generator_step(gen, disc, toy.make_optimizer(gen, lr=0.0), 8, jax.random.key(0))
    same = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
    assert all(np.array_equal(a, b) for a, b in pairs(before, same))
    training.generator_step(gen, disc, toy.make_optimizer(gen, lr=1e-2), 8, jax.random.key(0))
    moved = [np.asarray(x) for x in jax.tree.leaves(nnx.state(gen, nnx.Param))]
    # Adam's first step moves every parameter with a non-zero gradient by about lr
    step = max(float(np.abs(a - b).max()) for a, b in pairs(before, moved))
    assert 0.5e-2 < step <= 1.01e-2, step
