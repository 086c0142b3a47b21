# aio-prep %preun. $1 = 0 on erase, 1+ on upgrade. On erase: disable and stop the unit
# (what %systemd_preun does; stopping a finished oneshot changes nothing on the host).
if [ "$1" -eq 0 ]; then
	systemctl --no-reload disable --now aio-prep.service >/dev/null 2>&1 || :
fi
exit 0
