# Shared set-up for the end-to-end tests: every test gets its own pin root
# and its own cgroup, so tests never touch a running agent or each other.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
METER_TEST="$REPO/build/sluice-meter-test"
PY=/usr/bin/python3

sl_cgroup2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

sl_setup_instance() {
	PIN="/sys/fs/bpf/sluice-test-$$-$BATS_TEST_NUMBER"
	CG="$(sl_cgroup2_root)/sluice-test-$$-$BATS_TEST_NUMBER"
	mkdir -p "$CG"
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != "bpf_fs" ]; then
		mount -t bpf bpf /sys/fs/bpf
	fi
}

sl_teardown_instance() {
	"$METER_TEST" --pin-root "$PIN" cleanup >/dev/null 2>&1 || true
	rm -rf "$PIN" 2>/dev/null || true
	# A cgroup whose last process just exited can stay busy for a moment.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -d "$CG" ] || break
		rmdir "$CG" 2>/dev/null && break
		sleep 0.1
	done
}

# Runs the meter's test sender against this test's instance.
meter() {
	"$METER_TEST" --pin-root "$PIN" --cgroup "$CG" "$@"
}

CLIENT="$REPO/tests/tools/sl_client.py"

# sl_sha256 KEY: what a policy stores of an API key (its SHA-256, in hex).
sl_sha256() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# The backend every test publishes as: API key `test-key` (only its SHA-256 is stored).
TEST_KEY=test-key
SL_DEFAULT_APPS="applications:
  - id: tester
    subscribe: ['>']
    publish: ['>']
    api_keys: [{sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef}]"

# Starts sluiced on ephemeral loopback ports with this test's pin root and
# cgroup; extra YAML (top-level keys) comes from $1. Sets SUB, PUB, ADMIN.
# SL_AUTH=required makes subscribers authenticate; SL_SUB_TLS=1 adds the TLS
# subscriber listener (with a tls: section in $1), on an ephemeral port too.
# SL_ORIGINS='["https://app.example.com"]' sets listeners.subscribers.origins.
sl_start_gateway() {
	CONF="$BATS_TEST_TMPDIR/sluiced.yaml"
	LOG="$BATS_TEST_TMPDIR/sluiced.log"
	cat >"$CONF" <<YAML
listeners:
  subscribers: {plain: "127.0.0.1:0",${SL_SUB_TLS:+ tls: "127.0.0.1:0",} auth: ${SL_AUTH:-open}${SL_ORIGINS:+, origins: $SL_ORIGINS}}
  publishers: {plain: "127.0.0.1:0"}
  admin: {plain: "127.0.0.1:0"}
  control: {path: "$BATS_TEST_TMPDIR/control.sock"}
bpf: ${SL_BPF:-on}
bpf_pin_dir: $PIN
cgroup: $CG
sse: {heartbeat: 1s}
state_dir: $BATS_TEST_TMPDIR/state
${SL_APPS-$SL_DEFAULT_APPS}
${1:-}
YAML
	ulimit -n 16384
	# SLUICED_WRAP runs the daemon under a tool (valgrind) without changing the test.
	${SLUICED_WRAP:-} "${SLUICED_BIN:-$REPO/build/sluiced}" -c "$CONF" 2>"$LOG" &
	SLUICED_PID=$!
	sl_wait_ready
}

