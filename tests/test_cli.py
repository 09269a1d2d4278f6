import csv
import gzip
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
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
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
             for a, b in zip(jax.tree.leaves(nnx.state(g)), jax.tree.leaves(nnx.state(e)))]
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


def test_sigint_saves_and_exits_cleanly(tmp_path, small_dir):
    out = tmp_path / "run"
    proc = popen(*TRAIN, "--data", str(small_dir), "--epochs", "100", "--out", str(out))
    _wait_for_steps(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    step = checkpoint.read_meta(out)["step"]
    assert step >= 2 and log_steps(out)[-1] == step


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
