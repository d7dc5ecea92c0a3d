#!/usr/bin/env bats
# The README's run command works and the curl line it prints shows live events.

load helpers

setup() {
	PIN_DEMO=$(awk -F': *' '$1 == "bpf_pin_dir" { print $2 }' "$REPO/policies/demo.yaml")
	PIN_DEMO=${PIN_DEMO:-/sys/fs/bpf/sluice}
}

teardown() {
	[ -n "${RUN_PID:-}" ] && kill -TERM "$RUN_PID" 2>/dev/null
	wait 2>/dev/null || true
	"$REPO/build/sluiced" --cleanup --pin-root "$PIN_DEMO" || true
	cg=$(awk -F': *' '$1 == "cgroup" { print $2 }' "$REPO/policies/demo.yaml")
	cg=${cg:-sluice}
	rmdir "$(sl_cgroup2_root)/${cg#/}" 2>/dev/null || true
}

@test "scripts/run.sh starts the gateway and the demo ticker; its curl line shows events" {
	cd "$REPO"
	scripts/run.sh >"$BATS_TEST_TMPDIR/run.out" 2>"$BATS_TEST_TMPDIR/run.err" &
	RUN_PID=$!
	for _ in $(seq 1 300); do
		grep -q 'curl -N' "$BATS_TEST_TMPDIR/run.out" 2>/dev/null && break
		sleep 0.1
	done
	line=$(grep 'curl -N' "$BATS_TEST_TMPDIR/run.out" | sed 's/^ *//')
	[ -n "$line" ]
	run bash -c "${line/curl -N/curl -N --max-time 3}"
	echo "$output" | head -20
	[[ "$output" == *"event: stocks."* ]]
	[[ "$output" == *'"symbol"'* ]]
}
