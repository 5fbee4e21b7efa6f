#!/usr/bin/env bash
# Data-parallel training under mpirun with 2 ranks on this machine (loopback), checking DDP's
# semantics with the real `neurite` command on a Fashion-MNIST subset:
#   1. 2 ranks × batch 32 give the weights of 1 process × batch 64 within 2e-5 after 126 steps of
#      plain SGD (the gradient sums are added in another order), including a partial last batch
#      split unevenly (limit 4001: 33 = 17 + 16); momentum amplifies such rounding differences;
#   2. two 2-rank runs are bitwise identical whatever --threads per rank;
#   3. 1 epoch, checkpoint, --resume to 2 epochs under mpirun == 2 epochs straight (bitwise);
#      resuming with another number of ranks is refused;
#   4. batch norm + dropout train with replicas verified every epoch (--check-replicas);
#   5. a diverging run stops every rank with one message and a non-zero exit;
#   6. SIGUSR1 to mpirun (which forwards it; Ctrl-C makes mpirun kill the ranks within a second)
#      stops every rank at the same batch with a whole checkpoint of the interrupted epoch.
# Usage: Tests/MPI/data_parallel.sh [path/to/neurite built with --traits MPI]
set -euo pipefail
cd "$(dirname "$0")/../.."
NEURITE=${1:-.build-mpi/debug/neurite}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN="mpirun -np 2 --oversubscribe --bind-to none"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
COMMON=(train --model mlp --data fashion-mnist --limit 4001 --epochs 2 --lr 0.05 --json)
passed=0 failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi; }

$MPIRUN "$NEURITE" "${COMMON[@]}" --batch-size 32 --threads 1 --checkpoint "$D/ranks2.st" > "$D/ranks2.out"
"$NEURITE" "${COMMON[@]}" --batch-size 64 --threads 1 --checkpoint "$D/single.st" > "$D/single.out"
close() {
python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name.startswith("model."):
            a, b = e["data_offsets"]
            out[name] = struct.unpack("<%df" % ((b - a) // 4), raw[8 + n + a:8 + n + b])
    return out
x, y = tensors(sys.argv[1]), tensors(sys.argv[2])
assert x.keys() == y.keys(), (x.keys(), y.keys())
worst = max(abs(p - q) for k in x for p, q in zip(x[k], y[k]))
print("max |w(2 ranks × 32) − w(1 × 64)| =", worst)
sys.exit(0 if worst < 2e-5 else 1)
PY
}
check close "$D/ranks2.st" "$D/single.st"
check grep -q '"event":"done"' "$D/ranks2.out"
check test "$(grep -c . "$D/ranks2.out")" -eq 3          # rank 0 alone prints (2 epochs + done)

$MPIRUN "$NEURITE" "${COMMON[@]}" --batch-size 32 --threads 2 --checkpoint "$D/threads2.st" > /dev/null
check cmp -s "$D/ranks2.st" "$D/threads2.st"
$MPIRUN "$NEURITE" "${COMMON[@]}" --optimizer momentum --batch-size 32 --threads 1 --checkpoint "$D/m1.st" > /dev/null
$MPIRUN "$NEURITE" "${COMMON[@]}" --optimizer momentum --batch-size 32 --threads 2 --checkpoint "$D/m2.st" > /dev/null
check cmp -s "$D/m1.st" "$D/m2.st"

$MPIRUN "$NEURITE" "${COMMON[@]}" --batch-size 32 --threads 1 --epochs 1 --checkpoint "$D/half.st" > /dev/null
$MPIRUN "$NEURITE" train --resume "$D/half.st" --epochs 2 --checkpoint "$D/resumed.st" --json > /dev/null
check cmp -s "$D/ranks2.st" "$D/resumed.st"
if "$NEURITE" train --resume "$D/half.st" --epochs 2 > "$D/wrong.out" 2>&1; then check false; else check grep -q "ranks" "$D/wrong.out"; fi

$MPIRUN "$NEURITE" train --model dense:64,batchnorm,relu,dropout:0.3,dense:10 --data fashion-mnist --limit 2000 \
    --epochs 2 --batch-size 16 --optimizer adam --lr 0.01 --check-replicas --json > "$D/bn.out"
check grep -q '"event":"done"' "$D/bn.out"

if $MPIRUN "$NEURITE" train --model mlp --data fashion-mnist --limit 1000 --epochs 1 --lr 900 > "$D/nan.out" 2>&1; then
    check false
else
    check grep -q "training stopped" "$D/nan.out"
    check test "$(grep -c "training stopped" "$D/nan.out")" -eq 1     # one message, from rank 0
fi

# SIGUSR1 to mpirun (forwarded to every rank): all ranks stop at the same batch, checkpoint, exit 0.
$MPIRUN "$NEURITE" train --model lenet --data fashion-mnist --epochs 50 --batch-size 32 --checkpoint "$D/stop.st" > "$D/stop.out" 2>&1 &
launcher=$!
for _ in $(seq 100); do grep -q "^epoch 1/" "$D/stop.out" 2>/dev/null && break; sleep 0.2; done
kill -USR1 "$launcher"
if wait "$launcher"; then check grep -q "Interrupted after" "$D/stop.out"; else check false; fi
check test -s "$D/stop.st"
python3 - "$D/stop.st" <<'PY' && check true || check false
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
assert json.loads(h["__metadata__"]["training"])["batches_done"] > 0
PY

echo "MPI data parallelism: $passed passed, $failed failed"
test "$failed" -eq 0
