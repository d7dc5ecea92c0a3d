#!/usr/bin/env bats
# TLS on the subscriber and publisher listeners (issue #4): wss:// to
# python3-websockets verifying against the test CA, TLS 1.2/1.3 only, and
# the kernel meter counting exactly the event records of a TLS connection.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	export CERTS="$BATS_FILE_TMPDIR/certs"
	"$BATS_TEST_DIRNAME/../../scripts/gen-test-certs.sh" "$CERTS" >/dev/null
}

setup() {
	sl_setup_instance
	TLSCONF="tls: {cert_file: $CERTS/server.pem, key_file: $CERTS/server.key}"
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

# subs_on_plan PLAN_YAML: the applications of SL_APPS with one more, `subs` (API key sub-key), on plan p.
subs_on_plan() {
	printf '%s\n  - id: subs\n    plan: p\n    subscribe: ['"'>'"']\n    api_keys: [{sha256: %s}]\nplans:\n  - name: p\n%s\n' \
		"$SL_DEFAULT_APPS" "$(sl_sha256 sub-key)" "$1"
}

start_tls() {
	SL_SUB_TLS=1 sl_start_gateway "$TLSCONF
${1:-}"
	WSS="wss://localhost:$SUBTLS/v1/ws"
}

@test "events flow over wss:// with certificate verification; the kernel counts exactly the event records" {
	start_tls
	$PY "$CLIENT" ws-sub "$WSS" 'secure.>' --ca "$CERTS/ca.pem" --count 12 --timeout 5 \
		--ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/wss.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	sleep 0.2
	pub secure.x --count 12 --size 20000 >/dev/null # one event over 16 KiB: two records
	wait $w
	cat "$BATS_TEST_TMPDIR/wss.json" | head -c 300
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/wss.json")" -eq 12 ]
	port=$(json 'd["local_port"]' <"$BATS_TEST_TMPDIR/wss.json")
	for _ in $(seq 1 50); do grep -q "\"rport\":$port," "$LOG" && break; sleep 0.1; done
	grep "\"rport\":$port," "$LOG"
	[ "$(grep "\"msg\":\"meter_close\".*\"rport\":$port," "$LOG" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())["events"])')" -eq 12 ]
}

