"""Independent pieces of work side by side in one-thread worker processes (the GANs of notebooks 03 and 04 on a CPU).

Small models use two CPU threads badly: most of a step is short kernels and Python between them. Two processes of
one thread each, each training its own model, keep both cores busy instead. Workers are started with ``spawn``
(a fresh interpreter: no forked OpenMP or torch state) and set torch to one thread before any work; each piece of
work is a module-level function of picklable arguments, and its result comes back pickled. An error in a worker
is raised here, as it would be in-process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import psutil

from liverkit.errors import LiverkitError
from liverkit.experiment.memory import MB
from liverkit.progress import tqdm

WORKER_MB = 550
"""Memory one worker process holds at its peak: a fresh interpreter with torch and the kit's training modules, its
inputs and one small model. Measured (quick profile, notebook 03, torch 2.13 CPU build): two workers raised the run's
peak summed RSS from 1,360 MB (training in the kernel) to 2,314 MB, 477 MB each, which leaves out the training
memory that moved from the kernel into them; rounded up."""
HEADROOM_MB = 300
"""Memory left free for the notebook's own process when planning workers (its figures and tables grow too)."""
CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
)
"""Where a container's memory limit and use are (Binder, Colab, Docker): the machine's own figures ignore them."""


def free_memory_mb() -> float:
    """Memory that new processes could still take, in MB: the machine's available memory, or the container's room
    (its limit minus its use) where a container limit is the closer one."""
    free = psutil.virtual_memory().available / MB
    for limit_file, usage_file in CGROUP_FILES:
        try:
            limit, usage = (Path(f).read_text().strip() for f in (limit_file, usage_file))
        except OSError:
            continue
        if limit.isdigit() and usage.isdigit():
            return min(free, (int(limit) - int(usage)) / MB)
    return free


def affordable_workers(requested: int, free_mb: float | None = None) -> int:
    """``requested`` worker processes, or as many as the free memory holds (:data:`WORKER_MB` each, after
    :data:`HEADROOM_MB`); below two,
    1: the caller then trains in its own process. Says so when it cuts, because it costs time, not results (every
    model has its own seed: the same models up to float rounding).

    Args:
        requested: ``Profile.workers``.
        free_mb: the free memory to plan with (default: :func:`free_memory_mb` now).
    """
    if requested <= 1:
        return requested
    free = free_memory_mb() if free_mb is None else free_mb
    fits = int((free - HEADROOM_MB) // WORKER_MB)
    if fits >= requested:
        return requested
    chosen = fits if fits >= 2 else 1
    instead = "training in this process" if chosen == 1 else f"using {chosen}"
    print(
        f"{requested} worker processes would hold about {requested * WORKER_MB} MB, and {free:.0f} MB are free here: "
        f"{instead} instead (the same results up to float rounding, more slowly).",
        flush=True,
    )
    return chosen


def _one_thread() -> None:
    """Worker initialiser: torch (and its OpenMP pool) at one thread."""
    import torch

    torch.set_num_threads(1)


def run_in_processes(
    function: Callable[..., Any],
    work: dict[Hashable, tuple],
    workers: int,
    desc: str = "work",
    progress: bool = True,
    on_done: Callable[[Hashable, Any], None] | None = None,
    start: tuple[Callable[..., None], tuple] = (_one_thread, ()),
) -> dict[Hashable, Any]:
    """``{key: function(*args)}`` for every ``key: args`` of ``work``, run in ``workers`` one-thread processes.

    Args:
        function: a module-level function (workers import it by name).
        work: the arguments of every call, by a key of the caller's choosing.
        workers: processes to start (at most one per call).
        desc: the progress bar's label.
        progress: show a bar over finished calls.
        on_done: called here as ``on_done(key, result)`` as each call finishes (in any order).
        start: (initialiser, its arguments) run once in each worker; it must set torch to one thread (the
            default does only that; the sweeps' also hand each worker their inputs once).
    """
    if workers < 1:
        raise LiverkitError(f"workers must be at least 1, got {workers!r}.")
    results: dict[Hashable, Any] = {}
    context = multiprocessing.get_context("spawn")
    size = min(workers, max(len(work), 1))
    with ProcessPoolExecutor(size, mp_context=context, initializer=start[0], initargs=start[1]) as pool:
        futures = {pool.submit(function, *args): key for key, args in work.items()}
        bar = tqdm(total=len(futures), desc=f"{desc} in {workers} processes", disable=not progress)
        for future in as_completed(futures):
            key = futures[future]
            results[key] = future.result()
            if on_done is not None:
                on_done(key, results[key])
            bar.update()
        bar.close()
    return {key: results[key] for key in work}
