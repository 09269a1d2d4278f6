"""Each exercise checker says "right" for the right answer and "not yet" for a wrong one, and answers
any input (junk included) with one line, never a traceback (#21 §7)."""
import inspect
import math
import types
from pathlib import Path

import numpy as np
import pytest

from acgan_lib import exercises, plotting, pretrained, trainer


# ----------------------------------------------------------------------------- notebooks 01, 03, 04, 05 (nb-a)
@pytest.fixture(scope="module")
def tiny_ds():
    """Three classes of 2x2 'images': classes 1 and 2 have the closest means; 5 of 12 pixels are -1."""
    imgs = np.array([[-1, -1, 1, 1], [-1, 1, 1, 1],      # class 0
                     [1, 1, 1, -1], [1, 1, 1, 0],        # class 1
                     [1, 1, 0.5, -1], [1, 1, 0.5, 0]],   # class 2
                    np.float32).reshape(6, 2, 2, 1)
    return types.SimpleNamespace(images=imgs, labels=np.array([0, 0, 1, 1, 2, 2]))


def test_check_closest_class_means(tiny_ds, capsys):
    assert exercises.check_closest_class_means(tiny_ds, 2, 1)
    assert capsys.readouterr().out.startswith("right")
    assert not exercises.check_closest_class_means(tiny_ds, 0, 1)
    assert capsys.readouterr().out.startswith("not yet")


def test_check_background_fraction(tiny_ds):
    assert exercises.check_background_fraction(tiny_ds, 5 / 24)
    assert not exercises.check_background_fraction(tiny_ds, 0.5)


def test_check_generator_logit_gradients():
    s = 1 / (1 + np.exp(3.0))
    assert exercises.check_generator_logit_gradients(-s, s - 0.95)
    assert not exercises.check_generator_logit_gradients(s - 0.95, -s)   # swapped
    assert not exercises.check_generator_logit_gradients(-s, s - 1.0)    # hard target


def test_check_deconv1_params():
    assert exercises.check_deconv1_params(1_843_776)
    assert not exercises.check_deconv1_params(1_843_392)    # forgot the batch norm


def test_check_latent16_param_drop():
    assert exercises.check_latent16_param_drop(291_144)
    assert not exercises.check_latent16_param_drop((100 - 16) * 3456)   # forgot the embedding


def test_binary_entropy():
    assert exercises.binary_entropy(0.95) == pytest.approx(0.19852, abs=1e-5)
    assert exercises.binary_entropy(1.0) == 0.0
    assert exercises.binary_entropy(0.5) == pytest.approx(np.log(2))


def test_check_class_weight_ratio():
    assert exercises.check_class_weight_ratio(0.5)
    assert not exercises.check_class_weight_ratio(0.25)


@pytest.mark.parametrize("rows", [[8], 8, "8", (8,), {8}, np.array([8]), "[8]",
                                  np.arange(10) == 8, [8.0]], ids=repr)
def test_check_embedding_rows_with_gradient_accepts_the_natural_right_answers(rows, capsys):
    assert exercises.check_embedding_rows_with_gradient(rows)
    assert capsys.readouterr().out.startswith("right: only row 8")


@pytest.mark.parametrize("rows", [range(10), [], [8, 9], 9, [7], np.ones(10, bool), [8, 10]], ids=repr)
def test_check_embedding_rows_with_gradient_rejects(rows, capsys):
    assert not exercises.check_embedding_rows_with_gradient(rows)
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and out.count("\n") == 1 and "row 8" not in out


def test_nb05_exercise_2_asks_what_the_checker_checks():
    """The question asks for every row with a gradient (the checker's [8]), not "rows other than 8"."""
    text = (Path(__file__).resolve().parents[1] / "notebooks" / "05_training_the_generator.py").read_text()
    start = text.index("# 2. In section 7")
    question = " ".join(text[start:text.index("check_embedding_rows_with_gradient(rows)", start)].replace("#", " ").split())
    assert "other than" not in question and "receive a non-zero gradient" in question


def test_check_g_realness_minimum():
    assert exercises.check_g_realness_minimum(0.95, 0.1985)
    assert not exercises.check_g_realness_minimum(0.95, 0.0993)    # that is the discriminator's
    assert exercises.check_g_realness_minimum(1.0, 0.0)


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)
def _entropy(t):
    return -(t * math.log(t) + (1 - t) * math.log(1 - t))


