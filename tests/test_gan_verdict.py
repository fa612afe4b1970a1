"""Reading the CNN-AUG-GAN sweep on hand-made sweeps: honest and paper choices, the patient-level paired tests,
the primary family matched in size and steps, Bonferroni within each family, no p-value or verdict after a
test-fold choice, and verdict sentences that follow the adjusted test."""

import numpy as np
import pandas as pd
import pytest

from liverkit import LiverkitError
from liverkit.evaluate.classifier_metrics import bonferroni
from liverkit.experiment import gan_verdict
from liverkit.experiment.gan_sweep import GanSweep


def _hand_sweep(right: dict[str, np.ndarray], patients: np.ndarray | None = None, repeats: int = 1) -> GanSweep:
    """One fold of lesions with label 0; ``right[arm]`` (R x L or L) says which predictions are right; size 10."""
    rows, timing = [], []
    for arm, ok in right.items():
        ok = np.atleast_2d(ok)
        size = 0 if arm == "classic" else 10
        for r in range(repeats):
            n = ok.shape[1]
            rows += [
                {
                    "repeat": r,
                    "fold": 0,
                    "arm": arm,
                    "synthetic": size,
                    "classic_group": 0,
                    "index": i,
                    "id": f"l{i}",
                    "patient": f"p{i}" if patients is None else patients[i],
                    "y_true": 0,
                    "y_pred": 0 if ok[r % len(ok), i] else 1,
                }
                for i in range(n)
            ]
            timing.append(
                {
                    "repeat": r,
                    "fold": 0,
                    "arm": arm,
                    "synthetic": size,
                    "stage": "outer",
                    "seconds": 1.0,
                    "training_images": 10 + 3 * size,
                    "shared_images": 10,
                    "epochs": 2,
                    "steps": 2 + size,
                }
            )
    added = [arm for arm in right if arm != "classic"]
    inner = pd.DataFrame(
        [
            {"repeat": r, "fold": 0, "inner_fold": 0, "arm": arm, "synthetic": 10, "val_correct": 5, "val_lesions": 10}
            for arm in added
            for r in range(repeats)
        ]
    )
    return GanSweep(pd.DataFrame(rows), inner, pd.DataFrame(timing), ("a", "b"), (10,))


def _by_pair(comparisons):
    return {(c["baseline"], c["arm"], c["choice"]): c for c in comparisons}


def test_the_comparison_plan_is_fixed_by_the_arms():
    right = {"classic": np.zeros(20, bool), "classic_control": np.ones(20, bool), "dcgan": np.ones(20, bool)}
    comps = _by_pair(gan_verdict.compare(_hand_sweep(right), n_boot=200))
    assert {key: c["family"] for key, c in comps.items()} == {
        ("classic_control", "dcgan", "matched"): "primary",
        ("classic", "classic_control", "honest"): "secondary",
        ("classic", "dcgan", "honest"): "secondary",
        ("classic_control", "dcgan", "honest"): "secondary",
        ("classic", "classic_control", "paper"): "descriptive",
        ("classic", "dcgan", "paper"): "descriptive",
    }
    primary = comps[("classic_control", "dcgan", "matched")]
    assert primary["family_size"] == 1 and primary["ci_level"] == pytest.approx(0.95)
    secondary = comps[("classic", "dcgan", "honest")]
    assert secondary["family_size"] == 3 and secondary["ci_level"] == pytest.approx(1 - 0.05 / 3)
    raw = [c["p_value"] for c in comps.values() if c["family"] == "secondary"]
    assert [c["p_adjusted"] for c in comps.values() if c["family"] == "secondary"] == pytest.approx(bonferroni(raw))


def test_descriptive_rows_carry_no_p_value_and_no_verdict():
    right = {"classic": np.zeros(20, bool), "classic_control": np.ones(20, bool), "dcgan": np.ones(20, bool)}
    for c in gan_verdict.compare(_hand_sweep(right), n_boot=100):
        if c["family"] == "descriptive":
            assert c["p_value"] is None and c["p_adjusted"] is None and c["verdict"] is None
            assert "Descriptive only" in c["in_words"] and "p =" not in c["in_words"] and "p <" not in c["in_words"]
            assert "helped" not in c["in_words"] and "hurt" not in c["in_words"]
        else:
            assert c["p_value"] is not None and c["verdict"] in ("helped", "hurt", "inconclusive")


