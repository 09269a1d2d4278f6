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
    assert _lock_is_free(out)


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
    assert sorted(p.name for p in dest.iterdir()) == ["EXPORT.json", "LATEST", "PROVENANCE.md", "ckpt-00000000",
                                                     "losses.csv", "metadata.json", "samples"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("damage,needle", [
    (lambda c: (c / "arrays.npz").write_bytes((c / "arrays.npz").read_bytes()[:500]), "arrays.npz is truncated"),
    (lambda c: (c / "arrays.npz").write_bytes(b"not a zip file at all"), "arrays.npz is truncated"),
    (lambda c: (c / "meta.json").write_text("{oops"), "meta.json is not valid JSON"),
    (lambda c: (c / "meta.json").write_text(json.dumps({**json.loads((c / "meta.json").read_text()),
                                                         "config": {"latent_dim": "big"}})),
     "config latent_dim must be a whole number"),
    (lambda c: (c / "meta.json").write_text('{"config": {}, "objects": ["generator"]}'), "step must be a whole number"),
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
    assert _error_lines(r) == 1 and not (out / "checkpoints").exists() and _lock_is_free(out)


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


def _lock_is_free(out) -> bool:
    import filelock

    if not out.exists():
        return True
    lock = filelock.FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    lock.release()
    return True


# Issue 22 §3: this used to "hang". The training loop's handler, installed before the first step,
# turned Ctrl-C into "finish this step, then save"; the first step includes XLA's compilation of
# the fused iteration, over 6 minutes on a loaded 2-core machine (measured: the process was found
# saving the step-1 checkpoint 400 s after the signal). Now a signal before any step finished
# stops at once, and the process leaves through os._exit. Run many times: see the report.
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_before_the_loop_starts(tmp_path, small_dir, sig):
    out = tmp_path / "run"
    proc = popen(*TRAIN, "--data", str(small_dir), "--out", str(out))
    assert proc.stdout.readline().startswith("data:")     # data loaded; model building / compiling now
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and ("interrupted before train finished" in err or "interrupted at step" in err)
    assert _lock_is_free(out)
    assert not out.exists() or "interrupted at step" in err     # nothing written when no step finished


@pytest.mark.parametrize("where", ["gc_callback", "__del__"])
def test_a_signal_during_a_finaliser_is_not_lost(where):
    """The second cause of the start-up "hang" (1 run in 16 after the first fix): a SIGTERM handled inside
    JAX's garbage-collector callback raised KeyboardInterrupt there, Python printed "Exception ignored"
    and dropped it, and training ran all 500 steps. The handler now sends the signal again afterwards."""
    import gc

    from acgan_lib import interrupts

    sent = []

    def deliver_now():
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)   # handled while the finaliser runs
            time.sleep(0.01)

    class Finalised:
        def __del__(self):
            deliver_now()

    def callback(phase, info):
        if phase == "start":
            deliver_now()

    interrupted = False
    with interrupts.raising():
        try:
            if where == "gc_callback":
                gc.callbacks.append(callback)
                try:
                    gc.collect()
                finally:
                    gc.callbacks.remove(callback)
            else:
                Finalised()
            time.sleep(2)                             # the re-sent signal arrives in here
        except KeyboardInterrupt:
            interrupted = True
    assert sent == [1] and interrupted


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


# ----------------------------------------------------------------------------- issue 22 §1: shipped files are read-only
def _tree(root):
    """Every file under ``root`` with its bytes' hash and mtime (to prove nothing changed)."""
    import hashlib

    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}   # the lock notes its owner


@pytest.fixture
def main(capsys, monkeypatch):
    """cli.main in this process: (exit code, stdout, stderr)."""
    from acgan_lib import cli, files

    monkeypatch.delenv(files.WRITE_ASSETS_ENV, raising=False)

    def call(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return call


def test_no_command_writes_inside_the_package(main, trained, tmp_path):
    from acgan_lib import files, pretrained

    before = _tree(files.PACKAGE_DIR / "assets")
    cases = [
        (["export", "--checkpoint", trained, "--generator-out", pretrained.GENERATOR_DIR, "--with-logs"]),
        (["export", "--checkpoint", trained, "--generator-out", tmp_path / "g", "--discriminator-out",
          pretrained.JUDGE_DIR]),
        (["train", "--out", pretrained.GENERATOR_DIR, "--resume"]),
        (["train", "--out", files.PACKAGE_DIR / "runs" / "x"]),
        (["generate", "--checkpoint", trained, "--out", pretrained.GENERATOR_DIR / "ckpt-00000000" / "arrays.npz"]),
        (["generate", "--checkpoint", "pretrained", "--out", pretrained.GENERATOR_DIR / "samples" / "x.png"]),
        (["train-judge", "--out", pretrained.JUDGE_DIR]),
        (["evaluate", "--checkpoint", "pretrained", "--json", pretrained.GENERATOR_DIR / "evaluation.json"]),
    ]
    for argv in cases:
        code, _, err = main(*argv)
        assert code == 2 and "lies inside the installed acgan_lib package" in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
    assert _tree(files.PACKAGE_DIR / "assets") == before
    assert not (tmp_path / "g").exists() and not (files.PACKAGE_DIR / "runs").exists()


def test_exports_are_marked_and_outputs_stay_out_of_checkpoints(main, trained, tmp_path):
    run_ckpts = trained / "checkpoints"
    before = _tree(trained)
    newest = checkpoint.complete_checkpoints(run_ckpts)[-1]
    for argv in (["generate", "--checkpoint", trained, "--out", newest / "arrays.npz"],
                 ["generate", "--checkpoint", trained, "--out", run_ckpts / "grid.png"],
                 ["evaluate", "--checkpoint", trained, "--json", newest / "evaluation.json"]):
        code, _, err = main(*argv)
        assert code == 2 and "a folder of checkpoints that training rotates" in err, err
    assert _tree(trained) == before
    export = tmp_path / "export"
    assert main("export", "--checkpoint", trained, "--generator-out", export)[0] == 0
    marker = json.loads((export / "EXPORT.json").read_text())
    assert marker["source_checkpoint"] == str(newest) and marker["step"] == 5
    code, _, err = main("train", "--out", export)             # an export is not a run to train into
    assert code == 2 and "is an export or a folder of checkpoints, not a run directory" in err
    look_alike = tmp_path / "look_alike"                       # a ckpt-00000000 alone is no export
    (look_alike / "ckpt-00000000").mkdir(parents=True)
    code, _, err = main("export", "--checkpoint", trained, "--generator-out", look_alike)
    assert code == 2 and "is not an earlier export (it has no EXPORT.json)" in err
    assert main("export", "--checkpoint", trained, "--generator-out", export)[0] == 0   # an export is replaced


# ----------------------------------------------------------------------------- issue 22 §3 and #21 §9: export
def test_export_of_pretrained_with_logs_and_an_honest_provenance(main, tmp_path):
    from acgan_lib import pretrained

    dest = tmp_path / "again"
    code, out, err = main("export", "--checkpoint", "pretrained", "--generator-out", dest, "--discriminator-out",
                          tmp_path / "disc", "--with-logs")
    assert code == 0, err
    text = (dest / "PROVENANCE.md").read_text()
    assert text.startswith("# Exported ACGAN generator\n") and "Pretrained" not in text and "2-core" not in text
    assert "machine not recorded" in text and "--epochs 250" in text          # the original run's command
    assert "`losses.csv`" in text and "`samples/`" in text and "`EXPORT.json`" in text
    assert sorted(p.name for p in dest.iterdir()) == ["EXPORT.json", "LATEST", "PROVENANCE.md", "ckpt-00000000",
                                                     "evaluation.jsonl", "losses.csv", "metadata.json", "samples"]
    gen, shipped = checkpoint.load_generator(dest), checkpoint.load_generator(pretrained.GENERATOR_DIR)
    assert np.array_equal(np.asarray(gen.dense.kernel[...]), np.asarray(shipped.dense.kernel[...]))
    assert checkpoint.load_discriminator(tmp_path / "disc").num_classes == 10


def test_export_survives_odd_logs_and_lists_only_what_it_copied(main, trained, tmp_path):
    import shutil

    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    (run_copy / "evaluation.jsonl").write_text('{}\n[1, 2]\n{"epoch": 1, "step": 5, "class_accuracy": 0.25, '
                                               '"frechet_ratio": 9.5}\n{"epoch": "x"}\n')
    (run_copy / "samples" / "epoch_final.png").write_bytes(b"png")
    (run_copy / "metadata.json").unlink()
    dest = tmp_path / "g"
    code, _, err = main("export", "--checkpoint", run_copy, "--generator-out", dest, "--with-logs")
    assert code == 0, err
    text = (dest / "PROVENANCE.md").read_text()
    assert "| 1 | 5 | 0.250 | 9.50 | — | — |" in text and "metadata.json" not in text
    assert sorted(p.name for p in (dest / "samples").iterdir()) == ["epoch_0001.png"]
    assert "minutes (cpu: " in text                               # the machine the checkpoint recorded


def test_export_refuses_a_checkpoint_without_step_and_a_partial_export_leaves_nothing(main, trained, tmp_path,
                                                                                      monkeypatch):
    import errno
    import shutil

    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    ckpt = checkpoint.complete_checkpoints(run_copy / "checkpoints")[-1]
    meta = json.loads((ckpt / "meta.json").read_text())
    (ckpt / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "step"}))
    code, _, err = main("export", "--checkpoint", run_copy, "--generator-out", tmp_path / "g")
    assert code == 2 and "step must be a whole number" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()
    (ckpt / "meta.json").write_text(json.dumps(meta))
    real_save = checkpoint.save

    def disk_full_on_the_discriminator(root, step, objects, meta, keep=3):
        if "discriminator" in objects:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(root, step, objects, meta, keep)

    monkeypatch.setattr(checkpoint, "save", disk_full_on_the_discriminator)
    code, _, err = main("export", "--checkpoint", run_copy, "--generator-out", tmp_path / "g",
                        "--discriminator-out", tmp_path / "d")
    assert code == 2 and "the disk is full" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]     # neither folder, no temporary left


