import csv
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acgan_lib import checkpoint, data

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=300, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "acgan_lib", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def popen(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "acgan_lib", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory, bundled):
    """100 real digits as canonical IDX files (so --data DIR is exercised)."""
    d = tmp_path_factory.mktemp("mnist_small")
    idx = np.arange(0, 5000, 50)
    pix = data.to_pixels(bundled.images[idx])
    lab = bundled.labels[idx].astype(np.uint8)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 2051, 100, 28, 28) + pix.tobytes()))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, 100) + lab.tobytes()))
    return d


TRAIN = ["train", "--batch-size", "20", "--seed", "1", "--no-progress", "--log-every", "1"]


def log_steps(out):
    with open(out / "losses.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_train_generate_resume(tmp_path, small_dir):
    out = tmp_path / "run"
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "2", "--max-steps", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "data: MNIST train split from" in r.stdout
    assert "note: the sample grid is still grey (pixel standard deviation" in r.stdout   # issue 15.6
    assert checkpoint.read_meta(out)["step"] == 3
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "2", "--out", str(out))
    assert r.returncode == 2 and "already holds a run; pass --resume" in r.stderr
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "2", "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout and checkpoint.read_meta(out)["step"] == 10
    assert log_steps(out) == list(range(1, 11))
    assert (out / "samples" / "epoch_0002.png").exists()

    png = tmp_path / "g.png"
    r = run("generate", "--checkpoint", str(out), "--labels", "3", "8", "--per-class", "2", "--out", str(png))
    assert r.returncode == 0, r.stderr and png.stat().st_size > 0
    npz = tmp_path / "g.npz"
    r = run("generate", "--checkpoint", str(out), "--per-class", "2", "--out", str(npz))
    assert r.returncode == 0, r.stderr
    z = np.load(npz)
    assert z["images"].shape == (20, 28, 28, 1) and z["images"].dtype == np.float32
    assert z["labels"].tolist() == sorted(list(range(10)) * 2)
    assert z["images"].min() >= -1 and z["images"].max() <= 1
    r = run("generate", "--checkpoint", str(out), "--labels", "12", "--out", str(tmp_path / "bad.png"))
    assert r.returncode == 2 and "--labels must be in 0..9" in r.stderr
    assert not (tmp_path / "bad.png").exists()


def test_export_generator_and_its_moving_average(tmp_path, small_dir):
    out = tmp_path / "run"
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "1", "--ema-decay", "0.9", "--out", str(out))
    assert r.returncode == 0, r.stderr
    r = run("export", "--checkpoint", str(out), "--generator-out", str(tmp_path / "g"), "--with-logs")
    assert r.returncode == 0, r.stderr
    r = run("export", "--checkpoint", str(out), "--generator-out", str(tmp_path / "e"), "--ema", "--with-logs")
    assert r.returncode == 0, r.stderr
    assert "--ema --with-logs" in (tmp_path / "e" / "PROVENANCE.md").read_text()
    assert "moving average of the generator (ema_decay=0.9)" in (tmp_path / "e" / "PROVENANCE.md").read_text()
    g, e = checkpoint.load_generator(tmp_path / "g"), checkpoint.load_generator(tmp_path / "e")
    from flax import nnx
    import jax
    diffs = [float(np.abs(np.asarray(a) - np.asarray(b)).max())
             for a, b in zip(jax.tree.leaves(nnx.state(g)), jax.tree.leaves(nnx.state(e)), strict=True)]
    assert max(diffs) > 0  # the average is not the last generator

    plain = tmp_path / "plain"
    assert run(*TRAIN, "--data", str(small_dir), "--max-steps", "2", "--out", str(plain)).returncode == 0
    r = run("export", "--checkpoint", str(plain), "--generator-out", str(tmp_path / "x"), "--ema")
    assert r.returncode == 2 and "no moving average" in r.stderr and "--ema-decay" in r.stderr
    assert not (tmp_path / "x").exists()
    r = run(*TRAIN, "--ema-decay", "1.5", "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and "--ema-decay: must be in [0, 1)" in r.stderr


def test_generate_missing_checkpoint(tmp_path):
    r = run("generate", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--epochs", "-3"], "--epochs: must be >= 1"),
    (["--data", "nowhere"], "--data: must be auto, bundled, full or an existing directory"),
    (["--lr", "abc"], "--lr: expected a number"),
    (["--batch-size", "0"], "--batch-size: must be >= 1"),
    (["--out", "/proc/acgan-out"], "--out: cannot write to /proc"),
    (["--out", "cwd_file/run"], "is a file, not a directory"),
])
def test_invalid_flags_exit_nonzero_and_write_nothing(tmp_path, args, msg):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "cwd_file").write_text("not a directory")
    r = run("train", *args, cwd=cwd)
    assert r.returncode == 2 and msg in r.stderr and "usage:" in r.stderr
    assert [p.name for p in cwd.iterdir()] == ["cwd_file"]


