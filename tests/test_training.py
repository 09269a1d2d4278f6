import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acgan_lib import models, training
from conftest import count_compilations, leaves, pairs


def _real_batch(ds, n=16, offset=0):
    idx = np.arange(offset, offset + 500 * 10, 500)[: n] if n <= 10 else np.linspace(0, 4999, n).astype(int)
    return jnp.asarray(ds.images[idx]), jnp.asarray(ds.labels[idx])


def test_discriminator_step_loss_is_sum_of_two_positive_terms(nets, bundled):
    gen, disc, _, d_opt = nets
    x, y = _real_batch(bundled)
    m = training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0))
    assert float(m["realness_loss"]) > 0 and float(m["class_loss"]) > 0
    assert float(m["loss"]) == pytest.approx(float(m["realness_loss"]) + float(m["class_loss"]), rel=1e-6)


def test_discriminator_step_changes_only_the_discriminator(nets, bundled):
    gen, disc, _, d_opt = nets
    g_before, d_before = leaves(gen), leaves(disc, nnx.Param)
    x, y = _real_batch(bundled)
    training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0))
    assert all(np.array_equal(a, b) for a, b in pairs(g_before, leaves(gen)))  # incl. batch-norm stats
    d_after = leaves(disc, nnx.Param)
    assert all(not np.array_equal(a, b) for a, b in pairs(d_before, d_after))


def test_generator_step_freezes_the_discriminator_bit_for_bit(nets):
    gen, disc, g_opt, _ = nets
    d_before = leaves(disc)
    g_before = leaves(gen, nnx.Param)
    stats_before = leaves(gen, nnx.BatchStat)
    m = training.generator_step(gen, disc, g_opt, 32, jax.random.key(1))
    assert float(m["loss"]) == pytest.approx(float(m["realness_loss"]) + float(m["class_loss"]), rel=1e-6)
    assert all(np.array_equal(a, b) for a, b in pairs(d_before, leaves(disc)))
    assert all(not np.array_equal(a, b) for a, b in pairs(g_before, leaves(gen, nnx.Param)))
    # training mode: the batch-norm running averages moved
    assert any(not np.array_equal(a, b) for a, b in pairs(stats_before, leaves(gen, nnx.BatchStat)))



def test_generator_step_reports_each_number_once(nets):
    """fool_rate (the fraction of fakes judged real) is the generator step's one realness-accuracy number,
    computed here from the discriminator's logits on the same fakes; the log has a column for every metric."""
    from acgan_lib import runlog

    gen, disc, g_opt, _ = nets
    key, n = jax.random.key(3), 32
    kz, kl, kd = jax.random.split(key, 3)                 # the step's batch, drawn as it draws it
    z, labels = models.sample_latent(kz, n, gen.latent_dim), models.sample_labels(kl, n, gen.num_classes)
    _, aux = training.generator_loss_terms(nnx.clone(gen), disc, z, labels, kd)
    m = jax.device_get(training.generator_step(gen, disc, g_opt, n, key))
    assert set(m) == {"loss", "realness_loss", "class_loss", "fool_rate", "class_accuracy", "real_probability"}
    want = float(np.mean(np.asarray(aux["realness_logits"]) > 0))
    assert float(m["fool_rate"]) == pytest.approx(want, abs=1e-6)
    assert {f"g_{k}" for k in m} <= set(runlog.LOG_COLUMNS) and "g_realness_accuracy" not in runlog.LOG_COLUMNS

def test_generator_targets_are_soft_one_and_requested_labels(nets):
    gen, disc, _, _ = nets
    z = models.sample_latent(jax.random.key(0), 8)
    labels = jnp.arange(8) % 10
    terms, aux = training.generator_loss_terms(gen, disc, z, labels, jax.random.key(2))
    assert np.allclose(aux["realness_targets"], training.SOFT_ONE)
    expect_r = training.realness_loss(aux["realness_logits"], jnp.full(8, 0.95))
    expect_c = training.class_loss(aux["class_logits"], labels)
    assert float(terms["realness_loss"]) == pytest.approx(float(expect_r), rel=1e-6)
    assert float(terms["class_loss"]) == pytest.approx(float(expect_c), rel=1e-6)


def test_discriminator_targets():
    r, c = training.discriminator_targets(jnp.array([3, 4]), jnp.array([7, 1]))
    assert r.tolist() == pytest.approx([0.95, 0.95, 0.0, 0.0])
    assert c.tolist() == [3, 4, 7, 1]


