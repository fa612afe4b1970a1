"""The CNN-AUG-GAN experiment: fold safety, agreement with notebook 02, determinism, cache and resume, the paired
test and the model choice, on a small phantom with tiny GANs and a tiny CNN."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from liverkit import LiverkitError, gan_experiment, synthesis
from liverkit.augment import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.experiment import chosen_predictions, run_classic_sweep
from liverkit.runs import RunFolder
from liverkit.train.classifier import ClassifierConfig, load_classifier, predict
from liverkit.train.gan import GANConfig

AUG = AugmentConfig(n_rot=1)
CLF = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=2, max_steps=4, batch_size=16)
GAN = dict(g_width=16, d_width=4, batch_size=8, epochs=1, max_steps=1, sample_grid=2, collapse_samples=8)
SEED = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A small phantom, notebook 02's sweep and honest choice, and tiny GANs of both kinds in a run folder."""
    lesions = make_phantom(seed=1, n_cyst=12, n_metastasis=12, n_hemangioma=12)
    fold_of = patient_folds(lesions, k=3, seed=1)
    classic = run_classic_sweep(lesions, fold_of, (0, 16), AUG, CLF, seed=SEED, inner_folds=3, progress=False)
    choice = pd.DataFrame({"repeat": [0, 0, 0], "fold": [0, 1, 2], "group": [0, 16, 16]})
    run = RunFolder(tmp_path_factory.mktemp("gans"))
    common = dict(aug=AUG, run=run, seed=0, progress=False)
    with pytest.warns(UserWarning, match="fewer than one batch"):  # fold 0's group 0 has 4-7 ROIs per class
        synthesis.train_fold_gans("dcgan", lesions, fold_of, choice, config=GANConfig.paper_dcgan(**GAN), **common)
    synthesis.train_fold_gans("acgan", lesions, fold_of, choice, config=GANConfig.paper_acgan(**GAN), **common)
    gans = gan_experiment.load_all_gans(run, fold_of)
    settings = gan_experiment.SweepSettings((4, 8), AUG, CLF, SEED, 3, lesions.fingerprint())
    return lesions, fold_of, classic, choice, gans, settings


def _sweep(setup, run=None, **overrides):
    lesions, fold_of, _, choice, gans, settings = setup
    settings = replace(settings, **overrides)
    return gan_experiment.run_gan_sweep(lesions, fold_of, choice, gans, settings, run=run, progress=False)


@pytest.fixture(scope="module")
def sweep(setup):
    return _sweep(setup)


@pytest.fixture(scope="module")
def cached(setup, tmp_path_factory):
    """A sweep that cached its models in a run folder (read-only for the tests that use it)."""
    run = RunFolder(tmp_path_factory.mktemp("cached"))
    return run, _sweep(setup, run)


def test_shapes_and_counts(setup, sweep):
    lesions = setup[0]
    assert len(sweep.predictions) == len(lesions) * 5  # classic + 2 kinds x 2 sizes, every lesion tested once each
    assert len(sweep.inner) == 3 * 2 * 2 and len(sweep.timing) == 3 * (1 + 2 * 2 * 2)
    counts = sweep.predictions.groupby(["arm", "synthetic"]).size()
    assert set(counts) == {len(lesions)}
    classic_rows = sweep.timing[(sweep.timing.arm == "classic")].sort_values("fold")
    dcgan_8 = sweep.timing[(sweep.timing.arm == "dcgan") & (sweep.timing.synthetic == 8)]
    dcgan_8 = dcgan_8[dcgan_8.stage == "outer"].sort_values("fold")
    np.testing.assert_array_equal(dcgan_8.training_images.to_numpy(), classic_rows.training_images.to_numpy() + 24)


