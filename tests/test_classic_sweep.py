"""The CNN-AUG protocol: fold safety, determinism, honest vs paper model choice."""

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from liverkit import LiverkitError
from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.experiment import jobs
from liverkit.experiment.classic_sweep import (
    ClassicSweep,
    budget_sentence,
    choice_stability,
    choose_groups,
    chosen_predictions,
    run_classic_sweep,
    run_step_matched,
    step_matched_numbers,
    step_matched_summary,
    step_matched_table,
    sweep_table,
)
from liverkit.experiment.protocol import model_seed
from liverkit.experiment.run_folder import RunFolder
from liverkit.train.classifier import ClassifierConfig

AUG = AugmentConfig(n_rot=1)
CLF = ClassifierConfig(channels=(2, 4, 4), hidden=8, epochs=1)


@pytest.fixture(scope="module")
def small():
    lesions = make_phantom(seed=0, n_cyst=12, n_metastasis=12, n_hemangioma=12)
    return lesions, patient_folds(lesions, k=3, seed=0)


def test_no_test_patient_reaches_augmentation_or_training(small, monkeypatch):
    lesions, fold_of = small
    seen = []
    original = jobs.train_classifier

    def spy(train, *args, **kwargs):
        seen.append(set(train.patient_ids.tolist()))
        return original(train, *args, **kwargs)

    monkeypatch.setattr(jobs, "train_classifier", spy)
    sweep = run_classic_sweep(lesions, fold_of, (0, 50), AUG, CLF, seed=0, inner_folds=3, progress=False)
    assert len(seen) == 3 * 2 * (1 + 3)  # folds x groups x (outer, 3 inner folds)
    for f in range(3):
        test_patients = set(lesions.patient_ids[fold_of == f].tolist())
        assert all(not (patients & test_patients) for patients in seen[f * 8 : f * 8 + 8])
    predicted = sweep.predictions.groupby("group")["index"].apply(lambda s: sorted(s.tolist()))
    assert all(indices == list(range(len(lesions))) for indices in predicted)  # every lesion tested once per group


def test_inner_validation_patients_stay_out_of_inner_training(small, monkeypatch):
    lesions, fold_of = small
    calls = []
    original_predict = jobs.predict

    def spy_predict(model, data, device):
        calls.append(set(data.patient_ids.tolist()))
        return original_predict(model, data, device)

    trained_on = []
    original_train = jobs.train_classifier

    def spy_train(train, *args, **kwargs):
        trained_on.append(set(train.patient_ids.tolist()))
        return original_train(train, *args, **kwargs)

    monkeypatch.setattr(jobs, "predict", spy_predict)
    monkeypatch.setattr(jobs, "train_classifier", spy_train)
    run_classic_sweep(lesions, fold_of, (0,), AUG, CLF, seed=0, progress=False)
    for trained, scored in zip(trained_on, calls, strict=True):  # one prediction per trained model
        assert not trained & scored


def test_smoke_sweep_is_deterministic(small):
    lesions, fold_of = small
    a = run_classic_sweep(lesions, fold_of, (0, 30), AUG, CLF, seed=4, progress=False)
    b = run_classic_sweep(lesions, fold_of, (0, 30), AUG, CLF, seed=4, progress=False)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.inner, b.inner)
    table = sweep_table(a, n_boot=50)
    assert table.group.tolist() == [0, 30]
    assert {"accuracy", "ci_low", "ci_high", "fold_0", "fold_1", "fold_2"} <= set(table.columns)


def _hand_sweep():
    """Two folds, two groups: group 500 wins on the test folds, group 0 on inner validation in fold 0."""
    rows = []
    for fold, index in ((0, [0, 1, 2, 3]), (1, [4, 5, 6, 7])):
        for group, correct in ((0, [1, 1, 0, 0]), (500, [1, 1, 1, 0])):
            for i, ok in zip(index, correct, strict=True):
                rows.append(
                    {
                        "repeat": 0,
                        "fold": fold,
                        "group": group,
                        "index": i,
                        "id": f"l{i}",
                        "patient": f"p{i // 2}",
                        "y_true": 1,
                        "y_pred": 1 if ok else 0,
                    }
                )
    # (fold, inner fold, group, correct of 10): fold 0 pools 16/20 for group 0 against 12/20, although inner fold 1
    # alone prefers group 500; fold 1 ties (14/20 each) -> the smaller group
    scores = [
        (0, 0, 0, 9),
        (0, 0, 500, 5),
        (0, 1, 0, 7),
        (0, 1, 500, 8),
        (1, 0, 0, 7),
        (1, 0, 500, 7),
        (1, 1, 0, 7),
        (1, 1, 500, 7),
    ]
    inner = pd.DataFrame(
        [
            {"repeat": 0, "fold": f, "inner_fold": k, "group": g, "val_correct": c, "val_lesions": 10}
            for f, k, g, c in scores
        ]
    )
    timing = pd.DataFrame(
        [
            {
                "repeat": 0,
                "fold": f,
                "group": g,
                "stage": "outer",
                "training_images": 4 if g == 0 else 500,
                "epochs": 1,
                "steps": 1,
            }
            for f in (0, 1)
            for g in (0, 500)
        ]
    )
    return ClassicSweep(pd.DataFrame(rows), inner, pd.DataFrame(), timing, ("a", "b"), (0, 500))


