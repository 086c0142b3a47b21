#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Suite (ii): each packaging/cloud-init example boots a fresh Debian 12 container as its
# NoCloud user-data. cloud-init's write_files writes the config (and the 0600 secret),
# runcmd installs the .deb and runs `aio-prep apply`; k3s (the stand-in) must come back
# with the issuer. The cloud examples talk to the Azure emulator on the container's
# loopback; what the test adds on the image side (not in the user-data) is
# /etc/aio-prep/config.d/90-e2e.toml (emulator endpoints, CA, coordinates, 200ms polls)
# and, for Arc, the agent's IDENTITY_ENDPOINT/IMDS_ENDPOINT as systemd default environment.
# The only change to an example's text is the service principal's secret value.
#
# usage: cloud-init.sh RELEASE_DIR DEB   (as root; run.sh calls it)
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
# shellcheck source=lib/emulator.sh
source "$here/lib/emulator.sh"
E2E_SUITE=cloud-init

release=${1:?usage: cloud-init.sh RELEASE_DIR DEB}
deb=${2:?usage: cloud-init.sh RELEASE_DIR DEB}
repo=$(cd "$here/../.." && pwd)
examples=$repo/packaging/cloud-init
SECRET_PLACEHOLDER=REPLACE-WITH-THE-CLIENT-SECRET-VALUE

# The example under test.
EX=""
NAME=""
ROOT=""
W=""
EMU=""
SECRET=""
# Extra environment for commands run by hand in the container (Arc endpoints).
CT_ENV=()

# --- image side ------------------------------------------------------------------------

_cloud_cfg() {
  cat <<'EOF'
# aio-prep e2e image: NoCloud seed only, no network configuration, no locale generation
# (minbase has no locales package; the schema wants a string, "false" skips the module).
datasource_list: [ NoCloud, None ]
network: {config: disabled}
locale: "false"
EOF
}

# seed ROOT USER_DATA: the NoCloud seed cloud-init reads at boot.
seed() {
  local r=$1 user_data=$2 seed_dir=$1/var/lib/cloud/seed/nocloud
  mkdir -p "$seed_dir"
  _cloud_cfg >"$r/etc/cloud/cloud.cfg.d/90-aio-prep-e2e.cfg"
  printf 'instance-id: aio-prep-e2e-%s-%s\nlocal-hostname: edge-%s\n' "$EX" "$$" "$EX" >"$seed_dir/meta-data"
  install -m 0600 "$user_data" "$seed_dir/user-data"
}

# emulator_config ROOT: aio-prep config.d drop-in pointing the example at the emulator.
emulator_config() {
  local r=$1
  mkdir -p "$r/etc/aio-prep/config.d"
  cat >"$r/etc/aio-prep/config.d/90-e2e.toml" <<EOF
# aio-prep e2e (image side, not part of the example): the Azure emulator as the cloud.
[azure]
arm_endpoint = "$(emulator_var "$EMU" AIO_PREP_AZURE_ARM_ENDPOINT)"
authority_host = "$(emulator_var "$EMU" AIO_PREP_AZURE_AUTHORITY_HOST)"
ca_file = "$(emulator_var "$EMU" AIO_PREP_AZURE_CA_FILE)"
poll_interval = "200ms"
subscription_id = "$(emulator_var "$EMU" AIO_PREP_AZURE_SUBSCRIPTION_ID)"
resource_group = "$(emulator_var "$EMU" AIO_PREP_AZURE_RESOURCE_GROUP)"
cluster_name = "$(emulator_var "$EMU" AIO_PREP_AZURE_CLUSTER_NAME)"
tenant_id = "$(emulator_var "$EMU" AZURE_TENANT_ID)"

[azure.auth]
client_id = "$(emulator_var "$EMU" AZURE_CLIENT_ID)"
EOF
}

