#!/usr/bin/env bats
# Analytics after a scripted run: known events to known subscribers, and
# every view (sluicectl, /metrics, the kernel's maps) reports exactly them.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	sl_setup_instance
	SL_APPS="applications:
  - {id: subs, subscribe: ['>'], api_keys: [{sha256: $(sl_sha256 sub-key)}]}
  - {id: tester, subscribe: ['>'], publish: ['>'], api_keys: [{sha256: $(sl_sha256 test-key)}]}"
	export SL_APPS
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

# Two WebSocket subscribers of application subs on TOPIC, each to read COUNT
# events or stop after TIMEOUT seconds, writing ws1.json and ws2.json: ready
# (subscribed) when this returns; $w1 and $w2 are their PIDs.
two_subs() {
	for n in 1 2; do
		$PY "$CLIENT" ws-sub "$WS" "$1" --header 'X-API-Key: sub-key' --count "$2" --timeout "$3" \
			--ready-file "$BATS_TEST_TMPDIR/r$n" >"$BATS_TEST_TMPDIR/ws$n.json" &
		eval "w$n=\$!"
	done
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && [ -e "$BATS_TEST_TMPDIR/r2" ] && break; sleep 0.05; done
	sleep 0.2
}

# One subscriber of application subs on TOPIC, ready before COUNT events are
# published there, and gone once it has them all.
sub_then_pub() {
	rm -f "$BATS_TEST_TMPDIR/r1"
	$PY "$CLIENT" ws-sub "$WS" "$1" --header 'X-API-Key: sub-key' --count "$2" --timeout 5 \
		--ready-file "$BATS_TEST_TMPDIR/r1" >/dev/null &
	local w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && break; sleep 0.05; done
	sleep 0.2
	pub "$1" --count "$2" >/dev/null
	wait $w
}

@test "app usage, stats, /metrics and the kernel agree on a scripted run" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	two_subs an.t 10 5
	# so far only the two subscribers were written to: what sluiced wrote is what the kernel metered
	b0=$($CTL -j stats | json 'd["bytes"]')
	u0=$($CTL -j app usage subs | json 'd["bytes"]')
	[ "$b0" -gt 0 ] && [ "$b0" -eq "$u0" ]
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
	# the events on top, and the publisher's answers (not the subscribers' application's)
	b1=$(echo "$output" | json 'd["bytes"]')
	u1=$($CTL -j app usage subs | json 'd["bytes"]')
	[ $((u1 - u0)) -gt 2000 ] && [ $((b1 - b0)) -gt $((u1 - u0)) ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *"sluice_written_bytes_total $b1"* ]]
	[[ "$output" == *'sluice_app_events_total{app="subs"} 20'* ]]
	[[ "$output" == *'sluice_delivery_latency_seconds_count 20'* ]]
	[[ "$output" == *'sluice_delivered_events_total 20'* ]]
	[ "$(bpftool -j map lookup pinned "$PIN/sluice_app_usage" key 1 0 0 0 | json 'd["formatted"]["value"]["events_total"]')" -eq 20 ]
	# the busiest first: subs got the 20 events, tester none
	run $CTL -j app list top 1
	[ "$(echo "$output" | json '[(a["id"], a["events_total"]) for a in d]')" = "[('subs', 20)]" ]
	run $CTL -j app list top 5
	[ "$(echo "$output" | json '[a["id"] for a in d]')" = "['subs', 'tester']" ]
	run -2 $CTL app list top 0
	run -2 $CTL app list top 1001
	run -2 $CTL app list top
	run -2 $CTL app list busiest 3
	# the daemon checks N on its own too
	for bad in 0 1001 x ""; do
		[ "$(sl_control app.list "$bad")" = "error: top N: N is 1 to 1000" ]
	done
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
	# the busiest topics, with their delivery rate
	grep -q "DELIVERED" "$BATS_TEST_TMPDIR/top.out"
	# with each one's p99 delivery latency
	[ "$(grep -c 'P99(us)' "$BATS_TEST_TMPDIR/top.out")" -ge 2 ]
	grep -Eq "^top\.t +[0-9]+ +[0-9]+ +[1-9]" "$BATS_TEST_TMPDIR/top.out"
}

