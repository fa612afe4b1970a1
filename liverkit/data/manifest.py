"""The data manifest: the data sets the kit knows by name, and ``load(name)`` to get one as a LesionSet.

The manifest in use is the file named by ``$LIVERKIT_MANIFEST``, else the repository's top-level
``data_manifest.yaml`` (in a checkout), else the copy shipped inside the package
(``liverkit/data/data_manifest.yaml``; the top-level file is a link to it), so named data sets work from an
installed kit too. It lists entries like::

    datasets:
      phantom:                      # built in: made on the fly, no file
        reader: phantom
        options: {difficulty: 0.5}
      organamnist-64:               # public: downloaded only when asked (download=True)
        reader: medmnist
        path: downloads/organamnist_64.npz
        url: https://...
        md5: 2dcccc29...
      my-lesions:                   # local: a folder of ROIs with labels.csv
        reader: folder
        path: /data/my-lesions

Relative paths are resolved against the data root: ``$LIVERKIT_DATA`` when set, else the ``data/`` folder
beside the manifest, except for the packaged manifest, whose default data root is ``~/.liverkit/data`` (see
:func:`data_root`). A relative path may not leave the data root (``../../etc``); give an absolute path for data
elsewhere. The phantom is always available, with or without a manifest file.

Downloads (:func:`fetch`) go through pooch: a progress bar, :data:`DOWNLOAD_RETRIES` retries, and the entry's MD5
checked before the file is saved under its name. Every failure (no internet, a server error, a checksum mismatch)
is a LiverkitError naming the address and the file, and saying how to place the file by hand.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import yaml

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.io import path_inside, reading

READERS = ("phantom", "folder", "medmnist", "nifti", "lesionset")
"""Reader names a manifest entry may use."""

_REPO_MANIFEST = Path(__file__).resolve().parents[2] / "data_manifest.yaml"
_PACKAGED_MANIFEST = Path(__file__).resolve().parent / "data_manifest.yaml"
PACKAGED_DATA_ROOT = Path("~/.liverkit/data")
"""Default data root for the packaged manifest (outside a checkout), expanded at use; made only by a fetch."""
_BUILTIN_PHANTOM = {"reader": "phantom", "description": "The built-in CT lesion phantom (paper class counts)."}


@dataclass(frozen=True)
class DataEntry:
    """One manifest entry. ``path`` is already resolved against the data root."""

    name: str
    reader: str
    description: str = ""
    path: Path | None = None
    url: str | None = None
    md5: str | None = None
    licence: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    """Classic-augmentation settings for this data set (``AugmentConfig`` fields, e.g. ``rot_range_deg: [0, 15]``,
    ``n_flip: 0``): for data whose orientation or laterality is a cue. Applied by ``config.resolve_profile``."""


def manifest_path() -> Path | None:
    """The manifest in use: ``$LIVERKIT_MANIFEST``, else the checkout's ``data_manifest.yaml``, else the packaged."""
    env = os.environ.get("LIVERKIT_MANIFEST")
    if env:
        path = Path(env)
        if not path.is_file():
            raise LiverkitError(f"$LIVERKIT_MANIFEST points to '{path}', which does not exist; fix or unset it.")
        return path
    for path in (_REPO_MANIFEST, _PACKAGED_MANIFEST):
        if path.is_file():
            return path
    return None


def data_root(manifest: Path | None) -> Path:
    """Where a manifest's relative paths point: ``$LIVERKIT_DATA``, else ``data/`` beside the manifest.

    The packaged manifest sits inside the installed package, which is no place for data: its default root is
    ``~/.liverkit/data`` (:data:`PACKAGED_DATA_ROOT`).
    """
    env = os.environ.get("LIVERKIT_DATA")
    if env:
        return Path(env).expanduser()
    if manifest is None:
        return Path("data")
    if Path(manifest).resolve() == _PACKAGED_MANIFEST:  # in a checkout, the top-level file links to it
        return _REPO_MANIFEST.parent / "data" if _REPO_MANIFEST.is_file() else PACKAGED_DATA_ROOT.expanduser()
    return Path(manifest).parent / "data"


