/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Summaries of benchmark rounds: the median with the min..max range, which
 * is what a noisy machine allows one to say honestly (a mean would be pulled
 * around by one round that shared its CPU with something else).
 */
#ifndef SLUICE_BENCH_STATS_H
#define SLUICE_BENCH_STATS_H

#include <stddef.h>

struct sl_bench_summary {
	double median; /* the mean of the two middle samples when n is even */
	double min;
	double max;
	size_t n;
};

/* Summarizes n samples (not reordered); -EINVAL when n is 0, -ENOMEM. */
int sl_bench_summarize(const double *samples, size_t n, struct sl_bench_summary *out);

/* "3514 [2607..6791]": the median and the range, rounded to integers, into buf. */
void sl_bench_summary_format(const struct sl_bench_summary *s, char *buf, size_t len);

#endif
