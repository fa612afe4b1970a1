"""Binder's lock (binder/requirements.txt), the conda environment (environment.yml) and pyproject.toml agree.

Both files pin (==) every direct dependency (pyproject's dependencies plus its ``notebooks`` extra: conda and Binder
users work in JupyterLab) to the same version, each pin satisfies pyproject's lower bound, and Binder gets the CPU
builds of torch and torchvision. The pins are the versions that the tests passed with, so that a rebuild next term
installs the same environment. A failure names the package and the file, and says what to do.
"""

import re
import tomllib
from pathlib import Path

import nbformat
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "binder" / "requirements.txt"
CONDA_ENV = ROOT / "environment.yml"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_BUILDS = {"torch", "torchvision"}
CUDA_ONLY = re.compile(r"nvidia-|cuda-|triton$")  # packages that only PyPI's CUDA build of torch needs
CONDA_NAMES = {"pytorch": "torch", "python-kaleido": "kaleido"}  # conda-forge package name -> PyPI name
NOTEBOOK_STACK = {"jupyterlab", "papermill", "nbformat", "nbconvert", "ipykernel"}
EXACT_PIN = r"([A-Za-z0-9._-]+)==([0-9][A-Za-z0-9.+!]*)"  # name==version, no wildcard
REMAKE_LOCK = "remake the lock with scripts/lock_binder.sh (after make test passed)"
COPY_TO_CONDA = "copy binder/requirements.txt's version into environment.yml"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def direct_requirements() -> dict[str, Requirement]:
    """pyproject's dependencies plus its ``notebooks`` extra, by canonical name."""
    listed = _project()["dependencies"] + _project()["optional-dependencies"]["notebooks"]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in listed}


def extra(name: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in _project()["optional-dependencies"][name]}


