"""The null simulation behind notebook 05's check of its own intervals: structure read off a sweep, miss rates."""

import numpy as np
import pandas as pd
import pytest

from liverkit.experiment import null_check
from liverkit.experiment.gan_sweep import GanSweep

L, PATIENTS = 90, np.repeat([f"p{i}" for i in range(45)], 2)


def _structure(agreement: float = 0.7) -> null_check.NullStructure:
    rng = np.random.default_rng(0)
    folds = np.stack([rng.permutation(np.repeat([0, 1, 2], L // 3)) for _ in range(3)])
    folds = np.stack([f[np.repeat(np.arange(45), 2) * 2] for f in folds])  # both lesions of a patient together
    return null_check.NullStructure(PATIENTS, folds, np.linspace(0.3, 0.9, L), agreement, 0.0)


def test_an_interval_that_ignores_the_repeats_misses_more_when_they_spread():
    structure = _structure()
    calm = null_check.simulate(structure, unit_sd_points=0.0, n_sims=150, n_boot=300, seed=1).set_index("method")
    spread = null_check.simulate(structure, unit_sd_points=8.0, n_sims=150, n_boot=300, seed=2).set_index("method")
    assert calm.loc["repeats and patients", "misses"] <= 0.12 and calm.loc["patients only", "misses"] <= 0.15
    assert spread.loc["patients only", "misses"] >= 0.2  # blind to the (repeat, fold) luck
    assert spread.loc["repeats and patients", "misses"] < spread.loc["patients only", "misses"]
    assert spread.loc["repeats and patients", "width_points"] > spread.loc["patients only", "width_points"]
    effect = null_check.simulate(structure, 0.0, shift_points=10.0, n_sims=60, n_boot=300, seed=3)
    assert (effect.shift_points == 10.0).all() and effect.misses.max() <= 0.2


def _sweep(gain_rows: dict[tuple[int, int], int]) -> GanSweep:
    """3 repeats x 90 lesions; in every (repeat, fold) the control is right on lesions i < 45, the GAN arm on
    i < 45 + gain_rows[(repeat, fold)] (so the arms disagree only there)."""
    folds = _structure().folds
    rows = []
    for r in range(3):
        for i in range(L):
            f = int(folds[r, i])
            for arm, right in (("classic_control", i < 45), ("dcgan", i < 45 + gain_rows[(r, f)])):
                rows.append(
                    {
                        "repeat": r,
                        "fold": f,
                        "arm": arm,
                        "synthetic": 10,
                        "classic_group": 0,
                        "index": i,
                        "id": f"l{i}",
                        "patient": PATIENTS[i],
                        "y_true": 0,
                        "y_pred": 0 if right else 1,
                    }
                )
    inner = pd.DataFrame(
        [
            {"repeat": r, "fold": f, "inner_fold": 0, "arm": a, "synthetic": 10, "val_correct": 1, "val_lesions": 2}
            for r in range(3)
            for f in range(3)
            for a in ("classic_control", "dcgan")
        ]
    )
    return GanSweep(pd.DataFrame(rows), inner, pd.DataFrame(), ("a", "b"), (10,))


def test_structure_is_read_off_the_primary_pair():
    calm = null_check.structure_of(_sweep({(r, f): 0 for r in range(3) for f in range(3)}), "dcgan")
    assert calm.folds.shape == (3, L) and calm.agreement == 1.0  # the arms never disagree
    assert calm.accuracy[0] == pytest.approx(3.5 / 4) and calm.accuracy[-1] == pytest.approx(0.5 / 4)
    assert calm.unit_sd_points == 0.0
    varied = null_check.structure_of(
        _sweep({(r, f): (12 if (r + f) % 2 else 0) for r in range(3) for f in range(3)}), "dcgan"
    )
    assert varied.agreement < 1.0 and varied.unit_sd_points > 4.0


def test_the_sentence_is_computed_from_the_table():
    table = null_check.simulate(_structure(), unit_sd_points=8.0, n_sims=40, n_boot=200, seed=4)
    words = null_check.in_words(table)
    ours = table[table.method == "repeats and patients"].iloc[0]
    assert f"missed in {100 * ours.misses:.0f}%" in words and "of 40 simulated runs of 3 repeats" in words
    numbers = null_check.key_numbers(table)
    assert numbers["sims"] == 40 and set(numbers["misses"]) == {
        "repeats and patients|spread 8|shift 0",
        "patients only|spread 8|shift 0",
    }


@pytest.mark.parametrize("spread", [0, 12])
def test_a_runs_record_names_its_scenarios_the_same_whatever_spread_it_estimated(spread):
    """Keys must not carry the estimate itself: ``liverkit regress`` compares two runs key by key."""
    sweep = _sweep({(r, f): (spread if (r + f) % 2 else 0) for r in range(3) for f in range(3)})
    table = null_check.null_table(sweep, "dcgan", n_sims=5, n_boot=50)
    numbers = null_check.key_numbers(table)
    assert set(numbers["misses"]) == {
        f"{method}|spread {label}|shift {shift}"
        for method in ("repeats and patients", "patients only")
        for label, shift in (("estimated", 0), ("0", 0), ("4", 0), ("estimated", 5))
    }
    assert (numbers["estimated_spread_points"] > 4.0) is (spread == 12)
