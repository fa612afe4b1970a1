"""Profiles: the named sets of sizes that make the same notebooks a test, a demo or the full reproduction.

``smoke`` runs every notebook in seconds for the tests, ``quick`` tells the whole story on the built-in
phantom in about 10 minutes on two CPU cores with AMX (``make demo``; 13-15 without, see docs/performance.md), and
``paper`` uses the paper's exact numbers and is
meant for a GPU. Every notebook reads its sizes from one :class:`Profile`.

Every profile trains every CNN under one budget rule (``ClassifierConfig.epochs`` full passes over the model's own
training set, no step cap), so the CPU profiles save time by cutting sizes, groups, widths and epochs for every arm
alike, never by treating arms differently. The quick CNN's learning rate (0.01, the paper's 0.001) was set on a
phantom draw the demo never uses (seed 7), before any demo run, as the rate at which group 0 learns within the
quick epochs; see the README's budget table.

The module imports no torch (its sections come from the torch-free :mod:`liverkit.augment.classic_config`,
:mod:`liverkit.train.classifier_config` and :mod:`liverkit.train.gan_config`), so the ``liverkit`` command and
the process that runs the notebooks stay small; ``tests/test_light_imports.py`` keeps it so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from liverkit.augment.classic_config import INTERPOLATIONS, PAPER_GROUPS, AugmentConfig
from liverkit.errors import LiverkitError
from liverkit.train.classifier_config import ClassifierConfig
from liverkit.train.gan_config import GANConfig

FUSED_SETTINGS = ("auto", "on", "off")
PRECISIONS = ("fp32", "bf16", "auto")
"""Training precisions of a profile (:attr:`Profile.precision`)."""
CPUINFO = Path("/proc/cpuinfo")
"""Where Linux lists the CPU's feature flags (:func:`cpu_has_amx` reads it)."""
"""Values of :attr:`Profile.fused`."""

SELECTION_MODES = ("honest", "paper")
"""Values of :attr:`Profile.selection` (the same as :data:`liverkit.experiment.classic_sweep.SELECTION_MODES`, which
needs torch)."""


