#!/usr/bin/env bash
# gen-assets.sh BINARY OUTDIR: the man page and shell completions, generated from the clap
# definition by the binary itself (`aio-prep man`, `aio-prep completions SHELL`). Build
# products under target/, never committed. gzip -n: no name or time stamp, so the output
# is byte-for-byte reproducible.
set -euo pipefail

bin=${1:?usage: gen-assets.sh BINARY OUTDIR}
out=${2:?usage: gen-assets.sh BINARY OUTDIR}
mkdir -p "$out"

generate() {
  local dest=$1 tmp
  shift
  tmp="$dest.tmp"
  "$@" >"$tmp"
  [[ -s $tmp ]] || { echo "gen-assets: '$*' printed nothing" >&2; exit 1; }
  mv "$tmp" "$dest"
}

generate "$out/aio-prep.1" "$bin" man
gzip -9nf "$out/aio-prep.1"
generate "$out/aio-prep.bash" "$bin" completions bash
generate "$out/_aio-prep" "$bin" completions zsh
generate "$out/aio-prep.fish" "$bin" completions fish
echo "gen-assets: man page and completions in $out" >&2
