import csv
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from acgan_lib import checkpoint, data, models, pretrained, trainer
from conftest import count_compilations, leaves, pairs


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
    assert all(np.array_equal(x, y) for x, y in pairs(state_of(b), state_of(c)))
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
    real = trainer._iteration

    def exploding(*args, **kwargs):   # the compiled iteration, its loss made NaN on the way out
        state, m = real(*args, **kwargs)
        return state, {**m, "d_class_loss": m["d_class_loss"] * jnp.nan}

    monkeypatch.setattr(trainer, "_iteration", exploding)
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


@pytest.mark.parametrize("field, value", [("realness_weight", -1.0), ("class_weight", float("nan")),
                                          ("soft_one", float("nan")), ("lr", float("inf")), ("seed", -1),
                                          ("conv_impl", "fft"), ("devices", -2), ("beta1", 1.0)])
def test_each_bad_setting_is_named(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        trainer.TrainConfig(**{field: value}).validate()


def test_cli_options_share_the_config_rules():
    """The CLI's parser of each numeric setting applies the very rule validate() applies."""
    import argparse
    import dataclasses

    from acgan_lib import config

    numeric = [f for f in dataclasses.fields(config.TrainConfig) if f.type in ("int", "float") and f.metadata["cli"]]
    assert {f.name for f in numeric} >= {"epochs", "lr", "seed", "ema_decay", "devices"}
    for f in numeric:
        parse = config.cli_type(f)
        assert parse(str(f.default)) == f.default
        with pytest.raises(argparse.ArgumentTypeError, match="must be"):
            parse("-5")
        with pytest.raises(ValueError, match=f"^{f.name} must be"):
            config.TrainConfig(**{f.name: type(f.default)(-5)}).validate()


def test_batch_larger_than_data(tmp_path, small):
    with pytest.raises(ValueError, match="batch_size 200 is larger than the data set"):
        trainer.Trainer(cfg(batch_size=200), small, tmp_path)


def test_generate_validates(tmp_path, small):
    t = trainer.Trainer(cfg(), small, tmp_path)
    imgs = models.generate(t.gen, [0, 5, 9], key=jax.random.key(0))
    assert imgs.shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="0..9"):
        models.generate(t.gen, [10], key=jax.random.key(0))


def test_generator_moving_average(tmp_path, small):
    """The average never changes training, follows ema <- d*ema + (1-d)*gen, and resumes exactly."""
    decay = 0.8
    plain = trainer.Trainer(cfg(epochs=1), small, tmp_path / "plain")
    avg = trainer.Trainer(cfg(epochs=1, ema_decay=decay), small, tmp_path / "avg")
    expected = [np.asarray(x) for x in leaves(plain.gen, nnx.Param)]
    for step in range(1, 6):   # one step at a time, so we can follow the recurrence by hand
        plain.train(max_steps=step, progress=False)
        expected = [decay * e + (1 - decay) * np.asarray(g) for e, g in pairs(expected, leaves(plain.gen, nnx.Param))]
    avg.train(progress=False)
    assert all(np.array_equal(x, y) for x, y in pairs(state_of(plain), state_of(avg)))
    got = [np.asarray(x) for x in leaves(avg.gen_ema, nnx.Param)]
    assert all(np.allclose(e, g, rtol=1e-5, atol=1e-6) for e, g in pairs(expected, got))
    assert not all(np.array_equal(g, np.asarray(x)) for g, x in pairs(got, leaves(avg.gen, nnx.Param)))
    assert "generator_ema" in checkpoint.read_meta(tmp_path / "avg")["objects"]

    # interrupted + resumed == uninterrupted, the average included
    a = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "a")
    a.train(max_steps=7, progress=False)
    b = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "a")
    b.restore()
    b.train(progress=False)
    c = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "c")
    c.train(progress=False)
    assert all(np.array_equal(x, y) for x, y in pairs(leaves(b.gen_ema, nnx.Param), leaves(c.gen_ema, nnx.Param)))

    # switching the average on when resuming a run that had none starts it from the generator
    d = trainer.Trainer(cfg(ema_decay=decay), small, tmp_path / "plain", log=lambda s: None)
    d.restore()
    assert all(np.array_equal(x, y) for x, y in pairs(leaves(d.gen_ema, nnx.Param), leaves(d.gen, nnx.Param)))
    with pytest.raises(ValueError, match="ema_decay must be in"):
        trainer.TrainConfig(ema_decay=1.0).validate()