@test "conn show, topic show, app series and /metrics count exactly what the clients received" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	# --count 13: the clients stay connected (until the timeout) after the 12 events
	two_subs cs.t 13 4
	pub cs.t --count 12 --size 300 >/dev/null
	pub cs.idle --count 5 >/dev/null
	# while the clients are still connected: one record per connection
	for _ in $(seq 1 100); do
		[ "$($CTL -j conn list app subs | json 'sum(c["written_events"] for c in d)')" -eq 24 ] && break
		sleep 0.05
	done
	ids=$($CTL -j conn list app subs | json '" ".join(str(c["id"]) for c in d)')
	[ "$(echo $ids | wc -w)" -eq 2 ]
	sleep 0.3
	total_bytes=0
	for id in $ids; do
		run $CTL -j conn show "$id"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(echo "$output" | json '(d["events"], d["written_events"], d["source"], d["app"], d["subscriptions"])')" = "(12, 12, 'kernel', 'subs', ['cs.t'])" ]
		# TCP acknowledged at least every byte the kernel metered (plus the handshake answer)
		[ "$(echo "$output" | json 'd["tcp"]["bytes_acked"] >= d["bytes"] > 0')" = True ]
		total_bytes=$((total_bytes + $(echo "$output" | json 'd["bytes"]')))
		run $CTL conn show "$id"
		[[ "$output" == *"bytes_acked"* ]]
	done
	wait $w1 $w2
	ev_bytes=$(( $(json 'd["event_bytes"]' <"$BATS_TEST_TMPDIR/ws1.json") + $(json 'd["event_bytes"]' <"$BATS_TEST_TMPDIR/ws2.json") ))
	all_bytes=$(( ev_bytes + $(json 'd["reply_bytes"]' <"$BATS_TEST_TMPDIR/ws1.json") + $(json 'd["reply_bytes"]' <"$BATS_TEST_TMPDIR/ws2.json") ))
	# the kernel's per-connection bytes are the frames the clients read plus each
	# connection's HTTP 101 answer (the same size for both)
	answer=$(( (total_bytes - all_bytes) / 2 ))
	[ $(( total_bytes - all_bytes )) -eq $(( 2 * answer )) ]
	[ "$answer" -gt 100 ] && [ "$answer" -lt 400 ]
	# the close lines say who, what, the final counts and what TCP saw acknowledged
	for _ in $(seq 1 40); do [ "$(grep -c '"msg":"conn_close".*"app":"subs"' "$LOG")" -eq 2 ] && break; sleep 0.05; done
	[ "$(grep '"msg":"conn_close".*"app":"subs"' "$LOG" | $PY -c 'import json,sys; print(sorted({(tuple(d["topics"]), d["events"], d["bytes_acked"] > 4000, d["drops"], d["latency_p99_us"] > 0) for d in map(json.loads, sys.stdin)}))')" = "[(('cs.t',), 12, True, 0, True)]" ]
	run $CTL -j topic show cs.t
	echo "$output"
	[ "$(echo "$output" | json '(d["published"], d["events"], d["bytes"])')" = "(12, 24, $ev_bytes)" ]
	run $CTL -j topic show cs.idle
	[ "$(echo "$output" | json '(d["published"], d["events"])')" = "(5, 0)" ]
	run $CTL -j topic list top 1
	[ "$(echo "$output" | json '[t["name"] for t in d]')" = "['cs.t']" ]
	run $CTL topic list
	[[ "$output" == *DELIVERED* ]]
	# the application's per-second series holds the same 24 events
	sleep 2.2
	run $CTL -j app series subs 30
	echo "$output"
	[ "$(echo "$output" | json '(len(d["events_per_second"]), sum(d["events_per_second"]))')" = "(30, 24)" ]
	run $CTL app series subs 3
	[ "${#lines[@]}" -eq 3 ]
	run -2 $CTL app series subs 0
	run -2 $CTL app series subs 3601
	# a whole hour (SPEC: at least the last hour in memory)
	run $CTL -j app series subs 3600
	[ "$(echo "$output" | json '(len(d["events_per_second"]), sum(d["events_per_second"]))')" = "(3600, 24)" ]
	run -1 $CTL app series nobody
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *'sluice_topic_events_total{topic="cs.t"} 24'* ]]
	[[ "$output" == *"sluice_topic_bytes_total{topic=\"cs.t\"} $ev_bytes"* ]]
	[[ "$output" == *'sluice_app_events_total{app="subs"} 24'* ]]
}

