"""Shared fixtures: the smoke run of every notebook (once per session), used by the notebook and report tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liverkit.runs import RunFolder

# Let tests import tests/helpers.py as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))

from helpers import SMOKE_ENV  # noqa: E402 - importable only once tests/ is on the path


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run every notebook with the smoke profile through the `liverkit` command line (about 3 minutes).

    It runs under ``helpers.SMOKE_ENV``, a perturbation of float rounding (one thread; on x86-64 the next lower
    vector kernels), while tests/baselines/smoke.json was recorded without it: the baseline check on this run is the
    proof that the measured tolerances absorb another machine's rounding."""
    out = tmp_path_factory.mktemp("smoke-run")
    cmd = [sys.executable, "-m", "liverkit.cli", "run", "--profile", "smoke", "--out", str(out), "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=os.environ | SMOKE_ENV)
    assert done.returncode == 0, f"liverkit run failed:\n{done.stdout}\n{done.stderr}"
    return RunFolder(out)
