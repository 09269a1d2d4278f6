import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acgan_lib import checkpoint, data, trainer, training
from conftest import leaves


@pytest.fixture(scope="module")
def small(bundled):
    idx = np.arange(0, 5000, 50)  # 100 digits, 10 per class
    return data.Dataset(bundled.images[idx], bundled.labels[idx], "test subset (100 digits)")


def cfg(**kw):
    base = dict(epochs=3, batch_size=20, seed=3, log_every=3, sample_rows=2)
    base.update(kw)
    return trainer.TrainConfig(**base)


def state_of(t):
    kind = nnx.Not(nnx.RngState)
    return [x for o in (t.gen, t.disc, t.g_opt, t.d_opt) for x in leaves(o, kind)]


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, small):
    a = trainer.Trainer(cfg(), small, tmp_path / "a")
    a.train(max_steps=7, progress=False)           # stops mid-epoch 2 (5 steps per epoch)
    b = trainer.Trainer(cfg(), small, tmp_path / "a")
    b.restore()
    assert b.step == 7
    b.train(progress=False)
    c = trainer.Trainer(cfg(), small, tmp_path / "c")
    c.train(progress=False)
    assert b.step == c.step == 15
    assert all(np.array_equal(x, y) for x, y in zip(state_of(b), state_of(c)))
    with open(tmp_path / "a" / "losses.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == list(range(1, 16))


def test_epoch_outputs(tmp_path, small):
    t = trainer.Trainer(cfg(epochs=2), small, tmp_path)
    hist = t.train(progress=False)
    assert len(hist) == 10 and {"d_loss", "g_loss", "d_realness_loss", "g_class_loss"} <= set(hist[0])
    assert (tmp_path / "samples" / "epoch_0001.png").exists() and (tmp_path / "samples" / "epoch_0002.png").exists()
    meta = __import__("json").loads((tmp_path / "metadata.json").read_text())
    assert meta["total_epochs"] == 2 and meta["current_epoch"] == 2 and meta["completed"] is True
    assert "last_updated" in meta
    ck = checkpoint.read_meta(tmp_path)
    assert ck["step"] == 10 and ck["config"]["seed"] == 3
    assert set(ck["objects"]) == {"generator", "discriminator", "generator_optimizer", "discriminator_optimizer"}
    grid = t.sample_grid()
    assert grid.shape == (20, 28, 28, 1)
    log = trainer.read_log(tmp_path)
    assert np.allclose(log["d_loss"], log["d_realness_loss"] + log["d_class_loss"], rtol=1e-4)


def test_resume_with_different_config_is_refused(tmp_path, small):
    trainer.Trainer(cfg(), small, tmp_path).train(max_steps=2, progress=False)
    t = trainer.Trainer(cfg(latent_dim=64), small, tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match="latent_dim=100 but this run asks for latent_dim=64"):
        t.restore()


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, small, monkeypatch):
    t = trainer.Trainer(cfg(), small, tmp_path)
    t.train(max_steps=5, progress=False)
    good = checkpoint.resolve(tmp_path)
    good_bytes = (good / "arrays.npz").read_bytes()
    real = training.train_iteration

    def exploding(*args, **kwargs):
        m = real(*args, **kwargs)
        m["d_class_loss"] = m["d_class_loss"] * jnp.nan
        return m

    monkeypatch.setattr(training, "train_iteration", exploding)
    t2 = trainer.Trainer(cfg(), small, tmp_path)
    t2.restore()
    with pytest.raises(trainer.TrainingDiverged, match=r"d_class_loss became nan at step 6"):
        t2.train(progress=False)
    assert checkpoint.resolve(tmp_path) == good
    assert (good / "arrays.npz").read_bytes() == good_bytes
    assert [p.name for p in checkpoint.complete_checkpoints(tmp_path / "checkpoints")] == [good.name]


def test_exploding_learning_rate_is_reported(tmp_path, small):
    t = trainer.Trainer(cfg(lr=1e8), small, tmp_path)
    with pytest.raises(trainer.TrainingDiverged, match="became nan at step 1.*Lower --lr"):
        t.train(progress=False)
    assert not (tmp_path / "checkpoints").exists() or not checkpoint.complete_checkpoints(tmp_path / "checkpoints")


def test_bad_config_values():
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        trainer.TrainConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="soft_one must be in"):
        trainer.TrainConfig(soft_one=1.5).validate()


def test_batch_larger_than_data(tmp_path, small):
    with pytest.raises(ValueError, match="batch_size 200 is larger than the data set"):
        trainer.Trainer(cfg(batch_size=200), small, tmp_path)


def test_generate_validates(tmp_path, small):
    t = trainer.Trainer(cfg(), small, tmp_path)
    imgs = trainer.generate(t.gen, [0, 5, 9], key=jax.random.key(0))
    assert imgs.shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="0..9"):
        trainer.generate(t.gen, [10])


def test_generator_moving_average(tmp_path, small):
    """The average never changes training, follows ema <- d*ema + (1-d)*gen, and resumes exactly."""
    decay = 0.8
    plain = trainer.Trainer(cfg(epochs=1), small, tmp_path / "plain")
    avg = trainer.Trainer(cfg(epochs=1, ema_decay=decay), small, tmp_path / "avg")
    expected = [np.asarray(x) for x in leaves(plain.gen, nnx.Param)]
    for step in range(1, 6):   # one step at a time, so we can follow the recurrence by hand
        plain.train(max_steps=step, progress=False)
        expected = [decay * e + (1 - decay) * np.asarray(g) for e, g in zip(expected, leaves(plain.gen, nnx.Param))]
    avg.train(progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(state_of(plain), state_of(avg)))
    got = [np.asarray(x) for x in leaves(avg.gen_ema, nnx.Param)]
    assert all(np.allclose(e, g, rtol=1e-5, atol=1e-6) for e, g in zip(expected, got))
    assert not all(np.array_equal(g, np.asarray(x)) for g, x in zip(got, leaves(avg.gen, nnx.Param)))
    assert "generator_ema" in checkpoint.read_meta(tmp_path / "avg")["objects"]

    # interrupted + resumed == uninterrupted, the average included
    a = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "a")
    a.train(max_steps=7, progress=False)
    b = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "a")
    b.restore()
    b.train(progress=False)
    c = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "c")
    c.train(progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(b.gen_ema, nnx.Param), leaves(c.gen_ema, nnx.Param)))

    # switching the average on when resuming a run that had none starts it from the generator
    d = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "plain", log=lambda s: None)
    d.restore()
    assert all(np.array_equal(x, y) for x, y in zip(leaves(d.gen_ema, nnx.Param), leaves(d.gen, nnx.Param)))
    with pytest.raises(ValueError, match="ema_decay must be in"):
        trainer.TrainConfig(ema_decay=1.0).validate()