def lock_lines() -> list[str]:
    """The requirement lines of Binder's lock, comments and pip options (``--extra-index-url``) left out."""
    lines = (line.split("#", 1)[0].strip() for line in LOCK.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def exact_pins(entries: list[str], names: dict[str, str] | None = None) -> dict[str, Version]:
    """{canonical PyPI name: version} of the ``name==version`` entries; the others fail the exact-pin tests below."""
    pins = {}
    for entry in entries:
        pinned = re.fullmatch(EXACT_PIN, entry)
        if pinned:
            name = (names or {}).get(pinned[1], pinned[1])
            pins[canonicalize_name(name)] = Version(pinned[2])
    return pins


def lock_pins() -> dict[str, Version]:
    """{canonical name: pinned version} of Binder's lock."""
    return exact_pins(lock_lines())


def conda_entries() -> list[str]:
    """environment.yml's conda packages (not python, pip or the pip section)."""
    entries = [d for d in yaml.safe_load(CONDA_ENV.read_text())["dependencies"] if isinstance(d, str)]
    return [e for e in entries if re.split(r"[=<>! ]", e, maxsplit=1)[0] not in {"python", "pip"}]


def conda_pins() -> dict[str, Version]:
    """{canonical PyPI name: pinned version} of environment.yml, conda-forge names translated."""
    return exact_pins(conda_entries(), CONDA_NAMES)


def test_every_line_of_the_lock_is_an_exact_pin():
    loose = [line for line in lock_lines() if not re.fullmatch(EXACT_PIN, line)]
    assert not loose, f"binder/requirements.txt: {loose} not pinned as name==version: {REMAKE_LOCK}"


def test_every_entry_of_the_conda_environment_is_an_exact_pin():
    loose = [e for e in conda_entries() if not re.fullmatch(EXACT_PIN, e)]
    assert not loose, f"environment.yml: {loose} not pinned as name==version: {COPY_TO_CONDA}"


def test_every_direct_dependency_is_pinned_in_the_lock():
    direct = set(direct_requirements())
    assert {"torch", "pooch", "jupyterlab"} <= direct and len(direct) >= 20, sorted(direct)
    missing = sorted(direct - set(lock_pins()))
    assert not missing, f"binder/requirements.txt pins no {missing} (pyproject.toml names them): {REMAKE_LOCK}"


def test_the_conda_environment_pins_exactly_the_direct_dependencies():
    direct, conda = set(direct_requirements()), set(conda_pins())
    missing = sorted(direct - conda)
    assert not missing, f"environment.yml pins no {missing} (pyproject.toml names them): {COPY_TO_CONDA}"
    stale = sorted(conda - direct)
    assert not stale, f"environment.yml pins {stale}, which pyproject.toml does not name (dependencies, notebooks)"


def test_the_lock_and_the_conda_environment_pin_the_same_versions():
    lock = lock_pins()
    differ = {
        name: f"binder/requirements.txt {lock[name]}, environment.yml {version}"
        for name, version in conda_pins().items()
        if name in lock and Version(lock[name].public) != version  # torch 2.14.1+cpu is conda's pytorch 2.14.1
    }
    assert not differ, f"pins differ: {differ}: {COPY_TO_CONDA} (the lock holds the versions the tests passed with)"


def test_every_pin_satisfies_pyprojects_lower_bound():
    pins = {"binder/requirements.txt": lock_pins(), "environment.yml": conda_pins()}
    too_old = [
        f"{file}: {name}=={pinned[name]} is outside pyproject.toml's {requirement}"
        for file, pinned in pins.items()
        for name, requirement in direct_requirements().items()
        if name in pinned and not requirement.specifier.contains(pinned[name], prereleases=True)
    ]
    assert not too_old, f"{too_old}: {REMAKE_LOCK} from a .venv that satisfies pyproject.toml, then {COPY_TO_CONDA}"


def test_binder_gets_the_cpu_builds_of_torch():
    lines = [line.strip() for line in LOCK.read_text().splitlines()]
    assert f"--extra-index-url {CPU_INDEX}" in lines, f"binder/requirements.txt has no {CPU_INDEX}: {REMAKE_LOCK}"
    pins = lock_pins()
    not_cpu = {name: str(pins.get(name)) for name in CPU_BUILDS if pins.get(name) is None or pins[name].local != "cpu"}
    assert not not_cpu, f"binder/requirements.txt: {not_cpu} must be X+cpu (not PyPI's CUDA build): {REMAKE_LOCK}"


def test_binder_gets_no_cuda_packages():
    cuda = sorted(name for name in lock_pins() if CUDA_ONLY.match(name))
    assert not cuda, f"binder/requirements.txt pins {cuda}, which only the CUDA build of torch needs: {REMAKE_LOCK}"


def test_the_lock_is_the_whole_closure():
    """Every package that the lock says another one needs ('# via ...') is pinned too, and there is more than the
    direct dependencies: a hand-edited list of direct pins would leave the transitive ones free to drift."""
    pins = lock_pins()
    assert len(pins) > 2 * len(direct_requirements()), f"binder/requirements.txt pins only {len(pins)}: {REMAKE_LOCK}"
    needed = set()  # the names after "# via", e.g. "jupyter-server, liverkit (pyproject.toml)"
    for line in LOCK.read_text().splitlines():
        if not line.startswith("#") and "# via " in line:
            needed |= {canonicalize_name(n.split()[0]) for n in line.split("# via ", 1)[1].split(",")}
    unpinned = sorted(needed - set(pins) - {"liverkit"})
    assert not unpinned, f"binder/requirements.txt needs {unpinned} but pins none: {REMAKE_LOCK}"
    transitive = {"jinja2", "sympy", "jupyter-server", "traitlets"}  # torch's and jupyterlab's own dependencies
    assert transitive <= set(pins), f"binder/requirements.txt pins no {sorted(transitive - set(pins))}: {REMAKE_LOCK}"


def test_the_same_python_everywhere():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    dependencies = yaml.safe_load(CONDA_ENV.read_text())["dependencies"]
    conda_python = next(d for d in dependencies if str(d).startswith("python="))
    assert runtime == "python-3.11" and conda_python == "python=3.11", (
        f"binder/runtime.txt says {runtime!r}, environment.yml {conda_python!r}: both 3.11, as the lock was made for"
    )
    assert "Python 3.11." in LOCK.read_text(), f"binder/requirements.txt was not made for Python 3.11: {REMAKE_LOCK}"


def test_the_notebook_stack_is_an_extra_not_a_dependency():
    assert extra("notebooks") == NOTEBOOK_STACK
    dependencies = {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}
    assert not dependencies & NOTEBOOK_STACK, "the library itself must import without the notebook stack"
    assert "liverkit[notebooks]" in _project()["optional-dependencies"]["dev"]  # the tests execute notebooks


def test_make_setup_installs_the_notebook_extra():
    install = [line for line in (ROOT / "Makefile").read_text().splitlines() if "pip install" in line and "-e" in line]
    assert install and all('-e ".[dev,notebooks]"' in line for line in install), install


def test_conda_env_installs_the_package_itself_with_the_notebook_extra():
    env = yaml.safe_load(CONDA_ENV.read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[notebooks]" in pip_section


def test_binder_installs_liverkit_without_touching_the_pins():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build, "binder/postBuild must install liverkit with --no-deps"


def test_binder_has_the_kernel_that_the_notebooks_ask_for():
    """On Binder the standard kernel python3 is the environment's Python; any other name must be registered."""
    kernels = {nbformat.read(p, as_version=4).metadata.kernelspec.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    post_build = (ROOT / "binder" / "postBuild").read_text()
    registered = set(re.findall(r"^[^#\n]*ipykernel install .*--name[ =](\S+)", post_build, flags=re.MULTILINE))
    assert kernels - {"python3"} == registered, (
        f"the notebooks ask for kernels {sorted(kernels)}, binder/postBuild registers {sorted(registered)}: "
        "declare python3 in the notebooks, or register their kernel in binder/postBuild"
    )
