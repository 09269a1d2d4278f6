"""Checkpoints: atomic, self-describing, checked on load.

A checkpoint is a directory ``ckpt-<step>/`` with ``arrays.npz`` (every array of every saved
object, keyed by its path, e.g. ``generator/embedding/embedding`` or ``discriminator/convs/0/kernel``)
and ``meta.json`` (format version, step, epoch, config, what was saved).  It is written to a hidden
temporary directory, fsync'ed, and renamed into place in one ``os.rename``
(:func:`acgan_lib.files.atomic_directory`); the ``LATEST`` pointer is then replaced atomically.  A
process killed at any moment leaves either the old or the new checkpoint loadable, never a
half-written one.  Loading checks every array's path, shape and finiteness;
unreadable files raise :class:`DamagedCheckpoint` naming the file, and
:func:`load_newest_valid` falls back to older checkpoints when the newest is damaged.

Formats (``meta.json``'s ``format_version``): 2 (written now) keys each array by its path parts
joined with ``/``; 1 (or no version: what acgan_lib wrote until 2026-11-29) keyed it by JAX's
``keystr``, ``generator/['embedding']['embedding']``.  Both load; :func:`read_arrays` gives any
checkpoint's arrays under the readable keys, and :func:`upgrade` rewrites an old checkpoint in
the new format (``python scripts/upgrade_checkpoints.py PATH``), the arrays unchanged.

We use plain ``.npz`` + JSON rather than Orbax (Flax's recommended library) because the project
needs exactly this: synchronous, atomic, dependency-free files that a student can open with
NumPy, and checkpoints of a few megabytes.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
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
from .config import MAX_LATENT_DIM

FORMAT_VERSION = 2              # 2: readable array keys ("generator/embedding/embedding")
LEGACY_FORMAT = 1               # 1 (or none): JAX keystr array keys ("generator/['embedding']['embedding']")
LATEST = "LATEST"
PREFIX = "ckpt-"
MAX_STEP = 10**8 - 1            # ckpt-<step> has eight digits
MAX_CLASSES = 1_000
# Random-number stream state is not saved: every step derives its keys from (seed, step).
SAVED = nnx.Not(nnx.RngState)


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, or does not fit the model it is loaded into."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint's files are unreadable: truncated or garbage ``arrays.npz``, invalid ``meta.json``,
    or non-finite weights.  Resuming falls back to an older checkpoint when there is one."""


class CheckpointWarning(UserWarning):
    """Something about a checkpoint directory was off but could be worked around (e.g. a bad LATEST)."""


def _part(entry: Any) -> str:
    """One path entry as a key part: a dict key or attribute name as it is, a list index as its digits."""
    value = getattr(entry, "key", getattr(entry, "idx", getattr(entry, "name", entry)))
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"cannot name the path entry {entry!r} in a checkpoint (expected a name or an index)")
    text = str(value)
    if not text or "/" in text:
        raise ValueError(f"cannot save a variable named {text!r} (names must be non-empty and without '/')")
    return text


def array_key(path: tuple) -> str:
    """The readable key of one array: its path parts joined with "/" (``embedding/embedding``, ``convs/0/kernel``)."""
    return "/".join(_part(p) for p in path)


def flat_arrays(obj: Any) -> dict[str, np.ndarray]:
    """Every saved array of an nnx object (module or optimizer) as {"path/to/array": numpy array}.

    Raises ValueError if two variables would share a key (e.g. a name ``"0"`` beside index 0).
    """
    pure = nnx.to_pure_dict(nnx.state(obj, SAVED))
    out: dict[str, np.ndarray] = {}
    for path, value in jax.tree_util.tree_flatten_with_path(pure)[0]:
        key = array_key(path)
        if key in out:
            raise ValueError(f"two variables of {type(obj).__name__} share the checkpoint key {key!r}")
        out[key] = np.asarray(value)
    return out


_LEGACY_PART = re.compile(r"\['([^'\\/]+)'\]|\[(\d+)\]")


