"""The run report (liverkit.report): self-contained, complete where the run is, honest where it is not, and it draws.

Four kinds of run folder feed it: the session's real smoke run of every notebook (tests/conftest.py), a copy of
it cut back to notebooks 01 and 02, another cut back to notebook 01, and a hand-made one with small artifacts of
every notebook. The
browser tests open the reports in headless Chromium (installed with apt-get when missing and possible) and read
the page's own check from the dumped DOM: ``<body data-errors>`` counts JavaScript errors and failed loads,
``data-drawn`` the plotly figures that drew their SVG.
"""

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_set

from liverkit import LiverkitError, embed, quality, report
from liverkit.config import parse_overrides
from liverkit.runs import RunFolder, run_identity
from liverkit.synthesis import GAN_KINDS

CLASSES = ("a", "b", "c")
FULL_SECTIONS = ["run", "results", "curves", "samples", "maps", "quality", "turing", "metrics", "config"]
FULL_FIGURES = 10  # confusion row, 2 accuracy charts, 2 sample grids, 2 map pairs, quality bars, 2 closest-pair grids


# ---------------------------------------------------------------------------------------------- run folders
@pytest.fixture(scope="module")
def real_run(smoke_run, tmp_path_factory) -> Path:
    """The session's real smoke run cut back to what notebooks 01 and 02 leave."""
    target = tmp_path_factory.mktemp("report-real-run") / "run"
    shutil.copytree(smoke_run.path, target)
    for number in range(3, 9):
        for path in (target / "metrics").glob(f"0{number}_*.json"):
            path.unlink()
        for path in (target / "notebooks").glob(f"0{number}_*.ipynb"):
            path.unlink()
    artifacts = target / "artifacts"
    shutil.rmtree(artifacts / "gans")
    later = ("synthetic_", "gan_", "cnn_", "feature_", "quality_", "memorization_", "turing_")
    for path in artifacts.iterdir():
        if path.name.startswith(later):
            path.unlink()
    return target


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """A hand-made run folder with small artifacts of notebooks 01 to 08."""
    path = tmp_path_factory.mktemp("report-full-run")
    make_full_run(path)
    return path


def make_full_run(path: Path) -> None:
    rng = np.random.default_rng(0)
    run = RunFolder(path, identity={"profile": "smoke", "data": "phantom", "seed": 0})
    lesions = make_set(np.arange(30) % 3, class_names=CLASSES, source="phantom")
    fold_of = np.repeat([0, 1, 2], 10)
    run.save_lesionset("lesions", lesions)
    run.save_array("folds", fold_of)
    run.record_metrics(
        "01_data",
        {
            "n_lesions": 30,
            "n_patients": 30,
            "class_counts": lesions.class_counts(),
            "fold_sizes": [10, 10, 10],
            "patients_in_several_folds": 0,
            "fingerprint": lesions.fingerprint(),
            "data": "phantom",
        },
    )
    _classic_tables(run, lesions, fold_of, rng)
    _gan_tables(run, lesions, fold_of, rng)
    synthetic = {
        kind: make_set([0, 1, 2] * 4, class_names=CLASSES, seed=k + 1, source=kind) for k, kind in enumerate(GAN_KINDS)
    }
    for kind, lesion_set in synthetic.items():
        run.save_lesionset(f"synthetic_{kind}_fold0", lesion_set)
    _map_tables(run, lesions, fold_of, synthetic, rng)
    _quality_tables(run, lesions, fold_of, synthetic, rng)
    run.record_metrics("08_visual_turing", {"accuracy": 0.55, "readers": {"n": 2}})


def _guesses(rng: np.random.Generator, y_true: np.ndarray) -> np.ndarray:
    """Predictions right about 60% of the time."""
    wrong = (y_true + rng.integers(1, 3, len(y_true))) % 3
    return np.where(rng.random(len(y_true)) < 0.6, y_true, wrong)


def _prediction_rows(rng, lesions, fold_of, fold: int, key: dict) -> list[dict]:
    test = np.flatnonzero(fold_of == fold)
    y_true = lesions.labels[test]
    return [
        {
            **key,
            "index": int(i),
            "id": lesions.ids[i],
            "patient": lesions.patient_ids[i],
            "y_true": int(t),
            "y_pred": int(p),
        }
        for i, t, p in zip(test, y_true, _guesses(rng, y_true), strict=True)
    ]


