#!/usr/bin/env bats
# The kernel meter on the real kernel with real sockets (issue #2): every
# framing, every way of writing, caps, selection, pins across restarts,
# close records, clean detach. The sender checks byte-exact delivery and the
# kernel's counters itself and prints OK or the mismatches.

load helpers

setup() {
	sl_setup_instance
}

teardown() {
	sl_teardown_instance
}

exact() {
	run meter send "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *OK* ]]
}

@test "ws: batched writevs, random sizes, three seeds, exact" {
	for seed in 1 2 3; do exact --framing ws --mode writev --frames 300 --seed $seed --prefix; done
}

@test "len4: batched writevs, random sizes, three seeds, exact" {
	for seed in 1 2 3; do exact --framing len4 --mode writev --frames 300 --seed $seed; done
}

@test "sse: batched writevs, random sizes, three seeds, exact" {
	for seed in 1 2 3; do exact --framing sse --mode writev --frames 300 --seed $seed --prefix; done
}

@test "tls: batched writevs of records, three seeds, exact" {
	for seed in 1 2 3; do exact --framing tls --mode writev --frames 300 --seed $seed --prefix; done
}

@test "every framing: writes split at random points, headers included, exact" {
	for f in ws len4 sse tls; do
		for seed in 4 5 6; do exact --framing $f --mode split --frames 300 --seed $seed --prefix; done
	done
}

@test "every framing: 1-byte writes, exact" {
	for f in ws len4 sse tls; do
		exact --framing $f --mode bytes1 --frames 60 --max-size 300 --seed 7 --prefix
	done
}

@test "every framing: nonblocking writes to a slow reader, partial pushes resynced, exact" {
	for f in ws len4 sse tls; do
		for seed in 8 9 10; do
			exact --framing $f --mode nonblock --frames 200 --seed $seed
			[[ "$output" =~ short_writes=[1-9] ]] # partial writes did happen
		done
	done
	# ...and the meter undid the unsent part of passes at least once
	[[ "$output" =~ rewinds=[1-9] ]]
}

@test "every framing: writevs of hundreds of small frames fill passes to the pending list's limit, exact" {
	# SL_PASS_MAX_FRAMES (64) frames end a pass; writevs of up to 600 frames of
	# at most 200 bytes make full passes, and the slow reader makes pushes of
	# full passes fail part-way, so rewinds walk the whole pending list.
	for f in ws len4 sse tls; do
		exact --framing $f --mode writev --frames 3000 --max-size 200 --batch 600 --seed 41 --prefix
		exact --framing $f --mode nonblock --frames 3000 --max-size 200 --batch 600 --seed 42
		[[ "$output" =~ short_writes=[1-9] ]]
	done
	[[ "$output" =~ rewinds=[1-9] ]]
}

@test "every framing: runs of like frames, with lookalikes that differ in one byte, exact" {
	# The meter takes a frame whose head repeats the last one it parsed
	# without parsing it. Runs of frames of one size, events mixed with
	# replies whose heads differ from an event's only in the marker's last
	# byte: a memo keyed on fewer bytes than the parse reads miscounts them.
	for f in ws len4 sse tls; do
		exact --framing $f --mode writev --frames 3000 --max-size 200 --batch 600 --seed 51 --runs
		exact --framing $f --mode writev --frames 600 --max-size 70000 --batch 64 --seed 52 --runs --prefix
		exact --framing $f --mode nonblock --frames 3000 --max-size 200 --batch 600 --seed 53 --runs
		[[ "$output" =~ short_writes=[1-9] ]]
	done
}

