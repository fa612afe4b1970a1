"""Executors: where a sweep's jobs run. In this process one by one, in this process fused (many CNNs as one model,
on a GPU), or on a Dask cluster; the records are the same whichever runs them.

``liverkit run --executor dask --scheduler ADDRESS`` makes every notebook's sweeps use :class:`DaskExecutor` (the
runner passes the choice to the kernels in ``$LIVERKIT_EXECUTOR`` and ``$LIVERKIT_SCHEDULER``). Dask was chosen
over Ray because the kit's jobs are plain functions of picklable inputs with no actors or shared state, which is
exactly what ``Client.map`` does; Dask is pure Python (one pip install, no binary server), its local cluster starts
in seconds for the tests, ``dask-cuda`` gives one worker per GPU, and a worker that dies has its tasks rerun by
the scheduler. The run folder's caches stay the only shared state: the client writes each record as it arrives,
so a rerun after a lost client resumes where it stopped.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.experiment.jobs import CNNJob, SweepInputs, run_cnn_job, run_cnn_jobs_fused
from liverkit.experiment.worker_pool import affordable_workers, run_in_processes
from liverkit.train.fused_check import use_fused

EXECUTORS = ("local", "dask")
"""Values of ``liverkit run --executor`` (``$LIVERKIT_EXECUTOR``)."""
MAX_FUSED = 64
"""CNNs trained as one fused model at most. Their training sets all sit on the device: 64 sets of the paper's
largest group (15,000 images of 64 x 64 fp32) take 15.7 GB."""

OnDone = Callable[[CNNJob, dict], None]


def run_chunk(jobs: Sequence[CNNJob], inputs: SweepInputs, device: str, fused: str) -> list[dict]:
    """Train and score a chunk of jobs where this runs: fused when ``fused`` says so for this device, else one by
    one. What a Dask worker runs; ``device`` and ``fused`` are resolved on the worker (its own GPU, or CPU)."""
    if len(jobs) > 1 and use_fused(fused, device):
        return run_cnn_jobs_fused(list(jobs), inputs, resolve_device(device))
    return [run_cnn_job(job, inputs, resolve_device(device)) for job in jobs]


def chunks(jobs: Sequence[CNNJob], size: int) -> list[list[CNNJob]]:
    """Consecutive chunks of at most ``size`` jobs with one config each (jobs of a (repeat, fold) stay together)."""
    out: list[list[CNNJob]] = []
    for job in jobs:
        if out and len(out[-1]) < size and out[-1][0].config == job.config:
            out[-1].append(job)
        else:
            out.append([job])
    return out


@dataclass
class LocalExecutor:
    """Jobs in this process, in order: fused chunks of ``max_models`` when ``fused`` says so, else one by one.

    Args:
        device: where to train (``auto``, ``cpu``, ``cuda``...).
        fused: ``auto`` (fused on CUDA only), ``on`` or ``off``: see ``Profile.fused``.
        max_models: the most CNNs in one fused model.
    """

    device: str | torch.device = "cpu"
    fused: str = "auto"
    max_models: int = MAX_FUSED

    def map(self, jobs: Sequence[CNNJob], inputs: SweepInputs, on_done: OnDone | None = None) -> list[dict]:
        """The records of ``jobs`` in order; ``on_done(job, record)`` is called as each finishes."""
        size = self.max_models if use_fused(self.fused, self.device) else 1
        records = []
        for chunk in chunks(jobs, size):
            for job, record in zip(chunk, run_chunk(chunk, inputs, str(self.device), self.fused), strict=True):
                if on_done is not None:
                    on_done(job, record)
                records.append(record)
        return records


@dataclass
class DaskExecutor:
    """Jobs mapped over the workers of a Dask cluster (the ``dask`` extra: ``make setup`` installs it).

    The inputs go to every worker once; jobs go out in chunks (one job each, or ``max_models`` per fused chunk when
    the workers have GPUs and ``fused`` allows it), and records come back as they finish. A worker lost mid-job
    has its chunk rerun on another (``retries``). Every worker needs liverkit installed, and the run folder when the
    sweep saves models.

    Args:
        scheduler: the scheduler's address (``tcp://host:8786``), or a ``distributed.Client``-compatible cluster.
        device: the workers' device (``auto``: each worker's own GPU, else its CPU).
        fused, max_models: as for :class:`LocalExecutor`, resolved on the workers.
        retries: times a chunk is resubmitted after its worker died.
    """

    scheduler: object
    device: str = "auto"
    fused: str = "auto"
    max_models: int = MAX_FUSED
    retries: int = 2

    def map(self, jobs: Sequence[CNNJob], inputs: SweepInputs, on_done: OnDone | None = None) -> list[dict]:
        """The records of ``jobs`` in order; ``on_done(job, record)`` is called on the client as each arrives."""
        client_class, as_completed = _dask()
        with client_class(self.scheduler) as client:
            gpus = any(client.run(torch.cuda.is_available).values())
            fused_there = self.fused == "on" or (self.fused == "auto" and gpus and self.device != "cpu")
            parts = chunks(jobs, self.max_models if fused_there else 1)
            shared = client.scatter(inputs, broadcast=True)
            futures = [
                client.submit(run_chunk, part, shared, self.device, self.fused, pure=False, retries=self.retries)
                for part in parts
            ]
            index = {future.key: i for i, future in enumerate(futures)}
            done: dict[int, list[dict]] = {}
            for future in as_completed(futures):
                i = index[future.key]
                done[i] = future.result()
                for job, record in zip(parts[i], done[i], strict=True):
                    if on_done is not None:
                        on_done(job, record)
        return [record for i in range(len(parts)) for record in done[i]]


_WORKER_INPUTS: SweepInputs | None = None
"""The sweep's inputs in a :class:`ProcessExecutor` worker, set once when the worker starts."""


