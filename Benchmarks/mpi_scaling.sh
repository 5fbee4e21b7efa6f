#!/usr/bin/env bash
# Data-parallel scaling on one machine: 1 process × 1 thread, 1 process × 2 threads and 2 ranks ×
# 1 thread (global batch 2 × 32 = 64 vs 64), MLP and LeNet-5 on Fashion-MNIST, plain recipe,
# `rounds` interleaved rounds; prints each run's epoch samples/s and the all-reduce figures.
# Usage: Benchmarks/mpi_scaling.sh [rounds] [epochs]   (builds the release MPI binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3} EPOCHS=${2:-1}
swift build -c release --traits MPI --scratch-path .build-mpi --product neurite > /dev/null
N=.build-mpi/release/neurite
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') | $(nproc) CPUs"
for model in mlp lenet; do
  for r in $(seq "$ROUNDS"); do
    for cfg in "1x1" "1x2" "2x1"; do
      case $cfg in
        1x1) out=$($N train --model $model --epochs "$EPOCHS" --batch-size 64 --threads 1 --initialization pytorch) ;;
        1x2) out=$($N train --model $model --epochs "$EPOCHS" --batch-size 64 --threads 2 --initialization pytorch) ;;
        2x1) out=$(mpirun -np 2 --bind-to core $N train --model $model --epochs "$EPOCHS" --batch-size 32 --threads 1 --initialization pytorch) ;;
      esac
      rate=$(echo "$out" | grep -o '[0-9]* samples/s' | tail -1)
      comm=$(echo "$out" | grep -o 'all-reduce.*' || true)
      echo "$model round $r $cfg: $rate ${comm:+| $comm}"
    done
  done
done
