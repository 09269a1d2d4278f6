"""The one atomic-write helper, atomic directories and the single-writer run lock (acgan_lib.files)."""
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acgan_lib import files

ROOT = Path(__file__).resolve().parents[1]


def _hidden(d):
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    files.write_text_atomic(target, "old")
    files.write_text_atomic(target, "new")
    assert target.read_text() == "new" and _hidden(target.parent) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~files._umask())


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_atomic_write_cleans_up_on_every_failure(tmp_path, err):
    """A full disk (ENOSPC) or a permission error mid-write leaves the old file and no temp file."""
    target = tmp_path / "out.npz"
    target.write_bytes(b"previous")
    with pytest.raises(OSError) as info:
        with files.atomic_write(target, "wb") as f:
            f.write(b"x" * 100_000)
            raise OSError(err, os.strerror(err))
    assert info.value.errno == err
    assert target.read_bytes() == b"previous" and _hidden(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):          # Ctrl-C too
        with files.atomic_write(target, "wb") as f:
            raise KeyboardInterrupt
    assert _hidden(tmp_path) == []


def test_atomic_write_onto_a_directory_fails_cleanly(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(IsADirectoryError):
        files.write_bytes_atomic(tmp_path / "taken.png", b"png")
    assert _hidden(tmp_path) == []


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "export"
    with files.atomic_directory(dest) as tmp:
        (tmp / "a").write_text("1")
    assert (dest / "a").read_text() == "1"
    with pytest.raises(RuntimeError):
        with files.atomic_directory(dest) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("crash half-way")
    assert sorted(p.name for p in dest.iterdir()) == ["a"] and _hidden(tmp_path) == []
    with files.atomic_directory(dest) as tmp:      # an existing export is replaced as a whole
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in dest.iterdir()) == ["c"] and _hidden(tmp_path) == []


def _holder(run):
    """A second process holding the run lock of ``run`` until killed."""
    code = ("import sys, time; from acgan_lib import files; lock = files.RunLock(sys.argv[1]); lock.acquire(); "
            "print('locked', flush=True); time.sleep(120)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_run_lock_is_a_kernel_lock_freed_when_its_process_dies(tmp_path):
    """Issue 20 §3: filelock, not PID files: a live owner refuses, kill -9 frees it at once, no takeover."""
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        with pytest.raises(files.RunLocked, match=f"in use by process {holder.pid} .*choose another --out"):
            files.RunLock(run).acquire()
    finally:
        holder.kill()
        holder.wait()
    messages = []
    with files.RunLock(run, log=messages.append):
        assert json.loads((run / files.LOCK_NAME).read_text())["pid"] == os.getpid()
        with files.RunLock(run):                   # re-entrant in the owning process
            pass
        other = subprocess.run([sys.executable, "-c", "import sys; from acgan_lib import files; "
                                "files.RunLock(sys.argv[1]).acquire()", str(run)], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert other.returncode == 1 and f"in use by process {os.getpid()}" in other.stderr   # still held
    assert messages == []                          # nothing to take over: the kernel freed it
    holder = _holder(run)                          # and it is free again after the release
    holder.kill()
    holder.wait()


def test_run_lock_ignores_an_old_pid_file_of_a_live_process(tmp_path):
    """A lock file left by the old PID-file lock (or any text) does not hold the kernel lock."""
    (tmp_path / files.LOCK_NAME).write_text(json.dumps({"pid": os.getppid(), "host": "h", "started": "t"}))
    with files.RunLock(tmp_path):
        assert json.loads((tmp_path / files.LOCK_NAME).read_text())["pid"] == os.getpid()


def test_run_lock_leaves_no_directory_when_nothing_was_written(tmp_path):
    with files.RunLock(tmp_path / "new"):
        assert (tmp_path / "new" / files.LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()


def test_atomic_directories_appear_together_or_not_at_all(tmp_path, monkeypatch):
    """Issue 22 §3: a generator written, then the discriminator failing (full disk), leaves neither."""
    gen, disc = tmp_path / "gen", tmp_path / "disc"
    with pytest.raises(OSError):
        with files.atomic_directories(gen, disc) as (tg, td):
            (tg / "w").write_text("g")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    with files.atomic_directories(gen, disc) as (tg, td):
        (tg / "w").write_text("g1")
        (td / "w").write_text("d1")
    real_rename = os.rename

    def second_rename_fails(src, dst):
        if str(dst) == str(disc) and Path(src).name.startswith(".tmp-"):   # the new one, not the undo
            raise OSError(errno.ENOSPC, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(OSError):
        with files.atomic_directories(gen, disc) as (tg, td):
            (tg / "w").write_text("g2")
            (td / "w").write_text("d2")
    monkeypatch.undo()
    assert (gen / "w").read_text() == "g1" and (disc / "w").read_text() == "d1"   # the old pair, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disc", "gen"]


def test_outputs_refused_inside_the_package_and_inside_checkpoints(tmp_path, monkeypatch):
    """Issue 22 §1: shipped files are read-only; nothing lands inside a checkpoints folder."""
    from acgan_lib import pretrained

    monkeypatch.delenv(files.WRITE_ASSETS_ENV, raising=False)
    for target in (pretrained.GENERATOR_DIR, pretrained.JUDGE_DIR / "x.png", files.PACKAGE_DIR / "new"):
        with pytest.raises(files.OutputRefused, match="inside the installed acgan_lib package"):
            files.check_output(target, "--out")
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / "ckpt-00000005").mkdir(parents=True)
    (ckpts / "ckpt-00000005" / "meta.json").write_text("{}")
    (ckpts / "ckpt-00000005" / "arrays.npz").write_bytes(b"")
    for target in (ckpts / "x.png", ckpts / "ckpt-00000005" / "arrays.npz"):
        with pytest.raises(files.OutputRefused, match="a folder of checkpoints"):
            files.check_output(target, "--out")
    files.check_output(tmp_path / "run" / "x.png", "--out")            # beside them is fine
    files.check_output(tmp_path / "checkpoints" / "mine.png", "--out")  # a user's own folder of that name too
    monkeypatch.setenv(files.WRITE_ASSETS_ENV, "1")                     # the maintainers' explicit way
    files.check_output(pretrained.GENERATOR_DIR, "--generator-out")
    assert files.is_export(pretrained.GENERATOR_DIR)
