#!/usr/bin/env bats
# sluicectl end to end (SPEC.md, "sluicectl"). The grammar, the exit statuses
# and the JSON shape need no BPF. `map`, `prog` and `conn` run against real
# pins: maps made with bpftool, a small BTF fixture compiled here (types the
# meter does not use yet: enums, bitfields, signed ints, unions), and the
# real meter loaded by build/sluice-meter-test. Runs as root.

bats_require_minimum_version 1.5.0

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
# SLUICECTL runs the tests against another build (installed, sanitized).
CTL="${SLUICECTL:-$REPO/build/sluicectl}"
METER_TEST="$REPO/build/sluice-meter-test"
# Debian's python3: a pyenv shim earlier in PATH may lack the system's modules.
PY=/usr/bin/python3

setup_file() {
	if [ ! -x "$CTL" ]; then
		echo "# $CTL is missing: run 'make build/sluicectl' first" >&3
		return 1
	fi
	write_fixture "$BATS_FILE_TMPDIR"
	export FIXTURE=""
	if command -v clang >/dev/null && [ -r "$REPO/vmlinux/vmlinux.h" ] &&
		clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I"$REPO/include" \
			-I"$REPO/vmlinux" -c "$BATS_FILE_TMPDIR/fixture.bpf.c" \
			-o "$BATS_FILE_TMPDIR/fixture.bpf.o" 2>"$BATS_FILE_TMPDIR/fixture.log"; then
		FIXTURE="$BATS_FILE_TMPDIR/fixture.bpf.o"
	fi
}

setup() {
	PIN="/sys/fs/bpf/sluice-test-$$-$BATS_TEST_NUMBER"
	CG=""
	HOLDER_PID=""
	METER_LOADED=""
}

teardown() {
	if [ -n "$HOLDER_PID" ]; then
		kill "$HOLDER_PID" 2>/dev/null || true
		wait "$HOLDER_PID" 2>/dev/null || true
	fi
	if [ -n "$METER_LOADED" ]; then
		"$METER_TEST" --pin-root "$PIN" cleanup || true
	fi
	if [ -e "$PIN" ]; then
		rm -rf "$PIN"
	fi
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		# A cgroup whose last process just exited can stay busy for a moment.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$CG" 2>/dev/null && break
			sleep 0.1
		done
	fi
	return 0
}

# --- helpers -----------------------------------------------------------------

write_fixture() {
	cat >"$1/fixture.bpf.c" <<'EOF'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sluice/meter.h"

enum fx_color { FX_RED = 1, FX_GREEN = 2 };

struct fx_value {
	__s32 neg;
	enum fx_color color;
	__u8 lo : 3, hi : 5;
	__u8 tag[4];
	bool on;
	union {
		__u32 as_u32;
		__u8 as_bytes[4];
	};
	struct sl_pending span;
	__u64 big;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct fx_value);
} fx_kinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_DROP__MAX);
	__type(key, __u32);
	__type(value, struct sl_drop_count);
} sluice_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct sl_app_usage);
} sluice_app_usage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sock);
} sluice_socks SEC(".maps");

/* The last run of an iter/tcp program has no socket: print fixed records then. */
SEC("iter/tcp")
int fx_conns(struct bpf_iter__tcp *ctx)
{
	struct seq_file *seq = ctx->meta->seq;

	if (ctx->sk_common)
		return 0;
	BPF_SEQ_PRINTF(seq, "cookie=120 lport=9000 rport=42238 app=3 framing=ws flags=9 events=30 "
			    "replies=2 bytes=2940 drops=1 drop_bytes=98 drops_byte_rate=1 "
			    "drops_no_such_reason=5 cap=100 unacked=0 notsent=0 age_ms=1200\n");
	BPF_SEQ_PRINTF(seq, "cookie=9223372036854775809 lport=8080 rport=5 app=0 framing=sse "
			    "flags=0 events=0 replies=0 bytes=0 drops=0 drop_bytes=0 cap=0 "
			    "unacked=7 notsent=3 age_ms=7300000 newer_key=1\n");
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
EOF
	# Holds one connection open whose server end (in the meter's cgroup) sent "hello".
	cat >"$1/hold.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
cli = socket.create_connection(("127.0.0.1", port))
conn, _ = srv.accept()
conn.sendall(b"hello")
got = b""
while len(got) < 5:
    got += cli.recv(5 - len(got))
print("ready", flush=True)
time.sleep(60)
EOF
}

