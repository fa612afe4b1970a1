"""The CNN-AUG-GAN experiment: fold safety, agreement with notebook 02, the same-size control arm, the budget rule,
common random numbers, determinism, cache and resume, on a small phantom with tiny GANs and a tiny CNN.
(Reading the sweep, the paired tests and the verdict: tests/test_gan_verdict.py.)"""

import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from liverkit import LiverkitError
from liverkit.augment import classic
from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds, split
from liverkit.experiment import gan_sweep, gan_verdict, jobs, protocol, synthesis
from liverkit.experiment.classic_sweep import chosen_predictions, run_classic_sweep
from liverkit.experiment.protocol import model_seed, outer_pool
from liverkit.experiment.run_folder import RunFolder
from liverkit.train.checkpoints import load_classifier
from liverkit.train.classifier import ClassifierConfig, predict
from liverkit.train.gan_config import GANConfig

AUG = AugmentConfig(n_rot=1)
CLF = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=1, batch_size=16)
GAN = dict(g_width=16, d_width=4, batch_size=8, epochs=1, max_steps=1, sample_grid=2, collapse_samples=8)
SEED = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A small phantom, notebook 02's sweep and honest choice, and tiny GANs of both kinds in a run folder."""
    lesions = make_phantom(seed=1, n_cyst=12, n_metastasis=12, n_hemangioma=12)
    fold_of = patient_folds(lesions, k=3, seed=1)
    classic_set = run_classic_sweep(lesions, fold_of, (0, 16), AUG, CLF, seed=SEED, inner_folds=2, progress=False)
    choice = pd.DataFrame({"repeat": [0, 0, 0], "fold": [0, 1, 2], "group": [0, 16, 16]})
    run = RunFolder(tmp_path_factory.mktemp("gans"))
    common = dict(aug=AUG, run=run, seed=0, progress=False)
    with pytest.warns(UserWarning, match="fewer than one batch"):  # fold 0's group 0 has 4-7 ROIs per class
        synthesis.train_fold_gans("dcgan", lesions, fold_of, choice, config=GANConfig.paper_dcgan(**GAN), **common)
    synthesis.train_fold_gans("acgan", lesions, fold_of, choice, config=GANConfig.paper_acgan(**GAN), **common)
    gans = gan_sweep.load_all_gans(run, fold_of)
    settings = gan_sweep.SweepSettings((4, 8), AUG, CLF, SEED, 2, lesions.fingerprint())
    return lesions, fold_of, classic_set, choice, gans, settings


def _sweep(setup, run=None, **overrides):
    lesions, fold_of, _, choice, gans, settings = setup
    settings = replace(settings, **overrides)
    return gan_sweep.run_gan_sweep(lesions, fold_of, choice, gans, settings, run=run, progress=False)


@pytest.fixture(scope="module")
def sweep(setup):
    return _sweep(setup)


@pytest.fixture(scope="module")
def cached(setup, tmp_path_factory):
    """A sweep that cached its models in a run folder (read-only for the tests that use it)."""
    run = RunFolder(tmp_path_factory.mktemp("cached"))
    return run, _sweep(setup, run)


PER_FOLD = 1 + 3 * 2 * (1 + 2)  # classic + 3 added arms x 2 sizes x (outer + 2 inner folds)


def test_shapes_and_counts(setup, sweep):
    lesions = setup[0]
    assert len(sweep.predictions) == len(lesions) * 7  # classic + 3 added arms x 2 sizes, each lesion once each
    assert len(sweep.inner) == 3 * 2 * 3 * 2 and len(sweep.timing) == 3 * PER_FOLD
    assert set(sweep.predictions.arm) == {"classic", "classic_control", "dcgan", "acgan"}
    counts = sweep.predictions.groupby(["arm", "synthetic"]).size()
    assert set(counts) == {len(lesions)}


def test_control_arm_is_the_same_size_as_each_gan_arm(setup, sweep):
    timing = sweep.timing.set_index(["repeat", "fold", "inner_fold", "arm", "synthetic"]).training_images
    assert timing.index.is_unique
    for (r, f, k, arm, size), n in timing.items():
        if arm in ("dcgan", "acgan"):
            assert timing[(r, f, k, "classic_control", size)] == n
    outer = sweep.timing[sweep.timing.stage == "outer"]
    added = outer.training_images - outer.shared_images
    assert (added == 3 * outer.synthetic).all()  # 3 classes x size per class, the classic arm adds 0