# A backend (named native publisher) that publishes COUNT events on TOPIC,
# then stays connected for HOLD seconds so that the rate ticks see it.
backend_pub() {
	$PY - "$PUB" "$1" "$2" "$3" <<'PY'
import socket, struct, sys, time, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(m):
    b = msgpack.packb(m); s.sendall(struct.pack(">I", len(b)) + b)
send({"op": "hello", "token": "test-key", "name": "series-feed"})
for i in range(int(sys.argv[3])):
    send({"op": "pub", "topic": sys.argv[2], "data": b"x" * 50})
time.sleep(float(sys.argv[4]))
PY
}

@test "per connection, topic, backend and application: an hour of events per second and the latency histogram" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	two_subs ls.t 13 6
	backend_pub ls.t 12 4 &
	b=$!
	for _ in $(seq 1 100); do
		[ "$($CTL -j conn list app subs | json 'sum(c["written_events"] for c in d)')" -eq 24 ] && break
		sleep 0.05
	done
	# past two rate ticks: the events are in complete seconds
	sleep 2.2
	ids=$($CTL -j conn list app subs | json '" ".join(str(c["id"]) for c in d)')
	[ "$(echo $ids | wc -w)" -eq 2 ]
	for id in $ids; do
		run $CTL -j conn series "$id" 30
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(echo "$output" | json '(d["id"], len(d["events_per_second"]), sum(d["events_per_second"]))')" = "($id, 30, 12)" ]
		run $CTL -j conn show "$id"
		echo "$output"
		# every delivery in the histogram, each in one bucket
		[ "$(echo "$output" | json '(d["latency_us"]["count"], sum(d["latency_us"]["buckets"].values()))')" = "(12, 12)" ]
		[ "$(echo "$output" | json 'd["latency_us"]["p50"] <= d["latency_us"]["p99"]')" = True ]
		run $CTL conn series "$id" 5
		[ "${#lines[@]}" -eq 5 ]
	done
	# the backend's series is what it published, its histogram what was delivered of it
	bid=$($CTL -j stats | json '[x["id"] for x in d["backends"] if x["name"] == "series-feed"][0]')
	run $CTL -j conn show "$bid"
	echo "$output"
	[ "$(echo "$output" | json '(d["backend"]["latency_us"]["count"], sum(d["backend"]["latency_us"]["buckets"].values()))')" = "(24, 24)" ]
	run $CTL -j conn series "$bid" 3600
	[ "$(echo "$output" | json '(len(d["events_per_second"]), sum(d["events_per_second"]))')" = "(3600, 12)" ]
	run $CTL -j topic series ls.t
	echo "$output"
	[ "$(echo "$output" | json '(d["name"], len(d["events_per_second"]), sum(d["events_per_second"]))')" = "('ls.t', 60, 24)" ]
	run $CTL -j topic show ls.t
	[ "$(echo "$output" | json '(d["latency_us"]["count"], sum(d["latency_us"]["buckets"].values()))')" = "(24, 24)" ]
	[ "$(echo "$output" | json 'd["p99_us"] == d["latency_us"]["p99"] > 0')" = True ]
	[ "$($CTL -j topic list | json '[t["p99_us"] > 0 for t in d]')" = "[True]" ]
	run $CTL -j app show subs
	[ "$(echo "$output" | json 'd["latency_us"]["count"]')" -eq 24 ]
	run $CTL -j stats
	echo "$output"
	# two subscribers, the backend and the topic; the default budget
	[ "$(echo "$output" | json '(d["series"]["kept"], d["series"]["max"], d["series"]["refused"])')" = "(4, 1024, 0)" ]
	[ "$(echo "$output" | json 'sum(d["latency_us"]["buckets"].values())')" -eq 24 ]
	# bad requests: usage errors exit 2, unknown objects 1, nothing else changes
	run -2 $CTL conn series
	run -2 $CTL conn series "$bid" 0
	run -2 $CTL conn series "$bid" 3601
	run -2 $CTL conn series "$bid" 10s
	run -2 $CTL conn series "$bid" ""
	run -2 $CTL topic series ls.t 1 2
	run -1 $CTL conn series 12345
	[[ "$output" == *"no such connection"* ]]
	# an ID is digits only, here as in conn show and kick: not read as far as it goes
	for bad in nobody 12abc " $id" -1 "$id.0"; do
		run -2 --separate-stderr $CTL -j conn series "$bad"
		[[ "$(echo "$output" | json 'd["error"]')" == *"is not a connection ID"* ]]
	done
	# the daemon refuses them on its own too (the control socket is its API)
	for bad in "${id}abc" " $id" "-$id" "$id.0" ""; do
		run $PY -c '
