"""Answer checkers for the notebooks' exercises: ``check_*`` says right or wrong, never the answer.

Each notebook's exercises that have a definite answer call one of these; the worked solutions
live in hidden ``solution`` cells of the instructor notebooks (``make student`` removes them, and
``show_solution(notebook, n)`` prints one on demand).
Every checker prints one line starting with "right" or "not yet" and returns a bool, whatever it
is given: a number may come as an int, a float, a numeric string ("0.693"), a NumPy or JAX
scalar or one-element array; anything else (None, NaN, a list where a number is asked, a wrong
shape) gets "not yet: <what was expected>", never a traceback.
"""
from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .plotting import binary_entropy  # noqa: F401  (the notebooks call exercises.binary_entropy)


def _report(ok: bool, right: str, hint: str) -> bool:
    """Print the verdict (``right: ...`` or ``not yet: <hint>``) and return ``ok``."""
    print(f"right: {right}" if ok else f"not yet: {hint}")
    return bool(ok)


class _BadAnswer(ValueError):
    """An answer of the wrong kind (not a number, NaN, wrong shape...): reported as "not yet: ..."."""


def _describe(x: Any) -> str:
    """A short description of what the learner passed, for the hint."""
    text = " ".join(repr(x).split())
    return f"{type(x).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _number(x: Any, what: str = "a number") -> float:
    """``x`` as a finite float: int, float, numeric string, NumPy/JAX scalar or one-element array."""
    if x is None or isinstance(x, (bool, np.bool_)):
        raise _BadAnswer(f"expected {what}, got {_describe(x)}")
    if isinstance(x, str):
        try:
            value = float(x.strip())
        except ValueError:
            raise _BadAnswer(f"expected {what}, got the text {x[:40]!r}") from None
    else:
        try:
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise _BadAnswer(f"expected {what}, got {_describe(x)}") from None
        if arr.size != 1:
            raise _BadAnswer(f"expected {what}, got {arr.size} values (shape {arr.shape})")
        value = float(arr.reshape(()))
    if not math.isfinite(value):
        raise _BadAnswer(f"expected {what}, got {value}")
    return value


def _integer(x: Any, what: str = "a whole number") -> int:
    """``x`` as an int; 3.0 and "3" are fine, 2.5 is not."""
    value = _number(x, what)
    if value != round(value):
        raise _BadAnswer(f"expected {what}, got {value}")
    return int(round(value))


def _integers(x: Any, what: str = "a list of row numbers such as [0, 3]") -> list[int]:
    """``x`` as a sorted list of distinct ints: a list/tuple/set/range/array of them, one int, or a
    boolean mask (the indices where it is True)."""
    if isinstance(x, str):
        parts = [p for p in re.split(r"[\s,;\[\]()]+", x) if p]
        return sorted({_integer(p, what) for p in parts})
    if x is None:
        raise _BadAnswer(f"expected {what}, got None")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.dtype == bool and arr.ndim == 1:
        return [int(i) for i in np.flatnonzero(arr)]
    if arr is not None and arr.dtype != object and arr.ndim == 0:   # one number
        return [_integer(x, what)]
    try:
        items = list(x)
    except TypeError:
        raise _BadAnswer(f"expected {what}, got {_describe(x)}") from None
    return sorted({_integer(v, what) for v in items})


