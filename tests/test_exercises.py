"""Each exercise checker says "right" for the right answer and "not yet" for a wrong one."""
import math
import types

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


def test_check_d_realness_minimum():
    assert exercises.check_d_realness_minimum(0.95, 0.0993)
    assert not exercises.check_d_realness_minimum(0.95, 0.95)      # the old "0.95 is a lower bound"
    assert not exercises.check_d_realness_minimum(0.95, 0.1985)    # forgot the fake half
    assert exercises.check_d_realness_minimum(1.0, 0.0)
    assert not exercises.check_d_realness_minimum(1.0, 0.0993)


def test_check_class_weight_ratio():
    assert exercises.check_class_weight_ratio(0.5)
    assert not exercises.check_class_weight_ratio(0.25)


def test_check_embedding_rows_with_gradient():
    assert exercises.check_embedding_rows_with_gradient([8])
    assert not exercises.check_embedding_rows_with_gradient(range(10))


def test_check_g_realness_minimum():
    assert exercises.check_g_realness_minimum(0.95, 0.1985)
    assert not exercises.check_g_realness_minimum(0.95, 0.0993)    # that is the discriminator's
    assert exercises.check_g_realness_minimum(1.0, 0.0)


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


# ----------------------------------------------------------------------------- notebooks 06, 07 (nb-b)
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