@test "every framing: runs of hundreds of like frames are taken as runs, rewound inside, exact" {
	# A run of like frames is one entry of the pending list (up to 255
	# frames), so a pass is no longer cut every 64 frames: 3,000 frames in
	# writevs of 600 take fewer runs of the program than 3000 / 64. Slow
	# readers make pushes stop inside runs, which the rewind splits. (TLS
	# records are never parsed as runs.) The meter's counters add up over
	# the test, hence the differences.
	runs=0
	for f in ws len4 sse tls; do
		exact --framing $f --mode writev --frames 3000 --max-size 200 --batch 600 --seed 61 --long-runs
		before=$runs
		runs=$(grep -o ' runs=[0-9]*' <<<"$output" | cut -d= -f2)
		[ "$f" = tls ] || [ $((runs - before)) -lt $((3000 / 64)) ]
		rewinds=$(grep -o 'rewinds=[0-9]*' <<<"$output" | cut -d= -f2)
		exact --framing $f --mode nonblock --frames 3000 --max-size 200 --batch 600 --seed 62 --long-runs
		[ "$(grep -o 'rewinds=[0-9]*' <<<"$output" | cut -d= -f2)" -gt "$rewinds" ]
		exact --framing $f --mode writev --frames 3000 --max-size 200 --batch 600 --seed 62 --long-runs --event-cap 700
		[[ "$output" =~ events=700\  ]]
		runs=$(grep -o ' runs=[0-9]*' <<<"$output" | cut -d= -f2)
	done
	exact --framing ws --mode writev --frames 2000 --max-size 200 --batch 600 --seed 64 --long-runs --app 9 --app-cap 900
	[[ "$output" =~ app_events=900 ]]
}

@test "without resync the meter notices bypassed bytes and stops pretending" {
	exact --framing len4 --mode nonblock-noresync --frames 300 --seed 9
	[[ "$output" =~ gaps=[1-9] ]]
}

@test "connection event cap: exactly the first K events arrive, stream valid, drops counted" {
	for f in ws len4 sse; do
		exact --framing $f --mode writev --frames 200 --seed 11 --event-cap 40
		[[ "$output" =~ events=40\  ]]
		[[ "$output" =~ drops=[1-9] ]]
		exact --framing $f --mode split --frames 200 --seed 12 --event-cap 17
		exact --framing $f --mode nonblock --frames 200 --seed 13 --event-cap 25
	done
}

@test "event cap with 1-byte writes: split headers are held back, not leaked" {
	for f in ws len4 sse; do
		exact --framing $f --mode bytes1 --frames 80 --max-size 200 --seed 14 --event-cap 10
	done
	[[ "$output" =~ holds=[1-9] ]]
}

@test "application event cap is shared and exact; replies and control frames still pass" {
	exact --framing ws --mode writev --frames 200 --seed 15 --app 7 --app-cap 30
	[[ "$output" =~ app_events=30 ]]
	# a second connection of the same application gets nothing more
	exact --framing ws --mode writev --frames 100 --seed 16 --app 7 --app-cap 30 --keep-usage
	[[ "$output" =~ app_events=30 ]]
	[[ "$output" =~ \ events=0\  ]]
}

@test "application event cap: concurrent sockets of one application race at the quota, exact" {
	# Writers pinned round robin to the CPUs write at once on 4-8 sockets of
	# one application, each offering more than its share of the cap. A pass
	# takes the quota in one compare-and-swap (quick_charge) or, when it does
	# not fit the quota or a connection cap, event by event (charge_event).
	# The sender checks every round: each connection
	# got its stream with only the events after its first K left out, its
	# kernel counters and close record say K, and the K add up to exactly
	# the cap, as does the application's counter.
	for f in ws len4 sse; do
		# one small frame per write: tens of thousands of passes meet at the quota
		exact --framing $f --mode writev --conns 8 --app 13 --app-cap 12000 --frames 3000 \
			--max-size 130 --batch 1 --rounds 3 --seed 1
		[ "$(grep -c '^app=13 app_events=12000 ' <<<"$output")" -eq 3 ]
		[ "$(grep -c 'arrived=12000 forced=0 ' <<<"$output")" -eq 3 ]
	done
	# connection caps under the application cap: passes fit both, then neither
	exact --framing len4 --mode writev --conns 8 --app 13 --app-cap 9000 --frames 3000 \
		--max-size 130 --batch 1 --event-cap 1500 --rounds 2 --seed 4
	[ "$(grep -c '^app=13 app_events=9000 ' <<<"$output")" -eq 2 ]
	# Batches of mixed sizes (passes that fit in part, headers across page
	# frags) and writes split anywhere. A writev the kernel takes in more
	# than one run, like a split write, can leave a header half out when
	# another socket takes the last event; that event goes on (stat
	# forced), which the sender allows for, and only then.
	exact --framing sse --mode writev --conns 6 --app 13 --app-cap 1500 --frames 600 \
		--max-size 2000 --batch 16 --rounds 3 --seed 6 --prefix
	exact --framing ws --mode split --conns 4 --app 13 --app-cap 1000 --frames 600 \
		--max-size 3000 --rounds 3 --seed 9 --runs
}

