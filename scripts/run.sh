#!/usr/bin/env bash
# The README's run command: installs what it needs, builds, starts sluiced
# with the demo policy (policies/demo.yaml) and the demo stock ticker, and
# prints how to watch live events. Ctrl-C stops everything; the meter's pins
# stay under the demo's pin root until `build/sluiced --cleanup --pin-root DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" all

CONF=${SLUICE_CONFIG:-policies/demo.yaml}
# Only for the message at exit: a missing or bad config is sluiced's to report, below.
PIN=$(awk -F': *' '$1 == "bpf_pin_dir" { gsub(/["\047]/, "", $2); print $2 }' "$CONF" 2>/dev/null || true)
cleanup() {
	trap - EXIT INT TERM
	kill "${ticker_pid:-}" "${daemon_pid:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	PIN=${PIN:-/sys/fs/bpf/sluice}
	if [ -d "$PIN" ]; then
		echo "stopped; the meter's counters stay pinned under $PIN for the next start" \
			"(build/sluiced --cleanup -c $CONF removes them)" >&2
	fi
}
trap cleanup EXIT INT TERM

build/sluiced -c "$CONF" &
daemon_pid=$!
for _ in $(seq 1 50); do
	curl -sf http://127.0.0.1:9090/readyz >/dev/null 2>&1 && break
	sleep 0.1
done
/usr/bin/python3 scripts/demo_ticker.py 127.0.0.1 7070 0.5 &
ticker_pid=$!

cat <<MSG

sluiced is running with the demo policy; a stock ticker publishes on stocks.*
Watch live events as Server-Sent Events:

  curl -N 'http://127.0.0.1:8080/v1/sse?topic=stocks.%3E'

or over WebSocket (subprotocol sluice.v1.msgpack; send {op:"sub",id:1,topic:"stocks.>"}):

  /usr/bin/python3 tests/tools/sl_client.py ws-sub ws://127.0.0.1:8080/v1/ws 'stocks.>' --count 10

Inspect the kernel meter: build/sluicectl conn list   (Ctrl-C stops the demo)
MSG
wait "$daemon_pid"