# The test machines boot without bpffs (DESIGN.md, "Machine facts").
ensure_bpffs() {
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
		mount -t bpf bpf /sys/fs/bpf
	fi
}

# stdout of the last `run --separate-stderr` must be exactly one JSON document.
assert_json() {
	$PY -c 'import json, sys; json.load(sys.stdin)' <<<"$output"
}

# Evaluates a Python expression over the JSON document in $output (bound to d).
json_true() {
	$PY -c '
import json, sys
d = json.load(sys.stdin)
if not eval(sys.argv[1]):
    sys.exit("not true: %s\nfor: %s" % (sys.argv[1], json.dumps(d)[:3000]))
' "$1" <<<"$output"
}

json_get() {
	$PY -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$output"
}

# Every text row has its cells under the header's names: a column is either
# left-aligned (cells start where the name starts) or right-aligned (they end
# where it ends).
assert_aligned() {
	$PY -c '
import re, sys
lines = sys.stdin.read().splitlines()
rows = lines[1:]
at = lambda row, i: row[i] if 0 <= i < len(row) else " "
for m in re.finditer(r"\S+", lines[0]):
    s, e = m.start(), m.end()
    left = all(at(r, s) != " " and at(r, s - 1) == " " for r in rows)
    right = all(at(r, e - 1) != " " and at(r, e) == " " for r in rows)
    if not (left or right):
        sys.exit("column %s is misaligned:\n%s" % (m.group(), "\n".join(lines)))
' <<<"$output"
}

possible_cpus() {
	$PY -c '
import sys
n = 0
for part in sys.stdin.read().strip().split(","):
    a, _, b = part.partition("-")
    n += int(b or a) - int(a) + 1
print(n)
' </sys/devices/system/cpu/possible
}

ctl() {
	"$CTL" --pin-root "$PIN" "$@"
}

load_fixture() {
	[ -n "$FIXTURE" ] || skip "no BTF fixture: needs clang and vmlinux/vmlinux.h"
	ensure_bpffs
	mkdir "$PIN"
	bpftool prog loadall "$FIXTURE" "$PIN/progs" pinmaps "$PIN"
	bpftool iter pin "$FIXTURE" "$PIN/conns"
	# fx_kinds[7]: neg=-2 color=FX_GREEN lo=5 hi=31 tag="ABC" on as_u32=0x12345678
	# span={1,2} big=UINT64_MAX
	bpftool map update pinned "$PIN/fx_kinds" key 7 0 0 0 value \
		0xfe 0xff 0xff 0xff 2 0 0 0 0xfd 0x41 0x42 0x43 0 1 0 0 \
		0x78 0x56 0x34 0x12 1 0 0 0 2 0 0 0 0 0 0 0 \
		0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff
	# sluice_app_usage[2]: events=5 bytes=255
	bpftool map update pinned "$PIN/sluice_app_usage" key 2 0 0 0 value \
		5 0 0 0 0 0 0 0 0xff 0 0 0 0 0 0 0 $(printf '0 %.0s' $(seq 88))
}

load_meter() {
	local root
	[ -x "$METER_TEST" ] || skip "needs build/sluice-meter-test"
	ensure_bpffs
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$root" ] || skip "no cgroup v2 mount"
	CG="$root/sluice-test-$$-$BATS_TEST_NUMBER"
	mkdir "$CG"
	METER_LOADED=1
	"$METER_TEST" --pin-root "$PIN" --cgroup "$CG" load
}

