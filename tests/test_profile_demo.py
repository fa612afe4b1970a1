"""benchmarks/profile_demo.py splits py-spy's stacks into the phases docs/performance.md reports."""

import importlib.util
import json
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "profile_demo", Path(__file__).parents[1] / "benchmarks" / "profile_demo.py"
)
profile_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profile_demo)

RUNNER = 'process 10:"python liverkit run --profile quick"'
KERNEL = 'process 11:"python -m ipykernel_launcher -f k.json"'
WORKER = 'process 12:"python -c from multiprocessing.spawn import spawn_main; spawn_main(pipe_handle=5)"'
RAW = [
    f"{RUNNER};thread (10): MainThread;main (liverkit/kit/cli.py:9) 7",
    f"{RUNNER};{KERNEL};thread (11): MainThread;<module> (cell:1);train (liverkit/experiment/synthesis.py:5);"
    "wait (liverkit/experiment/executors.py:40);wait (threading.py:331) 40",
    f"{RUNNER};{KERNEL};thread (11): MainThread;<module> (cell:2);show (liverkit/kit/plots.py:3);"
    "png (liverkit/kit/display.py:83);_run (liverkit/kit/display.py:78) 6",
    f"{RUNNER};{KERNEL};thread (11): MainThread;<module> (cell:3);_find_and_load (<frozen importlib>:1) 4",
    f"{RUNNER};{KERNEL};thread (11): MainThread;dispatch (ipykernel);select (selectors.py:468) 2",
    f"{RUNNER};{KERNEL};thread (14): Thread-2;run (threading.py:9);worker (liverkit/kit/display.py:70) 99",
    f"{RUNNER};{KERNEL};{WORKER};thread (12): MainThread;job (liverkit/train/gan.py:370);backward (torch) 30",
    f"{RUNNER};{KERNEL};{WORKER};thread (12): MainThread;record (liverkit/train/gan.py:480);_snapshot (g.py:1) 3",
    f"{RUNNER};{KERNEL};{WORKER};thread (13): Thread-1;accept (socket.py:294) 50",
]


def test_the_kernel_main_thread_is_wall_time_by_phase_and_workers_are_busy_cpu(tmp_path):
    raw = tmp_path / "03.txt"
    raw.write_text("\n".join(RAW) + "\n")
    kernel, workers = profile_demo.split(profile_demo.read_stacks(raw), rate=10)
    assert dict(kernel) == pytest.approx(
        {"waiting for workers": 4.0, "PNG copies": 0.6, "imports": 0.4, "kernel between cells": 0.2}
    )
    assert dict(workers) == pytest.approx({"training": 3.0, "GAN diagnostics": 0.3})  # the idle thread left out


def test_summarise_writes_the_table_from_recorded_stacks(tmp_path):
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "03.txt").write_text("\n".join(RAW) + "\n")
    (tmp_path / "profile" / "walls.json").write_text(json.dumps({"03": 6.0}))
    profile_demo.main(["--out", str(tmp_path), "--summarise", "--rate", "10"])
    table = (tmp_path / "profile.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| 03 "))
    assert row.startswith("| 03 | 6 | 5 | 1 | 0 | 0 | 4 |"), row
    assert row.endswith("| 3 / 0 / 0 |"), row
    assert "Total wall time 6 s (0.1 min)." in table
