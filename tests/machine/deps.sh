#!/usr/bin/env bash
# Host packages the whole-machine tests need (idempotent: installs only what is missing).
# Runs as root on Debian 12, as CI does. Registries only (Debian's apt mirror).
set -euo pipefail

pkgs=(debootstrap systemd-container rpm iproute2 util-linux gzip xz-utils ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs on the machine may hold the dpkg lock for a while: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
