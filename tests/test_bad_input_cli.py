"""The ``liverkit`` command over a table of bad inputs and faults: each row exits with its status and one line that
names the problem and the fix, and no row prints a Python traceback (``--debug`` shows it).

Also: an out-of-range setting writes nothing and a corrected rerun into the same folder works; a disk that fills
up (a file-size limit) leaves no half-written notebook and a report that still builds; Ctrl-C and SIGTERM stop a
running notebook within seconds, say what was kept, and leave no kernel and no temporary file behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import test_bad_input_data
import test_bad_input_runner
from test_notebook_runner import lesion_file, tiny_notebooks

from liverkit import LiverkitError, io
from liverkit.kit import cli, notebook_runner, report


@dataclass
class Setup:
    """Tiny notebooks, a data file and a run folder path (not made yet)."""

    tmp: Path
    nbs: Path
    data: Path
    out: Path

    def run_args(self, *extra: str, out: Path | None = None) -> list[str]:
        base = ["run", "--profile", "smoke", "--data", str(self.data), "--notebook-dir", str(self.nbs)]
        return [*base, "--out", str(out or self.out), *extra]

    def made_run(self) -> Path:
        """A real run of the tiny notebook into ``out``."""
        assert cli.main(self.run_args()) == 0
        return self.out


@pytest.fixture
def setup(tmp_path, monkeypatch) -> Setup:
    monkeypatch.setattr(report, "notebook_html", lambda notebook, figures: "<p>shown</p>")  # no nbconvert: fast
    nbs = tiny_notebooks(tmp_path / "nbs", {"01_ok": "x = 1"})
    return Setup(tmp_path, nbs, lesion_file(tmp_path / "lesions.npz"), tmp_path / "run")


def runs(*extra: str) -> Callable[[Setup], list[str]]:
    return lambda s: s.run_args(*extra)


def damaged(relative: str, content: bytes) -> Callable[[Setup], list[str]]:
    """A finished run with one file cut short, then ``liverkit report`` on it."""

    def build(s: Setup) -> list[str]:
        s.made_run()
        (s.out / relative).write_bytes(content)
        return ["report", str(s.out)]

    return build


def report_into_read_only(s: Setup, monkeypatch) -> list[str]:
    s.made_run()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(s.out / report.REPORT_FILE))

    monkeypatch.setattr(io.tempfile, "mkstemp", read_only)
    return ["report", str(s.out)]


def kit_fault(s: Setup, monkeypatch) -> list[str]:
    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(notebook_runner, "run_notebooks", broken)
    return s.run_args()


LONG = "x" * 300
NOT_MADE = "the run folder was not made"

ROWS = [
    # id, argv (or a builder taking the setup, and the monkeypatch when it needs one), exit status, stderr regex
    ("lr-negative", runs("--set", "classifier.lr=-1"), 2, r"classifier\.lr = -1 is out of range"),
    ("epochs-zero", runs("--set", "classifier.epochs=0"), 2, r"classifier\.epochs = 0 is out of range"),
    ("batch-zero", runs("--set", "classifier.batch_size=0"), 2, r"classifier\.batch_size = 0 is out of range"),
    ("gan-lr-negative", runs("--set", "dcgan.lr=-0.1"), 2, r"dcgan\.lr = -0\.1 is out of range"),
    ("folds-one", runs("--set", "n_folds=1"), 2, r"n_folds = 1 is out of range"),
    ("seed-too-big", runs("--seed", "4294967296"), 2, r"seed must be an integer from 0 to 4294967295"),
    ("seed-negative", runs("--seed", "-1"), 2, r"seed must be an integer from 0 to 4294967295"),
    ("scheduler-garbage", runs("--executor", "dask", "--scheduler", "not-an-address"), 2, r"not-an-address"),
    ("scheduler-http", runs("--executor", "dask", "--scheduler", "http://localhost:8786"), 2, r"http://localhost"),
    ("scheduler-without-dask", runs("--scheduler", "tcp://h:1"), 2, r"--scheduler is for --executor dask"),
    ("unknown-data", runs("--data", "phantm"), 2, r"--data 'phantm' is neither"),
    ("out-name-too-long", lambda s: s.run_args(out=s.tmp / LONG), 2, r"ENAMETOOLONG.*too long.*shorter path"),
    ("report-name-too-long", lambda s: ["report", str(s.tmp / LONG)], 2, r"(ENAMETOOLONG.*too long|not a run folder)"),
    ("report-not-a-run", lambda s: ["report", str(s.tmp)], 2, r"is not a run folder \(it has no run.json\)"),
    ("report-read-only", report_into_read_only, 2, r"Read-only file system.*\[EROFS\].*--output FILE"),
    ("report-damaged-copy", damaged("notebooks/01_ok.ipynb", b'{"cells": [{"cell_'), 0, None),
    ("report-damaged-metrics", damaged("metrics/01_ok.json", b"{1:"), 0, None),
    ("report-damaged-run-json", damaged("run.json", b"{"), 2, r"could not read the run's identity file '.*run.json'"),
    ("report-damaged-state", damaged("runner_state.json", b"\x00"), 2, r"could not read the runner's state file"),
    ("kit-fault", kit_fault, 1, r"internal error \(TypeError: unsupported operand\).*--debug"),
]


def _argv(build, s: Setup, monkeypatch) -> list[str]:
    return build(s, monkeypatch) if build.__code__.co_argcount == 2 else build(s)


@pytest.mark.parametrize(("build", "status", "message"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_each_bad_input_is_one_line_and_no_traceback(setup, monkeypatch, capsys, build, status, message):
    argv = _argv(build, setup, monkeypatch)
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == status, err
    if message is None:
        assert err == "" and out.startswith("report: ")
        return
    assert len(err.strip().splitlines()) == 1 and err.startswith("liverkit: "), err
    assert re.search(message, err), err


def test_debug_shows_the_traceback(setup, monkeypatch, capsys):
    argv = kit_fault(setup, monkeypatch)
    assert cli.main(["--debug", *argv]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert cli.main([*argv, "--debug"]) == 1  # after the command too
    assert "Traceback" in capsys.readouterr().err


def test_the_damaged_copy_is_reported_as_damaged_and_named(setup, monkeypatch, capsys):
    assert cli.main(_argv(damaged("notebooks/01_ok.ipynb", b'{"cells": ['), setup, monkeypatch)) == 0
    page = (setup.out / report.REPORT_FILE).read_text()
    assert "damaged: rerun notebook 01" in page


def test_a_refused_setting_writes_nothing_and_the_corrected_rerun_works(setup, capsys):
    for bad in ("classifier.lr=-1", "classifier.epochs=0", "classifier.batch_size=0"):
        assert cli.main(setup.run_args("--set", bad)) == 2
        assert not setup.out.exists(), NOT_MADE
    assert cli.main(setup.run_args("--seed", str(2**32))) == 2 and not setup.out.exists()
    assert cli.main(setup.run_args("--set", "classifier.lr=0.02")) == 0
    assert json.loads((setup.out / "run.json").read_text())["overrides"] == {"classifier.lr": 0.02}


# ---------------------------------------------------------------------------------------------- in a process of its own
def _liverkit(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "liverkit.kit.cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write then fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))


def test_a_full_disk_stops_with_one_line_leaves_no_half_notebook_and_the_report_builds(setup):
    big = tiny_notebooks(setup.tmp / "big", {"01_ok": "print('x' * 200_000)"})  # its executed copy passes the limit
    args = setup.run_args()
    args[args.index("--notebook-dir") + 1] = str(big)
    process = _liverkit(args, preexec_fn=_limit_file_size)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert re.search(r"File too large .*\[EFBIG\]: the file would pass this process's file-size limit", err), err
    left = sorted(p.name for p in (setup.out / "notebooks").iterdir())
    assert left == [], left  # no truncated copy, failed or running
    assert cli.main(["report", str(setup.out)]) == 0


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # it ended while we looked
        return False


def _is_kernel(process: psutil.Process) -> bool:
    try:
        return _alive(process) and "ipykernel" in " ".join(process.cmdline())
    except psutil.Error:  # it ended while we looked
        return False


def _kernel_started(process: subprocess.Popen, after: Path, timeout_s: float = 120) -> list[psutil.Process]:
    """The runner's children once a kernel runs and ``after`` (the previous notebook's executed copy) exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kids = psutil.Process(process.pid).children(recursive=True)
        kernel = any(_is_kernel(k) for k in kids)
        if kernel and after.exists():
            time.sleep(2)  # let the kernel take its cell
            return kids
        time.sleep(0.2)
    raise AssertionError("the kernel did not start")


