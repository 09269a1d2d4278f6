"""The loss reference levels of notebook 1's "reference values" section, from the library."""
import math

import matplotlib
import numpy as np
import pytest

from acgan_lib import plotting

matplotlib.use("Agg")


def test_equilibrium_levels_with_the_soft_target():
    lv = plotting.loss_reference_levels(0.95)
    # best D where p_g = p_data says 0.475: check by brute force over probabilities
    p = np.linspace(1e-4, 1 - 1e-4, 200_001)
    bce = lambda q, t: -t * np.log(q) - (1 - t) * np.log(1 - q)
    d_star = p[np.argmin(bce(p, 0.95) + bce(p, 0.0))]
    assert d_star == pytest.approx(0.475, abs=1e-4)
    assert lv["g_at_equilibrium"] == pytest.approx(bce(d_star, 0.95), abs=1e-6)
    assert lv["g_at_equilibrium"] == pytest.approx(0.739, abs=5e-4)
    assert lv["d_at_equilibrium"] == pytest.approx(0.692, abs=5e-4)
    assert lv["d_at_equilibrium"] < math.log(2) < lv["g_at_equilibrium"]


def test_equilibrium_levels_with_hard_targets_are_ln2():
    lv = plotting.loss_reference_levels(1.0 - 1e-12)
    assert lv["g_at_equilibrium"] == pytest.approx(math.log(2), abs=1e-6)
    assert lv["d_at_equilibrium"] == pytest.approx(math.log(2), abs=1e-6)


def test_generator_axis_draws_the_equilibrium_line():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    plotting.add_loss_references(axes)
    g_levels = [line.get_ydata()[0] for line in axes[1].get_lines()]
    d_levels = [line.get_ydata()[0] for line in axes[0].get_lines()]
    g_eq = plotting.loss_reference_levels()["g_at_equilibrium"]
    assert any(abs(y - g_eq) < 1e-9 for y in g_levels)
    assert not any(abs(y - g_eq) < 1e-9 for y in d_levels)
    plt.close(fig)
