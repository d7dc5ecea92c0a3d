#!/usr/bin/env bash
# The README's test command: installs what the build and the tests need,
# builds everything and runs every test. Needs root (BPF, cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" all unit
make check
