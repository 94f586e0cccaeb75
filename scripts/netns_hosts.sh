#!/usr/bin/env bash
# Simulated hosts for ember::distributed: N Linux network namespaces, each with one interface
# (ember0, an address in 198.18.0.0/24, the RFC 2544 benchmarking range) on a bridge that lives
# in a namespace of its own, egress rate-limited with tc; then Open MPI across them over TCP
# only. Nothing is added to the machine's own network namespace, so traffic can only go between
# these namespaces (and each one's loopback). Everything is removed on exit.
#
#   scripts/netns_hosts.sh [-n HOSTS] [-r RATE] [-s SLOTS] [-t SECONDS] -- PROGRAM ARGS...
#       runs `mpirun -np HOSTS*SLOTS PROGRAM ARGS` across the hosts (one rank per host by default)
#   scripts/netns_hosts.sh [-n HOSTS] [-r RATE] --exec COMMAND ARGS...
#       runs COMMAND in host 0 with EMBER_NETNS_MPIRUN set to an mpirun wrapper for the hosts
#       (`$EMBER_NETNS_MPIRUN -np 2 prog`) and EMBER_NETNS_CUT_LINK to a command that takes the
#       link of the host it runs on down (for fault tests).
#
# RATE is a tc rate (10gbit, 1gbit, ...) or "none". netem (added delay) is not available on
# these machines' kernel, so no delay is added: the veth round trip (~30 us) is what latency
# there is, and the cost model in docs/distributed.md adds a real network's latency instead.
# Needs root (ip netns). Without it, it exits 77 saying so (callers then run on one host).
set -euo pipefail

hosts=2 rate=10gbit slots=1 limit=600 mode=mpirun
usage() { sed -n '2,20p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n) hosts=$2; shift 2 ;;
    -r) rate=$2; shift 2 ;;
    -s) slots=$2; shift 2 ;;
    -t) limit=$2; shift 2 ;;
    --exec) mode=exec; shift; break ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -gt 0 ] || usage
[[ "$hosts" =~ ^[1-9]$ ]] || { echo "netns_hosts: -n must be 1..9, got '$hosts'" >&2; exit 2; }
[[ "$slots" =~ ^[1-9]$ ]] || { echo "netns_hosts: -s must be 1..9, got '$slots'" >&2; exit 2; }
[[ "$limit" =~ ^[0-9]+$ ]] || { echo "netns_hosts: -t must be seconds, got '$limit'" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  echo "netns_hosts: network namespaces need root and iproute2; not available here" >&2
  exit 77
fi

# Every name carries this prefix and our pid: nothing of anyone else's can match it.
tag="ember$$"
switch="${tag}sw"
work=$(mktemp -d "/tmp/${tag}.XXXXXX")
created_ns=()

cleanup() {
  set +e
  for ns in "${created_ns[@]}"; do
    # Only processes inside our own namespaces (leftover ranks or daemons), by pid.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in "${created_ns[@]}"; do ip netns delete "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_ns() {
  if ip netns list | grep -qw "$1"; then
    echo "netns_hosts: namespace $1 exists already and is not ours; stopping" >&2
    exit 1
  fi
  ip netns add "$1"
  created_ns+=("$1")
  ip -n "$1" link set lo up
}

make_ns "$switch"
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
: >"$work/hostfile"
: >"$work/hosts.map"
# The simulated hosts share this machine's cores: host i's processes run on core i mod cores,
# as a real host's rank has its own core (Open MPI's binding would put every host's first rank
# on core 0; left unbound, two ranks could share a core and a spinning wait starve the other).
cores=$(nproc)
for ((i = 0; i < hosts; i++)); do
  ns="${tag}h$i"
  addr="198.18.0.$((i + 1))"
  make_ns "$ns"
  # The pair is created inside the host namespace, so no interface ever appears in the
  # machine's own namespace; the far end moves to the switch.
  ip -n "$ns" link add ember0 type veth peer name "port$i"
  ip -n "$ns" link set "port$i" netns "$switch"
  ip -n "$switch" link set "port$i" master br0 up
  ip -n "$ns" addr add "$addr/24" dev ember0
  ip -n "$ns" link set ember0 up
  if [ "$rate" != none ]; then
    # Token bucket: the burst must hold a GSO segment (64 KB) and about 1 ms at the rate.
    bits=$(tc -n "$ns" qdisc add dev ember0 root tbf rate "$rate" burst 1mb latency 20ms 2>&1) || {
      echo "netns_hosts: tc tbf rate $rate failed: $bits" >&2
      exit 1
    }
    # The same limit on the switch port towards the host: its receive side.
    tc -n "$switch" qdisc add dev "port$i" root tbf rate "$rate" burst 1mb latency 20ms
  fi
  echo "$addr slots=$slots" >>"$work/hostfile"
  echo "$addr $ns $((i % cores))" >>"$work/hosts.map"
done

# Open MPI's rsh launcher runs `agent <host> <command>` to start its daemon on a host; this
# agent enters the host's namespace instead of ssh-ing. Unknown hosts are refused.
cat >"$work/agent" <<EOF
#!/bin/sh
ns=\$(awk -v h="\$1" '\$1 == h { print \$2 }' "$work/hosts.map")
core=\$(awk -v h="\$1" '\$1 == h { print \$3 }' "$work/hosts.map")
[ -n "\$ns" ] || { echo "netns agent: \$1 is not one of the simulated hosts" >&2; exit 1; }
shift
exec ip netns exec "\$ns" taskset -c "\$core" /bin/sh -c "\$*"
EOF
# TCP only (no shared memory between ranks), on the namespace interface only, for both the
# ranks' messages (btl) and the launcher's own (oob).
cat >"$work/mpirun" <<EOF
#!/bin/sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun --hostfile "$work/hostfile" --mca plm_rsh_agent "$work/agent" \\
  --mca btl tcp,self --mca btl_tcp_if_include ember0 --mca oob_tcp_if_include ember0 \\
  --mca plm_rsh_no_tree_spawn 1 --bind-to none -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 "\$@"
EOF
# Takes down the link of the host namespace it is run in (and only one of ours); with an
# argument, brings it back up after that many seconds (at most 600).
cat >"$work/cut_link" <<EOF
#!/bin/sh
ns=\$(ip netns identify \$\$)
case "\$ns" in
  ${tag}h*) ;;
  *) echo "cut_link: not inside a simulated host (namespace '\$ns')" >&2; exit 1 ;;
esac
ip link set ember0 down
case "\${1:-}" in
  [0-9] | [0-9][0-9] | [1-5][0-9][0-9]) (sleep "\$1"; ip link set ember0 up) >/dev/null 2>&1 & ;;
esac
EOF
chmod +x "$work/agent" "$work/mpirun" "$work/cut_link"

export EMBER_NETNS_MPIRUN="$work/mpirun" EMBER_NETNS_CUT_LINK="$work/cut_link"
export EMBER_NETNS_HOSTS="$hosts" EMBER_NETNS_RATE="$rate"
echo "netns_hosts: $hosts hosts (198.18.0.1-$hosts, rate $rate) in namespaces ${tag}h*" >&2
if [ "$mode" = exec ]; then
  cmd=("$@")
else
  cmd=("$work/mpirun" -np $((hosts * slots)) "$@")
fi
# Bounded in time: the command gets `limit` seconds, then SIGTERM, then SIGKILL.
set +e
ip netns exec "${tag}h0" taskset -c 0 timeout -k 5 "$limit" "${cmd[@]}"
rc=$?
exit $rc
