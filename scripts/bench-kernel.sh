#!/usr/bin/env bash
# `make bench-kernel`: what the kernel meter costs on the send path
# (docs/BENCHMARKS.md, "Kernel meter cost"). Runs `sluice-bench kernel` with
# its defaults and prints its table; extra arguments are passed on
# (`scripts/bench-kernel.sh --bpf-stats`, `--json`, `--framing ws`).
# Needs root: the benchmark makes its own cgroup and BPF pin root, named
# sluice-bench-<pid>, and removes both when it exits or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-kernel.sh: needs root (it makes a cgroup and loads BPF programs); run it with sudo" >&2
	exit 1
fi
make -s build/sluice-bench
# exec: Ctrl-C reaches the benchmark itself, which cleans up before exiting.
exec build/sluice-bench kernel "$@"