# A wss:// client on a raw TLS socket: the handshake (as API key $1), then $2 `sub` ops of topic $3
# in one write, read back after a second (file $5 says when all are), then $4 events; prints its
# local port, then the answers and events it counted.
wss_pipelined() {
	env PYTHONPATH="$REPO/tests/tools" $PY - "$SUBTLS" "$CERTS/ca.pem" "$@" <<'PY'
import base64, os, socket, ssl, sys, time, msgpack
from sl_client import client_op, ws_split
port, ca, key, nsub, topic, nev = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nX-API-Key: %s\r\n\r\n"
           % (base64.b64encode(os.urandom(16)).decode(), key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
buf = buf.split(b"\r\n\r\n", 1)[1]
print(s.getsockname()[1], flush=True)
s.sendall(b"".join(client_op({"op": "sub", "id": i, "topic": topic}) for i in range(nsub)))
time.sleep(1)
acks = events = 0
s.settimeout(15)
while acks < nsub or events < nev:
    frames, buf = ws_split(buf)
    for op, p in frames:
        m = msgpack.unpackb(p) if op == 2 else {}
        acks += m.get("op") == "ack"
        events += m.get("op") == "ev"
        if m.get("op") == "ack" and acks == nsub:
            open(sys.argv[7], "w").write("acked\n")
    if acks == nsub and events == nev:
        break
    c = s.recv(1 << 20)
    if not c:
        break
    buf += c
print(acks, events, flush=True)
s.close()
PY
}

@test "over wss://, thousands of pipelined answers and events of 37 records each count as replies and events exactly, in the kernel too" {
	start_tls "limits: {max_subscriptions_per_connection: 1000}"
	wss_pipelined test-key 3000 big.t 3 "$BATS_TEST_TMPDIR/acked" >"$BATS_TEST_TMPDIR/out" &
	w=$!
	for _ in $(seq 1 200); do [ -e "$BATS_TEST_TMPDIR/acked" ] && break; sleep 0.05; done
	[ -e "$BATS_TEST_TMPDIR/acked" ]
	# 600,000 bytes: 37 records of 16 KiB, 36 of them marked as the event's continuation
	pub big.t --count 3 --size 600000 >/dev/null
	wait $w
	cat "$BATS_TEST_TMPDIR/out"
	[ "$(sed -n 2p "$BATS_TEST_TMPDIR/out")" = "3000 3" ]
	port=$(sed -n 1p "$BATS_TEST_TMPDIR/out")
	for _ in $(seq 1 50); do grep -q "\"msg\":\"meter_close\".*\"rport\":$port," "$LOG" && break; sleep 0.1; done
	grep "\"msg\":\"meter_close\".*\"rport\":$port," "$LOG"
	[ "$(grep "\"msg\":\"meter_close\".*\"rport\":$port," "$LOG" | $PY -c 'import json,sys; r = json.loads(sys.stdin.read()); print(r["events"], r["replies"] >= 3000 + 3 * 36)')" = "3 True" ]
}

@test "a wss:// subscriber's application and plan reach the kernel: its events count for the application, and the kernel holds its quota with graceful enforcement off" {
	SL_APPS="$(subs_on_plan "    events: {limit: 20, per: 1h}")" start_tls "graceful_enforcement: off"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	$PY "$CLIENT" ws-sub "$WSS" q.t --ca "$CERTS/ca.pem" --header "X-API-Key: sub-key" --count 40 --timeout 4 \
		--ready-file "$BATS_TEST_TMPDIR/r" >"$BATS_TEST_TMPDIR/wss.json" &
	w=$!
	for _ in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/r" ] && break; sleep 0.05; done
	sleep 0.2
	slot=$($CTL -j app usage subs | json 'd["slot"]')
	run $CTL -j conn list app subs
	echo "$output"
	[ "$(echo "$output" | json '[c.get("app") for c in d]')" = "['subs']" ]
	[ "$("$REPO/build/sluicectl" --pin-root "$PIN" -j conn list | json "sorted(c['app_slot'] for c in d if c['framing'] == 'tls')")" = "[$slot]" ]
	pub q.t --count 40 >/dev/null
	wait $w || true
	# the kernel let exactly the quota through, and counted it for the application
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/wss.json")" -eq 20 ]
	run $CTL -j app usage subs
	echo "$output"
	[ "$(echo "$output" | json 'd["events"], d["drops"] >= 1')" = "20 True" ]
}

@test "the TLS listener refuses TLS 1.1 and plaintext" {
	start_tls
	run openssl s_client -connect "127.0.0.1:$SUBTLS" -tls1_1 </dev/null
	[ "$status" -ne 0 ]
	run openssl s_client -connect "127.0.0.1:$SUBTLS" -tls1_3 -CAfile "$CERTS/ca.pem" </dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *"Verify return code: 0 (ok)"* ]]
	run curl -s --max-time 2 "http://127.0.0.1:$SUBTLS/v1/sse?topic=a"
	[ -z "$output" ]
	# and the gateway still serves
	run curl -s --cacert "$CERTS/ca.pem" --max-time 1 "https://localhost:$SUBTLS/v1/sse?topic=a"
	[ "$status" -eq 28 ] # the stream stays open until the timeout
}

@test "a TLS handshake that fails is told why with an alert, not a bare close (an old version, an expired client certificate)" {
	start_tls
	run openssl s_client -connect "127.0.0.1:$SUBTLS" -tls1_1 </dev/null
	echo "$output"
	[[ "$output" == *"alert protocol version"* ]]
	sl_stop_gateway
	TLSCONF="tls: {cert_file: $CERTS/server.pem, key_file: $CERTS/server.key, client_ca_file: $CERTS/ca.pem}"
	start_tls
	run openssl s_client -connect "127.0.0.1:$SUBTLS" -tls1_2 -CAfile "$CERTS/ca.pem" \
		-cert "$CERTS/client-expired.pem" -key "$CERTS/client-expired.key" </dev/null
	echo "$output"
	[[ "$output" == *"alert certificate expired"* || "$output" == *"alert bad certificate"* ]]
	# and it is a failed authentication, counted and logged by its reason like a bad token
	run openssl s_client -connect "127.0.0.1:$SUBTLS" -tls1_3 -CAfile "$CERTS/ca.pem" \
		-cert "$CERTS/client-unknown.pem" -key "$CERTS/client-unknown.key" </dev/null
	sleep 0.3
	grep '"msg":"auth_failed"' "$LOG"
	grep -q '"msg":"auth_failed","reason":"expired","credential":"certificate"' "$LOG"
	grep -q '"msg":"auth_failed","reason":"unknown_issuer","credential":"certificate"' "$LOG"
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *'sluice_auth_failures_total{reason="expired"} 1'* ]]
	[[ "$output" == *'sluice_auth_failures_total{reason="unknown_issuer"} 1'* ]]
}

