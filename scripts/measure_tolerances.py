"""Measure the regression tolerances and write a baseline (tests/baselines/<profile>.json), see docs/regression.md.

smoke: runs the smoke profile unperturbed and under perturbations that change float rounding but not the
computation (one thread, torch's AVX2 and plain kernels instead of AVX-512, channels-last off, the test suite's
own perturbation), and sets each family's tolerance to the largest deviation seen times a safety factor, with a
floor. Values come from the unperturbed run.

    python scripts/measure_tolerances.py smoke --out tests/baselines/smoke.json --work /tmp/measure

quick: a per-fold choice (classic group, synthetic size) can flip under rounding and change every single-model
number after it; only what the repeats make stable is compared, within the seed-to-seed spread of the
per-repeat accuracy differences the run records. Single-model numbers are informational.

    python scripts/measure_tolerances.py quick --run runs/demo --out tests/baselines/quick.json

values: refresh only the values of an existing baseline, keeping its families and tolerances (the same as
``liverkit regress RUN --baseline FILE --update``).

    python scripts/measure_tolerances.py values --run runs/smoke --out tests/baselines/smoke.json
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.kit import regress

CHANNELS_LAST_OFF = [f"{net}.channels_last=false" for net in ("classifier", "dcgan", "acgan")]
PERTURBATIONS: dict[str, tuple[dict[str, str], list[str]]] = {
    "threads_1": ({"OMP_NUM_THREADS": "1"}, []),
    "kernels_avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, []),
    "kernels_default": ({"ATEN_CPU_CAPABILITY": "default"}, []),
    "test_suite": (regress.rounding_perturbation(), []),
    "channels_last_off": ({}, CHANNELS_LAST_OFF),
}
"""name: (environment variables, ``--set`` overrides). The unperturbed run uses neither."""

# Families: (name, pattern, smoke comparison, quick comparison). The first family whose pattern matches owns a key.
# Comparisons: "exact"; "measured" (tolerance from the perturbation runs); "mean" (quick: k x s / sqrt(R));
# "repeat" (quick: k x s); "paired" (quick: k x s / sqrt(R) x lesions); "informational".
FAMILIES = [
    (
        "settings",
        r"/(epochs|repeats|gan_repeats|models|fold|ci_method|rater|baseline|reference|data|n_boot|level)$"
        r"|/(family|adjustment|ci_level|sims)$|/(arms|groups|sizes|ci_levels)/\d+$",
        "exact",
        "exact",
    ),
    ("fingerprint", r"/fingerprint$", "informational", "informational"),
    ("data", r"^01_data/", "exact", "exact"),
    ("verdicts", r"/verdict$", "informational", "informational"),
    ("choices", r"/(honest_groups|honest_sizes)/|/paper_group$|/matched/", "exact", "informational"),
    ("flagged", r"flagged$", "measured", "informational"),
    ("counts", r"/n(_[a-z_]+)?$|/points/|/class_counts/|/simulated$", "exact", "exact"),
    ("per_fold", r"^0[25]_\w+/per_fold/", "measured", "informational"),
    ("per_repeat", r"/per_repeat/\d+$", "measured", "repeat"),
    ("p_values", r"/p_(value|holm|adjusted)$", "measured", "informational"),
    ("per_repeat_fold", r"/per_repeat_fold/", "measured", "informational"),
    ("gan_checks", r"^05_\w+/(gans|null_check)/", "measured", "informational"),
    ("paired_counts", r"/(gained|lost)$", "measured", "paired"),
    ("differences", r"/comparisons/|/primary/", "measured", "mean"),
    ("accuracies", r"^0[25]_", "measured", "mean"),
    ("d_outputs", r"^0[34]_\w+/d_(real|fake)", "measured", "informational"),
    ("gan_other", r"^0[34]_", "measured", "informational"),
    ("feature_maps", r"^06_", "measured", "informational"),
    ("fid_kid", r"^07_\w+/.*/(fid|kid_mean|kid_std)(/|$)", "measured", "informational"),
    ("quality", r"^07_", "measured", "informational"),
    ("turing", r"^08_", "measured", "informational"),
]

INFORMATIONAL_WHY = {
    "choices": "per-fold choices, which one rounding flip may change",
    "fingerprint": "a hash of the float pixels, bit for bit: torch's plain kernels (ATEN_CPU_CAPABILITY=default) "
    "change the phantom's last bits and so the hash",
    "p_values": "a p-value may move over much of its range within the seed-to-seed spread of its difference",
    "verdicts": "a verdict word follows its adjusted p-value, which may move over much of its range; liverkit "
    "regress lists every verdict that differs from the baseline",
    "settings": "must not move",
    "data": "must not move",
    "counts": "must not move",
}
"""Quick profile: why a family is exact or informational (default: single models after a per-fold choice)."""

SMOKE_WHY = (
    "Families: the first whose pattern matches a key owns it. exact: must not move on any machine. tolerance: "
    "numbers out of training, which float rounding (CPU family, threads, torch build) moves; 'abs' is the largest "
    "deviation measured by scripts/measure_tolerances.py under rounding perturbations times a safety factor, with "
    "a floor. 'liverkit regress RUN --baseline FILE --update' replaces only the values and keeps the families "
    "and tolerances; remeasure them with the script after a change to training. Times and speeds are not recorded."
)
QUICK_WHY = (
    "Families: the first whose pattern matches a key owns it. A per-fold choice (classic group, synthetic size) "
    "can flip under float rounding on another machine and change every single-model number after it, so only "
    "what the repeats make stable (means over repeats, pooled accuracies, their CIs) is compared, within a "
    "tolerance from the seed-to-seed spread of the per-repeat differences the run records; single-model numbers "
    "are informational. 'liverkit regress RUN --baseline FILE --update' replaces only the values and keeps the "
    "families and tolerances. Times and speeds are not recorded."
)


def family_keys(values: dict[str, Any]) -> dict[str, list[str]]:
    """The keys of ``values`` by family name; keys of no family go under ``None``."""
    families = [{"name": name, "pattern": pattern} for name, pattern, _, _ in FAMILIES]
    keys: dict[str, list[str]] = {}
    for key in values:
        family = regress.family_of(key, families)
        keys.setdefault(family["name"] if family else None, []).append(key)
    return keys


def max_deviations(base: dict[str, Any], runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Per family, the largest |run - base| over its numeric keys and the runs (inf where a key or a non-number
    differs: a categorical flip)."""
    deviations: dict[str, float] = {}
    for family, keys in family_keys(base).items():
        worst = 0.0
        for values in runs.values():
            for key in keys:
                worst = max(worst, _deviation(base[key], values.get(key, "<missing>")))
        deviations[family] = worst
    return deviations


