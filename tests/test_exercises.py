"""The exercise checkers of acgan_lib.exercises: a right answer passes, a wrong one does not."""
import math

from acgan_lib import exercises


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)
def _entropy(t):
    return -(t * math.log(t) + (1 - t) * math.log(1 - t))


def test_nb02_reference_lines_right(capsys):
    assert exercises.check_reference_lines(lambda t: _entropy(t) / 2, _entropy, math.log)
    assert capsys.readouterr().out.startswith("right")


def test_nb02_reference_lines_wrong(capsys):
    # the floor of the whole batch is not H(t): the fake half can reach 0
    assert not exercises.check_reference_lines(_entropy, _entropy, math.log)
    assert capsys.readouterr().out.startswith("not yet")
    # "0.95 is the lower bound" is the misconception issue #10 names
    assert not exercises.check_reference_lines(lambda t: _entropy(t) / 2, lambda t: t, math.log)
    # ln 2 for every C is wrong
    assert not exercises.check_reference_lines(lambda t: _entropy(t) / 2, _entropy, lambda c: math.log(2))
    assert not exercises.check_reference_lines(lambda t: 1 / 0, _entropy, math.log)