@test "SSE over TLS with curl" {
	start_tls
	curl -sN --cacert "$CERTS/ca.pem" --max-time 3 "https://localhost:$SUBTLS/v1/sse?topic=s.t" >"$BATS_TEST_TMPDIR/out" &
	c=$!
	sleep 0.7
	pub s.t --count 3 >/dev/null
	wait $c || true
	grep -q '^id: s.t:3$' "$BATS_TEST_TMPDIR/out"
}

@test "wss:// client that sends ops and reads no answer: evicted (4003) at the queue bound; its encrypted answers, which cannot be dropped, arrive before the close" {
	start_tls "limits: {max_queued_bytes_per_connection: 256KiB, max_frame_bytes: 64KiB}"
	run $PY - "$SUBTLS" "$CERTS/ca.pem" "$BATS_TEST_TMPDIR/control.sock" "$REPO/build/sluicectl" "$REPO/tests/tools" <<'PY'
import base64, json, os, socket, ssl, subprocess, sys, msgpack
sys.path.insert(0, sys.argv[5])
import sl_client
ctl = [sys.argv[4], "--socket", sys.argv[3], "-j"]
bound = 256 << 10
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.connect(("127.0.0.1", int(sys.argv[1])))
s = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(raw, server_hostname="localhost")
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % base64.b64encode(os.urandom(16)).decode()).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
batch = b"".join(sl_client.client_frame(0x9, b"p" * 125) + sl_client.client_frame(0x2, msgpack.packb({"op": "ping", "id": i})) for i in range(1000))
s.settimeout(2)
sent = 0
try:
    while sent < 32 << 20:
        s.sendall(batch)
        sent += len(batch)
except OSError:
    pass
stats = json.loads(subprocess.run(ctl + ["stats"], capture_output=True, check=True).stdout)
print("sent", sent, "bytes of ops; evicted", stats["evicted"], "queued", stats["queued_bytes"])
assert stats["evicted"] == 1, stats
# The records stay queued (TLS): the bound, one answer and the close frame.
assert stats["queued_bytes"] <= bound + 4096, stats["queued_bytes"]
s.settimeout(10)
frames = sl_client.frames_to_eof(s)
print("answers read:", len(frames) - 1)
assert all(op in (2, 0xa) for op, _ in frames[:-1])
assert frames[-1][0] == 8 and sl_client.close_code(frames[-1][1]) == 4003, frames[-1]
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a wss:// resume five times the queue bound is paced like a plain one: every event, in order, nobody evicted" {
	start_tls "limits: {max_queued_bytes_per_connection: 64KiB, max_frame_bytes: 64KiB}
retention: {count: 200}"
	# 160 events of 2 KB: 320 KB, encrypted record by record as the replay goes
	pub tr.t --count 160 --size 2000 >/dev/null
	run $PY "$CLIENT" ws-sub "$WSS" tr.t --ca "$CERTS/ca.pem" --since 0 --count 160 --timeout 20
	[ "$(echo "$output" | json 'len(d["events"]), [e["seq"] for e in d["events"]] == list(range(1, 161)), d.get("close")')" = "160 True None" ]
	[ "$("$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j stats | json 'd["evicted"], d["resumes"]["replayed_events"]')" = "0 160" ]
}

@test "a wss:// resume under a low byte rate is paced by the records the kernel counts: every event, no drop" {
	# 30 KB at 4 KiB/s after an 8 KiB burst: ~5 s paced by the daemon's mirror of the
	# kernel's bucket, which takes each record with its header and tag
	SL_APPS="$(subs_on_plan "    bytes_per_second: 4096
    burst_bytes: 8192")" start_tls "retention: {count: 100}"
	pub trr.t --count 30 --size 1000 >/dev/null
	run $PY "$CLIENT" ws-sub "$WSS" trr.t --ca "$CERTS/ca.pem" --header "X-API-Key: sub-key" --since 0 \
		--count 30 --timeout 20
	echo "$output" | head -c 300
	[ "$(echo "$output" | json 'len(d["events"]), [e["seq"] for e in d["events"]] == list(range(1, 31)), d.get("close")')" = "30 True None" ]
	run "$REPO/build/sluicectl" --socket "$BATS_TEST_TMPDIR/control.sock" -j app usage subs
	echo "$output"
	[ "$(echo "$output" | json 'd["drops"]')" -eq 0 ]
}

