"""Regression checks: the numbers each notebook records, compared with a committed baseline.

Every notebook writes its key numbers to ``<run>/metrics/<notebook>.json``. :func:`collect` flattens them into
``{"05_gan_augmentation/accuracy/classic optimum/0": 0.6538, ...}``; :func:`check` compares them with a baseline
file (``tests/baselines/<profile>.json``) and :func:`write_baseline` (``liverkit regress RUN --update``) replaces the
baseline's values deliberately, keeping its families.

A baseline sorts its keys into families: each has a regular expression (the first family whose pattern matches a
key owns it), a comparison and the measurement behind it.

- ``exact``: what must not move on any machine (counts, shapes, fingerprints, folds, settings echoed back).
- ``tolerance``: numbers out of training. Float rounding differs across CPU families, thread counts and torch
  builds, so they may move within ``abs``, a tolerance measured by ``scripts/measure_tolerances.py`` (the largest
  deviation seen under rounding perturbations, or the seed-to-seed spread, times a safety factor).
- ``informational``: single-model numbers after a choice that one rounding flip can change (the quick profile's
  per-fold choices and what follows them); differences are listed but never fail the check.

Whatever their family, verdict words and honest choices that differ from the baseline are listed on their own
(:func:`headline_changes`), with the numbers behind each verdict, so a changed conclusion is always seen.

A key that no family matches is a problem to fix (add it to a family; see docs/regression.md). Measured times
and speeds (keys containing ``seconds``, ``per_second`` or ``duration``) are never recorded.
"""

from __future__ import annotations

import math
import os
import platform
import re
from pathlib import Path
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.io import read_json, write_json
from liverkit.kit import notebook_files

VOLATILE = re.compile(r"seconds|per_second|duration")
"""Keys that hold measured times or speeds: recorded, never compared."""

COMPARISONS = ("exact", "tolerance", "informational")
FAMILY_FIELDS = ("name", "pattern", "compare", "measured")
REMEDY = "fix it, or regenerate it with scripts/measure_tolerances.py (see docs/regression.md)"


def flatten(value: Any, prefix: str = "", sep: str = "/", lists: bool = True) -> dict[str, Any]:
    """Nested dicts (and lists, by position, when ``lists``) as one flat dict with ``sep``-joined keys.

    The recorded metrics are flattened with ``/`` for the baselines; the report shows them with ``.`` and keeps
    lists whole.
    """
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and lists:
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat |= flatten(item, f"{prefix}{sep}{key}" if prefix else str(key), sep, lists)
    return flat


def collect(run_dir: str | Path) -> dict[str, Any]:
    """Every notebook's recorded numbers in ``run_dir/metrics``, flattened, without times and speeds."""
    folder = Path(run_dir) / "metrics"
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LiverkitError(f"no recorded metrics in '{folder}': run the notebooks into '{run_dir}' first.")
    values: dict[str, Any] = {}
    for file in files:
        values |= flatten(read_json(file, "the recorded metrics", "rerun its notebook"), file.stem)
    return {key: value for key, value in values.items() if not VOLATILE.search(key)}


