"""Shared fixtures: the smoke run of every notebook (once per session), used by the notebook and report tests."""

import subprocess
import sys
from pathlib import Path

import pytest

from liverkit.runs import RunFolder

# Let tests import tests/helpers.py as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run every notebook with the smoke profile through the `liverkit` command line (about 3 minutes)."""
    out = tmp_path_factory.mktemp("smoke-run")
    cmd = [sys.executable, "-m", "liverkit.cli", "run", "--profile", "smoke", "--out", str(out), "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"liverkit run failed:\n{done.stdout}\n{done.stderr}"
    return RunFolder(out)
