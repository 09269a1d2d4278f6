"""Write student copies of the notebook series: every cell tagged ``solution`` removed, the rest intact.

    python notebooks/make_student.py                        # `make student`: handouts in build/student/
    python notebooks/make_student.py --out handouts/
    python notebooks/make_student.py --learner my_notebooks # `make lab`: your own copies, never overwritten

The copies are made from the committed notebooks (``NN_*.ipynb``, with their outputs), so students
see every figure and explanation but not the worked answers. The exercises' ``check_*`` cells stay;
where solution cells were, one line says how to see them on demand
(``exercises.show_solution("04", 2)`` prints the instructor notebook's solution 2). Sentences that
only make sense beside the solution cells ("Solutions are in the collapsed cells below") are dropped.
A copy is not paired with a ``.py`` twin, so saving it in JupyterLab writes only the ``.ipynb``.

``--learner DIR`` is the self-study folder (git ignores ``my_notebooks/``): a notebook is written
only where it is missing, so your work is never overwritten; when the series has changed since your
copy was made, it says so and how to get the new version.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOLUTION_TAG = "solution"
# Where a student copy records what it was made from (to tell the learner a newer version exists).
STUDENT_METADATA = "acgan_student"
# Sentences of the instructor notebooks that are only true beside their solution cells.
INSTRUCTOR_ONLY = re.compile(r"^[^\n]*\bSolutions? (?:is|are) in the (?:collapsed|hidden) cells?\b[^\n]*\n?",
                             re.M | re.I)
SOLUTION_NUMBER = re.compile(r"#\s*Solution\s+(\w+)")  # a number (an exercise) or a name ("update")


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution`` (the instructor's worked answer)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _answers_pointer(notebook: str, numbers: list[str]) -> nbformat.NotebookNode:
    """The markdown cell that stands where solution cells were removed (``numbers``: their "# Solution N")."""
    if numbers:
        arg = numbers[0] if numbers[0].isdigit() else f'"{numbers[0]}"'
        text = (f"*Answers stay hidden until you ask (solution{'s' if len(numbers) > 1 else ''} "
                f"{', '.join(numbers)}):* run `from acgan_lib.exercises import show_solution; "
                f"show_solution(\"{notebook}\", {arg})` in a cell to print the worked solution "
                f"{numbers[0]}" + (", and likewise for the others." if len(numbers) > 1 else "."))
    else:
        text = (f"*The worked solution of this part stays hidden:* it is in the instructor notebook "
                f"`notebooks/{notebook}_*.ipynb` (`make lab-instructor`).")
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["answers-on-demand"]})


def student_copy(nb: nbformat.NotebookNode, notebook: str = "") -> nbformat.NotebookNode:
    """A copy of ``nb`` without its solution cells and instructor-only sentences, unpaired.

    ``notebook`` (e.g. "04") is the number the answers pointer names; without it no pointer is added.
    Every other cell is unchanged, in order.
    """
    out = copy.deepcopy(nb)
    cells: list = []
    removed: list[str] = []
    for cell in out.cells + [None]:
        if cell is not None and is_solution(cell):
            m = SOLUTION_NUMBER.match(cell.source)
            removed.append(m.group(1) if m else "")
            continue
        if removed and notebook:
            numbered = [n for n in removed if n]
            cells.append(_answers_pointer(notebook, numbered))
            if numbered and len(numbered) < len(removed):
                cells.append(_answers_pointer(notebook, []))
        removed = []
        if cell is None:
            break
        if cell.cell_type == "markdown" and INSTRUCTOR_ONLY.search(cell.source):
            cell.source = INSTRUCTOR_ONLY.sub("", cell.source).rstrip()
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("jupytext", None)   # no .py twin next to a student copy
    return out


def fingerprint(nb: nbformat.NotebookNode) -> str:
    """A hash of the cells' types and sources: changes when the series' text or code changes."""
    text = json.dumps([[c.cell_type, c.source] for c in nb.cells])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_new(nb: nbformat.NotebookNode, dest: Path) -> bool:
    """Write ``nb`` to ``dest`` only if ``dest`` does not exist (atomically: nothing half-written).
    Returns False, writing nothing, when it exists."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.link(tmp, dest)          # fails if dest exists: a learner's copy is never replaced
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def learner_copies(folder: Path) -> int:
    """Fill ``folder`` with the student copies it lacks; never touch an existing one."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(HERE.glob("[0-9][0-9]_*.ipynb")):
        student = student_copy(nbformat.read(path, as_version=4), path.name[:2])
        made = fingerprint(student)
        student.metadata[STUDENT_METADATA] = {"made_from": made}
        dest = folder / path.name
        if _write_new(student, dest):
            print(f"{dest}: new student copy (answers on demand: exercises.show_solution)")
            continue
        try:
            mine = nbformat.read(dest, as_version=4).metadata.get(STUDENT_METADATA, {}).get("made_from")
        except Exception:  # an unreadable notebook is still the learner's: leave it alone
            mine = None
        if mine != made:
            print(f"{dest}: kept yours; the series has a newer version of this notebook. To get it, rename "
                  f"yours (e.g. to {path.stem}_mine.ipynb) and run `make lab` again.")
    print(f"{folder}: your own copies (git ignores them; nothing here is ever overwritten). Answers on demand: "
          f"from acgan_lib.exercises import show_solution; show_solution(\"04\", 2)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--out", default="build/student", help="folder for the student copies (replaced)")
    where.add_argument("--learner", metavar="DIR", help="your own folder: only missing notebooks are written")
    args = ap.parse_args(argv)
    try:
        if args.learner:
            return learner_copies(Path(args.learner))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(HERE.glob("[0-9][0-9]_*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            student = student_copy(nb, path.name[:2])
            nbformat.write(student, out / path.name)
            removed = sum(map(is_solution, nb.cells))
            print(f"{out / path.name}: {removed} solution cells removed")
    except OSError as e:
        print(f"error: cannot write the student copies: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
