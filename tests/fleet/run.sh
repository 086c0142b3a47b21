#!/usr/bin/env bash
# make e2e-fleet: the Ansible playbooks (playbooks/site.yml) against three whole machines —
# two k3s servers and one k3s agent. Each machine is a Debian 12 booted with systemd-nspawn:
# its own root (an overlay on a cached debootstrap image), its own systemd as PID 1 with its
# own system bus, sshd, and the k3s stand-in as k3s.service / k3s-agent.service (k3s's own
# unit, Type=notify). Ansible reaches them over SSH with a key made for the run, on veth
# pairs between network namespaces this script creates (10.213.0.0/24 exists only inside
# them; no address of the machine is touched). aio-prep is installed by the role from a .deb.
#
# Usage (root, Debian 12): tests/fleet/run.sh [BIN_DIR]      BIN_DIR default: target/debug
#   FLEET_DEB=path.deb    install this package instead of the one built from BIN_DIR
#   FLEET_CACHE=dir       cache for the Debian image and the Ansible venv
#                         (default /var/cache/aio-prep-fleet)
#   FLEET_MIRROR=url      Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   FLEET_KEEP=1          keep the work directory (logs, inventory, host roots' upper dirs)
set -Eeuo pipefail
trap 'echo "fleet: error: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$REPO/target/debug}" && pwd)
HERE=$REPO/tests/fleet

# Every mount this test makes (overlays, network namespace handles) lives in a private mount
# namespace, so none can outlive the run even if it is killed.
if [ "${FLEET_IN_PRIVATE_MOUNTS:-}" != 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "fleet: run as root" >&2; exit 1; }
  FLEET_IN_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private -- "$0" "$BIN"
fi