# arc_environment ROOT: the Connected Machine agent's identity endpoints, for every service.
arc_environment() {
  local r=$1 identity imds
  identity=$(emulator_var "$EMU" IDENTITY_ENDPOINT)
  imds=$(emulator_var "$EMU" IMDS_ENDPOINT)
  [[ -n $identity && -n $imds ]] || return 1
  mkdir -p "$r/etc/systemd/system.conf.d"
  printf '[Manager]\nDefaultEnvironment="IDENTITY_ENDPOINT=%s" "IMDS_ENDPOINT=%s"\n' "$identity" "$imds" \
    >"$r/etc/systemd/system.conf.d/90-azcmagent-e2e.conf"
  CT_ENV=("IDENTITY_ENDPOINT=$identity" "IMDS_ENDPOINT=$imds")
}

# --- checks ----------------------------------------------------------------------------

step_cloud_init_done() {
  local status
  ct "$NAME" timeout 120 cloud-init status --wait >/dev/null 2>&1 || true
  status=$(ct "$NAME" cloud-init status --long 2>&1 || true)
  printf '%s\n' "$status" >"$W/cloud-init-status.txt"
  [[ $status == *"status: done"* ]] || fail_because "cloud-init: $(echo "$status" | tr '\n' ' ')" || return 1
  [[ $status == *DataSourceNoCloud* ]] || fail_because "not the NoCloud seed: $status" || return 1
  # cloud-init validates the merged config (image + user-data) at boot and only warns.
  file_lacks "$ROOT/var/log/cloud-init.log" "Invalid cloud-config" || return 1
  local warnings
  # The image has no ssh: the SSH modules' warnings are expected, nothing else.
  warnings=$(grep -F '[WARNING]' "$ROOT/var/log/cloud-init.log" |
    grep -v -e 'Failed generating key type' -e "SSH service 'ssh' is not installed" || true)
  [[ -z $warnings ]] || fail_because "cloud-init warned: $warnings" || return 1
  cp "$ROOT/var/log/cloud-init-output.log" "$W/" 2>/dev/null || true
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  [[ $(ct "$NAME" dpkg-query -W -f='${Status}' aio-prep) == "install ok installed" ]] ||
    fail_because "aio-prep is not installed and configured" || return 1
  file_contains "$ROOT/var/log/cloud-init-output.log" "changed (k3s restarted)" || return 1
  [[ $(ct "$NAME" systemctl is-enabled aio-prep.service) == enabled ]] || fail_because "unit not enabled"
}

# want_issuer: the issuer k3s must serve — the example's own URL (offline), else the
# emulator's discovery issuer, as the apply reported it.
want_issuer() {
  if [[ $EX == offline-issuer ]]; then
    sed -n 's/^ *url = "\(.*\)"$/\1/p' "$examples/offline-issuer.yaml"
  else
    sed -n 's/^✓ issuer *\(https:[^ ]*\) (from discovery)$/\1/p' "$ROOT/var/log/cloud-init-output.log" | tail -n 1
  fi
}

step_issuer_served() {
  local want got
  want=$(want_issuer)
  got=$(k3s_last_issuer "$ROOT")
  [[ -n $want ]] || fail_because "no issuer reported by apply" || return 1
  if [[ $EX != offline-issuer ]]; then
    local base tenant
    base=$(emulator_var "$EMU" AZURE_EMULATOR_HTTPS_URL)
    tenant=$(emulator_var "$EMU" AZURE_TENANT_ID)
    [[ $want =~ ^$base/oidc/$tenant/[0-9a-f-]{36}$ ]] || fail_because "'$want' is not the emulator's issuer" || return 1
  fi
  [[ $got == "$want" ]] || fail_because "k3s's first issuer is '$got', want '$want'" || return 1
  [[ $(k3s_starts "$ROOT") == 2 && $(k3s_last_result "$ROOT") == ready ]] ||
    fail_because "expected boot start + one restart, ready: $(k3s_starts "$ROOT") starts" || return 1
  file_contains "$ROOT$K3S_CONFIG" '- "audit-log-maxage=30"   # compliance wants 30 days' || return 1
  ct "$NAME" env "${CT_ENV[@]}" aio-prep status >"$W/status.log" 2>&1 ||
    fail_because "aio-prep status: $(tail -n 3 "$W/status.log" | tr '\n' ' ')"
}

