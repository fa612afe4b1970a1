"""The synthetic-augmentation experiment (CNN-AUG-GAN, notebook 05): does adding GAN lesions help, and how sure are we?

For every repeat and patient-level fold, the CNN is trained on the fold's chosen classic group (notebook 02) plus
{100, 500, ...} synthetic lesions per class from that fold's GANs (notebooks 03 and 04, trained on the same
group), and tested on the fold's real test lesions only. The synthetic size is chosen per fold on the same inner
validation split of the training patients as the classic choice (``honest``) or on the test folds (``paper``,
optimistic). Size 0 is the classic arm itself, retrained with notebook 02's seed, so its predictions are the
classic optimum's.

One caveat of the honest choice: the GANs were trained on the whole training fold, inner validation patients
included, so their samples may resemble the validation lesions; this can only favour the GAN arms in the
choice. The test fold stays untouched either way.

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
from tqdm.auto import tqdm

from liverkit import augment
from liverkit.augment import AugmentConfig
from liverkit.data.folds import split
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment import _seed, inner_pool, inner_split, outer_pool, pooled_confusion, prediction_matrix
from liverkit.io import write_json
from liverkit.metrics import accuracy, bootstrap_ci, metrics_table
from liverkit.runs import RunFolder
from liverkit.synthesis import GAN_KINDS, fold_samples, gan_folder
from liverkit.train.classifier import ClassifierConfig, config_dict, predict, save_classifier, train_classifier
from liverkit.train.gan import load_dcgans, load_generator

ARMS = ("classic", *GAN_KINDS)
"""``classic``: the chosen classic group alone (synthetic size 0); ``dcgan``/``acgan``: plus synthetic lesions."""


@dataclass
class GanSweep:
    """What the CNN-AUG-GAN sweep produced: tidy tables, one row per test prediction / inner score / model."""

    predictions: pd.DataFrame
    """repeat, fold, arm, synthetic (per class), classic_group, index, id, y_true, y_pred."""
    inner: pd.DataFrame
    """repeat, fold, arm, synthetic, val_accuracy: the honest choice's inner-validation scores."""
    timing: pd.DataFrame
    """repeat, fold, arm, synthetic, stage (outer/inner), seconds, training_images."""
    class_names: tuple[str, ...]
    sizes: tuple[int, ...]
    """Synthetic lesions per class added on top of the classic group (the paper: 100 ... 4000)."""
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", check_sizes(self.sizes))  # checked and sorted once, here

    def record(self) -> dict[str, Any]:
        return json.loads(json.dumps({
            "sizes": list(self.sizes), "augment": self.aug.__dict__, "classifier": config_dict(self.clf),
            "seed": self.seed, "inner_folds": self.inner_folds, "data_fingerprint": self.data_fingerprint,
        }))  # fmt: skip


def load_fold_gans(run: RunFolder, kind: str, fold: int, device: str | torch.device = "cpu"):
    """Fold ``fold``'s generator(s) of ``kind`` from the run folder (notebook 03 or 04 writes them), as
    ``{class name: generator}`` (an ACGAN under every class name)."""
    folder = gan_folder(run, kind, fold)
    if not folder.is_dir():
        raise LiverkitError(
            f"'{folder}' is missing: run notebook {'03' if kind == 'dcgan' else '04'} ({kind}) on this run folder "
            "first; the experiment adds that fold's synthetic lesions."
        )
    if kind == "dcgan":
        return load_dcgans(folder, device)
    acgan = load_generator(folder / "generator.pt", device)
    return dict.fromkeys(acgan.class_names, acgan)  # one model for every class, as train_fold_gans returns it


