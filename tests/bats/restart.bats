#!/usr/bin/env bats
# Restart without loss: SIGKILL under load, SIGTERM, SIGHUP. The retention
# journal (state_dir/journal) and the pinned maps carry a restart; clients
# resume from their last event.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	sl_setup_instance
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
	if mountpoint -q "$BATS_TEST_TMPDIR/state" 2>/dev/null; then
		umount "$BATS_TEST_TMPDIR/state"
	fi
}

# The restarted daemon must listen where the clients reconnect: pin the ports.
pin_ports() {
	sed -i "s/subscribers: {plain: \"127.0.0.1:0\"/subscribers: {plain: \"127.0.0.1:$SUB\"/;
		s/publishers: {plain: \"127.0.0.1:0\"}/publishers: {plain: \"127.0.0.1:$PUB\"}/" "$CONF"
}

topic_seq() {
	"$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j topic show "$1" | json 'd["seq"]'
}

@test "kill -9 under load: the restarted gateway resumes every client, no loss, no duplicates" {
	sl_start_gateway
	pin_ports
	for n in 1 2 3; do
		$PY "$CLIENT" ws-resume "$WS" rs.t --done-file "$BATS_TEST_TMPDIR/done" \
			--ready-file "$BATS_TEST_TMPDIR/r$n" --timeout 40 >"$BATS_TEST_TMPDIR/c$n.json" &
		eval "c$n=\$!"
	done
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && [ -e "$BATS_TEST_TMPDIR/r2" ] && [ -e "$BATS_TEST_TMPDIR/r3" ] && break; sleep 0.05; done
	# a publisher flat out, killed with the gateway in the middle of its stream
	pub rs.t --count 100000 --size 200 >/dev/null 2>&1 &
	p=$!
	sleep 1.5
	before=$(topic_seq rs.t)
	kill -9 "$SLUICED_PID"
	wait "$SLUICED_PID" || true
	SLUICED_PID=""
	wait $p || true
	sl_restart_gateway
	grep '"msg":"journal_restored"' "$LOG"
	# numbering continues where the killed daemon was (at least what it had shown)
	pub rs.t --count 200 >"$BATS_TEST_TMPDIR/pub2.json"
	final=$(topic_seq rs.t)
	echo "before kill: $before, final: $final"
	[ "$final" -ge $((before + 200)) ]
	[ "$(json 'd["seqs"][0]' <"$BATS_TEST_TMPDIR/pub2.json")" -eq $((final - 199)) ]
	echo "$final" >"$BATS_TEST_TMPDIR/done"
	wait $c1 $c2 $c3
	for n in 1 2 3; do
		# every accepted event exactly once, in order, across the restart
		json "(d['reconnects'] >= 1, d['seqs'] == list(range(1, $final + 1)))" <"$BATS_TEST_TMPDIR/c$n.json" | grep -qx "(True, True)" ||
			{ json "(d['reconnects'], len(d['seqs']), d['last'], d['closes'])" <"$BATS_TEST_TMPDIR/c$n.json"; false; }
	done
}

@test "SIGTERM persists the rings: a client resumes after a graceful restart" {
	sl_start_gateway
	pin_ports
	pub gr.t --count 50 >/dev/null
	sl_stop_gateway
	[ "$SLUICED_STATUS" -eq 0 ]
	sl_restart_gateway
	run $PY "$CLIENT" ws-sub "$WS" gr.t --since 40 --count 10 --timeout 5
	[ "$(echo "$output" | json '[e["seq"] for e in d["events"]]')" = "[41, 42, 43, 44, 45, 46, 47, 48, 49, 50]" ]
	[ "$(pub gr.t --count 1 | json 'd["seqs"]')" = "[51]" ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	[ "$(echo "$output" | json 'd["journal"]["restored"]')" -eq 50 ]
}

@test "a second sluiced on a live daemon's state_dir is refused and leaves its journal alone" {
	sl_start_gateway
	pin_ports
	pub two.t --count 5 >/dev/null
	# It used to restore and rewrite the journal before its listeners failed: the first
	# daemon then appended to an unlinked file, and its restart lost every later event.
	run "$REPO/build/sluiced" -c "$CONF"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "sluiced: state_dir $BATS_TEST_TMPDIR/state is in use by a running sluiced: stop it first, or give this one its own state_dir" ]
	pub two.t --count 5 >/dev/null
	sl_restart_gateway
	run $PY "$CLIENT" ws-sub "$WS" two.t --since 0 --count 10 --timeout 5
	[ "$(echo "$output" | json '[e["seq"] for e in d["events"]]')" = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" ]
}

@test "retention.journal: off starts every topic again after a restart (clients get 410)" {
	sl_start_gateway "retention: {journal: off}"
	pin_ports
	pub off.t --count 5 >/dev/null
	sl_restart_gateway
	[ ! -e "$BATS_TEST_TMPDIR/state/journal" ]
	pub off.t --count 1 >/dev/null
	run $PY "$CLIENT" ws-sub "$WS" off.t --since 5 --count 1 --timeout 2
	[ "$(echo "$output" | json '[r.get("code") for r in d["replies"]]')" = "[None, 410]" ]
}

@test "an unwritable journal is one clear error line, and the gateway still serves" {
	mkdir -p "$BATS_TEST_TMPDIR/state"
	mkdir "$BATS_TEST_TMPDIR/state/journal.new" # rename target blocked: the rewrite fails
	touch "$BATS_TEST_TMPDIR/state/journal.new/x"
	sl_start_gateway
	grep -q '"level":"error","msg":"journal_off"' "$LOG"
	[ "$(pub j.t --count 2 | json 'd["seqs"]')" = "[1, 2]" ]
}

@test "a full disk: after a restart no number is given out twice, the lost ones are a gap" {
	# a state_dir of 1 MiB, filled up once the first events are journaled
	mkdir -p "$BATS_TEST_TMPDIR/state"
	mount -t tmpfs -o size=1m,mode=0700 sluice-test "$BATS_TEST_TMPDIR/state"
	sl_start_gateway
	pin_ports
	# events larger than a page: each needs a new block, none fits in a page's slack
	[ "$(pub full.t --count 3 --size 5000 | json 'd["seqs"]')" = "[1, 2, 3]" ]
	dd if=/dev/zero of="$BATS_TEST_TMPDIR/state/filler" bs=4k 2>/dev/null || true
	# given out (gseq 4..8) although their records cannot be written
	[ "$(pub full.t --count 3 --size 5000 | json 'd["seqs"]')" = "[4, 5, 6]" ]
	[ "$(pub other.t --count 2 --size 5000 | json 'd["seqs"]')" = "[1, 2]" ]
	grep -q '"level":"error","msg":"journal_write_failed"' "$LOG"
	kill -9 "$SLUICED_PID"
	wait "$SLUICED_PID" || true
	SLUICED_PID=""

	# still full: the rewrite fails, the old file is appended to
	sl_restart_gateway
	grep '"msg":"journal_lost"' "$LOG" | grep -q '"lost_up_to_gseq":8'
	grep -q '"msg":"journal_not_rewritten"' "$LOG"
	# a client that saw 3 (the last journaled) or 5 (a lost one) is told of the gap
	for since in 3 5; do
		run $PY "$CLIENT" ws-sub "$WS" full.t --since $since --count 1 --timeout 2
		echo "since $since: $output"
		[ "$(echo "$output" | json '[r.get("code") for r in d["replies"]]')" = "[None, 410]" ]
		[ "$(echo "$output" | json 'len(d["events"])')" = 0 ]
	done
	run $PY "$CLIENT" sse "http://127.0.0.1:$SUB/v1/sse?topic=other.t" --last-event-id other.t:1 --count 1 --timeout 1
	echo "$output"
	[ "$(echo "$output" | json '[n["event"] for n in d["notices"]]')" = "['sluice.gap']" ]
	# numbering continues past every number the killed daemon gave out (gseq 8)
	[ "$(pub full.t --count 1 --size 5000 | json 'd["seqs"]')" = "[9]" ]
	[ "$(pub other.t --count 1 --size 5000 | json 'd["seqs"]')" = "[9]" ]
	[ "$(pub new.t --count 1 --size 5000 | json 'd["seqs"]')" = "[9]" ]

	# room again: those three were lost too (gseq 11), and the next run knows it
	rm "$BATS_TEST_TMPDIR/state/filler"
	sl_restart_gateway
	grep '"msg":"journal_lost"' "$LOG" | grep -q '"lost_up_to_gseq":11'
	! grep -q '"msg":"journal_not_rewritten"' "$LOG"
	[ "$(pub full.t --count 1 | json 'd["seqs"]')" = "[12]" ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	[ "$(echo "$output" | json 'd["journal"]["floor"]')" -eq 11 ]
	run $PY "$CLIENT" ws-sub "$WS" full.t --since 9 --count 1 --timeout 2
	[ "$(echo "$output" | json '[r.get("code") for r in d["replies"]]')" = "[None, 410]" ]
	sl_stop_gateway
	[ "$SLUICED_STATUS" -eq 0 ]
}

@test "SIGHUP under load drops no connection and no event" {
	sl_start_gateway
	$PY "$CLIENT" ws-many "$WS" hup.t --clients 20 --count 3000 --timeout 40 \
		--ready-file "$BATS_TEST_TMPDIR/ready" >"$BATS_TEST_TMPDIR/many.json" &
	m=$!
	for _ in $(seq 1 200); do [ -e "$BATS_TEST_TMPDIR/ready" ] && break; sleep 0.05; done
	pub hup.t --count 3000 >/dev/null &
	p=$!
	for _ in 1 2 3 4 5; do
		sleep 0.3
		kill -HUP "$SLUICED_PID"
	done
	wait $p
	wait $m
	cat "$BATS_TEST_TMPDIR/many.json"
	[ "$(json 'd["exact"]' <"$BATS_TEST_TMPDIR/many.json")" -eq 20 ]
	[ "$(grep -c '"msg":"reload","what":"policy"' "$LOG")" -eq 5 ]
	# a client closed by the reload would have missed events: all 20 got all 3000
}

@test "the journal's rewrite while serving goes in slices: events keep flowing, and a restart restores the rings exactly" {
	sl_start_gateway "retention: {count: 50}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY "$CLIENT" ws-sub "$WS" 'live' --count 200 --timeout 30 \
		--ready-file "$BATS_TEST_TMPDIR/r1" >"$BATS_TEST_TMPDIR/live.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r1" ] && break; sleep 0.05; done
	# 70 MiB journaled (past the 64 MiB bound, all of it retained: ten topics of 14 events
	# of 512 KiB), events on a live topic in between, then a few more once it is done
	$PY - "$PUB" "$CTL" <<'PY'
import socket, struct, subprocess, sys, json, time, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def send(m):
    b = msgpack.packb(m); s.sendall(struct.pack(">I", len(b)) + b)
def ack(i):
    while True:
        r = msgpack.unpackb(f.read(struct.unpack(">I", f.read(4))[0]))
        if r.get("id") == i:
            return r
def journal():
    out = subprocess.run(sys.argv[2].split() + ["-j", "stats"], capture_output=True, text=True).stdout
    return json.loads(out)["journal"]
send({"op": "hello", "token": "test-key", "name": "big-feed"})
f.read(struct.unpack(">I", f.read(4))[0])
n = 0
for i in range(140):
    send({"op": "pub", "topic": "big.%d" % (i % 10), "data": bytes([i]) * (512 << 10), "id": i})
    send({"op": "pub", "topic": "live", "data": b"x", "id": 100000 + i})
    ack(100000 + i)
for _ in range(200):
    if journal()["compactions"] == 1:
        break
    send({"op": "pub", "topic": "live", "data": b"y", "id": 200000 + n})
    ack(200000 + n)
    n += 1
    time.sleep(0.01)
assert journal()["compactions"] == 1, journal()
for i in range(200 - 140 - n):
    send({"op": "pub", "topic": "live", "data": b"z", "id": 300000 + i})
    ack(300000 + i)
PY
	wait $w
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/live.json")" -eq 200 ]
	run $CTL -j stats
	[ "$(echo "$output" | json '(d["journal"]["compactions"], d["journal"]["rewrite_failures"], d["journal"]["file_bytes"] < (72 << 20))')" = "(1, 0, True)" ]
	! grep -q journal_rewrite_failed "$LOG"
	[ ! -e "$BATS_TEST_TMPDIR/state/journal.new" ]
	before=$($CTL -j topic list | json 'sorted((t["name"], t["seq"], t["retained"], t["oldest_seq"]) for t in d)')
	sl_restart_gateway
	after=$($CTL -j topic list | json 'sorted((t["name"], t["seq"], t["retained"], t["oldest_seq"]) for t in d)')
	echo "$before"
	[ "$before" = "$after" ]
	[[ "$before" == *"('big.3', 14, 14, 1)"* ]]
	# and the bytes: a resume of big.3 from the start gets its 14 events of 512 KiB of one byte
	run $PY "$CLIENT" ws-sub "$WS" big.3 --since 0 --count 14 --timeout 10
	[ "$(echo "$output" | json '[e["seq"] for e in d["events"]] == list(range(1, 15)) and all(len(e["data"]) == 512 << 10 and len(set(e["data"])) == 1 for e in d["events"])')" = True ]
}
