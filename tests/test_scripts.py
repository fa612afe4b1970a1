"""The maintainer scripts in ``scripts/``: the GAN-settings comparison behind the quick profile's choice."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_set

from liverkit.errors import LiverkitError
from liverkit.nets import LesionCNN

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_gan_settings", SCRIPTS / "compare_gan_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_setting_overrides_widths_batch_and_steps_of_the_quick_config(compare):
    config = compare.parse_setting("dcgan:32/8/16/7")
    assert (config.kind, config.g_width, config.d_width, config.batch_size, config.max_steps) == ("dcgan", 32, 8, 16, 7)
    assert compare.parse_setting("acgan:64/4/16/3").kind == "acgan"


@pytest.mark.parametrize("text", ["dcgan:64/16/16", "gan:64/16/16/10", "dcgan 64/16/16/10", "dcgan:a/16/16/10"])
def test_a_malformed_setting_says_the_expected_form(compare, text):
    with pytest.raises(LiverkitError, match=r"kind:g_width/d_width/batch/steps"):
        compare.parse_setting(text)


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_train_and_score_gives_samples_per_class_and_one_fid_each(compare, monkeypatch, tmp_path, kind):
    monkeypatch.setattr(compare, "PER_CLASS", 20)
    group = make_set(np.repeat([0, 1, 2], 20), class_names=("cyst", "metastasis", "hemangioma"))
    config = replace(compare.parse_setting(f"{kind}:32/4/8/2"), collapse_samples=16, sample_grid=2)
    synthetic, seconds = compare.train_and_sample(group, config, seed=0)
    assert len(synthetic) == 60 and np.bincount(synthetic.labels).tolist() == [20, 20, 20] and seconds > 0
    torch.manual_seed(0)
    fids = compare.class_fids(LesionCNN(n_classes=3, channels=(4, 8, 8), hidden=8), group, synthetic)
    assert len(fids) == 3 and all(np.isfinite(fids)) and min(fids) > 0
    compare.save_grid(synthetic, tmp_path / "grid.png", per_class=4)
    assert (tmp_path / "grid.png").stat().st_size > 0
