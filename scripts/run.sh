#!/usr/bin/env bash
# The README's run command: installs what it needs, builds, and starts
# sluiced (the kernel meter host agent) with live counters. Until the gateway
# data path lands, a demo sender plays the gateway: it opens metered
# connections in sluiced's cgroup and writes WebSocket, SSE and native frames,
# so the counters move. Ctrl-C stops everything and removes the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" all

PIN=${SLUICE_PIN_ROOT:-/sys/fs/bpf/sluice-demo}
CG="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)/sluice-demo"
mkdir -p "$CG"

cleanup() {
	kill "${demo_pid:-}" "${daemon_pid:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	build/sluiced --cleanup --pin-root "$PIN" || true
	echo $$ >"$(dirname "$CG")/cgroup.procs" 2>/dev/null || true
	rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

build/sluiced --pin-root "$PIN" --cgroup "$CG" &
daemon_pid=$!
sleep 1

(
	seed=1
	while true; do
		for f in ws sse len4; do
			build/sluice-meter-test --pin-root "$PIN" --cgroup "$CG" send --framing $f \
				--mode writev --frames 200 --max-size 2000 --seed $seed --app 1 --keep-usage >/dev/null || true
			seed=$((seed + 1))
		done
		sleep 1
	done
) &
demo_pid=$!

echo "sluiced is metering; in another terminal try:"
echo "  build/sluicectl --pin-root $PIN map dump sluice_app_usage | head"
echo "  build/sluicectl --pin-root $PIN conn list      # cat $PIN/conns"
echo "  bpftool map dump pinned $PIN/sluice_drops"
wait "$daemon_pid"
