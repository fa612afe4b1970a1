"""Quiet outputs (issue 22, item 5): the kit's errors as their message, an install cell that says what failed, short
config and metrics lines, rounded tables, network summaries deep enough to show the layers the text names.

The kernel tests run real IPython kernels (nbclient), as papermill does; the smoke-run tests read the session's
executed notebooks (tests/conftest.py).
"""

import json
import re
import tomllib
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import liverkit
from liverkit import LiverkitError
from liverkit.env import CONFIG_METADATA
from liverkit.kit.display import note_summary
from liverkit.kit.notebook_runner import list_notebooks, run_notebooks

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PLANTED = "planted mistake: set profile to 'smoke' and run again."


VERSION = liverkit.__version__


def execute(sources: list[str], allow_errors: bool = True) -> list[list[dict]]:
    """Run code cells in a fresh kernel; return each cell's outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=allow_errors).execute()
    return [cell.outputs for cell in nb.cells]


def error_text(outputs: list[dict]) -> str:
    [error] = [o for o in outputs if o["output_type"] == "error"]
    return ANSI.sub("", "\n".join(error["traceback"]))


# ---------------------------------------------------------------------------------------------- short errors
def test_a_liverkit_error_shows_its_message_only_and_other_errors_their_traceback():
    outputs = execute(
        [
            "from liverkit.kit.display import short_errors\nshort_errors()",
            f"from liverkit import LiverkitError\nprint('before')\nraise LiverkitError({PLANTED!r})",
            "%tb",
            "1 / 0",
            "short_errors(False)",
            f"raise LiverkitError({PLANTED!r})",
        ]
    )
    _, short, full, bug, _, restored = outputs
    assert [o["output_type"] for o in short] == ["stream", "error"]  # the print before it still shows
    assert short[1]["ename"] == "LiverkitError" and short[1]["evalue"] == PLANTED
    assert error_text(short) == f"LiverkitError: {PLANTED}\n"  # one line: no frames, no "Traceback"
    for outputs in (full, bug, restored):  # %tb shows the frames; other errors and short_errors(False) as usual
        assert "Traceback (most recent call last)" in error_text(outputs)
    assert "LiverkitError" in error_text(full) and "ZeroDivisionError" in error_text(bug)


def test_a_short_liverkit_error_still_fails_the_cell():
    raising = "from liverkit import LiverkitError\nraise LiverkitError('x')"
    with pytest.raises(CellExecutionError, match="LiverkitError"):
        execute(["from liverkit.kit.display import short_errors\nshort_errors()", raising], allow_errors=False)


def test_the_runner_names_notebook_and_cell_of_a_short_liverkit_error(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from liverkit.kit.display import short_errors\nshort_errors()"),
        nbformat.v4.new_code_cell(f"from liverkit import LiverkitError\nraise LiverkitError({PLANTED!r})"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "01_broken.ipynb")
    with pytest.raises(LiverkitError, match=r"'01_broken.ipynb' failed in cell 3 .*LiverkitError: planted mistake"):
        run_notebooks(tmp_path / "run", profile="smoke", notebook_dir=tmp_path / "nbs", progress=None)
    failed = nbformat.read(tmp_path / "run" / "notebooks" / "01_broken.failed.ipynb", as_version=4)
    assert error_text(failed.cells[-1].outputs) == f"LiverkitError: {PLANTED}\n"


# ---------------------------------------------------------------------------------------------- the install cell
def install_cell() -> str:
    """The guarded install cell, the same in every notebook."""
    cells = {nbformat.read(path, as_version=4).cells[1].source for path in list_notebooks()}
    assert len(cells) == 1, "the notebooks' install cells differ"
    return cells.pop()


def test_when_pip_fails_the_install_cell_says_what_failed_and_what_to_do():
    """liverkit made to look missing, and pip made to fail at once: git may not fetch over https, pip may use no
    index, and --dry-run would install nothing even if the rest succeeded. The machine is left as it was."""
    pretend = (
        "import importlib.util, os\n"
        "os.environ.update(GIT_ALLOW_PROTOCOL='file', PIP_NO_INDEX='1', PIP_DRY_RUN='1',"
        " PIP_DISABLE_PIP_VERSION_CHECK='1', GIT_TERMINAL_PROMPT='0')\n"
        "real_find_spec = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'liverkit' else real_find_spec(name, *a)"
    )
    _, install = execute([pretend, install_cell()])
    error = [o for o in install if o["output_type"] == "error"][0]
    pip_said = "".join(o.get("text", "") for o in install if o["output_type"] == "stream")
    assert "error" in pip_said.lower() and "liverkit" in pip_said, pip_said  # pip ran, and its message shows
    assert error["ename"] == "RuntimeError" and error["evalue"].startswith("Installing liverkit failed")
    assert f'pip install "liverkit @ git+https://github.com/liverkit/liverkit@v{VERSION}"' in error["evalue"]
    assert "restart the kernel" in error["evalue"]


def test_the_install_cell_installs_this_version_and_says_when_to_restart():
    """The cell asks for the release the notebooks belong to; pip made to do nothing (liverkit looks missing only
    until pip has run), with numpy imported at a version other than the installed one, as a package pip upgraded
    under a running Colab kernel would be: the cell says to restart, and why. The machine is left as it was."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == VERSION, "liverkit.__version__ and pyproject.toml's version differ"
    assert re.search(r'^LIVERKIT_VERSION = "([^"]+)"', install_cell(), re.M).group(1) == VERSION
    assert "@v{LIVERKIT_VERSION}" in install_cell()  # the git tag of that release
    pretend = (
        "import importlib.util, os, sys, numpy\n"
        "os.environ.update(PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1', GIT_ALLOW_PROTOCOL='file')\n"
        "real_find_spec, asked = importlib.util.find_spec, []\n"
        "def find_spec(name, *a):\n"
        "    asked.append(name)\n"
        "    return None if asked.count('liverkit') == 1 and name == 'liverkit' else real_find_spec(name, *a)\n"
        "importlib.util.find_spec = find_spec\n"
        "numpy.__version__ = '0.0.1'"
    )
    _, install = execute([pretend, install_cell()], allow_errors=False)
    said = "".join(o.get("text", "") for o in install if o["output_type"] == "stream")
    assert f"liverkit {VERSION} installed, but pip replaced packages in use (numpy 0.0.1 -> " in said, said
    assert "Restart session" in said and "no restart needed" not in said


