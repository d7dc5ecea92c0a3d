#!/usr/bin/env bats
# Resource limits against hostile or runaway clients: each limit holds, is
# answered clearly, and costs the other clients nothing.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	sl_setup_instance
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

# A normal subscriber still gets a published event.
served() {
	$PY "$CLIENT" ws-sub "$WS" ok.t --count 1 --timeout 5 --ready-file "$BATS_TEST_TMPDIR/okr" >"$BATS_TEST_TMPDIR/ok.json" &
	local w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/okr" ] && break; sleep 0.05; done
	rm -f "$BATS_TEST_TMPDIR/okr"
	pub ok.t --count 1 >/dev/null
	wait $w
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ok.json")" -eq 1 ]
}

rss_kib() {
	awk '/^VmRSS/ {print $2}' "/proc/$SLUICED_PID/status"
}

@test "headers over limits.max_header_bytes: 400 headers_too_large before any upgrade" {
	sl_start_gateway "limits: {max_header_bytes: 1024}"
	run curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -H "X-Big: $(head -c 2000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$SUB/v1/sse?topic=a"
	echo "$output"; cat "$BATS_TEST_TMPDIR/body"
	[ "$output" = 400 ]
	grep -q '"error":"headers_too_large"' "$BATS_TEST_TMPDIR/body"
	served
}

@test "a request sent a byte at a time is read whole: head parsed at line ends, admin body waited for" {
	sl_start_gateway
	# the SSE stream ends after one event (curl --max-time): its head came a byte at a time
	printf 'GET /v1/sse?topic=drip.t HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n' "$(head -c 300 /dev/zero | tr '\0' a)" |
		timeout 20 $PY -c '
import socket, sys, time
data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for b in data:
    s.send(bytes([b]))
    time.sleep(0.001)
s.settimeout(10)
out = b""
while b"data:" not in out:
    out += s.recv(4096)
sys.stdout.write(out.decode())
' "$SUB" >"$BATS_TEST_TMPDIR/sse.out" &
	local reader=$!
	for _ in $(seq 1 100); do grep -q "^HTTP/1.1 200" "$BATS_TEST_TMPDIR/sse.out" 2>/dev/null && break; sleep 0.1; done
	# the same event through the admin listener, head and 2,000-byte body a byte at a time
	local payload
	payload="$(head -c 2000 /dev/zero | tr '\0' p)"
	run --separate-stderr raw_http "$ADMIN" 1 < <(printf 'POST /v1/publish?topic=drip.t HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Length: 2000\r\n\r\n%s' "$TEST_KEY" "$payload")
	echo "$output"
	[[ "$output" == "HTTP/1.1 202 "* ]]
	wait "$reader"
	grep -q "^HTTP/1.1 200" "$BATS_TEST_TMPDIR/sse.out"
	grep -q "data:.*$payload" "$BATS_TEST_TMPDIR/sse.out"
}

@test "a bad request sent in pieces is refused: at once on the first read, at the line end after it, at max_header_bytes without one" {
	sl_start_gateway "limits: {max_header_bytes: 1024}"
	# the first read holds no line end but is wrong already
	run raw_http "$SUB" 64 < <(printf 'G\001T /v1/ws HTTP/1.1')
	[[ "$output" == "HTTP/1.1 400 "*'"error":"bad_request"'* ]]
	# a bad field name, its line sent 3 bytes at a time
	run raw_http "$SUB" 3 < <(printf 'GET /v1/ws HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n')
	[[ "$output" == "HTTP/1.1 400 "*"whitespace between header name and colon"* ]]
	# a field that never ends, 100 bytes at a time, on the subscriber and the admin listener
	for port in "$SUB" "$ADMIN"; do
		run raw_http "$port" 100 < <(printf 'GET /v1/ws HTTP/1.1\r\nHost: x\r\nX-Big: %s' "$(head -c 1200 /dev/zero | tr '\0' a)")
		[[ "$output" == "HTTP/1.1 400 "*'"error":"headers_too_large"'* ]]
	done
	# an admin body shorter than its Content-Length waits, and the head is not refused meanwhile
	run raw_http "$ADMIN" 1 < <(printf 'POST /v1/publish?topic=drip.t HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Length: 5\r\n\r\nabcde' "$TEST_KEY")
	[[ "$output" == "HTTP/1.1 202 "* ]]
	served
}

@test "a client answered with an error that goes on sending after the answer is closed two seconds after it, not for as long as it sends" {
	sl_start_gateway "limits: {max_connections: 1}"
	# it reads its 404 to the end (the daemon's FIN), then sends a byte every
	# 0.2 s for 8 s, and prints how long after the FIN a send failed: the
	# daemon closed its end
	run $PY -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
s.settimeout(3)
data = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    data += c
fin = time.monotonic()
assert data.startswith(b"HTTP/1.1 404 ")
while time.monotonic() - fin < 8:
    time.sleep(0.2)
    try:
        s.sendall(b"x")
    except OSError:
        print("%.1f" % (time.monotonic() - fin))
        break
else:
    print("never")' "$SUB"
	echo "closed $output s after the answer"
	[ "$status" -eq 0 ]
	awk -v t="$output" 'BEGIN { exit !(t >= 1.8 && t < 3.5) }'
	# and its place under limits.max_connections is free again
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$SUB/v1/sse?topic=a"
	[ "$output" = 200 ]
}

@test "limits.max_connections: the next subscriber gets 429 with Retry-After, others are served" {
	sl_start_gateway "limits: {max_connections: 5}"
	$PY "$CLIENT" ws-many "$WS" mc.t --clients 5 --count 1 --timeout 8 --ready-file "$BATS_TEST_TMPDIR/ready" >"$BATS_TEST_TMPDIR/many.json" &
	m=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/ready" ] && break; sleep 0.05; done
	# 5 subscribers past their handshake = 5; the 6th connection is refused
	run curl -s -D - -o /dev/null "http://127.0.0.1:$SUB/v1/sse?topic=a"
	echo "$output"
	[[ "$output" == *"HTTP/1.1 429"* ]]
	[[ "$output" == *"Retry-After: 1"* ]]
	pub mc.t --count 1 >/dev/null
	wait $m
	[ "$(json 'd["exact"]' <"$BATS_TEST_TMPDIR/many.json")" -eq 5 ]
}

@test "sockets on the subscriber listener that have not finished a handshake hold no slot of limits.max_connections against a client that comes with its request: the oldest is dropped for it" {
	SL_AUTH=required sl_start_gateway "limits: {max_connections: 10}"
	# 10 silent sockets and 10 with half a head fill every slot before the client comes
	$PY -c '
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
for _ in range(10):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n")
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(30)' "$SUB" "$BATS_TEST_TMPDIR/held" &
	holder=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/held" ] && break; sleep 0.05; done
	sleep 0.2
	run curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "X-API-Key: $TEST_KEY" "http://127.0.0.1:$SUB/v1/sse?topic=a.b"
	echo "sse: $output"
	[ "$output" = 200 ]
	run $PY "$CLIENT" ws-sub "$WS" a.b --header "X-API-Key: $TEST_KEY" --count 1 --timeout 0.5
	echo "ws: $output"
	[ "$(echo "$output" | json 'd.get("http_status"), d["replies"][0]["op"]')" = "None ack" ]
	kill $holder
	wait $holder || true
	grep -q 'the oldest connection without a hello or a request, dropped for a newcomer' "$LOG"
}

