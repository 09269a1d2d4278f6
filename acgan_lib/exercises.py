"""Answer checkers for the notebooks' exercises: ``check_*`` says right or wrong, never the answer.

Each notebook's exercises that have a definite answer call one of these; the worked solutions
live in hidden ``solution`` cells of the instructor notebooks (``make student`` removes them).
Every checker prints one line starting with "right" or "not yet" and returns a bool.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np


def _report(ok: bool, right: str, hint: str) -> bool:
    """Print the verdict (``right: ...`` or ``not yet: <hint>``) and return ``ok``."""
    print(f"right: {right}" if ok else f"not yet: {hint}")
    return bool(ok)


# ----------------------------------------------------------------------------- notebook 01
def _closest_class_means(images: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """The two classes whose mean images (N, 28, 28, 1) have the smallest squared distance."""
    classes = np.unique(labels)
    means = np.stack([images[labels == c].reshape(-1, images[0].size).mean(0) for c in classes])
    d = np.where(np.eye(len(classes), dtype=bool), np.inf, ((means[:, None] - means[None]) ** 2).sum(-1))
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return int(classes[i]), int(classes[j])


def check_closest_class_means(ds, a: int, b: int) -> bool:
    """Exercise 01.1: ``a, b`` the two digit classes with the closest mean images in ``ds``."""
    want = set(_closest_class_means(np.asarray(ds.images), np.asarray(ds.labels)))
    return _report({int(a), int(b)} == want, f"{a} and {b} have the closest mean images",
                   "compute each class's mean image, then the squared distance between every pair of means")


def check_background_fraction(ds, fraction: float) -> bool:
    """Exercise 01.2: ``fraction`` of all pixels of ``ds`` that are exactly -1 (within 0.005)."""
    want = float(np.mean(np.asarray(ds.images) == -1.0))
    return _report(abs(float(fraction) - want) < 0.005, f"{want:.3f} of the pixels are pure background",
                   "count pixels equal to -1.0 over all images and divide by the number of pixels")


def check_generator_logit_gradients(minimax: float, non_saturating: float, logit: float = -3.0,
                                    target: float = 0.95) -> bool:
    """Exercise 01.4: d/dlogit of log(1 - sigmoid(l)) and of BCE(l, 0.95) at ``logit`` (within 1e-3)."""
    s = 1.0 / (1.0 + math.exp(-logit))
    ok = abs(minimax - (-s)) < 1e-3 and abs(non_saturating - (s - target)) < 1e-3
    return _report(ok, f"minimax {-s:.4f} (vanishes as D grows sure), non-saturating {s - target:.4f}",
                   "use sigma'(l) = sigma(l)(1 - sigma(l)); the BCE gradient is sigma(l) - target")


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)
def check_reference_lines(d_realness_floor, g_realness_floor, untrained_class_loss) -> bool:
    """Notebook 2, exercise 2: the three reference lines of the loss plots as functions.

    ``d_realness_floor(soft_one)``: the smallest discriminator realness loss on a batch that is
    half real (target ``soft_one``) and half fake (target 0); ``g_realness_floor(soft_one)``: the
    smallest generator realness loss (every target ``soft_one``); ``untrained_class_loss(C)``:
    the class loss of a head whose softmax is uniform over C classes.  Checked at several values.
    """
    import math

    def entropy(t):
        return -(t * math.log(t) + (1 - t) * math.log(1 - t))

    problems = []
    for t in (0.95, 0.9, 0.8):
        try:
            d, g = float(d_realness_floor(t)), float(g_realness_floor(t))
        except Exception as e:  # a student's function may raise
            return _report(False, "", f"the realness functions raised {type(e).__name__}: {e}")
        if not math.isclose(g, entropy(t), rel_tol=1e-3):
            problems.append(f"g_realness_floor({t}) = {g:.4g}: binary cross-entropy with target t is "
                            f"smallest where the predicted probability equals t")
        if not math.isclose(d, entropy(t) / 2, rel_tol=1e-3):
            problems.append(f"d_realness_floor({t}) = {d:.4g}: average the smallest loss on the real "
                            f"half and on the fake half (target 0)")
    for c in (2, 6, 10):
        try:
            v = float(untrained_class_loss(c))
        except Exception as e:
            return _report(False, "", f"untrained_class_loss raised {type(e).__name__}: {e}")
        if not math.isclose(v, math.log(c), rel_tol=1e-3):
            problems.append(f"untrained_class_loss({c}) = {v:.4g}: every class gets probability 1/C")
            break
    return _report(not problems, "all three reference lines are right", problems[0] if problems else "")




# ----------------------------------------------------------------------------- notebook 03
def check_deconv1_params(n: int) -> bool:
    """Exercise 03.1: parameters of deconv1 with its batch norm (kernel + bias + scale + offset)."""
    want = 5 * 5 * 384 * 192 + 192 + 2 * 192
    return _report(int(n) == want, f"{want:,} = 5*5*384*192 kernel + 192 bias + 2*192 batch-norm scale/offset",
                   "kernel is (5, 5, 384, 192); add one bias per output channel and the batch norm's scale and offset")


def check_latent16_param_drop(n: int) -> bool:
    """Exercise 03.2: how many parameters a generator with latent_dim=16 has fewer than with 100."""
    want = (100 - 16) * (10 + 3 * 3 * 384)
    return _report(int(n) == want, f"{want:,} fewer: the embedding (10 x latent) and dense kernel (latent x 3456)",
                   "only the layers whose shape contains latent_dim change: which are they?")


# ----------------------------------------------------------------------------- notebook 04
def binary_entropy(t: float) -> float:
    """H(t) = -t ln t - (1 - t) ln(1 - t) in nats; the minimum of BCE with target t (0 for t in {0, 1})."""
    return 0.0 - sum(p * math.log(p) for p in (t, 1.0 - t) if p > 0)


def check_d_realness_minimum(soft_one: float, value: float) -> bool:
    """Exercise 04.2: lowest possible discriminator realness loss on a half-real, half-fake batch (within 2e-3)."""
    want = binary_entropy(soft_one) / 2
    return _report(abs(float(value) - want) < 2e-3,
                   f"{want:.4f} = H({soft_one})/2: the real half cannot go below H({soft_one}), the fake half can reach 0",
                   "BCE with target t is smallest at sigmoid(logit) = t, where it equals the entropy H(t); "
                   "the batch is half real (target soft_one) and half fake (target 0)")


def check_class_weight_ratio(ratio: float) -> bool:
    """Exercise 04.1: factor by which LossWeights(classification=0.5) scales the class-loss gradient norms."""
    return _report(abs(float(ratio) - 0.5) < 1e-3, "every class-loss bar is exactly halved; the realness bars do not move",
                   "the gradient is linear in the loss: what does multiplying a loss by w do to its gradient?")


# ----------------------------------------------------------------------------- notebook 05
def check_g_realness_minimum(soft_one: float, value: float) -> bool:
    """Exercise 05.4: lowest possible generator realness loss with trick target ``soft_one`` (within 2e-3)."""
    want = binary_entropy(soft_one)
    return _report(abs(float(value) - want) < 2e-3,
                   f"{want:.4f} = H({soft_one}): reached when the discriminator says exactly {soft_one:.0%} real",
                   "every fake has target soft_one; BCE with target t is smallest at sigmoid(logit) = t")


def check_embedding_rows_with_gradient(rows: Iterable[int]) -> bool:
    """Exercise 05.2: the embedding rows that get a non-zero gradient when every requested label is 8."""
    got = sorted(int(r) for r in rows)
    return _report(got == [8], "only row 8: an embedding lookup sends gradient only to the rows it read",
                   "which rows of the embedding table did the forward pass read?")


# ----------------------------------------------------------------------------- notebook 06
def check_untrained_class_loss(value: float) -> bool:
    """Notebook 6, "predict before you run": the class loss of a head that knows nothing."""
    import math
    return _report(abs(value - math.log(10)) < 0.05,
                   "an untrained head spreads its probability evenly: -ln(1/10) = ln 10 ~ 2.30",
                   "what is -ln p when the head gives every one of the 10 classes the same probability p?")


def check_d_realness_floor(value: float, soft_one: float = 0.95) -> bool:
    """Notebook 6: the smallest realness loss the discriminator can reach on a half-real, half-fake batch."""
    from .plotting import binary_entropy
    want = binary_entropy(soft_one) / 2
    return _report(abs(value - want) < 0.005,
                   f"H({soft_one}) / 2 = {want:.4f}: the real half costs at least H({soft_one}), the fake half 0",
                   "the loss against a target t is smallest when p = t, and then equals the entropy H(t); "
                   "average the real half (target soft_one) and the fake half (target 0)")


def check_equilibrium_loss(value: float) -> bool:
    """Notebook 6: either realness loss when the discriminator says 0.5 for every image."""
    import math
    return _report(abs(value - math.log(2)) < 0.01,
                   "-t ln 0.5 - (1 - t) ln 0.5 = ln 2 ~ 0.693, whatever the target t",
                   "put p = 0.5 into -t ln p - (1 - t) ln(1 - p)")


def check_ema_memory(iterations: float, decay: float = 0.999) -> bool:
    """Notebook 6: after how many iterations the starting weights' share in the average falls below 1/e."""
    import math
    want = -1.0 / math.log(decay)
    return _report(abs(iterations - want) <= 0.05 * want,
                   f"decay^n < 1/e when n > -1 / ln(decay) ~ {want:.0f} ~ 1 / (1 - decay)",
                   "after n updates the starting weights are multiplied by decay^n; solve decay^n = 1/e")


