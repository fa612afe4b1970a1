"""Where the demo's time goes: each notebook of a quick run under a sampling profiler, split into phases.

    make profile-demo            # or: .venv/bin/python benchmarks/profile_demo.py --out runs/profile

Each notebook runs on its own (``liverkit run --notebooks NN`` into one run folder, in order) under py-spy, which
samples every thread of the runner, the notebook's kernel and its worker processes, idle or not, ``--rate`` times a
second. A sample of the kernel's main thread is a slice of the notebook's wall time; it is put in the first phase
of :data:`PHASES` whose pattern one of its frames matches (the order matters: a PNG rendered inside a figure call is
PNG rendering, not figures). Worker processes' samples are their own CPU phases (training, diagnostics, idle). The
table printed (and written as ``profile.md`` in the run folder) is what ``docs/performance.md`` records.
py-spy's own cost: it reads other processes' memory from outside, without stopping them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07", "08")


def _files(*names: str) -> str:
    """A pattern for frames in these kit modules, in any folder (stacks recorded before and after the stage move)."""
    return r"liverkit/(?:\w+/)?(?:" + "|".join(names) + r")\.py"


PHASES: tuple[tuple[str, str], ...] = (
    ("PNG copies", r"\b(png|_run) \(" + _files("display") + "|kaleido"),
    ("GAN diagnostics", r"\b(_snapshot|check_finite|_weights_finite|clone_state|mean_pairwise_distance)\b"),
    ("training", r"liverkit/train/|\b(backward|_run_epoch)\b"),
    ("waiting for workers", _files("processes", "worker_pool", "executors")),
    (
        "checkpoints and files",
        _files("checkpoints", "io", "runs", "run_folder", "job_cache") + r"|\btorch\.(save|load)\b",
    ),
    ("classic augmentation", _files("augment", "classic", "invariance")),
    ("t-SNE / UMAP", _files("embed", "feature_maps") + "|/umap/|sklearn/manifold"),
    ("figures", "/plotly/|" + _files("plots", "widgets", "figure_check")),
    ("imports", r"_find_and_load"),
    ("kernel between cells", r"EpollSelector\.select|selectors\.py"),
    (
        "statistics",
        _files("protocol", "gan_results", "gan_verdict", "null_check", "metrics", "classifier_metrics", "quality")
        + "|"
        + _files("feature_metrics", "memorization"),
    ),
)
"""Phase name and the regular expression a sample's stack must match, in priority order; anything else is
"other kit and papermill work" (reading parameters, building tables)."""
IDLE = r"\b(select|poll|wait|_recv|recv_bytes|sleep|acquire|epoll|accept)\b \([^;]*\)$"
"""A worker sample whose innermost frame is one of these is waiting, not working."""


def record(notebook: str, args: argparse.Namespace) -> float:
    """Run one notebook under py-spy; its raw stacks go to ``profile/NN.txt`` in the run folder. Returns seconds."""
    folder = args.out / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    liverkit = [str(Path(sys.executable).with_name("liverkit")), "run", "--profile", args.profile]
    liverkit += ["--data", args.data, "--out", str(args.out), "--notebooks", notebook]
    spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "--threads", "--subprocesses"]
    spy += ["--rate", str(args.rate), "--format", "raw", "--output", str(folder / f"{notebook}.txt"), "--"]
    start = time.perf_counter()
    subprocess.run(spy + liverkit, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def read_stacks(path: Path) -> list[tuple[str, int]]:
    """(stack, samples) for every line of a py-spy raw file (frames joined by ';', the count last)."""
    rows = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            rows.append((stack, int(count)))
    return rows


def phase_of(stack: str) -> str:
    for name, pattern in PHASES:
        if re.search(pattern, stack):
            return name
    return "other kit and papermill work"


def owner(stack: str) -> tuple[str, str, str]:
    """(the sampled process's command line, its thread's frame, the Python frames) of one sample.

    py-spy nests a child's frames under its parent's: ``process runner;process kernel;thread (..): Main;f;g``.
    """
    frames = stack.split(";")
    last = max(i for i, frame in enumerate(frames) if frame.startswith("process "))
    has_thread = last + 1 < len(frames) and frames[last + 1].startswith("thread ")
    thread = frames[last + 1] if has_thread else ""
    return frames[last], thread, ";".join(frames[last + 1 + has_thread :])


def split(rows: list[tuple[str, int]], rate: float) -> tuple[Counter, Counter]:
    """Seconds per phase of the kernel's main thread (wall) and of worker processes (CPU, idle left out)."""
    kernel, workers = Counter(), Counter()
    for stack, count in rows:
        process, thread, frames = owner(stack)
        if "ipykernel_launcher" in process and thread.endswith("MainThread"):
            kernel[phase_of(frames)] += count / rate
        elif "spawn_main" in process and frames and not re.search(IDLE, frames):
            workers[phase_of(frames)] += count / rate
    return kernel, workers


def table(walls: dict[str, float], profiles: dict[str, tuple[Counter, Counter]]) -> str:
    """The markdown table: per notebook, its wall time, the kernel's phases and the workers' CPU seconds."""
    names = [name for name, _ in PHASES] + ["other kit and papermill work"]
    lines = [
        "| notebook | wall s | kernel s | " + " | ".join(names) + " | worker CPU s: training / diagnostics / rest |"
    ]
    lines.append("|---" * (len(names) + 4) + "|")
    for notebook, wall in walls.items():
        kernel, workers = profiles[notebook]
        cells = [f"{kernel[name]:.0f}" for name in names]
        rest = max(0.0, sum(workers.values()) - workers["training"] - workers["GAN diagnostics"])
        worker = f"{workers['training']:.0f} / {workers['GAN diagnostics']:.0f} / {rest:.0f}"
        lines.append(
            f"| {notebook} | {wall:.0f} | {sum(kernel.values()):.0f} | " + " | ".join(cells) + f" | {worker} |"
        )
    total = sum(walls.values())
    lines.append(f"\nTotal wall time {total:.0f} s ({total / 60:.1f} min).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/profile"), help="the run folder (default runs/profile)")
    parser.add_argument("--profile", default="quick", help="the profile to run (default quick)")
    parser.add_argument("--data", default="phantom", help="the data set (default phantom)")
    parser.add_argument("--rate", type=float, default=20, help="samples per second (default 20)")
    parser.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), help="which, in order (default all)")
    parser.add_argument("--summarise", action="store_true", help="only summarise the stacks already recorded")
    args = parser.parse_args(argv)
    times = args.out / "profile" / "walls.json"
    walls = json.loads(times.read_text()) if args.summarise else {}
    for notebook in [] if args.summarise else args.notebooks:
        walls[notebook] = record(notebook, args)
        times.write_text(json.dumps(walls))
        print(f"{notebook}: {walls[notebook]:.0f} s", flush=True)
    profiles = {nb: split(read_stacks(args.out / "profile" / f"{nb}.txt"), args.rate) for nb in walls}
    text = table(walls, profiles)
    (args.out / "profile.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
