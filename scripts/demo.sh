#!/usr/bin/env bash
# The demo: a real systemd manager on a private D-Bus bus runs the k3s stand-in as
# k3s.service under a temp root; aio-prep prepares it for Azure IoT Operations.
# Usage: scripts/demo.sh BIN_DIR   (BIN_DIR holds aio-prep, testbed and k3s-standin)
set -euo pipefail
BIN=$(cd "${1:-target/debug}" && pwd)
DIR=$(mktemp -d /tmp/aio-prep-demo.XXXXXX)
rmdir "$DIR"
EMU_PID=""
cleanup() {
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
  "$BIN/testbed" down --dir "$DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The embedded default environment: an operator's k3s config with comments; the Azure
# emulator as the cloud (ARM + Entra + OIDC discovery on loopback HTTPS, a CA made at start)
# holding an Arc connected cluster with OIDC issuer and workload identity off.
CONFIG=$(mktemp /tmp/aio-prep-demo-config.XXXXXX.yaml)
cat > "$CONFIG" <<'YAML'
# /etc/rancher/k3s/config.yaml — written by the site team
write-kubeconfig-mode: "0600"
node-name: edge-01          # physical label on the box
kube-apiserver-arg:
  - "audit-log-maxage=30"   # compliance wants 30 days
  - audit-log-path=/var/log/k3s-audit.log
tls-san:
  - edge-01.factory.example
YAML
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "== bringing up systemd + the k3s stand-in (k3s.service, Type=notify) =="
"$BIN/testbed" up --dir "$DIR" --config "$CONFIG"
rm -f "$CONFIG"
# shellcheck disable=SC1091
source "$DIR/env"
ROOT=$AIO_PREP_ROOT
echo "== starting the Azure emulator (connected cluster with OIDC issuer and workload identity off) =="
mkdir -p "$DIR/azure"
"$BIN/azure-emulator" serve --dir "$DIR/azure" --root "$ROOT" --demo > "$DIR/azure/log" 2>&1 &
EMU_PID=$!
for _ in $(seq 1 100); do [ -s "$DIR/azure/env" ] && break; sleep 0.05; done
[ -s "$DIR/azure/env" ] || { cat "$DIR/azure/log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$DIR/azure/env"
# The Arc agents' ConfigMap tells aio-prep which cluster this is (served by the local
# API server, as on a real Arc-connected k3s); so the coordinates are not passed in.
mkdir -p "$ROOT/var/lib/rancher/k3s/standin" "$ROOT/etc/aio-prep"
printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"azure-clusterconfig","namespace":"azure-arc"},"data":{"AZURE_SUBSCRIPTION_ID":"%s","AZURE_RESOURCE_GROUP":"%s","AZURE_RESOURCE_NAME":"%s","AZURE_TENANT_ID":"%s"}}' \
  "$AIO_PREP_AZURE_SUBSCRIPTION_ID" "$AIO_PREP_AZURE_RESOURCE_GROUP" "$AIO_PREP_AZURE_CLUSTER_NAME" "$AZURE_TENANT_ID" \
  > "$ROOT/var/lib/rancher/k3s/standin/azure-clusterconfig.json"
cat > "$ROOT/etc/aio-prep/config.toml" <<TOML
# /etc/aio-prep/config.toml — fleet defaults (the demo points Azure at the local emulator)
[azure]
arm_endpoint = "$AIO_PREP_AZURE_ARM_ENDPOINT"
authority_host = "$AIO_PREP_AZURE_AUTHORITY_HOST"
ca_file = "$AIO_PREP_AZURE_CA_FILE"
poll_interval = "1s"

[azure.auth]
method = "client-secret"
client_id = "$AZURE_CLIENT_ID"
client_secret_file = "$AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE"   # mode 0600
TOML
unset AIO_PREP_AZURE_SUBSCRIPTION_ID AIO_PREP_AZURE_RESOURCE_GROUP AIO_PREP_AZURE_CLUSTER_NAME \
  AIO_PREP_AZURE_ARM_ENDPOINT AIO_PREP_AZURE_AUTHORITY_HOST AIO_PREP_AZURE_CA_FILE AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE AZURE_CLIENT_ID
PATH="$BIN:$PATH"
starts() { grep -c '"result":"ready"' "$ROOT/var/lib/rancher/k3s/standin/starts.log" 2>/dev/null || echo 0; }

step aio-prep detect
aio-prep detect
step aio-prep plan
aio-prep plan || [ $? -eq 3 ]
step aio-prep apply
aio-prep apply
step aio-prep status
aio-prep status
step "cat /etc/rancher/k3s/config.yaml   # comments and other args intact"
cat "$ROOT/etc/rancher/k3s/config.yaml"
step "aio-prep apply   # again: nothing to change, no restart"
before=$(starts)
aio-prep apply
after=$(starts)
echo
echo "k3s starts: before second apply $before, after $after"
[ "$before" = "$after" ] || { echo "demo: second apply restarted k3s" >&2; exit 1; }
step "aio-prep status --output json"
aio-prep status --output json
echo
echo "demo OK"
