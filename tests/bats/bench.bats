#!/usr/bin/env bats
# sluice-bench against a real sluiced: exact delivery to WebSocket and SSE
# subscribers, as the benchmark's own JSON reports it. No timing assertions.

load helpers

setup() {
	sl_setup_instance
	sl_start_gateway
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

BENCH="$REPO/build/sluice-bench"

@test "bench: 50 WS + 10 SSE subscribers get every event exactly once" {
	bench_exact 60 --subs 50 --sse 10 --rate 1000 --duration 3 --payload 100 --threads 2 \
		--server-pid "$SLUICED_PID"
	[ "$(echo "$output" | json 'd["connections"]["ready"]')" = 60 ]
	[ "$published" -ge 2000 ]
	[ "$(echo "$output" | json 'd["loss"]')" = 0 ]
	[ "$(echo "$output" | json 'd["duplicates"]')" = 0 ]
	[ "$(echo "$output" | json 'd["gaps"]')" = 0 ]
	[ "$(echo "$output" | json 'd["bad"]')" = 0 ]
	[ "$(echo "$output" | json 'd["errors"]')" = 0 ]
	[ "$(echo "$output" | json 'd["error"]')" = "" ]
	[ "$(echo "$output" | json 'd["server"]["rss_max_kib"] > 0')" = True ]
}

@test "bench: several topics, each subscriber counts only its own" {
	bench_exact 5 --subs 40 --topics 8 --publishers 2 --rate 2000 --duration 2
}

@test "bench: idle mode holds connections and reports the server's RSS per connection" {
	run "$BENCH" idle --system sluice --port "$SUB" --subs 200 --duration 1 \
		--server-pid "$SLUICED_PID" --json --quiet
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | json 'd["connections"]["ready"]')" = 200 ]
	[ "$(echo "$output" | json 'd["server"]["rss_per_sub_bytes"] >= 0')" = True ]
}

@test "bench: a refused publisher token is an error, not a silent zero" {
	run "$BENCH" latency --system sluice --port "$SUB" --pub-port "$PUB" --token wrong-key \
		--subs 2 --rate 10 --duration 1 --json --quiet
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | json '"sluice err" in d["error"] or "closed" in d["error"]')" = True ]
}

@test "bench: usage errors exit 2" {
	run "$BENCH" fanout --system nope --port 1
	[ "$status" -eq 2 ]
	run "$BENCH" fanout --system nats --port 1 --pub-port 2 --sse 3
	[ "$status" -eq 2 ]
	# A number is digits only: what strtoul would read past or guess is a usage error.
	for subs in 1e3 +4 ' 4' -1 4x ''; do
		run "$BENCH" fanout --system nats --port 1 --pub-port 2 --subs "$subs"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--subs"* ]]
	done
}

link_prog_name() {
	id=$(bpftool -j link show pinned "$PIN/link_sk_msg" | json 'd["prog_id"]')
	bpftool -j prog show id "$id" | json 'd["name"]'
}

@test "bench: meter-floor swaps the running meter for a no-op sk_msg program; events still flow; a restart puts the meter back" {
	[ "$(link_prog_name)" = sluice_meter ]
	run "$BENCH" meter-floor --pin-root "$PIN"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(link_prog_name)" = sluice_floor ]
	bench_exact 20 --subs 20 --rate 500 --duration 2 --payload 100 --threads 1
	[ "$published" -ge 500 ]
	[ "$(echo "$output" | json 'd["loss"]')" = 0 ]
	sl_restart_gateway
	[ "$(link_prog_name)" = sluice_meter ]
}

@test "bench: meter-floor usage and a missing pin root are errors, not silent" {
	run "$BENCH" meter-floor
	[ "$status" -eq 2 ]
	[[ "$output" == *"--pin-root is required"* ]]
	run "$BENCH" meter-floor --pin-root "$PIN" extra
	[ "$status" -eq 2 ]
	run "$BENCH" meter-floor --pin-root "$BATS_TEST_TMPDIR/nothing"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no sk_msg link at"* ]]
	[ "$(link_prog_name)" = sluice_meter ]
}
