#!/usr/bin/env bash
# Data-parallel training across two "machines": two network namespaces joined by a veth pair, with
# addresses of our own (10.201.0.1 and .2), Open MPI's TCP transport restricted to that link and a
# launcher that enters the other namespace instead of ssh-ing to it. The run must give bitwise the
# checkpoint of the same 2-rank run on one machine (a sum of two values does not depend on the
# transport). Needs root and `ip netns`; prints SKIPPED (exit 0) where they are unavailable.
# Usage: Tests/MPI/across_namespaces.sh [path/to/neurite built with --traits MPI]
set -euo pipefail
cd "$(dirname "$0")/../.."
NEURITE=$(realpath "${1:-.build-mpi/debug/neurite}")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tag=nk$$
ns1=$tag-a ns2=$tag-b
D=$(mktemp -d)
cleanup() { ip netns del "$ns1" 2>/dev/null || true; ip netns del "$ns2" 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
if ! ip netns add "$ns1" 2>/dev/null; then echo "across namespaces: SKIPPED (ip netns unavailable here)"; exit 0; fi
ip netns add "$ns2"
ip link add "${tag}x" type veth peer name "${tag}y"
ip link set "${tag}x" netns "$ns1"
ip link set "${tag}y" netns "$ns2"
ip -n "$ns1" addr add 10.201.0.1/24 dev "${tag}x"
ip -n "$ns2" addr add 10.201.0.2/24 dev "${tag}y"
for ns in "$ns1" "$ns2"; do ip -n "$ns" link set lo up; done
ip -n "$ns1" link set "${tag}x" up
ip -n "$ns2" link set "${tag}y" up

# Open MPI's rsh launcher calls: AGENT [options] HOST COMMAND...; enter HOST's namespace instead.
cat > "$D/agent.sh" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host=\$1; shift
case "\$host" in 10.201.0.1) ns=$ns1 ;; 10.201.0.2) ns=$ns2 ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$D/agent.sh"
printf "10.201.0.1 slots=1\n10.201.0.2 slots=1\n" > "$D/hosts"

ARGS=(train --model mlp --data fashion-mnist --limit 2000 --epochs 1 --batch-size 32 --threads 1 --json)
ip netns exec "$ns1" mpirun -np 2 --hostfile "$D/hosts" --bind-to none \
    --mca plm_rsh_agent "$D/agent.sh" --mca pml ob1 --mca btl self,tcp \
    --mca btl_tcp_if_include 10.201.0.0/24 --mca oob_tcp_if_include 10.201.0.0/24 \
    /bin/sh -c 'echo "rank on $(ip -br addr | grep -o "10\.201\.0\.[0-9]*")" >&2' 2> "$D/where.txt"
ip netns exec "$ns1" mpirun -np 2 --hostfile "$D/hosts" --bind-to none \
    --mca plm_rsh_agent "$D/agent.sh" --mca pml ob1 --mca btl self,tcp \
    --mca btl_tcp_if_include 10.201.0.0/24 --mca oob_tcp_if_include 10.201.0.0/24 \
    "$NEURITE" "${ARGS[@]}" --checkpoint "$D/net.st" > "$D/net.out"
mpirun -np 2 --oversubscribe --bind-to none "$NEURITE" "${ARGS[@]}" --checkpoint "$D/local.st" > /dev/null
passed=0 failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi; }
check grep -q "10.201.0.1" "$D/where.txt"
check grep -q "10.201.0.2" "$D/where.txt"
check grep -q '"event":"done"' "$D/net.out"
check cmp -s "$D/net.st" "$D/local.st"
echo "MPI across network namespaces: $passed passed, $failed failed"
test "$failed" -eq 0