def family_of(key: str, families: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first family whose pattern matches ``key`` (``re.search``), or None."""
    return next((family for family in families if re.search(family["pattern"], key)), None)


def compare(current: dict[str, Any], values: dict[str, Any], families: list[dict[str, Any]]) -> list[str]:
    """One line per problem: missing or new keys, keys of no family, values outside their family's comparison."""
    problems = [f"{k}: in the baseline ({values[k]!r}) but not recorded" for k in values if k not in current]
    problems += [f"{k}: recorded ({current[k]!r}) but not in the baseline" for k in current if k not in values]
    for key in sorted(set(current) & set(values)):
        family = family_of(key, families)
        if family is None:
            problems.append(f"{key}: no family of the baseline matches this key; add it to one (docs/regression.md)")
        elif family["compare"] != "informational" and not _close(current[key], values[key], family.get("abs", 0.0)):
            problems.append(f"{key}: {current[key]!r}, baseline {values[key]!r} ({_allowed(family)})")
    return problems


def informational(current: dict[str, Any], values: dict[str, Any], families: list[dict[str, Any]]) -> list[str]:
    """One line per difference in an ``informational`` family: shown to the reader, never a failure."""
    lines = []
    for key in sorted(set(current) & set(values)):
        family = family_of(key, families)
        if family and family["compare"] == "informational" and not _close(current[key], values[key], 0.0):
            lines.append(f"{key}: {current[key]!r}, baseline {values[key]!r} (informational, {family['name']})")
    return lines


HEADLINE = re.compile(r"/verdict$|/(honest_groups|honest_sizes)/|/paper_group$")
"""Keys that carry a conclusion or a choice (verdict words, honestly chosen groups and sizes): however their
family compares them, :func:`headline_changes` lists each one that differs, so a flipped verdict is never hidden
behind "all numbers match"."""
_EVIDENCE = ("accuracy_difference", "ci_low", "ci_high", "p_adjusted")
"""The numbers beside a verdict that show what moved it."""


def headline_changes(current: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """One line per verdict word or honest choice that differs from the baseline, with the numbers behind a
    verdict (difference, interval, adjusted p) now and in the baseline."""
    lines = []
    for key in sorted(k for k in set(current) & set(values) if HEADLINE.search(k)):
        if current[key] == values[key]:
            continue
        line = f"{key}: {current[key]!r}, baseline {values[key]!r}"
        if key.endswith("/verdict"):
            stem = key[: -len("verdict")]
            now = ", ".join(f"{name} {current.get(stem + name)!r}" for name in _EVIDENCE)
            then = ", ".join(f"{name} {values.get(stem + name)!r}" for name in _EVIDENCE)
            line += f" (now {now}; baseline {then})"
        lines.append(line)
    return lines


def _allowed(family: dict[str, Any]) -> str:
    if family["compare"] == "exact":
        return f"family '{family['name']}' must match exactly"
    return f"family '{family['name']}' allows {family['abs']:g}"


def _close(value: Any, expected: Any, tolerance: float) -> bool:
    """Equal, or both numbers (not bools) within ``tolerance``; NaN matches only NaN."""
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    if not isinstance(value, numbers) or not isinstance(expected, numbers):
        return value == expected
    if math.isnan(value) or math.isnan(expected):
        return math.isnan(value) and math.isnan(expected)
    slack = 1e-9 * tolerance  # 0.3893 - 0.3892 is 1.0000000000000286e-04: a tolerance of 1e-4 must accept it
    return abs(value - expected) <= tolerance + slack


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline file ``{"profile", "run", "why", "families", "values"}``, checked: a malformed file or an absurd
    tolerance is a LiverkitError naming the file (and the family)."""
    path = Path(path)
    baseline = read_json(path, "the baseline", "create it with scripts/measure_tolerances.py (docs/regression.md)")
    if not isinstance(baseline, dict):
        raise LiverkitError(f"baseline '{path}' is not a JSON object; {REMEDY}.")
    missing = [field for field in ("profile", "families", "values") if field not in baseline]
    if missing:
        raise LiverkitError(f"baseline '{path}' lacks {missing}; {REMEDY}.")
    if not isinstance(baseline["values"], dict) or not isinstance(baseline["families"], list):
        raise LiverkitError(f"baseline '{path}': 'values' must be a mapping and 'families' a list; {REMEDY}.")
    for index, family in enumerate(baseline["families"]):
        _check_family(path, index, family, baseline["values"])
    return baseline


def _check_family(path: Path, index: int, family: Any, values: dict[str, Any]) -> None:
    """Refuse a family that is incomplete, has a bad pattern or comparison, or an absurd tolerance."""
    name = family.get("name", f"#{index}") if isinstance(family, dict) else f"#{index}"
    where = f"baseline '{path}', family '{name}'"
    if not isinstance(family, dict) or any(not family.get(field) for field in FAMILY_FIELDS):
        raise LiverkitError(f"{where} needs a non-empty {list(FAMILY_FIELDS)} (measured: how its comparison was set).")
    if family["compare"] not in COMPARISONS:
        raise LiverkitError(f"{where}: compare '{family['compare']}' is not one of {list(COMPARISONS)}.")
    try:
        re.compile(family["pattern"])
    except re.error as exc:
        raise LiverkitError(f"{where}: pattern {family['pattern']!r} is not a regular expression ({exc}).") from exc
    if family["compare"] == "tolerance":
        _check_tolerance(where, family, values)


def _check_tolerance(where: str, family: dict[str, Any], values: dict[str, Any]) -> None:
    """A tolerance must be a finite number, at least 0, and no larger than max(1, the family's largest value):
    anything larger would accept every accuracy, ratio or p-value and so check nothing."""
    tol = family.get("abs")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
        raise LiverkitError(f"{where}: tolerance 'abs' must be a finite number >= 0, not {tol!r}; {REMEDY}.")
    numbers = [abs(v) for k, v in values.items() if _is_number(v) and re.search(family["pattern"], k)]
    limit = max([1.0, *numbers])
    if tol > limit:
        raise LiverkitError(
            f"{where}: tolerance {tol:g} exceeds {limit:g} (1 or its largest value) and would accept "
            f"anything; {REMEDY}."
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check(run_dir: str | Path, baseline_path: str | Path) -> list[str]:
    """Compare a run folder's recorded numbers with a baseline; the run must be the baseline's (profile, data, seed,
    no overrides)."""
    baseline = read_baseline(baseline_path)
    _check_identity(run_dir, baseline, baseline_path)
    return compare(collect(run_dir), baseline["values"], baseline["families"])


def notes(run_dir: str | Path, baseline_path: str | Path) -> list[str]:
    """The informational differences of a run against a baseline (see :func:`informational`)."""
    baseline = read_baseline(baseline_path)
    return informational(collect(run_dir), baseline["values"], baseline["families"])


def headlines(run_dir: str | Path, baseline_path: str | Path) -> list[str]:
    """The verdicts and honest choices of a run that differ from a baseline's (see :func:`headline_changes`)."""
    baseline = read_baseline(baseline_path)
    return headline_changes(collect(run_dir), baseline["values"])


def _check_identity(run_dir: str | Path, baseline: dict[str, Any], baseline_path: str | Path) -> None:
    identity = run_identity_of(run_dir)
    expected = baseline.get("run", {"profile": baseline["profile"]})
    for field in sorted(set(identity) | set(expected)):
        if identity.get(field) != expected.get(field):
            raise LiverkitError(
                f"run '{run_dir}' has {field} {identity.get(field)!r} but baseline '{baseline_path}' was recorded "
                f"with {expected.get(field)!r}; run with the baseline's settings (its 'run' field)."
            )


def write_baseline(
    run_dir: str | Path,
    baseline_path: str | Path,
    families: list[dict[str, Any]] | None = None,
    why: str | None = None,
    notebook_dir: str | Path | None = None,
) -> Path:
    """Record a finished run's numbers as the baseline's values (a deliberate act: review the diff).

    Args:
        run_dir: a run folder whose every notebook recorded its metrics.
        baseline_path: the baseline file.
        families: the families to write; None keeps those of the existing baseline (``liverkit regress --update``:
            values are refreshed, the measured tolerances stay).
        why: the baseline's explanation; None keeps the existing one.
        notebook_dir: the notebooks the run must cover (default: the repository's notebooks/).
    """
    old = read_baseline(baseline_path) if families is None or why is None else None
    families = families if families is not None else old["families"]
    identity = run_identity_of(run_dir)
    values = collect(run_dir)
    _refuse_unfinished(run_dir, values, old, notebook_dir)
    orphans = sorted(key for key in values if family_of(key, families) is None)
    if orphans:
        raise LiverkitError(
            f"run '{run_dir}' records keys that no family of '{baseline_path}' matches: {orphans[:10]}"
            f"{' ...' if len(orphans) > 10 else ''}; add a family for them (scripts/measure_tolerances.py)."
        )
    record = {
        "profile": identity["profile"],
        "run": identity,
        "why": why or old["why"],
        "families": families,
        "values": values,
    }
    return write_json(baseline_path, record)


def _refuse_unfinished(
    run_dir: str | Path, values: dict[str, Any], old: dict[str, Any] | None, notebook_dir: str | Path | None
) -> None:
    """Refuse a half-finished run: every notebook of the folder, and every notebook the old baseline covers, must
    have recorded metrics."""
    recorded = {key.split("/")[0] for key in values}
    expected = set(notebook_names(notebook_dir))
    expected |= {key.split("/")[0] for key in (old or {}).get("values", {})}
    missing = sorted(expected - recorded)
    if missing:
        raise LiverkitError(
            f"run '{run_dir}' has no recorded metrics for {missing}; finish the run (liverkit run --out {run_dir}) "
            "before updating the baseline."
        )


def notebook_names(notebook_dir: str | Path | None = None) -> list[str]:
    """The numbered notebooks' names (``01_data``, ...) in ``notebook_dir`` (default: the kit's notebooks, the
    checkout's or the installed copy: :func:`liverkit.kit.notebook_files.notebook_dir`; none where they are missing)."""
    folder = Path(notebook_dir) if notebook_dir else notebook_files.notebook_dir()
    return sorted(path.stem for path in folder.glob("*.ipynb") if re.fullmatch(r"\d\d_\w+", path.stem))


def run_identity_of(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's ``run.json`` (profile, data, seed, overrides)."""
    identity = Path(run_dir) / "run.json"
    if not identity.is_file():
        raise LiverkitError(f"'{run_dir}' is not a run folder (no run.json); run the notebooks into it first.")
    return read_json(identity, "the run identity", "rerun the notebooks into a new folder")


def machine() -> str:
    """The machine a measurement ran on, in words: CPU architecture, cores, torch build and vector kernels."""
    import torch

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.backends.cpu.get_cpu_capability()} kernels, python {platform.python_version()}"
    )


def rounding_perturbation() -> dict[str, str]:
    """Environment variables that change float rounding without changing the computation: one thread
    (``OMP_NUM_THREADS=1``: other reduction orders) and, on x86-64, torch's vector kernels one level down
    (``ATEN_CPU_CAPABILITY``: AVX-512 -> AVX2 -> plain), which mimics another CPU family. Nothing else on arm64."""
    import torch

    env = {"OMP_NUM_THREADS": "1"}
    lower = {"AVX512": "avx2", "AVX2": "default"}.get(torch.backends.cpu.get_cpu_capability())
    if platform.machine().lower() in ("x86_64", "amd64") and lower:
        env["ATEN_CPU_CAPABILITY"] = lower
    return env
