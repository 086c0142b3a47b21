#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Suite (i): the .deb on a booted Debian 12 (systemd-nspawn --boot: real PID-1 systemd and
# system bus) running the k3s stand-in as k3s.service. The maintainer scripts run against
# that systemd: install and upgrade enable the unit but start nothing and never restart
# k3s; apply (offline issuer) restarts k3s once and k3s serves the issuer; the unit runs
# apply at the next boot after k3s; remove and purge leave k3s's files alone and purge
# removes aio-prep's own state.
#
# usage: deb.sh RELEASE_DIR DEB   (as root; run.sh calls it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/rootfs.sh
source "$here/lib/rootfs.sh"
# shellcheck source=lib/container.sh
source "$here/lib/container.sh"
# shellcheck source=lib/k3s.sh
source "$here/lib/k3s.sh"
E2E_SUITE=deb

release=${1:?usage: deb.sh RELEASE_DIR DEB}
deb=${2:?usage: deb.sh RELEASE_DIR DEB}
repo=$(cd "$here/../.." && pwd)
NAME=aioprep-deb
ISSUER="https://eastus.oic.prod-arc.azure.com/0d3f6a1e-1111-4c2b-9e5f-aio-prep-e2e/deb-suite/"

# State captured between steps.
K3S_PID=""
K3S_COUNT=0
WORK=""
ROOT=""

# --- helpers -------------------------------------------------------------------------

remember_k3s() {
  K3S_PID=$(ct_prop "$NAME" k3s.service MainPID)
  K3S_COUNT=$(k3s_starts "$ROOT")
}

# k3s is still the same process, started no more times, and active.
k3s_untouched() {
  local pid count
  pid=$(ct_prop "$NAME" k3s.service MainPID)
  count=$(k3s_starts "$ROOT")
  [[ $pid == "$K3S_PID" ]] || fail_because "k3s MainPID changed: $K3S_PID -> $pid" || return 1
  [[ $count == "$K3S_COUNT" ]] || fail_because "k3s started again: $K3S_COUNT -> $count starts" || return 1
  ct "$NAME" systemctl is-active --quiet k3s.service || fail_because "k3s.service is not active"
}

# aio-prep.service is enabled but has never run in this boot, and apply has not run.
unit_enabled_not_started() {
  local enabled started active
  enabled=$(ct "$NAME" systemctl is-enabled aio-prep.service 2>&1 || true)
  active=$(ct_prop "$NAME" aio-prep.service ActiveState)
  started=$(ct_prop "$NAME" aio-prep.service ExecMainStartTimestampMonotonic)
  [[ $enabled == enabled ]] || fail_because "aio-prep.service is '$enabled', not enabled" || return 1
  [[ $active == inactive && $started == 0 ]] ||
    fail_because "aio-prep.service ran: ActiveState=$active ExecMainStartTimestampMonotonic=$started" || return 1
  [[ ! -e $ROOT/run/aio-prep ]] || fail_because "/run/aio-prep exists: apply ran"
}

# ct_logged NAME LOG CMD...: runs CMD in the container, output to LOG; status of CMD.
ct_logged() {
  local logf=$2 rc=0
  ct "$1" "${@:3}" >"$logf" 2>&1 || rc=$?
  ((rc == 0)) || { log "'${*:3}' exited $rc:"; sed 's/^/    /' "$logf" >&2; }
  return "$rc"
}

# --- steps (each one counted check) ----------------------------------------------------

step_boot() {
  wait_k3s_active "$NAME" || fail_because "k3s.service not active" || return 1
  [[ $(k3s_starts "$ROOT") == 1 && $(k3s_last_result "$ROOT") == ready ]] ||
    fail_because "expected one ready start, starts.log: $(cat "$ROOT$STANDIN_LOG" 2>/dev/null)"
}

step_install() {
  remember_k3s
  ct_logged "$NAME" "$WORK/dpkg-i.log" dpkg -i /var/tmp/aio-prep.deb || fail_because "dpkg -i failed" || return 1
  unit_enabled_not_started && k3s_untouched
}

step_files() {
  local conff version
  cmp -s "$repo/packaging/config.toml" "$ROOT/etc/aio-prep/config.toml" ||
    fail_because "/etc/aio-prep/config.toml differs from packaging/config.toml" || return 1
  [[ $(stat -c %a "$ROOT/etc/aio-prep/config.toml") == 644 ]] || fail_because "config.toml mode is not 0644" || return 1
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  conff=$(ct "$NAME" dpkg-query -W -f='${Conffiles}' aio-prep)
  [[ $conff == *"/etc/aio-prep/config.toml "* ]] || fail_because "config.toml is not a conffile: $conff" || return 1
  version=$(ct "$NAME" aio-prep --version)
  [[ $version == "aio-prep "* ]] || fail_because "aio-prep --version: $version" || return 1
  local f
  for f in /usr/lib/systemd/system/aio-prep.service /usr/share/man/man1/aio-prep.1.gz \
    /usr/share/bash-completion/completions/aio-prep /usr/share/zsh/vendor-completions/_aio-prep \
    /usr/share/fish/vendor_completions.d/aio-prep.fish; do
    [[ -s $ROOT$f ]] || fail_because "$f missing" || return 1
  done
  ct_logged "$NAME" "$WORK/verify.log" systemd-analyze verify --man=no aio-prep.service ||
    fail_because "systemd-analyze verify aio-prep.service failed" || return 1
  ct_logged "$NAME" "$WORK/show.log" aio-prep config show || fail_because "config show failed"
}

