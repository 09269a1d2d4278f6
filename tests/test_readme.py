"""The README's command-line examples run as written, in order, from a clean clone (#15).

The block after the `readme-cli-examples` marker is read from README.md, so the test and the README
cannot drift apart. It runs in a clone of the current tree (tracked files only, uncommitted edits
included), with two changes for speed only: each `train` gets `--max-steps` (a few iterations;
the second continues the first) and `evaluate` judges fewer digits. Afterwards `git status` must
be clean: every output lands in the ignored `runs/` folder.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_clone

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-cli-examples"
STEPS_PER_TRAIN = 2
EVAL_PER_CLASS = 10


def readme_cli_examples() -> list[list[str]]:
    """The commands (argv lists, comments dropped) of the README's tested command-line block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(MARKER) + r".*?-->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README lost its tested command-line block"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def test_readme_examples_are_commands_of_this_project():
    cmds = readme_cli_examples()
    assert len(cmds) >= 5 and all(c[:3] == ["python", "-m", "acgan_lib"] for c in cmds)
    ema_exports = [c for c in cmds if c[3] == "export" and "--ema" in c]
    for c in ema_exports:  # `export --ema` needs a run trained with --ema-decay
        run = c[c.index("--checkpoint") + 1]
        trains = [t for t in cmds if t[3] == "train" and t[t.index("--out") + 1] == run]
        assert trains and all("--ema-decay" in t for t in trains), c




def test_readme_cli_examples_run_from_a_clean_clone(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    clone = clean_clone(ROOT, tmp_path / "clone")
    env = {**os.environ, "PYTHONPATH": str(clone), "MPLBACKEND": "Agg", "ACGAN_DATA_DIR": str(tmp_path / "mnist")}
    steps = 0
    for argv in readme_cli_examples():
        cmd = [sys.executable, *argv[1:]]
        if argv[3] == "train":
            steps += STEPS_PER_TRAIN
            cmd += ["--max-steps", str(steps), "--no-progress"]
        elif argv[3] == "evaluate":
            cmd += ["--per-class", str(EVAL_PER_CLASS)]
        r = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"`{shlex.join(argv)}` failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert (clone / "runs").is_dir()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the README's examples left files outside runs/:\n{status}"


def test_readme_cli_section_says_which_python_and_how_long():
    """The examples need the venv `make` installs, and each `train` runs long enough to warn about (#21 §6)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Command line"):text.index(MARKER)]
    assert "source .venv/bin/activate" in section and ".venv/bin/python" in section
    trains = [c for c in readme_cli_examples() if c[3] == "train"]
    assert trains and "1,000 iterations" in section and "minutes" in section and "--max-steps" in section
    assert all(c[c.index("--epochs") + 1] in ("20", "40") for c in trains), "update the times the README states"
