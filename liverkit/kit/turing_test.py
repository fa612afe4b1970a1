"""A visual Turing test (notebook 08): the mix of ROIs shown, each rater's saved answers, and their scores.

Can a person tell real lesion ROIs from synthetic ones, and name their class? In the paper, two radiologists
labelled a mix of real and synthetic ROIs by class and said for each whether it was real or synthetic; their
real-vs-synthetic calls were close to chance (about 60% right). This module runs the same test on the kit's own
lesions:

- :func:`make_session`: a shuffled mix of real and synthetic ROIs, balanced over classes (and generators);
- :class:`AnswerSheet`: one rater's answers, saved to the run folder after every single answer;
- :func:`score`, :func:`agreement`, :func:`item_table`, :func:`key_numbers`: what the answers say, in numbers and
  in words.

The app a rater answers in is :class:`liverkit.kit.widgets.TuringApp` (one ROI at a time; its ``answer`` method does
exactly what clicking does, so the tests and :func:`liverkit.kit.widgets.simulate_rater` run the same code as a
person); :func:`liverkit.kit.plots.fooled_figure` shows the ROIs that fooled most raters.

**The answers file** ``artifacts/turing_answers_<rater>.csv`` has one row per answer, in the order given::

    rater, item, lesion_id, answered_class, answered_synthetic, answered_at
    alice, 1,    phantom-0042, cyst,        False,              2026-01-05T10:31:07+00:00

Rows are only ever added. After each answer the whole file is rewritten atomically (a temporary file, flushed and
fsync'ed, then renamed over the old one) rather than appended to: an append cut short leaves a torn last row, the
rename leaves either the old file or the new one, as for every file of a run folder, and rewriting a few hundred
short rows costs milliseconds. Closing the browser, or even restarting the kernel, therefore loses nothing; a new
app for the same rater starts at the first unanswered item. The file also records each item's lesion id, so
answers are never scored against a different session (another fold, seed or profile): that is refused.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.io import atomic_write, reading

ANSWER_COLUMNS = ("rater", "item", "lesion_id", "answered_class", "answered_synthetic", "answered_at")
"""The columns of an answers file, in order."""

SIMULATED_PREFIX = "simulated"
"""Simulated raters' names start with this, so their answers are never mistaken for a person's."""

_RATER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_ANSWERS_FILE = "turing_answers_{}.csv"


# ---------------------------------------------------------------------------------------------- the session
@dataclass(frozen=True, eq=False)
class Session:
    """One Turing-test session: what is shown, in which order, and the truth about each item.

    Attributes:
        items: one row per item: ``item`` (1, 2, ...), ``lesion_id``, ``source``, ``true_class``, ``is_synthetic``.
        lesions: the shown ROIs as one LesionSet, in item order (item ``i`` is ``lesions.images[i - 1]``).
    """

    items: pd.DataFrame
    lesions: LesionSet

    def __len__(self) -> int:
        return len(self.items)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes a rater chooses from: those of the shown lesions."""
        return self.lesions.class_names

    def check_item(self, item: int) -> int:
        """``item`` as an int, or a LiverkitError when the session has no such item."""
        if isinstance(item, bool) or not isinstance(item, int | np.integer) or not 1 <= item <= len(self):
            raise LiverkitError(f"item {item!r} is not in this session: items are numbered 1 to {len(self)}.")
        return int(item)

    def image(self, item: int) -> np.ndarray:
        """The 64 x 64 ROI of one item."""
        return self.lesions.images[self.check_item(item) - 1, 0]

    def images(self, items: Sequence[int]) -> np.ndarray:
        """The ROIs of several items, K x 64 x 64."""
        index = [self.check_item(int(i)) - 1 for i in items]
        return self.lesions.images[np.asarray(index, dtype=np.int64), 0]

    def summary(self) -> pd.DataFrame:
        """Items per class (rows) and source (columns): the mix, without saying which item is which."""
        table = pd.crosstab(self.items.true_class, self.items.source)
        return table.reindex(list(self.class_names), fill_value=0).rename_axis(index="class", columns="source")


