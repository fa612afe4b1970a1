"""The synthetic-augmentation experiment (CNN-AUG-GAN, notebook 05): training and testing every arm.

For every repeat and patient-level fold, the CNN is trained on the fold's chosen classic group (notebook 02) plus
{100, 500, ...} lesions per class of one kind, and tested on the fold's real test lesions only. The arms:

- ``classic``: the chosen classic group alone;
- ``classic_control``: the same group plus as many *extra classic variants* per class (drawn from the same
  augmentation pool, beyond the group) as a GAN arm adds synthetic lesions: the same-size control that answers
  "is a GAN lesion worth more than one more classically augmented one?";
- ``dcgan`` / ``acgan``: the group plus synthetic lesions from that fold's GANs (notebooks 03 and 04).

One budget rule for all: every model trains ``ClassifierConfig.epochs`` full passes over its own training set, so
an added image never takes a pass away from the classic group that all arms share. Common random numbers: within
a (repeat, fold) every model has the same seed (initial weights, dropout, order generator) and the same classic
pool and group; arms differ only in what is added. The added size per arm is chosen per (repeat, fold) by the
honest inner cross-validation of notebook 02 (every inner fold held out once; arms alike), or on the test folds
(``paper``, optimistic; :mod:`liverkit.gan_results` reads both).

Caveat of the honest choice: the GANs were trained on the whole training fold, inner validation patients included,
so their samples may resemble the validation lesions; this can only favour the GAN arms in the choice. The test
fold stays untouched either way.

Every finished model is cached in the run folder (``gan_sweep_r<repeat>_f<fold>.json``, written atomically after
each model), so a rerun skips it and an interrupted run resumes; a cache made with other settings is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from liverkit import augment
from liverkit.augment import AugmentConfig
from liverkit.data.folds import split
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment import _seed, inner_pool, inner_scores, inner_splits, model_seed, outer_pool
from liverkit.io import reading, write_json
from liverkit.progress import tqdm
from liverkit.runs import RunFolder
from liverkit.synthesis import GAN_KINDS, fold_samples, gan_folder
from liverkit.train.classifier import ClassifierConfig, config_dict, predict, save_classifier, train_classifier
from liverkit.train.gan import load_dcgans, load_generator

CONTROL = "classic_control"
"""The same-size control arm: the classic group plus extra classic variants instead of synthetic lesions."""
ARMS = ("classic", CONTROL, *GAN_KINDS)
"""Every arm of the sweep; all but ``classic`` add ``synthetic`` images per class to the classic group."""


@dataclass
class GanSweep:
    """What the CNN-AUG-GAN sweep produced: tidy tables, one row per test prediction / inner score / model."""

    predictions: pd.DataFrame
    """repeat, fold, arm, synthetic (added per class), classic_group, index, id, patient, y_true, y_pred."""
    inner: pd.DataFrame
    """repeat, fold, inner_fold, arm, synthetic, val_correct, val_lesions: the honest choice's inner scores."""
    timing: pd.DataFrame
    """repeat, fold, arm, synthetic, stage (outer/inner), inner_fold (-1 for outer models), seconds, training_images,
    shared_images (the classic group's size), epochs, steps."""
    class_names: tuple[str, ...]
    sizes: tuple[int, ...]
    """Images per class added on top of the classic group (synthetic, or extra classic for the control)."""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSettings:
    """Everything that decides a sweep's models; a cache made with other settings is refused."""

    sizes: tuple[int, ...]
    aug: AugmentConfig
    clf: ClassifierConfig
    seed: int
    inner_folds: int
    data_fingerprint: str
    gan_repeats: int = 1
    """Repeats with GANs of their own (1: repeat 0's GANs serve every repeat); see ``Profile.gan_repeats``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", check_sizes(self.sizes))  # checked and sorted once, here

    def record(self) -> dict[str, Any]:
        return json.loads(json.dumps({
            "sizes": list(self.sizes), "augment": self.aug.__dict__, "classifier": config_dict(self.clf),
            "seed": self.seed, "inner_folds": self.inner_folds, "data_fingerprint": self.data_fingerprint,
            "gan_repeats": self.gan_repeats,
        }))  # fmt: skip


def load_fold_gans(run: RunFolder, kind: str, fold: int, device: str | torch.device = "cpu", repeat: int = 0):
    """Fold ``fold``'s generator(s) of ``kind`` (of ``repeat``, for profiles that retrain the GANs per repeat) from
    the run folder (notebook 03 or 04 writes them), as ``{class name: generator}`` (an ACGAN under every name)."""
    folder = gan_folder(run, kind, fold, repeat)
    if not folder.is_dir():
        raise LiverkitError(
            f"'{folder}' is missing: run notebook {'03' if kind == 'dcgan' else '04'} ({kind}) on this run folder "
            "first; the experiment adds that fold's synthetic lesions."
        )
    if kind == "dcgan":
        return load_dcgans(folder, device)
    acgan = load_generator(folder / "generator.pt", device)
    return dict.fromkeys(acgan.class_names, acgan)  # one model for every class, as train_fold_gans returns it


def load_all_gans(
    run: RunFolder,
    fold_of: np.ndarray,
    device: str | torch.device = "cpu",
    gan_repeats: int = 1,
    kinds: tuple[str, ...] = GAN_KINDS,
) -> dict[str, dict]:
    """``{kind: {fold: generators}}`` for the GAN kinds and every fold, as :func:`run_gan_sweep` takes them;
    with ``gan_repeats`` > 1, ``{kind: {(repeat, fold): generators}}`` (GANs retrained per repeat)."""
    folds = sorted(set(np.asarray(fold_of).tolist()))
    if gan_repeats <= 1:
        return {kind: {f: load_fold_gans(run, kind, f, device) for f in folds} for kind in kinds}
    keys = [(r, f) for r in range(gan_repeats) for f in folds]
    return {kind: {(r, f): load_fold_gans(run, kind, f, device, r) for r, f in keys} for kind in kinds}


def fold_generators(gans: dict[str, dict], kind: str, repeat: int, fold: int):
    """The generators of (repeat, fold): retrained per repeat when keyed by (repeat, fold), else shared by fold."""
    per_kind = gans[kind]
    return per_kind[(repeat, fold)] if (repeat, fold) in per_kind else per_kind[fold]


def check_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Synthetic sizes per class, sorted; each a positive integer (0, the classic arm, is always added)."""
    bad = [s for s in sizes if not isinstance(s, (int, np.integer)) or s <= 0]
    if not sizes or bad:
        raise LiverkitError(f"synthetic sizes must be positive integers per class, got {list(sizes)}.")
    return tuple(sorted(int(s) for s in sizes))


