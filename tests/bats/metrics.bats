#!/usr/bin/env bats
# /metrics in the Prometheus text format: checked by promtool, scraped by a
# real Prometheus server on loopback and queried through its HTTP API.

load helpers

setup() {
	sl_setup_instance
}

teardown() {
	[ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
	sl_stop_gateway
	sl_teardown_instance
}

@test "promtool check metrics passes on /metrics" {
	command -v promtool >/dev/null || skip "promtool (Debian's prometheus) is not installed"
	sl_start_gateway
	pub m.t --count 5 >/dev/null
	run bash -c "curl -s http://127.0.0.1:$ADMIN/metrics | promtool check metrics"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a real Prometheus server scrapes sluiced and answers a query for a counter" {
	command -v prometheus >/dev/null || skip "prometheus is not installed"
	sl_start_gateway
	pub m.t --count 7 >/dev/null
	port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$BATS_TEST_TMPDIR/prom.yml" <<YAML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: sluice
    static_configs: [{targets: ["127.0.0.1:$ADMIN"]}]
YAML
	prometheus --config.file="$BATS_TEST_TMPDIR/prom.yml" --storage.tsdb.path="$BATS_TEST_TMPDIR/tsdb" \
		--web.listen-address="127.0.0.1:$port" >"$BATS_TEST_TMPDIR/prom.log" 2>&1 &
	PROM_PID=$!
	value=""
	for _ in $(seq 1 100); do
		value=$(curl -s "http://127.0.0.1:$port/api/v1/query?query=sluice_published_events_total" |
			$PY -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")')
		[ -n "$value" ] && break
		sleep 0.2
	done
	echo "value=$value"
	[ "$value" = 7 ]
}