def test_budget_rule_every_arm_the_same_passes_over_the_shared_group(sweep):
    budget = gan_verdict.budget_table(sweep).set_index(["arm", "synthetic"])
    assert (budget.epochs == CLF.epochs).all() and (budget.passes_over_shared == CLF.epochs).all()
    classic_set = budget.loc[("classic", 0)]
    for arm in ("classic_control", "dcgan", "acgan"):
        assert budget.loc[(arm, 4), "steps"] >= classic_set.steps and budget.loc[(arm, 8), "steps"] > classic_set.steps
        assert budget.loc[(arm, 8), "shared_images"] == classic_set.shared_images  # the same classic group


def test_control_variants_are_new_classic_variants_of_training_patients(setup):
    lesions, fold_of = setup[0], setup[1]
    train, test = split(lesions, fold_of, 1)
    plan, order = outer_pool(train, AUG, SEED, 0, 1)
    group = classic.make_group(train, plan, order, 16)
    extra = protocol.control_variants(train, plan, order, 16, 5)
    assert extra.class_counts() == dict.fromkeys(lesions.class_names, 5)
    assert not set(extra.ids) & set(group.ids) and not set(extra.patient_ids) & set(test.patient_ids)
    nested = protocol.first_per_class(extra, 2)
    assert set(nested.ids) <= set(extra.ids) and len(nested) == 6
    with pytest.raises(LiverkitError, match="fewer than 1000 unused variants"):
        protocol.control_variants(train, plan, order, 16, 1000)


def test_all_models_of_a_fold_share_one_seed(setup, monkeypatch):
    seeds = []
    real_train = jobs.train_classifier
    monkeypatch.setattr(
        jobs,
        "train_classifier",
        lambda train, config, seed, **k: seeds.append(seed) or real_train(train, config, seed, **k),
    )
    _sweep(setup)
    outer = {model_seed(SEED, 0, f): 1 + 3 * 2 for f in range(3)}  # classic, control and GAN arms: one seed
    inner = {model_seed(SEED, 0, f, k): 3 * 2 for f in range(3) for k in range(2)}  # per inner fold: its own
    assert Counter(seeds) == outer | inner


def test_classic_arm_reproduces_notebook_02(setup, sweep):
    classic_set, choice = setup[2], setup[3]
    honest = chosen_predictions(classic_set, "honest")[["fold", "index", "group", "y_pred"]]
    ours = sweep.predictions[sweep.predictions.arm == "classic"][["fold", "index", "classic_group", "y_pred"]]
    merged = ours.merge(choice, on="fold")
    assert (merged.classic_group == merged.group).all()
    sweep02 = classic_set.predictions.merge(choice[["fold", "group"]], on=["fold", "group"])
    both = ours.merge(sweep02, on=["fold", "index"], suffixes=("", "_02"))
    assert len(both) == len(setup[0]) and (both.y_pred == both.y_pred_02).all()
    assert len(honest) == len(setup[0])


