// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench/hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < SL_BENCH_HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v); /* >= 4 */
	return SL_BENCH_HIST_SUB + (e - 4) * SL_BENCH_HIST_SUB +
	       (unsigned)((v >> (e - 4)) & (SL_BENCH_HIST_SUB - 1));
}

/* The lowest value of bucket i and the bucket's width. */
static void bucket_range(unsigned i, uint64_t *low, uint64_t *width)
{
	unsigned e, m;

	if (i < SL_BENCH_HIST_SUB) {
		*low = i;
		*width = 1;
		return;
	}
	e = (i - SL_BENCH_HIST_SUB) / SL_BENCH_HIST_SUB + 4;
	m = (i - SL_BENCH_HIST_SUB) % SL_BENCH_HIST_SUB;
	*low = (uint64_t)(SL_BENCH_HIST_SUB + m) << (e - 4);
	*width = 1ull << (e - 4);
}

void sl_bench_hist_add(struct sl_bench_hist *h, uint64_t v)
{
	h->bucket[bucket_of(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void sl_bench_hist_merge(struct sl_bench_hist *into, const struct sl_bench_hist *from)
{
	unsigned i;

	for (i = 0; i < SL_BENCH_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t sl_bench_hist_quantile(const struct sl_bench_hist *h, double q)
{
	uint64_t rank, seen = 0, low, width, v;
	unsigned i;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (i = 0; i < SL_BENCH_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank) {
			bucket_range(i, &low, &width);
			v = low + width / 2;
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}