# An upgrade (a newer revision of the package) after the unit has run at boot: the
# operator's edit of the conffile stays, the unit is not run again (same invocation), k3s
# is not restarted.
step_upgrade() {
  local upgrade=$1 invocation
  invocation=$(ct_prop "$NAME" aio-prep.service InvocationID)
  [[ -n $invocation && $(ct_prop "$NAME" aio-prep.service SubState) == exited ]] ||
    fail_because "aio-prep.service has not run in this boot" || return 1
  remember_k3s
  ct_logged "$NAME" "$WORK/dpkg-upgrade.log" dpkg -i /var/tmp/aio-prep-upgrade.deb ||
    fail_because "dpkg -i (upgrade) failed" || return 1
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  [[ $(ct "$NAME" dpkg-query -W -f='${Version}' aio-prep) == "$upgrade" ]] ||
    fail_because "installed version is not $upgrade" || return 1
  file_contains "$ROOT/etc/aio-prep/config.toml" "url = \"$ISSUER\"" || return 1
  [[ $(ct_prop "$NAME" aio-prep.service InvocationID) == "$invocation" ]] ||
    fail_because "aio-prep.service was run again by the upgrade" || return 1
  [[ $(ct "$NAME" systemctl is-enabled aio-prep.service) == enabled ]] ||
    fail_because "aio-prep.service no longer enabled" || return 1
  [[ ! -e $ROOT/etc/aio-prep/config.toml.dpkg-dist ]] || fail_because "dpkg asked about the conffile" || return 1
  k3s_untouched
}

step_apply() {
  ct_logged "$NAME" "$WORK/config-set.log" aio-prep config set issuer.url "$ISSUER" ||
    fail_because "config set failed" || return 1
  remember_k3s
  ct_logged "$NAME" "$WORK/apply.log" aio-prep apply || fail_because "aio-prep apply failed" || return 1
  local count pid issuer
  count=$(k3s_starts "$ROOT")
  pid=$(ct_prop "$NAME" k3s.service MainPID)
  issuer=$(k3s_last_issuer "$ROOT")
  ((count == K3S_COUNT + 1)) || fail_because "k3s started $((count - K3S_COUNT)) times, not once" || return 1
  [[ $pid != "$K3S_PID" ]] || fail_because "k3s MainPID unchanged: not restarted" || return 1
  [[ $(k3s_last_result "$ROOT") == ready ]] || fail_because "k3s did not come back ready" || return 1
  [[ $issuer == "$ISSUER" ]] || fail_because "k3s's first issuer is '$issuer'" || return 1
  file_contains "$ROOT$K3S_CONFIG" '- "audit-log-maxage=30"   # compliance wants 30 days' || return 1
  file_contains "$ROOT$K3S_CONFIG" "service-account-issuer=$ISSUER" || return 1
  ct_logged "$NAME" "$WORK/status.log" aio-prep status || fail_because "aio-prep status is not 0"
}

step_apply_again() {
  remember_k3s
  ct_logged "$NAME" "$WORK/apply2.log" aio-prep apply || fail_because "second apply failed" || return 1
  k3s_untouched
}

# Next boot: the enabled unit runs apply after k3s is up; the host is converged, so k3s
# starts once (the boot) and is not restarted.
step_reboot() {
  container_stop "$NAME"
  local before
  before=$(k3s_starts "$ROOT")
  container_boot "$NAME" "$ROOT" "$NS" "$WORK/console2.log" || fail_because "reboot failed" || return 1
  wait_k3s_active "$NAME" || fail_because "k3s not active after reboot" || return 1
  wait_until 60 "aio-prep.service to finish" _unit_done aio-prep.service || true
  local result status k3s_up aio_start
  result=$(ct_prop "$NAME" aio-prep.service Result)
  status=$(ct_prop "$NAME" aio-prep.service ExecMainStatus)
  [[ $(ct_prop "$NAME" aio-prep.service SubState) == exited && $result == success && $status == 0 ]] ||
    fail_because "aio-prep.service at boot: Result=$result ExecMainStatus=$status" || return 1
  k3s_up=$(ct_prop "$NAME" k3s.service ActiveEnterTimestampMonotonic)
  aio_start=$(ct_prop "$NAME" aio-prep.service ExecMainStartTimestampMonotonic)
  ((aio_start > k3s_up)) || fail_because "aio-prep started ($aio_start) before k3s was up ($k3s_up)" || return 1
  (($(k3s_starts "$ROOT") == before + 1)) || fail_because "k3s restarted by the boot-time apply" || return 1
  ct "$NAME" journalctl -u aio-prep.service --no-pager >"$WORK/boot-apply.journal" 2>&1 || true
  ct_logged "$NAME" "$WORK/status2.log" aio-prep status || fail_because "status after reboot is not 0"
}