@dataclass(frozen=True)
class Profile:
    """The sizes one run of the notebooks uses. Later notebooks add their own fields here."""

    name: str
    """The profile's name: ``smoke``, ``quick`` or ``paper``."""

    n_folds: int = 3
    """Cross-validation folds, split by patient. The paper uses 3 (folds of 63/63/62 lesions)."""

    grid_per_class: int = 8
    """Example ROIs shown per class in the data notebook's grids."""

    histogram_bins: int = 40
    """Bins of the diameter and intensity histograms in the data notebook."""

    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Classic augmentation counts and ranges (the paper's: 480 variants per ROI)."""

    classic_groups: tuple[int, ...] = PAPER_GROUPS
    """Classic-augmentation group sizes of the CNN-AUG sweep (0 = no augmentation)."""

    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    """The CNN's widths and training schedule."""

    repeats: int = 5
    """Independent repetitions of the whole protocol: every repeat draws its own patient-level outer folds, pools,
    inner splits, orders and initialisations, and trains its own GANs (notebooks 03 and 04); within a repeat every
    arm shares them. Conclusions rest on all repeats and patients, and notebook 05's intervals resample both."""

    inner_folds: int = 4
    """Honest model choice: the training patients are split into this many parts, each held out once; the choice
    maximises accuracy over all held-out inner lesions."""

    selection: str = "honest"
    """How the best classic group is chosen: ``honest`` (inner validation) or ``paper`` (on the test folds)."""

    dcgan: GANConfig = field(default_factory=GANConfig.paper_dcgan)
    """The per-class DCGANs of notebook 03 (the paper's: G width 1024, D width 64, lr 0.0002, 70 epochs)."""

    acgan: GANConfig = field(default_factory=GANConfig.paper_acgan)
    """The ACGAN of notebook 04 (the paper's: G width 1024, D 16-512 filters, lr 0.0001, 50 epochs)."""

    gan_group: int | None = None
    """The classic group every fold's GANs learn from: None, the fold's chosen group (the paper's rule, which made
    the GANs' training length follow the choice: 70 DCGAN steps for group 0 in ``paper``); a size, one group for
    every fold (``quick``: its largest group, 450, the group the GAN settings were chosen on), so every GAN trains
    the same steps whatever the choice. The CNN arms still add to each fold's chosen group."""

    workers: int = 1
    """Processes that train independent GANs side by side on a CPU, at one thread each (faster than one process at
    two threads for these small models; ``liverkit.experiment.worker_pool``). 1 trains them in the notebook's process.
    Unused when the GANs are fused (``fused``, on a GPU). The notebooks' CNN sweeps train in the notebook's own
    process at all its threads: a quick CNN step scales almost 2x over 2 threads, and one repeat of quick's classic
    sweep (27 CNNs) took 14.4 s there against 18.5 s in 2 one-thread processes, which pay for their start-up
    (2-core Xeon, fp32; bf16: 10.4 against 14.6 s). ``ProcessExecutor`` stays available to the sweep functions."""

    gan_samples_per_class: int = 1000
    """Synthetic lesions per class and fold that notebooks 03 and 04 save for the notebooks after them."""

    synthetic_sizes: tuple[int, ...] = (100, 500, 1000, 2000, 3000, 4000)
    """Images per class added on top of the chosen classic group in notebook 05 (the paper's sizes): synthetic
    lesions for the GAN arms, extra classic variants for the same-size control. At least two, so that the honest
    and the paper's choice can differ."""

    null_sims: int = 200
    """Simulated sweeps behind notebook 05's check of its own intervals (``liverkit.experiment.null_check``): how often
    an interval of this run's structure misses when the arms do not differ."""

    map_synthetic_per_class: int = 300
    """Synthetic lesions per class and GAN shown with the real test lesions in notebook 06's feature maps."""

    turing_real: int = 50
    """Real ROIs (the fold's test lesions, balanced over classes) in notebook 08's visual Turing test."""

    turing_synthetic: int = 50
    """Synthetic ROIs in notebook 08's visual Turing test, balanced over classes and the two GANs."""

    precision: str = "fp32"
    """Training precision of every CNN and GAN: ``fp32`` (exact), ``bf16`` (bfloat16 autocast) or ``auto``: bf16
    where this machine's CPU has AMX (Intel's matrix units, :func:`cpu_has_amx`), fp32 elsewhere. Measured on 2
    cores of a Xeon with AMX, bf16 trains a quick CNN step about 1.7x and a quick DCGAN step about 1.7x faster (an
    ACGAN step about 1.2x); on an AVX2-only CPU it is about 10x slower, which is why ``auto`` asks for AMX. bf16 changes
    every trained number as another seed would, not only the last digits; a section's own ``bf16`` given as an
    override (``--set dcgan.bf16=false``) wins over this field."""

    fused: str = "auto"
    """Train many small models as one: the CNNs of the sweeps (:mod:`liverkit.train.fused`) and the GANs of
    notebooks 03 and 04 (:mod:`liverkit.train.fused_gan`). ``auto`` is off until a GPU run of the fused trainers
    is recorded (:func:`liverkit.train.fused_check.use_fused`); ``on`` and ``off`` force it, and ``on`` on CUDA checks
    first. Fused and one-by-one training give the same models up to float rounding (the tests measure how close)."""

    def to_dict(self) -> dict:
        """The profile as a plain dict (for run-folder records and reports)."""
        return asdict(self)

    def __post_init__(self) -> None:
        if self.gan_group is not None and not (isinstance(self.gan_group, int) and self.gan_group >= 0):
            raise LiverkitError(
                f"Profile '{self.name}': gan_group must be None (each fold's chosen group) or a group size >= 0, "
                f"got {self.gan_group!r}."
            )
        if not (isinstance(self.workers, int) and not isinstance(self.workers, bool) and self.workers >= 1):
            raise LiverkitError(f"Profile '{self.name}': workers must be an integer >= 1, got {self.workers!r}.")
        if self.precision not in PRECISIONS:
            raise LiverkitError(
                f"Profile '{self.name}': precision must be one of {list(PRECISIONS)}, got {self.precision!r}."
            )
        if self.fused not in FUSED_SETTINGS:
            raise LiverkitError(
                f"Profile '{self.name}': fused must be one of {list(FUSED_SETTINGS)}, got {self.fused!r}."
            )

    def with_overrides(self, **overrides) -> Profile:
        """A copy with some fields changed; an unknown field name is a LiverkitError."""
        valid = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise LiverkitError(f"unknown profile field(s) {unknown}; valid fields: {sorted(valid)}.")
        return replace(self, **overrides)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        grid_per_class=4,
        histogram_bins=20,
        augment=AugmentConfig(n_rot=2),
        classic_groups=(0, 100),
        classifier=ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=2, lr=0.01),
        repeats=2,
        inner_folds=2,
        dcgan=GANConfig.paper_dcgan(
            g_width=32,
            d_width=8,
            batch_size=16,
            epochs=2,
            max_steps=4,
            trusted_steps=8,  # above its 4 steps: the smoke run shows the under-trained warning, as it should
            sample_grid=4,
            collapse_samples=16,
        ),
        acgan=GANConfig.paper_acgan(
            g_width=32,
            d_width=4,
            batch_size=16,
            epochs=2,
            max_steps=4,
            trusted_steps=8,
            sample_grid=4,
            collapse_samples=16,
        ),
        gan_samples_per_class=16,
        synthetic_sizes=(4, 8),
        null_sims=20,
        map_synthetic_per_class=8,
        turing_real=6,
        turing_synthetic=6,
    ),
    "quick": Profile(
        name="quick",
        classic_groups=(0, 150, 450),
        classifier=ClassifierConfig(channels=(8, 16, 32), hidden=64, epochs=8, lr=0.01),
        # 2 repeats (3 until 2026-12-07) and precision auto: the 10-minute demo (docs/performance.md); each repeat
        # still redraws its folds and retrains its GANs, and notebook 05's null check measures the intervals it gives
        repeats=2,
        inner_folds=2,
        gan_group=450,
        workers=2,
        precision="auto",
        # collapse_samples 64 (not 256): the per-epoch collapse ratio took 19% of a quick DCGAN's time
        # epochs 200: the 600-step cap (the settings rule's choice) binds for every class; a class's share of
        # group 450 varies (112-160 images), and at the paper's 70 epochs some trained only 490 or 560 steps
        dcgan=GANConfig.paper_dcgan(
            g_width=64,
            d_width=16,
            batch_size=16,
            epochs=200,
            max_steps=600,
            trusted_steps=600,
            checkpoint_every=10,
            collapse_samples=64,
        ),
        acgan=GANConfig.paper_acgan(
            g_width=64,
            d_width=4,
            batch_size=16,
            max_steps=800,
            trusted_steps=800,
            checkpoint_every=10,
            collapse_samples=64,
        ),
        gan_samples_per_class=200,
        synthetic_sizes=(25, 75),
        map_synthetic_per_class=100,
        turing_real=20,
        turing_synthetic=20,
    ),
    "paper": Profile(
        name="paper",
        # the paper's GANs trained on its 5000-sample optimum: 70 x 26 DCGAN steps per class, 50 x 78 ACGAN steps
        dcgan=GANConfig.paper_dcgan(trusted_steps=1820),
        acgan=GANConfig.paper_acgan(trusted_steps=3900),
    ),
}


