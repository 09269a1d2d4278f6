"""Classroom infrastructure: the setup cell, solution outputs, student copies (issues #10, #12)."""
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
TWINS = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(NB_DIR))
import insert_setup_cell  # noqa: E402
import make_student  # noqa: E402
import run_all  # noqa: E402


def _first_code(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _solution(source, outputs=()):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}})
    cell.outputs = [nbformat.v4.new_output("stream", text=t) for t in outputs]
    return cell


# --- the setup cell (Colab / Binder / any Jupyter) ---------------------------------------------

@pytest.mark.parametrize("py", TWINS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_setup_cell(py):
    """Run `python notebooks/insert_setup_cell.py` (then re-execute) when this fails."""
    assert _first_code(jupytext.read(py)).source == insert_setup_cell.setup_source()
    ipynb = py.with_suffix(".ipynb")
    if ipynb.exists():
        assert _first_code(nbformat.read(ipynb, as_version=4)).source == insert_setup_cell.setup_source()


def test_insert_setup_cell_inserts_once_and_refreshes():
    md = nbformat.v4.new_markdown_cell("# Title")
    code = nbformat.v4.new_code_cell("import os")
    nb = insert_setup_cell.with_setup_cell(_nb(md, code))
    assert [c.source for c in nb.cells] == ["# Title", insert_setup_cell.setup_source(), "import os"]
    first_line = insert_setup_cell.setup_source().splitlines()[0]
    stale = nbformat.v4.new_code_cell(first_line + "\nprint('an older setup cell')")
    nb = insert_setup_cell.with_setup_cell(_nb(md, stale, code))
    assert [c.source for c in nb.cells] == ["# Title", insert_setup_cell.setup_source(), "import os"]


def test_setup_cell_does_nothing_where_acgan_lib_is_installed(capsys, monkeypatch):
    import subprocess

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"setup cell ran {a}"))
    exec(compile(insert_setup_cell.setup_source(), "setup_cell", "exec"), {})
    assert capsys.readouterr().out == ""


def test_setup_cell_widget_bound_matches_pyproject():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebooks"]
    widgets = next(d for d in extra if d.startswith("ipywidgets"))
    assert f'"{widgets}"' in insert_setup_cell.setup_source()


# --- solutions: they run in CI, their outputs are not committed ---------------------------------

def test_run_all_strips_solution_outputs_only():
    sol = _solution("print(42)", outputs=["42\n"])
    normal = nbformat.v4.new_code_cell("print(1)")
    normal.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb = _nb(nbformat.v4.new_markdown_cell("text"), sol, normal)
    assert run_all.strip_solution_outputs(nb) == 1
    assert sol.outputs == [] and normal.outputs[0].text == "1\n"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_show_no_answers(nb_path):
    """Re-execute with `python notebooks/run_all.py --inplace` when this fails."""
    nb = nbformat.read(nb_path, as_version=4)
    shown = [c.source.splitlines()[0] for c in nb.cells if make_student.is_solution(c) and c.get("outputs")]
    assert not shown, f"solution cells with committed outputs: {shown}"


# --- student copies ------------------------------------------------------------------------------

def test_student_copy_removes_solution_cells_and_keeps_the_rest():
    md, sol, check = (nbformat.v4.new_markdown_cell("Exercise"), _solution("# Solution 2: answer = 3"),
                      nbformat.v4.new_code_cell("check_answer(answer)"))
    nb = _nb(md, check, sol)
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    student = make_student.student_copy(nb, "04")
    assert student.cells[:2] == [md, check] and len(student.cells) == 3
    pointer = student.cells[2]
    assert pointer.cell_type == "markdown" and 'show_solution("04", 2)' in pointer.source
    assert "answer = 3" not in pointer.source
    assert "jupytext" not in student.metadata       # no .py twin is paired with a student copy
    assert len(nb.cells) == 3 and "jupytext" in nb.metadata  # the instructor's notebook is untouched


