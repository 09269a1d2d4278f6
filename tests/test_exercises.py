"""Each exercise checker says "right" for the right answer and "not yet" for a wrong one."""
import math

import numpy as np
import pytest

from acgan_lib import exercises, plotting, pretrained, trainer


# ----------------------------------------------------------------------------- notebook 06
def test_check_untrained_class_loss():
    assert exercises.check_untrained_class_loss(math.log(10))
    assert not exercises.check_untrained_class_loss(1.0)


def test_check_d_realness_floor(capsys):
    assert exercises.check_d_realness_floor(0.0993)
    assert not exercises.check_d_realness_floor(0.199)          # that is the generator's floor
    assert exercises.check_d_realness_floor(0.0, soft_one=1.0)
    assert not exercises.check_d_realness_floor(0.0993, soft_one=1.0)
    assert capsys.readouterr().out.splitlines()[1].startswith("not yet")


def test_check_equilibrium_loss():
    assert exercises.check_equilibrium_loss(0.693)
    assert not exercises.check_equilibrium_loss(0.5)


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
    assert lv["equilibrium"] == pytest.approx(math.log(2))
    assert lv["untrained_class"] == pytest.approx(math.log(10))
    assert plotting.binary_entropy(1.0) == 0.0
