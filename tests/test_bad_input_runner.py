"""Every way a run's input can be wrong, one row each: the message that names the problem, and what is left as it was.

Rows run on tiny notebooks made here (see test_notebook_runner.tiny_notebooks), so the whole table takes seconds;
only the rows about reruns start kernels. A refused run must leave the run folder byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import make_set
from test_notebook_runner import lesion_file, tiny_notebooks

from liverkit import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import notebook_runner
from liverkit.kit.cli import main
from liverkit.kit.notebook_runner import run_lock, run_notebooks

SEED = r"seed must be an integer from 0 to 4294967295 \(2\*\*32 - 1\), got "
GOOD_COPY = '{"cells": [], "note": "the last good executed copy"}'


@dataclass
class Case:
    """A tiny notebook folder, a data file, and a run folder holding one good run of ``01_ok``."""

    tmp: Path
    nbs: Path
    data: Path
    out: Path
    before: dict[str, bytes] | None = None
    """The run folder's files just before the bad action (after any planted damage)."""
    good: str | None = None
    """The executed copy of a real successful run, when a row made one."""

    def run(self, **kwargs):
        options = {"profile": "smoke", "data": str(self.data), "notebook_dir": self.nbs, "progress": None, **kwargs}
        return run_notebooks(options.pop("out", self.out), **options)

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the run folder (the lock file aside: it holds no result)."""
        files = sorted(p for p in self.out.rglob("*") if p.is_file() and p.name != notebook_runner.LOCK_FILE)
        return {str(p.relative_to(self.out)): p.read_bytes() for p in files}


@pytest.fixture
def case(tmp_path) -> Case:
    return make_case(tmp_path)


def make_case(tmp_path: Path) -> Case:
    """The folders of one row (see :class:`Case`)."""
    nbs = tiny_notebooks(tmp_path / "nbs", {"01_ok": "x = 1"})
    data = lesion_file(tmp_path / "lesions.npz")
    out = tmp_path / "run"
    (out / "notebooks").mkdir(parents=True)
    (out / "metrics").mkdir()
    (out / "run.json").write_text(json.dumps({"profile": "smoke", "data": str(data), "seed": 0}))
    (out / "notebooks" / "01_ok.ipynb").write_text(GOOD_COPY)
    (out / "metrics" / "01_ok.json").write_text("{}")
    return Case(tmp_path, nbs, data, out)


# ---------------------------------------------------------------------------------------------- builders
def run_with(**kwargs):
    return lambda c: c.run(**kwargs)


def corrupt_then(name: str, content: bytes, action):
    """Write ``content`` to ``<out>/<name>``, then do ``action(case)``."""

    def build(c: Case):
        path = c.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        c.before = c.snapshot()
        return action(c)

    return build


def unsplittable(c: Case):
    make_set([0, 1, 2, 0, 1, 2]).save(c.tmp / "few.npz")  # two patients per class: not 3 folds
    return c.run(data=str(c.tmp / "few.npz"))


def while_locked(c: Case):
    with run_lock(c.out):  # this process's lock: a second open of the file cannot take it
        return c.run()


def into_file(c: Case):
    (c.tmp / "a-file").write_text("x")
    return c.run(out=c.tmp / "a-file")


def into_read_only(c: Case):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the simulated row covers the message")
    c.out.chmod(0o555)
    try:
        return c.run()
    finally:
        c.out.chmod(0o755)


def into_unwritable(c: Case):
    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    original = notebook_runner.tempfile.TemporaryFile
    notebook_runner.tempfile.TemporaryFile = refuse
    try:
        return c.run()
    finally:
        notebook_runner.tempfile.TemporaryFile = original


FLAKY = "import os\nif os.environ.get('PLANT_FAILURE'):\n    raise ValueError('planted failure')"


def failing_rerun(c: Case):
    """A notebook that succeeded, then fails with the same inputs (its metrics record was lost, so it reruns)."""
    tiny_notebooks(c.nbs, {"01_ok": FLAKY})
    c.run()  # a real success: the planted copy, made from unknown inputs, is moved aside first
    c.good = (c.out / "notebooks" / "01_ok.ipynb").read_text()
    (c.out / "metrics" / "01_ok.json").unlink()
    os.environ["PLANT_FAILURE"] = "1"
    try:
        return c.run()
    finally:
        del os.environ["PLANT_FAILURE"]


def deleted_metrics(c: Case):
    c.run(force=True)  # a real success, recorded in the state
    assert [r.skipped for r in c.run()] == [True]
    (c.out / "metrics" / "01_ok.json").unlink()
    return [r.skipped for r in c.run()]


def bad_torch_file(load, name: str, payload):
    def build(c: Case):
        path = c.out / "artifacts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        else:
            torch.save(payload, path)
        return load()(path)

    return build


def classifier_loader():
    from liverkit.train.checkpoints import load_classifier

    return load_classifier


def generator_loader():
    from liverkit.train.checkpoints import load_generator

    return load_generator


def gan_sweep_cache(c: Case):
    from liverkit.experiment.gan_sweep import sweep_cache

    return sweep_cache(RunFolder(c.out), 0, 0, SimpleNamespace(record=lambda: {}), 0)


def pickled_npy(c: Case):
    (c.out / "artifacts").mkdir()
    np.save(c.out / "artifacts" / "folds.npy", np.array([{}]), allow_pickle=True)
    return RunFolder(c.out).load_array("folds")


def cli(*argv: str):
    """``liverkit run`` with ``argv``: (exit status, what it printed on stderr)."""

    def build(c: Case):
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            code = main(["run", "--out", str(c.out), "--notebook-dir", str(c.nbs), "--data", str(c.data), *argv])
        return code, errors.getvalue()

    return build


# ---------------------------------------------------------------------------------------------- checks
def untouched(c: Case, outcome) -> None:
    assert c.snapshot() == c.before
    assert not (c.out / "notebooks" / "01_ok.failed.ipynb").exists()


def good_copy_kept(c: Case, outcome) -> None:
    assert (c.out / "notebooks" / "01_ok.ipynb").read_text() == c.good
    failed = json.loads((c.out / "notebooks" / "01_ok.failed.ipynb").read_text())
    assert "planted failure" in json.dumps(failed["cells"][-2]["outputs"])
    assert "01_ok" not in json.loads((c.out / "runner_state.json").read_text())["done"]
    assert not list((c.out / "notebooks").glob(".*running*"))


def reran(c: Case, outcome) -> None:
    assert outcome == [False]
    assert (c.out / "metrics" / "01_ok.json").is_file()


def nothing(c: Case, outcome) -> None:
    pass


def exit_2_saying(message: str):
    def check(c: Case, outcome) -> None:
        code, errors = outcome
        assert code == 2 and re.search(message, errors), errors
        untouched(c, outcome)

    return check


ROWS = [
    # id, how to build the bad input, the message expected (None: no error), what must hold afterwards
    (
        "typo-data",
        run_with(data="phantm"),
        r"--data 'phantm' is neither a data set of the manifest .*known: \[",
        untouched,
    ),
    ("missing-npz", run_with(data="nowhere/lesions.npz"), r"--data 'nowhere/lesions.npz' is neither", untouched),
    ("seed-minus-1", run_with(seed=-1), SEED + "-1", untouched),
    ("seed-not-int", run_with(seed="0"), SEED + "'0'", untouched),
    ("unknown-profile", run_with(profile="huge"), r"unknown profile 'huge'; choose one of", untouched),
    ("unknown-device", run_with(device="banana"), r"unknown device 'banana'", untouched),
    (
        "set-unknown-key",
        run_with(overrides={"classifier.epoch": 3}),
        r"override 'classifier.epoch': no field 'epoch'",
        untouched,
    ),
    ("set-unknown-section", run_with(overrides={"optim.lr": 1}), r"'optim' is not a section of the profile", untouched),
    (
        "set-bad-value",
        run_with(overrides={"n_folds": "three"}),
        r"n_folds = 'three' is out of range: must be an integer >= 2 \(e.g. --set n_folds=3\)",
        untouched,
    ),
    (
        "cli-set-no-equals",
        cli("--set", "classifier.epochs"),
        None,
        exit_2_saying(r"^liverkit: error: --set 'classifier.epochs' must look like key=value"),
    ),
    ("cli-set-bad-key", cli("--set", "classifier.epoch=3"), None, exit_2_saying(r"no field 'epoch'")),
    (
        "cli-folds-disagree",
        cli("--folds", "4", "--set", "n_folds=5"),
        None,
        exit_2_saying(r"--folds 4 and --set n_folds=5 disagree"),
    ),
    ("cli-folds-too-many", cli("--folds", "9"), None, exit_2_saying(r"(?i)patient")),
    ("unsplittable-data", unsplittable, r"(?i)patient", untouched),
    (
        "identity-mismatch",
        run_with(seed=1),
        r"belongs to another configuration \(seed: recorded 0, asked 1\); nothing",
        untouched,
    ),
    (
        "identity-mismatch-set",
        run_with(overrides={"classifier.epochs": 3}),
        r"overrides: recorded None, asked",
        untouched,
    ),
    (
        "corrupt-run-json",
        corrupt_then("run.json", b"{not json", run_with()),
        r"could not read the run's identity file '.*run.json' \(JSONDecodeError",
        untouched,
    ),
    (
        "corrupt-state",
        corrupt_then("runner_state.json", b"\x00\x01", run_with()),
        r"could not read the runner's state file '.*runner_state.json'.*delete it \(every notebook then runs again\)",
        untouched,
    ),
    (
        "second-concurrent-run",
        while_locked,
        rf"'.*run' is in use by another liverkit run \(process {os.getpid()}\)",
        untouched,
    ),
    ("out-is-a-file", into_file, r"--out '.*a-file' is a file, not a folder", untouched),
    ("out-read-only", into_read_only, r"cannot write into '.*run' \(PermissionError", untouched),
    (
        "out-unwritable-simulated",
        into_unwritable,
        r"cannot write into '.*run' \(PermissionError.*must be writable",
        untouched,
    ),
    (
        "failed-rerun-keeps-good-copy",
        failing_rerun,
        r"'01_ok.ipynb' failed in cell 2 .*ValueError: planted failure\. The executed copy with the traceback is "
        r"'.*01_ok.failed.ipynb'; the last good copy is unchanged",
        good_copy_kept,
    ),
    ("deleted-metrics-reruns", deleted_metrics, None, reran),
    (
        "corrupt-metrics",
        corrupt_then("metrics/01_ok.json", b"{1:", lambda c: RunFolder(c.out).read_metrics("01_ok")),
        r"could not read the metrics record '.*metrics/01_ok.json'.*rerun notebook '01_ok'",
        nothing,
    ),
    (
        "corrupt-npy",
        corrupt_then("artifacts/folds.npy", b"\x93NUMPY garbage", lambda c: RunFolder(c.out).load_array("folds")),
        r"could not read the run's array '.*folds.npy'",
        nothing,
    ),
    (
        "pickled-npy",
        pickled_npy,
        r"could not read the run's array '.*folds.npy' \(ValueError: its contents are not the plain arrays",
        nothing,
    ),
    (
        "corrupt-csv",
        corrupt_then(
            "artifacts/classic_timing.csv", b"\xff\xfe\x00bad", lambda c: RunFolder(c.out).load_table("classic_timing")
        ),
        r"could not read the run's table '.*classic_timing.csv'",
        nothing,
    ),
    (
        "corrupt-lesionset-artifact",
        corrupt_then(
            "artifacts/lesions.npz", b"PK\x03\x04 truncated", lambda c: RunFolder(c.out).load_lesionset("lesions")
        ),
        r"could not read the run's LesionSet '.*lesions.npz' \(BadZipFile.*rerun notebook 01 \(01_data\), "
        r"which remakes it: liverkit run --out .* --notebooks 01 --force",
        nothing,
    ),
    (
        "truncated-cnn-pt",
        bad_torch_file(classifier_loader, "cnn.pt", b"PK\x03\x04 half a zip"),
        r"could not read the classifier file '.*cnn.pt'.*rerun the notebook that trains it \(05\)",
        nothing,
    ),
    (
        "cnn-pt-missing-keys",
        bad_torch_file(classifier_loader, "cnn.pt", {"format": "liverkit-classifier"}),
        r"could not read the classifier file '.*cnn.pt' \(KeyError",
        nothing,
    ),
    (
        "truncated-generator-pt",
        bad_torch_file(generator_loader, "generator.pt", b"\x80\x02 not a zip"),
        r"could not read the generator file '.*generator.pt'.*train the GAN again",
        nothing,
    ),
    (
        "corrupt-sweep-cache",
        corrupt_then("artifacts/gan_sweep_r0_f0.json", b'{"jobs": ', gan_sweep_cache),
        r"could not read the GAN sweep's cache '.*gan_sweep_r0_f0.json'.*"
        r"rerun notebook 05 \(05_gan_augmentation\), which remakes it",
        nothing,
    ),
    (
        "sweep-cache-without-header",
        corrupt_then("artifacts/gan_sweep_r0_f0.json", b'{"jobs": {}}', gan_sweep_cache),
        r"could not read the GAN sweep's cache '.*gan_sweep_r0_f0.json' \(KeyError",
        nothing,
    ),
]


@pytest.mark.parametrize(("build", "message", "check"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_bad_input(case, build, message, check):
    case.before = case.snapshot()
    if message is None:
        outcome = build(case)
    else:
        with pytest.raises(LiverkitError, match=message) as caught:
            build(case)
        outcome = str(caught.value)
        assert not re.search(r"allow_pickle|weights_only", outcome), outcome  # no advice to unpickle a bad file
    check(case, outcome)
