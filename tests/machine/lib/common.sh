# shellcheck shell=bash
# Logging, counted checks, bounded waits and an always-run cleanup stack for the
# whole-machine tests. Sourced by tests/machine/*.sh; needs bash 5.

E2E_SUITE=${E2E_SUITE:-e2e}
# Every check appends one line here ("PASS name" / "FAIL name"); run.sh counts them.
E2E_RESULTS=${E2E_RESULTS:-/dev/null}
_cleanups=()

log() { printf '%s [%s] %s\n' "$(date +%T)" "$E2E_SUITE" "$*" >&2; }
die() {
  log "FATAL: $*"
  exit 1
}

# Reason of the last failed assertion, printed by `check`.
_why=""
fail_because() {
  _why="$*"
  return 1
}

# check NAME CMD [ARGS...]: runs one assertion group; records and logs PASS or FAIL.
# Returns the command's status so a suite can stop when a later step depends on it.
# (Locals are prefixed: bash scoping is dynamic, and the checked functions set globals.)
check() {
  local _check_name=$1 _check_rc=0
  shift
  _why=""
  "$@" || _check_rc=$?
  if ((_check_rc == 0)); then
    echo "PASS $_check_name" >>"$E2E_RESULTS"
    log "PASS  $_check_name"
  else
    echo "FAIL $_check_name" >>"$E2E_RESULTS"
    log "FAIL  $_check_name${_why:+ — $_why} (rc $_check_rc)"
  fi
  return "$_check_rc"
}

# A suite that cannot go on records one failure for what it could not check.
abort_suite() {
  echo "FAIL $E2E_SUITE: aborted: $*" >>"$E2E_RESULTS"
  die "$*"
}

# wait_until SECONDS WHAT CMD [ARGS...]: polls CMD every 0.2 s until it succeeds.
wait_until() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# on_exit CMD [ARGS...]: registers a cleanup; cleanups run last-in first-out when the
# shell exits for any reason (success, failure, signal).
on_exit() {
  local quoted
  printf -v quoted '%q ' "$@"
  _cleanups+=("$quoted")
}

run_cleanups() {
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_cleanups[i]}" || log "cleanup failed: ${_cleanups[i]}"
  done
  _cleanups=()
}

# On SIGINT/SIGTERM: clean up, then die by the same signal, so the calling shell (run.sh,
# make) sees the signal and stops too instead of going on with the next suite.
install_cleanup_trap() {
  trap run_cleanups EXIT
  trap '_die_by_signal INT' INT
  trap '_die_by_signal TERM' TERM
}

_die_by_signal() {
  trap - EXIT "$1"
  log "interrupted (SIG$1): cleaning up"
  run_cleanups
  kill -s "$1" "$$"
}

# contains FILE TEXT: fixed-string match, with the reason on failure.
file_contains() {
  grep -qF -- "$2" "$1" 2>/dev/null || fail_because "$1 does not contain '$2'"
}

file_lacks() {
  ! grep -qF -- "$2" "$1" 2>/dev/null || fail_because "$1 contains '$2'"
}

# keep_or_remove DIR: removes DIR at exit, unless E2E_KEEP=1 (to look at logs and trees).
keep_or_remove() {
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    on_exit log "kept $1 (E2E_KEEP=1)"
  else
    on_exit rm -rf "$1"
  fi
}

require_root() {
  ((EUID == 0)) || die "must run as root (debootstrap, mounts, systemd-nspawn)"
}
