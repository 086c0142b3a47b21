#!/usr/bin/env bash
# install.sh DESTDIR PREFIX BINARY ASSETS: what `make install` does. Installs the same
# files from the same packaging/ tree as the .deb and .rpm: binary, systemd unit and
# preset, default config, man page, bash/zsh/fish completions. Runs nothing: no
# systemctl, no k3s restart (run `systemctl daemon-reload` yourself on a live system).
#
# An existing /etc/aio-prep/config.toml is never overwritten: the new default goes next to
# it as config.toml.dist. With PREFIX other than /usr, the unit's ExecStart points at
# PREFIX/bin/aio-prep. The config path is always /etc/aio-prep (compiled in).
set -euo pipefail

destdir=${1-}
prefix=${2:?usage: install.sh DESTDIR PREFIX BINARY ASSETS}
bin=${3:?usage: install.sh DESTDIR PREFIX BINARY ASSETS}
assets=${4:?usage: install.sh DESTDIR PREFIX BINARY ASSETS}
here=$(cd "$(dirname "$0")" && pwd)

[[ $prefix == /* ]] || { echo "install: PREFIX must be absolute (got '$prefix')" >&2; exit 2; }
prefix=${prefix%/}
root="$destdir$prefix"
etc="$destdir/etc/aio-prep"

install -D -m 0755 "$bin" "$root/bin/aio-prep"
install -d -m 0755 "$root/lib/systemd/system" "$root/lib/systemd/system-preset"
sed "s|^ExecStart=/usr/bin/aio-prep |ExecStart=$prefix/bin/aio-prep |" \
  "$here/aio-prep.service" >"$root/lib/systemd/system/aio-prep.service"
chmod 0644 "$root/lib/systemd/system/aio-prep.service"
install -m 0644 "$here/aio-prep.preset" "$root/lib/systemd/system-preset/90-aio-prep.preset"
install -D -m 0644 "$assets/aio-prep.1.gz" "$root/share/man/man1/aio-prep.1.gz"
install -D -m 0644 "$assets/aio-prep.bash" "$root/share/bash-completion/completions/aio-prep"
install -D -m 0644 "$assets/_aio-prep" "$root/share/zsh/vendor-completions/_aio-prep"
install -D -m 0644 "$assets/aio-prep.fish" "$root/share/fish/vendor_completions.d/aio-prep.fish"

install -d -m 0755 "$etc"
if [[ -e $etc/config.toml ]] && ! cmp -s "$here/config.toml" "$etc/config.toml"; then
  install -m 0644 "$here/config.toml" "$etc/config.toml.dist"
  echo "install: kept your $etc/config.toml; the new default is config.toml.dist" >&2
else
  install -m 0644 "$here/config.toml" "$etc/config.toml"
fi
echo "install: aio-prep installed under ${destdir:-/} (prefix $prefix)" >&2