# Waits for the daemon's "ready" line; sets SUB PUB ADMIN SUBTLS (ports) and WS.
sl_wait_ready() {
	for _ in $(seq 1 400); do
		grep -q '"msg":"ready"' "$LOG" 2>/dev/null && break
		kill -0 "$SLUICED_PID" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -q '"msg":"ready"' "$LOG"; then
		cat "$LOG" >&2
		return 1
	fi
	read -r SUB PUB ADMIN SUBTLS < <($PY -c '
import json, sys
for line in open(sys.argv[1]):
    if "\"ready\"" in line:
        r = json.loads(line)
        print(r["subscribers"], r["publishers"], r["admin"], r["subscribers_tls"])' "$LOG")
	WS="ws://127.0.0.1:$SUB/v1/ws"
}

# Starts sluiced again with $CONF as it is now (edited by the test, or after a crash).
sl_restart_gateway() {
	sl_stop_gateway
	${SLUICED_WRAP:-} "${SLUICED_BIN:-$REPO/build/sluiced}" -c "$CONF" 2>"$LOG" &
	SLUICED_PID=$!
	sl_wait_ready
}

sl_stop_gateway() {
	SLUICED_STATUS=0
	if [ -n "${SLUICED_PID:-}" ]; then
		kill -TERM "$SLUICED_PID" 2>/dev/null || true
		wait "$SLUICED_PID" 2>/dev/null || SLUICED_STATUS=$?
		SLUICED_PID=""
	fi
}

# Starts a WebSocket subscriber (bg_ws_sub OUT ARGS...) in the background, as sl_client.py
# ws-sub ARGS; its JSON lands in OUT, its PID in BG_PID.
bg_ws_sub() {
	local out=$1
	shift
	rm -f "$out.ready"
	$PY "$CLIENT" ws-sub "$WS" "$@" --ready-file "$out.ready" >"$out" &
	BG_PID=$!
	for _ in $(seq 1 100); do [ -e "$out.ready" ] && break; sleep 0.05; done
	sleep 0.2 # the ack of the last sub is on its way; the router has the subscription
}

# raw_http PORT [CHUNK]: sends stdin's bytes to PORT, CHUNK at a time (each on
# its own segment, 2 ms apart; default all at once), and prints the answer:
# its head, and its body when it has a Content-Length (a stream's is not read).
raw_http() {
	$PY -c '
import re, socket, sys, time
data = sys.stdin.buffer.read()
step = int(sys.argv[2]) if len(sys.argv) > 2 else len(data) or 1
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(0, len(data), step):
    s.sendall(data[i:i + step])
    time.sleep(0.002)
s.settimeout(5)
out = b""
try:
    while b"\r\n\r\n" not in out:
        c = s.recv(65536)
        if not c:
            break
        out += c
    m = re.search(rb"\r\ncontent-length: *(\d+)", out.split(b"\r\n\r\n")[0], re.I)
    while m and len(out.split(b"\r\n\r\n", 1)[1]) < int(m.group(1)):
        c = s.recv(65536)
        if not c:
            break
        out += c
except OSError:
    pass
sys.stdout.write(out.decode("latin-1"))
' "$@"
}

# pub TOPIC COUNT [args...]: publishes through the native protocol.
pub() {
	$PY "$CLIENT" pub 127.0.0.1 "$PUB" "$@" --token "${PUB_TOKEN-$TEST_KEY}"
}

# One request on the test daemon's control socket, as sluicectl sends it: sl_control OP [ARG]
# prints the result's JSON, or "error: " and the daemon's message.
sl_control() {
	$PY "$CLIENT" control "$BATS_TEST_TMPDIR/control.sock" "$@"
}

# jq-less JSON access: json EXPR < doc   (EXPR in Python, the document is `d`)
json() {
	$PY -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# bench_exact PER_EVENT ARGS...: a sluice-bench latency run against this gateway
# in which every event reached exactly PER_EVENT subscribers, once each, in
# order. Sets $output (the JSON) and $published.
bench_exact() {
	local per=$1
	shift
	run "$REPO/build/sluice-bench" latency --system sluice --port "$SUB" --pub-port "$PUB" \
		--token "$TEST_KEY" "$@" --json --quiet
	echo "$output"
	[ "$status" -eq 0 ]
	published=$(echo "$output" | json 'd["published"]')
	[ "$published" -gt 0 ]
	[ "$(echo "$output" | json 'd["expected"]')" = $((published * per)) ]
	[ "$(echo "$output" | json 'd["delivered"]')" = $((published * per)) ]
	[ "$(echo "$output" | json 'd["loss"] + d["duplicates"] + d["gaps"] + d["bad"]')" = 0 ]
}
