"""Make notebooks/setup_cell.py the first code cell of every notebook twin (``NN_*.py``).

    python notebooks/insert_setup_cell.py          # insert or refresh it, rewrite the headers
    python notebooks/insert_setup_cell.py --check  # exit 1 if any twin is out of date

A first code cell that already is a setup cell (its first line equals the setup cell's first line)
is replaced; otherwise the setup cell is inserted before the first code cell. Each twin is written
back with jupytext under notebooks/jupytext.toml with its cells' metadata in sorted order,
which normalises it to the bytes JupyterLab writes when the notebook is saved (the header holds
only the pairing; cell options read ``jupyter={...} tags=[...]``, the order the .ipynb stores).
Only the ``.py`` twins are edited: rebuild the ``.ipynb`` afterwards with
``python notebooks/run_all.py --inplace``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

HERE = Path(__file__).resolve().parent
SETUP_CELL = HERE / "setup_cell.py"


def setup_source() -> str:
    """The setup cell's source, exactly as a notebook cell holds it (no trailing newline)."""
    return SETUP_CELL.read_text().rstrip("\n")


def _sorted(value):
    """``value`` with every dict's keys in sorted order, as nbformat stores them in an .ipynb."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def with_setup_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``nb`` with the setup cell as its first code cell (inserted, or refreshed in place),
    every cell's metadata in sorted key order."""
    source = setup_source()
    first_line = source.splitlines()[0]
    cells = list(nb.cells)
    idx = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    if idx < len(cells) and cells[idx].source.splitlines()[:1] == [first_line]:
        cells[idx].source = source
    else:
        cells.insert(idx, nbformat.v4.new_code_cell(source))
    for cell in cells:
        cell.metadata = nbformat.from_dict(_sorted(dict(cell.metadata)))
    nb.cells = cells
    return nb


def render(py: Path) -> str:
    """The text of twin ``py`` after inserting the setup cell, as jupytext writes it."""
    config = load_jupytext_config(str(py.parent))
    return jupytext.writes(with_setup_cell(jupytext.read(py)), fmt="py:percent", config=config)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only report twins that would change")
    args = ap.parse_args()
    stale = []
    for py in sorted(HERE.glob("[0-9][0-9]_*.py")):
        text = render(py)
        if text != py.read_text():
            stale.append(py.name)
            if not args.check:
                py.write_text(text)
    verb = "out of date" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "all notebooks start with the setup cell")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
