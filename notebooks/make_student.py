"""Write student copies of the notebook series: every cell tagged ``solution`` removed, the rest intact.

    python notebooks/make_student.py                     # what `make student` does: build/student/
    python notebooks/make_student.py --out handouts/

The copies are made from the committed notebooks (``NN_*.ipynb``, with their outputs), so students
see every figure and explanation but not the worked answers. The exercises' ``check_*`` cells stay.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOLUTION_TAG = "solution"


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution`` (the instructor's worked answer)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without its solution cells; every other cell unchanged, in order."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_solution(c)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/student", help="folder for the student copies")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(HERE.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student = student_copy(nb)
        nbformat.write(student, out / path.name)
        print(f"{out / path.name}: {len(nb.cells) - len(student.cells)} solution cells removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