def test_where_liverkit_is_installed_the_install_cell_does_nothing():
    [outputs] = execute([install_cell()])
    assert outputs == []


# ---------------------------------------------------------------------------------------------- note summary
def test_note_summary_shows_each_kind_of_note_once_with_its_numbers_range():
    table = pd.DataFrame(
        {
            "metric": ["kid_mean", "kid_std", "fid", "fid", "recall", "kid_mean"],
            "note": [
                "KID subset size 17",
                "KID subset size 61",
                "n <= feature dimension 16: FID biased upward; KID subset size 20",
                "n <= feature dimension 16: FID biased upward",
                "",
                None,
            ],
        }
    )
    assert note_summary(table).split("\n") == [
        "4 of 6 rows carry a note; each kind once:",
        "3 rows (fid, kid_mean, kid_std): KID subset size 17–61",
        "2 rows (fid): n <= feature dimension 16: FID biased upward",
    ]
    with pytest.raises(LiverkitError, match=r"no column\(s\) \['class'\]"):
        note_summary(table, where=("class",))


# ---------------------------------------------------------------------------------------------- the smoke run
LONG_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{5,}")
"""A number with five decimals or more: what a reader should never have to read."""

METRICS_CELLS = {
    "01_data": "cell-16",
    "02_classic_augmentation": "cell-20",
    "03_dcgan": "cell-22",
    "04_acgan": "cell-22",
    "05_gan_augmentation": "cell-18",
    "06_feature_maps": "cell-16",
    "07_synthetic_quality": "cell-21",
    "08_visual_turing_test": "cell-15",
}
"""The cell at the end of each notebook that saves its key numbers."""