def _deviation(expected: Any, value: Any) -> float:
    if regress._is_number(expected) and regress._is_number(value):
        return abs(float(value) - float(expected))
    return 0.0 if value == expected else math.inf


def smoke_families(base: dict[str, Any], runs: dict[str, dict[str, Any]], factor: float, floor: float) -> list[dict]:
    """The smoke baseline's families: exact ones checked unmoved, measured ones with ``max(factor x dev, floor)``."""
    deviations = max_deviations(base, runs)
    keys = family_keys(base)
    counts = {name: len(names) for name, names in keys.items()}
    stamp = f"{datetime.date.today()} on {regress.machine()}"
    seen = f"runs {', '.join(runs)} against the unperturbed run"
    families = []
    for name, pattern, how, _ in FAMILIES:
        dev, n = deviations.get(name, 0.0), counts.get(name, 0)
        if how == "informational":
            moved = [run for run, values in runs.items() if any(values.get(k) != base[k] for k in keys.get(name, []))]
            text = f"informational: {n} keys, moved in runs {moved or 'none'} of {seen}; {stamp}"
            families.append(_family(name, pattern, "informational", text))
            continue
        if how == "exact":
            if dev > 0:
                raise LiverkitError(f"family '{name}' should not move but moved by {dev} in {seen}; fix the code.")
            families.append(_family(name, pattern, "exact", f"exact: {n} keys, unmoved in {seen}; {stamp}"))
            continue
        if not math.isfinite(dev):
            raise LiverkitError(f"family '{name}' holds a value that flipped in {seen}; make it informational.")
        tol = max(factor * dev, floor)
        text = (
            f"max |deviation| {dev:.3g} over {n} keys in {seen}; abs = max({factor:g} x {dev:.3g}, floor "
            f"{floor:g}); {stamp}"
        )
        families.append(_family(name, pattern, "tolerance", text, float(f"{tol:.3g}")))
    return families


def _family(name: str, pattern: str, compare: str, measured: str, tol: float | None = None) -> dict[str, Any]:
    family = {"name": name, "pattern": pattern, "compare": compare, "measured": measured}
    return family | ({"abs": tol} if tol is not None else {})


def seed_spread(values: dict[str, Any]) -> tuple[float, int]:
    """The seed-to-seed spread of a run: the pooled within-comparison standard deviation of the per-repeat accuracy
    differences (``.../comparisons/<name>/per_repeat/<r>``), and the number of repeats."""
    groups: dict[str, list[float]] = {}
    for key, value in values.items():
        head, sep, _ = key.rpartition("/per_repeat/")
        if sep and regress._is_number(value):
            groups.setdefault(head, []).append(float(value))
    squares = sum(sum((x - sum(g) / len(g)) ** 2 for x in g) for g in groups.values())
    dof = sum(len(g) - 1 for g in groups.values())
    if dof < 1:
        raise LiverkitError("the run records no per-repeat differences (several repeats needed) to measure spread.")
    return math.sqrt(squares / dof), max(len(g) for g in groups.values())


