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
from typing import Any

from liverkit.errors import LiverkitError
from liverkit.progress import tqdm


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