import msgpack, socket, struct, sys
for op in ("conn.show", "conn.series", "conn.kick"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    m = msgpack.packb({"op": op, "arg": sys.argv[2] + ("\n5" if op == "conn.series" else "")})
    s.sendall(struct.pack(">I", len(m)) + m)
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    print(msgpack.unpackb(s.recv(n, socket.MSG_WAITALL)).get("error"))' "$BATS_TEST_TMPDIR/control.sock" "$bad"
		echo "$output"
		[ "$output" = "$(printf 'a connection id is needed\n%.0s' 1 2 3 | head -c -1)" ]
	done
	# and it is still there to be shown
	[ "$($CTL -j conn show "$id" | json 'd["id"]')" = "$id" ]
	run -1 $CTL topic series no.such
	[[ "$output" == *"no such topic"* ]]
	run -1 $CTL topic series "$(printf 'a%.0s' $(seq 1 400))"
	run $CTL -j topic series ls.t 3600
	[ "$(echo "$output" | json 'sum(d["events_per_second"])')" -eq 24 ]
	wait $w1 $w2 $b
	# a closed connection's series goes with it
	for _ in $(seq 1 60); do [ "$($CTL -j stats | json 'd["series"]["kept"]')" -eq 1 ] && break; sleep 0.05; done
	[ "$($CTL -j stats | json 'd["series"]["kept"]')" -eq 1 ]
}

@test "a resume's deliveries are counted, not timed: the latency histograms hold live deliveries only" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	pub rz.t --count 5 >/dev/null
	# old enough that, timed, they would sit in the 10 s bucket
	sleep 1.1
	$PY "$CLIENT" ws-sub "$WS" rz.t --header 'X-API-Key: sub-key' --since 0 --count 6 --timeout 5 \
		--ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	for _ in $(seq 1 100); do
		[ "$($CTL -j stats | json 'd["resumes"]["replayed_events"]')" -eq 5 ] && break
		sleep 0.05
	done
	pub rz.t --count 1 >/dev/null
	wait $w
	[ "$(json '[e["seq"] for e in d["events"]]' <"$BATS_TEST_TMPDIR/ws.json")" = "[1, 2, 3, 4, 5, 6]" ]
	run $CTL -j stats
	echo "$output"
	[ "$(echo "$output" | json '(d["events"], d["resumes"]["replayed_events"], d["latency_us"]["count"], d["latency_us"]["buckets"]["10000000"])')" = "(6, 5, 1, 0)" ]
	run $CTL -j topic show rz.t
	[ "$(echo "$output" | json '(d["events"], d["latency_us"]["count"])')" = "(6, 1)" ]
	run $CTL -j app show subs
	[ "$(echo "$output" | json 'd["latency_us"]["count"]')" -eq 1 ]
}

@test "a slot handed to a new application, all others held, starts its analytics from zero" {
	# 4,095 applications hold every kernel slot: a newcomer can only take a removed one's
	$PY -c 'print("applications:"); print("\n".join("  - {id: f%d, subscribe: [\x27>\x27]}" % i for i in range(4093)))' \
		>"$BATS_TEST_TMPDIR/fill.yaml"
	sl_start_gateway "policies: [$BATS_TEST_TMPDIR/fill.yaml]"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	sub_then_pub sl.t 2
	sleep 1.2
	run $CTL -j app show subs
	echo "$output" | head -c 600
	slot=$(echo "$output" | json 'd["slot"]')
	[ "$(echo "$output" | json '(d["events_total"], d["latency_us"]["count"])')" = "(2, 2)" ]
	[ "$($CTL -j app series subs 30 | json 'sum(d["events_per_second"])')" -eq 2 ]
	# subs leaves the config, newcomer comes: the only slot it can have is subs'
	sed -i 's/{id: subs,/{id: newcomer,/' "$CONF"
	kill -HUP "$SLUICED_PID"
	for _ in $(seq 1 100); do grep -q '"msg":"reload"' "$LOG" && break; sleep 0.05; done
	run $CTL -j app show newcomer
	echo "$output" | head -c 600
	[ "$(echo "$output" | json 'd["slot"]')" -eq "$slot" ]
	[ "$(echo "$output" | json '(d["events_total"], d["latency_us"]["count"], d["published"], d["events_per_second"])')" = "(0, 0, 0, 0)" ]
	[ "$($CTL -j app series newcomer 30 | json 'sum(d["events_per_second"])')" -eq 0 ]
}