def test_info_prints_reference_counts():
    r = run("info")
    assert r.returncode == 0
    assert "2,657,321" in r.stdout and "525,835" in r.stdout and "3,183,732" in r.stdout


def _wait_for_steps(out, n, proc, limit=240):
    t0 = time.time()
    while time.time() - t0 < limit:
        if (out / "losses.csv").exists() and len(log_steps(out)) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("training did not start in time")


def test_second_writer_refused_then_sigint_saves_and_exits_cleanly(tmp_path, small_dir):
    out = tmp_path / "run"
    proc = popen(*TRAIN, "--data", str(small_dir), "--epochs", "100", "--out", str(out))
    _wait_for_steps(out, 2, proc)
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "100", "--out", str(out), "--resume")
    assert r.returncode == 2 and f"in use by process {proc.pid}" in r.stderr, r.stderr
    assert _error_lines(r) == 1
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    step = checkpoint.read_meta(out)["step"]
    assert step >= 2 and log_steps(out)[-1] == step
    meta = json.loads((out / "metadata.json").read_text())      # every run folder has one (issue 15.6)
    assert meta["step"] == step and meta["interrupted"] is True and meta["completed"] is False
    assert not (out / ".lock").exists()


def test_sigkill_mid_epoch_then_resume(tmp_path, small_dir):
    out = tmp_path / "run"
    proc = popen(*TRAIN, "--data", str(small_dir), "--epochs", "100", "--out", str(out))
    _wait_for_steps(out, 7, proc)  # past the first epoch checkpoint (5 steps per epoch)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    saved = checkpoint.read_meta(out)["step"]
    assert saved % 5 == 0 and saved >= 5
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "100", "--out", str(out), "--resume",
            "--max-steps", str(saved + 2))
    assert r.returncode == 0, r.stderr
    assert f"at step {saved}" in r.stdout
    assert log_steps(out) == list(range(1, saved + 3))


