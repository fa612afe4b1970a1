"""Executors: the sweeps' jobs run in process, fused, or on a local Dask cluster of 2 workers, with equal results.

Dask's workers run each job on one thread (Dask sets OMP_NUM_THREADS=1 in its worker processes), so the in-process
reference runs on one thread too, and the records are compared exactly.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from liverkit import LiverkitError, gan_experiment, regress, synthesis
from liverkit.augment import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.executors import DaskExecutor, LocalExecutor, ProcessExecutor, chunks, default_executor
from liverkit.experiment import classic_jobs, run_classic_sweep
from liverkit.jobs import SweepInputs, run_cnn_job
from liverkit.runs import RunFolder
from liverkit.train.classifier import ClassifierConfig
from liverkit.train.gan_config import GANConfig

BASELINE = Path(__file__).parent / "baselines" / "smoke.json"
distributed = pytest.importorskip("distributed", reason="the dask extra is installed by make setup")

AUG = AugmentConfig(n_rot=1)
CLF = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=2, batch_size=16)
GAN = dict(g_width=16, d_width=4, batch_size=8, epochs=1, max_steps=1, sample_grid=2, collapse_samples=8)


@pytest.fixture(scope="module")
def data():
    lesions = make_phantom(seed=1, n_cyst=10, n_metastasis=10, n_hemangioma=10)
    return lesions, patient_folds(lesions, k=3, seed=1)


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster: 2 worker processes of 1 thread each, as `make test` can afford on 2 cores."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _frames(sweep):
    """The sweep's tables without its wall times."""
    return [sweep.predictions, sweep.inner, sweep.history, sweep.timing.drop(columns=["seconds", "images_per_second"])]


def test_classic_sweep_on_two_dask_workers_equals_in_process(data, cluster):
    lesions, fold_of = data
    common = dict(seed=2, repeats=2, inner_folds=2, progress=False)
    here = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, executor=LocalExecutor("cpu", "off"), **common)
    there = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, executor=DaskExecutor(cluster, "cpu"), **common)
    for a, b in zip(_frames(here), _frames(there), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert len(here.predictions) == 2 * 2 * len(lesions)


def test_a_worker_killed_mid_sweep_loses_nothing(data, cluster):
    """SIGKILL one worker when the first record arrives: the scheduler reruns its job elsewhere, results equal."""
    lesions, fold_of = data
    inputs = SweepInputs(lesions, fold_of, AUG, seed=3, inner_folds=None)
    jobs = classic_jobs(inputs, CLF, (0, 20, 40), repeats=2)
    expected = [run_cnn_job(job, inputs) for job in jobs]
    killed = []

    def kill_one(job, record):
        if not killed:
            with distributed.Client(cluster) as client:
                pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    records = DaskExecutor(cluster, "cpu").map(jobs, inputs, on_done=kill_one)
    assert killed
    for got, want in zip(records, expected, strict=True):
        assert {k: v for k, v in got.items() if k not in ("seconds", "images_per_second")} == {
            k: v for k, v in want.items() if k not in ("seconds", "images_per_second")
        }


def test_gan_sweep_on_dask_equals_in_process_and_caches_in_the_run_folder(data, cluster, tmp_path):
    lesions, fold_of = data
    choice = pd.DataFrame({"repeat": [0, 0, 0], "fold": [0, 1, 2], "group": [20, 20, 20]})
    gan_run = RunFolder(tmp_path / "gans")
    synthesis.train_fold_gans(
        "acgan", lesions, fold_of, choice, AUG, GANConfig.paper_acgan(**GAN), gan_run, seed=0, progress=False
    )
    gans = gan_experiment.load_all_gans(gan_run, fold_of, kinds=("acgan",))
    settings = gan_experiment.SweepSettings((2, 4), AUG, CLF, 5, 2, lesions.fingerprint())

    def sweep(executor, run):
        return gan_experiment.run_gan_sweep(
            lesions, fold_of, choice, gans, settings, run=run, progress=False, executor=executor
        )

    here = sweep(LocalExecutor("cpu", "off"), RunFolder(tmp_path / "here"))
    there_run = RunFolder(tmp_path / "there")
    there = sweep(DaskExecutor(cluster, "cpu"), there_run)
    pd.testing.assert_frame_equal(here.predictions, there.predictions)
    pd.testing.assert_frame_equal(here.inner, there.inner)
    assert all(there_run.artifact(f"gan_sweep_r0_f{f}.json").is_file() for f in range(3))
    assert there_run.artifact("cnn_acgan_fold1.pt").is_file()  # the chosen model, written by a worker


def test_fused_chunks_in_process_give_the_same_tables(data):
    """Fused on CPU (forced): same rows, and predictions that agree with one-by-one up to rounding flips."""
    lesions, fold_of = data
    common = dict(seed=2, inner_folds=2, progress=False)
    one = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, executor=LocalExecutor("cpu", "off"), **common)
    fused = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, executor=LocalExecutor("cpu", "on"), **common)
    key = ["repeat", "fold", "group", "index"]
    pd.testing.assert_frame_equal(one.predictions[key], fused.predictions[key])
    assert (one.predictions.y_pred == fused.predictions.y_pred).mean() >= 0.95
    pd.testing.assert_series_equal(one.timing.training_images, fused.timing.training_images)