def run_gan_sweep(
    lesions: LesionSet,
    fold_of: np.ndarray,
    choice: pd.DataFrame,
    gans: dict[str, dict[int, Any]],
    settings: SweepSettings,
    repeats: int = 1,
    device: str | torch.device = "cpu",
    run: RunFolder | None = None,
    progress: bool = True,
) -> GanSweep:
    """Train and test the CNN of every (repeat, fold, arm, size): classic, the same-size control, each GAN kind.

    Args:
        lesions, fold_of: all real lesions and their patient-level folds (notebook 01).
        choice: the chosen classic group per (repeat, fold) (notebook 02's ``classic_choice``; a repeat missing
            from it uses repeat 0's group).
        gans: ``{kind: {fold: generators}}`` (shared by all repeats) or ``{kind: {(repeat, fold): generators}}``
            (retrained per repeat), as :func:`load_all_gans` returns them.
        settings: sizes, augmentation, classifier, seed and inner folds (see :class:`SweepSettings`).
        repeats: independent repetitions (new pools, inner splits, samples and seeds; the same for all arms).
        run: where finished models are cached and the chosen models saved; None keeps nothing.
    """
    folds = sorted(set(np.asarray(fold_of).tolist()))
    _check_gans(gans, folds, repeats)
    added_arms = 1 + len(gans)
    inner = settings.inner_folds if len(settings.sizes) > 1 else 0
    per_fold = 1 + added_arms * len(settings.sizes) * (1 + inner)
    bar = tqdm(total=repeats * len(folds) * per_fold, desc="CNN-AUG-GAN sweep", disable=not progress)
    records = []
    for r in range(repeats):
        for f in folds:
            group = _classic_size(choice, r, f)
            cache = _Cache(run, r, f, settings, group)
            records += _one_fold(lesions, fold_of, r, f, group, gans, settings, device, cache, bar)
    bar.close()
    return _collect(records, lesions, settings)