def test_classic_arm_reproduces_notebook_02(setup, sweep):
    classic, choice = setup[2], setup[3]
    honest = chosen_predictions(classic, "honest")[["fold", "index", "group", "y_pred"]]
    ours = sweep.predictions[sweep.predictions.arm == "classic"][["fold", "index", "classic_group", "y_pred"]]
    merged = ours.merge(choice, on="fold")
    assert (merged.classic_group == merged.group).all()
    sweep02 = classic.predictions.merge(choice[["fold", "group"]], on=["fold", "group"])
    both = ours.merge(sweep02, on=["fold", "index"], suffixes=("", "_02"))
    assert len(both) == len(setup[0]) and (both.y_pred == both.y_pred_02).all()
    assert len(honest) == len(setup[0])


def test_no_test_patient_reaches_training_or_choice(setup, monkeypatch):
    lesions, fold_of = setup[0], setup[1]
    seen = []
    real_train = gan_experiment.train_classifier

    def recording(train, config, seed, device="cpu", **kwargs):
        seen.append(set(train.patient_ids.tolist()))
        return real_train(train, config, seed=seed, device=device, **kwargs)

    monkeypatch.setattr(gan_experiment, "train_classifier", recording)
    sweep = _sweep(setup)
    per_fold = 1 + 2 * 2 * 2
    assert len(seen) == 3 * per_fold
    for f in range(3):
        test_patients = set(lesions.patient_ids[fold_of == f].tolist())
        for patients in seen[f * per_fold : (f + 1) * per_fold]:
            assert not patients & test_patients
        tested = sweep.predictions[sweep.predictions.fold == f]["index"].unique()
        assert set(fold_of[tested]) == {f}
    assert not sweep.inner.empty  # the choice came from inner scores only: see test_honest_choice_uses_inner_scores


def test_same_seed_same_predictions(setup, sweep):
    again = _sweep(setup)
    pd.testing.assert_frame_equal(again.predictions, sweep.predictions)
    pd.testing.assert_frame_equal(again.inner, sweep.inner)