def test_logit_losses_equal_reference_probability_losses():
    logits = jnp.array([-3.0, -0.5, 0.0, 2.0])
    targets = jnp.array([0.95, 0.0, 0.95, 0.0])
    p = jax.nn.sigmoid(logits)
    bce = -(targets * jnp.log(p) + (1 - targets) * jnp.log(1 - p)).mean()
    assert float(training.realness_loss(logits, targets)) == pytest.approx(float(bce), rel=1e-5)
    cl = jax.random.normal(jax.random.key(0), (4, 10))
    y = jnp.array([1, 2, 3, 9])
    sce = -jnp.log(jax.nn.softmax(cl)[jnp.arange(4), y]).mean()
    assert float(training.class_loss(cl, y)) == pytest.approx(float(sce), rel=1e-5)


def test_per_loss_gradients_sum_to_gradient_of_total(nets, bundled):
    _, disc, _, _ = nets
    x, y = _real_batch(bundled)
    rt = jnp.full((x.shape[0],), 0.95)
    fn = lambda d: training.discriminator_loss_terms(d, x, rt, y, jax.random.key(4))  # noqa: E731
    grads, terms, _ = training.per_loss_gradients(disc, fn, explicit=True)
    total = nnx.grad(lambda d: sum(fn(d)[0].values()))(disc)
    summed = jax.tree.map(lambda a, b: a + b, grads["realness_loss"], grads["class_loss"])
    for s, g, t in pairs(jax.tree.leaves(summed), jax.tree.leaves(grads["total"]), jax.tree.leaves(total)):
        np.testing.assert_allclose(s, t, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g, t, rtol=1e-4, atol=1e-6)
    # the two losses really pull differently: the heads each only get one loss's gradient
    assert np.all(np.asarray(grads["class_loss"]["realness_head"]["kernel"]) == 0)
    assert np.all(np.asarray(grads["realness_loss"]["class_head"]["kernel"]) == 0)
    assert np.any(np.asarray(grads["class_loss"]["convs"][3]["kernel"]) != 0)


def test_explicit_and_single_pass_updates_agree(bundled):
    x, y = _real_batch(bundled)
    results = []
    for explicit in (True, False):
        gen = models.Generator(rngs=nnx.Rngs(0))
        disc = models.Discriminator(rngs=nnx.Rngs(1))
        g_opt, d_opt = training.make_optimizer(gen), training.make_optimizer(disc)
        training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0), explicit=explicit)
        training.generator_step(gen, disc, g_opt, 16, jax.random.key(1), explicit=explicit)
        results.append(leaves(gen) + leaves(disc))
    # Adam's first step is about lr * sign(gradient): where a gradient entry is ~0, float rounding
    # between the two (mathematically equal) sums can move that weight by up to lr = 2e-4.
    for a, b in pairs(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=training.LEARNING_RATE)
    mismatched = sum(int(np.sum(~np.isclose(a, b, rtol=1e-4, atol=1e-6))) for a, b in pairs(*results))
    assert mismatched < 1e-4 * sum(a.size for a in results[0])


def test_same_seed_same_numbers(bundled):
    x, y = _real_batch(bundled)
    out = []
    for _ in range(2):
        gen = models.Generator(rngs=nnx.Rngs(0))
        disc = models.Discriminator(rngs=nnx.Rngs(1))
        g_opt, d_opt = training.make_optimizer(gen), training.make_optimizer(disc)
        m1 = training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0))
        m2 = training.generator_step(gen, disc, g_opt, 16, jax.random.key(1))
        out.append((float(m1["loss"]), float(m2["loss"]), leaves(gen)))
    assert out[0][:2] == out[1][:2]
    assert all(np.array_equal(a, b) for a, b in pairs(out[0][2], out[1][2]))


def test_step_input_validation_happens_before_jit(nets, bundled):
    gen, disc, g_opt, d_opt = nets
    x, y = _real_batch(bundled, n=4)
    with pytest.raises(ValueError, match=r"real_labels must be in 0\.\.9, got values in"):
        training.discriminator_step(gen, disc, d_opt, x, y.at[0].set(12), jax.random.key(0))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        training.discriminator_step(gen, disc, d_opt, x * 255, y, jax.random.key(0))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        training.discriminator_step(gen, disc, d_opt, x, y[:3], jax.random.key(0))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        training.generator_step(gen, disc, g_opt, 0, jax.random.key(0))
    with pytest.raises(ValueError, match="at least one image"):
        training.discriminator_step(gen, disc, d_opt, x[:0], y[:0], jax.random.key(0))


