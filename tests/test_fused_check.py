"""The fused trainers' self-check (liverkit.train.fused_check) and when the kit fuses
(liverkit.train.fused_check.use_fused).

No GPU here: the check itself runs on CPU (it is device-agnostic), a broken fused path is planted by giving the fused
CNNs each other's seeds, and CUDA is faked for ``use_fused`` to show what a student on a Colab GPU would get.
"""

import warnings

import pytest
import torch

from liverkit import LiverkitWarning
from liverkit.train import fused_check


@pytest.fixture(autouse=True)
def one_thread_and_fresh_cache():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    fused_check._fused_checked.cache_clear()
    yield
    fused_check._fused_checked.cache_clear()
    torch.set_num_threads(threads)


def test_fused_and_one_by_one_agree_on_cpu_well_inside_the_limits():
    found = fused_check.fused_differences("cpu")
    print("MEASURED", {k: f"{v:.1e}" for k, v in found.items()})
    assert set(found) == set(fused_check.TOLERANCE)
    assert all(found[k] <= fused_check.TOLERANCE[k] / 10 for k in found), found  # rounding, far from the limits
    agrees, said = fused_check.fused_agrees("cpu")
    assert agrees and said.startswith("fused vs one-by-one on cpu: cnn weights ") and "over the limit" not in said


def test_a_broken_fused_path_is_caught(monkeypatch):
    real = fused_check.train_classifiers_fused

    def swapped_seeds(sets, config, seeds, device):  # each fused model trained with the other one's seed
        return real(sets, config, list(seeds)[::-1], device)

    monkeypatch.setattr(fused_check, "train_classifiers_fused", swapped_seeds)
    agrees, said = fused_check.fused_agrees("cpu")
    assert not agrees and "over the limit: cnn weights, cnn loss" in said


def test_auto_never_fuses_and_on_fuses_on_cpu_without_a_check(monkeypatch):
    monkeypatch.setattr(fused_check, "fused_agrees", lambda device: pytest.fail("no check on CPU"))
    assert (
        not fused_check.use_fused("auto", "cpu")
        and not fused_check.use_fused("off", "cpu")
        and fused_check.use_fused("on", "cpu")
    )
    with pytest.raises(fused_check.LiverkitError, match="fused must be 'auto', 'on' or 'off', got 'yes'"):
        fused_check.use_fused("yes", "cpu")


@pytest.mark.parametrize("agrees", [True, False])
def test_on_cuda_the_check_runs_once_and_a_disagreement_trains_one_by_one(monkeypatch, agrees):
    calls = []
    monkeypatch.setattr(fused_check, "resolve_device", lambda device: torch.device("cuda", 0))
    monkeypatch.setattr(fused_check, "fused_agrees", lambda device: calls.append(device) or (agrees, "planted"))
    assert not fused_check.use_fused("auto", "cuda")  # auto: off until a GPU run is recorded
    assert not calls
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fused_check.use_fused("on", "cuda") is agrees
        assert fused_check.use_fused("on", "cuda") is agrees  # the second model group asks again: no second check
    assert calls == ["cuda:0"]
    said = [str(w.message) for w in caught if issubclass(w.category, LiverkitWarning)]
    if agrees:
        assert said == []
    else:
        assert len(said) == 1 and said[0].startswith("fused training disagrees with one-by-one training on this GPU")
        assert "(planted); training one by one instead" in said[0]