def _start_worker(inputs: SweepInputs) -> None:
    """Worker initialiser: one torch thread, and the sweep's inputs kept for every job this worker runs."""
    global _WORKER_INPUTS
    torch.set_num_threads(1)
    _WORKER_INPUTS = inputs


def _run_in_worker(job: CNNJob) -> dict:
    return run_cnn_job(job, _WORKER_INPUTS, torch.device("cpu"))


@dataclass
class ProcessExecutor:
    """Jobs in ``workers`` one-thread processes on this machine's CPU (the sweeps' default on a CPU when
    ``Profile.workers`` > 1): small CNNs keep two cores busier as two one-thread jobs than as one two-thread job.

    The inputs go to each worker once, when it starts (``spawn``: a fresh interpreter); records come back in any
    order, ``on_done`` is called as each arrives, and the list is returned in job order. The records are those of
    :class:`LocalExecutor` up to float rounding (one thread sums in another order than two).
    """

    workers: int = 2

    def map(self, jobs: Sequence[CNNJob], inputs: SweepInputs, on_done: OnDone | None = None) -> list[dict]:
        """The records of ``jobs`` in order; ``on_done(job, record)`` is called as each finishes."""
        if not jobs:
            return []
        work = {i: (job,) for i, job in enumerate(jobs)}
        report = None if on_done is None else (lambda i, record: on_done(jobs[i], record))
        done = run_in_processes(
            _run_in_worker, work, self.workers, progress=False, on_done=report, start=(_start_worker, (inputs,))
        )
        return [done[i] for i in range(len(jobs))]


Executor = LocalExecutor | DaskExecutor | ProcessExecutor
"""Anything with ``map(jobs, inputs, on_done) -> records``."""


def _dask():
    """``(Client, as_completed)`` from dask.distributed, or a LiverkitError saying how to install it."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError as error:
        raise LiverkitError(
            "--executor dask needs Dask's distributed scheduler: make setup installs it, or "
            'pip install "liverkit[dask] @ git+https://github.com/liverkit/liverkit" (or pip install dask distributed).'
        ) from error
    return Client, as_completed


SCHEDULER_TIMEOUT_S = 10.0
"""Seconds :func:`check_scheduler` waits, at most, for the whole check of a Dask scheduler: TCP connect, Dask
handshake and the ``scheduler_info`` call together, whatever the other side does (refuses, accepts and stays
silent, or answers slowly)."""
SCHEDULER_SCHEMES = ("tcp", "tls")
"""Dask comm protocols ``--scheduler`` accepts; an address without one means ``tcp://``."""
_SCHEDULER_EXAMPLE = "tcp://10.0.0.5:8786"
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")


