#!/usr/bin/env bash
# Installs the packaging tools (cargo-deb, cargo-generate-rpm) when `command -v` does not
# find them. Building them takes ~5.5 min on 2 cores, so CI should cache ~/.cargo/bin.
# Versions are pinned to the ones the packaging was proven with; override with
# CARGO_DEB_VERSION / CARGO_GENERATE_RPM_VERSION.
set -euo pipefail

CARGO=${CARGO:-cargo}
declare -A tools=(
  [cargo-deb]=${CARGO_DEB_VERSION:-3.8.0}
  [cargo-generate-rpm]=${CARGO_GENERATE_RPM_VERSION:-0.21.1}
)

for tool in cargo-deb cargo-generate-rpm; do
  if command -v "$tool" >/dev/null 2>&1; then
    continue
  fi
  echo "install-tools: cargo install --locked $tool@${tools[$tool]} (a few minutes)" >&2
  "$CARGO" install --locked --quiet "$tool@${tools[$tool]}"
done