def test_student_copy_drops_sentences_true_only_beside_the_solutions():
    md = nbformat.v4.new_markdown_cell("## Exercises\n\n1. Do it.\n\nSolutions are in the collapsed cells below (click to expand).")
    student = make_student.student_copy(_nb(md, _solution("# Solution 1\nx = 1")), "01")
    assert student.cells[0].source == "## Exercises\n\n1. Do it."


def test_make_student_writes_every_notebook(tmp_path):
    assert make_student.main(["--out", str(tmp_path)]) == 0
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        student = nbformat.read(tmp_path / path.name, as_version=4)
        kept = [c for c in nb.cells if not make_student.is_solution(c)]
        assert len(student.cells) < len(nb.cells), f"{path.name} has no solution cell to remove"
        assert not [c for c in student.cells if make_student.is_solution(c)]
        shown = [c for c in student.cells if "answers-on-demand" not in c.metadata.get("tags", [])]
        assert [c.source for c in shown if c.cell_type == "code"] == [c.source for c in kept if c.cell_type == "code"]
        assert len(shown) == len(kept), path.name
        assert "collapsed cells below" not in "".join(c.source for c in student.cells), path.name
        assert student.metadata["kernelspec"] == nb.metadata["kernelspec"]


def test_every_solution_is_reachable_from_the_student_copy(tmp_path):
    """Each pointer names solutions that show_solution finds in the instructor notebook."""
    from acgan_lib import exercises

    assert make_student.main(["--out", str(tmp_path)]) == 0
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        numbers = [m.group(1) for c in nb.cells if make_student.is_solution(c)
                   if (m := make_student.SOLUTION_NUMBER.match(c.source))]
        student = nbformat.read(tmp_path / path.name, as_version=4)
        pointers = "".join(c.source for c in student.cells if "answers-on-demand" in c.metadata.get("tags", []))
        for n in numbers:
            assert n in pointers, (path.name, n)
            assert exercises.solution_source(path.name[:2], n).lstrip().startswith(f"# Solution {n}")


# --- the learner's own folder (make lab) ---------------------------------------------------------

