#!/usr/bin/env bash
# `make bench`: sluice side by side with nginx+Nchan, nats-server and
# mosquitto (docs/BENCHMARKS.md, "Fan-out, latency and idle connections").
#
# Installs the peers from Debian packages if they are missing (never from
# scripts/deps.sh: `make check` does not need them), starts each system fresh
# on loopback for every run with the configs in scripts/bench/, runs
# build/sluice-bench against it, stops it, and finally writes the table of
# medians [min..max] into docs/BENCHMARKS.md between the bench-results markers.
#
# Overrides: BENCH_SCENARIOS=S1,S4  BENCH_RUNS=1  BENCH_DURATION=3 (seconds of
# publishing)  BENCH_SYSTEMS=sluice,nats  BENCH_THREADS=4 (subscriber threads;
# default twice the online CPUs)
# BENCH_OUT=build/bench (JSON of every run)  BENCH_DOC=docs/BENCHMARKS.md
# (BENCH_DOC= to skip writing it).
#
# System changes, all undone at exit (also on Ctrl-C): the open-file limit of
# this shell (raised to the hard limit, 10,000 connections need it), the
# ephemeral port range (widened to 10000-65000 so 10,000+ loopback
# connections plus TIME_WAIT leftovers fit), a cgroup and a BPF pin root per
# sluiced run, and every server process it starts.
# The whole script is one compound command, so bash reads all of it before
# running any: editing the file during a 40-minute run cannot derail it.
{
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)

SCENARIOS=${BENCH_SCENARIOS:-S1,S2,S3,S4,S5,S6}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
SYSTEMS=${BENCH_SYSTEMS:-sluice,nchan,nats,mosquitto}
# The client shares the CPUs with the server. With as many subscriber threads
# as the server has busy threads, the scheduler gave both sides the same
# share and a flat-out server outran its readers: their receive queues filled
# and they read cold (docs/BENCHMARKS.md, "Four subscriber threads"). Twice the
# CPUs keeps the client ahead, so S1 measures the server (at most 64, the
# most sluice-bench takes).
CPUS=$(nproc)
THREADS=${BENCH_THREADS:-$((2 * CPUS < 64 ? 2 * CPUS : 64))}
OUT=${BENCH_OUT:-build/bench}
DOC=${BENCH_DOC-docs/BENCHMARKS.md}
BENCH="$REPO/build/sluice-bench"
KEY=bench-key
KEY_SHA=b0962662e937d44c699c8305d90cbf190b3150c59b13863d1380b5cc3c711bb7

# Fixed loopback ports, away from the defaults of every system and below the
# widened ephemeral range (10000-65000), so that the benchmark's own client
# ports (and their TIME_WAIT) never take a server's port.
SLUICE_SUB=7180 SLUICE_PUB=7170 SLUICE_ADMIN=7190
NCHAN_PORT=7280
NATS_PORT=7322 NATS_WS=7381
MQTT_PORT=7383 MQTT_WS=7384

log() { echo "bench.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "needs root (sluiced loads BPF programs and makes a cgroup; servers need raised limits); run it with sudo"
	exit 1
fi

RUNDIR=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$RUNDIR" # nats-server runs as nobody and reads its config from here
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
SERVER_PIDS=()
PIN="" CG=""
OLD_PORTS=$(cat /proc/sys/net/ipv4/ip_local_port_range)
MADE_POLICY_RC=0

stop_server() {
	local p
	for p in "${SERVER_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${SERVER_PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SERVER_PIDS=()
	if [ -n "$PIN" ]; then
		"$REPO/build/sluice-meter-test" --pin-root "$PIN" cleanup >/dev/null 2>&1
		rm -rf "$PIN" 2>/dev/null
		PIN=""
	fi
	if [ -n "$CG" ]; then
		for _ in $(seq 1 20); do
			[ -d "$CG" ] || break
			rmdir "$CG" 2>/dev/null && break
			sleep 0.1
		done
		CG=""
	fi
}

cleanup() {
	trap - EXIT INT TERM
	stop_server
	echo "$OLD_PORTS" >/proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "$MADE_POLICY_RC" = 1 ] && rm -f /usr/sbin/policy-rc.d
	rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

install_peers() {
	local need=()
	command -v nats-server >/dev/null || need+=(nats-server)
	command -v mosquitto >/dev/null || need+=(mosquitto)
	command -v nginx >/dev/null || need+=(nginx-light)
	[ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || need+=(libnginx-mod-nchan)
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]} (apt-get)"
	# Debian starts a package's service on install; the benchmark starts its own.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		MADE_POLICY_RC=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 ||
		{ log "apt-get install ${need[*]} failed"; exit 1; }
}

