"""One self-contained HTML page per run folder, made from the run's executed notebooks (``report.html``).

Why: the notebooks tell the story and show every result. The report is that story as it ran, on one page that
can be mailed, archived, or opened years later with nothing but a browser: no Python, no server, no internet.
It holds no second copy of any result: each notebook section is the executed notebook's own markdown and outputs
(code hidden), so a change to a notebook reaches the report with nothing to repeat here.

How:

- Every notebook of the kit gets a section. Its executed copy (``<run>/notebooks/NN_name.ipynb``) is rendered
  by nbconvert's ``basic`` template with inputs and prompts hidden; the parameter cells and the stderr streams
  (progress bars, warnings) are left out. A notebook with no executed copy says ``not run yet: notebook NN``,
  so the report builds after notebook 01 alone. A notebook whose last run failed says so and names the failed
  copy (``NN_name.failed.ipynb``, whose traceback is shown when there is no earlier good copy).
- plotly outputs become divs that plotly.js draws; plotly.js is embedded once, inline, gzipped (1.5 MB instead of
  4.8 MB, as base64 2.0 MB; :func:`packed_plotly_js`), and unpacked by the page itself with the browser's
  ``DecompressionStream`` (every browser since 2023) before the figures are drawn.
  Widgets live only in a kernel: their picture (``image/png``) or their how-to line is shown. Remote images
  (the Binder and Colab badges) become their alt text. The page loads nothing from anywhere.
- The first section holds facts about the run, not results: its identity (``run.json``), the software the
  notebooks ran with (what their ``print_config()`` recorded), papermill's timings; the last holds the recorded key
  numbers (``metrics/*.json``, verbatim), the resolved profile and the command that reruns the run.
- The page checks itself. An inline script records JavaScript errors (uncaught errors, failed resource loads,
  rejected promises, ``console.error``) in ``<body data-errors>``, and after loading counts the plotly figures
  that drew their SVG in ``<body data-drawn>`` (``data-figures`` holds how many there are), once plotly.js is
  unpacked and every figure has drawn. A headless browser's
  dumped DOM therefore shows whether the page rendered cleanly (``tests/test_report.py`` does exactly that).

Usage::

    from liverkit.kit.report import write_report

    write_report("runs/demo")  # -> runs/demo/report.html
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import html
import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from plotly.offline import get_plotlyjs

from liverkit.env import CONFIG_METADATA, config_info
from liverkit.errors import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.io import atomic_write
from liverkit.kit.notebook_runner import INSTALL_NOTEBOOK_EXTRA, default_notebook_dir, list_notebooks
from liverkit.kit.profiles import Profile, resolve_profile
from liverkit.kit.staleness import changed_since

REPORT_FILE = "report.html"
"""The report's file name inside the run folder."""

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters"})
"""Cells with these tags are papermill's parameter cells: settings, not story; the run section shows them."""

REMOTE_IMAGE = re.compile(r'<img\b[^>]*?\bsrc="(?:https?:)?//[^"]*"[^>]*>', flags=re.IGNORECASE)
ALT_TEXT = re.compile(r'\balt="([^"]*)"')


# ---------------------------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class Section:
    """One section of the page: an anchor, a title and its HTML body."""

    key: str
    title: str
    body: str
    complete: bool = True
    """False when its notebook has not run yet, or its last run failed (the body says which)."""
    headed: bool = False
    """True when the body opens with its own title (a notebook's first heading): the page adds none."""


@dataclass(frozen=True)
class Report:
    """A built report: the page and what went into it."""

    html: str
    sections: tuple[Section, ...]
    figures: int
    """Plotly figures on the page (the page's own check compares it with the figures that drew)."""
    seconds: float


