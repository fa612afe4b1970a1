"""Named random streams: every seed the kit uses, derived from the run's seed and the stream's name.

One run seed feeds every random choice of the sweeps through :func:`derive`, which hashes a list of integers with
numpy's ``SeedSequence`` into one 32-bit seed: the same parts give the same seed on every machine, and different
parts give independent streams. Which stream a seed belongs to is a :class:`Stream` member in the parts, so two
modules that need the same stream (the classic sweep and the GAN sweep share a model seed per fold) name it
instead of agreeing on a number. The members' values are the numbers the kit has always used, so results are
unchanged.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from liverkit.errors import LiverkitError

SEED_MAX = 2**32 - 1
"""The largest seed :func:`check_seed` accepts: numpy's legacy global seed (``np.random.seed``) takes no more."""


class Stream(IntEnum):
    """The protocol's random streams, each the last-but-one part of ``derive(seed, repeat, fold, stream, ...)``."""

    INNER_SPLIT = 1
    """The split of a training fold's patients into inner folds (the honest choice's validation parts)."""
    OUTER_POOL = 2
    """The classic-augmentation pool and nested order of a (repeat, fold)'s outer models."""
    OUTER_MODEL = 3
    """The one model seed of every outer CNN of a (repeat, fold): all groups and arms alike."""
    INNER_POOL = 4
    """The pool and order of an inner fold's models (one more part: the inner fold)."""
    INNER_MODEL = 5
    """The model seed of an inner fold's CNNs (one more part: the inner fold)."""
    SYNTHETIC = 8
    """The synthetic lesions a GAN arm adds in a (repeat, fold) (one more part: the GAN kind's position)."""
    GAN_FOLD = 7
    """The seed of a fold's GANs: ``derive(gan_run_seed, fold, Stream.GAN_FOLD)`` (no repeat part)."""
    OUTER_FOLDS = 12
    """The patient-level outer folds of repeat r > 0: ``derive(seed, r, Stream.OUTER_FOLDS)`` (repeat 0 keeps notebook
    01's folds, drawn with the run seed itself)."""
    FOLD_CHECK = 13
    """The fresh samples notebook 05 draws from a (repeat, fold)'s GANs to show how varied they are:
    ``derive(seed, repeat, fold, Stream.FOLD_CHECK)``."""
    GAN_REPEAT = 11
    """The GAN run seed of repeat r > 0, when GANs are retrained per repeat: ``derive(seed, r, Stream.GAN_REPEAT)``
    (repeat 0 uses the run seed itself, so its GANs are the ones a single-repeat profile trains)."""


class GanStream(IntEnum):
    """The random streams inside one GAN's training and sampling: ``derive(gan_seed, GanStream.X [+ class])``."""

    TRAINING = 0
    """Data order, training noise and fake labels, drawn epoch by epoch."""
    FIXED_NOISE = 1
    """The fixed noise of the progress grid and the collapse ratio, and the real images it is compared with."""
    SAMPLES = 2
    """Sampling from a trained generator: class k of ``class_names`` uses ``SAMPLES + k``."""


def derive(seed: int, *parts: int) -> int:
    """One 32-bit seed from the run's seed and the parts that name a stream (repeat, fold, :class:`Stream`, ...)."""
    return int(np.random.SeedSequence([int(seed), *(int(p) for p in parts)]).generate_state(1)[0])


def check_seed(seed: Any) -> int:
    """``seed`` as an int when it is a seed every generator of the kit takes: an integer (not a bool) from 0 to
    :data:`SEED_MAX` (2**32 - 1, numpy's legacy global seed's limit); a LiverkitError otherwise.

    Args:
        seed: the run's seed (``--seed``, a notebook's ``seed`` parameter).
    """
    if not (isinstance(seed, int | np.integer) and not isinstance(seed, bool) and 0 <= seed <= SEED_MAX):
        raise LiverkitError(
            f"seed must be an integer from 0 to {SEED_MAX} (2**32 - 1), got {seed!r}; pass e.g. --seed 0."
        )
    return int(seed)
