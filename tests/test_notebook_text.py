"""What a reader sees in the notebooks: classroom-sized text cells, no test markers, no issue numbers."""
import re
from pathlib import Path

import jupytext
import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TWINS = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))
MAX_WORDS = 300      # a class reads about this much between two code cells


@pytest.fixture(scope="module", params=TWINS, ids=[p.stem[:2] for p in TWINS])
def notebook(request):
    return jupytext.read(request.param)


def test_there_are_notebooks():
    assert len(TWINS) >= 8


def test_markdown_cells_are_classroom_sized(notebook):
    long = [(i, n) for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"
            and (n := len(re.findall(r"[A-Za-z]+", c.source))) > MAX_WORDS]
    assert not long, f"markdown cells over {MAX_WORDS} words (index, words): {long}"


def test_output_checks_are_cell_tags_not_visible_comments(notebook):
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not [c.source.splitlines()[0] for c in code if "NBVAL_" in c.source]
    assert all(isinstance(c.metadata.get("tags", []), list) for c in code)


def test_no_issue_numbers_in_the_text(notebook):
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert not re.findall(r"(?<![\w&/])#\d+\b", text)