def read_manifest(path: str | os.PathLike | None = None) -> dict[str, DataEntry]:
    """Parse a manifest file into entries by name (the built-in phantom is always included).

    Args:
        path: the YAML file; default :func:`manifest_path`.
    """
    path = Path(path) if path is not None else manifest_path()
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(path)
    root = data_root(path)
    entries = {"phantom": _entry("phantom", _BUILTIN_PHANTOM, root, path)}
    for name, spec in (raw.get("datasets") or {}).items():
        entries[str(name)] = _entry(str(name), spec, root, path)
    return entries


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in seen:
                raise LiverkitError(
                    f"manifest '{self.name}' line {line}: key '{key}' is given twice (first on line {seen[key]}); "
                    "YAML would silently keep only the last one. Remove or rename one of them."
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    with reading(path, "the data manifest", "fix or replace the file") as checked, open(checked, encoding="utf-8") as f:
        try:
            raw = yaml.load(f, Loader=_UniqueKeyLoader) or {}  # a file stream: YAML's messages name the file
        except yaml.YAMLError as exc:
            raise LiverkitError(f"manifest '{path}' is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets", {}), dict):
        raise LiverkitError(f"manifest '{path}' must be a mapping with a 'datasets' mapping of entries.")
    return raw


def _entry(name: str, spec: Any, data_root: Path, source: Path | None) -> DataEntry:
    """Check one entry's fields and resolve its path."""
    where = f"manifest '{source}', entry '{name}'"
    if not isinstance(spec, dict):
        raise LiverkitError(f"{where}: an entry must be a mapping with at least 'reader'.")
    known = {"reader", "description", "path", "url", "md5", "licence", "options", "size_mb", "augment"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise LiverkitError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(known)}.")
    _check_field_types(spec, where)
    reader = spec.get("reader")
    if reader not in READERS:
        raise LiverkitError(f"{where}: reader {reader!r} is not one of {list(READERS)}.")
    if reader != "phantom" and not spec.get("path"):
        raise LiverkitError(f"{where}: reader '{reader}' needs a 'path' (file or folder of the data).")
    options = spec.get("options") or {}
    names = options.get("class_names")
    if isinstance(names, list) and not all(isinstance(n, str) for n in names):
        odd = [n for n in names if not isinstance(n, str)]
        raise LiverkitError(
            f"{where}: class_names {odd} are not text (YAML reads no/yes/on/off as booleans and 1/2 as numbers); "
            "put every class name in quotes, e.g. class_names: ['no', 'yes']."
        )
    augment = spec.get("augment") or {}
    path = Path(os.path.expanduser(spec["path"])) if spec.get("path") else None
    if path is not None and not path.is_absolute():
        advice = "relative paths must stay inside it; give an absolute path for data stored elsewhere"
        path_inside(data_root.absolute(), path, where, advice, root_name="data root")  # absolute: a root of '.' too
        path = data_root / path
    return DataEntry(
        name=name,
        reader=reader,
        description=spec.get("description") or "",
        path=path,
        url=spec.get("url"),
        md5=spec.get("md5"),
        licence=spec.get("licence"),
        options=dict(options),
        augment=dict(augment),
    )


_TEXT_FIELDS = ("reader", "description", "path", "url", "licence")
"""Entry fields that must be text (an empty field, YAML's null, counts as absent)."""

_MAPPING_FIELDS = {
    "options": "a mapping of reader keyword arguments, e.g. options: {class_names: [cyst, metastasis]}",
    "augment": "a mapping of AugmentConfig fields, e.g. augment: {n_flip: 0}",
}
"""Entry fields that must be mappings, and what the message shows for them."""

_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def _check_field_types(spec: dict[str, Any], where: str) -> None:
    """Refuse entry fields of the wrong type, naming the field and the fix.

    YAML types unquoted values itself (``md5: 0123...`` becomes a number, ``yes`` a boolean, ``2024-01-01`` a
    date); a field of the wrong type would otherwise be misread or silently ignored (an unchecked download).
    """
    for key in _TEXT_FIELDS:
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise LiverkitError(
                f"{where}: field '{key}' must be text, but YAML read {value!r} as {_yaml_kind(value)}; "
                f'put the value in quotes, e.g. {key}: "...".'
            )
    for key, form in _MAPPING_FIELDS.items():
        value = spec.get(key)
        if value is not None and not isinstance(value, dict):
            raise LiverkitError(f"{where}: '{key}' must be {form}; got {_yaml_kind(value)} {value!r}.")
    _check_md5(spec.get("md5"), where)
    size = spec.get("size_mb")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int | float) or not math.isfinite(size) or size < 0
    ):
        raise LiverkitError(
            f"{where}: field 'size_mb' must be a number of megabytes >= 0 (the file's download size, e.g. "
            f"size_mb: 38.5), got {_yaml_kind(size)} {size!r}; fix it or remove the field."
        )


