#!/usr/bin/env bash
# Installs every Debian package that building, running and testing sluice needs.
# Idempotent: packages already present are skipped, so a second run is quick.
set -euo pipefail

packages=(
	make gcc clang llvm libbpf-dev bpftool linux-libc-dev pkg-config
	libevent-dev libwolfssl-dev libmsgpack-dev libyaml-dev libjansson-dev
	clang-format libclang-rt-14-dev valgrind strace
	bats curl iproute2 procps prometheus openssl man-db util-linux libcap2-bin
	python3 python3-websockets python3-msgpack python3-jwt python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