def _check_gans(gans: dict[str, dict], folds: list[int], repeats: int) -> None:
    unknown = [k for k in gans if k not in GAN_KINDS]
    if unknown or not gans:
        raise LiverkitError(f"GAN kinds must be among {list(GAN_KINDS)}, got {list(gans)}.")
    for kind, per_fold in gans.items():
        missing = [f for f in folds for r in range(repeats) if f not in per_fold and (r, f) not in per_fold]
        if missing:
            raise LiverkitError(
                f"no {kind} generators for fold(s) {sorted(set(missing))}; train them in notebook 03/04 first."
            )


def _classic_size(choice: pd.DataFrame, repeat: int, fold: int) -> int:
    rows = choice[choice.fold == fold]
    if "repeat" in rows:
        rows = rows[rows.repeat == (repeat if (rows.repeat == repeat).any() else 0)]
    if rows.empty:
        raise LiverkitError(f"the classic choice table has no group for fold {fold}; rerun notebook 02.")
    return int(rows.group.iloc[0])


# ---------------------------------------------------------------------------------------------- one fold
@dataclass
class _Split:
    """One training set's classic group and what each added arm may add to it, and the lesions it is judged on."""

    classic: LesionSet
    added: dict[str, LesionSet]
    """Per added arm, ``max(sizes)`` images per class; the first ``n`` per class are size ``n`` (nested)."""
    judged: LesionSet
    index: np.ndarray | None
    """Positions of the judged lesions in the full LesionSet (test lesions); None for inner validation."""
    model_seed: int


def control_variants(
    train: LesionSet, plan, order: np.ndarray, group_size: int, per_class: int, device: str | torch.device = "cpu"
) -> LesionSet:
    """The control arm's extra classic variants: the first ``per_class`` of every class in the pool's nested order
    after the classic group (for group 0, the originals, from the start), so they never repeat a group member.

    Args:
        train, plan, order: the training lesions and the pool the classic group was cut from.
        group_size: the classic group's size (0 = the original ROIs).
        per_class: variants per class (the largest added size).
    """
    rest = order[group_size:]
    labels = train.labels[plan.parent[rest]]
    picks = [rest[labels == k][:per_class] for k in range(len(train.class_names))]
    short = [train.class_names[k] for k, p in enumerate(picks) if len(p) < per_class]
    if short:
        raise LiverkitError(
            f"the augmentation pool has fewer than {per_class} unused variants of class(es) {short} for the control "
            "arm; use smaller synthetic sizes or more rotations (AugmentConfig.n_rot)."
        )
    chosen = np.concatenate(picks)
    return augment.make_group(train, plan, chosen, len(chosen), device)  # in pool order within each class: nested


def _splits(lesions, fold_of, r, f, group_size, synthetic, settings, device) -> list[_Split]:
    """The outer split (test lesions) then every inner split, each with its classic group and added images."""
    train, test = split(lesions, fold_of, f)
    seed, top = settings.seed, max(settings.sizes)
    plan, order = outer_pool(train, settings.aug, seed, r, f)
    added = {CONTROL: control_variants(train, plan, order, group_size, top, device), **synthetic}
    classic = augment.make_group(train, plan, order, group_size, device)
    out = [_Split(classic, added, test, np.flatnonzero(np.asarray(fold_of) == f), model_seed(seed, r, f))]
    if len(settings.sizes) == 1:  # one size: nothing to choose, no inner models
        return out
    for k, (inner_train, inner_val) in enumerate(inner_splits(train, settings.inner_folds, seed, r, f)):
        plan_k, order_k = inner_pool(inner_train, settings.aug, seed, r, f, k)
        added_k = {CONTROL: control_variants(inner_train, plan_k, order_k, group_size, top, device), **synthetic}
        classic_k = augment.make_group(inner_train, plan_k, order_k, group_size, device)
        out.append(_Split(classic_k, added_k, inner_val, None, model_seed(seed, r, f, k)))
    return out


