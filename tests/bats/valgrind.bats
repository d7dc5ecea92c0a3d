#!/usr/bin/env bats
# The daemon itself under valgrind: a short end-to-end scenario (WebSocket and
# SSE subscribers, native and HTTP publishers, a bad request, SIGTERM with
# clients still connected) must end with zero errors and zero leaks. BPF is
# off here: valgrind does not model the bpf() syscall's outputs.

load helpers

setup() {
	sl_setup_instance
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

@test "sluiced under valgrind: no errors, no leaks, through a whole session" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	SLUICED_WRAP="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99" \
		SL_BPF=off sl_start_gateway
	$PY "$CLIENT" ws-sub "$WS" 'v.>' --count 3 --timeout 10 >"$BATS_TEST_TMPDIR/ws.json" &
	w=$!
	$PY "$CLIENT" sse "http://127.0.0.1:$SUB/v1/sse?topic=v.%3E" --count 30 --timeout 10 >/dev/null &
	sleep 2
	pub v.b --count 3 >/dev/null
	curl -s -H "X-API-Key: test-key" -X POST --data x "http://127.0.0.1:$ADMIN/v1/publish?topic=v.c" >/dev/null
	curl -s "http://127.0.0.1:$SUB/nope" >/dev/null
	wait $w
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws.json")" -eq 3 ]
	sl_stop_gateway
	cat "$LOG" | grep -v '^{' || true
	[ "$SLUICED_STATUS" -eq 0 ]
	! grep -q '^==' "$LOG"
}
