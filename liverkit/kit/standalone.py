"""Start at any notebook: build what the earlier notebooks would have left in the run folder (every notebook's
first cells after its parameters call :func:`prepare`).

Each notebook reads what earlier ones wrote into the run folder (lesions and folds, notebook 02's sweep tables and
chosen groups, the GANs and their samples, the experiment's CNNs). A notebook opened in an empty run folder (Colab,
Binder, a student who starts at 05) would stop at its first read. :func:`prepare` runs, for every earlier step the
notebook needs whose outputs are missing, the same library calls as that notebook's cells, with the same arguments,
seeds and order, so the artifacts are bitwise the ones the full chain of notebooks writes; it saves them and records
the same ``metrics/<notebook>.json``. Interactive cells (plots, widgets, exercises) are left out: they change nothing.

Which files prove a step done is one table, :data:`DONE_WHEN`; which steps a notebook needs is another,
:data:`NEEDS` (notebook 06's feature maps and 07's quality numbers are read by no later notebook, so they are never
built here).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from liverkit.augment import invariance
from liverkit.data import folds, load
from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device, seed_everything
from liverkit.errors import LiverkitError
from liverkit.experiment import classic_sweep, gan_sweep, gan_verdict, null_check, synthesis
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit.eta import rebuild_work, rough_duration
from liverkit.kit.profiles import Profile
from liverkit.story import NEEDS, NOTEBOOKS

DONE_WHEN: dict[str, tuple[str, ...]] = {
    "01_data": (f"artifacts/{classic_sweep.LESIONS_FILE}.npz", f"artifacts/{classic_sweep.FOLDS_FILE}.npy"),
    "02_classic_augmentation": classic_sweep.sweep_files(),
    "03_dcgan": ("artifacts/gans/dcgan/{gan}/*/generator.pt", synthesis.samples_file("dcgan")),
    "04_acgan": ("artifacts/gans/acgan/{gan}/generator.pt", synthesis.samples_file("acgan")),
    "05_gan_augmentation": gan_sweep.sweep_files(),
}
"""Files (glob patterns in the run folder) that prove a step done, besides its ``metrics/<step>.json``. ``{fold}``
stands for every fold; ``{gan}`` for every GAN folder, ``fold<k>`` (repeat 0) and ``r<r>/fold<k>``."""

WHAT = {
    "01_data": "lesion set and fold split",
    "02_classic_augmentation": "classic sweep",
    "03_dcgan": "DCGAN training",
    "04_acgan": "ACGAN training",
    "05_gan_augmentation": "CNN-AUG-GAN sweep",
}
"""How the messages name what each step builds."""

RESUMES = ("03_dcgan", "04_acgan", "05_gan_augmentation")
"""Steps whose finished models are kept in the run folder (checkpoints, sweep caches) and reused on a rebuild."""


def notebook_name(notebook: str) -> str:
    """The full name of a notebook given as ``"05"``, ``"5"``, ``"05_gan_augmentation"`` or a path to it."""
    key = str(notebook).replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".ipynb")
    matches = [name for name in NOTEBOOKS if key == name or (key.isdigit() and name[:2] == key.zfill(2))]
    if not matches:
        raise LiverkitError(f"no notebook '{notebook}'; use a number 01-08 or one of {list(NOTEBOOKS)}.")
    return matches[0]


def missing(run: RunFolder, step: str, cfg: Profile) -> list[str]:
    """The files of ``step`` (see :data:`DONE_WHEN`) not in ``run``, as patterns relative to the run folder."""
    return [pattern for pattern in _patterns(step, cfg) if next(run.path.glob(pattern), None) is None]


def _patterns(step: str, cfg: Profile) -> list[str]:
    """Every file ``step`` leaves: its metrics record and its :data:`DONE_WHEN` templates, expanded."""
    return [f"metrics/{step}.json", *(pattern for t in DONE_WHEN[step] for pattern in _expand(t, cfg))]


def _expand(template: str, cfg: Profile) -> list[str]:
    """A :data:`DONE_WHEN` template as one pattern per fold or per GAN folder."""
    fold_numbers = range(cfg.n_folds)
    if "{gan}" in template:
        places = [f"fold{f}" if r == 0 else f"r{r}/fold{f}" for r in range(cfg.repeats) for f in fold_numbers]
        return [template.format(gan=place) for place in places]
    if "{fold}" in template:
        return [template.format(fold=f) for f in fold_numbers]
    return [template]


def prepare(
    run: RunFolder,
    notebook: str,
    cfg: Profile,
    data: str,
    seed: int,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> list[str]:
    """Build, in story order, every earlier step that ``notebook`` needs and ``run`` lacks; say what and why.

    Args:
        run: the run folder the notebook works in.
        notebook: the notebook about to run, e.g. ``"05_gan_augmentation"`` or ``"05"``.
        cfg, data, seed, device: the notebook's profile (resolved, overrides applied) and parameters.
        progress: show progress bars while training.

    Returns:
        The steps built (empty when everything was there).
    """
    name = notebook_name(notebook)
    todo = [(step, gaps) for step in NEEDS[name] if (gaps := missing(run, step, cfg))]
    if not todo:
        needed = f"notebooks {NEEDS[name][0][:2]}-{NEEDS[name][-1][:2]}" if NEEDS[name] else "nothing before it"
        print(f"run folder '{run.path}' has everything notebook {name[:2]} needs ({needed}).")
        return []
    device = resolve_device(device)
    print(_plan_line(name, [step for step, _ in todo]), flush=True)
    for i, (step, gaps) in enumerate(todo):
        if step != "01_data" and (i == 0 or todo[i - 1][0] == "01_data"):  # the training steps start here
            print(_time_guess(run, [s for s, _ in todo[i:]], cfg), flush=True)
        print(_announce(run, step, gaps, cfg), flush=True)
        start = time.perf_counter()
        seed_everything(seed)  # as the step's own notebook does in its setup cell
        BUILDERS[step](run, cfg, data, seed, device, progress)
        print(f"notebook {step[:2]}'s {WHAT[step]}: done in {time.perf_counter() - start:.0f} s.", flush=True)
    seed_everything(seed)  # leave the global seeds as the calling notebook's setup cell left them
    return [step for step, _ in todo]


def _plan_line(name: str, steps: list[str]) -> str:
    """What a notebook opened in a folder without its predecessors' results builds first, and how."""
    needed = NEEDS[name]
    which = "none" if len(steps) == len(needed) else f"not all ({len(needed) - len(steps)} of {len(needed)} there)"
    return (
        f"notebook {name[:2]} reads what notebooks {needed[0][:2]}-{needed[-1][:2]} leave in the run folder, and this "
        f"folder has {which} of it: building notebooks {', '.join(s[:2] for s in steps)} first, with the same library "
        "steps and seeds as those notebooks (their figures and exercises are left out), then this notebook's own."
    )


