"""The ``liverkit`` command: run the notebooks, copy them out, list/fetch/check data sets, print the environment."""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence

from liverkit.errors import LiverkitError
from liverkit.kit.profiles import PROFILES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its sub-commands (kept separate so tests can read the help)."""
    parser = argparse.ArgumentParser(
        prog="liverkit",
        description="GAN-based synthetic augmentation for liver lesion classification, as notebooks you can run.",
    )
    debug = "show the Python traceback of any failure (for reporting a bug); without it a failure is one line"
    parser.add_argument("--debug", action="store_true", help=debug)
    common = argparse.ArgumentParser(add_help=False)  # --debug after the command too: liverkit run ... --debug
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[common])

    run = command("run", "execute the notebooks in order with papermill (the notebooks extra)")
    run.add_argument("--profile", default="quick", choices=sorted(PROFILES), help="sizes to use (default: quick)")
    run.add_argument("--data", default="phantom", help="manifest data set name or LesionSet .npz (default: phantom)")
    run.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    run.add_argument("--seed", type=int, default=0, help="the run's seed (default: 0)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    run.add_argument("--notebooks", nargs="+", metavar="NB", help="numbers or names to run, e.g. 01 02 (default: all)")
    kit = "the checkout's notebooks/, else the copy inside the installed package"
    run.add_argument("--notebook-dir", help=f"folder of the notebooks (default: {kit})")
    unchanged = (
        "rerun the selected notebooks and every later one from scratch, even when unchanged; their earlier files are "
        "moved to stale/ in the run folder"
    )
    run.add_argument("--force", action="store_true", help=unchanged)
    setting = "change one profile setting, e.g. classifier.epochs=4 or augment.n_flip=0 (repeatable)"
    run.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE", help=setting)
    run.add_argument("--folds", type=int, metavar="N", help="cross-validation folds (same as --set n_folds=N)")
    where = "where the CNN sweeps' jobs run: local (this machine) or dask (a Dask cluster; needs --scheduler)"
    run.add_argument("--executor", default="local", choices=["local", "dask"], help=where)
    run.add_argument("--scheduler", metavar="ADDRESS", help="the Dask scheduler, e.g. tcp://10.0.0.5:8786")

    notebooks = command("notebooks", "copy the kit's notebooks into a folder, to open in JupyterLab")
    notebooks.add_argument("dir", metavar="DIR", help="the folder to copy them into (made if missing)")
    notebooks.add_argument("--force", action="store_true", help="replace notebooks in DIR that differ from the kit's")

    data = command("data", "list, fetch or check data sets of the manifest")
    what = "list: names, paths and licences; fetch: download; check: read the data and summarise it"
    data.add_argument("action", choices=["list", "fetch", "check"], help=what)
    data.add_argument("name", nargs="?", help="data set name (fetch, check)")
    data.add_argument("--manifest", help="manifest file (default: $LIVERKIT_MANIFEST or data_manifest.yaml)")

    report = command("report", "write the run's self-contained HTML report (<run>/report.html)")
    report.add_argument("run_dir", nargs="?", default="runs/demo", help="the run folder (default: runs/demo)")
    report.add_argument("--output", metavar="FILE", help="where to write it (default: <run_dir>/report.html)")

    regress = command("regress", "compare a run's recorded numbers with a committed baseline")
    regress.add_argument("run_dir", help="the run folder whose metrics/ to check")
    regress.add_argument("--baseline", required=True, help="baseline file, e.g. tests/baselines/quick.json")
    regress.add_argument("--update", action="store_true", help="replace the baseline with this run's numbers")

    command("config", "print versions, device and threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Every failure is one line on stderr (the traceback only with ``--debug``): a user mistake or an
    operating-system error (no space, a name too long, no permission) exits with status 2, a stopped run with 130
    (Ctrl-C) or 143 (SIGTERM), a fault of the kit itself with 1."""
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _command(args)
    except (Exception, KeyboardInterrupt) as exc:  # every failure becomes one line; --debug shows the traceback
        if args.debug:
            traceback.print_exc()
        code, line = explain(exc)
        line = " ".join(part.strip() for part in line.splitlines() if part.strip())  # a YAML error spans lines
        print(f"liverkit: {line}", file=sys.stderr)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "notebooks":
        return _notebooks(args)
    if args.command == "data":
        return _data(args)
    if args.command == "regress":
        return _regress(args)
    if args.command == "report":
        from liverkit.kit.report import write_report

        print(f"report: {write_report(args.run_dir, args.output)}")
        return 0
    from liverkit.env import print_config

    print_config(details=True)
    return 0


class _Terminated(Exception):
    """SIGTERM outside a notebook's run (a notebook's run handles it itself: liverkit.kit.interrupt)."""


def _terminate(signum: int, frame) -> None:
    raise _Terminated


FIXES = {
    errno.ENOSPC: "no space left on the device: free some space (or choose another --out) and run the same command "
    "again; what finished is kept",
    errno.EDQUOT: "the disk quota is used up: free some space and run the same command again; what finished is kept",
    errno.EFBIG: "the file would pass this process's file-size limit (ulimit -f): raise the limit, or free space "
    "elsewhere, and run the same command again",
    errno.ENAMETOOLONG: "a name in the path is too long for the file system (most allow 255 characters per folder "
    "or file name): choose a shorter path",
    errno.EACCES: "permission denied: fix the folder's permissions, or choose another folder (--out; for a report, "
    "liverkit report RUN --output FILE)",
    errno.EPERM: "operation not permitted: fix the permissions, or choose another folder",
    errno.EROFS: "the file system is read-only: choose a writable folder (--out; for a report, liverkit report RUN "
    "--output FILE)",
}
"""What to do about the operating-system errors a user can meet, by errno."""