@test "metrics.max_series bounds the series kept; the rest say why they have none" {
	sl_start_gateway "metrics: {max_series: 1}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY "$CLIENT" ws-sub "$WS" mx.t --header 'X-API-Key: sub-key' --count 4 --timeout 5 \
		--ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	sleep 0.2
	pub mx.t --count 3 >/dev/null
	sleep 2.2
	run $CTL -j stats
	echo "$output"
	# the topic's tick comes first and takes the one series; the subscriber is refused
	[ "$(echo "$output" | json '(d["series"]["kept"], d["series"]["max"], d["series"]["refused"])')" = "(1, 1, 1)" ]
	run $CTL -j topic series mx.t
	[ "$(echo "$output" | json 'sum(d["events_per_second"])')" -eq 3 ]
	id=$($CTL -j conn list app subs | json 'd[0]["id"]')
	run -1 $CTL conn series "$id"
	echo "$output"
	[[ "$output" == *"metrics.max_series"* ]]
	# the rest of its analytics are there all the same
	[ "$($CTL -j conn show "$id" | json 'd["latency_us"]["count"]')" -eq 3 ]
	pub mx.t --count 1 >/dev/null
	wait $w
	sl_stop_gateway
	sl_start_gateway "metrics: {max_series: 0}"
	sub_then_pub mx.t 1
	sleep 1.2
	run -1 $CTL topic series mx.t
	[[ "$output" == *"metrics.max_series is 0"* ]]
	sl_stop_gateway
	# out of range: the config is refused with where and why
	for bad in -1 100001 many; do
		printf 'metrics: {max_series: %s}\n' "$bad" >"$BATS_TEST_TMPDIR/bad.yaml"
		run -1 "$REPO/build/sluiced" --check -c "$BATS_TEST_TMPDIR/bad.yaml"
		echo "$output"
		[[ "$output" == *"max_series"* ]]
	done
}

@test "publish errors are counted by kind" {
	sl_start_gateway
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY - "$PUB" <<'PY'
import socket, struct, sys, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(m):
    b = m if isinstance(m, bytes) else msgpack.packb(m)
    s.sendall(struct.pack(">I", len(b)) + b)
def recv():
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    return msgpack.unpackb(s.recv(n, socket.MSG_WAITALL))
send({"op": "hello", "token": "test-key", "name": "errs"}); recv()
send({"op": "pub", "id": 1, "topic": "a.*", "data": b"x"}); recv()     # invalid_topic
send({"op": "pub", "id": 2, "topic": "a..b", "data": b"x"}); recv()    # invalid_topic
send(b"\xc1"); recv()                                                  # malformed
send({"op": "pub", "id": 3, "topic": "ok.t", "data": b"x"}); print(recv())
PY
	# forbidden: subs may not publish over HTTP
	run curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: sub-key' -d x "http://127.0.0.1:$ADMIN/v1/publish?topic=f.t"
	[ "$output" = 403 ]
	run $CTL -j stats
	echo "$output"
	[ "$(echo "$output" | json 'd["publish_errors"]')" -eq 4 ]
	[ "$(echo "$output" | json '{k: v for k, v in d["publish_errors_by_kind"].items() if v}')" = "{'malformed': 1, 'forbidden': 1, 'invalid_topic': 2}" ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *'sluice_publish_errors_total{kind="invalid_topic"} 2'* ]]
	[[ "$output" == *'sluice_publish_errors_total{kind="forbidden"} 1'* ]]
	# and by application: the backend's three and its one event are tester's, the 403 is subs'
	run $CTL -j app show tester
	echo "$output"
	[ "$(echo "$output" | json '(d["published"], {k: v for k, v in d["publish_errors_by_kind"].items() if v})')" = "(1, {'malformed': 1, 'invalid_topic': 2})" ]
	run $CTL -j app show subs
	[ "$(echo "$output" | json '(d["published"], {k: v for k, v in d["publish_errors_by_kind"].items() if v})')" = "(0, {'forbidden': 1})" ]
}