# ----------------------------------------------------------------------------- issue 11: data safety
def test_resume_survives_a_torn_last_line_of_the_log(tmp_path, small):
    trainer.Trainer(cfg(), small, tmp_path).train(max_steps=5, progress=False)
    with open(tmp_path / "losses.csv", "a") as f:
        f.write("6,1.2,0.69")                     # what a crash mid-append leaves
    assert trainer.read_log(tmp_path)["step"].tolist() == [1, 2, 3, 4, 5]
    t = trainer.Trainer(cfg(), small, tmp_path, log=lambda s: None)
    t.restore()
    t.train(max_steps=7, progress=False)
    assert trainer.read_log(tmp_path)["step"].tolist() == list(range(1, 8))


def test_resume_falls_back_to_the_newest_valid_checkpoint(tmp_path, small):
    trainer.Trainer(cfg(), small, tmp_path).train(max_steps=10, progress=False)   # checkpoints at 5 and 10
    newest = checkpoint.resolve(tmp_path)
    assert newest.name == "ckpt-00000010"
    data_ = (newest / "arrays.npz").read_bytes()
    (newest / "arrays.npz").write_bytes(data_[: len(data_) // 2])                 # truncated by a full disk
    messages = []
    t = trainer.Trainer(cfg(), small, tmp_path, log=messages.append)
    t.restore()
    assert t.step == 5
    assert any("ckpt-00000010 is damaged; resuming from ckpt-00000005" in m for m in messages)
    (tmp_path / "checkpoints" / "ckpt-00000005" / "meta.json").write_text("{not json")
    with pytest.raises(checkpoint.DamagedCheckpoint, match="arrays.npz is truncated or not a checkpoint"):
        trainer.Trainer(cfg(), small, tmp_path, log=lambda s: None).restore()


def test_signal_at_an_epoch_boundary_keeps_that_epochs_grid_and_metadata(tmp_path, small):
    """SIGINT arriving exactly when an epoch ends: the epoch's outputs are written, then it stops."""
    import os
    import signal

    t = trainer.Trainer(cfg(log_every=1), small, tmp_path)

    def on_log(rows):
        if t.step == 5:                            # the last step of epoch 1
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(trainer.Interrupted, match="interrupted at step 5"):
        t.train(progress=False, on_log=on_log)
    assert (tmp_path / "samples" / "epoch_0001.png").exists()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["current_epoch"] == 1 and meta["step"] == 5 and meta["interrupted"] is True
    assert checkpoint.read_meta(tmp_path)["step"] == 5


def test_a_second_writer_is_refused(tmp_path, small):
    import os
    import subprocess
    import sys

    from acgan_lib import files

    root = str(Path(trainer.__file__).resolve().parents[1])
    code = ("import sys, time; from acgan_lib import files; files.RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": root})
    try:
        assert other.stdout.readline().strip() == "locked"     # the other process holds the kernel lock
        with pytest.raises(files.RunLocked, match=f"in use by process {other.pid}"):
            trainer.Trainer(cfg(), small, tmp_path).train(max_steps=1, progress=False)
        assert not (tmp_path / "losses.csv").exists() and not (tmp_path / "checkpoints").exists()
    finally:
        other.kill()
        other.wait()


# ----------------------------------------------------------------------------- issue 11: silent wrong behaviour
def test_exploding_losses_stop_training_before_they_overflow(tmp_path, small, monkeypatch):
    real = trainer._iteration

    def exploding(*args, **kwargs):
        state, m = real(*args, **kwargs)
        return state, {**m, "g_realness_loss": m["g_realness_loss"] * 1e6}     # finite, but ~7e5

    monkeypatch.setattr(trainer, "_iteration", exploding)
    t = trainer.Trainer(cfg(log_every=1), small, tmp_path)
    with pytest.raises(trainer.TrainingDiverged,
                       match=r"g_realness_loss reached .* \(beyond 10000\) at step 1.*No checkpoint was written"):
        t.train(progress=False)
    assert not (tmp_path / "checkpoints").exists()


def test_resume_without_ema_decay_keeps_the_moving_average(tmp_path, small):
    first = trainer.Trainer(cfg(ema_decay=0.8), small, tmp_path)
    first.train(max_steps=5, progress=False)
    saved_ema, saved_gen = leaves(first.gen_ema, nnx.Param), leaves(first.gen, nnx.Param)
    assert not all(np.array_equal(a, b) for a, b in pairs(saved_ema, saved_gen))
    messages = []
    t = trainer.Trainer(cfg(), small, tmp_path, log=messages.append)    # ema_decay not given
    t.restore()
    assert t.cfg.ema_decay == 0.8
    assert any("continuing it with its ema_decay=0.8" in m for m in messages)
    # the average was restored from the checkpoint, not restarted from the generator
    assert all(np.array_equal(a, b) for a, b in pairs(leaves(t.gen_ema, nnx.Param), saved_ema))
    t.train(max_steps=6, progress=False)
    expected = [0.8 * e + 0.2 * g for e, g in pairs(saved_ema, leaves(t.gen, nnx.Param))]
    for e, got in pairs(expected, leaves(t.gen_ema, nnx.Param)):
        np.testing.assert_allclose(got, e, rtol=1e-5, atol=1e-6)
    assert "generator_ema" in checkpoint.read_meta(tmp_path)["objects"]


def test_callbacks_see_current_modules_and_numpy_settings_work(tmp_path, small):
    seen = []
    t = trainer.Trainer(cfg(batch_size=np.int64(20), epochs=np.int32(1)), small, tmp_path)

    def on_log(rows):
        seen.append(float(np.asarray(t.gen.dense.bias[...]).sum()))   # no private sync call needed

    t.train(progress=False, on_log=on_log)
    assert len(seen) == 2 and seen[0] != seen[1] and isinstance(t.cfg.batch_size, int)


def test_resume_check_comes_from_the_config_fields():
    assert set(trainer.TrainConfig.resume_must_match()) == {
        "batch_size", "latent_dim", "num_classes", "lr", "beta1", "soft_one", "realness_weight",
        "class_weight", "seed"}
    with pytest.raises(ValueError, match="batch_size must be of type int"):
        trainer.TrainConfig(batch_size="20").validate()


# ----------------------------------------------------------------------------- issue 20 §1: compile once
def test_a_second_trainer_reuses_the_compiled_iteration(tmp_path, small):
    """A new Trainer of the same shape (another learning rate, seed, folder) runs without compiling."""
    first = trainer.Trainer(cfg(), small, tmp_path / "a", log=lambda s: None)
    first.run_iterations(1)
    entries = trainer._iteration._cache_size()
    second = trainer.Trainer(cfg(lr=1e-3, beta1=0.9, seed=4), small, tmp_path / "b", log=lambda s: None)
    with count_compilations() as compiled:
        second.run_iterations(2)
    assert compiled[0] == 0
    assert trainer._iteration._cache_size() == entries >= 1
    assert float(second.d_opt.opt_state.hyperparams["b1"][...]) == pytest.approx(0.9)


# ----------------------------------------------------------------------------- issue 20 §3: no key reuse
def test_every_purpose_has_its_own_key():
    """Initialisation, shuffle, step and sample-grid keys are split from one root; no key the
    networks' nnx.Rngs draw at initialisation is a step or shuffle key (the old scheme's reuse)."""
    def raw(k):
        return tuple(np.asarray(jax.random.key_data(k)).ravel().tolist())

    keys = trainer.run_keys(3)
    assert list(keys) == list(trainer.KEY_PURPOSES) and len({raw(k) for k in keys.values()}) == len(keys) == 5
    derived = {raw(jax.random.fold_in(k, t)) for k in keys.values() for t in range(20)}
    assert len(derived) == 5 * 20                                      # steps 0..19 of every purpose differ
    init_draws = set()
    for purpose in ("generator_init", "discriminator_init"):
        rngs = nnx.Rngs(keys[purpose])
        init_draws |= {raw(rngs.params()) for _ in range(20)}
    used_in_training = {raw(jax.random.fold_in(keys[p], t)) for p in ("shuffle", "steps") for t in range(20)}
    assert len(init_draws) == 40 and not init_draws & used_in_training
    assert raw(trainer.run_keys(3)["steps"]) == raw(keys["steps"])      # a function of the seed only


# ----------------------------------------------------------------------------- issue 19 §3: start from shipped networks
def test_start_from_trains_the_given_networks_with_fresh_adam(tmp_path, small):
    """start_from loads weights and batch-norm statistics; the first iteration after it is a fresh
    Adam step from exactly those weights (every parameter moves by at most lr, most by about lr)."""
    donor = trainer.Trainer(cfg(), small, tmp_path / "donor", log=lambda s: None)
    donor.run_iterations(2)
    given = [leaves(donor.gen, nnx.Not(nnx.RngState)), leaves(donor.disc, nnx.Not(nnx.RngState))]
    fresh = trainer.Trainer(cfg(seed=5), small, tmp_path / "fresh", log=lambda s: None)
    untouched_opt = leaves(fresh.g_opt) + leaves(fresh.d_opt)
    fresh.start_from(donor.gen, donor.disc, step=7)
    assert fresh.step == 7 and fresh.gen is not donor.gen
    for net, want in pairs((fresh.gen, fresh.disc), given):
        assert all(np.array_equal(a, b) for a, b in pairs(leaves(net, nnx.Not(nnx.RngState)), want))
    # the optimizer states are those of a new run (Adam's step count 0, moments 0), not the donor's
    assert all(np.array_equal(a, b) for a, b in pairs(leaves(fresh.g_opt) + leaves(fresh.d_opt), untouched_opt))
    before = leaves(fresh.gen, nnx.Param) + leaves(fresh.disc, nnx.Param)
    fresh.run_iterations(1)
    moved = np.concatenate([np.abs(a - b).ravel() for a, b in
                            pairs(leaves(fresh.gen, nnx.Param) + leaves(fresh.disc, nnx.Param), before)])
    lr = fresh.cfg.lr
    assert moved.max() <= lr * 1.001 and np.median(moved) > 0.5 * lr, (moved.max(), np.median(moved))
    # the donor's networks are not changed by training the trainer that started from them
    assert all(np.array_equal(a, b) for a, b in pairs(leaves(donor.gen, nnx.Not(nnx.RngState)), given[0]))


def test_start_from_reuses_the_compiled_iteration(tmp_path, small):
    """Loading the shipped networks (float16 on disk, eval mode) does not change the program:
    training on from them compiles nothing."""
    first = trainer.Trainer(cfg(), small, tmp_path / "first", log=lambda s: None)
    first.run_iterations(1)
    entries = trainer._iteration._cache_size()
    gen = checkpoint.load_generator(pretrained.EARLY_RUN_DIR / "generator_0200")
    disc = checkpoint.load_discriminator(pretrained.EARLY_RUN_DIR / "discriminator_0200")
    t = trainer.Trainer(cfg(), small, tmp_path / "t", log=lambda s: None)
    t.start_from(gen, disc)
    with count_compilations() as compiled:
        t.run_iterations(2)
    assert compiled[0] == 0
    assert trainer._iteration._cache_size() == entries >= 1


def test_start_from_refuses_networks_of_another_shape(tmp_path, small):
    t = trainer.Trainer(cfg(), small, tmp_path / "t", log=lambda s: None)
    other = models.Generator(latent_dim=50, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="latent_dim"):
        t.start_from(other, t.disc)
    with pytest.raises(ValueError, match="step must be an integer"):
        t.start_from(t.gen, t.disc, step=-1)
