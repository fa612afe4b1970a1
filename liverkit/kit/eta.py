"""Overall progress of a run: each notebook's counted work under the profile, and the time left at the speed so far."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from liverkit.kit.profiles import Profile

KERNEL_WORK = 10_000.0
"""Work units of starting a kernel and importing the kit (about 5 s at the quick demo's speed on two CPU cores)."""
LIGHT_WORK = 30_000.0
"""Work units of a notebook without training loops (data, feature maps, quality, Turing test)."""
GAN_IMAGE_WORK = {"dcgan": 4.0, "acgan": 8.0}
"""Work units of one image through one GAN step at generator width 64 (measured beside the CNN on the quick demo:
03 took 180 s for 86,400 images, 04 162 s for 38,400, 02 76 s for 147,000 CNN image-epochs); cost grows as the
square of the generator's width."""

REFERENCE_SPEED = 2_000.0
"""Work units per second, for a first guess before anything of this run has been timed: the quick demo's speed on
two cores of an AVX-512 CPU (02: 147,000 image-epochs in 76 s; :data:`KERNEL_WORK`'s 5 s). An AVX2-only CPU ran the
same demo :data:`SLOWEST_SEEN` times slower, so the guess is a range (:func:`rough_duration`)."""
SLOWEST_SEEN = 2.7
"""How much slower than :data:`REFERENCE_SPEED` the slowest 2-core machine seen so far ran the quick demo."""


def rough_duration(work: float) -> str:
    """``roughly 4-11 min on 2 CPU cores``: ``work`` at :data:`REFERENCE_SPEED` and :data:`SLOWEST_SEEN` times slower.

    Only a guide before the kit has timed anything on the machine at hand (a GPU or more cores are faster).
    """
    fastest = work / REFERENCE_SPEED
    slowest = fastest * SLOWEST_SEEN
    if slowest < 60:
        return "under a minute on 2 CPU cores"
    return f"roughly {max(1, round(fastest / 60))}-{math.ceil(slowest / 60)} min on 2 CPU cores"


def notebook_work(stem: str, profile: Profile, n_lesions: int, n_classes: int) -> float:
    """The counted work of one notebook under ``profile``, in CNN image-epochs (one image through one epoch).

    Only for the progress line: the time left is this work divided by the speed measured so far, so only the
    ratios between notebooks matter. CNN sweeps: trainings x epochs x training images (02: every classic group,
    outer and inner, and group 0 trained as many steps as the largest group; 05: the classic model and the three
    added arms at every synthetic size, on the largest classic group). GANs: models x steps x batch x
    :data:`GAN_IMAGE_WORK`. Training work is shared by ``profile.workers`` processes side by side. Other
    notebooks, and notebooks that are not the kit's: :data:`LIGHT_WORK`. Every notebook adds :data:`KERNEL_WORK`.
    """
    name = stem.split("_", 1)[-1]
    splits = profile.repeats * profile.n_folds
    n_train = n_lesions * (profile.n_folds - 1) / profile.n_folds
    group = max(profile.classic_groups) or n_train  # group 0 trains on the original lesions only
    epochs = profile.classifier.epochs
    if name == "classic_augmentation":
        images = sum(g or n_train for g in profile.classic_groups)
        clf = profile.classifier
        matched = clf.steps_for(int(group)) / math.ceil(n_train / clf.batch_size)  # group 0's epochs at those steps
        step_matched = splits * math.ceil(matched) * n_train if matched > epochs else 0.0
        sweep = splits * (1 + profile.inner_folds) * epochs * images + step_matched
        return KERNEL_WORK + sweep / profile.workers
    if name == "gan_augmentation":
        added = sum(3 * (group + size * n_classes) for size in profile.synthetic_sizes)
        return KERNEL_WORK + splits * epochs * (group + (1 + profile.inner_folds) * added) / profile.workers
    if name in ("dcgan", "acgan"):
        gan = profile.dcgan if name == "dcgan" else profile.acgan
        models = profile.n_folds * profile.repeats * (n_classes if name == "dcgan" else 1)
        gan_group = group if profile.gan_group is None else profile.gan_group or n_train
        steps = gan.total_steps(int(gan_group / n_classes if name == "dcgan" else gan_group))
        cost = GAN_IMAGE_WORK[name] * (gan.g_width / 64) ** 2
        return KERNEL_WORK + models * steps * gan.batch_size * cost / profile.workers
    return KERNEL_WORK + LIGHT_WORK


def rebuild_work(steps: list[str] | tuple[str, ...], profile: Profile, n_lesions: int, n_classes: int) -> float:
    """The counted work of earlier steps that a notebook rebuilds in its own kernel (:func:`notebook_work` without
    their kernel starts: the rebuilding notebook's kernel is already running)."""
    return sum(notebook_work(step, profile, n_lesions, n_classes) - KERNEL_WORK for step in steps)


@dataclass
class Eta:
    """Overall progress and time left of a run, from each notebook's counted work and the speed measured so far.

    Args:
        work: the counted work of each notebook that will run (:func:`notebook_work`), in run order.
        clock: seconds from any origin (a fake clock in the tests).
    """

    work: dict[str, float]
    clock: Callable[[], float] = time.monotonic
    done: list[str] = field(default_factory=list)
    seconds_done: float = 0.0
    current: str | None = None
    started: float = 0.0
    first_start: float | None = None

    def start(self, stem: str) -> None:
        self.current, self.started = stem, self.clock()
        self.first_start = self.started if self.first_start is None else self.first_start

    def finish(self, stem: str) -> None:
        self.seconds_done += self.clock() - self.started
        self.done.append(stem)
        self.current = None

    def estimate(self) -> tuple[float, float | None]:
        """(fraction of the work done, seconds left); seconds left is None until a notebook has finished."""
        total = sum(self.work.values()) or 1.0
        done = sum(self.work[s] for s in self.done)
        if not self.done or self.seconds_done <= 0:
            return done / total, None
        speed = done / self.seconds_done
        in_current = 0.0
        if self.current is not None:
            in_current = min((self.clock() - self.started) * speed, self.work[self.current])
        left = total - done - in_current
        return (done + in_current) / total, left / speed

    def line(self) -> str:
        """``3 of 6 notebooks done, 41% of the work, 4m12s elapsed, about 6m left``; before the first notebook has
        finished, the time left is a range (:func:`rough_duration`)."""
        fraction, left = self.estimate()
        elapsed = 0.0 if self.first_start is None else self.clock() - self.first_start
        if left is None:  # nothing timed yet on this machine: a first guess from the reference speed
            eta = f"time left: not measured yet, {rough_duration(sum(self.work.values()) * (1 - fraction))}"
        else:
            eta = f"about {_duration(left)} left"
        return (
            f"{len(self.done)} of {len(self.work)} notebooks done, {fraction:.0%} of the work, "
            f"{_duration(elapsed)} elapsed, {eta}"
        )


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
