"""Checkpoints: atomic, self-describing, checked on load.

A checkpoint is a directory ``ckpt-<step>/`` with ``arrays.npz`` (every array of every saved
object, keyed ``"<object>/<path>"``) and ``meta.json`` (format version, step, epoch, config,
what was saved).  It is written to a hidden temporary directory, fsync'ed, and renamed into place
in one ``os.rename`` (:func:`acgan_lib.files.atomic_directory`); the ``LATEST`` pointer is then
replaced atomically.  A process killed at any moment leaves either the old or the new checkpoint
loadable, never a half-written one.  Loading checks every array's path, shape and finiteness;
unreadable files raise :class:`DamagedCheckpoint` naming the file, and
:func:`load_newest_valid` falls back to older checkpoints when the newest is damaged.

We use plain ``.npz`` + JSON rather than Orbax (Flax's recommended library) because the project
needs exactly this: synchronous, atomic, dependency-free files that a student can open with
NumPy, and checkpoints of a few megabytes.
"""
from __future__ import annotations

import json
import shutil
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import files, models

FORMAT_VERSION = 1
LATEST = "LATEST"
PREFIX = "ckpt-"
# Random-number stream state is not saved: every step derives its keys from (seed, step).
SAVED = nnx.Not(nnx.RngState)


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, or does not fit the model it is loaded into."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint's files are unreadable: truncated or garbage ``arrays.npz``, invalid ``meta.json``,
    or non-finite weights.  Resuming falls back to an older checkpoint when there is one."""


class CheckpointWarning(UserWarning):
    """Something about a checkpoint directory was off but could be worked around (e.g. a bad LATEST)."""


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
        if np.issubdtype(val.dtype, np.inexact) and not np.isfinite(val).all():
            raise DamagedCheckpoint(f"{where}: {name}{key} contains NaN or inf ({int((~np.isfinite(val)).sum())} "
                                    f"of {val.size} values); these weights are unusable, load an earlier "
                                    f"checkpoint")
        new.append(jnp.asarray(val, dtype=jnp.asarray(cur).dtype))
    extra = set(arrays) - {jax.tree_util.keystr(p) for p, _ in leaves}
    if extra:
        raise CheckpointError(f"{where}: the checkpoint has {name} arrays the model lacks: {sorted(extra)[:3]}")
    nnx.replace_by_pure_dict(state, jax.tree_util.tree_unflatten(treedef, new))
    nnx.update(obj, state)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """JSON through the one atomic-write helper (:func:`acgan_lib.files.write_json_atomic`)."""
    files.write_json_atomic(path, data)


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
    full_meta = {"format_version": FORMAT_VERSION, "step": int(step), "objects": sorted(objects),
                 "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
    # same step saved again (e.g. an interrupt right after an epoch end) replaces it atomically
    with files.atomic_directory(final) as tmp:
        with files.atomic_write(tmp / "arrays.npz", "wb") as f:
            np.savez(f, **arrays)
        files.write_json_atomic(tmp / "meta.json", full_meta)
    files.write_json_atomic(root / LATEST, {"checkpoint": final.name, "step": int(step)})
    files.fsync_dir(root)
    if keep:
        for old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(f".tmp-{PREFIX}*"):  # left by a process killed mid-save (the run lock
        shutil.rmtree(stale, ignore_errors=True)  # keeps other writers out of this directory)
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
    found = complete_checkpoints(root)
    if not found:
        raise CheckpointError(f"{path} holds no checkpoint (expected {PREFIX}*/meta.json and arrays.npz); "
                              f"train one with `python -m acgan_lib train --out DIR`")
    latest = root / LATEST
    if latest.exists():
        problem = ""
        try:
            name = json.loads(latest.read_text())["checkpoint"]
            cand = root / str(name)
            if (cand / "meta.json").is_file() and (cand / "arrays.npz").is_file():
                return cand
            problem = f"names {name!r}, which is not a complete checkpoint"
        except (OSError, ValueError, KeyError, TypeError) as e:
            problem = f"is unreadable ({type(e).__name__})"
        warnings.warn(f"{latest} {problem}; using the newest complete checkpoint, {found[-1].name}",
                      CheckpointWarning, stacklevel=2)
    return found[-1]


def _read_meta_file(ckpt: Path) -> dict:
    f = ckpt / "meta.json"
    try:
        meta = json.loads(f.read_text())
    except UnicodeDecodeError as e:
        raise DamagedCheckpoint(f"{f} is not text ({e.reason}); the checkpoint is damaged") from None
    except ValueError as e:
        raise DamagedCheckpoint(f"{f} is not valid JSON ({e}); the checkpoint is damaged") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict) \
            or not isinstance(meta.get("objects", []), list):
        raise DamagedCheckpoint(f"{f}: expected a JSON object with a 'config' object and an 'objects' list")
    return meta


def read_meta(path: str | Path) -> dict:
    """The ``meta.json`` of the checkpoint meant by ``path`` (DamagedCheckpoint when unreadable)."""
    return _read_meta_file(resolve(path))


def config_value(meta: Mapping[str, Any], key: str, kind: type, default: Any, where: str | Path = "") -> Any:
    """``meta["config"][key]`` checked to be a ``kind`` (DamagedCheckpoint naming the file otherwise)."""
    value = meta.get("config", {}).get(key, default)
    ok = isinstance(value, kind) and not isinstance(value, bool) if kind in (int, float) else isinstance(value, kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise DamagedCheckpoint(f"{where}/meta.json: config {key} must be {kind.__name__}, got {value!r}")
    return value


def _read_arrays(ckpt: Path) -> dict[str, np.ndarray]:
    f = ckpt / "arrays.npz"
    try:
        with np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError) as e:
        reason = "it holds Python objects, not plain arrays" if "pickle" in str(e) else \
            f"{type(e).__name__}: {str(e)[:80]}"
        raise DamagedCheckpoint(f"{f} is truncated or not a checkpoint ({reason}); delete {ckpt} "
                                f"or load another checkpoint") from None


def load(path: str | Path, objects: Mapping[str, Any], check_config: Mapping[str, Any] | None = None) -> dict:
    """Restore ``objects`` (name -> nnx object) from the checkpoint meant by ``path``; return its meta.

    ``check_config``: settings the model was built with (e.g. {"latent_dim": 64}); any that
    differ from the checkpoint's config raise CheckpointError naming both values.  Nothing is
    modified unless every object loads.
    """
    ckpt = resolve(path)
    meta = _read_meta_file(ckpt)
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
    arrays = _read_arrays(ckpt)
    # Validate all first (restore into throwaway copies), then restore for real.
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(nnx.clone(obj), sub, name, str(ckpt))
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(obj, sub, name, str(ckpt))
    return meta


def load_newest_valid(path: str | Path, objects: Mapping[str, Any],
                      check_meta: Callable[[dict, Path], None] | None = None,
                      log: Callable[[str], None] = print) -> tuple[dict, Path]:
    """Load the newest checkpoint under ``path`` that is not damaged; return ``(meta, checkpoint dir)``.

    A damaged newest checkpoint (what a crash or a full disk can leave) is skipped with a message
    through ``log`` naming it and the one used instead.  ``check_meta(meta, ckpt)`` may raise
    CheckpointError to refuse a checkpoint (e.g. a config mismatch); that error is not skipped.
    Raises the newest checkpoint's DamagedCheckpoint when none is usable.
    """
    newest = resolve(path)
    candidates = [newest] + [c for c in reversed(complete_checkpoints(newest.parent)) if c != newest]
    first_error: DamagedCheckpoint | None = None
    for ckpt in candidates:
        try:
            meta = _read_meta_file(ckpt)
            if check_meta:
                check_meta(meta, ckpt)
            load(ckpt, objects)
        except DamagedCheckpoint as e:
            first_error = first_error or e
            log(f"warning: skipping a damaged checkpoint: {e}")
            continue
        if ckpt != newest:
            log(f"warning: the newest checkpoint {newest.name} is damaged; resuming from {ckpt.name}, "
                f"the newest valid one")
        return meta, ckpt
    raise first_error


def save_generator(path: str | Path, gen: models.Generator, provenance: Mapping[str, Any] | None = None) -> Path:
    """Export a generator alone (the shipped pretrained model): ``path/ckpt-00000000``."""
    cfg = {"latent_dim": gen.latent_dim, "num_classes": gen.num_classes}
    return save(path, 0, {"generator": gen}, {"config": cfg, "provenance": dict(provenance or {})}, keep=None)


def load_generator(path: str | Path, conv_impl: models.ConvImpl = "auto") -> models.Generator:
    """A Generator built with the checkpoint's latent_dim / num_classes and its weights (inference mode)."""
    ckpt = resolve(path)
    meta = _read_meta_file(ckpt)
    gen = models.Generator(config_value(meta, "latent_dim", int, models.LATENT_DIM, ckpt),
                           config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt),
                           rngs=nnx.Rngs(0), conv_impl=conv_impl)
    load(path, {"generator": gen})
    gen.eval()
    return gen


def load_discriminator(path: str | Path) -> models.Discriminator:
    """A Discriminator with the weights saved by ``python -m acgan_lib export --discriminator-out`` (eval mode)."""
    ckpt = resolve(path)
    disc = models.Discriminator(config_value(_read_meta_file(ckpt), "num_classes", int, models.NUM_CLASSES, ckpt),
                                rngs=nnx.Rngs(0))
    load(path, {"discriminator": disc})
    disc.eval()
    return disc
