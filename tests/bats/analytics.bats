#!/usr/bin/env bats
# Analytics after a scripted run: known events to known subscribers, and
# every view (sluicectl, /metrics, the kernel's maps) reports exactly them.

load helpers

setup() {
	sl_setup_instance
	SL_APPS="applications:
  - {id: subs, subscribe: ['>'], api_keys: [{sha256: $(printf %s sub-key | sha256sum | cut -d' ' -f1)}]}
  - {id: tester, subscribe: ['>'], publish: ['>'], api_keys: [{sha256: $(printf %s test-key | sha256sum | cut -d' ' -f1)}]}"
	export SL_APPS
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

@test "app usage, stats, /metrics and the kernel agree on a scripted run" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	for n in 1 2; do
		$PY "$CLIENT" ws-sub "$WS" an.t --header 'X-API-Key: sub-key' --count 10 --timeout 5 \
			--ready-file "$BATS_TEST_TMPDIR/r$n" >"$BATS_TEST_TMPDIR/ws$n.json" &
		eval "w$n=\$!"
	done
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && [ -e "$BATS_TEST_TMPDIR/r2" ] && break; sleep 0.05; done
	sleep 0.2
	pub an.t --count 10 --size 100 >/dev/null
	wait $w1 $w2
	got=$(( $(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws1.json") + $(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws2.json") ))
	[ "$got" -eq 20 ]
	run $CTL -j app usage subs
	echo "$output"
	[ "$(echo "$output" | json 'd["events_total"]')" -eq 20 ]
	[ "$(echo "$output" | json 'd["source"]')" = kernel ]
	run $CTL -j stats
	echo "$output"
	[ "$(echo "$output" | json 'd["published"]')" -eq 10 ]
	[ "$(echo "$output" | json 'd["events"]')" -eq 20 ]
	[ "$(echo "$output" | json 'd["latency_us"]["count"]')" -eq 20 ]
	[ "$(echo "$output" | json 'd["events_last_minute"] + 0 >= 0')" = True ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *'sluice_app_events_total{app="subs"} 20'* ]]
	[[ "$output" == *'sluice_delivery_latency_seconds_count 20'* ]]
	[[ "$output" == *'sluice_delivered_events_total 20'* ]]
	[ "$(bpftool -j map lookup pinned "$PIN/sluice_app_usage" key 1 0 0 0 | json 'd["formatted"]["value"]["events_total"]')" -eq 20 ]
}

@test "backend health: connected publishers with their heartbeat and counts" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY - "$PUB" <<'PY' &
import socket, struct, sys, time, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(m):
    b = msgpack.packb(m); s.sendall(struct.pack(">I", len(b)) + b)
send({"op": "hello", "token": "test-key", "name": "prices-feed"})
for i in range(4):
    send({"op": "pub", "topic": "h.t", "data": b"x"})
send({"op": "pub", "topic": "h.*", "data": b"x"})
send({"op": "ping"})
time.sleep(3)
PY
	p=$!
	sleep 1
	run $CTL -j stats
	echo "$output"
	[ "$(echo "$output" | json '[(b["name"], b["published"], b["errors"]) for b in d["backends"]]')" = "[('prices-feed', 4, 1)]" ]
	[ "$(echo "$output" | json 'd["backends"][0]["heartbeat_age_ms"] < 2000')" = True ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *"sluice_backends_connected 1"* ]]
	wait $p
}

@test "sluicectl top shows live rates in a pseudo-terminal" {
	sl_start_gateway
	$PY "$CLIENT" ws-sub "$WS" top.t --header 'X-API-Key: sub-key' --count 1000 --timeout 4 >/dev/null &
	w=$!
	sleep 0.3
	( for i in 1 2 3; do pub top.t --count 50 >/dev/null; sleep 0.5; done ) &
	script -qec "timeout 3 $REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock top" /dev/null >"$BATS_TEST_TMPDIR/top.out" || true
	wait $w
	cat "$BATS_TEST_TMPDIR/top.out" | tr -d '\033' | tail -20
	grep -q "events/s" "$BATS_TEST_TMPDIR/top.out"
	grep -q "APPLICATION" "$BATS_TEST_TMPDIR/top.out"
	# some screen showed a non-zero rate
	grep -Eq "events/s [1-9]" "$BATS_TEST_TMPDIR/top.out"
}