def test_a_clear_gain_is_a_verdict_and_its_interval_agrees():
    right = {
        "classic": np.array([0] * 20 + [1] * 20, bool),
        "classic_control": np.array([0] * 20 + [1] * 20, bool),
        "dcgan": np.ones(40, bool),
    }
    comps = _by_pair(gan_verdict.compare(_hand_sweep(right), n_boot=400))
    helped = comps[("classic_control", "dcgan", "matched")]
    assert helped["verdict"] == "helped" and helped["ci_low"] > 0 and "the added images helped" in helped["in_words"]
    same = comps[("classic", "classic_control", "honest")]
    assert same["accuracy_difference"] == 0 and same["p_adjusted"] == 1.0 and same["verdict"] == "inconclusive"
    assert "Inconclusive: the data are compatible with +0.0 to +0.0 points" in same["in_words"]


def test_the_comparisons_table_and_verdict_line_say_what_the_comparisons_say():
    right = {
        "classic": np.array([0] * 20 + [1] * 20, bool),
        "classic_control": np.array([0] * 20 + [1] * 20, bool),
        "dcgan": np.ones(40, bool),
    }
    comparisons = gan_verdict.compare(_hand_sweep(right), n_boot=400)
    table = gan_verdict.comparisons_table(comparisons)
    assert len(table) == len(comparisons) == 6
    primary = table[table.family == "primary"].iloc[0]
    assert (primary.compared, primary.against) == ("classic + DCGAN", "classic + extra classic (control) (same size)")
    assert primary.difference == 50.0 and primary.verdict == "helped" and primary["interval"].endswith("(95%)")
    descriptive = table[table.family == "descriptive"]
    assert (descriptive["p"] == "").all() and (descriptive["p adjusted"] == "").all()
    assert set(table.against) == {
        "classic + extra classic (control) (same size)",  # primary: at the GAN arm's size
        "classic + extra classic (control) (its own size)",  # secondary: each arm at its own choice
        "classic optimum",
    }
    assert (descriptive.verdict == "").all()
    line = gan_verdict.verdict_line(comparisons)
    assert line.startswith("Verdict, each GAN arm against the same-size control (1 primary comparison): ")
    assert "classic + DCGAN: helped (+50.0 points" in line and line.count("\n") == 0
    secondary_only = [c for c in comparisons if c["family"] != "primary"]
    assert gan_verdict.verdict_line(secondary_only) == "No primary comparison: this sweep has no GAN arm."


def _baseline_case(**changes) -> dict:
    """The committed quick baseline's ACGAN-vs-control numbers: -4.0 [-7.3, -0.9], raw p 0.020, adjusted p 0.10."""
    case = {
        "family": "primary",
        "family_size": 2,
        "arm": "acgan",
        "baseline": "classic_control",
        "choice": "matched",
        "repeats": 3,
        "lesions": 182,
        "patients": 113,
        "accuracy_difference": -0.040,
        "ci_low": -0.073,
        "ci_high": -0.009,
        "ci_level": 0.95,
        "per_repeat": [-0.03, -0.05, -0.04],
        "p_value": 0.020,
        "p_adjusted": 0.10,
        "detectable_80": gan_verdict.detectable_difference(-0.073, -0.009, 0.05),
    }
    return case | changes


def test_the_verdict_follows_the_adjusted_test_not_the_raw_interval():
    case = _baseline_case()
    assert gan_verdict.verdict(case) == "inconclusive"
    words = gan_verdict.in_words(case)
    assert "Inconclusive: the data are compatible with -7.3 to -0.9 points" in words and "hurt" not in words
    assert "p = 0.100 adjusted for the 2 primary comparison(s)" in words
    assert "less than about 4.6 points either way would usually (80% of runs like this one) go undetected" in words
    assert gan_verdict.detectable_difference(-0.02, 0.02, 0.05) == pytest.approx((1.96 + 0.8416) * 0.02 / 1.96, 1e-3)
    rejected = _baseline_case(p_adjusted=0.04)
    assert gan_verdict.verdict(rejected) == "hurt" and "On this data the added images hurt." in gan_verdict.in_words(
        rejected
    )
    paper = _baseline_case(family="descriptive", choice="paper", p_value=None, p_adjusted=None)
    assert gan_verdict.verdict(paper) is None
    assert "no p-value and no verdict" in gan_verdict.in_words(paper) and "hurt" not in gan_verdict.in_words(paper)


