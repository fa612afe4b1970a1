"""One self-contained HTML report per run folder: what the run did and what it found, on one page that opens offline.

Why: a run's results are spread over executed notebooks, ``metrics/*.json`` and artifact tables. The report puts
the key ones on one page that can be mailed, archived, or opened years later with nothing but a browser: no
Python, no server, no internet.

How:

- Every figure and table comes from the library's own functions (:mod:`liverkit.experiment`,
  :mod:`liverkit.gan_experiment`, :mod:`liverkit.plots`, :mod:`liverkit.embed`, :mod:`liverkit.quality`), fed
  from the run folder's saved artifacts. Nothing is trained; the bootstrap CIs and paired tests are recomputed
  with the notebooks' own settings and seeds, so they match the notebooks' numbers.
- plotly.js is embedded once, inline, in the page's head; CSS is inline; figures carry their data inline. The
  page loads nothing from anywhere.
- A section whose artifacts are missing says ``not run yet: notebook NN`` and names the missing files; the report
  builds after notebook 01 alone. Only *missing files* are skipped: a section that fails for any other reason
  raises, so a bug never hides behind a quiet gap.
- The page checks itself. An inline script records JavaScript errors (uncaught errors, failed resource loads,
  rejected promises, ``console.error``) in ``<body data-errors>``, and after loading counts the plotly figures
  that drew their SVG in ``<body data-drawn>`` (``data-figures`` holds how many there are). A headless browser's
  dumped DOM therefore shows whether the page rendered cleanly (``tests/test_report.py`` does exactly that).

Usage::

    from liverkit.report import write_report

    write_report("runs/demo")  # -> runs/demo/report.html
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from liverkit import embed, experiment, gan_experiment, gan_results, plots, quality, synthesis
from liverkit.config import Profile, resolve_profile
from liverkit.data.folds import split
from liverkit.data.lesionset import LesionSet
from liverkit.env import config_info
from liverkit.errors import LiverkitError
from liverkit.io import atomic_write
from liverkit.regress import flatten
from liverkit.runs import RunFolder

REPORT_FILE = "report.html"
"""The report's file name inside the run folder."""

NOTEBOOKS = {
    "01": "01_data",
    "02": "02_classic_augmentation",
    "03": "03_dcgan",
    "04": "04_acgan",
    "05": "05_gan_augmentation",
    "06": "06_feature_maps",
    "07": "07_synthetic_quality",
}
"""The notebooks whose artifacts the report reads, by number. Notebook 08 (the visual Turing test) is shown only
when its ``metrics/08_*.json`` exists."""

GAN_NOTEBOOKS = {"dcgan": "03", "acgan": "04"}
"""The notebook that trains each GAN kind and saves its synthetic lesions."""

SAMPLE_FOLD = 0
"""The fold whose real and synthetic lesions the sample grids show (notebooks 03 and 04 show fold 0 too)."""

MAP_MODELS = {"cnn_aug": "CNN-AUG (classic only)", "cnn_aug_gan": "CNN-AUG-GAN (classic + DCGAN)"}
"""Notebook 06's feature maps: the key in ``feature_map_<key>_fold<k>.csv`` and the model's name."""

MAP_NAMES = {"tsne": "t-SNE", "umap": "UMAP"}
"""Display names of the coordinate column prefixes of a saved map table (``tsne_x`` ...)."""

CLOSEST_PAIRS_HEIGHT = 440
"""Pixels: quality.closest_pairs_figure's own height (that of two mosaic rows) leaves its 8 x 2 images tiny."""

QUALITY_CHART_METRICS = ("fid", "kid_mean", "precision", "recall", "density", "coverage")
"""The overall quality metrics drawn as bars (kid_std is in the table)."""


# ---------------------------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class Section:
    """One section of the page: an anchor, a title and its HTML body."""

    key: str
    title: str
    body: str
    complete: bool = True
    """False when some of its notebooks have not run yet (the body says which)."""
    seconds: float = 0.0
    """How long the section took to build."""


