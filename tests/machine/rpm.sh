#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Suite (iii): the .rpm. Its contents, config flags and scriptlets as rpm reports them
# (`rpm -qlp --scripts --configfiles`), then install, upgrade and erase with
# `rpm --root` into an overlay of the Debian tree, so the plain-shell scriptlets really run
# (chrooted, /bin/sh and systemctl present, no running systemd): they must not fail, must
# enable the unit through its preset, never start anything, and erase must leave k3s's
# files alone.
#
# usage: rpm.sh RPM   (as root; run.sh calls it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/rootfs.sh
source "$here/lib/rootfs.sh"
E2E_SUITE=rpm

rpm_file=${1:?usage: rpm.sh RPM}
repo=$(cd "$here/../.." && pwd)
WORK=""
ROOT=""
WANTS=/etc/systemd/system/multi-user.target.wants/aio-prep.service

rpmq() { rpm -qp "$@" "$rpm_file" 2>/dev/null; }
rpmr() { rpm --root "$ROOT" "$@"; }

step_contents() {
  local files f
  # The operator's view, kept in the work dir: files, scriptlets and config files at once.
  rpm -qlp --scripts --configfiles "$rpm_file" >"$WORK/rpm-qlp.txt" 2>/dev/null ||
    fail_because "rpm -qlp --scripts --configfiles failed" || return 1
  file_contains "$WORK/rpm-qlp.txt" "postinstall scriptlet (using /bin/sh):" || return 1
  file_contains "$WORK/rpm-qlp.txt" "/etc/aio-prep/config.toml" || return 1
  files=$(rpmq -l)
  for f in /usr/bin/aio-prep /etc/aio-prep/config.toml /usr/lib/systemd/system/aio-prep.service \
    /usr/lib/systemd/system-preset/90-aio-prep.preset /usr/share/man/man1/aio-prep.1.gz \
    /usr/share/bash-completion/completions/aio-prep /usr/share/zsh/site-functions/_aio-prep \
    /usr/share/fish/vendor_completions.d/aio-prep.fish; do
    grep -qxF "$f" <<<"$files" || fail_because "$f not in the package" || return 1
  done
  grep -qE 'k3s-standin|azure-emulator|testbed' <<<"$files" && fail_because "a test tool is packaged" && return 1
  [[ $(rpmq --configfiles) == /etc/aio-prep/config.toml ]] || fail_because "config files: $(rpmq --configfiles)" || return 1
  # %{FILEFLAGS:fflags}: c = config, n = noreplace.
  [[ $(rpmq --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' | grep '^/etc/aio-prep/config.toml ') == *cn* ]] ||
    fail_because "config.toml is not %config(noreplace)" || return 1
  [[ $(rpmq --qf '[%{FILENAMES} %{FILEMODES:perms}\n]' | grep '^/usr/bin/aio-prep ') == *-rwxr-xr-x ]] ||
    fail_because "/usr/bin/aio-prep is not 0755"
}

step_scriptlets() {
  local scripts
  scripts=$(rpmq --scripts)
  printf '%s\n' "$scripts" >"$WORK/scripts.txt"
  [[ $scripts == *"postinstall scriptlet"* && $scripts == *"preuninstall scriptlet"* &&
    $scripts == *"postuninstall scriptlet"* ]] || fail_because "missing scriptlets" || return 1
  local code
  code=$(grep -v -e '^[[:space:]]*#' -e 'scriptlet' <<<"$scripts")
  # cargo-generate-rpm does not expand macros: no % may be left in the code.
  ! grep -q '%' <<<"$code" || fail_because "an rpm macro was left in a scriptlet" || return 1
  # Nothing may start the unit or touch k3s.
  ! grep -qE 'systemctl[^|;]*(start|restart|reload-or)|k3s|aio-prep apply' <<<"$code" ||
    fail_because "a scriptlet starts something or touches k3s" || return 1
  [[ $(rpmq --qf '%{POSTINPROG} %{PREUNPROG} %{POSTUNPROG}') == '/bin/sh /bin/sh /bin/sh' ]] ||
    fail_because "scriptlets are not /bin/sh"
}

# A stand-in for k3s's files, to prove erase leaves them alone.
_fake_k3s_files() {
  mkdir -p "$ROOT/etc/rancher/k3s" "$ROOT/var/lib/rancher/k3s/server"
  printf 'kube-apiserver-arg:\n  - "service-account-issuer=https://example.invalid/x"\n' >"$ROOT/etc/rancher/k3s/config.yaml"
  echo token >"$ROOT/var/lib/rancher/k3s/server/token"
  mkdir -p "$ROOT/var/lib/aio-prep/backups" "$ROOT/run/aio-prep"
  : >"$ROOT/run/aio-prep/lock"
}

step_install() {
  rpmr --initdb || fail_because "rpm --initdb failed" || return 1
  rpmr -i --nodeps "$rpm_file" >"$WORK/rpm-i.log" 2>&1 || fail_because "rpm -i: $(cat "$WORK/rpm-i.log")" || return 1
  # rpm prints scriptlet failures as warnings and still exits 0: none allowed.
  ! grep -qi 'scriptlet\|warning\|error' "$WORK/rpm-i.log" || fail_because "rpm -i: $(cat "$WORK/rpm-i.log")" || return 1
  [[ -L $ROOT$WANTS ]] || fail_because "the preset did not enable aio-prep.service" || return 1
  [[ $(readlink "$ROOT$WANTS") == */aio-prep.service ]] || fail_because "wrong symlink" || return 1
  cmp -s "$repo/packaging/config.toml" "$ROOT/etc/aio-prep/config.toml" || fail_because "config.toml differs" || return 1
  [[ -x $ROOT/usr/bin/aio-prep ]] || fail_because "no /usr/bin/aio-prep" || return 1
  chroot "$ROOT" /usr/bin/aio-prep --config /etc/aio-prep/config.toml config show >/dev/null ||
    fail_because "the installed binary cannot read the installed config"
}

step_upgrade() {
  local upgrade=$1
  echo '# edited by the operator' >>"$ROOT/etc/aio-prep/config.toml"
  rpmr -U --nodeps "$upgrade" >"$WORK/rpm-U.log" 2>&1 || fail_because "rpm -U: $(cat "$WORK/rpm-U.log")" || return 1
  ! grep -qi 'scriptlet\|warning\|error' "$WORK/rpm-U.log" || fail_because "rpm -U: $(cat "$WORK/rpm-U.log")" || return 1
  [[ $(rpmr -q --qf '%{RELEASE}' aio-prep) == 99 ]] || fail_because "not upgraded to release 99" || return 1
  file_contains "$ROOT/etc/aio-prep/config.toml" '# edited by the operator' || return 1
  [[ -L $ROOT$WANTS ]] || fail_because "upgrade disabled the unit"
}

step_erase() {
  _fake_k3s_files
  local before
  before=$(cd "$ROOT" && find etc/rancher var/lib/rancher -type f -print0 | sort -z | xargs -0 sha256sum)
  rpmr -e --nodeps aio-prep >"$WORK/rpm-e.log" 2>&1 || fail_because "rpm -e: $(cat "$WORK/rpm-e.log")" || return 1
  ! grep -qi 'scriptlet\|error' "$WORK/rpm-e.log" || fail_because "rpm -e: $(cat "$WORK/rpm-e.log")" || return 1
  [[ ! -e $ROOT/usr/bin/aio-prep && ! -L $ROOT$WANTS ]] || fail_because "binary or unit symlink left" || return 1
  [[ ! -e $ROOT/run/aio-prep ]] || fail_because "/run/aio-prep left" || return 1
  [[ -d $ROOT/var/lib/aio-prep/backups ]] || fail_because "erase removed the backups" || return 1
  [[ $(cd "$ROOT" && find etc/rancher var/lib/rancher -type f -print0 | sort -z | xargs -0 sha256sum) == "$before" ]] ||
    fail_because "k3s's files changed"
}

main() {
  require_root
  install_cleanup_trap
  local tree upgrade
  tree=$(ensure_rootfs)
  WORK=$(mktemp -d /tmp/aio-prep-e2e-rpm.XXXXXX)
  keep_or_remove "$WORK"
  (cd "$repo" && cargo generate-rpm --auto-req builtin -s 'release = "99"' -o "$WORK/") \
    >"$WORK/upgrade.log" 2>&1 || abort_suite "cannot build the upgrade rpm: $(tail -n 5 "$WORK/upgrade.log")"
  upgrade=$(echo "$WORK"/*-99.*.rpm)
  overlay_up "$tree" "$WORK"
  ROOT=$WORK/root

  check "rpm: contents, %config(noreplace) config.toml, no test tools" step_contents || true
  check "rpm: plain-shell scriptlets, no macros, start nothing, never touch k3s" step_scriptlets || true
  check "rpm: rpm -i --root runs the scriptlets without systemd, preset enables the unit" step_install ||
    abort_suite "install failed"
  check "rpm: rpm -U keeps the edited config, unit stays enabled" step_upgrade "$upgrade" || true
  check "rpm: rpm -e disables the unit, removes /run/aio-prep, keeps backups and k3s's files" step_erase || true
}

main "$@"