def _classic_tables(run: RunFolder, lesions, fold_of, rng) -> None:
    tables: dict[str, list] = {"predictions": [], "inner": [], "history": [], "timing": []}
    for fold in range(3):
        for group in (0, 10):
            key = {"repeat": 0, "fold": fold, "group": group}
            tables["predictions"] += _prediction_rows(rng, lesions, fold_of, fold, key)
            tables["inner"].append({**key, "inner_fold": 0, "val_correct": int(rng.integers(0, 10)), "val_lesions": 10})
            tables["history"].append({**key, "epoch": 1, "steps": 2, "loss": 1.0, "train_accuracy": 0.5})
            tables["timing"].append(
                {
                    **key,
                    "stage": "outer",
                    "training_images": 20 + group,
                    "epochs": 1,
                    "steps": 1,
                    "seconds": 0.1,
                    "images_per_second": 100.0,
                }
            )
    for name, rows in tables.items():
        run.save_table(f"classic_{name}", pd.DataFrame(rows))
    run.save_table("classic_choice", pd.DataFrame({"repeat": 0, "fold": [0, 1, 2], "group": [0, 10, 10]}))
    run.record_metrics("02_classic_augmentation", {"groups": [0, 10]})


def _gan_tables(run: RunFolder, lesions, fold_of, rng) -> None:
    predictions, inner, timing = [], [], []
    jobs = [("classic", 0)] + [(arm, size) for arm in ("classic_control", *GAN_KINDS) for size in (4, 8)]
    budget = {"epochs": 1, "steps": 1, "seconds": 0.1}
    for fold in range(3):
        for arm, size in jobs:
            key = {"repeat": 0, "fold": fold, "arm": arm, "synthetic": size}
            predictions += _prediction_rows(rng, lesions, fold_of, fold, {**key, "classic_group": 10})
            timing.append(
                {
                    **key,
                    "stage": "outer",
                    "inner_fold": -1,
                    "training_images": 20 + 3 * size,
                    "shared_images": 20,
                    **budget,
                }
            )
            if arm != "classic":
                inner.append({**key, "inner_fold": 0, "val_correct": int(rng.integers(0, 10)), "val_lesions": 10})
                timing.append(
                    {
                        **key,
                        "stage": "inner",
                        "inner_fold": 0,
                        "training_images": 15 + 3 * size,
                        "shared_images": 15,
                        **budget,
                    }
                )
    for name, rows in (("predictions", predictions), ("inner", inner), ("timing", timing)):
        run.save_table(f"gan_{name}", pd.DataFrame(rows))
    run.record_metrics("05_gan_augmentation", {"sizes": [4, 8]})


def _map_tables(run: RunFolder, lesions, fold_of, synthetic, rng) -> None:
    test = lesions.subset(fold_of == 0)
    sets = {"real test": test, **synthetic}
    meta = pd.concat(
        [
            pd.DataFrame(
                {
                    "set": name,
                    "set_index": np.arange(len(s)),
                    "id": s.ids,
                    "source": s.sources,
                    "kind": [embed.source_kind(x) for x in s.sources],
                    "class": np.asarray(CLASSES)[s.labels],
                    "label": s.labels,
                }
            )
            for name, s in sets.items()
        ],
        ignore_index=True,
    )
    meta.insert(0, "index", np.arange(len(meta)))
    for key in ("cnn_aug", "cnn_aug_gan"):
        maps = {"t-SNE": rng.normal(size=(len(meta), 2)), "UMAP": rng.normal(size=(len(meta), 2))}
        run.save_table(f"feature_map_{key}_fold0", embed.map_table(maps, meta))
        agreement = pd.DataFrame({"group": ["real test"], "class": ["all"], "n": [10], "class_agreement": [0.5]})
        run.save_table(f"feature_agreement_{key}_fold0", agreement)
    run.record_metrics("06_feature_maps", {"fold": 0})


