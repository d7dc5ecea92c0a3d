#!/usr/bin/env bats
# Connections refused before the HTTP layer (SPEC, handshake failures): the
# shutdown drain answers new subscribers 503 and the connection limit 429
# with Retry-After, both with the JSON body, on the plain listener and over
# TLS alike; refused TLS handshakes are bounded; and once the daemon is gone
# nothing listens on its ports.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export CERTS="$BATS_FILE_TMPDIR/certs"
	"$BATS_TEST_DIRNAME/../../scripts/gen-test-certs.sh" "$CERTS" >/dev/null
}

setup() {
	sl_setup_instance
}

teardown() {
	[ -n "${HOLD:-}" ] && kill "$HOLD" 2>/dev/null
	sl_stop_gateway
	sl_teardown_instance
}

# Starts sluiced with the TLS subscriber listener too; extra YAML from $1. Sets SUBTLS.
# SLUICED_BIN=build/san/sluiced runs these under ASan+UBSan.
start_tls() {
	SL_SUB_TLS=1 sl_start_gateway "tls: {cert_file: $CERTS/server.pem, key_file: $CERTS/server.key}
${1:-}"
	[ "$SUBTLS" -gt 0 ]
}

# An SSE subscriber that reads its headers, then neither reads nor closes: the
# drain waits for it (the linger after its sluice.close) for the whole grace.
hold_subscriber() {
	$PY -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/sse?topic=hold HTTP/1.1\r\nHost: x\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
open(sys.argv[2], "w").write(head.split(b"\r\n")[0].decode())
time.sleep(20)' "$1" "$BATS_TEST_TMPDIR/held" &
	HOLD=$!
	for _ in $(seq 1 100); do [ -s "$BATS_TEST_TMPDIR/held" ] && break; sleep 0.05; done
	grep -q ' 200' "$BATS_TEST_TMPDIR/held"
}

# Stops the daemon (`stop_clean exits`: waits for it to exit by itself): it must
# exit 0 with no sanitizer report (SLUICED_BIN=build/san/sluiced).
stop_clean() {
	if [ "${1:-}" = exits ]; then
		SLUICED_STATUS=0
		wait "$SLUICED_PID" || SLUICED_STATUS=$?
		SLUICED_PID=""
	else
		sl_stop_gateway
	fi
	grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$LOG" && return 1
	[ "$SLUICED_STATUS" -eq 0 ]
}

# is_refusal STATUS CODE FILE: a curl -i dump holding STATUS, Connection: close and the JSON body.
is_refusal() {
	cat "$3"
	head -1 "$3" | grep -q "^HTTP/1.1 $1 "
	grep -qi '^Connection: close' "$3"
	[ "$(tail -1 "$3" | json 'd["error"]')" = "$2" ]
	[ -n "$(tail -1 "$3" | json 'd["detail"]')" ]
}

# Exit code of a WebSocket handshake by python3-websockets, printing the status it got.
ws_status() {
	$PY -c '
import asyncio, ssl, sys, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[1].startswith("wss:") else None
    try:
        async with websockets.connect(sys.argv[1], subprotocols=["sluice.v1.msgpack"], open_timeout=2, ssl=ctx):
            print("open")
    except websockets.exceptions.InvalidStatusCode as e:
        print(e.status_code, e.headers.get("Connection"))
asyncio.run(main())' "$@"
}

