"""Rewrite old checkpoints (format 1: keys like ``generator/['embedding']['embedding']``) in the
current format (readable keys, ``generator/embedding/embedding``), in place, each atomically.

    python scripts/upgrade_checkpoints.py PATH [PATH ...]

PATH: a checkpoint directory (``ckpt-<step>/``), a run directory or a checkpoints folder (every
complete checkpoint in it).  Every array keeps its values, dtype and shape: after the rewrite the
script reads each upgraded checkpoint back and compares it with what it read before, bit for bit.
Old checkpoints load without this (acgan_lib reads every format); upgrading only makes the keys
readable to someone opening ``arrays.npz`` with NumPy.  Stop a training run on PATH first.
Exit codes: 0 done (or nothing to do), 2 a path that holds no readable checkpoint.
"""
from __future__ import annotations

import sys
from pathlib import Path

from acgan_lib import checkpoint


def upgrade_and_verify(path: str | Path) -> list[Path]:
    """:func:`acgan_lib.checkpoint.upgrade` ``path``, then check every array is unchanged (AssertionError if not)."""
    p = Path(path)
    found = [checkpoint.resolve(p)] if (p / "meta.json").is_file() else \
        checkpoint.complete_checkpoints(checkpoint.resolve(p).parent)
    before = {c: checkpoint.read_arrays(c) for c in found}
    done = checkpoint.upgrade(p)
    for c in done:
        after = checkpoint.read_arrays(c)
        assert checkpoint.format_version(checkpoint.read_meta(c), c) == checkpoint.FORMAT_VERSION
        assert sorted(after) == sorted(before[c]) and after, f"{c}: the set of arrays changed"
        for k, v in before[c].items():
            assert after[k].dtype == v.dtype and after[k].shape == v.shape and \
                after[k].tobytes() == v.tobytes(), f"{c}: {k} changed"
    return done


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    for path in argv:
        try:
            done = upgrade_and_verify(path)
        except checkpoint.CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{path}: upgraded {len(done)} checkpoint(s) to format {checkpoint.FORMAT_VERSION}"
              + ("" if done else " (already current)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
