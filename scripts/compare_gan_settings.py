"""Compare GAN settings for a CPU profile on data that no test patient is part of: per-class FID against held-out
real lesions, beside the real-vs-real baseline, and the training time.

The rule (docs/gan_settings.md). The GANs of every candidate setting train on one set of patients; they are scored
against real lesions of *other* patients (never their own training images, which would reward memorisation), in
the feature space of a classic CNN trained on the GANs' training patients only (never on GAN output, never on the
held-out patients). Neither set of patients may be a test patient of any fold of the experiment the settings are
for. Two ways to get such patients:

- Phantom draws (the default, for the built-in phantom). The demo uses the phantom drawn with seed 0; any other
  seed is an independent draw of other patients. The GANs train exactly as the demo's would, on a *training draw*
  (``--seed-train``, default 1001): the phantom at the demo's size, split into patient folds and augmented as
  ``make demo`` with that seed would do it, fold ``--fold``'s classic group ``--group``. The reference is a
  separate *held-out draw* (``--seed-heldout``, default 1002) ``--heldout-scale`` times as large (default 3: 159 /
  192 / 195 lesions). Patient ids are prefixed with their draw's seed (``s1001-P000``) so that the two draws can
  be told apart.

- Nested in one fold of your own data (``--nested-in-fold F``): the data set ``--data`` is split into
  ``--folds`` patient folds with ``--seed``, exactly as notebook 01 does, and only fold F's *training* patients
  are used: they are split by patient into ``--heldout-parts`` parts (stratified by class), one part is the
  held-out reference and the rest train the GANs (classic group ``--group`` of that rest). A setting chosen this
  way has touched fold F's training patients, which are test patients of the other folds: use it for fold F's
  GANs only, or run the script once per fold and give each fold its own choice.

Usage::

    python scripts/compare_gan_settings.py out/ dcgan:64/16/16/1000 acgan:64/4/16/1600
    python scripts/compare_gan_settings.py out/ dcgan:64/16/16/1000 --data my-lesions --nested-in-fold 0

A setting is ``kind:g_width/d_width/batch/steps``; the rest of the config is the quick profile's (epochs
included: the step cap binds first for a group of 1000). Every setting trains with the same seed, the one the demo
derives for the fold's GANs from the run seed. Scores, per class c: ``--per-class`` synthetic lesions are drawn;
n_c is the number of real (not augmented) training ROIs of class c; the FID between *all* held-out lesions of
class c and n_c synthetic ones is averaged over ``--subsets`` random subsets (the same subsets for every setting),
and the baseline is the FID between the same held-out lesions and the n_c real training ROIs (equal n, so the
small-sample bias is the same). KID, precision, recall and coverage (k = 5, or less for tiny classes) are computed
the same way, for reading. The choice, per kind: the lowest mean over classes of the per-class FID.

Writes ``<out>/<setting>.png`` (12 samples per class, one row per class) and ``<out>/scores.csv`` (one row per
setting and class, the baseline included), and prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from liverkit.augment import classic
from liverkit.data.folds import patient_folds, split
from liverkit.data.lesionset import LesionSet
from liverkit.data.manifest import get_entry, load
from liverkit.data.phantom_config import PhantomConfig
from liverkit.errors import LiverkitError
from liverkit.evaluate.feature_metrics import CNNFeatures, fid_kid_from_features, prdc
from liverkit.experiment.protocol import outer_pool
from liverkit.experiment.synthesis import sample
from liverkit.io import atomic_write
from liverkit.kit.plots import grey_png, mosaic
from liverkit.kit.profiles import get_profile
from liverkit.seeds import derive
from liverkit.train.classifier import ClassifierConfig, train_classifier
from liverkit.train.gan import train_acgan, train_dcgans
from liverkit.train.gan_config import GANConfig, TrainOptions

PER_CLASS = 300
SUBSETS = 10
PRDC_K = 5
SEED_TRAIN, SEED_HELDOUT, HELDOUT_SCALE = 1001, 1002, 3
BASELINE = "real training ROIs"
COUNT_FIELDS = ("n_cyst", "n_metastasis", "n_hemangioma")


@dataclass(frozen=True)
class RuleData:
    """What the rule works on: the GANs' training patients (as the classic group and as real ROIs), and the
    held-out reference of other patients; ``description`` says where they came from."""

    group: LesionSet
    real_train: LesionSet
    heldout: LesionSet
    fold: int
    seed: int
    group_size: int
    description: str

    def __post_init__(self) -> None:
        gan_patients = set(self.real_train.patient_ids.tolist())
        if not set(self.group.patient_ids.tolist()) <= gan_patients:
            raise LiverkitError("the classic group holds patients outside the GANs' training patients: a bug.")
        shared = sorted(gan_patients & set(self.heldout.patient_ids.tolist()))
        if shared:
            raise LiverkitError(f"the GANs' training patients and the reference share {shared[:3]}: a bug.")


def parse_setting(text: str) -> GANConfig:
    """``dcgan:64/16/16/1000`` -> the quick profile's config of that kind with those widths, batch and steps."""
    kind, _, numbers = text.partition(":")
    try:
        g_width, d_width, batch, steps = (int(n) for n in numbers.split("/"))
    except ValueError:
        g_width = None
    if kind not in ("dcgan", "acgan") or g_width is None:
        hint = "kind:g_width/d_width/batch/steps with kind dcgan or acgan, e.g. dcgan:64/16/16/1000"
        raise LiverkitError(f"setting '{text}' is not {hint}.")
    base = getattr(get_profile("quick"), kind)
    return dataclasses.replace(base, g_width=g_width, d_width=d_width, batch_size=batch, max_steps=steps)


