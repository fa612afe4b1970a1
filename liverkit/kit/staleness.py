"""What a run folder's results were made from, and moving aside the results made from other inputs.

``<run folder>/runner_state.json`` records, per notebook, the digest of the inputs it last *succeeded* with
(``done``: the runner skips it when they are unchanged) and the digest its files in the folder were *made* with
(``made``: set when it starts, so an interrupted notebook resumes from its checkpoints when nothing changed), and the
parts of the run's inputs (:func:`liverkit.kit.digest.run_inputs`) so a change can be named.

When a notebook's inputs change (new data under the same name, another kit version, edited cells), its files (its
executed copy, its metrics record and the artefacts :data:`liverkit.story.MAKES` assigns to it) are moved to
``stale/<time>/`` with ``made_from.json`` beside them, never deleted: a rater's Turing answers stay readable there,
labelled with the data they were given on. The notebook and every later one then run again with nothing left
over to refuse. A state file from before format 2 (an older kit) counts as made from other inputs.

Torch-free: the runner process uses it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.io import read_json, write_json
from liverkit.kit.digest import INPUT_PARTS, data_record, library_digest, package_versions
from liverkit.story import MAKES, NEEDS

STATE_FILE = "runner_state.json"
"""The runner's record of what each notebook was made and last succeeded with (in the run folder)."""
STATE_FORMAT = 2
"""This kit's state format; format 1 (a flat ``{notebook: digest}``) came from kits before 0.1.0's run tracking."""
STALE_DIR = "stale"
"""Where files made from other inputs are moved, one ``<time>`` folder per move."""


@dataclass
class RunState:
    """The runner's record of a run folder (see the module docstring)."""

    done: dict[str, str] = field(default_factory=dict)
    made: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    older: bool = False
    """Read from an older kit's state file: every result in the folder counts as made from other inputs."""

    def started(self, notebook: str, digests: dict[str, str], every: list[str]) -> None:
        """``notebook`` starts: it and every later one must succeed again; it, and the earlier steps its kernel
        rebuilds (:data:`liverkit.story.NEEDS`, moved aside or never made), now make files from these inputs."""
        for later in every[every.index(notebook) :]:
            self.done.pop(later, None)
        for step in (notebook, *NEEDS.get(notebook, ())):
            self.made[step] = digests[step]

    def to_json(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "done": self.done, "made": self.made, "inputs": self.inputs}


def read_state(out: Path) -> RunState:
    """The state of run folder ``out`` (empty for a new folder); an older kit's state reads as ``older``."""
    file = out / STATE_FILE
    if not file.exists():
        return RunState()
    remedy = "delete it (every notebook then runs again)"
    state = read_json(file, "the runner's state file", remedy)
    if not isinstance(state, dict):
        raise LiverkitError(f"the runner's state file '{file}' is not a mapping; {remedy}.")
    if "format" not in state:  # format 1: {notebook: digest}, by kits before run tracking
        return RunState(older=True)
    if state["format"] != STATE_FORMAT:
        raise LiverkitError(
            f"run folder '{out}' was made by another liverkit version (state format {state['format']!r}, this kit "
            f"reads {STATE_FORMAT}); run it with that version, or use a new --out."
        )
    parts = [state.get(key, {}) for key in ("done", "made", "inputs")]
    if not all(isinstance(part, dict) for part in parts):
        raise LiverkitError(f"the runner's state file '{file}' lacks its done/made/inputs records; {remedy}.")
    return RunState(*parts)


def write_state(out: Path, state: RunState) -> None:
    write_json(out / STATE_FILE, state.to_json())


# ---------------------------------------------------------------------------------------------- whose files
def files_of(out: Path, notebook: str) -> list[Path]:
    """The files of ``notebook`` in run folder ``out``: executed and failed copies, metrics, its artefacts."""
    own = [out / "notebooks" / f"{notebook}.ipynb", out / "notebooks" / f"{notebook}.failed.ipynb"]
    own.append(out / "metrics" / f"{notebook}.json")
    files = [path for path in own if path.is_file()]
    artifacts = out / "artifacts"
    if notebook in MAKES and artifacts.is_dir():
        for pattern in MAKES[notebook]:
            files += sorted(p for p in out.glob(pattern) if p.is_file())
            files += sorted(p for p in out.glob(pattern + "/**/*") if p.is_file())
    return sorted(set(files))


