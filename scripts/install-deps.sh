#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian 12 machine (idempotent:
# does nothing when everything is there). Runs as root, as CI does.
set -euo pipefail
pkgs=(systemd dbus dbus-user-session util-linux curl ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo (rustup) is required" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
# The bounded fuzz run in the test suite needs cargo-fuzz on nightly (the machine has a
# nightly toolchain); install it once so the run is real, not skipped.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! command -v cargo-fuzz >/dev/null; then
  echo "install-deps: cargo install cargo-fuzz" >&2
  cargo install --locked cargo-fuzz >/dev/null 2>&1 || echo "install-deps: cargo-fuzz install failed; the fuzz smoke test will say it skipped" >&2
fi