# ----------------------------------------------------------------------------- issue 22 §2/§3: evaluate and generate
def test_evaluate_writes_beside_the_checkpoint_and_refuses_a_nan_generator(main, trained, tmp_path):
    import shutil

    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    code, out, err = main("evaluate", "--checkpoint", run_copy, "--per-class", "2")
    assert code == 0, err
    target = run_copy / "evaluation-ckpt-00000005.json"           # outlives the checkpoint's rotation
    assert f"wrote {target}" in out and json.loads(target.read_text())["per_class_samples"] == 2
    assert not list((run_copy / "checkpoints").rglob("evaluation*"))
    ckpt = checkpoint.complete_checkpoints(run_copy / "checkpoints")[-1]
    with np.load(ckpt / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    var = next(k for k in arrays if k.startswith("generator/") and k.endswith("/var"))
    arrays[var] = -np.ones_like(arrays[var])    # finite weights, but sqrt(var) gives NaN pixels
    np.savez(ckpt / "arrays.npz", **arrays)
    for argv in (["evaluate", "--checkpoint", ckpt, "--per-class", "2", "--json", tmp_path / "e.json"],
                 ["generate", "--checkpoint", ckpt, "--out", tmp_path / "g.npz"]):
        code, _, err = main(*argv)
        assert code == 2 and "NaN or infinite pixels" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "e.json").exists() and not (tmp_path / "g.npz").exists()