def _dataset(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a dataset such as ``data.load_mnist(...)``."""
    try:
        images, labels = np.asarray(ds.images, dtype=float), np.asarray(ds.labels)
    except (AttributeError, TypeError, ValueError):
        raise _BadAnswer(f"pass the dataset `ds` of the notebook first, got {_describe(ds)}") from None
    if images.ndim < 2 or len(images) != len(labels) or len(images) == 0:
        raise _BadAnswer("pass the dataset `ds` of the notebook first (its images and labels)")
    return images, labels


def _checker(fn: Callable[..., bool]) -> Callable[..., bool]:
    """Turn an answer of the wrong kind into "not yet: <what was expected>" instead of a traceback."""
    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> bool:
        try:
            return fn(*args, **kwargs)
        except _BadAnswer as e:
            return _report(False, "", str(e))
    return check


# ----------------------------------------------------------------------------- notebook 01
def _closest_class_means(images: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """The two classes whose mean images (N, 28, 28, 1) have the smallest squared distance."""
    classes = np.unique(labels)
    means = np.stack([images[labels == c].reshape(-1, images[0].size).mean(0) for c in classes])
    d = np.where(np.eye(len(classes), dtype=bool), np.inf, ((means[:, None] - means[None]) ** 2).sum(-1))
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return int(classes[i]), int(classes[j])


@_checker
def check_closest_class_means(ds, a: int, b: int) -> bool:
    """Exercise 01.1: ``a, b`` the two digit classes with the closest mean images in ``ds``."""
    images, labels = _dataset(ds)
    a, b = _integer(a, "a digit class (0-9)"), _integer(b, "a digit class (0-9)")
    want = set(_closest_class_means(images, labels))
    return _report({a, b} == want, f"{a} and {b} have the closest mean images",
                   "compute each class's mean image, then the squared distance between every pair of means")


@_checker
def check_background_fraction(ds, fraction: float) -> bool:
    """Exercise 01.2: ``fraction`` of all pixels of ``ds`` that are exactly -1 (within 0.005)."""
    images, _ = _dataset(ds)
    fraction = _number(fraction, "a fraction between 0 and 1")
    want = float(np.mean(images == -1.0))
    return _report(abs(fraction - want) < 0.005, f"{want:.3f} of the pixels are pure background",
                   "a fraction between 0 and 1 (not a percentage) of all pixels of all images: "
                   "which value does a background pixel have after scaling to [-1, 1]?")


@_checker
def check_generator_logit_gradients(minimax: float, non_saturating: float, logit: float = -3.0,
                                    target: float = 0.95) -> bool:
    """Exercise 01.4: d/dlogit of log(1 - sigmoid(l)) and of BCE(l, 0.95) at ``logit`` (within 1e-3)."""
    minimax, non_saturating = _number(minimax), _number(non_saturating)
    logit, target = _number(logit), _number(target)
    s = 1.0 / (1.0 + math.exp(-logit))
    ok = abs(minimax - (-s)) < 1e-3 and abs(non_saturating - (s - target)) < 1e-3
    return _report(ok, f"minimax {-s:.4f} (vanishes as D grows sure), non-saturating {s - target:.4f}",
                   "use sigma'(l) = sigma(l)(1 - sigma(l)); the BCE gradient is sigma(l) - target")


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)
@_checker
def check_soft_target_levels(d_floor: float, g_floor: float, d_equilibrium: float, g_equilibrium: float,
                             soft_one: float = 0.9) -> bool:
    """Notebook 2, exercise 2: the four realness reference levels for another soft target ``soft_one``.

    ``d_floor`` / ``g_floor``: the smallest discriminator (half real, half fake batch) and generator
    realness losses; ``d_equilibrium`` / ``g_equilibrium``: both realness losses where fakes and reals
    are indistinguishable and the discriminator is at its best. Each within 2e-3 of
    :func:`acgan_lib.plotting.loss_reference_levels`.
    """
    from .plotting import loss_reference_levels

    soft_one = _number(soft_one, "soft_one, a target between 0 and 1")
    if not 0.0 < soft_one < 1.0:
        raise _BadAnswer(f"soft_one is a target strictly between 0 and 1, got {soft_one}")
    lv = loss_reference_levels(soft_one)
    answers = [
        ("d_floor", d_floor, lv["d_realness_floor"],
         "average the smallest loss on the real half (target soft_one) and on the fake half (target 0)"),
        ("g_floor", g_floor, lv["g_realness_floor"],
         "binary cross-entropy with target t is smallest where the predicted probability equals t"),
        ("d_equilibrium", d_equilibrium, lv["d_at_equilibrium"],
         "what single probability minimises the discriminator's loss when half its batch has target "
         "soft_one and half target 0, and the two halves look the same? Average its loss on both halves"),
        ("g_equilibrium", g_equilibrium, lv["g_at_equilibrium"],
         "use the best discriminator's answer at the equilibrium; every fake has target soft_one"),
    ]
    values = [_number(v, f"{name}, a number") for name, v, _, _ in answers]
    for (name, _, want, hint), v in zip(answers, values, strict=True):
        if abs(v - want) > 2e-3:
            return _report(False, "", f"{name} = {v:.4g} is off: {hint}")
    return _report(True, f"with soft_one = {soft_one:g}: floors {values[0]:.3f} (D) and {values[1]:.3f} (G), "
                         f"equilibrium {values[2]:.3f} (D) and {values[3]:.3f} (G)", "")


# ----------------------------------------------------------------------------- notebook 03
@_checker
def check_deconv1_params(n: int) -> bool:
    """Exercise 03.1: parameters of deconv1 with its batch norm (kernel + bias + scale + offset)."""
    n = _integer(n, "a whole number of parameters")
    want = 5 * 5 * 384 * 192 + 192 + 2 * 192
    return _report(n == want, f"{want:,} = 5*5*384*192 kernel + 192 bias + 2*192 batch-norm scale/offset",
                   "count every array of the layer: look at the shapes in nnx.state(gen.deconv1) and in the "
                   "batch norm that follows it (gen.bn1), and leave out what training does not learn")


@_checker
def check_latent16_param_drop(n: int) -> bool:
    """Exercise 03.2: how many parameters a generator with latent_dim=16 has fewer than with 100."""
    n = _integer(n, "a whole number of parameters")
    want = (100 - 16) * (10 + 3 * 3 * 384)
    return _report(n == want, f"{want:,} fewer: the embedding (10 x latent) and dense kernel (latent x 3456)",
                   "only the layers whose shape contains latent_dim change: which are they?")


# ----------------------------------------------------------------------------- notebooks 04, 06
@_checker
def check_d_realness_floor(value: float, soft_one: float = 0.95) -> bool:
    """Exercises 04.2 and 06 ("predict before you run", Ex. 1): the smallest realness loss the
    discriminator can reach on a half-real (target ``soft_one``), half-fake (target 0) batch (within 2e-3)."""
    value, soft_one = _number(value), _number(soft_one, "soft_one, a target between 0 and 1")
    if not 0.0 <= soft_one <= 1.0:
        raise _BadAnswer(f"soft_one is a target between 0 and 1, got {soft_one}")
    want = binary_entropy(soft_one) / 2
    return _report(abs(value - want) < 2e-3,
                   f"H({soft_one}) / 2 = {want:.4f}: the real half costs at least H({soft_one}), the fake half 0",
                   "the loss against a target t is smallest when p = t, and then equals the entropy H(t); "
                   "average the real half (target soft_one) and the fake half (target 0)")


# ----------------------------------------------------------------------------- notebook 04
@_checker
def check_class_weight_ratio(ratio: float) -> bool:
    """Exercise 04.1: factor by which LossWeights(classification=0.5) scales the class-loss gradient norms."""
    ratio = _number(ratio, "a factor such as 2.0")
    return _report(abs(ratio - 0.5) < 1e-3, "every class-loss bar is exactly halved; the realness bars do not move",
                   "the gradient is linear in the loss: what does multiplying a loss by w do to its gradient?")


# ----------------------------------------------------------------------------- notebook 05
@_checker
def check_g_realness_minimum(soft_one: float, value: float) -> bool:
    """Exercise 05.4: lowest possible generator realness loss with trick target ``soft_one`` (within 2e-3)."""
    soft_one, value = _number(soft_one, "soft_one, a target between 0 and 1"), _number(value)
    if not 0.0 <= soft_one <= 1.0:
        raise _BadAnswer(f"soft_one is a target between 0 and 1, got {soft_one}")
    want = binary_entropy(soft_one)
    return _report(abs(value - want) < 2e-3,
                   f"{want:.4f} = H({soft_one}): reached when the discriminator says exactly {soft_one:.0%} real",
                   "every fake has target soft_one; BCE with target t is smallest at sigmoid(logit) = t")


@_checker
def check_embedding_rows_with_gradient(rows) -> bool:
    """Exercise 05.2: every row of the embedding table (0-9) that gets a non-zero gradient when every
    requested label is 8. ``rows``: a list of row numbers, one number, or a boolean mask over the rows."""
    got = _integers(rows)
    if any(not 0 <= r <= 9 for r in got):
        raise _BadAnswer(f"the embedding table has rows 0 to 9, got {got}")
    return _report(got == [8], "only row 8: an embedding lookup sends gradient only to the rows it read",
                   "which rows of the embedding table did the forward pass read? "
                   "Every row it read gets a gradient, every other row none")


# ----------------------------------------------------------------------------- notebook 06
@_checker
def check_untrained_class_loss(value: float) -> bool:
    """Notebook 6, "predict before you run": the class loss of a head that knows nothing."""
    value = _number(value)
    return _report(abs(value - math.log(10)) < 0.05,
                   "an untrained head spreads its probability evenly: -ln(1/10) = ln 10 ~ 2.30",
                   "what is -ln p when the head gives every one of the 10 classes the same probability p?")


@_checker
def check_half_probability_loss(value: float) -> bool:
    """Notebook 6: either realness loss when the discriminator says 0.5 for every image."""
    value = _number(value)
    return _report(abs(value - math.log(2)) < 0.01,
                   "-t ln 0.5 - (1 - t) ln 0.5 = ln 2 ~ 0.693, whatever the target t",
                   "put p = 0.5 into -t ln p - (1 - t) ln(1 - p)")


@_checker
def check_ema_memory(iterations: float, decay: float = 0.999) -> bool:
    """Notebook 6: after how many iterations the starting weights' share in the average falls below 1/e."""
    iterations, decay = _number(iterations, "a number of iterations"), _number(decay, "a decay between 0 and 1")
    if not 0.0 < decay < 1.0:
        raise _BadAnswer(f"decay is between 0 and 1 (exclusive), got {decay}")
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


@_checker
def check_first_generator_class_accuracy(step: int) -> bool:
    """Notebook 6: first iteration of the shipped run where g_class_accuracy (moving average of 10) > 0.9."""
    from . import pretrained, trainer
    step = _integer(step, "an iteration number")
    want = _first_step(trainer.read_log(pretrained.GENERATOR_DIR), "g_class_accuracy", above=0.9)
    return _report(abs(step - want) <= 10, f"iteration {want} (within 10 is fine: it depends on the smoothing)",
                   "smooth the column over 10 iterations (plotting.smooth) before looking for the first step above 0.9")


@_checker
def check_modes_meet(step: int) -> bool:
    """Notebook 6: first iteration after 100 of the shipped run where g_fool_rate (moving average of 10) < 0.5."""
    from . import pretrained, trainer
    step = _integer(step, "an iteration number")
    want = _first_step(trainer.read_log(pretrained.GENERATOR_DIR), "g_fool_rate", below=0.5, after=100)
    return _report(abs(step - want) <= 20, f"iteration {want} (within 20 is fine)",
                   "read the shipped run's log (pretrained.GENERATOR_DIR) with trainer.read_log, smooth "
                   "g_fool_rate over 10 iterations and look only after iteration 100")


# ----------------------------------------------------------------------------- notebook 07
@_checker
def check_largest_embedding_coordinate(coordinate: int, digit: int = 0) -> bool:
    """Notebook 7: the coordinate of z the shipped generator's class ``digit`` multiplies by the largest |weight|."""
    from . import checkpoint, pretrained
    coordinate, digit = _integer(coordinate, "a coordinate index of z"), _integer(digit, "a digit class (0-9)")
    if not 0 <= digit <= 9:
        raise _BadAnswer(f"digit is a class from 0 to 9, got {digit}")
    emb = checkpoint.read_arrays(pretrained.GENERATOR_DIR)["generator/embedding/embedding"][digit]
    want = int(np.abs(emb).argmax())
    return _report(coordinate == want,
                   f"z[{want}] (|e_{digit},{want}| = {abs(emb[want]):.2f}); compare it with your measured ranking",
                   f"the generator scales z by a learned vector per class: find where class {digit}'s "
                   f"vector lives in the generator and rank its entries by size")


# ----------------------------------------------------------------------------- answers on demand
SOLUTION_TAG = "solution"


def _notebooks_dir() -> Path | None:
    """The instructor notebooks: ``notebooks/`` of the checkout this package is installed from (or
    of the current folder or one of its parents), None where there is none (a plain pip install)."""
    here = Path(__file__).resolve().parents[1]
    for d in [here, Path.cwd(), *Path.cwd().parents]:
        if any((d / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            return d / "notebooks"
    return None


def solution_source(notebook: str | int, number: int | str) -> str:
    """The source of solution ``number`` of instructor notebook ``notebook`` ("04", 4 or "04_training...").

    A solution is a code cell tagged ``solution`` whose first line is ``# Solution <number>`` (an
    exercise) or ``# Solution <name>`` (a named hands-on step, e.g. ``"update"``).
    Raises LookupError (with what exists instead) when there is no such notebook or solution.
    """
    folder = _notebooks_dir()
    if folder is None:
        raise LookupError("the instructor notebooks are not next to this installation: open "
                          "notebooks/NN_*.ipynb in a clone of the repository (its solution cells are collapsed)")
    prefix = f"{int(notebook):02d}" if str(notebook).isdigit() else str(notebook)[:2]
    paths = sorted(folder.glob(f"{prefix}_*.ipynb"))
    if not paths:
        raise LookupError(f"no notebook {notebook!r} in {folder}: give its number, e.g. show_solution('04', 2)")
    cells = json.loads(paths[0].read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in cells if c["cell_type"] == "code" and SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]
    label = str(int(number)) if str(number).strip().isdigit() else str(number).strip()
    wanted = re.compile(rf"#\s*Solution\s+{re.escape(label)}\b")
    found = [s for s in sources if wanted.match(s)]
    if not found:
        names = sorted({m.group(1) for s in sources if (m := re.match(r"#\s*Solution\s+(\w+)", s))},
                       key=lambda n: (not n.isdigit(), n.zfill(4)))
        raise LookupError(f"{paths[0].name} has no solution {number}; it has solution(s) {', '.join(names) or 'none'}")
    return "\n\n".join(found)


def show_solution(notebook: str | int, number: int | str) -> None:
    """Print the worked solution ``number`` of notebook ``notebook``, e.g. ``show_solution("04", 2)``.

    For self-study with the student copies, which have no solution cells: nothing is shown until you
    ask. Paste the printed code into a cell to run it.
    """
    try:
        text = solution_source(notebook, number)
    except (LookupError, ValueError, TypeError, OSError) as e:
        print(f"not available: {e}")
        return
    print(text)