PROFILE_BANNERS = {
    "smoke": "SMOKE PROFILE: tiny models trained for a few steps, only to show that the code runs. Its numbers say "
    "nothing about augmentation; read results from the quick profile (make demo) or larger.",
    "quick": "quick profile: the whole story on 2 CPU cores with narrow models and few epochs; the README says what "
    "it can and cannot show.",
    "paper": "paper profile: the paper's architectures, epochs, groups and sizes.",
}
"""The one line every notebook prints under its parameters: what this profile's numbers are good for."""


def profile_banner(profile: str | Profile) -> str:
    """The line a notebook prints about its profile (:data:`PROFILE_BANNERS`; a custom profile's name otherwise);
    for a resolved Profile, followed by its training precision (:func:`precision_line`)."""
    name = profile.name if isinstance(profile, Profile) else str(profile)
    banner = PROFILE_BANNERS.get(name, f"profile '{name}': the sizes of liverkit.kit.profiles's profile of that name.")
    return f"{banner}\n{precision_line(profile)}" if isinstance(profile, Profile) else banner


@dataclass(frozen=True)
class Rule:
    """The valid values of one profile field: a test, the sentence that states it, and a valid example."""

    text: str
    """What the value must be, completing "must be ...": ``"an integer >= 2"``."""
    test: Callable[[Any], bool]
    """True when a value is valid."""
    example: Any
    """A valid value, shown in the message as the fix (``--set key=example``)."""
    fix: str = ""
    """The fix to show instead of ``--set key=example`` (for whole sections, which ``--set`` cannot replace)."""


