"""Fold-safe lesion synthesis (notebooks 03 and 04): each fold's GANs see only that fold's training group.

As in the paper, the GANs of a fold are trained on the classic-augmentation group chosen for that fold (notebook
02's ``classic_choice`` table), rebuilt from the same pool and order the chosen CNN was trained on. The functions
here take the whole LesionSet and the folds, and hand the GAN trainers only the fold's training subset, so no
test patient can reach a GAN; the patients each GAN saw are recorded in its checkpoint and checked here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from liverkit import augment
from liverkit.augment import AugmentConfig
from liverkit.data.folds import check_disjoint, split
from liverkit.data.lesionset import LesionSet
from liverkit.env import use_fused
from liverkit.errors import LiverkitError
from liverkit.protocol import outer_pool
from liverkit.runs import RunFolder
from liverkit.seeds import Stream, derive
from liverkit.train.fused_gan import GANJob, train_acgans_fused, train_dcgans_fused
from liverkit.train.gan import GANConfig, TrainedGAN, build_gan, class_folders, sample, train_acgan, train_dcgans

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
        lesions, fold_of: all lesions and their patient-level folds (notebook 01).
        fold: the test fold; its lesions are left out before anything is augmented.
        size, aug, seed, repeat: the group size, augmentation settings, run seed and repeat of the CNN-AUG sweep.
    """
    train, test = split(lesions, fold_of, fold)
    plan, order = outer_pool(train, aug, seed, repeat, fold)
    group = augment.make_group(train, plan, order, size, device)
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
) -> dict[int, dict[str, TrainedGAN]]:
    """Train the GANs of every fold on that fold's chosen classic group; resumes from checkpoints in ``run``.

    Args:
        kind: ``"dcgan"`` (one model per class) or ``"acgan"`` (one model for all classes).
        choice: the chosen group per (repeat, fold) (columns ``fold``, ``group`` and optionally ``repeat``).
        config: the GAN's architecture and schedule (``config.kind`` must equal ``kind``).
        repeat: which repeat's chosen group (and pool) the GANs learn from; repeats other than 0 get their own
            seeds and folders (:func:`gan_folder`).
        fused: ``Profile.fused``: ``"auto"`` (fused on CUDA only), ``"on"`` or ``"off"``. Fused, all models of
            this call (every fold's per-class DCGANs, or every fold's ACGAN) train as one network
            (:mod:`liverkit.train.fused_gan`): the same seeds, files and models up to float rounding.

    Returns:
        ``{fold: {class name: TrainedGAN}}``; for an ACGAN every class maps to the same model.
    """
    _check_kind(kind)  # before any group is rendered
    fuse = use_fused(fused, device)
    trained, pending = {}, {}
    for fold, size in _chosen_sizes(choice, fold_of, repeat).items():
        group = fold_training_group(lesions, fold_of, fold, size, aug, seed, repeat=repeat, device=device)
        out_dir = gan_folder(run, kind, fold, repeat)
        gan_seed = seed if repeat == 0 else derive(seed, repeat, Stream.GAN_REPEAT)
        if fuse:
            pending[fold] = (group, out_dir, _fold_seed(gan_seed, fold))
            continue
        trained[fold] = _train_one_fold(kind, group, config, out_dir, gan_seed, fold, device, progress)
        _check_fold(kind, lesions, fold_of, fold, trained[fold])
    if fuse:
        trained = _train_folds_fused(kind, pending, config, device, progress)
        for fold, gans in trained.items():
            _check_fold(kind, lesions, fold_of, fold, gans)
    return trained


def _fold_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s GAN(s) (every class's DCGAN uses the same one, as :func:`train_dcgans` does)."""
    return derive(seed, fold, Stream.GAN_FOLD)


def _train_one_fold(kind, group, config, out_dir, seed, fold, device, progress) -> dict[str, TrainedGAN]:
    common = {"out_dir": out_dir, "seed": _fold_seed(seed, fold), "device": device, "resume": True}
    if kind == "dcgan":
        return train_dcgans(group, config, progress=progress, **common)
    return dict.fromkeys(group.class_names, train_acgan(group, config, progress=progress, **common))


def _train_folds_fused(kind, pending, config, device, progress) -> dict[int, dict[str, TrainedGAN]]:
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
    for (fold, names), gan in zip(owners, train(jobs, config, device, progress), strict=True):
        trained[fold].update(dict.fromkeys(names, gan))
    return trained


def _check_fold(kind: str, lesions: LesionSet, fold_of: np.ndarray, fold: int, gans: dict[str, TrainedGAN]) -> None:
    """The leak check: no test patient of ``fold`` is among the patients its GAN(s) recorded."""
    _, test = split(lesions, fold_of, fold)
    for gan in _distinct(gans):
        check_disjoint(gan.data["patient_ids"], test.patient_ids, f"the {kind} of fold {fold} and its test fold", _BUG)


def _chosen_sizes(choice: pd.DataFrame, fold_of: np.ndarray, repeat: int = 0) -> dict[int, int]:
    """{fold: chosen group size} from notebook 02's choice table (one repeat), for every fold in ``fold_of``."""
    missing = {"fold", "group"} - set(choice.columns)
    if missing:
        raise LiverkitError(f"the classic choice table lacks column(s) {sorted(missing)}; rerun notebook 02.")
    rows = choice[choice.repeat == repeat] if "repeat" in choice.columns else choice
    sizes = {int(f): int(g) for f, g in zip(rows.fold, rows.group, strict=True)}
    folds = sorted(set(np.asarray(fold_of).tolist()))
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


def load_choice(run: RunFolder) -> pd.DataFrame:
    """Notebook 02's chosen classic group per fold (the GANs' training data)."""
    if not run.artifact("classic_choice.csv").is_file():
        raise LiverkitError(
            f"{run.artifact('classic_choice.csv')} is missing: run notebook 02 (classic augmentation) on this run "
            "folder first; the GANs train on the classic group it chooses for each fold."
        )
    return run.load_table("classic_choice")


def training_data_table(
    lesions: LesionSet, fold_of: np.ndarray, choice: pd.DataFrame, aug: AugmentConfig, seed: int
) -> pd.DataFrame:
    """Per fold: the chosen group, its images per class, its patients, and how many of them are test patients
    (always 0: the GANs never see a test patient)."""
    rows = []
    for fold, size in _chosen_sizes(choice, fold_of).items():
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
        path = run.save_lesionset(f"synthetic_{kind}_fold{fold}", synthetic)
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