# Meters PORT (raw framing) and holds a connection on it open until teardown.
hold_connection() {
	local port=$1 out="$BATS_TEST_TMPDIR/hold.out"
	bpftool map update pinned "$PIN/sluice_ports" key $((port & 255)) $((port >> 8)) \
		value 0 0 0 0 0 0 0 0
	(echo "$BASHPID" >"$CG/cgroup.procs" && exec $PY "$BATS_FILE_TMPDIR/hold.py" "$port") \
		>"$out" 2>&1 3>&- &
	HOLDER_PID=$!
	for _ in $(seq 50); do
		grep -q ready "$out" && return 0
		sleep 0.1
	done
	cat "$out"
	return 1
}

# --- usage and dispatch (no BPF) ---------------------------------------------

@test "no arguments: usage on stderr, exit 2" {
	run -2 --separate-stderr "$CTL"
	[ -z "$output" ]
	[[ "$stderr" == *"Usage: sluicectl"* ]]
	[[ "$stderr" == *"missing OBJECT"* ]]
}

@test "-j with no arguments: one JSON error document, exit 2" {
	run -2 --separate-stderr "$CTL" -j
	assert_json
	json_true '"missing OBJECT" in d["error"]'
}

@test "sluicectl -V and sluiced --version: the build and the meter ABI whose pins they read, in text and JSON" {
	abi=$(awk '$2 == "SL_ABI_VERSION" { print $3 }' "$REPO/include/sluice/meter.h")
	run "$REPO/build/sluicectl" -V
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^sluicectl\ ([^ ]+),\ meter\ ABI\ ([0-9]+)$ ]]
	version=${BASH_REMATCH[1]}
	[ "${BASH_REMATCH[2]}" = "$abi" ]
	run "$REPO/build/sluicectl" -j --version
	[ "$(echo "$output" | python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["version"], d["meter_abi"])')" = "$version $abi" ]
	run "$REPO/build/sluiced" --version
	[ "$status" -eq 0 ]
	[ "$output" = "sluiced $version, meter ABI $abi" ]
	run "$REPO/build/sluicectl" help
	[[ "$output" == *"-V, --version"* ]]
}

@test "help lists every object of the grammar" {
	run -0 --separate-stderr "$CTL" help
	for grammar in "policy { show | check FILE | load FILE | diff FILE }" \
		"app { list [top N] | show ID | usage ID | series ID [SECS] }" \
		"conn { list [app ID] [topic PATTERN] | show ID | series ID [SECS] | kick ID [REASON] }" \
		"topic { list [top N] | show TOPIC | series TOPIC [SECS] }" "map { list | dump NAME" \
		"prog { show | list }" \
		"stats [--interval SECS]" "sluicectl top"; do
		[[ "$output" == *"$grammar"* ]]
	done
	run -0 --separate-stderr "$CTL" -h
	[[ "$output" == *"OBJECT := "* ]]
}

@test "help in JSON mode is one document" {
	run -0 --separate-stderr "$CTL" -j help
	assert_json
	json_true '"sluicectl map" in d["help"]'
}

@test "each object has help, as a command and as -h" {
	for object in policy app conn topic map prog stats top; do
		run -0 --separate-stderr "$CTL" "$object" help
		[[ "$output" == "Usage: sluicectl $object"* ]]
		run -0 --separate-stderr "$CTL" "$object" -h
		[[ "$output" == "Usage: sluicectl $object"* ]]
	done
	run -0 --separate-stderr "$CTL" map help
	[[ "$output" == *"sluicectl map dump NAME"* ]]
}

@test "unknown object and unknown command: exit 2" {
	run -2 --separate-stderr "$CTL" frobnicate
	[[ "$stderr" == *"'frobnicate' is not an object"* ]]
	run -2 --separate-stderr "$CTL" map frobnicate
	[[ "$stderr" == *"'frobnicate' is not a map command"* ]]
	run -2 --separate-stderr "$CTL" -j map frobnicate
	assert_json
	json_true '"map help" in d["error"]'
	# with -j the message is on stderr too (SPEC), stdout still one document
	[[ "$stderr" == *"'frobnicate' is not a map command"* ]]
	run -1 --separate-stderr "$CTL" -j --pin-root /nonexistent/sluice map list
	assert_json
	[[ "$stderr" == *"/nonexistent/sluice does not exist"* ]]
}

