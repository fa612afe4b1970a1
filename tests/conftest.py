"""Shared fixtures: every notebook run end to end, once per session, on the phantom and on two other data sets.

The three runs (the phantom, a 2-class MedMNIST file and a 4-class folder set, both made here) start together as
subprocesses of the real entry point (`liverkit run --profile smoke`) and run side by side, each on one thread:
a smoke run is mostly kernel starts and small Python loops, so three at once on two cores take about as long as
two one after the other.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from liverkit.experiment.memory import TreeMemory
from liverkit.experiment.run_folder import RunFolder

# Let tests import tests/helpers.py and tests/datasets.py as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

from datasets import OTHER_DATA, MadeData  # noqa: E402 - importable once tests/ is on the path
from helpers import BROWSER_MISSING, SMOKE_ENV, find_browser  # noqa: E402

RUN_TIMEOUT_S = 1800
MEMORY_FILE = "alone-05-memory.json"
"""Peak memory of the run of notebook 05 alone (runner + kernel), next to the runs (see ``notebook_runs``)."""


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium/Chrome the browser tests drive; they skip, saying how to get one, where none is installed.

    Decided when a test asks, never at import, so two runs of the suite on one machine skip the same tests. Nothing
    is installed here: tests do not change the machine (`make browser` does, visibly).
    """
    found = find_browser()
    if found is None:
        pytest.skip(BROWSER_MISSING)
    return found


def liverkit_command(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `liverkit ARGS` in a subprocess with ``env`` added, its output going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "liverkit.kit.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | env,
        )


def _wait(process: subprocess.Popen, log: Path, what: str) -> None:
    code = process.wait(timeout=RUN_TIMEOUT_S)
    assert code == 0, f"{what} failed (exit {code}):\n{log.read_text()[-4000:]}"


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory) -> dict[str, tuple[MadeData | None, RunFolder]]:
    """Every notebook (smoke) on the phantom and on each of OTHER_DATA, and notebook 05 alone into an empty folder,
    side by side; then the other sets' reports.

    The phantom run is under ``helpers.SMOKE_ENV``, a perturbation of float rounding (one thread; on x86-64 the
    next lower vector kernels), while tests/baselines/smoke.json was recorded without it: the baseline check on
    this run is the proof that the measured tolerances absorb another machine's rounding. The other runs use the
    same environment plus a manifest of their own (``$LIVERKIT_MANIFEST``) and a run folder with a space in it.
    """
    root = tmp_path_factory.mktemp("notebook-runs")
    smoke = ["run", "--profile", "smoke", "--device", "cpu"]
    jobs = {
        "phantom": (None, root / "smoke-run", dict(SMOKE_ENV), []),
        "alone-05": (None, root / "notebook-05-alone", dict(SMOKE_ENV), ["--notebooks", "05"]),  # tests/test_standalone
    }
    for name, build in OTHER_DATA.items():
        data = build(root / f"{name}-data")
        env = SMOKE_ENV | {"LIVERKIT_MANIFEST": str(data.manifest)}
        jobs[name] = (data, root / f"{name} run", env, ["--data", data.name])
    with _dask_cluster() as scheduler:
        if scheduler is not None:  # tests/test_executors.py: notebook 02 with its sweep on 2 Dask workers
            dask = ["--notebooks", "02", "--executor", "dask", "--scheduler", scheduler]
            jobs["dask-02"] = (None, root / "notebook-02-on-dask", dict(SMOKE_ENV), dask)
        started = {}
        for name, (_, out, env, extra) in jobs.items():
            started[name] = liverkit_command([*smoke, *extra, "--out", str(out)], env, root / f"{name}.log")
        memory = TreeMemory(started["alone-05"].pid).start()  # tests/test_memory.py: one notebook's peak
        for name, process in started.items():
            _wait(process, root / f"{name}.log", f"liverkit run on {name}")
        memory.stop()
        peak = {"rss_mb": memory.overall.rss_mb, "pss_mb": memory.overall.pss_mb, "samples": memory.samples}
        (root / MEMORY_FILE).write_text(json.dumps(peak))
    for name, (data, out, env, _) in jobs.items():
        if data is not None:
            log = root / f"{name}-report.log"
            _wait(liverkit_command(["report", str(out)], env, log), log, f"liverkit report on {name}")
    return {name: (data, RunFolder(out)) for name, (data, out, _, _) in jobs.items()}


@contextlib.contextmanager
def _dask_cluster():
    """A local Dask cluster of 2 one-thread workers under ``SMOKE_ENV``; yields its address (None without dask)."""
    try:
        import distributed
    except ImportError:
        yield None
        return
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, env=dict(SMOKE_ENV)
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="session")
def smoke_run(notebook_runs) -> RunFolder:
    """Every notebook with the smoke profile on the phantom (see ``notebook_runs``)."""
    return notebook_runs["phantom"][1]


NOTEBOOK_FIXTURES = {"notebook_runs", "smoke_run"}
"""Fixtures that execute notebooks: a test that uses one is marked ``notebook`` (``make test-fast`` skips them)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs executed notebooks, directly or through another fixture, as ``notebook``."""
    for item in items:
        if NOTEBOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.notebook)