# Fills the @…@ placeholders of a config template.
render() {
	sed -e "s|@RUNDIR@|$RUNDIR|g" -e "s|@PORT@|$2|g" -e "s|@WSPORT@|${3:-}|g" \
		-e "s|@PUBPORT@|${4:-}|g" -e "s|@ADMINPORT@|$SLUICE_ADMIN|g" -e "s|@BPF@|${5:-on}|g" \
		-e "s|@PIN@|$PIN|g" -e "s|@CGROUP@|$CG|g" -e "s|@KEYSHA@|$KEY_SHA|g" "$1"
}

wait_port() {
	local port=$1 pid=$2
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_server SYSTEM [BPF]: sets SUBPORT PUBPORT PIDLIST (for --server-pid).
start_server() {
	local sys=$1 bpf=${2:-on} pid
	case $sys in
	sluice)
		PIN=/sys/fs/bpf/sluice-bench-$$
		CG=$CG_ROOT/sluice-bench-$$
		mkdir -p "$CG"
		rm -rf "$RUNDIR/state"
		# floor: the meter loaded, then its sk_msg program swapped for a no-op one (below).
		render scripts/bench/sluiced.yaml "$SLUICE_SUB" "" "$SLUICE_PUB" "${bpf/floor/on}" \
			>"$RUNDIR/sluiced.yaml"
		"$REPO/build/sluiced" -c "$RUNDIR/sluiced.yaml" 2>"$RUNDIR/sluiced.log" &
		pid=$!
		SUBPORT=$SLUICE_SUB PUBPORT=$SLUICE_PUB LOGNAME=sluiced.log
		;;
	nchan)
		mkdir -p "$RUNDIR/client_body"
		render scripts/bench/nginx.conf "$NCHAN_PORT" >"$RUNDIR/nginx.conf"
		nginx -p "$RUNDIR" -c "$RUNDIR/nginx.conf" 2>"$RUNDIR/nginx.log" &
		pid=$!
		SUBPORT=$NCHAN_PORT PUBPORT=$NCHAN_PORT LOGNAME=nginx.log
		;;
	nats)
		render scripts/bench/nats.conf "$NATS_PORT" "$NATS_WS" >"$RUNDIR/nats.conf"
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			nats-server -c "$RUNDIR/nats.conf" 2>"$RUNDIR/nats.log" &
		pid=$!
		SUBPORT=$NATS_WS PUBPORT=$NATS_PORT LOGNAME=nats.log
		;;
	mosquitto)
		render scripts/bench/mosquitto.conf "$MQTT_PORT" "$MQTT_WS" >"$RUNDIR/mosquitto.conf"
		mosquitto -c "$RUNDIR/mosquitto.conf" 2>"$RUNDIR/mosquitto.log" &
		pid=$!
		SUBPORT=$MQTT_WS PUBPORT=$MQTT_PORT LOGNAME=mosquitto.log
		;;
	*)
		log "unknown system $sys"
		return 1
		;;
	esac
	SERVER_PIDS=("$pid")
	if ! wait_port "$SUBPORT" "$pid" || ! wait_port "$PUBPORT" "$pid"; then
		log "$sys did not start; the end of its log:"
		tail -n 20 "$RUNDIR/$LOGNAME" >&2
		stop_server
		return 1
	fi
	PIDLIST=$pid
	if [ "$sys" = sluice ] && [ "$bpf" = floor ] &&
		! "$BENCH" meter-floor --pin-root "$PIN"; then
		stop_server
		return 1
	fi
	if [ "$sys" = nchan ]; then
		# nginx's workers do the work; the master is counted too.
		PIDLIST="$pid,$(pgrep -P "$pid" | paste -sd, -)"
	fi
}

# The sluice-bench arguments of a scenario (S5 runs S1 and S2; S6 is S1 + 10 slow).
scenario_args() {
	case $1 in
	S1) echo "fanout --subs 1000 --topics 1 --payload 256 --duration $DURATION --drain 20" ;;
	S2) echo "latency --subs 1000 --topics 1 --payload 256 --rate 1000 --duration $DURATION" ;;
	S3) echo "latency --subs 10000 --topics 1000 --payload 256 --rate 1000 --duration $DURATION" ;;
	S4) echo "idle --subs 10000 --duration 3" ;;
	S6) echo "fanout --subs 1000 --slow 10 --topics 1 --payload 256 --duration $DURATION --drain 20" ;;
	esac
}

