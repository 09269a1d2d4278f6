"""The checkers of the hand-written updates (acgan_lib/step_checks.py, notebooks 2, 4 and 5).

Each test writes a learner's update function - the right one, or one with a deliberate mistake -
and asserts the checker's verdict and the mistake it names. Small batches (8 digits, 16 toy
points) keep the compiled shapes few.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from acgan_lib import models, step_checks, toy, training

N = 8                       # real images per discriminator step (the generator step uses 2N)


# ----------------------------------------------------------------------------- learners' functions
def d_update(mistake: str | None = None):
    """A learner's discriminator update (nnx.grad per loss), right or with one named mistake."""
    def update(gen, disc, d_opt, real_images, real_labels, key):
        n = real_images.shape[0]
        kz, kl, kd = jax.random.split(key, 3)
        z = models.sample_latent(kz, n, gen.latent_dim)
        sampled = models.sample_labels(kl, n, gen.num_classes)
        fakes = gen(z, sampled, train=mistake == "fakes_train")
        images = jnp.concatenate([jnp.asarray(real_images), fakes])
        real_t = {"hard": 1.0, "swapped": 0.0}.get(mistake, training.SOFT_ONE)
        fake_t = training.SOFT_ONE if mistake == "swapped" else 0.0
        rt = jnp.concatenate([jnp.full(n, real_t), jnp.full(n, fake_t)])
        ct = jnp.concatenate([jnp.asarray(real_labels), sampled])
        reduce = jnp.sum if mistake == "sum" else jnp.mean
        dropout = mistake != "dropout_off"

        def logits(d):
            return d(images, train=dropout, rngs=kd if dropout else None)

        def realness(d):
            return reduce(optax.sigmoid_binary_cross_entropy(logits(d)[0], rt))

        def classes(d):
            cl = logits(d)[1]
            if mistake == "real_half":
                return optax.softmax_cross_entropy_with_integer_labels(cl[:n], ct[:n]).mean()
            return reduce(optax.softmax_cross_entropy_with_integer_labels(cl, ct))

        g_r, g_c = nnx.grad(realness)(disc), nnx.grad(classes)(disc)
        if mistake == "only_realness":
            d_opt.update(disc, g_r)
        elif mistake == "two_steps":
            d_opt.update(disc, g_r)
            d_opt.update(disc, g_c)
        elif mistake != "no_step":
            d_opt.update(disc, jax.tree.map(jnp.add, g_r, g_c))
        if mistake == "generator_changed":
            gen.embedding.embedding[...] = gen.embedding.embedding[...] + 0.1
        if mistake == "names_swapped":
            g_r, g_c = g_c, g_r
        return {"realness_loss": g_r, "class_loss": g_c}
    return update


def toy_update_split_merge(gen, disc, d_opt, real_points, real_labels, key):
    """The toy discriminator update as notebook 2 writes it: a pure function of (graphdef, params)."""
    n = real_points.shape[0]
    kz, kl, _ = jax.random.split(key, 3)
    z = models.sample_latent(kz, n, gen.latent_dim)
    fake_labels = models.sample_labels(kl, n, gen.num_classes)
    points = jnp.concatenate([jnp.asarray(real_points), gen(z, fake_labels, train=False)])
    rt = jnp.concatenate([jnp.full(n, training.SOFT_ONE), jnp.zeros(n)])
    ct = jnp.concatenate([jnp.asarray(real_labels), fake_labels])
    graphdef, params = nnx.split(disc)

    def loss(params, name):
        realness_logits, class_logits = nnx.merge(graphdef, params)(points)
        terms = {"realness_loss": optax.sigmoid_binary_cross_entropy(realness_logits, rt).mean(),
                 "class_loss": optax.softmax_cross_entropy_with_integer_labels(class_logits, ct).mean()}
        return terms[name]

    g_r, g_c = jax.grad(loss)(params, "realness_loss"), jax.grad(loss)(params, "class_loss")
    d_opt.update(disc, jax.tree.map(jnp.add, g_r, g_c))
    return {"realness_loss": g_r, "class_loss": g_c}