def explain(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one line a failure prints."""
    if isinstance(exc, KeyboardInterrupt | _Terminated):
        what = "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        line = f"stopped by {what}; finished work is kept: run the same command again to go on."
        return (130 if what == "Ctrl-C" else 143), line
    if isinstance(exc, LiverkitError):
        return 2, f"error: {exc}"
    if isinstance(exc, OSError):
        where = f" ('{exc.filename}')" if exc.filename else ""
        fix = FIXES.get(exc.errno or 0, "check the path and try again")
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return 2, f"error: {exc.strerror or exc}{where} [{name}]: {fix}."
    return 1, (
        f"internal error ({type(exc).__name__}: {exc}). This is a fault of liverkit, not of your input: rerun with "
        "--debug for the traceback and report it."
    )


def run_overrides(args: argparse.Namespace) -> dict:
    """The ``--set`` assignments as a dict, with ``--folds N`` as ``n_folds``; the two may not disagree."""
    from liverkit.kit.profiles import parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.folds is not None:
        if overrides.get("n_folds", args.folds) != args.folds:
            raise LiverkitError(f"--folds {args.folds} and --set n_folds={overrides['n_folds']} disagree; give one.")
        overrides["n_folds"] = args.folds
    return overrides


def _run(args: argparse.Namespace) -> int:
    from liverkit.kit.notebook_runner import run_notebooks

    _choose_executor(args.executor, args.scheduler)
    results = run_notebooks(
        out=args.out,
        profile=args.profile,
        data=args.data,
        seed=args.seed,
        device=args.device,
        notebooks=args.notebooks,
        notebook_dir=args.notebook_dir,
        force=args.force,
        overrides=run_overrides(args),
        stop_on_signal=True,
    )
    ran = [r for r in results if not r.skipped]
    skipped = f", skipped {len(results) - len(ran)} unchanged" if len(ran) < len(results) else ""
    total = sum(r.seconds for r in ran)
    print(f"ran {len(ran)} notebook(s) in {total:.1f} s{skipped}; executed copies in {results[0].output.parent}")
    from liverkit.kit.report import write_report

    print(f"report: {write_report(args.out)}")
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    """Copy the notebooks out; one line per notebook, then the commands to open or run the copies."""
    from liverkit.kit.notebook_files import copy_notebooks

    done = copy_notebooks(args.dir, force=args.force)
    for path, status in done:
        print(f"{status:<9} {path}")
    folder = shlex.quote(str(done[0][0].parent))
    print(f"next: jupyter lab {folder}  (or headless: liverkit run --notebook-dir {folder} --out runs/demo)")
    return 0


def _choose_executor(executor: str, scheduler: str | None) -> None:
    """Check the executor choice now (a Dask scheduler must answer) and pass it to the notebooks' kernels through
    ``$LIVERKIT_EXECUTOR`` and ``$LIVERKIT_SCHEDULER`` (:func:`liverkit.experiment.executors.default_executor` reads
    them)."""
    if executor == "local":
        if scheduler:
            raise LiverkitError("--scheduler is for --executor dask; add --executor dask or drop --scheduler.")
        os.environ.pop("LIVERKIT_EXECUTOR", None)
        return
    if not scheduler:
        raise LiverkitError("--executor dask needs --scheduler ADDRESS, e.g. tcp://10.0.0.5:8786 (dask scheduler).")
    from liverkit.experiment.executors import check_scheduler

    check_scheduler(scheduler)
    os.environ["LIVERKIT_EXECUTOR"], os.environ["LIVERKIT_SCHEDULER"] = "dask", scheduler


def _regress(args: argparse.Namespace) -> int:
    from liverkit.kit import regress

    if args.update:
        path = regress.write_baseline(args.run_dir, args.baseline)
        print(f"baseline {path} now holds {len(regress.collect(args.run_dir))} numbers from {args.run_dir}")
        return 0
    problems = regress.check(args.run_dir, args.baseline)
    for line in problems:
        print(line)
    for line in regress.notes(args.run_dir, args.baseline):
        print(line)
    changed = regress.headlines(args.run_dir, args.baseline)
    if changed:
        print(f"Verdicts and choices that differ from the baseline ({len(changed)}):")
    for line in changed:
        print(f"  {line}")
    summary = f"{len(problems)} number(s) differ from" if problems else "all numbers match"
    headline = f"; {len(changed)} verdict(s) or choice(s) differ (listed above)" if changed else ""
    print(f"{summary} {args.baseline}{headline}")
    return 1 if problems else 0


def _data(args: argparse.Namespace) -> int:
    from liverkit.data import manifest

    if args.action == "list":
        for entry in manifest.read_manifest(args.manifest).values():
            where = "built in" if entry.path is None else str(entry.path)
            status = "" if entry.path is None else (" [on disk]" if entry.path.exists() else " [not on disk]")
            licence = entry.licence or "licence not given"
            print(f"{entry.name:<18} {entry.reader:<9} {where}{status}\n{'':<18} {entry.description} ({licence})")
        return 0
    if not args.name:
        raise LiverkitError(f"'liverkit data {args.action}' needs a data set name; see 'liverkit data list'.")
    entry = manifest.get_entry(args.name, args.manifest)
    if args.action == "check":  # reads every image with the entry's reader; verifies the checksum first
        print(manifest.check(args.name, args.manifest))
        return 0
    if entry.path is None:
        print(f"'{entry.name}' is built in; nothing to {args.action}.")
        return 0
    path = manifest.ensure_local(entry, download=args.action == "fetch")
    checked = "checksum verified" if entry.md5 else "no checksum in the manifest"
    print(f"{entry.name}: {path} ({checked})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
