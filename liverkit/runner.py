"""Run the notebooks in order with papermill: the test suite (``smoke``), the demo (``quick``), the paper (``paper``).

Each notebook gets the same parameters (profile, run folder, data source, seed, device), and its executed
copy is saved to ``<run folder>/notebooks/``. A failure stops the run and names the notebook and the cell.

A notebook whose inputs are unchanged since it last succeeded in this run folder is skipped. Its inputs are its
own cells, the parameters, the data file (when the data source is a file), the library's source code and,
through a chained digest, the same for every notebook before it; the digests are kept in
``<run folder>/runner_state.json``. ``force=True`` reruns everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from liverkit.config import get_profile
from liverkit.errors import LiverkitError
from liverkit.io import write_json

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
    skipped: bool = False
    """True when the notebook was unchanged since it last succeeded, and was not run again."""


def run_notebooks(
    out: str | os.PathLike,
    profile: str = "quick",
    data: str = "phantom",
    seed: int = 0,
    device: str = "auto",
    notebooks: Sequence[str] | None = None,
    notebook_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print,
    force: bool = False,
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
        force: run every selected notebook, even those unchanged since they last succeeded.
    """
    get_profile(profile)  # refuse an unknown profile before starting any kernel
    every = list_notebooks(notebook_dir)
    selected = select_notebooks(every, notebooks)
    if not selected:
        raise LiverkitError(f"no notebooks found in '{notebook_dir or default_notebook_dir()}'.")
    out = Path(out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    parameters = {"profile": profile, "run_dir": str(out), "data": data, "seed": seed, "device": device}
    digests = input_digests(every, parameters)
    state_file = out / STATE_FILE
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    results: list[NotebookResult] = []
    start = time.perf_counter()
    for i, notebook in enumerate(selected, start=1):
        output = out / "notebooks" / notebook.name
        left = ", ".join(p.stem for p in selected[i:]) or "nothing"
        if not force and state.get(notebook.stem) == digests[notebook.stem] and output.is_file():
            results.append(NotebookResult(notebook.stem, output, 0.0, skipped=True))
            _say(progress, f"[{i}/{len(selected)}] {notebook.stem}: unchanged since it last succeeded, skipped")
            continue
        _say(progress, f"[{i}/{len(selected)}] {notebook.stem} (elapsed {time.perf_counter() - start:.0f} s; "
                       f"after it: {left})")  # fmt: skip
        state.pop(notebook.stem, None)
        write_json(state_file, state)
        results.append(_execute(notebook, output, parameters))
        state[notebook.stem] = digests[notebook.stem]
        write_json(state_file, state)
        _say(progress, f"      done in {results[-1].seconds:.1f} s -> {results[-1].output}")
    return results


STATE_FILE = "runner_state.json"
"""Per notebook, the digest of the inputs it last succeeded with (in the run folder)."""


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress:
        progress(line)


def input_digests(notebooks: Sequence[Path], parameters: dict) -> dict[str, str]:
    """A digest per notebook of everything its result depends on: chained, so a change reaches every later one.

    The chain starts from the parameters, the data file's contents (when ``parameters["data"]`` is a file) and
    the library's source; each notebook adds its cells (sources and types; outputs and metadata are ignored).
    """
    chain = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode())
    chain.update(_file_digest(Path(parameters["data"])).encode())
    chain.update(_library_digest().encode())
    digests = {}
    for notebook in notebooks:
        cells = json.loads(notebook.read_text())["cells"]
        chain.update(json.dumps([(c["cell_type"], "".join(c["source"])) for c in cells]).encode())
        digests[notebook.stem] = chain.copy().hexdigest()
    return digests


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes; "" when ``path`` is not a file (a manifest data set name)."""
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _library_digest() -> str:
    """The library's Python sources: editing the kit reruns every notebook."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _kernel_manager_class():
    """Kernels talk over IPC sockets on POSIX: TCP ports are picked by binding and releasing them, and two runs
    starting kernels at the same moment could be handed the same port and wait on each other for ever."""
    from jupyter_client.manager import KernelManager

    class IPCKernelManager(KernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return IPCKernelManager if os.name == "posix" else KernelManager


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
            kernel_manager_class=_kernel_manager_class(),
        )
    except PapermillExecutionError as exc:
        raise LiverkitError(
            f"notebook '{notebook.name}' failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue.rstrip('.')}. The executed copy with the traceback is '{output}'."
        ) from exc
    return NotebookResult(notebook=notebook.stem, output=output, seconds=time.perf_counter() - start)