@dataclass(frozen=True)
class Report:
    """A built report: the page and what went into it."""

    html: str
    sections: tuple[Section, ...]
    figures: int
    """Plotly figures on the page (the page's own check compares it with the figures that drew)."""
    seconds: float


def write_report(run_dir: str | os.PathLike) -> Path:
    """Build the run folder's report and write it atomically to ``<run_dir>/report.html``; return that path.

    Raises:
        LiverkitError: ``run_dir`` is not a run folder (it has no ``run.json``).
    """
    report = build_report(run_dir)

    def write(tmp: Path) -> None:
        tmp.write_text(report.html, encoding="utf-8")
        tmp.chmod(0o644)  # a report is for sharing; atomic_write's temporary files start private (0600)

    return atomic_write(Path(run_dir) / REPORT_FILE, write)


def build_report(run_dir: str | os.PathLike) -> Report:
    """Build the report of a run folder in memory (see :func:`write_report`)."""
    start = time.perf_counter()
    data = RunData(run_dir)
    figures = Figures()
    sections = []
    for builder in SECTION_BUILDERS:
        section_start = time.perf_counter()
        section = builder(data, figures)
        if section is not None:
            sections.append(replace(section, seconds=time.perf_counter() - section_start))
    seconds = time.perf_counter() - start
    title = f"liverkit report: {data.run.path.resolve().name}"
    page = render_page(title, sections, figures.count, footer=f"Built in {seconds:.1f} s by liverkit.report.")
    return Report(html=page, sections=tuple(sections), figures=figures.count, seconds=seconds)