@test "/metrics labels at most metrics.top_n topics and applications, the rest as _other" {
	sl_start_gateway "metrics: {top_n: 1}"
	$PY "$CLIENT" ws-sub "$WS" 'mt.>' --header 'X-API-Key: sub-key' --count 6 --timeout 5 \
		--ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	sleep 0.2
	pub mt.a --count 3 >/dev/null
	pub mt.b --count 2 >/dev/null
	pub mt.c --count 1 >/dev/null
	wait $w
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	echo "$output" | grep sluice_topic_events_total
	[ "$(echo "$output" | grep -c '^sluice_topic_events_total{')" -eq 2 ]
	[[ "$output" == *'sluice_topic_events_total{topic="mt.a"} 3'* ]]
	[[ "$output" == *'sluice_topic_events_total{topic="_other"} 3'* ]]
	[ "$(echo "$output" | grep -c '^sluice_app_events_total{')" -eq 2 ]
	[[ "$output" == *'sluice_app_events_total{app="subs"} 6'* ]]
	[[ "$output" == *'sluice_app_events_total{app="_other"} 0'* ]]
	# the same labels for the latency histograms: each delivery in one, _other summed
	[[ "$output" == *'sluice_topic_delivery_latency_seconds_count{topic="mt.a"} 3'* ]]
	[[ "$output" == *'sluice_topic_delivery_latency_seconds_count{topic="_other"} 3'* ]]
	[[ "$output" == *'sluice_topic_delivery_latency_seconds_bucket{topic="_other",le="+Inf"} 3'* ]]
	[[ "$output" == *'sluice_app_delivery_latency_seconds_count{app="subs"} 6'* ]]
	[[ "$output" == *'sluice_app_delivery_latency_seconds_count{app="_other"} 0'* ]]
	[ "$(echo "$output" | grep -c '^sluice_topic_delivery_latency_seconds_bucket{')" -eq $((2 * 15)) ]
	[[ "$output" == *$'\nsluice_delivery_latency_seconds_count 6\n'* ]]
	echo "$output" | promtool check metrics
}

@test "log.level: debug adds subscription lines, warn keeps only warnings and errors" {
	sl_start_gateway "log: {level: debug}"
	$PY "$CLIENT" ws-sub "$WS" lv.t --header 'X-API-Key: sub-key' --count 0 --timeout 0.5 >/dev/null
	for _ in $(seq 1 40); do grep -q '"msg":"conn_close"' "$LOG" && break; sleep 0.05; done
	grep '"msg":"subscribe"' "$LOG" | json '(d["level"], d["topic"])' | grep -q "('debug', 'lv.t')"
	# every line is one JSON object with a time and a level
	$PY -c 'import json,sys; [json.loads(l)["ts"] for l in open(sys.argv[1])]' "$LOG"
	sl_stop_gateway
	sl_start_gateway "log: {level: warn}"
	$PY "$CLIENT" ws-sub "$WS" lv.t --header 'X-API-Key: sub-key' --count 0 --timeout 0.5 >/dev/null
	$PY "$CLIENT" ws-sub "$WS" lv.t --header 'X-API-Key: wrong' --count 0 --timeout 0.5 >/dev/null
	for _ in $(seq 1 40); do grep -q '"msg":"auth_failed"' "$LOG" && break; sleep 0.05; done
	grep -q '"level":"warn","msg":"auth_failed"' "$LOG"
	! grep -q '"msg":"conn_open"' "$LOG"
	! grep -q '"msg":"subscribe"' "$LOG"
	# a reload applies a new level
	sed -i 's/level: warn/level: info/' "$CONF"
	kill -HUP "$SLUICED_PID"
	for _ in $(seq 1 40); do grep -q '"what":"policy"' "$LOG" && break; sleep 0.05; done
	$PY "$CLIENT" ws-sub "$WS" lv.t --header 'X-API-Key: sub-key' --count 0 --timeout 0.5 >/dev/null
	for _ in $(seq 1 40); do grep -q '"msg":"conn_open"' "$LOG" && break; sleep 0.05; done
	grep -q '"msg":"conn_open"' "$LOG"
}