def stale_notebooks(out: Path, every: list[str], state: RunState, digests: dict[str, str], redo: set[str]) -> list[str]:
    """The notebooks whose files in ``out`` were made from other inputs than ``digests`` (or whose redo was asked,
    ``redo``: ``--force``)."""
    return [
        nb for nb in every if (nb in redo or state.older or state.made.get(nb) != digests[nb]) and files_of(out, nb)
    ]


def why_stale(state: RunState, inputs: dict[str, Any], notebook: str, redo: set[str]) -> str:
    """Why ``notebook``'s files no longer belong: what changed, named."""
    if notebook in redo:
        return "--force asked for a fresh run"
    if state.older:
        return "made by an older liverkit, which did not record its inputs"
    if not state.inputs:
        return "made outside liverkit run (by hand, or by a test), with no record of its inputs"
    changed = [label for key, label in INPUT_PARTS.items() if state.inputs.get(key) != inputs.get(key)]
    return f"{' and '.join(changed)} changed" if changed else "its cells, or an earlier notebook's, changed"


def move_aside(out: Path, notebooks: list[str], state: RunState, inputs: dict[str, Any], redo: set[str]) -> list[str]:
    """Move the files of ``notebooks`` to ``stale/<time>/`` (same relative paths) beside a ``made_from.json`` that
    says what they were made from; one line per notebook, and one per rater whose Turing answers moved."""
    if not notebooks:
        return []
    place = _new_stale_folder(out)
    record = {"moved": datetime.now().isoformat(timespec="seconds"), "run": _identity(out), "made_from": state.inputs}
    record["why"] = {nb: why_stale(state, inputs, nb, redo) for nb in notebooks}
    lines = []
    for notebook in notebooks:
        files = files_of(out, notebook)
        for file in files:
            target = place / file.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
        shown = place.relative_to(out).as_posix()
        lines.append(f"{notebook}: {record['why'][notebook]}; its {len(files)} file(s) moved to {shown}/")
        answers = [f for f in files if f.name.startswith("turing_answers_")]
        lines += [f"      kept Turing answers: {place / f.relative_to(out)} ({_LABEL})" for f in answers]
        state.done.pop(notebook, None)
        state.made.pop(notebook, None)
    _remove_empty_folders(out / "artifacts")
    write_json(place / "made_from.json", record)
    return lines


_LABEL = "given on the inputs recorded in made_from.json beside them"


def _new_stale_folder(out: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    place, n = out / STALE_DIR / stamp, 1
    while place.exists():
        n += 1
        place = out / STALE_DIR / f"{stamp}-{n}"
    place.mkdir(parents=True)
    return place


def _identity(out: Path) -> dict[str, Any]:
    file = out / "run.json"
    return json.loads(file.read_text()) if file.is_file() else {}


def _remove_empty_folders(root: Path) -> None:
    """Folders left empty by the move (``artifacts/gans/dcgan/fold0/cyst``...), deepest first; ``root`` stays."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def changed_since(out: Path) -> str | None:
    """What changed since the last ``liverkit run`` into ``out`` (the data, the kit, a package), named; None when
    nothing did, or when no run recorded its inputs there (notebooks run by hand)."""
    state = read_state(out)
    if state.older:
        return "made by an older liverkit, which did not record its inputs"
    if not state.inputs:
        return None
    data = _identity(out).get("data")
    try:
        now = {"data": data_record(data) if data else None, "versions": package_versions(), "kit": library_digest()}
    except LiverkitError as exc:
        return f"the data '{data}' cannot be read now ({exc})"
    now["data"] = json.loads(json.dumps(now["data"], default=str))  # as the state file stores it
    changed = [INPUT_PARTS[key] for key, value in now.items() if state.inputs.get(key) != value]
    return f"{' and '.join(changed)} changed" if changed else None
