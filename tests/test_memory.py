"""Memory: the sampler that measures it (liverkit.experiment.memory), and one notebook's peak under a stated bound.

The README's memory table comes from ``scripts/measure_memory.py`` with PyTorch's CPU build. Here the smoke run of
notebook 05 alone into an empty folder (conftest's ``notebook_runs``: the runner, and one kernel that rebuilds
notebooks 01-04 before its own work) is sampled the same way, and its peak summed RSS must stay under the bound for
the torch build at hand. PyTorch's CUDA build maps about 0.7 GB more at import, so it has its own bound.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import MEMORY_FILE

from liverkit.experiment.memory import TreeMemory, process_role, tree_memory

BOUND_MB = {"cpu": 900, "cuda": 1700}
"""Peak summed RSS of notebook 05 alone at smoke (runner + kernel), by torch build, about 25% above what was
measured (2-core Intel Xeon, 2026-12-07): 718 MB with torch 2.13.0+cpu (kernel 615, runner 90), 1,364 MB with
torch 2.14.1+cu130 (kernel 1,256, runner 95). Both under the 1.2 GB a notebook kernel may take on Binder."""

ALLOCATE = "import numpy, time; block = numpy.ones(200 * 2**20 // 8); print('ready', flush=True); time.sleep(60)"


def test_the_sampler_sees_a_child_process_allocate():
    """A child that fills 200 MB and starts a grandchild that does too: the tree's peak counts both."""
    parent = "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', sys.argv[1]]); exec(sys.argv[1])"
    process = subprocess.Popen([sys.executable, "-c", parent, ALLOCATE], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"  # the parent's block is full
        time.sleep(1.0)  # the grandchild's too (it started first and needs less than a second)
        watch = TreeMemory(process.pid, label=lambda: "allocating", interval_s=0.05).start()
        time.sleep(0.5)
        watch.stop()
        _, _, processes, roles = tree_memory(process.pid)
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()
    assert processes == 2 and watch.samples >= 3
    assert 400 <= watch.overall.rss_mb < 600, watch.overall  # two blocks of 200 MB and two small interpreters
    assert watch.by_label["allocating"].rss_mb == watch.overall.rss_mb and watch.overall.processes == 2
    assert set(roles) == {Path(sys.executable).name} and roles[Path(sys.executable).name] >= 400  # by program
    assert tree_memory(process.pid) == (0.0, 0.0, 0, {})  # gone: nothing left to count


@pytest.mark.parametrize(
    ("command", "role"),
    [
        (["/v/bin/python", "-m", "ipykernel_launcher", "-f", "k.json"], "kernel"),
        (["/v/bin/python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"], "worker"),
        (["/v/bin/python", "-c", "from multiprocessing.resource_tracker import main;main(4)"], "resource tracker"),
        (["/v/bin/python", "-m", "liverkit.kit.cli", "run", "--profile", "quick"], "runner"),
        (["/usr/lib/chromium/chromium", "--type=renderer"], "chromium"),
    ],
)
def test_processes_are_named_by_role(command, role):
    assert process_role(command) == role


@pytest.mark.notebook
def test_one_notebook_stays_under_its_memory_bound(notebook_runs):
    root = notebook_runs["alone-05"][1].path.parent
    peak = json.loads((root / MEMORY_FILE).read_text())
    build = "cpu" if torch.version.cuda is None else "cuda"
    print(f"MEASURED notebook 05 alone, smoke, torch {torch.__version__}: {peak}")
    assert peak["samples"] >= 10, peak  # the run was watched while it ran
    assert peak["rss_mb"] <= BOUND_MB[build], (
        f"notebook 05 alone (smoke) peaked at {peak['rss_mb']:.0f} MB summed RSS, over the {BOUND_MB[build]} MB "
        f"bound for torch's {build} build: something holds more memory than it did (see scripts/measure_memory.py)"
    )
