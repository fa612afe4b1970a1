"""Peak memory of a process and everything it starts: what a run costs on Binder's 2 GB.

A ``liverkit run`` is a runner process, one notebook kernel at a time, and the kernels' worker processes. Binder and
Colab count them together, so :class:`TreeMemory` samples the whole process tree in a background thread and keeps
the peak of the summed resident set size (RSS: every process's pages, shared library pages counted once per process,
so an upper bound) and of the summed proportional set size (PSS: shared pages split between their processes, close
to what the container's memory limit counts), overall and per label (the notebook running at the time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 1024 * 1024


@dataclass
class Peak:
    """The largest summed RSS and PSS seen, in MB; at the RSS peak, how many processes were alive and the RSS of
    each kind of process (:func:`process_role`), summed per kind."""

    rss_mb: float = 0.0
    pss_mb: float = 0.0
    processes: int = 0
    roles: dict[str, float] = field(default_factory=dict)

    def update(self, rss_mb: float, pss_mb: float, roles: dict[str, float], processes: int) -> None:
        if rss_mb > self.rss_mb:
            self.rss_mb, self.processes, self.roles = rss_mb, processes, roles
        self.pss_mb = max(self.pss_mb, pss_mb)


def process_role(command: list[str]) -> str:
    """What a process of a run is, from its command line: kernel, worker (a spawned training process), runner, or
    its program's name (a browser, a resource tracker)."""
    line = " ".join(command)
    if "ipykernel" in line:
        return "kernel"
    if "multiprocessing.spawn" in line or "spawn_main" in line:
        return "worker"
    if "resource_tracker" in line:
        return "resource tracker"
    if "liverkit" in line:
        return "runner"
    return Path(command[0]).name if command else "unknown"


def tree_memory(pid: int) -> tuple[float, float, int, dict[str, float]]:
    """(summed RSS MB, summed PSS MB, process count, RSS MB per :func:`process_role`) of process ``pid`` and all
    its descendants, now. A process that ends while it is being read is left out (it holds no memory any more)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0, 0, {}
    rss = pss = 0.0
    roles: dict[str, float] = {}
    counted = 0
    for process in processes:
        try:
            info = process.memory_full_info()
            role = process_role(process.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        rss += info.rss / MB
        pss += getattr(info, "pss", info.rss) / MB  # PSS is Linux-only; elsewhere RSS stands in
        roles[role] = roles.get(role, 0.0) + info.rss / MB
        counted += 1
    return rss, pss, counted, roles


@dataclass
class TreeMemory:
    """Samples :func:`tree_memory` of ``pid`` every ``interval_s`` in a daemon thread until :meth:`stop`.

    Args:
        pid: the root process (a ``liverkit run``, or a kernel).
        label: called at each sample; the peak is also kept per label (e.g. the notebook running), None: overall only.
        interval_s: seconds between samples (a notebook's peak lasts seconds, so 0.2 s catches it).
    """

    pid: int
    label: Callable[[], str] | None = None
    interval_s: float = 0.2
    overall: Peak = field(default_factory=Peak)
    by_label: dict[str, Peak] = field(default_factory=dict)
    samples: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liverkit-memory", daemon=True)

    def start(self) -> TreeMemory:
        self._thread.start()
        return self

    def stop(self) -> TreeMemory:
        self._stop.set()
        self._thread.join()
        return self

    def sample(self) -> None:
        """One sample, taken now (the thread calls this; tests may too)."""
        rss, pss, n, roles = tree_memory(self.pid)
        if n == 0:
            return
        self.samples += 1
        self.overall.update(rss, pss, roles, n)
        if self.label is not None:
            self.by_label.setdefault(self.label(), Peak()).update(rss, pss, roles, n)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval_s)
