"""Executors: the sweeps' jobs run in process, fused, or on a local Dask cluster of 2 workers, with equal results.

Dask's workers run each job on one thread (Dask sets OMP_NUM_THREADS=1 in its worker processes), so the in-process
reference runs on one thread too, and the records are compared exactly.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from liverkit import LiverkitError
from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.experiment import gan_sweep, synthesis
from liverkit.experiment.classic_sweep import classic_jobs, run_classic_sweep
from liverkit.experiment.executors import (
    SCHEDULER_TIMEOUT_S,
    DaskExecutor,
    LocalExecutor,
    ProcessExecutor,
    check_scheduler,
    chunks,
    default_executor,
    parse_scheduler,
)
from liverkit.experiment.jobs import SweepInputs, run_cnn_job
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import regress
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
    gans = gan_sweep.load_all_gans(gan_run, fold_of, kinds=("acgan",))
    settings = gan_sweep.SweepSettings((2, 4), AUG, CLF, 5, 2, lesions.fingerprint())

    def sweep(executor, run):
        return gan_sweep.run_gan_sweep(
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
        (["--executor", "dask", "--scheduler", "not-an-address"], "'not-an-address' is not a Dask scheduler address"),
    ],
)
def test_cli_refuses_a_bad_executor_before_any_kernel(tmp_path, args, message):
    command = [
        sys.executable,
        "-m",
        "liverkit.kit.cli",
        "run",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path / "r"),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "r" / "notebooks").exists()


@pytest.fixture
def silent_server():
    """A TCP server on localhost that accepts every connection and never sends a byte; yields its host:port."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # the server was closed
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


def test_a_server_that_never_answers_is_refused_at_the_bound(silent_server):
    """TCP connect succeeds but no Dask handshake ever comes: refused at timeout_s, not after Dask's own timeouts."""
    assert SCHEDULER_TIMEOUT_S == 10.0
    start = time.perf_counter()
    with pytest.raises(
        LiverkitError, match=rf"the Dask scheduler at 'tcp://{silent_server}' did not answer within 2 s"
    ):
        check_scheduler(silent_server, timeout_s=2)
    elapsed = time.perf_counter() - start
    assert elapsed < 2 + 2, f"refused after {elapsed:.1f} s"


def test_nothing_listening_is_refused_within_the_bound():
    start = time.perf_counter()
    with pytest.raises(LiverkitError, match=r"no Dask scheduler answered at 'tcp://127.0.0.1:9' within 2 s"):
        check_scheduler("tcp://127.0.0.1:9", timeout_s=2)
    assert time.perf_counter() - start < 2 + 2


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("not-an-address", "the port is missing"),
        ("", "it is empty"),
        ("tcp://10.0.0.5", "the port is missing"),
        ("http://10.0.0.5:8786", r"the protocol 'http://' is not one of \['tcp://', 'tls://'\]"),
        ("ucx://10.0.0.5:8786", r"the protocol 'ucx://'"),
        ("tcp://10.0.0.5:0", "the port '0' is not a number from 1 to 65535"),
        ("tcp://10.0.0.5:65536", "the port '65536'"),
        ("10.0.0.5:port", "the port 'port'"),
        ("tcp://10.0.0.5:-1", "the port '-1'"),
        ("tcp://:8786", "the host is missing"),
        ("tcp://10.0.0.5:8786/status", "no path, user or spaces"),
        ("tcp://user@10.0.0.5:8786", "no path, user or spaces"),
        ("tcp://bad_host!:8786", "'bad_host!' is not a host name or IP address"),
        ("tcp://[::zz]:8786", r"'\[::zz\]' is not an IPv6 address"),
        ("::1:8786", "'::1' is not a host name"),
    ],
)
def test_malformed_scheduler_addresses_are_refused_before_connecting(address, why):
    start = time.perf_counter()
    with pytest.raises(LiverkitError) as refused:
        check_scheduler(address)
    message = str(refused.value)
    assert message.startswith(f"--scheduler {address!r} is not a Dask scheduler address (")
    assert re.search(why, message) and "e.g. tcp://10.0.0.5:8786" in message
    assert time.perf_counter() - start < 0.5  # parsed, never connected


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        (" localhost:1 ", "tcp://localhost:1"),
        ("TLS://scheduler.example.org:65535", "tls://scheduler.example.org:65535"),
        ("[::1]:8786", "tcp://[::1]:8786"),
        ("tcp://node-01:08786", "tcp://node-01:8786"),
    ],
)
def test_well_formed_scheduler_addresses_parse(address, url):
    assert parse_scheduler(address) == url


def test_check_scheduler_counts_the_workers_of_a_live_cluster(cluster):
    assert check_scheduler(cluster.scheduler_address, timeout_s=5) == 2
    assert check_scheduler(cluster.scheduler_address.removeprefix("tcp://"), timeout_s=5) == 2


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
