"""Profiles with overrides: `--set key=value` parsing, dotted keys, kinds, and the manifest's augment settings."""

from __future__ import annotations

import pytest

from liverkit import LiverkitError
from liverkit.kit.profiles import get_profile, parse_overrides, resolve_profile


def test_parse_overrides_reads_values_as_yaml():
    parsed = parse_overrides(
        [
            "classifier.epochs=4",
            "augment.rot_range_deg=[0, 15]",
            "classifier.bf16=true",
            "classifier.lr=0.05",
            "selection=paper",
            " n_folds = 5",
        ]
    )
    assert parsed == {
        "classifier.epochs": 4,
        "augment.rot_range_deg": [0, 15],
        "classifier.bf16": True,
        "classifier.lr": 0.05,
        "selection": "paper",
        "n_folds": 5,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classifier.epochs", r"--set 'classifier.epochs' must look like key=value"),
        ("=4", r"--set '=4' must look like key=value"),
        ("augment.rot_range_deg=[0, 15", r"--set 'augment.rot_range_deg=\[0, 15': the value is not valid YAML"),
    ],
)
def test_parse_overrides_refuses_malformed_assignments(text, message):
    with pytest.raises(LiverkitError, match=message):
        parse_overrides([text])


def test_dotted_keys_change_one_field_of_a_section():
    smoke = get_profile("smoke")
    resolved = resolve_profile("smoke", overrides={"classifier.epochs": 5, "n_folds": 4, "dcgan.max_steps": 9})
    assert (resolved.classifier.epochs, resolved.n_folds, resolved.dcgan.max_steps) == (5, 4, 9)
    assert resolved.classifier.channels == smoke.classifier.channels  # the rest of the section is kept
    assert resolved.acgan == smoke.acgan and resolved.repeats == smoke.repeats


def test_lists_become_tuples_and_kinds_convert():
    resolved = resolve_profile(
        "smoke",
        overrides={
            "augment.rot_range_deg": [0, 15],
            "classic_groups": [0, 50],
            "classifier.lr": 1,
            "classifier.bf16": True,
        },
    )
    assert resolved.augment.rot_range_deg == (0, 15) and isinstance(resolved.augment.rot_range_deg, tuple)
    assert resolved.classic_groups == (0, 50)
    assert resolved.classifier.lr == 1 and resolved.classifier.bf16 is True  # an int is a fine float


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_fold": 4}, r"override 'n_fold': no field 'n_fold'; valid fields here: \[.*'n_folds'"),
        ({"classifier.epoch": 4}, r"override 'classifier.epoch': no field 'epoch'"),
        ({"optimizer.lr": 0.1}, r"'optimizer' is not a section of the profile; sections: \['acgan', 'augment'"),
        ({"name.x": 1}, r"'name' is not a section of the profile"),
        ({"classifier.epochs": 2.5}, r"^classifier.epochs = 2.5 is out of range: must be an integer >= 1 \(e.g."),
        ({"classifier.bf16": 1}, r"^classifier.bf16 = 1 is out of range: must be true or false"),
        ({"n_folds": True}, r"^n_folds = True is out of range: must be an integer >= 2"),
        ({"selection": 3}, r"^selection = 3 is out of range: must be one of \['honest', 'paper'\]"),
        ({"classifier.epochs": 0}, r"^classifier.epochs = 0 is out of range: must be an integer >= 1"),
        ({"gan_repeats": 2}, r"override 'gan_repeats': no field 'gan_repeats'"),
    ],
)
def test_unknown_keys_and_invalid_values_are_refused(overrides, message):
    with pytest.raises(LiverkitError, match=message):
        resolve_profile("smoke", overrides=overrides)


def test_unknown_profile_and_data_are_refused():
    with pytest.raises(LiverkitError, match=r"unknown profile 'huge'; choose one of \['paper', 'quick', 'smoke'\]"):
        resolve_profile("huge")
    with pytest.raises(LiverkitError, match=r"no data set 'phantm' in the manifest"):
        resolve_profile("smoke", "phantm")