def tag_patients(lesions: LesionSet, tag: str) -> LesionSet:
    """The same lesions with ``<tag>-`` before every patient id and lesion id (tells independent draws apart)."""
    return dataclasses.replace(
        lesions,
        patient_ids=np.char.add(f"{tag}-", lesions.patient_ids),
        ids=np.char.add(f"{tag}-", lesions.ids),
    )


def classic_group(real: LesionSet, aug: classic.AugmentConfig, size: int, seed: int, fold: int) -> LesionSet:
    """The classic group of ``size`` cut from ``real`` as notebook 02 cuts fold ``fold``'s (repeat 0)."""
    plan, order = outer_pool(real, aug, seed, 0, fold)
    return classic.make_group(real, plan, order, size)


def phantom_draws(
    seed_train: int = SEED_TRAIN,
    seed_heldout: int = SEED_HELDOUT,
    heldout_scale: float = HELDOUT_SCALE,
    fold: int = 0,
    group: int = 1000,
    n_folds: int = 3,
    data: str = "phantom",
    aug: classic.AugmentConfig | None = None,
    **phantom_options,
) -> RuleData:
    """Training draw (fold ``fold``'s training patients of the phantom with ``seed_train``, as the demo with that
    seed would use them) and held-out draw (the phantom with ``seed_heldout``, ``heldout_scale`` x the lesions).

    ``data`` names a phantom entry of the manifest; ``phantom_options`` override its options for both draws.
    """
    if seed_train == seed_heldout:
        raise LiverkitError("the training and held-out draws need different seeds.")
    if 0 in (seed_train, seed_heldout):
        raise LiverkitError("seed 0 is the demo's own phantom: choose settings on other draws.")
    if get_entry(data).reader != "phantom":
        raise LiverkitError(f"'{data}' is not a phantom; use --nested-in-fold for other data.")
    aug = aug or get_profile("quick").augment
    options = {**get_entry(data).options, **phantom_options}
    counts = {name: options.get(name, getattr(PhantomConfig(), name)) for name in COUNT_FIELDS}
    lesions = tag_patients(load(data, seed=seed_train, **phantom_options), f"s{seed_train}")
    fold_of = patient_folds(lesions, k=n_folds, seed=seed_train)
    real_train, _ = split(lesions, fold_of, fold)
    bigger = {name: round(heldout_scale * n) for name, n in counts.items()}
    heldout = tag_patients(load(data, seed=seed_heldout, **{**phantom_options, **bigger}), f"s{seed_heldout}")
    description = (
        f"training draw: '{data}' seed {seed_train}, fold {fold} of {n_folds}'s training patients, classic group "
        f"{group}; held-out draw: seed {seed_heldout}, {heldout_scale:g} x the lesions"
    )
    group_set = classic_group(real_train, aug, group, seed_train, fold)
    return RuleData(group_set, real_train, heldout, fold, seed_train, group, description)


def nested_split(
    lesions: LesionSet,
    fold: int,
    seed: int = 0,
    n_folds: int = 3,
    heldout_parts: int = 3,
    group: int = 1000,
    aug: classic.AugmentConfig | None = None,
) -> RuleData:
    """Only fold ``fold``'s training patients (folds as notebook 01 makes them with ``seed``), split by patient:
    one of ``heldout_parts`` parts is the held-out reference, the rest train the GANs (classic group ``group``)."""
    aug = aug or get_profile("quick").augment
    train, test = split(lesions, patient_folds(lesions, k=n_folds, seed=seed), fold)
    parts = patient_folds(train, k=heldout_parts, seed=derive(seed, fold, 11))
    gan_part, heldout = split(train, parts, 0)  # part 0 is the reference, the other parts train the GANs
    touched = set(gan_part.patient_ids.tolist()) | set(heldout.patient_ids.tolist())
    if touched & set(test.patient_ids.tolist()):
        raise LiverkitError(f"fold {fold}'s test patients reached the rule's data: a bug.")
    description = (
        f"nested in fold {fold} of {n_folds} (seed {seed}): {len(gan_part.patients)} of its training patients "
        f"train the GANs (classic group {group}), {len(heldout.patients)} are the held-out reference"
    )
    return RuleData(classic_group(gan_part, aug, group, seed, fold), gan_part, heldout, fold, seed, group, description)


