"""Run the notebooks in order with papermill: the test suite (``smoke``), the demo (``quick``), the paper (``paper``).

Each notebook gets the same parameters (profile, run folder, data source, seed, device), and its executed
copy is saved to ``<run folder>/notebooks/``. A failure stops the run and names the notebook and the cell.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from liverkit.config import get_profile
from liverkit.errors import LiverkitError

_NOTEBOOK_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
KERNEL_NAME = "python3"
"""The kernel papermill starts: resolves to the Python that runs papermill (the kit's own environment)."""


def default_notebook_dir() -> Path:
    """The repository's ``notebooks/`` folder (beside the installed package in a source checkout), else ./notebooks."""
    beside_package = Path(__file__).resolve().parents[1] / "notebooks"
    return beside_package if beside_package.is_dir() else Path("notebooks").resolve()


def list_notebooks(notebook_dir: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in story order."""
    folder = Path(notebook_dir) if notebook_dir else default_notebook_dir()
    if not folder.is_dir():
        raise LiverkitError(f"notebook folder '{folder}' does not exist; pass --notebook-dir or run from the repo.")
    return sorted(p for p in folder.iterdir() if _NOTEBOOK_NAME.match(p.name))


def select_notebooks(notebooks: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """Pick notebooks by number (``"01"``, ``"1"``) or name (``"01_data"``); None keeps them all."""
    if not wanted:
        return list(notebooks)
    chosen = []
    for key in wanted:
        matches = [p for p in notebooks if p.stem == key or p.name[:2] == key.zfill(2)]
        if not matches:
            raise LiverkitError(f"no notebook '{key}'; available: {[p.stem for p in notebooks]}.")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


@dataclass(frozen=True)
class NotebookResult:
    """What running one notebook took."""

    notebook: str
    output: Path
    seconds: float


def run_notebooks(
    out: str | os.PathLike,
    profile: str = "quick",
    data: str = "phantom",
    seed: int = 0,
    device: str = "auto",
    notebooks: Sequence[str] | None = None,
    notebook_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print,
) -> list[NotebookResult]:
    """Execute the notebooks in order with papermill into the run folder ``out``.

    Args:
        out: the run folder; executed notebooks go to ``out/notebooks/``.
        profile: ``smoke``, ``quick`` or ``paper``.
        data: a data set name from the manifest, or a LesionSet ``.npz`` path.
        seed: the run's one seed.
        device: ``auto``, ``cpu``, ``cuda``...
        notebooks: numbers or names to run (default: all).
        notebook_dir: where the notebooks are (default: the repository's ``notebooks/``).
        progress: called with one line per step; None for silence.
    """
    get_profile(profile)  # refuse an unknown profile before starting any kernel
    selected = select_notebooks(list_notebooks(notebook_dir), notebooks)
    if not selected:
        raise LiverkitError(f"no notebooks found in '{notebook_dir or default_notebook_dir()}'.")
    out = Path(out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    parameters = {"profile": profile, "run_dir": str(out), "data": data, "seed": seed, "device": device}
    results: list[NotebookResult] = []
    start = time.perf_counter()
    for i, notebook in enumerate(selected, start=1):
        if progress:
            progress(f"[{i}/{len(selected)}] {notebook.stem} (elapsed {time.perf_counter() - start:.0f} s)")
        results.append(_execute(notebook, out / "notebooks" / notebook.name, parameters))
        if progress:
            progress(f"      done in {results[-1].seconds:.1f} s -> {results[-1].output}")
    return results


def _execute(notebook: Path, output: Path, parameters: dict) -> NotebookResult:
    """Run one notebook; a failing cell becomes a LiverkitError naming the notebook, the cell and the error."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(output.parent),
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        raise LiverkitError(
            f"notebook '{notebook.name}' failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue.rstrip('.')}. The executed copy with the traceback is '{output}'."
        ) from exc
    return NotebookResult(notebook=notebook.stem, output=output, seconds=time.perf_counter() - start)
