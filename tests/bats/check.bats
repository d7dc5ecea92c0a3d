#!/usr/bin/env bats
# Checking a config (SPEC "Policies"): `sluiced --check -c FILE`, `sluicectl
# policy check FILE` and a refused reload report every problem as
# FILE:LINE:COL, the config's own, its issuers' and its plans' together, in
# file order; a file that cannot be read or is not YAML is one problem.

bats_require_minimum_version 1.5.0

load helpers

CTL="$REPO/build/sluicectl"

# One problem of each check in one file: plans (1-4), an issuer (5-7), the
# config's own application and retention checks (8-13).
write_bad() {
	BAD="$BATS_TEST_TMPDIR/bad.yaml"
	cat >"$BAD" <<'YAML'
plans:
  - name: bronze
    events: {limit: 0, per: 2d}
    speed: fast
issuers:
  - name: idp
    alg: none
applications:
  - id: a
    plan: gold
    subscribe: ['x..y']
retention: {count: 0}
YAML
	WANT="$BAD:3:21: plans[0].events.limit: \"0\" is out of range
$BAD:3:29: plans[0].events.per: \"2d\" is not a quota window
$BAD:4:5: plans[0]: unknown key \"speed\"
$BAD:7:10: issuers[0].alg: \"none\" is not accepted
$BAD:10:11: applications[0].plan: undefined plan \"gold\"
$BAD:11:17: applications[0].subscribe[0]: \"x..y\" is not a topic pattern
$BAD:12:20: retention.count: \"0\" is out of range"
}

# Each line of $1 starts with the matching line of $WANT, and there are as many.
same_problems() {
	local got=$1 i
	local -a g w
	mapfile -t g <<<"$got"
	mapfile -t w <<<"$WANT"
	[ "${#g[@]}" -eq "${#w[@]}" ] || { echo "got ${#g[@]} lines, want ${#w[@]}"; return 1; }
	for i in "${!w[@]}"; do
		[[ "${g[$i]}" == "${w[$i]}"* ]] || { echo "line $i: ${g[$i]}"; return 1; }
	done
}

write_good() {
	GOOD="$BATS_TEST_TMPDIR/good.yaml"
	cat >"$GOOD" <<'YAML'
plans:
  - {name: bronze, events: {limit: 10, per: 1d}}
issuers:
  - {name: idp, alg: HS256, secret: "0123456789abcdef0123456789abcdef"}
applications:
  - {id: a, plan: bronze, subscribe: ['x.>']}
YAML
}

@test "sluiced --check reports config, issuer and plan problems together, in file order" {
	write_bad
	run -1 --separate-stderr "$REPO/build/sluiced" --check -c "$BAD"
	echo "$stderr"
	[ -z "$output" ]
	same_problems "$stderr"
}

@test "sluicectl policy check reports the same problems and exits 1" {
	write_bad
	run -1 --separate-stderr "$CTL" policy check "$BAD"
	echo "$stderr"
	[ -z "$output" ]
	[[ "$stderr" == *"sluicectl: $BAD has problems" ]]
	same_problems "$(echo "$stderr" | head -n -1)"
	# -j: one JSON document on stdout with the same list
	run -1 --separate-stderr "$CTL" -j policy check "$BAD"
	echo "$output"
	[ "$(echo "$output" | json 'd["ok"]')" = False ]
	same_problems "$(echo "$output" | json '"\n".join(d["problems"])')"
}

@test "the config's problems come before its policy file's, each by line" {
	cat >"$BATS_TEST_TMPDIR/pol.yaml" <<'YAML'
plans:
  - name: p
    max_connections: 0
YAML
	cat >"$BATS_TEST_TMPDIR/main.yaml" <<'YAML'
policies: [pol.yaml]
applications:
  - {id: a, plan: nope}
sse: {heartbeat: soon}
YAML
	run -1 --separate-stderr "$REPO/build/sluiced" --check -c "$BATS_TEST_TMPDIR/main.yaml"
	echo "$stderr"
	WANT="$BATS_TEST_TMPDIR/main.yaml:3:19: applications[0].plan: undefined plan \"nope\"
$BATS_TEST_TMPDIR/main.yaml:4:18: sse.heartbeat: \"soon\" is not a duration
$BATS_TEST_TMPDIR/pol.yaml:3:22: plans[0].max_connections: \"0\" is out of range"
	same_problems "$stderr"
	run -1 --separate-stderr "$CTL" policy check "$BATS_TEST_TMPDIR/main.yaml"
	same_problems "$(echo "$stderr" | head -n -1)"
}

@test "a valid file passes both checks" {
	write_good
	run -0 "$REPO/build/sluiced" --check -c "$GOOD"
	[ "$output" = "$GOOD: ok" ]
	run -0 "$CTL" policy check "$GOOD"
	[ "$output" = "$GOOD: ok" ]
	run -0 "$CTL" -j policy check "$GOOD"
	[ "$(echo "$output" | json 'd["ok"], d["problems"]')" = "True []" ]
}