def test_the_primary_pair_is_matched_in_size_and_steps():
    """The GAN arm prefers size 20 on its inner folds, the control 10: the primary pair compares both at 20."""
    sweep = _two_size_sweep(gan_inner={10: 3, 20: 8}, control_inner={10: 8, 20: 3})
    honest = gan_verdict.choose_sizes(sweep, "honest")
    assert set(honest[honest.arm == "dcgan"].synthetic) == {20}
    assert set(honest[honest.arm == "classic_control"].synthetic) == {10}
    control, gan = gan_verdict.matched_predictions(sweep, "dcgan")
    assert set(control.synthetic) == set(gan.synthetic) == {20}
    budget = gan_verdict.matched_budget(sweep, "dcgan")
    assert len(budget) == 2  # one row per (repeat, fold)
    assert (budget.training_images_gan == budget.training_images_control).all()
    assert (budget.steps_gan == budget.steps_control).all() and (budget.epochs_gan == budget.epochs_control).all()
    comps = _by_pair(gan_verdict.compare(sweep, n_boot=200))
    primary = comps[("classic_control", "dcgan", "matched")]
    assert primary["accuracy_difference"] == pytest.approx(0.5)  # control at 20 right on 5 of 10, the GAN on all
    own_size = comps[("classic_control", "dcgan", "honest")]
    assert own_size["accuracy_difference"] == pytest.approx(0.0)  # the control at its own size 10 is right on all
    numbers = gan_verdict.key_numbers(sweep, gan_verdict.results_table(sweep, _no_aug(sweep), 20), list(comps.values()))
    matched = numbers["primary"]["dcgan"]["matched"]
    assert matched["gan_size"] == matched["control_size"] == [20, 20]
    assert matched["gan_steps"] == matched["control_steps"] and matched["repeat"] == [0, 1]
    assert numbers["primary"]["dcgan"]["ci_levels"] == ["patient", "repeat"]
    assert numbers["primary"]["dcgan"]["verdict"] in ("helped", "hurt", "inconclusive")


def _no_aug(sweep: GanSweep) -> pd.DataFrame:
    return sweep.predictions[sweep.predictions.arm == "classic"].assign(group=0)


def _two_size_sweep(gan_inner: dict[int, int], control_inner: dict[int, int]) -> GanSweep:
    """Two repeats of one fold of 10 lesions (10 patients); sizes 10 and 20; inner scores as given (of 10).
    Test predictions: classic and the GAN arm always right; the control right on all at 10, on half at 20."""
    rows, timing, inner = [], [], []
    recipes = [("classic", 0)] + [(arm, s) for arm in ("classic_control", "dcgan") for s in (10, 20)]
    for r in range(2):
        for arm, size in recipes:
            n_right = 5 if (arm, size) == ("classic_control", 20) else 10
            rows += [
                {
                    "repeat": r,
                    "fold": 0,
                    "arm": arm,
                    "synthetic": size,
                    "classic_group": 0,
                    "index": i,
                    "id": f"l{i}",
                    "patient": f"p{i}",
                    "y_true": 0,
                    "y_pred": int(i >= n_right),
                }
                for i in range(10)
            ]
            images = 10 + 2 * size
            timing.append(
                {
                    "repeat": r,
                    "fold": 0,
                    "arm": arm,
                    "synthetic": size,
                    "stage": "outer",
                    "inner_fold": -1,
                    "seconds": 1.0,
                    "training_images": images,
                    "shared_images": 10,
                    "epochs": 2,
                    "steps": 2 * images,
                }
            )
        for arm, scores in (("dcgan", gan_inner), ("classic_control", control_inner)):
            inner += [
                {
                    "repeat": r,
                    "fold": 0,
                    "inner_fold": 0,
                    "arm": arm,
                    "synthetic": s,
                    "val_correct": c,
                    "val_lesions": 10,
                }
                for s, c in scores.items()
            ]
    return GanSweep(pd.DataFrame(rows), pd.DataFrame(inner), pd.DataFrame(timing), ("a", "b"), (10, 20))


