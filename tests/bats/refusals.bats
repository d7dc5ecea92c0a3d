#!/usr/bin/env bats
# Connections refused before the HTTP layer (SPEC, handshake failures): the
# shutdown drain answers new subscribers 503 and the connection limit 429
# with Retry-After, both with the JSON body, on the plain listener and over
# TLS alike; refused TLS handshakes are bounded; a flood of plain refusals is
# bounded too and costs the other clients nothing; and once the daemon is gone
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
	for pid in ${HOLD:-} ${BG_PIDS:-}; do kill "$pid" 2>/dev/null; done
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

# An SSE subscriber to topic $1 that reads everything it is sent until
# $BATS_TEST_TMPDIR/reader.leave exists (15 s at most), then leaves and prints
# its events ("ID DATA" lines, in the order they came) to $BATS_TEST_TMPDIR/reader.
reading_subscriber() {
	$PY -c '
import os, select, socket, sys, time
out = sys.argv[3]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/sse?topic=%s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2].encode())
buf = b""
while b"\r\n\r\n" not in buf:
    c = s.recv(65536)
    if not c:
        break
    buf += c
head, _, buf = buf.partition(b"\r\n\r\n")
open(out + ".ready", "w").write(head.split(b"\r\n")[0].decode())
deadline = time.monotonic() + 15
while not os.path.exists(out + ".leave") and time.monotonic() < deadline:
    if select.select([s], [], [], 0.05)[0]:
        c = s.recv(65536)
        if not c:
            break
        buf += c
s.close()
lines = []
while len(buf) >= 10:  # chunks: 8 hex digits (sse.c), CRLF, one record, CRLF
    n = int(buf[:8], 16)
    rec, buf = buf[10:10 + n].decode(), buf[12 + n:]
    f = dict(l.partition(": ")[::2] for l in rec.splitlines() if l and l[0] != ":")
    if "id" in f:
        lines.append(f["id"] + " " + f.get("data", ""))
open(out, "w").write("".join(l + "\n" for l in lines))' "$SUB" "$1" "$BATS_TEST_TMPDIR/reader" &
	READER=$!
	BG_PIDS="${BG_PIDS:-} $READER"
	for _ in $(seq 1 100); do [ -s "$BATS_TEST_TMPDIR/reader.ready" ] && break; sleep 0.05; done
	grep -q ' 200' "$BATS_TEST_TMPDIR/reader.ready"
}

# Open descriptors of the daemon.
daemon_fds() {
	ls "/proc/$SLUICED_PID/fd" | wc -l
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

@test "a flood of plain clients over max_connections: 64 refusals in flight, the rest one try; each answered or let go at once, no descriptor kept, no event lost" {
	sl_start_gateway "limits: {max_connections: 1}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	# the one connection allowed: a subscriber that must miss nothing of what follows
	reading_subscriber flood.t
	base=$(daemon_fds)
	# 240 plain clients over the limit, connected one after the other: four of
	# five send their request, every fifth sends nothing. None reads until told
	# to (flood.go): the first 64 fill the refusal list (they linger, reading
	# what the client sent, until it closes), the other 176 get the one try.
	# A publisher publishes an event after every other client (120), then 80
	# more while all 240 are still connected, each acknowledged before the next.
	$PY -c '
import json, os, select, socket, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[4]))
from sl_client import native_frame, read_frame
at = sys.argv[1]
pub = socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5)
pub.sendall(native_frame({"op": "hello", "token": sys.argv[5], "name": "flood"}))
assert read_frame(pub)["op"] == "ok"
seqs = []
def publish():
    pub.sendall(native_frame({"op": "pub", "topic": "flood.t", "data": b"event-%d" % len(seqs),
                              "id": len(seqs)}))
    r = read_frame(pub)
    seqs.append(r["seq"] if r and r.get("op") == "ack" else repr(r))