def write_report(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Build the run folder's report and write it atomically to ``output`` (default ``<run_dir>/report.html``: a
    read-only run folder needs another place); return that path. A failed write leaves the previous report.

    Raises:
        LiverkitError: ``run_dir`` is not a run folder (it has no ``run.json``), or nbconvert is not installed.
    """
    report = build_report(run_dir)

    def write(tmp: Path) -> None:
        tmp.write_text(report.html, encoding="utf-8")
        tmp.chmod(0o644)  # a report is for sharing; atomic_write's temporary files start private (0600)

    return atomic_write(Path(run_dir) / REPORT_FILE if output is None else Path(output), write)


def build_report(run_dir: str | os.PathLike) -> Report:
    """Build the report of a run folder in memory (see :func:`write_report`)."""
    start = time.perf_counter()
    run = RunData(run_dir)
    figures = Figures()
    sections = [run_section(run)]
    sections += [notebook_section(run, stem, figures) for stem in run.stems]
    sections.append(record_section(run))
    title = f"liverkit report: {run.identity['profile']} profile on {run.identity['data']}"
    footer = f"Built {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {run.run.path.resolve()}"
    page = render_page(title, sections, figures.count, footer)
    return Report(page, tuple(sections), figures.count, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- the run folder
class RunData:
    """A run folder's identity, its profile and its executed notebooks, checked once."""

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
        self.profile: Profile = resolve_profile(
            self.identity["profile"], self.identity["data"], self.identity.get("overrides")
        )
        self.folder = path / "notebooks"
        kit = default_notebook_dir()
        self.sources = {p.stem: p for p in list_notebooks(kit)} if kit.is_dir() else {}
        executed = list_notebooks(self.folder) if self.folder.is_dir() else []
        self.stems = sorted({*self.sources, *(p.stem for p in executed)})
        """The kit's notebooks and any other executed ones, in story order."""
        self._notebooks: dict[str, dict | None] = {p.stem: _read_notebook(p) for p in executed}
        self.damaged = {p.stem: p for p in executed if self._notebooks[p.stem] is None}
        """Executed copies that cannot be read (a write cut short): their sections say which notebook to rerun."""
        self.executed = {p.stem: p for p in executed if p.stem not in self.damaged}
        self.stale = changed_since(path)
        """Why every result here is stale (the data, the kit or a package changed since the run), or None."""

    def failed_copy(self, stem: str) -> Path | None:
        """The copy papermill kept when this notebook's last run failed, if there is one."""
        path = self.folder / f"{stem}.failed.ipynb"
        return path if path.is_file() else None

    def notebook(self, stem: str) -> dict | None:
        """The executed copy as nbformat JSON (the failed copy when that is all there is), else None; read once
        (the run section and the notebook's own section both read it; neither changes it)."""
        if stem not in self._notebooks or stem in self.damaged:
            path = self.executed.get(stem) or self.failed_copy(stem)
            return _read_notebook(path) if path else None
        return self._notebooks[stem]


def _read_notebook(path: Path) -> dict | None:
    """A notebook file's JSON, or None when it cannot be read as a notebook (cut short, not JSON, unreadable)."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return notebook if isinstance(notebook, dict) and isinstance(notebook.get("cells"), list) else None


# ---------------------------------------------------------------------------------------------- notebooks
class Figures:
    """Turns plotly outputs into divs that plotly.js draws, and counts them (ids stay unique on the page)."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: dict) -> str:
        """One plotly output (``{"data", "layout", "config"}``) as a div and the script that draws it."""
        self.count += 1
        div_id = f"figure-{self.count}"
        spec = {
            "data": figure.get("data", []),
            "layout": figure.get("layout", {}),
            "config": {"displaylogo": False, **figure.get("config", {})},
        }
        payload = json.dumps(spec).replace("<", "\\u003c")  # no "</script>" in a class name can end the script
        return (
            f'<div class="figure"><div id="{div_id}" class="plotly-graph-div"></div><script>'
            f"reportFigures.push(function () {{ var f = {payload}; "
            f'return Plotly.newPlot("{div_id}", f.data, f.layout, f.config); }});'
            "</script></div>"
        )