def test_no_test_patient_reaches_training_or_choice(setup, monkeypatch):
    lesions, fold_of = setup[0], setup[1]
    seen = []
    real_train = jobs.train_classifier

    def recording(train, config, seed, device="cpu", **kwargs):
        seen.append((seed, set(train.patient_ids.tolist())))
        return real_train(train, config, seed=seed, device=device, **kwargs)

    monkeypatch.setattr(jobs, "train_classifier", recording)
    sweep = _sweep(setup)
    assert len(seen) == 3 * PER_FOLD
    fold_of_seed = {model_seed(SEED, 0, f, k): f for f in range(3) for k in (None, 0, 1)}
    for seed, patients in seen:  # the model seed says which fold's model it is
        assert not patients & set(lesions.patient_ids[fold_of == fold_of_seed[seed]].tolist())
    for f in range(3):
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
    del saved["jobs"]["acgan-8-outer"], saved["jobs"]["dcgan-4-inner1"]  # as if interrupted
    cache.write_text(json.dumps(saved))
    calls = []
    real_train = jobs.train_classifier
    monkeypatch.setattr(jobs, "train_classifier", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    resumed = _sweep(setup, run)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(resumed.predictions, sweep.predictions)


def test_saved_models_give_the_recorded_predictions(setup, cached):
    lesions = setup[0]
    run, result = cached
    honest = gan_verdict.choose_sizes(result, "honest")
    for arm in ("classic", "dcgan"):
        model, config, class_names = load_classifier(run.artifact(f"cnn_{arm}_fold1.pt"))
        assert config == CLF and class_names == lesions.class_names
        rows = gan_verdict.arm_predictions(result, arm)
        rows = rows[rows.fold == 1].sort_values("index")
        test = lesions.subset(rows["index"].to_numpy())
        np.testing.assert_array_equal(predict(model, test), rows.y_pred.to_numpy())
    assert len(honest) == 9  # 3 folds x 3 added arms


def test_cache_from_other_settings_is_refused(setup, cached):
    run = cached[0]
    with pytest.raises(LiverkitError, match=r"classifier.epochs: 1 -> 2.*rerun notebook 05 \(05_gan_augmentation\)"):
        _sweep(setup, run, clf=replace(CLF, epochs=2))
    with pytest.raises(LiverkitError, match="data_fingerprint"):
        _sweep(setup, run, data_fingerprint="another")


def test_single_size_trains_no_inner_models(setup):
    result = _sweep(setup, sizes=(4,))
    assert result.inner.empty and len(result.timing) == 3 * 4
    chosen = gan_verdict.choose_sizes(result, "honest")
    assert set(chosen.synthetic) == {4} and len(chosen) == 9


@pytest.mark.parametrize("sizes", [(), (0, 4), (-1,), (2.5,)])
def test_bad_sizes(setup, sizes):
    with pytest.raises(LiverkitError, match="positive integers per class"):
        _sweep(setup, sizes=sizes)


def test_missing_fold_generators_and_unknown_kinds(setup, tmp_path):
    lesions, fold_of, _, choice, gans, settings = setup
    with pytest.raises(LiverkitError, match=r"no dcgan generators for \(repeat, fold\) \[\(0, 2\)\]; .*notebook 03"):
        partial = {"dcgan": {key: g for key, g in gans["dcgan"].items() if key != (0, 2)}}
        gan_sweep.run_gan_sweep(lesions, fold_of, choice, partial, settings, progress=False)
    with pytest.raises(LiverkitError, match="GAN kinds must be among"):
        gan_sweep.run_gan_sweep(lesions, fold_of, choice, {"vae": gans["dcgan"]}, settings, progress=False)
    with pytest.raises(LiverkitError, match="run notebook 03"):
        gan_sweep.load_fold_gans(RunFolder(tmp_path), "dcgan", 0)


def test_synthetic_class_unknown_to_the_classifier_is_refused(setup):
    lesions, fold_of, _, choice, gans, settings = setup
    renamed = replace(lesions, class_names=("cyst", "metastasis", "other"))
    with pytest.raises(LiverkitError, match="not in class_names"):
        gan_sweep.run_gan_sweep(renamed, fold_of, choice, {"dcgan": gans["dcgan"]}, settings, progress=False)


def test_gans_retrained_per_repeat_are_used_by_their_repeat(setup, tmp_path, monkeypatch):
    lesions, fold_of, _, choice, _, settings = setup
    run = RunFolder(tmp_path / "run")
    both = pd.concat([choice, choice.assign(repeat=1, group=[16, 0, 16])], ignore_index=True)
    config = GANConfig.paper_acgan(**GAN)
    for r in (0, 1):
        synthesis.train_fold_gans(
            "acgan", lesions, fold_of, both, AUG, config, run, seed=SEED, progress=False, repeat=r
        )
    assert (run.artifact("gans") / "acgan" / "r1" / "fold2" / "generator.pt").is_file()
    gans = gan_sweep.load_all_gans(run, fold_of, repeats=2, kinds=("acgan",))
    assert sorted(gans["acgan"]) == [(r, f) for r in (0, 1) for f in range(3)]
    repeat1 = gans["acgan"][(1, 0)]["cyst"]
    assert len(repeat1.data["patient_ids"]) != len(gans["acgan"][(0, 0)]["cyst"].data["patient_ids"])  # 16 vs ROIs
    used = []
    real_samples = jobs.fold_samples
    monkeypatch.setattr(jobs, "fold_samples", lambda g, *a, **k: used.append(g) or real_samples(g, *a, **k))
    gan_sweep.run_gan_sweep(lesions, fold_of, both, gans, replace(settings, sizes=(4,)), repeats=2, progress=False)
    assert [g["cyst"] for g in used] == [gans["acgan"][(r, f)]["cyst"] for r in (0, 1) for f in range(3)]
