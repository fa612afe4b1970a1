"""The kit's notebooks as files: where they are, and copying them out (``liverkit notebooks DIR``).

In a checkout (``make setup``, an editable install) the notebooks are the repository's ``notebooks/`` folder, the
one students open. An installed wheel has no repository around it, so the build (``setup.py``) copies them into the
package as ``liverkit/notebooks/``; :func:`notebook_dir` finds whichever this liverkit has, ``liverkit run`` runs
them and :func:`copy_notebooks` copies them into a folder of the user's, to open in JupyterLab.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from liverkit.errors import LiverkitError
from liverkit.io import atomic_write

NOTEBOOK_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
"""A numbered notebook's file name, ``NN_name.ipynb``; the number gives the story order."""

_CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository root when liverkit runs from a checkout (it holds pyproject.toml and notebooks/)."""
_PACKAGED = Path(__file__).resolve().parents[1] / "notebooks"
"""The copy the build puts inside the package (setup.py); absent in a checkout."""


def notebook_dir() -> Path:
    """The folder of the kit's notebooks: the checkout's ``notebooks/`` when liverkit runs from a checkout, else the
    copy inside the installed package (which may be missing from a broken install: :func:`list_notebooks` says so).

    The checkout is recognised by its ``pyproject.toml`` beside ``notebooks/``, so a stray ``notebooks`` folder next
    to an installed package (in site-packages) is never taken for it.
    """
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "notebooks").is_dir():
        return _CHECKOUT / "notebooks"
    return _PACKAGED


def list_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in ``folder`` (default: :func:`notebook_dir`), in story order."""
    folder = Path(folder) if folder else notebook_dir()
    if not folder.is_dir():
        raise LiverkitError(
            f"notebook folder '{folder}' does not exist; pass --notebook-dir DIR (a folder of NN_name.ipynb "
            "notebooks), or install liverkit from a checkout (make setup) or a wheel built from one, which carry them."
        )
    return sorted(p for p in folder.iterdir() if NOTEBOOK_NAME.match(p.name))


def copy_notebooks(dest: str | os.PathLike, force: bool = False) -> list[tuple[Path, str]]:
    """Copy the kit's notebooks into ``dest`` (made if missing); per notebook its copy and what happened to it:
    ``"written"`` (new), ``"unchanged"`` (already there, same bytes) or ``"replaced"`` (``force`` only).

    A notebook already in ``dest`` with other contents (a student's edits or outputs) is never overwritten without
    ``force``: a LiverkitError names it, before any file is written.
    """
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise LiverkitError(f"'{dest}' is a file; give a folder to copy the notebooks into.")
    sources = list_notebooks()
    if not sources:
        raise LiverkitError(f"no notebooks in '{notebook_dir()}'; this liverkit install is incomplete: reinstall it.")
    changed = [dest / s.name for s in sources if (dest / s.name).exists() and not _same_bytes(s, dest / s.name)]
    if changed and not force:
        names = ", ".join(f"'{p}'" for p in changed)
        raise LiverkitError(
            f"{names} differ{'s' if len(changed) == 1 else ''} from the kit's copy (your edits or outputs); nothing "
            "was written. Keep your work and choose another folder, or pass --force to replace "
            f"{'it' if len(changed) == 1 else 'them'}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for source in sources:
        target = dest / source.name
        if target.exists() and _same_bytes(source, target):
            done.append((target, "unchanged"))
            continue
        done.append((target, "replaced" if target.exists() else "written"))
        atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))
    return done


def _same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()
