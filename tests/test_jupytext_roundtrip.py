"""Opening, running and saving a notebook in the JupyterLab that `make lab` / `make lab-instructor`
start leaves `git status` clean, and JupyterLab opens a notebook whose .ipynb is newer than its .py
twin (#15, #21 §1-2).

The servers are started with the command lines `make -n lab` and `make -n lab-instructor` print
(plus a port and a token through LAB_ARGS), in a clean clone of the current tree, and driven through
their contents API exactly as JupyterLab's front end does: GET the notebook, PUT it back with the
kernel details a running kernel adds. When a test here fails, run `python notebooks/insert_setup_cell.py`
(it rewrites every twin in the form JupyterLab saves) and `python notebooks/run_all.py --inplace`.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

from conftest import clean_clone

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# What JupyterLab records for the kernel it ran, on a machine whose Python differs from the one that
# executed the committed notebooks (only the patch version: the same venv's major.minor).
LAB_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SERVER_START_S = 90      # bound on the server's start-up (seconds), generous for a loaded 2-core machine


def lab_language_info() -> dict:
    """language_info as a running ipykernel reports it, with another patch version than the committed one."""
    major, minor, _ = platform.python_version_tuple()
    return {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
            "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3", "version": f"{major}.{minor}.99"}


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_twin_written_from_the_notebook_is_unchanged(ipynb):
    """jupytext's writer, given the .ipynb as a kernel of this machine saves it, reproduces the twin."""
    nb = nbformat.read(ipynb, as_version=4)
    nb.metadata["kernelspec"] = dict(LAB_KERNELSPEC)
    nb.metadata.setdefault("jupytext", {})["text_representation"] = {
        "extension": ".py", "format_name": "percent", "format_version": "1.3",
        "jupytext_version": jupytext.__version__}
    text = jupytext.writes(nb, fmt="py:percent", config=load_jupytext_config(str(ipynb.parent)))
    assert text == ipynb.with_suffix(".py").read_text()


def test_jupytext_config_is_found_from_the_notebooks_folder():
    """JupyterLab looks for jupytext.toml from the notebook's folder up to the server's root only."""
    config = load_jupytext_config(str(ROOT / "notebooks"))
    assert config is not None and config.formats in ("ipynb,py:percent", ["ipynb,py:percent"])
    assert config.outdated_text_notebook_margin == float("inf")
    assert (ROOT / "notebooks" / "jupytext.toml").is_file() and not (ROOT / "jupytext.toml").exists()


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_records_the_metadata_filter_jupyterlab_adds_on_save(ipynb):
    """JupyterLab's jupytext writes the config's notebook_metadata_filter into the .ipynb when it saves:
    a committed notebook without it changes on the first save (the fast form of the server test below)."""
    config = load_jupytext_config(str(ipynb.parent))
    meta = nbformat.read(ipynb, as_version=4).metadata
    assert meta["jupytext"].get("notebook_metadata_filter") == config.notebook_metadata_filter, \
        "rebuild it with notebooks/run_all.py --inplace (it records the filter)"


# ----------------------------------------------------------------------------- through the server
needs_lab = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs make and a git checkout")




