"""Regression checks: flattening, tolerances, missing and new keys, baselines written and read back."""

import json

import pytest

from liverkit import LiverkitError, regress
from liverkit.cli import main


def _run(tmp_path, metrics, profile="smoke"):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"profile": profile, "data": "phantom", "seed": 0}))
    for name, values in metrics.items():
        (run / "metrics" / f"{name}.json").write_text(json.dumps(values))
    return run


def test_flatten_and_collect_skip_times(tmp_path):
    run = _run(tmp_path, {"02_x": {"acc": [0.5, 0.4, 0.6], "train_seconds": 3.0, "nested": {"k": "v"}}})
    assert regress.flatten({"a": {"b": [1, {"c": 2}]}}) == {"a/b/0": 1, "a/b/1/c": 2}
    assert regress.collect(run) == {"02_x/acc/0": 0.5, "02_x/acc/1": 0.4, "02_x/acc/2": 0.6, "02_x/nested/k": "v"}


def test_compare_within_and_outside_tolerance():
    tol = {"abs": 1e-6, "rel": 1e-6}
    base = {"a": 1.0, "b": 2, "c": "x", "d": None, "e": float("nan")}
    assert regress.compare(dict(base, a=1.0 + 1.5e-6), base, tol) == []  # 1e-6 + 1e-6 * 1.0 = 2e-6
    problems = regress.compare(dict(base, a=1.0 + 3e-6, b=3, c="y"), base, tol)
    assert [p.split(":")[0] for p in problems] == ["a", "b", "c"]
    assert regress.compare({"a": 1.0, "new": 1}, {"a": 1.0, "old": 1}, tol) == [
        "old: in the baseline (1) but not recorded",
        "new: recorded (1) but not in the baseline",
    ]
    assert regress.compare({"n": float("nan")}, {"n": 0.0}, tol) == ["n: nan, baseline 0.0"]
    assert regress.compare({"t": True}, {"t": 1}, tol) == ["t: True, baseline 1"]


def test_update_then_check_through_the_command_line(tmp_path, capsys):
    run = _run(tmp_path, {"01_data": {"n": 182, "acc": 0.61}})
    baseline = tmp_path / "baselines" / "smoke.json"
    assert main(["regress", str(run), "--baseline", str(baseline), "--update"]) == 0
    recorded = json.loads(baseline.read_text())
    assert recorded["profile"] == "smoke" and recorded["values"] == {"01_data/n": 182, "01_data/acc": 0.61}
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 0
    (run / "metrics" / "01_data.json").write_text(json.dumps({"n": 182, "acc": 0.62}))
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 1
    assert "01_data/acc: 0.62, baseline 0.61" in capsys.readouterr().out


def test_profile_mismatch_and_missing_files(tmp_path):
    run = _run(tmp_path, {"01_data": {"n": 1}}, profile="quick")
    baseline = tmp_path / "smoke.json"
    baseline.write_text(json.dumps({"profile": "smoke", "tolerance": regress.DEFAULT_TOLERANCE, "values": {}}))
    with pytest.raises(LiverkitError, match="used profile 'quick' but baseline .* is for 'smoke'"):
        regress.check(run, baseline)
    with pytest.raises(LiverkitError, match="does not exist; create it"):
        regress.check(run, tmp_path / "none.json")
    with pytest.raises(LiverkitError, match="not a run folder"):
        regress.write_baseline(tmp_path, tmp_path / "x.json")
    with pytest.raises(LiverkitError, match="no recorded metrics"):
        regress.collect(tmp_path)