@test "limits.max_publishers counts publishers past hello: silent connections hold no slot, the next authenticated one gets err 429" {
	sl_start_gateway "limits: {max_publishers: 2, max_connections: 6}"
	run $PY - "$PUB" "$SUB" <<'PY'
import socket, struct, sys, time, msgpack
port = int(sys.argv[1])
def frame(m):
    b = msgpack.packb(m)
    return struct.pack(">I", len(b)) + b
def read(s):
    s.settimeout(5)
    got = b""
    while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
        c = s.recv(4096)
        if not c:
            return None
        got += c
    return msgpack.unpackb(got[4:])
def hello(s):
    s.sendall(frame({"op": "hello", "token": "test-key", "name": "b"}))
    return read(s)
# Ten connections that never say hello, accepted before the backend (the backlog is FIFO):
# the pool of silent ones holds two (max_publishers), each newcomer drops the oldest
silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
a = socket.create_connection(("127.0.0.1", port))
print("a", hello(a))
dropped = 0
for s in silent:
    s.settimeout(0.5)
    try:
        dropped += s.recv(1) == b""
    except OSError:
        pass
print("dropped", dropped)
# they never crowded out the subscribers (max_connections 6)
w = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5)
w.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
print("ws", w.recv(4096).split(b"\r\n")[0].decode())
b = socket.create_connection(("127.0.0.1", port))
print("b", hello(b))
# Two backends past hello: the third is refused at its hello, with a reason
c = socket.create_connection(("127.0.0.1", port))
print("c", hello(c), read(c))
# A slot frees when a backend leaves (its close is seen on the daemon's next turn)
a.close()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    d = socket.create_connection(("127.0.0.1", port))
    r = hello(d)
    if r and r.get("op") == "ok":
        break
    d.close()
print("d", r)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "a {'op': 'ok'}" ]]
	[ "${lines[1]}" = "dropped 9" ]
	[ "${lines[2]}" = "ws HTTP/1.1 101 Switching Protocols" ]
	[[ "${lines[3]}" == "b {'op': 'ok'}" ]]
	[[ "${lines[4]}" == "c {'op': 'err', 'code': 429, 'msg': 'too many publishers (limits.max_publishers)'} None" ]]
	[[ "${lines[5]}" == "d {'op': 'ok'}" ]]
	grep -q '"msg":"publisher_refused","reason":"limits.max_publishers"' "$LOG"
}

@test "silent admin connections are a pool of 64, oldest dropped first: a scrape and a subscriber get through a flood" {
	sl_start_gateway "limits: {max_connections: 4}"
	run $PY - "$ADMIN" "$SUB" <<'PY'
import socket, sys, time
admin, sub = int(sys.argv[1]), int(sys.argv[2])
flood = [socket.create_connection(("127.0.0.1", admin)) for _ in range(100)]
def ask(port, req):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req)
    return s.recv(4096).split(b"\r\n")[0].decode()
print(ask(admin, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
print(ask(sub, b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
time.sleep(0.3)
dropped = 0
for s in flood:
    s.setblocking(False)
    try:
        dropped += s.recv(1) == b""
    except BlockingIOError:
        pass
print("dropped", dropped)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "HTTP/1.1 200 OK" ]
	[ "${lines[1]}" = "HTTP/1.1 101 Switching Protocols" ]
	# 100 silent ones and the scrape through a pool of 64: 37 dropped
	[ "${lines[2]}" = "dropped 37" ]
}

@test "answered admin connections whose clients never close count in the pool of 64: a flood of 100 scrapes holds at most 64 sockets, and a scrape gets through" {
	sl_start_gateway ""
	run $PY - "$ADMIN" "$SLUICED_PID" <<'PY'
import os, socket, sys, time
admin, fds = int(sys.argv[1]), "/proc/%s/fd" % sys.argv[2]
base = len(os.listdir(fds))
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
flood, answered = [], 0
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", admin), timeout=5)
    s.sendall(req)
    answered += s.recv(4096).startswith(b"HTTP/1.1 200 OK")
    flood.append(s)
time.sleep(0.3)
# each was answered and waits for a FIN its client never sends
print("answered", answered)
print("held", len(os.listdir(fds)) - base)
s = socket.create_connection(("127.0.0.1", admin), timeout=5)
s.sendall(req)
print(s.recv(4096).split(b"\r\n")[0].decode())
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "answered 100" ]
	[ "${lines[1]#held }" -le 64 ]
	[ "${lines[2]}" = "HTTP/1.1 200 OK" ]
	served
}

@test "a POST /v1/publish whose body is on its way has a request: a flood of silent admin connections drops them, never it" {
	sl_start_gateway ""
	bg_ws_sub "$BATS_TEST_TMPDIR/sub.json" up.a --count 1 --timeout 10
	run $PY - "$ADMIN" <<'PY'
import socket, sys, time
admin = int(sys.argv[1])
body = b"u" * 100000
s = socket.create_connection(("127.0.0.1", admin), timeout=5)
s.sendall(b"POST /v1/publish?topic=up.a HTTP/1.1\r\nHost: x\r\nX-API-Key: test-key\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:50000])
time.sleep(0.3)
idle = [socket.create_connection(("127.0.0.1", admin), timeout=5) for _ in range(80)]
time.sleep(0.3)
s.sendall(body[50000:])
print(s.recv(4096).split(b"\r\n")[0].decode())
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "HTTP/1.1 202 Accepted" ]
	wait "$BG_PID"
	[ "$(json 'len(d["events"]), len(d["events"][0]["data"])' <"$BATS_TEST_TMPDIR/sub.json")" = "1 100000" ]
	# the pool still made room: silent ones were dropped for the newcomers
	grep -q 'the oldest connection without a hello or a request, dropped for a newcomer' "$LOG"
}

@test "limits.max_subscriptions_per_connection: the next sub is refused with err 429, a pattern held is acked again" {
	sl_start_gateway "limits: {max_subscriptions_per_connection: 3}"
	run $PY "$CLIENT" ws-sub "$WS" s.a s.b s.c s.d s.a --count 1 --timeout 1
	echo "$output"
	[ "$(echo "$output" | json '[(r["op"], r["id"], r.get("code")) for r in d["replies"]]')" = "[('ack', 1, None), ('ack', 2, None), ('ack', 3, None), ('err', 4, 429), ('ack', 5, None)]" ]
}

@test "limits.max_topics: a publish that would create one topic too many gets 429" {
	sl_start_gateway "limits: {max_topics: 3}"
	for t in t.1 t.2 t.3; do pub $t --count 1 >/dev/null; done
	run pub t.4 --count 1
	[ "$(echo "$output" | json '[e["code"] for e in d["errors"]]')" = "[429]" ]
	# over HTTP with Retry-After: quiet topics are forgotten each second
	run curl -s -i -H "X-API-Key: $TEST_KEY" --data-binary x "http://127.0.0.1:$ADMIN/v1/publish?topic=t.5"
	[[ "$output" == "HTTP/1.1 429 "*$'Retry-After: 1\r'*"too many topics"* ]]
	# an existing topic still takes events
	[ "$(pub t.2 --count 1 | json 'd["seqs"]')" = "[2]" ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	[ "$(echo "$output" | json 'd["publish_errors_by_kind"]["too_many_topics"]')" -eq 2 ]
}

@test "limits.max_topics: topics that went quiet and hold no event are forgotten, so new topics are taken again; their numbers are never given out again, also after a restart" {
	sl_start_gateway "limits: {max_topics: 3}
retention: {count: 5, age: 1s}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	for t in t.1 t.2; do pub $t --count 2 >/dev/null; done
	# a subscriber that reads nothing keeps t.3's events queued, and so t.3
	$PY -c '
import socket, sys, time, msgpack
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
time.sleep(0.3)
p = msgpack.packb({"op": "sub", "id": 1, "topic": "t.3"})
s.sendall(bytes([0x82, 0x80 | len(p)]) + b"\0\0\0\0" + p)
time.sleep(0.3)
open(sys.argv[2], "w").close()
time.sleep(8)' "$SUB" "$BATS_TEST_TMPDIR/held" &
	holder=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/held" ] && break; sleep 0.05; done
	pub t.3 --count 3 --size 200000 >/dev/null
	run pub t.4 --count 1
	[ "$(echo "$output" | json '[e["code"] for e in d["errors"]]')" = "[429]" ]
	[ "$($CTL -j stats | json 'd["queued_bytes"] > 0')" = True ]
	# the events age out (1 s), the sweep forgets what holds nothing
	for _ in $(seq 1 50); do
		[ "$($CTL -j stats | json 'd["topics_reclaimed"]')" -ge 2 ] && break
		sleep 0.1
	done
	run $CTL -j stats
	echo "$output"
	[ "$(echo "$output" | json 'd["topics_reclaimed"], d["topics"]')" = "2 1" ]
	[ "$($CTL -j topic list | json '[t["name"] for t in d]')" = "['t.3']" ]
	# room again: a new topic is taken; t.1 published again numbers past everything
	# a forgotten topic reached (its last gseq: 4, t.2:2), never 1 or 3 again
	[ "$(pub t.4 --count 1 | json 'd["seqs"]')" = "[5]" ]
	[ "$(pub t.1 --count 1 | json 'd["seqs"]')" = "[5]" ]
	run $PY "$CLIENT" ws-sub "$WS" t.1 --since 2 --count 1 --timeout 0.5
	[ "$(echo "$output" | json '[r.get("code") for r in d["replies"] if r["op"] == "err"]')" = "[410]" ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *$'\nsluice_topics_reclaimed_total 2\n'* ]]
	kill $holder
	wait $holder || true
	# after a restart no number comes back either (t.2 gave out 1 and 2, t.1 up to 5)
	sleep 1.2
	sl_restart_gateway
	for _ in $(seq 1 30); do
		run pub t.2 --count 1
		[ "$(echo "$output" | json 'd["errors"]')" = "[]" ] && break
		sleep 0.1 # at max_topics until the first sweep forgets what aged out
	done
	echo "t.2 after the restart: $output"
	[ "$(echo "$output" | json 'd["seqs"][0]')" -gt 2 ]
	run pub t.1 --count 1
	[ "$(echo "$output" | json 'd["seqs"][0]')" -gt 5 ]
}

@test "limits.max_frame_bytes: a bigger publish is refused, a bigger native frame closes the publisher" {
	sl_start_gateway "limits: {max_frame_bytes: 1024}"
	run pub big.t --count 1 --size 2000
	[ "$(echo "$output" | json '[e["code"] for e in d["errors"]]')" = "[400]" ]
	run $PY - "$PUB" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">I", 1 << 20) + b"x" * 100)
