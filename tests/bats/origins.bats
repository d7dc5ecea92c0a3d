#!/usr/bin/env bats
# listeners.subscribers.origins (docs/CONFIG.md): the browser origins whose
# pages may open a WebSocket or an EventSource on the subscribers listener,
# against cross-site WebSocket hijacking. Checked with python3-websockets
# (which sends Origin only when told to), raw sockets and curl.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	sl_setup_instance
}

teardown() {
	sl_stop_gateway
	sl_teardown_instance
}

# ask_ws PORT [ORIGIN...]: a WebSocket handshake on /v1/ws with one Origin
# field per ORIGIN; prints the status line, then the body of a refusal.
ask_ws() {
	$PY - "$@" <<'PYEOF'
import socket, sys
fields = "".join("Origin: %s\r\n" % o for o in sys.argv[2:])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           + fields + "\r\n").encode())
r = b""
while b"\r\n\r\n" not in r:
    c = s.recv(4096)
    if not c: break
    r += c
head, _, body = r.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.1 101"):
    while True:
        c = s.recv(4096)
        if not c: break
        body += c
s.close()
print(head.split(b"\r\n")[0].decode())
print(body.decode())
PYEOF
}

# sse_code [curl args...]: the status of GET /v1/sse?topic=a.b (a stream is cut after 1 s).
sse_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "http://127.0.0.1:$SUB/v1/sse?topic=a.b" || true
}

@test "origins: a WebSocket from a listed origin is upgraded, from another one refused with 403 and a JSON body" {
	SL_ORIGINS='["https://app.example.com", "http://localhost:3000"]' sl_start_gateway
	run ask_ws "$SUB" https://app.example.com
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	run ask_ws "$SUB" http://localhost:3000
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	# scheme and host compare case-insensitively; the default port is the same origin
	run ask_ws "$SUB" HTTPS://App.Example.COM
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	run ask_ws "$SUB" https://app.example.com:443
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	run ask_ws "$SUB" https://evil.example.com
	echo "$output"
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	[ "$(echo "${lines[1]}" | json 'd["error"]')" = forbidden_origin ]
	[ "$(echo "${lines[1]}" | json 'd["detail"]')" = "the Origin is not in listeners.subscribers.origins: pages of that site may not open streams here" ]
	# another scheme, another port, a path: other origins
	run ask_ws "$SUB" http://app.example.com
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	run ask_ws "$SUB" http://localhost:3001
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	run ask_ws "$SUB" https://app.example.com/
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	run ask_ws "$SUB" null
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	[ "$(echo "${lines[1]}" | json 'd["error"]')" = forbidden_origin ]
	# no Origin (not a browser page): served
	run ask_ws "$SUB"
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	# two Origin fields, even both listed: malformed
	run ask_ws "$SUB" https://app.example.com https://app.example.com
	echo "$output"
	[ "${lines[0]}" = "HTTP/1.1 400 Bad Request" ]
	[ "$(echo "${lines[1]}" | json 'd["detail"]')" = "Origin must be sent once" ]
	# refusals are counted with the failed authentications
	run curl -s "http://127.0.0.1:$ADMIN/metrics"
	[[ "$output" == *'sluice_auth_failures_total{reason="forbidden_origin"} 5'* ]]
}

@test "origins: python-websockets with and without origin=, and events flow on an allowed one" {
	SL_ORIGINS='["https://app.example.com"]' sl_start_gateway
	run $PY - "$WS" <<'PYEOF'
import asyncio, sys, websockets
async def try_origin(origin):
    try:
        async with websockets.connect(sys.argv[1], origin=origin, subprotocols=["sluice.v1.msgpack"]):
            return "open"
    except websockets.exceptions.InvalidStatusCode as e:
        return str(e.status_code)
async def main():
    for o in ["https://app.example.com", "https://evil.example.com", None]:
        print(await try_origin(o))
asyncio.run(main())
PYEOF
	echo "$output"
	[ "${lines[0]}" = open ]
	[ "${lines[1]}" = 403 ]
	[ "${lines[2]}" = open ]
	# the ordinary client (no Origin) receives events as before
	bg_ws_sub "$BATS_TEST_TMPDIR/ws.json" a.b --count 1
	pub a.b --count 1 >/dev/null
	wait $BG_PID
	[ "$(json 'len(d["events"])' <"$BATS_TEST_TMPDIR/ws.json")" -eq 1 ]
}

