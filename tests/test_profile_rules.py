"""Every profile field has one stated rule (``liverkit.kit.profiles.FIELD_RULES``), checked when a profile is resolved.

Each rule is tried with values on both sides of it through ``resolve_profile`` (the path of ``--set``, every
notebook's ``overrides`` and the runner): the bad one must be a LiverkitError naming the field, the good one must
pass. A field added to the profile or a section without a rule fails ``test_every_field_has_a_rule``.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass, replace

import numpy as np
import pytest

from liverkit import LiverkitError
from liverkit.kit.profiles import (
    FIELD_RULES,
    PROFILES,
    Profile,
    apply_precision,
    check_profile,
    get_profile,
    resolve_profile,
)
from liverkit.seeds import SEED_MAX, check_seed
from liverkit.train.classifier_config import ClassifierConfig

GAN_BAD = {
    "z_dim": 0,
    "g_width": 12,
    "d_width": 0,
    "lr": 0.0,
    "betas": [0.5, 1.0],
    "batch_size": 0,
    "epochs": 0,
    "checkpoint_every": 0,
    "bf16": 1,
    "channels_last": "no",
    "max_steps": 0,
    "trusted_steps": -5,
    "sample_grid": 0,
    "collapse_samples": 1,
    "dropout": -0.1,
}
GAN_GOOD = {
    "z_dim": 8,
    "g_width": 16,
    "d_width": 2,
    "lr": 1e-3,
    "betas": [0.9, 0.99],
    "batch_size": 4,
    "epochs": 1,
    "checkpoint_every": 1,
    "bf16": True,
    "channels_last": False,
    "max_steps": None,
    "trusted_steps": None,
    "sample_grid": 2,
    "collapse_samples": 2,
    "dropout": 0.0,
}

BAD: list[tuple[str, object]] = [
    ("n_folds", 1),
    ("grid_per_class", 0),
    ("histogram_bins", 0),
    ("augment.n_rot", 0),
    ("augment.rot_range_deg", [30, 10]),
    ("augment.rot_range_deg", [0, 400]),
    ("augment.n_flip", 4),
    ("augment.n_trans", -1),
    ("augment.n_scale", -1),
    ("augment.max_shift_px", -1.0),
    ("augment.max_shift_px", math.inf),
    ("augment.shift_fraction", -0.1),
    ("augment.lesion_fraction", 0.0),
    ("augment.max_scale_change", 1.0),
    ("augment.interpolation", "nearest"),
    ("classic_groups", [0, 0]),
    ("classic_groups", []),
    ("classic_groups", [-1, 100]),
    ("classifier.channels", [4, 0, 8]),
    ("classifier.channels", [4, 8]),
    ("classifier.kernels", [4, 5, 3]),
    ("classifier.hidden", 0),
    ("classifier.dropout", 1.0),
    ("classifier.lr", -1),
    ("classifier.lr", math.nan),
    ("classifier.lr", math.inf),
    ("classifier.momentum", 1.0),
    ("classifier.batch_size", 0),
    ("classifier.epochs", 0),
    ("classifier.epochs", None),
    ("classifier.bf16", "yes"),
    ("classifier.channels_last", 0),
    ("repeats", 0),
    ("inner_folds", 1),
    ("selection", "best"),
    ("dcgan.kind", "acgan"),
    ("acgan.kind", "dcgan"),
    *[(f"{section}.{name}", value) for section in ("dcgan", "acgan") for name, value in GAN_BAD.items()],
    ("gan_group", -1),
    ("gan_group", "all"),
    ("workers", 0),
    ("gan_samples_per_class", 0),
    ("synthetic_sizes", [4]),
    ("synthetic_sizes", [4, 4]),
    ("synthetic_sizes", [0, 4]),
    ("null_sims", 0),
    ("map_synthetic_per_class", 0),
    ("turing_real", 0),
    ("turing_synthetic", 0),
    ("fused", "maybe"),
    ("precision", "fp16"),
]
"""Values just outside each rule, set through overrides: each must be refused, naming its field."""

GOOD: list[tuple[str, object]] = [
    ("n_folds", 2),
    ("grid_per_class", 1),
    ("histogram_bins", 1),
    ("augment.n_rot", 1),
    ("augment.rot_range_deg", [-15, 15]),
    ("augment.n_flip", 0),
    ("augment.n_trans", 0),
    ("augment.n_scale", 0),
    ("augment.max_shift_px", 0),
    ("augment.shift_fraction", 0.0),
    ("augment.lesion_fraction", 1.0),
    ("augment.max_scale_change", 0.0),
    ("augment.interpolation", "bilinear"),
    ("classic_groups", [0]),
    ("classifier.channels", [1, 1, 1]),
    ("classifier.kernels", [1, 3, 7]),
    ("classifier.hidden", 1),
    ("classifier.dropout", 0.0),
    ("classifier.lr", 1e-6),
    ("classifier.momentum", 0.0),
    ("classifier.batch_size", 1),
    ("classifier.epochs", 1),
    ("classifier.bf16", True),
    ("classifier.channels_last", False),
    ("repeats", 1),
    ("inner_folds", 2),
    ("selection", "paper"),
    ("dcgan.kind", "dcgan"),
    ("acgan.kind", "acgan"),
    *[(f"{section}.{name}", value) for section in ("dcgan", "acgan") for name, value in GAN_GOOD.items()],
    ("gan_group", 0),
    ("workers", 1),
    ("gan_samples_per_class", 1),
    ("synthetic_sizes", [1, 2]),
    ("null_sims", 1),
    ("map_synthetic_per_class", 1),
    ("turing_real", 1),
    ("turing_synthetic", 1),
    ("fused", "off"),
    ("precision", "bf16"),
]
"""Values at the edge of each rule: each must pass."""


def profile_keys() -> set[str]:
    """Every dotted field of a profile: its own fields and each section's fields."""
    paper = get_profile("paper")
    keys = set()
    for outer in fields(Profile):
        keys.add(outer.name)
        value = getattr(paper, outer.name)
        if is_dataclass(value):
            keys |= {f"{outer.name}.{inner.name}" for inner in fields(value)}
    return keys


