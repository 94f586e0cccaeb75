#!/usr/bin/env bash
# ctest's launcher for the distributed suite: NP ranks on NP simulated hosts (network namespaces,
# Open MPI over TCP: scripts/netns_hosts.sh). Where namespaces cannot be made (not root, no
# iproute2) it says so and runs the same ranks on this one host. Usage: on_hosts.sh NP PROGRAM...
set -uo pipefail
np=$1
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/scripts/netns_hosts.sh" -n "$np" -r 10gbit -t 240 -- "$@"
rc=$?
if [ "$rc" -ne 77 ]; then exit "$rc"; fi
echo "on_hosts: no network namespaces here (needs root); running $np ranks on one host instead"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec timeout -k 5 240 mpirun --oversubscribe -np "$np" "$@"
