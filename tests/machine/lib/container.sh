# shellcheck shell=bash
# Booted Debian containers: systemd-nspawn --boot (a real PID-1 systemd and system bus) in
# a network namespace the test makes, so each container has its own loopback (the k3s
# stand-in's 6443 and the Azure emulator never clash with anything on the host).
# Commands run inside with nsenter into the container's init.

declare -gA CT_NSPAWN=() CT_LEADER=()

# netns_create NAME: a fresh network namespace with loopback up; removed at exit.
netns_create() {
  local ns=$1
  ip netns add "$ns" || die "cannot create network namespace $ns"
  on_exit ip netns delete "$ns"
  ip -n "$ns" link set lo up || die "cannot bring up lo in $ns"
}

# in_netns NS CMD...: runs a host program with the namespace's network (e.g. the emulator).
in_netns() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

# container_boot NAME ROOT NETNS LOG: boots ROOT and waits until systemd has finished
# starting up. The container is powered off at exit. --console=read-only, not passive:
# nspawn drains the console into LOG. With passive, nobody reads the console pty; once
# cloud-init's output has filled it, PID 1 blocks writing shutdown messages and poweroff
# hangs.
container_boot() {
  local name=$1 root=$2 ns=$3 logf=$4
  systemd-nspawn -D "$root" --boot --keep-unit --register=no --console=read-only \
    --network-namespace-path="/run/netns/$ns" -M "$name" >"$logf" 2>&1 &
  CT_NSPAWN[$name]=$!
  on_exit container_stop "$name"
  wait_until 20 "$name's init to start" _ct_find_leader "$name" || return 1
  wait_until 20 "$name's systemd to listen" ct "$name" test -S /run/systemd/private || return 1
  local state
  state=$(ct "$name" timeout 90 systemctl is-system-running --wait 2>/dev/null) || true
  log "$name booted (init pid ${CT_LEADER[$name]}): $state"
  case $state in
  running) ;;
  degraded) ct "$name" systemctl --no-legend --failed >&2 || true ;;
  *)
    tail -n 30 "$logf" >&2
    return 1
    ;;
  esac
}

# The container's init: nspawn's child whose PID namespace differs from ours.
_ct_find_leader() {
  local name=$1 nspawn child
  nspawn=${CT_NSPAWN[$name]}
  kill -0 "$nspawn" 2>/dev/null || return 1
  for child in $(ps -o pid= --ppid "$nspawn"); do
    if [[ $(readlink "/proc/$child/ns/pid") != "$(readlink /proc/self/ns/pid)" ]] &&
      [[ $(cat "/proc/$child/comm" 2>/dev/null) == systemd ]]; then
      CT_LEADER[$name]=$child
      return 0
    fi
  done
  return 1
}

# ct NAME CMD...: runs CMD inside the container (all its namespaces, a clean environment).
ct() {
  local name=$1
  shift
  nsenter -t "${CT_LEADER[$name]}" -a \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# ct_prop NAME UNIT PROPERTY: one property of a unit, from the container's systemd.
ct_prop() {
  ct "$1" systemctl show -P "$3" "$2"
}

# container_stop NAME: orderly poweroff (bounded), then SIGKILL if needed.
container_stop() {
  local name=$1 nspawn
  nspawn=${CT_NSPAWN[$name]:-}
  [[ -n $nspawn ]] || return 0
  if kill -0 "$nspawn" 2>/dev/null; then
    # SIGTERM makes nspawn ask the container's systemd for a clean poweroff.
    kill -TERM "$nspawn" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$nspawn" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$nspawn" 2>/dev/null; then
      log "$name did not power off in 30s; killing it"
      kill -KILL "${CT_LEADER[$name]:-$nspawn}" "$nspawn" 2>/dev/null || true
    fi
  fi
  wait "$nspawn" 2>/dev/null || true
  log "$name powered off"
  unset "CT_NSPAWN[$name]"
}