def load_all_gans(run: RunFolder, fold_of: np.ndarray, device: str | torch.device = "cpu") -> dict[str, dict[int, Any]]:
    """``{kind: {fold: generators}}`` for both GAN kinds and every fold, as :func:`run_gan_sweep` takes them."""
    folds = sorted(set(np.asarray(fold_of).tolist()))
    return {kind: {f: load_fold_gans(run, kind, f, device) for f in folds} for kind in GAN_KINDS}


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
    """Train and test the CNN on classic + synthetic groups for every (repeat, fold, GAN kind, size).

    Args:
        lesions, fold_of: all real lesions and their patient-level folds (notebook 01).
        choice: the chosen classic group per (repeat, fold) (notebook 02's ``classic_choice``; a repeat missing
            from it uses repeat 0's group).
        gans: ``{kind: {fold: generators}}`` as :func:`load_fold_gans` returns them.
        settings: sizes, augmentation, classifier, seed and inner split (see :class:`SweepSettings`).
        run: where finished models are cached and the chosen models saved; None keeps nothing.
    """
    sizes = settings.sizes
    folds = sorted(set(np.asarray(fold_of).tolist()))
    _check_gans(gans, folds)
    n_models = repeats * len(folds) * (1 + (2 if len(sizes) > 1 else 1) * len(gans) * len(sizes))
    bar = tqdm(total=n_models, desc="CNN-AUG-GAN sweep", disable=not progress)
    records = []
    for r in range(repeats):
        for f in folds:
            group = _classic_size(choice, r, f)
            cache = _Cache(run, r, f, settings, group)
            records += _one_fold(lesions, fold_of, r, f, group, gans, settings, device, cache, bar)
    bar.close()
    return _collect(records, lesions, sizes, settings)


def _check_gans(gans: dict[str, dict[int, Any]], folds: list[int]) -> None:
    unknown = [k for k in gans if k not in GAN_KINDS]
    if unknown or not gans:
        raise LiverkitError(f"GAN kinds must be among {list(GAN_KINDS)}, got {list(gans)}.")
    for kind, per_fold in gans.items():
        missing = [f for f in folds if f not in per_fold]
        if missing:
            raise LiverkitError(f"no {kind} generators for fold(s) {missing}; train them in notebook 03/04 first.")


def _classic_size(choice: pd.DataFrame, repeat: int, fold: int) -> int:
    rows = choice[choice.fold == fold]
    if "repeat" in rows:
        rows = rows[rows.repeat == (repeat if (rows.repeat == repeat).any() else 0)]
    if rows.empty:
        raise LiverkitError(f"the classic choice table has no group for fold {fold}; rerun notebook 02.")
    return int(rows.group.iloc[0])


# ---------------------------------------------------------------------------------------------- one fold
@dataclass
class _Fold:
    """One (repeat, fold)'s data: the classic groups (outer and inner) and the lesions they are judged on."""

    repeat: int
    fold: int
    classic: LesionSet
    test: LesionSet
    test_index: np.ndarray
    inner_classic: LesionSet
    inner_val: LesionSet


def _prepare(lesions, fold_of, r, f, group_size, settings, device) -> _Fold:
    """The fold's classic group exactly as notebook 02 built it, and its inner split and inner group likewise."""
    train, test = split(lesions, fold_of, f)
    plan, order = outer_pool(train, settings.aug, settings.seed, r, f)
    classic = augment.make_group(train, plan, order, group_size, device)
    inner_train, inner_val = inner_split(train, settings.inner_folds, settings.seed, r, f)
    inner_plan, inner_order = inner_pool(inner_train, settings.aug, settings.seed, r, f)
    inner_classic = augment.make_group(inner_train, inner_plan, inner_order, group_size, device)
    test_index = np.flatnonzero(np.asarray(fold_of) == f)
    return _Fold(r, f, classic, test, test_index, inner_classic, inner_val)


def first_per_class(synthetic: LesionSet, n: int) -> LesionSet:
    """The first ``n`` synthetic lesions of every class (a smaller group is inside every larger one)."""
    rank = np.zeros(len(synthetic), dtype=np.int64)
    for k in range(len(synthetic.class_names)):
        members = np.flatnonzero(synthetic.labels == k)
        rank[members] = np.arange(len(members))
    return synthetic.subset(np.flatnonzero(rank < n))


def _one_fold(lesions, fold_of, r, f, group_size, gans, settings, device, cache, bar) -> list[dict]:
    """Inner models first (they decide which GAN model is saved), then the outer models; cached ones are skipped."""
    data = _prepare(lesions, fold_of, r, f, group_size, settings, device)
    seed, sizes = settings.seed, settings.sizes
    synthetic = {
        kind: fold_samples(gans[kind][f], lesions.class_names, sizes[-1], seed=_seed(seed, r, f, 8, k))
        for k, kind in enumerate(gans)
    }
    records = []
    for k, kind in enumerate(gans):
        for s in sizes if len(sizes) > 1 else ():  # one size: nothing to choose, no inner models
            train = LesionSet.concat([data.inner_classic, first_per_class(synthetic[kind], s)])
            job = (kind, s, "inner", _seed(seed, r, f, 10, k, s))
            records.append(_job(cache, job, train, data.inner_val, None, settings, device, None, bar))
    chosen = _honest_sizes(records) if records else dict.fromkeys(gans, sizes[0])
    save = {"classic": 0, **chosen} if r == 0 and cache.run is not None else {}
    # the classic arm: notebook 02's seed for this group, hence notebook 02's model and predictions
    job = ("classic", 0, "outer", _seed(seed, r, f, 3, group_size))
    records.append(_job(cache, job, data.classic, data.test, data.test_index, settings, device, save, bar))
    for k, kind in enumerate(gans):
        for s in sizes:
            train = LesionSet.concat([data.classic, first_per_class(synthetic[kind], s)])
            job = (kind, s, "outer", _seed(seed, r, f, 9, k, s))
            records.append(_job(cache, job, train, data.test, data.test_index, settings, device, save, bar))
    return [{**rec, "repeat": r, "fold": f, "classic_group": group_size} for rec in records]


