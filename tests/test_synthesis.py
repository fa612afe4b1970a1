"""Fold-safe GAN training: each fold's GANs see that fold's chosen classic group and no test patient."""

import numpy as np
import pandas as pd
import pytest
import torch

from liverkit import LiverkitError
from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds, split
from liverkit.experiment import classic_sweep, synthesis
from liverkit.experiment.protocol import outer_pool, repeat_folds
from liverkit.experiment.run_folder import RunFolder
from liverkit.train.checkpoints import load_generator
from liverkit.train.gan_config import GANConfig

AUG = AugmentConfig(n_rot=1)
TINY = dict(g_width=16, d_width=4, batch_size=8, epochs=1, max_steps=1, sample_grid=2, collapse_samples=8)


@pytest.fixture(scope="module")
def small():
    lesions = make_phantom(seed=1, n_cyst=12, n_metastasis=12, n_hemangioma=12)
    fold_of = patient_folds(lesions, k=3, seed=1)
    choice = pd.DataFrame({"repeat": [0, 0, 0], "fold": [0, 1, 2], "group": [0, 48, 32]})
    return lesions, fold_of, choice


def test_fold_group_is_the_sweeps_group_and_excludes_the_test_fold(small):
    lesions, fold_of, _ = small
    group = synthesis.fold_training_group(lesions, fold_of, 1, 48, AUG, seed=5)
    train, test = split(lesions, fold_of, 1)
    plan, order = outer_pool(train, AUG, 5, 0, 1)  # the pool the sweep's outer CNN of fold 1 used
    assert len(group) == 48
    np.testing.assert_array_equal(group.labels, train.labels[plan.parent[order[:48]]])
    assert not set(group.patient_ids.tolist()) & set(test.patient_ids.tolist())
    original = synthesis.fold_training_group(lesions, fold_of, 0, 0, AUG, seed=5)
    assert original.fingerprint() == split(lesions, fold_of, 0)[0].fingerprint()


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_no_test_patient_reaches_a_gan(small, tmp_path, kind):
    lesions, fold_of, choice = small
    run = RunFolder(tmp_path / "run")
    config = GANConfig.paper_dcgan(**TINY) if kind == "dcgan" else GANConfig.paper_acgan(**TINY)
    trained = synthesis.train_fold_gans(kind, lesions, fold_of, choice, AUG, config, run, seed=0, progress=False)
    assert sorted(trained) == [0, 1, 2]
    for fold, gans in trained.items():
        assert set(gans) == set(lesions.class_names)
        test_patients = set(lesions.patient_ids[fold_of == fold].tolist())
        for name, gan in gans.items():
            saved = load_generator(gan.out_dir / "generator.pt")  # what the checkpoint recorded
            assert not set(saved.data["patient_ids"]) & test_patients
            assert name in saved.class_names
    assert len({id(g) for g in trained[0].values()}) == (3 if kind == "dcgan" else 1)
    table = synthesis.training_table(trained)
    assert len(table) == (9 if kind == "dcgan" else 3) and (table.steps == 1).all()
    assert set(synthesis.collapse_table(trained).columns) == {"fold", "class", "epoch", "ratio"}
    saved = synthesis.save_fold_samples(run, kind, trained, lesions.class_names, 5, seed=0)
    fold0 = run.load_lesionset(f"synthetic_{kind}_fold0")
    assert len(fold0) == 15 and saved.images.tolist() == [15, 15, 15]
    assert set(fold0.sources.tolist()) == {kind}
    assert not set(fold0.patient_ids.tolist()) & set(lesions.patient_ids.tolist())


def test_training_data_table_reports_zero_overlap(small):
    lesions, fold_of, choice = small
    table = synthesis.training_data_table(lesions, fold_of, choice, AUG, seed=0)
    assert table.classic_group.tolist() == [0, 48, 32]
    assert (table.test_patients_in_gan_data == 0).all()
    assert table[list(lesions.class_names)].sum(axis=1).tolist()[1:] == [48, 32]


def test_resuming_a_finished_fold_does_not_retrain(small, tmp_path):
    lesions, fold_of, choice = small
    run = RunFolder(tmp_path / "run")
    config = GANConfig.paper_acgan(**TINY)
    first = synthesis.train_fold_gans("acgan", lesions, fold_of, choice, AUG, config, run, seed=0, progress=False)
    again = synthesis.train_fold_gans("acgan", lesions, fold_of, choice, AUG, config, run, seed=0, progress=False)
    for fold in first:
        a, b = first[fold]["cyst"].generator.state_dict(), again[fold]["cyst"].generator.state_dict()
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_missing_or_bad_choice_is_explained(small, tmp_path):
    lesions, fold_of, choice = small
    with pytest.raises(LiverkitError, match=r"classic_choice.csv.*run notebook 02"):
        classic_sweep.load_choice(RunFolder(tmp_path / "empty"))
    config = GANConfig.paper_dcgan(**TINY)
    run = RunFolder(tmp_path / "run")
    with pytest.raises(LiverkitError, match=r"no group for fold\(s\) \[2\]"):
        synthesis.train_fold_gans("dcgan", lesions, fold_of, choice[choice.fold < 2], AUG, config, run, 0)
    with pytest.raises(LiverkitError, match=r"unknown GAN kind 'vae'"):
        synthesis.gan_folder(run, "vae", 0)


def test_size_table_counts_the_paper_nets():
    table = synthesis.size_table({"paper": GANConfig.paper_dcgan()}, n_classes=1)
    assert table.generator_parameters.iloc[0] == 18_848_641  # formula in tests/test_gan_nets.py
    assert table.discriminator_parameters.iloc[0] == 4_312_449


def test_every_repeat_trains_on_its_own_folds_in_worker_processes_as_in_process(small, tmp_path):
    """Two one-thread worker processes train the same GANs as this process does (every model has its own seed and
    folder); each repeat's GANs learn from a fixed group of that repeat's own training patients."""
    lesions, fold_of, choice = small
    both = pd.concat([choice, choice.assign(repeat=1)], ignore_index=True)
    config = GANConfig.paper_acgan(**TINY)
    by_workers = {}
    for workers in (1, 2):
        run = RunFolder(tmp_path / f"w{workers}")
        args = ("acgan", lesions, fold_of, both, AUG, config, run, 0, 2)
        by_workers[workers] = synthesis.train_gans(*args, progress=False, group=16, workers=workers)
    here, there = by_workers[1], by_workers[2]
    assert sorted(here) == sorted(there) == [0, 1] and sorted(there[1]) == [0, 1, 2]
    for r in (0, 1):
        folds_r = repeat_folds(lesions, fold_of, 0, r)
        for fold in range(3):
            a, b = here[r][fold]["cyst"], there[r][fold]["cyst"]
            assert a.data["n_images"] == b.data["n_images"] == 16  # the fixed group, not the chosen one
            assert not set(b.data["patient_ids"]) & set(lesions.patient_ids[folds_r == fold].tolist())
            for key, value in a.generator.state_dict().items():  # one thread there, maybe two here: rounding differs
                torch.testing.assert_close(b.generator.state_dict()[key], value, atol=1e-3, rtol=1e-2)  # seeds: ~0.1
            assert (b.out_dir / "generator.pt").is_file() and "r1" in str(there[1][fold]["cyst"].out_dir)
    assert not np.array_equal(repeat_folds(lesions, fold_of, 0, 1), fold_of)  # repeat 1 has other folds
    table = synthesis.repeats_table(there, config)
    assert list(table.repeat) == [0, 0, 0, 1, 1, 1] and table.trusted.isna().all()
