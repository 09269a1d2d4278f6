"""`make instructor`: solution cells keep their outputs and show their source (tiny in-memory notebooks only)."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
import make_instructor  # noqa: E402
import make_student  # noqa: E402


def tiny_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(make_instructor.KERNELSPEC)
    nb.cells = [
        nbformat.v4.new_markdown_cell("Exercise: what is 6 * 7?"),
        nbformat.v4.new_code_cell("x = 6"),
        nbformat.v4.new_code_cell("# Solution: 42\nprint(x * 7)",
                                  metadata={"jupyter": {"source_hidden": True}, "tags": ["solution"]}),
        nbformat.v4.new_code_cell("print('after')", metadata={"tags": ["nbval-check-output"]}),
    ]
    return nb


def test_instructor_copy_unhides_solutions_and_keeps_everything_else():
    nb = tiny_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    copy = make_instructor.instructor_copy(nb)
    assert [c.source for c in copy.cells] == [c.source for c in nb.cells]
    solution = copy.cells[2]
    assert make_student.is_solution(solution)                   # still tagged: make student still drops it
    assert "jupyter" not in solution.metadata                   # source no longer collapsed
    assert solution.outputs[0]["text"] == "42\n"                # output kept
    assert copy.cells[3].metadata == {"tags": ["nbval-check-output"]}
    assert nb.cells[2].metadata["jupyter"] == {"source_hidden": True}   # the input is not modified
    assert make_instructor.solution_outputs(copy) == (1, 1)


def test_instructor_copy_keeps_other_jupyter_metadata():
    nb = tiny_notebook()
    nb.cells[2].metadata["jupyter"]["some_setting"] = 1
    assert make_instructor.instructor_copy(nb).cells[2].metadata["jupyter"] == {"some_setting": 1}


def test_executed_solution_outputs_are_kept(tmp_path):
    pytest.importorskip("ipykernel")
    nb = make_instructor.instructor_copy(make_instructor.execute(tiny_notebook(), tmp_path, timeout=60))
    outputs = [o.get("text", "") for o in nb.cells[2].outputs]
    assert outputs == ["42\n"]
    assert make_instructor.solution_outputs(nb) == (1, 1)


def test_unknown_notebook_number_is_a_one_line_error(tmp_path, capsys):
    assert make_instructor.main(["--only", "99", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no notebook matches --only 99") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
