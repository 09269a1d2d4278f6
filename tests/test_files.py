"""The one atomic-write helper, atomic directories and the single-writer run lock (acgan_lib.files)."""
import errno
import json
import os
import subprocess
import sys

import pytest

from acgan_lib import files


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


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    host = __import__("socket").gethostname()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / files.LOCK_NAME).write_text(json.dumps({"pid": live.pid, "host": host, "started": "t"}))
        with pytest.raises(files.RunLocked, match=f"in use by process {live.pid}.*choose another --out"):
            files.RunLock(run).acquire()
    finally:
        live.kill()
        live.wait()
    messages = []
    (run / files.LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": host, "started": "t"}))
    with files.RunLock(run, log=messages.append):
        assert json.loads((run / files.LOCK_NAME).read_text())["pid"] == os.getpid()
        with files.RunLock(run):                   # re-entrant in the owning process
            pass
        assert (run / files.LOCK_NAME).exists()
    assert "no longer runs" in messages[0]
    assert not (run / files.LOCK_NAME).exists()


def test_run_lock_leaves_no_directory_when_nothing_was_written(tmp_path):
    with files.RunLock(tmp_path / "new"):
        assert (tmp_path / "new" / files.LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()