def _quality_tables(run: RunFolder, lesions, fold_of, synthetic, rng) -> None:
    comparisons = [quality.BASELINE, *GAN_KINDS]
    rows = [
        {
            "comparison": f"{name} vs {quality.REFERENCE}",
            "class": cls,
            "metric": metric,
            "value": float(rng.random()),
            "ci_low": 0.0,
            "ci_high": 1.0,
            "baseline": np.nan,
            "n_a": 20,
            "n_b": 10,
            "note": "",
        }
        for name in comparisons
        for cls in ("all", *CLASSES)
        for metric in quality.METRICS
    ]
    run.save_table("quality_fold0", pd.DataFrame(rows))
    train, test = lesions.subset(fold_of != 0), lesions.subset(fold_of == 0)  # fold 0's choice is group 0
    summaries = {}
    for kind, candidates in synthetic.items():
        audit = quality.memorization_audit(train, candidates, reference=test)
        summaries[kind] = quality.memorization_summary(audit)
        run.save_table(f"memorization_{kind}_fold0", audit)
    run.record_metrics("07_synthetic_quality", {"fold": 0, "overall": {}, "memorization": summaries})


def copy_run(source: Path, target: Path, drop: list[str] = ()) -> Path:
    """A copy of a run folder without the files ``drop`` (relative paths)."""
    shutil.copytree(source, target)
    for name in drop:
        (target / name).unlink()
    return target


# ---------------------------------------------------------------------------------------------- page checks
def external_references(page: str) -> list[str]:
    """Every src/href/data address of a script, link, img, iframe, source, embed or object tag (the text inside
    scripts is left out: plotly.js holds tag-like strings)."""
    page = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", page, flags=re.DOTALL | re.IGNORECASE)
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*>", page, flags=re.IGNORECASE)
    return [ref for tag in tags for ref in re.findall(r"\b(?:src|href|data)\s*=\s*[\"']?([^\"'\s>]+)", tag)]


def section_keys(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def section_html(page: str, key: str) -> str:
    return page.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]


def check_self_contained(page: str, figures: int) -> None:
    assert external_references(page) == []
    assert "@import" not in page and "url(http" not in page
    assert page.count("* plotly.js v") == (1 if figures else 0)  # plotly.js inline, once
    assert page.count('class="plotly-graph-div"') == figures