socks = []
for i in range(240):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    if i % 5 != 4:
        s.sendall(b"GET /v1/sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
    if i % 2:
        publish()
while len(seqs) < 200:
    publish()
pub.close()
# answered: every socket has something to read (the answer, its end, a reset),
# seen without reading it
p = select.poll()
for s in socks:
    p.register(s, select.POLLIN)
ready, start = set(), time.monotonic()
while len(ready) < len(socks) and time.monotonic() - start < 5:
    ready.update(fd for fd, _ in p.poll(100))
open(at + ".answered", "w").write("%d\n" % len(ready))
while not os.path.exists(at + ".go") and time.monotonic() - start < 15:
    time.sleep(0.02)
# then each is read to its end, all within 3 s
deadline = time.monotonic() + 3
out = {"seqs": seqs, "answered": len(ready), "whole": [], "empty": [], "bad": [], "resets": 0}
for i, s in enumerate(socks):
    data, end = b"", "hang"
    try:
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            c = s.recv(4096)
            if not c:
                end = "eof"
                break
            data += c
    except ConnectionResetError:
        end = "reset"
        out["resets"] += 1
    except socket.timeout:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    whole = (head.startswith(b"HTTP/1.1 429 ") and b"\r\nContent-Length: %d\r\n" % len(body) in head
             and json.loads(body or b"{}").get("error") == "connection_limit")
    if end != "hang" and whole:
        out["whole"].append(i)
    elif end != "hang" and not data:
        out["empty"].append(i)
    else:
        out["bad"].append([i, end, data[:80].decode("latin-1")])
print(json.dumps(out))' "$BATS_TEST_TMPDIR/flood" "$SUB" "$PUB" "$CLIENT" "$TEST_KEY" >"$BATS_TEST_TMPDIR/flood.json" &
	flood=$!
	BG_PIDS="$BG_PIDS $flood"
	for _ in $(seq 1 200); do [ -s "$BATS_TEST_TMPDIR/flood.answered" ] && break; sleep 0.05; done
	held=$(daemon_fds)
	echo "descriptors: $base before, $held with the 240 refused clients still connected"
	[ "$(cat "$BATS_TEST_TMPDIR/flood.answered")" -eq 240 ]
	# no more than the 64 refusals in flight hold a descriptor
	[ "$held" -le $((base + 64 + 2)) ]
	# the daemon goes on serving
	kill -0 "$SLUICED_PID"
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN/healthz")" = ok ]
	touch "$BATS_TEST_TMPDIR/flood.go"
	wait "$flood"
	json '{k: len(v) if isinstance(v, list) and k != "bad" else v for k, v in d.items()}' <"$BATS_TEST_TMPDIR/flood.json"
	[ "$(json 'd["seqs"] == list(range(1, 201))' <"$BATS_TEST_TMPDIR/flood.json")" = True ]
	# each client got the whole 429 or a clean end (a reset when its request was
	# unread), none was left hanging; the first 64, queued, all got the answer
	[ "$(json 'len(d["whole"]) + len(d["empty"])' <"$BATS_TEST_TMPDIR/flood.json")" -eq 240 ]
	[ "$(json 'd["whole"][:64] == list(range(64))' <"$BATS_TEST_TMPDIR/flood.json")" = True ]
	# the flood is gone and so are its descriptors
	for _ in $(seq 1 100); do [ "$(daemon_fds)" -le $((base + 2)) ] && break; sleep 0.05; done
	echo "descriptors after the flood: $(daemon_fds)"
	[ "$(daemon_fds)" -le $((base + 2)) ]
	# the subscriber got all 200 events, in order
	touch "$BATS_TEST_TMPDIR/reader.leave"
	wait "$READER"
	seq 1 200 | awk '{ print "flood.t:" $1 " event-" $1 - 1 }' >"$BATS_TEST_TMPDIR/expected"
	diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/reader"
	# it has left: the one connection allowed is free again
	for _ in $(seq 1 100); do [ "$($CTL -j stats | json 'd["connections"]')" = 0 ] && break; sleep 0.05; done
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$SUB/v1/sse?topic=a"
	[ "$output" = 200 ]
	stop_clean
}
