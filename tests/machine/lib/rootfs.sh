# shellcheck shell=bash
# The cached Debian 12 tree (debootstrap, created once, never modified afterwards) and
# throwaway overlays on top of it: every container and chroot writes to its own upper
# directory, so the cache stays pristine and files can be staged before a boot and read
# after it.

E2E_CACHE=${E2E_CACHE:-/var/cache/aio-prep-e2e}
E2E_MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
E2E_SUITE_NAME=${E2E_SUITE_NAME:-bookworm}
# What a booted edge machine needs here: a real PID 1 and bus (debootstrap --include),
# then cloud-init (apt-get inside the tree: debootstrap cannot order its Python deps).
# deb-systemd-helper, which aio-prep's package scripts call, is in init-system-helpers.
ROOTFS_BASE=(systemd systemd-sysv dbus init-system-helpers)
ROOTFS_PACKAGES=(cloud-init)
# Bump when the tree's post-install tweaks below change: a new cache directory is made.
ROOTFS_RECIPE=2

rootfs_dir() {
  local key
  key=$(printf '%s\n' "$E2E_SUITE_NAME" "$ROOTFS_RECIPE" "${ROOTFS_BASE[@]}" "${ROOTFS_PACKAGES[@]}" | sha256sum | cut -c1-10)
  echo "$E2E_CACHE/$E2E_SUITE_NAME-$key"
}

# Tweaks that make the tree boot cleanly in a container; part of the cached image.
_rootfs_tweak() {
  local t=$1
  # Empty machine-id: systemd makes a transient one at each boot (a fresh machine).
  : >"$t/etc/machine-id"
  rm -f "$t/var/lib/dbus/machine-id"
  # No login prompt on the container console (nspawn copies it into the test's log).
  ln -sf /dev/null "$t/etc/systemd/system/console-getty.service"
  ln -sf /dev/null "$t/etc/systemd/system/getty@.service"
  in_tree "$t" apt-get clean >/dev/null 2>&1
  rm -rf "$t/var/lib/apt/lists/"*
  # resolv.conf was the host's while apt ran; a booted container makes its own.
  rm -f "$t/etc/resolv.conf"
}

# in_tree TREE CMD...: runs CMD in TREE with /proc, /dev and the host's network (no boot).
in_tree() {
  local tree=$1
  shift
  systemd-nspawn -q -D "$tree" --register=no --keep-unit --resolv-conf=replace-host \
    --setenv=DEBIAN_FRONTEND=noninteractive "$@"
}

_rootfs_create() {
  local dir=$1 tmp t0=$SECONDS include
  tmp="$dir.tmp.$$"
  # Left by an interrupted creation (we hold the lock: nobody else is making one).
  rm -rf "$dir".tmp.*
  log "creating the cached Debian tree $dir (debootstrap + apt, about 2 minutes; once)"
  include=$(IFS=,; echo "${ROOTFS_BASE[*]}")
  if ! debootstrap --variant=minbase --include="$include" "$E2E_SUITE_NAME" "$tmp" "$E2E_MIRROR" \
    >"$tmp.log" 2>&1; then
    tail -n 20 "$tmp.log" >&2
    tail -n 40 "$tmp/debootstrap/debootstrap.log" >&2 || true
    rm -rf "$tmp"
    die "debootstrap failed (log above)"
  fi
  if ! { in_tree "$tmp" apt-get -qq update &&
    in_tree "$tmp" apt-get -qq install -y --no-install-recommends "${ROOTFS_PACKAGES[@]}"; } \
    >>"$tmp.log" 2>&1; then
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp"
    die "apt-get install ${ROOTFS_PACKAGES[*]} in the tree failed (log above)"
  fi
  _rootfs_tweak "$tmp"
  mv "$tmp" "$dir"
  mv "$tmp.log" "$dir.log"
  log "cached tree ready in $((SECONDS - t0))s: $(du -sh "$dir" | cut -f1)"
}

# ensure_rootfs: prints the cached tree's path, creating it (under a lock) when missing.
ensure_rootfs() {
  local dir
  dir=$(rootfs_dir)
  mkdir -p "$E2E_CACHE"
  if [[ ! -x $dir/usr/bin/cloud-init ]]; then
    exec 8>"$E2E_CACHE/.lock"
    flock -w 900 8 || die "cannot lock $E2E_CACHE/.lock"
    [[ -x $dir/usr/bin/cloud-init ]] || _rootfs_create "$dir"
    exec 8>&-
  fi
  echo "$dir"
}

# overlay_up LOWER WORKDIR: mounts a writable overlay of LOWER at WORKDIR/root (upper and
# work directories in WORKDIR) and registers its unmount. Not in $(...): the cleanup must
# be registered in the calling shell.
overlay_up() {
  local lower=$1 w=$2
  mkdir -p "$w/upper" "$w/work" "$w/root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$w/upper,workdir=$w/work" "$w/root" ||
    die "cannot mount an overlay of $lower at $w/root"
  on_exit overlay_down "$w"
}

overlay_down() {
  local w=$1
  if mountpoint -q "$w/root"; then
    umount "$w/root" 2>/dev/null || umount -l "$w/root"
  fi
}