_unit_done() {
  [[ $(ct_prop "$NAME" "$1" SubState) =~ ^(exited|failed|dead)$ ]] &&
    [[ $(ct_prop "$NAME" "$1" ExecMainStartTimestampMonotonic) != 0 ]]
}

step_remove() {
  rancher_manifest "$ROOT" >"$WORK/rancher.before"
  [[ -s $WORK/rancher.before ]] || fail_because "no k3s files to compare" || return 1
  remember_k3s
  ct_logged "$NAME" "$WORK/dpkg-r.log" dpkg -r aio-prep || fail_because "dpkg -r failed" || return 1
  [[ ! -e $ROOT/usr/bin/aio-prep ]] || fail_because "/usr/bin/aio-prep still there" || return 1
  [[ -f $ROOT/etc/aio-prep/config.toml ]] || fail_because "remove deleted the conffile" || return 1
  [[ -d $ROOT/var/lib/aio-prep/backups ]] || fail_because "remove deleted the backups" || return 1
  rancher_manifest "$ROOT" | cmp -s - "$WORK/rancher.before" || fail_because "k3s's files changed" || return 1
  k3s_untouched
}

step_purge() {
  ct_logged "$NAME" "$WORK/dpkg-P.log" dpkg -P aio-prep || fail_because "dpkg -P failed" || return 1
  local gone
  for gone in /etc/aio-prep/config.toml /var/lib/aio-prep /run/aio-prep \
    /etc/systemd/system/multi-user.target.wants/aio-prep.service; do
    [[ ! -e $ROOT$gone ]] || fail_because "$gone still there after purge" || return 1
  done
  rancher_manifest "$ROOT" | cmp -s - "$WORK/rancher.before" || fail_because "k3s's files changed" || return 1
  k3s_untouched
}

# --- main ------------------------------------------------------------------------------

main() {
  require_root
  install_cleanup_trap
  local tree upgrade_deb upgrade_version
  tree=$(ensure_rootfs)
  WORK=$(mktemp -d /tmp/aio-prep-e2e-deb.XXXXXX)
  keep_or_remove "$WORK"
  log "work dir $WORK"

  # The upgrade: the same build as a newer package revision.
  mkdir -p "$WORK/upgrade"
  (cd "$repo" && cargo deb --no-build --locked -p aio-prep --deb-revision 99 -o "$WORK/upgrade/") \
    >"$WORK/upgrade.log" 2>&1 || abort_suite "cannot build the upgrade package: $(tail -n 5 "$WORK/upgrade.log")"
  upgrade_deb=$(echo "$WORK"/upgrade/*.deb)
  upgrade_version=$(dpkg-deb -f "$upgrade_deb" Version)

  overlay_up "$tree" "$WORK"
  ROOT=$WORK/root
  touch "$ROOT/etc/cloud/cloud-init.disabled"
  stage_k3s "$ROOT" "$release"
  install -m 0644 "$deb" "$ROOT/var/tmp/aio-prep.deb"
  install -m 0644 "$upgrade_deb" "$ROOT/var/tmp/aio-prep-upgrade.deb"
  NS="aioprep-deb-$$"
  netns_create "$NS"
  container_boot "$NAME" "$ROOT" "$NS" "$WORK/console.log" || abort_suite "the container did not boot"

  check "deb: k3s stand-in active at boot (Type=notify, started once)" step_boot || abort_suite "k3s is not up"
  check "deb: dpkg -i enables aio-prep.service, starts nothing, k3s not restarted" step_install ||
    abort_suite "install failed"
  check "deb: binary, conffile (0644, = packaging/config.toml), unit verifies, man, completions" step_files || true
  check "deb: apply (offline issuer) restarts k3s once, k3s serves the issuer, status 0" step_apply ||
    abort_suite "apply failed"
  check "deb: second apply changes nothing (no restart)" step_apply_again || true
  check "deb: at the next boot aio-prep.service runs after k3s, succeeds, no restart" step_reboot ||
    abort_suite "reboot failed"
  check "deb: upgrade to $upgrade_version keeps the edited conffile, does not re-run the unit, k3s not restarted" \
    step_upgrade "$upgrade_version" || true
  check "deb: dpkg -r keeps conffile and backups, k3s and its files untouched" step_remove || true
  check "deb: dpkg -P removes aio-prep's state, k3s and its files untouched" step_purge || true
}

main "$@"