def _job(cache, job, train, judged, index, settings, device, save, bar) -> dict:
    """Train one CNN (or take it from the cache) and score it: val accuracy (inner) or test predictions (outer)."""
    arm, size, stage, model_seed = job
    key = f"{arm}-{size}-{stage}"
    model_file = cache.model_path(arm) if save and save.get(arm) == size else None
    record = cache.get(key)
    if record is None or (model_file is not None and not model_file.is_file()):
        _check_no_overlap(train, judged, key)
        trained = train_classifier(train, settings.clf, seed=model_seed, device=device)
        y_pred = predict(trained.model, judged, device)
        record = {"arm": arm, "synthetic": size, "stage": stage, "seconds": round(trained.seconds, 3),
                  "training_images": len(train)}  # fmt: skip
        if stage == "inner":
            record["val_accuracy"] = accuracy(judged.labels, y_pred)
        else:
            record |= {"index": [int(i) for i in index], "y_pred": [int(p) for p in y_pred]}
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
    """Per GAN kind, the synthetic size with the best inner validation accuracy (ties: the smaller size)."""
    table = pd.DataFrame(inner_records)
    ranked = table.sort_values(["arm", "val_accuracy", "synthetic"], ascending=[True, False, True])
    return {arm: int(part.synthetic.iloc[0]) for arm, part in ranked.groupby("arm")}


# ---------------------------------------------------------------------------------------------- the cache
class _Cache:
    """The finished models of one (repeat, fold) in ``gan_sweep_r<r>_f<f>.json``; refuses other settings."""

    def __init__(self, run: RunFolder | None, repeat: int, fold: int, settings: SweepSettings, group: int):
        self.run, self.fold, self.jobs = run, fold, {}
        self.header = {**settings.record(), "classic_group": group}
        self.path = run.artifact(f"gan_sweep_r{repeat}_f{fold}.json") if run is not None else None
        if self.path is not None and self.path.is_file():
            saved = json.loads(self.path.read_text())
            _check_same_settings(saved["header"], self.header, self.path)
            self.jobs = saved["jobs"]

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


def _collect(records: list[dict], lesions: LesionSet, sizes: tuple[int, ...], settings: SweepSettings) -> GanSweep:
    rows, inner, timing = [], [], []
    for rec in records:
        key = {"repeat": rec["repeat"], "fold": rec["fold"], "arm": rec["arm"], "synthetic": rec["synthetic"]}
        timing.append({**key, "stage": rec["stage"], "seconds": rec["seconds"],
                       "training_images": rec["training_images"]})  # fmt: skip
        if rec["stage"] == "inner":
            inner.append({**key, "val_accuracy": rec["val_accuracy"]})
            continue
        for i, p in zip(rec["index"], rec["y_pred"], strict=True):
            rows.append({**key, "classic_group": rec["classic_group"], "index": i, "id": lesions.ids[i],
                         "y_true": int(lesions.labels[i]), "y_pred": p})  # fmt: skip
    return GanSweep(pd.DataFrame(rows), pd.DataFrame(inner), pd.DataFrame(timing), lesions.class_names, sizes,
                    meta=settings.record())  # fmt: skip