s.settimeout(5)
got = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
print("closed", len(got))
PY
	echo "$output"
	[[ "$output" == "closed "* ]]
	served
}

@test "publisher flood with stalled subscribers: each stalled queue is capped and RSS stays bounded" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 256KiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	base=$(rss_kib)
	for n in $(seq 1 20); do
		$PY "$CLIENT" ws-stall "$WS" fl.t --hold 30 >/dev/null 2>&1 &
		eval "s$n=\$!"
	done
	sleep 1
	# 20,000 events of 2 KB: 40 MB offered to each of 20 subscribers that read nothing
	$PY - "$PUB" <<'PY'
import socket, struct, sys, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def frame(m):
    b = msgpack.packb(m); return struct.pack(">I", len(b)) + b
s.sendall(frame({"op": "hello", "token": "test-key", "name": "flood"}))
payload = b"z" * 2000
batch = b"".join(frame({"op": "pub", "topic": "fl.t", "data": payload}) for _ in range(500))
for _ in range(40):
    s.sendall(batch)
s.sendall(frame({"op": "pub", "topic": "fl.t", "data": b"end", "id": 1}))
s.settimeout(30)
s.recv(100)
PY
	peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SLUICED_PID/status")
	echo "RSS before $base KiB, peak $peak KiB"
	# 20 x 256 KiB of queues share the events' bytes: far under 64 MiB of growth
	[ $((peak - base)) -lt 65536 ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	[ "$(echo "$output" | json 'd["evicted"]')" -eq 20 ]
	# no plan here: the per-connection limit did it, and the log says so
	[ "$(grep -cF '"reason":"slow consumer evicted: output queue over limits.max_queued_bytes_per_connection"' "$LOG")" -eq 20 ]
	for n in $(seq 1 20); do eval "kill \$s$n" 2>/dev/null || true; done
	served
}

@test "out of file descriptors: accept backs off without spinning, and recovers" {
	sl_start_gateway
	kill -TERM "$SLUICED_PID"; wait "$SLUICED_PID" || true
	# the daemon with 64 fds: the meter, listeners and a few clients fill them
	( ulimit -n 64; exec "$REPO/build/sluiced" -c "$CONF" 2>"$LOG" ) &
	SLUICED_PID=$!
	sl_wait_ready
	$PY - "$SUB" <<'PY' &
import socket, sys, time
socks = []
for _ in range(120):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1))
    except OSError:
        pass
time.sleep(3)
PY
	h=$!
	sleep 1
	t0=$(awk '{print $14 + $15}' "/proc/$SLUICED_PID/stat")
	sleep 1.5
	t1=$(awk '{print $14 + $15}' "/proc/$SLUICED_PID/stat")
	echo "CPU ticks while out of fds: $((t1 - t0))"
	grep '"msg":"accept_error"' "$LOG" | head -2
	grep -q '"msg":"accept_error","error":"Too many open files"' "$LOG"
	# at 100 ticks a second, a spinning loop would use about 150 in 1.5 s
	[ $((t1 - t0)) -lt 50 ]
	wait $h
	sleep 0.5
	served
}

@test "5,000 connections sending random bytes: a normal client is still served" {
	sl_start_gateway "limits: {handshake_timeout: 2s}"
	$PY - "$SUB" <<'PY'
import os, random, socket, sys, time
random.seed(7)
port = int(sys.argv[1])
socks = []
for i in range(5000):
    try:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        pass
    if len(socks) >= 500:
        time.sleep(0.05)
        for s in socks:
            try:
                s.send(os.urandom(random.randint(1, 3000)))
            except OSError:
                pass
            s.close()
        socks = []
for s in socks:
    s.close()
PY
	kill -0 "$SLUICED_PID"
	served
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	echo "$output" | json '(d["connections_total"], d["handshake_errors"])'
	[ "$(echo "$output" | json 'd["connections_total"] >= 4000')" = True ]
}

