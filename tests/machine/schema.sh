#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The cloud-init examples, statically: Debian 12's own `cloud-init schema --config-file`
# (22.4.2, run inside the cached Debian tree, so the host needs no cloud-init) says each is
# valid, and says an unquoted `permissions: 0600` is not (so "valid" means something); the
# config.toml each one writes parses with the built aio-prep and says what the example
# claims (offline issuer / client-secret file that write_files makes 0600 / arc-identity).
#
# usage: schema.sh AIO_PREP_BINARY   (as root; run.sh calls it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/rootfs.sh
source "$here/lib/rootfs.sh"
E2E_SUITE=schema

bin=${1:?usage: schema.sh AIO_PREP_BINARY}
repo=$(cd "$here/../.." && pwd)
examples=$repo/packaging/cloud-init
TREE=""
WORK=""

# in_cached_tree CMD...: runs CMD in the cached tree (throwaway overlay, /work bound rw,
# stdin passed through).
in_cached_tree() {
  systemd-nspawn -q --pipe -D "$TREE" --volatile=overlay --register=no --keep-unit \
    --bind="$WORK:/work" "$@" 2>&1 | grep -v 'Attempted to remove disk file system' || true
}

schema_valid() {
  local f=$1 out
  cp "$f" "$WORK/check.yaml"
  out=$(in_cached_tree cloud-init schema --config-file /work/check.yaml)
  [[ $out == *"Valid cloud-config: /work/check.yaml"* ]] || fail_because "$(basename "$f"): $out"
}

step_negative_control() {
  local out
  sed "s/permissions: '0600'/permissions: 0600/" "$examples/service-principal.yaml" >"$WORK/check.yaml"
  grep -q 'permissions: 0600$' "$WORK/check.yaml" || fail_because "no 0600 to unquote" || return 1
  out=$(in_cached_tree cloud-init schema --config-file /work/check.yaml)
  [[ $out != *"Valid cloud-config"* && $out == *permissions* ]] ||
    fail_because "unquoted permissions not reported: $out"
}

# Writes each write_files entry of EXAMPLE to WORK/files/<example>/<path with / as _>, and
# "path permissions owner" lines to .../manifest (cloud-init's own PyYAML does the parsing).
extract_files() {
  local ex=$1
  mkdir -p "$WORK/files/$ex"
  cp "$examples/$ex.yaml" "$WORK/files/$ex.yaml"
  in_cached_tree python3 - "/work/files/$ex.yaml" "/work/files/$ex" <<'EOF' >/dev/null
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
out = sys.argv[2]
with open(os.path.join(out, "manifest"), "w") as m:
    for f in doc.get("write_files", []):
        m.write("%s %s %s\n" % (f["path"], f.get("permissions", "-"), f.get("owner", "-")))
        with open(os.path.join(out, f["path"].strip("/").replace("/", "_")), "w") as c:
            c.write(f.get("content", ""))
with open(os.path.join(out, "runcmd"), "w") as r:
    for c in doc.get("runcmd", []):
        r.write(" ".join(c) if isinstance(c, list) else c)
        r.write("\n")
EOF
  [[ -s $WORK/files/$ex/manifest ]]
}

# show EXAMPLE: `aio-prep config show` of the config.toml the example writes.
show() {
  mkdir -p "$WORK/empty-root"
  "$bin" --root "$WORK/empty-root" --config "$WORK/files/$1/etc_aio-prep_config.toml" config show
}

example_ok() {
  local ex=$1 shown
  schema_valid "$examples/$ex.yaml" || return 1
  head -n 1 "$examples/$ex.yaml" | grep -qx '#cloud-config' || fail_because "first line is not #cloud-config" || return 1
  extract_files "$ex" || fail_because "cannot read write_files" || return 1
  grep -qx "/etc/aio-prep/config.toml 0644 root:root" "$WORK/files/$ex/manifest" ||
    fail_because "no 0644 /etc/aio-prep/config.toml in write_files" || return 1
  [[ $(head -n 1 "$WORK/files/$ex/runcmd") == "set -e" ]] || fail_because "runcmd does not start with set -e" || return 1
  grep -qx 'dpkg --force-confdef --force-confold -i /var/tmp/aio-prep.deb' "$WORK/files/$ex/runcmd" ||
    fail_because "runcmd does not install the .deb" || return 1
  [[ $(tail -n 1 "$WORK/files/$ex/runcmd") == "aio-prep apply" ]] ||
    fail_because "runcmd does not end with aio-prep apply" || return 1
  shown=$(show "$ex" 2>&1) || fail_because "aio-prep config show: $shown" || return 1
  case $ex in
  offline-issuer)
    grep -q '^url = "https://.*"  # .*config.toml:' <<<"$shown" || fail_because "no offline issuer: $shown"
    ;;
  service-principal)
    grep -qx "/etc/aio-prep/client-secret 0600 root:root" "$WORK/files/$ex/manifest" ||
      fail_because "secret not written 0600 root" || return 1
    grep -q '^method = "client-secret"' <<<"$shown" || fail_because "not client-secret: $shown" || return 1
    grep -q '^client_secret_file = "/etc/aio-prep/client-secret"' <<<"$shown" ||
      fail_because "config does not use the 0600 secret file: $shown"
    ;;
  arc-identity)
    grep -q '^method = "arc-identity"' <<<"$shown" || fail_because "not arc-identity: $shown" || return 1
    ! grep -q 'secret' "$WORK/files/$ex/manifest" || fail_because "a secret is written"
    ;;
  esac
}

main() {
  require_root
  install_cleanup_trap
  TREE=$(ensure_rootfs)
  WORK=$(mktemp -d /tmp/aio-prep-e2e-schema.XXXXXX)
  keep_or_remove "$WORK"
  local ex
  for ex in offline-issuer service-principal arc-identity; do
    check "schema $ex: valid for cloud-init 22.4.2, config.toml parses and says what it claims" example_ok "$ex" || true
  done
  check "schema: unquoted permissions 0600 is reported as invalid (the validator bites)" step_negative_control || true
}

main "$@"
