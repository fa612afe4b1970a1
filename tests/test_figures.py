"""Every figure a student sees is legible at its default size (liverkit.kit.figure_check), and the check itself finds
the problems it promises to: a planted 20-px subplot, overlapping titles, an untitled axis, tiny lesions."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from helpers import make_set
from plotly.subplots import make_subplots

from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import plots, widgets
from liverkit.kit.figure_check import MIN_SUBPLOT_PX, legibility_problems

PLOTLY = "application/vnd.plotly.v1+json"
CLASSES = ("cyst", "metastasis", "hemangioma")


# ---------------------------------------------------------------------------------------------- the check itself
def _line(**layout):
    fig = go.Figure(go.Scatter(x=[1, 2], y=[1, 2]))
    fig.update_layout(xaxis_title="x", yaxis_title="y", **layout)
    return fig


def test_a_plain_titled_chart_passes():
    assert legibility_problems(_line(title="A chart")) == []


def test_a_planted_20px_subplot_fails():
    fig = make_subplots(rows=1, cols=5)
    for col in range(1, 6):
        fig.add_scatter(x=[1, 2], y=[1, 2], row=1, col=col, showlegend=False)
    fig.update_xaxes(title_text="x")
    fig.update_yaxes(title_text="y")
    fig.update_layout(height=200, margin=dict(t=90, b=90))  # 200 - 180 = 20 px of plot height
    problems = legibility_problems(fig, "planted")
    assert len([p for p in problems if "subplot" in p and "x 20 px" in p]) == 5, problems
    assert problems[-1].startswith("planted: subplot") and f"at least {MIN_SUBPLOT_PX} each way" in problems[-1]
    fig.update_layout(height=400)
    assert legibility_problems(fig) == []


def test_overlapping_titles_an_untitled_axis_and_a_wide_title_fail():
    long = "a subplot title much longer than its column"
    fig = make_subplots(rows=1, cols=3, subplot_titles=[long] * 3)
    for col in range(1, 4):
        fig.add_scatter(x=[1, 2], y=[1, 2], row=1, col=col, showlegend=False)
    fig.update_xaxes(title_text="x")
    fig.update_layout(title="t" * 200, width=600)
    problems = " | ".join(legibility_problems(fig))
    assert f"annotation '{long}' overlaps annotation '{long}'" in problems
    assert "yaxis shows tick labels but has no title" in problems
    assert "the title is about" in problems and "the figure 600" in problems


def test_lesions_shown_too_small_fail():
    thumbs = plots.image_mosaic(np.zeros((32, 64, 64)), cols=32, title="32 in a row")  # 32 x 64 px in 900 px
    assert any("shows 64-pixel lesions at" in p for p in legibility_problems(thumbs))
    assert legibility_problems(plots.image_mosaic(np.zeros((8, 64, 64)), cols=8, title="8 in a row")) == []


def test_crowded_tick_labels_and_a_greedy_legend_fail():
    names = [f"a long category name {i}" for i in range(12)]
    bars = go.Figure(go.Bar(x=names, y=np.ones(12)))
    bars.update_layout(xaxis_title="category", yaxis_title="count", width=500)
    assert any("12 tick labels need" in p for p in legibility_problems(bars))
    legend = _line()
    for i in range(3):
        legend.add_scatter(x=[1], y=[1], name=f"a legend entry with a very long name indeed, number {i}")
    assert any("the legend beside the plot takes" in p for p in legibility_problems(legend))


# ---------------------------------------------------------------------------------------------- quick-shaped figures
def _gan_history(models, epochs=200, steps=3, acgan=False):
    rows = [
        {"model": m, "epoch": e, "step": (e - 1) * steps + s, "loss_d": 1.2, "loss_g": 2.0, "d_real": 0.7,
         "d_fake": 0.1} | ({"acc_real": 0.9, "acc_fake": 0.6} if acgan else {})
        for m in models for e in range(1, epochs + 1) for s in range(steps)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _sweep_table(groups=(0, 150, 450), folds=3):
    table = pd.DataFrame(
        {"group": groups, "training_images": [120, 150, 450], "accuracy": [0.6, 0.62, 0.61], "ci_low": 0.5,
         "ci_high": 0.7}
    )  # fmt: skip
    return table.assign(**{f"fold_{f}": 0.6 for f in range(folds)})


def _curve():
    rows = [{"arm": "classic", "synthetic": 0, "training_images": 450}]
    rows += [
        {"arm": arm, "synthetic": s, "training_images": 450 + 3 * s}
        for arm in ("classic_control", "dcgan", "acgan")
        for s in (25, 75)
    ]
    return pd.DataFrame(rows).assign(accuracy=0.6, ci_low=0.5, ci_high=0.7)


def _map_meta(per_source=20):
    sources = ["train", "test", "dcgan", "acgan"]
    rows = [
        {"id": f"{s}-{i}", "source": s, "kind": "real" if s in ("train", "test") else "synthetic",
         "class": CLASSES[i % 3], "label": i % 3, "set": s, "set_index": i}
        for s in sources for i in range(per_source)
    ]  # fmt: skip
    return pd.DataFrame(rows).assign(index=lambda t: np.arange(len(t)))


def _quick_shaped_figures():
    """The kit's figures with the quick profile's shapes: 3 classes, 3 folds and repeats, groups 0/150/450, GANs of
    200 epochs with 8 samples per class, sizes 25/75, five confusion matrices, eight closest pairs."""
    lesions = make_set(np.arange(60) % 3, class_names=CLASSES)
    matrices = {name: np.eye(3, dtype=int) * 20 for name in
                ("no augmentation", "classic", "classic + extra classic (control)", "classic + DCGAN",
                 "classic + ACGAN")}  # fmt: skip
    explorer = {"classic alone": np.eye(3) * 9, "classic + extra classic (control), 75 per class": np.eye(3) * 9}
    explorer_title = (
        "Confusion matrices, pooled over 3 folds and 3 repeats (each lesion counted 3 times); the honest choice "
        "picked 75 in 5 of 9 (repeat, fold) pairs"
    )
    history = pd.DataFrame(
        [{"repeat": 0, "fold": 0, "group": g, "steps": s, "loss": 1.0} for g in (0, 150, 450) for s in range(8)]
    )
    collapse = pd.DataFrame(
        [{"fold": f, "class": c, "epoch": e, "ratio": 0.9} for f in range(3) for c in CLASSES for e in range(1, 201)]
    )
    meta = _map_meta()
    audit = pd.DataFrame(
        {"candidate_index": np.arange(20), "nearest_index": np.arange(20), "pixel_distance": np.linspace(0, 1, 20),
         "candidate_id": [f"synthetic-dcgan-cyst-s0-{i:05d}" for i in range(20)],
         "nearest_id": [f"phantom-{i:04d}" for i in range(20)], "flagged": np.arange(20) < 1}
    )  # fmt: skip
    null = pd.DataFrame(
        {"method": ["crossed", "patients only"] * 4, "unit_sd_points": [0, 0, 3, 3, 0, 0, 3, 3],
         "shift_points": [0, 0, 0, 0, 5, 5, 5, 5], "misses": 0.05, "se": 0.01}
    )  # fmt: skip
    refs = {"always the most frequent class": 0.36, "paper: no augmentation": 0.57, "paper: classic optimum": 0.786}
    return {
        "lesion grid": plots.lesion_grid(lesions, per_class=8),
        "fold bars": plots.fold_bars(pd.DataFrame({c: [20, 21, 19] for c in CLASSES}), CLASSES),
        "variants": plots.image_row(np.zeros((9, 64, 64)), ["original"] + ["rot 115° shift (-2.9, -3.1)"] * 8, "v"),
        "sweep": plots.sweep_chart(_sweep_table(), references=refs),
        "training curves": plots.training_curves(history),
        "confusion": plots.confusion_heatmap(np.eye(3) * 9, CLASSES, "Classic optimum (honest choice), pooled"),
        "DCGAN curves": plots.gan_curves(_gan_history(CLASSES), "DCGAN training, fold 0"),
        "ACGAN curves": plots.gan_curves(_gan_history(["/".join(CLASSES)], acgan=True), "ACGAN training, fold 0"),
        "epoch progress": plots.epoch_progress(np.zeros((200, 24, 64, 64)), 1, 8, "DCGAN metastasis"),
        "scrubber": plots.epoch_figure(np.zeros((200, 8, 64, 64)), 120, "Fixed-noise samples: metastasis"),
        "real vs synthetic": plots.real_vs_synthetic(lesions, lesions, per_class=6),
        "collapse": plots.collapse_chart(collapse),
        "GAN sweep": plots.gan_sweep_chart(_sweep_table(), _curve(), refs),
        "confusion grid": plots.confusion_grid(matrices, CLASSES, "Confusion matrices, pooled over 3 folds"),
        "size explorer": plots.confusion_grid(explorer, CLASSES, explorer_title),
        "maps": plots.maps_figure({"t-SNE": np.zeros((80, 2)), "UMAP": np.zeros((80, 2))}, meta, "Feature maps"),
        "closest pairs": plots.closest_pairs_figure(audit, lesions, lesions.subset(range(20)), n=8),
        "null check": plots.null_chart(null),
    }


QUICK_SHAPED = _quick_shaped_figures()


@pytest.mark.parametrize("name", list(QUICK_SHAPED))
def test_quick_shaped_figures_are_legible(name):
    assert legibility_problems(QUICK_SHAPED[name], name) == []


# ---------------------------------------------------------------------------------------------- the notebooks
def test_every_figure_the_smoke_notebooks_show_is_legible(smoke_run):
    import nbformat

    problems, seen = [], 0
    for path in sorted((smoke_run.path / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for output in cell.get("outputs", []):
                if PLOTLY in output.get("data", {}):
                    seen += 1
                    problems += legibility_problems(output["data"][PLOTLY], f"{path.stem} cell {i}")
    assert seen >= 25 and problems == []


def test_the_explorers_views_are_legible(smoke_run: RunFolder):
    """The size explorer on the smoke run's sweep, for every arm, and the phantom explorer (the epoch scrubber's
    view, plots.epoch_figure, is among the quick-shaped figures)."""
    from liverkit.experiment.gan_sweep import load_sweep
    from liverkit.kit.profiles import get_profile

    smoke = get_profile("smoke")
    lesions = smoke_run.load_lesionset("lesions")
    sweep = load_sweep(smoke_run, lesions.class_names, smoke.synthetic_sizes)
    explorers = [widgets.synthetic_size_explorer(sweep), widgets.phantom_explorer()]
    problems = []
    for explorer in explorers:
        name, options = next(iter(explorer.controls.items()))
        for option in getattr(options, "options", [None]):
            value = option[1] if isinstance(option, tuple) else option
            views = explorer.update(**{name: value}) if value is not None else explorer.redraw()
            problems += [p for v in views if isinstance(v, go.Figure) for p in legibility_problems(v, explorer.name)]
    assert problems == []
