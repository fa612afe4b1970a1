"""Bad baselines and half-finished runs: each is refused with a LiverkitError naming the file, the family or the
missing notebooks, never a traceback or a check that passes by accident."""

import json

import pytest

from liverkit import LiverkitError
from liverkit.kit import regress

GOOD = {
    "profile": "smoke",
    "run": {"profile": "smoke", "data": "phantom", "seed": 0},
    "why": "measured",
    "families": [
        {"name": "data", "pattern": "^01_data/", "compare": "exact", "measured": "must not move"},
        {"name": "acc", "pattern": "^0[2-8]_", "compare": "tolerance", "abs": 0.01, "measured": "3 x 0.0033"},
    ],
    "values": {"01_data/n": 182, "05_gan_augmentation/accuracy/0": 0.61},
}


def _family(**changes):
    """GOOD with its 'acc' family changed (a value None removes the field)."""
    family = {k: v for k, v in (GOOD["families"][1] | changes).items() if v is not None}
    return GOOD | {"families": [GOOD["families"][0], family]}


BAD_BASELINES = [
    ("absurd tolerance", _family(abs=1e9), r"family 'acc': tolerance 1e\+09 exceeds 1 .*would accept anything"),
    ("negative tolerance", _family(abs=-0.1), "family 'acc': tolerance 'abs' must be a finite number >= 0, not -0.1"),
    ("NaN tolerance", _family(abs=float("nan")), "family 'acc': tolerance 'abs' must be a finite number >= 0, not nan"),
    ("text tolerance", _family(abs="0.01"), "family 'acc': tolerance 'abs' must be a finite number >= 0, not '0.01'"),
    ("tolerance missing", _family(abs=None), "family 'acc': tolerance 'abs' must be a finite number >= 0, not None"),
    ("no measured text", _family(measured=None), r"family 'acc' needs a non-empty \['name', 'pattern', 'compare'"),
    ("empty measured text", _family(measured=""), r"family 'acc' needs a non-empty .*'measured'\]"),
    ("unknown comparison", _family(compare="close"), "family 'acc': compare 'close' is not one of"),
    ("bad pattern", _family(pattern="(0[2-8]"), r"family 'acc': pattern '\(0\[2-8\]' is not a regular expression"),
    ("family not a mapping", GOOD | {"families": ["acc"]}, "family '#0' needs a non-empty"),
    ("no values", {k: v for k, v in GOOD.items() if k != "values"}, r"lacks \['values'\]"),
    ("no families", {k: v for k, v in GOOD.items() if k != "families"}, r"lacks \['families'\]"),
    ("values a list", GOOD | {"values": [1]}, "'values' must be a mapping and 'families' a list"),
    ("not an object", [GOOD], "is not a JSON object"),
]


@pytest.mark.parametrize("record, message", [case[1:] for case in BAD_BASELINES], ids=[c[0] for c in BAD_BASELINES])
def test_bad_baseline_is_refused_naming_file_and_family(tmp_path, record, message):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps(record))
    with pytest.raises(LiverkitError, match=message) as caught:
        regress.read_baseline(path)
    assert f"baseline '{path}'" in str(caught.value)


def test_a_large_tolerance_is_accepted_where_the_values_are_large(tmp_path):
    path = tmp_path / "quick.json"
    path.write_text(json.dumps(_family(abs=8.2) | {"values": {"05_gan_augmentation/gained": 22.0}}))
    assert regress.read_baseline(path)["families"][1]["abs"] == 8.2  # 8 lesions of 22: measured, not absurd


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"profile": "smoke",', r"could not read the baseline '.*smoke.json' \(JSONDecodeError"),
        ("", r"could not read the baseline '.*smoke.json' \(JSONDecodeError"),
    ],
    ids=["truncated JSON", "empty file"],
)
def test_malformed_baseline_file_names_the_file(tmp_path, text, message):
    path = tmp_path / "smoke.json"
    path.write_text(text)
    with pytest.raises(LiverkitError, match=message):
        regress.read_baseline(path)


def test_missing_baseline_says_how_to_create_it(tmp_path):
    with pytest.raises(LiverkitError, match=r"the baseline '.*none.json' does not exist; create it with scripts/"):
        regress.read_baseline(tmp_path / "none.json")


def _run(tmp_path, notebooks):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(GOOD["run"]))
    for name in notebooks:
        (run / "metrics" / f"{name}.json").write_text(json.dumps({"accuracy": [0.6]}))
    return run


def _notebooks(tmp_path, names):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.ipynb").write_text("{}")
    return folder


HALF_FINISHED = [
    # (notebooks in the folder, notebooks the run recorded, notebooks the old baseline covers, missing)
    (["02_a", "05_b", "06_c"], ["02_a", "05_b"], ["02_a"], ["06_c"]),
    (["02_a", "05_b"], ["02_a", "05_b"], ["02_a", "05_b", "07_gone"], ["07_gone"]),
    (["02_a", "05_b", "06_c"], ["02_a"], ["02_a", "07_gone"], ["05_b", "06_c", "07_gone"]),
]


@pytest.mark.parametrize("folder, recorded, covered, missing", HALF_FINISHED)
def test_update_from_a_half_finished_run_is_refused_naming_the_notebooks(tmp_path, folder, recorded, covered, missing):
    baseline = tmp_path / "smoke.json"
    baseline.write_text(json.dumps(GOOD | {"values": {f"{name}/accuracy/0": 0.6 for name in covered}}))
    before = baseline.read_text()
    run = _run(tmp_path, recorded)
    with pytest.raises(LiverkitError, match=rf"has no recorded metrics for {missing!r}".replace("[", r"\[")):
        regress.write_baseline(run, baseline, notebook_dir=_notebooks(tmp_path, folder))
    assert baseline.read_text() == before  # nothing half-written


def test_update_of_a_finished_run_keeps_families(tmp_path):
    baseline = tmp_path / "smoke.json"
    baseline.write_text(json.dumps(GOOD | {"values": {"02_a/accuracy/0": 0.5}}))
    run = _run(tmp_path, ["02_a", "05_gan_augmentation"])
    regress.write_baseline(run, baseline, notebook_dir=_notebooks(tmp_path, ["02_a", "05_gan_augmentation"]))
    written = json.loads(baseline.read_text())
    assert written["families"] == GOOD["families"]
    assert written["values"] == {"02_a/accuracy/0": 0.6, "05_gan_augmentation/accuracy/0": 0.6}