# ---------------------------------------------------------------------------------------------- reading results
def choose_sizes(sweep: GanSweep, mode: str = "honest") -> pd.DataFrame:
    """The chosen synthetic size per (repeat, fold, GAN kind): by inner validation (``honest``) or, as the paper
    did, by the pooled test accuracy (``paper``: one size per kind, optimistic). Ties go to the smaller size."""
    if mode not in ("honest", "paper"):
        raise LiverkitError(f"unknown model-choice mode '{mode}'; use 'honest' or 'paper'.")
    if mode == "honest" and sweep.inner.empty:  # a single synthetic size: nothing was chosen
        keys = sweep.predictions[["repeat", "fold", "arm"]].drop_duplicates()
        return keys[keys.arm != "classic"].assign(synthetic=sweep.sizes[0]).reset_index(drop=True)
    if mode == "honest":
        ranked = sweep.inner.sort_values(["repeat", "fold", "arm", "val_accuracy", "synthetic"],
                                         ascending=[True, True, True, False, True])  # fmt: skip
        return ranked.groupby(["repeat", "fold", "arm"], as_index=False).first()[["repeat", "fold", "arm", "synthetic"]]
    table = curve_table(sweep, n_boot=1)
    table = table[table.arm != "classic"].sort_values(["arm", "accuracy", "synthetic"], ascending=[True, False, True])
    best = table.groupby("arm").synthetic.first()
    keys = sweep.predictions[["repeat", "fold"]].drop_duplicates()
    return pd.concat([keys.assign(arm=arm, synthetic=int(size)) for arm, size in best.items()], ignore_index=True)


def arm_predictions(sweep: GanSweep, arm: str, mode: str = "honest") -> pd.DataFrame:
    """Test predictions of ``arm``: the classic arm as it is, a GAN arm at its chosen synthetic size per fold."""
    rows = sweep.predictions[sweep.predictions.arm == arm]
    if rows.empty:
        raise LiverkitError(f"the sweep has no arm '{arm}'; it has {sorted(sweep.predictions.arm.unique())}.")
    if arm == "classic":
        return rows
    chosen = choose_sizes(sweep, mode)
    return rows.merge(chosen[chosen.arm == arm], on=["repeat", "fold", "arm", "synthetic"])


def curve_table(sweep: GanSweep, n_boot: int = 1000) -> pd.DataFrame:
    """Pooled test accuracy with a 95% bootstrap CI per (arm, synthetic size), and the mean training-set size."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    samples = outer.groupby(["arm", "synthetic"]).training_images.mean()
    rows = []
    for (arm, size), part in sweep.predictions.groupby(["arm", "synthetic"], sort=False):
        _, y_true, y_pred = prediction_matrix(part)
        estimate, low, high = bootstrap_ci(y_true, y_pred, accuracy, n_boot=n_boot, seed=int(size))
        rows.append({"arm": arm, "synthetic": int(size), "training_samples": float(samples.loc[(arm, size)]),
                     "accuracy": estimate, "ci_low": low, "ci_high": high})  # fmt: skip
    return pd.DataFrame(rows)


def results_table(sweep: GanSweep, no_augmentation: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """The paper's table with CIs: no augmentation, classic optimum, classic + each GAN at its chosen size.

    Args:
        no_augmentation: notebook 02's test predictions of group 0 (``classic_predictions`` with group == 0).
    """
    settings = {"no augmentation": no_augmentation, "classic optimum": arm_predictions(sweep, "classic")}
    for arm in [a for a in GAN_KINDS if a in set(sweep.predictions.arm)]:
        settings[f"classic + {arm.upper()} (honest choice)"] = arm_predictions(sweep, arm, "honest")
        settings[f"classic + {arm.upper()} (paper's choice, optimistic)"] = arm_predictions(sweep, arm, "paper")
    frames = []
    for name, part in settings.items():
        _, y_true, y_pred = prediction_matrix(part)
        frames.append(metrics_table(y_true, y_pred, sweep.class_names, n_boot=n_boot).assign(setting=name))
    return pd.concat(frames)[["setting", "metric", "class", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)


def confusion_matrices(sweep: GanSweep, no_augmentation: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pooled confusion counts of no augmentation, classic alone and classic + each GAN (honest choice)."""
    n = len(sweep.class_names)
    arms = [a for a in ARMS if a in set(sweep.predictions.arm)]
    return {"no augmentation": pooled_confusion(no_augmentation, n)} | {
        arm if arm == "classic" else f"classic + {arm.upper()}": pooled_confusion(arm_predictions(sweep, arm), n)
        for arm in arms
    }


