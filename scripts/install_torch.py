"""Install torch and torchvision into the running Python, the CPU build where that is the right one (``make setup``).

On Linux, PyPI's torch is the CUDA build: about 6 GB with its NVIDIA libraries, useless on a laptop without an NVIDIA
GPU. So: with an NVIDIA GPU (``nvidia-smi`` answers), PyPI's build; without one, PyTorch's CPU wheel index when it
answers within a few seconds (about 0.7 GB); otherwise (no internet but a package mirror, say) the default index,
saying so. Then it prints which build was installed and how large the environment is.

Run as ``python scripts/install_torch.py [--dry-run]`` with the environment's own Python.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
"""PyTorch's index of CPU-only wheels."""
PROBE_TIMEOUT_S = 5.0
"""How long the CPU index may take to answer before the default index is used."""
PACKAGES = ("torch>=2.4", "torchvision>=0.19")
"""Keep in step with pyproject.toml's dependencies."""


def has_nvidia_gpu() -> bool:
    """True when ``nvidia-smi`` exists and lists a GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    return result.returncode == 0 and "GPU" in result.stdout


def index_answers(url: str = CPU_INDEX, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``url``'s torch page answers within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"{url}/torch/", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def pip_command(gpu: bool, cpu_index: bool) -> tuple[list[str], str]:
    """The pip command that installs torch and torchvision, and why it was chosen."""
    base = [sys.executable, "-m", "pip", "install", *PACKAGES]
    if gpu:
        return base, "an NVIDIA GPU answers: PyPI's CUDA build"
    if cpu_index:
        return [*base, "--index-url", CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"], (
            f"no NVIDIA GPU: the CPU build from {CPU_INDEX}"
        )
    return base, (
        f"no NVIDIA GPU, but {CPU_INDEX} did not answer within {PROBE_TIMEOUT_S:g} s: the default index's build "
        "(on Linux the CUDA build, several GB; it runs on the CPU too)"
    )


def folder_size(path: Path) -> int:
    """Bytes in the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def describe_build() -> str:
    """The installed torch's version and build, from a fresh interpreter (this one may have imported nothing)."""
    code = "import torch; print(torch.__version__, 'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU only')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would be installed, install nothing")
    args = parser.parse_args(argv)
    gpu = has_nvidia_gpu()
    command, why = pip_command(gpu, cpu_index=not gpu and index_answers())
    print(f"torch: {why}", flush=True)
    if args.dry_run:
        print(" ".join(command))
        return 0
    subprocess.run(command, check=True)  # pip's own progress bar shows the download
    size = folder_size(Path(sys.prefix)) / 1e9
    print(f"torch installed: {describe_build()}; {sys.prefix} now holds {size:.1f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
