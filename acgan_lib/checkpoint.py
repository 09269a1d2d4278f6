"""Checkpoints: atomic, self-describing, checked on load.

A checkpoint is a directory ``ckpt-<step>/`` with ``arrays.npz`` (every array of every saved
object, keyed ``"<object>/<path>"``) and ``meta.json`` (format version, step, epoch, config,
what was saved).  It is written to a hidden temporary directory, fsync'ed, and renamed into place
in one ``os.rename``; the ``LATEST`` pointer is then replaced atomically.  A process killed at any
moment leaves either the old or the new checkpoint loadable, never a half-written one.

We use plain ``.npz`` + JSON rather than Orbax (Flax's recommended library) because the project
needs exactly this: synchronous, atomic, dependency-free files that a student can open with
NumPy, and checkpoints of a few megabytes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import models

FORMAT_VERSION = 1
LATEST = "LATEST"
PREFIX = "ckpt-"
# Random-number stream state is not saved: every step derives its keys from (seed, step).
SAVED = nnx.Not(nnx.RngState)


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, or does not fit the model it is loaded into."""


def flat_arrays(obj: Any) -> dict[str, np.ndarray]:
    """Every saved array of an nnx object (module or optimizer) as {"['path']...": numpy array}."""
    pure = nnx.to_pure_dict(nnx.state(obj, SAVED))
    leaves = jax.tree_util.tree_flatten_with_path(pure)[0]
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def restore_arrays(obj: Any, arrays: Mapping[str, np.ndarray], name: str, where: str) -> None:
    """Write ``arrays`` (as made by :func:`flat_arrays`) into ``obj``, checking every path and shape."""
    state = nnx.state(obj, SAVED)
    pure = nnx.to_pure_dict(state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(pure)
    new = []
    for path, cur in leaves:
        key = jax.tree_util.keystr(path)
        if key not in arrays:
            raise CheckpointError(f"{where}: {name}{key} is missing from the checkpoint; "
                                  f"it was saved from a different model")
        val = arrays[key]
        if tuple(val.shape) != tuple(np.shape(cur)):
            raise CheckpointError(f"{where}: {name}{key} has shape {tuple(val.shape)} in the checkpoint "
                                  f"but {tuple(np.shape(cur))} in the model")
        new.append(jnp.asarray(val, dtype=jnp.asarray(cur).dtype))
    extra = set(arrays) - {jax.tree_util.keystr(p) for p, _ in leaves}
    if extra:
        raise CheckpointError(f"{where}: the checkpoint has {name} arrays the model lacks: {sorted(extra)[:3]}")
    nnx.replace_by_pure_dict(state, jax.tree_util.tree_unflatten(treedef, new))
    nnx.update(obj, state)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
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


def _write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the normal permissions
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


write_json_atomic = _write_json_atomic


def save(root: str | Path, step: int, objects: Mapping[str, Any], meta: Mapping[str, Any],
         keep: int | None = 3) -> Path:
    """Save ``objects`` (name -> nnx module/optimizer) as ``root/ckpt-<step>``, atomically.

    ``meta`` (JSON-serialisable: config, epoch, ...) is stored beside the arrays.  Older
    checkpoints beyond the newest ``keep`` are removed afterwards.  Returns the checkpoint path.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, obj in objects.items():
        arrays.update({f"{name}/{k}": v for k, v in flat_arrays(obj).items()})
    final = root / f"{PREFIX}{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{PREFIX}{step:08d}-", dir=root))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        with open(tmp / "arrays.npz", "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        full_meta = {"format_version": FORMAT_VERSION, "step": int(step), "objects": sorted(objects),
                     "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
        with open(tmp / "meta.json", "w") as f:
            json.dump(full_meta, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # same step saved again (e.g. interrupt right after an epoch end)
            old = root / f".old-{final.name}-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _write_json_atomic(root / LATEST, {"checkpoint": final.name, "step": int(step)})
    _fsync_dir(root)
    if keep:
        for old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(f".tmp-{PREFIX}*"):  # left by a process killed mid-save
        if stale != tmp:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def complete_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoint directories under ``root``, oldest first."""
    root = Path(root)
    found = [p for p in root.glob(f"{PREFIX}*") if (p / "meta.json").is_file() and (p / "arrays.npz").is_file()]
    return sorted(found, key=lambda p: p.name)


def resolve(path: str | Path) -> Path:
    """The checkpoint directory meant by ``path``: a checkpoint, a checkpoints root, or a run dir.

    Raises CheckpointError when the directory is missing or holds no complete checkpoint.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory; pass a checkpoint or run directory")
    if (path / "meta.json").is_file():
        if not (path / "arrays.npz").is_file():
            raise CheckpointError(f"{path} is incomplete: arrays.npz is missing")
        return path
    root = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    latest = root / LATEST
    if latest.is_file():
        try:
            name = json.loads(latest.read_text())["checkpoint"]
            cand = root / name
            if (cand / "meta.json").is_file() and (cand / "arrays.npz").is_file():
                return cand
        except (ValueError, KeyError):
            pass
    found = complete_checkpoints(root)
    if not found:
        raise CheckpointError(f"{path} holds no checkpoint (expected {PREFIX}*/meta.json and arrays.npz); "
                              f"train one with `python -m acgan_lib train --out DIR`")
    return found[-1]


def read_meta(path: str | Path) -> dict:
    """The ``meta.json`` of the checkpoint meant by ``path``."""
    return json.loads((resolve(path) / "meta.json").read_text())


def load(path: str | Path, objects: Mapping[str, Any], check_config: Mapping[str, Any] | None = None) -> dict:
    """Restore ``objects`` (name -> nnx object) from the checkpoint meant by ``path``; return its meta.

    ``check_config``: settings the model was built with (e.g. {"latent_dim": 64}); any that
    differ from the checkpoint's config raise CheckpointError naming both values.  Nothing is
    modified unless every object loads.
    """
    ckpt = resolve(path)
    meta = json.loads((ckpt / "meta.json").read_text())
    saved_cfg = meta.get("config", {})
    implied: dict[str, Any] = {}
    for obj in objects.values():  # the networks know their own settings
        if isinstance(obj, models.Generator):
            implied.update(latent_dim=obj.latent_dim, num_classes=obj.num_classes)
        elif isinstance(obj, models.Discriminator):
            implied.update(num_classes=obj.num_classes)
    for key, value in {**implied, **(check_config or {})}.items():
        if key in saved_cfg and saved_cfg[key] != value:
            raise CheckpointError(f"{ckpt}: the checkpoint was trained with {key}={saved_cfg[key]} but the "
                                  f"model has {key}={value}; build the model with {key}={saved_cfg[key]} "
                                  f"(CLI: --{key.replace('_', '-')} {saved_cfg[key]})")
    missing = [n for n in objects if n not in meta.get("objects", [])]
    if missing:
        raise CheckpointError(f"{ckpt} does not contain {missing}; it holds {meta.get('objects')}")
    with np.load(ckpt / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    # Validate all first (restore into throwaway copies), then restore for real.
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(nnx.clone(obj), sub, name, str(ckpt))
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(obj, sub, name, str(ckpt))
    return meta


def save_generator(path: str | Path, gen: models.Generator, provenance: Mapping[str, Any] | None = None) -> Path:
    """Export a generator alone (the shipped pretrained model): ``path/ckpt-00000000``."""
    cfg = {"latent_dim": gen.latent_dim, "num_classes": gen.num_classes}
    return save(path, 0, {"generator": gen}, {"config": cfg, "provenance": dict(provenance or {})}, keep=None)


def load_generator(path: str | Path, conv_impl: models.ConvImpl = "auto") -> models.Generator:
    """A Generator built with the checkpoint's latent_dim / num_classes and its weights (inference mode)."""
    meta = read_meta(path)
    cfg = meta.get("config", {})
    gen = models.Generator(cfg.get("latent_dim", models.LATENT_DIM), cfg.get("num_classes", models.NUM_CLASSES),
                           rngs=nnx.Rngs(0), conv_impl=conv_impl)
    load(path, {"generator": gen})
    gen.eval()
    return gen


def load_discriminator(path: str | Path) -> models.Discriminator:
    """A Discriminator with the weights saved by ``python -m acgan_lib export --discriminator-out`` (eval mode)."""
    meta = read_meta(path)
    disc = models.Discriminator(meta.get("config", {}).get("num_classes", models.NUM_CLASSES), rngs=nnx.Rngs(0))
    load(path, {"discriminator": disc})
    disc.eval()
    return disc