def test_clustered_lesions_widen_the_interval():
    """The same 12 gained lesions are strong evidence from 12 patients, weak evidence from 2."""
    classic, dcgan = np.zeros(12, bool), np.ones(12, bool)
    right = {"classic": classic, "classic_control": classic, "dcgan": dcgan}
    spread = _by_pair(gan_verdict.compare(_hand_sweep(right), n_boot=400))[("classic", "dcgan", "honest")]
    two = np.array(["a"] * 6 + ["b"] * 6)
    clustered = _by_pair(gan_verdict.compare(_hand_sweep(right, two), n_boot=400))[("classic", "dcgan", "honest")]
    assert clustered["patients"] == 2 and spread["patients"] == 12
    assert spread["accuracy_difference"] == clustered["accuracy_difference"] == 1.0


def test_repeats_are_all_used_and_their_spread_widens_the_interval():
    classic = np.zeros((3, 10), bool)
    dcgan = np.array([[1] * 10, [0] * 10, [1] * 5 + [0] * 5], bool)  # +100, 0, +50 points
    right = {"classic": classic, "classic_control": classic, "dcgan": dcgan}
    c = _by_pair(gan_verdict.compare(_hand_sweep(right, repeats=3), n_boot=400))[("classic", "dcgan", "honest")]
    assert c["repeats"] == 3 and c["per_repeat"] == pytest.approx([1.0, 0.0, 0.5])
    assert c["per_repeat_fold"] == pytest.approx({"r0_f0": 1.0, "r1_f0": 0.0, "r2_f0": 0.5})
    assert c["accuracy_difference"] == pytest.approx(0.5)
    assert c["ci_low"] <= 0.0 + 1e-12 and c["ci_high"] == pytest.approx(1.0)  # a repeat with no gain is drawn
    assert c["verdict"] == "inconclusive"


@pytest.mark.parametrize(
    ("p", "text"), [(0.1796875, "p = 0.180"), (0.0384, "p = 0.038"), (0.000472, "p = 0.0005"), (3e-7, "p < 0.0001")]
)
def test_p_values_are_written_without_rounding_to_zero(p, text):
    assert gan_verdict.p_text(p) == text


def test_honest_choice_pools_inner_folds_and_paper_choice_uses_test_scores():
    # fold 0: size 20 wins over both inner folds (13/20 vs 11/20) though inner fold 1 alone prefers 10; fold 1 ties
    scores = [
        (0, 0, 10, 4),
        (0, 0, 20, 7),
        (0, 1, 10, 7),
        (0, 1, 20, 6),
        (1, 0, 10, 6),
        (1, 0, 20, 6),
        (1, 1, 10, 6),
        (1, 1, 20, 6),
    ]
    inner = pd.DataFrame(
        [
            {
                "repeat": 0,
                "fold": f,
                "inner_fold": k,
                "arm": "dcgan",
                "synthetic": s,
                "val_correct": c,
                "val_lesions": 10,
            }
            for f, k, s, c in scores
        ]
    )
    rows = []
    for fold, size, right in ((0, 10, 8), (0, 20, 2), (1, 10, 9), (1, 20, 1)):
        rows += [
            {
                "repeat": 0,
                "fold": fold,
                "arm": "dcgan",
                "synthetic": size,
                "classic_group": 0,
                "index": fold * 10 + i,
                "id": "x",
                "patient": "p",
                "y_true": 0,
                "y_pred": int(i >= right),
            }
            for i in range(10)
        ]
    timing = pd.DataFrame(
        {
            "repeat": 0,
            "fold": 0,
            "arm": "dcgan",
            "synthetic": [10, 20],
            "stage": "outer",
            "seconds": 1.0,
            "training_images": [30, 60],
        }
    )
    sweep = GanSweep(pd.DataFrame(rows), inner, timing, ("a", "b"), (10, 20))
    honest = gan_verdict.choose_sizes(sweep, "honest")
    assert honest.set_index("fold").synthetic.to_dict() == {0: 20, 1: 10}  # fold 1 ties: the smaller size
    paper = gan_verdict.choose_sizes(sweep, "paper")
    assert set(paper.synthetic) == {10}  # test accuracy 85% at 10 against 15% at 20
    with pytest.raises(LiverkitError, match="unknown model-choice mode"):
        gan_verdict.choose_sizes(sweep, "best")


