"""How often notebook 05's intervals would miss: a simulation of two identical arms on the sweep's own structure.

Two arms that are the same procedure with different seeds differ by nothing on average, so a 95% interval that
excludes zero is a false alarm, and one that misses the true difference of a shifted arm is a miss. This module
simulates such pairs on the structure of a finished sweep (its lesions, patients and every repeat's folds), with
lesion difficulties, between-arm agreement and (repeat, fold) spread read off the sweep itself, and counts how often
the kit's interval (:func:`~liverkit.evaluate.classifier_metrics.crossed_bootstrap` over repeats and patients) and the
patients-only interval it replaced are wrong.

The model, per simulated repeat r, lesion i in fold f(r, i) and arm X (control or GAN):
``P(correct) = expit(logit(p_i) + d_X[r, f] + shift_X)``, where ``p_i`` is the lesion's accuracy in the sweep,
``d_X[r, f] ~ N(0, s^2)`` the luck of that (repeat, fold)'s training (folds, GANs, seeds), independent between the
arms, and the two arms' correctness share their random draw with probability ``agreement`` (common random numbers:
the arms share seeds, pools and the classic group). What it does not model: lesion-specific effects of the GANs
(a GAN that helps only cysts), and patients that are hard for one arm only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.evaluate.classifier_metrics import bootstrap_bounds, crossed_bootstrap
from liverkit.experiment.classic_sweep import prediction_matrix
from liverkit.experiment.gan_sweep import GanSweep
from liverkit.experiment.gan_verdict import matched_predictions

METHODS = ("repeats and patients", "patients only")
"""The intervals compared: the kit's crossed bootstrap, and the patient bootstrap of repeat-averaged gains it
replaced (which holds the repeats' training luck fixed)."""


@dataclass(frozen=True)
class NullStructure:
    """What the simulation copies from a sweep: who is tested together and how hard each lesion is."""

    patients: np.ndarray
    """Patient id per lesion (L,)."""
    folds: np.ndarray
    """Test fold of every lesion in every repeat (R, L)."""
    accuracy: np.ndarray
    """Each lesion's chance of being right, from the sweep's control arm, kept inside (0, 1) (L,)."""
    agreement: float
    """Probability that the two arms share a lesion's random draw, set so that the simulated arms disagree on as
    many lesions as the sweep's primary pair did."""
    unit_sd_points: float
    """The spread, in accuracy points, of one arm's (repeat, fold) accuracies beyond patient sampling, estimated
    from the primary pair's per-(repeat, fold) differences (0 when they spread no more than sampling explains)."""


def structure_of(sweep: GanSweep, kind: str) -> NullStructure:
    """The structure of ``kind``'s primary pair in ``sweep`` (its control arm's lesions, folds and accuracies)."""
    control, gan = matched_predictions(sweep, kind)
    if control.empty:
        raise LiverkitError(f"the sweep has no primary pair for '{kind}'; run notebook 05's sweep with that arm.")
    index, y_true, base_pred, patients = prediction_matrix(control)
    arm_pred = prediction_matrix(gan)[2]
    right_base, right_arm = base_pred == y_true, arm_pred == y_true  # (R, L)
    repeats = right_base.shape[0]
    accuracy = (right_base.sum(axis=0) + 0.5) / (repeats + 1)  # shrunk away from 0 and 1
    folds = control.pivot_table(index="index", columns="repeat", values="fold", aggfunc="first").loc[index]
    chance = float(np.mean(2 * accuracy * (1 - accuracy)))  # disagreement of two independent draws
    observed = float(np.mean(right_base != right_arm))
    return NullStructure(
        patients=patients,
        folds=folds.to_numpy().T.astype(np.int64),
        accuracy=accuracy,
        agreement=float(np.clip(1 - observed / chance, 0.0, 1.0)) if chance > 0 else 1.0,
        unit_sd_points=_unit_spread(right_arm.astype(float) - right_base, folds.to_numpy().T),
    )


def _unit_spread(gain: np.ndarray, folds: np.ndarray) -> float:
    """One arm's (repeat, fold) spread in points: the between-unit variance of the mean gain beyond what the
    lesions' own variance explains, halved (two independent arms), as an SD."""
    means, noise = [], []
    for r in range(gain.shape[0]):
        for f in np.unique(folds[r]):
            part = gain[r, folds[r] == f]
            means.append(part.mean())
            noise.append(part.var(ddof=1) / len(part) if len(part) > 1 else 0.0)
    between = np.var(means, ddof=1) - np.mean(noise) if len(means) > 1 else 0.0
    return float(100 * np.sqrt(max(between, 0.0) / 2))


def simulate(
    structure: NullStructure,
    unit_sd_points: float,
    shift_points: float = 0.0,
    n_sims: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """How often each method's 95% interval misses the true difference, over ``n_sims`` simulated sweeps.

    Args:
        structure: lesions, patients, folds, accuracies and agreement (:func:`structure_of`).
        unit_sd_points: the spread of one arm's (repeat, fold) accuracy, in points (about; it is set on the logit
            scale as points / (100 * mean p(1 - p))).
        shift_points: the GAN arm's true effect, in points (0: the null; the true difference is then 0).
        n_sims, n_boot: simulated sweeps, and bootstrap draws per interval.
        seed: seed of the simulation.

    Returns:
        One row per method: ``misses`` (share of intervals not covering the true difference; under the null the
        false-alarm rate), its Monte Carlo standard error, the mean interval width in points, and the settings.
    """
    rng = np.random.default_rng(seed)
    logit = np.log(structure.accuracy / (1 - structure.accuracy))
    slope = float(np.mean(structure.accuracy * (1 - structure.accuracy)))
    sd, shift = unit_sd_points / 100 / slope, shift_points / 100 / slope
    truth = _true_difference(logit, sd, shift, rng)
    misses = {method: [] for method in METHODS}
    widths = {method: [] for method in METHODS}
    for _ in range(n_sims):
        gain = _one_sweep(structure, logit, sd, shift, rng)
        boot_seed = int(rng.integers(2**31))
        for method, matrix in zip(METHODS, (gain, gain.mean(axis=0, keepdims=True)), strict=True):
            low, high = bootstrap_bounds(crossed_bootstrap(matrix, structure.patients, n_boot, boot_seed))
            misses[method].append(not low <= truth <= high)
            widths[method].append(100 * (high - low))
    rows = []
    for method in METHODS:
        rate = float(np.mean(misses[method]))
        rows.append(
            {
                "method": method,
                "repeats": structure.folds.shape[0],
                "unit_sd_points": unit_sd_points,
                "shift_points": shift_points,
                "misses": rate,
                "se": float(np.sqrt(rate * (1 - rate) / n_sims)),
                "width_points": float(np.mean(widths[method])),
                "sims": n_sims,
            }
        )
    return pd.DataFrame(rows)


def _one_sweep(structure: NullStructure, logit: np.ndarray, sd: float, shift: float, rng) -> np.ndarray:
    """Per repeat and lesion, GAN arm correct minus control correct (R, L) for one simulated sweep."""
    folds = structure.folds
    n_folds = int(folds.max()) + 1
    effects = rng.normal(0.0, sd, size=(2, folds.shape[0], n_folds))  # (arm, repeat, fold)
    rows = np.arange(folds.shape[0])[:, None]
    p_control = _expit(logit + effects[0][rows, folds])
    p_gan = _expit(logit + effects[1][rows, folds] + shift)
    draw = rng.random(folds.shape)
    shared = rng.random(folds.shape) < structure.agreement
    other = np.where(shared, draw, rng.random(folds.shape))
    return (other < p_gan).astype(float) - (draw < p_control)


def _true_difference(logit: np.ndarray, sd: float, shift: float, rng, n: int = 4000) -> float:
    """The expected accuracy difference of the GAN arm over the control, over (repeat, fold) luck."""
    if shift == 0:
        return 0.0  # the arms are exchangeable
    luck = rng.normal(0.0, sd, size=(n, 1))
    return float(np.mean(_expit(logit + luck + shift) - _expit(logit + luck)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def null_table(
    sweep: GanSweep,
    kind: str,
    spreads_points: tuple[float, ...] = (0.0, 4.0),
    shift_points: float = 5.0,
    n_sims: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`simulate` on ``kind``'s primary pair: under the null at the estimated (repeat, fold) spread and at each
    of ``spreads_points``, and with a true effect of ``shift_points`` at the estimated spread. The ``spread`` column
    names each row's scenario (``estimated``, or the fixed spread), so that two runs record the same scenarios
    under the same names whatever spread each estimated (:func:`key_numbers`)."""
    structure = structure_of(sweep, kind)
    estimated = round(structure.unit_sd_points, 2)
    scenarios = [
        ("estimated", estimated, 0.0),
        *((f"{s:g}", s, 0.0) for s in spreads_points),
        ("estimated", estimated, shift_points),
    ]
    frames = [
        simulate(structure, sd, shift, n_sims, n_boot, seed + i).assign(spread=label)
        for i, (label, sd, shift) in enumerate(scenarios)
    ]
    return pd.concat(frames, ignore_index=True)


def in_words(table: pd.DataFrame) -> str:
    """The simulation's result as sentences computed from ``table`` (:func:`null_table`)."""
    ours, old = METHODS
    null = table[table.shift_points == 0]
    first = null.iloc[0]  # the estimated spread comes first
    rate = {m: null[null.method == m].iloc[0] for m in METHODS}
    text = (
        f"With no true difference and this run's estimated (repeat, fold) spread ({first.unit_sd_points:g} points), "
        f"the interval that resamples {ours} missed in {100 * rate[ours].misses:.0f}% "
        f"(+-{196 * rate[ours].se:.0f}) of {int(first.sims)} simulated runs of {int(first.repeats)} repeats, the "
        f"one that resamples {old} in {100 * rate[old].misses:.0f}%. "
    )
    worst = null[null.method == ours].sort_values("misses").iloc[-1]
    text += f"Its worst case here: {100 * worst.misses:.0f}% at a spread of {worst.unit_sd_points:g} points. "
    effect = table[(table.shift_points != 0) & (table.method == ours)]
    if not effect.empty:
        row = effect.iloc[0]
        text += f"With a true effect of {row.shift_points:+g} points it missed {100 * row.misses:.0f}%. "
    return text + (
        "A rate well above 5% means this run's intervals are too narrow for its design: more repeats help."
        if worst.misses - 1.96 * worst.se > 0.05
        else "No rate here is clearly above the 5% an honest 95% interval misses."
    )


def key_numbers(table: pd.DataFrame) -> dict:
    """The simulation's miss rates for notebook 05's record, by method and scenario (a :func:`null_table` row's
    ``spread`` name, else its spread in points), and the estimated spread where the table has one."""
    labels = table["spread"] if "spread" in table else [f"{sd:g}" for sd in table.unit_sd_points]
    numbers: dict = {
        "sims": int(table.sims.iloc[0]),
        "misses": {
            f"{method}|spread {label}|shift {shift:g}": round(float(rate), 4)
            for method, label, shift, rate in zip(table.method, labels, table.shift_points, table.misses, strict=True)
        },
    }
    if "spread" in table:
        numbers["estimated_spread_points"] = float(table.unit_sd_points[table.spread == "estimated"].iloc[0])
    return numbers