def _git_status(repo: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout


def make_commands(repo: Path, target: str, lab_args: str = "") -> list[list[str]]:
    """The commands `make <target>` runs (from `make -n`), the venv's programs replaced by this Python's."""
    out = subprocess.run(["make", "-n", target, f"LAB_ARGS={lab_args}"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    cmds = []
    for line in out.splitlines():
        if not line.startswith((".venv/bin/jupyter lab", ".venv/bin/python notebooks/make_student.py")):
            continue
        argv = shlex.split(line)
        if argv[:2] == [".venv/bin/jupyter", "lab"]:
            cmds.append([sys.executable, "-m", "jupyterlab", *argv[2:]])
        elif argv[:2] == [".venv/bin/python", "notebooks/make_student.py"]:
            cmds.append([sys.executable, *argv[1:]])
    return cmds


class Lab:
    """A JupyterLab server started in ``repo`` as `make <target>` starts it, with a contents API client."""

    def __init__(self, repo: Path, target: str, tmp: Path):
        self.repo, self.token = repo, secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        args = f"--no-browser --ServerApp.ip=127.0.0.1 --port={self.port} --ServerApp.port_retries=0 " \
               f"--IdentityProvider.token={self.token}"
        self.commands = make_commands(repo, target, args)
        self.env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_DATA_DIR": str(tmp / "data"),
                    "JUPYTER_CONFIG_DIR": str(tmp / "config"), "PYTHONPATH": str(repo)}
        self.log = tmp / f"{target}.log"

    def __enter__(self) -> "Lab":
        *before, server = self.commands
        for cmd in before:
            subprocess.run(cmd, cwd=self.repo, env=self.env, check=True, capture_output=True, timeout=120)
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(server, cwd=self.repo, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                self.request("GET", "")
                return self
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    pytest.fail(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/contents/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def open(self, path: str) -> dict:
        """What JupyterLab does when a notebook is opened: GET it with its content."""
        try:
            return self.request("GET", f"{path}?type=notebook&content=1")
        except urllib.error.HTTPError as e:
            pytest.fail(f"JupyterLab cannot open {path}: {e.code} {e.read()[:1500].decode(errors='replace')}")

    def save(self, path: str, notebook: dict) -> None:
        """What JupyterLab does on Ctrl+S or autosave, after a kernel of this machine ran."""
        notebook = copy.deepcopy(notebook)
        notebook["metadata"]["kernelspec"] = dict(LAB_KERNELSPEC)
        notebook["metadata"]["language_info"] = lab_language_info()
        self.request("PUT", path, {"type": "notebook", "format": "json", "content": notebook})


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return clean_clone(ROOT, tmp_path_factory.mktemp("lab") / "repo")


@needs_lab
def test_make_lab_adds_allow_root_as_root_and_passes_lab_args():
    for target in ("lab", "lab-instructor"):
        (server,) = [c for c in make_commands(ROOT, target, "--port 8899") if "jupyterlab" in c]
        assert ("--allow-root" in server) == (os.geteuid() == 0), server
        assert server[-3:-1] == ["--port", "8899"], server
        assert "--config=notebooks/jupyter_lab_config.py" in server


@needs_lab
def test_instructor_lab_open_and_save_leaves_git_clean(clone, tmp_path):
    """Every notebook, opened and saved (with this machine's kernel details), leaves both files as committed."""
    with Lab(clone, "lab-instructor", tmp_path) as lab:
        for ipynb in NOTEBOOKS:
            lab.save(ipynb.name, lab.open(ipynb.name)["content"])
    assert _git_status(clone) == "", f"saving in JupyterLab changed tracked files:\n{_git_status(clone)}"


@needs_lab
def test_instructor_lab_opens_an_ipynb_newer_than_its_twin(clone, tmp_path):
    """As after `git checkout -- X.ipynb` or a pull that changed only the .ipynb: the twin's inputs win."""
    nb = NOTEBOOKS[0]
    py = clone / "notebooks" / nb.with_suffix(".py").name
    twin_text = py.read_text()
    lines = twin_text.splitlines(keepends=True)
    title = next(i for i, line in enumerate(lines) if line.startswith("# # "))
    lines[title] = lines[title].rstrip("\n") + " (edited in the twin)\n"
    py.write_text("".join(lines))
    old = time.time() - 3600
    os.utime(py, (old, old))                                       # the .ipynb is an hour newer
    try:
        with Lab(clone, "lab-instructor", tmp_path) as lab:
            content = lab.open(nb.name)["content"]
        titles = [c["source"] for c in content["cells"] if c["cell_type"] == "markdown"][:1]
        assert titles and titles[0].splitlines()[0].endswith("(edited in the twin)"), titles
    finally:
        py.write_text(twin_text)
    assert _git_status(clone) == ""


@needs_lab
def test_learner_lab_runs_student_copies_and_keeps_git_clean(clone, tmp_path):
    """`make lab` serves the learner's own student copies: no solution in sight, work saved, git clean,
    and a second `make lab` keeps the learner's edits."""
    name = NOTEBOOKS[3].name
    with Lab(clone, "lab", tmp_path) as lab:
        listing = {m["name"] for m in lab.request("GET", "")["content"]}
        assert {p.name for p in NOTEBOOKS} <= listing, listing
        content = lab.open(name)["content"]
        assert not [c for c in content["cells"] if "solution" in c["metadata"].get("tags", [])]
        content["cells"].append(nbformat.v4.new_code_cell("my_answer = 0.0993", execution_count=1))
        lab.save(name, content)
    assert _git_status(clone) == "", f"the learner's work shows up in git:\n{_git_status(clone)}"
    with Lab(clone, "lab", tmp_path) as lab:                        # make lab again: nothing overwritten
        sources = [c["source"] for c in lab.open(name)["content"]["cells"]]
    assert sources[-1] == "my_answer = 0.0993"
    assert not list((clone / "my_notebooks").glob("*.py")), "a student copy got a .py twin"