def _time_guess(run: RunFolder, steps: list[str], cfg: Profile) -> str:
    """The work of the training ``steps`` still to build, in models and as a rough time (:func:`eta.rough_duration`);
    called once the lesion set is in the run folder (its size sets the work)."""
    lesions = run.load_lesionset(classic_sweep.LESIONS_FILE)
    work = rebuild_work(steps, cfg, len(lesions), len(lesions.class_names))
    models = sum(model_count(s, cfg, run) for s in steps)
    return (
        f"to build: notebooks {', '.join(s[:2] for s in steps)}, about {models} models, {rough_duration(work)} "
        "(a first guess from the quick demo's speed; a GPU or more cores are faster)."
    )


def _announce(run: RunFolder, step: str, gaps: list[str], cfg: Profile) -> str:
    """One line: what is missing and what is built now, with its size in models."""
    whole = len(gaps) == len(_patterns(step, cfg))
    where = "is not in this run folder" if whole else f"is incomplete here ({_gap_text(gaps)})"
    count = model_count(step, cfg, run)
    size = f" (about {count} models{'' if whole or step not in RESUMES else '; finished ones are reused'})"
    size = size if count else ""
    return f"notebook {step[:2]}'s {WHAT[step]} {where}: building it now{size}."


def _gap_text(gaps: list[str]) -> str:
    more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
    return f"'{gaps[0]}'{more} missing"