# ---------------------------------------------------------------------------------------------- the run's data
class RunData:
    """What the sections read from one run folder; each piece is loaded once, and only when a section asks."""

    def __init__(self, run_dir: str | os.PathLike):
        path = Path(run_dir)
        if not (path / "run.json").is_file():
            raise LiverkitError(
                f"'{path}' is not a run folder (it has no run.json): pass the folder given to `liverkit run --out`."
            )
        self.run = RunFolder(path)
        self.identity = self.run.identity
        missing = [key for key in ("profile", "data", "seed") if key not in self.identity]
        if missing:
            raise LiverkitError(f"'{path / 'run.json'}' lacks {missing}; it was not written by liverkit.")
        identity = self.identity
        self.profile: Profile = resolve_profile(identity["profile"], identity["data"], identity.get("overrides"))
        self.seed = int(self.identity["seed"])
        self._gan_training: dict[int, LesionSet] = {}

    def absent(self, needs: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
        """Of ``needs`` (notebook number -> files relative to the run folder), the missing files per notebook."""
        lost = {number: [f for f in files if not (self.run.path / f).is_file()] for number, files in needs.items()}
        return {number: files for number, files in lost.items() if files}

    def metrics(self, number: str) -> dict[str, Any]:
        return self.run.read_metrics(NOTEBOOKS[number])

    def table(self, name: str) -> pd.DataFrame:
        """``artifacts/<name>.csv`` (a table saved with no columns reads back as an empty DataFrame)."""
        return self.run.load_table(name)

    @cached_property
    def lesions(self) -> LesionSet:
        return self.run.load_lesionset("lesions")

    @cached_property
    def fold_of(self) -> np.ndarray:
        return self.run.load_array("folds")

    @cached_property
    def classic(self) -> experiment.ClassicSweep:
        """Notebook 02's sweep (the ``classic_*`` tables)."""
        return experiment.load_sweep(self.run, self.lesions.class_names)

    @cached_property
    def classic_table(self) -> pd.DataFrame:
        return experiment.sweep_table(self.classic)

    @cached_property
    def no_augmentation(self) -> pd.DataFrame:
        predictions = self.classic.predictions
        return predictions[predictions.group == 0]

    @cached_property
    def gan(self) -> gan_experiment.GanSweep:
        """Notebook 05's sweep, rebuilt from its ``gan_*`` tables and recorded sizes."""
        return gan_experiment.GanSweep(
            predictions=self.table("gan_predictions"),
            inner=self.table("gan_inner"),
            timing=self.table("gan_timing"),
            class_names=self.lesions.class_names,
            sizes=gan_experiment.check_sizes(tuple(self.metrics("05")["sizes"])),
        )

    def gan_training(self, fold: int) -> LesionSet:
        """The classic group fold ``fold``'s GANs were trained on, rebuilt (once) as notebook 07 does."""
        if fold not in self._gan_training:
            choice = synthesis.load_choice(self.run)
            size = int(choice[choice.fold == fold].group.iloc[0])
            group = synthesis.fold_training_group(
                self.lesions, self.fold_of, fold, size, self.profile.augment, self.seed
            )
            self._gan_training[fold] = group
        return self._gan_training[fold]

    @cached_property
    def executed(self) -> dict[str, dict]:
        """The executed notebooks (``notebooks/*.ipynb``) as JSON, by stem."""
        folder = self.run.path / "notebooks"
        files = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        return {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in files}


NEEDS = {
    "01": ("metrics/01_data.json", "artifacts/lesions.npz", "artifacts/folds.npy"),
    "02": (
        "metrics/02_classic_augmentation.json",
        "artifacts/classic_predictions.csv",
        "artifacts/classic_inner.csv",
        "artifacts/classic_history.csv",
        "artifacts/classic_timing.csv",
        "artifacts/classic_choice.csv",
    ),
    "05": (
        "metrics/05_gan_augmentation.json",
        "artifacts/gan_predictions.csv",
        "artifacts/gan_inner.csv",
        "artifacts/gan_timing.csv",
    ),
}
"""Files a section needs from each notebook (relative to the run folder); per-fold files are named in place."""


# ---------------------------------------------------------------------------------------------- HTML pieces
class Figures:
    """Turns plotly figures into HTML divs and counts them. plotly.js is not in the divs: the page embeds it once."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: go.Figure) -> str:
        self.count += 1
        inner = figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"figure-{self.count}", config={"displaylogo": False}
        )
        return f'<div class="figure">{inner}</div>'


def esc(value: object) -> str:
    return html.escape(str(value))


def paragraph(text: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f"<p{klass}>{esc(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def table_html(table: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as an escaped HTML table (axis names dropped, except a multi-level index's)."""
    table = table.rename_axis(columns=None)
    if table.index.nlevels == 1:
        table = table.rename_axis(index=None)
    return table.to_html(classes="data", border=0, na_rep="—", index=index, escape=True)


def kv_table(rows: dict[str, object]) -> str:
    """A two-column table of names and values."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.items())
    return f'<table class="data kv">{body}</table>'


def details(summary: str, body: str) -> str:
    """A collapsible block, closed by default."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def json_block(obj: Any) -> str:
    return f"<pre>{esc(json.dumps(obj, indent=2, sort_keys=True, default=str))}</pre>"


def not_run(lost: dict[str, list[str]], what: str = "") -> str:
    """The visible note for skipped parts: ``not run yet: notebook NN`` with the missing files."""
    notes = []
    for number, files in sorted(lost.items()):
        detail = f" ({what})" if what else ""
        notes.append(
            f'<p class="not-run">not run yet: notebook {esc(number)}{esc(detail)}. '
            f"Missing: {esc(', '.join(files))}.</p>"
        )
    return "".join(notes)


# ---------------------------------------------------------------------------------------------- header
def header_section(data: RunData, figures: Figures) -> Section:
    """Who and what: the run's identity, its data, the software it ran with and how long each notebook took."""
    identity = {
        "run folder": str(data.run.path.resolve()),
        "profile": data.identity["profile"],
        "data source": data.identity["data"],
        "seed": data.seed,
        "report built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    timings = notebook_timings(data)
    finished = timings["finished"][timings["finished"] != ""]
    identity["last notebook finished"] = finished.max() if len(finished) else "—"
    lost = data.absent({"01": ("metrics/01_data.json",)})
    body = kv_table(identity | _data_rows(data)) if not lost else kv_table(identity) + not_run(lost, "the data")
    body += heading("Software and device") + _environment_table(data)
    body += heading("Notebooks (timings from papermill)") + table_html(timings, index=False)
    return Section("run", "Run", body, complete=not lost)


def _data_rows(data: RunData) -> dict[str, object]:
    metrics = data.metrics("01")
    counts = ", ".join(f"{name} {n}" for name, n in metrics["class_counts"].items())
    return {
        "data fingerprint": metrics["fingerprint"],
        "lesions": metrics["n_lesions"],
        "patients": metrics["n_patients"],
        "lesions per class": counts,
        "lesions per fold": ", ".join(str(n) for n in metrics["fold_sizes"]),
        "patients in several folds": metrics["patients_in_several_folds"],
    }


def run_environment(data: RunData) -> dict[str, str]:
    """The versions and device the notebooks ran with: the ``print_config()`` output of the first executed notebook
    (empty when no notebook has run)."""
    for notebook in data.executed.values():
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code" and "print_config()" in "".join(cell["source"]):
                streams = [o for o in cell["outputs"] if o["output_type"] == "stream" and o["name"] == "stdout"]
                text = "".join("".join(o["text"]) for o in streams)
                return dict(re.findall(r"^(\S+)\s{2,}(.+?)\s*$", text, flags=re.MULTILINE))
    return {}


def _environment_table(data: RunData) -> str:
    ran = run_environment(data)
    here = {k: str(v) for k, v in config_info("auto").items()}
    keys = list(dict.fromkeys([*ran, *here]))
    table = pd.DataFrame(
        {"notebooks ran with": [ran.get(k, "—") for k in keys], "report built with": [here.get(k, "—") for k in keys]},
        index=keys,
    )
    note = "" if ran else paragraph("No executed notebook holds a print_config() output yet.", "note")
    return note + table_html(table)


def notebook_timings(data: RunData) -> pd.DataFrame:
    """One row per notebook: status and the duration, start and end papermill recorded in the executed copy."""
    stems = list(dict.fromkeys([*NOTEBOOKS.values(), *data.executed]))
    rows = []
    for stem in sorted(stems):
        meta = data.executed[stem]["metadata"].get("papermill", {}) if stem in data.executed else None
        if meta is None:
            rows.append({"notebook": stem, "status": "not run yet", "seconds": np.nan, "started": "", "finished": ""})
            continue
        seconds = meta.get("duration")
        rows.append(
            {
                "notebook": stem,
                "status": "failed" if meta.get("exception") else "done",
                "seconds": np.nan if seconds is None else round(float(seconds), 1),
                "started": meta.get("start_time") or "",
                "finished": meta.get("end_time") or "",
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- results
def results_section(data: RunData, figures: Figures) -> Section:
    """The paper's table with 95% CIs (notebook 05's, or 02's before 05 has run) and the paired comparisons."""
    title = "Results with 95% confidence intervals"
    lost = data.absent({k: NEEDS[k] for k in ("01", "02")})
    if lost:
        return Section("results", title, not_run(lost), complete=False)
    lost = data.absent({"05": NEEDS["05"]})
    if lost:
        body = _classic_results(data, figures) + not_run(lost, "the GAN and control arms and their paired comparisons")
        return Section("results", title, body, complete=False)
    return Section("results", title, _gan_results(data, figures))


def _classic_results(data: RunData, figures: Figures) -> str:
    classic, n = data.classic, len(data.lesions.class_names)
    results = experiment.results_table(classic)
    matrices = {"no augmentation": experiment.pooled_confusion(data.no_augmentation, n)}
    if not classic.inner.empty:
        honest = experiment.chosen_predictions(classic, "honest")
        matrices["classic optimum (honest choice)"] = experiment.pooled_confusion(honest, n)
    paper = experiment.chosen_predictions(classic, "paper")
    matrices["classic optimum (paper's choice)"] = experiment.pooled_confusion(paper, n)
    intro = paragraph(
        "Notebook 02: test accuracy, sensitivity and specificity pooled over the patient-level folds and repeats, "
        "each with its 95% bootstrap CI resampling patients (a patient's lesions are not independent)."
    )
    figure = figures.div(plots.confusion_row(matrices, classic.class_names))
    return intro + table_html(experiment.results_wide(results)) + figure


BUDGET_TITLE = "Training budget per arm (one rule: the same epochs over every model's whole training set)"


def _gan_results(data: RunData, figures: Figures) -> str:
    sweep = data.gan
    results = gan_results.results_table(sweep, data.no_augmentation)
    comparisons = gan_results.compare(sweep)
    sentences = "".join(f"<li><b>[{esc(c['mode'])} choice]</b> {esc(c['in_words'])}</li>" for c in comparisons)
    intro = paragraph(
        "Notebook 05: no augmentation, the classic optimum, the same-size control (extra classic variants instead "
        "of synthetic lesions) and classic plus each GAN's lesions at the chosen size; test lesions only, pooled "
        "over folds and repeats, with 95% CIs resampling patients. Rows marked optimistic chose their size on the "
        "test folds."
    )
    matrices = gan_results.confusion_matrices(sweep, data.no_augmentation)
    budget = gan_results.budget_table(sweep).round(3)
    folds = gan_results.fold_table(sweep, data.no_augmentation)
    return (
        intro
        + table_html(experiment.results_wide(results))
        + details("Accuracy per test fold and repeat", table_html(folds.round(3)))
        + details(BUDGET_TITLE, table_html(budget, index=False))
        + heading("Do the added images help? (paired, patient-level; Holm-adjusted over the honest comparisons)")
        + f'<ul class="comparisons">{sentences}</ul>'
        + figures.div(plots.confusion_row(matrices, sweep.class_names))
    )


# ---------------------------------------------------------------------------------------------- curves
def curves_section(data: RunData, figures: Figures) -> Section:
    """Accuracy against training-set size: the classic sweep (02) and the GAN sweep (05)."""
    title = "Accuracy curves"
    lost = data.absent({k: NEEDS[k] for k in ("01", "02")})
    if lost:
        return Section("curves", title, not_run(lost), complete=False)
    table = data.classic_table
    body = heading("Classic augmentation (CNN-AUG, notebook 02)") + figures.div(plots.sweep_chart(table))
    body += details("Accuracy per group and fold", table_html(table.round(3), index=False))
    lost = data.absent({"05": NEEDS["05"]})
    if lost:
        return Section("curves", title, body + not_run(lost, "the GAN sweep chart"), complete=False)
    curve = gan_results.curve_table(data.gan)
    body += heading("Classic plus added images: the control and each GAN (CNN-AUG-GAN, notebook 05)")
    body += figures.div(plots.gan_sweep_chart(table, curve))
    body += details("Accuracy per arm and added size", table_html(curve.round(3), index=False))
    return Section("curves", title, body)


# ---------------------------------------------------------------------------------------------- samples
def samples_section(data: RunData, figures: Figures) -> Section:
    """Real training lesions beside each GAN's synthetic ones, per class, for fold 0 (notebooks 03 and 04)."""
    body, complete = "", True
    for kind, number in GAN_NOTEBOOKS.items():
        name = f"synthetic_{kind}_fold{SAMPLE_FOLD}"
        lost = data.absent({"01": NEEDS["01"], number: (f"artifacts/{name}.npz",)})
        body += heading(f"{kind.upper()} (notebook {number}), fold {SAMPLE_FOLD}")
        if lost:
            body, complete = body + not_run(lost), False
            continue
        real_train, _ = split(data.lesions, data.fold_of, SAMPLE_FOLD)
        synthetic = data.run.load_lesionset(name)
        body += figures.div(plots.real_vs_synthetic(real_train, synthetic, per_class=6, seed=data.seed))
    return Section("samples", "Real and synthetic lesions", body, complete)


# ---------------------------------------------------------------------------------------------- maps
def map_coordinates(table: pd.DataFrame) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The inverse of :func:`liverkit.embed.map_table`: ``({map name: N x 2}, meta)`` from a saved map table."""
    keys = [c[:-2] for c in table.columns if c.endswith("_x") and f"{c[:-2]}_y" in table.columns]
    if not keys:
        raise LiverkitError(f"a map table needs <name>_x / <name>_y coordinate columns; it has {list(table.columns)}.")
    maps = {MAP_NAMES.get(k, k): table[[f"{k}_x", f"{k}_y"]].to_numpy(dtype=np.float64) for k in keys}
    meta = table.drop(columns=[f"{k}_{axis}" for k in keys for axis in "xy"])
    return maps, meta


def maps_section(data: RunData, figures: Figures) -> Section:
    """Notebook 06's t-SNE and UMAP maps of the CNNs' features, with the numbers measured in the features."""
    title = "Feature maps (t-SNE, UMAP)"
    lost = data.absent({"06": ("metrics/06_feature_maps.json",)})
    if lost:
        return Section("maps", title, not_run(lost), complete=False)
    fold = int(data.metrics("06")["fold"])
    body = paragraph(
        "Each point is a lesion seen through a CNN's last hidden layer: fold "
        f"{fold}'s real test lesions and synthetic lesions of both GANs. Maps can draw islands and bridges that "
        "are not in the data; the tables below are measured in the feature space itself."
    )
    complete = True
    for key, model in MAP_MODELS.items():
        name, agreement = f"feature_map_{key}_fold{fold}", f"feature_agreement_{key}_fold{fold}"
        body += heading(model)
        lost = data.absent({"06": (f"artifacts/{name}.csv", f"artifacts/{agreement}.csv")})
        if lost:
            body, complete = body + not_run(lost), False
            continue
        maps, meta = map_coordinates(data.table(name))
        body += figures.div(embed.maps_figure(maps, meta, f"{model}: fold {fold}'s real test and synthetic lesions"))
        body += table_html(data.table(agreement).round(3), index=False)
    return Section("maps", title, body, complete)


# ---------------------------------------------------------------------------------------------- quality
def quality_chart(table: pd.DataFrame) -> go.Figure:
    """The overall rows of :func:`liverkit.quality.quality_table` as bars: one panel per metric, one bar per
    comparison (the real-vs-real baseline first, in grey)."""
    overall = table[table["class"] == "all"]
    comparisons = list(dict.fromkeys(overall["comparison"]))
    fig = make_subplots(rows=1, cols=len(QUALITY_CHART_METRICS), subplot_titles=QUALITY_CHART_METRICS)
    for i, comparison in enumerate(comparisons):
        values = overall[overall["comparison"] == comparison].set_index("metric")["value"]
        for col, metric in enumerate(QUALITY_CHART_METRICS, start=1):
            fig.add_bar(
                x=[comparison],
                y=[values.get(metric, np.nan)],
                name=comparison,
                legendgroup=comparison,
                marker_color=_bar_colour(comparison, i),
                showlegend=col == 1,
                row=1,
                col=col,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title="Overall quality in the CNN's feature space (grey: the real-vs-real baseline)",
        height=360,
        legend_orientation="h",
    )
    return fig


def _bar_colour(comparison: str, i: int) -> str:
    return "grey" if comparison.startswith(quality.BASELINE) else plots.CLASS_COLOURS[i % len(plots.CLASS_COLOURS)]


def quality_section(data: RunData, figures: Figures) -> Section:
    """Notebook 07: FID, KID and PRDC against the real-vs-real baseline, and the memorization audit."""
    title = "Synthetic quality and memorization"
    lost = data.absent({"07": ("metrics/07_synthetic_quality.json",)})
    if lost:
        return Section("quality", title, not_run(lost), complete=False)
    metrics = data.metrics("07")
    fold = int(metrics["fold"])
    lost = data.absent({"07": (f"artifacts/quality_fold{fold}.csv",)})
    if lost:
        return Section("quality", title, not_run(lost), complete=False)
    table = data.table(f"quality_fold{fold}")
    body = paragraph(
        f"Fold {fold}, in the feature space of the CNN trained with classic augmentation only (it never saw a GAN "
        "lesion nor a test lesion). Every comparison's reference is the fold's real test lesions, which no GAN saw. "
        "Read every number beside the real-train row (real training lesions against the same test lesions, at the "
        "same n); brackets are 95% bootstrap intervals (test patients and compared lesions resampled)."
    )
    body += figures.div(quality_chart(table)) + table_html(quality.interval_table(table))
    body += details("Per class", table_html(quality.interval_table(table, per_class=True)))
    body += heading("Memorization: does a generator copy its training images?")
    memorization = pd.DataFrame(metrics["memorization"], dtype=object).map(_number)  # one column per generator
    body += table_html(memorization)
    gallery, complete = _closest_pairs(data, fold, figures)
    return Section("quality", title, body + gallery, complete)


def _number(value: object) -> str:
    """A recorded number for a table: 4 significant digits for floats, integers as they are."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _closest_pairs(data: RunData, fold: int, figures: Figures) -> tuple[str, bool]:
    """Each generator's synthetic lesions closest to a training image, above their nearest training image."""
    body, complete = "", True
    for kind, number in GAN_NOTEBOOKS.items():
        audit, synthetic = f"memorization_{kind}_fold{fold}", f"synthetic_{kind}_fold{fold}"
        needs = {"01": NEEDS["01"], "02": ("artifacts/classic_choice.csv",), number: (f"artifacts/{synthetic}.npz",)}
        lost = data.absent(needs | {"07": (f"artifacts/{audit}.csv",)})
        body += heading(f"{kind.upper()}: the closest pairs")
        if lost:
            body, complete = body + not_run(lost), False
            continue
        train = data.gan_training(fold)
        figure = quality.closest_pairs_figure(data.table(audit), train, data.run.load_lesionset(synthetic), n=8)
        body += figures.div(figure.update_layout(height=CLOSEST_PAIRS_HEIGHT))
    return body, complete


# ---------------------------------------------------------------------------------------------- 08, metrics, config
def turing_section(data: RunData, figures: Figures) -> Section | None:
    """Notebook 08's recorded numbers (the visual Turing test); no section until ``metrics/08_*.json`` exists."""
    files = sorted((data.run.path / "metrics").glob("08_*.json"))
    if not files:
        return None
    tables = [kv_table(flatten(data.run.read_metrics(f.stem), sep=".", lists=False)) for f in files]
    body = "".join(heading(f.stem) + table for f, table in zip(files, tables, strict=True))
    return Section("turing", "Visual Turing test", body)


def metrics_section(data: RunData, figures: Figures) -> Section:
    """Every notebook's recorded key numbers, as recorded (collapsed)."""
    files = sorted((data.run.path / "metrics").glob("*.json"))
    body = "".join(details(f.stem, json_block(data.run.read_metrics(f.stem))) for f in files)
    none = paragraph("No notebook has recorded metrics yet.", "note")
    return Section("metrics", "Recorded key numbers", body or none)


def config_section(data: RunData, figures: Figures) -> Section:
    """The profile's every setting (as the run resolved it), and the command that reruns the run."""
    body = paragraph("To run this again:") + f"<pre>{esc(rerun_command(data.identity, data.run.path))}</pre>"
    body += details(f"Profile '{data.profile.name}' (liverkit.config)", json_block(data.profile.to_dict()))
    body += details("run.json", json_block(data.identity))
    return Section("config", "Configuration", body)


def rerun_command(identity: dict[str, Any], run_dir: str | os.PathLike) -> str:
    """The shell command that reruns a run: every part shell-quoted (a data name or folder with spaces or quotes
    stays one argument), the run's ``--set`` overrides included, and the manifest in use when one was named with
    ``$LIVERKIT_MANIFEST`` (the data name means nothing without it)."""
    parts = ["liverkit", "run", "--profile", identity["profile"], "--data", identity["data"]]
    parts += ["--seed", str(identity["seed"]), "--out", str(run_dir)]
    for key, value in (identity.get("overrides") or {}).items():
        parts += ["--set", f"{key}={json.dumps(value)}"]  # JSON is YAML, which --set reads
    manifest = os.environ.get("LIVERKIT_MANIFEST")
    prefix = f"LIVERKIT_MANIFEST={shlex.quote(manifest)} " if manifest else ""
    return prefix + shlex.join(parts)


SECTION_BUILDERS = (
    header_section,
    results_section,
    curves_section,
    samples_section,
    maps_section,
    quality_section,
    turing_section,
    metrics_section,
    config_section,
)
"""The sections, in page order. Each takes ``(RunData, Figures)`` and returns a Section (or None to leave it out)."""


# ---------------------------------------------------------------------------------------------- the page
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1300px; margin: 0 auto; padding: 1em 2em 3em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
nav a.incomplete::after { content: " (partly not run)"; color: #a60; font-size: 0.85em; }
table.data { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; background: white; }
table.data th, table.data td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
table.data thead th { background: #f0f0f0; }
.not-run { background: #fff4e0; border-left: 4px solid #e0a030; padding: 0.5em 0.8em; }
.note { color: #666; } .figure { overflow-x: auto; margin: 0.8em 0; background: white; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #246; }
ul.comparisons li { margin-bottom: 0.5em; } footer { color: #888; font-size: 0.85em; margin-top: 3em; }
"""

_ERROR_RECORDER = """
window.reportErrors = [];
function recordReportError(message) {
  window.reportErrors.push(String(message));
  if (document.body) {
    document.body.setAttribute("data-errors", String(window.reportErrors.length));
    document.body.setAttribute("data-error-messages", window.reportErrors.join(" | "));
  }
}
window.addEventListener("error", function (event) {
  var target = event.target;
  var what = target && target !== window ? " (" + (target.src || target.href || target.tagName) + ")" : "";
  recordReportError((event.message || "a resource failed to load") + what);
}, true);
window.addEventListener("unhandledrejection", function (event) {
  recordReportError("unhandled rejection: " + event.reason);
});
var consoleError = console.error;
console.error = function () {
  recordReportError("console.error: " + Array.prototype.join.call(arguments, " "));
  consoleError.apply(console, arguments);
};
"""

_FIGURE_CHECK = """
function checkReportFigures() {
  var divs = document.querySelectorAll("div.plotly-graph-div");
  var drawn = 0;
  for (var i = 0; i < divs.length; i++) { if (divs[i].querySelector("svg.main-svg")) { drawn += 1; } }
  document.body.setAttribute("data-graph-divs", String(divs.length));
  document.body.setAttribute("data-drawn", String(drawn));
  document.body.setAttribute("data-errors", String(window.reportErrors.length));
  document.body.setAttribute("data-error-messages", window.reportErrors.join(" | "));
}
window.addEventListener("load", function () { checkReportFigures(); setTimeout(checkReportFigures, 300); });
"""


def render_page(title: str, sections: list[Section], figure_count: int, footer: str = "") -> str:
    """The whole page: inline CSS, the error recorder, plotly.js once (when there are figures), the sections."""
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>' if figure_count else ""
    toc = "".join(
        f'<li><a href="#{esc(s.key)}" class="{"complete" if s.complete else "incomplete"}">{esc(s.title)}</a></li>'
        for s in sections
    )
    body = "".join(f'<section id="{esc(s.key)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{_ERROR_RECORDER}</script>\n{plotly_js}\n</head>\n"
        f'<body data-errors="0" data-figures="{figure_count}" data-drawn="0">\n<main>\n'
        f"<h1>{esc(title)}</h1>\n<nav><ul>{toc}</ul></nav>\n{body}\n"
        f"<footer>{esc(footer)}</footer>\n</main>\n<script>{_FIGURE_CHECK}</script>\n</body>\n</html>\n"
    )
