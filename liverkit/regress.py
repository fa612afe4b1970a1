"""Regression checks: the numbers each notebook records, compared with a committed baseline.

Every notebook writes its key numbers to ``<run>/metrics/<notebook>.json``. :func:`collect` flattens them into
``{"05_gan_augmentation/accuracy/classic optimum/0": 0.6538, ...}``; :func:`compare` checks them against a
baseline file (``tests/baselines/<profile>.json``) within the tolerance stored in that file, and
:func:`write_baseline` (``liverkit regress RUN --update``) replaces the baseline deliberately.

What is compared. Everything recorded except measured times and speeds (keys containing ``seconds``,
``per_second`` or ``duration``), which depend on the machine's load. On a CPU the kit is deterministic: the same
code, data, seed and library versions give bitwise the same numbers (tests prove it for the classifier and the
GANs), so the default tolerance is tight (1e-6 absolute plus 1e-6 relative, room for float printing only).
Another CPU family or another torch build may change float rounding and, through it, a prediction or two:
check the differences, and update the baseline when they are explained.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.io import write_json

VOLATILE = re.compile(r"seconds|per_second|duration")
"""Keys that hold measured times or speeds: recorded, never compared."""

DEFAULT_TOLERANCE = {"abs": 1e-6, "rel": 1e-6}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as one flat dict with ``/``-joined keys (list items by position)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat |= flatten(item, f"{prefix}/{key}" if prefix else str(key))
    return flat


def collect(run_dir: str | Path) -> dict[str, Any]:
    """Every notebook's recorded numbers in ``run_dir/metrics``, flattened, without times and speeds."""
    folder = Path(run_dir) / "metrics"
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LiverkitError(f"no recorded metrics in '{folder}': run the notebooks into '{run_dir}' first.")
    values: dict[str, Any] = {}
    for file in files:
        values |= flatten(json.loads(file.read_text()), file.stem)
    return {key: value for key, value in values.items() if not VOLATILE.search(key)}


def compare(current: dict[str, Any], baseline: dict[str, Any], tolerance: dict[str, float]) -> list[str]:
    """One line per difference: missing or new keys, and values outside ``abs + rel * |baseline|``."""
    problems = [f"{k}: in the baseline ({baseline[k]!r}) but not recorded" for k in baseline if k not in current]
    problems += [f"{k}: recorded ({current[k]!r}) but not in the baseline" for k in current if k not in baseline]
    for key in sorted(set(current) & set(baseline)):
        if not _close(current[key], baseline[key], tolerance):
            problems.append(f"{key}: {current[key]!r}, baseline {baseline[key]!r}")
    return problems


def _close(value: Any, expected: Any, tolerance: dict[str, float]) -> bool:
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    if not isinstance(value, numbers):
        return value == expected
    if not isinstance(expected, numbers):
        return False
    if math.isnan(value) or math.isnan(expected):
        return math.isnan(value) and math.isnan(expected)
    return abs(value - expected) <= tolerance["abs"] + tolerance["rel"] * abs(expected)


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline file: ``{"profile", "tolerance", "why", "values"}``."""
    path = Path(path)
    if not path.is_file():
        raise LiverkitError(f"baseline '{path}' does not exist; create it with 'liverkit regress RUN --update'.")
    baseline = json.loads(path.read_text())
    missing = {"profile", "tolerance", "values"} - set(baseline)
    if missing:
        raise LiverkitError(f"baseline '{path}' lacks {sorted(missing)}; recreate it with 'liverkit regress --update'.")
    return baseline


def check(run_dir: str | Path, baseline_path: str | Path) -> list[str]:
    """Compare a run folder's recorded numbers with a baseline; the run's profile must be the baseline's."""
    baseline = read_baseline(baseline_path)
    profile = _run_profile(run_dir)
    if profile != baseline["profile"]:
        raise LiverkitError(
            f"run '{run_dir}' used profile '{profile}' but baseline '{baseline_path}' is for '{baseline['profile']}'."
        )
    return compare(collect(run_dir), baseline["values"], baseline["tolerance"])


def write_baseline(run_dir: str | Path, baseline_path: str | Path, tolerance: dict[str, float] | None = None) -> Path:
    """Record a run's numbers as the new baseline (a deliberate act: review the diff before committing it)."""
    tolerance = dict(tolerance or DEFAULT_TOLERANCE)
    why = (
        "CPU runs are deterministic for a given machine, torch build, code, data and seed; the tolerance only "
        "absorbs float printing. Times and speeds are not compared."
    )
    record = {"profile": _run_profile(run_dir), "tolerance": tolerance, "why": why, "values": collect(run_dir)}
    return write_json(baseline_path, record)


def _run_profile(run_dir: str | Path) -> str:
    identity = Path(run_dir) / "run.json"
    if not identity.is_file():
        raise LiverkitError(f"'{run_dir}' is not a run folder (no run.json); run the notebooks into it first.")
    return json.loads(identity.read_text())["profile"]
