#!/usr/bin/env bats
# The daemon itself built with ASan+UBSan (build/san/sluiced), with the
# kernel meter on, through a session that touches every part: WebSocket and
# SSE subscribers, native and HTTP publishers, bad requests and frames, the
# control socket, /metrics, a reload, a kick, the journal, SIGTERM with
# clients connected. Any report (or leak) fails the test.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	sl_setup_instance
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

# For build/san/sluiced: skipped when it is not built; any report stops it.
san_daemon_env() {
	[ -x "$REPO/build/san/sluiced" ] || skip "build/san/sluiced is not built (make check builds it)"
	export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=99
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
}

# Stops it; it must exit 0 with no report (or leak) in its log.
san_daemon_stop_clean() {
	sl_stop_gateway
	grep -v '^{' "$LOG" || true
	[ "$SLUICED_STATUS" -eq 0 ]
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$LOG"
}

@test "sluiced under ASan+UBSan: no reports, no leaks, through a whole session" {
	san_daemon_env
	SLUICED_BIN="$REPO/build/san/sluiced" sl_start_gateway "log: {level: debug}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock --pin-root $PIN"
	$PY "$CLIENT" ws-sub "$WS" 'z.>' --count 5 --timeout 30 --ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	$PY "$CLIENT" sse "http://127.0.0.1:$SUB/v1/sse?topic=z.%3E" --count 30 --timeout 30 >/dev/null &
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	sleep 0.5
	pub z.b --count 3 --size 3000 >/dev/null
	curl -s -H "X-API-Key: test-key" -X POST --data x "http://127.0.0.1:$ADMIN/v1/publish?topic=z.c" >/dev/null
	curl -s -H "X-API-Key: test-key" -X POST --data x "http://127.0.0.1:$ADMIN/v1/publish?topic=z.*" >/dev/null
	curl -s "http://127.0.0.1:$SUB/nope" >/dev/null
	curl -s "http://127.0.0.1:$ADMIN/metrics" >/dev/null
	printf 'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n' | timeout 2 $PY -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); s.recv(1000)' "$SUB" || true
	$PY "$CLIENT" ws-raw "$WS" --frames 81ff --timeout 1 >/dev/null || true
	pub z.d --count 1 >/dev/null
	wait $w
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws.json")" -eq 5 ]
	$CTL -j stats >/dev/null
	$CTL -j topic list top 5 >/dev/null
	$CTL -j app list >/dev/null
	$CTL -j app series tester 10 >/dev/null
	$CTL -j conn list >/dev/null
	# past a rate tick: the topics and connections that had events have series
	sleep 1.1
	$CTL -j topic series z.b 3600 >/dev/null
	for id in $($CTL -j conn list app anonymous | json '" ".join(str(c["id"]) for c in d)'); do
		$CTL -j conn show "$id" >/dev/null
		$CTL -j conn series "$id" 5 >/dev/null
		$CTL conn kick "$id" >/dev/null
	done
	kill -HUP "$SLUICED_PID"
	sleep 0.5
	$PY "$CLIENT" ws-sub "$WS" z.b --since 1 --count 2 --timeout 5 >/dev/null
	san_daemon_stop_clean
}

