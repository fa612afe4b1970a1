#!/usr/bin/env bash
# One GPU session's checks, from the repository root of a fresh GPU machine: `bash benchmarks/gpu_check.sh`.
# 1. an environment (the existing .venv, else a venv that reuses a preinstalled torch, else a full pip install);
# 2. the benchmark rows on CUDA (`make bench` with --device cuda --repeats 3), saved row by row;
# 3. notebooks 01-05 of the paper profile shrunk to one repeat and 2 epochs, timed end to end (the CLI cannot run
#    one fold alone: every fold of the repeat runs), as the row paper_fold_repeat_seconds.
# Every step runs under `timeout`, so the whole script stays within BUDGET seconds (default 540, about 9 minutes).
# Rows go to "$OUT/bench.jsonl" (OUT defaults to benchmarks/results).
set -euo pipefail

BUDGET=${BUDGET:-540}
OUT=${OUT:-benchmarks/results}
PY=.venv/bin/python
mkdir -p "$OUT"
left() { echo $((BUDGET - SECONDS)); }

if ! "$PY" -c "import liverkit, papermill, torch" 2>/dev/null; then
    # A machine's own torch is reused (pip keeps it, as it satisfies torch>=2.4): no 2 GB download.
    python3 -m venv $(python3 -c "import torch" 2>/dev/null && echo --system-site-packages) .venv
    timeout $(($(left) - 150)) .venv/bin/pip install --quiet --disable-pip-version-check -e ".[notebooks]"
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name())"
echo "setup done at ${SECONDS} s"

bench_s=$(($(left) - 150 < 300 ? $(left) - 150 : 300))
if ((bench_s > 30)); then
    timeout --kill-after=10 "$bench_s" "$PY" benchmarks/bench.py --device cuda --repeats 3 --out "$OUT/bench.jsonl" ||
        echo "bench stopped (exit $?); the rows measured so far are saved"
fi
echo "bench done at ${SECONDS} s"

run_s=$(($(left) - 20))
if ((run_s > 30)); then
    timeout --kill-after=10 $((run_s + 10)) "$PY" benchmarks/bench.py --device cuda --paper-run "$run_s" \
        --out "$OUT/bench.jsonl" || echo "paper run stopped (exit $?)"
fi
echo "finished at ${SECONDS} s; rows in $OUT/bench.jsonl"