def make_session(
    real: LesionSet, synthetic: LesionSet | Mapping[str, LesionSet], n_real: int, n_synthetic: int, seed: int = 0
) -> Session:
    """A shuffled mix of ``n_real`` real and ``n_synthetic`` synthetic ROIs; the same seed gives the same session.

    Each part is spread over the classes as evenly as their counts allow (a class with too few lesions gives its
    share to the others), and the synthetic part within each class over the generators.

    Args:
        real: the real lesions to draw from (notebook 08 uses the fold's test lesions, which no GAN saw).
        synthetic: synthetic lesions, one LesionSet or ``{generator name: LesionSet}``, with the real classes.
        n_real, n_synthetic: how many of each to show; both at least 1 and at most what is available.
        seed: picks the lesions and the order.
    """
    fake = synthetic if isinstance(synthetic, LesionSet) else _join(synthetic)
    _check_sizes(real, fake, n_real, n_synthetic)
    rng = np.random.default_rng(seed)
    both = LesionSet.concat([real.subset(_balanced(real, n_real, rng)), fake.subset(_balanced(fake, n_synthetic, rng))])
    is_synthetic = np.r_[np.zeros(n_real, dtype=bool), np.ones(n_synthetic, dtype=bool)]
    order = rng.permutation(len(both))
    shown = both.subset(order)
    items = pd.DataFrame(
        {
            "item": np.arange(1, len(shown) + 1),
            "lesion_id": shown.ids,
            "source": shown.sources,
            "true_class": np.asarray(shown.class_names)[shown.labels],
            "is_synthetic": is_synthetic[order],
        }
    )
    return Session(items=items, lesions=shown)


def _join(synthetic: Mapping[str, LesionSet]) -> LesionSet:
    if not synthetic:
        raise LiverkitError("synthetic is an empty dict: give at least one generator's LesionSet.")
    return LesionSet.concat(list(synthetic.values()))


def _check_sizes(real: LesionSet, fake: LesionSet, n_real: int, n_synthetic: int) -> None:
    if real.class_names != fake.class_names:
        raise LiverkitError(
            f"real and synthetic lesions have different classes: {list(real.class_names)} vs "
            f"{list(fake.class_names)}; sample the GANs with the real set's class_names."
        )
    for name, n, available, field in (
        ("n_real", n_real, len(real), "turing_real"),
        ("n_synthetic", n_synthetic, len(fake), "turing_synthetic"),
    ):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise LiverkitError(f"{name} must be a whole number of at least 1 (a Turing test needs both), got {n!r}.")
        if n > available:
            raise LiverkitError(
                f"{name}={n}, but only {available} lesions are available; lower it (profile field '{field}')."
            )


def _balanced(lesions: LesionSet, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into ``lesions``, spread over the classes, and within each class over the sources."""
    chosen = [np.zeros(0, dtype=np.int64)]
    class_quotas = _quotas(np.bincount(lesions.labels, minlength=len(lesions.class_names)), n, rng)
    for k, quota in enumerate(class_quotas):
        members = np.flatnonzero(lesions.labels == k)
        sources, counts = np.unique(lesions.sources[members], return_counts=True)
        for source, q in zip(sources, _quotas(counts, int(quota), rng), strict=True):
            chosen.append(rng.choice(members[lesions.sources[members] == source], size=int(q), replace=False))
    return np.concatenate(chosen)


def _quotas(available: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``n`` over groups of ``available`` members: equal shares, the rest to random groups, none overfull."""
    quotas = np.zeros(len(available), dtype=np.int64)
    order = rng.permutation(len(available))
    while quotas.sum() < n:  # callers check n <= available.sum(), so every round adds at least one
        for k in order:
            if quotas.sum() < n and quotas[k] < available[k]:
                quotas[k] += 1
    return quotas


# ---------------------------------------------------------------------------------------------- the answers
def check_rater(rater: str) -> str:
    """A rater's name becomes part of a file name: 1-40 letters, digits, '_' or '-', starting with a letter or
    digit."""
    if not isinstance(rater, str) or not _RATER.match(rater):
        raise LiverkitError(
            f"rater name {rater!r} is not allowed: use 1-40 letters, digits, '_' or '-', starting with a letter "
            "or digit (e.g. 'alice' or 'reader_2'); it becomes the file name turing_answers_<rater>.csv."
        )
    return rater


def answers_path(run: RunFolder, rater: str) -> Path:
    """Where a rater's answers are kept: ``artifacts/turing_answers_<rater>.csv``."""
    return run.artifact(_ANSWERS_FILE.format(check_rater(rater)))


def _empty_answers() -> pd.DataFrame:
    dtypes = {"item": np.int64, "answered_synthetic": bool}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in ANSWER_COLUMNS})