def _check_md5(md5: Any, where: str) -> None:
    """An ``md5`` field must be 32 hex digits in quotes: a number has lost its leading zeros and would skip the
    checksum."""
    if md5 is None:
        return
    if isinstance(md5, int | float) and not isinstance(md5, bool):
        raise LiverkitError(
            f"{where}: field 'md5' was read by YAML as a number ({md5!r}), not as a checksum (a number drops "
            "leading zeros, so it cannot be turned back into one). Put the 32 hex digits in quotes exactly as "
            'published, e.g. md5: "0123456789abcdef0123456789abcdef".'
        )
    if not isinstance(md5, str):
        raise LiverkitError(
            f"{where}: field 'md5' must be 32 hex digits in quotes, but YAML read {md5!r} as {_yaml_kind(md5)}; "
            'write e.g. md5: "0123456789abcdef0123456789abcdef".'
        )
    if not _MD5.fullmatch(md5):
        raise LiverkitError(
            f"{where}: field 'md5' {md5!r} is not an MD5 checksum (32 hex digits 0-9 and a-f; it has "
            f"{len(md5)} characters); copy it exactly as the data set publishes it, or remove the field."
        )


def _yaml_kind(value: Any) -> str:
    """What YAML made of a value, in words, for messages."""
    if isinstance(value, bool):
        return "a boolean (YAML reads yes/no/on/off/true/false as booleans)"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def get_entry(name: str, manifest: str | os.PathLike | None = None) -> DataEntry:
    """The manifest entry called ``name``; an unknown name lists the known ones."""
    entries = read_manifest(manifest)
    if name not in entries:
        raise LiverkitError(
            f"no data set '{name}' in the manifest ({manifest or manifest_path()}); known: {sorted(entries)}. "
            "Add an entry to data_manifest.yaml (see README, 'Your own data')."
        )
    return entries[name]


def is_lesionset_file(name: str) -> bool:
    """The one rule for a data source: an existing ``.npz`` path is a LesionSet file, whatever the manifest says;
    anything else is a manifest entry's name."""
    return name.endswith(".npz") and Path(name).is_file()


def load(
    name: str, manifest: str | os.PathLike | None = None, download: bool = False, seed: int = 0, **options: Any
) -> LesionSet:
    """Load a data set by manifest name (or a LesionSet ``.npz`` path) as a LesionSet.

    Args:
        name: a manifest entry (``"phantom"``, ``"organamnist-64"``, your own) or a path to a LesionSet ``.npz``.
        manifest: a manifest file to use instead of the default.
        download: fetch a public data set that is not on disk yet (needs internet); off by default.
        seed: the phantom's seed (ignored by file readers).
        **options: reader options that override the entry's ``options``.
    """
    if is_lesionset_file(name):
        return LesionSet.load(name)
    entry = get_entry(name, manifest)
    merged = {**entry.options, **options}
    if entry.reader == "phantom":
        from liverkit.data.phantom import make_phantom

        # YAML gives lists where the phantom's config holds (low, high) tuples.
        return make_phantom(seed=seed, **{k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()})
    path = ensure_local(entry, download=download)
    return _read(entry.reader, path, merged)


def check(name: str, manifest: str | os.PathLike | None = None) -> str:
    """Open a data set with its reader and describe what was read (``liverkit data check NAME``).

    Reading it all is the point: a file that exists but is not what the entry says (a YAML file registered as
    MedMNIST, a truncated archive) fails here, with a message naming the file, rather than in the first notebook.

    Returns:
        A few lines: lesions, patients, classes with their counts, image size, diameters, identical images.
    """
    from liverkit.data.folds import duplicate_images

    entry = get_entry(name, manifest)
    lesions = load(name, manifest=manifest)
    where = "built in" if entry.path is None else f"'{entry.path}'"
    counts = ", ".join(f"{cls} {count}" for cls, count in lesions.class_counts().items())
    known = int(np.isfinite(lesions.diameters_mm).sum())
    groups = duplicate_images(lesions)
    return "\n".join(
        [
            f"{name} ({where}): read {len(lesions)} lesions of {len(lesions.patients)} patients",
            f"  classes ({len(lesions.class_names)}): {counts}",
            f"  images: {lesions.images.shape[2]} x {lesions.images.shape[3]} pixels, grey, in [0, 1]",
            f"  diameters: known for {known} of {len(lesions)} lesions",
            f"  identical images: {len(groups)} group(s) of {sum(len(g) for g in groups)} lesions"
            + (f", e.g. {groups[0]}" if groups else ""),
        ]
    )