def test_every_field_has_a_rule():
    """A field added to Profile or a section without a rule in FIELD_RULES fails here; so does a stale rule."""
    keys = profile_keys()
    assert keys - FIELD_RULES.keys() == set(), "fields without a rule in liverkit.kit.profiles.FIELD_RULES"
    assert FIELD_RULES.keys() - keys == set(), "rules for fields that do not exist"


def test_every_rule_is_tried_on_both_sides():
    """Every field --set can change has a bad and a good case here (name and whole sections: see below)."""
    sections = {key.partition(".")[0] for key in FIELD_RULES if "." in key}
    settable = FIELD_RULES.keys() - sections - {"name"}
    assert settable - {key for key, _ in BAD} == set()
    assert settable - {key for key, _ in GOOD} == set()


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_a_value_outside_its_rule_is_refused_naming_the_field(key, value):
    with pytest.raises(LiverkitError, match=rf"\b{re.escape(key)}\b"):
        resolve_profile("smoke", overrides={key: value})


@pytest.mark.parametrize(("key", "value"), GOOD, ids=[f"{k}={v!r}" for k, v in GOOD])
def test_a_value_inside_its_rule_is_accepted(key, value):
    resolved = resolve_profile("smoke", overrides={key: value})
    section, _, name = key.rpartition(".")
    got = getattr(getattr(resolved, section) if section else resolved, name)
    assert got == (tuple(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("key", sorted(k for k, rule in FIELD_RULES.items() if rule.example is not None))
def test_the_fix_each_message_suggests_is_valid(key):
    """The example behind "e.g. --set key=example" passes its own rule, and resolves when it can be set."""
    rule = FIELD_RULES[key]
    assert rule.test(rule.example), f"{key}: example {rule.example!r} breaks '{rule.text}'"
    if key != "name":
        resolve_profile(
            "smoke", overrides={key: list(rule.example) if isinstance(rule.example, tuple) else rule.example}
        )


def test_the_message_names_the_field_value_rule_and_fix():
    with pytest.raises(LiverkitError) as refused:
        resolve_profile("smoke", overrides={"classifier.lr": -1})
    assert str(refused.value) == (
        "classifier.lr = -1 is out of range: must be a finite number > 0 (e.g. --set classifier.lr=0.01)."
    )
    with pytest.raises(LiverkitError) as refused:
        resolve_profile("smoke", overrides={"dcgan.max_steps": 0})
    assert str(refused.value) == (
        "dcgan.max_steps = 0 is out of range: must be None (train all epochs; null in --set) or an integer >= 1 "
        "(e.g. --set dcgan.max_steps=600)."
    )
    with pytest.raises(
        LiverkitError,
        match=r"^synthetic_sizes = \(4,\) is out of range: must be a list of at least 2 distinct values, each an",
    ):
        resolve_profile("smoke", overrides={"synthetic_sizes": [4]})


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_built_in_profiles_pass(name):
    check_profile(PROFILES[name])
    assert resolve_profile(name) == apply_precision(PROFILES[name])  # the precision sets the sections' bf16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, r"^name = '' is out of range: must be a non-empty string"),
        ({"n_folds": 1}, r"^n_folds = 1 is out of range: must be an integer >= 2"),
        ({"n_folds": 3.0}, r"^n_folds = 3.0 is out of range"),
        ({"repeats": True}, r"^repeats = True is out of range"),
        ({"classifier": ClassifierConfig(epochs=0)}, r"^classifier.epochs = 0 is out of range"),
        ({"classifier": "fast"}, r"^classifier = 'fast' is out of range: must be a ClassifierConfig .*--set classif"),
        ({"classic_groups": (0, np.int64(-3))}, r"^classic_groups = .* is out of range"),
    ],
)
def test_a_profile_built_in_code_is_checked_too(change, message):
    """A Profile passed to resolve_profile (built in a notebook or a script) meets the same rules."""
    with pytest.raises(LiverkitError, match=message):
        resolve_profile(replace(get_profile("smoke"), **change))


def test_optional_fields_take_null_and_others_refuse_it():
    resolved = resolve_profile("smoke", overrides={"dcgan.max_steps": None, "gan_group": None})
    assert resolved.dcgan.max_steps is None and resolved.gan_group is None
    with pytest.raises(LiverkitError, match=r"^n_folds = None is out of range: must be an integer >= 2"):
        resolve_profile("smoke", overrides={"n_folds": None})


@pytest.mark.parametrize("seed", [-1, 2**32, True, False, "0", 1.0, None, 2**64])
def test_seeds_outside_numpys_range_are_refused(seed):
    message = f"seed must be an integer from 0 to 4294967295 (2**32 - 1), got {seed!r}; pass e.g. --seed 0."
    with pytest.raises(LiverkitError) as refused:
        check_seed(seed)
    assert str(refused.value) == message


@pytest.mark.parametrize("seed", [0, 7, SEED_MAX, np.int64(3), np.uint32(SEED_MAX)])
def test_seeds_in_range_are_returned_as_ints(seed):
    assert check_seed(seed) == int(seed) and type(check_seed(seed)) is int
    assert SEED_MAX == 2**32 - 1
