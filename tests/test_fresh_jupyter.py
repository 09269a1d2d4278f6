"""A notebook runs in a fresh venv that has only Jupyter: its first cell installs the project.

This is what a learner meets on Colab, Binder or a course JupyterHub. The venv gets nbclient and
ipykernel only (versions from requirements.lock), ACGAN_LIB_SOURCE points at this checkout, and
notebook 01 (with the setup cell in front, as notebooks/insert_setup_cell.py puts it) is executed
from a folder outside the checkout. The setup cell must install acgan_lib and its dependencies
(pinned by the lock through PIP_CONSTRAINT; pip's cache keeps it to a minute or two) and the
notebook must then run. Marked ``slow_install``: `make test` runs it, `make test-fast` does not.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
NOTEBOOK = next((ROOT / "notebooks").glob("01_*.py"))
JUPYTER_ONLY = ["nbclient", "ipykernel"]
sys.path.insert(0, str(ROOT / "notebooks"))
from insert_setup_cell import setup_source, with_setup_cell  # noqa: E402

DRIVER = """
import sys, nbformat
from nbclient import NotebookClient
path, cwd = sys.argv[1:3]
nb = nbformat.read(path, as_version=4)
try:
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
finally:
    nbformat.write(nb, path)
"""


def lock_pins() -> dict[str, str]:
    """name -> version of every package pinned in requirements.lock (its hash lines left out)."""
    return dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", LOCK.read_text(), re.M))


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow_install
def test_setup_cell_installs_the_project_in_a_jupyter_only_venv(tmp_path):
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    # The lock's versions as plain constraints: the lock itself carries hashes, and a constraints
    # file with hashes puts pip into --require-hashes mode for every package it installs.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in lock_pins().items()))
    env.update(PIP_CONSTRAINT=str(constraints), ACGAN_LIB_SOURCE=str(ROOT), ACGAN_SMOKE="1", ACGAN_DATA="bundled",
               MPLBACKEND="Agg", JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", venv])
    _run([py, "-m", "pip", "install", "--quiet", *JUPYTER_ONLY], env=env)
    probe = "import importlib.util as u; print(*(u.find_spec(m) is None for m in ('acgan_lib', 'jax')))"
    assert _run([py, "-c", probe], env=env, cwd=work).stdout.split() == ["True", "True"], "venv is not fresh"
    t_venv = time.perf_counter() - t0

    nb_path = work / NOTEBOOK.with_suffix(".ipynb").name
    nbformat.write(with_setup_cell(jupytext.read(NOTEBOOK)), nb_path)
    r = subprocess.run([str(py), "-c", DRIVER, str(nb_path), str(work)], env=env, capture_output=True,
                       text=True, timeout=1800)
    nb = nbformat.read(nb_path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert r.returncode == 0 and not errors, f"{r.stderr[-3000:]}\n{errors[:1]}"

    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source == setup_source()
    printed = "".join(o.get("text", "") for o in setup.outputs if o.output_type == "stream")
    assert f"installing acgan_lib from {ROOT}" in printed
    assert _run([py, "-c", probe], env=env, cwd=work).stdout.split() == ["False", "False"]
    # the dependencies came from the lock file
    pins = lock_pins()
    versions = _run([py, "-c", "import jax, flax; print(jax.__version__, flax.__version__)"], env=env, cwd=work)
    assert versions.stdout.split() == [pins["jax"], pins["flax"]]
    print(f"fresh venv with Jupyter only: {t_venv:.0f} s; setup cell install + notebook: "
          f"{time.perf_counter() - t0 - t_venv:.0f} s")