@test "5,000 topics: the 1 s tick walks them in slices of 2,048 (every ring ages, every topic gets its second in its series); topic list comes in pages of 256, top N at most 1,000" {
	sl_start_gateway "retention: {count: 10, age: 1s}
metrics: {max_series: 6000}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY "$CLIENT" ws-sub "$WS" '>' --header 'X-API-Key: sub-key' --count 5000 --timeout 20 \
		--ready-file "$BATS_TEST_TMPDIR/r1" >"$BATS_TEST_TMPDIR/ws1.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && break; sleep 0.05; done
	$PY - "$PUB" <<'PY'
import socket, struct, sys, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(m):
    b = msgpack.packb(m); s.sendall(struct.pack(">I", len(b)) + b)
send({"op": "hello", "token": "test-key", "name": "many-topics"})
for i in range(5000):
    send({"op": "pub", "topic": "sw.%d" % i, "data": b"x"})
send({"op": "pub", "topic": "sw.0", "data": b"x", "id": 1})
f = s.makefile("rb")
# the acknowledged publish comes after the 5,000: all were taken
while msgpack.unpackb(f.read(struct.unpack(">I", f.read(4))[0])).get("op") != "ack":
    pass
PY
	wait $w
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws1.json")" -eq 5000 ]
	# past two ticks: the 1 s age bound has emptied every ring, whichever slice it is in
	sleep 2.5
	run $CTL -j topic list
	[ "$status" -eq 0 ]
	# twenty pages of 256, one JSON document, in creation order
	[ "$(echo "$output" | json 'len(d)')" -eq 5000 ]
	[ "$(echo "$output" | json '[t["name"] for t in d] == ["sw.%d" % i for i in range(5000)]')" = True ]
	[ "$(echo "$output" | json 'sum(t["retained"] for t in d)')" -eq 0 ]
	[ "$(echo "$output" | json 'sorted(set(t["events"] for t in d))')" = "[1, 2]" ]
	run $CTL topic list
	[ "${#lines[@]}" -eq 5001 ]
	# the busiest first (sw.0 got two events), at most 1,000 of them
	run $CTL -j topic list top 1000
	[ "$(echo "$output" | json '(len(d), d[0]["name"], d[0]["events"])')" = "(1000, 'sw.0', 2)" ]
	run -2 $CTL topic list top 1001
	[[ "$output" == *"1 to 1000"* ]]
	run -2 $CTL topic list top 10x
	# pages asked for by hand: the last has no next, a bad start is refused
	[ "$(sl_control topic.page 4864 | json '(len(d["topics"]), "next" in d)')" = "(136, False)" ]
	[ "$(sl_control topic.page 256 | json 'd["next"]')" -eq 512 ]
	[ "$(sl_control topic.page 5000)" = '{"topics":[]}' ]
	for bad in -1 12abc ""; do
		[ "$(sl_control topic.page "$bad")" = "error: a page starts at a topic's index (digits)" ]
	done
	for bad in 0 1001 ""; do
		[ "$(sl_control topic.list "$bad")" = "error: top N: N is 1 to 1000 (the whole list comes a page at a time)" ]
	done
	[ "$(sl_control topic.list)" = "error: top N: N is 1 to 1000 (the whole list comes a page at a time)" ]
	# first and last topics of each slice: each delivery in one second of the series
	for t in sw.0 sw.1 sw.2047 sw.2048 sw.4095 sw.4096 sw.4999; do
		run $CTL -j topic series "$t" 60
		echo "$t $output" | cut -c1-200
		[ "$(echo "$output" | json 'sum(d["events_per_second"])')" -eq "$($CTL -j topic show "$t" | json 'd["events"]')" ]
		[ "$(echo "$output" | json 'sum(d["events_per_second"]) > 0')" = True ]
	done
}
