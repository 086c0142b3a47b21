#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Whole-machine tests of the packages (`make e2e-packages`): the cloud-init examples'
# schema, `make install` vs the .deb, the .rpm's contents and scriptlets, the .deb on a
# booted Debian 12 with the k3s stand-in, and each cloud-init example booting a fresh
# machine. Each suite runs in its own process (its own cleanup); every counted check is
# one line in the results file. Ends with "N passed, M failed"; exit 1 if any failed.
#
# usage: run.sh RELEASE_DIR PACKAGES_DIR   (as root, on Debian 12)
# env:   E2E_CACHE (default /var/cache/aio-prep-e2e), E2E_MIRROR, E2E_KEEP=1 (keep work dirs),
#        E2E_SUITES="schema install rpm deb cloud-init" (a subset, in that order)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/rootfs.sh
source "$here/lib/rootfs.sh"
E2E_SUITE=run

release=$(cd "${1:?usage: run.sh RELEASE_DIR PACKAGES_DIR}" && pwd)
packages=$(cd "${2:?usage: run.sh RELEASE_DIR PACKAGES_DIR}" && pwd)
repo=$(cd "$here/../.." && pwd)

# The packages of the version in Cargo.toml (target/packages may hold older ones).
package_paths() {
  local version
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
  DEB="$packages/aio-prep_${version}-1_$(dpkg --print-architecture).deb"
  RPM="$packages/aio-prep-${version}-1.$(uname -m).rpm"
  local f
  for f in "$DEB" "$RPM" "$release/aio-prep" "$release/k3s-standin" "$release/azure-emulator"; do
    [[ -f $f ]] || die "missing $f (make deb rpm; cargo build --workspace --release)"
  done
}

# run_suite NAME SCRIPT ARGS...: runs a suite in its own session (process group), so an
# interrupt reaches all of it through stop_suite; a suite that dies without recording a
# failure still counts as one.
SUITE_PID=""
run_suite() {
  local suite=$1 script=$2 before rc=0 t0=$SECONDS
  shift 2
  before=$(grep -c '^FAIL' "$E2E_RESULTS" || true)
  log "── $suite"
  setsid bash "$here/$script" "$@" &
  SUITE_PID=$!
  wait "$SUITE_PID" || rc=$?
  SUITE_PID=""
  if ((rc != 0)) && (($(grep -c '^FAIL' "$E2E_RESULTS" || true) == before)); then
    echo "FAIL $suite: exited $rc" >>"$E2E_RESULTS"
  fi
  log "── $suite done in $((SECONDS - t0))s"
}

# On SIGINT/SIGTERM: SIGTERM to the running suite's whole group (its containers power off,
# the emulator exits, its own trap cleans up), wait for it, then die by the same signal.
stop_suite() {
  local sig=$1
  trap - EXIT "$sig"
  if [[ -n $SUITE_PID ]]; then
    log "interrupted (SIG$sig): stopping the running suite"
    kill -TERM -- "-$SUITE_PID" 2>/dev/null || true
    wait "$SUITE_PID" 2>/dev/null || true
  fi
  run_cleanups
  kill -s "$sig" "$$"
}

# Every suite cleans up after itself, even on failure: nothing of ours may be left.
leftovers() {
  local left
  left=$(
    pgrep -af 'systemd-nspawn .*-M aioprep-|azure-emulator serve --dir /tmp/aio-prep-e2e-' || true
    ip netns list | grep '^aioprep-' || true
    grep ' /tmp/aio-prep-e2e-' /proc/mounts || true
    compgen -G '/tmp/aio-prep-e2e-*' || true
  )
  [[ -z $left ]] || fail_because "left behind: $(echo "$left" | tr '\n' ' ')"
}

wanted() {
  [[ " ${E2E_SUITES:-schema install rpm deb cloud-init} " == *" $1 "* ]]
}

main() {
  require_root
  local t0=$SECONDS
  bash "$here/deps.sh"
  package_paths
  E2E_RESULTS=$(mktemp /tmp/aio-prep-results.XXXXXX)
  export E2E_RESULTS
  on_exit rm -f "$E2E_RESULTS"
  trap run_cleanups EXIT
  trap 'stop_suite INT' INT
  trap 'stop_suite TERM' TERM
  local t1=$SECONDS tree
  tree=$(ensure_rootfs)
  log "Debian tree: $tree ($((SECONDS - t1))s)"

  wanted schema && run_suite schema schema.sh "$release/aio-prep"
  wanted install && run_suite install make-install.sh "$DEB"
  wanted rpm && run_suite rpm rpm.sh "$RPM"
  wanted deb && run_suite deb deb.sh "$release" "$DEB"
  wanted cloud-init && run_suite cloud-init cloud-init.sh "$release" "$DEB"
  [[ ${E2E_KEEP:-0} == 1 ]] || check "cleanup: no container, emulator, netns, mount or work dir left" leftovers || true

  local passed failed
  passed=$(grep -c '^PASS' "$E2E_RESULTS" || true)
  failed=$(grep -c '^FAIL' "$E2E_RESULTS" || true)
  if ((failed > 0)); then
    echo "Failed:" >&2
    sed -n 's/^FAIL /  /p' "$E2E_RESULTS" >&2
  fi
  echo "e2e-packages: $passed passed, $failed failed ($((SECONDS - t0))s)"
  ((failed == 0 && passed > 0))
}

main "$@"
