"""Regression checks: flattening, families (exact, measured tolerance, informational), baselines written, refreshed
and read back, and the tolerance measurement of scripts/measure_tolerances.py."""

import importlib.util
import json
import math
import platform
from pathlib import Path

import pytest

from liverkit import LiverkitError
from liverkit.kit import regress
from liverkit.kit.cli import main

BASELINES = Path(__file__).parent / "baselines"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "measure_tolerances.py"
FAMILIES = [
    {"name": "data", "pattern": r"^01_data/", "compare": "exact", "measured": "must not move"},
    {"name": "d", "pattern": r"/d_real", "compare": "tolerance", "abs": 1e-4, "measured": "3 x 3.3e-5"},
    {"name": "per_fold", "pattern": r"/per_fold/", "compare": "informational", "measured": "single models"},
]


def _run(tmp_path, metrics, identity=None):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    identity = identity or {"profile": "smoke", "data": "phantom", "seed": 0}
    (run / "run.json").write_text(json.dumps(identity))
    for name, values in metrics.items():
        (run / "metrics" / f"{name}.json").write_text(json.dumps(values))
    return run


def _every_notebook(**metrics):
    """Metrics for every notebook of the repository (a finished run), with ``metrics`` for some of them."""
    return {name: metrics.get(name, {"d_real": 0.5}) for name in regress.notebook_names()}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("measure_tolerances", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flatten_and_collect_skip_times(tmp_path):
    run = _run(tmp_path, {"02_x": {"acc": [0.5, 0.4, 0.6], "train_seconds": 3.0, "nested": {"k": "v"}}})
    assert regress.flatten({"a": {"b": [1, {"c": 2}]}}) == {"a/b/0": 1, "a/b/1/c": 2}
    assert regress.collect(run) == {"02_x/acc/0": 0.5, "02_x/acc/1": 0.4, "02_x/acc/2": 0.6, "02_x/nested/k": "v"}


def test_compare_by_family():
    base = {"01_data/n": 182, "03_dcgan/d_real": 0.3892, "05_x/per_fold/fold 0": 0.61}
    # 0.3893 - 0.3892 is 1.0000000000000286e-04 in floats: a tolerance of 1e-4 accepts it
    assert regress.compare(dict(base, **{"03_dcgan/d_real": 0.3893}), base, FAMILIES) == []
    moved = dict(base, **{"01_data/n": 183, "03_dcgan/d_real": 0.3894, "05_x/per_fold/fold 0": 0.2})
    assert regress.compare(moved, base, FAMILIES) == [
        "01_data/n: 183, baseline 182 (family 'data' must match exactly)",
        "03_dcgan/d_real: 0.3894, baseline 0.3892 (family 'd' allows 0.0001)",
    ]
    assert regress.informational(moved, base, FAMILIES) == [
        "05_x/per_fold/fold 0: 0.2, baseline 0.61 (informational, per_fold)"
    ]


def test_compare_reports_missing_new_and_familyless_keys():
    base = {"01_data/old": 1, "09_new/x": 1.0}
    assert regress.compare({"01_data/new": 1, "09_new/x": 1.0}, base, FAMILIES) == [
        "01_data/old: in the baseline (1) but not recorded",
        "01_data/new: recorded (1) but not in the baseline",
        "09_new/x: no family of the baseline matches this key; add it to one (docs/regression.md)",
    ]
    nan = {"03_dcgan/d_real": float("nan")}
    assert regress.compare(nan, nan, FAMILIES) == []
    assert len(regress.compare(nan, {"03_dcgan/d_real": 0.5}, FAMILIES)) == 1
    assert regress.compare({"01_data/t": True}, {"01_data/t": 1}, FAMILIES) == [
        "01_data/t: True, baseline 1 (family 'data' must match exactly)"
    ]


def test_update_keeps_families_and_replaces_values(tmp_path, capsys):
    run = _run(tmp_path, _every_notebook(**{"03_dcgan": {"d_real": 0.5, "n": 1}}))
    families = FAMILIES + [{"name": "rest", "pattern": "/n$", "compare": "exact", "measured": "counts"}]
    baseline = regress.write_baseline(run, tmp_path / "smoke.json", families=families, why="measured")
    (run / "metrics" / "03_dcgan.json").write_text(json.dumps({"d_real": 0.6, "n": 1}))
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 1
    assert "03_dcgan/d_real: 0.6, baseline 0.5 (family 'd' allows 0.0001)" in capsys.readouterr().out
    assert main(["regress", str(run), "--baseline", str(baseline), "--update"]) == 0
    recorded = json.loads(baseline.read_text())
    assert recorded["families"] == families and recorded["why"] == "measured"
    assert recorded["values"]["03_dcgan/d_real"] == 0.6 and recorded["run"]["profile"] == "smoke"
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 0


def test_update_refuses_keys_of_no_family(tmp_path):
    run = _run(tmp_path, _every_notebook(**{"06_feature_maps": {"silhouette": 0.1}}))
    with pytest.raises(LiverkitError, match=r"no family of .* matches: \['06_feature_maps/silhouette'\]"):
        regress.write_baseline(run, tmp_path / "b.json", families=FAMILIES, why="x")


def test_check_refuses_another_run_identity(tmp_path):
    run = _run(tmp_path, _every_notebook(), {"profile": "smoke", "data": "phantom", "seed": 0})
    families = [{"name": "all", "pattern": ".", "compare": "exact", "measured": "x"}]
    baseline = regress.write_baseline(run, tmp_path / "b.json", families=families, why="x")
    (run / "run.json").write_text(json.dumps({"profile": "smoke", "data": "phantom", "seed": 0, "overrides": {"a": 1}}))
    with pytest.raises(LiverkitError, match=r"has overrides \{'a': 1\} but baseline .* was recorded with None"):
        regress.check(run, baseline)
    (run / "run.json").write_text(json.dumps({"profile": "quick", "data": "phantom", "seed": 0}))
    with pytest.raises(LiverkitError, match="has profile 'quick' but baseline .* with 'smoke'"):
        regress.check(run, baseline)
    with pytest.raises(LiverkitError, match="not a run folder"):
        regress.write_baseline(tmp_path, tmp_path / "x.json", families=families, why="x")


def test_rounding_perturbation_changes_threads_and_lowers_kernels():
    import torch

    env = regress.rounding_perturbation()
    assert env["OMP_NUM_THREADS"] == "1"
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine() == "x86_64" and capability in ("AVX512", "AVX2"):
        assert env["ATEN_CPU_CAPABILITY"] == {"AVX512": "avx2", "AVX2": "default"}[capability]
    else:
        assert "ATEN_CPU_CAPABILITY" not in env


def test_smoke_tolerance_is_the_largest_deviation_times_the_factor(script):
    base = {"01_data/n": 182, "01_data/fingerprint": "25bd", "03_dcgan/d_real_last_epoch": 0.7206}
    base["03_dcgan/d_fake_last_epoch"] = 0.3892
    runs = {
        "threads_1": dict(base, **{"03_dcgan/d_fake_last_epoch": 0.3893}),
        "kernels_avx2": dict(base, **{"03_dcgan/d_real_last_epoch": 0.7210, "01_data/fingerprint": "cd8d"}),
    }
    families = {f["name"]: f for f in script.smoke_families(base, runs, factor=3.0, floor=1e-3)}
    assert families["d_outputs"]["abs"] == pytest.approx(1.2e-3)  # 3 x 4e-4 over the floor
    assert "max |deviation| 0.0004 over 2 keys in runs threads_1, kernels_avx2" in families["d_outputs"]["measured"]
    assert families["feature_maps"]["abs"] == 1e-3  # nothing seen: the floor
    assert families["data"]["compare"] == "exact"
    assert families["fingerprint"]["compare"] == "informational"
    assert "moved in runs ['kernels_avx2']" in families["fingerprint"]["measured"]
    with pytest.raises(LiverkitError, match="family 'data' should not move but moved by 1"):
        script.smoke_families(base, {"x": dict(base, **{"01_data/n": 183})}, 3.0, 1e-3)


def test_quick_tolerance_comes_from_the_seed_to_seed_spread(script):
    values = {
        "01_data/n_lesions": 100,
        "05_x/comparisons/a/per_repeat/0": 0.01,
        "05_x/comparisons/a/per_repeat/1": 0.03,
        "05_x/comparisons/b/per_repeat/0": 0.0,
        "05_x/comparisons/b/per_repeat/1": -0.02,
    }
    s, repeats = script.seed_spread(values)
    assert repeats == 2 and s == pytest.approx(math.sqrt((4 * 0.01**2) / 2))  # deviations of 0.01 from each mean
    families = {f["name"]: f for f in script.quick_families(values, k=3.0)}
    two = math.sqrt(2)  # a rerun and the baseline: two replications, each with its own noise
    assert families["accuracies"]["abs"] == pytest.approx(3 * two * s / math.sqrt(2), rel=1e-3)
    assert families["per_repeat"]["abs"] == pytest.approx(3 * two * s, rel=1e-3)
    assert families["paired_counts"]["abs"] == pytest.approx(3 * two * s / math.sqrt(2) * 100, rel=1e-3)
    assert families["per_fold"]["compare"] == families["d_outputs"]["compare"] == "informational"
    with pytest.raises(LiverkitError, match="no per-repeat differences"):
        script.seed_spread({"05_x/accuracy/0": 0.5})


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_committed_baselines_are_valid_and_every_key_has_a_family(profile):
    baseline = regress.read_baseline(BASELINES / f"{profile}.json")
    assert baseline["profile"] == profile
    orphans = [key for key in baseline["values"] if regress.family_of(key, baseline["families"]) is None]
    assert orphans == []
    compare = {f["name"]: f["compare"] for f in baseline["families"]}
    assert compare["data"] == compare["settings"] == "exact"
    assert compare["per_fold"] == ("tolerance" if profile == "smoke" else "informational")


def test_a_flipped_verdict_is_named_even_when_all_numbers_match(tmp_path, capsys):
    verdict = {"accuracy_difference": -0.038, "ci_low": -0.076, "ci_high": -0.002, "p_adjusted": 0.04}
    primary = {"primary": {"acgan": verdict | {"verdict": "hurt"}}, "honest_sizes": {"dcgan": [25, 75]}}
    run = _run(tmp_path, _every_notebook(**{"05_gan_augmentation": primary}))
    families = FAMILIES + [
        {"name": "loose", "pattern": r"^05_", "compare": "informational", "measured": "verdicts, choices, numbers"}
    ]
    baseline = regress.write_baseline(run, tmp_path / "quick.json", families=families, why="measured")
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 0
    assert "differ" not in capsys.readouterr().out  # nothing differs: nothing listed
    moved = {
        "primary": {"acgan": verdict | {"p_adjusted": 0.234, "verdict": "inconclusive"}},
        "honest_sizes": {"dcgan": [75, 75]},
    }
    (run / "metrics" / "05_gan_augmentation.json").write_text(json.dumps(moved))
    assert main(["regress", str(run), "--baseline", str(baseline)]) == 0  # informational: not a failure ...
    out = capsys.readouterr().out
    assert "05_gan_augmentation/primary/acgan/verdict: 'inconclusive', baseline 'hurt'" in out  # ... but named
    assert "p_adjusted 0.234" in out and "p_adjusted 0.04" in out
    assert "05_gan_augmentation/honest_sizes/dcgan/0: 75, baseline 25" in out
    assert "2 verdict(s) or choice(s) differ" in out
    changes = regress.headline_changes(regress.collect(run), json.loads(baseline.read_text())["values"])
    assert len(changes) == 2