def notebook_section(run: RunData, stem: str, figures: Figures) -> Section:
    """A notebook's section: its executed markdown and outputs, or a note that it has not run yet."""
    number = stem[:2]
    notebook = run.notebook(stem)
    title = notebook_title(notebook, stem) if notebook else source_title(run, stem)
    again = f"liverkit run --out {shlex.quote(str(run.run.path))} --notebooks {number}"
    if stem in run.damaged:
        body = (
            f'<p class="not-run">damaged: rerun notebook {esc(number)}. Its executed copy '
            f"{esc(run.damaged[stem].name)} cannot be read (a write was cut short); <code>{esc(again)} --force</code> "
            "remakes it.</p>"
        )
        return Section(f"nb{number}", title, body, complete=False)
    if notebook is not None and run.stale and stem in run.executed:
        body = (
            f'<p class="not-run">stale: {esc(run.stale)} since this notebook ran, so its results are not shown; '
            f"<code>{esc(again)}</code> remakes it from the current inputs.</p>"
        )
        return Section(f"nb{number}", title, body, complete=False)
    if notebook is None:
        body = f'<p class="not-run">not run yet: notebook {esc(number)} ({esc(stem)}.ipynb).</p>'
        return Section(f"nb{number}", title, body, complete=False)
    failed = run.failed_copy(stem)
    note = ""
    if failed:
        shown = "the traceback below" if stem not in run.executed else "shown: the last good run"
        note = f'<p class="not-run">the last run of notebook {esc(number)} failed ({esc(failed.name)}); {shown}.</p>'
    body = note + notebook_html(notebook, figures)
    return Section(f"nb{number}", title, body, complete=failed is None, headed=title != stem)


def notebook_html(notebook: dict, figures: Figures) -> str:
    """The notebook's markdown and outputs as HTML (nbconvert's ``basic`` template, no inputs, no prompts)."""
    try:
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError as exc:
        raise LiverkitError(
            f"the report renders the executed notebooks with nbconvert ({exc}), which comes with the notebook extra: "
            f"{INSTALL_NOTEBOOK_EXTRA}."
        ) from exc
    shown = copy.deepcopy(notebook)
    shown["metadata"].pop("widgets", None)  # widget state: nbconvert would load a widget manager from a CDN
    shown["cells"] = [story_cell(cell, figures) for cell in shown["cells"] if not HIDDEN_TAGS & set(tags(cell))]
    exporter = HTMLExporter(
        template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(shown), as_version=4))
    return REMOTE_IMAGE.sub(alt_text, body)


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def story_cell(cell: dict, figures: Figures) -> dict:
    """A cell as the page shows it: stderr left out, plotly outputs drawn by the page, widgets as their picture."""
    if cell["cell_type"] != "code":
        return cell
    outputs = []
    for output in cell["outputs"]:
        if output["output_type"] == "stream" and output["name"] == "stderr":
            continue
        if "data" in output:
            data = {k: v for k, v in output["data"].items() if k != WIDGET_MIMETYPE}
            if PLOTLY_MIMETYPE in data:
                data = {"text/html": figures.div(data[PLOTLY_MIMETYPE])}
            if not data:
                continue
            output = {**output, "data": data}
        outputs.append(output)
    return {**cell, "outputs": outputs}


def alt_text(image: re.Match) -> str:
    """A remote image (a badge) as its alt text: the page loads nothing."""
    alt = ALT_TEXT.search(image.group(0))
    return alt.group(1) if alt else ""


def notebook_title(notebook: dict, stem: str) -> str:
    """The notebook's first markdown heading (``# 01 · The data``), else its file name."""
    for cell in notebook.get("cells", []):
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            heading = re.search(r"^#+\s+(.+?)\s*$", source, flags=re.MULTILINE)
            if heading:
                return heading.group(1)
    return stem


def source_title(run: RunData, stem: str) -> str:
    """The title of a notebook that has not run: from the kit's own copy."""
    source = run.sources.get(stem)
    return notebook_title(json.loads(source.read_text(encoding="utf-8")), stem) if source else stem


