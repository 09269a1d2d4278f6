"""Checkers for the training updates a learner writes by hand (notebooks 2, 4 and 5).

The learner writes one update as a function; a ``check_*_update`` runs it on **copies** of the
notebook's networks (so the notebook's own models and optimizers never change), runs the
library's step (:func:`acgan_lib.training.discriminator_step` / ``generator_step``) on other
copies with the same batch and key, and compares

* the learner's **per-loss gradients** (``{"realness_loss": grad, "class_loss": grad}``, each a
  pytree shaped like ``nnx.state(network, nnx.Param)``) with
  :func:`acgan_lib.training.per_loss_gradients` on the library's own loss terms: they agree when
  ``max |learner - library| <= GRAD_RTOL * max |library|`` for each loss;
* the **updated weights** with the library step's: they agree when the step taken,
  ``new - old`` over every trainable parameter, differs from the library's on average by at most
  ``STEP_RTOL`` of the library's mean step (Adam's first step is about ``lr * sign(g)``, so a
  gradient entry that is almost exactly 0 may flip with float rounding: a per-weight maximum
  would be a lottery);
* the network that must not change (the generator in the discriminator step, the discriminator
  in the generator step), bit for bit, and in the generator step the batch-norm running averages.

When something differs it computes the usual wrong variants on the same batch (targets swapped,
hard 1 / 0 targets, a sum instead of a mean, dropout off, the class loss on the real half only,
the generator in the wrong batch-norm mode, one loss's step only, two Adam steps) and names the
one the learner's result matches, with a hint that does not give the answer away. Every checker
prints one line starting with "right:" or "not yet:" and returns a bool, like
:mod:`acgan_lib.exercises`, and never raises for a learner's mistake (a function that raises or
returns ``...``, wrong types or shapes).

The batch is drawn as the library's steps draw it: ``kz, kl, kd = jax.random.split(key, 3)``,
``z = models.sample_latent(kz, n, latent_dim)``, labels ``models.sample_labels(kl, n, C)``, dropout
key ``kd``; in the discriminator step the fakes come from the generator in inference mode
(``train=False``), in the generator step the generator runs in training mode. A test
(``tests/test_step_checks.py``) checks that this batch, differentiated with the library's loss
terms and stepped with the library's optimizer, gives exactly the library step's weights.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import models, toy, training

GRAD_RTOL = 1e-4      # per-loss gradients: max |learner - library| <= GRAD_RTOL * max |library|
STEP_RTOL = 0.01      # updated weights: mean |step_learner - step_library| <= STEP_RTOL * mean |step_library|
MATCH_RTOL = 1e-3     # how close a result must be to a wrong variant to be named after it
MATCH_STEP = 0.05     # the same for the update, in units of the library's mean step
TERMS = ("realness_loss", "class_loss")

Tree = dict[str, np.ndarray]          # parameter path "convs/0/kernel" -> array


class _NotYet(Exception):
    """A learner's mistake found while checking; its message is the hint."""


def _say(ok: bool, text: str) -> bool:
    """Print the one-line verdict and return ``ok``."""
    print(f"right: {text}" if ok else f"not yet: {text}")
    return bool(ok)


# ----------------------------------------------------------------------------- pytrees as flat dicts
def _path_name(path) -> str:
    """'convs/0/kernel' for a jax key path (the Variable's own ``value`` level dropped)."""
    parts = []
    for k in path:
        name = getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))
        if name not in ("value", "raw_value"):
            parts.append(str(name))
    return "/".join(parts)


def _array(v) -> np.ndarray:
    """A leaf as a NumPy array (a PRNG key as its raw key data)."""
    if hasattr(v, "dtype") and jnp.issubdtype(v.dtype, jax.dtypes.prng_key):
        v = jax.random.key_data(v)
    return np.asarray(v)