@test "drops are counted by reason in the per-CPU drop map" {
	exact --framing len4 --mode writev --frames 100 --seed 17 --event-cap 5
	run bpftool -j map dump pinned "$PIN/sluice_drops"
	[ "$status" -eq 0 ]
	# key 1 = conn_event_cap: the drops of all CPUs add up to what the sender saw
	dropped=$(echo "$output" | $PY -c '
import json, sys
total = 0
for e in json.load(sys.stdin):
    f = e["formatted"]  # decoded from BTF
    if f["key"] == 1:
        total = sum(v["value"]["frames"] for v in f["values"])
print(total)')
	[ "$dropped" -gt 0 ]
}

@test "tls: a socket over its cap is cut, after exactly K records" {
	exact --framing tls --mode writev --frames 100 --seed 18 --event-cap 20
	[[ "$output" =~ events=20\  ]]
	[[ "$output" =~ send_err=13 ]] # EACCES: the kernel refuses to send more
	[[ "$output" =~ flags=4 ]]    # SL_SOCK_F_KILLED
	[[ "$output" == *"drops_by_reason=1,0,0,0"* ]]
}

@test "tls: a socket over its application's quota is cut, and the application counts the drop, by reason" {
	exact --framing tls --mode writev --frames 100 --seed 18 --app 7 --app-cap 20
	[[ "$output" =~ events=20\  ]]
	[[ "$output" =~ flags=4 ]]
	[[ "$output" =~ app_drops=1 ]]
	[[ "$output" == *"drops_by_reason=0,1,0,0"* ]]
}

@test "sockets that are not the gateway's are never metered" {
	run meter unmetered
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *OK* ]]
}

@test "pins survive the loader; a restarted loader continues the counters" {
	run meter load
	[ "$status" -eq 0 ]
	for m in sluice_socks sluice_sockhash sluice_app_usage sluice_drops sluice_stats link_sockops link_sk_msg conns; do
		[ -e "$PIN/$m" ]
	done
	bpftool map show pinned "$PIN/sluice_app_usage" | grep -q sluice_app_usag
	exact --framing ws --mode writev --frames 100 --seed 19 --app 9
	first=$(echo "$output" | sed -n 's/.*app_events=\([0-9]*\).*/\1/p')
	exact --framing ws --mode writev --frames 100 --seed 20 --app 9 --keep-usage
	second=$(echo "$output" | sed -n 's/.*app_events=\([0-9]*\).*/\1/p')
	[ "$first" -gt 0 ]
	[ "$second" -gt "$first" ]
	# the application's counter is plain bpftool-readable with BTF field names
	run bpftool -j map lookup pinned "$PIN/sluice_app_usage" key 9 0 0 0
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | $PY -c 'import json,sys; print(json.load(sys.stdin)["formatted"]["value"]["events"])')" -eq "$second" ]
}

@test "a live connection keeps being counted across a reload of the programs" {
	exact --framing ws --mode writev --frames 200 --seed 21 --reload-midway
	exact --framing sse --mode split --frames 200 --seed 22 --reload-midway
}

@test "close records arrive on the ring buffer with the final counts" {
	exact --framing ws --mode writev --frames 50 --seed 23
	[[ "$output" =~ close:\ events=[0-9]+ ]]
	# the sender checks close events, bytes, bytes_acked and the peer's port
	[[ "$output" != *"no close record"* ]]
}

