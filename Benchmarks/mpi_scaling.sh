#!/usr/bin/env bash
# Data-parallel scaling on one machine: 1 process × 1 thread and × 2 threads (batch 64) against
# 2 ranks × 1 thread, both ways a data-parallel run is sized: the same global batch (2 × 32 = 64,
# strong scaling: the same optimisation, each step's work halved) and the same per-rank batch
# (2 × 64 = 128, as DDP users scale out: each rank does the single process's work per step).
# MLP and LeNet-5 on Fashion-MNIST, plain recipe, `rounds` interleaved rounds; prints each run's
# epoch samples/s (all ranks' examples) and the all-reduce figures.
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
    for cfg in "1x1" "1x2" "2x1" "2x1-b64"; do
      case $cfg in
        1x1) out=$($N train --model $model --epochs "$EPOCHS" --batch-size 64 --threads 1 --initialization pytorch) ;;
        1x2) out=$($N train --model $model --epochs "$EPOCHS" --batch-size 64 --threads 2 --initialization pytorch) ;;
        2x1) out=$(mpirun -np 2 --bind-to core $N train --model $model --epochs "$EPOCHS" --batch-size 32 --threads 1 --initialization pytorch) ;;
        2x1-b64) out=$(mpirun -np 2 --bind-to core $N train --model $model --epochs "$EPOCHS" --batch-size 64 --threads 1 --initialization pytorch) ;;
      esac
      rate=$(echo "$out" | grep -o '[0-9]* samples/s' | tail -1)
      comm=$(echo "$out" | grep -o 'all-reduce.*' || true)
      echo "$model round $r $cfg: $rate ${comm:+| $comm}"
    done
  done
done