# ----------------------------------------------------------------------------- issue 11 / 15: every user error
def _error_lines(r) -> int:
    """How many lines of stderr are the error message (one, and no traceback)."""
    assert "Traceback" not in r.stderr, r.stderr
    return len([l for l in r.stderr.splitlines() if l.startswith("error:")])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_dir):
    """A 5-step run (one epoch of 20-digit batches) to export from and generate with."""
    out = tmp_path_factory.mktemp("trained") / "run"
    r = run(*TRAIN, "--data", str(small_dir), "--epochs", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_help_shows_every_default_and_explains_soft_one():
    text = " ".join(run("train", "--help").stdout.split())
    for needle in ("--lr LR Adam learning rate of both networks (default: 0.0002)", "(default: 0.5)",
                   "--batch-size BATCH_SIZE real digits per iteration", "(default: 100)", "--seed SEED",
                   "(default: 0)", "(default: auto)", "(default: runs/acgan)", "one-sided label smoothing"):
        assert needle in text, needle


@pytest.mark.parametrize("target,extra", [("{run}/checkpoints", []), ("{run}", ["--with-logs"]),
                                          ("{run}/samples/x", []), ("{parent}", [])])
def test_export_refuses_the_runs_own_directories(trained, target, extra):
    latest = (trained / "checkpoints" / "LATEST").read_text()
    before = sorted(str(p) for p in trained.rglob("*"))
    dest = target.format(run=trained, parent=trained.parent)
    r = run("export", "--checkpoint", str(trained), "--generator-out", dest, *extra)
    assert r.returncode == 2 and "inside the run" in r.stderr and _error_lines(r) == 1, r.stderr
    assert (trained / "checkpoints" / "LATEST").read_text() == latest
    assert sorted(str(p) for p in trained.rglob("*")) == before


def test_export_is_atomic_and_never_overwrites_foreign_directories(trained, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = run("export", "--checkpoint", str(trained), "--generator-out", str(foreign))
    assert r.returncode == 2 and "is not an earlier export" in r.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    dest = tmp_path / "gen"
    for _ in range(2):   # exporting again replaces the earlier export as a whole
        r = run("export", "--checkpoint", str(trained), "--generator-out", str(dest), "--with-logs")
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["LATEST", "PROVENANCE.md", "ckpt-00000000", "losses.csv",
                                                     "metadata.json", "samples"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("damage,needle", [
    (lambda c: (c / "arrays.npz").write_bytes((c / "arrays.npz").read_bytes()[:500]), "arrays.npz is truncated"),
    (lambda c: (c / "arrays.npz").write_bytes(b"not a zip file at all"), "arrays.npz is truncated"),
    (lambda c: (c / "meta.json").write_text("{oops"), "meta.json is not valid JSON"),
    (lambda c: (c / "meta.json").write_text('{"config": {"latent_dim": "big"}, "objects": ["generator"]}'),
     "config latent_dim must be int"),
])
def test_generate_from_a_damaged_checkpoint(trained, tmp_path, damage, needle):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained / "checkpoints", copy)
    ckpt = checkpoint.complete_checkpoints(copy)[-1]
    damage(ckpt)
    r = run("generate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "g.png"))
    assert r.returncode == 2 and needle in r.stderr and str(ckpt) in r.stderr, r.stderr
    assert "allow_pickle" not in r.stderr and _error_lines(r) == 1
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("out,needle", [
    ("{tmp}/adir.png", "is a directory; give a file name"),
    ("{tmp}/afile/x.png", "a part of that path is a file"),
    ("/proc/acgan_test.npz", "error: /proc"),
])
def test_generate_into_paths_it_cannot_write(tmp_path, out, needle):
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "afile").write_text("x")
    r = run("generate", "--checkpoint", "pretrained", "--out", out.format(tmp=tmp_path))
    assert r.returncode == 2 and needle in r.stderr and _error_lines(r) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.png", "afile"]


@pytest.mark.parametrize("args,needle", [
    (["train", "--seed", "100000000000000000000"], "--seed: must be in 0..2147483647"),
    (["train", "--latent-dim", "10000000000"], "--latent-dim: must be in 1..10000"),
    (["train", "--lr", "1e999"], "--lr: must be a positive finite number"),
    (["evaluate", "--checkpoint", "pretrained", "--per-class", "1"], "--per-class: must be in 2..10000"),
    (["generate", "--checkpoint", "pretrained", "--per-class", "99999999", "--out", "x.png"], "--per-class: must be in 1..10000"),
])
def test_numbers_out_of_range(tmp_path, args, needle):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_batch_larger_than_the_data_and_bad_data(tmp_path, small_dir):
    out = tmp_path / "run"
    r = run(*TRAIN, "--data", str(small_dir), "--batch-size", "200", "--out", str(out))
    assert r.returncode == 2 and "batch_size 200 is larger than the data set (100 digits)" in r.stderr
    assert _error_lines(r) == 1 and not out.exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    r = run(*TRAIN, "--data", str(bad), "--out", str(out))
    assert r.returncode == 2 and "not a valid gzip file" in r.stderr and _error_lines(r) == 1
    assert not out.exists()


def test_divergence_exits_3_and_says_what_exists(tmp_path, small_dir):
    out = tmp_path / "run"
    r = run(*TRAIN, "--data", str(small_dir), "--lr", "1e9", "--out", str(out))
    assert r.returncode == 3 and "at step 1" in r.stderr and "No checkpoint was written" in r.stderr, r.stderr
    assert _error_lines(r) == 1 and not (out / "checkpoints").exists() and not (out / ".lock").exists()


def test_evaluate_pretrained_never_writes_into_the_package(tmp_path):
    from acgan_lib import pretrained

    shipped = pretrained.GENERATOR_DIR / "evaluation.json"
    before = (shipped.read_bytes(), shipped.stat().st_mtime_ns)
    r = run("evaluate", "--checkpoint", "pretrained", "--per-class", "10", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "evaluation.json").read_text())["per_class_samples"] == 10
    assert (shipped.read_bytes(), shipped.stat().st_mtime_ns) == before
    r = run("evaluate", "--checkpoint", "pretrained", "--per-class", "10", "--json", str(shipped))
    assert r.returncode == 2 and "inside the installed acgan_lib package" in r.stderr
    assert (shipped.read_bytes(), shipped.stat().st_mtime_ns) == before


def test_ctrl_c_before_the_loop_starts(tmp_path, small_dir):
    out = tmp_path / "run"
    proc = popen(*TRAIN, "--data", str(small_dir), "--out", str(out))
    assert proc.stdout.readline().startswith("data:")     # data loaded; model building / compiling now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and ("interrupted before train finished" in err or "interrupted at step" in err)
    assert not (out / ".lock").exists()


# in-process: faults that cannot be caused from outside (a full disk, a failed download, a bug)
def test_disk_full_while_writing_npz_leaves_nothing(tmp_path, monkeypatch, capsys):
    import errno

    from acgan_lib import cli

    def full_disk(f, **arrays):
        f.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    assert cli.main(["generate", "--checkpoint", "pretrained", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "the disk is full; free some space" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_download_error_is_one_line_and_bugs_keep_their_traceback(tmp_path, monkeypatch, capsys):
    from acgan_lib import cli

    def offline(*a, **k):
        raise data.DownloadError("could not download train-images-idx3-ubyte.gz:\n  mirror: timed out\nPut the file ...")

    monkeypatch.setattr(data, "load_mnist", offline)
    assert cli.main(["train", "--data", "full", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and len(err.strip().splitlines()) == 1

    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_info", bug)
    with pytest.raises(ZeroDivisionError):
        cli.main(["info"])
