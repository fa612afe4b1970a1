"""Checkers for notebook 03 (DCGAN) and notebook 04 (ACGAN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.experiment.synthesis import collapse_table
from liverkit.kit.exercises.verdict import Verdict, judge, unless_right, within
from liverkit.train.gan_records import TrainedGAN

CHART_RESOLUTION = 0.01
"""Differences of collapse ratios below this cannot be read off the collapse chart: such values count as tied."""


# ---------------------------------------------------------------------------------------------- notebook 03
def check_03_least_varied_class(run: RunFolder, answer: Any = None) -> str:
    """Notebook 03, exercise 2: which class's DCGANs end training with the lowest collapse ratio?"""
    ratios = run.read_metrics("03_dcgan")["collapse_ratio_by_class"]
    low = min(ratios.values())
    # the chart cannot tell 0.8005 from 0.8006: every class within its resolution of the lowest is a right answer
    lowest = within(ratios, low, CHART_RESOLUTION)
    tied = f" (within {CHART_RESOLUTION} of it, so as low on the chart: {', '.join(lowest)})" if len(lowest) > 1 else ""
    highest = max(ratios, key=ratios.get)
    mistakes = [(highest, "That class has the highest ratio: the most varied samples. Least varied is lowest.")]
    verdict = Verdict(
        question="which class's DCGANs end training with the lowest collapse ratio (least varied samples), "
        "averaged over the folds?",
        truth=lowest,
        kind="name",
        names=tuple(ratios),
        why=f"Its ratio is {low:.3f}{tied} (1 = as varied as the real lesions); look at its samples in the epoch "
        "scrubber: do they repeat each other?",
        hint="in the mode-collapse chart, read each class's ratio at the last epoch and average it over the folds, "
        "or print run.read_metrics('03_dcgan').",
        mistakes=unless_right(mistakes, lowest, "name"),
    )
    return judge(answer, verdict)


def check_03_most_varied_epoch(
    trained: Mapping[int, Mapping[str, TrainedGAN]], answer: Any = None, fold: int = 0, class_name: str | None = None
) -> str:
    """Notebook 03, exercise 4: in which epoch was the collapse ratio of fold ``fold``'s DCGAN for ``class_name``
    (default: the first class) highest?

    Args:
        trained: the notebook's ``trained``: ``{fold: {class name: TrainedGAN}}``.
    """
    return _most_varied_epoch(trained, answer, fold, class_name, "DCGAN")


# ---------------------------------------------------------------------------------------------- notebook 04
def check_04_class_head_accuracy(gan: TrainedGAN | Mapping[str, TrainedGAN], answer: Any = None) -> str:
    """Notebook 04, exercise 2: how often did the ACGAN's class head name the class of a generated image in its
    last epoch (``acc_fake``, averaged over that epoch's steps, rounded to 2 decimals)?

    Args:
        gan: the ACGAN (a TrainedGAN), or a fold's ``{class name: TrainedGAN}`` such as ``trained[0]``.
    """
    gan = next(iter(gan.values())) if isinstance(gan, Mapping) else gan
    history = gan.history
    if "acc_fake" not in history.columns or history.empty:
        raise LiverkitError("this GAN has no class head accuracy (acc_fake): pass an ACGAN from notebook 04.")
    last = history[history.epoch == history.epoch.max()]
    truth = float(last.acc_fake.mean())
    chance = 1 / len(gan.class_names)
    mistakes = [
        (
            float(last.acc_real.mean()),
            "That is acc_real, the class head on real images; the question asks about generated ones (acc_fake).",
        ),
        (float(history.acc_fake.mean()), "That is the mean over every epoch; take the last epoch's steps only."),
        (float(history.acc_fake.iloc[-1]), "That is the last step alone; average over all steps of the last epoch."),
        (
            float(history[history.epoch == history.epoch.min()].acc_fake.mean()),
            "That is the first epoch's mean; the question asks about the last epoch.",
        ),
    ]
    verdict = Verdict(
        question="in its last epoch, how often did the ACGAN's class head name the right class of a generated "
        "image (acc_fake, averaged over the epoch's steps, rounded to 2 decimals)?",
        truth=truth,
        kind="decimal2",
        why=f"Chance with {len(gan.class_names)} classes is {chance:.2f}: "
        + ("the generated images carry their class." if truth > chance else "the class does not show (yet)."),
        hint="the table of epoch means under the training curves has an acc_fake column, one row per epoch; the "
        "`history` table holds every step's value, with an `epoch` column.",
        mistakes=unless_right(mistakes, truth, "decimal2"),
    )
    return judge(answer, verdict)


def check_04_most_varied_epoch(
    trained: Mapping[int, Mapping[str, TrainedGAN]], answer: Any = None, fold: int = 0, class_name: str | None = None
) -> str:
    """Notebook 04, exercise 4: in which epoch was the collapse ratio of fold ``fold``'s ACGAN samples of
    ``class_name`` (default: the first class) highest?

    Args:
        trained: the notebook's ``trained``: ``{fold: {class name: TrainedGAN}}`` (one ACGAN under every class).
    """
    return _most_varied_epoch(trained, answer, fold, class_name, "ACGAN")


# ---------------------------------------------------------------------------------------------- shared
def _most_varied_epoch(
    trained: Mapping[int, Mapping[str, TrainedGAN]], answer: Any, fold: int, class_name: str | None, what: str
) -> str:
    """The epoch (from 1) whose collapse ratio is highest for one fold and class; ties within the chart's reading."""
    if fold not in trained:
        raise LiverkitError(f"there is no fold {fold} in these GANs; the folds are {sorted(trained)}.")
    table = collapse_table({fold: dict(trained[fold])})
    names = list(dict.fromkeys(table["class"]))
    name = names[0] if class_name is None else class_name
    if name not in names:
        raise LiverkitError(f"class_name {name!r} is not one of these GANs' classes {names}.")
    ratios = table[table["class"] == name].set_index("epoch")["ratio"]
    ratio = {int(e): float(r) for e, r in ratios.items()}
    top = max(ratio.values())
    truth = within(ratio, top, CHART_RESOLUTION)
    last = max(ratio)
    mistakes = [
        (min(ratio, key=ratio.get), "That is the epoch where its ratio was lowest: the least varied samples."),
        (last, "That is the last epoch, and the ratio was higher before it: the variety did not keep growing."),
    ]
    mistakes += [(e - 1, "Epochs count from 1, as on the chart's x axis.") for e in truth if e - 1 >= 1]
    end = (
        "and it was still there at the end"
        if last in truth
        else f"and it ended lower, at {ratio[last]:.2f}: variety fell again in the last epochs"
    )
    verdict = Verdict(
        question=f"in which epoch was the collapse ratio of fold {fold}'s {what} samples of class {name!r} highest?",
        truth=truth,
        kind="count",
        why=f"It peaked at {top:.2f} (epochs within {CHART_RESOLUTION} of the peak count as tied) {end}. The ratio "
        "measures variety, not realism: check in the epoch scrubber whether the samples still looked better at "
        "the end.",
        hint=f"in the mode-collapse chart, follow fold {fold}'s line of class {name!r} (dash style = fold) and find "
        "its highest point.",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)