def g_update(mistake: str | None = None):
    """A learner's generator update (split / merge, one jax.grad per loss), right or with one mistake."""
    def update(gen, disc, g_opt, batch_size, key):
        kz, kl, kd = jax.random.split(key, 3)
        z = models.sample_latent(kz, batch_size, gen.latent_dim)
        labels = models.sample_labels(kl, batch_size, gen.num_classes)
        target = {"target_zero": 0.0, "hard": 1.0}.get(mistake, training.SOFT_ONE)
        targets = jnp.full((batch_size,), target)
        graphdef, params, stats = nnx.split(gen, nnx.Param, ...)

        def loss(params, name):
            g = nnx.merge(graphdef, params, stats, copy=True)
            images = g(z, labels, train=mistake != "gen_eval")
            realness_logits, class_logits = disc(images, train=True, rngs=kd)
            terms = {"realness_loss": optax.sigmoid_binary_cross_entropy(realness_logits, targets).mean(),
                     "class_loss": optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()}
            return terms[name], nnx.state(g, nnx.BatchStat)

        g_r, new_stats = jax.grad(loss, has_aux=True)(params, "realness_loss")
        g_c, _ = jax.grad(loss, has_aux=True)(params, "class_loss")
        if mistake == "only_class":
            g_opt.update(gen, g_c)
        elif mistake == "two_steps":
            g_opt.update(gen, g_r)
            g_opt.update(gen, g_c)
        else:
            g_opt.update(gen, jax.tree.map(jnp.add, g_r, g_c))
        if mistake != "stats_frozen":
            nnx.update(gen, new_stats)
        if mistake == "disc_changed":
            disc.class_head.bias[...] = disc.class_head.bias[...] + 0.1
        return {"realness_loss": g_r, "class_loss": g_c}
    return update


def g_update_nnx_grad_twice(gen, disc, g_opt, batch_size, key):
    """Right gradients and weights, but two training-mode forward passes: batch-norm moves twice."""
    kz, kl, kd = jax.random.split(key, 3)
    z = models.sample_latent(kz, batch_size, gen.latent_dim)
    labels = models.sample_labels(kl, batch_size, gen.num_classes)
    targets = jnp.full((batch_size,), training.SOFT_ONE)

    def term(g, name):
        realness_logits, class_logits = disc(g(z, labels, train=True), train=True, rngs=kd)
        if name == "realness_loss":
            return optax.sigmoid_binary_cross_entropy(realness_logits, targets).mean()
        return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()

    g_r = nnx.grad(lambda g: term(g, "realness_loss"))(gen)
    g_c = nnx.grad(lambda g: term(g, "class_loss"))(gen)
    g_opt.update(gen, jax.tree.map(jnp.add, g_r, g_c))
    return {"realness_loss": g_r, "class_loss": g_c}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def mnist():
    gen = models.Generator(rngs=nnx.Rngs(0))
    disc = models.Discriminator(rngs=nnx.Rngs(1))
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(-1, 1, (N, 28, 28, 1)).astype(np.float32))
    labels = jnp.asarray(np.arange(N) % 10, jnp.int32)
    return gen, disc, images, labels


@pytest.fixture(scope="module")
def toy_pair():
    gen = toy.ToyGenerator(rngs=nnx.Rngs(0))
    disc = toy.ToyDiscriminator(rngs=nnx.Rngs(1))
    points, labels = next(toy.batches(toy.make_clusters(0), 16))
    return gen, disc, points, labels


