"""Each notebook has a jupytext py:percent twin with the same cells, so reviews can read diffs."""
from pathlib import Path

import jupytext
import nbformat
import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_notebook_numbers():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 9)], NOTEBOOKS


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_in_sync(nb_path):
    py_path = nb_path.with_suffix(".py")
    assert py_path.exists(), f"{py_path.name} missing: run `make sync-notebooks`"
    nb = nbformat.read(nb_path, as_version=4)
    twin = jupytext.read(py_path)
    cells = lambda n: [(c.cell_type, c.source.strip()) for c in n.cells]  # noqa: E731
    assert cells(nb) == cells(twin), f"{nb_path.name} and {py_path.name} differ: run `make sync-notebooks`"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_and_structure(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "commit notebooks executed (make run)"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for part in ("what you will learn", "summary", "exercise"):
        assert part in text, f"{nb_path.name} lacks a '{part}' section"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", [])), "no figure"
