"""The ACGAN training recipe: two losses, their gradients added, one update per network.

Follows tfjs ``mnist-acgan`` (``gan.js``, Deep Learning with JavaScript §10.3.3), the program the
notebooks port: Adam(2e-4, beta1 0.5) for each network, batch 100, realness targets
``SOFT_ONE = 0.95`` for real images and 0 for generated ones in the discriminator step, 0.95 for
every generated image in the generator step (the non-saturating "trick" target), and the class
loss on **both** halves of the discriminator's batch (real labels and the labels the fakes were
drawn for) - the ACGAN paper's L_C, which sums over real and generated images.

Keras ``mnist_acgan.py`` differs in its later versions (e.g. keras-team/keras commit 017fe07): its
discriminator step weights the class loss per sample, 2 for real and 0 for generated images
("we don't want the discriminator to also maximize the classification accuracy of the auxiliary
classifier on generated images"), i.e. the class head is trained on real images only; its soft
labels changed between versions (0.1 / 0.9 at that commit, with 0.9 as the generator's target;
0 / 0.95 in the Keras documentation's copy; hard 1 / 0 in an earlier version). We follow gan.js
because it is the reference this project ports and it is the paper's objective; its known cost is
that a discriminator trained to name the fakes' labels rewards easy-to-classify fakes.

Losses are computed from logits: ``optax.sigmoid_binary_cross_entropy`` on the realness logit and
``optax.softmax_cross_entropy_with_integer_labels`` on the class logits. They equal the
reference's sigmoid / softmax followed by cross-entropy wherever the reference's probability
clipping to [1e-7, 1 - 1e-7] is inactive. They are *not* equal where it is active (the target's
probability below 1e-7, loss above -ln(1e-7) = 16.1): there the clipped loss is constant and its
gradient 0, while the logit form keeps its largest gradient (softmax - onehot, sigmoid - target).
Notebook 5 shows samples in that regime.

Two ways to get the gradient of ``loss = realness_loss + class_loss``:

* ``explicit=True`` (the public step functions' default, what the notebooks teach): the gradient
  of each named loss term separately (:func:`per_loss_gradients`), then their sum.
* ``explicit=False`` (the fused trainer's default): one backward pass through the summed loss.
  By linearity of differentiation this is the same gradient (tested to float tolerance), at half
  the backward cost.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import models
# SOFT_ONE = 0.95 (realness target for real images, "one-sided label smoothing"), Adam(2e-4,
# beta1 0.5), batch 100: the recipe's settings, defined once in acgan_lib.config
from .config import ADAM_BETA1, BATCH_SIZE, LEARNING_RATE, SOFT_ONE

SOFT_ZERO = 0.0          # realness target for generated images in the discriminator step


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the two named loss terms (like Keras ``loss_weights``); the reference uses 1, 1."""
    realness: float = 1.0
    classification: float = 1.0


@functools.lru_cache(maxsize=None)
def adam() -> optax.GradientTransformation:
    """The reference's Adam as ONE transformation object, its learning rate and beta1 held in the *state*.

    Why one object: a jitted step sees the optimizer's transformation as part of the program, and
    two ``optax.adam(...)`` objects never compare equal, so every freshly built optimizer compiled
    the step anew (10-40 s on a 2-core CPU).  ``optax.inject_hyperparams`` moves the numbers into
    the optimizer state (``opt.opt_state.hyperparams``), where they are data, not program: every
    optimizer of the same shape, whatever its learning rate, reuses the compiled step.
    """
    return optax.inject_hyperparams(optax.adam)(learning_rate=LEARNING_RATE, b1=ADAM_BETA1)


def make_optimizer(module: nnx.Module, lr: float = LEARNING_RATE, beta1: float = ADAM_BETA1) -> nnx.Optimizer:
    """Adam(lr, beta1) as in the reference, updating only the module's trainable parameters.

    The rates live in ``opt.opt_state.hyperparams["learning_rate"]`` / ``["b1"]`` (see :func:`adam`).
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) or not 0 <= lr < math.inf:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if isinstance(beta1, bool) or not isinstance(beta1, (int, float, np.integer, np.floating)) or not 0 <= beta1 < 1:
        raise ValueError(f"beta1 must be in [0, 1), got {beta1!r}")
    opt = nnx.Optimizer(module, adam(), wrt=nnx.Param)
    opt.opt_state.hyperparams["learning_rate"].set_value(jnp.asarray(lr, jnp.float32))
    opt.opt_state.hyperparams["b1"].set_value(jnp.asarray(beta1, jnp.float32))
    return opt


# ----------------------------------------------------------------------------- the two losses
def realness_loss(realness_logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Binary cross-entropy "is this image real?", mean over the batch. logits (N,), targets (N,) in [0, 1]."""
    return optax.sigmoid_binary_cross_entropy(realness_logits, targets).mean()


