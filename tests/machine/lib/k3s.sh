# shellcheck shell=bash
# The k3s stand-in (tools/k3s-standin) installed in a container tree the way the k3s
# installer installs k3s: /usr/local/bin/k3s, k3s.service (Type=notify, `k3s server`,
# enabled), /etc/rancher/k3s/config.yaml with an operator's own settings and comments.
# Everything is read back from the host through the overlay (same mount as the container's).

STANDIN_LOG=/var/lib/rancher/k3s/standin/starts.log
K3S_CONFIG=/etc/rancher/k3s/config.yaml

# The operator's config before aio-prep: comments and args that must survive the edit.
_k3s_operator_config() {
  cat <<'EOF'
# k3s server configuration (operator's file; aio-prep must keep every other byte)
write-kubeconfig-mode: "0644"
kube-apiserver-arg:
  - "audit-log-maxage=30"   # compliance wants 30 days
  - audit-log-path=/var/log/k3s-audit.log
EOF
}

# Like the unit get.k3s.io writes (modprobe lines dropped: no modules in a container).
_k3s_unit() {
  cat <<'EOF'
[Unit]
Description=Lightweight Kubernetes (aio-prep e2e: the k3s stand-in)
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
Environment=K3S_STANDIN_ROOT=/
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=/usr/local/bin/k3s \
    server \

EOF
}

# stage_k3s ROOT RELEASE_DIR: installs the stand-in as k3s.service, enabled, into ROOT.
stage_k3s() {
  local root=$1 release=$2
  install -D -m 0755 "$release/k3s-standin" "$root/usr/local/bin/k3s"
  _k3s_unit >"$root/etc/systemd/system/k3s.service"
  : >"$root/etc/systemd/system/k3s.service.env"
  chmod 0600 "$root/etc/systemd/system/k3s.service.env"
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/k3s.service "$root/etc/systemd/system/multi-user.target.wants/k3s.service"
  mkdir -p "$root/etc/rancher/k3s"
  _k3s_operator_config >"$root$K3S_CONFIG"
  chmod 0600 "$root$K3S_CONFIG"
}

# k3s_starts ROOT: how many times the stand-in has started (one starts.log line each).
k3s_starts() {
  local f="$1$STANDIN_LOG"
  if [[ -f $f ]]; then wc -l <"$f"; else echo 0; fi
}

# k3s_last_issuer ROOT: the first (signing) service-account-issuer of the last start.
k3s_last_issuer() {
  tail -n 1 "$1$STANDIN_LOG" | grep -o '"--service-account-issuer=[^"]*"' | head -n 1 |
    sed 's/^"--service-account-issuer=//; s/"$//'
}

# k3s_last_result ROOT: `ready`, `refused: ...` of the last start.
k3s_last_result() {
  tail -n 1 "$1$STANDIN_LOG" | grep -o '"result":"[^"]*"' | sed 's/^"result":"//; s/"$//'
}

# wait_k3s_active NAME: bounded wait for k3s.service to be active (READY=1 sent).
wait_k3s_active() {
  wait_until 30 "k3s.service active in $1" ct "$1" systemctl is-active --quiet k3s.service
}

# rancher_manifest ROOT: path + sha256 of every file under /etc/rancher and /var/lib/rancher.
rancher_manifest() {
  local root=$1
  (cd "$root" && find etc/rancher var/lib/rancher -type f -print0 | sort -z | xargs -0 sha256sum)
}
