"""Device resolution, seeding and the configuration print."""

import re
import sys

import numpy as np
import pytest
import torch

from liverkit import LiverkitError
from liverkit.env import config_info, print_config, resolve_device, seed_everything


def test_auto_device_matches_hardware():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_bad_devices_are_named():
    with pytest.raises(LiverkitError, match="unknown device 'banana'"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(LiverkitError, match="CUDA is not available"):
            resolve_device("cuda")


def test_seed_everything_is_repeatable():
    a = seed_everything(3).random(3), torch.rand(2)
    b = seed_everything(3).random(3), torch.rand(2)
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(LiverkitError, match="integer from 0 to 4294967295"):
        seed_everything(-1)


def test_print_config_is_one_line_by_default(capsys):
    info = print_config("cpu")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and len(out) < 160, out  # one line a notebook reader takes in at a glance
    assert out.startswith(f"liverkit {info['liverkit']} | python {info['python']} | torch {torch.__version__} | ")
    assert f"| device cpu | torch_threads {torch.get_num_threads()}  (" in out and "details=True" in out
    assert info["device"] == "cpu" and info["liverkit"] != "not installed"
    assert set(info) == set(config_info("cpu")) >= {"python", "torch", "numpy", "device", "torch_threads", "bf16"}


def test_print_config_details_list_every_entry_one_per_line(capsys):
    import sys

    info = print_config("cpu", details=True)
    out = capsys.readouterr().out
    assert len(out.splitlines()) == len(info) >= 16
    assert re.search(rf"^torch_threads\s+{torch.get_num_threads()}$", out, flags=re.MULTILINE)
    assert info["interpreter"] == sys.executable
    assert re.search(rf"^interpreter\s+{re.escape(sys.executable)}$", out, flags=re.MULTILINE)
    assert info["bf16"] in (
        "fast on this device (used only where a config sets bf16=True)",
        "not fast here (the kit trains in fp32)",
    )
    assert info["bf16"] not in (True, False, "True", "False")


def test_in_a_notebook_the_line_carries_every_entry_in_its_metadata(monkeypatch):
    from liverkit import env

    shown = []
    monkeypatch.setattr(env, "get_ipython", lambda: object())  # as in a kernel
    monkeypatch.setattr(env, "display", lambda bundle, raw, metadata: shown.append((bundle, raw, metadata)))
    info = print_config("cpu")
    [(bundle, raw, metadata)] = shown
    assert raw and bundle == {"text/plain": env.config_line(info)}
    assert metadata == {env.CONFIG_METADATA: info}


def test_reuse_freed_memory_applies_on_glibc_and_nowhere_else(monkeypatch):
    import platform

    from liverkit import env

    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert env.reuse_freed_memory() is on_glibc
    monkeypatch.setattr(env.sys, "platform", "darwin")
    assert env.reuse_freed_memory() is False
