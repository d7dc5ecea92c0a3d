#!/usr/bin/env bats
# `sluice-bench kernel` (make bench-kernel) on the real kernel: a short run
# must meter every frame exactly, the --floor run must really put its sockets
# behind a no-op sk_msg program, and neither may leave anything behind. The
# timings it prints are not checked here (docs/BENCHMARKS.md has them).

load helpers

BENCH="$REPO/build/sluice-bench"
SHORT=(--rounds 2 --send-calls 2000 --writev-calls 500 --no-warmup --json --quiet)

# Programs, maps and cgroups named after the benchmark, wherever they are.
leftovers() {
	{
		bpftool prog show 2>/dev/null | grep -E 'sluice_(meter|sockops|conns|floor)' || true
		bpftool map show 2>/dev/null | grep -E 'sluice_floor' || true
		ls -d /sys/fs/bpf/sluice-bench-* "$(sl_cgroup2_root)"/sluice-bench-* 2>/dev/null || true
	} | wc -l
}

setup() {
	BEFORE=$(leftovers)
}

@test "bench kernel: a short run meters every frame, in both shapes, and cleans up" {
	run "$BENCH" kernel "${SHORT[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | json 'd["ok"]')" = True ]
	[ "$(echo "$output" | json 'd["mismatches"]')" = 0 ]
	[ "$(echo "$output" | json 'd["floor"]')" = False ]
	# Four series (send/writev16 x off/on), each with both rounds done and checked.
	[ "$(echo "$output" | json 'len(d["results"])')" = 4 ]
	[ "$(echo "$output" | json 'all(r["rounds_done"] == 2 for r in d["results"])')" = True ]
	[ "$(leftovers)" = "$BEFORE" ]
}

@test "bench kernel --floor: the no-op program carries the sockets, then goes away" {
	# While it runs, the floor program must be loaded: its sockets really
	# take the sk_msg path (otherwise on/off would compare two plain sockets).
	"$BENCH" kernel --floor --rounds 3 --send-calls 20000 --writev-calls 5000 --no-warmup \
		--json --quiet >"$BATS_TEST_TMPDIR/floor.json" &
	pid=$!
	seen=0
	for _ in $(seq 1 100); do
		if bpftool prog show 2>/dev/null | grep -q 'sk_msg.*name sluice_floor'; then
			seen=1
			break
		fi
		sleep 0.05
	done
	wait "$pid"
	status=$?
	cat "$BATS_TEST_TMPDIR/floor.json"
	[ "$status" -eq 0 ]
	[ "$seen" = 1 ]
	[ "$(json 'd["floor"]' <"$BATS_TEST_TMPDIR/floor.json")" = True ]
	[ "$(json 'd["ok"]' <"$BATS_TEST_TMPDIR/floor.json")" = True ]
	[ "$(leftovers)" = "$BEFORE" ]
}

@test "bench kernel --plan: limits set too high to bite let every frame out, counted" {
	run "$BENCH" kernel "${SHORT[@]}" --framing ws --plan time,rate,quota,cap
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | json 'd["plan"]')" = time,rate,quota,cap ]
	[ "$(echo "$output" | json 'd["ok"]')" = True ]
	[ "$(echo "$output" | json 'd["mismatches"]')" = 0 ]
	[ "$(leftovers)" = "$BEFORE" ]
}

@test "bench kernel: bad options are usage errors (status 2), nothing is loaded" {
	run "$BENCH" kernel --rounds 0
	[ "$status" -eq 2 ]
	run "$BENCH" kernel --framing nope
	[ "$status" -eq 2 ]
	[[ "$output" == *"--framing takes"* ]]
	run "$BENCH" kernel --floor --shape sideways
	[ "$status" -eq 2 ]
	for plan in bogus 'rate,,cap' ',rate' ''; do
		run "$BENCH" kernel --plan "$plan"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--plan takes"* ]]
	done
	[ "$(leftovers)" = "$BEFORE" ]
}