# Publishes COUNT events of 2,000 bytes on TOPIC as fast as TCP takes them;
# the last asks for an ack, which it waits for.
# flood TOPIC COUNT [GAP_S]: COUNT events of 2 KB, the last one acked; in
# batches of 100, or with GAP_S > 0 one at a time, GAP_S seconds apart.
flood() {
	$PY - "$PUB" "$1" "$2" "${3:-0}" <<'PY'
import socket, struct, sys, time, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
topic, count, gap = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def frame(m):
    b = msgpack.packb(m); return struct.pack(">I", len(b)) + b
s.sendall(frame({"op": "hello", "token": "test-key", "name": "flood"}))
payload = b"p" * 2000
one = frame({"op": "pub", "topic": topic, "data": payload})
if gap > 0:
    for _ in range(count - 1):
        s.sendall(one)
        time.sleep(gap)
else:
    for _ in range((count - 1) // 100):
        s.sendall(one * 100)
    s.sendall(one * ((count - 1) % 100))
s.sendall(frame({"op": "pub", "topic": topic, "data": payload, "id": 7}))
s.settimeout(60)
buf = b""
while b"ack" not in buf:
    c = s.recv(4096)
    if not c:
        sys.exit("publisher: closed before the ack")
    buf += c
PY
}

# reader_start TOPIC: an anonymous subscriber that reads 3,000 events as they
# come (4 KiB receive buffer) into $BATS_TEST_TMPDIR/healthy.json; sets READER.
reader_start() {
	$PY "$CLIENT" ws-late "$WS" "$1" --hold 0 --count 3000 --timeout 60 \
		--ready-file "$BATS_TEST_TMPDIR/h" >"$BATS_TEST_TMPDIR/healthy.json" &
	READER=$!
}

# wait_files NAME...: each $BATS_TEST_TMPDIR/NAME exists, or 10 s passed.
wait_files() {
	local f
	for f in "$@"; do
		for _ in $(seq 1 200); do [ -e "$BATS_TEST_TMPDIR/$f" ] && break; sleep 0.05; done
	done
}

# reader_got_all: the reader ended with all 3,000 events, in order.
reader_got_all() {
	wait "$READER"
	cat "$BATS_TEST_TMPDIR/healthy.json"
	[ "$(json 'd["events"]' <"$BATS_TEST_TMPDIR/healthy.json")" = 3000 ]
	[ "$(json 'd["in_order"]' <"$BATS_TEST_TMPDIR/healthy.json")" = True ]
}

# paced_and_evicted N: the publishers were paused at least once and N
# subscribers were evicted (sets $output to the stats).
paced_and_evicted() {
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	echo "$output"
	[ "$(echo "$output" | json 'd["evicted"]')" = "$1" ]
	[ "$(echo "$output" | json 'd["publisher_pauses"] >= 1')" = True ]
}

# late_readers COUNT: three subscribers of pace.t that read nothing for 2 s, then
# COUNT events; each one's JSON lands in late1..3.json, its PID in l1..l3.
late_readers() {
	for n in 1 2 3; do
		$PY "$CLIENT" ws-late "$WS" pace.t --hold 2 --count "$1" --timeout 60 \
			--ready-file "$BATS_TEST_TMPDIR/r$n" >"$BATS_TEST_TMPDIR/late$n.json" &
		eval "l$n=\$!"
	done
	for n in 1 2 3; do
		for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r$n" ] && break; sleep 0.05; done
	done
}

@test "pacing: a publisher faster than its subscribers is held back; nobody evicted, nothing lost" {
	sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	late_readers 4000
	# 8 MB for each subscriber, which reads nothing for 2 s
	flood pace.t 4000 &
	p=$!
	paused=0
	for _ in $(seq 1 20); do
		run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
		q=$(echo "$output" | json 'd["queued_bytes"]')
		# the bound, plus at most one read of the publisher fanned out to 3
		[ "$q" -lt $((2 * 1048576)) ]
		[ "$(echo "$output" | json 'd["publishers_paused"]')" = True ] && paused=1
		sleep 0.05
	done
	[ "$paused" = 1 ]
	wait $p
	for n in 1 2 3; do
		eval "wait \$l$n"
		cat "$BATS_TEST_TMPDIR/late$n.json"
		[ "$(json 'd["events"]' <"$BATS_TEST_TMPDIR/late$n.json")" = 4000 ]
		[ "$(json 'd["in_order"]' <"$BATS_TEST_TMPDIR/late$n.json")" = True ]
		[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/late$n.json")" = None ]
	done
	paced_and_evicted 0
	[ "$(echo "$output" | json 'd["publishers_paused"]')" = False ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *"sluice_publisher_pauses_total "* ]]
	[[ "$output" == *"sluice_queued_bytes "* ]]
	served
}

# paced_other_publisher MODE: three subscribers that read nothing for 2 s, then
# 400 events of 8 KB published over MODE (http: POST /v1/publish, ws: a
# WebSocket `pub`), each waiting for its answer; the publisher samples
# sluice_queued_bytes every 10 events and prints the largest.
paced_other_publisher() {
	sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	late_readers 400
	run $PY - "$1" "$SUB" "$ADMIN" <<'PY'
import asyncio, re, socket, sys, msgpack, websockets
mode, sub, admin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = b"p" * 8000
def http(req):
    s = socket.create_connection(("127.0.0.1", admin), timeout=10)
    s.sendall(req)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            return out
        out += c
def queued():
    m = http(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").decode()
    return int(re.search(r"^sluice_queued_bytes (\d+)", m, re.M).group(1))
peak, ok = 0, 0
async def ws():
    global peak, ok
    async with websockets.connect("ws://127.0.0.1:%d/v1/ws" % sub, subprotocols=["sluice.v1.msgpack"],
                                  extra_headers={"X-API-Key": "test-key"}) as w:
        for i in range(400):
            await w.send(msgpack.packb({"op": "pub", "id": i, "topic": "pace.t", "data": body}))
            r = msgpack.unpackb(await asyncio.wait_for(w.recv(), 10))
            ok += r.get("op") == "ack"
            if i % 10 == 0:
                peak = max(peak, queued())
if mode == "ws":
    asyncio.run(ws())
else:
    for i in range(400):
        r = http(b"POST /v1/publish?topic=pace.t HTTP/1.1\r\nHost: x\r\nX-API-Key: test-key\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
        ok += r.startswith(b"HTTP/1.1 202")
        if i % 10 == 0:
            peak = max(peak, queued())
print("accepted", ok)
print("peak", peak)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "accepted 400" ]
	# the bound, plus the one publish that crossed it, fanned out to 3
	[ "${lines[1]#peak }" -le $((1048576 + 3 * 8300)) ]
	for n in 1 2 3; do
		eval "wait \$l$n"
		[ "$(json 'd["events"], d["in_order"], d["close_code"]' <"$BATS_TEST_TMPDIR/late$n.json")" = "400 True None" ]
	done
	paced_and_evicted 0
}

@test "pacing holds an HTTP publisher too: POST /v1/publish waits while the queues are over limits.max_queued_bytes_total" {
	paced_other_publisher http
}

@test "pacing holds a WebSocket publisher too: its next pub is not read while the queues are over limits.max_queued_bytes_total" {
	paced_other_publisher ws
}

@test "pacing: a POST /v1/publish held longer than handshake_timeout is answered 503 with Retry-After, never closed silently" {
	sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_frame_bytes: 64KiB, handshake_timeout: 1s}
retention: {count: 100}"
	late_readers 4000
	flood pace.t 4000 &
	p=$!
	for _ in $(seq 1 40); do
		[ "$("$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats | json 'd["publishers_paused"]')" = True ] && break
		sleep 0.05
	done
	run raw_http "$ADMIN" < <(printf 'POST /v1/publish?topic=pace.t HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Length: 1\r\n\r\nx' "$TEST_KEY")
	echo "$output"
	[[ "$output" == "HTTP/1.1 503 "*"Retry-After: 1"*'"error":"paused"'* ]]
	wait $p
	for n in 1 2 3; do eval "wait \$l$n"; done
}

@test "pacing: a pause that does not drain evicts the subscribers that read nothing; the reader gets everything" {
	sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_queued_bytes_per_connection: 64MiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	for n in 1 2; do
		$PY "$CLIENT" ws-stall "$WS" hol.t --hold 40 --ready-file "$BATS_TEST_TMPDIR/s$n" \
			>/dev/null 2>&1 &
		eval "s$n=\$!"
	done
	reader_start hol.t
	wait_files s1 s2 h
	# Two subscribers that never read would hold the publisher for ever;
	# after 2 s of pause they are evicted and the reader gets every event.
	flood hol.t 3000
	reader_got_all
	paced_and_evicted 2
	[ "$(grep -cF '"reason":"slow consumer evicted: read nothing while the publishers were paused"' "$LOG")" -eq 2 ]
	kill $s1 $s2 2>/dev/null || true
	served
}

