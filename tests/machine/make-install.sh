#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make install DESTDIR=... PREFIX=...` installs the very files the .deb ships (same
# paths, modes and bytes, from the same packaging/ tree), points the unit at PREFIX's
# binary for other prefixes, and never overwrites an operator's config.toml.
#
# usage: make-install.sh DEB
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
E2E_SUITE=install

deb=${1:?usage: make-install.sh DEB}
repo=$(cd "$here/../.." && pwd)
WORK=""

make_install() {
  make -s -C "$repo" install DESTDIR="$1" PREFIX="$2" >"$WORK/make-install.log" 2>&1 ||
    fail_because "make install failed: $(tail -n 5 "$WORK/make-install.log")"
}

# "mode path" of every file under a tree.
listing() {
  (cd "$1" && find . -type f -printf '%m %p\n' | sort)
}

step_same_as_deb() {
  make_install "$WORK/usr-stage" /usr || return 1
  dpkg-deb -x "$deb" "$WORK/deb" || fail_because "dpkg-deb -x failed" || return 1
  local mode path
  while read -r mode path; do
    [[ -f $WORK/deb/$path ]] || fail_because "$path is not in the .deb" || return 1
    [[ $(stat -c %a "$WORK/deb/$path") == "$mode" ]] || fail_because "$path: mode $mode, .deb has another" || return 1
    cmp -s "$WORK/usr-stage/$path" "$WORK/deb/$path" || fail_because "$path differs from the .deb's" || return 1
  done < <(listing "$WORK/usr-stage")
  # What the .deb has beyond `make install`: only documentation.
  local extra
  extra=$(comm -13 <(listing "$WORK/usr-stage" | cut -d' ' -f2 | sort) <(listing "$WORK/deb" | cut -d' ' -f2 | sort) |
    grep -v '^\./usr/share/doc/aio-prep/' || true)
  [[ -z $extra ]] || fail_because "only in the .deb: $extra"
}

step_prefix_and_config_kept() {
  local d=$WORK/local-stage
  mkdir -p "$d/etc/aio-prep"
  printf '[k3s]\ntarget = "dropin"  # mine\n' >"$d/etc/aio-prep/config.toml"
  make_install "$d" /usr/local || return 1
  file_contains "$d/usr/local/lib/systemd/system/aio-prep.service" "ExecStart=/usr/local/bin/aio-prep apply" || return 1
  [[ -x $d/usr/local/bin/aio-prep ]] || fail_because "no /usr/local/bin/aio-prep" || return 1
  file_contains "$d/etc/aio-prep/config.toml" 'target = "dropin"  # mine' || return 1
  cmp -s "$repo/packaging/config.toml" "$d/etc/aio-prep/config.toml.dist" || fail_because "no config.toml.dist"
}

main() {
  install_cleanup_trap
  WORK=$(mktemp -d /tmp/aio-prep-e2e-install.XXXXXX)
  keep_or_remove "$WORK"
  check "make install DESTDIR PREFIX=/usr: the .deb's files, modes and bytes (minus docs)" step_same_as_deb || true
  check "make install PREFIX=/usr/local: unit runs that binary, existing config.toml kept" \
    step_prefix_and_config_kept || true
}

main "$@"