@test "ambiguous prefixes are usage errors" {
	run -2 --separate-stderr "$CTL" p
	[[ "$stderr" == *"ambiguous"*"policy"*"prog"* ]]
	run -2 --separate-stderr "$CTL" -j to
	assert_json
	json_true '"ambiguous" in d["error"] and "topic" in d["error"]'
	run -2 --separate-stderr "$CTL" conn s x
	[[ "$stderr" == *"ambiguous"*"show"*"series"* ]]
	run -2 --separate-stderr "$CTL" conn -j sh x
	[ "$status" -eq 2 ] # `sh` is only `show`: the usage error is about the ID
	[[ "$output" != *ambiguous* ]]
}

@test "unambiguous prefixes and exact names dispatch" {
	# map list on a pin root that does not exist: reaching it is an error (1), not usage (2).
	run -1 --separate-stderr "$CTL" --pin-root /nonexistent/sluice m l
	[[ "$stderr" == *"/nonexistent/sluice does not exist"* ]]
	run -1 --separate-stderr "$CTL" --pin-root /nonexistent/sluice pr sh
	[[ "$stderr" == *"does not exist"* ]]
	run -1 --separate-stderr "$CTL" --pin-root /nonexistent/sluice c l
	[[ "$stderr" == *"does not exist"* ]]
	# `top` is exact although `topic` starts with it.
	run -1 --separate-stderr "$CTL" --socket /nonexistent/control.sock top
	[[ "$stderr" == *"cannot reach sluiced"* ]]
	# An object alone runs its first command (bpftool: `bpftool map` lists).
	run -1 --separate-stderr "$CTL" --pin-root /nonexistent/sluice map
	[[ "$stderr" == *"does not exist"* ]]
}

@test "options: unknown ones are usage errors, known ones go anywhere" {
	run -2 --separate-stderr "$CTL" --bogus map list
	[[ "$stderr" == *"'--bogus' is not an option"* ]]
	# -j after the bad option still makes the error JSON.
	run -2 --separate-stderr "$CTL" --bogus map list -j
	assert_json
	run -2 --separate-stderr "$CTL" map list --pin-root
	[[ "$stderr" == *"'--pin-root' needs a value"* ]]
	run -1 --separate-stderr "$CTL" map list -j --pin-root=/nonexistent/x
	assert_json
	json_true '"/nonexistent/x" in d["error"]'
	# an empty value is no place to look: a usage error, as for --pin-root
	run -2 --separate-stderr "$CTL" --pin-root "" map list
	[[ "$stderr" == *"--pin-root needs a directory"* ]]
	run -2 --separate-stderr "$CTL" --socket "" stats
	[[ "$stderr" == *"--socket needs a path"* ]]
}

@test "SLUICE_PIN_ROOT is used and --pin-root wins over it" {
	SLUICE_PIN_ROOT=/nonexistent/env run -1 --separate-stderr "$CTL" map list
	[[ "$stderr" == *"/nonexistent/env does not exist"* ]]
	SLUICE_PIN_ROOT=/nonexistent/env run -1 --separate-stderr "$CTL" --pin-root /nonexistent/opt map list
	[[ "$stderr" == *"/nonexistent/opt does not exist"* ]]
}

@test "-p pretty-prints and implies -j" {
	run -2 --separate-stderr "$CTL" -p map frobnicate
	assert_json
	[ "${#lines[@]}" -gt 1 ]
	run -2 --separate-stderr "$CTL" -j map frobnicate
	[ "${#lines[@]}" -eq 1 ]
}

@test "daemon objects without a daemon: one clear error, exit 1" {
	# Without a daemon the ones that need it say so, as one JSON error with -j.
	for args in "policy show" "app list" "app usage acme" "topic list" "stats" "conn kick 12" \
		"conn list app acme"; do
		run -1 --separate-stderr "$CTL" --socket /nonexistent/control.sock $args
		[[ "$stderr" == *"cannot reach sluiced on /nonexistent/control.sock"* ]]
		run -1 --separate-stderr "$CTL" --socket /nonexistent/control.sock -j $args
		assert_json
	done
	run -1 --separate-stderr "$CTL" policy check /nonexistent/x.yaml
	# top is a live view: -j is a usage error that points at `stats`
	run -2 --separate-stderr "$CTL" -j top
	assert_json
	# Their grammar is already checked.
	run -2 --separate-stderr "$CTL" policy frobnicate
	run -2 --separate-stderr "$CTL" conn kick
	run -2 --separate-stderr "$CTL" conn kick notanid
}