@test "the conns iterator lists live metered sockets for cat" {
	meter load
	# hold a metered connection open with a helper sender while we look
	"$METER_TEST" --pin-root "$PIN" --cgroup "$CG" send --framing ws --mode writev --frames 50 --seed 24 --hold-ms 3000 >/dev/null &
	pid=$!
	found=0
	for _ in $(seq 1 50); do
		if grep -q "framing=ws" "$PIN/conns" 2>/dev/null; then found=1; break; fi
		sleep 0.1
	done
	wait $pid
	[ "$found" -eq 1 ]
}

@test "clean detach leaves nothing behind" {
	meter load
	ids=$(bpftool -j link show | $PY -c '
import json, sys
print(" ".join(str(l["id"]) for l in json.load(sys.stdin)))')
	mine=$(for l in link_sockops link_sk_msg; do bpftool -j link show pinned "$PIN/$l" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'; done)
	[ -n "$mine" ]
	run meter cleanup
	[ "$status" -eq 0 ]
	[ ! -e "$PIN" ]
	sleep 0.2
	for id in $mine; do
		! bpftool link show id "$id" >/dev/null 2>&1
	done
	# no program of ours stays attached to the test's cgroup
	[ -z "$(bpftool cgroup show "$CG" 2>/dev/null | grep sluice)" ]
}

@test "a missing cgroup is one clear sentence, not a crash" {
	run "$METER_TEST" --pin-root "$PIN" --cgroup /nonexistent/cgroup load
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot join cgroup /nonexistent/cgroup"* ]]
}

@test "without privileges the loader says what is missing in one sentence and leaves nothing" {
	run setpriv --bounding-set=-all --inh-caps=-all "$METER_TEST" --pin-root "$PIN" --cgroup "$CG" load
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot load the kernel meter (Operation not permitted): run sluiced as root, or with CAP_BPF"* ]]
	[ ! -e "$PIN" ]
}

@test "plan backstop: after the connection's deadline the kernel lets no event out" {
	for f in ws len4 sse; do
		exact --framing $f --mode writev --frames 120 --seed 30 --max-conn-ms 300 --pause-at 50
		[[ "$output" =~ drops=[1-9] ]]
	done
	# replies and control frames still pass (the sender checks the exact stream)
	run bpftool -j map dump pinned "$PIN/sluice_drops"
	[ "$(echo "$output" | json 'sum(v["value"]["frames"] for e in d if e["formatted"]["key"] == 4 for v in e["formatted"]["values"])')" -gt 0 ]
}

@test "plan backstop: a byte rate lets out at most burst + rate x time of events" {
	exact --framing ws --mode writev --frames 400 --max-size 2000 --seed 31 --rate 65536 --burst 16384 --pace-ms 20
	[[ "$output" =~ rate:\ event_bytes= ]]
	exact --framing len4 --mode split --frames 300 --max-size 3000 --seed 32 --rate 32768 --pace-ms 10
}

@test "plan backstop: application quota windows turn on UTC boundaries" {
	# 10 events per 1 s window: a run fills it, the next window starts from zero
	exact --framing ws --mode writev --frames 60 --seed 33 --app 11 --app-cap 10 --app-window-ms 1000
	[[ "$output" =~ app_events=10\  ]]
	exact --framing ws --mode writev --frames 60 --seed 34 --app 11 --app-cap 10 --app-window-ms 1000 --keep-usage
	[[ "$output" =~ app_events=10\  ]]
	# the window's start is visible to operators
	run bpftool -j map lookup pinned "$PIN/sluice_app_usage" key 11 0 0 0
	[ "$(echo "$output" | json 'd["formatted"]["value"]["window_start_ns"] % 1000000000')" -eq 0 ]
	[ "$(echo "$output" | json 'd["formatted"]["value"]["events_total"]')" -eq 20 ]
}
