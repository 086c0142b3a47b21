# aio-prep %post (plain shell: cargo-generate-rpm does not expand rpm macros).
# $1 = 1 on first install, 2+ on upgrade. Enables aio-prep.service through its preset on
# first install (what %systemd_post does); never starts it, never restarts k3s, never runs
# apply. Must not fail without a running systemd (image builds, rpm --root).
if [ "$1" -eq 1 ]; then
	systemctl --no-reload preset aio-prep.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