def model_count(step: str, cfg: Profile, run: RunFolder) -> int:
    """How many models ``step`` trains (the messages' "about N models"): its notebook's loops, counted."""
    outer = cfg.repeats * cfg.n_folds  # (repeat, fold) pairs
    if step == "02_classic_augmentation":
        return outer * len(cfg.classic_groups) * (1 + cfg.inner_folds)
    if step == "03_dcgan":
        return cfg.repeats * cfg.n_folds * len(run.load_lesionset(classic_sweep.LESIONS_FILE).class_names)
    if step == "04_acgan":
        return cfg.repeats * cfg.n_folds
    if step == "05_gan_augmentation":
        sizes = len(cfg.synthetic_sizes)
        inner = cfg.inner_folds if sizes > 1 else 0
        return outer * (1 + (len(gan_sweep.ARMS) - 1) * sizes * (1 + inner))
    return 0


# ---------------------------------------------------------------------------------------------- the steps
def data_key_numbers(lesions: LesionSet, fold_of: np.ndarray, data: str) -> dict:
    """The numbers notebook 01 records: sizes, class counts, fold sizes, the patient-level and duplicate checks, the
    fingerprint."""
    table = folds.fold_table(lesions, fold_of)
    return {
        "n_lesions": len(lesions),
        "n_patients": len(lesions.patients),
        "class_counts": lesions.class_counts(),
        "fold_sizes": table["lesions"].tolist(),
        "patients_in_several_folds": len(folds.patients_in_several_folds(lesions, fold_of)),
        "duplicate_groups": len(folds.duplicates_report(lesions, fold_of)),
        "fingerprint": lesions.fingerprint(),
        "data": data,
    }


def build_01_data(run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool) -> None:
    """Notebook 01: load the data, split it by patient, save both and record the data's numbers."""
    lesions = load(data, seed=seed)
    fold_of = folds.patient_folds(lesions, k=cfg.n_folds, seed=seed)
    classic_sweep.save_data(run, lesions, fold_of)
    run.record_metrics("01_data", data_key_numbers(lesions, fold_of, data))


def build_02_classic(run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool) -> None:
    """Notebook 02: the CNN-AUG sweep, its tables, the chosen group per (repeat, fold) and its key numbers."""
    lesions, fold_of = classic_sweep.load_data(run, data, seed, cfg.n_folds)
    cue = invariance.orientation_check(lesions, fold_of, cfg.augment, seed=seed)
    sweep = classic_sweep.run_classic_sweep(
        lesions,
        fold_of,
        cfg.classic_groups,
        cfg.augment,
        cfg.classifier,
        seed=seed,
        repeats=cfg.repeats,
        device=device,
        inner_folds=cfg.inner_folds,
        progress=progress,
        fused=cfg.fused,
        run=run,
        workers=cfg.workers,
    )
    table = classic_sweep.sweep_table(sweep)
    matched = classic_sweep.run_step_matched(
        sweep,
        lesions,
        fold_of,
        cfg.augment,
        cfg.classifier,
        seed=seed,
        device=device,
        progress=progress,
        fused=cfg.fused,
        run=run,
        workers=cfg.workers,
    )
    matched_table = classic_sweep.step_matched_table(sweep, matched)
    choices = {mode: classic_sweep.choose_groups(sweep, mode) for mode in ("honest", "paper")}
    results = classic_sweep.results_table(sweep)
    classic_sweep.save_sweep(run, sweep, choices[cfg.selection])
    metrics = classic_sweep.classic_key_numbers(sweep, results, table, choices)
    metrics |= invariance.orientation_metrics(cue)
    metrics |= classic_sweep.step_matched_numbers(matched_table)
    run.record_metrics("02_classic_augmentation", metrics)


