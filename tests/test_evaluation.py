import json

import numpy as np
import pytest
from flax import nnx

from acgan_lib import evaluation, judge as judge_lib, models, pretrained


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(400, 8))
    assert abs(evaluation.frechet_distance(x, x)) < 1e-6


def test_frechet_distance_grows_with_shift_and_matches_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3000, 4))
    b = a + 0.5
    c = a + 2.0
    assert evaluation.frechet_distance(a, b) == pytest.approx(4 * 0.25, rel=1e-6)  # ||mu shift||^2
    assert evaluation.frechet_distance(a, c) > evaluation.frechet_distance(a, b)
    # equal means, scaled spread: (1 - s)^2 per dimension for isotropic Gaussians
    assert evaluation.frechet_distance(a, 2 * a) == pytest.approx(4 * (2 - 1) ** 2, rel=0.05)


def test_mean_pairwise_distance():
    pts = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert evaluation.mean_pairwise_distance(pts) == pytest.approx((5 + 0 + 5) / 3)
    assert evaluation.mean_pairwise_distance(np.ones((5, 3))) == 0.0


def test_shipped_judge_is_accurate_on_its_held_out_digits(bundled):
    judge = judge_lib.load_judge()
    _, held = judge_lib.judge_split(bundled)
    acc = judge_lib.accuracy(judge, bundled.images[held], bundled.labels[held])
    assert acc >= 0.97
    prov = json.loads((pretrained.JUDGE_DIR / "PROVENANCE.json").read_text())
    assert prov["heldout_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert "train-judge" in prov["command"]


def test_judge_training_split_never_includes_held_out(bundled):
    train_idx, held = judge_lib.judge_split(bundled)
    assert len(held) == 1000 and not set(train_idx) & set(held)
    assert np.bincount(bundled.labels[held]).tolist() == [100] * 10


def test_evaluate_untrained_generator_is_near_chance_and_collapsed():
    gen = models.Generator(rngs=nnx.Rngs(0))
    gen.eval()
    res = evaluation.evaluate_generator(gen, per_class=20, seed=0)
    assert res["class_accuracy"] < 0.4
    assert res["frechet_distance"] > 5 * res["frechet_floor_real_vs_real"]
    assert set(res["class_accuracy_per_class"]) == set(range(10))
    assert min(res["diversity_ratio_per_class"].values()) < 0.5  # noise images look alike to the judge
    assert "class accuracy" in evaluation.format_report(res)


def test_frechet_distance_refuses_large_imaginary_parts(monkeypatch):
    """Rounding leaves tiny imaginary parts (dropped); a large one means the fit is meaningless."""
    import scipy.linalg

    x = np.random.default_rng(0).normal(size=(50, 4))
    real_sqrtm = scipy.linalg.sqrtm
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: real_sqrtm(m) + 1e-9j)
    assert abs(evaluation.frechet_distance(x, x)) < 1e-6
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: real_sqrtm(m) + 0.5j)
    with pytest.raises(ValueError, match="imaginary part of 0.5"):
        evaluation.frechet_distance(x, x)


@pytest.mark.parametrize("per_class", [1, 0, 2.5])
def test_evaluate_needs_two_samples_per_class(per_class):
    gen = models.Generator(rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="per_class must be a whole number >= 2"):
        evaluation.evaluate_generator(gen, per_class=per_class)


def test_evaluation_does_not_import_the_training_loop():
    import subprocess
    import sys

    code = "import sys, acgan_lib.evaluation; print('acgan_lib.trainer' in sys.modules, 'acgan_lib.training' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_generating_in_chunks_draws_the_same_digits_and_refuses_nan():
    """Issue 22 §3: --per-class 10000 is generated in pieces (same z, same digits), NaN pixels refused."""
    import jax
    from flax import nnx

    from acgan_lib import models

    gen = models.Generator(rngs=nnx.Rngs(0))
    gen.eval()
    labels = np.arange(25) % 10
    whole = models.generate(gen, labels, key=jax.random.key(3))
    pieces = evaluation.generate_in_chunks(gen, labels, jax.random.key(3), chunk=10)
    assert pieces.shape == (25, 28, 28, 1) and np.allclose(whole, pieces, atol=1e-5)
    gen.dense.bias[...] = gen.dense.bias[...] * np.nan
    with pytest.raises(evaluation.GeneratorOutputError, match="NaN or infinite pixels"):
        evaluation.generate_in_chunks(gen, labels, jax.random.key(3), chunk=10)


def test_mean_pairwise_distance_in_blocks_matches_all_pairs():
    import itertools

    feats = np.random.default_rng(0).normal(size=(1203, 3))     # more rows than one block
    sub = feats[::40]
    brute = np.mean([np.linalg.norm(a - b) for a, b in itertools.combinations(sub, 2)])
    assert evaluation.mean_pairwise_distance(sub) == pytest.approx(brute, rel=1e-12)
    sq = (feats ** 2).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * feats @ feats.T, 0))
    assert evaluation.mean_pairwise_distance(feats) == pytest.approx(d[np.triu_indices(1203, 1)].mean(), rel=1e-12)
