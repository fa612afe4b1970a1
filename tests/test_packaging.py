"""Packaging: the notebooks ship inside the package, `liverkit notebooks DIR` copies them out, kaleido is optional.

The wheel itself is built here from a copy of the sources (sdist, then the wheel from the sdist, both without build
isolation: about 3 s); scripts/check_wheel.sh installs one into a fresh environment and runs notebooks from it.
"""

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import plotly.io as pio
import pytest

from liverkit.errors import LiverkitError
from liverkit.kit import display, notebook_files
from liverkit.kit.cli import main

ROOT = Path(__file__).resolve().parents[1]
KIT = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = ["liverkit", "notebooks", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"]
"""What a build reads (pyproject.toml names README.md; LICENSE is the licence file)."""


def test_the_kit_has_its_eight_notebooks():
    assert len(KIT) == 8 and KIT[0] == "01_data.ipynb" and KIT[-1] == "08_visual_turing_test.ipynb"


# ---------------------------------------------------------------------------------------------- where the notebooks are
def test_in_a_checkout_the_notebooks_are_the_checkouts():
    assert notebook_files.notebook_dir() == ROOT / "notebooks"
    assert [p.name for p in notebook_files.list_notebooks()] == KIT


def test_without_a_checkout_the_packaged_copy_is_used(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()  # a stray notebooks/ beside the package (site-packages) is not a checkout
    monkeypatch.setattr(notebook_files, "_CHECKOUT", tmp_path)
    monkeypatch.setattr(notebook_files, "_PACKAGED", tmp_path / "liverkit" / "notebooks")
    assert notebook_files.notebook_dir() == tmp_path / "liverkit" / "notebooks"
    with pytest.raises(LiverkitError, match=r"liverkit[/\\]notebooks' does not exist; pass --notebook-dir DIR"):
        notebook_files.list_notebooks()
    (tmp_path / "pyproject.toml").write_text("")
    assert notebook_files.notebook_dir() == tmp_path / "notebooks"


# ---------------------------------------------------------------------------------------------- liverkit notebooks DIR
def test_liverkit_notebooks_copies_the_eight_and_says_what_next(tmp_path, capsys):
    dest = tmp_path / "my notebooks"
    assert main(["notebooks", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == KIT
    for name in KIT:
        assert (dest / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:8]] == ["written"] * 8
    assert lines[8].startswith(f"next: jupyter lab '{dest}'")
    assert main(["notebooks", str(dest)]) == 0  # a second copy finds them unchanged
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[:8]] == ["unchanged"] * 8


def test_liverkit_notebooks_refuses_to_overwrite_a_changed_notebook_unless_forced(tmp_path, capsys):
    assert main(["notebooks", str(tmp_path)]) == 0
    edited = tmp_path / "03_dcgan.ipynb"
    edited.write_text(edited.read_text() + " ")
    (tmp_path / "01_data.ipynb").unlink()
    capsys.readouterr()
    assert main(["notebooks", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"'{edited}' differs from the kit's copy" in err and "--force" in err and "nothing was written" in err
    assert edited.read_text().endswith(" ") and not (tmp_path / "01_data.ipynb").exists()
    assert main(["notebooks", str(tmp_path), "--force"]) == 0
    statuses = dict(line.split()[::-1] for line in capsys.readouterr().out.splitlines()[:8])
    assert statuses[str(edited)] == "replaced" and statuses[str(tmp_path / "01_data.ipynb")] == "written"
    assert edited.read_bytes() == (ROOT / "notebooks" / "03_dcgan.ipynb").read_bytes()


def test_liverkit_notebooks_into_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(LiverkitError, match=r"is a file; give a folder"):
        notebook_files.copy_notebooks(tmp_path / "f")


# ---------------------------------------------------------------------------------------------- the build
def _build(tmp_path: Path) -> tuple[Path, Path]:
    """The sdist of a copy of the sources, and the wheel built from that sdist (as ``python -m build`` does); the
    copy keeps the checkout untouched (a build writes build/ and *.egg-info/ beside its sources)."""
    source, dist = tmp_path / "src", tmp_path / "dist"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    code = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    made = subprocess.run([sys.executable, "-c", code, str(dist)], cwd=source, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-2000:]
    sdist = dist / made.stdout.split()[-1]
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-q"]
    made = subprocess.run([*pip_wheel, "-w", str(dist), str(sdist)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    [wheel] = dist.glob("liverkit-*.whl")
    return sdist, wheel


def test_the_sdist_has_the_notebooks_and_the_wheel_has_them_inside_the_package(tmp_path):
    sdist, wheel = _build(tmp_path)
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]  # liverkit-0.1.0
    assert sorted(n.split("/")[-1] for n in names if n.startswith(f"{top}/notebooks/")) == KIT
    assert f"{top}/setup.py" in names and not [n for n in names if n.startswith(f"{top}/tests/")]
    with zipfile.ZipFile(wheel) as archive:
        packaged = sorted(n for n in archive.namelist() if n.startswith("liverkit/notebooks/"))
        assert packaged == [f"liverkit/notebooks/{name}" for name in KIT]
        for name in KIT:  # byte for byte the checkout's
            assert archive.read(f"liverkit/notebooks/{name}") == (ROOT / "notebooks" / name).read_bytes()
        assert "liverkit/kit/notebook_files.py" in archive.namelist()
        assert not [n for n in archive.namelist() if n.startswith("notebooks/")]  # only inside the package


def _setup_module():
    """setup.py as a module (imported, not run: its setup() call waits for ``__name__ == "__main__"``)."""
    spec = importlib.util.spec_from_file_location("liverkit_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_step_copies_every_notebook_afresh_and_stops_without_any(tmp_path):
    setup = _setup_module()
    stale = tmp_path / "build" / "liverkit" / "notebooks" / "09_removed.ipynb"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    copied = setup.copy_notebooks(ROOT / "notebooks", tmp_path / "build" / "liverkit")
    assert [p.name for p in copied] == KIT and sorted(p.name for p in stale.parent.iterdir()) == KIT
    with pytest.raises(SystemExit, match=r"no notebooks NN_name.ipynb in .*empty'; build from a checkout"):
        setup.copy_notebooks(tmp_path / "empty", tmp_path / "build2")


# ---------------------------------------------------------------------------------------------- kaleido is optional
def test_kaleido_is_the_static_extra_and_dev_installs_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("kaleido")]
    assert project["optional-dependencies"]["static"] == ["kaleido>=1.2"]
    assert "liverkit[static]" in project["optional-dependencies"]["dev"]  # make test keeps testing the PNG copies


def test_without_kaleido_the_setup_line_says_how_to_get_png_copies_and_nothing_fails(monkeypatch):
    before = pio.renderers.default
    monkeypatch.setitem(sys.modules, "kaleido", None)  # import kaleido now fails as if it were not installed
    line = display.static_figures()
    assert line.startswith("static pictures: off: kaleido is not installed; PNG copies of figures need the static")
    assert 'pip install "liverkit[static] @ git+https://github.com/liverkit/liverkit"' in line
    assert "make setup" in line and "Chrome/Chromium" in line and "\n" not in line  # one line
    assert pio.renderers.default == before and not display.static_on()
