"""The compute environment: which device to use, seeding, and the config print every notebook opens with."""

from __future__ import annotations

import os
import platform
import random
import sys
from importlib import metadata

import numpy as np
import torch

from liverkit.errors import LiverkitError

_REPORTED_PACKAGES = ("liverkit", "torch", "torchvision", "numpy", "scikit-learn", "umap-learn", "plotly", "papermill")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into the best available device (cuda, then mps, then cpu); check explicit names.

    Args:
        device: ``"auto"``, or a torch device string such as ``"cpu"``, ``"cuda"`` or ``"cuda:1"``.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise LiverkitError(f"unknown device '{device}'; use 'auto', 'cpu', 'cuda' or 'mps'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LiverkitError(f"device '{device}' was asked for but CUDA is not available here; use 'auto' or 'cpu'.")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise LiverkitError(f"device '{device}' was asked for but MPS is not available here; use 'auto' or 'cpu'.")
    return resolved


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and torch from one integer and return a numpy Generator for explicit use.

    The kit passes generators down explicitly; the global seeds only make third-party code repeatable.
    """
    if not isinstance(seed, int) or seed < 0:
        raise LiverkitError(f"seed must be a non-negative integer, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may still use the legacy global RNG
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is worth using on ``device`` (CUDA with bf16, or a CPU with AMX/AVX512-BF16)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        return "AMX" in capability.upper() or "AVX512" in capability.upper()
    return False


def config_info(device: str | torch.device = "auto") -> dict[str, object]:
    """Versions, device and threads as a dict (recorded into run folders and reports)."""
    resolved = resolve_device(device)
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "interpreter": sys.executable,
        "platform": platform.platform(),
        "device": str(resolved),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16": "fast on this device (used only where a config sets bf16=True)"
        if bf16_supported(resolved)
        else "not fast here (the kit trains in fp32)",
    }
    if resolved.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(resolved)
    for package in _REPORTED_PACKAGES:
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["torch"] = torch.__version__  # with the build tag, e.g. +cu130 or +cpu
    return info


def print_config(device: str | torch.device = "auto") -> dict[str, object]:
    """Print versions, device and threads, one per line, and return them (the first cell of every notebook).

    ``interpreter`` is the Python running this kernel: the one the notebook's guarded install cell installs into. In
    JupyterLab, pick the kernel "Python (liverkit)" (registered by ``make setup``) to use the kit's own environment.
    """
    info = config_info(device)
    width = max(len(key) for key in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return info


def use_fused(setting: str, device: str | torch.device) -> bool:
    """Whether to train many small models as one (``Profile.fused``): ``auto`` on CUDA only, ``on``/``off`` forced.

    Fusing is for GPUs, where one small model leaves most of the chip idle. On CPUs it gains nothing: measured here,
    fused GANs ran at about the speed of one after another (``liverkit.train.fused_gan``) and fused CNNs slower
    for the widths that matter (``liverkit.train.fused``), so ``auto`` keeps CPUs on the one-by-one path.
    """
    if setting not in ("auto", "on", "off"):
        raise LiverkitError(f"fused must be 'auto', 'on' or 'off', got {setting!r}.")
    if setting == "auto":
        return resolve_device(device).type == "cuda"
    return setting == "on"