def test_paper_mode_picks_on_test_folds_and_honest_on_inner_validation():
    sweep = _hand_sweep()
    assert sweep_table(sweep, n_boot=10).accuracy.tolist() == [0.5, 0.75]
    assert choose_groups(sweep, "paper").group.tolist() == [500, 500]
    honest = choose_groups(sweep, "honest")
    assert honest.group.tolist() == [0, 0]  # fold 0: 16/20 > 13/20 over both inner folds; fold 1: tie -> smaller
    assert honest.val_accuracy.tolist() == [0.8, 0.7]
    assert choice_stability(honest).loc[0, "repeat 0"] == 0
    assert (chosen_predictions(sweep, "paper").y_pred == 1).mean() == 0.75
    assert (chosen_predictions(sweep, "honest").y_pred == 1).mean() == 0.5
    with pytest.raises(LiverkitError, match="unknown model-choice mode 'best'"):
        choose_groups(sweep, "best")


def test_sweep_without_inner_allows_only_paper_mode(small):
    lesions, fold_of = small
    sweep = run_classic_sweep(lesions, fold_of, (0,), AUG, CLF, seed=0, inner_folds=None, progress=False)
    assert sweep.inner.empty and len(sweep.predictions) == len(lesions)
    with pytest.raises(LiverkitError, match="only mode='paper'"):
        choose_groups(sweep, "honest")
    assert np.isfinite(sweep_table(sweep, n_boot=10).accuracy).all()


def test_every_group_of_a_fold_starts_from_the_same_model_seed(small, monkeypatch):
    """Common random numbers: within (repeat, fold) all groups share a seed; inner fold k has its own."""
    lesions, fold_of = small
    seeds = []
    original = jobs.train_classifier

    def spy(train, config, seed, *args, **kwargs):
        seeds.append(seed)
        return original(train, config, seed, *args, **kwargs)

    monkeypatch.setattr(jobs, "train_classifier", spy)
    sweep = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, seed=2, repeats=2, inner_folds=2, progress=False)
    per_fold = [seeds[i : i + 6] for i in range(0, len(seeds), 6)]  # 2 outer, then 2 per inner fold
    assert len(per_fold) == 2 * 3
    for block in per_fold:
        assert block[0] == block[1] and block[2] == block[3] and block[4] == block[5]
        assert len({block[0], block[2], block[4]}) == 3
    assert len({block[0] for block in per_fold}) == 6  # new seeds per repeat and fold
    assert set(sweep.inner.inner_fold) == {0, 1}
    validated = sweep.inner[(sweep.inner.repeat == 0) & (sweep.inner.group == 0)].groupby("fold").val_lesions.sum()
    assert validated.tolist() == [(fold_of != f).sum() for f in range(3)]  # every training lesion validated once


def test_sweep_table_reports_the_budget(small):
    lesions, fold_of = small
    sweep = run_classic_sweep(lesions, fold_of, (0, 30), AUG, CLF, seed=1, inner_folds=None, progress=False)
    table = sweep_table(sweep, n_boot=20).set_index("group")
    assert table.loc[30, "training_images"] == 30 and table.loc[30, "steps"] == CLF.steps_for(30)
    assert table.loc[0, "training_images"] == pytest.approx(
        (fold_of != 0).sum() / 3 + (fold_of != 1).sum() / 3 + (fold_of != 2).sum() / 3
    )
    assert (table.epochs == CLF.epochs).all()


def test_a_rerun_resumes_from_the_run_folder_cache(small, tmp_path, monkeypatch):
    """Records are cached per (repeat, fold) as models finish; a rerun trains only what the cache lacks."""
    lesions, fold_of = small
    run = RunFolder(tmp_path / "run")
    first = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, seed=5, inner_folds=2, progress=False, run=run)
    cache = run.artifact("classic_sweep_r0_f2.json")
    saved = json.loads(cache.read_text())
    assert len(saved["jobs"]) == 2 * (1 + 2)  # 2 groups x (outer + 2 inner folds)
    del saved["jobs"]["group20-outer"], saved["jobs"]["group0-inner1"]  # as if interrupted
    cache.write_text(json.dumps(saved))
    trained = []
    real_train = jobs.train_classifier
    monkeypatch.setattr(jobs, "train_classifier", lambda *a, **k: trained.append(1) or real_train(*a, **k))
    resumed = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, seed=5, inner_folds=2, progress=False, run=run)
    assert len(trained) == 2
    pd.testing.assert_frame_equal(resumed.predictions, first.predictions)
    pd.testing.assert_frame_equal(resumed.history, first.history)
    with pytest.raises(
        LiverkitError,
        match=r"classic_sweep_r0_f0.json' holds models made with other settings "
        r"\(classifier.epochs: 1 -> 2\).*rerun notebook 02 \(02_classic_augmentation\), which remakes it",
    ):
        run_classic_sweep(
            lesions, fold_of, (0, 20), AUG, replace(CLF, epochs=2), seed=5, inner_folds=2, progress=False, run=run
        )


