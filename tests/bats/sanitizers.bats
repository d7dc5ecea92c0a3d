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

@test "sluiced under ASan+UBSan: no reports, no leaks, through a whole session" {
	[ -x "$REPO/build/san/sluiced" ] || skip "build/san/sluiced is not built (make check builds it)"
	export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=99
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
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
	for id in $($CTL -j conn list app anonymous | json '" ".join(str(c["id"]) for c in d)'); do
		$CTL -j conn show "$id" >/dev/null
		$CTL conn kick "$id" >/dev/null
	done
	kill -HUP "$SLUICED_PID"
	sleep 0.5
	$PY "$CLIENT" ws-sub "$WS" z.b --since 1 --count 2 --timeout 5 >/dev/null
	sl_stop_gateway
	grep -v '^{' "$LOG" || true
	[ "$SLUICED_STATUS" -eq 0 ]
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$LOG"
}
