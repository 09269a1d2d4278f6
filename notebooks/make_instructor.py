"""Write instructor copies of the notebook series: every cell executed, solutions shown with their outputs.

    python notebooks/make_instructor.py                    # what `make instructor` does: build/instructor/
    python notebooks/make_instructor.py --only 04 05       # some notebooks
    ACGAN_SMOKE=1 python notebooks/make_instructor.py      # the short CI setting (fewer training steps)

Each notebook is rebuilt from its jupytext twin (``NN_name.py``) and executed in ``notebooks/``, as
``run_all.py`` does, but the outputs of the cells tagged ``solution`` are **kept** and their source
is no longer collapsed, so an instructor reads every expected answer without running anything. The
committed notebooks and ``make student`` copies are unchanged: they still show no answers.

Takes as long as ``make run`` (``notebooks/RUNTIMES.md``). Exit codes: 0 done; 2 a notebook failed
(``error: ...`` names it and the cell; nothing is written for that notebook); 130 interrupted.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from make_student import is_solution  # notebooks/ is on sys.path when this runs as a script

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def instructor_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an executed ``nb`` whose solution cells show their source; outputs and other cells unchanged."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code" and is_solution(cell):
            jupyter = cell.metadata.get("jupyter", {})
            jupyter.pop("source_hidden", None)
            jupyter.pop("outputs_hidden", None)
            if jupyter:
                cell.metadata["jupyter"] = jupyter
            else:
                cell.metadata.pop("jupyter", None)
    return out


def solution_outputs(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(solution code cells, how many of them have outputs)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and is_solution(c)]
    return len(cells), sum(bool(c.get("outputs")) for c in cells)


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in place (kernel ``python3``, working folder ``cwd``); return ``nb``."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def load_twin(py: Path) -> nbformat.NotebookNode:
    """The notebook built from its jupytext twin, with the committed ``.ipynb``'s metadata when there is one."""
    nb = jupytext.read(py)
    committed = py.with_suffix(".ipynb")
    if committed.exists():
        nb.metadata = {**nbformat.read(committed, as_version=4).metadata, **nb.metadata}
    nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/instructor", help="folder for the instructor copies")
    ap.add_argument("--only", nargs="*", default=None, help="notebook number prefixes, e.g. 03 05")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = ap.parse_args(argv)
    os.environ.setdefault("ACGAN_DATA", "bundled")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    twins = [py for py in sorted(HERE.glob("[0-9][0-9]_*.py"))
             if not args.only or any(py.name.startswith(p) for p in args.only)]
    if not twins:
        print(f"error: no notebook matches --only {' '.join(args.only or [])}; use numbers such as 01 04",
              file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for py in twins:
            print(f"executing {py.stem} ...", flush=True)
            try:
                nb = instructor_copy(execute(load_twin(py), HERE, args.timeout))
            except CellExecutionError as e:
                first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                print(f"error: {py.name} failed: {first} (run it with `python notebooks/run_all.py --only "
                      f"{py.name[:2]}` to see the cell)", file=sys.stderr)
                return 2
            target = out / py.with_suffix(".ipynb").name
            partial = target.with_suffix(".ipynb.partial")
            nbformat.write(nb, partial)
            partial.replace(target)            # never a half-written notebook
            n, shown = solution_outputs(nb)
            print(f"  {target}: {shown} of {n} solution cells with their output", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the notebooks written so far are complete", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
