"""What a run's results depend on, as digests: the runner skips a notebook only when none of it changed, and moves
aside what was made from other inputs (:mod:`liverkit.kit.staleness`).

The digest of a run's inputs covers the data's contents (a file's bytes, a folder's every file, the volumes a NIfTI
table names), its manifest entry as resolved, the resolved profile, the versions of the packages that compute the
numbers and the library's source; each notebook's digest chains its cells onto the one before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from liverkit.kit.profiles import Profile

VERSIONED_PACKAGES = ("torch", "numpy", "scikit-learn", "umap-learn")
"""Packages whose version can change a notebook's numbers: a new version reruns every notebook."""


def run_inputs(data: str, profile: Profile, parameters: dict[str, Any]) -> dict[str, Any]:
    """The parts of a run's inputs, each recorded in the runner's state so that a change can be named.

    ``data`` is :func:`data_record` (the data's contents digest and manifest entry); ``profile``, ``parameters`` and
    ``kit`` are digests of the resolved profile, the notebooks' parameters and the library's source; ``versions``
    the versions of the packages that compute the numbers.
    """
    return {
        "data": data_record(data),
        "profile": _json_digest(profile.to_dict()),
        "parameters": _json_digest(parameters),
        "versions": package_versions(),
        "kit": library_digest(),
    }


INPUT_PARTS = {
    "data": "the data",
    "profile": "the profile's settings",
    "parameters": "the run's parameters",
    "versions": "the numerical packages' versions",
    "kit": "the liverkit code",
}
"""How a message names each part of :func:`run_inputs` that changed."""


def input_digests(notebooks: Sequence[Path], inputs: dict[str, Any]) -> dict[str, str]:
    """A digest per notebook of everything its result depends on: chained, so a change reaches every later one.

    The chain starts from the run's ``inputs`` (:func:`run_inputs`); each notebook adds its cells (sources and
    types; outputs and metadata are ignored).
    """
    chain = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode())
    digests = {}
    for notebook in notebooks:
        cells = json.loads(notebook.read_text())["cells"]
        chain.update(json.dumps([(c["cell_type"], "".join(c["source"])) for c in cells]).encode())
        digests[notebook.stem] = chain.copy().hexdigest()
    return digests


def run_inputs_digest(data: str, profile: Profile) -> str:
    """One digest of the data (contents and manifest entry), the resolved profile and the package versions."""
    record = {"data": data_record(data), "profile": profile.to_dict(), "versions": package_versions()}
    return _json_digest(record)


def _json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def data_record(data: str) -> dict[str, Any]:
    """What the data source resolves to: a LesionSet file's digest, or the manifest entry (which manifest, reader,
    path, options, augment, md5) with the digest of its file or folder (none for the built-in phantom)."""
    from liverkit.data import manifest

    if manifest.is_lesionset_file(data):
        return {"file": data, "sha256": _path_digest(Path(data))}
    entry = manifest.get_entry(data)
    content = _path_digest(entry.path) if entry.path is not None else ""
    if entry.reader == "nifti" and entry.path is not None and entry.path.is_file():
        content += _nifti_digest(entry.path, entry.options.get("root"))
    return {
        "manifest": str(manifest.manifest_path()),
        "name": entry.name,
        "reader": entry.reader,
        "path": str(entry.path),
        "options": entry.options,
        "augment": entry.augment,
        "md5": entry.md5,
        "sha256": content,
    }


def _path_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's every file (relative path and bytes, in sorted order)."""
    if path.is_file():
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(_path_digest(file).encode())
    return digest.hexdigest()


def _nifti_digest(table: Path, root: str | None) -> str:
    """The volumes and masks a NIfTI reader's table names (they live outside the table file)."""
    import pandas as pd

    rows = pd.read_csv(table, dtype=str, keep_default_na=False, skipinitialspace=True)
    base = Path(root).expanduser() if root else table.parent
    names = sorted({v.strip() for column in ("volume", "mask") if column in rows for v in rows[column] if v.strip()})
    return hashlib.sha256("".join(name + _path_digest(base / name) for name in names).encode()).hexdigest()


def package_versions() -> dict[str, str | None]:
    """The installed versions of :data:`VERSIONED_PACKAGES` (None for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def library_digest() -> str:
    """The library's Python sources: editing the kit reruns every notebook."""
    package = Path(__file__).resolve().parents[1]  # the whole liverkit package
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
