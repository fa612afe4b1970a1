"""Lesion synthesis (notebooks 03 and 04): train each fold's GANs on that fold's training group, and sample them.

As in the paper, the GANs of a fold are trained on the classic-augmentation group chosen for that fold (notebook
02's ``classic_choice`` table), rebuilt from the same pool and order the chosen CNN was trained on. The functions
here take the whole LesionSet and the folds, and hand the GAN trainers only the fold's training subset, so no
test patient can reach a GAN; the patients each GAN saw are recorded in its checkpoint and checked here.
:func:`sample` draws synthetic lesions from trained or loaded generators as a LesionSet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from liverkit.augment import classic
from liverkit.augment.classic import AugmentConfig
from liverkit.data.folds import check_disjoint, split
from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.experiment.protocol import outer_pool, repeat_folds
from liverkit.experiment.run_folder import RunFolder
from liverkit.experiment.worker_pool import affordable_workers, run_in_processes
from liverkit.nets.acgan import ACGANGenerator
from liverkit.nets.dcgan import DCGANGenerator
from liverkit.seeds import GanStream, Stream, derive
from liverkit.train.checkpoints import SavedGenerator
from liverkit.train.fused_check import use_fused
from liverkit.train.fused_gan import GANJob, train_acgans_fused, train_dcgans_fused
from liverkit.train.gan import class_folders, generate, to_unit, train_acgan, train_dcgans, uniform_noise
from liverkit.train.gan_config import GANConfig, TrainOptions, build_gan, is_int
from liverkit.train.gan_records import TrainedGAN

GAN_KINDS = ("dcgan", "acgan")
_BUG = "this cannot happen through split(); it is a bug, please report it."


def fold_training_group(
    lesions: LesionSet,
    fold_of: np.ndarray,
    fold: int,
    size: int,
    aug: AugmentConfig,
    seed: int,
    repeat: int = 0,
    device: str | torch.device = "cpu",
) -> LesionSet:
    """The classic group of ``size`` samples that fold ``fold``'s outer CNN was trained on (0: the original ROIs).

    Args:
        lesions, fold_of: all lesions and notebook 01's patient-level folds (repeat r > 0 uses its own,
            :func:`~liverkit.experiment.protocol.repeat_folds`).
        fold: the test fold; its lesions are left out before anything is augmented.
        size, aug, seed, repeat: the group size, augmentation settings, run seed and repeat of the CNN-AUG sweep.
    """
    train, test = split(lesions, repeat_folds(lesions, fold_of, seed, repeat), fold)
    plan, order = outer_pool(train, aug, seed, repeat, fold)
    group = classic.make_group(train, plan, order, size, device)
    check_disjoint(group.patients, test.patient_ids, f"fold {fold}'s training group and its test fold", _BUG)
    return group


def gan_folder(run: RunFolder, kind: str, fold: int, repeat: int = 0) -> Path:
    """Where the GAN(s) of ``kind`` for (repeat, fold) keep their checkpoints, samples and generators.

    Repeat 0's are ``gans/<kind>/fold<k>`` (the ones notebooks 06-08 show); a profile that retrains the GANs per
    repeat puts the others in ``gans/<kind>/r<repeat>/fold<k>``.
    """
    _check_kind(kind)
    base = run.artifact("gans") / kind
    return base / f"fold{fold}" if repeat == 0 else base / f"r{repeat}" / f"fold{fold}"


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise LiverkitError(f"unknown GAN kind '{kind}'; use one of {list(GAN_KINDS)}.")


def train_fold_gans(
    kind: str,
    lesions: LesionSet,
    fold_of: np.ndarray,
    choice: pd.DataFrame,
    aug: AugmentConfig,
    config: GANConfig,
    run: RunFolder,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    repeat: int = 0,
    fused: str = "auto",
    group: int | None = None,
) -> dict[int, dict[str, TrainedGAN]]:
    """Train the GANs of every fold of one repeat on that fold's classic group; resumes from checkpoints in ``run``.

    Args:
        kind: ``"dcgan"`` (one model per class) or ``"acgan"`` (one model for all classes).
        fold_of: notebook 01's folds; repeat r > 0 trains on its own outer folds
            (:func:`~liverkit.experiment.protocol.repeat_folds`), as the sweeps test on them.
        choice: the chosen group per (repeat, fold) (columns ``fold``, ``group`` and optionally ``repeat``).
        config: the GAN's architecture and schedule (``config.kind`` must equal ``kind``).
        repeat: which repeat's folds, chosen group (and pool) the GANs learn from; repeats other than 0 get their
            own seeds and folders (:func:`gan_folder`).
        fused: ``Profile.fused``: ``"auto"`` (fused on CUDA only), ``"on"`` or ``"off"``. Fused, all models of
            this call (every fold's per-class DCGANs, or every fold's ACGAN) train as one network
            (:mod:`liverkit.train.fused_gan`): the same seeds, files and models up to float rounding.
        group: one classic group size for every fold's GANs (``Profile.gan_group``); None: each fold's chosen group.

    Returns:
        ``{fold: {class name: TrainedGAN}}``; for an ACGAN every class maps to the same model.
    """
    _check_kind(kind)  # before any group is rendered
    folds_r = repeat_folds(lesions, fold_of, seed, repeat)  # the repeat's own outer folds
    options = TrainOptions(device=device, resume=True, progress=progress)
    plan = _fold_plan(kind, run, choice, folds_r, seed, repeat, group)
    if use_fused(fused, device):
        pending = {
            f: (fold_training_group(lesions, fold_of, f, size, aug, seed, repeat, device), out, s)
            for f, (size, out, s) in plan.items()
        }
        trained = _train_folds_fused(kind, pending, config, options)
    else:
        trained = {
            f: _train_one_fold(
                kind, fold_training_group(lesions, fold_of, f, size, aug, seed, repeat, device), config, out, s, options
            )
            for f, (size, out, s) in plan.items()
        }
    for fold, gans in trained.items():
        _check_fold(kind, lesions, folds_r, fold, gans)
    return trained


def _fold_plan(kind, run, choice, fold_of, seed, repeat, group) -> dict[int, tuple[int, Path, int]]:
    """{fold: (classic group size, output folder, GAN seed)} of one repeat's GANs."""
    gan_seed = seed if repeat == 0 else derive(seed, repeat, Stream.GAN_REPEAT)
    return {
        fold: (size, gan_folder(run, kind, fold, repeat), _fold_seed(gan_seed, fold))
        for fold, size in gan_groups(choice, fold_of, repeat, group).items()
    }


