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


# ----------------------------------------------------------------------------- notebook 04


# ----------------------------------------------------------------------------- notebook 05


# ----------------------------------------------------------------------------- notebook 06


# ----------------------------------------------------------------------------- notebook 07