def _read_answers(path: Path) -> pd.DataFrame:
    """An answers file as a table (empty when the file does not exist yet)."""
    if not path.is_file():
        return _empty_answers()
    text_columns = {"rater": str, "lesion_id": str, "answered_class": str, "answered_at": str}
    remedy = "restore it from a backup, or move it away to start this rater's answers again"
    with reading(path, "the Turing test answers file", remedy):  # a class may be called "NA" or "None":
        table = pd.read_csv(path, dtype=text_columns, keep_default_na=False, encoding="utf-8")
    if tuple(table.columns) != ANSWER_COLUMNS:
        raise LiverkitError(
            f"'{path}' is not an answers file: columns {list(table.columns)}, expected {list(ANSWER_COLUMNS)}."
        )
    return table


def _write_answers(path: Path, answers: pd.DataFrame) -> None:
    """Replace the answers file atomically, with its contents on disk (fsync) before the rename."""
    text = answers.to_csv(index=False)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def load_answers(run: RunFolder, raters: Sequence[str] | None = None) -> pd.DataFrame:
    """All answers saved in ``run`` (every ``turing_answers_*.csv``), or only those of the named raters."""
    if raters is None:
        paths = sorted((run.path / "artifacts").glob(_ANSWERS_FILE.format("*")))
    else:
        paths = [answers_path(run, r) for r in raters]
    tables = [t for t in (_read_answers(p) for p in paths) if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else _empty_answers()


def check_answers(answers: pd.DataFrame, session: Session, where: str = "answers") -> pd.DataFrame:
    """``answers`` checked against ``session``: known items with their lesion ids, known classes, True/False
    calls, one answer per rater and item. Returns a clean copy; anything else is a LiverkitError."""
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise LiverkitError(f"{where} lack the column(s) {missing}; expected {list(ANSWER_COLUMNS)}.")
    answers = answers[list(ANSWER_COLUMNS)].reset_index(drop=True)
    if answers.empty:
        return _empty_answers()
    known = pd.to_numeric(answers["item"], errors="coerce").isin(np.arange(1, len(session) + 1))
    if not known.all():
        raise LiverkitError(
            f"{where} name item(s) {answers['item'][~known].tolist()[:5]} that this session does not have "
            f"(its items are 1 to {len(session)})."
        )
    answers["item"] = answers["item"].astype(np.int64)
    expected = session.items.lesion_id.to_numpy()[answers["item"].to_numpy() - 1]
    wrong = np.flatnonzero(answers.lesion_id.to_numpy().astype(str) != expected)
    if wrong.size:
        i = wrong[0]
        raise LiverkitError(
            f"{where} belong to another session: item {answers.item[i]} was lesion '{answers.lesion_id[i]}' there "
            f"but is '{expected[i]}' here. Rebuild the session with the same settings (profile, fold, seed), "
            "answer under another rater name, or delete the answers file to start over."
        )
    unknown = sorted(set(answers.answered_class.astype(str)) - set(session.class_names))
    if unknown:
        raise LiverkitError(f"{where} name unknown class(es) {unknown}; the classes are {list(session.class_names)}.")
    if not all(isinstance(v, bool | np.bool_) for v in answers.answered_synthetic):
        raise LiverkitError(f"{where}: answered_synthetic must be True or False in every row.")
    repeated = answers.duplicated(["rater", "item"])
    if repeated.any():
        row = answers[repeated].iloc[0]
        raise LiverkitError(f"{where} hold two answers of rater '{row.rater}' for item {row['item']}.")
    return answers.astype({"answered_synthetic": bool})


class AnswerSheet:
    """One rater's answers to one session, saved to ``artifacts/turing_answers_<rater>.csv`` after every answer.

    Opening a sheet reads what the rater already answered (and refuses a file written for another session);
    :meth:`record` adds one answer and rewrites the file before it returns.
    """

    def __init__(self, run: RunFolder, session: Session, rater: str) -> None:
        self.rater = check_rater(rater)
        self.session = session
        self.path = answers_path(run, rater)
        answers = check_answers(_read_answers(self.path), session, where=f"the answers in '{self.path}'")
        others = sorted(set(answers.rater.astype(str)) - {self.rater})
        if others:
            raise LiverkitError(f"'{self.path}' holds answers of other raters {others}; it should hold only {rater!r}.")
        self.answers = answers

    @property
    def next_item(self) -> int | None:
        """The first unanswered item, or None when every item is answered."""
        answered = set(self.answers["item"].tolist())
        return next((i for i in range(1, len(self.session) + 1) if i not in answered), None)

    def record(self, item: int, answered_class: str, answered_synthetic: bool) -> dict:
        """Save one answer (file rewritten before this returns); returns the row."""
        item = self.session.check_item(item)
        if item in set(self.answers["item"].tolist()):
            raise LiverkitError(f"rater '{self.rater}' already answered item {item}; answers cannot be changed.")
        check_choice(answered_class, answered_synthetic, self.session.class_names)
        row = {
            "rater": self.rater,
            "item": item,
            "lesion_id": str(self.session.items.lesion_id.iloc[item - 1]),
            "answered_class": answered_class,
            "answered_synthetic": bool(answered_synthetic),
            "answered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        answers = pd.DataFrame(self.answers.to_dict("records") + [row], columns=list(ANSWER_COLUMNS))
        _write_answers(self.path, answers)
        self.answers = answers
        return row


def check_choice(answered_class: str, answered_synthetic: bool, class_names: tuple[str, ...]) -> None:
    """Refuse an answer that names no class of the session, or whose real-or-synthetic call is not a bool."""
    if answered_class not in class_names:
        raise LiverkitError(f"unknown class {answered_class!r}; choose one of {list(class_names)}.")
    if not isinstance(answered_synthetic, bool | np.bool_):
        raise LiverkitError(f"is_synthetic must be True (synthetic) or False (real), got {answered_synthetic!r}.")


# ---------------------------------------------------------------------------------------------- the scores
def _with_truth(answers: pd.DataFrame, session: Session) -> pd.DataFrame:
    """Answers joined with the truth, plus ``class_right`` and ``origin_right`` per answer."""
    table = check_answers(answers, session).merge(
        session.items[["item", "source", "true_class", "is_synthetic"]], on="item", how="left"
    )
    table["class_right"] = table.answered_class.astype(str) == table.true_class.astype(str)
    table["origin_right"] = table.answered_synthetic.astype(bool) == table.is_synthetic.astype(bool)
    return table


def _ratio(k: int, n: int) -> float:
    return k / n if n else float("nan")


SCORE_COLUMNS = (
    "rater",
    "simulated",
    "n_answered",
    "n_real",
    "n_synthetic",
    "class_right_real",
    "class_accuracy_real",
    "class_right_synthetic",
    "class_accuracy_synthetic",
    "origin_right",
    "origin_accuracy",
    "p_value",
    "sensitivity",
    "specificity",
    "in_words",
)
"""The columns of :func:`score`'s table."""


def score(answers: pd.DataFrame, session: Session) -> pd.DataFrame:
    """Each rater's scores, one row per rater (sorted by name).

    Columns: ``rater``, ``simulated``, ``n_answered``, ``n_real``, ``n_synthetic``; the class named right on real
    ROIs (``class_right_real``, ``class_accuracy_real``) and on synthetic ones (``..._synthetic``); real told from
    synthetic (``origin_right``, ``origin_accuracy``) with ``p_value``, the two-sided exact binomial test against
    guessing (50%); ``sensitivity`` (synthetic ROIs called synthetic), ``specificity`` (real ROIs called real);
    and ``in_words``, the result in two sentences.
    """
    table = _with_truth(answers, session)
    rows = [_rater_scores(str(rater), part) for rater, part in table.groupby("rater", sort=True)]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _rater_scores(rater: str, part: pd.DataFrame) -> dict:
    real, fake = part[~part.is_synthetic], part[part.is_synthetic]
    n, right = len(part), int(part.origin_right.sum())
    row = {
        "rater": rater,
        "simulated": rater.startswith(SIMULATED_PREFIX),
        "n_answered": n,
        "n_real": len(real),
        "n_synthetic": len(fake),
        "class_right_real": int(real.class_right.sum()),
        "class_accuracy_real": _ratio(int(real.class_right.sum()), len(real)),
        "class_right_synthetic": int(fake.class_right.sum()),
        "class_accuracy_synthetic": _ratio(int(fake.class_right.sum()), len(fake)),
        "origin_right": right,
        "origin_accuracy": _ratio(right, n),
        "p_value": float(binomtest(right, n, 0.5, alternative="two-sided").pvalue) if n else float("nan"),
        "sensitivity": _ratio(int(fake.answered_synthetic.sum()), len(fake)),
        "specificity": _ratio(int((~real.answered_synthetic).sum()), len(real)),
    }
    return row | {"in_words": in_words(row)}


def _percent(k: int, n: int) -> str:
    return f"{k} of {n} ({k / n:.0%})" if n else "none of 0"


def in_words(row: Mapping) -> str:
    """One rater's :func:`score` row as two plain sentences."""
    n, right, p = row["n_answered"], row["origin_right"], row["p_value"]
    who = row["rater"]
    if n == 0:
        return f"{who} has not answered yet."
    if p < 0.05:
        verdict = "better than guessing" if right > n / 2 else "worse than guessing: real and synthetic were swapped"
    else:
        verdict = "not shown to be better than guessing"
    return (
        f"{who} told real from synthetic in {_percent(right, n)}; with chance at 50% p = {p:.2g}: {verdict}. "
        f"The class was right for {_percent(row['class_right_real'], row['n_real'])} real ROIs and "
        f"{_percent(row['class_right_synthetic'], row['n_synthetic'])} synthetic ones."
    )


def _kappa(a: np.ndarray, b: np.ndarray, labels: list) -> float:
    """Cohen's kappa; NaN where it is undefined (no items, or both raters always gave the same one answer)."""
    if len(a) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b, labels=labels, replace_undefined_by=np.nan))


