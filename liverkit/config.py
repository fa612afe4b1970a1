"""Profiles: the named sets of sizes that make the same notebooks a test, a demo or the full reproduction.

``smoke`` runs every notebook in seconds for the tests, ``quick`` tells the whole story on the built-in
phantom in about 20 minutes on two CPU cores (``make demo``), and ``paper`` uses the paper's exact numbers and is
meant for a GPU. Every notebook reads its sizes from one :class:`Profile`.

Every profile trains every CNN under one budget rule (``ClassifierConfig.epochs`` full passes over the model's own
training set, no step cap), so the CPU profiles save time by cutting sizes, groups, widths and epochs for every arm
alike, never by treating arms differently. The quick CNN's learning rate (0.01, the paper's 0.001) was set on a
phantom draw the demo never uses (seed 7), before any demo run, as the rate at which group 0 learns within the
quick epochs; see the README's budget table.

The module imports no torch (its sections come from the torch-free :mod:`liverkit.augment_config`,
:mod:`liverkit.train.classifier_config` and :mod:`liverkit.train.gan_config`), so the ``liverkit`` command and
the process that runs the notebooks stay small; ``tests/test_light_imports.py`` keeps it so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

import yaml

from liverkit.augment_config import PAPER_GROUPS, AugmentConfig
from liverkit.errors import LiverkitError
from liverkit.train.classifier_config import ClassifierConfig
from liverkit.train.gan_config import GANConfig

FUSED_SETTINGS = ("auto", "on", "off")
"""Values of :attr:`Profile.fused`."""


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
    two threads for these small models; ``liverkit.processes``). 1 trains them in the notebook's process. Unused
    when the GANs are fused (``fused``, on a GPU)."""

    gan_samples_per_class: int = 1000
    """Synthetic lesions per class and fold that notebooks 03 and 04 save for the notebooks after them."""

    synthetic_sizes: tuple[int, ...] = (100, 500, 1000, 2000, 3000, 4000)
    """Images per class added on top of the chosen classic group in notebook 05 (the paper's sizes): synthetic
    lesions for the GAN arms, extra classic variants for the same-size control. At least two, so that the honest
    and the paper's choice can differ."""

    null_sims: int = 200
    """Simulated sweeps behind notebook 05's check of its own intervals (``liverkit.null_check``): how often an
    interval of this run's structure misses when the arms do not differ."""

    map_synthetic_per_class: int = 300
    """Synthetic lesions per class and GAN shown with the real test lesions in notebook 06's feature maps."""

    turing_real: int = 50
    """Real ROIs (the fold's test lesions, balanced over classes) in notebook 08's visual Turing test."""

    turing_synthetic: int = 50
    """Synthetic ROIs in notebook 08's visual Turing test, balanced over classes and the two GANs."""

    fused: str = "auto"
    """Train many small models as one: the CNNs of the sweeps (:mod:`liverkit.train.fused`) and the GANs of
    notebooks 03 and 04 (:mod:`liverkit.train.fused_gan`). ``auto`` is off until a GPU run of the fused trainers
    is recorded (:func:`liverkit.env.use_fused`); ``on`` and ``off`` force it, and ``on`` on CUDA checks first.
    Fused and one-by-one training give the same models up to float rounding (the tests measure how close)."""

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
        repeats=3,
        inner_folds=2,
        gan_group=450,
        workers=2,
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
    """The line a notebook prints about its profile (:data:`PROFILE_BANNERS`; a custom profile's name otherwise)."""
    name = profile.name if isinstance(profile, Profile) else str(profile)
    return PROFILE_BANNERS.get(name, f"profile '{name}': the sizes of liverkit.config's profile of that name.")


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
    own overrides (``--set`` on the command line, the ``overrides`` parameter of every notebook).

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
    return resolved


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
    if current is not None and not _same_kind(current, value):
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