@test "publishers over TLS: hello, publish and ack through a verified TLS connection" {
	start_tls
	sed -i 's|publishers: {plain: "127.0.0.1:0"}|publishers: {plain: "127.0.0.1:0", tls: "127.0.0.1:0"}|' "$CONF"
	sl_restart_gateway
	pubtls=$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    if "\"ready\"" in l: print(json.loads(l)["publishers_tls"])' "$LOG")
	bg=$BATS_TEST_TMPDIR/ws.json
	$PY "$CLIENT" ws-sub "ws://127.0.0.1:$SUB/v1/ws" tls.pub --count 4 --timeout 4 >"$bg" &
	w=$!
	sleep 0.5
	run $PY -c '
import socket, ssl, struct, sys, msgpack
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
def send(m):
    b = msgpack.packb(m); s.sendall(struct.pack(">I", len(b)) + b)
def recv():
    n = struct.unpack(">I", s.recv(4))[0]; d = b""
    while len(d) < n: d += s.recv(n - len(d))
    return msgpack.unpackb(d)
send({"op": "hello", "token": "test-key", "name": "tls-backend"}); print(recv()["op"])
s.settimeout(5)
# 12000 and 15000 bytes: one TLS record each, larger than the 8 KiB the first read has room
# for; its rest waited inside wolfSSL until the client sent something else.
for i, size in enumerate((2, 2, 12000, 15000)):
    send({"op": "pub", "topic": "tls.pub", "data": b"x" * size, "id": i}); print(recv()["seq"])
print(s.version())
' "$pubtls" "$CERTS/ca.pem"
	echo "$output"
	[ "${lines[0]}" = ok ]
	[ "${lines[1]}" = 1 ]
	[ "${lines[2]}" = 2 ]
	[ "${lines[3]}" = 3 ]
	[ "${lines[4]}" = 4 ]
	[[ "${lines[5]}" == TLSv1.[23] ]]
	wait $w
	[ "$(json 'len(d["events"])' <"$bg")" -eq 4 ]
}