def paired_comparison(sweep: GanSweep, arm: str, mode: str = "honest", n_boot: int = 2000) -> dict[str, Any]:
    """Classic + ``arm`` against classic alone on the same test lesions: McNemar's exact test and a paired bootstrap.

    McNemar looks only at the lesions the two models disagree on: ``gained`` (right with the GAN lesions, wrong
    without) and ``lost`` (the reverse). With no real difference, each disagreement is a coin flip, so the
    p-value is a two-sided binomial test of gained against gained + lost (repeat 0's predictions; with several
    repeats, ``p_by_repeat`` lists each). The accuracy difference's 95% CI is a bootstrap over lesions, with all
    repeats of a lesion resampled together.
    """
    base, other = _aligned(arm_predictions(sweep, "classic"), arm_predictions(sweep, arm, mode))
    y_true, base_pred, other_pred = base[1], base[2], other[2]
    base_right, other_right = base_pred == y_true, other_pred == y_true  # R x L
    gained = (other_right & ~base_right).sum(axis=1)  # per repeat
    lost = (base_right & ~other_right).sum(axis=1)
    p_values = [_mcnemar(int(g), int(c)) for g, c in zip(gained, lost, strict=True)]
    diff = other_right.mean() - base_right.mean()
    rng = np.random.default_rng(0)
    draws = [
        (other_right[:, i].mean() - base_right[:, i].mean())
        for i in (rng.integers(0, len(y_true), len(y_true)) for _ in range(n_boot))
    ]
    low, high = np.quantile(draws, [0.025, 0.975])
    result = {"arm": arm, "mode": mode, "lesions": len(y_true), "gained": int(gained[0]), "lost": int(lost[0]),
              "p_value": p_values[0], "p_by_repeat": p_values, "accuracy_difference": float(diff),
              "ci_low": float(low), "ci_high": float(high)}  # fmt: skip
    return {**result, "in_words": _in_words(result)}


def _aligned(base: pd.DataFrame, other: pd.DataFrame):
    base_m, other_m = prediction_matrix(base), prediction_matrix(other)
    if not np.array_equal(base_m[0], other_m[0]) or base_m[2].shape != other_m[2].shape:
        raise LiverkitError("the two arms were not tested on the same lesions and repeats; rerun the sweep.")
    return base_m, other_m


def _mcnemar(gained: int, lost: int) -> float:
    """McNemar's exact p-value: a two-sided binomial test of ``gained`` out of ``gained + lost`` at 1/2."""
    from scipy.stats import binomtest

    return 1.0 if gained + lost == 0 else float(binomtest(gained, gained + lost, 0.5).pvalue)


def p_text(p: float) -> str:
    """A p-value as a reader wants it: ``p = 0.038``, ``p = 0.0005``, or ``p < 0.0001`` (never ``p = 0.000``)."""
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.3f}" if p >= 0.01 else f"p = {p:.1g}"


def _in_words(r: dict[str, Any]) -> str:
    name = f"classic + {r['arm'].upper()}"
    text = (
        f"{name} got {r['gained']} test lesions right that classic augmentation alone got wrong, and {r['lost']} "
        f"wrong that it got right (of {r['lesions']}). Accuracy changed by {100 * r['accuracy_difference']:+.1f} "
        f"points (95% CI {100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}); McNemar's exact test gives "
        f"{p_text(r['p_value'])}. "
    )
    if r["p_value"] < 0.05:
        direction = "helped" if r["accuracy_difference"] > 0 else "hurt"
        return text + f"A difference this large is unlikely by chance: on this data the synthetic lesions {direction}."
    return text + (
        "A difference like this is common by chance alone, so this run gives no evidence that the synthetic "
        "lesions help (nor that they hurt)."
    )


def key_numbers(sweep: GanSweep, results: pd.DataFrame, comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers notebook 05 records for tests, reports and regression checks (accuracies with 95% CIs)."""
    acc = results[results.metric == "accuracy"].set_index("setting")
    honest = choose_sizes(sweep, "honest")
    return {
        "sizes": list(sweep.sizes),
        "accuracy": {
            name: [round(float(row.estimate), 4), round(float(row.ci_low), 4), round(float(row.ci_high), 4)]
            for name, row in acc.iterrows()
        },  # fmt: skip
        "honest_sizes": {arm: [int(s) for s in part.synthetic] for arm, part in honest.groupby("arm")},
        "comparisons": {
            f"{c['arm']}_{c['mode']}": {
                k: c[k] for k in ("gained", "lost", "p_value", "accuracy_difference", "ci_low", "ci_high")
            }
            for c in comparisons
        },  # fmt: skip
        "models": int(len(sweep.timing)),
        "train_seconds": round(float(sweep.timing.seconds.sum()), 1),
    }
