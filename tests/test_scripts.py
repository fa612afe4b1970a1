"""The maintainer scripts in ``scripts/``: the GAN-settings comparison behind the quick profile's choice."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_set

from liverkit.data.folds import patient_folds, split
from liverkit.errors import LiverkitError
from liverkit.experiment import synthesis
from liverkit.kit.profiles import get_profile
from liverkit.nets import LesionCNN
from liverkit.train.classifier import ClassifierConfig

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
TINY_PHANTOM = {"n_cyst": 12, "n_metastasis": 12, "n_hemangioma": 12}
TINY_CNN = ClassifierConfig(channels=(4, 8, 8), hidden=8, epochs=1)


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_gan_settings", SCRIPTS / "compare_gan_settings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def draws(compare):
    """The rule's phantom draws at a tiny size: seeds 1001 (GAN training) and 1002 (held-out, 2 x the lesions)."""
    return compare.phantom_draws(heldout_scale=2, group=60, **TINY_PHANTOM)


def patients(lesions) -> set[str]:
    return set(lesions.patient_ids.tolist())


def test_a_setting_overrides_widths_batch_and_steps_of_the_quick_config(compare):
    config = compare.parse_setting("dcgan:32/8/16/7")
    assert (config.kind, config.g_width, config.d_width, config.batch_size, config.max_steps) == ("dcgan", 32, 8, 16, 7)
    assert config.epochs == get_profile("quick").dcgan.epochs
    assert compare.parse_setting("acgan:64/4/16/3").kind == "acgan"


@pytest.mark.parametrize("text", ["dcgan:64/16/16", "gan:64/16/16/10", "dcgan 64/16/16/10", "dcgan:a/16/16/10"])
def test_a_malformed_setting_says_the_expected_form(compare, text):
    with pytest.raises(LiverkitError, match=r"kind:g_width/d_width/batch/steps"):
        compare.parse_setting(text)


def test_the_reference_shares_no_patient_with_the_gan_training_data(compare, draws):
    assert patients(draws.group) <= patients(draws.real_train)
    assert not patients(draws.real_train) & patients(draws.heldout)
    assert all(p.startswith("s1001-") for p in patients(draws.real_train))
    assert all(p.startswith("s1002-") for p in patients(draws.heldout))
    assert draws.heldout.class_counts() == {"cyst": 24, "metastasis": 24, "hemangioma": 24}


def test_the_gans_train_on_what_the_demo_with_the_training_seed_would_give_them(compare, draws):
    lesions = compare.tag_patients(compare.load("phantom", seed=1001, **TINY_PHANTOM), "s1001")
    fold_of = patient_folds(lesions, k=3, seed=1001)
    group = synthesis.fold_training_group(lesions, fold_of, 0, 60, get_profile("quick").augment, 1001)
    np.testing.assert_array_equal(draws.group.images, group.images)
    assert draws.group.patient_ids.tolist() == group.patient_ids.tolist()
    _, test = split(lesions, fold_of, 0)
    assert not patients(draws.group) & patients(test)


@pytest.mark.parametrize(("seeds", "message"), [((1001, 1001), "different seeds"), ((0, 1002), "seed 0")])
def test_the_draws_refuse_the_demos_seed_and_one_seed_for_both(compare, seeds, message):
    with pytest.raises(LiverkitError, match=message):
        compare.phantom_draws(*seeds, **TINY_PHANTOM)


def test_rule_data_refuses_a_reference_that_shares_a_patient(compare, draws):
    with pytest.raises(LiverkitError, match="share"):
        replace(draws, heldout=draws.real_train)


def test_nested_in_a_fold_uses_only_that_folds_training_patients_split_by_patient(compare):
    labels = np.repeat([0, 1, 2], 24)
    lesions = make_set(labels, patients=[f"p{i // 2}" for i in range(72)], class_names=("a", "b", "c"))
    data = compare.nested_split(lesions, fold=1, seed=0, group=30)
    train, test = split(lesions, patient_folds(lesions, k=3, seed=0), 1)
    assert not patients(data.real_train) & patients(data.heldout)
    assert patients(data.real_train) | patients(data.heldout) == patients(train)
    assert not (patients(data.real_train) | patients(data.heldout)) & patients(test)
    assert patients(data.group) <= patients(data.real_train) and len(data.group) == 30
    assert len(data.heldout) < len(data.real_train) and all(n > 0 for n in data.heldout.class_counts().values())


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_train_and_score_gives_samples_per_class_and_one_fid_each(compare, monkeypatch, kind):
    monkeypatch.setattr(compare, "PER_CLASS", 20)
    group = make_set(np.repeat([0, 1, 2], 20), class_names=("cyst", "metastasis", "hemangioma"))
    config = replace(compare.parse_setting(f"{kind}:32/4/8/2"), collapse_samples=16, sample_grid=2)
    synthetic, seconds, cpu_seconds = compare.train_and_sample(group, config, seed=0)
    assert len(synthetic) == 60 and np.bincount(synthetic.labels).tolist() == [20, 20, 20]
    assert seconds > 0 and cpu_seconds > 0
    real_train, heldout = group.subset(np.arange(0, 60, 2)), group.subset(np.arange(1, 60, 2))
    data = compare.RuleData(real_train, real_train, heldout, 0, 0, 0, "test")
    torch.manual_seed(0)
    scorer = compare.Scorer(LesionCNN(n_classes=3, channels=(4, 8, 8), hidden=8), data, subsets=3)
    table = scorer.table(synthetic)
    assert table["class"].tolist() == ["cyst", "metastasis", "hemangioma"] and table.n.tolist() == [10, 10, 10]
    assert all(np.isfinite(table.fid)) and table.fid.min() > 0 and (table.fid_sd > 0).all()
    assert (scorer.baseline.fid_sd == 0).all() and scorer.baseline.n_reference.tolist() == [10, 10, 10]


def test_compare_prints_the_table_writes_scores_and_grids_and_chooses_per_kind(compare, draws, monkeypatch, tmp_path):
    parse = compare.parse_setting
    monkeypatch.setattr(compare, "parse_setting", lambda t: replace(parse(t), collapse_samples=16, sample_grid=2))
    settings = ["dcgan:16/4/8/1", "acgan:16/4/8/1"]
    scores = compare.compare(draws, settings, tmp_path, classifier=TINY_CNN, per_class=12, subsets=2)
    saved = pd.read_csv(tmp_path / "scores.csv")
    assert saved.setting.unique().tolist() == [compare.BASELINE, "dcgan:16/4/8/1", "acgan:16/4/8/1"]
    assert len(saved) == len(scores) == 9 and np.isfinite(saved.fid).all()
    assert compare.choose(scores) == {"dcgan": "dcgan:16/4/8/1", "acgan": "acgan:16/4/8/1"}
    assert (tmp_path / "dcgan_16-4-8-1.png").stat().st_size > 0 and (tmp_path / "acgan_16-4-8-1.png").is_file()


def test_the_choice_is_the_lowest_mean_fid_of_each_kind(compare):
    scores = pd.DataFrame(
        {
            "setting": [compare.BASELINE] * 2 + ["dcgan:a"] * 2 + ["dcgan:b"] * 2 + ["acgan:a"] * 2,
            "fid": [0.1, 0.1, 3.0, 1.0, 1.5, 1.5, 9.0, 9.0],
        }
    )
    assert compare.choose(scores) == {"dcgan": "dcgan:b", "acgan": "acgan:a"}