def feature_model(data: RuleData, config: ClassifierConfig):
    """The classic CNN of the GANs' training group (notebook 02's seed for it): the feature space of the scores."""
    seed = derive(data.seed, 0, data.fold, 3, data.group_size)
    return train_classifier(data.group, config, seed=seed).model


def train_and_sample(
    group: LesionSet, config: GANConfig, seed: int, per_class: int | None = None
) -> tuple[LesionSet, float, float]:
    """Train the setting's generator(s) on ``group``; returns ``per_class`` (default PER_CLASS) samples per class,
    and wall-clock and CPU seconds per class (both grow when other programs share the cores)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        train = train_dcgans if config.kind == "dcgan" else train_acgan
        gans = train(group, config, out_dir=tmp, seed=seed, options=TrainOptions(device="cpu", progress=False))
    n = len(group.class_names)
    seconds, cpu_seconds = (time.perf_counter() - start) / n, (time.process_time() - start_cpu) / n
    n_samples = PER_CLASS if per_class is None else per_class
    return sample(gans, n_samples, seed=0, class_names=group.class_names), seconds, cpu_seconds


def _metrics(reference: torch.Tensor, candidate: torch.Tensor) -> dict[str, float]:
    scores = fid_kid_from_features(reference, candidate)
    k = min(PRDC_K, len(reference) - 1, len(candidate) - 1)
    pr = prdc(reference, candidate, k=k) if k >= 1 else dict.fromkeys(("precision", "recall", "coverage"), np.nan)
    return {"fid": scores["fid"], "kid": scores["kid_mean"], **{m: pr[m] for m in ("precision", "recall", "coverage")}}


class Scorer:
    """Scores candidate sets per class against the held-out reference, at the real training ROIs' n per class."""

    def __init__(self, model, data: RuleData, subsets: int | None = None, seed: int = 0):
        self.extractor = CNNFeatures(model)
        self.class_names = data.heldout.class_names
        self.reference = {c: self.extractor.embed_set(data.heldout.by_class(c)) for c in self.class_names}
        self.n = {c: int(n) for c, n in data.real_train.class_counts().items()}
        self.subsets, self.seed = SUBSETS if subsets is None else subsets, seed
        self.baseline = self.table(data.real_train, subsets=1)

    def table(self, lesions: LesionSet, subsets: int | None = None) -> pd.DataFrame:
        """One row per class: the metrics (mean over random subsets of n_c lesions) and the FID's sd over subsets."""
        rng = np.random.default_rng(self.seed)  # the same subsets for every setting
        rows = []
        for c in self.class_names:
            features = self.extractor.embed_set(lesions.by_class(c))
            if len(features) < self.n[c]:
                raise LiverkitError(f"{len(features)} '{c}' lesions to score, fewer than the {self.n[c]} needed.")
            draws = [rng.choice(len(features), self.n[c], replace=False) for _ in range(subsets or self.subsets)]
            scores = pd.DataFrame([_metrics(self.reference[c], features[torch.from_numpy(np.sort(i))]) for i in draws])
            rows.append(
                {
                    "class": c,
                    "n": self.n[c],
                    "n_reference": len(self.reference[c]),
                    **scores.mean(),
                    "fid_sd": scores.fid.std(ddof=1) if len(scores) > 1 else 0.0,
                }
            )
        return pd.DataFrame(rows)


def save_grid(synthetic: LesionSet, path: Path, per_class: int = 12) -> None:
    """One row of samples per class, as a PNG."""
    rows = [synthetic.by_class(name).images[:per_class, 0] for name in synthetic.class_names]
    png = grey_png(mosaic(np.concatenate(rows), cols=per_class))
    atomic_write(path, lambda tmp: tmp.write_bytes(png))


def choose(scores: pd.DataFrame) -> dict[str, str]:
    """The rule's choice per kind: the setting with the lowest mean over classes of the per-class FID."""
    settings = scores[scores.setting != BASELINE]
    mean = settings.groupby("setting", sort=False).fid.mean()
    return {
        kind: mean[[s for s in mean.index if s.startswith(kind + ":")]].idxmin()
        for kind in ("dcgan", "acgan")
        if any(s.startswith(kind + ":") for s in mean.index)
    }


