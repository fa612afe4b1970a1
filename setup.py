"""The build step that puts the notebooks inside the package: ``notebooks/*.ipynb`` -> ``liverkit/notebooks/``.

The notebooks live at the top of the repository, where students open them. A wheel has no repository around it, so
the build copies them into the package (``liverkit run`` then runs them and ``liverkit notebooks DIR`` copies them
out: liverkit/kit/notebook_files.py). Only the top-level copy is committed. Everything else about the package is in
pyproject.toml; setuptools runs this file as part of any build (pip wheel, pip install, python -m build).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
"""The notebooks to ship: the checkout's, or the sdist's (MANIFEST.in puts them there)."""


def copy_notebooks(source: Path, package: Path) -> list[Path]:
    """Copy ``source``'s numbered notebooks (``NN_name.ipynb``) into ``package/notebooks/``, made afresh; the copies.

    Stops the build when ``source`` holds none: a wheel without them would install fine and fail only when a user
    runs ``liverkit run``.
    """
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit(
            f"setup.py: no notebooks NN_name.ipynb in '{source}'; build from a checkout, or from an sdist that has "
            "notebooks/ (MANIFEST.in)."
        )
    target = package / "notebooks"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    return [Path(shutil.copyfile(notebook, target / notebook.name)) for notebook in notebooks]


class BuildPyWithNotebooks(build_py):
    """setuptools' ``build_py``, then the notebooks copied into the built package (not for editable installs,
    which run the checkout's notebooks/ in place)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            copy_notebooks(NOTEBOOKS, Path(self.build_lib) / "liverkit")


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithNotebooks})
