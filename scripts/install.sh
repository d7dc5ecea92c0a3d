#!/usr/bin/env bash
# Installs sluice on this machine (fresh Debian 12, as root): dependencies,
# build, `make install PREFIX=/usr/local`, the config in /etc/sluice (kept if
# it exists), then enables and starts sluiced.service when systemd runs, or
# says how to start the daemon when it does not. Idempotent: run it again to
# upgrade; see docs/OPERATIONS.md.
#
#   sudo scripts/install.sh            # PREFIX=/usr/local
#   sudo PREFIX=/usr scripts/install.sh
#   DESTDIR=/tmp/root scripts/install.sh   # stage only: no service is touched (tests)
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
DESTDIR=${DESTDIR:-}
CONF="$SYSCONFDIR/sluice/sluiced.yaml"

if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: run as root (it installs packages, a systemd unit and /etc/sluice)" >&2
	exit 1
fi

scripts/deps.sh
make -j"$(nproc)" all
# Also writes $CONF when it does not exist yet, and never overwrites it.
make install PREFIX="$PREFIX" SYSCONFDIR="$SYSCONFDIR" DESTDIR="$DESTDIR"
install -d -m 0750 "$DESTDIR/var/lib/sluice"

if ! "$DESTDIR$PREFIX/sbin/sluiced" --check -c "$DESTDIR$CONF"; then
	echo "install.sh: $DESTDIR$CONF has the problems above; fix them, then run this again" >&2
	exit 1
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then # sd_booted(3): systemd is PID 1
	systemctl daemon-reload
	systemctl enable sluiced.service
	# restart, not start: an upgrade must run the new binary (pins and counters stay)
	systemctl restart sluiced.service
	systemctl --no-pager --lines=5 status sluiced.service || true
	echo "sluiced is running under systemd: journalctl -u sluiced, sluicectl stats"
else
	[ -z "$DESTDIR" ] || echo "install.sh: staged under $DESTDIR; nothing was started"
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DESTDIR$PREFIX/lib/systemd/system/sluiced.service" |
		tr ' ' '\n' | sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd, -)
	cat <<MSG

Installed. systemd is not running here, so nothing was started. Start sluiced
with the unit's command line and capabilities:

  mkdir -p /run/sluice /var/lib/sluice && chmod 0750 /run/sluice
  setpriv --no-new-privs --bounding-set=-all,$caps \\
      --inh-caps=-all,$caps --ambient-caps=-all,$caps \\
      $PREFIX/sbin/sluiced -c $CONF &

Reload with \`kill -HUP PID\`, stop with \`kill PID\` (SIGTERM). The unit is in
$PREFIX/lib/systemd/system/sluiced.service for when systemd runs:
\`systemctl enable --now sluiced\`. More: $PREFIX/share/doc/sluice/OPERATIONS.md
MSG
fi