# run_one SCENARIO SYSTEM RUN [BPF [TAG]]: one fresh server, one sluice-bench, one JSON file.
run_one() {
	local scen=$1 sys=$2 run=$3 bpf=${4:-on} tag=${5:-$1} args file
	args=$(scenario_args "$scen")
	file="$OUT/$tag-$sys-$run.json"
	start_server "$sys" "$bpf" || { echo '{"error": "server did not start"}' >"$file"; return; }
	local cmd="sluice-bench $args --system $sys --port $SUBPORT --pub-port $PUBPORT --threads $THREADS"
	[ "$sys" = sluice ] && cmd="$cmd --token $KEY"
	log "$tag run $run: $sys${4:+ (bpf: $bpf)}: $cmd"
	echo "$cmd" >"$OUT/$tag-$sys-$run.cmd"
	local token=()
	[ "$sys" = sluice ] && token=(--token "$KEY")
	# shellcheck disable=SC2086 # $args is a list of words by design
	"$BENCH" $args --system "$sys" --port "$SUBPORT" --pub-port "$PUBPORT" \
		--threads "$THREADS" --server-pid "$PIDLIST" --json --quiet "${token[@]}" \
		>"$file"
	# Ctrl-C reaches sluice-bench too; it prints its partial result and exits 130.
	# Bash then does not run its own INT trap (the child handled the signal), so stop here.
	if [ $? -eq 130 ]; then
		log interrupted
		exit 130
	fi
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  ", {k: d.get(k) for k in ("delivered_per_s","loss","latency_us","error")})' "$file" >&2 2>/dev/null
	stop_server
	sleep 1 # let TIME_WAIT and the kernel settle between runs
}

# The systems in a rotated order per run, so no system always goes first.
rotated() {
	local run=$1 list arr i n
	IFS=, read -r -a arr <<<"$SYSTEMS"
	n=${#arr[@]}
	list=()
	for ((i = 0; i < n; i++)); do
		list+=("${arr[$(((i + run - 1) % n))]}")
	done
	echo "${list[@]}"
}

install_peers
make -s all || exit 1
# The commit the binaries were built from (plus "-dirty" for local changes), taken now:
# commits made while a long run goes on do not change what it measured.
SLUICE_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.cmd
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 20000 ]; then
	log "open-file limit is $(ulimit -n); S3/S4 need about 10,100 per process: raise the hard limit (ulimit -Hn)"
fi
echo "10000 65000" >/proc/sys/net/ipv4/ip_local_port_range
log "open files $(ulimit -n), ephemeral ports 10000-65000 (restored to '$OLD_PORTS' at exit), runs in $RUNDIR"

IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
for scen in "${SCEN_LIST[@]}"; do
	for ((run = 1; run <= RUNS; run++)); do
		case $scen in
		S5)
			# Meter on, the sk_msg path with a no-op program (floor) and no BPF at
			# all, back to back in the same run, the order rotating.
			case $((run % 3)) in
			1) order="on floor off" ;;
			2) order="floor off on" ;;
			*) order="off on floor" ;;
			esac
			for bpf in $order; do
				run_one S1 sluice "$run" "$bpf" "S5-$bpf-S1"
				run_one S2 sluice "$run" "$bpf" "S5-$bpf-S2"
			done
			;;
		S1 | S2 | S3 | S4)
			for sys in $(rotated "$run"); do
				run_one "$scen" "$sys" "$run"
			done
			;;
		S6)
			# S6's target compares sluice's S6 with its S1. The S1 phase ran many
			# minutes earlier and this VM's speed drifts more than the 10% judged,
			# so each sluice S6 run gets an S1 run right beside it, the order
			# alternating (tag S6-S1).
			for sys in $(rotated "$run"); do
				if [ "$sys" != sluice ]; then
					run_one S6 "$sys" "$run"
				elif ((run % 2)); then
					run_one S1 sluice "$run" on S6-S1
					run_one S6 sluice "$run"
				else
					run_one S6 sluice "$run"
					run_one S1 sluice "$run" on S6-S1
				fi
			done
			;;
		*) log "unknown scenario $scen (S1..S6)" ;;
		esac
	done
done

versions() {
	echo "sluice $SLUICE_REV"
	echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') + $(dpkg-query -W -f '${Package} ${Version}' libnginx-mod-nchan 2>/dev/null)"
	echo "$(nats-server --version 2>&1)"
	echo "mosquitto $(dpkg-query -W -f '${Version}' mosquitto 2>/dev/null)"
	echo "kernel $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}
versions >"$OUT/versions.txt"
python3 scripts/bench/summarize.py "$OUT" "$RUNS" "$DURATION" "$THREADS" ${DOC:+"$DOC"}
exit
}
