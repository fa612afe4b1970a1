"""The run folder: identity checks, atomic artifacts, metrics records."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.experiment.run_folder import RunFolder, default_run_dir


def test_identity_recorded_then_enforced(tmp_path):
    RunFolder(tmp_path, identity={"profile": "smoke", "data": "phantom", "seed": 0})
    assert json.loads((tmp_path / "run.json").read_text())["profile"] == "smoke"
    RunFolder(tmp_path, identity={"profile": "smoke", "data": "phantom", "seed": 0})  # same: fine
    with pytest.raises(LiverkitError, match=r"another configuration \(profile: recorded 'smoke', asked 'quick'\)"):
        RunFolder(tmp_path, identity={"profile": "quick", "data": "phantom", "seed": 0})


def test_artifacts_round_trip(tmp_path):
    run = RunFolder(tmp_path)
    s = make_set([0, 1, 2])
    run.save_lesionset("lesions", s)
    run.save_array("folds", np.array([0, 1, 2]))
    assert run.load_lesionset("lesions").fingerprint() == s.fingerprint()
    assert run.load_array("folds").tolist() == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["folds.npy", "lesions.npz"]


def test_missing_artifacts_and_bad_names(tmp_path):
    run = RunFolder(tmp_path)
    with pytest.raises(
        LiverkitError,
        match=r"lesions.npz' is missing: rerun notebook 01 \(01_data\), which remakes it: "
        r"liverkit run --out .* --notebooks 01 --force",
    ):
        run.load_lesionset("lesions")
    with pytest.raises(LiverkitError, match="no metrics recorded"):
        run.read_metrics("01_data")
    with pytest.raises(LiverkitError, match="letters, digits"):
        run.artifact("../escape")


def test_metrics_accept_numpy_values(tmp_path):
    run = RunFolder(tmp_path)
    run.record_metrics("01_data", {"n": np.int64(3), "sizes": np.array([1, 2]), "acc": np.float32(0.5)})
    assert run.read_metrics("01_data") == {"acc": 0.5, "n": 3, "sizes": [1, 2]}


def test_save_metrics_records_and_returns_one_pointer_line(tmp_path):
    run = RunFolder(tmp_path / "run")
    line = run.save_metrics("03_dcgan", {"models": 9, "ratio": 0.25})
    assert line == f"key numbers saved to metrics/03_dcgan.json in '{tmp_path / 'run'}'"
    assert "\n" not in line and run.read_metrics("03_dcgan") == {"models": 9, "ratio": 0.25}


def test_an_empty_table_reads_back_empty(tmp_path):
    import pandas as pd

    run = RunFolder(tmp_path / "run")
    run.save_table("nothing", pd.DataFrame())
    assert run.load_table("nothing").empty
    run.save_table("one", pd.DataFrame({"a": [1, 2]}))
    assert run.load_table("one").a.tolist() == [1, 2]


def test_identity_differences_compare_as_json_would():
    from liverkit.experiment.run_folder import identity_differences, run_identity

    recorded = {"profile": "smoke", "data": "phantom", "seed": 0, "overrides": {"augment.rot_range_deg": [0, 15]}}
    same = run_identity("smoke", "phantom", 0, {"augment.rot_range_deg": (0, 15)})  # a tuple is stored as a list
    assert identity_differences(recorded, same) == []
    other = run_identity("smoke", "phantom", 2)
    assert identity_differences(recorded, other) == [
        "overrides: recorded {'augment.rot_range_deg': [0, 15]}, asked None",
        "seed: recorded 0, asked 2",
    ]


def test_a_damaged_run_json_or_metrics_record_is_named(tmp_path):
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(LiverkitError, match=r"could not read the run's identity file '.*run.json'.*to start over"):
        RunFolder(tmp_path, identity={"profile": "smoke", "data": "phantom", "seed": 0})
    run = RunFolder(tmp_path / "other")
    run.metrics_path("01_data").parent.mkdir()
    run.metrics_path("01_data").write_text("[1,")
    with pytest.raises(LiverkitError, match=r"could not read the metrics record '.*01_data.json'.*notebook '01_data'"):
        run.read_metrics("01_data")


def test_the_default_run_folder_is_liverkit_run_dir_else_runs_interactive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVERKIT_RUN_DIR", "  ")  # blank counts as unset
    assert RunFolder(None).path == Path("runs/interactive") and (tmp_path / "runs" / "interactive").is_dir()
    monkeypatch.setenv("LIVERKIT_RUN_DIR", str(tmp_path / "drive" / "run"))
    assert RunFolder(None, identity={"profile": "smoke"}).path == tmp_path / "drive" / "run"
    assert (tmp_path / "drive" / "run" / "run.json").is_file()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIVERKIT_RUN_DIR", "~/run")
    assert default_run_dir() == tmp_path / "home" / "run"