@pytest.mark.parametrize(("how", "status", "said"), [("SIGINT", 130, "Ctrl-C"), ("SIGTERM", 143, "SIGTERM")])
def test_a_signal_stops_a_running_notebook_within_seconds_and_says_how_to_go_on(setup, how, status, said):
    slow = tiny_notebooks(setup.tmp / "slow", {"01_ok": "x = 1", "02_slow": "import time\ntime.sleep(300)"})
    args = setup.run_args()
    args[args.index("--notebook-dir") + 1] = str(slow)
    process = _liverkit(args, start_new_session=True)
    kids = _kernel_started(process, after=setup.out / "notebooks" / "01_ok.ipynb")
    start = time.monotonic()
    if how == "SIGINT":
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    else:
        process.send_signal(signal.SIGTERM)  # a job scheduler or `kill` reaches the runner only
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - start
    assert took < 10, took
    assert process.returncode == status, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert re.search(rf"stopped by {said} during 02_slow: kept 01_ok, .*Run the same command again", err), err
    assert not any(_alive(k) for k in kids), "a kernel survived"
    hidden = [p for p in setup.out.rglob(".*") if p.is_file() and p.name != notebook_runner.LOCK_FILE]
    assert hidden == [], hidden
    assert not (setup.out / "notebooks" / "02_slow.failed.ipynb").exists()


# ---------------------------------------------------------------------------------------------- the other tables
def _through_the_command(monkeypatch, capsys, action: Callable[[], object]) -> str:
    """Run ``action`` as the command's work; what the user reads on stderr (the exit status must be 2)."""
    monkeypatch.setattr(cli, "_command", lambda args: action())
    capsys.readouterr()
    code = cli.main(["config"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("liverkit: error: "), err
    return err


DATA_ROWS = [row for row in test_bad_input_data.ROWS if row[2] is LiverkitError]
RUNNER_ROWS = [row for row in test_bad_input_runner.ROWS if row[2] is not None]


@pytest.mark.parametrize("row", DATA_ROWS, ids=[row[0] for row in DATA_ROWS])
def test_every_bad_data_row_reads_as_one_line_through_the_command(tmp_path, monkeypatch, capsys, row):
    err = _through_the_command(monkeypatch, capsys, row[1](tmp_path))
    assert re.search(row[3], err), err


@pytest.mark.parametrize("row", RUNNER_ROWS, ids=[row[0] for row in RUNNER_ROWS])
def test_every_bad_run_row_reads_as_one_line_through_the_command(tmp_path, monkeypatch, capsys, row):
    case = test_bad_input_runner.make_case(tmp_path)
    err = _through_the_command(monkeypatch, capsys, lambda: row[1](case))
    assert re.search(row[2], err), err