def test_tables_and_key_numbers():
    right = {
        "classic": np.array([1, 0] * 10, bool),
        "classic_control": np.array([1, 1, 0, 0] * 5, bool),
        "dcgan": np.ones(20, bool),
    }
    sweep = _hand_sweep(right, repeats=3)
    no_aug = sweep.predictions[sweep.predictions.arm == "classic"].assign(group=0)
    results = gan_verdict.results_table(sweep, no_aug, n_boot=50)
    assert list(dict.fromkeys(results.setting)) == [
        "no augmentation",
        "classic optimum",
        "classic + extra classic (control) (honest choice)",
        "classic + DCGAN (honest choice)",
        "classic + extra classic (control) (paper's choice, optimistic)",
        "classic + DCGAN (paper's choice, optimistic)",
    ]
    numbers = gan_verdict.key_numbers(sweep, results, gan_verdict.compare(sweep, n_boot=50))
    assert numbers["ci_method"] == "patient_cluster_bootstrap" and numbers["repeats"] == 3
    assert numbers["arms"] == ["classic", "classic_control", "dcgan"]
    assert numbers["per_fold"]["classic + DCGAN"] == {"fold 0": 1.0}
    assert numbers["comparisons"]["dcgan_vs_classic_control_honest"]["accuracy_difference"] == 0.5
    assert numbers["primary"]["dcgan"]["accuracy_difference"] == 0.5 and numbers["gan_repeats"] == 3
    assert numbers["comparisons"]["dcgan_vs_classic_paper"]["p_value"] is None
    folds = gan_verdict.fold_table(sweep, no_aug)
    assert folds.loc["classic optimum", "pooled"] == 0.5 and folds.loc["classic optimum", "repeat 2"] == 0.5


def test_floor_warnings_name_every_under_trained_gan():
    table = pd.DataFrame(
        {
            "repeat": [0, 0, 1, 0],
            "fold": [0, 1, 0, 0],
            "gan": ["dcgan", "dcgan", "dcgan", "acgan"],
            "steps": [140, 600, 210, 800],
            "trusted_steps": [600, 600, 600, 800],
            "collapse_ratio": [0.5, 0.9, 0.7, 0.8],
            "primary_difference": [0.0, 0.01, -0.02, 0.0],
        }
    )
    assert gan_verdict.floor_warnings(table) == [
        "Warning: in 2 of 3 (repeat, fold)s the DCGAN trained fewer steps than the 600 after which such GANs were "
        "found to make usable lesions (repeat 0 fold 0: 140, repeat 1 fold 0: 210): there its arm tests "
        "under-trained GANs, not GAN augmentation."
    ]
    assert gan_verdict.floor_warnings(table.assign(trusted_steps=None)) == []  # no floor known: nothing to warn


def test_the_scope_is_computed_from_the_run():
    right = {
        "classic": np.array([1, 1, 0, 0] * 5, bool),
        "classic_control": np.array([1, 1, 0, 0] * 5, bool),
        "dcgan": np.array([1, 1, 1, 0] * 5, bool),
    }
    sweep = _hand_sweep(right, repeats=2)
    comps = gan_verdict.compare(sweep, n_boot=200)
    table = pd.DataFrame({"gan": ["dcgan", "dcgan"], "steps": [600, 560]})
    text = gan_verdict.scope_text(sweep, comps, table, "phantom, quick profile")
    assert "20 test lesions of 20 patients (phantom, quick profile), 2 repeats of 1 folds" in text
    assert (
        "GANs of DCGAN 560-600 steps" in text and "Always answering the most frequent class would score 100.0%" in text
    )
    versus = _by_pair(comps)[("classic", "dcgan", "honest")]
    inside = versus["ci_low"] <= 0.071 <= versus["ci_high"]
    assert ("lies inside" in text) == inside and ("cannot rule it out" in text) == inside