@test "origins: SSE answers 200 to a listed origin or none, 403 to another or null, 400 to two" {
	SL_ORIGINS='["https://app.example.com"]' sl_start_gateway
	[ "$(sse_code -H 'Origin: https://app.example.com')" = 200 ]
	[ "$(sse_code -H 'Origin: https://APP.example.com')" = 200 ]
	[ "$(sse_code)" = 200 ]
	[ "$(sse_code -H 'Origin: https://evil.example.com')" = 403 ]
	[ "$(sse_code -H 'Origin: null')" = 403 ]
	[ "$(sse_code -H 'Origin: https://app.example.com' -H 'Origin: https://evil.example.com')" = 400 ]
	run curl -s -i -H 'Origin: https://evil.example.com' "http://127.0.0.1:$SUB/v1/sse?topic=a.b"
	echo "$output"
	[[ "$output" == *"Content-Type: application/json"* ]]
	[[ "$output" == *'{"error":"forbidden_origin","detail":"the Origin is not in listeners.subscribers.origins: pages of that site may not open streams here"}'* ]]
}

# sse_cors [curl args...]: the CORS fields of GET /v1/sse?topic=a.b's answer (its status line first).
sse_cors() {
	curl -s -D - -o /dev/null --max-time 1 "$@" "http://127.0.0.1:$SUB/v1/sse?topic=a.b" |
		tr -d '\r' | grep -E '^(HTTP/|Access-Control-|Vary:)' || true
}

@test "origins: an EventSource of a listed origin gets Access-Control-Allow-Origin (its Origin, with credentials); no list or no Origin gets none" {
	SL_ORIGINS='["https://app.example.com"]' sl_start_gateway
	run sse_cors -H 'Origin: https://app.example.com'
	echo "$output"
	[ "$output" = "HTTP/1.1 200 OK
Access-Control-Allow-Origin: https://app.example.com
Access-Control-Allow-Credentials: true
Vary: Origin" ]
	# as the browser spelled it: that is what it compares
	run sse_cors -H 'Origin: HTTPS://App.Example.COM:443'
	[[ "$output" == *"Access-Control-Allow-Origin: HTTPS://App.Example.COM:443"* ]]
	run sse_cors
	[ "$output" = "HTTP/1.1 200 OK" ]
	run sse_cors -H 'Origin: https://evil.example'
	[ "$output" = "HTTP/1.1 403 Forbidden" ]
	sl_stop_gateway
	# no list: any origin may open a stream, but no site is told it may read it
	sl_start_gateway
	run sse_cors -H 'Origin: https://app.example.com'
	[ "$output" = "HTTP/1.1 200 OK" ]
}

@test "origins: checked before credentials, so a foreign page learns nothing about them" {
	SL_AUTH=required SL_ORIGINS='["https://app.example.com"]' sl_start_gateway
	[ "$(sse_code -H 'Origin: https://evil.example.com')" = 403 ]
	[ "$(sse_code -H 'Origin: https://evil.example.com' -H "X-API-Key: $TEST_KEY")" = 403 ]
	[ "$(sse_code -H 'Origin: https://app.example.com')" = 401 ]
	[ "$(sse_code -H 'Origin: https://app.example.com' -H "X-API-Key: $TEST_KEY")" = 200 ]
	run ask_ws "$SUB" https://evil.example.com
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
}

@test "origins: without the key any origin is allowed, as before; [] allows no browser page" {
	sl_start_gateway
	run ask_ws "$SUB" https://evil.example.com
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	run ask_ws "$SUB" null
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	[ "$(sse_code -H 'Origin: https://evil.example.com')" = 200 ]
	sl_stop_gateway
	SL_ORIGINS='[]' sl_start_gateway
	run ask_ws "$SUB" https://app.example.com
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	run ask_ws "$SUB"
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
}

@test "origins: a reload (SIGHUP) applies a new list to new handshakes" {
	SL_ORIGINS='["https://app.example.com"]' sl_start_gateway
	run ask_ws "$SUB" https://other.example.com
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	sed -i 's|origins: \["https://app.example.com"\]|origins: ["https://other.example.com"]|' "$CONF"
	grep -q 'other.example.com' "$CONF"
	kill -HUP "$SLUICED_PID"
	for _ in $(seq 1 100); do grep -q '"msg":"reload","what":"policy"' "$LOG" && break; sleep 0.05; done
	run ask_ws "$SUB" https://other.example.com
	[ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
	run ask_ws "$SUB" https://app.example.com
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
}

@test "origins: sluiced --check points at a bad entry" {
	cat >"$BATS_TEST_TMPDIR/bad.yaml" <<'YAML'
bpf: off
listeners:
  subscribers:
    origins: ["https://app.example.com/", "*"]
YAML
	run "$REPO/build/sluiced" --check -c "$BATS_TEST_TMPDIR/bad.yaml"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'bad.yaml:4:15: listeners.subscribers.origins[0]: "https://app.example.com/" is not an origin: an origin has no path, not even a trailing "/"'* ]]
	[[ "$output" == *'bad.yaml:4:43: listeners.subscribers.origins[1]: "*" is not an origin: a wildcard is not allowed'* ]]
}