def test_mismatched_num_classes_is_refused(bundled):
    gen = models.Generator(num_classes=5, rngs=nnx.Rngs(0))
    disc = models.Discriminator(num_classes=10, rngs=nnx.Rngs(1))
    with pytest.raises(ValueError, match="generator draws 5 classes but the discriminator tells 10"):
        training.generator_step(gen, disc, training.make_optimizer(gen), 8, jax.random.key(0))
    x, y = _real_batch(bundled, n=4)
    with pytest.raises(ValueError, match="generator draws 5 classes"):
        training.discriminator_step(gen, disc, training.make_optimizer(disc), x, y % 5, jax.random.key(0))


def test_per_loss_gradients_take_names_from_the_terms(nets):
    """Any term names work (here three terms), and the metrics carry them by name."""
    _, disc, _, _ = nets
    x = jnp.zeros((2, 28, 28, 1))

    def three_terms(d):
        r, c = d(x, train=False)
        return {"a": jnp.mean(r ** 2), "b": jnp.mean(c ** 2), "c": jnp.mean(r)}, {}

    grads, terms, _ = training.per_loss_gradients(disc, three_terms, explicit=True)
    assert set(grads) == {"a", "b", "c", "total"} and set(terms) == {"a", "b", "c"}
    summed = jax.tree.map(lambda *g: sum(g), grads["a"], grads["b"], grads["c"])
    for s, t in pairs(jax.tree.leaves(summed), jax.tree.leaves(grads["total"])):
        np.testing.assert_allclose(s, t, rtol=1e-5, atol=1e-7)
    m = training._metrics({"x_loss": jnp.float32(1.0), "y_loss": jnp.float32(2.0)}, jnp.zeros(2), jnp.ones(2),
                          jnp.zeros((2, 10)), jnp.zeros(2, jnp.int32))
    assert float(m["loss"]) == 3.0 and set(m) >= {"x_loss", "y_loss"}


def test_numpy_integer_batch_sizes_are_accepted(nets):
    gen, disc, g_opt, _ = nets
    m = training.generator_step(gen, disc, g_opt, np.int64(8), jax.random.key(0))
    assert np.isfinite(float(m["loss"]))


def test_update_ema_does_what_nnx_ema_does_including_batch_norm_statistics(nets):
    """nnx.EMA(only=(Param, BatchStat)) gives the same average; see update_ema's docstring for why we keep ours."""
    gen = nets[0]
    ours = models.Generator(rngs=nnx.Rngs(7))
    theirs = nnx.EMA(ours, 0.9, only=(nnx.Param, nnx.BatchStat))
    training.update_ema(ours, gen, 0.9)
    theirs.update(gen)
    for a, b in pairs(jax.tree.leaves(nnx.state(ours, (nnx.Param, nnx.BatchStat))), jax.tree.leaves(theirs.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- issue 20 §1: compile once
def test_a_second_optimizer_reuses_the_compiled_steps(bundled):
    """Fresh networks and optimizers of the same shape, even with another learning rate, hit the jit cache."""
    x, y = _real_batch(bundled, n=8)

    def fresh(lr):
        gen, disc = models.Generator(rngs=nnx.Rngs(0)), models.Discriminator(rngs=nnx.Rngs(1))
        return gen, disc, training.make_optimizer(gen, lr), training.make_optimizer(disc, lr)

    gen, disc, g_opt, d_opt = fresh(training.LEARNING_RATE)
    with count_compilations() as first:   # compiles both steps unless an earlier test did
        training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0))
        training.generator_step(gen, disc, g_opt, 16, jax.random.key(1))
        jax.jit(lambda a: a * 3 - 1)(jnp.ones(5))
    assert first[0] >= 1          # the counter sees a compilation (the new lambda's, at least)
    gen, disc, g_opt, d_opt = fresh(1e-3)
    with count_compilations() as second:
        d = training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0))
        g = training.generator_step(gen, disc, g_opt, 16, jax.random.key(1))
        jax.block_until_ready((d, g))
    assert second[0] == 0
    assert float(d_opt.opt_state.hyperparams["learning_rate"][...]) == pytest.approx(1e-3)


def test_the_learning_rate_in_the_state_is_the_one_used():
    """Adam's first step moves every weight by about lr: with lr in the state, a 10x rate moves 10x as far."""
    moved = []
    for lr in (1e-4, 1e-3):
        disc = models.Discriminator(rngs=nnx.Rngs(1))
        before = leaves(disc, nnx.Param)
        opt = training.make_optimizer(disc, lr)
        grads = jax.tree.map(jnp.ones_like, nnx.state(disc, nnx.Param))
        opt.update(disc, grads)
        moved.append(max(float(np.max(np.abs(a - b))) for a, b in zip(before, leaves(disc, nnx.Param), strict=True)))
    np.testing.assert_allclose(moved, [1e-4, 1e-3], rtol=1e-3)


