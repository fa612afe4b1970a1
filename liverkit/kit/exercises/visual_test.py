"""Checkers for notebook 08 (the visual Turing test)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from liverkit.errors import LiverkitError
from liverkit.kit.exercises.verdict import YES_NO, Verdict, judge, unless_right


def check_08_better_than_guessing(scores: pd.DataFrame, rater: str, answer: Any = None) -> str:
    """Notebook 08, exercise 1: was ``rater`` shown to tell real from synthetic better than guessing ("yes" or
    "no")? Yes needs more than half right and a two-sided binomial p-value below 0.05.

    Args:
        scores: the notebook's ``scores`` (``turing.score``).
        rater: the rater's name (in the demo, ``"simulated-1"``).
    """
    rows = scores[scores["rater"] == rater]
    if rows.empty:
        raise LiverkitError(f"rater {rater!r} has no scores; the raters with answers are {list(scores['rater'])}.")
    row = rows.iloc[0]
    n, right, p = int(row["n_answered"]), int(row["origin_right"]), float(row["p_value"])
    if n == 0:
        raise LiverkitError(f"rater {rater!r} has not answered yet: answer in the app, then run the scores cell.")
    better = p < 0.05 and right > n / 2
    mistakes = []
    if not better and right > n / 2:
        mistakes.append(
            (
                "yes",
                f"More than half right is not enough: with {n} ROIs, guessing often does as well. Read the p-value.",
            )
        )
    if not better and right < n / 2:
        mistakes.append(("yes", "Look again at how many calls were right, against half of them."))
    if better:
        reading = "The binomial test rejects guessing (p < 0.05), with more than half right."
    elif p < 0.05:
        reading = "Significantly fewer than half were right: real and synthetic were swapped, worse than guessing."
    else:
        reading = (
            "p is 0.05 or more: guessing is not ruled out. That is no proof of guessing either: a longer test could "
            "still show a small skill (exercise 2)."
        )
    verdict = Verdict(
        question=f"was {rater} shown to tell real from synthetic better than guessing (yes or no)?",
        truth=("yes",) if better else ("no",),
        kind="name",
        names=YES_NO,
        why=f"{right} of {n} right, p = {p:.2g}. {reading}",
        hint="read the rater's origin_accuracy and p_value in the scores table: both must point the same way.",
        mistakes=unless_right(mistakes, ("yes",) if better else ("no",), "name"),
    )
    return judge(answer, verdict)


def check_08_test_length(answer: Any = None, accuracy: float = 0.6, lengths: Sequence[int] = (40, 100, 200)) -> str:
    """Notebook 08, exercise 2: of the test ``lengths``, the shortest at which a rater right ``accuracy`` of the time
    is shown better than guessing (two-sided exact binomial test, p < 0.05)."""
    two_sided = {n: binomtest(round(accuracy * n), n).pvalue for n in lengths}
    one_sided = {n: binomtest(round(accuracy * n), n, alternative="greater").pvalue for n in lengths}
    enough = [n for n in lengths if two_sided[n] < 0.05]
    if not enough:
        raise LiverkitError(f"none of the lengths {list(lengths)} is long enough; add a longer one.")
    truth = min(enough)
    mistakes = [
        (
            n,
            f"At n = {n} only the one-sided p ({one_sided[n]:.3f}) is below 0.05; the test is two-sided "
            f"(p = {two_sided[n]:.3f}).",
        )
        for n in lengths
        if n < truth and one_sided[n] < 0.05
    ]
    mistakes += [(max(lengths), "That length shows it, but is it the shortest of the three?")]
    values = ", ".join(f"n = {n}: p = {p:.3f}" for n, p in two_sided.items())
    verdict = Verdict(
        question=f"of n = {', '.join(str(n) for n in lengths)}, which is the shortest test at which a rater right "
        f"{accuracy:.0%} of the time is shown better than guessing (p < 0.05)?",
        truth=truth,
        kind="count",
        why=f"{values}. A short test cannot show a small skill: a reader study needs its length planned for the "
        "skill it wants to detect.",
        hint="compute scipy.stats.binomtest(k, n).pvalue with k = 0.6 * n for each n, and compare with 0.05.",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)


def check_08_same_seed_kappa(same_seed: pd.DataFrame, pairs: pd.DataFrame, answer: Any = None) -> str:
    """Notebook 08, exercise 3: the kappa of the real-or-synthetic calls of two simulated raters given the same
    seed (rounded to 2 decimals).

    Args:
        same_seed: ``turing.agreement`` of the two raters simulated with one seed (in a new run folder).
        pairs: the notebook's ``turing.agreement`` of its raters (different seeds), for the typical mistake.
    """
    if same_seed.empty:
        raise LiverkitError("same_seed has no pair of raters: simulate two raters with the same seed first.")
    row = same_seed.iloc[0]
    if row["origin_agreement"] < 1:
        return (
            f"Check your simulation: {row['rater_a']} and {row['rater_b']} agree on only "
            f"{row['origin_agreement']:.0%} of the calls, so they did not get the same seed: pass seed=seed to both "
            "simulate_rater calls."
        )
    kappa = float(row["kappa_origin"])
    if not np.isfinite(kappa):
        return "Kappa is undefined here: both raters gave the same one answer to every ROI (no chance to disagree)."
    mistakes = [
        (float(k), "That is the notebook's raters, with different seeds; use the table of the two with the same seed.")
        for k in pairs.get("kappa_origin", [])
    ]
    verdict = Verdict(
        question="what kappa (real or synthetic) do two simulated raters with the same seed reach, rounded to 2 "
        "decimals?",
        truth=kappa,
        kind="decimal2",
        why="The same seed gives the same answers, so they agree perfectly, yet each is right only as often as "
        "before: agreement measures consistency between raters, not whether they are right.",
        hint="print turing.agreement(...) of the two same-seed raters and read kappa_origin.",
        mistakes=unless_right(mistakes, kappa, "decimal2"),
    )
    return judge(answer, verdict)