def quick_families(values: dict[str, Any], k: float) -> list[dict]:
    """The quick baseline's families, tolerances from the seed-to-seed spread ``s`` over ``R`` repeats."""
    s, repeats = seed_spread(values)
    lesions = values["01_data/n_lesions"]
    counts = {name: len(keys) for name, keys in family_keys(values).items()}
    source = f"s = {s:.4f}: pooled SD of the per-repeat accuracy differences of {repeats} repeats"
    # A rerun and the baseline are two replications, each with its own seed-to-seed noise: their difference has
    # sqrt(2) times the SD of one (measured: a 1-thread rerun of the 2-thread quick demo moved a mean difference by
    # 0.042 and one repeat's by 0.088, past the one-replication 3 s / sqrt(3) = 0.045 and 3 s = 0.078).
    two = math.sqrt(2)
    rules = {
        "mean": (k * two * s / math.sqrt(repeats), f"{k:g} x sqrt(2) x s / sqrt({repeats}) (a mean over repeats)"),
        "repeat": (k * two * s, f"{k:g} x sqrt(2) x s (one repeat)"),
        "paired": (
            k * two * s / math.sqrt(repeats) * lesions,
            f"{k:g} x sqrt(2) x s / sqrt({repeats}) x {lesions} lesions",
        ),
    }
    stamp = f"{datetime.date.today()} from the run's own numbers"
    families = []
    for name, pattern, _, how in FAMILIES:
        n = counts.get(name, 0)
        if how in ("exact", "informational"):
            why = INFORMATIONAL_WHY.get(name, "single models after a per-fold choice that may flip")
            families.append(_family(name, pattern, how, f"{how}: {n} keys, {why}; {stamp}"))
            continue
        tol, rule = rules[how]
        families.append(
            _family(name, pattern, "tolerance", f"abs = {rule}, {source}; {n} keys; {stamp}", float(f"{tol:.3g}"))
        )
    return families


def run_smoke(work: Path, name: str, env: dict[str, str], sets: list[str]) -> dict[str, Any]:
    """Run the smoke profile into ``work/name`` (unchanged notebooks of an earlier run there are skipped)."""
    out = work / name
    cmd = [sys.executable, "-m", "liverkit.kit.cli", "run", "--profile", "smoke", "--out", str(out), "--device", "cpu"]
    cmd += [arg for assignment in sets for arg in ("--set", assignment)]
    print(f"{name}: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd[3:])}", flush=True)
    inherited = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY")}
    done = subprocess.run(cmd, env=inherited | env, capture_output=True, text=True)
    if done.returncode != 0:
        raise LiverkitError(f"the {name} run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return regress.collect(out)


def supports_set() -> bool:
    """Whether ``liverkit run`` takes ``--set`` overrides (needed for the channels-last perturbation)."""
    done = subprocess.run([sys.executable, "-m", "liverkit.kit.cli", "run", "--help"], capture_output=True, text=True)
    return "--set" in done.stdout


def measure_smoke(args: argparse.Namespace) -> None:
    names = args.perturbations or list(PERTURBATIONS)
    if "channels_last_off" in names and not supports_set():
        print("liverkit run has no --set yet: channels_last_off skipped")
        names.remove("channels_last_off")
    base = run_smoke(args.work, "unperturbed", {"OMP_NUM_THREADS": str(os.cpu_count())}, [])
    runs = {name: run_smoke(args.work, name, *PERTURBATIONS[name]) for name in names}
    families = smoke_families(base, runs, args.factor, args.floor)
    regress.write_baseline(args.work / "unperturbed", args.out, families=families, why=SMOKE_WHY)
    for family in families:
        print(f"{family['name']:<14} {family['compare']:<13} {family.get('abs', '')!s:<8} {family['measured']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    smoke = commands.add_parser("smoke", help="measure under rounding perturbations and write the smoke baseline")
    smoke.add_argument("--out", type=Path, default=Path("tests/baselines/smoke.json"))
    smoke.add_argument("--work", type=Path, default=Path("/tmp/liverkit-measure"), help="the runs' folders")
    smoke.add_argument("--factor", type=float, default=3.0, help="safety factor on the largest deviation")
    smoke.add_argument("--floor", type=float, default=1e-3, help="the smallest tolerance")
    smoke.add_argument("--perturbations", nargs="+", choices=sorted(PERTURBATIONS), help="default: all")
    quick = commands.add_parser("quick", help="write the quick baseline from a finished quick run's own spread")
    quick.add_argument("--run", type=Path, default=Path("runs/demo"))
    quick.add_argument("--out", type=Path, default=Path("tests/baselines/quick.json"))
    quick.add_argument("--k", type=float, default=3.0, help="tolerance in seed-to-seed standard errors")
    values = commands.add_parser("values", help="refresh only the values of an existing baseline")
    values.add_argument("--run", type=Path, required=True)
    values.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "smoke":
            measure_smoke(args)
        elif args.command == "quick":
            families = quick_families(regress.collect(args.run), args.k)
            regress.write_baseline(args.run, args.out, families=families, why=QUICK_WHY)
        else:
            regress.write_baseline(args.run, args.out)
    except LiverkitError as exc:
        print(f"measure_tolerances: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