def _row(name: str, table: pd.DataFrame, seconds: float | None) -> str:
    fids = " / ".join(f"{f:.2f}" for f in table.fid)
    cover = " / ".join(f"{v:.2f}" for v in table.coverage)
    time_text = "-" if seconds is None else f"{seconds:.0f}"
    return f"| {name} | {time_text} | {fids} | {table.fid.mean():.2f} | {table.kid.mean():.3f} | {cover} |"


def compare(
    data: RuleData,
    settings: list[str],
    out_dir: Path,
    gan_seed: int | None = None,
    classifier: ClassifierConfig | None = None,
    per_class: int | None = None,
    subsets: int | None = None,
) -> pd.DataFrame:
    """Train, sample, score and draw every setting; prints the markdown table, writes the grids and scores.csv.

    ``classifier`` is the feature CNN's config (default: the quick profile's); ``gan_seed`` defaults to the one the
    demo derives for the fold's GANs from the run seed; ``per_class`` and ``subsets`` to PER_CLASS and SUBSETS.
    """
    gan_seed = derive(data.seed, data.fold, 7) if gan_seed is None else gan_seed  # the demo's fold GAN seed
    start = time.perf_counter()
    scorer = Scorer(feature_model(data, classifier or get_profile("quick").classifier), data, subsets)
    print(f"{data.description}; GAN seed {gan_seed}; feature CNN and reference in {time.perf_counter() - start:.0f} s")
    print(f"real training ROIs per class {scorer.n}, held-out per class {data.heldout.class_counts()}")
    names = " / ".join(data.heldout.class_names)
    print(f"| setting | s per class | FID {names} | mean FID | mean KID | coverage {names} |")
    print("|---|---|---|---|---|---|")
    print(_row(BASELINE, scorer.baseline, None), flush=True)
    tables = [scorer.baseline.assign(setting=BASELINE, seconds=np.nan, cpu_seconds=np.nan)]
    for text in settings:
        synthetic, seconds, cpu_seconds = train_and_sample(data.group, parse_setting(text), gan_seed, per_class)
        table = scorer.table(synthetic)
        save_grid(synthetic, out_dir / f"{text.replace(':', '_').replace('/', '-')}.png")
        print(_row(text, table, seconds), flush=True)
        tables.append(table.assign(setting=text, seconds=seconds, cpu_seconds=cpu_seconds))
        scores = pd.concat(tables, ignore_index=True)  # written after every setting: a stopped run keeps its rows
        scores.round(4).to_csv(out_dir / "scores.csv", index=False)
    print("chosen by the rule (lowest mean FID per kind):", choose(scores))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("settings", nargs="+", help="kind:g_width/d_width/batch/steps")
    parser.add_argument("--data", default="phantom", help="a manifest entry or a LesionSet .npz")
    parser.add_argument("--group", type=int, default=1000, help="classic group the GANs train on (0 = real ROIs)")
    parser.add_argument("--folds", type=int, default=3)
    phantom = parser.add_argument_group("phantom draws (default)")
    phantom.add_argument("--seed-train", type=int, default=SEED_TRAIN)
    phantom.add_argument("--seed-heldout", type=int, default=SEED_HELDOUT)
    phantom.add_argument("--heldout-scale", type=float, default=HELDOUT_SCALE)
    phantom.add_argument("--fold", type=int, default=0, help="the training draw's fold whose patients train the GANs")
    nested = parser.add_argument_group("nested in one fold of your data")
    nested.add_argument("--nested-in-fold", type=int, default=None, metavar="F")
    nested.add_argument("--seed", type=int, default=0, help="the run seed of your experiment (its folds)")
    nested.add_argument("--heldout-parts", type=int, default=3)
    parser.add_argument("--gan-seed", type=int, default=None, help="default: the demo's seed for the fold's GANs")
    parser.add_argument("--per-class", type=int, default=PER_CLASS, help="synthetic lesions drawn per class")
    parser.add_argument("--subsets", type=int, default=SUBSETS, help="random subsets of n_c synthetic lesions")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.nested_in_fold is None:
        data = phantom_draws(
            args.seed_train, args.seed_heldout, args.heldout_scale, args.fold, args.group, args.folds, args.data
        )
    else:
        lesions = load(args.data, seed=args.seed)
        data = nested_split(lesions, args.nested_in_fold, args.seed, args.folds, args.heldout_parts, args.group)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    compare(data, args.settings, out_dir, args.gan_seed, per_class=args.per_class, subsets=args.subsets)


if __name__ == "__main__":
    main()