def _bce(p, t):
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_nb02_soft_target_levels_right(capsys):
    d_star = 0.45
    right = [_entropy(0.9) / 2, _entropy(0.9), (_bce(d_star, 0.9) + _bce(d_star, 0.0)) / 2, _bce(d_star, 0.9)]
    assert exercises.check_soft_target_levels(*right)
    assert capsys.readouterr().out.startswith("right")
    assert exercises.check_soft_target_levels(*[round(v, 3) for v in right])


def test_nb02_soft_target_levels_wrong(capsys):
    d_star = 0.45
    right = [_entropy(0.9) / 2, _entropy(0.9), (_bce(d_star, 0.9) + _bce(d_star, 0.0)) / 2, _bce(d_star, 0.9)]
    # the 0.95 values, the whole-batch floor H(t) for D, ln 2 for "D says 0.5" instead of the equilibrium
    for wrong in ([_entropy(0.95) / 2, _entropy(0.95), 0.692, 0.739],
                  [_entropy(0.9), *right[1:]],
                  [*right[:2], math.log(2), right[3]],
                  [*right[:3], math.log(2)]):
        assert not exercises.check_soft_target_levels(*wrong)
        out = capsys.readouterr().out
        assert out.startswith("not yet") and out.count("\n") == 1
        assert f"{right[0]:.3f}" not in out and f"{right[3]:.3f}" not in out


def test_deconv1_hint_gives_the_method_not_the_sum(capsys):
    assert not exercises.check_deconv1_params(0)
    hint = capsys.readouterr().out
    assert hint.startswith("not yet: ") and "nnx.state" in hint
    for piece in ("5, 5", "384", "192", "bias", "scale", "offset", "*"):
        assert piece not in hint, hint
    assert exercises.check_deconv1_params(5 * 5 * 384 * 192 + 192 + 2 * 192)


# ----------------------------------------------------------------------------- notebooks 06, 07 (nb-b)
# ----------------------------------------------------------------------------- notebook 06
def test_check_untrained_class_loss():
    assert exercises.check_untrained_class_loss(math.log(10))
    assert not exercises.check_untrained_class_loss(1.0)


def test_check_d_realness_floor(capsys):
    assert exercises.check_d_realness_floor(0.0993)
    assert exercises.check_d_realness_floor(0.0993, soft_one=0.95)
    assert exercises.check_d_realness_floor("0.099")
    assert not exercises.check_d_realness_floor(0.95)              # the old "0.95 is a lower bound"
    assert not exercises.check_d_realness_floor(0.199)             # that is the generator's floor
    assert not exercises.check_d_realness_floor(0.1035)            # outside the one tolerance, 2e-3
    assert exercises.check_d_realness_floor(0.0, soft_one=1.0)
    assert not exercises.check_d_realness_floor(0.0993, soft_one=1.0)
    assert capsys.readouterr().out.splitlines()[3].startswith("not yet")


def test_one_checker_per_reference_value():
    """The discriminator's realness floor has one checker (04.2 and 06 used two, with two tolerances)."""
    assert not hasattr(exercises, "check_d_realness_minimum")
    assert exercises.binary_entropy is plotting.binary_entropy


def test_check_half_probability_loss():
    assert exercises.check_half_probability_loss(0.693)
    assert exercises.check_half_probability_loss("0.693")
    assert exercises.check_half_probability_loss(np.float32(0.6931))
    assert not exercises.check_half_probability_loss(0.5)


def test_check_ema_memory():
    assert exercises.check_ema_memory(1000)
    assert not exercises.check_ema_memory(100)
    assert exercises.check_ema_memory(9.5, decay=0.9)


def test_check_first_generator_class_accuracy():
    log = trainer.read_log(pretrained.GENERATOR_DIR)
    above = np.flatnonzero(plotting.smooth(log["g_class_accuracy"], 10) > 0.9)
    want = int(log["step"][above[0]])
    assert exercises.check_first_generator_class_accuracy(want)
    assert not exercises.check_first_generator_class_accuracy(want + 200)


def test_check_modes_meet():
    log = trainer.read_log(pretrained.GENERATOR_DIR)
    hit = (plotting.smooth(log["g_fool_rate"], 10) < 0.5) & (log["step"] > 100)
    want = int(log["step"][np.argmax(hit)])
    assert 500 < want <= 600
    assert exercises.check_modes_meet(want)
    assert not exercises.check_modes_meet(100)