def _read(reader: str, path: Path, options: dict[str, Any]) -> LesionSet:
    from liverkit.data import readers

    try:
        if reader == "folder":
            return readers.read_folder(path, **options)
        if reader == "medmnist":
            return readers.read_medmnist(path, **options)
        if reader == "nifti":
            return readers.read_nifti(path, **options)
        return LesionSet.load(path)
    except TypeError as exc:
        raise LiverkitError(
            f"reader '{reader}' got options it does not take ({exc}); check the entry's 'options'."
        ) from exc


def ensure_local(entry: DataEntry, download: bool = False) -> Path:
    """Return the entry's local path, downloading it first when allowed (:func:`fetch`); verify its checksum when
    one is given."""
    assert entry.path is not None
    if not entry.path.exists():
        if not entry.url:
            raise LiverkitError(
                f"data set '{entry.name}': '{entry.path}' does not exist. "
                "Put the data there or fix 'path' in the manifest."
            )
        if not download:
            raise LiverkitError(
                f"data set '{entry.name}' is not on disk at '{entry.path}'. Fetch it with "
                f"liverkit.data.load('{entry.name}', download=True) or `liverkit data fetch {entry.name}`, "
                f"or download {entry.url} by hand and save it as '{entry.path}'."
            )
        return fetch(entry.url, entry.path, entry.md5)  # its MD5 is checked on the way in
    if entry.md5 and entry.path.is_file():
        verify_md5(entry.path, entry.md5)
    return entry.path


def md5sum(path: Path) -> str:
    """MD5 of a file, read in chunks by ``hashlib.file_digest``."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    """Raise LiverkitError when ``path``'s MD5 is not ``expected``."""
    actual = md5sum(path)
    if actual != expected.lower():
        raise LiverkitError(
            f"checksum mismatch for '{path}': MD5 {actual}, expected {expected}. The file is corrupt or a different "
            "version; delete it and fetch it again."
        )


DOWNLOAD_RETRIES = 2
"""How many more times a failed download is tried (no answer, an HTTP error, a checksum mismatch); pooch waits 1 s
before the first retry, 2 s before the second."""


def fetch(url: str, path: Path, md5: str | None = None, timeout: float = 60.0, retries: int | None = None) -> Path:
    """Download ``url`` to ``path`` with pooch: a progress bar on stderr, retries, and the MD5 checked before the
    file appears under its name (pooch downloads into a temporary file beside it and moves it there only when the
    checksum matches, so a failed download leaves nothing behind).

    Args:
        url: an ``http://`` or ``https://`` address.
        path: where the file goes; its folder is made when missing.
        md5: the manifest's checksum; None skips the check (pooch then logs the file's SHA256).
        timeout: seconds to wait for the server to answer, per attempt.
        retries: attempts after the first (default :data:`DOWNLOAD_RETRIES`).
    """
    import pooch
    import requests

    path = Path(path)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise LiverkitError(
            f"cannot download {url}: the kit downloads http:// and https:// addresses only. Copy the file to "
            f"'{path}' yourself (the kit verifies its checksum on load), or fix 'url' in the manifest."
        )
    retries = DOWNLOAD_RETRIES if retries is None else retries
    store = pooch.create(
        path=path.parent,
        base_url="",
        registry={path.name: f"md5:{md5.lower()}" if md5 else None},
        urls={path.name: url},
        retry_if_failed=retries,
    )
    tried = f"tried {retries + 1} time{'s' if retries else ''}"
    try:
        store.fetch(path.name, downloader=pooch.HTTPDownloader(progressbar=True, timeout=timeout))
    except requests.exceptions.RequestException as exc:  # before OSError: requests' errors are OSErrors too
        raise LiverkitError(
            f"could not download {url} ({exc}; {tried}). If this machine is offline, download the file elsewhere "
            f"and copy it to '{path}'; the kit verifies its checksum on load."
        ) from exc
    except ValueError as exc:  # pooch: the download's checksum is not the manifest's
        raise LiverkitError(
            f"checksum mismatch for the download of {url}: {exc} Nothing was saved ({tried}); check the manifest's "
            f"md5 for '{path.name}', or download the file by hand and save it as '{path}'."
        ) from exc
    except OSError as exc:
        raise LiverkitError(
            f"could not save the download of {url} to '{path}' ({type(exc).__name__}: {exc}). Set $LIVERKIT_DATA "
            "to a folder you can write to, or fix the entry's 'path'."
        ) from exc
    return path
