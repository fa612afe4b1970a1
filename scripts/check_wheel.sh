#!/usr/bin/env bash
# What a user of the wheel gets, checked with no checkout to fall back on (.ci/run calls it after make test):
#   1. build the sdist from a copy of the build's inputs, then the wheel from that sdist (as `python -m build` does);
#   2. check that the sdist has notebooks/ and the wheel liverkit/notebooks/, every notebook of the checkout;
#   3. install the wheel with its notebooks extra into a fresh virtual environment outside the checkout, pinned to
#      the versions .venv was tested with (pip freeze as constraints: no surprise upgrades);
#   4. from a folder outside the checkout: `liverkit notebooks DIR`, then notebooks 01 and 02 at the smoke profile,
#      and check the run folder (executed notebooks, metrics, report).
# Needs .venv (make setup). Takes a few minutes, most of it installing torch into the fresh environment.
# KEEP_WHEEL_CHECK=1 keeps the temporary folder (its path is printed) for a look after a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "check_wheel: no $PY; run make setup first" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/liverkit-wheel.XXXXXX")
if [ -z "${KEEP_WHEEL_CHECK:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi
START=$SECONDS
step() { echo "check_wheel [$((SECONDS - START)) s]: $*"; }
fail() {
    echo "check_wheel: FAILED: $*" >&2
    exit 1
}
quiet() {  # run a command with its output in a log, shown only when it fails
    local log=$WORK/$1.log
    shift
    "$@" >"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "$* (log above)"; }
}
EXPECTED=$(cd notebooks && ls [0-9][0-9]_*.ipynb | sort)
N=$(echo "$EXPECTED" | wc -l)

step "work folder $WORK; $N notebooks in the checkout"
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/user"
tar --exclude=__pycache__ --exclude='*.pyc' -cf - liverkit notebooks pyproject.toml setup.py MANIFEST.in README.md \
    LICENSE | tar -xf - -C "$WORK/src"
quiet sdist "$PY" -c 'import os, sys; os.chdir(sys.argv[1]); from setuptools import build_meta
print(build_meta.build_sdist(sys.argv[2]))' "$WORK/src" "$WORK/dist"
SDIST=$(ls "$WORK"/dist/liverkit-*.tar.gz)
quiet wheel "$PY" -m pip wheel --no-deps -w "$WORK/dist" "$SDIST"
WHEEL=$(ls "$WORK"/dist/liverkit-*.whl)
step "built $(basename "$SDIST") ($(du -k "$SDIST" | cut -f1) kB) and $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) kB)"

IN_SDIST=$(tar -tzf "$SDIST" | sed -n 's#^liverkit-[^/]*/notebooks/\([0-9][0-9]_[^/]*\.ipynb\)$#\1#p' | sort)
[ "$IN_SDIST" = "$EXPECTED" ] || fail "the sdist's notebooks/ holds [$IN_SDIST], not the checkout's [$EXPECTED]"
IN_WHEEL=$("$PY" -c 'import sys, zipfile; print("\n".join(sorted(n.split("/")[-1] for n in
zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("liverkit/notebooks/"))))' "$WHEEL")
[ "$IN_WHEEL" = "$EXPECTED" ] || fail "the wheel's liverkit/notebooks/ holds [$IN_WHEEL], not the checkout's [$EXPECTED]"
step "the sdist has notebooks/ and the wheel liverkit/notebooks/: all $N notebooks"

"$PY" -m pip freeze --exclude-editable | grep -v -i '^liverkit' >"$WORK/constraints.txt"
CPU_INDEX=()  # a CPU build of torch (torch==X+cpu, as make setup installs without a GPU) is on PyTorch's own index
if grep -q '^torch==.*+cpu' "$WORK/constraints.txt"; then
    CPU_INDEX=(--extra-index-url https://download.pytorch.org/whl/cpu)  # scripts/install_torch.py's CPU_INDEX
fi
VENV=$WORK/venv
quiet venv "$PY" -m venv "$VENV"
installing=$SECONDS
quiet install "$VENV/bin/python" -m pip install -c "$WORK/constraints.txt" ${CPU_INDEX[@]+"${CPU_INDEX[@]}"} \
    "$WHEEL[notebooks]"
step "installed the wheel with [notebooks] into a fresh venv in $((SECONDS - installing)) s ($(du -sm "$VENV" | cut -f1) MB)"

cd "$WORK/user"  # outside the checkout: nothing here can be imported or found by accident
"$VENV/bin/python" - "$VENV" <<'EOF' || fail "liverkit does not come from the fresh environment's wheel"
import sys
from pathlib import Path

import liverkit
from liverkit.kit.notebook_files import notebook_dir

venv = Path(sys.argv[1]).resolve()
for where in (Path(liverkit.__file__), notebook_dir()):
    assert venv in where.resolve().parents, f"{where} is not inside {venv}"
print(f"liverkit from {Path(liverkit.__file__).parent}, notebooks from {notebook_dir()}")
EOF
quiet copy "$VENV/bin/liverkit" notebooks "$WORK/user/my-notebooks"
COPIED=$(cd "$WORK/user/my-notebooks" && ls | sort)
[ "$COPIED" = "$EXPECTED" ] || fail "liverkit notebooks copied [$COPIED], not [$EXPECTED]"
step "liverkit notebooks DIR copied the $N notebooks"

running=$SECONDS
RUN=$WORK/user/run
quiet run "$VENV/bin/liverkit" run --profile smoke --data phantom --notebooks 01 02 --out "$RUN"
for stem in 01_data 02_classic_augmentation; do
    [ -s "$RUN/notebooks/$stem.ipynb" ] || fail "no executed copy $RUN/notebooks/$stem.ipynb"
    [ -s "$RUN/metrics/$stem.json" ] || fail "no metrics record $RUN/metrics/$stem.json"
done
[ -s "$RUN/report.html" ] || fail "no report $RUN/report.html"
step "liverkit run (smoke, notebooks 01 02) from the wheel: executed copies, metrics and report in $((SECONDS - running)) s"
step "passed"
