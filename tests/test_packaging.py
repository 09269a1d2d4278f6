import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = set(map(_norm, py["project"]["dependencies"] + py["project"]["optional-dependencies"]["notebooks"]
                     + py["project"]["optional-dependencies"]["test"]))
    text = (ROOT / "environment.yml").read_text()
    pip = {_norm(line.strip()[2:]) for line in text.splitlines()
           if line.strip().startswith("- ") and re.match(r"-\s+[A-Za-z]", line.strip()) and ">" in line}
    assert pip == wanted
    assert "python=3.11" in text


def test_torch_is_not_a_library_dependency():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any("torch" in d for d in py["project"]["dependencies"])
    for path in (ROOT / "acgan_lib").rglob("*.py"):
        assert "import torch" not in path.read_text(), path


def test_readme_commands_exist_in_makefile():
    readme = (ROOT / "README.md").read_text()
    make = (ROOT / "Makefile").read_text()
    assert "make run" in readme and "make test" in readme
    assert re.search(r"^run:", make, re.M) and re.search(r"^test:", make, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