def first_per_class(synthetic: LesionSet, n: int) -> LesionSet:
    """The first ``n`` lesions of every class (a smaller group is inside every larger one)."""
    rank = np.zeros(len(synthetic), dtype=np.int64)
    for k in range(len(synthetic.class_names)):
        members = np.flatnonzero(synthetic.labels == k)
        rank[members] = np.arange(len(members))
    return synthetic.subset(np.flatnonzero(rank < n))


def _one_fold(lesions, fold_of, r, f, group_size, gans, settings, device, cache, bar) -> list[dict]:
    """Inner models first (they decide which models are saved), then the outer models; cached ones are skipped."""
    seed, sizes = settings.seed, settings.sizes
    synthetic = {
        kind: fold_samples(fold_generators(gans, kind, r, f), lesions.class_names, max(sizes), _seed(seed, r, f, 8, k))
        for k, kind in enumerate(gans)
    }
    outer, *inner = _splits(lesions, fold_of, r, f, group_size, synthetic, settings, device)
    records = []
    for k, part in enumerate(inner):
        for arm, images in part.added.items():
            for s in sizes:
                train = LesionSet.concat([part.classic, first_per_class(images, s)])
                job = (arm, s, f"inner{k}", part.model_seed, len(part.classic))
                records.append(_job(cache, job, train, part.judged, None, settings, device, None, bar))
    chosen = _honest_sizes(records) if records else dict.fromkeys(outer.added, sizes[0])
    save = {"classic": 0, **chosen} if r == 0 and cache.run is not None else {}
    job = ("classic", 0, "outer", outer.model_seed, len(outer.classic))
    records.append(_job(cache, job, outer.classic, outer.judged, outer.index, settings, device, save, bar))
    for arm, images in outer.added.items():
        for s in sizes:
            train = LesionSet.concat([outer.classic, first_per_class(images, s)])
            job = (arm, s, "outer", outer.model_seed, len(outer.classic))
            records.append(_job(cache, job, train, outer.judged, outer.index, settings, device, save, bar))
    return [{**rec, "repeat": r, "fold": f, "classic_group": group_size} for rec in records]


def _job(cache, job, train, judged, index, settings, device, save, bar) -> dict:
    """Train one CNN (or take it from the cache) and score it: inner-validation counts or test predictions."""
    arm, size, stage, seed, shared = job
    key = f"{arm}-{size}-{stage}"
    model_file = cache.model_path(arm) if save and save.get(arm) == size and stage == "outer" else None
    record = cache.get(key)
    if record is None or (model_file is not None and not model_file.is_file()):
        _check_no_overlap(train, judged, key)
        trained = train_classifier(train, settings.clf, seed=seed, device=device)
        y_pred = predict(trained.model, judged, device)
        record = {"arm": arm, "synthetic": size, "stage": stage, "seconds": round(trained.seconds, 3),
                  "training_images": len(train), "shared_images": shared}  # fmt: skip
        if stage == "outer":
            record |= {"index": [int(i) for i in index], "y_pred": [int(p) for p in y_pred]}
        else:
            record |= {"val_correct": int((y_pred == judged.labels).sum()), "val_lesions": len(judged)}
        if model_file is not None:
            save_classifier(trained.model, settings.clf, train.class_names, model_file)
        cache.put(key, record)
    bar.update()
    return record