def _is_int(value: Any) -> bool:
    """An int (or numpy integer), not a bool: YAML reads ``true`` as a bool, and True is no count."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float (numpy's too), not a bool."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _int_rule(minimum: int, *, example: int, maximum: int | None = None, odd: bool = False, multiple: int = 1) -> Rule:
    """An integer in [minimum, maximum], odd or a multiple of ``multiple`` when asked."""
    text = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    text = f"an odd integer >= {minimum}" if odd else text
    text = f"a multiple of {multiple} >= {minimum}" if multiple > 1 else text

    def test(value: Any) -> bool:
        return (
            _is_int(value)
            and value >= minimum
            and (maximum is None or value <= maximum)
            and (not odd or value % 2 == 1)
            and value % multiple == 0
        )

    return Rule(text, test, example)


def _optional(rule: Rule, meaning: str) -> Rule:
    """``rule`` or None (``meaning`` says what None does)."""
    return Rule(
        f"None ({meaning}; null in --set) or {rule.text}", lambda value: value is None or rule.test(value), rule.example
    )


def _number_rule(low: float, high: float | None, *, example: float, low_open: bool, high_open: bool = True) -> Rule:
    """A finite number between ``low`` and ``high`` (None: no upper bound); ``*_open`` excludes the bound."""
    if high is None:
        text = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        text = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def test(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = value > low if low_open else value >= low
        below = high is None or (value < high if high_open else value <= high)
        return above and below

    return Rule(text, test, example)


def _choice_rule(values: tuple[Any, ...]) -> Rule:
    """One of ``values`` (the first is the example)."""
    return Rule(f"one of {list(values)}", lambda value: isinstance(value, str) and value in values, values[0])


BOOL_RULE = Rule("true or false", lambda value: isinstance(value, bool), True)
"""Switches: a bool, never 0/1 or a string."""


def _ints_rule(item: Rule, example: tuple, *, length: int | None = None, fewest: int = 1, distinct: bool) -> Rule:
    """A tuple of ``length`` (or at least ``fewest``) integers, each valid for ``item``, distinct when asked."""
    kind = "distinct values" if distinct else "values"
    if length is not None:
        text = f"a list of {length} {kind}, each {item.text}"
    else:
        text = f"a non-empty list of {kind}" if fewest == 1 else f"a list of at least {fewest} {kind}"
        text += f", each {item.text}"

    def test(value: Any) -> bool:
        return (
            isinstance(value, tuple | list)
            and (len(value) == length if length is not None else len(value) >= fewest)
            and all(item.test(v) for v in value)
            and (not distinct or len(set(value)) == len(value))
        )

    return Rule(text, test, example)


def _pair_rule(item: Rule, example: tuple, *, ordered: bool) -> Rule:
    """Two numbers, each valid for ``item``; the first no larger than the second when ``ordered``."""
    each = item.text.removeprefix("a number ")
    text = f"two numbers [low, high], low <= high, each {each}" if ordered else f"two numbers, each {each}"

    def test(value: Any) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) == 2
            and all(item.test(v) for v in value)
            and (not ordered or value[0] <= value[1])
        )

    return Rule(text, test, example)


def _section_rule(kind: type, example: str) -> Rule:
    """A whole section: an instance of its dataclass (its own fields have their own rules); ``example`` is one
    ``--set`` of one of its fields."""
    text = f"a {kind.__name__} (each of its fields has its own rule)"
    return Rule(text, lambda value: isinstance(value, kind), None, f"set its fields one by one, e.g. --set {example}")


_POSITIVE_LR = _number_rule(0, None, example=0.01, low_open=True)
_FRACTION = _number_rule(0, 1, example=0.5, low_open=False)  # dropout and momentum: [0, 1)


def _gan_rules(section: str, lr: float) -> dict[str, Rule]:
    """The rules of one :class:`GANConfig` section (``dcgan`` or ``acgan``); its ``kind`` must name the section."""
    rules = {
        "kind": Rule(f"'{section}' (the {section} section trains {section.upper()}s)", lambda v: v == section, section),
        "z_dim": _int_rule(1, example=100),
        "g_width": _int_rule(8, example=64, multiple=8),
        "d_width": _int_rule(1, example=16),
        "lr": _number_rule(0, None, example=lr, low_open=True),
        "betas": _pair_rule(_number_rule(0, 1, example=0.5, low_open=False), (0.5, 0.999), ordered=False),
        "batch_size": _int_rule(1, example=16),
        "epochs": _int_rule(1, example=10),
        "checkpoint_every": _int_rule(1, example=10),
        "bf16": BOOL_RULE,
        "channels_last": BOOL_RULE,
        "max_steps": _optional(_int_rule(1, example=600), "train all epochs"),
        "trusted_steps": _optional(_int_rule(1, example=600), "no known floor"),
        "sample_grid": _int_rule(1, example=8),
        "collapse_samples": _int_rule(2, example=64),
        "dropout": _FRACTION,
    }
    return {f"{section}.{name}": rule for name, rule in rules.items()}


FIELD_RULES: dict[str, Rule] = {
    "name": Rule("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()), "mine"),
    "n_folds": _int_rule(2, example=3),
    "grid_per_class": _int_rule(1, example=8),
    "histogram_bins": _int_rule(1, example=40),
    "augment": _section_rule(AugmentConfig, "augment.n_rot=30"),
    "augment.n_rot": _int_rule(1, example=30),
    "augment.rot_range_deg": _pair_rule(
        _number_rule(-360, 360, example=0, low_open=False, high_open=False), (0, 180), ordered=True
    ),
    "augment.n_flip": _int_rule(0, example=3, maximum=3),
    "augment.n_trans": _int_rule(0, example=7),
    "augment.n_scale": _int_rule(0, example=5),
    "augment.max_shift_px": _number_rule(0, None, example=4.0, low_open=False),
    "augment.shift_fraction": _number_rule(0, None, example=0.1, low_open=False),
    "augment.lesion_fraction": _number_rule(0, 1, example=0.5, low_open=True, high_open=False),
    "augment.max_scale_change": _number_rule(0, 1, example=0.2, low_open=False),
    "augment.interpolation": _choice_rule(INTERPOLATIONS),
    "classic_groups": _ints_rule(_int_rule(0, example=0), (0, 500), distinct=True),
    "classifier": _section_rule(ClassifierConfig, "classifier.epochs=8"),
    "classifier.channels": _ints_rule(_int_rule(1, example=8), (8, 16, 32), length=3, distinct=False),
    "classifier.kernels": _ints_rule(_int_rule(1, example=5, odd=True), (5, 5, 3), length=3, distinct=False),
    "classifier.hidden": _int_rule(1, example=64),
    "classifier.dropout": _FRACTION,
    "classifier.lr": _POSITIVE_LR,
    "classifier.momentum": _number_rule(0, 1, example=0.9, low_open=False),
    "classifier.batch_size": _int_rule(1, example=64),
    "classifier.epochs": _int_rule(1, example=8),
    "classifier.bf16": BOOL_RULE,
    "classifier.channels_last": BOOL_RULE,
    "repeats": _int_rule(1, example=3),
    "inner_folds": _int_rule(2, example=4),
    "selection": _choice_rule(SELECTION_MODES),
    "dcgan": _section_rule(GANConfig, "dcgan.epochs=10"),
    **_gan_rules("dcgan", lr=2e-4),
    "acgan": _section_rule(GANConfig, "acgan.epochs=10"),
    **_gan_rules("acgan", lr=1e-4),
    "gan_group": _optional(_int_rule(0, example=450), "each fold's chosen group"),
    "workers": _int_rule(1, example=2),
    "gan_samples_per_class": _int_rule(1, example=200),
    "synthetic_sizes": _ints_rule(_int_rule(1, example=25), (25, 75), fewest=2, distinct=True),
    "null_sims": _int_rule(1, example=200),
    "map_synthetic_per_class": _int_rule(1, example=100),
    "turing_real": _int_rule(1, example=20),
    "turing_synthetic": _int_rule(1, example=20),
    "precision": _choice_rule(PRECISIONS),
    "fused": _choice_rule(FUSED_SETTINGS),
}
"""The one table of valid profile values, keyed by dotted name: a profile field (``n_folds``), a section
(``classifier``) or a section's field (``classifier.lr``, ``dcgan.lr``). :func:`check_profile` applies it to every
resolved profile, so ``--set``, each notebook's ``overrides`` and the runner refuse a bad value before any kernel
starts. Every field of :class:`Profile` and of its sections has an entry (``tests/test_profile_rules.py``)."""


def check_field(key: str, value: Any) -> None:
    """A LiverkitError naming ``key``, ``value``, the rule and a valid example when ``value`` breaks
    :data:`FIELD_RULES`' rule for ``key``.

    Args:
        key: a dotted profile field, e.g. ``classifier.lr``.
        value: its value.
    """
    rule = FIELD_RULES.get(key)
    if rule is None:  # a field added without a rule: a bug of the kit, caught by tests/test_profile_rules.py
        raise KeyError(f"liverkit.kit.profiles.FIELD_RULES has no rule for profile field '{key}'.")
    if not rule.test(value):
        fix = rule.fix or f"e.g. --set {key}={_as_yaml(rule.example)}"
        raise LiverkitError(f"{key} = {value!r} is out of range: must be {rule.text} ({fix}).")


def check_profile(profile: Profile) -> None:
    """Check every field of ``profile`` and of its sections against :data:`FIELD_RULES`.

    :func:`resolve_profile` calls it on every profile it returns, so a value that would fail inside a notebook
    (``classifier.epochs=0``, ``classifier.lr=-1``) is refused at once, naming the field.

    Raises:
        LiverkitError: naming the first field out of range, its value, the rule and a valid example.
    """
    for outer in fields(profile):
        value = getattr(profile, outer.name)
        check_field(outer.name, value)
        if is_dataclass(value):
            for inner in fields(value):
                check_field(f"{outer.name}.{inner.name}", getattr(value, inner.name))


def _as_yaml(value: Any) -> str:
    """``value`` as one would type it after ``--set key=`` (YAML: ``null``, ``true``, ``[0, 15]``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return f"[{', '.join(_as_yaml(v) for v in value)}]"
    return str(value)


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name (``smoke``, ``quick``, ``paper``); a Profile passes through unchanged."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise LiverkitError(f"unknown profile '{name}'; choose one of {sorted(PROFILES)}.")
    return PROFILES[name]


def parse_overrides(assignments: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["classifier.epochs=4", "augment.rot_range_deg=[0, 15]"]`` as a dict; values are read as YAML.

    Args:
        assignments: ``key=value`` strings, ``key`` a profile field or ``section.field`` (see :func:`resolve_profile`).
    """
    overrides: dict[str, Any] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise LiverkitError(f"--set '{text}' must look like key=value, e.g. classifier.epochs=4.")
        try:
            overrides[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise LiverkitError(f"--set '{text}': the value is not valid YAML ({exc}).") from exc
    return overrides


def resolve_profile(profile: str | Profile, data: str = "phantom", overrides: dict[str, Any] | None = None) -> Profile:
    """The profile a run uses: the named profile, then the data set's manifest ``augment`` settings, then the run's
    own overrides (``--set`` on the command line, the ``overrides`` parameter of every notebook), every field
    checked against :data:`FIELD_RULES` (:func:`check_profile`).

    Args:
        profile: ``smoke``, ``quick``, ``paper`` or a Profile.
        data: the run's data source; a manifest entry's ``augment`` mapping sets ``augment.<field>`` values.
        overrides: ``{"classifier.epochs": 4, "n_folds": 5, "augment.n_flip": 0}``: a profile field, or a field of
            one of its sections (``augment``, ``classifier``, ``dcgan``, ``acgan``).
    """
    resolved = get_profile(profile)
    changes = {f"augment.{key}": value for key, value in _manifest_augment(data).items()}
    changes |= dict(overrides or {})
    for key, value in changes.items():
        resolved = _set_field(resolved, key, value)
    check_profile(resolved)
    return apply_precision(resolved, explicit=changes)


def cpu_has_amx(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this machine's CPU has AMX with bf16 (the ``amx_bf16`` flag Linux lists); False where it cannot tell."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and "amx_bf16" in line.split() for line in text.splitlines())


def training_precision(profile: Profile) -> str:
    """``bf16`` or ``fp32``: what ``profile.precision`` means on this machine."""
    if profile.precision == "auto":
        return "bf16" if cpu_has_amx() else "fp32"
    return profile.precision


def apply_precision(profile: Profile, explicit: Collection[str] = ()) -> Profile:
    """``profile`` with the ``bf16`` switch of its CNN and GAN sections set from its precision, except where the
    run's overrides (``explicit``, dotted keys such as ``dcgan.bf16``) set a section's own switch."""
    bf16 = training_precision(profile) == "bf16"
    sections = {
        name: replace(getattr(profile, name), bf16=bf16)
        for name in ("classifier", "dcgan", "acgan")
        if name not in explicit and f"{name}.bf16" not in explicit
    }
    return profile.with_overrides(**sections)


def precision_line(profile: Profile) -> str:
    """One sentence on the precision the CNNs and GANs of a resolved profile train in, and how to change it."""
    used = {name: getattr(profile, name).bf16 for name in ("classifier", "dcgan", "acgan")}
    if len(set(used.values())) > 1:
        listed = ", ".join(f"{name} {'bf16' if bf16 else 'fp32'}" for name, bf16 in used.items())
        return f"Training precision: {listed} (set per section)."
    chosen = "bf16" if next(iter(used.values())) else "fp32"
    if profile.precision != "auto" or chosen != training_precision(profile):
        return f"Training precision: {chosen}."
    if chosen == "fp32":
        return (
            "Training precision: fp32 (precision 'auto': this CPU has no AMX, the only CPUs on which the kit has "
            "measured bf16 to be faster)."
        )
    return (
        "Training precision: bf16 (precision 'auto': this CPU has AMX, on which bf16 trains faster; every trained "
        "number differs from an fp32 run as another seed's would). overrides={'precision': 'fp32'} (--set "
        "precision=fp32) trains in exact fp32."
    )


def _manifest_augment(data: str) -> dict[str, Any]:
    """The ``augment`` mapping of the data set's manifest entry (empty for a LesionSet file)."""
    from liverkit.data import manifest

    return {} if manifest.is_lesionset_file(data) else dict(manifest.get_entry(data).augment)


def _set_field(profile: Profile, key: str, value: Any) -> Profile:
    """Replace one (possibly dotted) field, converting YAML lists to the tuples the dataclasses hold."""
    section, _, name = key.rpartition(".")
    if section:
        holder = getattr(profile, section, None)
        if section == "name" or not is_dataclass(holder):
            sections = sorted(f.name for f in fields(profile) if is_dataclass(getattr(profile, f.name)))
            raise LiverkitError(f"override '{key}': '{section}' is not a section of the profile; sections: {sections}.")
        return profile.with_overrides(**{section: _replace_checked(holder, name, value, key)})
    return _replace_checked(profile, name, value, key)


def _replace_checked(holder: Any, name: str, value: Any, key: str) -> Any:
    valid = sorted(f.name for f in fields(holder) if f.name != "name")
    if name not in valid:
        raise LiverkitError(f"override '{key}': no field '{name}'; valid fields here: {valid}.")
    current = getattr(holder, name)
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    check_field(key, value)  # the table's rule and fix, before a section's own __post_init__ sees the value
    if current is not None and value is not None and not _same_kind(current, value):  # None: the table decided
        raise LiverkitError(
            f"override '{key}': expected a value like {current!r} ({type(current).__name__}), got {value!r}."
        )
    try:
        return replace(holder, **{name: value})
    except (TypeError, ValueError) as exc:
        raise LiverkitError(f"override '{key}={value!r}' is not valid: {exc}") from exc


def _same_kind(current: Any, value: Any) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, int | float) and isinstance(value, int | float):
        return isinstance(current, float) or isinstance(value, int)
    return isinstance(value, type(current))
