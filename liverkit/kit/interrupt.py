"""Stopping ``liverkit run`` on Ctrl-C or SIGTERM within seconds, with nothing half-made left behind.

While a notebook runs, the runner waits inside papermill for the kernel's reply, in a call that does not wake when
the kernel dies; a Ctrl-C there used to wait for the cell (up to a minute) and end in a long traceback, and SIGTERM
stopped the runner silently and left the kernel's temporary files. :func:`stop_on_signals` instead, the moment
SIGINT or SIGTERM arrives, kills the kernel and its worker processes, removes what they left (the runner's
``.<notebook>.running.ipynb``, the kernel's sockets and connection file, :func:`liverkit.io.atomic_path`'s temporary
files), prints one line saying what was kept and how to go on, and ends the process with the shell's status for
that signal. Nothing is lost: every artefact and the runner's state are written atomically, and the run lock is the
operating system's, released with the process.

Only the command line asks for this (``run_notebooks(stop_on_signal=True)``): a Python caller (a test, a notebook
cell) keeps Python's own KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""The shell's convention: 128 + the signal's number."""


@contextmanager
def stop_on_signals(out: Path, say_stopped: Callable[[str, list[Path]], str]) -> Iterator[None]:
    """While the block runs, SIGINT or SIGTERM stop the process at once (see the module docstring).

    Args:
        out: the run folder, cleared of temporary files on the way out.
        say_stopped: the line to print, given the signal's name (``"SIGINT"``) and the files removed.
    """

    def handler(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        removed = kill_children() + remove_temporary_files(out)
        print(f"liverkit: {say_stopped(name, removed)}", file=sys.stderr, flush=True)
        os._exit(EXIT_CODES[name])

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def kill_children() -> list[Path]:
    """Kill every process this one started (the kernel and the processes it started); return the kernels'
    connection files, which they no longer need (``ipykernel_launcher -f FILE``), removed."""
    import psutil

    removed = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
            child.kill()
        except psutil.NoSuchProcess:
            continue
        if "-f" in command[:-1] and "ipykernel" in " ".join(command):
            connection = Path(command[command.index("-f") + 1])
            if connection.suffix == ".json" and connection.is_file():
                connection.unlink()
                removed.append(connection)
    return removed


def remove_temporary_files(folder: Path) -> list[Path]:
    """Remove what killed writers left under ``folder``: :func:`liverkit.io.atomic_path`'s ``.<name>.*.tmp*`` files,
    the runner's ``.<notebook>.running.ipynb`` and a kernel's ``kernel-ipc-N`` sockets. Returns the files removed."""
    left = [
        p
        for p in folder.rglob("*")
        if (p.name.startswith(".") and (".tmp" in p.name or p.name.endswith(".running.ipynb")))
        or (p.name.startswith("kernel-ipc-") and p.is_socket())
    ]
    for path in left:
        path.unlink(missing_ok=True)
    return left