@test "a daemon that accepts and never answers (stopped, wedged): a clear error after 10 s, exit 1" {
	sock="$BATS_TEST_TMPDIR/mute.sock"
	$PY -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    held.append(s.accept()[0])' "$sock" &
	HOLDER_PID=$!
	for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	start=$(date +%s)
	run -1 --separate-stderr timeout 30 "$CTL" --socket "$sock" stats
	echo "$stderr"
	[ "$stderr" = "sluicectl: sluiced on $sock did not answer within 10 s (is it stopped or hung?)" ]
	[ $(($(date +%s) - start)) -lt 20 ]
	run -1 --separate-stderr timeout 30 "$CTL" --socket "$sock" -j policy show
	assert_json
}

@test "missing and bad arguments are usage errors" {
	run -2 --separate-stderr "$CTL" map dump
	[[ "$stderr" == *"needs a map NAME"* ]]
	run -2 --separate-stderr "$CTL" map dump a b
	run -2 --separate-stderr "$CTL" map list extra
	run -2 --separate-stderr "$CTL" prog show extra
	run -2 --separate-stderr "$CTL" conn show
	run -2 --separate-stderr "$CTL" -j conn show abc
	assert_json
	run -2 --separate-stderr "$CTL" map watch x interval 0
	run -2 --separate-stderr "$CTL" map watch x count 0
	run -2 --separate-stderr "$CTL" -j map watch x
	json_true '"count N" in d["error"]'
}

@test "a pin root off bpffs is refused" {
	run -1 --separate-stderr "$CTL" --pin-root "$BATS_TEST_TMPDIR" map list
	[[ "$stderr" == *"is not on a bpf filesystem"* ]]
	run -1 --separate-stderr "$CTL" -j --pin-root "$BATS_TEST_TMPDIR" prog show
	assert_json
	json_true '"bpf filesystem" in d["error"]'
}

# --- maps made with bpftool (no BTF) ----------------------------------------