def readable_key(legacy: str) -> str | None:
    """A format-1 key (``generator/['convs'][0]['kernel']``) as a format-2 key (``generator/convs/0/kernel``).

    None when ``legacy`` is not of that form.
    """
    name, sep, rest = legacy.partition("/")
    if not sep or not name or not rest:
        return None
    parts, pos = [name], 0
    for m in _LEGACY_PART.finditer(rest):
        if m.start() != pos:
            return None
        parts.append(m.group(1) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return "/".join(parts) if pos == len(rest) else None


def _layout_error(where: str, name: str, missing: list[str], extra: list[str]) -> CheckpointError:
    """The one message for arrays that do not line up with the model: an older library's layout."""
    said = []
    if missing:
        said.append(f"{len(missing)} {name} array(s) this acgan_lib expects are not in it (e.g. {name}/{missing[0]})")
    if extra:
        said.append(f"it holds {len(extra)} it does not know (e.g. {name}/{extra[0]})")
    return CheckpointError(f"{where}: written by an older acgan_lib with a different layout: {'; '.join(said)}. "
                           f"Start a new run (a new --out), or load it with the acgan_lib version that wrote it")


def restore_arrays(obj: Any, arrays: Mapping[str, np.ndarray], name: str, where: str) -> None:
    """Write ``arrays`` (as made by :func:`flat_arrays`) into ``obj``, checking every path and shape."""
    state = nnx.state(obj, SAVED)
    pure = nnx.to_pure_dict(state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(pure)
    keys = [array_key(path) for path, _ in leaves]
    missing = [k for k in keys if k not in arrays]
    extra = sorted(set(arrays) - set(keys))
    if missing or extra:
        raise _layout_error(where, name, missing, extra)
    new = []
    for key, (_, cur) in zip(keys, leaves, strict=True):
        val = arrays[key]
        if tuple(val.shape) != tuple(np.shape(cur)):
            raise CheckpointError(f"{where}: {name}/{key} has shape {tuple(val.shape)} in the checkpoint "
                                  f"but {tuple(np.shape(cur))} in the model")
        if not (np.issubdtype(val.dtype, np.number) or val.dtype == np.bool_) or np.iscomplexobj(val):
            raise DamagedCheckpoint(f"{where}: {name}/{key} is stored as {val.dtype} (not numbers); the checkpoint "
                                    f"is damaged, load an earlier one")
        want = jnp.asarray(cur).dtype
        with np.errstate(over="ignore", invalid="ignore"):
            conv = val.astype(want)      # finiteness is what the model will compute with: 1e39 is inf in float32
        if np.issubdtype(conv.dtype, np.inexact) and not np.isfinite(conv).all():
            raise DamagedCheckpoint(f"{where}: {name}/{key} contains NaN or inf as {conv.dtype} "
                                    f"({int((~np.isfinite(conv)).sum())} of {conv.size} values); these weights are "
                                    f"unusable, load an earlier checkpoint")
        if np.issubdtype(want, np.integer) and not np.array_equal(conv, val):
            raise DamagedCheckpoint(f"{where}: {name}/{key} does not fit {want}; the checkpoint is damaged")
        new.append(jnp.asarray(conv))
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
            # a bare name of a checkpoint in this folder: never a path that leaves the run
            cand = next((c for c in found if c.name == name), None) if isinstance(name, str) else None
            if cand is not None:
                return cand
            problem = f"names {name!r}, which is not a complete checkpoint in {root}"
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
    validate_meta(meta, ckpt)
    return meta


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_version(meta: Mapping[str, Any], ckpt: str | Path = "") -> int:
    """The checkpoint format ``meta`` declares: 1 when it names none (the first checkpoints), else its number.

    A format newer than :data:`FORMAT_VERSION` raises CheckpointError (upgrade acgan_lib); a
    value that is not a whole number >= 1 raises DamagedCheckpoint.
    """
    f = Path(ckpt) / "meta.json"
    version = meta.get("format_version", LEGACY_FORMAT)
    if not _whole(version) or version < LEGACY_FORMAT:
        raise DamagedCheckpoint(f"{f}: format_version must be a whole number >= 1, got {version!r}; "
                                f"the checkpoint is damaged")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{f}: written by a newer acgan_lib (checkpoint format {version}; this one reads "
                              f"formats {LEGACY_FORMAT}-{FORMAT_VERSION}); upgrade acgan_lib to load it")
    return version


def validate_meta(meta: Mapping[str, Any], ckpt: Path) -> None:
    """Check what a checkpoint's ``meta.json`` says before anything uses it (DamagedCheckpoint otherwise).

    ``step``: a whole number in 0..:data:`MAX_STEP`, equal to the number in the directory name
    ``ckpt-<step>``; ``objects``: names; ``config.latent_dim`` in 1..:data:`MAX_LATENT_DIM` and
    ``config.num_classes`` in 2..:data:`MAX_CLASSES` where present; ``epoch`` a whole number >= 0.
    """
    f = Path(ckpt) / "meta.json"
    format_version(meta, ckpt)
    step = meta.get("step")
    if not _whole(step) or not 0 <= step <= MAX_STEP:
        raise DamagedCheckpoint(f"{f}: step must be a whole number in 0..{MAX_STEP}, got {step!r}; "
                                f"the checkpoint is damaged")
    name = Path(ckpt).name
    if name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and int(name[len(PREFIX):]) != step:
        raise DamagedCheckpoint(f"{f}: step {step} does not match the directory name {name}; "
                                f"the checkpoint is damaged")
    if not all(isinstance(o, str) for o in meta.get("objects", [])):
        raise DamagedCheckpoint(f"{f}: 'objects' must list names, got {meta.get('objects')!r}")
    epoch = meta.get("epoch", 0)
    if not _whole(epoch) or epoch < 0:
        raise DamagedCheckpoint(f"{f}: epoch must be a whole number >= 0, got {epoch!r}; the checkpoint is damaged")
    cfg = meta.get("config", {})
    for key, lo, hi in (("latent_dim", 1, MAX_LATENT_DIM), ("num_classes", 2, MAX_CLASSES)):
        if key in cfg and (not _whole(cfg[key]) or not lo <= cfg[key] <= hi):
            raise DamagedCheckpoint(f"{f}: config {key} must be a whole number in {lo}..{hi}, got {cfg[key]!r}; "
                                    f"the checkpoint is damaged")


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


def _read_arrays(ckpt: Path, version: int = FORMAT_VERSION) -> dict[str, np.ndarray]:
    """``arrays.npz`` of ``ckpt`` keyed the readable way (format-1 keys converted; see :func:`readable_key`)."""
    f = ckpt / "arrays.npz"
    try:
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError) as e:
        reason = "it holds Python objects, not plain arrays" if "pickle" in str(e) else \
            f"{type(e).__name__}: {str(e)[:80]}"
        raise DamagedCheckpoint(f"{f} is truncated or not a checkpoint ({reason}); delete {ckpt} "
                                f"or load another checkpoint") from None
    if version >= 2:
        return arrays
    out: dict[str, np.ndarray] = {}
    for legacy, value in arrays.items():
        key = readable_key(legacy)
        if key is None or key in out:
            raise CheckpointError(f"{f}: written by an older acgan_lib with a different layout: the array key "
                                  f"{legacy!r} is not of the form object/['name'][0]...; load it with the "
                                  f"acgan_lib version that wrote it")
        out[key] = value
    return out


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the checkpoint meant by ``path``, keyed ``"<object>/<path>"`` whatever its format.

    E.g. ``read_arrays(pretrained.GENERATOR_DIR)["generator/embedding/embedding"]`` (10, 100) float32:
    the generator's class embeddings, as stored (no model is built, nothing is checked but the files).
    """
    ckpt = resolve(path)
    return _read_arrays(ckpt, format_version(_read_meta_file(ckpt), ckpt))


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
    arrays = _read_arrays(ckpt, format_version(meta, ckpt))
    # Validate all first (restore into throwaway copies), then restore for real.
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(nnx.clone(obj), sub, name, str(ckpt))
    for name, obj in objects.items():
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + "/")}
        restore_arrays(obj, sub, name, str(ckpt))
    return meta


def candidates(path: str | Path) -> list[Path]:
    """The checkpoints ``path`` may mean, best first: a checkpoint directory alone; for a run (or a
    checkpoints root) the one LATEST names, then the other complete ones, newest first."""
    newest = resolve(path)
    p = Path(path).expanduser()
    if (p / "meta.json").is_file():          # the user named this checkpoint: no other will do
        return [newest]
    return [newest] + [c for c in reversed(complete_checkpoints(newest.parent)) if c != newest]


Objects = Mapping[str, Any] | Callable[[dict, Path], Mapping[str, Any]]


def load_newest_valid(path: str | Path, objects: Objects,
                      check_meta: Callable[[dict, Path], None] | None = None,
                      log: Callable[[str], None] = print, verb: str = "resuming from") -> tuple[dict, Path]:
    """Load the newest checkpoint under ``path`` that is not damaged; return ``(meta, checkpoint dir)``.

    ``objects``: name -> nnx object, or a function ``(meta, ckpt) -> objects`` that builds them
    from a validated meta (e.g. a generator of the saved latent_dim).  A damaged newest
    checkpoint (what a crash, a full disk or an edited ``meta.json`` can leave) is skipped with a
    message through ``log`` naming it and the one used instead; a path naming one checkpoint
    directory has no fallback.  ``check_meta(meta, ckpt)`` may raise CheckpointError to refuse a
    checkpoint (e.g. a config mismatch); that error is not skipped.  Raises the newest
    checkpoint's DamagedCheckpoint when none is usable.
    """
    found = candidates(path)
    newest = found[0]
    first_error: DamagedCheckpoint | None = None
    for ckpt in found:
        try:
            meta = _read_meta_file(ckpt)
            if check_meta:
                check_meta(meta, ckpt)
            load(ckpt, objects(meta, ckpt) if callable(objects) else objects)
        except DamagedCheckpoint as e:
            first_error = first_error or e
            if len(found) > 1:
                log(f"warning: skipping a damaged checkpoint: {e}")
            continue
        if ckpt != newest:
            log(f"warning: the newest checkpoint {newest.name} is damaged; {verb} {ckpt.name}, "
                f"the newest valid one")
        return meta, ckpt
    raise first_error


def upgrade(path: str | Path) -> list[Path]:
    """Rewrite the old-format checkpoints meant by ``path`` (a checkpoint, or every one of a run) in
    format :data:`FORMAT_VERSION`, each atomically; return the ones rewritten.

    The arrays (values, dtypes, shapes) and the rest of ``meta.json`` stay as they are; only the
    array keys and ``format_version`` change.  A checkpoint already in the current format is left
    alone.  Stop any training run writing to ``path`` first.
    """
    p = Path(path).expanduser()
    found = [resolve(p)] if (p / "meta.json").is_file() else complete_checkpoints(resolve(p).parent)
    done = []
    for ckpt in found:
        meta = _read_meta_file(ckpt)
        version = format_version(meta, ckpt)
        if version == FORMAT_VERSION:
            continue
        arrays = _read_arrays(ckpt, version)
        with files.atomic_directory(ckpt) as tmp:
            for other in ckpt.iterdir():       # anything else kept beside the two files travels along
                if other.name not in ("arrays.npz", "meta.json") and other.is_file():
                    files.copy_file(other, tmp / other.name)
            with files.atomic_write(tmp / "arrays.npz", "wb") as f:
                np.savez(f, **arrays)
            files.write_json_atomic(tmp / "meta.json", {**meta, "format_version": FORMAT_VERSION})
        done.append(ckpt)
    return done


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def save_generator(path: str | Path, gen: models.Generator, provenance: Mapping[str, Any] | None = None) -> Path:
    """Export a generator alone (the shipped pretrained model): ``path/ckpt-00000000``."""
    cfg = {"latent_dim": gen.latent_dim, "num_classes": gen.num_classes}
    return save(path, 0, {"generator": gen}, {"config": cfg, "provenance": dict(provenance or {})}, keep=None)


def load_generator(path: str | Path, conv_impl: models.ConvImpl = "auto",
                   log: Callable[[str], None] = _warn) -> models.Generator:
    """A Generator built with the checkpoint's latent_dim / num_classes and its weights (inference mode).

    For a run directory, a damaged newest checkpoint is skipped for the newest valid one (a
    message through ``log``, stderr by default)."""
    made: dict[str, models.Generator] = {}

    def build(meta: dict, ckpt: Path) -> dict:
        made["generator"] = models.Generator(config_value(meta, "latent_dim", int, models.LATENT_DIM, ckpt),
                                             config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt),
                                             rngs=nnx.Rngs(0), conv_impl=conv_impl)
        return made

    load_newest_valid(path, build, log=log, verb="using")
    gen = made["generator"]
    gen.eval()
    return gen


def load_discriminator(path: str | Path, log: Callable[[str], None] = _warn) -> models.Discriminator:
    """A Discriminator with the weights saved by ``python -m acgan_lib export --discriminator-out`` (eval mode)."""
    made: dict[str, models.Discriminator] = {}

    def build(meta: dict, ckpt: Path) -> dict:
        made["discriminator"] = models.Discriminator(config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt),
                                                     rngs=nnx.Rngs(0))
        return made

    load_newest_valid(path, build, log=log, verb="using")
    disc = made["discriminator"]
    disc.eval()
    return disc