@test "pacing: a subscriber that stopped reading does not hold the publishers; its own bound evicts it" {
	# The one that will stop reading comes in with a key whose plan bounds its
	# queue at 704 KiB: above the resume mark (an eighth of 1 MiB) and below
	# the room resuming needs (7/8). The reader is anonymous, bound by the total.
	SL_APPS="$SL_DEFAULT_APPS
  - id: stallers
    plan: tight
    subscribe: ['>']
    api_keys: [{sha256: $(sl_sha256 stall-key)}]
plans:
  - name: tight
    backpressure: {max_queued_bytes: 704KiB, grace: 30s}" \
		sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	$PY "$CLIENT" ws-stall "$WS" hold.t --key stall-key --hold 40 --ready-file "$BATS_TEST_TMPDIR/s" \
		>/dev/null 2>&1 &
	s=$!
	reader_start hold.t
	wait_files s h
	# The first pause comes while the staller holds about half the total: its
	# queue waits behind a full socket, so the pause ends once the reader has
	# caught up, deliveries go on, and the staller reaches its plan's bound.
	# Counting its bytes toward resuming held that pause for the 2 s grace
	# and evicted it as "read nothing while the publishers were paused".
	flood hold.t 3000
	reader_got_all
	paced_and_evicted 1
	grep -o '"reason":"slow consumer[^"]*"' "$LOG"
	grep -qF '"reason":"slow consumer evicted: output queue over max_queued_bytes"' "$LOG"
	kill $s 2>/dev/null || true
	served
}

# gw_stat EXPR: EXPR over `sluicectl stats` (d is its JSON).
gw_stat() {
	"$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats | json "$1"
}

# backlog_behind_reader TOPIC FIRST HOLD COUNT: a gateway whose queues hold
# 64 MiB; a subscriber with a 256 KiB receive buffer that reads FIRST events,
# stops for HOLD s (creating the file p), then reads up to COUNT; and COUNT
# events of 2 KB published at once. Returns once the subscriber has stopped.
backlog_behind_reader() {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64MiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	$PY "$CLIENT" ws-pause "$WS" "$1" --first "$2" --rcvbuf 262144 --hold "$3" --count "$4" \
		--timeout 60 --ready-file "$BATS_TEST_TMPDIR/r" --paused-file "$BATS_TEST_TMPDIR/p" \
		>"$BATS_TEST_TMPDIR/$1.json" &
	LAGGER=$!
	wait_files r
	flood "$1" "$4" >/dev/null
	wait_files p
}

# backlog_reader_got_all TOPIC COUNT: that subscriber ended with all COUNT
# events, in order.
backlog_reader_got_all() {
	wait "$LAGGER"
	cat "$BATS_TEST_TMPDIR/$1.json"
	[ "$(json 'd["events"]' <"$BATS_TEST_TMPDIR/$1.json")" = "$2" ]
	[ "$(json 'd["in_order"]' <"$BATS_TEST_TMPDIR/$1.json")" = True ]
}

@test "a subscriber that falls behind: its socket holds at most 128 KiB unsent, the rest waits in the daemon's queue, and all of it arrives" {
	# Reading at full speed first lets the socket's send buffer grow to megabytes;
	# the reader's own buffer is fixed at 256 KiB so that it does not take them.
	# 8,000 events of 2 KB: 16 MB, 10 MB of them after the subscriber stops reading.
	backlog_behind_reader lag.t 3000 5 8000
	[ -e "$BATS_TEST_TMPDIR/p" ]
	# what the socket takes once the reader has stopped
	sleep 0.5
	# The gateway's end of the connection: what it holds unsent is the 128 KiB
	# mark plus at most the segment the last write started.
	info=$(ss -tniH state established "( sport = :$SUB )")
	echo "$info"
	notsent=$(grep -o 'notsent:[0-9]*' <<<"$info" | cut -d: -f2)
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	queued=$(echo "$output" | json 'd["queued_bytes"]')
	echo "kernel unsent ${notsent:-0} B, daemon queue $queued B"
	[ "${notsent:-0}" -le $((192 * 1024)) ]
	[ "$queued" -ge $((4 * 1048576)) ]
	backlog_reader_got_all lag.t 8000
	[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/lag.t.json")" = None ]
	served
}

@test "a metered subscriber draining a backlog: writes after POLLOUT fit the socket, so the meter is resynced once, not at every write" {
	# 6,000 events of 2 KB: 10 MB wait in the daemon's queue while the reader holds
	backlog_behind_reader drain.t 1000 2 6000
	flushes0=$(gw_stat 'sum(d["flushes_by_thread"])')
	backlog_reader_got_all drain.t 6000
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	flushes=$(($(echo "$output" | json 'sum(d["flushes_by_thread"])') - flushes0))
	resyncs=$(echo "$output" | json 'd["meter_resyncs"]')
	echo "$output" | json 'd["kernel"]'
	echo "flushes while draining $flushes, meter resyncs $resyncs"
	# the backlog went out in many writes, each woken by POLLOUT...
	[ "$flushes" -ge 50 ]
	# ...of which only the first of the backlog was stopped short by the kernel
	[ "$resyncs" -le 5 ]
	[ "$(echo "$output" | json 'd["kernel"]["rewinds"]')" -le 5 ]
	# and nothing got past the meter unparsed
	[ "$(echo "$output" | json 'd["kernel"]["gaps"]')" = 0 ]
	[ "$(echo "$output" | json 'd["kernel"]["desyncs"]')" = 0 ]
	served
}

@test "a subscriber whose socket is full is not written again until the socket has room" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64MiB, max_frame_bytes: 64KiB}"
	$PY "$CLIENT" ws-stall "$WS" full.t --hold 30 --ready-file "$BATS_TEST_TMPDIR/s" >/dev/null 2>&1 &
	s=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/s" ] && break; sleep 0.05; done
	# 1,000 events of 2 KB: far more than the reader's 4 KiB window and the socket's 128 KiB
	flood full.t 1000
	before=$(gw_stat 'sum(d["flushes_by_thread"])')
	q0=$(gw_stat 'd["queued_bytes"]')
	# 101 events, each read by the loop on its own: every one is queued for
	# the subscriber, and none costs a write to its full socket.
	flood full.t 101 0.01
	after=$(gw_stat 'sum(d["flushes_by_thread"])')
	q1=$(gw_stat 'd["queued_bytes"]')
	echo "flushes $before -> $after, daemon queue $q0 -> $q1 B"
	[ "$q1" -ge $((q0 + 101 * 2000)) ]
	# the trickle's hello and ack are one flush each
	[ $((after - before)) -le 10 ]
	kill $s 2>/dev/null || true
	served
}

