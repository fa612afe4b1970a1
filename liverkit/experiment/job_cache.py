"""The run folder's record of finished jobs: what lets an interrupted sweep resume and a rerun skip its models.

One JSON file per sweep and (repeat, fold) (``classic_sweep_r0_f1.json``, ``gan_sweep_r0_f1.json``) holds a header,
the settings that decide the models, and one record per finished job, rewritten atomically after each job. A file
whose header differs from the current settings is refused with the differences named, so a cache never mixes models
of two settings. It is the only state a cluster's workers and the notebook share: the client writes each record as
it arrives, so a lost worker costs only its running job and a lost notebook resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from liverkit.errors import LiverkitError
from liverkit.io import reading, write_json
from liverkit.story import remake_advice

if TYPE_CHECKING:
    from liverkit.experiment.executors import Executor
    from liverkit.experiment.jobs import CNNJob, SweepInputs


PROTOCOL = 2
"""Version of the protocol the cached records were made under (2: every repeat draws its own outer folds, and a
record holds the steps and epochs its training loop counted). A cache of another version is refused like one of
other settings, so records of two protocols never mix."""


class JobCache:
    """Finished jobs' records by key, kept in ``path`` (nothing is kept when ``path`` is None).

    Args:
        path: the JSON file; read when it exists.
        header: the settings the records were made with; a file with another header is refused.
        what: how error messages name the file (e.g. "the GAN sweep's cache").
    """

    def __init__(self, path: Path | None, header: dict, what: str):
        self.path, self.header, self.jobs = path, {**header, "protocol": PROTOCOL}, {}
        if path is not None and path.is_file():
            with reading(path, what, remake_advice(path, "delete it to retrain that fold's models")):
                saved = json.loads(path.read_text())
                header_saved, self.jobs = saved["header"], dict(saved["jobs"])
            check_same_settings(header_saved, self.header, path)

    def get(self, key: str) -> dict | None:
        """The record of job ``key``, or None when it has not finished."""
        return self.jobs.get(key)

    def put(self, key: str, record: dict) -> None:
        """Keep a finished job's record (and write the file atomically)."""
        self.jobs[key] = record
        if self.path is not None:
            write_json(self.path, {"header": self.header, "jobs": self.jobs})


def check_same_settings(saved: dict, current: dict, path: Path) -> None:
    """Refuse a cache made with other settings, naming each setting that differs (one level into dicts)."""
    differ = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            inner = sorted(set(old) | set(new))
            differ += [f"{key}.{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in inner if old.get(k) != new.get(k)]
        elif old != new:
            differ.append(f"{key}: {old!r} -> {new!r}")
    if differ:
        raise LiverkitError(
            f"'{path}' holds models made with other settings ({'; '.join(differ)}). Use a new run folder, or "
            + remake_advice(path, f"delete the {path.name.split('_r')[0]}_*.json files in this one to retrain")
            + "."
        )


def run_missing(
    jobs: Sequence[CNNJob],
    inputs: SweepInputs,
    executor: Executor,
    cache_of: Callable[[CNNJob], tuple[JobCache, str]],
    on_record: Callable[[], None],
    dropped: tuple[str, ...] = (),
) -> None:
    """Run the jobs whose record no cache holds yet (or whose model file is missing) and cache each on arrival.

    Args:
        cache_of: a job's cache and its key in it.
        on_record: called once per job, cached or run (a progress bar's update).
        dropped: record fields not to keep in the cache.
    """

    def missing(job: CNNJob) -> bool:
        cache, key = cache_of(job)
        return cache.get(key) is None or (job.save_to is not None and not Path(job.save_to).is_file())

    todo = [job for job in jobs if missing(job)]
    for _ in range(len(jobs) - len(todo)):
        on_record()

    def keep(job: CNNJob, record: dict) -> None:
        cache, key = cache_of(job)
        cache.put(key, {k: v for k, v in record.items() if k not in dropped})
        on_record()

    executor.map(todo, inputs, on_done=keep)