def test_quoted_tilde_means_home_and_big_pngs_are_refused(main, tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    code, out, err = main("generate", "--checkpoint", "pretrained", "--per-class", "2", "--out", "~/digits.npz")
    assert code == 0, err
    assert f"wrote 20 digits to {home / 'digits.npz'}" in out and (home / "digits.npz").exists()
    code, _, err = main("generate", "--checkpoint", "pretrained", "--per-class", "10000", "--out", "~/big.png")
    assert code == 2 and "a PNG grid holds at most 100 digits per class" in err
    assert list(cwd.iterdir()) == [] and sorted(p.name for p in home.iterdir()) == ["digits.npz"]


# ----------------------------------------------------------------------------- issue 22 §2: resume is the same run
def _other_digits(tmp_path, bundled):
    d = tmp_path / "other_digits"
    d.mkdir()
    idx = np.arange(25, 5000, 50)            # 100 other digits: same count, other content
    pix = data.to_pixels(bundled.images[idx])
    lab = bundled.labels[idx].astype(np.uint8)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 2051, 100, 28, 28) + pix.tobytes()))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, 100) + lab.tobytes()))
    return d


def test_resume_refuses_other_data_and_says_when_it_is_no_longer_exact(main, trained, small_dir, bundled, tmp_path):
    import shutil

    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    before = _tree(run_copy)
    code, _, err = main(*TRAIN, "--data", _other_digits(tmp_path, bundled), "--epochs", "1", "--out", run_copy,
                        "--resume")
    assert code == 2 and "trained on other digits than these" in err and "resume with the same --data" in err
    assert _tree(run_copy) == before
    code, out, err = main(*TRAIN, "--data", small_dir, "--epochs", "1", "--out", run_copy, "--resume",
                          "--conv-impl", "xla", "--explicit-gradients")
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note: resuming with")]
    assert notes == ["note: resuming with --conv-impl auto -> xla, --explicit-gradients False -> True: the same "
                     "math with other rounding, so the run will not match an uninterrupted one bit for bit (pass "
                     "the old values to keep it exact)"]