def test_manifest_augment_applies_before_overrides(tmp_path, monkeypatch):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "datasets:\n  upright:\n    reader: lesionset\n    path: upright.npz\n"
        "    augment: {rot_range_deg: [0, 15], n_flip: 0}\n"
    )
    monkeypatch.setenv("LIVERKIT_MANIFEST", str(manifest))
    from_manifest = resolve_profile("smoke", "upright")
    assert (from_manifest.augment.rot_range_deg, from_manifest.augment.n_flip) == ((0, 15), 0)
    assert from_manifest.augment.n_rot == get_profile("smoke").augment.n_rot  # the profile's own value stays
    overridden = resolve_profile("smoke", "upright", {"augment.n_flip": 2})
    assert (overridden.augment.rot_range_deg, overridden.augment.n_flip) == ((0, 15), 2)  # the override wins
    assert resolve_profile("smoke", "phantom").augment == get_profile("smoke").augment


def test_every_profile_has_a_banner_and_smoke_warns():
    from liverkit.kit.profiles import PROFILES, profile_banner

    assert all(profile_banner(name) for name in PROFILES)
    assert profile_banner("smoke").startswith("SMOKE PROFILE") and "nothing" in profile_banner("smoke")
    assert profile_banner(get_profile("quick")).startswith(profile_banner("quick") + "\nTraining precision: ")
    assert "'mine'" in profile_banner("mine")


def _amx(monkeypatch, present: bool) -> None:
    from liverkit.kit import profiles

    monkeypatch.setattr(profiles, "cpu_has_amx", lambda cpuinfo=None: present)


def _bf16(profile) -> tuple[bool, bool, bool]:
    return profile.classifier.bf16, profile.dcgan.bf16, profile.acgan.bf16


@pytest.mark.parametrize("amx", [True, False])
def test_auto_precision_is_bf16_exactly_where_the_cpu_has_amx(amx, monkeypatch):
    from liverkit.kit.profiles import profile_banner

    _amx(monkeypatch, amx)
    quick = resolve_profile("quick")
    assert quick.precision == "auto" and _bf16(quick) == (amx, amx, amx)
    assert _bf16(resolve_profile("smoke")) == _bf16(resolve_profile("paper")) == (False, False, False)
    assert _bf16(resolve_profile("quick", overrides={"precision": "fp32"})) == (False, False, False)
    assert _bf16(resolve_profile("smoke", overrides={"precision": "bf16"})) == (True, True, True)
    banner = profile_banner(quick).splitlines()[-1]
    assert banner.startswith(f"Training precision: {'bf16' if amx else 'fp32'} (precision 'auto': this CPU has")
    assert ("exact fp32" in banner) is amx


def test_a_sections_own_bf16_override_wins_over_the_precision(monkeypatch):
    from liverkit.kit.profiles import profile_banner

    _amx(monkeypatch, True)
    mixed = resolve_profile("quick", overrides={"dcgan.bf16": False})
    assert _bf16(mixed) == (True, False, True)
    assert profile_banner(mixed).endswith(
        "Training precision: classifier bf16, dcgan fp32, acgan bf16 (set per section)."
    )
    assert _bf16(resolve_profile("smoke", overrides={"classifier.bf16": True})) == (True, False, False)


def test_a_bad_precision_names_the_choices():
    with pytest.raises(LiverkitError, match=r"precision .*'fp32', 'bf16', 'auto'"):
        resolve_profile("quick", overrides={"precision": "fp16"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n", True),
        ("processor\t: 0\nflags\t\t: fpu avx2 fma\n", False),
        ("flags\t\t: fpu amx_bf16x\n", False),
        (None, False),
    ],
)
def test_cpu_has_amx_reads_the_flags(text, expected, tmp_path):
    from liverkit.kit.profiles import cpu_has_amx

    cpuinfo = tmp_path / "cpuinfo"
    if text is not None:
        cpuinfo.write_text(text)
    assert cpu_has_amx(cpuinfo) is expected