@test "sluiced under ASan+UBSan: paced resumes (WebSocket, SSE, under a byte rate) finished, left mid-way and overtaken: no reports, no leaks" {
	san_daemon_env
	SL_APPS="$SL_DEFAULT_APPS
  - id: slow
    plan: p
    subscribe: ['>']
    api_keys: [{sha256: $(sl_sha256 slow-key)}]
plans:
  - name: p
    bytes_per_second: 65536
    burst_bytes: 65536" \
		SLUICED_BIN="$REPO/build/san/sluiced" sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}
retention: {count: 150}"
	pub rs.t --count 150 --size 2000 >/dev/null
	# whole: a WebSocket resume and an SSE one, each about five times the bound
	$PY "$CLIENT" ws-sub "$WS" rs.t --since 0 --count 150 --timeout 30 >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	$PY "$CLIENT" sse "http://127.0.0.1:$SUB/v1/sse?topic=rs.t" --last-event-id rs.t:1 --count 149 \
		--timeout 30 >"$BATS_TEST_TMPDIR/sse.json" &
	s=$!
	# left mid-way: under the byte rate, gone while the rate's timer waits
	$PY "$CLIENT" ws-sub "$WS" rs.t --since 0 --count 40 --timeout 5 --linger 0 \
		--header "X-API-Key: slow-key" >"$BATS_TEST_TMPDIR/slow.json"
	# overtaken: a reader that reads nothing while the ring moves past it
	$PY "$CLIENT" ws-resume-stall "$WS" rs.t --since 0 --ready-file "$BATS_TEST_TMPDIR/st" \
		--go-file "$BATS_TEST_TMPDIR/st.read" >"$BATS_TEST_TMPDIR/stall.json" &
	st=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/st" ] && break; sleep 0.05; done
	wait $w
	wait $s
	pub rs.t --count 150 --size 2000 >/dev/null
	touch "$BATS_TEST_TMPDIR/st.read"
	wait $st
	[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/stall.json")" = 4003 ]
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws.json")" -eq 150 ]
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/sse.json")" -eq 149 ]
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/slow.json")" -eq 40 ]
	san_daemon_stop_clean
}

@test "sluiced under ASan+UBSan: the 1 s tick walks 1,200 subscribers in slices; every one gets its rate, and closes during the walks leave no reports" {
	san_daemon_env
	SL_APPS="$SL_DEFAULT_APPS
  - id: public
    subscribe: ['>']" \
		SLUICED_BIN="$REPO/build/san/sluiced" sl_start_gateway "limits: {max_connections: 2000}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	# three slices of the sweep (512 each), and 1,200 closes at once at the end
	"$REPO/build/sluice-bench" latency --system sluice --port "$SUB" --pub-port "$PUB" \
		--token "$TEST_KEY" --subs 1200 --rate 40 --duration 6 --threads 2 --connect-timeout 30 \
		--json --quiet >"$BATS_TEST_TMPDIR/bench.json" &
	b=$!
	for _ in $(seq 1 300); do
		n=$($CTL -j conn list app public | json 'sum(1 for c in d if c["events_per_second"] > 0)')
		[ "$n" -eq 1200 ] && break
		sleep 0.1
	done
	echo "subscribers with a rate: $n"
	[ "$n" -eq 1200 ]
	# connections come and go while the walks run
	for i in $(seq 1 20); do
		$PY "$CLIENT" ws-sub "$WS" churn.t --count 1 --timeout 0.05 >/dev/null 2>&1 || true
	done
	wait $b
	cat "$BATS_TEST_TMPDIR/bench.json"
	published=$(json 'd["published"]' <"$BATS_TEST_TMPDIR/bench.json")
	[ "$(json 'd["delivered"]' <"$BATS_TEST_TMPDIR/bench.json")" -eq $((published * 1200)) ]
	# past two more ticks with the subscribers gone: the walks are over an empty list
	sleep 2.2
	[ "$($CTL -j conn list app public | json 'len(d)')" -eq 0 ]
	san_daemon_stop_clean
}

