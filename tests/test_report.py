"""The run report (liverkit.kit.report): made from the executed notebooks, complete where the run is, honest where it
is not, self-contained, and it draws.

Three kinds of run folder feed it: the session's real smoke run of every notebook (tests/conftest.py), a copy of
it cut back to notebook 01, and a hand-made one whose executed notebooks hold one output of every kind the report
treats specially (a plotly figure with a hostile class name, a widget, stderr, a remote badge, a failed copy). The
browser tests open the reports in headless Chromium (`make browser` installs it; without one they skip) and read
the page's own check from the dumped DOM: ``<body data-errors>`` counts JavaScript errors and failed loads,
``data-drawn`` the plotly figures that drew their SVG.
"""

import ast
import json
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from liverkit import LiverkitError
from liverkit.env import CONFIG_METADATA
from liverkit.experiment.run_folder import RunFolder, run_identity
from liverkit.kit import report
from liverkit.kit.notebook_runner import list_notebooks
from liverkit.kit.profiles import parse_overrides

HOSTILE = 'benign <b>"</script><script>alert(1)</script>'
"""A class name that must reach the figure as text, never as markup."""
CODE_ONLY = "secret_code_line = 17"
RAN_WITH = {"liverkit": "9.9", "python": "3.99.1", "torch_threads": 7}
"""What print_config() recorded in the hand-made notebook's output metadata."""
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAADklEQVR4nGNsYGBiYAAAApIAhPd8o1gAAAAASUVORK5CYII="
"""A 2 x 2 grey PNG: a widget's picture."""
"""Source of a code cell: the report hides inputs, so it must not appear."""


# ---------------------------------------------------------------------------------------------- run folders
def plotly_output(figure: go.Figure) -> dict:
    return new_output("display_data", data={report.PLOTLY_MIMETYPE: json.loads(figure.to_json()), "text/plain": ""})


def story_notebook() -> nbformat.NotebookNode:
    """An executed notebook with one output of every kind the report treats specially."""
    figure = go.Figure(go.Bar(x=[HOSTILE, "malignant & co"], y=[3, 4]))
    widget = {report.WIDGET_MIMETYPE: {"model_id": "abc", "version_major": 2, "version_minor": 0}}
    cells = [
        new_markdown_cell(
            "# 01 · A hand-made story\n\n"
            "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/x/y)\n\nSome *prose*."
        ),
        new_code_cell("profile = 'smoke'", metadata={"tags": ["parameters"]}),
        new_code_cell(
            "profile = 'quick'",
            metadata={"tags": ["injected-parameters"]},
            outputs=[new_output("stream", name="stdout", text="PARAMETER OUTPUT\n")],
        ),
        new_code_cell(
            CODE_ONLY,
            outputs=[
                new_output("display_data", data={"text/plain": "liverkit 9.9"}, metadata={CONFIG_METADATA: RAN_WITH}),
                new_output("stream", name="stdout", text="accuracy 0.61\n"),
                new_output("stream", name="stderr", text="PROGRESS BAR 50%\n"),
                plotly_output(figure),
                new_output("display_data", data={**widget, "text/plain": "Interactive widget", "image/png": PNG}),
                new_output(
                    "execute_result", data={"text/html": "<table class='dataframe'><tr><td>7</td></tr></table>"}
                ),
            ],
        ),
    ]
    notebook = new_notebook(cells=cells, metadata={"widgets": {"state": {}}, "papermill": {"duration": 1.5}})
    return notebook


def failed_notebook() -> nbformat.NotebookNode:
    error = new_output("error", ename="ValueError", evalue="planted failure", traceback=["ValueError: planted failure"])
    cells = [new_markdown_cell("# 03 · A notebook that failed"), new_code_cell("1 / 0", outputs=[error])]
    return new_notebook(cells=cells, metadata={"papermill": {"exception": True}})


@pytest.fixture(scope="module")
def story_run(tmp_path_factory) -> Path:
    """A hand-made run folder: notebook 01 ran, 03 failed (only its failed copy exists), the rest did not run."""
    path = tmp_path_factory.mktemp("report-story-run") / "my run"
    RunFolder(path, identity={"profile": "smoke", "data": "phantom", "seed": 0})
    (path / "notebooks").mkdir()
    nbformat.write(story_notebook(), path / "notebooks" / "01_data.ipynb")
    nbformat.write(failed_notebook(), path / "notebooks" / "03_dcgan.failed.ipynb")
    RunFolder(path).record_metrics("01_data", {"n_lesions": 30})
    return path