def train_gans(
    kind: str,
    lesions: LesionSet,
    fold_of: np.ndarray,
    choice: pd.DataFrame,
    aug: AugmentConfig,
    config: GANConfig,
    run: RunFolder,
    seed: int,
    repeats: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    fused: str = "auto",
    group: int | None = None,
    workers: int = 1,
) -> dict[int, dict[int, dict[str, TrainedGAN]]]:
    """Every repeat's GANs (each repeat has its own folds), as ``{repeat: {fold: {class name: TrainedGAN}}}``.

    Each (repeat, fold) is :func:`train_fold_gans`'s work for one fold; with ``workers`` > 1 on the CPU (and not
    fused) they run side by side in that many processes of one thread each, which trains small GANs faster than
    one process with as many threads. Every model has its own seed and folder, so the models are those of
    one-by-one training up to float rounding (one thread sums in another order than several).

    Args:
        repeats: how many repeats train GANs (``Profile.repeats``).
        workers: processes for the CPU (``Profile.workers``), fewer where memory is short
            (:func:`liverkit.experiment.worker_pool.affordable_workers`); 1 trains in this process.
        (The others as :func:`train_fold_gans`.)
    """
    _check_kind(kind)
    common = (kind, lesions, fold_of, choice, aug, config, run, seed)
    on_cpu = not use_fused(fused, device) and resolve_device(device).type == "cpu"
    workers = affordable_workers(workers) if on_cpu else 1
    if workers <= 1:
        return {
            r: train_fold_gans(*common, device, progress, repeat=r, fused=fused, group=group) for r in range(repeats)
        }
    folds = {r: repeat_folds(lesions, fold_of, seed, r) for r in range(repeats)}
    jobs = {}
    for r in range(repeats):
        for f, (size, out, gan_seed) in _fold_plan(kind, run, choice, folds[r], seed, r, group).items():
            jobs[r, f] = (kind, lesions, fold_of, f, size, aug, config, seed, r, out, gan_seed)
    trained = run_in_processes(_train_fold_job, jobs, workers, f"{kind.upper()}s, (repeat, fold)", progress)
    for (r, f), gans in trained.items():
        _check_fold(kind, lesions, folds[r], f, gans)
    return {r: {f: gans for (rr, f), gans in sorted(trained.items()) if rr == r} for r in range(repeats)}


