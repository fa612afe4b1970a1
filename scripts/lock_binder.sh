#!/usr/bin/env bash
# Remake binder/requirements.txt, Binder's lock: every package of the environment pinned (==) to the version in
# .venv, where the tests passed, so that a Binder rebuild next term installs the same versions.
#
# Remake the lock whenever pyproject.toml's `dependencies` or its `notebooks` extra change, after `make test`
# passed with them, and commit it (tests/test_environment.py checks that it still agrees with pyproject.toml):
#
#   python3 -m venv /tmp/locktool && /tmp/locktool/bin/pip install uv   # once; uv stays out of .venv
#   UV=/tmp/locktool/bin/uv bash scripts/lock_binder.sh
#
# What it does: uv resolves pyproject.toml's dependencies plus the `notebooks` extra for Binder's platform (Python
# 3.11, Linux x86_64), with .venv's `pip freeze` as constraints, so the whole dependency closure is pinned to the
# versions the tests ran with. Then torch and torchvision become their CPU builds (X+cpu, from PyTorch's CPU index)
# and the NVIDIA CUDA packages that only PyPI's CUDA build of torch needs (nvidia-*, cuda-*, triton) are left out.
# Environment: UV (the uv command, default uv), VENV_PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-uv}"
VENV_PYTHON="${VENV_PYTHON:-.venv/bin/python}"
LOCK=binder/requirements.txt
# Binder's Python (binder/runtime.txt says python-3.11): the .venv's 3.11.7, since a few pins need 3.11.5 or newer.
PYTHON_VERSION=3.11.7
PLATFORM=x86_64-unknown-linux-gnu
CPU_INDEX=https://download.pytorch.org/whl/cpu

command -v "$UV" >/dev/null || {
    echo "uv not found ('$UV'): python3 -m venv /tmp/locktool && /tmp/locktool/bin/pip install uv, then run" \
        "UV=/tmp/locktool/bin/uv bash $0" >&2
    exit 1
}
"$VENV_PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null || {
    echo "$VENV_PYTHON is not a Python 3.11 (Binder's): make it with make clean-venv && make PYTHON=python3.11 test," \
        "then run this again (or set VENV_PYTHON)" >&2
    exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The versions the tests ran with. A CPU build in .venv reads torch==X+cpu: PyPI knows only X, so the local part goes.
"$VENV_PYTHON" -m pip freeze --all --exclude-editable | grep -v '^#' | sed -E 's/\+[A-Za-z0-9.]+$//' >"$work/venv.txt"

"$UV" pip compile pyproject.toml --extra notebooks \
    --python-version "$PYTHON_VERSION" --python-platform "$PLATFORM" \
    --constraint "$work/venv.txt" --annotation-style line --no-header --quiet --output-file "$work/resolved.txt"

# A package that .venv lacks (pyproject.toml changed, .venv not remade) would be pinned to whatever is newest: refuse.
untested=$("$VENV_PYTHON" - "$work/venv.txt" "$work/resolved.txt" <<'EOF'
import re
import sys

def pins(path):
    """{normalised name: version} of the name==version lines of a requirements file."""
    found = {}
    for line in open(path):
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;#]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found

venv, resolved = pins(sys.argv[1]), pins(sys.argv[2])
cuda_only = re.compile(r"nvidia-|cuda-|triton$")
print(" ".join(f"{n}=={v}" for n, v in resolved.items() if venv.get(n) != v and not cuda_only.match(n)))
EOF
)
if [ -n "$untested" ]; then
    echo "these resolved pins are not what $VENV_PYTHON's environment has, so no test ran with them: $untested." \
        "Make the environment hold them (make setup; make clean-venv first if pyproject.toml's bounds exclude what" \
        "is installed), run make test, then run this again." >&2
    exit 1
fi

{
    cat <<EOF
# Binder's environment, locked: every package pinned to the version that the tests passed with (.venv), so that a
# Binder rebuild next term installs these and not next term's releases. Made by scripts/lock_binder.sh (uv pip compile
# of pyproject.toml's dependencies plus the \`notebooks\` extra, Python $PYTHON_VERSION, Linux x86_64, constrained to
# .venv's pip freeze); do not edit by hand: remake it with that script whenever pyproject.toml's dependencies change.
# repo2docker (Binder) installs these, then binder/postBuild installs liverkit itself (pip install --no-deps -e .).
#
# torch and torchvision are the CPU builds (Binder has no GPU; PyPI's Linux torch is the CUDA build, several GB).
# PyTorch's CPU index did not answer where the lock was made, so the resolver checked the plain versions against
# PyPI and the script then wrote them as X+cpu, a version that only the CPU index below has. A pin missing from that
# index therefore fails the build loudly (pip: "No matching distribution found for torch==X+cpu") instead of silently
# pulling PyPI's CUDA build. The NVIDIA CUDA packages (nvidia-*, cuda-*, triton) are left out: only that build
# needs them.
--extra-index-url $CPU_INDEX
EOF
    grep -v -E '^(nvidia-|cuda-|triton==)' "$work/resolved.txt" |
        sed -E -e 's/^(torch|torchvision)==([^ +]+)(    )?/\1==\2+cpu/' -e 's/, -c [^ ,]+//' -e 's/-c [^ ,]+, //'
} >"$work/lock.txt"
mv "$work/lock.txt" "$LOCK"
echo "wrote $LOCK: $(grep -c '==' "$LOCK") packages pinned; torch: $(grep -o '^torch==[^ ]*' "$LOCK")"
