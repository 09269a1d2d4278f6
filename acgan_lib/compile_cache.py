"""Keep compiled XLA programs on disk, so the second run of a notebook skips most compilation.

On a 2-core CPU about a third of a notebook's first run is compilation (the same networks, the
same batch shapes, in every notebook). JAX can store each compiled program in a folder and load
it the next time the same program is needed, in this process or any later one; the notebooks
switch that on in their first import cell:

    from acgan_lib import compile_cache
    compile_cache.enable()          # ~/.cache/acgan_lib/jax (or $XDG_CACHE_HOME/acgan_lib/jax)

* A cached program is the same program: results are bit-identical with and without the cache.
  JAX keys every entry by the computation, the JAX/jaxlib version and the device, so one folder
  serves several virtual environments safely.
* ``ACGAN_JAX_CACHE=off`` switches it off; ``ACGAN_JAX_CACHE=/some/folder`` moves it. If you have
  configured JAX's own cache (``JAX_COMPILATION_CACHE_DIR``), that folder is kept.
* Where the ``filelock`` package is installed, the folder is capped at :data:`MAX_BYTES` (JAX
  evicts the least recently used entries under a file lock; without ``filelock`` JAX cannot
  evict, so there is no cap). The series stores a few tens of MB. The folder is safe to delete
  at any time.
* Call :func:`enable` before the first computation: JAX reads the setting when it first compiles.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import jax

ENV_VAR = "ACGAN_JAX_CACHE"     # "off" | a folder; unset: the default folder below
MAX_BYTES = 2 * 1024 ** 3       # at most 2 GiB on disk (least recently used entries are evicted)
MIN_COMPILE_SECONDS = 0.2       # programs that compile faster than this are not worth a file


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/acgan_lib/jax``, falling back to ``~/.cache/acgan_lib/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "acgan_lib" / "jax"


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Switch JAX's persistent compilation cache on; return its folder, or None if it stays off.

    ``path`` overrides the folder. Returns None (and changes nothing) when ``ACGAN_JAX_CACHE=off``
    or when the folder cannot be created (a read-only home, say): the cache is an optimisation,
    never a reason to fail.
    """
    setting = os.environ.get(ENV_VAR, "").strip()
    if path is None and setting.lower() in ("off", "0", "false", "no"):
        return None
    existing = jax.config.jax_compilation_cache_dir
    if path is None and existing:                      # the user's own JAX cache wins
        return Path(existing)
    folder = Path(path or setting or default_dir()).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    if importlib.util.find_spec("filelock") is not None:   # JAX's eviction needs it
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return folder