@test "a publisher that never reads its acks is held back alone: the other publishers publish, its queue stays bounded, and every ack arrives once it reads" {
	sl_start_gateway "limits: {max_queued_bytes_total: 1MiB, max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}"
	run env PYTHONPATH="$REPO/tests/tools" $PY - "$PUB" "$BATS_TEST_TMPDIR/control.sock" "$REPO/build/sluicectl" <<'PY'
import json, socket, struct, subprocess, sys, msgpack
from sl_client import native_frame as frame, read_frame
port, ctl = int(sys.argv[1]), [sys.argv[3], "--socket", sys.argv[2], "-j"]
def hello(rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(frame({"op": "hello", "token": "test-key", "name": "n"}))
    assert read_frame(s)["op"] == "ok"
    return s
# Publisher A pipelines pubs with ids and reads none of the acks. Ids from
# 2^16 on are all 5 bytes, so every frame has the same size.
a = hello(4096)
base = 1 << 16
one = len(frame({"op": "pub", "topic": "a.t", "data": b"x", "id": base}))
batch = b"".join(frame({"op": "pub", "topic": "a.t", "data": b"x", "id": base + i})
                 for i in range(400000))
a.settimeout(2)
sent = 0
try:
    while sent < len(batch):
        sent += a.send(batch[sent:sent + 65536])
except socket.timeout:
    pass
whole = sent // one
print("A sent", whole, "frames,", sent, "bytes")
# Publisher B is answered at once.
b = hello()
b.settimeout(10)
b.sendall(frame({"op": "pub", "topic": "b.t", "data": b"y", "id": 7}))
r = read_frame(b)
print("B:", r)
assert r == {"op": "ack", "id": 7, "seq": 1}, r
conns = json.loads(subprocess.run(ctl + ["conn", "list", "app", "tester"], capture_output=True, check=True).stdout)
qa = max(c["queued_bytes"] for c in conns if c["kind"] == "publisher")
print("A's queue in the daemon:", qa)
# The bound, plus the acks of one read (at most 64 KiB + 16 KiB + 8 KiB of frames)
assert qa <= 65536 + (64 + 16 + 8) * 1024 // one * 32, qa
# A reads at last: one ack per whole frame, in order, numbered from 1.
a.settimeout(30)
for i in range(whole):
    r = read_frame(a)
    assert r == {"op": "ack", "id": base + i, "seq": i + 1}, (i, r)
print("A got", whole, "acks")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	served
}

@test "publishers that never read their acks: the daemon holds about the bound for each (RSS), not three times it" {
	# Without the journal, whose buffer of a burst's records (megabytes when eight
	# publishers go flat out) would blur what the replies cost.
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 2MiB, max_frame_bytes: 64KiB}
retention: {count: 100, journal: off}"
	run env PYTHONPATH="$REPO/tests/tools" $PY - "$PUB" "$BATS_TEST_TMPDIR/control.sock" "$REPO/build/sluicectl" "$SLUICED_PID" <<'PY'
import json, socket, struct, subprocess, sys, time, msgpack
from sl_client import native_frame as frame
port, ctl, pid = int(sys.argv[1]), [sys.argv[3], "--socket", sys.argv[2], "-j"], sys.argv[4]
bound, n = 2 << 20, 8
def rss():
    return [int(l.split()[1]) * 1024 for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(frame({"op": "hello", "token": "test-key", "name": "p%d" % i}))
    s.recv(100)
    s.setblocking(False)
    socks.append(s)
time.sleep(0.3)
before = rss()
# Each pipelines pubs with ids (acks of 20-odd bytes) until TCP stops taking them.
batch = b"".join(frame({"op": "pub", "topic": "ak.t", "data": b"x", "id": (1 << 16) + i})
                 for i in range(20000))
pos, idle = [0] * n, 0
while idle < 20:
    moved = False
    for i, s in enumerate(socks):
        try:
            pos[i] += s.send(batch[pos[i] % len(batch):][:65536])
            moved = True
        except BlockingIOError:
            pass
    idle = 0 if moved else idle + 1
    time.sleep(0 if moved else 0.05)
time.sleep(0.5)
grown = rss() - before
conns = json.loads(subprocess.run(ctl + ["conn", "list", "app", "tester"], capture_output=True, check=True).stdout)
queued = [c["queued_bytes"] for c in conns if c["kind"] == "publisher"]
print("queued per publisher:", queued, "RSS grew by", grown, "bytes:", round(grown / sum(queued), 2), "per queued byte")
assert len(queued) == n and all(bound <= q <= bound + 64 for q in queued), queued
# Each reply was an allocation and a queue item of its own: 2.8 bytes held per byte counted.
assert grown < 1.5 * sum(queued), grown
PY
	echo "$output"
	[ "$status" -eq 0 ]
	served
}

@test "a publisher that sends bad frames and reads no answer: its unread errors stop at the bound, not a read's worth of errors past it, and all arrive once it reads" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}"
	run env PYTHONPATH="$REPO/tests/tools" $PY - "$PUB" "$BATS_TEST_TMPDIR/control.sock" "$REPO/build/sluicectl" <<'PY'
import json, socket, struct, subprocess, sys, time, msgpack
from sl_client import read_frame
port, ctl = int(sys.argv[1]), [sys.argv[3], "--socket", sys.argv[2], "-j"]
def frame(b):
    return struct.pack(">I", len(b)) + b
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.sendall(frame(msgpack.packb({"op": "hello", "token": "test-key", "name": "bad"})))
assert read_frame(s)["op"] == "ok"
# One 60 KB frame grows the daemon's input buffer, so that a read takes 60 KB
# of 5-byte frames: each is answered with an error ten times its size.
bad = frame(b"\xc1")
data = frame(b"\xc1" * 60000) + bad * 200000
s.settimeout(3)
sent = 0
try:
    while sent < len(data):
        sent += s.send(data[sent:sent + 65536])
except socket.timeout:
    pass
frames = 1 + (sent - 60004) // len(bad)
def queued():
    conns = json.loads(subprocess.run(ctl + ["conn", "list", "app", "tester"], capture_output=True, check=True).stdout)
    return [c["queued_bytes"] for c in conns if c["kind"] == "publisher"][0]
# The socket takes 4 MiB of errors before they queue: wait for the daemon to get there.
deadline = time.time() + 20
while queued() < 65536 and time.time() < deadline:
    time.sleep(0.1)
time.sleep(0.5)
q = queued()
print("sent", frames, "frames; unread errors queued in the daemon:", q)
assert 65536 <= q <= 65536 + 128, q
# Reading at last: one error per frame, the ones left in the daemon's buffer included.
s.settimeout(30)
for i in range(frames):
    r = read_frame(s)
    assert r["op"] == "err" and r["code"] == 400, (i, r)
s.sendall(frame(msgpack.packb({"op": "ping"})))
assert read_frame(s) == {"op": "pong"}
print("all", frames, "errors read, then a pong")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	served
}

@test "an SSE client that never reads is evicted at its queue bound with sluice.close 4003; RSS stays bounded and a reader gets every event" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 256KiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	# reads nothing until the flood is over (a 4 KiB receive buffer), then everything
	$PY - "$SUB" "$BATS_TEST_TMPDIR/st" <<'PY' >"$BATS_TEST_TMPDIR/stall.out" &
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/sse?topic=st.t HTTP/1.1\r\nHost: x\r\n\r\n")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[2] + ".read"):
    time.sleep(0.05)
s.settimeout(5)
out = b""
while not out.endswith(b"\r\n0\r\n\r\n"):
    c = s.recv(1 << 20)
    if not c:
        break
    out += c
sys.stdout.write(out[-300:].decode("latin-1"))
PY
	st=$!
	wait_files st
	$PY "$CLIENT" sse "http://127.0.0.1:$SUB/v1/sse?topic=st.t" --count 3000 --timeout 20 >"$BATS_TEST_TMPDIR/reader.json" &
	r=$!
	sleep 0.5
	base=$(rss_kib)
	# 3,000 events of 2 KB: 6 MB offered to a stream that reads nothing
	pub st.t --count 3000 --size 2000 >/dev/null
	peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SLUICED_PID/status")
	echo "RSS before $base KiB, peak $peak KiB"
	touch "$BATS_TEST_TMPDIR/st.read"
	wait $st
	wait $r
	cat "$BATS_TEST_TMPDIR/stall.out"
	grep -q 'event: sluice.close' "$BATS_TEST_TMPDIR/stall.out"
	grep -q '"code":4003' "$BATS_TEST_TMPDIR/stall.out"
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/reader.json")" -eq 3000 ]
	[ "$(gw_stat 'd["evicted"]')" -eq 1 ]
	[ $((peak - base)) -lt 32768 ]
}