# ---------------------------------------------------------------------------------------------- unit tests
def test_not_a_run_folder_is_refused(tmp_path):
    with pytest.raises(LiverkitError, match="not a run folder"):
        report.write_report(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(LiverkitError, match="no run.json"):
        report.write_report(tmp_path)


def test_rerun_command_is_shell_quoted_and_keeps_the_overrides(monkeypatch):
    monkeypatch.delenv("LIVERKIT_MANIFEST", raising=False)
    identity = run_identity("quick", "my data's set", 3, {"n_folds": 4, "augment.rot_range_deg": [0, 15]})
    command = report.rerun_command(identity, Path("/tmp/my runs/a"))
    parts = shlex.split(command)
    assert parts[:11] == [
        "liverkit",
        "run",
        "--profile",
        "quick",
        "--data",
        "my data's set",
        "--seed",
        "3",
        "--out",
        "/tmp/my runs/a",
        "--set",
    ]
    assert parse_overrides(parts[11::2]) == identity["overrides"] and parts[12::2] == ["--set"]
    monkeypatch.setenv("LIVERKIT_MANIFEST", "/data/my manifest.yaml")
    with_manifest = report.rerun_command(identity, "r")
    assert with_manifest.startswith("LIVERKIT_MANIFEST='/data/my manifest.yaml' liverkit run --profile quick")


def test_map_coordinates_undo_map_table():
    meta = pd.DataFrame({"index": [0, 1, 2], "id": ["x", "y", "z"], "label": [0, 1, 0]})
    maps = {"t-SNE": np.arange(6.0).reshape(3, 2), "UMAP": -np.arange(6.0).reshape(3, 2)}
    back, back_meta = report.map_coordinates(embed.map_table(maps, meta))
    assert list(back) == ["t-SNE", "UMAP"]
    np.testing.assert_array_equal(back["UMAP"], maps["UMAP"])
    pd.testing.assert_frame_equal(back_meta, meta)
    with pytest.raises(LiverkitError, match="coordinate columns"):
        report.map_coordinates(meta)


def test_flatten_and_not_run_note():
    nested = {"a": {"b": 1, "c": {"d": 2}}, "e": [3, 4]}
    assert report.flatten(nested, sep=".", lists=False) == {"a.b": 1, "a.c.d": 2, "e": [3, 4]}  # as the report shows
    assert report.flatten(nested) == {"a/b": 1, "a/c/d": 2, "e/0": 3, "e/1": 4}  # as the baselines compare
    note = report.not_run({"05": ["artifacts/gan_predictions.csv"]}, "the GAN arms")
    assert "not run yet: notebook 05 (the GAN arms)" in note and "gan_predictions.csv" in note


def test_full_report_shows_every_section(full_run):
    built = report.build_report(full_run)
    page = built.html
    assert section_keys(page) == FULL_SECTIONS
    assert all(s.complete for s in built.sections) and 'class="not-run"' not in page
    assert built.figures == FULL_FIGURES
    check_self_contained(page, FULL_FIGURES)
    results = section_html(page, "results")
    assert "classic + DCGAN (honest choice)" in results and "classic + ACGAN (paper" in results
    assert "classic + extra classic (control) (honest choice)" in results
    assert results.count("(Holm-adjusted p") == 5  # 3 added arms vs classic, 2 GANs vs the control
    assert results.count("Optimistic: the size was chosen on these test lesions, so no p-value") == 3
    assert "0.55" in section_html(page, "turing") and "readers.n" in section_html(page, "turing")
    assert "gan_samples_per_class&quot;: 16" in section_html(page, "config")  # the smoke profile


def test_one_size_sweep_with_empty_inner_table(full_run, tmp_path):
    run = RunFolder(copy_run(full_run, tmp_path / "run"))
    for name in ("predictions", "timing"):
        table = run.load_table(f"gan_{name}")
        run.save_table(f"gan_{name}", table[table.synthetic != 8])
    run.save_table("gan_inner", pd.DataFrame())  # written as an empty file: nothing was chosen
    run.record_metrics("05_gan_augmentation", {"sizes": [4]})
    built = report.build_report(run.path)
    assert built.figures == FULL_FIGURES and "classic + DCGAN (honest choice)" in built.html


def test_a_broken_artifact_raises_instead_of_being_skipped(full_run, tmp_path):
    run = RunFolder(copy_run(full_run, tmp_path / "run"))
    run.save_table("quality_fold0", run.load_table("quality_fold0").drop(columns="metric"))
    with pytest.raises(KeyError, match="metric"):
        report.build_report(run.path)


def test_missing_gans_are_marked_not_run(full_run, tmp_path):
    drop = ["artifacts/synthetic_acgan_fold0.npz", "metrics/06_feature_maps.json", "metrics/08_visual_turing.json"]
    built = report.build_report(copy_run(full_run, tmp_path / "run", drop))
    assert "turing" not in section_keys(built.html)  # 08 appears only once it has recorded metrics
    assert "not run yet: notebook 04" in section_html(built.html, "samples")
    assert "not run yet: notebook 04" in section_html(built.html, "quality")
    assert "not run yet: notebook 06" in section_html(built.html, "maps")
    assert built.figures == FULL_FIGURES - 4  # no ACGAN grid, no maps, no ACGAN closest pairs


# ---------------------------------------------------------------------------------------------- real run
@pytest.mark.notebook
def test_report_after_notebooks_01_and_02(real_run):
    path = report.write_report(real_run)
    assert path == real_run / "report.html" and path.is_file() and path.stat().st_mode & 0o777 == 0o644
    page = path.read_text(encoding="utf-8")
    check_self_contained(page, figures=2)  # the confusion matrices and the classic sweep chart
    assert section_keys(page) == ["run", "results", "curves", "samples", "maps", "quality", "metrics", "config"]
    header = section_html(page, "run")
    fingerprint = RunFolder(real_run).read_metrics("01_data")["fingerprint"]
    assert fingerprint in header and "notebooks ran with" in header and "scikit-learn" in header
    timings = report.notebook_timings(report.RunData(real_run)).set_index("notebook")
    assert list(timings.loc[["01_data", "02_classic_augmentation"], "status"]) == ["done", "done"]
    assert (timings.loc[["01_data", "02_classic_augmentation"], "seconds"] > 0).all()
    assert timings.loc["05_gan_augmentation", "status"] == "not run yet"
    assert "classic optimum (honest choice)" in section_html(page, "results")
    assert "not run yet: notebook 05" in section_html(page, "results")
    for key, numbers in {"samples": ("03", "04"), "maps": ("06",), "quality": ("07",)}.items():
        for number in numbers:
            assert f"not run yet: notebook {number}" in section_html(page, key)


@pytest.mark.notebook
def test_report_after_notebook_01_only(real_run, tmp_path):
    artifacts = [f"artifacts/classic_{t}.csv" for t in ("predictions", "inner", "history", "timing", "choice")]
    drop = [*artifacts, "metrics/02_classic_augmentation.json", "notebooks/02_classic_augmentation.ipynb"]
    path = report.write_report(copy_run(real_run, tmp_path / "run", drop))
    page = path.read_text(encoding="utf-8")
    check_self_contained(page, figures=0)
    assert "not run yet: notebook 02" in section_html(page, "results")
    assert "not run yet: notebook 02" in section_html(page, "curves")


# ---------------------------------------------------------------------------------------------- the browser
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """A headless-capable Chromium: found on PATH, else installed with apt-get (as root), else the tests skip."""
    found = find_chromium()
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"no browser found ({', '.join(CHROMIUM_NAMES)}), and apt-get as root is not available to install")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    log = []
    for command in (install, ["apt-get", "update", "-q"], install):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        except subprocess.TimeoutExpired:
            pytest.skip(f"'{' '.join(command)}' took over 10 minutes; no Chromium to test the report with")
        log.append(f"$ {' '.join(command)} -> {done.returncode}\n{done.stderr[-500:]}")
        if command is install and done.returncode == 0 and find_chromium():
            return find_chromium()
    pytest.skip("Chromium is not installed and apt-get could not install it:\n" + "\n".join(log))