def test_cache_skips_finished_models_and_resumes(setup, sweep, tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    first = _sweep(setup, run)
    pd.testing.assert_frame_equal(first.predictions, sweep.predictions)
    assert run.artifact("cnn_classic_fold0.pt").is_file() and run.artifact("cnn_dcgan_fold2.pt").is_file()
    cache = run.artifact("gan_sweep_r0_f1.json")
    saved = json.loads(cache.read_text())
    del saved["jobs"]["acgan-8-outer"], saved["jobs"]["dcgan-4-inner"]  # as if interrupted
    cache.write_text(json.dumps(saved))
    calls = []
    real_train = gan_experiment.train_classifier
    monkeypatch.setattr(gan_experiment, "train_classifier", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    resumed = _sweep(setup, run)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(resumed.predictions, sweep.predictions)


def test_saved_models_give_the_recorded_predictions(setup, cached):
    lesions = setup[0]
    run, result = cached
    honest = gan_experiment.choose_sizes(result, "honest")
    for arm in ("classic", "dcgan"):
        model, config, class_names = load_classifier(run.artifact(f"cnn_{arm}_fold1.pt"))
        assert config == CLF and class_names == lesions.class_names
        rows = gan_experiment.arm_predictions(result, arm)
        rows = rows[rows.fold == 1].sort_values("index")
        test = lesions.subset(rows["index"].to_numpy())
        np.testing.assert_array_equal(predict(model, test), rows.y_pred.to_numpy())
    assert len(honest) == 6


def test_cache_from_other_settings_is_refused(setup, cached):
    run = cached[0]
    with pytest.raises(LiverkitError, match=r"classifier.max_steps: 4 -> 5.*delete"):
        _sweep(setup, run, clf=replace(CLF, max_steps=5))
    with pytest.raises(LiverkitError, match="data_fingerprint"):
        _sweep(setup, run, data_fingerprint="another")


def test_single_size_trains_no_inner_models(setup):
    result = _sweep(setup, sizes=(4,))
    assert result.inner.empty and len(result.timing) == 3 * 3
    chosen = gan_experiment.choose_sizes(result, "honest")
    assert set(chosen.synthetic) == {4} and len(chosen) == 6


@pytest.mark.parametrize("sizes", [(), (0, 4), (-1,), (2.5,)])
def test_bad_sizes(setup, sizes):
    with pytest.raises(LiverkitError, match="positive integers per class"):
        _sweep(setup, sizes=sizes)


def test_missing_fold_generators_and_unknown_kinds(setup, tmp_path):
    lesions, fold_of, _, choice, gans, settings = setup
    with pytest.raises(LiverkitError, match=r"no dcgan generators for fold\(s\) \[2\]"):
        partial = {"dcgan": {f: g for f, g in gans["dcgan"].items() if f != 2}}
        gan_experiment.run_gan_sweep(lesions, fold_of, choice, partial, settings, progress=False)
    with pytest.raises(LiverkitError, match="GAN kinds must be among"):
        gan_experiment.run_gan_sweep(lesions, fold_of, choice, {"vae": gans["dcgan"]}, settings, progress=False)
    with pytest.raises(LiverkitError, match="run notebook 03"):
        gan_experiment.load_fold_gans(RunFolder(tmp_path), "dcgan", 0)


def test_synthetic_class_unknown_to_the_classifier_is_refused(setup):
    lesions, fold_of, _, choice, gans, settings = setup
    renamed = replace(lesions, class_names=("cyst", "metastasis", "other"))
    with pytest.raises(LiverkitError, match="not in class_names"):
        gan_experiment.run_gan_sweep(renamed, fold_of, choice, {"dcgan": gans["dcgan"]}, settings, progress=False)


# ---------------------------------------------------------------------------------------------- choice and tests
def _hand_sweep(classic_right: np.ndarray, gan_right: np.ndarray) -> gan_experiment.GanSweep:
    """A sweep of one fold over lesions with labels 0, predictions right or wrong as given (size 10 only)."""
    n = len(classic_right)
    rows = []
    for arm, right in (("classic", classic_right), ("dcgan", gan_right)):
        size = 0 if arm == "classic" else 10
        rows += [{"repeat": 0, "fold": 0, "arm": arm, "synthetic": size, "classic_group": 0, "index": i,
                  "id": f"l{i}", "y_true": 0, "y_pred": 0 if right[i] else 1} for i in range(n)]  # fmt: skip
    timing = pd.DataFrame([{"repeat": 0, "fold": 0, "arm": a, "synthetic": s, "stage": "outer", "seconds": 1.0,
                            "training_images": 10 + s} for a, s in (("classic", 0), ("dcgan", 10))])  # fmt: skip
    inner = pd.DataFrame([{"repeat": 0, "fold": 0, "arm": "dcgan", "synthetic": 10, "val_accuracy": 0.5}])
    return gan_experiment.GanSweep(pd.DataFrame(rows), inner, timing, ("a", "b"), (10,))


def test_paired_comparison_counts_discordant_lesions():
    classic_right = np.array([1] * 10 + [0] * 10 + [1] * 2 + [0] * 8, bool)  # 30 lesions
    gan_right = np.array([1] * 10 + [1] * 7 + [0] * 3 + [0] * 2 + [0] * 8, bool)
    result = gan_experiment.paired_comparison(_hand_sweep(classic_right, gan_right), "dcgan", n_boot=500)
    assert result["gained"] == 7 and result["lost"] == 2 and result["lesions"] == 30
    assert result["p_value"] == pytest.approx(binomtest(7, 9, 0.5).pvalue) == pytest.approx(0.1796875)
    assert result["accuracy_difference"] == pytest.approx(5 / 30)
    assert result["ci_low"] < 5 / 30 < result["ci_high"]
    assert "no evidence" in result["in_words"] and "7 test lesions right" in result["in_words"]
    assert "p = 0.180" in result["in_words"]


def test_paired_comparison_says_when_the_gan_helps():
    classic_right = np.array([0] * 20 + [1] * 20, bool)
    gan_right = np.ones(40, bool)
    result = gan_experiment.paired_comparison(_hand_sweep(classic_right, gan_right), "dcgan", n_boot=200)
    assert result["gained"] == 20 and result["lost"] == 0 and result["p_value"] < 1e-5
    assert "synthetic lesions helped" in result["in_words"] and "p < 0.0001" in result["in_words"]


@pytest.mark.parametrize(
    ("p", "text"), [(0.1796875, "p = 0.180"), (0.0384, "p = 0.038"), (0.000472, "p = 0.0005"), (3e-7, "p < 0.0001")]
)
def test_p_values_are_written_without_rounding_to_zero(p, text):
    assert gan_experiment.p_text(p) == text


def test_honest_choice_uses_inner_scores_and_paper_choice_test_scores():
    inner = pd.DataFrame({"repeat": 0, "fold": [0, 0, 1, 1], "arm": "dcgan", "synthetic": [10, 20, 10, 20],
                          "val_accuracy": [0.5, 0.7, 0.6, 0.6]})  # fmt: skip
    rows = []
    for fold, size, right in ((0, 10, 8), (0, 20, 2), (1, 10, 9), (1, 20, 1)):
        rows += [{"repeat": 0, "fold": fold, "arm": "dcgan", "synthetic": size, "classic_group": 0,
                  "index": fold * 10 + i, "id": "x", "y_true": 0, "y_pred": int(i >= right)}
                 for i in range(10)]  # fmt: skip
    timing = pd.DataFrame({"repeat": 0, "fold": 0, "arm": "dcgan", "synthetic": [10, 20], "stage": "outer",
                           "seconds": 1.0, "training_images": [30, 60]})  # fmt: skip
    sweep = gan_experiment.GanSweep(pd.DataFrame(rows), inner, timing, ("a", "b"), (10, 20))
    honest = gan_experiment.choose_sizes(sweep, "honest")
    assert honest.set_index("fold").synthetic.to_dict() == {0: 20, 1: 10}  # fold 1 ties: the smaller size
    paper = gan_experiment.choose_sizes(sweep, "paper")
    assert set(paper.synthetic) == {10}  # test accuracy 85% at 10 against 15% at 20
    with pytest.raises(LiverkitError, match="unknown model-choice mode"):
        gan_experiment.choose_sizes(sweep, "best")


def test_results_table_and_key_numbers(setup, sweep):
    classic = setup[2]
    no_aug = classic.predictions[classic.predictions.group == 0]
    results = gan_experiment.results_table(sweep, no_aug, n_boot=50)
    assert set(results.setting) == {
        "no augmentation", "classic optimum", "classic + DCGAN (honest choice)",
        "classic + DCGAN (paper's choice, optimistic)", "classic + ACGAN (honest choice)",
        "classic + ACGAN (paper's choice, optimistic)",
    }  # fmt: skip
    assert len(results) == 6 * 7 and (results.ci_low <= results.estimate + 1e-12).all()
    comparisons = [gan_experiment.paired_comparison(sweep, "dcgan", n_boot=50)]
    numbers = gan_experiment.key_numbers(sweep, results, comparisons)
    assert numbers["sizes"] == [4, 8] and numbers["models"] == 27
    assert 0 <= numbers["comparisons"]["dcgan_honest"]["p_value"] <= 1
    assert sorted(numbers["honest_sizes"]) == ["acgan", "dcgan"] and len(numbers["honest_sizes"]["dcgan"]) == 3
    matrices = gan_experiment.confusion_matrices(sweep, no_aug)
    assert list(matrices) == ["no augmentation", "classic", "classic + DCGAN", "classic + ACGAN"]
    assert all(m.sum() == len(setup[0]) for m in matrices.values())