@test "a mistyped key in an application, an API key or a certificate is a problem, not an application without its plan" {
	local f="$BATS_TEST_TMPDIR/typo.yaml"
	cat >"$f" <<'YAML'
plans: [{name: bronze, events: {limit: 10, per: 1d}}]
applications:
  - {id: a, plna: bronze, subscribe: ['x.>']}
  - id: b
    subscrib: ['y']
    api_keys: [{sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef, note: ci}]
    certificates: [{cn: backend, sha: x}]
    owner: ops
YAML
	WANT="$f:3:13: unknown key \"plna\" in applications[0]; did you mean \"plan\"?
$f:5:5: unknown key \"subscrib\" in applications[1]; did you mean \"subscribe\"?
$f:6:91: unknown key \"note\" in applications[1].api_keys[0]; expected one of: sha256
$f:7:34: unknown key \"sha\" in applications[1].certificates[0]; expected one of: sha256, cn
$f:8:5: unknown key \"owner\" in applications[1]; expected one of: id, plan, subscribe, publish, api_keys, certificates"
	run -1 --separate-stderr "$REPO/build/sluiced" --check -c "$f"
	echo "$stderr"
	same_problems "$stderr"
	run -1 --separate-stderr "$CTL" policy check "$f"
	same_problems "$(echo "$stderr" | head -n -1)"
}

@test "a missing file is one problem" {
	local f="$BATS_TEST_TMPDIR/missing.yaml"
	run -1 --separate-stderr "$REPO/build/sluiced" --check -c "$f"
	echo "$stderr"
	[ "$stderr" = "$f: cannot read the file: No such file or directory" ]
	run -1 --separate-stderr "$CTL" policy check "$f"
	echo "$stderr"
	[ "$stderr" = "$f: cannot read the file: No such file or directory
sluicectl: $f has problems" ]
}

@test "a file that is not YAML is one problem; its plans are not read" {
	local f="$BATS_TEST_TMPDIR/broken.yaml"
	printf 'plans: [\n  - name: x\n    max_connections: 0\n' >"$f"
	run -1 --separate-stderr "$REPO/build/sluiced" --check -c "$f"
	echo "$stderr"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "$f:"[0-9]*:[0-9]*": "* ]]
	run -1 --separate-stderr "$CTL" policy check "$f"
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "$f:"[0-9]*:[0-9]*": "* ]]
}

@test "a refused reload lists every problem and changes nothing" {
	sl_setup_instance
	SL_BPF=off sl_start_gateway
	write_bad
	run -1 --separate-stderr "$CTL" --socket "$BATS_TEST_TMPDIR/control.sock" policy load "$BAD"
	echo "$stderr"
	same_problems "$(echo "$stderr" | head -n -1)"
	# with -j the problems are in the error document, and still on stderr (they were in
	# neither: only {"error": "the policy was not loaded; nothing changed"})
	run -1 --separate-stderr "$CTL" --socket "$BATS_TEST_TMPDIR/control.sock" -j policy load "$BAD"
	echo "$output"
	[[ "$(echo "$output" | json 'd["error"]')" == "the policy was not loaded"* ]]
	same_problems "$(echo "$output" | json '"\n".join(d["problems"])')"
	same_problems "$(echo "$stderr" | head -n -1)"
	# SIGHUP on a config that went bad: the log line lists them all, the daemon runs on
	cp "$BAD" "$CONF"
	kill -HUP "$SLUICED_PID"
	for _ in $(seq 1 100); do
		grep -q '"reload_failed"' "$LOG" && break
		sleep 0.05
	done
	got=$(grep '"reload_failed"' "$LOG" | tail -1 | json '"\n".join(d["problems"])')
	echo "$got"
	WANT=${WANT//$BAD/$CONF}
	same_problems "$got"
	kill -0 "$SLUICED_PID"
	run -0 "$CTL" --socket "$BATS_TEST_TMPDIR/control.sock" -j app list
	[ "$(echo "$output" | json 'sorted(a["id"] for a in d)')" = "['tester']" ]
}

teardown() {
	sl_stop_gateway
	if [ -n "${PIN:-}" ]; then
		sl_teardown_instance
	fi
}

@test "a reload that changes what only a restart applies is refused and changes nothing" {
	sl_setup_instance
	SL_BPF=off sl_start_gateway
	SOCK="$BATS_TEST_TMPDIR/control.sock"
	# a file of someone else's where the edited config would put the control socket
	NEW="$BATS_TEST_TMPDIR/other.sock"
	echo keep >"$NEW"
	cp "$CONF" "$BATS_TEST_TMPDIR/orig.yaml"
	for edit in "s|control.sock|other.sock|" "\$a retention: {count: 5}" "s|heartbeat: 1s|heartbeat: 5s|" \
		"s|state_dir: .*|state_dir: $BATS_TEST_TMPDIR/state2|" "\$a limits: {max_topics: 10}"; do
		cp "$BATS_TEST_TMPDIR/orig.yaml" "$CONF"
		sed -i "$edit" "$CONF"
		n=$(grep -c '"reload_failed"' "$LOG" || true)
		kill -HUP "$SLUICED_PID"
		for _ in $(seq 1 100); do
			[ "$(grep -c '"reload_failed"' "$LOG")" -gt "$n" ] && break
			sleep 0.05
		done
		echo "$edit"
		grep '"reload_failed"' "$LOG" | tail -1 | grep -q 'restart'
	done
	! grep -q '"msg":"reload","what":"policy"' "$LOG"
	run -0 "$CTL" --socket "$SOCK" -j app list
	sl_stop_gateway
	[ "$(cat "$NEW")" = keep ]
	[ ! -e "$SOCK" ]
}
