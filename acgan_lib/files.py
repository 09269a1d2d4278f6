"""Writing files safely: one atomic-write helper for every writer, atomic directories, a run lock.

Every file the library writes goes through :func:`atomic_write` (or :func:`atomic_directory` for a
directory written as a whole): the bytes go to a hidden temporary file beside the target, are
flushed to disk, and are renamed over the target in one ``os.replace``.  A reader sees the old
file or the new one, never half of one, and on *every* failure path (disk full, permission
denied, Ctrl-C, a bug) the temporary file is removed before the error propagates.

:class:`RunLock` makes a run directory single-writer: a second training on the same ``--out``
gets :class:`RunLocked` instead of interleaving its logs and deleting the other's checkpoints.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

LOCK_NAME = ".lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | Path) -> None:
    """Flush a directory entry (a rename) to disk where the OS allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: str | Path) -> None:
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()
    except OSError:
        pass


def ensure_parent(path: Path) -> None:
    """Create ``path``'s parent directories; NotADirectoryError naming ``path`` if one of them is a file."""
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
            break
    path.parent.mkdir(parents=True, exist_ok=True)


def _naming(e: OSError, path: Path) -> OSError:
    """The same error, naming the target instead of a temporary file."""
    return type(e)(e.errno, e.strerror, str(path)) if e.errno is not None else e


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """``with atomic_write(path, "w") as f: f.write(...)`` - all of the file appears at once, or none.

    The parent directory is created if needed.  On any exception inside the block (or while
    flushing: a full disk often shows only then) the temporary file is deleted and the error
    re-raised; ``path`` keeps its old content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    ensure_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the normal permissions
        with os.fdopen(fd, mode, **({"newline": ""} if mode == "w" else {})) as f:
            fd = -1
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
        _remove(tmp)
        if isinstance(e, OSError) and e.filename in (tmp, None):
            raise _naming(e, path) from None
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """``with atomic_directory(dest) as tmp:`` fill ``tmp``; on success it becomes ``dest`` in one rename.

    An existing ``dest`` is swapped out and removed (``replace=True``) or kept and FileExistsError
    raised (``replace=False``).  On failure ``tmp`` is removed and ``dest`` is untouched.
    """
    path = Path(path)
    ensure_parent(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        fsync_dir(tmp)
        if path.exists():
            if not replace:
                raise FileExistsError(f"{path} already exists")
            old = path.parent / f".old-{path.name}-{os.getpid()}"
            os.rename(path, old)
            os.rename(tmp, path)
            _remove(old)
        else:
            os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        _remove(tmp)
        raise


def copy_file(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` to ``dest`` through :func:`atomic_write` (keeps the modification time)."""
    with open(src, "rb") as fi, atomic_write(dest, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    shutil.copystat(src, dest)


# ----------------------------------------------------------------------------- single-writer lock
class RunLocked(RuntimeError):
    """Another live process is writing to the run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # exists, owned by someone else
        return True
    return True


_HELD: dict[Path, int] = {}      # lock path -> how many times this process holds it


class RunLock:
    """An exclusive lock on a run directory: a ``.lock`` file naming the owning process.

    ``with RunLock(out):`` - re-entrant within one process.  A lock left by a process that no
    longer runs (``kill -9``, a crash) is detected on this host and taken over, with a message
    through ``log``.  A lock of a live process, or of another host, raises :class:`RunLocked`.
    """

    def __init__(self, directory: str | Path, log: Callable[[str], None] = print):
        self.dir = Path(directory)
        self.path = self.dir / LOCK_NAME
        self.log = log
        self._created_dir = False

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        key = self.path.resolve() if self.path.parent.exists() else self.path.absolute()
        if _HELD.get(key):
            _HELD[key] += 1
            return
        self._created_dir = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for _ in range(3):
            # write the content first, then link it into place: the lock never exists half-written
            fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=self.dir)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(me, f)
                os.link(tmp, self.path)
                _HELD[self.path.resolve()] = 1
                return
            except FileExistsError:
                pass
            finally:
                _remove(tmp)
            owner = self._owner()
            if owner is None:
                continue                     # released meanwhile: try again
            pid, host = owner.get("pid"), owner.get("host")
            if host == me["host"] and isinstance(pid, int) and not _pid_alive(pid):
                self.log(f"{self.dir}: taking over the lock of process {pid}, which no longer runs "
                         f"(it was probably killed)")
                _remove(self.path)
                continue
            if owner == {}:
                raise RunLocked(f"{self.path} is unreadable; if no training uses {self.dir}, delete it")
            where = "" if host == me["host"] else f" on host {host}"
            raise RunLocked(f"{self.dir} is in use by process {pid}{where} (since {owner.get('started')}); "
                            f"wait for it to finish or stop it, or choose another --out")
        raise RunLocked(f"could not lock {self.dir}: another process keeps taking it")

    def release(self) -> None:
        key = self.path.resolve()
        if _HELD.get(key, 0) > 1:
            _HELD[key] -= 1
            return
        _HELD.pop(key, None)
        owner = self._owner()
        if owner and owner.get("pid") == os.getpid():
            _remove(self.path)
        if self._created_dir:   # nothing was written (e.g. Ctrl-C before the first step): leave no litter
            with contextlib.suppress(OSError):
                self.dir.rmdir()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