def _flat(tree) -> Tree:
    """Every array leaf of ``tree`` (an ``nnx.State``, nested dicts...) by path, as NumPy arrays."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path_name(p): _array(v) for p, v in leaves}


def _params(module: nnx.Module) -> Tree:
    return _flat(nnx.state(module, nnx.Param))


def _same(a: Tree, b: Tree) -> bool:
    """Bit-identical trees (same paths, same values)."""
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _gap(a: Tree, b: Tree) -> float:
    """max |a - b| / max |b| over all leaves (b the reference; inf when b is all zeros and a is not)."""
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in b)
    scale = max(float(np.max(np.abs(b[k]))) for k in b)
    return diff / scale if scale > 0 else (0.0 if diff == 0 else np.inf)


def _close(a: Tree, b: Tree, rtol: float) -> bool:
    return _gap(a, b) <= rtol


def _map(f: Callable[..., np.ndarray], *trees: Tree) -> Tree:
    return {k: f(*(t[k] for t in trees)) for k in trees[0]}


def _step_gap(step: Tree, ref: Tree) -> float:
    """mean |step - ref| / mean |ref| over every parameter (steps = new weights - old weights)."""
    num = sum(float(np.abs(step[k] - ref[k]).sum()) for k in ref)
    den = sum(float(np.abs(ref[k]).sum()) for k in ref)
    return num / den if den > 0 else (0.0 if num == 0 else np.inf)


# ----------------------------------------------------------------------------- optimizers
_TEMPLATES: dict[tuple, nnx.Optimizer] = {}


def _fresh_optimizer(module: nnx.Module, make: Callable[[nnx.Module], nnx.Optimizer]) -> nnx.Optimizer:
    """A new optimizer for ``module`` exactly as ``make`` (the library's ``make_optimizer``) builds it.

    The first call per (make, parameter shapes) keeps the built optimizer as a template; later
    calls clone it, so every copy shares the same optax transformation object and the library's
    jitted step is not compiled again for each check.
    """
    shapes = tuple(sorted((k, v.shape) for k, v in _params(module).items()))
    key = (make, shapes)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = make(nnx.clone(module))
    return nnx.clone(_TEMPLATES[key])


def _adam_step(module: nnx.Module, make, *grads: Tree) -> Tree:
    """The step (new - old weights) of a fresh library optimizer applying ``grads`` one after another."""
    m = nnx.clone(module)
    opt = _fresh_optimizer(m, make)
    before = _params(m)
    template = nnx.state(m, nnx.Param)
    for g in grads:
        leaves = jax.tree_util.tree_flatten_with_path(template)[0]
        treedef = jax.tree.structure(template)
        opt.update(m, jax.tree.unflatten(treedef, [jnp.asarray(g[_path_name(p)]) for p, _ in leaves]))
    return _map(np.subtract, _params(m), before)


# ----------------------------------------------------------------------------- the learner's function
def _explain_exception(e: Exception) -> str:
    text = " ".join(str(e).split())
    if "Ellipsis" in text or "ellipsis" in text:
        return (f"a `...` placeholder is still in your function ({type(e).__name__}: {text[:160]}): "
                f"replace every `...` with your code")
    return f"your function raised {type(e).__name__}: {text[:240]}"


def _run_learner(update_fn, args: tuple) -> Any:
    if not callable(update_fn):
        raise _NotYet(f"pass your update function itself (its name, no parentheses), got {type(update_fn).__name__}")
    try:
        return update_fn(*args)
    except Exception as e:  # a learner's function may fail in any way
        raise _NotYet(_explain_exception(e)) from None


def _learner_grads(result: Any, want: Tree, network: str) -> dict[str, Tree]:
    """The learner's ``{"realness_loss": grad, "class_loss": grad}`` as flat trees, or _NotYet."""
    shape_hint = "{'realness_loss': <its gradient>, 'class_loss': <its gradient>}"
    if result is Ellipsis or result is None:
        raise _NotYet(f"your function returned {result!r}: fill in the `...` placeholders and return {shape_hint}")
    if not isinstance(result, Mapping) or not all(t in result for t in TERMS):
        got = sorted(map(str, result)) if isinstance(result, Mapping) else type(result).__name__
        raise _NotYet(f"return one gradient per loss as {shape_hint}, got {got}")
    out = {}
    for term in TERMS:
        g = result[term]
        if g is Ellipsis or g is None:
            raise _NotYet(f"your gradient of {term} is {g!r}: fill in the `...` placeholders")
        try:
            flat = _flat(g)
        except Exception:  # not a pytree of arrays
            flat = {}
        if not flat or not all(np.issubdtype(v.dtype, np.number) for v in flat.values()):
            raise _NotYet(f"your gradient of {term} is not a gradient of the {network}'s parameters "
                          f"(got {type(g).__name__}): differentiate the loss with respect to the {network}")
        missing = [k for k in want if k not in flat]
        if missing:
            raise _NotYet(f"your gradient of {term} has no entry for the {network}'s parameter {missing[0]!r} "
                          f"(it has {sorted(flat)[:3]}...): differentiate with respect to the {network} itself")
        for k in want:
            if flat[k].shape != want[k].shape:
                raise _NotYet(f"in your gradient of {term}, {k!r} has shape {flat[k].shape}, the parameter "
                              f"{want[k].shape}")
            if not np.all(np.isfinite(flat[k])):
                raise _NotYet(f"your gradient of {term} contains NaN or inf (at {k!r})")
        out[term] = {k: flat[k].astype(np.float64) for k in want}
    return out


def _guard_originals(*modules: nnx.Module):
    """Snapshots of the notebook's own networks, to detect (and undo) a function that used them."""
    return [(m, nnx.clone(m), _flat(nnx.state(m))) for m in modules]


def _restore_originals(saved) -> bool:
    """Put back any notebook network the learner's function changed; True if one had changed."""
    changed = False
    for module, copy, flat in saved:
        if not _same(_flat(nnx.state(module)), flat):
            nnx.update(module, nnx.state(copy))
            changed = True
    return changed


# ----------------------------------------------------------------------------- diagnosis helpers
def _name_gradient_mistake(term: str, got: Tree, ref: dict[str, Tree], variants: dict[str, tuple[str, dict]],
                           batch: int, network: str) -> str:
    """Which known mistake the learner's gradient of ``term`` looks like (a hint, never the answer)."""
    if all(not np.any(v) for v in got.values()):
        return (f"your gradient of {term} is all zeros: differentiate the {term.replace('_', ' ')} itself "
                f"with respect to the {network}'s parameters")
    other = TERMS[1 - TERMS.index(term)]
    total = _map(np.add, ref["realness_loss"], ref["class_loss"])
    candidates = [
        (ref[other], f"your gradient of {term} is the library's gradient of {other}: the two are swapped"),
        (total, f"your gradient of {term} is the gradient of the summed loss: return each loss's own "
                f"gradient (the sum is only what the optimizer applies)"),
    ]
    for scale in sorted({batch, 2 * batch}):
        candidates.append((_map(lambda g, s=scale: s * g, ref[term]),
                           f"your gradient of {term} is exactly {scale} times the library's: the loss is the "
                           f"mean over the batch, not the sum"))
    for affected, grads, text in variants.values():
        if term in affected:
            candidates.append((grads[term], text))
    for cand, text in candidates:
        if _close(got, cand, MATCH_RTOL) and not _close(cand, ref[term], MATCH_RTOL):
            return text
    return (f"your gradient of {term} differs from the library's (relative difference "
            f"{_gap(got, ref[term]):.2g}, allowed {GRAD_RTOL:g}) and matches none of the usual mistakes: "
            f"compare your batch, targets, keys and training/inference modes with the equation above")


def _name_update_mistake(step: Tree, grads: dict[str, Tree], module: nnx.Module, make, network: str) -> str:
    """Which known update mistake the learner's step (new - old weights) looks like."""
    if all(not np.any(v) for v in step.values()):
        return (f"the {network}'s weights did not change: apply one optimizer step to the {network} "
                f"your function was given")
    g_r, g_c = grads["realness_loss"], grads["class_loss"]
    right = _adam_step(module, make, _map(np.add, g_r, g_c))
    candidates = [
        (_adam_step(module, make, g_r), "your update follows the realness loss only: the step must use the "
                                        "sum of both losses' gradients"),
        (_adam_step(module, make, g_c), "your update follows the class loss only: the step must use the "
                                        "sum of both losses' gradients"),
        (_adam_step(module, make, g_r, g_c), "your update is two Adam steps, one per loss: one step on the sum "
                                             "is a different algorithm (notebook 4, section 5)"),
        (_adam_step(module, make, g_c, g_r), "your update is two Adam steps, one per loss: one step on the sum "
                                             "is a different algorithm (notebook 4, section 5)"),
        (_adam_step(module, make, _map(np.add, g_r, g_c), _map(np.add, g_r, g_c)),
         "your update applies the optimizer twice: one step per update"),
    ]
    gaps = [(_step_gap(step, cand), text) for cand, text in candidates]
    best_gap, best_text = min(gaps)
    if best_gap <= MATCH_STEP:
        return best_text
    return (f"the {network}'s new weights differ from one step of its optimizer on the sum of your two "
            f"gradients (mean difference {_step_gap(step, right):.0%} of a step): use the optimizer you "
            f"were given, once, on that sum")


# ----------------------------------------------------------------------------- the discriminator step
def _discriminator_batch(gen, real_images, real_labels, key, *, fakes_train: bool = False, soft_one=training.SOFT_ONE):
    """The library step's batch: images (2n, ...), realness targets (2n,), class targets (2n,), dropout key."""
    n = real_images.shape[0]
    kz, kl, kd = jax.random.split(key, 3)
    z = models.sample_latent(kz, n, gen.latent_dim)
    sampled = models.sample_labels(kl, n, gen.num_classes)
    fakes = nnx.clone(gen)(z, sampled, train=fakes_train)
    realness_targets, class_targets = training.discriminator_targets(real_labels, sampled, soft_one)
    return jnp.concatenate([real_images, fakes]), realness_targets, class_targets, kd


def _disc_grads(disc, terms_fn) -> dict[str, Tree]:
    grads, _, _ = training.per_loss_gradients(nnx.clone(disc), terms_fn)
    return {t: _flat(grads[t]) for t in TERMS}


def _discriminator_variants(gen, disc, real_images, real_labels, key) -> dict[str, tuple[tuple, dict, str]]:
    """The usual wrong discriminator losses on the same batch: name -> (terms affected, grads, hint)."""
    n = real_images.shape[0]
    images, rt, ct, kd = _discriminator_batch(gen, real_images, real_labels, key)
    w = training.LossWeights()

    def terms(d, rt=rt, ct=ct, images=images, train=True, real_half=False):
        realness_logits, class_logits = d(images, train=train, rngs=kd if train else None)
        out = training.weighted_terms(w, realness_logits, rt, class_logits, ct)
        if real_half:
            out["class_loss"] = training.class_loss(class_logits[:n], ct[:n])
        return out, {}

    swapped = jnp.concatenate([rt[n:], rt[:n]])
    hard, _ = training.discriminator_targets(real_labels, ct[n:], 1.0)
    images_train, _, _, _ = _discriminator_batch(gen, real_images, real_labels, key, fakes_train=True)
    return {
        "swapped": (("realness_loss",), _disc_grads(disc, lambda d: terms(d, rt=swapped)),
                    "your realness gradient is the one with the real and generated halves' targets swapped: "
                    "which half should the discriminator call real?"),
        "hard": (("realness_loss",), _disc_grads(disc, lambda d: terms(d, rt=hard)),
                 "your realness gradient is the one with hard targets 1 / 0: the reference asks the "
                 "discriminator to be only 95 % sure of real images (training.SOFT_ONE)"),
        "real_half": (("class_loss",), _disc_grads(disc, lambda d: terms(d, real_half=True)),
                      "your class gradient uses the real half only (the later Keras recipe): this series "
                      "follows gan.js, where the fakes' requested labels are class targets too"),
        "dropout_off": (TERMS, _disc_grads(disc, lambda d: terms(d, train=False)),
                        "your gradient is the one with the discriminator's dropout off: it trains in training "
                        "mode, with the dropout key the step's key gives"),
        "fakes_train": (TERMS, _disc_grads(disc, lambda d: terms(d, images=images_train)),
                        "your gradient is the one with the fakes drawn in training mode: the generator only "
                        "draws here, like the reference's generator.predict (inference mode)"),
    }


def _check_discriminator(update_fn, gen, disc, real_images, real_labels, key, make, network_names) -> bool:
    real_images = jnp.asarray(real_images, jnp.float32) if not hasattr(real_images, "dtype") else real_images
    real_labels = jnp.asarray(real_labels) if not hasattr(real_labels, "dtype") else real_labels
    # The library's step on copies: it validates the inputs (a ValueError names the problem).
    gen_ref, disc_ref = nnx.clone(gen), nnx.clone(disc)
    training.discriminator_step(gen_ref, disc_ref, _fresh_optimizer(disc_ref, make), real_images, real_labels, key)
    before = _params(disc)
    ref_step = _map(np.subtract, _params(disc_ref), before)
    images, rt, ct, kd = _discriminator_batch(gen, real_images, real_labels, key)
    ref = _disc_grads(disc, lambda d: training.discriminator_loss_terms(d, images, rt, ct, kd))

    # The learner's function on other copies; the notebook's own networks are guarded.
    gen_l, disc_l = nnx.clone(gen), nnx.clone(disc)
    gen_state = _flat(nnx.state(gen))
    saved = _guard_originals(gen, disc)
    try:
        result = _run_learner(update_fn, (gen_l, disc_l, _fresh_optimizer(disc_l, make), real_images,
                                          real_labels, key))
    finally:
        used_globals = _restore_originals(saved)
    if used_globals:
        raise _NotYet("your function changed the notebook's own networks instead of the copies it was given "
                      "(they have been put back): use the function's arguments, not global variables")
    got = _learner_grads(result, ref["realness_loss"], "discriminator")
    n = real_images.shape[0]
    wrong = [t for t in TERMS if not _close(got[t], ref[t], GRAD_RTOL)]
    if wrong:
        variants = _discriminator_variants(gen, disc, real_images, real_labels, key)
        raise _NotYet(_name_gradient_mistake(wrong[0], got[wrong[0]], ref, variants, n, "discriminator"))
    gen_after = _flat(nnx.state(gen_l))
    if not _same(gen_after, gen_state):
        moved = {k for k in gen_state if not np.array_equal(gen_state[k], gen_after[k])}
        if moved <= set(_flat(nnx.state(gen, nnx.BatchStat))):
            raise _NotYet("the generator's batch-norm running averages moved during the discriminator step: "
                          "here the generator only draws the fakes (which mode is that?)")
        raise _NotYet("the generator's weights changed during the discriminator step: only the "
                      "discriminator is updated here")
    step = _map(np.subtract, _params(disc_l), before)
    if _step_gap(step, ref_step) > STEP_RTOL:
        raise _NotYet(_name_update_mistake(step, got, disc, make, "discriminator"))
    return _say(True, f"both per-loss gradients match acgan_lib's (relative difference below {GRAD_RTOL:g}) "
                      f"and the {network_names} step matches training.discriminator_step (within "
                      f"{STEP_RTOL:.0%} of a step); the generator did not change")


def _guarded(check: Callable[..., bool], *args) -> bool:
    """Run a check; a learner's mistake or unusable input becomes one "not yet:" line, never a traceback."""
    try:
        return check(*args)
    except _NotYet as e:
        return _say(False, str(e))
    except Exception as e:  # unusable input: wrong types or shapes
        text = " ".join(str(e).split())[:240]
        return _say(False, f"the check could not run with these inputs ({type(e).__name__}: {text}); pass the "
                           f"notebook's networks, a batch and a PRNG key")


def check_discriminator_update(update_fn: Callable, gen: models.Generator, disc: models.Discriminator,
                               real_images, real_labels, key: jax.Array) -> bool:
    """Notebook 4: the learner's discriminator update against :func:`training.discriminator_step`.

    ``update_fn(gen, disc, d_opt, real_images, real_labels, key)`` must do one discriminator step
    (batch ``[real_images; n fakes]``, realness targets ``[0.95...; 0...]``, class targets
    ``[real_labels; sampled labels]``, one gradient per loss, one Adam step on their sum) and
    return ``{"realness_loss": grad, "class_loss": grad}``. It is called on copies of ``gen`` and
    ``disc`` with a fresh ``training.make_optimizer`` optimizer; ``gen`` and ``disc`` are left as
    they are. real_images (n, 28, 28, 1) float32 in [-1, 1]; real_labels (n,) int; key a PRNG key.
    Prints one "right:" / "not yet:" line; returns True when right.
    """
    return _guarded(_check_discriminator, update_fn, gen, disc, real_images, real_labels, key,
                    training.make_optimizer, "discriminator")


def check_toy_update(update_fn: Callable, gen: toy.ToyGenerator, disc: toy.ToyDiscriminator,
                     real_points, real_labels, key: jax.Array) -> bool:
    """Notebook 2: the learner's toy discriminator update against :func:`training.discriminator_step`.

    Same contract as :func:`check_discriminator_update`, on the 2-D toy: real_points (n, 2)
    float32, real_labels (n,) int in 0..C-1, the optimizer :func:`acgan_lib.toy.make_optimizer`
    (Adam 5e-3, beta1 0.5). Prints one "right:" / "not yet:" line; returns True when right.
    """
    if not (isinstance(gen, toy.ToyGenerator) and isinstance(disc, toy.ToyDiscriminator)):
        return _say(False, f"pass the toy networks (toy.ToyGenerator, toy.ToyDiscriminator), got "
                           f"{type(gen).__name__}, {type(disc).__name__}")
    return _guarded(_check_discriminator, update_fn, gen, disc, real_points, real_labels, key,
                    toy.make_optimizer, "toy discriminator")


# ----------------------------------------------------------------------------- the generator step
def _generator_batch(gen, batch_size: int, key):
    kz, kl, kd = jax.random.split(key, 3)
    return (models.sample_latent(kz, batch_size, gen.latent_dim),
            models.sample_labels(kl, batch_size, gen.num_classes), kd)


def _gen_grads(gen, terms_fn) -> dict[str, Tree]:
    grads, _, _ = training.per_loss_gradients(nnx.clone(gen), terms_fn)
    return {t: _flat(grads[t]) for t in TERMS}


def _generator_variants(gen, disc, batch_size, key) -> dict[str, tuple[tuple, dict, str]]:
    """The usual wrong generator losses on the same batch: name -> (terms affected, grads, hint)."""
    z, labels, kd = _generator_batch(gen, batch_size, key)
    w = training.LossWeights()

    def terms(g, gen_train=True, disc_train=True):
        images = g(z, labels, train=gen_train)
        realness_logits, class_logits = disc(images, train=disc_train, rngs=kd if disc_train else None)
        targets = jnp.full((batch_size,), training.SOFT_ONE, jnp.float32)
        return training.weighted_terms(w, realness_logits, targets, class_logits, labels), {}

    return {
        "target_zero": (("realness_loss",), _gen_grads(gen, lambda g: training.generator_loss_terms(
            g, disc, z, labels, kd, soft_one=training.SOFT_ZERO)),
            "your realness gradient uses the target 0 (\"fake\"), the discriminator's target for fakes: "
            "the generator wants its fakes called real"),
        "hard": (("realness_loss",), _gen_grads(gen, lambda g: training.generator_loss_terms(
            g, disc, z, labels, kd, soft_one=1.0)),
            "your realness gradient uses the hard target 1: the reference's trick target is SOFT_ONE = 0.95"),
        "gen_eval": (TERMS, _gen_grads(gen, lambda g: terms(g, gen_train=False)),
                     "your gradient is the one with the generator in inference mode (batch-norm running "
                     "statistics): in its own step the generator trains, with batch statistics"),
        "dropout_off": (TERMS, _gen_grads(gen, lambda g: terms(g, disc_train=False)),
                        "your gradient is the one with the discriminator's dropout off: the reference keeps it "
                        "on (training mode, the dropout key the step's key gives) even while it is frozen"),
    }


def _check_generator(update_fn, gen, disc, batch_size, key) -> bool:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise _NotYet(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    batch_size = int(batch_size)
    gen_ref, disc_ref = nnx.clone(gen), nnx.clone(disc)
    training.generator_step(gen_ref, disc_ref, _fresh_optimizer(gen_ref, training.make_optimizer), batch_size, key)
    before = _params(gen)
    ref_step = _map(np.subtract, _params(gen_ref), before)
    ref_stats = _flat(nnx.state(gen_ref, nnx.BatchStat))
    z, labels, kd = _generator_batch(gen, batch_size, key)
    ref = _gen_grads(gen, lambda g: training.generator_loss_terms(g, disc, z, labels, kd))

    gen_l, disc_l = nnx.clone(gen), nnx.clone(disc)
    disc_state = _flat(nnx.state(disc, nnx.Param))
    saved = _guard_originals(gen, disc)
    try:
        result = _run_learner(update_fn, (gen_l, disc_l, _fresh_optimizer(gen_l, training.make_optimizer),
                                          batch_size, key))
    finally:
        used_globals = _restore_originals(saved)
    if used_globals:
        raise _NotYet("your function changed the notebook's own networks instead of the copies it was given "
                      "(they have been put back): use the function's arguments, not global variables")
    if not _same(_flat(nnx.state(disc_l, nnx.Param)), disc_state):
        raise _NotYet("the discriminator's weights changed during the generator step: it must stay frozen "
                      "(differentiate and update the generator's weights only)")
    got = _learner_grads(result, ref["realness_loss"], "generator")
    wrong = [t for t in TERMS if not _close(got[t], ref[t], GRAD_RTOL)]
    if wrong:
        variants = _generator_variants(gen, disc, batch_size, key)
        raise _NotYet(_name_gradient_mistake(wrong[0], got[wrong[0]], ref, variants, batch_size, "generator"))
    step = _map(np.subtract, _params(gen_l), before)
    if _step_gap(step, ref_step) > STEP_RTOL:
        raise _NotYet(_name_update_mistake(step, got, gen, training.make_optimizer, "generator"))
    stats = _flat(nnx.state(gen_l, nnx.BatchStat))
    if not all(np.allclose(stats[k], ref_stats[k], rtol=1e-5, atol=1e-7) for k in ref_stats):
        old = _flat(nnx.state(gen, nnx.BatchStat))
        twice = nnx.clone(gen)
        for _ in range(2):
            twice(z, labels, train=True)
        twice = _flat(nnx.state(twice, nnx.BatchStat))
        if all(np.array_equal(stats[k], old[k]) for k in old):
            raise _NotYet("the weights are right, but the batch-norm running averages did not move: the "
                          "library's training-mode forward pass moves them once per step; keep that update")
        if all(np.allclose(stats[k], twice[k], rtol=1e-5, atol=1e-7) for k in twice):
            raise _NotYet("the weights are right, but the batch-norm running averages moved twice (one "
                          "training-mode forward pass per loss): let them move once per step")
        raise _NotYet("the weights are right, but the batch-norm running averages differ from the library's")
    return _say(True, f"both per-loss gradients match acgan_lib's (relative difference below {GRAD_RTOL:g}), "
                      f"the generator step matches training.generator_step (within {STEP_RTOL:.0%} of a step, "
                      f"batch-norm averages included) and the discriminator stayed frozen")


def check_generator_update(update_fn: Callable, gen: models.Generator, disc: models.Discriminator,
                           batch_size: int, key: jax.Array) -> bool:
    """Notebook 5: the learner's generator update against :func:`training.generator_step`.

    ``update_fn(gen, disc, g_opt, batch_size, key)`` must do one generator step through the frozen
    discriminator (``batch_size`` fresh z and requested labels, the generator in training mode,
    realness targets ``SOFT_ONE``, class targets the requested labels, one gradient per loss, one
    Adam step on their sum, the batch-norm running averages moved once) and return
    ``{"realness_loss": grad, "class_loss": grad}``. It is called on copies with a fresh
    ``training.make_optimizer`` optimizer; ``gen`` and ``disc`` are left as they are.
    Prints one "right:" / "not yet:" line; returns True when right.
    """
    return _guarded(_check_generator, update_fn, gen, disc, batch_size, key)
