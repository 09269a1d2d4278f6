"""The shipped pretrained generator: loadable, small, documented, and scoring what it says."""
import json

import jax
import numpy as np
import pytest

from acgan_lib import checkpoint, evaluation, models, pretrained


def test_pretrained_generator_is_small_and_documented():
    size = sum(p.stat().st_size for p in pretrained.GENERATOR_DIR.rglob("*") if p.is_file()
               and p.parent.name.startswith("ckpt-"))
    assert size <= 12 * 1024 * 1024
    prov = (pretrained.GENERATOR_DIR / "PROVENANCE.md").read_text()
    for needle in ("python -m acgan_lib train", "seed:", "iterations:", "wall time", "bundled MNIST subset"):
        assert needle in prov
    meta = checkpoint.read_meta(pretrained.GENERATOR_DIR)
    assert meta["provenance"]["command"].startswith("python -m acgan_lib train")


def test_pretrained_models_load_with_reference_shapes():
    gen = checkpoint.load_generator(pretrained.GENERATOR_DIR)
    disc = checkpoint.load_discriminator(pretrained.DISCRIMINATOR_DIR)
    assert models.count_params(gen) == 2_657_321 and models.count_params(disc) == 525_835
    images = models.generate(gen, np.arange(10), key=jax.random.key(0))
    assert images.shape == (10, 28, 28, 1) and -1 <= images.min() and images.max() <= 1


def test_recorded_evaluation_reproduces():
    recorded = json.loads((pretrained.GENERATOR_DIR / "evaluation.json").read_text())
    gen = checkpoint.load_generator(pretrained.GENERATOR_DIR)
    res = evaluation.evaluate_generator(gen, per_class=recorded["per_class_samples"], seed=0)
    assert res["class_accuracy"] == pytest.approx(recorded["class_accuracy"], abs=0.01)
    assert res["frechet_distance"] == pytest.approx(recorded["frechet_distance"], rel=0.05)
    # and it is far better than an untrained generator
    assert res["class_accuracy"] > 0.5
