/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A fixed-size log-linear latency histogram (HDR-like): 16 sub-buckets per
 * power of two, so any quantile is within 1/16 (6%) of the true value, in
 * 7.6 KiB whatever the number of samples. One per worker thread; merged at
 * the end, so recording takes no lock.
 */
#ifndef SLUICE_BENCH_HIST_H
#define SLUICE_BENCH_HIST_H

#include <stdint.h>

#define SL_BENCH_HIST_SUB 16
/* Values below 16 get one bucket each; then 60 powers of two of 16 buckets. */
#define SL_BENCH_HIST_BUCKETS (SL_BENCH_HIST_SUB + 60 * SL_BENCH_HIST_SUB)

struct sl_bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[SL_BENCH_HIST_BUCKETS];
};

void sl_bench_hist_add(struct sl_bench_hist *h, uint64_t v);

/* Adds every sample of from into into. */
void sl_bench_hist_merge(struct sl_bench_hist *into, const struct sl_bench_hist *from);

/* The value at quantile q (0..1): the middle of its bucket, capped at max; 0 when empty. */
uint64_t sl_bench_hist_quantile(const struct sl_bench_hist *h, double q);

#endif
