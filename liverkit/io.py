"""Atomic file writes (an artifact is either the old file or the complete new one) and reads that name the file."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps ``path``'s suffix so that writers which add or check extensions
    (``np.savez``, ``torch.save``) behave as they would with the final name. The finished file gets the
    permissions a plain ``open(path, "w")`` would give (0o666 less the umask), not the temporary file's 0o600,
    so run folders stay readable by whoever the user's umask allows (a shared course folder, a web server).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _json_default(obj: Any) -> Any:
    """Let numpy scalars and arrays, and paths, pass through ``json.dumps``."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


@contextmanager
def reading(
    path: str | os.PathLike, what: str, remedy: str = "delete it and rerun the step that writes it"
) -> Iterator[Path]:
    """Turn any failure while reading ``path`` into a LiverkitError that names the file, what it is and what to do.

    Numpy's and torch's own messages (``allow_pickle=True``, ``weights_only=False``) advise things a user should
    not do with a damaged file, so only the error's type and first line are passed on.

    Args:
        path: the file being read.
        what: what the file is, e.g. ``"the CNN checkpoint"``.
        remedy: what the user should do about a damaged file.
    """
    from liverkit.errors import LiverkitError

    path = Path(path)
    if not path.is_file():
        raise LiverkitError(f"{what} '{path}' does not exist{'' if not path.exists() else ' as a file'}; {remedy}.")
    try:
        yield path
    except LiverkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure is reported with the file's name
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        if re.search(r"allow_pickle|weights_only|pickle", first_line):
            first_line = "its contents are not the plain arrays expected"
        raise LiverkitError(
            f"could not read {what} '{path}' ({type(exc).__name__}: {first_line}); the file is damaged, truncated or "
            f"not what it should be: {remedy}."
        ) from exc


def read_json(
    path: str | os.PathLike, what: str = "the JSON file", remedy: str = "delete it and rerun the step that writes it"
) -> Any:
    """Read a JSON file; a missing, unreadable or malformed file is a LiverkitError naming it."""
    with reading(path, what, remedy) as checked:
        return json.loads(checked.read_text(encoding="utf-8"))


def path_inside(
    root: Path, value: str | os.PathLike, where: str, advice: str | None = None, root_name: str = "data folder"
) -> Path:
    """``root / value``, refusing a path that leaves ``root`` (``../../etc/passwd``, ``/etc/passwd``).

    A data folder that names files outside itself is either a mistake or a trap; it also would not travel.

    Args:
        advice: what the message tells the user to do instead (default: keep the files inside the folder).
        root_name: what ``root`` is called in the message.
    """
    from liverkit.errors import LiverkitError

    joined = root / Path(value).expanduser()
    inside, top = os.path.abspath(joined), os.path.abspath(root)  # absolute: a root of "." holds "a.png" too
    if os.path.commonpath([inside, top]) != top:
        advice = advice or "list files inside it, relative to it (copy or link the file into the folder)"
        raise LiverkitError(f"{where}: path '{value}' leaves the {root_name} '{root}'; {advice}.")
    return joined
