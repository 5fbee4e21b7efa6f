#!/bin/bash
# Interleaved side-by-side runs: Neurite, numpy and torch gemm, then Neurite and torch training (the
# plain recipe, then make run's), ROUNDS times (A B C A B C ...), each run appended to one JSON-lines
# file per library in OUT, then the `compare` tables (medians over the rounds).
#   Benchmarks/peers/side_by_side.sh [OUT=bench-out] [ROUNDS=3] [THREADS=1,2]
# Needs a release build (.build-bench by default; BENCH=path/to/neurite-bench to override) and
# .venv-peers (see README.md). Set SKIP_TRAIN=1 to time gemm only.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench-out} ROUNDS=${2:-3} THREADS=${3:-1,2}
B=${BENCH:-.build-bench/release/neurite-bench}
PY=${PYTHON:-.venv-peers/bin/python}
[ -x "$B" ] || { echo "no $B: swift build -c release --scratch-path .build-bench" >&2; exit 1; }
[ -x "$PY" ] || { echo "no $PY: see Benchmarks/peers/README.md" >&2; exit 1; }
mkdir -p "$OUT"
for i in $(seq "$ROUNDS"); do
  echo "round $i $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >&2
  "$B" gemm --threads "$THREADS" --repeat 5 --warmup 1 --json >> "$OUT/neurite-gemm.jsonl"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" Benchmarks/peers/numpy_bench.py --threads "$THREADS" --repeat 5 --warmup 1 >> "$OUT/numpy-gemm.jsonl"
  "$PY" Benchmarks/peers/torch_bench.py --threads "$THREADS" --repeat 5 --warmup 1 --bench gemm >> "$OUT/torch-gemm.jsonl"
  if [ -z "${SKIP_TRAIN:-}" ]; then
    for recipe in plain main; do   # the peer recipe, then make run's (Adam, cosine, dropout)
      "$B" train --model mlp --recipe $recipe --threads "$THREADS" --json >> "$OUT/neurite-train.jsonl"
      "$B" train --model lenet --recipe $recipe --threads "$THREADS" --json >> "$OUT/neurite-train.jsonl"
      "$PY" Benchmarks/peers/torch_bench.py --threads "$THREADS" --bench train --model mlp,lenet --recipe $recipe >> "$OUT/torch-train.jsonl"
    done
  fi
done
"$B" compare "$OUT/neurite-gemm.jsonl" "$OUT/numpy-gemm.jsonl"
echo
"$B" compare "$OUT/neurite-gemm.jsonl" "$OUT/torch-gemm.jsonl"
if [ -z "${SKIP_TRAIN:-}" ]; then echo; "$B" compare "$OUT/neurite-train.jsonl" "$OUT/torch-train.jsonl"; fi