@test "map list: an empty pin root is an empty list" {
	ensure_bpffs
	mkdir "$PIN"
	run -0 --separate-stderr ctl -j map list
	json_true 'd == []'
	run -0 --separate-stderr ctl map list
	[[ "${lines[0]}" == NAME*TYPE*ID*KEY*VALUE*ENTRIES*FLAGS*BTF ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "map list and dump of maps without BTF" {
	ensure_bpffs
	mkdir "$PIN"
	bpftool map create "$PIN/raw_array" type array key 4 value 8 entries 2 name raw_array
	bpftool map create "$PIN/raw_percpu" type percpu_hash key 2 value 3 entries 4 name raw_percpu
	bpftool map create "$PIN/a_ring" type ringbuf key 0 value 0 entries 4096 name a_ring
	bpftool map create "$PIN/a_sockhash" type sockhash key 8 value 8 entries 4 name a_sockhash
	bpftool map update pinned "$PIN/raw_array" key 1 0 0 0 value 1 2 3 4 5 6 7 8
	bpftool map update pinned "$PIN/raw_percpu" key 0x50 0 value 1 2 3

	run -0 --separate-stderr ctl -j map list
	json_true '[m["name"] for m in d] == ["a_ring", "a_sockhash", "raw_array", "raw_percpu"]'
	json_true 'd[2] == dict(d[2], type="array", key_size=4, value_size=8, max_entries=2, btf=False)'
	json_true 'd[3]["type"] == "percpu_hash" and d[0]["type"] == "ringbuf" and d[2]["id"] > 0'
	run -0 --separate-stderr ctl map list
	assert_aligned
	[[ "$output" == *"raw_percpu"*"percpu_hash"* ]]
	# bpftool's other name for list
	list=$output
	run -0 --separate-stderr ctl map show
	[ "$output" = "$list" ]

	run -0 --separate-stderr ctl -j map dump raw_array
	json_true 'd[1] == {"key": ["0x01", "0x00", "0x00", "0x00"],
		"value": ["0x01", "0x02", "0x03", "0x04", "0x05", "0x06", "0x07", "0x08"]}'
	run -0 --separate-stderr ctl map dump raw_array
	[[ "$output" == *"key: 01 00 00 00"*"value: 01 02 03 04 05 06 07 08"* ]]
	[[ "$output" == *"Found 2 entries" ]]

	cpus=$(possible_cpus)
	run -0 --separate-stderr ctl -j map dump raw_percpu
	json_true "len(d) == 1 and len(d[0]['values']) == $cpus"
	json_true 'all(v["value"] == ["0x01", "0x02", "0x03"] for v in d[0]["values"])'
	json_true '[v["cpu"] for v in d[0]["values"]] == list(range(len(d[0]["values"])))'

	run -0 --separate-stderr ctl -j map dump a_sockhash
	json_true 'd == []'
}

@test "map dump of a ring buffer says why it cannot" {
	ensure_bpffs
	mkdir "$PIN"
	bpftool map create "$PIN/a_ring" type ringbuf key 0 value 0 entries 4096 name a_ring
	run -1 --separate-stderr ctl map dump a_ring
	[ -z "$output" ]
	[[ "$stderr" == *"a_ring is a ring buffer"* ]]
	run -1 --separate-stderr ctl -j map dump a_ring
	json_true '"ring buffer" in d["error"]'
}

@test "map dump of a name that is not a pinned map" {
	ensure_bpffs
	mkdir "$PIN"
	run -1 --separate-stderr ctl map dump nosuch
	[[ "$stderr" == *"no map 'nosuch' is pinned under $PIN"* ]]
	run -1 --separate-stderr ctl -j map dump ../etc
	json_true '"is not a map name" in d["error"]'
}

# --- the BTF fixture ----------------------------------------------------------

@test "map dump decodes values with BTF" {
	load_fixture
	run -0 --separate-stderr ctl -j map dump fx_kinds
	json_true 'len(d) == 1 and d[0]["key"] == 7'
	json_true 'd[0]["value"] == {"neg": -2, "color": "FX_GREEN", "lo": 5, "hi": 31,
		"tag": [65, 66, 67, 0], "on": True, "as_u32": 0x12345678,
		"as_bytes": [0x78, 0x56, 0x34, 0x12], "span": {"start": 1, "end": 2},
		"big": "18446744073709551615"}'
	run -0 --separate-stderr ctl -j map list
	json_true 'all(m["btf"] for m in d if m["name"] in ("fx_kinds", "sluice_drops"))'
}

@test "map dump as text uses C initializers" {
	load_fixture
	run -0 --separate-stderr ctl map dump sluice_app_usage
	[[ "$output" == *"key: (__u32)2"*"value: (struct sl_app_usage){"*".events = (__u64)5,"*".bytes = (__u64)255,"* ]]
	[[ "$output" == *"Found 4 entries" ]]
}

@test "map dump: the sluice_ prefix may be left out" {
	load_fixture
	run -0 --separate-stderr ctl -j map dump sluice_app_usage
	full=$output
	run -0 --separate-stderr ctl -j map dump app_usage
	[ "$output" = "$full" ]
	json_true 'd[2]["value"]["events"] == 5 and d[2]["value"]["bytes"] == 255'
}

@test "map dump of a per-CPU map gives one value per possible CPU" {
	load_fixture
	cpus=$(possible_cpus)
	run -0 --separate-stderr ctl -j map dump drops
	json_true "len(d) == 5 and all(len(e['values']) == $cpus for e in d)"
	json_true 'd[0]["values"][0] == {"cpu": 0, "value": {"frames": 0, "bytes": 0}}'
	run -0 --separate-stderr ctl map dump drops
	[[ "$output" == *"value (cpu 0): (struct sl_drop_count){"* ]]
}

@test "map dump of sk_storage points to conn list" {
	load_fixture
	run -1 --separate-stderr ctl map dump sluice_socks
	[[ "$stderr" == *"socket-local storage"*"sluicectl conn list"* ]]
	run -1 --separate-stderr ctl -j map dump socks
	json_true '"sluicectl conn list" in d["error"]'
}

@test "map dump refuses a link" {
	load_fixture
	run -1 --separate-stderr ctl map dump conns
	[[ "$stderr" == *"is a link, not a map"* ]]
}

@test "map watch prints what changed" {
	load_fixture
	run -0 --separate-stderr ctl -j map watch fx_kinds interval 0.1 count 2
	json_true 'len(d) == 2 and len(d[0]["changes"]) == 1 and d[1]["changes"] == []'
	json_true 'd[0]["changes"][0]["value"]["neg"] == -2'
	run -0 --separate-stderr ctl map watch fx_kinds interval 0.1 count 1
	[[ "$output" == *"key=7 value={\"neg\":-2,"* ]]
}

@test "conn list reads the pinned iterator" {
	load_fixture
	run -0 --separate-stderr ctl -j conn list
	json_true 'len(d) == 2'
	json_true 'd[0] == {"id": 120, "local_port": 9000, "remote_port": 42238, "app_slot": 3,
		"framing": "ws", "events": 30, "replies": 2, "bytes": 2940, "drops": 1,
		"drop_bytes": 98, "event_cap": 100, "unacked": 0, "notsent": 0, "age_ms": 1200,
		"drops_by_reason": {"conn_event_cap": 0, "app_event_cap": 0, "byte_rate": 1,
		"conn_time": 0}, "flags": ["desync", "drop_msg"]}'
	# Above INT64_MAX ids are strings, not wrapped negative numbers.
	json_true 'd[1]["id"] == "9223372036854775809" and d[1]["flags"] == []'
	run -0 --separate-stderr ctl conn list
	[[ "${lines[0]}" == *ID*LPORT*RPORT*APP*FRAMING*EVENTS*BYTES*FLAGS ]]
	[[ "${lines[1]}" == *120*9000*42238*ws*30*2940*"desync,drop_msg" ]]
	[[ "${lines[2]}" == *"2h01m"* ]]
	assert_aligned
}