def test_learner_copies_are_written_once_and_never_overwritten(tmp_path, capsys):
    folder = tmp_path / "my_notebooks"
    assert make_student.main(["--learner", str(folder)]) == 0
    assert sorted(p.name for p in folder.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"
    mine = folder / NOTEBOOKS[0].name
    nb = nbformat.read(mine, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("my_work = 42"))
    nbformat.write(nb, mine)
    (folder / NOTEBOOKS[1].name).unlink()                 # a deleted notebook comes back
    capsys.readouterr()
    assert make_student.main(["--learner", str(folder)]) == 0
    out = capsys.readouterr().out
    assert nbformat.read(mine, as_version=4).cells[-1].source == "my_work = 42"
    assert (folder / NOTEBOOKS[1].name).is_file() and NOTEBOOKS[1].name in out
    assert "newer version" not in out


def test_learner_is_told_when_the_series_has_a_newer_version(tmp_path, capsys):
    folder = tmp_path / "my_notebooks"
    assert make_student.main(["--learner", str(folder)]) == 0
    mine = folder / NOTEBOOKS[2].name
    nb = nbformat.read(mine, as_version=4)
    nb.metadata[make_student.STUDENT_METADATA]["made_from"] = "an older series"
    nbformat.write(nb, mine)
    before = mine.read_bytes()
    capsys.readouterr()
    assert make_student.main(["--learner", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{mine}: kept yours; the series has a newer version" in out and "rename" in out
    assert mine.read_bytes() == before


def test_learner_folder_is_ignored_by_git():
    import subprocess

    r = subprocess.run(["git", "check-ignore", "-q", "my_notebooks/01.ipynb"], cwd=ROOT)
    assert r.returncode == 0, "add my_notebooks/ to .gitignore (the Makefile's LEARNER_DIR)"
    assert "LEARNER_DIR ?= my_notebooks" in (ROOT / "Makefile").read_text()


# --- where notebooks write ------------------------------------------------------------------------

@pytest.mark.parametrize("py", TWINS, ids=lambda p: p.name)
def test_notebooks_write_only_under_their_working_folder(py):
    """No path that leaves the folder a notebook runs in (#21 §5: `../build` was /home/build on a hub)."""
    code = "\n".join(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
    assert "../" not in code and "..\\" not in code, f"{py.name} reaches outside its working folder"
    assert "notebook_runs" not in code


def _run_setup_cell_without_acgan_lib(monkeypatch, tmp_path, source_env):
    """Execute the setup cell as if acgan_lib were not installed; returns the pip command it ran."""
    import importlib.util
    import subprocess

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "acgan_lib" else real_find_spec(name, *a))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.chdir(tmp_path)                      # outside any checkout
    if source_env is None:
        monkeypatch.delenv("ACGAN_LIB_SOURCE", raising=False)
    else:
        monkeypatch.setenv("ACGAN_LIB_SOURCE", source_env)
    exec(compile(insert_setup_cell.setup_source(), "setup_cell", "exec"), {})
    return calls


def test_setup_cell_outside_a_checkout_needs_the_source_variable(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="set ACGAN_LIB_SOURCE to the project's folder or pip URL"):
        _run_setup_cell_without_acgan_lib(monkeypatch, tmp_path, None)
    calls = _run_setup_cell_without_acgan_lib(monkeypatch, tmp_path, "git+https://example.invalid/acgan.git")
    assert len(calls) == 1 and "git+https://example.invalid/acgan.git" in calls[0]
    assert "ACGAN_LIB_SOURCE" in (ROOT / "README.md").read_text()


# --- make: progress while installing and running (#21 §10) ----------------------------------------

def test_make_run_shows_progress(tmp_path):
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("needs make")
    out = subprocess.run(["make", "-n", "run", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    steps = [line for line in out.splitlines() if "[install " in line]
    assert len(steps) == 4 and all(f"[install {k}/4]" in s for k, s in enumerate(steps, 1)), out
    lock_install = next(line for line in out.splitlines() if "pip install -r requirements.lock" in line)
    assert "--quiet" not in lock_install                     # pip lists each package as it goes
    run = next(line for line in out.splitlines() if "run_all.py" in line)
    assert "PYTHONUNBUFFERED=1" in run                       # each notebook's time shows as it finishes
    editable = next(line for line in out.splitlines() if "--no-deps -e ." in line)
    assert "install-acgan_lib.log 2>&1 || {" in editable      # setuptools' info box only when it fails


def test_unnumbered_solutions_get_a_pointer_too():
    nb = _nb(nbformat.v4.new_markdown_cell("Write the step"), _solution("def step(): ..."))
    (pointer,) = make_student.student_copy(nb, "02").cells[1:]
    assert "notebooks/02_*.ipynb" in pointer.source and "step" not in pointer.source


def test_run_all_inplace_writes_the_bytes_jupyterlab_saves(tmp_path):
    """`run_all.py --inplace` saves through jupytext's contents manager: a committed pair comes out unchanged."""
    import shutil

    shutil.copy(NB_DIR / "jupytext.toml", tmp_path / "jupytext.toml")
    path = NOTEBOOKS[2]
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(run_all.KERNELSPEC)
    run_all.save_as_jupyterlab(nb, tmp_path, path.name)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()
    assert (tmp_path / path.with_suffix(".py").name).read_bytes() == path.with_suffix(".py").read_bytes()


def test_no_widget_shows_its_repr_before_the_kernel_runs():
    """A stored widget output shows a sentence, not "HBox(children=(VBox(..." (issue 21 §9)."""
    widgets = [out for path in NOTEBOOKS for cell in nbformat.read(path, as_version=4).cells
               for out in cell.get("outputs", []) if run_all.WIDGET_MIME in out.get("data", {})]
    assert widgets, "notebook 07 stores its slider widget"
    for out in widgets:
        assert out["data"]["text/plain"] == run_all.WIDGET_PLACEHOLDER
