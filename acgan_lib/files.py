"""Writing files safely: one atomic-write helper for every writer, atomic directories, a run lock.

Every file the library writes goes through :func:`atomic_write` (or :func:`atomic_directory` for a
directory written as a whole): the bytes go to a hidden temporary file beside the target, are
flushed to disk, and are renamed over the target in one ``os.replace``.  A reader sees the old
file or the new one, never half of one, and on *every* failure path (disk full, permission
denied, Ctrl-C, a bug) the temporary file is removed before the error propagates.

:class:`RunLock` makes a run directory single-writer: a second training on the same ``--out``
gets :class:`RunLocked` instead of interleaving its logs and deleting the other's checkpoints.
It is a kernel lock (``filelock``), released by the operating system when its process dies.
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
PACKAGE_DIR = Path(__file__).resolve().parent
# The one explicit way to write inside the package: a maintainer regenerating the shipped assets
# sets this to 1 (README, "What commands write"), e.g.
#   ACGAN_WRITE_ASSETS=1 python -m acgan_lib export --checkpoint runs/pretrain --generator-out acgan_lib/assets/pretrained_generator --with-logs
WRITE_ASSETS_ENV = "ACGAN_WRITE_ASSETS"
# Written by `export` into every folder it makes: only such a folder may be replaced by a new export.
EXPORT_MARKER = "EXPORT.json"


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


@contextlib.contextmanager
def atomic_directories(*paths: str | Path) -> Iterator[list[Path]]:
    """``with atomic_directories(a, b) as (ta, tb):`` fill both; they replace ``a`` and ``b`` together.

    Like :func:`atomic_directory` for several directories: if anything fails - filling them, or
    the rename of the second after the first - every destination keeps its old content (or stays
    absent) and every temporary directory is removed.  E.g. an export of a generator and a
    discriminator on a disk that fills up leaves neither.
    """
    dests = [Path(p) for p in paths]
    tmps: list[Path] = []
    try:
        for d in dests:
            ensure_parent(d)
            tmps.append(Path(tempfile.mkdtemp(prefix=f".tmp-{d.name}-", dir=d.parent)))
            os.chmod(tmps[-1], 0o777 & ~_umask())
        yield tmps
        for t in tmps:
            fsync_dir(t)
        done: list[tuple[Path, Path | None]] = []
        try:
            for d, t in zip(dests, tmps, strict=True):
                old = d.parent / f".old-{d.name}-{os.getpid()}" if d.exists() else None
                if old is not None:
                    os.rename(d, old)
                try:
                    os.rename(t, d)
                except BaseException:
                    if old is not None:
                        os.rename(old, d)
                    raise
                done.append((d, old))
        except BaseException:
            for d, old in reversed(done):      # undo the ones already in place
                _remove(d)
                if old is not None:
                    os.rename(old, d)
            raise
        for d, old in done:
            if old is not None:
                _remove(old)
            fsync_dir(d.parent)
    finally:
        for t in tmps:
            _remove(t)


def copy_file(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` to ``dest`` through :func:`atomic_write` (keeps the modification time)."""
    with open(src, "rb") as fi, atomic_write(dest, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    shutil.copystat(src, dest)


# ----------------------------------------------------------------------------- where a command may write
class OutputRefused(ValueError):
    """An output path a command must not write to (inside the package or inside a run's checkpoints)."""


def inside(path: str | Path, root: str | Path) -> bool:
    """``path`` is ``root`` or lies under it (``~`` expanded, both resolved)."""
    path, root = Path(path).expanduser().resolve(), Path(root).expanduser().resolve()
    return path == root or root in path.parents


def writing_assets() -> bool:
    """True when a maintainer asked to regenerate the shipped assets (``ACGAN_WRITE_ASSETS=1``)."""
    return os.environ.get(WRITE_ASSETS_ENV) == "1"


def is_checkpoint_dir(path: Path) -> bool:
    return (path / "meta.json").is_file() and (path / "arrays.npz").is_file()


def is_checkpoints_root(path: Path) -> bool:
    """A folder of checkpoints: a run's ``checkpoints/`` or an export (``LATEST`` or ``ckpt-*`` inside)."""
    return path.is_dir() and ((path / "LATEST").is_file() or any(is_checkpoint_dir(c) for c in path.glob("ckpt-*")))


def is_export(path: Path) -> bool:
    """A folder written by ``export`` (its marker), or a shipped asset folder when regenerating assets."""
    if (path / EXPORT_MARKER).is_file():
        return True
    return writing_assets() and inside(path, PACKAGE_DIR) and is_checkpoints_root(path)


def check_output(path: str | Path, what: str) -> None:
    """Refuse (OutputRefused) an output inside the installed package or inside a checkpoint folder.

    Shipped files are read-only to every command (unless :data:`WRITE_ASSETS_ENV` is 1), and a
    checkpoint folder (a run's ``checkpoints/``, a ``ckpt-*`` directory, an export's weights)
    belongs to the code that rotates it: anything written there is lost or corrupts it.
    """
    p = Path(path).expanduser().resolve()
    if inside(p, PACKAGE_DIR) and not writing_assets():
        raise OutputRefused(f"{what} {path} lies inside the installed acgan_lib package ({PACKAGE_DIR}), whose "
                            f"files no command changes; write it elsewhere")
    for folder in (p, *p.parents):
        if folder.name == "checkpoints" and is_checkpoints_root(folder) or is_checkpoint_dir(folder):
            raise OutputRefused(f"{what} {path} lies inside {folder}, a folder of checkpoints that training "
                                f"rotates; write it outside checkpoints/ (e.g. next to it)")


# ----------------------------------------------------------------------------- single-writer lock
class RunLocked(RuntimeError):
    """Another live process is writing to the run directory."""


_HELD: dict[Path, list] = {}      # lock path -> [FileLock, how many times this process holds it]


class RunLock:
    """An exclusive lock on a run directory: a kernel lock (``flock``, through ``filelock``) on ``.lock``.

    ``with RunLock(out):`` - re-entrant within one process.  The operating system releases the
    lock when the owning process ends in any way (``kill -9``, a crash, a power cut), so there
    is no stale lock to take over and no PID to confuse with a later process.  The owner writes
    its PID, host and start time into the file for the message a second writer gets
    (:class:`RunLocked`); that text is only informative, the kernel lock decides.
    """

    def __init__(self, directory: str | Path, log: Callable[[str], None] = print):
        self.dir = Path(directory)
        self.path = self.dir / LOCK_NAME
        self.log = log      # kept for callers; a kernel lock has no stale owner to report
        self._created_dir = False

    def _key(self) -> Path:
        return self.path.resolve() if self.path.parent.exists() else self.path.absolute()

    def _owner(self) -> dict:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return owner if isinstance(owner, dict) else {}

    def acquire(self) -> None:
        import filelock

        held = _HELD.get(self._key())
        if held:
            held[1] += 1
            return
        self._created_dir = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.path), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            owner = self._owner()
            pid, host = owner.get("pid"), owner.get("host")
            who = f"process {pid}" if isinstance(pid, int) else "another process"
            where = f" on host {host}" if host and host != socket.gethostname() else ""
            since = f" (since {owner['started']})" if owner.get("started") else ""
            raise RunLocked(f"{self.dir} is in use by {who}{where}{since}; wait for it to finish or stop it, "
                            f"or choose another --out") from None
        try:
            me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            with open(self.path, "r+") as f:     # the locked file itself: no second file to clean up
                f.truncate()
                json.dump(me, f)
        except BaseException:
            lock.release()
            raise
        _HELD[self._key()] = [lock, 1]

    def release(self) -> None:
        key = self._key()
        held = _HELD.get(key)
        if not held:
            return
        if held[1] > 1:
            held[1] -= 1
            return
        del _HELD[key]
        with contextlib.suppress(OSError):
            with open(self.path, "r+") as f:   # still ours: clear the owner note before unlocking
                f.truncate()
        held[0].release()
        if self._created_dir:   # nothing was written (e.g. Ctrl-C before the first step): leave no litter
            with contextlib.suppress(OSError):
                if [p.name for p in self.dir.iterdir()] in ([], [LOCK_NAME]):
                    _remove(self.path)
                    self.dir.rmdir()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