def verdict(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out            # one line, always
    return out[0]


def state_leaves(*modules):
    return [np.array(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
            for m in modules for x in jax.tree.leaves(nnx.state(m))]


# ----------------------------------------------------------------------------- the reference itself
def test_reconstructed_batch_gives_the_library_step(mnist):
    """The checker's batch + the library's loss terms + one Adam step == training.discriminator_step."""
    gen, disc, images, labels = mnist
    key = jax.random.key(3)
    d_ref = nnx.clone(disc)
    training.discriminator_step(nnx.clone(gen), d_ref, training.make_optimizer(d_ref), images, labels, key)
    batch, rt, ct, kd = step_checks._discriminator_batch(gen, images, labels, key)
    grads = step_checks._disc_grads(disc, lambda d: training.discriminator_loss_terms(d, batch, rt, ct, kd))
    mine = step_checks._adam_step(disc, training.make_optimizer,
                                  step_checks._map(np.add, grads["realness_loss"], grads["class_loss"]))
    ref = step_checks._map(np.subtract, step_checks._params(d_ref), step_checks._params(disc))
    assert len(ref) == 12                 # 4 convolutions and 2 heads, kernel + bias each
    assert step_checks._step_gap(mine, ref) < 1e-3


# ----------------------------------------------------------------------------- notebook 4
def test_discriminator_right_answer_accepted_and_models_untouched(mnist, capsys):
    gen, disc, images, labels = mnist
    before = state_leaves(gen, disc)
    assert step_checks.check_discriminator_update(d_update(), gen, disc, images, labels, jax.random.key(3))
    assert verdict(capsys).startswith("right:")
    after = state_leaves(gen, disc)
    assert len(before) == len(after) > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("mistake, named", [
    ("swapped", "swapped"),
    ("hard", "hard targets 1 / 0"),
    ("sum", "not the sum"),
    ("real_half", "real half only"),
    ("dropout_off", "dropout off"),
    ("fakes_train", "drawn in training mode"),
    ("names_swapped", "the two are swapped"),
    ("only_realness", "realness loss only"),
    ("two_steps", "two Adam steps"),
    ("no_step", "did not change"),
    ("generator_changed", "generator's weights changed"),
])
def test_discriminator_mistakes_named(mnist, capsys, mistake, named):
    gen, disc, images, labels = mnist
    assert not step_checks.check_discriminator_update(d_update(mistake), gen, disc, images, labels,
                                                      jax.random.key(3))
    line = verdict(capsys)
    assert line.startswith("not yet:") and named in line, line


def test_function_using_the_notebooks_globals_is_undone(mnist, capsys):
    gen, disc, images, labels = mnist
    before = state_leaves(disc)

    def uses_global(g, d, d_opt, real_images, real_labels, key):
        return d_update()(gen, disc, training.make_optimizer(disc), real_images, real_labels, key)

    assert not step_checks.check_discriminator_update(uses_global, gen, disc, images, labels, jax.random.key(3))
    assert "notebook's own networks" in verdict(capsys)
    after = state_leaves(disc)
    assert len(before) == len(after) > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def unfilled_skeleton(gen, disc, d_opt, real_images, real_labels, key):
    fakes = ...
    images = jnp.concatenate([real_images, fakes])
    return images


@pytest.mark.parametrize("fn, args, named", [
    (lambda *a: ..., None, "returned Ellipsis"),
    (lambda *a: None, None, "returned None"),
    (lambda *a: {"realness_loss": ..., "class_loss": ...}, None, "placeholders"),
    (unfilled_skeleton, None, "placeholder is still in your function"),
    (lambda *a: 1 / 0, None, "raised ZeroDivisionError"),
    (lambda *a: {"loss": 1.0}, None, "one gradient per loss"),
    (lambda *a: {"realness_loss": 1.0, "class_loss": 2.0}, None, "has no entry"),
    ("not a function", None, "pass your update function"),
    (d_update(), ("gen", None, None, None, None), "could not run"),
    (d_update(), (None, None, np.zeros((8, 3)), np.zeros(8, int), jax.random.key(0)), "could not run"),
])
def test_discriminator_junk_answered_without_exception(mnist, capsys, fn, args, named):
    gen, disc, images, labels = mnist
    args = args or (gen, disc, images, labels, jax.random.key(3))
    assert not step_checks.check_discriminator_update(fn, *args)
    line = verdict(capsys)
    assert line.startswith("not yet:") and named in line, line


def test_wrong_image_shape_is_named(mnist, capsys):
    gen, disc, _, labels = mnist
    assert not step_checks.check_discriminator_update(d_update(), gen, disc, np.zeros((N, 28, 28), np.float32),
                                                      labels, jax.random.key(3))
    assert "shape" in verdict(capsys)


# ----------------------------------------------------------------------------- notebook 2 (toy)
def test_toy_right_answer_accepted(toy_pair, capsys):
    gen, disc, points, labels = toy_pair
    def as_plain_dicts(*args):       # gradients as nested dicts of arrays are accepted too
        return {k: nnx.to_pure_dict(v) for k, v in toy_update_split_merge(*args).items()}

    for fn in (toy_update_split_merge, d_update(), as_plain_dicts):
        assert step_checks.check_toy_update(fn, gen, disc, points, labels, jax.random.key(4))
        assert verdict(capsys).startswith("right:")


@pytest.mark.parametrize("mistake, named", [
    ("swapped", "swapped"), ("hard", "hard targets"), ("sum", "not the sum"), ("real_half", "real half only"),
    ("only_realness", "realness loss only"), ("two_steps", "two Adam steps"),
])
def test_toy_mistakes_named(toy_pair, capsys, mistake, named):
    gen, disc, points, labels = toy_pair
    assert not step_checks.check_toy_update(d_update(mistake), gen, disc, points, labels, jax.random.key(4))
    line = verdict(capsys)
    assert line.startswith("not yet:") and named in line, line


def test_toy_checker_wants_toy_networks(mnist, capsys):
    gen, disc, images, labels = mnist
    assert not step_checks.check_toy_update(d_update(), gen, disc, images, labels, jax.random.key(4))
    assert "toy networks" in verdict(capsys)


# ----------------------------------------------------------------------------- notebook 5
def test_generator_right_answer_accepted_and_models_untouched(mnist, capsys):
    gen, disc, _, _ = mnist
    before = state_leaves(gen, disc)
    assert step_checks.check_generator_update(g_update(), gen, disc, 2 * N, jax.random.key(5))
    assert verdict(capsys).startswith("right:")
    after = state_leaves(gen, disc)
    assert len(before) == len(after) > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("fn, named", [
    (g_update("target_zero"), "target 0"),
    (g_update("hard"), "hard target 1"),
    (g_update("gen_eval"), "inference mode"),
    (g_update("only_class"), "class loss only"),
    (g_update("two_steps"), "two Adam steps"),
    (g_update("stats_frozen"), "did not move"),
    (g_update("disc_changed"), "must stay frozen"),
    (g_update_nnx_grad_twice, "moved twice"),
    (lambda *a: ..., "returned Ellipsis"),
    (lambda *a: [], "one gradient per loss"),
])
def test_generator_mistakes_named(mnist, capsys, fn, named):
    gen, disc, _, _ = mnist
    assert not step_checks.check_generator_update(fn, gen, disc, 2 * N, jax.random.key(5))
    line = verdict(capsys)
    assert line.startswith("not yet:") and named in line, line


@pytest.mark.parametrize("batch_size", [0, 2.5, "16", None, True])
def test_generator_bad_batch_size(mnist, capsys, batch_size):
    gen, disc, _, _ = mnist
    assert not step_checks.check_generator_update(g_update(), gen, disc, batch_size, jax.random.key(5))
    assert "batch_size" in verdict(capsys)


# ----------------------------------------------------------------------------- the notebooks' skeletons
@pytest.mark.parametrize("notebook, checker", [
    ("02_a_2d_toy_acgan.py", "toy"),
    ("04_training_the_discriminator.py", "discriminator"),
    ("05_training_the_generator.py", "generator"),
])
def test_student_skeleton_answers_not_yet(mnist, toy_pair, capsys, notebook, checker):
    """The cell a student copy keeps (solution removed) runs, and its check says "not yet" without raising."""
    import pathlib

    import jupytext

    nb = jupytext.read(pathlib.Path(__file__).resolve().parents[1] / "notebooks" / notebook)
    skeletons = [c for c in nb.cells if c.cell_type == "code" and "def my_" in c.source
                 and "solution" not in c.metadata.get("tags", [])]
    solutions = [c for c in nb.cells if c.cell_type == "code" and "def my_" in c.source
                 and "solution" in c.metadata.get("tags", [])]
    assert len(skeletons) == 1 and len(solutions) == 1
    assert "..." in skeletons[0].source and solutions[0].metadata.get("jupyter", {}).get("source_hidden") is True
    namespace = {"jax": jax, "jnp": jnp, "nnx": nnx, "models": models, "training": training, "optax": optax}
    exec(skeletons[0].source, namespace)
    fn = next(v for k, v in namespace.items() if k.startswith("my_"))
    if checker == "toy":
        gen, disc, points, labels = toy_pair
        ok = step_checks.check_toy_update(fn, gen, disc, points, labels, jax.random.key(4))
    elif checker == "discriminator":
        gen, disc, images, labels = mnist
        ok = step_checks.check_discriminator_update(fn, gen, disc, images, labels, jax.random.key(3))
    else:
        gen, disc, _, _ = mnist
        ok = step_checks.check_generator_update(fn, gen, disc, 2 * N, jax.random.key(5))
    line = verdict(capsys)
    assert not ok and line.startswith("not yet:") and "..." in line, line