# ---------------------------------------------------------------------------------------------- the run
def run_section(run: RunData) -> Section:
    """Who and what: the run's identity, the software it ran with and how long each notebook took."""
    identity = {
        "run folder": str(run.run.path.resolve()),
        "profile": run.identity["profile"],
        "data source": run.identity["data"],
        "seed": run.identity["seed"],
        "overrides (--set)": json.dumps(run.identity.get("overrides") or {}),
        "report built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    timings = notebook_timings(run)
    body = kv_table(identity)
    body += heading("Software and device") + environment_table(run)
    body += heading("Notebooks (timings from papermill)") + table_html(timings, index=False)
    return Section("run", "Run", body)


def run_environment(run: RunData) -> dict[str, str]:
    """The versions and device the notebooks ran with: what ``print_config()`` left in the output metadata of the
    first executed notebook that has it (empty when no notebook has run)."""
    for stem in run.executed:
        for cell in run.notebook(stem)["cells"]:
            for output in cell.get("outputs", []):
                info = output.get("metadata", {}).get(CONFIG_METADATA)
                if info:
                    return {key: str(value) for key, value in info.items()}
    return {}


def environment_table(run: RunData) -> str:
    """The software the notebooks ran with beside the software that built the report."""
    ran = run_environment(run)
    here = {k: str(v) for k, v in config_info("auto").items()}
    keys = list(dict.fromkeys([*ran, *here]))
    table = pd.DataFrame(
        {"notebooks ran with": [ran.get(k, "—") for k in keys], "report built with": [here.get(k, "—") for k in keys]},
        index=keys,
    )
    note = "" if ran else paragraph("No executed notebook holds a print_config() output yet.", "note")
    return note + table_html(table)


def notebook_timings(run: RunData) -> pd.DataFrame:
    """One row per notebook: status and the duration, start and end papermill recorded in the executed copy."""
    rows = []
    for stem in run.stems:
        notebook = run.notebook(stem)
        if notebook is None:
            status = "damaged: rerun it" if stem in run.damaged else "not run yet"
            rows.append({"notebook": stem, "status": status, "seconds": None, "started": "", "finished": ""})
            continue
        meta = notebook["metadata"].get("papermill", {})
        seconds = meta.get("duration")
        rows.append(
            {
                "notebook": stem,
                "status": _status(run, stem, meta),
                "seconds": None if seconds is None else round(float(seconds), 1),
                "started": meta.get("start_time") or "",
                "finished": meta.get("end_time") or "",
            }
        )
    return pd.DataFrame(rows)


def _status(run: RunData, stem: str, meta: dict) -> str:
    if meta.get("exception") or run.failed_copy(stem):
        return "failed"
    return "stale" if run.stale else "done"


def record_section(run: RunData) -> Section:
    """The recorded key numbers as the notebooks wrote them, the resolved profile and the rerun command."""
    body = paragraph("To run this again:") + f"<pre>{esc(rerun_command(run.identity, run.run.path))}</pre>"
    files = sorted((run.run.path / "metrics").glob("*.json"))
    body += heading("Recorded key numbers (metrics/*.json, as the notebooks wrote them)")
    body += "".join(details(f.stem, metrics_block(run, f.stem)) for f in files)
    body += "" if files else paragraph("No notebook has recorded metrics yet.", "note")
    body += heading("Settings")
    body += details(f"Profile '{run.profile.name}' (liverkit.kit.profiles)", json_block(run.profile.to_dict()))
    body += details("run.json", json_block(run.identity))
    return Section("record", "Record and settings", body)


def metrics_block(run: RunData, stem: str) -> str:
    """One notebook's recorded numbers as JSON; a record that cannot be read says which notebook to rerun."""
    try:
        return json_block(run.run.read_metrics(stem))
    except LiverkitError as exc:
        return paragraph(f"damaged: rerun notebook {stem[:2]} ({exc})", "note")


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


# ---------------------------------------------------------------------------------------------- HTML pieces
def esc(value: object) -> str:
    return html.escape(str(value))


def paragraph(text: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f"<p{klass}>{esc(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def table_html(table: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as an escaped HTML table."""
    return table.rename_axis(index=None).to_html(classes="data", border=0, na_rep="—", index=index, escape=True)


def kv_table(rows: dict[str, object]) -> str:
    """A two-column table of names and values."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.items())
    return f'<table class="data kv">{body}</table>'


def details(summary: str, body: str) -> str:
    """A collapsible block, closed by default."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def json_block(obj: Any) -> str:
    return f"<pre>{esc(json.dumps(obj, indent=2, sort_keys=True, default=str))}</pre>"


# ---------------------------------------------------------------------------------------------- the page
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1300px; margin: 0 auto; padding: 1em 2em 3em; }
h1 { margin-bottom: 0.2em; } section h1 { font-size: 1.6em; margin-top: 2em; }
section > h2, section h1 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
nav a.incomplete::after { content: " (not run, or failed)"; color: #a60; font-size: 0.85em; }
table.data, table.dataframe { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; background: white; }
table.data th, table.data td, table.dataframe th, table.dataframe td {
  border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
table.data thead th, table.dataframe thead th { background: #f0f0f0; }
.not-run { background: #fff4e0; border-left: 4px solid #e0a030; padding: 0.5em 0.8em; }
.note { color: #666; } .figure { overflow-x: auto; margin: 0.8em 0; background: white; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
.output_error pre { background: #fde8e8; }
.anchor-link { display: none; } img { max-width: 100%; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #246; }
footer { color: #888; font-size: 0.85em; margin-top: 3em; }
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
window.reportFigures = [];
function checkReportFigures() {
  var divs = document.querySelectorAll("div.plotly-graph-div");
  var drawn = 0;
  for (var i = 0; i < divs.length; i++) { if (divs[i].querySelector("svg.main-svg")) { drawn += 1; } }
  document.body.setAttribute("data-graph-divs", String(divs.length));
  document.body.setAttribute("data-drawn", String(drawn));
  document.body.setAttribute("data-errors", String(window.reportErrors.length));
  document.body.setAttribute("data-error-messages", window.reportErrors.join(" | "));
}
"""

_PLOTLY_LOADER = """
function unpackPlotly(base64) {
  if (typeof DecompressionStream === "undefined") {
    return Promise.reject(new Error("this browser cannot unpack plotly.js (no DecompressionStream): use a newer one"));
  }
  var bytes = Uint8Array.from(atob(base64), function (c) { return c.charCodeAt(0); });
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}
function drawReportFigures() {
  var packed = document.getElementById("plotly-js-gzip");
  if (!packed) { checkReportFigures(); return; }
  unpackPlotly(packed.textContent.trim()).then(function (code) {
    var script = document.createElement("script");
    script.text = code;
    document.head.appendChild(script);
    return Promise.all(window.reportFigures.map(function (draw) { return draw(); }));
  }).catch(function (error) {
    recordReportError("figures not drawn: " + error);
    var note = document.createElement("p");
    note.className = "not-run";
    note.textContent = "The figures could not be drawn: " + error;
    document.querySelector("main").prepend(note);
  }).then(checkReportFigures);
}
window.addEventListener("load", drawReportFigures);
"""


@functools.cache
def packed_plotly_js() -> str:
    """plotly.js gzipped and base64-encoded: what the page carries, 2.0 MB instead of 4.8 MB (plotly 7); the page
    unpacks it (``_PLOTLY_LOADER``). Computed once per process (about 0.3 s)."""
    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def render_page(title: str, sections: list[Section], figure_count: int, footer: str = "") -> str:
    """The whole page: inline CSS, the error recorder, the sections, then (when there are figures) plotly.js packed
    once and the script that unpacks it and draws the figures."""
    plotly_js = (
        f'<script id="plotly-js-gzip" type="application/gzip;base64">{packed_plotly_js()}</script>\n'
        if figure_count
        else ""
    )
    toc = "".join(
        f'<li><a href="#{esc(s.key)}" class="{"complete" if s.complete else "incomplete"}">{esc(s.title)}</a></li>'
        for s in sections
    )
    body = "".join(
        f'<section id="{esc(s.key)}">{"" if s.headed else f"<h2>{esc(s.title)}</h2>"}{s.body}</section>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{_ERROR_RECORDER}{_FIGURE_CHECK}</script>\n</head>\n"
        f'<body data-errors="0" data-figures="{figure_count}" data-drawn="0">\n<main>\n'
        f"<h1>{esc(title)}</h1>\n<nav><ul>{toc}</ul></nav>\n{body}\n"
        f"<footer>{esc(footer)}</footer>\n</main>\n{plotly_js}<script>{_PLOTLY_LOADER}</script>\n</body>\n</html>\n"
    )
