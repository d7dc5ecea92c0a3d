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
