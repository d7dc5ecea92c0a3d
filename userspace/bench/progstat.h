/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kernel says one BPF program costs: run_time_ns and run_cnt, which
 * count only while kernel.bpf_stats_enabled is 1. They are read from
 * /proc/self/fdinfo of the program fd this process holds (the loaded meter),
 * not through libbpf: only userspace/kern/ links against libbpf's API, and
 * its pin reader (kern/pins.h) would drag jansson into the benchmark.
 */
#ifndef SLUICE_BENCH_PROGSTAT_H
#define SLUICE_BENCH_PROGSTAT_H

#include <linux/types.h>

struct sl_bench_prog_stats {
	__u32 prog_id;
	__u64 run_time_ns;
	__u64 run_cnt;
};

/* Reads kernel.bpf_stats_enabled. */
int sl_bench_bpf_stats_get(int *on);

/* Writes kernel.bpf_stats_enabled (root); a global switch: restore what was there. */
int sl_bench_bpf_stats_set(int on);

/*
 * Counters of the one program of this type (enum bpf_prog_type) among this
 * process's open fds: -ENOENT when there is none, -ENOTUNIQ when several.
 */
int sl_bench_prog_stats_read(__u32 prog_type, struct sl_bench_prog_stats *out);

#endif