def _train_fold_job(
    kind, lesions, fold_of, fold, size, aug, config, seed, repeat, out_dir, gan_seed
) -> dict[str, TrainedGAN]:
    """One (repeat, fold)'s GAN(s) in a worker process: its classic group rebuilt there, then trained on the CPU."""
    group = fold_training_group(lesions, fold_of, fold, size, aug, seed, repeat)
    options = TrainOptions(device="cpu", resume=True, progress=False)
    return _train_one_fold(kind, group, config, out_dir, gan_seed, options)


def _fold_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s GAN(s) (every class's DCGAN uses the same one, as :func:`train_dcgans` does)."""
    return derive(seed, fold, Stream.GAN_FOLD)


def _train_one_fold(kind, group, config, out_dir, seed, options: TrainOptions) -> dict[str, TrainedGAN]:
    if kind == "dcgan":
        return train_dcgans(group, config, out_dir=out_dir, seed=seed, options=options)
    return dict.fromkeys(group.class_names, train_acgan(group, config, out_dir=out_dir, seed=seed, options=options))


def _train_folds_fused(kind, pending, config, options: TrainOptions) -> dict[int, dict[str, TrainedGAN]]:
    """Every fold's GAN(s) as one fused job list; ``pending`` is {fold: (group, out_dir, seed)}. The jobs, folders
    and seeds are those of :func:`_train_one_fold` (a DCGAN per class in ``out_dir / class_folders(...)``)."""
    jobs, owners = [], []
    for fold, (group, out_dir, seed) in pending.items():
        if kind == "dcgan":
            folders = class_folders(group.class_names)
            for name in group.class_names:
                jobs.append(GANJob(group.by_class(name), (name,), out_dir / folders[name], seed))
                owners.append((fold, (name,)))
        else:
            jobs.append(GANJob(group, group.class_names, out_dir, seed))
            owners.append((fold, group.class_names))
    train = train_dcgans_fused if kind == "dcgan" else train_acgans_fused
    trained: dict[int, dict[str, TrainedGAN]] = {fold: {} for fold in pending}
    for (fold, names), gan in zip(owners, train(jobs, config, options), strict=True):
        trained[fold].update(dict.fromkeys(names, gan))
    return trained


def _check_fold(kind: str, lesions: LesionSet, fold_of: np.ndarray, fold: int, gans: dict[str, TrainedGAN]) -> None:
    """The leak check: no test patient of ``fold`` is among the patients its GAN(s) recorded."""
    _, test = split(lesions, fold_of, fold)
    for gan in _distinct(gans):
        check_disjoint(gan.data["patient_ids"], test.patient_ids, f"the {kind} of fold {fold} and its test fold", _BUG)


def gan_groups(choice: pd.DataFrame, fold_of: np.ndarray, repeat: int = 0, fixed: int | None = None) -> dict[int, int]:
    """{fold: classic group size} the GANs of one repeat learn from: ``fixed`` for every fold
    (``Profile.gan_group``), or else each fold's chosen group from notebook 02's choice table."""
    missing = {"fold", "group"} - set(choice.columns)
    if missing:
        raise LiverkitError(f"the classic choice table lacks column(s) {sorted(missing)}; rerun notebook 02.")
    rows = choice[choice.repeat == repeat] if "repeat" in choice.columns else choice
    sizes = {int(f): int(g) for f, g in zip(rows.fold, rows.group, strict=True)}
    folds = sorted(set(np.asarray(fold_of).tolist()))
    if fixed is not None:
        return dict.fromkeys(folds, int(fixed))
    absent = [f for f in folds if f not in sizes]
    if absent:
        raise LiverkitError(f"the classic choice table has no group for fold(s) {absent}; rerun notebook 02.")
    return {f: sizes[f] for f in folds}


def training_table(trained: dict[int, dict[str, TrainedGAN]]) -> pd.DataFrame:
    """One row per trained model: fold, class(es), training images and patients, epochs, time, speed, and the
    last epoch's mean D(x), D(G(z)) and collapse ratio."""
    rows = []
    for fold, gans in trained.items():
        for gan in _distinct(gans):
            last_epoch = gan.history[gan.history.epoch == gan.history.epoch.max()]
            rows.append(
                {
                    "fold": fold,
                    "classes": "/".join(gan.class_names),
                    "images": gan.data["n_images"],
                    "patients": len(gan.data["patient_ids"]),
                    "epochs": gan.epochs_trained,
                    "steps": int(gan.history.step.max()) if len(gan.history) else 0,
                    "seconds": round(gan.seconds, 1),
                    "images_per_s": round(gan.images_per_second),
                    "d_real": round(float(last_epoch.d_real.mean()), 3),
                    "d_fake": round(float(last_epoch.d_fake.mean()), 3),
                    "collapse_ratio": round(float(gan.collapse.iloc[-1].mean()), 3),
                }
            )
    return pd.DataFrame(rows)


def repeats_table(by_repeat: dict[int, dict[int, dict[str, TrainedGAN]]], config: GANConfig) -> pd.DataFrame:
    """:func:`training_table` of every repeat, with a ``repeat`` column and whether each model trained at least
    ``config.trusted_steps`` (``trusted``: None where no floor is known)."""
    table = pd.concat([training_table(trained).assign(repeat=r) for r, trained in by_repeat.items()], ignore_index=True)
    floor = config.trusted_steps
    table["trusted"] = None if floor is None else table.steps >= floor
    return table[["repeat", *[c for c in table.columns if c != "repeat"]]]


def fold_samples(gans: dict[str, TrainedGAN], class_names: tuple[str, ...], n_per_class: int, seed: int) -> LesionSet:
    """``n_per_class`` synthetic lesions per class from one fold's GAN(s), labelled in the real set's class order."""
    distinct = _distinct(gans)
    if len(distinct) == 1 and distinct[0].source == "acgan":
        return sample(distinct[0], n_per_class, seed=seed, class_names=class_names)
    return sample(gans, n_per_class, seed=seed, class_names=class_names)


def _distinct(gans: dict[str, TrainedGAN]) -> list[TrainedGAN]:
    """The distinct models of a fold (an ACGAN appears once, not once per class)."""
    return list({id(g): g for g in gans.values()}.values())


def history_table(trained: dict[int, dict[str, TrainedGAN]], fold: int) -> pd.DataFrame:
    """The per-step history of fold ``fold``'s model(s), with a ``model`` column naming the class(es)."""
    parts = [g.history.assign(model="/".join(g.class_names)) for g in _distinct(trained[fold])]
    return pd.concat(parts, ignore_index=True)


def collapse_table(trained: dict[int, dict[str, TrainedGAN]]) -> pd.DataFrame:
    """Collapse ratio per fold, class and epoch, in long form (columns fold, class, epoch, ratio)."""
    parts = []
    for fold, gans in trained.items():
        for gan in _distinct(gans):
            long = gan.collapse.reset_index().melt(id_vars="epoch", var_name="class", value_name="ratio")
            parts.append(long.assign(fold=fold))
    return pd.concat(parts, ignore_index=True)[["fold", "class", "epoch", "ratio"]]


def training_data_table(
    lesions: LesionSet,
    fold_of: np.ndarray,
    choice: pd.DataFrame,
    aug: AugmentConfig,
    seed: int,
    group: int | None = None,
) -> pd.DataFrame:
    """Per fold of repeat 0: the GANs' classic group (``group``, or the fold's chosen one), its images per class,
    its patients, and how many of them are test patients (always 0: the GANs never see a test patient)."""
    rows = []
    for fold, size in gan_groups(choice, fold_of, fixed=group).items():
        group = fold_training_group(lesions, fold_of, fold, size, aug, seed)
        _, test = split(lesions, fold_of, fold)
        overlap = len(set(group.patient_ids.tolist()) & set(test.patient_ids.tolist()))
        rows.append(
            {
                "fold": fold,
                "classic_group": size,
                **group.class_counts(),
                "training_patients": len(group.patients),
                "test_patients": len(test.patients),
                "test_patients_in_gan_data": overlap,
            }
        )
    return pd.DataFrame(rows)


def size_table(configs: dict[str, GANConfig], n_classes: int) -> pd.DataFrame:
    """Parameters of the generator and discriminator for each named config (e.g. this profile's and the paper's)."""
    rows = []
    for name, config in configs.items():
        generator, discriminator = build_gan(config, n_classes)
        rows.append(
            {
                "nets": name,
                "g_width": config.g_width,
                "d_width": config.d_width,
                "generator_parameters": _count(generator),
                "discriminator_parameters": _count(discriminator),
                "epochs": config.epochs,
                "max_steps": config.max_steps,
            }
        )
    return pd.DataFrame(rows)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


SAMPLES_FILE = "synthetic_{kind}_fold{fold}"
"""A fold's synthetic lesions of one GAN kind (``artifacts/<name>.npz``), read by notebooks 05-08."""


def samples_file(kind: str) -> str:
    """The run-folder path of ``kind``'s synthetic lesions, ``{fold}`` standing for every fold."""
    return f"artifacts/{SAMPLES_FILE.format(kind=kind, fold='{fold}')}.npz"


def load_fold_samples(run: RunFolder, kind: str, fold: int) -> LesionSet:
    """The synthetic lesions :func:`save_fold_samples` kept for ``kind`` (``"dcgan"``/``"acgan"``) and ``fold``."""
    return run.load_lesionset(SAMPLES_FILE.format(kind=kind, fold=fold))


def save_fold_samples(
    run: RunFolder,
    kind: str,
    trained: dict[int, dict[str, TrainedGAN]],
    class_names: tuple[str, ...],
    n_per_class: int,
    seed: int,
) -> pd.DataFrame:
    """Draw ``n_per_class`` synthetic lesions per class from every fold's GAN(s) and save them to the run folder
    as ``synthetic_<kind>_fold<k>``; returns what was saved."""
    rows = []
    for fold, gans in trained.items():
        synthetic = fold_samples(gans, class_names, n_per_class, seed)
        path = run.save_lesionset(SAMPLES_FILE.format(kind=kind, fold=fold), synthetic)
        rows.append({"fold": fold, "images": len(synthetic), **synthetic.class_counts(), "file": path.name})
    return pd.DataFrame(rows)


def key_numbers(trained: dict[int, dict[str, TrainedGAN]], table: pd.DataFrame) -> dict:
    """The numbers notebooks 03 and 04 record: models, time, speed, last-epoch D outputs and collapse ratios."""
    collapse = collapse_table(trained)
    last = collapse[collapse.epoch == collapse.groupby(["fold", "class"]).epoch.transform("max")]
    return {
        "models": len(table),
        "training_seconds": round(float(table.seconds.sum()), 1),
        "images_per_second": round(float(table.images_per_s.mean()), 1),
        "d_real_last_epoch": round(float(table.d_real.mean()), 4),
        "d_fake_last_epoch": round(float(table.d_fake.mean()), 4),
        "collapse_ratio_by_class": {c: round(float(v), 4) for c, v in last.groupby("class").ratio.mean().items()},
    }


# ---------------------------------------------------------------------------------------------- sampling
def sample(
    gans: Mapping[str, TrainedGAN | SavedGenerator | nn.Module] | TrainedGAN | SavedGenerator | nn.Module,
    n_per_class: int | Mapping[str, int],
    *,
    seed: int,
    class_names: tuple[str, ...] | list[str] | None = None,
    batch_size: int = 256,
) -> LesionSet:
    """Synthetic lesions as a LesionSet, ready to concatenate with the real training set (notebooks 03-05).

    Images are the generators' tanh output mapped to [0, 1] (clamped), drawn in eval mode and fp32. Each item
    is its own synthetic patient, ``synthetic-<source>-<class>-s<seed>-<i>``, which no real id looks like;
    diameters are unknown (NaN) and ``sources`` is the generator's name (``"dcgan"`` or ``"acgan"``).

    Args:
        gans: ``{class name: DCGAN}`` (each a TrainedGAN, SavedGenerator or DCGANGenerator), or one ACGAN
            (a TrainedGAN or SavedGenerator; a bare ACGANGenerator needs ``class_names`` in its label order).
        n_per_class: images per class: one count for every class the generators know, or ``{class name: n}``
            (classes left out get none).
        seed: the noise; the same seed gives the same images. Each class draws from its own noise stream, so
            a larger count with the same seed extends a smaller one (up to float rounding): synthetic groups of
            growing size are nested.
        class_names: the real set's class list, so that labels index into it; defaults to the generators' classes.
        batch_size: images per generator call (memory only: in eval mode an image depends only on its noise).
    """
    if not is_int(seed, minimum=0):
        raise LiverkitError(f"seed must be a non-negative integer, got {seed!r}.")
    generators = _generators_by_class(gans, class_names)
    names = tuple(str(c) for c in class_names) if class_names is not None else tuple(generators)
    outside = [name for name in generators if name not in names]
    if outside:
        raise LiverkitError(f"the generators' classes {outside} are not in class_names {list(names)}.")
    counts = _counts(n_per_class, generators)
    parts = []
    for name in names:
        if counts.get(name, 0) > 0:
            module, class_index, source = generators[name]
            rng = torch.Generator().manual_seed(derive(int(seed), GanStream.SAMPLES + names.index(name)))
            images = _draw(module, class_index, counts[name], rng, batch_size)
            parts.append((name, source, images))
    return _synthetic_set(parts, names, int(seed))


def _unwrap(gan: object) -> tuple[nn.Module, str, tuple[str, ...] | None]:
    """(generator module, source name, class names or None) of a TrainedGAN, SavedGenerator or bare generator."""
    if isinstance(gan, (TrainedGAN, SavedGenerator)):
        return gan.generator, gan.source, tuple(gan.class_names)
    if isinstance(gan, (DCGANGenerator, ACGANGenerator)):
        return gan, "acgan" if isinstance(gan, ACGANGenerator) else "dcgan", None
    raise LiverkitError(
        f"cannot sample from a {type(gan).__name__}; pass a TrainedGAN, a SavedGenerator (load_generator) or a "
        "DCGANGenerator / ACGANGenerator."
    )


def _generators_by_class(gans, class_names) -> dict[str, tuple[nn.Module, int | None, str]]:
    """{class name: (generator, ACGAN class index or None, source)} for a dict of DCGANs or one ACGAN."""
    if isinstance(gans, Mapping):
        out = {}
        for name, gan in gans.items():
            module, source, trained_on = _unwrap(gan)
            if not isinstance(module, DCGANGenerator):
                raise LiverkitError("a dict of generators must hold DCGANs; pass an ACGAN on its own, not in a dict.")
            if trained_on is not None and trained_on != (str(name),):
                raise LiverkitError(f"the DCGAN under key '{name}' was trained on class {list(trained_on)}.")
            out[str(name)] = (module, None, source)
        return out
    module, source, trained_on = _unwrap(gans)
    if not isinstance(module, ACGANGenerator):
        raise LiverkitError("a single DCGAN does not say its class; pass {class_name: gan} instead.")
    order = trained_on if trained_on is not None else class_names
    if order is None or len(order) != module.n_classes:
        raise LiverkitError(
            f"a bare ACGANGenerator needs class_names, its {module.n_classes} classes in label order; got {order!r}."
        )
    return {str(name): (module, k, source) for k, name in enumerate(order)}


def _counts(n_per_class: int | Mapping[str, int], known: Mapping) -> dict[str, int]:
    """Images per class, checked: counts are integers >= 0 and every named class has a generator."""
    counts = dict(n_per_class) if isinstance(n_per_class, Mapping) else dict.fromkeys(known, n_per_class)
    unknown = [name for name in counts if name not in known]
    if unknown:
        raise LiverkitError(f"no generator for class(es) {unknown}; the generators know {list(known)}.")
    bad = {name: n for name, n in counts.items() if not is_int(n, minimum=0)}
    if bad:
        raise LiverkitError(f"n_per_class must be integers >= 0, got {bad}.")
    return {name: int(n) for name, n in counts.items()}


@torch.no_grad()
def _draw(module: nn.Module, class_index: int | None, n: int, rng: torch.Generator, batch_size: int) -> np.ndarray:
    """``n`` images N x 1 x 64 x 64 in [0, 1] from ``module`` in eval mode (its training mode is restored after)."""
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    z = uniform_noise((n, module.z_dim), rng)  # n x z_dim
    chunks = [
        to_unit(generate(module, z[i : i + batch_size].to(device), class_index)).cpu() for i in range(0, n, batch_size)
    ]
    module.train(was_training)
    return torch.cat(chunks).numpy()


def _synthetic_set(parts: list[tuple[str, str, np.ndarray]], class_names: tuple[str, ...], seed: int) -> LesionSet:
    """A LesionSet of generated images: one synthetic patient per image, unknown diameters."""
    images, labels, sources, ids = [np.zeros((0, 1, 64, 64), np.float32)], [], [], []
    for name, source, drawn in parts:
        images.append(drawn)
        labels += [class_names.index(name)] * len(drawn)
        sources += [source] * len(drawn)
        ids += [f"synthetic-{source}-{name}-s{seed}-{i:05d}" for i in range(len(drawn))]
    return LesionSet(
        images=np.concatenate(images),
        labels=np.asarray(labels, np.int64),
        class_names=class_names,
        patient_ids=ids,
        diameters_mm=np.full(len(ids), np.nan, np.float32),
        ids=ids,
        sources=np.asarray(sources, dtype=str),
    )