def kappa_words(kappa: float) -> str:
    """Landis and Koch's words for a kappa value."""
    if not np.isfinite(kappa):
        return "undefined"
    if kappa < 0:
        return "less than chance"
    bands = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"))
    return next((words for limit, words in bands if kappa <= limit), "almost perfect")


def agreement(answers: pd.DataFrame, session: Session) -> pd.DataFrame:
    """How far each pair of raters agree, on the items both answered: one row per pair.

    Columns: ``rater_a``, ``rater_b``, ``n_both``; ``origin_agreement`` and ``kappa_origin`` for the
    real-or-synthetic call, ``class_agreement`` and ``kappa_class`` for the class (raw agreement, and Cohen's kappa:
    agreement beyond what two raters answering independently at their own rates would reach; 0 = chance level,
    1 = perfect); ``in_words``.
    """
    table = check_answers(answers, session)
    by_rater = {str(r): part.set_index("item") for r, part in table.groupby("rater", sort=True)}
    rows = []
    for a, b in combinations(sorted(by_rater), 2):
        both = by_rater[a].merge(by_rater[b], left_index=True, right_index=True, suffixes=("_a", "_b"))
        origin_a, origin_b = both.answered_synthetic_a.to_numpy(bool), both.answered_synthetic_b.to_numpy(bool)
        class_a, class_b = both.answered_class_a.to_numpy(str), both.answered_class_b.to_numpy(str)
        row = {
            "rater_a": a,
            "rater_b": b,
            "n_both": len(both),
            "origin_agreement": _ratio(int((origin_a == origin_b).sum()), len(both)),
            "kappa_origin": _kappa(origin_a, origin_b, [False, True]),
            "class_agreement": _ratio(int((class_a == class_b).sum()), len(both)),
            "kappa_class": _kappa(class_a, class_b, list(session.class_names)),
        }
        rows.append(row | {"in_words": _agreement_words(row)})
    columns = ["rater_a", "rater_b", "n_both", "origin_agreement", "kappa_origin", "class_agreement", "kappa_class"]
    return pd.DataFrame(rows, columns=[*columns, "in_words"])