def parse_scheduler(address: str) -> str:
    """``address`` as ``scheme://host:port`` when it is a Dask scheduler address: ``tcp://host:port``,
    ``tls://host:port`` or ``host:port`` (meaning tcp), the host a name, an IPv4 address or a bracketed IPv6 one,
    the port 1-65535. A LiverkitError naming the address and giving an example otherwise (``not-an-address``, an
    ``http://`` URL, a missing port), so a typo is refused before anything tries to connect.

    Args:
        address: the scheduler's address, as given to ``--scheduler``.
    """

    def refuse(why: str) -> LiverkitError:
        return LiverkitError(
            f"--scheduler {address!r} is not a Dask scheduler address ({why}); give tcp://HOST:PORT, tls://HOST:PORT "
            f"or HOST:PORT with a port from 1 to 65535, e.g. {_SCHEDULER_EXAMPLE} (the address dask scheduler prints)."
        )

    if not isinstance(address, str) or not address.strip():
        raise refuse("it is empty" if isinstance(address, str) else f"a {type(address).__name__}, not a string")
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme.lower() not in SCHEDULER_SCHEMES:
        raise refuse(f"the protocol '{scheme}://' is not one of {[f'{s}://' for s in SCHEDULER_SCHEMES]}")
    if any(c in rest for c in "/?#@ "):
        raise refuse("only HOST:PORT may follow the protocol, no path, user or spaces")
    host, colon, port = rest.rpartition(":")
    if not colon:
        raise refuse("the port is missing")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise refuse(f"the port '{port}' is not a number from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise refuse(f"'{host}' is not an IPv6 address") from None
    elif not _HOST_NAME.fullmatch(host):
        raise refuse("the host is missing" if not host else f"'{host}' is not a host name or IP address")
    return f"{scheme.lower()}://{host}:{int(port)}"


def check_scheduler(address: str, timeout_s: float = SCHEDULER_TIMEOUT_S) -> int:
    """The number of workers of the Dask scheduler at ``address``, checked before any kernel starts.

    The address is parsed first (:func:`parse_scheduler`). The check then connects, does Dask's handshake and asks
    for the scheduler's workers in a daemon thread, and waits for it at most ``timeout_s`` seconds
    (:data:`SCHEDULER_TIMEOUT_S`, 10 s, by default) whatever the other side does: a server that accepts the
    connection and never answers is refused at the deadline (the thread is left to Dask's own timeouts; being a
    daemon it never keeps the process alive). Importing Dask is not counted.

    Raises:
        LiverkitError: the address is malformed, nothing answers there, it does not answer within ``timeout_s``,
            or the scheduler has no workers.
    """
    url = parse_scheduler(address)
    client_class, _ = _dask()
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            with client_class(url, timeout=0.8 * timeout_s) as client:  # Dask gives up first when it can
                result["workers"] = len(client.scheduler_info()["workers"])
        except BaseException as error:  # noqa: BLE001 - reported to the caller, whatever Dask raised
            result["error"] = error

    thread = threading.Thread(target=probe, name=f"check_scheduler {url}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise LiverkitError(
            f"the Dask scheduler at '{url}' did not answer within {timeout_s:g} s (it accepted no Dask handshake "
            "or no request in time); check that the address is a Dask scheduler's (dask scheduler prints it) and "
            "that it is not overloaded."
        )
    error = result.get("error")
    if isinstance(error, OSError | TimeoutError):
        raise LiverkitError(
            f"no Dask scheduler answered at '{url}' within {timeout_s:g} s ({error}); start one "
            "(dask scheduler, then dask worker ADDRESS on each machine) or check the address."
        ) from error
    if error is not None:
        raise LiverkitError(
            f"could not talk to the Dask scheduler at '{url}' ({type(error).__name__}: {error}); check the address "
            f"and, for tls://, the TLS settings in Dask's configuration."
        ) from error
    workers = int(result["workers"])
    if workers == 0:
        raise LiverkitError(f"the Dask scheduler at '{url}' has no workers; start some with dask worker {url}.")
    return workers


def default_executor(device: str | torch.device = "cpu", fused: str = "auto", workers: int = 1) -> Executor:
    """The executor a sweep uses when none is given: ``$LIVERKIT_EXECUTOR`` (set by ``liverkit run --executor``),
    else this machine: ``workers`` one-thread processes on a CPU when there are more than one (and nothing is
    fused), else this process."""
    kind = os.environ.get("LIVERKIT_EXECUTOR", "local")
    if kind not in EXECUTORS:
        raise LiverkitError(f"$LIVERKIT_EXECUTOR is '{kind}'; use one of {list(EXECUTORS)}.")
    if kind == "local":
        on_cpu = resolve_device(device).type == "cpu" and not use_fused(fused, device)
        workers = affordable_workers(workers) if on_cpu else 1  # fewer processes where memory is short
        return ProcessExecutor(workers) if workers > 1 else LocalExecutor(device, fused)
    scheduler = os.environ.get("LIVERKIT_SCHEDULER", "")
    if not scheduler:
        raise LiverkitError("$LIVERKIT_EXECUTOR is 'dask' but $LIVERKIT_SCHEDULER is empty; give --scheduler ADDRESS.")
    return DaskExecutor(scheduler, device=str(device) if str(device) == "cpu" else "auto", fused=fused)
