"""Run the notebooks in order with papermill: the test suite (``smoke``), the demo (``quick``), the paper (``paper``).

Each notebook gets the same parameters (profile, run folder, data source, seed, device, overrides), and its
executed copy is saved to ``<run folder>/notebooks/``. Everything a user can get wrong (profile, seed, device,
overrides, data, a run folder holding another configuration or in use by another run) is checked before any
kernel starts and before anything is written. A failure stops the run and names the notebook and the cell; the
failed copy is kept as ``NN_name.failed.ipynb`` beside the last good copy, which it never replaces.

A notebook is skipped when its inputs are unchanged since it last succeeded in this run folder and its executed
copy and metrics record are still there. Its inputs are its own cells, the parameters, the data's contents
(file, folder or built-in), its manifest entry, the resolved profile, the versions of the numerical packages,
the library's source and, through a chained digest, the same for every notebook before it; the digests are kept
in ``<run folder>/runner_state.json`` (:mod:`liverkit.kit.staleness`). A notebook that runs again makes every later one
run again too (they read what it writes). When a notebook's inputs changed since its files were made, its files are
first moved to ``stale/<time>/`` (one line per notebook says so), so nothing made from the old inputs is mixed with
or refuses the new ones. ``force=True`` does the same for the selected notebooks and every later one.

On the command line (``stop_on_signal``), Ctrl-C or SIGTERM during a notebook stops the run within seconds with one
line (:mod:`liverkit.kit.interrupt`); the same command resumes it.

The notebooks are the checkout's ``notebooks/``, or the copy inside an installed wheel (liverkit.kit.notebook_files).
papermill, nbformat and the Jupyter kernel machinery come with the ``notebooks`` extra (``make setup`` installs it);
without them a run stops at once and says how to get them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverkit.data.manifest import is_lesionset_file
from liverkit.errors import LiverkitError
from liverkit.experiment.run_folder import RunFolder, identity_differences, run_identity
from liverkit.io import read_json
from liverkit.kit.digest import input_digests, run_inputs
from liverkit.kit.eta import Eta, notebook_work, rebuild_work
from liverkit.kit.interrupt import stop_on_signals
from liverkit.kit.notebook_files import list_notebooks
from liverkit.kit.notebook_files import notebook_dir as default_notebook_dir
from liverkit.kit.profiles import Profile, resolve_profile
from liverkit.kit.staleness import RunState, move_aside, read_state, stale_notebooks, write_state
from liverkit.progress import HEADLESS_ENV
from liverkit.seeds import check_seed
from liverkit.story import NEEDS

KERNEL_NAME = "python3"
"""The kernel papermill starts: resolves to the Python that runs papermill (the kit's own environment)."""
LOCK_FILE = ".liverkit.lock"
"""Held (locked) by the run using the folder; it holds that run's process id."""
NOTEBOOK_EXTRA = "liverkit run needs the notebook extra (papermill, nbformat, jupyter_client)"
"""The start of the error when papermill, nbformat or jupyter_client is missing (they come with that extra)."""
INSTALL_NOTEBOOK_EXTRA = (
    "in a checkout, make setup installs it; elsewhere, from git: "
    'pip install "liverkit[notebooks] @ git+https://github.com/liverkit/liverkit", or from a wheel you built '
    '(pip wheel . --no-deps in a checkout): pip install "WHEEL[notebooks]"'
)
"""How to get the ``notebooks`` extra, in the error messages that need it (the runner's, the report's)."""


def require_notebook_extra():
    """The papermill module, imported here (the library itself runs without the notebook stack); a LiverkitError
    saying how to install the ``notebooks`` extra when papermill, nbformat or jupyter_client is missing."""
    try:
        import jupyter_client  # noqa: F401 - the kernels papermill starts
        import nbformat  # noqa: F401 - papermill reads and writes notebooks with it
        import papermill
    except ImportError as exc:
        raise LiverkitError(f"{NOTEBOOK_EXTRA}: {INSTALL_NOTEBOOK_EXTRA}. ({exc})") from exc
    return papermill


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


def print_flushed(line: str) -> None:
    """The default progress: print the line and flush at once, so a log file or a pipe (``| tee``) follows the run."""
    print(line, flush=True)


def run_notebooks(
    out: str | os.PathLike,
    profile: str = "quick",
    data: str = "phantom",
    seed: int = 0,
    device: str = "auto",
    notebooks: Sequence[str] | None = None,
    notebook_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print_flushed,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    heartbeat_s: float = 30.0,
    stop_on_signal: bool = False,
) -> list[NotebookResult]:
    """Check every input, then execute the notebooks in order with papermill into the run folder ``out``.

    Args:
        out: the run folder; executed notebooks go to ``out/notebooks/``.
        profile: ``smoke``, ``quick`` or ``paper``.
        data: a data set name from the manifest, or a LesionSet ``.npz`` path.
        seed: the run's one seed (an integer >= 0).
        device: ``auto``, ``cpu``, ``cuda``...
        notebooks: numbers or names to run (default: all).
        notebook_dir: where the notebooks are (default: the checkout's ``notebooks/``, else the installed copy).
        progress: called with one line per step and a heartbeat line while a notebook runs; None for silence.
        force: run every selected notebook, even those unchanged since they last succeeded.
        overrides: profile changes, ``{"classifier.epochs": 4}`` (``--set``); every notebook gets them.
        heartbeat_s: seconds between progress lines while one notebook runs.
        stop_on_signal: on SIGINT or SIGTERM while a notebook runs, kill its kernel, clean up, print one line and
            end the process (:mod:`liverkit.kit.interrupt`; the command line's choice). False: Python's own handling.
    """
    require_notebook_extra()  # before any check or file: without papermill nothing could run
    absolute_data_env()
    data, overrides = absolute_data(data), dict(overrides or {})
    every = list_notebooks(notebook_dir)
    selected = select_notebooks(every, notebooks)
    if not selected:
        raise LiverkitError(f"no notebooks found in '{notebook_dir or default_notebook_dir()}'.")
    out = check_out_folder(out)
    checked = check_inputs_apart(profile, data, seed, device, overrides)
    identity = run_identity(profile, data, seed, overrides)
    check_identity(out, identity)
    with run_lock(out):
        RunFolder(out, identity=identity)  # records run.json, or checks it again now that the folder is ours
        (out / "notebooks").mkdir(exist_ok=True)
        parameters = {
            "profile": profile,
            "run_dir": str(out),
            "data": data,
            "seed": seed,
            "device": device,
            "overrides": overrides,
        }
        inputs = run_inputs(data, checked.profile, {k: v for k, v in parameters.items() if k != "run_dir"})
        digests = input_digests(every, inputs)
        state = read_state(out)
        stems = [p.stem for p in every]
        redo = set(stems[stems.index(selected[0].stem) :]) if force else set()
        for line in move_aside(out, stale_notebooks(out, stems, state, digests, redo), state, inputs, redo):
            _say(progress, line)
        state.inputs = inputs
        write_state(out, state)
        plan = plan_runs(out, selected, state.done, digests, force)
        work = plan_work(plan, state.done, checked)
        run = _Run(out, every, state, digests, parameters, Eta(work), progress, heartbeat_s, stop_on_signal)
        return [run.one(i, notebook, skip, len(plan)) for i, (notebook, skip) in enumerate(plan, start=1)]


@dataclass
class _Run:
    """One checked run in progress: what :meth:`one` needs to skip or execute a notebook."""

    out: Path
    every: list[Path]
    state: RunState
    digests: dict[str, str]
    parameters: dict[str, Any]
    tracker: Eta
    progress: Callable[[str], None] | None
    heartbeat_s: float
    stop_on_signal: bool

    def one(self, i: int, notebook: Path, skip: bool, n: int) -> NotebookResult:
        """Skip or execute one notebook, keeping the state file and the progress lines up to date."""
        output = self.out / "notebooks" / notebook.name
        if skip:
            _say(self.progress, f"[{i}/{n}] {notebook.stem}: unchanged since it last succeeded, skipped")
            return NotebookResult(notebook.stem, output, 0.0, skipped=True)
        _say(self.progress, f"[{i}/{n}] {notebook.stem}; {self.tracker.line()}")
        self.state.started(notebook.stem, self.digests, [p.stem for p in self.every])
        write_state(self.out, self.state)
        self.tracker.start(notebook.stem)
        stopping = stop_on_signals(self.out, lambda name, removed: self.stopped(name, notebook.stem, removed))
        beating = _heartbeat(self.progress, self.tracker, self.heartbeat_s)
        with stopping if self.stop_on_signal else nullcontext(), beating:
            result = _execute(notebook, output, self.parameters)
        self.tracker.finish(notebook.stem)
        self.state.done[notebook.stem] = self.digests[notebook.stem]
        write_state(self.out, self.state)
        _say(self.progress, f"      done in {result.seconds:.1f} s -> {result.output}; {self.tracker.line()}")
        return result

    def stopped(self, signal_name: str, notebook: str, removed: list[Path]) -> str:
        """The one line a stopped run prints: what was kept, and how to go on."""
        done = [stem for stem in self.state.done if stem != notebook]
        kept = f"kept {', '.join(done)}" if done else "no notebook had finished"
        how = "Ctrl-C" if signal_name == "SIGINT" else signal_name
        cleaned = f"; removed {len(removed)} temporary file(s)" if removed else ""
        return (
            f"stopped by {how} during {notebook}: {kept}, and what {notebook} had saved (finished models and "
            f"checkpoints are reused){cleaned}. Run the same command again to go on from there."
        )


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress:
        progress(line)


# ---------------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class CheckedInputs:
    """What the checks found: the resolved profile and the data's size (for the progress estimate)."""

    profile: Profile
    n_lesions: int
    n_classes: int


def plan_work(plan: list[tuple[Path, bool]], state: dict[str, str], checked: CheckedInputs) -> dict[str, float]:
    """The counted work (:func:`liverkit.kit.eta.notebook_work`) of each notebook the plan runs, for the progress line.

    A notebook also rebuilds the earlier steps it reads (:data:`liverkit.story.NEEDS`) that neither succeeded in this
    run folder before nor run earlier in this plan (``--notebooks 05`` into an empty folder builds 01-04 inside 05's
    kernel), so their work counts as its own.
    """
    sizes = (checked.profile, checked.n_lesions, checked.n_classes)
    there = set(state)
    work = {}
    for notebook, skip in plan:
        if not skip:
            rebuilt = [step for step in NEEDS.get(notebook.stem, ()) if step not in there]
            work[notebook.stem] = notebook_work(notebook.stem, *sizes) + rebuild_work(rebuilt, *sizes)
            there.update(rebuilt)
        there.add(notebook.stem)
    return work


def check_inputs_apart(profile: str, data: str, seed: int, device: str, overrides: dict[str, Any]) -> CheckedInputs:
    """:func:`check_inputs` in a short-lived process of its own, unless this one has imported torch already.

    Loading the data and resolving the device import torch, scipy and pandas: about 1 GB with PyTorch's CUDA build,
    which the runner would otherwise hold beside every kernel for the whole run (Binder has 2 GB in all). A process
    that already holds them (a test, a notebook) checks in place, which costs nothing more.
    """
    if "torch" in sys.modules:
        return check_inputs(profile, data, seed, device, overrides)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(check_inputs, profile, data, seed, device, overrides).result()


def check_inputs(profile: str, data: str, seed: int, device: str, overrides: dict[str, Any]) -> CheckedInputs:
    """Refuse a bad profile, seed, device, override or data source before any kernel starts or any file is written.

    The data is loaded once and checked to split into the profile's outer and inner folds (a data set with too
    few patients of a class would otherwise fail in the middle of a long run).
    """
    from liverkit.env import resolve_device

    check_seed(seed)
    _check_data_source(data)
    resolved = resolve_profile(profile, data, overrides)
    resolve_device(device)
    lesions = _load_data(data, seed)
    from liverkit.data import folds

    check_splittable = getattr(folds, "check_splittable", None)
    if check_splittable is not None:
        check_splittable(lesions, resolved.n_folds, resolved.inner_folds)
    return CheckedInputs(resolved, len(lesions), len(lesions.class_names))


def _check_data_source(data: str) -> None:
    """``data`` must name a manifest entry or an existing LesionSet ``.npz`` file."""
    from liverkit.data import manifest

    if is_lesionset_file(data):
        return
    entries = manifest.read_manifest()
    if data not in entries:
        raise LiverkitError(
            f"--data '{data}' is neither a data set of the manifest ({manifest.manifest_path()}; known: "
            f"{sorted(entries)}) nor an existing LesionSet .npz file. Check the spelling, or see "
            "`liverkit data list`."
        )


def _load_data(data: str, seed: int):
    from liverkit.data.lesionset import LesionSet
    from liverkit.data.manifest import load
    from liverkit.io import reading

    if is_lesionset_file(data):
        with reading(data, "the LesionSet file", "pass a file written by LesionSet.save()") as path:
            return LesionSet.load(path)
    return load(data, seed=seed)


def absolute_data(data: str) -> str:
    """A relative LesionSet ``.npz`` path made absolute: the kernels run in ``<out>/notebooks``."""
    return str(Path(data).expanduser().resolve()) if is_lesionset_file(data) else data


def absolute_data_env() -> None:
    """Make relative ``$LIVERKIT_MANIFEST`` and ``$LIVERKIT_DATA`` absolute for the kernels (they inherit them)."""
    for name in ("LIVERKIT_MANIFEST", "LIVERKIT_DATA"):
        value = os.environ.get(name)
        if value and not Path(value).expanduser().is_absolute():
            os.environ[name] = str(Path(value).expanduser().resolve())


def check_out_folder(out: str | os.PathLike) -> Path:
    """The run folder as an absolute path; a path that is a file, or a folder we cannot write to, is refused."""
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise LiverkitError(f"--out '{out}' is a file, not a folder; choose a run folder path (e.g. runs/demo).")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise LiverkitError(f"--out '{out}' cannot be made: '{existing}' is a file. Choose another run folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise LiverkitError(
            f"cannot write into '{existing}' ({type(exc).__name__}: {exc.strerror or exc}); the run folder "
            f"'{out}' must be writable. Choose another --out, or fix the folder's permissions."
        ) from exc
    return out


def check_identity(out: Path, identity: dict[str, Any]) -> None:
    """Refuse a run folder whose ``run.json`` records another configuration, without touching anything."""
    file = out / "run.json"
    if not file.is_file():
        return
    recorded = read_json(file, "the run's identity file", "delete it, or the whole run folder, to start over")
    differ = identity_differences(recorded, identity)
    if differ:
        raise LiverkitError(
            f"run folder '{out}' belongs to another configuration ({'; '.join(differ)}); nothing was changed. "
            "Use a new --out, or delete this run folder to start over."
        )


# ---------------------------------------------------------------------------------------------- the run lock
@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``<out>/.liverkit.lock`` for the run; a second run into the same folder is refused at once.

    The lock is the operating system's (``flock``, or ``msvcrt.locking`` on Windows), so it goes away with the
    process that held it, even when that process is killed.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    path.touch(exist_ok=True)
    with open(path, "r+") as handle:
        if not _try_lock(handle):
            holder = handle.read().strip() or "unknown"
            raise LiverkitError(
                f"run folder '{out}' is in use by another liverkit run (process {holder}); wait for it to finish, "
                "or use another --out."
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield  # closing the file releases the lock


def _try_lock(handle) -> bool:
    """Lock ``handle`` without waiting; False when another process (or open file) holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: lock one byte far past the process id, which stays readable
        import msvcrt

        handle.seek(1 << 20)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            handle.seek(0)
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- skipping
def plan_runs(
    out: Path, selected: Sequence[Path], state: dict[str, str], digests: dict[str, str], force: bool
) -> list[tuple[Path, bool]]:
    """(notebook, skip?) for each selected notebook. A notebook is skipped only when its digest matches and its
    executed copy and ``metrics/<stem>.json`` exist; once one runs, every later one runs too."""
    plan, running = [], force
    for notebook in selected:
        done = state.get(notebook.stem) == digests[notebook.stem]
        kept = (out / "notebooks" / notebook.name).is_file() and (out / "metrics" / f"{notebook.stem}.json").is_file()
        skip = not running and done and kept
        running = running or not skip
        plan.append((notebook, skip))
    return plan


# ---------------------------------------------------------------------------------------------- progress
@contextmanager
def _heartbeat(progress: Callable[[str], None] | None, tracker: Eta, every_s: float) -> Iterator[None]:
    """Print the progress line every ``every_s`` seconds from a background thread while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            _say(progress, f"      ... {tracker.current} running; {tracker.line()}")

    thread = threading.Thread(target=beat, daemon=True)
    if progress and every_s > 0:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


# ---------------------------------------------------------------------------------------------- execution
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
    """Run one notebook into a temporary copy, moved onto ``output`` only when every cell succeeded.

    A failing cell becomes a LiverkitError naming the notebook, the cell, the error and the failed copy
    (``NN_name.failed.ipynb``); the last good ``output`` is left as it was.
    """
    papermill = require_notebook_extra()
    from papermill.exceptions import PapermillExecutionError

    running = output.with_name(f".{output.stem}.running.ipynb")
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    start = time.perf_counter()
    try:
        _papermill(papermill, notebook, running, output, parameters)
    except BaseException as exc:
        _keep_failed(running, failed)
        if not isinstance(exc, PapermillExecutionError):
            raise
        raise LiverkitError(
            f"notebook '{notebook.name}' failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue.rstrip('.')}. The executed copy with the traceback is '{failed}'"
            f"{'; the last good copy is unchanged' if output.is_file() else ''}."
        ) from exc
    os.replace(running, output)
    failed.unlink(missing_ok=True)
    return NotebookResult(notebook=notebook.stem, output=output, seconds=time.perf_counter() - start)


def _papermill(papermill, notebook: Path, running: Path, output: Path, parameters: dict) -> None:
    """Execute ``notebook`` into ``running`` in the folder of ``output``, headless, on the kit's kernel."""
    with _headless_env():
        papermill.execute_notebook(
            str(notebook),
            str(running),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(output.parent),
            progress_bar=False,
            coalesce_streams=True,  # a text progress bar's redraws become one line in the executed copy
            kernel_manager_class=_kernel_manager_class(),
        )


@contextmanager
def _headless_env() -> Iterator[None]:
    """Kernels started inside see ``LIVERKIT_HEADLESS=1``, so their progress bars are plain text (liverkit.progress)
    that an executed copy shows finished, not widget bars stuck at 0% in an untrusted notebook."""
    old = os.environ.get(HEADLESS_ENV)
    os.environ[HEADLESS_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(HEADLESS_ENV, None)
        else:
            os.environ[HEADLESS_ENV] = old


def _keep_failed(running: Path, failed: Path) -> None:
    """Keep what a failed execution wrote as ``NN_name.failed.ipynb`` when it is a whole notebook; a copy cut short
    (no space left, a killed writer) is removed, so no reader ever meets half a notebook."""
    if not running.is_file():
        return
    try:
        json.loads(running.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        running.unlink(missing_ok=True)
        return
    os.replace(running, failed)