def expected_kappa(accuracy_a: float, accuracy_b: float, n_classes: int) -> float:
    """Cohen's kappa that two raters reach on average when each is right independently at its own rate (a wrong
    call spread evenly over the other classes), on items balanced over ``n_classes`` answers.

    Kappa corrects for the raters' answer rates, not for the truth: two raters who are both often right agree
    beyond chance because both follow the truth (0.8 and 0.8 on three classes: about 0.49); only guessing raters
    (accuracy 1 / ``n_classes``) have kappa 0 on average. Agreement = ``a b + (1 - a)(1 - b) / (k - 1)``, chance
    agreement = ``1 / k``.

    Args:
        accuracy_a, accuracy_b: each rater's share of right answers.
        n_classes: the number of possible answers (3 lesion classes; 2 for real-or-synthetic).
    """
    if n_classes < 2:
        raise LiverkitError(f"kappa needs at least 2 possible answers, got {n_classes}.")
    agree = accuracy_a * accuracy_b + (1 - accuracy_a) * (1 - accuracy_b) / (n_classes - 1)
    chance = 1 / n_classes
    return (agree - chance) / (1 - chance)


def _agreement_words(row: Mapping) -> str:
    n = row["n_both"]
    same_origin = round(row["origin_agreement"] * n) if n else 0
    same_class = round(row["class_agreement"] * n) if n else 0
    return (
        f"{row['rater_a']} and {row['rater_b']} made the same real-or-synthetic call on {_percent(same_origin, n)} "
        f"items they both answered ({_kappa_text(row['kappa_origin'])}) and named the same class on "
        f"{_percent(same_class, n)} ({_kappa_text(row['kappa_class'])})."
    )