def _check_no_overlap(train: LesionSet, judged: LesionSet, what: str) -> None:
    """A guard: the lesions a model is judged on never share a patient with its training data."""
    shared = set(train.patient_ids.tolist()) & set(judged.patient_ids.tolist())
    if shared:  # cannot happen through split(); kept for future callers
        raise LiverkitError(f"patients {sorted(shared)[:3]} are in both the training and the judged data of {what}.")


def _honest_sizes(inner_records: list[dict]) -> dict[str, int]:
    """Per added arm, the size with the best accuracy over all inner validation lesions (ties: the smaller)."""
    scores = inner_scores(pd.DataFrame(inner_records))  # the same pooled score as notebook 02's choice
    ranked = scores.sort_values(["arm", "val_accuracy", "synthetic"], ascending=[True, False, True])
    return {arm: int(part.synthetic.iloc[0]) for arm, part in ranked.groupby("arm")}


# ---------------------------------------------------------------------------------------------- the cache
class _Cache:
    """The finished models of one (repeat, fold) in ``gan_sweep_r<r>_f<f>.json``; refuses other settings."""

    def __init__(self, run: RunFolder | None, repeat: int, fold: int, settings: SweepSettings, group: int):
        self.run, self.fold, self.jobs = run, fold, {}
        self.header = {**settings.record(), "classic_group": group}
        self.path = run.artifact(f"gan_sweep_r{repeat}_f{fold}.json") if run is not None else None
        if self.path is not None and self.path.is_file():
            remedy = "delete it to retrain that fold's models"
            with reading(self.path, "the GAN sweep's cache", remedy):
                saved = json.loads(self.path.read_text())
                header, self.jobs = saved["header"], dict(saved["jobs"])
            _check_same_settings(header, self.header, self.path)

    def get(self, key: str) -> dict | None:
        return self.jobs.get(key)

    def put(self, key: str, record: dict) -> None:
        self.jobs[key] = record
        if self.path is not None:
            write_json(self.path, {"header": self.header, "jobs": self.jobs})

    def model_path(self, arm: str):
        return self.run.artifact(f"cnn_{arm}_fold{self.fold}.pt")


def _check_same_settings(saved: dict, current: dict, path) -> None:
    differ = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differ += [f"{key}.{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                       if old.get(k) != new.get(k)]  # fmt: skip
        elif old != new:
            differ.append(f"{key}: {old!r} -> {new!r}")
    if differ:
        raise LiverkitError(
            f"'{path}' holds models made with other settings ({'; '.join(differ)}). Use a new run folder, or delete "
            "the gan_sweep_*.json files in this one to retrain."
        )


def _collect(records: list[dict], lesions: LesionSet, settings: SweepSettings) -> GanSweep:
    rows, inner, timing = [], [], []
    for rec in records:
        key = {"repeat": rec["repeat"], "fold": rec["fold"], "arm": rec["arm"], "synthetic": rec["synthetic"]}
        stage = "outer" if rec["stage"] == "outer" else "inner"
        inner_fold = -1 if stage == "outer" else int(rec["stage"][5:])
        images = rec["training_images"]
        budget = {"epochs": settings.clf.epochs, "steps": settings.clf.steps_for(images)}
        timing.append(
            {**key, "stage": stage, "inner_fold": inner_fold, "seconds": rec["seconds"], "training_images": images,
             "shared_images": rec["shared_images"], **budget}
        )  # fmt: skip
        if stage == "inner":
            inner.append({**key, "inner_fold": inner_fold, "val_correct": rec["val_correct"],
                          "val_lesions": rec["val_lesions"]})  # fmt: skip
            continue
        for i, p in zip(rec["index"], rec["y_pred"], strict=True):
            rows.append({**key, "classic_group": rec["classic_group"], "index": i, "id": lesions.ids[i],
                         "patient": lesions.patient_ids[i], "y_true": int(lesions.labels[i]), "y_pred": p})  # fmt: skip
    return GanSweep(pd.DataFrame(rows), pd.DataFrame(inner), pd.DataFrame(timing), lesions.class_names,
                    settings.sizes, meta=settings.record())  # fmt: skip