@pytest.fixture(scope="module")
def first_only_run(smoke_run, tmp_path_factory) -> Path:
    """The session's real smoke run cut back to notebook 01's executed copy."""
    target = tmp_path_factory.mktemp("report-real-run") / "run"
    shutil.copytree(smoke_run.path, target)
    for path in (target / "notebooks").glob("*.ipynb"):
        if not path.name.startswith("01_"):
            path.unlink()
    return target


def plotly_outputs(folder: Path) -> int:
    """The plotly figures the executed notebooks of ``folder`` hold."""
    notebooks = [json.loads(p.read_text(encoding="utf-8")) for p in list_notebooks(folder)]
    return sum(
        report.PLOTLY_MIMETYPE in output.get("data", {})
        for notebook in notebooks
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


# ---------------------------------------------------------------------------------------------- page checks
def external_references(page: str) -> list[str]:
    """Every src/href/data address of a script, link, img, iframe, source, embed or object tag that points
    elsewhere (the text inside scripts is left out: plotly.js holds tag-like strings; inline data: URIs count as
    the page's own)."""
    page = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", page, flags=re.DOTALL | re.IGNORECASE)
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*>", page, flags=re.IGNORECASE)
    refs = [ref for tag in tags for ref in re.findall(r"\b(?:src|href|data)\s*=\s*[\"']?([^\"'\s>]+)", tag)]
    return [ref for ref in refs if not ref.startswith("data:")]  # a data: URI is the picture itself


def section_keys(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def section_html(page: str, key: str) -> str:
    return page.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]


def check_self_contained(page: str, figures: int) -> None:
    assert external_references(page) == []
    assert "@import" not in page and "url(http" not in page
    assert page.count('<script id="plotly-js-gzip"') == (1 if figures else 0)  # plotly.js inline, once, packed
    assert page.count('class="plotly-graph-div"') == figures
    assert page.count("<script") == page.count("</script>")  # no class name opened or closed a script


KIT_SECTIONS = ["run", *[f"nb{p.stem[:2]}" for p in list_notebooks()], "record"]


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


def test_the_report_computes_no_result():
    """No second copy of the story: the report reads notebooks and run facts, and imports no analysis module."""
    tree = ast.parse(Path(report.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    kit = {name for name in imported if name.startswith("liverkit")}
    assert kit == {
        "liverkit.kit.profiles",
        "liverkit.env",
        "liverkit.errors",
        "liverkit.io",
        "liverkit.kit.staleness",
        "liverkit.kit.notebook_runner",
        "liverkit.experiment.run_folder",
    }
    assert not imported & {"numpy", "torch", "sklearn", "scipy", "plotly.graph_objects"}


def test_story_sections_outputs_and_what_is_left_out(story_run):
    built = report.build_report(story_run)
    page = built.html
    assert section_keys(page) == KIT_SECTIONS
    assert built.figures == 1
    check_self_contained(page, 1)
    story = section_html(page, "nb01")
    assert "01 · A hand-made story" in story and "<em>prose</em>" in story and "accuracy 0.61" in story
    assert "<td>7</td>" in story and f'src="data:image/png;base64,{PNG}' in story  # the widget as its picture
    assert "Binder" in story  # the badge as its alt text
    for hidden in (CODE_ONLY, "PROGRESS BAR", "PARAMETER OUTPUT", "widget-state", "widget-view"):
        assert hidden not in page, hidden
    assert HOSTILE not in page and "\\u003c/script>" in story  # the class name is data, escaped in the script
    complete = {s.key: s.complete for s in built.sections}
    assert complete["nb01"] and not complete["nb02"] and not complete["nb03"]
    assert "not run yet: notebook 02" in section_html(page, "nb02") and "not run yet" not in story
    failed = section_html(page, "nb03")
    assert "the last run of notebook 03 failed (03_dcgan.failed.ipynb)" in failed and "planted failure" in failed
    timings = report.notebook_timings(report.RunData(story_run)).set_index("notebook")
    assert timings.loc["01_data", "status"] == "done" and timings.loc["01_data", "seconds"] == 1.5
    assert timings.loc["03_dcgan", "status"] == "failed" and timings.loc["02_classic_augmentation", "status"] == (
        "not run yet"
    )
    record = section_html(page, "record")
    assert "n_lesions&quot;: 30" in record and "gan_samples_per_class&quot;: 16" in record  # smoke profile


def test_the_software_table_shows_what_print_config_recorded(story_run):
    table = section_html(report.build_report(story_run).html, "run")
    row = re.search(r"<th>python</th>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", table)
    assert row and row.group(1) == "3.99.1" and row.group(2) == platform.python_version()  # ran with, built with
    assert re.search(r"<th>torch_threads</th>\s*<td>7</td>", table)


def test_plotly_js_is_packed_once_and_the_page_unpacks_it(tmp_path):
    """2.0 MB on the page instead of 4.8 MB; what the page's own script unpacks is plotly.js, byte for byte."""
    import base64
    import gzip
    import hashlib

    from plotly.offline import get_plotlyjs

    figure = report.Figures()
    page = report.render_page("t", [report.Section("x", "x", figure.div(json.loads(go.Figure().to_json())))], 1)
    packed = re.search(r'<script id="plotly-js-gzip" type="[^"]*">([A-Za-z0-9+/=]+)</script>', page).group(1)
    assert gzip.decompress(base64.b64decode(packed)).decode("utf-8") == get_plotlyjs()
    assert len(page) < 0.45 * len(get_plotlyjs())
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the page's JavaScript unpacker is not run")
    script = tmp_path / "unpack.js"
    unpack = report._PLOTLY_LOADER.split("function drawReportFigures")[0]  # unpackPlotly alone
    script.write_text(
        f"{unpack}\nunpackPlotly({json.dumps(packed)}).then(function (code) {{ process.stdout.write("
        "require('crypto').createHash('sha256').update(code).digest('hex')); });"
    )
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert done.stdout == hashlib.sha256(get_plotlyjs().encode("utf-8")).hexdigest(), done.stderr[-2000:]


def test_report_is_written_atomically_and_shareable(story_run):
    path = report.write_report(story_run)
    assert path == story_run / "report.html" and path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in story_run.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_without_nbconvert_the_message_says_what_to_install(story_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "nbconvert", None)
    with pytest.raises(LiverkitError, match=r'pip install "liverkit\[notebooks\] @ git\+'):
        report.build_report(story_run)


@pytest.mark.notebook
def test_the_smoke_report_holds_plotly_js_packed_and_each_output_once(smoke_run):
    """The page's bytes: plotly.js packed once, each figure's JSON (or, for a widget or a picture, its PNG) once,
    and some 0.25 MB of prose and tables; no PNG copy beside a drawn figure, no widget state."""
    page = report.build_report(smoke_run.path).html
    shown = 0
    for path in list_notebooks(smoke_run.path / "notebooks"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if report.PLOTLY_MIMETYPE in data:
                    shown += len(json.dumps(data[report.PLOTLY_MIMETYPE]))
                elif "image/png" in data:
                    shown += len(data["image/png"])
    packed = len(report.packed_plotly_js())
    assert packed + shown <= len(page) <= packed + shown + 500_000, (packed, shown, len(page))


@pytest.mark.notebook
def test_report_after_notebook_01_only(first_only_run):
    built = report.build_report(first_only_run)
    figures = plotly_outputs(first_only_run / "notebooks")
    check_self_contained(built.html, figures)
    assert built.figures == figures > 0
    assert section_keys(built.html) == KIT_SECTIONS
    header = section_html(built.html, "run")
    assert "notebooks ran with" in header and "scikit-learn" in header
    for key in KIT_SECTIONS[2:-1]:
        assert f"not run yet: notebook {key[2:]}" in section_html(built.html, key)


# ---------------------------------------------------------------------------------------------- the browser
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


def test_story_report_draws_in_chromium(chromium, story_run, tmp_path):
    start = time.perf_counter()
    check_rendered(chromium, report.write_report(story_run), 1, tmp_path)
    assert time.perf_counter() - start < 60


@pytest.mark.notebook
def test_smoke_run_report_draws_every_figure_in_chromium(chromium, smoke_run, tmp_path):
    """What `make demo` ends with, on the smoke run: every notebook's section, and every figure draws."""
    path = report.write_report(smoke_run.path)
    page = path.read_text(encoding="utf-8")
    figures = plotly_outputs(smoke_run.path / "notebooks")
    assert section_keys(page) == KIT_SECTIONS and "not run yet" not in page
    assert "the last run of notebook" not in page
    check_self_contained(page, figures)
    check_rendered(chromium, path, figures, tmp_path)