def render(chromium: str, page: Path, tmp_path: Path) -> tuple[dict[str, str], str, str]:
    """Open ``page`` in headless Chromium; return the dumped <body>'s attributes, the DOM and Chromium's log."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed:\n{done.stderr[-3000:]}"
    body = re.search(r"<body\b([^>]*)>", done.stdout)
    assert body, f"no <body> in the dumped DOM:\n{done.stdout[:2000]}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))), done.stdout, done.stderr


def check_rendered(chromium: str, page: Path, figures: int, tmp_path: Path) -> None:
    attributes, dom, log = render(chromium, page, tmp_path)
    assert attributes["data-errors"] == "0", attributes.get("data-error-messages")
    assert attributes["data-figures"] == str(figures)
    assert attributes["data-graph-divs"] == str(figures) and attributes["data-drawn"] == str(figures)
    assert dom.count('class="main-svg"') >= figures
    assert "Uncaught" not in log, log[-3000:]


def test_the_page_check_sees_errors(chromium, tmp_path):
    broken = '<script>throw new Error("planted");</script><img src="missing-image.png" alt="">'
    page = report.render_page("planted", [report.Section("x", "x", broken)], figure_count=0)
    path = tmp_path / "planted.html"
    path.write_text(page, encoding="utf-8")
    attributes, _, log = render(chromium, path, tmp_path)
    assert attributes["data-errors"] == "2", attributes
    assert "Uncaught Error: planted" in log  # what check_rendered looks for in Chromium's log
    assert "planted" in attributes["data-error-messages"] and "missing-image.png" in attributes["data-error-messages"]


def test_full_report_draws_in_chromium(chromium, full_run, tmp_path):
    start = time.perf_counter()
    check_rendered(chromium, report.write_report(full_run), FULL_FIGURES, tmp_path)
    assert time.perf_counter() - start < 60


@pytest.mark.notebook
def test_real_report_draws_in_chromium(chromium, real_run, tmp_path):
    check_rendered(chromium, report.write_report(real_run), 2, tmp_path)


@pytest.mark.notebook
def test_smoke_run_report_draws_every_figure_in_chromium(chromium, smoke_run, tmp_path):
    """What `make demo` ends with, on the smoke run: the report opens and every figure draws."""
    path = report.write_report(smoke_run.path)
    page = path.read_text(encoding="utf-8")
    assert section_keys(page) == FULL_SECTIONS and "not run yet" not in page
    check_rendered(chromium, path, FULL_FIGURES, tmp_path)
