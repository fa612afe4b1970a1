"""Checkers for notebook 05 (does synthetic augmentation help?)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.experiment.gan_verdict import arm_label
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit.exercises.verdict import Verdict, judge, unless_right, within

_HONEST, _PAPER = " (honest choice)", " (paper's choice, optimistic)"


def check_05_class_gain(results: pd.DataFrame, answer: Any = None) -> str:
    """Notebook 05, exercise 1: which class's sensitivity changes most (up or down) when DCGAN lesions are added,
    classic + DCGAN (honest choice) against the classic optimum?

    Args:
        results: the notebook's ``results`` (``gan_results.results_table``: setting, metric, class, estimate).
    """
    base = _per_class(results, arm_label("classic"), "sensitivity")
    dcgan = _per_class(results, arm_label("dcgan") + _HONEST, "sensitivity")
    change = {name: dcgan[name] - base[name] for name in base}
    truth = within({n: abs(c) for n, c in change.items()}, max(abs(c) for c in change.values()), 1e-9)
    mistakes = [
        (
            max(dcgan, key=dcgan.get),
            "That class has the highest sensitivity with DCGAN lesions; the question asks about the change from "
            "the classic optimum.",
        )
    ]
    no_augmentation = _per_class(results, "no augmentation", "sensitivity", required=False)
    acgan = _per_class(results, arm_label("acgan") + _HONEST, "sensitivity", required=False)
    paper = _per_class(results, arm_label("dcgan") + _PAPER, "sensitivity", required=False)
    other_changes = (
        (
            no_augmentation,
            dcgan,
            "That is the change from no augmentation; compare with the classic optimum, "
            "which every added arm starts from.",
        ),
        (base, acgan, "That is the ACGAN arm's change; the question is about the DCGAN arm."),
        (base, paper, "That is at the paper's (optimistic) choice of size; read the honest choice row."),
    )
    for before, after, hint in other_changes:
        if before and after:
            mistakes.append((_largest_change(before, after), hint))
    name = truth[0]
    moved = (
        f"Its sensitivity went from {base[name]:.3f} to {dcgan[name]:.3f} ({change[name]:+.3f})."
        if change[name] != 0
        else "No class's sensitivity changed."
    )
    verdict = Verdict(
        question="which class's sensitivity changes most (up or down) from the classic optimum to classic + DCGAN "
        "(honest choice)?",
        truth=truth,
        kind="name",
        names=tuple(base),
        why=f"{moved} Compare the change with the two rows' intervals: a class's sensitivity rests on that class's "
        "lesions only, so chance moves it more than the accuracy.",
        hint="in the table, subtract each class's sensitivity in the 'classic optimum' row from the one in "
        "'classic + DCGAN (honest choice)'; the largest change, up or down, answers.",
        mistakes=unless_right(mistakes, truth, "name"),
    )
    return judge(answer, verdict)


def _largest_change(before: dict[str, float], after: dict[str, float]) -> str:
    """The class whose value moves most, up or down, from ``before`` to ``after`` (the first of a tie)."""
    return max(before, key=lambda name: abs(after[name] - before[name]))


def _per_class(results: pd.DataFrame, setting: str, metric: str, required: bool = True) -> dict[str, float]:
    """``{class: estimate}`` of one setting's per-class metric in a results table (empty if absent and optional)."""
    missing = {"setting", "metric", "class", "estimate"} - set(results.columns)
    if missing:
        raise LiverkitError(f"results lacks the columns {sorted(missing)}: pass gan_results.results_table(...).")
    rows = results[(results["setting"] == setting) & (results["metric"] == metric)]
    if rows.empty and required:
        raise LiverkitError(
            f"results has no {metric} rows for setting {setting!r}; its settings are "
            f"{list(dict.fromkeys(results['setting']))}. Pass notebook 05's results table."
        )
    return {str(c): float(v) for c, v in zip(rows["class"], rows["estimate"], strict=True)}


def check_05_dcgan_p_value(run: RunFolder, answer: Any = None) -> str:
    """Notebook 05, exercise 2: the adjusted p-value of the primary comparison of the DCGAN arm (against the
    same-size control at the same size), rounded to 2 decimals."""
    numbers = run.read_metrics("05_gan_augmentation")
    primary = numbers["primary"]["dcgan"]
    p_value = float(primary["p_adjusted"])
    meaning = (
        "Below 0.05: the family-adjusted test rejects, and the verdict says so."
        if p_value < 0.05
        else "0.05 or more: the adjusted test does not reject, so the verdict is 'inconclusive': this run neither "
        "shows that DCGAN lesions beat extra classic variants nor that they do not."
    )
    secondary = numbers["comparisons"].get("dcgan_vs_classic_control_honest", {})
    acgan = numbers["primary"].get("acgan", {})
    mistakes = [
        (primary.get("p_value"), "That is the unadjusted p-value: use the one adjusted for the family."),
        (
            secondary.get("p_adjusted"),
            "That is the secondary comparison (each arm at its own size): read the primary "
            "one, both arms at the same size.",
        ),
        (acgan.get("p_adjusted"), "That is the ACGAN arm's primary comparison; the question is about the DCGAN."),
    ]
    verdict = Verdict(
        question="what was the adjusted p-value of the primary comparison, classic + DCGAN against the same-size "
        "control at the same size, rounded to 2 decimals?",
        truth=p_value,
        kind="decimal2",
        why=meaning,
        hint="the table of paired comparisons starts with the primary rows; read the 'p adjusted' column of the "
        "DCGAN row.",
        mistakes=unless_right(((None if v is None else float(v), h) for v, h in mistakes), p_value, "decimal2"),
    )
    return judge(answer, verdict)