@test "wss:// messages of one TLS record larger than the first read's room are answered at once" {
	start_tls
	run env PYTHONPATH="$REPO/tests/tools" $PY - "$SUBTLS" "$CERTS/ca.pem" <<'PY'
import base64, os, socket, ssl, sys, msgpack
from sl_client import client_op
s = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(
    socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "X-API-Key: test-key\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % base64.b64encode(os.urandom(16)).decode()).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert b" 101 " in head.split(b"\r\n")[0], head
s.settimeout(5)
def recv_msg():
    h = s.recv(2)
    n = h[1] & 0x7F
    if n == 126:
        n = int.from_bytes(s.recv(2), "big")
    d = b""
    while len(d) < n:
        d += s.recv(n - len(d))
    return msgpack.unpackb(d)
for i, size in enumerate((1000, 12000, 15000, 40000)):
    s.sendall(client_op({"op": "pub", "id": i, "topic": "big.t", "data": b"x" * size}))
    m = recv_msg()
    print(size, m["op"], m.get("seq"))
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1000 ack 1\n12000 ack 2\n15000 ack 3\n40000 ack 4')" ]
}

@test "SIGHUP loads a renewed certificate for new connections; a broken one changes nothing" {
	start_tls
	serial() { openssl s_client -connect "127.0.0.1:$SUBTLS" -CAfile "$CERTS/ca.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
	before=$(serial)
	[ -n "$before" ]
	(cd "$CERTS" && openssl x509 -req -in <(openssl req -new -key server.key -subj /CN=localhost) \
		-CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
		-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') -out server.pem 2>/dev/null)
	kill -HUP "$SLUICED_PID"
	sleep 0.3
	after=$(serial)
	[ -n "$after" ]
	[ "$before" != "$after" ]
	grep -q '"msg":"reload","what":"tls"' "$LOG"
	cp "$CERTS/server.pem" "$CERTS/server.pem.good"
	echo garbage >"$CERTS/server.pem"
	kill -HUP "$SLUICED_PID"
	sleep 0.3
	grep -q '"msg":"reload_failed","what":"tls"' "$LOG"
	# a renewal that copied the new certificate before its key: not a pair, refused too
	cp "$CERTS/client.pem" "$CERTS/server.pem"
	kill -HUP "$SLUICED_PID"
	sleep 0.3
	[ "$(grep -c '"msg":"reload_failed","what":"tls".*does not match' "$LOG")" -eq 1 ]
	[ "$(serial)" = "$after" ]
	cp "$CERTS/server.pem.good" "$CERTS/server.pem"
	[ "$(serial)" = "$after" ]
}

@test "the certificate reloads with the config, whole or not at all; sluicectl policy load renews it too" {
	start_tls "limits: {max_connections: 1000}"
	CTL="$REPO/build/sluicectl --socket $BATS_TEST_TMPDIR/control.sock"
	serial() { openssl s_client -connect "127.0.0.1:$SUBTLS" -CAfile "$CERTS/ca.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
	renew() {
		(cd "$CERTS" && openssl x509 -req -in <(openssl req -new -key server.key -subj /CN=localhost) \
			-CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
			-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') -out server.pem 2>/dev/null)
	}
	first=$(serial)
	# a renewed certificate beside a config error: neither applies
	renew
	sed -i 's/max_connections: 1000/max_connections: -1/' "$CONF"
	kill -HUP "$SLUICED_PID"
	for _ in $(seq 1 50); do grep -q '"msg":"reload_failed"' "$LOG" && break; sleep 0.1; done
	[ "$(serial)" = "$first" ]
	# a good config beside a broken certificate: neither applies, and the log says why
	cp "$CERTS/server.pem" "$CERTS/server.pem.good"
	echo garbage >"$CERTS/server.pem"
	sed -i 's/max_connections: -1/max_connections: 7/' "$CONF"
	run --separate-stderr $CTL policy load "$CONF"
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"tls: "* ]]
	grep -q '"msg":"reload_failed","what":"tls"' "$LOG"
	run grep -c '"msg":"reload","what":"policy"' "$LOG"
	[ "$output" = 0 ]
	# both good: sluicectl policy load applies the config and the renewed certificate together
	cp "$CERTS/server.pem.good" "$CERTS/server.pem"
	[ "$(serial)" = "$first" ]
	run $CTL -j policy load "$CONF"
	[ "$status" -eq 0 ]
	grep -q '"msg":"reload","what":"tls"' "$LOG"
	second=$(serial)
	[ -n "$second" ]
	[ "$second" != "$first" ]
}

@test "sluiced --check loads the certificate, key and client CA as a start would: one that cannot load fails the check, saying which" {
	start_tls
	sl_stop_gateway
	run "$REPO/build/sluiced" --check -c "$CONF"
	[ "$status" -eq 0 ]
	[ "$output" = "$CONF: ok" ]
	echo garbage >"$BATS_TEST_TMPDIR/bad.pem"
	sed -i "s|cert_file: $CERTS/server.pem|cert_file: $BATS_TEST_TMPDIR/bad.pem|" "$CONF"
	run "$REPO/build/sluiced" --check -c "$CONF"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF: tls: cannot load the TLS certificate $BATS_TEST_TMPDIR/bad.pem" ]
	sed -i "s|cert_file: $BATS_TEST_TMPDIR/bad.pem|cert_file: $CERTS/server.pem, client_ca_file: $BATS_TEST_TMPDIR/bad.pem|" "$CONF"
	run "$REPO/build/sluiced" --check -c "$CONF"
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF: tls: cannot load the client CA $BATS_TEST_TMPDIR/bad.pem" ]
	# a certificate and a key that each load but are not a pair (every handshake would fail)
	sed -i "s|cert_file: $CERTS/server.pem, client_ca_file: $BATS_TEST_TMPDIR/bad.pem|cert_file: $CERTS/server.pem|; s|key_file: $CERTS/server.key|key_file: $CERTS/client.key|" "$CONF"
	run "$REPO/build/sluiced" --check -c "$CONF"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF: tls: the TLS private key $CERTS/client.key does not match the certificate $CERTS/server.pem" ]
}
