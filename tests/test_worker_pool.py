"""Worker processes only where the memory holds them (liverkit.experiment.worker_pool.affordable_workers,
free_memory_mb).

On Binder (2 GB for the whole session) two worker processes beside the notebook's kernel went past the limit
(measured: 2,314 MB summed RSS for the quick notebook 03 with two workers, 1,360 MB training in the kernel). The
sweeps and the GAN training ask :func:`affordable_workers` before starting workers.
"""

import pytest

from liverkit.experiment import executors, synthesis, worker_pool
from liverkit.experiment.executors import LocalExecutor, ProcessExecutor

GB = 1024


@pytest.mark.parametrize(
    ("requested", "free_mb", "expected"),
    [
        (1, 100, 1),  # one process asked: nothing to decide
        (2, 4 * GB, 2),  # a laptop: both workers
        (2, 300 + 2 * 550, 2),  # exactly room for two after the headroom
        (2, 300 + 2 * 550 - 1, 1),  # one MB short: the notebook's own process trains (one worker gains nothing)
        (3, 300 + 2 * 550, 2),  # room for two of three
        (2, 1.2 * GB, 1),  # Binder with a kernel and JupyterLab running: about 1.2 GB left of 2
    ],
)
def test_workers_are_cut_to_what_the_free_memory_holds(requested, free_mb, expected, capsys):
    assert worker_pool.affordable_workers(requested, free_mb=free_mb) == expected
    said = capsys.readouterr().out
    if expected == requested:
        assert said == ""
    else:
        assert f"{requested} worker processes would hold about {requested * worker_pool.WORKER_MB} MB" in said
        assert ("training in this process" if expected == 1 else f"using {expected} instead") in said
        assert "the same results up to float rounding" in said


def test_free_memory_is_the_container_limit_where_that_is_closer(tmp_path, monkeypatch):
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text(f"{2 * 1024**3}\n")  # Binder: 2 GB
    usage.write_text(f"{1536 * 1024**2}\n")  # 1.5 GB in use
    monkeypatch.setattr(worker_pool, "CGROUP_FILES", ((str(limit), str(usage)),))
    assert worker_pool.free_memory_mb() == pytest.approx(512)
    limit.write_text("max\n")  # no container limit: the machine's available memory
    machine = worker_pool.psutil.virtual_memory().available / worker_pool.MB
    assert worker_pool.free_memory_mb() == pytest.approx(machine, rel=0.2)
    monkeypatch.setattr(worker_pool, "CGROUP_FILES", ((str(tmp_path / "absent"), str(usage)),))
    assert worker_pool.free_memory_mb() == pytest.approx(machine, rel=0.2)


def test_the_sweeps_and_the_gans_ask_before_starting_workers(monkeypatch):
    monkeypatch.setattr(executors, "affordable_workers", lambda workers: 1)  # as on Binder
    assert isinstance(executors.default_executor("cpu", "off", workers=2), LocalExecutor)
    monkeypatch.setattr(executors, "affordable_workers", lambda workers: workers)
    assert isinstance(executors.default_executor("cpu", "off", workers=2), ProcessExecutor)
    asked = []
    monkeypatch.setattr(synthesis, "affordable_workers", lambda workers: asked.append(workers) or 1)
    monkeypatch.setattr(synthesis, "train_fold_gans", lambda *args, **kwargs: {"in": "process"})
    monkeypatch.setattr(synthesis, "run_in_processes", lambda *args, **kwargs: pytest.fail("no workers"))
    by_repeat = synthesis.train_gans("dcgan", None, None, None, None, None, None, 0, repeats=2, device="cpu", workers=2)
    assert asked == [2] and by_repeat == {0: {"in": "process"}, 1: {"in": "process"}}