def executed(smoke_run, stem: str) -> dict[str, nbformat.NotebookNode]:
    """An executed smoke notebook's cells by id."""
    nb = nbformat.read(smoke_run.path / "notebooks" / f"{stem}.ipynb", as_version=4)
    return {cell.get("id"): cell for cell in nb.cells}


def shown_text(cell: nbformat.NotebookNode) -> str:
    """Everything a reader sees as text in a cell's outputs (stdout, text/plain and HTML tables)."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output["name"] == "stdout":
            parts.append(output["text"])
        for mime in ("text/plain", "text/html"):
            parts.append(output.get("data", {}).get(mime, ""))
    return "".join(parts)


@pytest.mark.notebook
@pytest.mark.parametrize("stem", list(METRICS_CELLS))
def test_opening_and_closing_cells_are_short_and_rounded(smoke_run, stem):
    cells = executed(smoke_run, stem)
    config = [o for o in cells["cell-02"].outputs if o["output_type"] == "display_data"]
    assert len(config) == 1 and config[0]["data"]["text/plain"].count("\n") == 0  # print_config(): one line
    assert "torchvision" in config[0]["metadata"][CONFIG_METADATA]  # the rest, for the report
    for cid in ("cell-01", "cell-02", "cell-03", "cell-04", METRICS_CELLS[stem]):
        assert not LONG_NUMBER.findall(shown_text(cells[cid])), (stem, cid)
        assert "PosixPath(" not in shown_text(cells[cid]), (stem, cid)
    assert "Profile(" not in shown_text(cells["cell-04"])
    saved = [o for o in cells[METRICS_CELLS[stem]].outputs if o["output_type"] == "stream"]
    assert len(saved) == 1 and saved[0]["text"] == (
        f"key numbers saved to metrics/{stem}.json in '{smoke_run.path}'\n"
    )  # one pointer line; 03 and 04 also show the table of saved samples


@pytest.mark.notebook
@pytest.mark.parametrize(("stem", "generator", "discriminator"), [("03_dcgan", 4, 4), ("04_acgan", 4, 6)])
def test_network_summaries_show_the_layers_the_text_names(smoke_run, stem, generator, discriminator):
    cells = executed(smoke_run, stem)
    g, d = (shown_text(cells[cid]) for cid in ("cell-06", "cell-07"))
    assert len(re.findall(r"ConvTranspose2d: \d", g)) == generator and "Tanh" in g
    assert len(re.findall(r"\bConv2d: \d", d)) == discriminator and "LeakyReLU" in d
    assert "[5, 5]" in g  # the kernel column: the paper's 5 x 5 fractionally-strided convolutions


@pytest.mark.notebook
def test_quality_notes_are_summarised(smoke_run):
    cells = executed(smoke_run, "07_synthetic_quality")
    lines = shown_text(cells["cell-12"]).strip().split("\n")
    quality = pd.concat(smoke_run.load_table(f"quality_fold{f}") for f in range(3))
    noted = int(quality["note"].fillna("").str.len().gt(0).sum())
    assert lines[0] == f"{noted} of {len(quality)} rows carry a note; each kind once:" and noted >= 40
    assert 2 <= len(lines) <= 9 and "..." not in "".join(lines)  # a few kinds, each note whole
    assert "{" not in shown_text(cells["cell-21"])  # no nested dict of numbers


def test_the_cells_checked_here_exist():
    for stem, cid in METRICS_CELLS.items():
        ids = [c["id"] for c in json.loads((list_notebooks()[0].parent / f"{stem}.ipynb").read_text())["cells"]]
        assert cid in ids, (stem, cid)
