"""Small builders shared by the tests: LesionSets with known contents, and the browser the browser tests use."""

from __future__ import annotations

import shutil

import numpy as np

from liverkit.data import LesionSet
from liverkit.kit.regress import rounding_perturbation


def make_set(labels, patients=None, class_names=("a", "b", "c"), seed=0, source="test") -> LesionSet:
    """A LesionSet with random images, the given labels and patients (default: one patient per lesion)."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    rng = np.random.default_rng(seed)
    patients = np.asarray(patients if patients is not None else [f"p{i}" for i in range(n)])
    return LesionSet(
        images=rng.random((n, 1, 64, 64), dtype=np.float32),
        labels=labels,
        class_names=class_names,
        patient_ids=patients,
        diameters_mm=np.linspace(10, 100, n, dtype=np.float32),
        ids=[f"item-{i}" for i in range(n)],
        sources=source,
    )


SMOKE_ENV: dict[str, str] = rounding_perturbation()
"""Environment variables the session's smoke run (conftest's ``smoke_run``) runs under; a test that must reproduce
the smoke run's numbers exactly (a notebook run alone, say) runs with the same ones. They perturb float rounding
(one thread; on x86-64 torch's vector kernels one level down, e.g. AVX2 on an AVX-512 machine), so that the smoke
baseline check, recorded without them, proves its tolerances absorb another machine's rounding."""


def two_class_set(cue: str, n: int = 20, seed: int = 0) -> LesionSet:
    """Two classes of noisy ROIs: ``"side"`` puts class a's blob left of centre and class b's right (the side is the
    class cue, as for organs on CT); ``"symmetric"`` centres both, class a dark and class b bright."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    yy, xx = np.mgrid[:64, :64]
    images = []
    for label in labels:
        if cue == "side":
            blob, level = np.hypot(yy - 32, xx - (20 if label == 0 else 44)) < 10, 0.4
        else:
            blob, level = np.hypot(yy - 32, xx - 32) < 12, (-0.2 if label == 0 else 0.3)
        images.append(np.clip(0.4 + level * blob + rng.normal(0, 0.1, (64, 64)), 0, 1))
    return LesionSet(
        images=np.stack(images)[:, None].astype(np.float32),
        labels=labels,
        class_names=("a", "b"),
        patient_ids=[f"p{i}" for i in range(2 * n)],
        diameters_mm=np.full(2 * n, np.nan),
        ids=[f"x{i}" for i in range(2 * n)],
        sources="test",
    )


BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
BROWSER_MISSING = (
    f"no Chromium/Chrome on PATH ({', '.join(BROWSER_NAMES)}): run `make browser` "
    "(Debian/Ubuntu, as root: apt-get install chromium; "
    "elsewhere install Chromium or Chrome), then run the tests again. .ci/run does this before make test."
)


def find_browser() -> str | None:
    """The first headless-capable Chromium/Chrome on PATH, looked up now (not at import: one may be installed later)."""
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)