def _first_step(log: dict, column: str, above: float | None = None, below: float | None = None,
                window: int = 10, after: int = 0) -> int:
    from .plotting import smooth
    v = smooth(log[column], window)
    hit = ((v > above) if above is not None else (v < below)) & (log["step"] > after)
    return int(log["step"][hit.argmax()]) if hit.any() else -1


def check_first_generator_class_accuracy(step: int) -> bool:
    """Notebook 6: first iteration of the shipped run where g_class_accuracy (moving average of 10) > 0.9."""
    from . import pretrained, trainer
    want = _first_step(trainer.read_log(pretrained.GENERATOR_DIR), "g_class_accuracy", above=0.9)
    return _report(abs(step - want) <= 10, f"iteration {want} (within 10 is fine: it depends on the smoothing)",
                   "smooth the column with plotting.smooth(..., 10) and take the first step above 0.9")


def check_modes_meet(step: int) -> bool:
    """Notebook 6: first iteration after 100 of the shipped run where g_fool_rate (moving average of 10) < 0.5."""
    from . import pretrained, trainer
    want = _first_step(trainer.read_log(pretrained.GENERATOR_DIR), "g_fool_rate", below=0.5, after=100)
    return _report(abs(step - want) <= 20, f"iteration {want} (within 20 is fine)",
                   "read pretrained.GENERATOR_DIR with trainer.read_log, smooth g_fool_rate over 10 "
                   "iterations and find the first iteration after 100 where it is below 0.5")


# ----------------------------------------------------------------------------- notebook 07
def check_largest_embedding_coordinate(coordinate: int, digit: int = 0) -> bool:
    """Notebook 7: the coordinate of z the shipped generator's class ``digit`` multiplies by the largest |weight|."""
    import numpy as np

    from . import checkpoint, pretrained
    with np.load(checkpoint.resolve(pretrained.GENERATOR_DIR) / "arrays.npz") as z:
        emb = z["generator/['embedding']['embedding']"][digit]
    want = int(np.abs(emb).argmax())
    return _report(int(coordinate) == want,
                   f"z[{want}] (|e_{digit},{want}| = {abs(emb[want]):.2f}); compare it with your measured ranking",
                   f"look at np.abs(gen.embedding.embedding[...][{digit}]) and take the argmax")