ANSIBLE_CORE_VERSION=2.19.14
ANSIBLE_LINT_VERSION=26.10.1
CACHE=${FLEET_CACHE:-/var/cache/aio-prep-fleet}
MIRROR=${FLEET_MIRROR:-http://deb.debian.org/debian}
IMAGE_PACKAGES=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,ca-certificates
IMAGE=$CACHE/bookworm-$(printf '%s' "$IMAGE_PACKAGES v1" | sha256sum | cut -c1-12)
VENV=$CACHE/venv-ansible-core-$ANSIBLE_CORE_VERSION-lint-$ANSIBLE_LINT_VERSION
T0=$(date +%s%N)

ID=aiofleet$$
CTL=$ID-ctl
SUBNET=10.213.0
HOSTS=(srv1 srv2 agt1)
declare -A IP=([srv1]=$SUBNET.11 [srv2]=$SUBNET.12 [agt1]=$SUBNET.21)
declare -A ROLE=([srv1]=server [srv2]=server [agt1]=agent)
declare -A NSPAWN_PID=() INIT_PID=()
EMU_PID=""
TESTBED=""
WORK=$(mktemp -d /tmp/aio-prep-fleet.XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS"

log() { printf '%s fleet: %s\n' "$(elapsed)" "$*" >&2; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
elapsed() { local ms; ms=$(ms_since "$T0"); printf '[%3d.%01ds]' $((ms / 1000)) $((ms % 1000 / 100)); }
die() { log "error: $*"; exit 1; }

# --- cleanup: only what this run started, by pid and by name ----------------------------------
cleanup() {
  local rc=$? h pid
  trap - ERR
  set +e
  for h in "${HOSTS[@]}"; do
    [ -S "$WORK/ssh-$h" ] && ssh -o ControlPath="$WORK/ssh-$h" -O exit "root@${IP[$h]}" >/dev/null 2>&1
  done
  for h in "${!NSPAWN_PID[@]}"; do
    kill -TERM "${NSPAWN_PID[$h]}" 2>/dev/null   # nspawn powers the container off (SIGRTMIN+3)
  done
  for h in "${!NSPAWN_PID[@]}"; do
    pid=${NSPAWN_PID[$h]}
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$h did not power off in 10 s; killing"; kill -KILL "$pid"; }
    wait "$pid" 2>/dev/null
  done
  [ -n "$TESTBED" ] && ctl "$BIN/testbed" down --dir "$TESTBED" >/dev/null 2>&1
  if [ -n "$EMU_PID" ]; then
    kill -TERM "$EMU_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$EMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$EMU_PID" 2>/dev/null
    wait "$EMU_PID" 2>/dev/null
  fi
  for h in "${HOSTS[@]}"; do
    mountpoint -q "$WORK/hosts/$h/root" && umount "$WORK/hosts/$h/root"
    ip netns del "$ID-$h" 2>/dev/null
  done
  ip netns del "$CTL" 2>/dev/null
  if [ "${FLEET_KEEP:-}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- results ------------------------------------------------------------------------------
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok $((PASSED + FAILED)) - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok $((PASSED + FAILED)) - $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- dependencies (Debian packages, the Ansible venv, the image) ------------------------------
deps() {
  local pkgs=(debootstrap systemd-container iproute2 util-linux openssh-client python3-venv binutils)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 900 9 || die "cache $CACHE is locked by another run"
  if [ ! -e "$VENV/.complete" ]; then
    log "python venv: ansible-core $ANSIBLE_CORE_VERSION, ansible-lint $ANSIBLE_LINT_VERSION"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check \
      "ansible-core==$ANSIBLE_CORE_VERSION" "ansible-lint==$ANSIBLE_LINT_VERSION"
    touch "$VENV/.complete"
  fi
  if [ ! -e "$IMAGE/.complete" ]; then
    log "debootstrap Debian 12 ($IMAGE_PACKAGES) from $MIRROR (about a minute, cached)"
    rm -rf "$IMAGE.tmp"
    timeout 900 debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$IMAGE.tmp" "$MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    # Per-host SSH host keys are made at setup; the image keeps none.
    rm -f "$IMAGE.tmp"/etc/ssh/ssh_host_*
    cat >"$IMAGE.tmp/etc/ssh/sshd_config.d/fleet.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
PermitRootLogin prohibit-password
UseDNS no
EOF
    # Nothing in the containers runs apt on a timer.
    local unit
    for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
      fstrim.timer e2scrub_reap.service getty@tty1.service; do
      ln -sf /dev/null "$IMAGE.tmp/etc/systemd/system/$unit"
    done
    rm -f "$IMAGE.tmp"/var/cache/apt/archives/*.deb
    : >"$IMAGE.tmp/etc/machine-id"
    touch "$IMAGE.tmp/.complete"
    rm -rf "$IMAGE" && mv "$IMAGE.tmp" "$IMAGE"
  fi
  exec 9>&-
  export PATH="$VENV/bin:$PATH"
}

# --- the package ------------------------------------------------------------------------------
# FLEET_DEB (e.g. `make deb`'s output) when given; else a minimal .deb of the workspace build:
# /usr/bin/aio-prep only, so the role's install path (copy + apt deb=) is the real one.
build_deb() {
  if [ -n "${FLEET_DEB:-}" ]; then
    DEB=$(realpath "$FLEET_DEB")
    [ -f "$DEB" ] || die "FLEET_DEB=$FLEET_DEB is not a file"
    log "package: $DEB (FLEET_DEB)"
    return
  fi
  local version arch pkg=$WORK/deb
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
  arch=$(dpkg --print-architecture)
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin"
  strip -o "$pkg/usr/bin/aio-prep" "$BIN/aio-prep"
  chmod 0755 "$pkg/usr/bin/aio-prep"
  cat >"$pkg/DEBIAN/control" <<EOF
Package: aio-prep
Version: $version~fleet
Architecture: $arch
Maintainer: aio-prep maintainers <aio-prep@example.invalid>
Depends: libc6, libgcc-s1
Section: admin
Priority: optional
Description: aio-prep (fleet test build: the binary only)
 Built by tests/fleet/run.sh from $BIN/aio-prep.
EOF
  DEB=$WORK/aio-prep_${version}~fleet_$arch.deb
  dpkg-deb --root-owner-group -Zgzip -z1 --build "$pkg" "$DEB" >/dev/null
  log "package: $DEB (minimal, from $BIN/aio-prep)"
}

# --- the machines -----------------------------------------------------------------------------
net_up() {
  ip netns add "$CTL"
  ip -n "$CTL" link set lo up
  ip -n "$CTL" link add br0 type bridge
  ip -n "$CTL" addr add "$SUBNET.1/24" dev br0
  ip -n "$CTL" link set br0 up
  local h
  for h in "${HOSTS[@]}"; do
    ip netns add "$ID-$h"
    ip -n "$ID-$h" link set lo up
    ip -n "$CTL" link add "v-$h" type veth peer name host0 netns "$ID-$h"
    ip -n "$CTL" link set "v-$h" master br0 up
    ip -n "$ID-$h" addr add "${IP[$h]}/24" dev host0
    ip -n "$ID-$h" link set host0 up
  done
}

# The operator's k3s configuration on each machine, with comments that must survive.
server_config() {
  cat <<EOF
# /etc/rancher/k3s/config.yaml — written by the site team
write-kubeconfig-mode: "0600"
node-name: $1          # label on the box
token: fleet-join-token
kube-apiserver-arg:
  - "audit-log-maxage=30"   # compliance wants 30 days
  - audit-log-path=/var/log/k3s-audit.log
tls-san:
  - $1.fleet.test
EOF
}
agent_config() {
  cat <<EOF
# /etc/rancher/k3s/config.yaml — agent
server: https://${IP[srv1]}:6443
token: fleet-join-token
node-name: $1
EOF
}

# k3s's own unit (as get.k3s.io writes it), with the stand-in as /usr/local/bin/k3s.
k3s_unit() {
  cat <<EOF
[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/$2.env
Environment=K3S_STANDIN_ROOT=/
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service 2>/dev/null'
ExecStart=/usr/local/bin/k3s \\
    $1 \\

EOF
}

host_up() {
  local h=$1 dir=$WORK/hosts/$1 r unit
  r=$dir/root
  mkdir -p "$dir/upper" "$dir/work" "$r"
  mount -t overlay "overlay-$ID-$h" -o "lowerdir=$IMAGE,upperdir=$dir/upper,workdir=$dir/work" "$r"
  echo "$h" >"$r/etc/hostname"
  printf '127.0.0.1 localhost\n%s %s\n' "${IP[$h]}" "$h" >"$r/etc/hosts"
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$r/etc/machine-id"
  ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$r/etc/ssh/ssh_host_ed25519_key"
  printf '%s %s\n' "${IP[$h]}" "$(cut -d' ' -f1,2 "$r/etc/ssh/ssh_host_ed25519_key.pub")" >>"$WORK/known_hosts"
  install -d -m 0700 "$r/root/.ssh"
  install -m 0600 "$WORK/id_ed25519.pub" "$r/root/.ssh/authorized_keys"
  install -m 0755 "$BIN/k3s-standin" "$r/usr/local/bin/k3s"
  install -d -m 0755 "$r/etc/rancher/k3s"
  if [ "${ROLE[$h]}" = server ]; then
    unit=k3s
    server_config "$h" >"$r/etc/rancher/k3s/config.yaml"
  else
    unit=k3s-agent
    agent_config "$h" >"$r/etc/rancher/k3s/config.yaml"
  fi
  chmod 0600 "$r/etc/rancher/k3s/config.yaml"
  k3s_unit "${ROLE[$h]}" "$unit.service" >"$r/etc/systemd/system/$unit.service"
  ln -s "/etc/systemd/system/$unit.service" "$r/etc/systemd/system/multi-user.target.wants/$unit.service"
  systemd-nspawn -D "$r" --boot --network-namespace-path="/run/netns/$ID-$h" \
    --keep-unit --register=no --console=passive -M "$ID-$h" >"$LOGS/$h-console.log" 2>&1 &
  NSPAWN_PID[$h]=$!
}

# Wait (bounded) until the machine's systemd is up, its k3s unit active and sshd answering.
host_ready() {
  local h=$1 unit state="" i
  unit=$([ "${ROLE[$h]}" = server ] && echo k3s.service || echo k3s-agent.service)
  for i in $(seq 1 300); do
    [ -n "${INIT_PID[$h]:-}" ] || INIT_PID[$h]=$(pgrep -P "${NSPAWN_PID[$h]}" -x systemd || true)
    if [ -n "${INIT_PID[$h]:-}" ]; then
      state=$(in_host "$h" systemctl is-system-running 2>/dev/null || true)
      case $state in running | degraded) break ;; esac
    fi
    kill -0 "${NSPAWN_PID[$h]}" 2>/dev/null || { cat "$LOGS/$h-console.log" >&2; die "$h: systemd-nspawn exited"; }
    sleep 0.1
  done
  [ "$i" -lt 300 ] || die "$h: not booted after 30 s (state: ${state:-none})"
  [ "$state" = running ] || log "$h booted $state: $(in_host "$h" systemctl --failed --no-legend --plain | cut -d' ' -f1 | xargs)"
  in_host "$h" systemctl is-active --quiet "$unit" || die "$h: $unit is not active"
  for i in $(seq 1 100); do
    ctl ssh "${SSH_OPTS[@]}" -o ConnectTimeout=2 "root@${IP[$h]}" true 2>/dev/null && return 0
    sleep 0.1
  done
  die "$h: sshd does not answer"
}

in_host() { local h=$1; shift; nsenter -t "${INIT_PID[$h]}" -a "$@"; }
# aio-prep status on the machine itself: exit 0 = file and running API server as desired.
status_ok() { in_host "$1" /usr/bin/aio-prep status >>"$LOGS/status-$1.log" 2>&1 || { tail -20 "$LOGS/status-$1.log" >&2; return 1; }; }
ctl() { nsenter --net="/run/netns/$CTL" "$@"; }
host_root() { echo "$WORK/hosts/$1/root"; }
starts() { grep -c '"result":"ready"' "$(host_root "$1")/var/lib/rancher/k3s/standin/starts.log" 2>/dev/null || true; }

# Every file the playbook or aio-prep could touch on a machine, with mode, owner and hash.
snapshot() {
  local r paths=(etc/aio-prep etc/rancher var/lib/aio-prep var/lib/rancher/k3s/standin var/cache/aio-prep
    usr/bin/aio-prep var/lib/dpkg/status run/aio-prep)
  r=$(host_root "$1")
  cd "$r"
  { find "${paths[@]}" -printf '%p %y %m %u:%g %s\n' 2>/dev/null || true; } | sort
  { find "${paths[@]}" -type f -print0 2>/dev/null || true; } | sort -z | xargs -0r sha256sum
  cd - >/dev/null
}
snapshot_all() { local h; for h in "${HOSTS[@]}"; do snapshot "$h" >"$WORK/snap-$1-$h"; done; }
same_snapshots() {
  local h ok=0
  for h in "${HOSTS[@]}"; do
    diff -u "$WORK/snap-$1-$h" "$WORK/snap-$2-$h" >&2 || ok=1
  done
  return $ok
}
same_snapshots_of() {
  local a=$1 b=$2 h ok=0
  shift 2
  for h in "$@"; do diff -u "$WORK/snap-$a-$h" "$WORK/snap-$b-$h" >&2 || ok=1; done
  return $ok
}
scratch_left() { local h; for h in "${HOSTS[@]}"; do find "$(host_root "$h")/tmp" -maxdepth 1 -name '*.aio-prep-plan'; done; }

# --- Ansible --------------------------------------------------------------------------------------
write_inventory() {
  # shellcheck disable=SC1091
  . "$WORK/azure/env"
  local secret
  secret=$(cat "$WORK/azure/client-secret")
  SECRET=$secret
  cat >"$WORK/inventory.yml" <<EOF
---
# Generated by tests/fleet/run.sh: the three machines of this run.
k3s_cluster:
  children:
    server:
      hosts:
        srv1:
          ansible_host: ${IP[srv1]}
        srv2:
          ansible_host: ${IP[srv2]}
          # Cloud mode against the Azure emulator (in srv2's network namespace): the issuer
          # comes from ARM + OIDC discovery; the secret is written by the role (0600, no_log).
          aio_prep_issuer_url: null
          aio_prep_azure_subscription_id: "$AIO_PREP_AZURE_SUBSCRIPTION_ID"
          aio_prep_azure_resource_group: "$AIO_PREP_AZURE_RESOURCE_GROUP"
          aio_prep_azure_cluster_name: "$AIO_PREP_AZURE_CLUSTER_NAME"
          aio_prep_azure_tenant_id: "$AZURE_TENANT_ID"
          aio_prep_azure_arm_endpoint: "$AIO_PREP_AZURE_ARM_ENDPOINT"
          aio_prep_azure_authority_host: "$AIO_PREP_AZURE_AUTHORITY_HOST"
          aio_prep_azure_ca_file: "$AIO_PREP_AZURE_CA_FILE"
          aio_prep_azure_poll_interval: 1s
          aio_prep_azure_auth_method: client-secret
          aio_prep_azure_auth_client_id: "$AZURE_CLIENT_ID"
          aio_prep_azure_client_secret: "$secret"
    agent:
      hosts:
        agt1:
          ansible_host: ${IP[agt1]}
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $WORK/id_ed25519
    ansible_python_interpreter: /usr/bin/python3
    aio_prep_install: file
    aio_prep_package_file: $DEB
    aio_prep_issuer_url: "$ISSUER"
    aio_prep_k3s_restart_timeout: 60s
EOF
}

# play NAME [ansible-playbook args...]: run site.yml, output in $LOGS/NAME.log, rc in PLAY_RC.
play() {
  local name=$1 t
  shift
  t=$(date +%s%N)
  PLAY_RC=0
  ctl env ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_PIPELINING=1 ANSIBLE_HOME="$WORK/ansible" \
    ANSIBLE_LOCAL_TEMP="$WORK/ansible/tmp" ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOG_PATH="$LOGS/$name.timed.log" \
    ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=120s -o ControlPath=$WORK/ssh-%h -o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes" \
    ANSIBLE_CONTROL_PATH="$WORK/ssh-%(host)s" ANSIBLE_SSH_CONTROL_PATH="$WORK/ssh-%%h" \
    timeout 300 ansible-playbook -i "${INVENTORY:-$WORK/inventory.yml}" "$REPO/playbooks/site.yml" \
    -e "aio_prep_summary_file=$WORK/summary-$name.json" "$@" >"$LOGS/$name.log" 2>&1 || PLAY_RC=$?
  log "ansible-playbook $name: rc $PLAY_RC in $(ms_since "$t") ms"
}

# recap LOG HOST FIELD: a number from the PLAY RECAP of a run.
recap() {
  awk -v h="$2" -v f="$3" '/^PLAY RECAP/ { r = 1; next }
    r && $1 == h { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) v = kv[2] } }
    END { print (v == "" ? -1 : v) }' "$LOGS/$1.log"
}
# recap_all LOG CONDITION...: every host of the recap (the controller's localhost too).
recap_all() {
  local run=$1 h hosts
  shift
  mapfile -t hosts < <(awk '/^PLAY RECAP/ { r = 1; next } r && $2 == ":" { print $1 }' "$LOGS/$run.log")
  ((${#hosts[@]} == ${#HOSTS[@]} + 1)) || { echo "$run: recap lists ${hosts[*]:-nothing}" >&2; return 1; }
  for h in "${hosts[@]}"; do recap_has "$run" "$h" "$@" || return 1; done
}
# recap_has LOG HOST CONDITION...: e.g. recap_has converge srv1 changed\>=1 failed=0
recap_has() {
  local run=$1 host=$2 c field op want got
  shift 2
  for c in "$@"; do
    [[ $c =~ ^([a-z]+)(=|\>=)([0-9]+)$ ]] || { echo "bad condition $c" >&2; return 2; }
    field=${BASH_REMATCH[1]} op=${BASH_REMATCH[2]} want=${BASH_REMATCH[3]}
    got=$(recap "$run" "$host" "$field")
    if { [ "$op" = "=" ] && [ "$got" -ne "$want" ]; } || { [ "$op" = ">=" ] && [ "$got" -lt "$want" ]; }; then
      echo "$run: $host $field=$got, expected $c" >&2
      grep -A5 '^PLAY RECAP' "$LOGS/$run.log" >&2
      return 1
    fi
  done
}
file_is() { test "$(stat -c '%a %U:%G' "$2")" = "$1" || { stat -c '%a %U:%G %n' "$2" >&2; return 1; }; }
lint() {
  (cd "$REPO/playbooks" && ansible-lint --nocolor >"$LOGS/ansible-lint.log" 2>&1) ||
    { cat "$LOGS/ansible-lint.log" >&2; return 1; }
}
not_leaked() {
  local h
  ! grep -rlF -- "$SECRET" "$LOGS" >&2 || return 1
  for h in "${HOSTS[@]}"; do ! grep -lF -- "$SECRET" "$(host_root "$h")/etc/aio-prep/config.toml" >&2 || return 1; done
}
example_inventory_ok() {
  if ansible-inventory -i "$REPO/playbooks/inventory.example.yml" --graph >"$LOGS/example-inventory.log" 2>&1 &&
    grep -q -- '--@server:' "$LOGS/example-inventory.log" && grep -q -- '--@agent:' "$LOGS/example-inventory.log"; then
    return 0
  fi
  cat "$LOGS/example-inventory.log" >&2
  return 1
}
syntax_ok() {
  ctl ansible-playbook -i "$WORK/inventory.yml" "$REPO/playbooks/site.yml" --syntax-check >"$LOGS/syntax.log" 2>&1 ||
    { cat "$LOGS/syntax.log" >&2; return 1; }
}
summary() { python3 "$HERE/summary.py" "$WORK/summary-$1.json" "${@:2}"; }
logged() { grep -qF -- "$2" "$LOGS/$1.log" || { echo "not in $1.log: $2" >&2; return 1; }; }

# --- the test -------------------------------------------------------------------------------------
deps
log "ready: image $IMAGE, venv $VENV"
T0=$(date +%s%N)
for b in aio-prep k3s-standin azure-emulator; do
  [ -x "$BIN/$b" ] || die "build first: cargo build --workspace ($BIN/$b is missing)"
done

ISSUER="https://oidc.fleet.test/tenant-0001/cluster-0001/"
ssh-keygen -q -t ed25519 -N '' -C "aio-prep fleet test $ID" -f "$WORK/id_ed25519"
SSH_OPTS=(-i "$WORK/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes)
build_deb

# Static checks: the TOML the role writes, lint, syntax.
check "the role's filters: config.toml strings read back unchanged (tomllib, aio-prep); failure lines" \
  python3 "$HERE/filters_test.py" "$REPO/playbooks/roles/aio_prep/filter_plugins" "$BIN/aio-prep"
check "ansible-lint (production profile) passes on playbooks/" lint
check "every variable of the role and site.yml is typed (argument_specs) and documented (inventory.example.yml)" \
  python3 "$HERE/vars_documented.py" "$REPO/playbooks"
check "inventory.example.yml is a valid inventory (server, agent under k3s_cluster)" example_inventory_ok

log "network namespaces $CTL and $ID-{${HOSTS[*]}} on $SUBNET.0/24"
net_up
for h in "${HOSTS[@]}"; do host_up "$h"; done
# The Azure emulator serves srv2's cloud mode on srv2's own loopback; its CA lands in srv2's root.
mkdir -p "$WORK/azure"
nsenter --net="/run/netns/$ID-srv2" "$BIN/azure-emulator" serve --dir "$WORK/azure" --root "$(host_root srv2)" \
  --demo --fast >"$LOGS/azure-emulator.log" 2>&1 &
EMU_PID=$!
for h in "${HOSTS[@]}"; do host_ready "$h"; done
for _ in $(seq 1 100); do [ -s "$WORK/azure/env" ] && break; sleep 0.1; done
[ -s "$WORK/azure/env" ] || { cat "$LOGS/azure-emulator.log" >&2; die "the Azure emulator did not start"; }
log "booted: ${HOSTS[*]} (pids ${INIT_PID[*]})"
write_inventory
for h in "${HOSTS[@]}"; do cp "$(host_root "$h")/etc/rancher/k3s/config.yaml" "$WORK/config-original-$h.yaml"; done

check "ansible-playbook --syntax-check site.yml" syntax_ok

# 1. Check mode on fresh machines: reports what it would do, changes nothing.
snapshot_all fresh
play check-fresh --check --diff
check "check mode on fresh hosts: exit 0" [ "$PLAY_RC" -eq 0 ]
for h in "${HOSTS[@]}"; do
  check "check mode on fresh hosts: $h reports changes (package, config) and no failure" \
    recap_has check-fresh "$h" changed\>=1 failed=0
done
snapshot_all after-check-fresh
check "check mode on fresh hosts: every host file byte-identical, nothing installed, no restart" \
  same_snapshots fresh after-check-fresh
check "check mode on fresh hosts: the summary says aio-prep is not installed yet" \
  summary check-fresh srv1 "outcome~not planned"

# 2. Converge. Each k3s restart is slowed to 2 s, so servers restarting in parallel would overlap.
for h in srv1 srv2; do echo "startup-delay-ms=2000" >"$(host_root "$h")/var/lib/rancher/k3s/standin/faults"; done
play converge
for h in srv1 srv2; do rm -f "$(host_root "$h")/var/lib/rancher/k3s/standin/faults"; done
check "first run: exit 0" [ "$PLAY_RC" -eq 0 ]
for h in "${HOSTS[@]}"; do
  check "first run: $h changed, nothing failed" \
    recap_has converge "$h" changed\>=1 failed=0 unreachable=0
done
check "first run: srv1 converged offline (outcome changed, k3s restarted, issuer from the inventory)" \
  summary converge srv1 outcome=changed restarted=true "issuer=$ISSUER" steps.cloud=skipped
check "first run: srv2 converged in cloud mode (OIDC issuer + workload identity turned on over ARM)" \
  summary converge srv2 outcome=changed restarted=true steps.cloud=changed "issuer~https://"
check "first run: agt1 is not-applicable, no Azure call, no restart" \
  summary converge agt1 outcome=not-applicable restarted=false steps.cloud=skipped steps.config=skipped
for h in srv1 srv2; do
  check "first run: $h's k3s restarted exactly once (boot + 1 start in starts.log)" [ "$(starts "$h")" -eq 2 ]
  check "first run: $h's running API server has the issuer (aio-prep status inside $h: exit 0)" \
    status_ok "$h"
done
check "first run: srv1's kube-apiserver runs with the inventory's issuer first, the old one second" \
  python3 "$HERE/starts.py" first-issuers "$(host_root srv1)" "$ISSUER" "https://kubernetes.default.svc.cluster.local"
check "first run: srv1's config.yaml keeps the operator's comments and args" \
  grep -q '^  - "audit-log-maxage=30"   # compliance wants 30 days$' "$(host_root srv1)/etc/rancher/k3s/config.yaml"
check "first run: agt1's k3s-agent was not restarted (1 start: boot)" [ "$(starts agt1)" -eq 1 ]
check "first run: agt1's config.yaml is byte-identical" \
  cmp "$WORK/config-original-agt1.yaml" "$(host_root agt1)/etc/rancher/k3s/config.yaml"
check "first run: the two servers restarted one at a time (restart windows do not overlap)" \
  python3 "$HERE/starts.py" disjoint "$(host_root srv1)" "$(host_root srv2)"
check "first run: srv1's config.toml is 0644 root" file_is "644 root:root" "$(host_root srv1)/etc/aio-prep/config.toml"
check "first run: srv1's config.toml holds the issuer as a TOML string" \
  grep -qxF "url = \"$ISSUER\"" "$(host_root srv1)/etc/aio-prep/config.toml"
check "first run: srv2's client secret file holds the secret" \
  test "$(cat "$(host_root srv2)/etc/aio-prep/client-secret")" = "$SECRET"
check "first run: srv2's client secret file is 0600 root" file_is "600 root:root" "$(host_root srv2)/etc/aio-prep/client-secret"
check "first run: srv2's config.toml names the secret file" \
  grep -qxF 'client_secret_file = "/etc/aio-prep/client-secret"' "$(host_root srv2)/etc/aio-prep/config.toml"

# 3. Second run: nothing to do anywhere.
snapshot_all converged
play second
check "second run: exit 0" [ "$PLAY_RC" -eq 0 ]
for h in "${HOSTS[@]}"; do
  check "second run: $h changed=0 failed=0 (PLAY RECAP)" \
    recap_has second "$h" changed=0 failed=0 unreachable=0 ok\>=1
done
check "second run: every line of the PLAY RECAP says changed=0 failed=0" recap_all second changed=0 failed=0
snapshot_all after-second
check "second run: no restart, every host file byte-identical" same_snapshots converged after-second

# 4. Check mode with a pending change (token lifetime 24h -> 12h): plan shows it, nothing changes.
play check-pending --check --diff -e aio_prep_k3s_max_token_expiration=12h
check "check mode with a pending change: exit 0" [ "$PLAY_RC" -eq 0 ]
for h in srv1 srv2; do
  check "check mode with a pending change: $h reports changed (plan exit 3)" \
    recap_has check-pending "$h" changed\>=1 failed=0
  check "check mode with a pending change: $h's summary says changes pending" \
    summary check-pending "$h" "outcome=changes pending" rc=3
done
check "check mode with a pending change: the planned k3s diff is shown (--diff)" \
  logged check-pending '"+  - \"service-account-max-token-expiration=12h\"",'
snapshot_all after-check-pending
check "check mode with a pending change: every host file byte-identical, no restart" \
  same_snapshots converged after-check-pending
check "check mode with a pending change: no scratch directory left in any host's /tmp" \
  test -z "$(scratch_left)"

# 5. One broken server: it fails with aio-prep's message, the others still converge to 12h.
printf 'kube-apiserver-arg: [unclosed\n' >>"$(host_root srv1)/etc/rancher/k3s/config.yaml"
cp "$(host_root srv1)/etc/rancher/k3s/config.yaml" "$WORK/config-broken-srv1.yaml"
srv1_starts=$(starts srv1)
play broken-srv1 -e aio_prep_k3s_max_token_expiration=12h
check "one broken host: ansible-playbook exits 2 (a host failed)" [ "$PLAY_RC" -eq 2 ]
check "one broken host: srv1 failed=1 in the PLAY RECAP" recap_has broken-srv1 srv1 failed=1
check "one broken host: the failure names the host, the exit code and aio-prep's reason" \
  logged broken-srv1 '"msg": "aio-prep apply failed on srv1: exit 2 (invalid input (configuration, flags or host files); nothing was changed). invalid-input: '
check "one broken host: the reason points at the operator's file" \
  summary broken-srv1 srv1 outcome=failed rc=2 error.kind=invalid-input "error.message~/etc/rancher/k3s/config.yaml"
check "one broken host: srv1's config.yaml is untouched" \
  cmp "$WORK/config-broken-srv1.yaml" "$(host_root srv1)/etc/rancher/k3s/config.yaml"
check "one broken host: srv1's k3s was not restarted" [ "$(starts srv1)" -eq "$srv1_starts" ]
check "one broken host: srv2 still converged after it (changed, failed=0)" \
  recap_has broken-srv1 srv2 changed\>=1 failed=0
check "one broken host: srv2's k3s restarted once more (3 starts)" [ "$(starts srv2)" -eq 3 ]
check "one broken host: srv2's running API server is as desired (aio-prep status inside srv2)" \
  status_ok srv2
check "one broken host: srv2's running API server has the new token lifetime" \
  python3 "$HERE/starts.py" has-arg "$(host_root srv2)" "--service-account-max-token-expiration=12h"
check "one broken host: agt1 still ran (failed=0, not-applicable)" \
  recap_has broken-srv1 agt1 failed=0 ok\>=1
check "one broken host: agt1's summary says not-applicable" summary broken-srv1 agt1 outcome=not-applicable
check "one broken host: the fleet summary lists srv1 as the one failure" \
  logged broken-srv1 '"3 hosts, 1 failed: srv1"'

# 6. Repair srv1: the next run converges it (one restart) and leaves the others alone.
cp "$WORK/config-original-srv1.yaml" "$(host_root srv1)/etc/rancher/k3s/config.yaml"
snapshot_all before-repair
play repair -e aio_prep_k3s_max_token_expiration=12h
check "repair: exit 0, nothing failed" recap_all repair failed=0 unreachable=0
check "repair: srv1 changed (config, restart)" summary repair srv1 outcome=changed restarted=true steps.config=changed
check "repair: srv1's k3s restarted exactly once more" [ "$(starts srv1)" -eq $((srv1_starts + 1)) ]
check "repair: srv1's running API server has the issuer and the 12h lifetime" \
  python3 "$HERE/starts.py" has-arg "$(host_root srv1)" "--service-account-max-token-expiration=12h"
check "repair: srv1's aio-prep status exits 0" status_ok srv1
check "repair: srv2 changed=0" recap_has repair srv2 changed=0
check "repair: agt1 changed=0" recap_has repair agt1 changed=0
snapshot_all after-repair
check "repair: srv2 and agt1 byte-identical" same_snapshots_of before-repair after-repair srv2 agt1

# 7. The same role with --root (image builds, tests; option (b) of tests/fleet/README.md): a
# testbed (own root, own systemd --user manager on a private bus) driven with
# ansible_connection=local, aio_prep_root and aio_prep_environment. Runs in the controller's
# network namespace, where Ansible runs.
TESTBED=$WORK/testbed
server_config tb1 >"$WORK/tb1-config.yaml"
ctl "$BIN/testbed" up --dir "$TESTBED" --config "$WORK/tb1-config.yaml" >"$LOGS/testbed.log" 2>&1 ||
  { cat "$LOGS/testbed.log" >&2; die "testbed up failed"; }
# shellcheck disable=SC1091  # written by testbed up
tb_env() { (set +u; . "$TESTBED/env"; printf '%s' "${!1}"); }
real_etc() { { find /etc/aio-prep -printf '%p %s %T@\n' 2>/dev/null || true; } | sort | sha256sum; }
real_etc_before=$(real_etc)
cat >"$WORK/inventory-root.yml" <<EOF
---
k3s_cluster:
  children:
    server:
      hosts:
        tb1:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
          aio_prep_install: none
          aio_prep_binary: $BIN/aio-prep
          aio_prep_root: $(tb_env AIO_PREP_ROOT)
          aio_prep_environment:
            DBUS_SYSTEM_BUS_ADDRESS: "$(tb_env DBUS_SYSTEM_BUS_ADDRESS)"
            XDG_RUNTIME_DIR: "$(tb_env XDG_RUNTIME_DIR)"
          aio_prep_issuer_url: "$ISSUER"
EOF
INVENTORY=$WORK/inventory-root.yml play root-first
INVENTORY=$WORK/inventory-root.yml play root-second
tb_root=$(tb_env AIO_PREP_ROOT)
check "--root: first run converged the testbed (changed, k3s restarted once)" \
  summary root-first tb1 outcome=changed restarted=true "issuer=$ISSUER"
check "--root: the testbed's k3s stand-in started twice (boot + 1 restart)" \
  [ "$(grep -c '"result":"ready"' "$tb_root/var/lib/rancher/k3s/standin/starts.log")" -eq 2 ]
check "--root: config.toml was written under the root" grep -qxF "url = \"$ISSUER\"" "$tb_root/etc/aio-prep/config.toml"
check "--root: second run changed=0" recap_has root-second tb1 changed=0 failed=0 ok\>=1
check "--root: the controller's own /etc/aio-prep was not touched" \
  test "$(real_etc)" = "$real_etc_before"

# Secrets never reach Ansible's output.
check "the client secret appears in no Ansible output and in no config.toml" not_leaked

log "whole run: $(ms_since "$T0") ms after the dependencies were in place"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