@test "conn show finds one connection by id" {
	load_fixture
	run -0 --separate-stderr ctl -j conn show 120
	json_true 'd["id"] == 120 and d["events"] == 30'
	run -0 --separate-stderr ctl conn show 120
	[[ "$output" == *"events:"*"30"* ]]
	[[ "$output" == *"drops:       1 (98 bytes): byte_rate=1"$'\n'* ]]
	run -1 --separate-stderr ctl conn show 999
	[[ "$stderr" == *"no metered connection has ID 999"* ]]
}

@test "prog show lists pinned links with their programs" {
	load_fixture
	run -0 --separate-stderr ctl -j prog show
	json_true 'len(d) == 1 and d[0]["pin"] == "conns"'
	json_true 'd[0]["link"]["type"] == "iter" and d[0]["link"]["target"] == "tcp"'
	json_true 'd[0]["prog"]["type"] == "tracing" and d[0]["prog"]["name"] == "fx_conns"'
	json_true 'd[0]["link"]["prog_id"] == d[0]["prog"]["id"] and len(d[0]["prog"]["tag"]) == 16'
	json_true 'd[0]["prog"]["verified_insns"] > 0 and d[0]["prog"]["jited_len"] > 0'
	run -0 --separate-stderr ctl prog list
	[[ "${lines[1]}" == conns*iter*tcp*tracing*fx_conns* ]]
	assert_aligned
}

@test "prog show reports run counts while bpf_stats_enabled is on" {
	load_fixture
	old=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	cat "$PIN/conns" >/dev/null
	run -0 --separate-stderr ctl -j prog show
	sysctl -qw kernel.bpf_stats_enabled="$old"
	json_true 'd[0]["prog"]["run_cnt"] >= 1 and d[0]["prog"]["run_time_ns"] > 0'
}

# --- the real meter ------------------------------------------------------------