@test "a resume with since larger than the subscriber's queue bound is paced: every event once, in order, then the live ones published meanwhile; nobody evicted" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}
retention: {count: 1000}"
	# 300 retained events of 2 KB: 600 KB, nine times the bound, queued at once before
	flood rs.t 300
	bg_ws_sub "$BATS_TEST_TMPDIR/ws.json" rs.t --since 0 --count 500 --timeout 30
	# 200 live events while the replay is under way
	flood rs.t 200 0.002
	wait $BG_PID
	seqs=$(json 'd["events"] and [e["seq"] for e in d["events"]] == list(range(1, 501))' <"$BATS_TEST_TMPDIR/ws.json")
	json 'd.get("close"), len(d["events"])' <"$BATS_TEST_TMPDIR/ws.json"
	[ "$seqs" = True ]
	[ "$(gw_stat 'd["evicted"]')" -eq 0 ]
	! grep -q '"msg":"evicted"' "$LOG"
	# exact accounting: the daemon wrote, and the kernel meter counted, the 500 events
	for _ in $(seq 1 40); do grep -q '"msg":"meter_close".*"events":500,' "$LOG" && break; sleep 0.05; done
	id=$(grep '"msg":"conn_close".*"topics":\["rs.t"\]' "$LOG" | json 'd["id"], d["events"]')
	echo "$id"
	[ "${id#* }" = 500 ]
	grep -q "\"msg\":\"meter_close\",\"id\":${id%% *},.*\"events\":500," "$LOG"
	served
}

@test "repeated resumes to a reader that reads nothing keep its queue within the replay's fill; the reader then gets its events and stays connected" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	# 100 retained events of 2 KB: 200 KB, three times the bound
	flood rs.t 100
	$PY - "$WS" "$REPO/tests/tools" "$BATS_TEST_TMPDIR/st" <<'PY' >"$BATS_TEST_TMPDIR/stall.json" &
import json, os, sys, time, msgpack
sys.path.insert(0, sys.argv[2])
import sl_client
s = sl_client.raw_ws_sub(sys.argv[1], "other.t")
# Each sub with since=0 asks for the whole ring again; unsub ends it.
for i in range(20):
    s.sendall(sl_client.client_op({"op": "sub", "id": 10 + i, "topic": "rs.t", "since": 0}))
    s.sendall(sl_client.client_op({"op": "unsub", "id": 100 + i, "topic": "rs.t"}))
s.sendall(sl_client.client_op({"op": "sub", "id": 7, "topic": "rs.t", "since": 0}))
open(sys.argv[3], "w").write("sent\n")
while not os.path.exists(sys.argv[3] + ".read"):
    time.sleep(0.05)
seqs, code, _ = sl_client.read_events(s, 1 << 30, time.monotonic() + 5, [], b"")
print(json.dumps({"events": len(seqs), "close_code": code, "last": seqs[-1] if seqs else None}))
PY
	st=$!
	wait_files st
	# The 41 ops answered, and as much of the replays as the socket took
	for _ in $(seq 1 40); do
		q=$(gw_stat 'd["queued_bytes"]')
		echo "queued $q"
		[ "$q" -gt $((64 * 1024)) ] && break
		sleep 0.05
	done
	# the operator sees where its resume stands: short of the ring's end, behind its queue
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	id=$($CTL -j conn list topic rs.t | json 'd[0]["id"]')
	$CTL conn show "$id"
	[ "$($CTL -j conn show "$id" | json '[(r["topic"], 0 <= r["after_seq"] < 100) for r in d["resume"]]')" = "[('rs.t', True)]" ]
	run $CTL -j stats
	touch "$BATS_TEST_TMPDIR/st.read"
	wait $st
	cat "$BATS_TEST_TMPDIR/stall.json"
	[ "$(echo "$output" | json 'd["resumes"]["under_way"]')" -eq 1 ]
	[ "$(echo "$output" | json 'd["evicted"]')" -eq 0 ]
	# at most half the bound (the replay's fill) and one event, with the answers
	[ "$(echo "$output" | json 'd["queued_bytes"]')" -le $((32 * 1024 + 2100 + 41 * 64)) ]
	# the last sub's replay ran to the end of the ring, and the connection is open
	[ "$(json 'd["last"]' <"$BATS_TEST_TMPDIR/stall.json")" = 100 ]
	[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/stall.json")" = None ]
	served
}

@test "a resume that falls behind the topic's retention is a slow consumer: evicted (4003) when the ring drops what it has not sent; other subscribers get every event" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}
retention: {count: 100}"
	flood rs.t 100
	$PY "$CLIENT" ws-late "$WS" rs.t --hold 0 --count 300 --timeout 30 \
		--ready-file "$BATS_TEST_TMPDIR/h" >"$BATS_TEST_TMPDIR/live.json" &
	local reader=$!
	wait_files h
	$PY "$CLIENT" ws-resume-stall "$WS" rs.t --since 0 --ready-file "$BATS_TEST_TMPDIR/st" \
		--go-file "$BATS_TEST_TMPDIR/st.read" >"$BATS_TEST_TMPDIR/stall.json" &
	st=$!
	wait_files st
	sleep 0.3
	# 300 more: the ring of 100 drops events the stalled resume has not sent
	flood rs.t 300 0.005
	for _ in $(seq 1 100); do
		[ "$(gw_stat 'd["evicted"]')" -ge 1 ] && break
		sleep 0.05
	done
	touch "$BATS_TEST_TMPDIR/st.read"
	wait $st
	wait $reader
	cat "$BATS_TEST_TMPDIR/stall.json" "$BATS_TEST_TMPDIR/live.json"
	grep '"msg":"evicted"' "$LOG"
	[ "$(gw_stat 'd["evicted"]')" -eq 1 ]
	[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/stall.json")" = 4003 ]
	# what it got was in order from the start, and stops before the ring's end
	[ "$(json 'd["first"]' <"$BATS_TEST_TMPDIR/stall.json")" = 1 ]
	[ "$(json 'd["last"]' <"$BATS_TEST_TMPDIR/stall.json")" -lt 300 ]
	grep -qF '"reason":"slow consumer evicted: the retention ring dropped events its resume had not sent yet"' "$LOG"
	[ "$(json 'd["events"]' <"$BATS_TEST_TMPDIR/live.json")" -eq 300 ]
}

@test "a herd of resumes whose readers stall does not pause the publishers: they refill within half of limits.max_queued_bytes_total, and past it 16 KiB each; live events flow, nobody is evicted, and each resume later ends" {
	sl_start_gateway "limits: {max_queued_bytes_total: 512KiB, max_queued_bytes_per_connection: 1MiB, max_frame_bytes: 64KiB}
retention: {count: 2000}"
	# 500 retained events of 2 KB: 1 MB to replay to each of 12 resumers
	flood rs.t 500
	for n in $(seq 1 12); do
		$PY "$CLIENT" ws-resume-stall "$WS" rs.t --since 0 --count 800 --timeout 30 \
			--ready-file "$BATS_TEST_TMPDIR/st$n" --go-file "$BATS_TEST_TMPDIR/go" \
			>"$BATS_TEST_TMPDIR/stall$n.json" &
		eval "st$n=\$!"
	done
	wait_files $(seq -f st%g 1 12)
	# Each resume's fill (64 KiB) sits behind its full socket: twelve of them
	# held 760 KiB, over the bound, and paused the publishers.
	for _ in $(seq 1 40); do
		[ "$(gw_stat 'd["resumes"]["under_way"]')" -eq 12 ] && break
		sleep 0.05
	done
	sleep 0.3
	q=$(gw_stat 'd["queued_bytes"]')
	echo "queued by the stalled resumes: $q"
	# half the bound, and at most 16 KiB more for each
	[ "$q" -le $((256 * 1024 + 12 * 16384)) ]
	bg_ws_sub "$BATS_TEST_TMPDIR/live.json" rs.t --count 300 --timeout 30
	# 300 live events over 3 s; a pause would hold them until the 2 s
	# grace evicted the resumers as readers of nothing
	flood rs.t 300 0.01
	wait $BG_PID
	[ "$(json '[e["seq"] for e in d["events"]] == list(range(501, 801))' <"$BATS_TEST_TMPDIR/live.json")" = True ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	echo "$output"
	[ "$(echo "$output" | json 'd["publisher_pauses"]')" -eq 0 ]
	[ "$(echo "$output" | json 'd["evicted"]')" -eq 0 ]
	[ "$(echo "$output" | json 'd["resumes"]["under_way"]')" -eq 12 ]
	# the operator sees the share at work
	[ "$(echo "$output" | json 'd["resumes"]["refills_held"]')" -gt 0 ]
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *"sluice_resume_refills_held_total "[1-9]* ]]
	# once they read, every resume runs to the ring's end and live delivery takes over
	touch "$BATS_TEST_TMPDIR/go"
	for n in $(seq 1 12); do
		eval "wait \$st$n"
		cat "$BATS_TEST_TMPDIR/stall$n.json"
		[ "$(json 'd["events"], d["first"], d["last"], d["in_order"], d["close_code"]' \
			<"$BATS_TEST_TMPDIR/stall$n.json")" = "800 1 800 True None" ]
	done
	[ "$(gw_stat 'd["resumes"]["under_way"]')" -eq 0 ]
	served
}