@test "during the shutdown drain new subscribers get 503 shutting_down at once, on plain and TLS, WebSocket and SSE" {
	start_tls
	hold_subscriber "$SUB"
	# Two clients in the middle of their handshake when the drain starts: a
	# plain one with half its request sent, a TLS one before its ClientHello.
	$PY -c '
import os, socket, ssl, sys, time
plain = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
plain.sendall(b"GET /v1/sse?topic=a HTTP/1.1\r\n")
raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
open(sys.argv[4] + ".ready", "w").close()
while not os.path.exists(sys.argv[4] + ".go"):
    time.sleep(0.01)
tls = ssl.create_default_context(cafile=sys.argv[3]).wrap_socket(raw, server_hostname="localhost")
tls.sendall(b"GET /v1/sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
for s in (plain, tls):
    s.settimeout(1)
    print(s.recv(4096).split(b"\r\n")[0].decode())' "$SUB" "$SUBTLS" "$CERTS/ca.pem" "$BATS_TEST_TMPDIR/mid" >"$BATS_TEST_TMPDIR/mid" &
	mid=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/mid.ready" ] && break; sleep 0.05; done
	sleep 0.1
	kill -TERM "$SLUICED_PID"
	for _ in $(seq 1 40); do grep -q '"msg":"shutdown"' "$LOG" && break; sleep 0.025; done
	# refusals whose handshake has not begun when the grace ends are let go cleanly
	$PY -c 'import socket,sys,time; a=[socket.create_connection(("127.0.0.1",int(sys.argv[1]))) for _ in range(3)]; time.sleep(5)' "$SUBTLS" &
	# Asked first and checked afterwards: all inside the two seconds of grace
	# that the held subscriber keeps the drain open.
	T=(-s -i --max-time 1 -w '%{stderr}%{time_total}\n')
	curl "${T[@]}" "http://127.0.0.1:$SUB/v1/sse?topic=a" >"$BATS_TEST_TMPDIR/sse" 2>>"$BATS_TEST_TMPDIR/times"
	curl "${T[@]}" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"http://127.0.0.1:$SUB/v1/ws" >"$BATS_TEST_TMPDIR/ws" 2>>"$BATS_TEST_TMPDIR/times"
	curl "${T[@]}" --cacert "$CERTS/ca.pem" "https://localhost:$SUBTLS/v1/sse?topic=a" >"$BATS_TEST_TMPDIR/tls" 2>>"$BATS_TEST_TMPDIR/times"
	touch "$BATS_TEST_TMPDIR/mid.go"
	wait $mid
	kill -0 "$SLUICED_PID" # still draining: the answers came from the drain
	cat "$BATS_TEST_TMPDIR/mid"
	[ "$(cat "$BATS_TEST_TMPDIR/mid")" = "$(printf 'HTTP/1.1 503 Service Unavailable\nHTTP/1.1 503 Service Unavailable')" ]
	run ws_status "ws://127.0.0.1:$SUB/v1/ws"
	echo "$output"
	[ "$output" = "503 close" ]
	is_refusal 503 shutting_down "$BATS_TEST_TMPDIR/sse"
	is_refusal 503 shutting_down "$BATS_TEST_TMPDIR/ws"
	is_refusal 503 shutting_down "$BATS_TEST_TMPDIR/tls"
	# answered, not cut at curl's 1 s timeout
	cat "$BATS_TEST_TMPDIR/times"
	[ "$(awk '$1 < 0.9' "$BATS_TEST_TMPDIR/times" | wc -l)" -eq 3 ]
	# the daemon ends the drain by itself (a second SIGTERM could race its exit)
	stop_clean exits
}

@test "after the daemon exits nothing listens on its ports; stop signals repeated until then change nothing" {
	start_tls
	hold_subscriber "$SUB"
	# SIGTERM as fast as the shell sends it, through the drain and the exit: still exit 0
	while kill -TERM "$SLUICED_PID" 2>/dev/null; do :; done
	stop_clean exits
	for port in "$SUB" "$SUBTLS" "$PUB" "$ADMIN"; do
		run $PY -c '
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    print("listening")
except ConnectionRefusedError:
    print("refused")' "$port"
		echo "port $port: $output"
		[ "$output" = refused ]
	done
}

@test "limits.max_connections: over TLS and plain, the next subscriber gets 429 with Retry-After and the JSON body; refusals count as no connection" {
	start_tls "limits: {max_connections: 1}"
	hold_subscriber "$SUB"
	curl -s -i --max-time 2 --cacert "$CERTS/ca.pem" "https://localhost:$SUBTLS/v1/sse?topic=a" >"$BATS_TEST_TMPDIR/tls"
	is_refusal 429 connection_limit "$BATS_TEST_TMPDIR/tls"
	grep -q '^Retry-After: 1' "$BATS_TEST_TMPDIR/tls"
	run ws_status "wss://localhost:$SUBTLS/v1/ws" "$CERTS/ca.pem"
	echo "$output"
	[ "$output" = "429 close" ]
	curl -s -i --max-time 2 "http://127.0.0.1:$SUB/v1/sse?topic=a" >"$BATS_TEST_TMPDIR/plain"
	is_refusal 429 connection_limit "$BATS_TEST_TMPDIR/plain"
	grep -q '^Retry-After: 1' "$BATS_TEST_TMPDIR/plain"
	[ "$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '$1 == "sluice_connections" {print $2}')" -le 2 ]
	# 30 plain clients that send their request before they are refused all read the whole
	# answer and then a clean end: the close lingers instead of resetting over the request
	run $PY -c '
import socket, sys
socks = []
for _ in range(30):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /v1/sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 3000)
    socks.append(s)
whole = 0
for s in socks:
    s.settimeout(3)
    data, eof = b"", False
    try:
        while True:
            c = s.recv(4096)
            if not c:
                eof = True
                break
            data += c
    except OSError:
        pass
    whole += eof and data.startswith(b"HTTP/1.1 429") and data.endswith(b"}")
print(whole)' "$SUB"
	[ "$output" = 30 ]
	# the held subscriber leaves: the one connection allowed is free again, over TLS too
	kill "$HOLD"
	HOLD=""
	sleep 0.5
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$CERTS/ca.pem" "https://localhost:$SUBTLS/v1/sse?topic=a"
	[ "$output" = 200 ]
	stop_clean
}

@test "refused TLS handshakes are bounded: 64 in flight, the rest closed at once, each gone after handshake_timeout" {
	start_tls "limits: {max_connections: 1, handshake_timeout: 3s}"
	hold_subscriber "$SUB"
	# 80 connections over the limit that never start their TLS handshake
	run $PY -c '
import socket, sys, time, select
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
def closed():
    n = 0
    for s in socks:
        if s.fileno() < 0:
            n += 1
            continue
        r, _, _ = select.select([s], [], [], 0)
        if r and s.recv(1) == b"":
            s.close()
            n += 1
    return n
# the ones over the cap are closed at once, the others only at their 3 s timeout
start = time.monotonic()
early = closed()
while early < 16 and time.monotonic() - start < 1.5:
    time.sleep(0.05)
    early = closed()
time.sleep(0.2)
early = closed()
while closed() < 80 and time.monotonic() - start < 8:
    time.sleep(0.1)
print(early, closed())' "$SUBTLS"
	echo "closed at once, closed after the timeout: $output"
	[ "$output" = "16 80" ]
	# the slots are free again: the next refusal is answered
	curl -s -i --max-time 2 --cacert "$CERTS/ca.pem" "https://localhost:$SUBTLS/v1/sse?topic=a" >"$BATS_TEST_TMPDIR/tls"
	is_refusal 429 connection_limit "$BATS_TEST_TMPDIR/tls"
	# and refusals still in flight when the daemon stops are let go cleanly
	$PY -c 'import socket,sys,time; a=[socket.create_connection(("127.0.0.1",int(sys.argv[1]))) for _ in range(5)]; time.sleep(5)' "$SUBTLS" &
	sleep 0.2
	stop_clean
}
