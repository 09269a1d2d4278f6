"""Answer checkers for the notebooks' exercises: ``check_*`` says right or wrong, never the answer.

Each notebook's exercises that have a definite answer call one of these; the worked solutions
live in hidden ``solution`` cells of the instructor notebooks (``make student`` removes them).
Every checker prints one line starting with "right" or "not yet" and returns a bool.
"""
from __future__ import annotations


def _report(ok: bool, right: str, hint: str) -> bool:
    """Print the verdict (``right: ...`` or ``not yet: <hint>``) and return ``ok``."""
    print(f"right: {right}" if ok else f"not yet: {hint}")
    return bool(ok)


# ----------------------------------------------------------------------------- notebook 01


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)


# ----------------------------------------------------------------------------- notebook 03


# ----------------------------------------------------------------------------- notebook 04


# ----------------------------------------------------------------------------- notebook 05


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