@test "WebSocket clients that send ops and read no answer are slow consumers: evicted (4003) at their queue bound; RSS stays bounded and a reader gets every event meanwhile" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 256KiB, max_frame_bytes: 64KiB}
retention: {count: 1000}"
	$PY "$CLIENT" ws-late "$WS" live.t --hold 0 --count 300 --timeout 30 \
		--ready-file "$BATS_TEST_TMPDIR/h" >"$BATS_TEST_TMPDIR/live.json" &
	local reader=$!
	wait_files h
	# 300 events over 3 s, while the clients below flood
	flood live.t 300 0.01 &
	local publisher=$!
	run $PY - "$WS" "$REPO/tests/tools" "$BATS_TEST_TMPDIR/control.sock" "$REPO/build/sluicectl" "$SLUICED_PID" <<'PY'
import json, os, socket, subprocess, sys, time, msgpack
sys.path.insert(0, sys.argv[2])
import sl_client
ctl, pid = [sys.argv[4], "--socket", sys.argv[3], "-j"], sys.argv[5]
bound, n = 256 << 10, 8
def rss():
    return [int(l.split()[1]) * 1024 for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
def flooders_queued():
    conns = json.loads(subprocess.run(ctl + ["conn", "list", "topic", "fl.x"], capture_output=True, check=True).stdout)
    return [c["queued_bytes"] for c in conns]
# Each answer is queued for a client that reads none: WebSocket pings (pongs
# of 127 bytes), subs (acks) and an op a subscriber may not send (errors).
ops = []
for i in range(1000):
    ops.append(sl_client.client_frame(0x9, b"p" * 125))
    ops.append(sl_client.client_frame(0x2, msgpack.packb({"op": "sub", "id": i, "topic": "fl.t%d" % (i % 50)})))
    ops.append(sl_client.client_frame(0x2, msgpack.packb({"op": "ping", "id": i})))
batch = b"".join(ops)
socks = [sl_client.raw_ws_sub(sys.argv[1], "fl.x") for _ in range(n)]
time.sleep(0.3)
before = rss()
for s in socks:
    s.setblocking(False)
# Until TCP has taken nothing from any of them for a second (the gateway stopped
# reading), or each sent 32 MB: the old gateway read and answered them all.
sent, blocked_since, samples = [0] * n, time.monotonic(), []
start = time.monotonic()
while time.monotonic() - blocked_since < 1 and min(sent) < 32 << 20 and time.monotonic() - start < 20:
    moved = False
    for i, s in enumerate(socks):
        try:
            sent[i] += s.send(batch[sent[i] % len(batch):][:65536])
            moved = True
        except BlockingIOError:
            pass
    if moved:
        blocked_since = time.monotonic()
    else:
        time.sleep(0.01)
    if len(samples) < 1000 and (not samples or time.monotonic() - samples[-1][0] > 0.05):
        samples.append((time.monotonic(), max(flooders_queued() or [0])))
grown = rss() - before
peak = max(q for _, q in samples)
print("sent per client (MB):", [round(x / 1e6, 1) for x in sent], "RSS grew by", grown,
      "bytes; largest queue seen", peak, "of", len(samples), "samples")
stats = json.loads(subprocess.run(ctl + ["stats"], capture_output=True, check=True).stdout)
print("evicted:", stats["evicted"])
# Each was evicted at the bound (within one answer), and its unsent answers went with it.
assert peak <= bound + 16384, peak
assert grown < 16 << 20, grown
assert stats["evicted"] == n, stats
# Each finds the 4003 close after the answers that were already on their way.
for s in socks:
    s.setblocking(True)
    _, code, _ = sl_client.read_events(s, 1 << 30, time.monotonic() + 10, [], b"")
    assert code == 4003, code
print("all", n, "closed with 4003")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -F '"msg":"evicted"' "$LOG" | grep -cF '"reason":"slow consumer evicted: output queue over limits.max_queued_bytes_per_connection"')" -eq 8 ]
	wait $publisher
	wait $reader
	cat "$BATS_TEST_TMPDIR/live.json"
	[ "$(json 'd["events"]' <"$BATS_TEST_TMPDIR/live.json")" = 300 ]
	[ "$(json 'd["in_order"]' <"$BATS_TEST_TMPDIR/live.json")" = True ]
	[ "$(json 'd["close_code"]' <"$BATS_TEST_TMPDIR/live.json")" = None ]
	served
}

@test "a WebSocket client that reads its answers may send any number of ops: far more answers than the queue bound, every pong echoes its ping, and a close is answered" {
	sl_start_gateway "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}"
	run $PY - "$WS" "$REPO/tests/tools" <<'PY'
import os, sys, time, msgpack
sys.path.insert(0, sys.argv[2])
import sl_client
s = sl_client.raw_ws_sub(sys.argv[1], "ok.x", rcvbuf=0)
s.settimeout(10)
buf, got, total = b"", [], 0
def read_until(count):
    global buf
    while len(got) < count:
        c = s.recv(1 << 16)
        assert c, "closed after %d answers" % len(got)
        frames, buf = sl_client.ws_split(buf + c)
        got.extend(frames)
read_until(1)
assert msgpack.unpackb(got.pop(0)[1]) == {"op": "ack", "id": 1}
# Rounds of 100 pings, subs and refused ops (about 24 KB of answers, under
# the bound), each read before the next: 3 MB in all, fifty times the bound.
for r in range(120):
    ops = []
    for i in range(100):
        ops.append(sl_client.client_frame(0x9, b"%03d-%03d" % (r, i) + b"p" * 118))
        ops.append(sl_client.client_frame(0x2, msgpack.packb({"op": "sub", "id": i, "topic": "ok.t%d" % (i % 10)})))
        ops.append(sl_client.client_frame(0x2, msgpack.packb({"op": "ping", "id": i})))
    s.sendall(b"".join(ops))
    read_until(300)
    for i in range(100):
        (op1, pong), (op2, ack), (op3, err) = got[3 * i:3 * i + 3]
        assert op1 == 0xa and pong == b"%03d-%03d" % (r, i) + b"p" * 118, (r, i, op1, pong[:10])
        assert op2 == 2 and msgpack.unpackb(ack) == {"op": "ack", "id": i}, (r, i, ack)
        e = msgpack.unpackb(err)
        assert op3 == 2 and e["op"] == "err" and e["id"] == i and e["code"] == 400, (r, i, e)
        total += len(pong) + len(ack) + len(err)
    del got[:300]
print("answered", total, "bytes of pongs, acks and errors")
# The close handshake: our code echoed (RFC 6455 §5.5.1), then the gateway closes.
s.sendall(sl_client.client_frame(0x8, (1000).to_bytes(2, "big") + b"bye"))
read_until(1)
assert got[0][0] == 0x8 and sl_client.close_code(got[0][1]) == 1000, got[0]
assert s.recv(100) == b""
print("closed with 1000")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats
	[ "$(echo "$output" | json 'd["evicted"]')" -eq 0 ]
	served
}
