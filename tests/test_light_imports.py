"""The ``liverkit`` command and the notebook runner stay light: no torch, no scientific stack at import.

On Binder (2 GB) the process that runs ``liverkit run`` lives beside every notebook kernel it starts, so it must not
hold torch (about 1 GB resident) for nothing; and ``liverkit --help`` must answer at once. Each check runs in a fresh
interpreter, so what other tests imported does not count.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

LIGHT_MODULES = "liverkit.kit.cli, liverkit.kit.notebook_runner"
"""What the command's process imports before it starts any notebook."""

HEAVY = (
    "torch",
    "sklearn",
    "scipy",
    "pandas",
    "plotly",
    "umap",
    "matplotlib",
    "IPython",
    "ipywidgets",
    "pydicom",
    "nibabel",
    "PIL",
    "papermill",
)
"""Packages the light modules must leave out (each costs from tens of milliseconds to a second and many MB)."""

HELP_BUDGET_S = 2.0
"""Wall time ``liverkit --help`` may take, best of three tries (about 0.15 s on two shared CPU cores)."""

SUBCOMMANDS = ("run", "data", "report", "regress", "config", "notebooks")
"""Sub-commands the help must list."""


def import_chain(importtime: str, module: str) -> list[str]:
    """The chain of imports that first loaded ``module``, outermost first, e.g.
    ``["liverkit.kit.cli", "liverkit.kit.profiles", "liverkit.augment.classic", "torch"]``; empty when it was not
    imported.

    Args:
        importtime: the stderr of ``python -X importtime``: one line per module, each printed after the modules it
            imported, indented two spaces per level, so a module's importer is the next line indented less.
    """
    rows = [line.rpartition("|")[2] for line in importtime.splitlines() if line.startswith("import time:")]
    entries = [(len(row) - len(row.lstrip()), row.strip()) for row in rows]
    for i, (depth, name) in enumerate(entries):
        if name == module:
            chain = [name]
            for later_depth, later in entries[i + 1 :]:
                if later_depth < depth:
                    chain.append(later)
                    depth = later_depth
            return chain[::-1]
    return []


def test_import_chain_reads_importtime():
    """The parser names the importer of a module from ``-X importtime``'s nesting (a small hand-made output)."""
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |       torch._C\n"
        "import time:       300 |        400 |     torch\n"
        "import time:        50 |         50 |     liverkit.errors\n"
        "import time:        20 |        470 |   liverkit.augment.classic\n"
        "import time:        10 |        480 | liverkit.kit.cli\n"
    )
    assert import_chain(stderr, "torch") == ["liverkit.kit.cli", "liverkit.augment.classic", "torch"]
    assert import_chain(stderr, "torch._C") == ["liverkit.kit.cli", "liverkit.augment.classic", "torch", "torch._C"]
    assert import_chain(stderr, "pandas") == []


def test_cli_and_runner_import_nothing_heavy():
    """``import liverkit.kit.cli, liverkit.kit.notebook_runner`` loads none of :data:`HEAVY`; a failure names who pulled
    it in."""
    code = f"import sys, {LIGHT_MODULES}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(done.stdout.split())
    assert (
        "liverkit.kit.notebook_runner" in loaded and "liverkit.kit.profiles" in loaded
    )  # the check ran on the real modules
    pulled = {name: " -> ".join(import_chain(done.stderr, name)) for name in HEAVY if name in loaded}
    assert not pulled, f"import {LIGHT_MODULES} imported heavy packages (importer chains): {pulled}"


def test_help_is_fast_and_lists_the_subcommands():
    """``liverkit --help`` exits 0 within :data:`HELP_BUDGET_S` (best of three) and lists every sub-command."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "liverkit.kit.cli", "--help"], capture_output=True, text=True, timeout=120
        )
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr[-2000:]
    missing = [name for name in SUBCOMMANDS if not re.search(rf"\n    {name}\s", done.stdout)]
    assert not missing, f"liverkit --help does not list {missing}:\n{done.stdout}"
    assert min(times) < HELP_BUDGET_S, (
        f"liverkit --help took {min(times):.2f} s, best of {[round(t, 2) for t in times]} (budget {HELP_BUDGET_S} s); "
        "test_cli_and_runner_import_nothing_heavy says what it imports"
    )


CHECK_APART = """
import sys
from liverkit.errors import LiverkitError
from liverkit.kit.notebook_runner import check_inputs_apart
checked = check_inputs_apart("smoke", "phantom", 0, "cpu", {})
try:
    check_inputs_apart("smoke", "no-such-data", 0, "cpu", {})
except LiverkitError as error:
    refused = str(error)
print(checked.n_lesions, checked.n_classes, checked.profile.name, "torch" in sys.modules)
print(refused)
"""


def test_the_runner_checks_its_inputs_in_a_process_of_its_own():
    """Loading the data imports torch; the runner's own process must still not hold it (and errors still arrive)."""
    done = subprocess.run([sys.executable, "-c", CHECK_APART], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    counts, refused = done.stdout.strip().split("\n", 1)
    assert counts == "182 3 smoke False"  # the phantom's lesions and classes, checked; torch stayed out
    assert refused.startswith("--data 'no-such-data' is neither a data set of the manifest")


RUN_TINY = """
import sys, nbformat
from pathlib import Path
from liverkit.kit.notebook_runner import run_notebooks
folder = Path(sys.argv[1])
nb = nbformat.v4.new_notebook()
parameters = nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]})
nb.cells = [parameters, nbformat.v4.new_code_cell("1")]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
(folder / "nbs").mkdir()
nbformat.write(nb, folder / "nbs" / "01_tiny.ipynb")
run_notebooks(folder / "run", profile="smoke", notebook_dir=folder / "nbs", progress=None)
print(sorted(name for name in HEAVY if name in sys.modules))
"""


def test_a_whole_run_keeps_the_runner_light(tmp_path):
    """Through the data's digest (the manifest names files relative to a data root), the identity and the kernel:
    the runner process never imports the kernels' heavy packages (measured before: 329 MB, after: 89 MB)."""
    heavy = [name for name in HEAVY if name not in ("IPython", "papermill")]  # papermill needs IPython
    code = f"HEAVY = {heavy!r}\n" + RUN_TINY
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
