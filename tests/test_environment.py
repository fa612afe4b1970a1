"""pyproject.toml, environment.yml and binder/requirements.txt name the same packages: the library's dependencies
plus its ``notebooks`` extra (conda and Binder users work in JupyterLab)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "python-kaleido": "kaleido"}  # conda-forge package name -> PyPI name
NOTEBOOK_STACK = {"jupyterlab", "papermill", "nbformat", "nbconvert", "ipykernel"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_deps() -> set[str]:
    return {_name(r) for r in _project()["dependencies"]}


def extra(name: str) -> set[str]:
    return {_name(r) for r in _project()["optional-dependencies"][name]}


def conda_deps() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    return {CONDA_NAMES.get(n, n) for n in names}


def binder_deps() -> set[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return {_name(line) for line in lines if line.strip() and not line.startswith(("#", "-"))}


def test_same_dependencies_everywhere():
    expected = pyproject_deps() | extra("notebooks")
    assert "torch" in expected and "pooch" in expected and len(expected) >= 20
    assert conda_deps() == expected, f"environment.yml differs: {conda_deps() ^ expected}"
    assert binder_deps() == expected, f"binder/requirements.txt differs: {binder_deps() ^ expected}"


def test_the_notebook_stack_is_an_extra_not_a_dependency():
    assert extra("notebooks") == NOTEBOOK_STACK
    assert not pyproject_deps() & NOTEBOOK_STACK, "the library itself must import without the notebook stack"
    assert "liverkit[notebooks]" in _project()["optional-dependencies"]["dev"]  # the tests execute notebooks


def test_make_setup_installs_the_notebook_extra():
    install = [line for line in (ROOT / "Makefile").read_text().splitlines() if "pip install" in line and "-e" in line]
    assert install and all('-e ".[dev,notebooks]"' in line for line in install), install


def test_conda_env_installs_the_package_itself_with_the_notebook_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[notebooks]" in pip_section


def test_binder_installs_liverkit_and_uses_cpu_torch():
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    assert "download.pytorch.org/whl/cpu" in (ROOT / "binder" / "requirements.txt").read_text()