# ----------------------------------------------------------------------------- notebook 07
def test_check_largest_embedding_coordinate():
    from acgan_lib import checkpoint

    emb = np.asarray(checkpoint.load_generator(pretrained.GENERATOR_DIR).embedding.embedding[...])
    for digit in (0, 3):
        want = int(np.abs(emb[digit]).argmax())
        assert exercises.check_largest_embedding_coordinate(want, digit=digit)
        assert not exercises.check_largest_embedding_coordinate((want + 1) % emb.shape[1], digit=digit)


def test_loss_reference_levels():
    lv = plotting.loss_reference_levels(0.95)
    assert lv["g_realness_floor"] == pytest.approx(-0.95 * math.log(0.95) - 0.05 * math.log(0.05))
    assert lv["d_realness_floor"] == pytest.approx(lv["g_realness_floor"] / 2)
    assert lv["d_realness_floor"] == pytest.approx(0.0993, abs=1e-4)
    assert lv["ln2"] == pytest.approx(math.log(2))
    assert lv["untrained_class"] == pytest.approx(math.log(10))
    assert plotting.binary_entropy(1.0) == 0.0


# ----------------------------------------------------------------------------- any input, one line
CHECKERS = sorted(name for name, f in inspect.getmembers(exercises, inspect.isfunction)
                  if name.startswith("check_") and f.__module__ == exercises.__name__)
JUNK = [None, float("nan"), float("inf"), "0.693x", "", [], [1, 2, 3], np.zeros((2, 2)), {"a": 1}, object(),
        True, -1, 2.5, "8", lambda *a: None]


def test_every_checker_is_found():
    assert len(CHECKERS) >= 15 and "check_embedding_rows_with_gradient" in CHECKERS


@pytest.mark.parametrize("name", CHECKERS)
@pytest.mark.parametrize("junk", JUNK, ids=lambda j: type(j).__name__ + ":" + repr(j)[:12])
def test_every_checker_answers_junk_with_one_line(name, junk, capsys):
    """Every required argument gets the junk; the checker prints one verdict line and returns a bool."""
    check = getattr(exercises, name)
    params = [p for p in inspect.signature(check).parameters.values() if p.default is inspect.Parameter.empty]
    assert params, name
    result = check(*[junk] * len(params))
    out = capsys.readouterr().out
    assert isinstance(result, bool)
    assert out.count("\n") == 1 and out.startswith(("right: ", "not yet: ")), out
    if out.startswith("not yet: "):
        assert len(out.strip()) > len("not yet: ") + 10, f"{name} gives no hint: {out!r}"


@pytest.mark.parametrize("name", CHECKERS)
def test_hints_do_not_contain_code_of_the_solution(name, capsys):
    """A "not yet" hint explains the idea; it never hands over the solution's expression."""
    check = getattr(exercises, name)
    params = [p for p in inspect.signature(check).parameters.values() if p.default is inspect.Parameter.empty]
    check(*[-12345] * len(params))
    hint = capsys.readouterr().out
    assert hint.startswith("not yet: "), hint
    for code in ("argmax(", "np.abs(", ".embedding.embedding", "flatnonzero", "np.mean("):
        assert code not in hint, f"{name}: {hint}"


# ----------------------------------------------------------------------------- answers on demand
def test_show_solution_prints_the_instructor_solution(capsys):
    exercises.show_solution("05", 2)
    out = capsys.readouterr().out
    assert out.startswith("# Solution 2") and "embedding" in out
    exercises.show_solution(4, 1)
    assert capsys.readouterr().out.startswith("# Solution 1")


@pytest.mark.parametrize("notebook, function", [("02", "my_toy_discriminator_update"),
                                                ("04", "my_discriminator_update"),
                                                ("05", "my_generator_update")])
def test_show_solution_finds_the_named_update_solutions(notebook, function, capsys):
    """The hands-on updates of notebooks 02/04/05 are solutions named "update", not numbered."""
    exercises.show_solution(notebook, "update")
    out = capsys.readouterr().out
    assert out.startswith("# Solution update") and f"def {function}(" in out


@pytest.mark.parametrize("args", [("05", 99), ("99", 1), (None, None), ("04", "x")])
def test_show_solution_says_what_exists_instead(args, capsys):
    exercises.show_solution(*args)
    out = capsys.readouterr().out
    assert out.startswith("not available: ") and out.count("\n") == 1, out