@test "meter: map list shows every pinned map, with BTF" {
	load_meter
	run -0 --separate-stderr ctl -j map list
	for name in sluice_socks sluice_sockhash sluice_ports sluice_app_limits sluice_app_usage \
		sluice_drops sluice_closes sluice_info; do
		json_true "'$name' in [m['name'] for m in d]"
	done
	# sockhash and ring buffer maps cannot carry BTF; every other map must.
	json_true 'all(m["btf"] for m in d if m["type"] not in ("sockhash", "ringbuf"))'
}

@test "meter: sluice_info holds this build's ABI version" {
	load_meter
	abi=$(awk '$2 == "SL_ABI_VERSION" { print $3 }' "$REPO/include/sluice/meter.h")
	run -0 --separate-stderr ctl -j map dump info
	json_true "len(d) == 1 and d[0]['value']['abi_version'] == $abi"
}

@test "meter: prog show names the links, attach points and programs" {
	load_meter
	run -0 --separate-stderr ctl -j map list
	sockhash_id=$(json_get '[m["id"] for m in d if m["name"] == "sluice_sockhash"][0]')
	run -0 --separate-stderr ctl -j prog show
	json_true 'sorted(e["pin"] for e in d) == ["conns", "link_sk_msg", "link_sockops"]'
	json_true '[e for e in d if e["pin"] == "link_sockops"][0]["link"]["type"] == "cgroup"'
	json_true '[e for e in d if e["pin"] == "link_sockops"][0]["link"]["attach_type"] == "cgroup_sock_ops"'
	json_true '[e for e in d if e["pin"] == "link_sockops"][0]["link"]["cgroup_id"] > 0'
	json_true '[e for e in d if e["pin"] == "link_sockops"][0]["prog"]["type"] == "sock_ops"'
	json_true '[e for e in d if e["pin"] == "link_sk_msg"][0]["link"]["type"] == "sockmap"'
	json_true '[e for e in d if e["pin"] == "link_sk_msg"][0]["link"]["attach_type"] == "sk_msg_verdict"'
	json_true "[e for e in d if e['pin'] == 'link_sk_msg'][0]['link']['map_id'] == $sockhash_id"
	json_true '[e for e in d if e["pin"] == "link_sk_msg"][0]["prog"]["type"] == "sk_msg"'
	json_true '[e for e in d if e["pin"] == "conns"][0]["link"]["target"] == "tcp"'
	run -0 --separate-stderr ctl prog show
	assert_aligned
}

@test "meter: sluice_socks cannot be dumped, conn list is the way" {
	load_meter
	run -1 --separate-stderr ctl -j map dump sluice_socks
	json_true '"sluicectl conn list" in d["error"]'
	run -0 --separate-stderr ctl -j conn list
	json_true 'd == []'
}

@test "meter: a live metered connection shows in conn list and the sockhash" {
	load_meter
	port=$((20000 + RANDOM % 20000))
	hold_connection "$port"
	run -0 --separate-stderr ctl -j conn list
	json_true "len(d) == 1 and d[0]['local_port'] == $port and d[0]['bytes'] == 5"
	json_true 'd[0]["framing"] == "raw" and d[0]["events"] == 0 and d[0]["id"] > 0'
	# the meter's own iterator names every drop reason
	json_true 'd[0]["drops_by_reason"] == {"conn_event_cap": 0, "app_event_cap": 0, "byte_rate": 0, "conn_time": 0}'
	id=$(json_get 'd[0]["id"]')
	run -0 --separate-stderr ctl -j conn show "$id"
	json_true "d['local_port'] == $port"
	# The sockhash has no BTF: the key is raw bytes, the value the kernel's cookie.
	run -0 --separate-stderr ctl -j map dump sockhash
	json_true "len(d) == 1 and d[0]['value'] == $id"
	json_true "int.from_bytes(bytes(int(b, 16) for b in d[0]['key']), 'little') == $id"
	run -0 --separate-stderr ctl -j map dump ports
	json_true "d == [{'key': $port, 'value': {'framing': 0, 'pad': [0] * 7}}]"
}