# sl_ctl_san EXPECTED ARGS...: build/san/sluicectl with ARGS against this test's
# daemon and pins must exit EXPECTED (0, 1 error, 2 usage) with no sanitizer
# report; the reports go to files (log_path) so that one on an error path,
# whose exit status alone would not tell, still fails the test.
sl_ctl_san() {
	local want=$1 rc=0
	shift
	ASAN_OPTIONS=detect_leaks=1:log_path=$SANLOG/asan UBSAN_OPTIONS=print_stacktrace=1:log_path=$SANLOG/ubsan \
		timeout 10 "$REPO/build/san/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" \
		--pin-root "$PIN" "$@" >"$BATS_TEST_TMPDIR/ctl.out" 2>"$BATS_TEST_TMPDIR/ctl.err" || rc=$?
	if [ "$rc" -ne "$want" ] || [ -n "$(ls -A "$SANLOG")" ]; then
		echo "sluicectl $*: exit $rc, wanted $want"
		cat "$BATS_TEST_TMPDIR/ctl.out" "$BATS_TEST_TMPDIR/ctl.err" "$SANLOG"/* 2>/dev/null
		return 1
	fi
}

@test "sluicectl under ASan+UBSan: every object and command, in text and JSON, with good and bad arguments" {
	[ -x "$REPO/build/san/sluicectl" ] || skip "build/san/sluicectl is not built (make check builds it)"
	SANLOG="$BATS_TEST_TMPDIR/sanlog"
	mkdir -p "$SANLOG"
	sl_start_gateway
	$PY "$CLIENT" ws-sub "$WS" 'c.>' --count 1000 --timeout 120 --ready-file "$BATS_TEST_TMPDIR/r" >/dev/null &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	pub c.a --count 2 >/dev/null
	cp "$CONF" "$BATS_TEST_TMPDIR/next.yaml"
	printf 'limits: {max_frame_bytes: nope}\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	id=$("$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j conn list app anonymous |
		json 'd[0]["id"]')
	for j in "" -j -p; do
		for cmd in "policy show" "policy check $CONF" "policy diff $BATS_TEST_TMPDIR/next.yaml" \
			"policy load $BATS_TEST_TMPDIR/next.yaml" "app list" "app show tester" \
			"app usage tester" "app series tester 5" "conn list" "conn list app anonymous" \
			"conn list topic c.>" "conn show $id" "conn series $id 5" "topic list" "topic list top 2" \
			"topic show c.a" "topic series c.a 3600" \
			"map list" "map dump sluice_drops" "map watch sluice_drops interval 0.1 count 2" \
			"prog list" "prog show" "key gen" "stats" "stats --interval 1" help; do
			# shellcheck disable=SC2086 # the words of cmd are the arguments
			if [ "$cmd" = "stats --interval 1" ]; then
				# a stream until interrupted: stopped by timeout's SIGINT, which it exits 0 on
				ASAN_OPTIONS=detect_leaks=1:log_path=$SANLOG/asan UBSAN_OPTIONS=log_path=$SANLOG/ubsan \
					timeout -s INT 1.5 "$REPO/build/san/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" \
					$j stats --interval 1 >/dev/null || true
				[ -z "$(ls -A "$SANLOG")" ] || { cat "$SANLOG"/*; false; }
				continue
			fi
			sl_ctl_san 0 $j $cmd
		done
		for cmd in "policy check $BATS_TEST_TMPDIR/bad.yaml" "policy load $BATS_TEST_TMPDIR/bad.yaml" \
			"policy check /nonexistent" "app show nobody" \
			"conn show 999999999" "conn kick 999999999" "conn series 999999999" "topic show no.such" \
			"topic series no.such" "map dump nope" \
			"map dump sluice_socks"; do
			# shellcheck disable=SC2086
			sl_ctl_san 1 $j $cmd
		done
		for cmd in "nope" "policy nope" "app show" "conn show x" "conn list app" \
			"topic list top x" "map watch sluice_drops interval -1" "stats --interval 0" \
			"app series tester x" "app series tester 3601" "conn series" "topic series c.a 0"; do
			# shellcheck disable=SC2086
			sl_ctl_san 2 $j $cmd
		done
	done
	sl_ctl_san 0 conn kick "$id" "done here"
	wait $w || true
	sl_stop_gateway
	[ "$SLUICED_STATUS" -eq 0 ]
	# the daemon down: conn, map and prog read the pins; the rest say it cannot be reached
	sl_ctl_san 1 stats
	sl_ctl_san 1 -j app list
}
