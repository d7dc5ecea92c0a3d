#!/usr/bin/env bash
# Runs the libFuzzer harnesses that `make fuzz-build` puts in build/fuzz/ (mk/fuzz.mk,
# docs/FUZZING.md), one after the other, and prints one TAP line per harness and a summary of
# executions and coverage.
#
#   scripts/fuzz.sh [-t SECONDS] [--smoke] [NAME...]     (NAME: http, ws, ...; default all)
#
# Default: each harness fuzzes SECONDS (60) from the committed seeds tests/fuzz/corpus/NAME/,
# the regression inputs tests/fuzz/regress/NAME/ and a scratch corpus build/fuzz/corpus/NAME/
# kept between runs. New inputs go only to the scratch corpus, so committed corpora do not
# grow by themselves (minimise worthwhile ones into tests/fuzz/corpus/ by hand).
# --smoke (make check): the same from a throwaway scratch corpus, so every committed input runs
# once and then a few seconds of fuzzing; what a run finds is not kept.
# A crash, leak, UB report, timeout or invariant failure is a "not ok"; its input is saved in
# build/fuzz/artifacts/NAME/ and belongs in tests/fuzz/regress/NAME/ once fixed.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=60
smoke=0
names=()
while [ $# -gt 0 ]; do
	case $1 in
	-t) seconds=$2; shift 2 ;;
	--smoke) smoke=1; shift ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=${f##*/fuzz_}
		names+=("${n%.c}")
	done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p build/fuzz/logs
summary=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$summary"' EXIT
i=0 failed=0
echo "1..${#names[@]}"
for name in "${names[@]}"; do
	i=$((i + 1))
	bin=build/fuzz/fuzz_$name log=build/fuzz/logs/$name.log
	if [ ! -x "$bin" ]; then
		echo "not ok $i - fuzz $name: $bin missing (make fuzz-build)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$smoke" -eq 1 ]; then
		scratch=$tmp/$name
	else
		scratch=build/fuzz/corpus/$name
	fi
	mkdir -p "$scratch" "build/fuzz/artifacts/$name"
	dirs=("$scratch")
	for d in "tests/fuzz/corpus/$name" "tests/fuzz/regress/$name"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	# Dictionaries: tokens a byte-level mutator would take long to guess.
	case $name in
	config | policy) dict=tests/fuzz/yaml.dict ;;
	*) dict=tests/fuzz/$name.dict ;;
	esac
	opts=()
	[ -f "$dict" ] && opts+=(-dict="$dict")
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/artifacts/$name/" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
	corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$done_line")
	printf '%-10s %12s %9s %7s %7s %12s  %s\n' "$name" "${runs:--}" "${speed:--}" "${cov:--}" \
		"${ft:--}" "${corp:--}" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" >>"$summary"
	if [ "$rc" -eq 0 ]; then
		echo "ok $i - fuzz $name: ${runs:-?} executions, cov ${cov:-?} ft ${ft:-?}"
	else
		grep -E 'ERROR|SUMMARY|invariant failed|runtime error|Test unit written' "$log" |
			head -20 | sed 's/^/# /'
		echo "not ok $i - fuzz $name: exit $rc, see $log"
		failed=$((failed + 1))
	fi
done
echo "# harness    executions    exec/s     cov      ft  corpus(n/size)"
sed 's/^/# /' "$summary"
[ "$failed" -eq 0 ]
