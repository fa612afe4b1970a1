"""Reading the CNN-AUG-GAN sweep on hand-made sweeps: honest and paper choices, the patient-level paired tests,
Holm over the honest family, no p-value after a test-fold choice, and verdict sentences that follow the CI."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from liverkit import LiverkitError, gan_results
from liverkit.gan_experiment import GanSweep
from liverkit.metrics import holm


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
    return {(c["baseline"], c["arm"], c["mode"]): c for c in comparisons}


def test_one_lesion_per_patient_gives_mcnemar_and_holm_over_the_honest_family():
    classic = np.array([1] * 10 + [0] * 10 + [1] * 2 + [0] * 8, bool)  # 30 lesions, 30 patients
    dcgan = np.array([1] * 10 + [1] * 7 + [0] * 3 + [0] * 2 + [0] * 8, bool)  # 7 gained, 2 lost
    control = classic.copy()
    control[20:22] = False  # the control loses 2, gains none
    sweep = _hand_sweep({"classic": classic, "classic_control": control, "dcgan": dcgan})
    comps = _by_pair(gan_results.compare(sweep, n_boot=300))
    assert set(comps) == {
        ("classic", "classic_control", "honest"),
        ("classic", "dcgan", "honest"),
        ("classic_control", "dcgan", "honest"),
        ("classic", "classic_control", "paper"),
        ("classic", "dcgan", "paper"),
    }
    vs_classic = comps[("classic", "dcgan", "honest")]
    assert vs_classic["gained"] == 7 and vs_classic["lost"] == 2 and vs_classic["patients"] == 30
    assert vs_classic["p_value"] == pytest.approx(binomtest(7, 9, 0.5).pvalue)  # the exact sign-flip = McNemar
    assert vs_classic["accuracy_difference"] == pytest.approx(5 / 30)
    honest = [c for c in comps.values() if c["mode"] == "honest"]
    expected = holm([c["p_value"] for c in honest])
    assert [c["p_holm"] for c in honest] == pytest.approx(expected)
    assert all(c["p_holm"] >= c["p_value"] for c in honest)
    assert "Holm-adjusted" in vs_classic["in_words"] and "no evidence" in vs_classic["in_words"]


def test_paper_choice_rows_carry_no_p_value():
    right = {"classic": np.zeros(20, bool), "classic_control": np.ones(20, bool), "dcgan": np.ones(20, bool)}
    for c in gan_results.compare(_hand_sweep(right), n_boot=100):
        if c["mode"] == "paper":
            assert c["p_value"] is None and c["p_holm"] is None
            assert "Optimistic" in c["in_words"] and "p =" not in c["in_words"] and "p <" not in c["in_words"]
        else:
            assert c["p_value"] is not None


def test_verdict_follows_the_interval():
    right = {
        "classic": np.array([0] * 20 + [1] * 20, bool),
        "classic_control": np.array([0] * 20 + [1] * 20, bool),
        "dcgan": np.ones(40, bool),
    }
    comps = _by_pair(gan_results.compare(_hand_sweep(right), n_boot=300))
    helped = comps[("classic", "dcgan", "honest")]
    assert helped["ci_low"] > 0 and "added images helped" in helped["in_words"]
    same = comps[("classic", "classic_control", "honest")]
    assert same["accuracy_difference"] == 0 and same["p_value"] == 1.0 and "no evidence" in same["in_words"]


def test_clustered_lesions_weaken_the_test():
    """The same 12 gained lesions are strong evidence from 12 patients, weak evidence from 2."""
    classic, dcgan = np.zeros(12, bool), np.ones(12, bool)
    right = {"classic": classic, "classic_control": classic, "dcgan": dcgan}
    spread = _by_pair(gan_results.compare(_hand_sweep(right), n_boot=300))[("classic", "dcgan", "honest")]
    two = np.array(["a"] * 6 + ["b"] * 6)
    clustered = _by_pair(gan_results.compare(_hand_sweep(right, two), n_boot=300))[("classic", "dcgan", "honest")]
    assert spread["p_value"] == pytest.approx(2 / 2**12) and clustered["p_value"] == pytest.approx(0.5)
    assert clustered["patients"] == 2


def test_repeats_are_all_used():
    classic = np.zeros((3, 10), bool)
    dcgan = np.array([[1] * 10, [0] * 10, [1] * 5 + [0] * 5], bool)  # +100, 0, +50 points
    right = {"classic": classic, "classic_control": classic, "dcgan": dcgan}
    c = _by_pair(gan_results.compare(_hand_sweep(right, repeats=3), n_boot=200))[("classic", "dcgan", "honest")]
    assert c["repeats"] == 3 and c["per_repeat"] == pytest.approx([1.0, 0.0, 0.5])
    assert c["accuracy_difference"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("p", "text"), [(0.1796875, "p = 0.180"), (0.0384, "p = 0.038"), (0.000472, "p = 0.0005"), (3e-7, "p < 0.0001")]
)
def test_p_values_are_written_without_rounding_to_zero(p, text):
    assert gan_results.p_text(p) == text


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
    honest = gan_results.choose_sizes(sweep, "honest")
    assert honest.set_index("fold").synthetic.to_dict() == {0: 20, 1: 10}  # fold 1 ties: the smaller size
    paper = gan_results.choose_sizes(sweep, "paper")
    assert set(paper.synthetic) == {10}  # test accuracy 85% at 10 against 15% at 20
    with pytest.raises(LiverkitError, match="unknown model-choice mode"):
        gan_results.choose_sizes(sweep, "best")


def test_tables_and_key_numbers():
    right = {
        "classic": np.array([1, 0] * 10, bool),
        "classic_control": np.array([1, 1, 0, 0] * 5, bool),
        "dcgan": np.ones(20, bool),
    }
    sweep = _hand_sweep(right, repeats=3)
    no_aug = sweep.predictions[sweep.predictions.arm == "classic"].assign(group=0)
    results = gan_results.results_table(sweep, no_aug, n_boot=50)
    assert list(dict.fromkeys(results.setting)) == [
        "no augmentation",
        "classic optimum",
        "classic + extra classic (control) (honest choice)",
        "classic + DCGAN (honest choice)",
        "classic + extra classic (control) (paper's choice, optimistic)",
        "classic + DCGAN (paper's choice, optimistic)",
    ]
    numbers = gan_results.key_numbers(sweep, results, gan_results.compare(sweep, n_boot=50))
    assert numbers["ci_method"] == "patient_cluster_bootstrap" and numbers["repeats"] == 3
    assert numbers["arms"] == ["classic", "classic_control", "dcgan"]
    assert numbers["per_fold"]["classic + DCGAN"] == {"fold 0": 1.0}
    assert numbers["comparisons"]["dcgan_vs_classic_control_honest"]["accuracy_difference"] == 0.5
    assert numbers["comparisons"]["dcgan_vs_classic_paper"]["p_value"] is None
    folds = gan_results.fold_table(sweep, no_aug)
    assert folds.loc["classic optimum", "pooled"] == 0.5 and folds.loc["classic optimum", "repeat 2"] == 0.5
