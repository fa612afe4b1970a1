"""The compute environment: which device to use, seeding, and the config print every notebook opens with."""

from __future__ import annotations

import ctypes
import os
import platform
import random
import sys
from importlib import metadata

import numpy as np
import torch
from IPython import get_ipython
from IPython.display import display

from liverkit.errors import LiverkitError
from liverkit.seeds import check_seed

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

    The kit passes generators down explicitly; the global seeds only make third-party code repeatable. The seed
    must be an integer from 0 to 2**32 - 1 (:func:`liverkit.seeds.check_seed`: numpy's global seed takes no more),
    so one seed means the same thing to Python, numpy and torch.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may still use the legacy global RNG
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


MALLOC_MMAP_THRESHOLD_BYTES = 32 * 2**20
"""Blocks up to this size come from malloc's heap, not from a fresh ``mmap`` (glibc's largest allowed value)."""
MALLOC_TRIM_THRESHOLD_BYTES = 64 * 2**20
"""Free memory at the top of the heap kept for reuse, up to this much, instead of being handed back at once."""


def reuse_freed_memory() -> bool:
    """Let glibc's malloc reuse freed activation buffers instead of handing them back to the system at once.

    Why: a training step allocates and frees the same large activations (8 MB for the quick CNN's first layer
    at batch 64) again and again. With glibc's defaults such blocks keep going back to the system, and each reuse
    faults their pages in afresh. Raising the two thresholds keeps up to :data:`MALLOC_TRIM_THRESHOLD_BYTES` of
    freed memory per process for reuse: a quick-width CNN step ran 10-20% faster (2-core Xeon, one thread, fp32
    and bf16); the GAN steps did not change. Results do not change. Returns whether it applied: only glibc
    (Linux) has ``mallopt``; elsewhere nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries: no glibc mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # the parameter numbers of glibc's malloc.h
    return mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD_BYTES) == 1 and (
        mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD_BYTES) == 1
    )


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


CONFIG_METADATA = "liverkit/config"
"""Key of the output metadata in which :func:`print_config` leaves the full :func:`config_info` in a notebook (the
report reads it from the executed copies; no viewer shows output metadata)."""

SHORT_KEYS = ("liverkit", "python", "torch", "device", "torch_threads")
"""What the one line of :func:`print_config` shows."""


def config_line(info: dict[str, object]) -> str:
    """The one-line form: ``liverkit 0.1.0 | python 3.11.7 | torch 2.5.1+cpu | device cpu | torch_threads 2``."""
    return " | ".join(f"{key} {info[key]}" for key in SHORT_KEYS) + "  (all versions: print_config(details=True))"


def config_table(info: dict[str, object]) -> str:
    """The full form: one ``key  value`` line per entry of :func:`config_info`."""
    width = max(len(key) for key in info)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in info.items())


def print_config(device: str | torch.device = "auto", details: bool = False) -> dict[str, object]:
    """Print versions, device and threads, and return them all (the imports cell of every notebook).

    One line by default (liverkit, python, torch, device, threads): a notebook opens with its story, not with a page
    of versions. ``details=True`` (or ``liverkit config`` in a terminal) prints every entry of :func:`config_info`,
    among them ``interpreter``: the Python running this kernel, the one the notebook's guarded install cell installs
    into. The notebooks ask for the standard ``python3`` kernel; in a JupyterLab outside the kit's ``.venv``, pick
    the kernel "Python (liverkit)" (registered by ``make setup``) to use the kit's own environment. In a notebook
    the full dict also travels, unseen, in the output's metadata (:data:`CONFIG_METADATA`), so the run's report can
    list every version the notebooks ran with.
    """
    info = config_info(device)
    text = config_table(info) if details else config_line(info)
    if get_ipython() is None:
        print(text)
    else:
        display({"text/plain": text}, raw=True, metadata={CONFIG_METADATA: info})
    return info
