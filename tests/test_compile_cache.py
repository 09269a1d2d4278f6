"""The on-disk compilation cache the notebooks switch on (acgan_lib.compile_cache).

Each case runs in a child process: JAX's cache setting is process-wide and read at the first
compilation, so the test process itself must not be changed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Draw eight digits with a fresh generator and report where the cache went and what came out.
CHILD = r"""
import json, sys
import numpy as np
import jax
from flax import nnx
from acgan_lib import compile_cache, models
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None)
arg = sys.argv[1] if len(sys.argv) > 1 else None
folder = compile_cache.enable(arg if arg else None)
gen = models.Generator(rngs=nnx.Rngs(0))
images = gen(models.sample_latent(jax.random.key(1), 8), np.arange(8) % 10, train=False)
print(json.dumps({"folder": None if folder is None else str(folder),
                  "config": jax.config.jax_compilation_cache_dir,
                  "cache_hits": len(hits),
                  "bytes": np.asarray(images).tobytes().hex()}))
"""


def run_child(env_extra: dict, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ACGAN_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def entries(folder) -> set[str]:
    """The stored programs (JAX also keeps an access-time file per entry where it can evict)."""
    return {p.name for p in folder.iterdir() if p.name.endswith("-cache")}


def test_second_process_loads_programs_and_gets_identical_results(tmp_path):
    folder = tmp_path / "cache"
    first = run_child({"ACGAN_JAX_CACHE": str(folder)})
    assert first["folder"] == first["config"] == str(folder)
    stored = entries(folder)
    assert stored, "the generator's compiled forward pass should have been stored"
    assert first["cache_hits"] == 0
    second = run_child({"ACGAN_JAX_CACHE": str(folder)})
    assert second["bytes"] == first["bytes"]              # a cached program is the same program
    # every program stored by the first process was loaded by the second (which may store a few
    # more: on a busy machine a small program can take longer than the threshold to compile)
    assert second["cache_hits"] >= len(stored) and stored <= entries(folder)
    without = run_child({"ACGAN_JAX_CACHE": "off"})
    assert without["bytes"] == first["bytes"]


def test_default_folder_is_under_the_user_cache(tmp_path):
    got = run_child({"XDG_CACHE_HOME": str(tmp_path)})
    assert got["folder"] == str(tmp_path / "acgan_lib" / "jax")
    assert entries(tmp_path / "acgan_lib" / "jax")


@pytest.mark.parametrize("value", ["off", "OFF", "0", "no"])
def test_switched_off(tmp_path, value):
    got = run_child({"ACGAN_JAX_CACHE": value, "XDG_CACHE_HOME": str(tmp_path)})
    assert got["folder"] is None and got["config"] is None
    assert not (tmp_path / "acgan_lib").exists()


def test_users_own_jax_cache_is_kept(tmp_path):
    mine = tmp_path / "mine"
    got = run_child({"JAX_COMPILATION_CACHE_DIR": str(mine), "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert got["folder"] == got["config"] == str(mine)
    assert not (tmp_path / "xdg").exists()


def test_unwritable_folder_leaves_the_cache_off_without_failing(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    got = run_child({"ACGAN_JAX_CACHE": str(blocker / "cache")})
    assert got["folder"] is None and got["config"] is None


def test_explicit_path_argument(tmp_path):
    got = run_child({"ACGAN_JAX_CACHE": "off"}, str(tmp_path / "explicit"))
    assert got["folder"] == str(tmp_path / "explicit")


def test_cap_is_set_only_where_jax_can_evict(tmp_path, monkeypatch):
    """JAX refuses a size cap without the filelock package (it needs the lock to evict)."""
    import importlib.util

    import jax

    from acgan_lib import compile_cache

    saved = {k: getattr(jax.config, k) for k in ("jax_compilation_cache_dir", "jax_compilation_cache_max_size",
                                                 "jax_persistent_cache_min_compile_time_secs")}
    monkeypatch.delenv("ACGAN_JAX_CACHE", raising=False)
    real_find_spec = importlib.util.find_spec
    try:
        cases = [(False, saved["jax_compilation_cache_max_size"])]
        if real_find_spec("filelock") is not None:
            cases.append((True, compile_cache.MAX_BYTES))
        for has_filelock, want in cases:
            jax.config.update("jax_compilation_cache_max_size", saved["jax_compilation_cache_max_size"])
            monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, _has=has_filelock:
                                (real_find_spec(name, *a) if _has else None) if name == "filelock"
                                else real_find_spec(name, *a))
            assert compile_cache.enable(tmp_path / str(has_filelock)) == tmp_path / str(has_filelock)
            assert jax.config.jax_compilation_cache_max_size == want
    finally:
        monkeypatch.undo()
        for k, v in saved.items():
            jax.config.update(k, v)
