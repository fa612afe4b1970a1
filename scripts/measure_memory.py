"""Peak memory of `liverkit run`: the whole run (runner + kernels + workers) and each notebook, for the README.

Usage (from the checkout, in the environment to measure; the README's table used PyTorch's CPU build):

    python scripts/measure_memory.py --profile quick --out runs/memory [--notebooks 05] [--set workers=1] [--jsonl F]

Runs `liverkit run` with the given options as a child process, samples its whole process tree every 0.2 s
(liverkit.experiment.memory), and labels each sample with the notebook running then: the first selected notebook that
has not yet succeeded in the run folder's runner state. Prints one line per notebook and the run's peak, and appends
one JSON object per line to ``--jsonl`` (default: benchmarks/results/<date>-memory.jsonl).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from liverkit.experiment.memory import TreeMemory
from liverkit.kit.staleness import read_state
from liverkit.story import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]


def current_notebook(out: Path, selected: list[str]) -> str:
    """The selected notebook running now: the first one the runner state does not list as succeeded."""
    done = read_state(out).done if out.is_dir() else {}
    return next((stem for stem in selected if stem not in done), "after the last notebook")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--data", default="phantom")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--notebooks", nargs="*", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a profile override")
    parser.add_argument("--jsonl", type=Path, default=None)
    args = parser.parse_args(argv)
    selected = [n for n in NOTEBOOKS if not args.notebooks or any(n.startswith(k.zfill(2)) for k in args.notebooks)]
    command = [sys.executable, "-m", "liverkit.kit.cli", "run", "--profile", args.profile, "--data", args.data]
    command += ["--out", str(args.out), *(["--notebooks", *args.notebooks] if args.notebooks else [])]
    command += [arg for override in args.set for arg in ("--set", override)]
    start = time.monotonic()
    child = subprocess.Popen(command)
    watch = TreeMemory(child.pid, label=lambda: current_notebook(args.out, selected)).start()
    code = child.wait()
    watch.stop()
    seconds = time.monotonic() - start
    import torch  # only for the record: which build was measured

    record = {
        "date": datetime.date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "profile": args.profile,
        "overrides": args.set,
        "notebooks": selected,
        "exit_code": code,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(watch.overall.rss_mb),
        "peak_pss_mb": round(watch.overall.pss_mb),
        "by_notebook": {
            k: {
                "rss_mb": round(p.rss_mb),
                "pss_mb": round(p.pss_mb),
                "processes": p.processes,
                "at_peak": {role: round(mb) for role, mb in sorted(p.roles.items())},
            }
            for k, p in watch.by_label.items()
        },
    }
    for name, peak in record["by_notebook"].items():
        parts = ", ".join(f"{role} {mb}" for role, mb in peak["at_peak"].items())
        print(f"{name:<28} peak RSS {peak['rss_mb']:>6} MB  PSS {peak['pss_mb']:>6} MB  ({parts})")
    print(
        f"{'whole run':<28} peak RSS {record['peak_rss_mb']:>6} MB  PSS {record['peak_pss_mb']:>6} MB  "
        f"({seconds:.0f} s, torch {record['torch']}, exit code {code})"
    )
    jsonl = args.jsonl or ROOT / "benchmarks" / "results" / f"{record['date']}-memory.jsonl"
    with open(jsonl, "a") as out:
        out.write(json.dumps(record) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
