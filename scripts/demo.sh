#!/usr/bin/env bash
# The demo: a real systemd manager on a private D-Bus bus runs the k3s stand-in as
# k3s.service under a temp root; aio-prep prepares it for Azure IoT Operations.
# Usage: scripts/demo.sh BIN_DIR   (BIN_DIR holds aio-prep, testbed and k3s-standin)
set -euo pipefail
BIN=$(cd "${1:-target/debug}" && pwd)
DIR=$(mktemp -d /tmp/aio-prep-demo.XXXXXX)
rmdir "$DIR"
cleanup() { "$BIN/testbed" down --dir "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The embedded default environment: an operator's k3s config with comments, and an
# aio-prep config in offline mode (the Arc issuer URL given as input).
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
mkdir -p "$ROOT/etc/aio-prep"
cat > "$ROOT/etc/aio-prep/config.toml" <<'TOML'
[issuer]
# Offline mode: the Arc cluster's issuer URL, as `az connectedk8s show` prints it.
url = "https://eastus.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/5f3c1b7e-0d2a-4c6e-9b8f-1a2b3c4d5e6f/"
TOML
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