def test_budget_sentence_names_more_images_and_more_steps(small):
    lesions, fold_of = small
    clf = replace(CLF, batch_size=8)
    table = sweep_table(run_classic_sweep(lesions, fold_of, (0, 50), AUG, clf, inner_folds=None, progress=False), 5)
    sentence = budget_sentence(table)
    steps = "/".join(f"{s:g}" for s in table.steps.round(1))
    assert f"groups 0/50 trained {steps} SGD steps per model" in sentence
    assert "compares more images and more steps together" in sentence and "x the steps of group 0" in sentence
    equal = table.assign(steps=3.0)
    assert "more steps" not in budget_sentence(equal) and budget_sentence(equal).endswith(
        "(mean over folds and repeats)."
    )


def test_step_matched_group_0_trains_the_largest_groups_steps_outside_the_choice(small, tmp_path, monkeypatch):
    lesions, fold_of = small
    clf = replace(CLF, batch_size=8)  # 24 training ROIs: 3 steps per epoch; group 50: 7
    sweep = run_classic_sweep(lesions, fold_of, (0, 50), AUG, clf, seed=3, repeats=2, inner_folds=2, progress=False)
    kept = {name: getattr(sweep, name).copy() for name in ("predictions", "inner", "history", "timing")}
    choice = choose_groups(sweep, "honest")
    trained = []
    original = jobs.train_classifier

    def spy(train, config, seed, *args, **kwargs):
        trained.append((set(train.patient_ids.tolist()), config.epochs, seed))
        return original(train, config, seed, *args, **kwargs)

    monkeypatch.setattr(jobs, "train_classifier", spy)
    run = RunFolder(tmp_path / "run")
    matched = run_step_matched(sweep, lesions, fold_of, AUG, clf, seed=3, progress=False, run=run)
    assert len(trained) == 2 * 3 and set(matched.groups) == {0}
    outer = sweep.timing[sweep.timing.stage == "outer"].set_index(["repeat", "fold", "group"])
    for row, (patients, epochs, seed) in zip(matched.timing.itertuples(), trained, strict=True):
        target, per_epoch = outer.loc[(row.repeat, row.fold, 50), "steps"], math.ceil(row.training_images / 8)
        assert row.training_images == outer.loc[(row.repeat, row.fold, 0), "training_images"]  # group 0's ROIs
        assert target <= row.steps < target + per_epoch and row.steps == epochs * per_epoch == row.epochs * per_epoch
        assert seed == model_seed(3, row.repeat, row.fold)  # the sweep's seed for that (repeat, fold)
        tested = matched.predictions[
            (matched.predictions.repeat == row.repeat) & (matched.predictions.fold == row.fold)
        ]
        assert not patients & set(tested.patient.astype(str))  # no test patient in training
    for name, table in kept.items():  # the sweep and its choice are untouched
        pd.testing.assert_frame_equal(getattr(sweep, name), table)
    pd.testing.assert_frame_equal(choose_groups(sweep, "honest"), choice)

    table = step_matched_table(sweep, matched, n_boot=20)
    assert table.group.tolist() == [0, 0, 50] and table.setting.iloc[1] == "group 0, trained for group 50's steps"
    assert table.steps.iloc[1] >= table.steps.iloc[2] > table.steps.iloc[0]
    assert table.accuracy.iloc[0] == sweep_table(sweep, n_boot=20).accuracy.iloc[0]
    summary = step_matched_summary(table)
    assert f"group 0 scores {table.accuracy.iloc[1]:.3f}, against {table.accuracy.iloc[0]:.3f}" in summary
    numbers = step_matched_numbers(table)["step_matched_group0"]
    assert numbers["accuracy"][0] == round(table.accuracy.iloc[1], 4) and numbers["matched_to_group"] == 50
    assert numbers["steps"] == round(table.steps.iloc[1], 1)

    trained.clear()  # a rerun reads the run folder's cache
    again = run_step_matched(sweep, lesions, fold_of, AUG, clf, seed=3, progress=False, run=run)
    assert not trained
    pd.testing.assert_frame_equal(again.predictions, matched.predictions)


def test_step_matched_needs_group_0_and_a_larger_group(small):
    lesions, fold_of = small
    sweep = run_classic_sweep(lesions, fold_of, (0,), AUG, CLF, seed=0, inner_folds=None, progress=False)
    assert run_step_matched(sweep, lesions, fold_of, AUG, CLF, progress=False) is None
    table = step_matched_table(sweep, None)
    assert table.empty and step_matched_numbers(table) == {}
    assert "no steps to match" in step_matched_summary(table)
