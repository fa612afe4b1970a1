"""Every notebook and the report on data other than the phantom: a 2-class MedMNIST file and a 4-class folder.

Each data set is made in the test (tests/datasets.py), named in a manifest of its own (``$LIVERKIT_MANIFEST``) and
run through the real entry points in a subprocess (`liverkit run --profile smoke`, then `liverkit report`), into a
run folder whose path holds a space. The tests then read what the notebooks recorded and printed, and the report.
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import replace

import numpy as np
import pytest
from datasets import OTHER_DATA, MadeData
from helpers import make_set

from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import plots
from liverkit.kit.notebook_runner import list_notebooks

NOTEBOOKS = [p.stem for p in list_notebooks()]


@pytest.fixture(scope="module", params=list(OTHER_DATA))
def data_run(request, notebook_runs) -> tuple[MadeData, RunFolder]:
    """Every notebook, then the report, on one test data set (run with the phantom's in conftest)."""
    return notebook_runs[request.param]


def _executed(run: RunFolder) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (run.path / "notebooks").glob("*.ipynb")}


def _outputs_text(notebook: dict) -> str:
    """Everything a notebook's code cells showed: streams, text, HTML and figure JSON."""
    return "\n".join(json.dumps(cell.get("outputs", []), ensure_ascii=False) for cell in notebook["cells"])


@pytest.mark.notebook
def test_every_notebook_ran_and_recorded(data_run):
    data, run = data_run
    assert sorted(_executed(run)) == NOTEBOOKS
    assert sorted(p.stem for p in (run.path / "metrics").glob("*.json")) == NOTEBOOKS
    assert run.identity == {"profile": "smoke", "data": data.name, "seed": 0}


@pytest.mark.notebook
def test_recorded_classes_are_the_data_s(data_run):
    data, run = data_run
    first = run.read_metrics("01_data")
    assert first["class_counts"] == data.class_counts
    assert first["n_lesions"] == sum(data.class_counts.values()) and first["n_patients"] == data.n_patients
    assert first["duplicate_groups"] == 0 and first["patients_in_several_folds"] == 0
    assert set(run.read_metrics("02_classic_augmentation")["orientation_drop"]) == set(data.class_names)
    for gan in ("03_dcgan", "04_acgan"):
        assert set(run.read_metrics(gan)["collapse_ratio_by_class"]) == set(data.class_names), gan
    assert run.load_lesionset("synthetic_dcgan_fold0").class_names == data.class_names
    quality = run.read_metrics("07_synthetic_quality")["mean_over_folds"]
    assert set(quality) == {"real train vs real test", "dcgan vs real test", "acgan vs real test"}


@pytest.mark.notebook
def test_exercises_ask_instead_of_raising(data_run):
    data, run = data_run
    executed = _executed(run)
    asked = {}
    for name, notebook in executed.items():
        for cell in notebook["cells"]:
            if cell.get("id") == "exercise-check":
                asked[name] = "".join(
                    "".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream"
                )
    assert sorted(asked) == NOTEBOOKS  # notebooks 01-05 have a checked exercise
    for name, text in asked.items():
        assert text.startswith("Fill in your answer"), (name, text)
    assert f"class {data.class_names[1]!r}" in asked["01_data"]  # asks about a class the data has


@pytest.mark.notebook
def test_no_unknown_diameter_is_shown_as_nan(data_run):
    _, run = data_run
    for name, notebook in _executed(run).items():
        assert "nan mm" not in _outputs_text(notebook).lower(), name
    first = _outputs_text(_executed(run)["01_data"])
    assert "No diameters in this data set" in first
    assert "is not the phantom: the explorer draws phantom lesions only" in first


@pytest.mark.notebook
def test_report_escapes_class_names_and_quotes_the_rerun(data_run):
    data, run = data_run
    page = (run.path / "report.html").read_text(encoding="utf-8")
    for name in data.class_names:
        assert html.escape(name, quote=False) in page, name
    # Raw in tables, or in figure JSON as plotly or the report writes it: plotly would read the tag in a title,
    # a tick, a legend or a hover text.
    for raw in ("benign <b>", "benign \\u003cb\\u003e", "benign \\u003cb>", "malignant & co"):
        assert raw not in page, raw
    rerun = f"LIVERKIT_MANIFEST={shlex.quote(str(data.manifest))} liverkit run --profile smoke --data {data.name} "
    rerun += f"--seed 0 --out {shlex.quote(str(run.path))}"
    assert f"<pre>{html.escape(rerun)}</pre>" in page


def test_diameter_histogram_says_there_are_none():
    lesions = make_set([0, 1, 1, 0], class_names=("benign <b>", "malignant & co"))
    unknown = replace(lesions, diameters_mm=np.full(4, np.nan, dtype=np.float32))
    fig = plots.diameter_histogram(unknown)
    assert fig.layout.annotations[0].text == "No diameters in this data set (all 4 lesions: unknown)"
    assert len(fig.data) == 0
    known = plots.diameter_histogram(lesions)
    assert {trace.name for trace in known.data} == {"benign &lt;b&gt;", "malignant &amp; co"}


def test_lesion_caption_leaves_out_unknown_diameters():
    lesions = make_set([0, 1], class_names=("a", "b"))
    assert plots.lesion_caption(lesions, 1) == "item-1 (100 mm)"
    unknown = replace(lesions, diameters_mm=np.full(2, np.nan, dtype=np.float32))
    assert plots.lesion_caption(unknown, 1) == "item-1"