def _build_gans(
    kind: str, run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool
) -> None:
    """Notebooks 03 and 04: every fold's GAN(s) on its chosen group (and per repeat), samples saved, numbers kept."""
    config = cfg.dcgan if kind == "dcgan" else cfg.acgan
    lesions, fold_of = classic_sweep.load_data(run, data, seed, cfg.n_folds)
    choice = classic_sweep.load_choice(run)
    args = (kind, lesions, fold_of, choice, cfg.augment, config, run, seed, cfg.repeats, device, progress)
    by_repeat = synthesis.train_gans(*args, fused=cfg.fused, group=cfg.gan_group, workers=cfg.workers)
    trained = by_repeat[0]  # the notebook shows repeat 0's GANs; notebook 05 uses every repeat's
    table = synthesis.training_table(trained)
    synthesis.save_fold_samples(run, kind, trained, lesions.class_names, cfg.gan_samples_per_class, seed)
    run.record_metrics("03_dcgan" if kind == "dcgan" else "04_acgan", synthesis.key_numbers(trained, table))


def build_03_dcgan(run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool) -> None:
    """Notebook 03: one DCGAN per class and fold."""
    _build_gans("dcgan", run, cfg, data, seed, device, progress)


def build_04_acgan(run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool) -> None:
    """Notebook 04: one ACGAN per fold."""
    _build_gans("acgan", run, cfg, data, seed, device, progress)


def build_05_gan_augmentation(
    run: RunFolder, cfg: Profile, data: str, seed: int, device: torch.device, progress: bool
) -> None:
    """Notebook 05: every arm's CNNs (the chosen ones saved for 06 and 07), its tables and its key numbers."""
    lesions, fold_of = classic_sweep.load_data(run, data, seed, cfg.n_folds)
    classic = classic_sweep.load_sweep(run, lesions.class_names)  # read back from the tables, as notebook 05 does
    choice = classic_sweep.load_choice(run)
    gans = gan_sweep.load_all_gans(run, fold_of, device, cfg.repeats)
    settings = gan_sweep.SweepSettings(
        sizes=cfg.synthetic_sizes,
        aug=cfg.augment,
        clf=cfg.classifier,
        seed=seed,
        inner_folds=cfg.inner_folds,
        data_fingerprint=lesions.fingerprint(),
    )
    sweep = gan_sweep.run_gan_sweep(
        lesions,
        fold_of,
        choice,
        gans,
        settings,
        cfg.repeats,
        device,
        run,
        progress,
        fused=cfg.fused,
        workers=cfg.workers,
    )
    no_augmentation = classic.predictions[classic.predictions.group == 0]
    results = gan_verdict.results_table(sweep, no_augmentation)
    comparisons = gan_verdict.compare(sweep)
    gan_table = gan_verdict.gan_fold_table(sweep, comparisons, gans, lesions, fold_of, seed)
    null = null_check.null_table(sweep, "dcgan", n_sims=cfg.null_sims, seed=seed)
    gan_sweep.save_sweep(run, sweep)
    numbers = gan_verdict.key_numbers(sweep, results, comparisons, gan_table) | {
        "null_check": null_check.key_numbers(null)
    }
    run.record_metrics("05_gan_augmentation", numbers)


BUILDERS: dict[str, Callable[..., None]] = {
    "01_data": build_01_data,
    "02_classic_augmentation": build_02_classic,
    "03_dcgan": build_03_dcgan,
    "04_acgan": build_04_acgan,
    "05_gan_augmentation": build_05_gan_augmentation,
}
"""The step function of every notebook whose outputs a later notebook reads."""