def test_chunks_keep_order_and_split_by_config(data):
    lesions, fold_of = data
    inputs = SweepInputs(lesions, fold_of, AUG, seed=0, inner_folds=2)
    jobs = classic_jobs(inputs, CLF, (0, 20), repeats=1)  # 3 folds x 2 groups x (outer + 2 inner) = 18
    parts = chunks(jobs, 4)
    assert [len(p) for p in parts] == [4, 4, 4, 4, 2] and [j for p in parts for j in p] == jobs
    other = [jobs[0].__class__(**{**jobs[0].__dict__, "config": ClassifierConfig(epochs=1)}), *jobs[1:3]]
    assert [len(p) for p in chunks(other, 8)] == [1, 2]


def test_default_executor_reads_the_environment(monkeypatch):
    monkeypatch.delenv("LIVERKIT_EXECUTOR", raising=False)
    assert isinstance(default_executor("cpu"), LocalExecutor)
    monkeypatch.setenv("LIVERKIT_EXECUTOR", "dask")
    monkeypatch.setenv("LIVERKIT_SCHEDULER", "tcp://10.1.2.3:8786")
    executor = default_executor("cpu", "off")
    assert isinstance(executor, DaskExecutor) and executor.scheduler == "tcp://10.1.2.3:8786"
    monkeypatch.setenv("LIVERKIT_SCHEDULER", "")
    with pytest.raises(LiverkitError, match="LIVERKIT_SCHEDULER is empty"):
        default_executor("cpu")
    monkeypatch.setenv("LIVERKIT_EXECUTOR", "ray")
    with pytest.raises(LiverkitError, match="'ray'; use one of"):
        default_executor("cpu")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "dask"], "needs --scheduler ADDRESS"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler is for --executor dask"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "no Dask scheduler answered at"),
    ],
)
def test_cli_refuses_a_bad_executor_before_any_kernel(tmp_path, args, message):
    command = [sys.executable, "-m", "liverkit.cli", "run", "--profile", "smoke", "--out", str(tmp_path / "r"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "r" / "notebooks").exists()


def test_records_do_not_depend_on_job_order(data):
    lesions, fold_of = data
    inputs = SweepInputs(lesions, fold_of, AUG, seed=4, inner_folds=2)
    jobs = classic_jobs(inputs, CLF, (0, 20), repeats=1)[:6]
    forward = LocalExecutor("cpu", "off").map(jobs, inputs)
    backward = LocalExecutor("cpu", "off").map(jobs[::-1], SweepInputs(lesions, fold_of, AUG, 4, 2))[::-1]
    for a, b in zip(forward, backward, strict=True):
        assert a["y_pred" if "y_pred" in a else "val_correct"] == b["y_pred" if "y_pred" in b else "val_correct"]
        np.testing.assert_array_equal([h["loss"] for h in a["history"]], [h["loss"] for h in b["history"]])


def test_notebook_02_on_a_dask_cluster_records_the_smoke_numbers(notebook_runs):
    """`liverkit run --notebooks 02 --executor dask --scheduler ADDRESS` (conftest's run, 2 local workers) records
    the numbers the in-process smoke run records, within the baseline's families."""
    if "dask-02" not in notebook_runs:
        pytest.skip("dask is not installed")
    baseline = regress.read_baseline(BASELINE)
    on_dask = {k: v for k, v in regress.collect(notebook_runs["dask-02"][1].path).items() if k.startswith("02_")}
    here = {k: v for k, v in regress.collect(notebook_runs["phantom"][1].path).items() if k.startswith("02_")}
    assert len(on_dask) > 20 and on_dask.keys() == here.keys()
    assert regress.compare(on_dask, here, baseline["families"]) == []
    sweep_files = sorted(p.name for p in notebook_runs["dask-02"][1].path.glob("artifacts/classic_sweep_r*_f*.json"))
    assert sweep_files == [f"classic_sweep_r{r}_f{f}.json" for r in range(2) for f in range(3)]


def test_two_worker_processes_give_the_records_of_this_process(data):
    """ProcessExecutor (the CPU default when Profile.workers > 1): each worker runs its jobs on one thread, as this
    process does here, so the records are equal exactly; and records come back in job order."""
    lesions, fold_of = data
    common = dict(seed=5, repeats=2, inner_folds=2, progress=False)
    here = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, executor=LocalExecutor("cpu", "off"), **common)
    there = run_classic_sweep(lesions, fold_of, (0, 20), AUG, CLF, workers=2, **common)
    for a, b in zip(_frames(here), _frames(there), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert isinstance(default_executor("cpu", "off", workers=2), ProcessExecutor)
    assert isinstance(default_executor("cpu", "off", workers=1), LocalExecutor)
    assert isinstance(default_executor("cpu", "on", workers=2), LocalExecutor)  # fused: one process
