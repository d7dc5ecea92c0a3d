/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `sluice-bench fanout | latency | idle`: N subscriber connections (spread
 * over worker threads, each with its own event loop) on T topics of one
 * system (sluice, nchan, nats, mosquitto), one publisher thread sending
 * timestamped, sequenced payloads flat out or at a set rate for a set time,
 * then delivered/s, loss, duplicates, publish -> deliver latency and the
 * server's CPU and RSS (from /proc of --server-pid). The modes differ only
 * in defaults: fanout publishes flat out, latency at 1000 events/s, idle
 * does not publish and reports the server's RSS per connection.
 */
#ifndef SLUICE_BENCH_FANOUT_H
#define SLUICE_BENCH_FANOUT_H

#define SL_BENCH_FANOUT_GRAMMAR                                                                    \
	"{ fanout | latency | idle } --system { sluice | nchan | nats | mosquitto }\n"             \
	"                    --port SUBPORT [--pub-port PUBPORT] [--host ADDR] [--token KEY]\n"    \
	"                    [--subs N] [--sse N] [--slow N] [--topics T] [--rate EV_PER_S]\n"     \
	"                    [--duration SEC] [--payload BYTES] [--threads K] [--publishers P]\n"  \
	"                    [--pipeline N] [--server-pid PID[,PID...]] [--connect-timeout SEC]\n" \
	"                    [--drain SEC] [--json] [--quiet]"

/* Runs the mode named argv[0] (fanout, latency or idle); returns the exit status. */
int sl_bench_fanout_main(int argc, char **argv);

#endif
