# aio-prep %postun. $1 = 0 on erase, 1+ on upgrade. No restart on upgrade (what
# %systemd_postun does, not %systemd_postun_with_restart). On erase, the lock directory
# goes; /var/lib/aio-prep (backups of the k3s config, for `aio-prep rollback`) is kept,
# as rpm has no purge: remove it by hand. k3s's files are never touched.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
	rm -rf /run/aio-prep
fi
exit 0
