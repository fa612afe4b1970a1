"""Profiles: the named sets of sizes that make the same notebooks a test, a demo or the full reproduction.

``smoke`` runs every notebook in seconds for the tests, ``quick`` tells the whole story on the built-in
phantom in about ten minutes on two CPU cores (``make demo``), and ``paper`` uses the paper's exact
numbers and is meant for a GPU. Every notebook reads its sizes from one :class:`Profile`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from liverkit.errors import LiverkitError


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

    def to_dict(self) -> dict:
        """The profile as a plain dict (for run-folder records and reports)."""
        return asdict(self)

    def with_overrides(self, **overrides) -> Profile:
        """A copy with some fields changed; an unknown field name is a LiverkitError."""
        valid = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise LiverkitError(f"unknown profile field(s) {unknown}; valid fields: {sorted(valid)}.")
        return replace(self, **overrides)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(name="smoke", grid_per_class=4, histogram_bins=20),
    "quick": Profile(name="quick"),
    "paper": Profile(name="paper"),
}


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name (``smoke``, ``quick``, ``paper``); a Profile passes through unchanged."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise LiverkitError(f"unknown profile '{name}'; choose one of {sorted(PROFILES)}.")
    return PROFILES[name]