step_secret_file() {
  local f=$ROOT/etc/aio-prep/client-secret
  [[ $(stat -c '%a %U' "$f") == "600 root" ]] || fail_because "client-secret is $(stat -c '%a %U' "$f")" || return 1
  [[ $(cat "$f") == "$SECRET" ]] || fail_because "client-secret does not hold the secret" || return 1
  local leaks
  leaks=$(grep -rlF -- "$SECRET" "$ROOT/var/log" "$W"/*.log "$W"/*.txt 2>/dev/null || true)
  [[ -z $leaks ]] || fail_because "the secret appears in: $leaks" || return 1
  ct "$NAME" journalctl --no-pager -o cat >"$W/journal.txt" 2>&1 || true
  file_lacks "$W/journal.txt" "$SECRET"
}

step_arc_challenge() {
  compgen -G "$ROOT/var/opt/azcmagent/tokens/*.key" >/dev/null ||
    fail_because "no HIMDS challenge key was written: Arc identity not used" || return 1
  [[ ! -e $ROOT/etc/aio-prep/client-secret ]] || fail_because "a client secret is on the machine"
}

# --- one example -------------------------------------------------------------------------

run_example() {
  EX=$1
  NAME="aioprep-ci-$EX"
  W=$WORK/$EX
  ROOT=$W/root
  CT_ENV=()
  mkdir -p "$W"
  overlay_up "$TREE" "$W"
  stage_k3s "$ROOT" "$release"
  install -m 0644 "$deb" "$ROOT/var/tmp/aio-prep.deb"
  local ns="aioprep-ci-$EX-$$" user_data=$W/user-data
  netns_create "$ns"
  cp "$examples/$EX.yaml" "$user_data"
  if [[ $EX != offline-issuer ]]; then
    EMU=$W/emulator
    local flags=()
    [[ $EX == arc-identity ]] && flags=(--arc-identity)
    emulator_start "$ns" "$EMU" "$ROOT" "$release" "${flags[@]}" || { fail_because "emulator did not start"; return 1; }
    emulator_config "$ROOT"
  fi
  if [[ $EX == service-principal ]]; then
    SECRET=$(cat "$EMU/client-secret")
    grep -qF "content: $SECRET_PLACEHOLDER" "$user_data" || { fail_because "secret placeholder not in example"; return 1; }
    sed -i "s|content: $SECRET_PLACEHOLDER|content: $SECRET|" "$user_data"
  fi
  if [[ $EX == arc-identity ]]; then
    arc_environment "$ROOT" || { fail_because "emulator exported no Arc endpoints"; return 1; }
  fi
  seed "$ROOT" "$user_data"
  container_boot "$NAME" "$ROOT" "$ns" "$W/console.log" || { fail_because "container did not boot"; return 1; }
}

example_suite() {
  local ex=$1
  check "cloud-init $ex: container with the NoCloud seed boots" run_example "$ex" || return 0
  check "cloud-init $ex: cloud-init done, runcmd installed the .deb and apply changed k3s" step_cloud_init_done || true
  check "cloud-init $ex: k3s restarted once and serves the issuer, status 0" step_issuer_served || true
  case $ex in
  service-principal) check "cloud-init $ex: secret file 0600 root, secret in no log or journal" step_secret_file || true ;;
  arc-identity) check "cloud-init $ex: token through the HIMDS challenge, no client secret" step_arc_challenge || true ;;
  esac
  container_stop "$NAME"
}

main() {
  require_root
  install_cleanup_trap
  TREE=$(ensure_rootfs)
  WORK=$(mktemp -d /tmp/aio-prep-e2e-ci.XXXXXX)
  keep_or_remove "$WORK"
  log "work dir $WORK"
  local e
  for e in offline-issuer service-principal arc-identity; do
    example_suite "$e"
  done
}

main "$@"