def test_a_run_that_died_before_its_first_checkpoint_keeps_its_grid_and_is_not_mixed_in(main, small_dir, tmp_path,
                                                                                      monkeypatch):
    """A kill right at the epoch's checkpoint keeps the epoch's grid; the next run's log holds only its rows."""
    from acgan_lib import trainer

    out = tmp_path / "run"
    real_save = checkpoint.save

    def killed(*a, **k):
        raise SystemExit("killed while saving")

    monkeypatch.setattr(trainer.checkpoint, "save", killed)
    with pytest.raises(SystemExit):
        main(*TRAIN, "--data", small_dir, "--epochs", "1", "--out", out)
    assert (out / "samples" / "epoch_0001.png").exists() and log_steps(out) == [1, 2, 3, 4, 5]
    (out / "evaluation.jsonl").write_text('{"step": 5, "epoch": 1}\n')       # a stale log of that run
    monkeypatch.setattr(trainer.checkpoint, "save", real_save)
    code, _, err = main(*TRAIN, "--data", small_dir, "--epochs", "1", "--max-steps", "3", "--out", out)
    assert code == 0, err
    assert log_steps(out) == [1, 2, 3] and not (out / "evaluation.jsonl").exists()   # not 1..5, 1..3


# ----------------------------------------------------------------------------- issue 22 §3: one exit-code story
def test_demo_exits_130_on_sigterm_like_every_command(tmp_path):
    proc = popen("demo", "--port", "0")
    line = proc.stdout.readline()
    assert line.startswith("ACGAN demo on http://127.0.0.1:"), line + proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    # "stopped" once serving; the CLI's line if the signal lands between the printed URL and serve_forever
    assert "stopped" in out or "interrupted before demo finished" in err


# ----------------------------------------------------------------------------- issue 20 §4: nits
PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("heavy:", sorted(m for m in ("jax", "flax", "optax") if m in sys.modules),
                              file=sys.stderr))
sys.argv = ["acgan_lib", *sys.argv[1:]]
runpy.run_module("acgan_lib", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("args,code,needle", [
    (["--help"], 0, "train-judge"), (["--version"], 0, "acgan_lib 0."), (["train", "--help"], 0, "--ema-decay"),
    (["evaluate", "--help"], 0, "--per-class"), (["train", "--batch-size", "0"], 2, "must be >= 1, got 0"),
    (["generate", "--checkpoint", "x", "--out", "y.png", "--seed", "-1"], 2, "--seed: must be in 0.."),
    (["bogus"], 2, "invalid choice: 'bogus'"), ([], 2, "the following arguments are required"),
])
def test_help_version_and_argument_errors_answer_without_importing_jax(args, code, needle):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == code, r.stderr
    assert needle in r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1] == "heavy: []"


def _to_legacy_layout(ckpt):
    """Rewrite a checkpoint as acgan_lib wrote it before #20 §1: format 1 keys, no format_version, and each
    optimizer state a plain optax.adam's (no hyperparameters in the state)."""
    with np.load(ckpt / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    old = {}
    for key, value in arrays.items():
        name, path = key.split("/", 1)
        if name.endswith("_optimizer"):
            if path.startswith("opt_state/hyperparams/") or path == "opt_state/count":
                continue
            path = path.replace("opt_state/inner_state/", "opt_state/")
        parts = "".join(f"[{p}]" if p.isdigit() else f"['{p}']" for p in path.split("/"))
        old[f"{name}/{parts}"] = value
    assert len(old) < len(arrays) and any("['opt_state'][0]['mu']" in k for k in old)
    np.savez(ckpt / "arrays.npz", **old)
    meta = json.loads((ckpt / "meta.json").read_text())
    del meta["format_version"]
    (ckpt / "meta.json").write_text(json.dumps(meta))


def test_a_run_from_an_older_library_layout_says_so_and_its_generator_still_loads(main, trained, small_dir, tmp_path):
    import shutil

    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    for ckpt in checkpoint.complete_checkpoints(run_copy / "checkpoints"):
        _to_legacy_layout(ckpt)
    before = _tree(run_copy)
    code, _, err = main(*TRAIN, "--data", small_dir, "--epochs", "2", "--out", run_copy, "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "written by an older acgan_lib with a different layout" in err and "start a new run" in err.lower()
    assert "_optimizer/opt_state/" in err and "different model" not in err
    assert _tree(run_copy) == before
    code, _, err = main("generate", "--checkpoint", run_copy, "--out", tmp_path / "old.png")   # weights alone: fine
    assert code == 0 and (tmp_path / "old.png").stat().st_size > 0, err
