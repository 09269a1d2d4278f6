"""A run's ``losses.csv``: one row of metrics per logged iteration, appended as training goes.

:class:`RunLog` writes and repairs it; :func:`read_log` reads it back as columns of floats
(for plots: ``read_log(run)["d_loss"]``).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from . import files

LOG_COLUMNS = ["step", "epoch", "d_loss", "d_realness_loss", "d_class_loss", "d_realness_accuracy",
               "d_class_accuracy", "d_real_probability", "d_fake_probability", "g_loss", "g_realness_loss",
               "g_class_loss", "g_class_accuracy", "g_fool_rate", "g_real_probability", "images_per_s",
               "train_seconds"]
LOSS_KEYS = ["d_realness_loss", "d_class_loss", "g_realness_loss", "g_class_loss"]


class RunLog:
    """A run's ``losses.csv``: one row per iteration, appended as training goes.

    Appending is not atomic, so a crash can leave a torn last line; :meth:`rows` and
    :meth:`truncate` skip such a line (a row whose step is not a whole number or that has too few
    fields) instead of failing, and :meth:`truncate` rewrites the file atomically.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / "losses.csv"

    def rows(self) -> list[dict[str, str]]:
        """The complete rows, as strings (torn or unparsable lines left out)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            out = []
            for r in reader:
                if None in r or any(r.get(k) is None for k in header):   # torn: too many / too few fields
                    continue
                try:
                    int(r["step"])
                except (KeyError, TypeError, ValueError):
                    continue
                out.append(r)
        return out

    def truncate(self, step: int) -> None:
        """Drop rows past ``step`` (written after the checkpoint, before a crash) and any torn line."""
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            header = next(csv.reader(f), None)
        if not header:
            self.path.unlink()
            return
        keep = [r for r in self.rows() if int(r["step"]) <= step]
        with files.atomic_write(self.path, "w") as f:
            w = csv.DictWriter(f, header, extrasaction="ignore")
            w.writeheader()
            w.writerows(keep)

    def append(self, rows: list[dict]) -> None:
        """Append ``rows`` (dicts keyed by :data:`LOG_COLUMNS`), writing the header first if the file is new."""
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore")
            if new:
                w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def read_log(out_dir: str | Path) -> dict[str, np.ndarray]:
    """The run's ``losses.csv`` as columns of floats (a torn last line is skipped)."""
    rows = RunLog(out_dir).rows()
    if not rows and not (Path(out_dir) / "losses.csv").exists():
        raise FileNotFoundError(f"{Path(out_dir) / 'losses.csv'} does not exist; is {out_dir} a run directory?")
    return {k: np.array([float(r[k]) for r in rows if r.get(k) not in (None, "")]) for k in LOG_COLUMNS}