def class_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Sparse categorical cross-entropy "which digit is this?", mean. logits (N, C), labels (N,) int."""
    return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


def weighted_terms(weights: LossWeights, realness_logits: jax.Array, realness_targets: jax.Array,
                   class_logits: jax.Array, class_targets: jax.Array) -> dict[str, jax.Array]:
    """The two named, weighted loss terms both steps minimise: {"realness_loss", "class_loss"}."""
    return {"realness_loss": weights.realness * realness_loss(realness_logits, realness_targets),
            "class_loss": weights.classification * class_loss(class_logits, class_targets)}


def _metrics(terms: Mapping[str, jax.Array], realness_logits, realness_targets, class_logits, class_targets):
    """Every loss term (by its own name), their sum, and the two accuracies (realness: target > 0.5)."""
    return {
        "loss": sum(terms.values()),
        **terms,
        "realness_accuracy": jnp.mean((realness_logits > 0) == (realness_targets > 0.5)),
        "class_accuracy": jnp.mean(jnp.argmax(class_logits, -1) == class_targets),
    }


def discriminator_loss_terms(disc: models.Discriminator, images, realness_targets, class_targets,
                             dropout_key, weights: LossWeights = LossWeights()):
    """The discriminator's two named loss terms on one batch (dropout active, as in training).

    images (N, 28, 28, 1) float32 in [-1, 1]; realness_targets (N,) float; class_targets (N,) int.
    Returns ``(terms, aux)``: terms {"realness_loss", "class_loss"} (weighted), aux the logits.
    """
    realness_logits, class_logits = disc(images, train=True, rngs=dropout_key)
    terms = weighted_terms(weights, realness_logits, realness_targets, class_logits, class_targets)
    return terms, {"realness_logits": realness_logits, "class_logits": class_logits}


def generator_loss_terms(gen: models.Generator, disc: models.Discriminator, z, labels, dropout_key,
                         soft_one: float = SOFT_ONE, weights: LossWeights = LossWeights()):
    """The generator's two named loss terms, judged by the (frozen) discriminator.

    We want the generator to trick the discriminator: every generated image gets the realness
    target ``soft_one`` ("real"), and the class target is the digit it was asked to draw - asked
    for an 8 but the discriminator sees a 9, the class loss is high and pushes toward an 8.
    The generator runs in training mode (batch statistics, running averages updated) and the
    discriminator's dropout stays active, as in the reference's ``combined.train_on_batch``.
    """
    images = gen(z, labels, train=True)
    realness_logits, class_logits = disc(images, train=True, rngs=dropout_key)
    targets = jnp.full((z.shape[0],), soft_one, jnp.float32)
    terms = weighted_terms(weights, realness_logits, targets, class_logits, labels)
    return terms, {"realness_logits": realness_logits, "class_logits": class_logits,
                   "realness_targets": targets, "images": images}


# ----------------------------------------------------------------------------- gradients
def per_loss_gradients(module: nnx.Module, terms_fn: Callable[[nnx.Module], tuple[dict, dict]],
                       *, explicit: bool = True):
    """Gradients of each named loss term w.r.t. ``module``'s parameters, and their sum.

    ``terms_fn(module) -> (terms, aux)`` with ``terms`` a dict of scalar losses; their names are
    taken from it.  Returns ``(grads, terms, aux)`` where ``grads`` maps each term name to its
    gradient pytree (an ``nnx.State`` shaped like ``nnx.state(module, nnx.Param)``) plus
    ``"total"``: the sum of the per-term gradients.  ``explicit=True`` runs the forward pass once
    and one backward pass per term (``jax.vjp`` with the cotangent 1 on that term, 0 on the
    others); ``explicit=False`` computes only ``"total"``, in one backward pass through the summed
    loss (the same value, by linearity).

    Non-parameter state the forward pass changes (batch-norm running averages) is written back to
    ``module`` once.
    """
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)

    def forward(p):
        m = nnx.merge(graphdef, p, rest, copy=True)
        terms, aux = terms_fn(m)
        return terms, (aux, nnx.state(m, nnx.Not(nnx.Param)))

    if explicit:
        terms, pullback, (aux, new_rest) = jax.vjp(forward, params, has_aux=True)
        grads = {}
        for name in terms:
            cotangent = {n: jnp.ones_like(v) if n == name else jnp.zeros_like(v) for n, v in terms.items()}
            (grads[name],) = pullback(cotangent)
        grads["total"] = jax.tree.map(lambda *g: sum(g), *grads.values())
    else:
        def total(p):
            terms, extra = forward(p)
            return sum(terms.values()), (terms, extra)

        g, (terms, (aux, new_rest)) = jax.grad(total, has_aux=True)(params)
        grads = {"total": g}
    nnx.update(module, new_rest)
    return grads, terms, aux


def discriminator_targets(real_labels: jax.Array, sampled_labels: jax.Array, soft_one: float = SOFT_ONE):
    """Targets for the combined batch [real; generated]: realness (2N,) = [soft_one...; 0...], class (2N,)."""
    n = real_labels.shape[0]
    realness = jnp.concatenate([jnp.full((n,), soft_one, jnp.float32), jnp.full((n,), SOFT_ZERO, jnp.float32)])
    return realness, jnp.concatenate([real_labels.astype(jnp.int32), sampled_labels.astype(jnp.int32)])


def _identity(x):
    return x


def _discriminator_update(gen, disc, d_opt, real_images, real_labels, key, soft_one, weights, explicit,
                          shard=_identity):
    """One discriminator update on real + generated images; the generator is not changed.

    ``shard`` marks batch-shaped arrays for data parallelism (:mod:`acgan_lib.parallel`); it
    never changes a value.
    """
    n = real_images.shape[0]
    kz, kl, kd = jax.random.split(key, 3)
    real_images, real_labels = shard(real_images), shard(real_labels)
    z = shard(models.sample_latent(kz, n, gen.latent_dim))
    sampled = shard(models.sample_labels(kl, n, gen.num_classes))
    # The reference draws the fakes with generator.predict: inference mode, running statistics.
    fakes = jax.lax.stop_gradient(gen(z, sampled, train=False))
    images = jnp.concatenate([real_images, fakes], axis=0)
    realness_targets, class_targets = discriminator_targets(real_labels, sampled, soft_one)
    grads, terms, aux = per_loss_gradients(
        disc, lambda d: discriminator_loss_terms(d, images, realness_targets, class_targets, kd, weights),
        explicit=explicit)
    d_opt.update(disc, grads["total"])
    m = _metrics(terms, aux["realness_logits"], realness_targets, aux["class_logits"], class_targets)
    m["real_probability"] = jnp.mean(jax.nn.sigmoid(aux["realness_logits"][:n]))
    m["fake_probability"] = jnp.mean(jax.nn.sigmoid(aux["realness_logits"][n:]))
    return m


def _generator_update(gen, disc, g_opt, batch_size, key, soft_one, weights, explicit, shard=_identity):
    """One generator update through the frozen discriminator (only ``g_opt`` steps)."""
    kz, kl, kd = jax.random.split(key, 3)
    z = shard(models.sample_latent(kz, batch_size, gen.latent_dim))
    labels = shard(models.sample_labels(kl, batch_size, gen.num_classes))
    grads, terms, aux = per_loss_gradients(
        gen, lambda g: generator_loss_terms(g, disc, z, labels, kd, soft_one, weights), explicit=explicit)
    g_opt.update(gen, grads["total"])
    m = _metrics(terms, aux["realness_logits"], aux["realness_targets"], aux["class_logits"], labels)
    # Every target here says "real", so the realness accuracy is the fraction of fakes judged real:
    # one number, kept under the name that says what it means for the generator.
    del m["realness_accuracy"]
    m["fool_rate"] = jnp.mean(aux["realness_logits"] > 0)
    m["real_probability"] = jnp.mean(jax.nn.sigmoid(aux["realness_logits"]))  # mean P(real), not thresholded
    return m


_discriminator_update_jit = nnx.jit(_discriminator_update, static_argnames=("weights", "explicit"))
_generator_update_jit = nnx.jit(_generator_update, static_argnames=("batch_size", "weights", "explicit"))


MAX_BATCH_SIZE = 2**17   # twice MNIST's 60,000 training digits, rounded up; far beyond any memory budget here


def _check_key(key, name: str = "key") -> None:
    """A PRNG key: ``jax.random.key(n)`` (or a legacy ``jax.random.PRNGKey(n)``, uint32 (2,))."""
    typed = isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    raw = isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,)
    if not (typed and key.shape == ()) and not raw:
        raise ValueError(f"{name} must be one PRNG key such as jax.random.key(0), got {type(key).__name__} "
                         f"{getattr(key, 'shape', '')} {key if np.ndim(key) == 0 else ''}".rstrip())


def _check_soft_one(soft_one) -> None:
    if isinstance(soft_one, jax.core.Tracer):
        return
    if isinstance(soft_one, bool) or not isinstance(soft_one, (int, float, np.integer, np.floating)) \
            or not 0 < soft_one <= 1:
        raise ValueError(f"soft_one must be a number in (0, 1] (the realness target, 0.95 in the reference), "
                         f"got {soft_one!r}")


def _check_weights(weights) -> None:
    if not isinstance(weights, LossWeights):
        raise ValueError(f"weights must be a training.LossWeights, got {type(weights).__name__}")
    for name in ("realness", "classification"):
        v = getattr(weights, name)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 <= v < math.inf:
            raise ValueError(f"weights.{name} must be a finite number >= 0, got {v!r}")


def _check_batch_size(batch_size, name: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {batch_size!r}")
    if batch_size > MAX_BATCH_SIZE:
        raise ValueError(f"{name} must be at most {MAX_BATCH_SIZE:,} (the reference uses 100 real / 200 generated), "
                         f"got {batch_size:,}")
    return int(batch_size)   # a NumPy integer is fine; the jit needs a Python int


def _check_pair(gen, disc) -> None:
    """The generator must draw the classes the discriminator names (else the class loss is NaN)."""
    if getattr(gen, "num_classes", None) != getattr(disc, "num_classes", None):
        raise ValueError(f"the generator draws {getattr(gen, 'num_classes', '?')} classes but the "
                         f"discriminator tells {getattr(disc, 'num_classes', '?')} apart; build both with "
                         f"the same num_classes")


def _check_real_batch(gen, disc, real_images, real_labels) -> None:
    _check_pair(gen, disc)
    models.check_images(real_images, shape=disc.input_shape, value_range=disc.input_range)
    if real_images.shape[0] < 1:
        raise ValueError("real_images must hold at least one image (batch size >= 1), got 0")
    _check_batch_size(real_images.shape[0], "the batch of real_images")
    models.check_labels(real_labels, n=real_images.shape[0], num_classes=disc.num_classes, name="real_labels")


def discriminator_step(gen: models.Generator, disc: models.Discriminator, d_opt: nnx.Optimizer,
                       real_images: jax.Array, real_labels: jax.Array, key: jax.Array, *,
                       soft_one: float = SOFT_ONE, weights: LossWeights = LossWeights(),
                       explicit: bool = True) -> dict[str, jax.Array]:
    """Teach the discriminator to tell real from generated digits and to name the digit.

    Builds the combined batch [real_images; N generated images from fresh z and sampled labels],
    realness targets [soft_one...; 0...], class targets [real_labels; sampled labels], computes
    ``loss = realness_loss + class_loss`` and applies one Adam update to the discriminator only.

    real_images (N, *disc.input_shape) float32 in disc.input_range - MNIST: (N, 28, 28, 1) in
    [-1, 1], the 2-D toy (:mod:`acgan_lib.toy`): (N, 2); real_labels (N,) int in
    0..num_classes-1; key a PRNG key.
    Returns metrics: loss, realness_loss, class_loss, realness_accuracy, class_accuracy,
    real_probability, fake_probability (device scalars).
    """
    real_images = jnp.asarray(real_images) if not hasattr(real_images, "dtype") else real_images
    real_labels = np.asarray(real_labels) if not hasattr(real_labels, "dtype") else real_labels
    _check_real_batch(gen, disc, real_images, real_labels)
    _check_key(key)
    _check_soft_one(soft_one)
    _check_weights(weights)
    return _discriminator_update_jit(gen, disc, d_opt, jnp.asarray(real_images, jnp.float32),
                                     jnp.asarray(real_labels, jnp.int32), key, soft_one, weights, explicit)


def generator_step(gen: models.Generator, disc: models.Discriminator, g_opt: nnx.Optimizer,
                   batch_size: int, key: jax.Array, *, soft_one: float = SOFT_ONE,
                   weights: LossWeights = LossWeights(), explicit: bool = True) -> dict[str, jax.Array]:
    """Teach the generator to trick the discriminator into "real" and into the requested digit.

    Draws ``batch_size`` fresh z and labels (the reference uses 2x the discriminator's batch),
    computes ``loss = realness_loss + class_loss`` with every realness target ``soft_one`` and
    class targets = the requested labels, and applies one Adam update to the generator only; every
    discriminator parameter stays bit-identical.
    Returns metrics: loss, realness_loss, class_loss, fool_rate (fraction of the fakes the
    discriminator judges real, P(real) > 0.5), class_accuracy (fraction recognised as the requested
    digit), real_probability (mean P(real) the discriminator gives these training-mode fakes).
    """
    batch_size = _check_batch_size(batch_size)
    _check_pair(gen, disc)
    _check_key(key)
    _check_soft_one(soft_one)
    _check_weights(weights)
    return _generator_update_jit(gen, disc, g_opt, batch_size, key, soft_one, weights, explicit)


def train_iteration(gen, disc, g_opt, d_opt, real_images, real_labels, key, *, soft_one: float = SOFT_ONE,
                    weights: LossWeights = LossWeights(), explicit: bool = False,
                    shard: Callable[[jax.Array], jax.Array] = _identity) -> dict[str, Any]:
    """One reference iteration, traceable: discriminator step, then generator step on 2x the batch.

    ``shard`` (from :func:`acgan_lib.parallel.batch_constraint`) splits batch-shaped arrays over
    a device mesh; the default, the identity, is the single-device program.
    Returns ``{"d_" + metric: ..., "g_" + metric: ...}``.  Arguments are checked as far as they
    are known: called from plain Python, a label outside 0..num_classes-1 (which would make the
    class loss NaN), a bad key, ``soft_one`` or weights raise ValueError; inside a jit the values
    are traced and only shapes and types are checked.
    """
    _check_real_batch(gen, disc, real_images, real_labels)
    if not isinstance(key, jax.core.Tracer):
        _check_key(key)
    _check_soft_one(soft_one)
    _check_weights(weights)
    key_d_step, key_g_step = jax.random.split(key)   # the discriminator step's key, the generator step's key
    dm = _discriminator_update(gen, disc, d_opt, real_images, real_labels, key_d_step, soft_one, weights, explicit,
                               shard)
    gm = _generator_update(gen, disc, g_opt, 2 * real_images.shape[0], key_g_step, soft_one, weights, explicit, shard)
    return {**{f"d_{k}": v for k, v in dm.items()}, **{f"g_{k}": v for k, v in gm.items()}}


def update_ema(ema: nnx.Module, model: nnx.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for every parameter and batch-norm statistic.

    Why: a GAN generator's weights keep circling around a good solution while the two networks
    chase each other; their exponential moving average sits nearer the centre and usually draws
    better digits (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training";
    used by ProGAN, StyleGAN, BigGAN).  The average is only read, never trained: the reference
    recipe's updates are exactly the same with or without it.

    Why not ``nnx.EMA`` (flax >= 0.12.8 has it)?  It computes the same recurrence (with
    ``only=(nnx.Param, nnx.BatchStat)`` it averages the batch-norm statistics too; a test checks
    the two agree), but it keeps the average as a detached pytree of shadow variables and gives a
    model only through ``ema.apply_to(model)``.  Here the average *is* a Generator: it is saved
    in checkpoints under the generator's own array names, exported with ``export --ema``, loaded
    with ``checkpoint.load_generator`` and evaluated like any generator, and it travels in the
    trainer's donated flat state as one more module.  Keeping it a module keeps those paths one
    code path, so this one-line update stays.
    """
    if not isinstance(decay, jax.core.Tracer) and (
            isinstance(decay, bool) or not isinstance(decay, (int, float, np.integer, np.floating))
            or not 0 <= decay < 1):
        raise ValueError(f"decay must be a number in [0, 1) (e.g. 0.999), got {decay!r}")
    kinds = (nnx.Param, nnx.BatchStat)
    new = jax.tree.map(lambda e, m: e + (1.0 - decay) * (m - e), nnx.state(ema, kinds), nnx.state(model, kinds))
    nnx.update(ema, new)

