/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `sluice-bench kernel`: what the kernel meter costs on the send path. It
 * sends 100-byte frames over loopback TCP from a socket the meter does not
 * see (`off`) and from one it parses frame by frame (`on`), one frame per
 * send() and 16 frames per writev(), and reports the cost per frame with the
 * spread over interleaved rounds (KERNEL-NOTES §5 methodology).
 */
#ifndef SLUICE_BENCH_KERNEL_H
#define SLUICE_BENCH_KERNEL_H

#define SL_BENCH_KERNEL_GRAMMAR                                                                    \
	"kernel [--rounds N] [--send-calls N] [--writev-calls N]\n"                                \
	"                    [--shape { send | writev16 | both }] [--framing { len4 | ws }]\n"     \
	"                    [--sender-cpu N] [--reader-cpu N] [--round-timeout SEC]\n"            \
	"                    [--no-warmup] [--bpf-stats] [--floor] [--json] [--quiet]"

/* Runs the mode with argv[0] == "kernel"; returns the process exit status. */
int sl_bench_kernel_main(int argc, char **argv);

#endif
