"""Execute the notebook series in order (offline, on the bundled data by default).

    python notebooks/run_all.py --out build/notebooks      # what `make run` does
    python notebooks/run_all.py --inplace                  # refresh the committed outputs
    python notebooks/run_all.py --only 05                  # one notebook

Each notebook is rebuilt from its jupytext twin (``NN_name.py``), so the text file is the source
of truth. After executing, the outputs of cells tagged ``solution`` are removed (the cells still
run, so their code is tested), so the committed notebooks show no answers. With ``--inplace`` each
notebook is saved through jupytext's contents manager, exactly as JupyterLab saves it, so that opening
and saving it there leaves `git status` clean (tests/test_jupytext_roundtrip.py). Prints each
notebook's wall time as it finishes; exits non-zero if a cell fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
from jupytext.config import load_jupytext_config
import nbformat
from nbclient import NotebookClient

from make_student import is_solution  # notebooks/ is on sys.path when this runs as a script

HERE = Path(__file__).resolve().parent
# The kernel every notebook records: what JupyterLab writes on save for the ipykernel of this venv
# (jupytext.toml keeps it out of the .py twin).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# What a notebook shows for an interactive widget until its cells run again: without this, the
# stored fallback is the widget's repr, "HBox(children=(VBox(children=(Dropdown(...".
WIDGET_PLACEHOLDER = "Interactive widget: run the cells above in Jupyter (with a running kernel) to use it."


def explain_widget_outputs(nb: nbformat.NotebookNode) -> int:
    """Replace the text fallback of every widget output with :data:`WIDGET_PLACEHOLDER`; return how many."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out["data"]["text/plain"] = WIDGET_PLACEHOLDER
                n += 1
    return n


def strip_solution_outputs(nb: nbformat.NotebookNode) -> int:
    """Remove the outputs of every code cell tagged ``solution`` in place; return how many had any."""
    stripped = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution(cell):
            stripped += bool(cell.outputs)
            cell.outputs = []
    return stripped


def notebook_metadata(twin: dict, nb_path: Path) -> dict:
    """The metadata the executed notebook keeps: the committed ``.ipynb``'s, updated by its twin's.

    The ``jupytext`` entry is merged key by key (the twin's header holds only ``formats``), and gets
    the ``notebook_metadata_filter`` of ``notebooks/jupytext.toml`` as JupyterLab records it when it
    saves: otherwise opening and saving the notebook in JupyterLab would change it (git not clean).
    """
    committed = nbformat.read(nb_path, as_version=4).metadata if nb_path.exists() else {}
    merged = {**committed, **twin}
    jt = {**committed.get("jupytext", {}), **twin.get("jupytext", {})}
    config = load_jupytext_config(str(nb_path.parent))
    if config is not None and config.notebook_metadata_filter:
        jt["notebook_metadata_filter"] = config.notebook_metadata_filter
    merged["jupytext"] = jt
    return merged


def save_as_jupyterlab(nb: nbformat.NotebookNode, folder: Path, name: str) -> None:
    """Write ``nb`` to ``folder/name`` (and its paired twin) as JupyterLab's jupytext extension saves it."""
    cm = jupytext.TextFileContentsManager(root_dir=str(folder))
    cm.save({"type": "notebook", "content": nb}, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/notebooks", help="where executed copies go")
    ap.add_argument("--inplace", action="store_true", help="write outputs into notebooks/ itself")
    ap.add_argument("--only", nargs="*", default=None, help="notebook number prefixes, e.g. 03 05")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = ap.parse_args()
    os.environ.setdefault("ACGAN_DATA", "bundled")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out = HERE if args.inplace else Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    twins = [py for py in sorted(HERE.glob("[0-9][0-9]_*.py"))
             if not args.only or any(py.name.startswith(p) for p in args.only)]
    start = time.perf_counter()
    for k, py in enumerate(twins, 1):
        nb_path = py.with_suffix(".ipynb")
        nb = jupytext.read(py)
        nb.metadata = notebook_metadata(nb.metadata, nb_path)
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        t0 = time.perf_counter()
        print(f"[{k}/{len(twins)}] executing {py.stem} ...", flush=True)
        try:
            # The kernel runs in the folder the executed copy goes to, as it would when opened there:
            # what a notebook writes (runs/ of notebooks 06 and 08) lands next to it.
            NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(out)}}).execute()
        except Exception as e:  # a failing cell: report it and stop
            print(f"FAILED {py.stem}: {e}", file=sys.stderr)
            nbformat.write(nb, out / nb_path.name)
            return 1
        dt = time.perf_counter() - t0
        strip_solution_outputs(nb)
        explain_widget_outputs(nb)
        if args.inplace:
            save_as_jupyterlab(nb, HERE, nb_path.name)
        else:
            nbformat.write(nb, out / nb_path.name)
        results.append((py.stem, dt))
        print(f"[{k}/{len(twins)}] {py.stem}: {dt:.0f} s (total so far {time.perf_counter() - start:.0f} s)",
              flush=True)
    print("\n".join(["", "notebook runtimes:"] + [f"  {n:<40} {t:6.0f} s" for n, t in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
