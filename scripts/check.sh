#!/usr/bin/env bash
# Runs every test of `make check` and ends with one line: "N passed, N failed".
# Stages: formatting, unit tests (plain and under ASan+UBSan), a fuzz smoke
# (every libFuzzer harness over its committed corpus and regression inputs,
# then a few seconds of fuzzing: one line per harness), bats end-to-end
# tests against the real kernel (root needed), and sluicectl's own bats tests
# again with sluicectl built with ASan+UBSan. Each stage's TAP output is
# shown as it runs and counted here.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count_tap() {
	local ok notok
	ok=$(grep -cE '^ok ' "$log" || true)
	notok=$(grep -cE '^not ok ' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + notok))
}

# A stage that is one check: passes when the command exits 0.
stage_cmd() {
	local name=$1
	shift
	if "$@" >"$log" 2>&1; then
		echo "ok - $name"
		passed=$((passed + 1))
	else
		cat "$log"
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
}

# A stage that prints TAP: every ok/not ok line counts; a crash counts as one failure.
stage_tap() {
	local name=$1 rc
	shift
	echo "# $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	count_tap
	if [ "$rc" -ne 0 ] && ! grep -qE '^not ok ' "$log"; then
		echo "not ok - $name exited with status $rc"
		failed=$((failed + 1))
	fi
}

stage_cmd "sources are clang-formatted (make fmt-check)" make -s fmt-check

for t in build/unit/test_*; do
	stage_tap "unit: ${t##*/}" "$t"
done
for t in build/unit-san/test_*; do
	stage_tap "unit under ASan+UBSan: ${t##*/}" env ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 "$t"
done

for t in build/unit-tsan/test_*; do
	stage_tap "unit under ThreadSanitizer: ${t##*/}" env TSAN_OPTIONS=halt_on_error=1:exitcode=66 "$t"
done

stage_tap "fuzz smoke (ASan+UBSan, ${FUZZ_SMOKE_SECONDS:-3} s each)" scripts/fuzz.sh --smoke \
	-t "${FUZZ_SMOKE_SECONDS:-3}"

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - end-to-end tests need root (BPF, cgroups): run make check as root"
	failed=$((failed + 1))
else
	stage_tap "bats end-to-end" bats --tap tests/bats
	# sluicectl's own tests once more with it built with ASan+UBSan. The reports go to
	# files: one on an error path, whose exit status a test expects anyway, still fails.
	san_logs=$(mktemp -d)
	stage_tap "bats sluicectl.bats with build/san/sluicectl" env SLUICECTL="$PWD/build/san/sluicectl" \
		ASAN_OPTIONS="detect_leaks=1:log_path=$san_logs/asan" \
		UBSAN_OPTIONS="print_stacktrace=1:log_path=$san_logs/ubsan" bats --tap tests/bats/sluicectl.bats
	stage_cmd "build/san/sluicectl made no sanitizer report" \
		sh -c 'cat "$1"/* 2>/dev/null; [ -z "$(ls -A "$1")" ]' - "$san_logs"
	rm -rf "$san_logs"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