def _kappa_text(kappa: float) -> str:
    if not np.isfinite(kappa):
        return "kappa undefined: no items, or both always gave the same answer"
    return f"kappa {kappa:.2f}: {kappa_words(kappa)}"


def item_table(answers: pd.DataFrame, session: Session) -> pd.DataFrame:
    """Per answered item: the truth, how many raters answered it, and the share who called it synthetic and who
    named its class right."""
    table = _with_truth(answers, session)
    per_item = table.groupby("item").agg(
        n_raters=("rater", "size"), called_synthetic=("answered_synthetic", "mean"), class_right=("class_right", "mean")
    )
    return session.items.merge(per_item.reset_index(), on="item", how="inner")


def key_numbers(scores: pd.DataFrame, pairs: pd.DataFrame) -> dict:
    """The numbers notebook 08 records: per rater, its answers and scores; per pair of raters, the kappas."""

    def number(value: object) -> float | None:
        return None if pd.isna(value) else round(float(value), 4)

    raters = {
        str(r.rater): {
            "simulated": bool(r.simulated),
            "n_answered": int(r.n_answered),
            "real_vs_synthetic_accuracy": number(r.origin_accuracy),
            "p_value": number(r.p_value),
            "class_accuracy_real": number(r.class_accuracy_real),
            "class_accuracy_synthetic": number(r.class_accuracy_synthetic),
            "sensitivity": number(r.sensitivity),
            "specificity": number(r.specificity),
        }
        for r in scores.itertuples()
    }
    kappa = {
        f"{p.rater_a} vs {p.rater_b}": {
            "n_both": int(p.n_both),
            "real_vs_synthetic": number(p.kappa_origin),
            "class": number(p.kappa_class),
        }
        for p in pairs.itertuples()
    }
    return {"raters": raters, "kappa": kappa}