@pytest.mark.parametrize("kwargs, needle", [({"lr": -1e-3}, "lr must be a finite number >= 0"), ({"lr": float("nan")}, "lr must be"),
                                            ({"beta1": 1.0}, r"beta1 must be in \[0, 1\)")])
def test_make_optimizer_names_the_bad_rate(nets, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        training.make_optimizer(nets[1], **kwargs)


# ----------------------------------------------------------------------------- issue 20 §2: fused == public
def test_fused_iteration_equals_the_public_steps(bundled):
    """What the trainer runs (train_iteration, one jit) is what the notebooks teach (the two public steps)."""
    x, y = _real_batch(bundled, n=8)
    key = jax.random.key(7)
    key_d_step, key_g_step = jax.random.split(key)      # train_iteration splits its key this way
    runs = []
    for fused in (True, False):
        gen, disc = models.Generator(rngs=nnx.Rngs(0)), models.Discriminator(rngs=nnx.Rngs(1))
        g_opt, d_opt = training.make_optimizer(gen), training.make_optimizer(disc)
        if fused:
            m = nnx.jit(training.train_iteration, static_argnames="explicit")(gen, disc, g_opt, d_opt, x, y, key,
                                                                               explicit=True)
        else:
            dm = training.discriminator_step(gen, disc, d_opt, x, y, key_d_step)
            gm = training.generator_step(gen, disc, g_opt, 2 * len(y), key_g_step)
            m = {**{f"d_{k}": v for k, v in dm.items()}, **{f"g_{k}": v for k, v in gm.items()}}
        runs.append((jax.device_get(m), leaves(gen) + leaves(disc) + leaves(g_opt) + leaves(d_opt)))
    (m_fused, s_fused), (m_public, s_public) = runs
    assert set(m_fused) == set(m_public) and len(m_fused) >= 10
    for k in m_fused:
        np.testing.assert_allclose(m_fused[k], m_public[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert len(s_fused) == len(s_public) > 20
    for a, b in zip(s_fused, s_public, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- issue 22 §5: the public API
def test_bad_arguments_are_named_before_anything_runs(nets, bundled):
    """Each bad argument raises ValueError naming it, and leaves the networks and optimizers as they were."""
    gen, disc, g_opt, d_opt = nets
    x, y = _real_batch(bundled, n=4)
    before = leaves(gen) + leaves(disc) + leaves(g_opt) + leaves(d_opt)
    cases = [
        (lambda: training.train_iteration(gen, disc, g_opt, d_opt, x, y.at[0].set(10), jax.random.key(0)),
         r"real_labels must be in 0\.\.9, got values in \d+\.\.10"),
        (lambda: training.generator_step(gen, disc, g_opt, 8, jax.random.key(0), soft_one=float("nan")),
         r"soft_one must be a number in \(0, 1\]"),
        (lambda: training.generator_step(gen, disc, g_opt, 8, jax.random.key(0), soft_one=1.5), "soft_one must be"),
        (lambda: training.discriminator_step(gen, disc, d_opt, x, y, jax.random.key(0), soft_one=0.0), "soft_one must be"),
        (lambda: training.generator_step(gen, disc, g_opt, 2**40, jax.random.key(0)),
         "batch_size must be at most 131,072"),
        (lambda: training.discriminator_step(gen, disc, d_opt, x, y, 0), "key must be one PRNG key"),
        (lambda: training.discriminator_step(gen, disc, d_opt, x, y, jax.random.split(jax.random.key(0))),
         "key must be one PRNG key"),
        (lambda: training.generator_step(gen, disc, g_opt, 8, "seed"), "key must be one PRNG key"),
        (lambda: training.generator_step(gen, disc, g_opt, 8, jax.random.key(0),
                                         weights=training.LossWeights(-1.0, 1.0)), "weights.realness must be"),
        (lambda: training.update_ema(nnx.clone(gen), gen, 5), r"decay must be a number in \[0, 1\)"),
        (lambda: training.update_ema(nnx.clone(gen), gen, -0.1), "decay must be"),
        (lambda: training.update_ema(nnx.clone(gen), gen, 1.0), "decay must be"),
    ]
    for call, needle in cases:
        with pytest.raises(ValueError, match=needle):
            call()
    for a, b in pairs(before, leaves(gen) + leaves(disc) + leaves(g_opt) + leaves(d_opt)):
        assert np.array_equal(a, b)
    # a legacy raw key is still a key; the optimizer works after all the refusals above
    m = training.generator_step(gen, disc, g_opt, 8, jax.random.PRNGKey(0))
    assert np.isfinite(float(m["loss"]))
