// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdint.h>
#include <stdlib.h>

#include "stats/stats.h"
#include "tap.h"

int main(void)
{
	struct sl_latency h = { 0 };
	struct sl_series *s = calloc(1, sizeof(*s));
	uint64_t ev, by;
	int i;

	for (i = 0; i < 90; i++)
		sl_latency_add(&h, 80000); /* 80 µs */
	for (i = 0; i < 10; i++)
		sl_latency_add(&h, 3000000); /* 3 ms */
	TAP_OK(h.total == 100, "100 samples");
	TAP_OK(sl_latency_quantile_us(&h, 0.5) == 100, "p50 in the 100 µs bucket");
	TAP_OK(sl_latency_quantile_us(&h, 0.99) == 5000, "p99 in the 5 ms bucket");
	sl_latency_add(&h, 60ull * 1000000000ull);
	TAP_OK(h.count[SL_LAT_BUCKETS] == 1, "a minute lands in +Inf");
	{
		struct sl_latency slow = { 0 };

		for (i = 0; i < 10; i++)
			sl_latency_add(&slow, (uint64_t)(i + 11) * 1000000000ull);
		TAP_OK(
		    sl_latency_quantile_us(&slow, 0.99) == 10000000 &&
			sl_latency_quantile_us(&slow, 0.5) == 10000000,
		    "past the last bound, quantiles are the last bound (10 s), as in Prometheus");
	}
	{
		/* Every sample in the bucket a plain scan from 0 gives, whatever came before. */
		struct sl_latency r = { 0 };
		uint64_t x = 88172645463325252ull, ns, want[SL_LAT_BUCKETS + 1] = { 0 };
		unsigned j, b;
		int same = 1;

		for (j = 0; j < 100000; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* runs of similar values, jumps up and down, and the exact edges */
			ns = j % 7 == 0
				 ? (sl_latency_bounds_us[x % SL_LAT_BUCKETS] + x % 2) * 1000 +
				       (x >> 8) % 2 * 999
				 : (x >> 3) % (20ull * 1000000000ull >> (j % 5 * 8));
			for (b = 0; b < SL_LAT_BUCKETS && ns / 1000 > sl_latency_bounds_us[b]; b++)
				;
			want[b]++;
			sl_latency_add(&r, ns);
		}
		for (b = 0; b <= SL_LAT_BUCKETS; b++)
			same &= r.count[b] == want[b];
		TAP_OK(
		    same && r.total == 100000,
		    "100,000 samples up and down and on the edges: every bucket as a scan from 0");
	}

	sl_series_add(s, 1000, 5, 50);
	sl_series_add(s, 1000, 5, 50);
	sl_series_add(s, 1001, 7, 70);
	sl_series_add(s, 1003, 1, 10);
	sl_series_last(s, 1003, 3, &ev, &by);
	TAP_OK(ev == 17 && by == 170, "last 3 s before 1003: 10 + 7 + 0 (got %llu)",
	       (unsigned long long)ev);
	sl_series_last(s, 1004, 1, &ev, &by);
	TAP_OK(ev == 1, "last second");
	sl_series_add(s, 1000 + 3600 + 4, 3, 30);
	sl_series_last(s, 1000 + 3600 + 5, 3600, &ev, &by);
	TAP_OK(ev == 3, "an hour later the old slots are gone (got %llu)", (unsigned long long)ev);
	sl_series_add(s, 10, 1, 1); /* clock far back: ignored */
	sl_series_last(s, 1000 + 3600 + 5, 3600, &ev, &by);
	TAP_OK(ev == 3, "a clock far in the past changes nothing");
	sl_series_add(s, 5000, 2, 20);
	sl_series_add(s, 5000 + SL_SERIES_HOUR - 1, 1, 10);
	sl_series_last(s, 5000 + SL_SERIES_HOUR, SL_SERIES_HOUR, &ev, &by);
	TAP_OK(ev == 3 && by == 30, "the last whole hour: its first second is still there");
	sl_series_last(s, 5000 + SL_SERIES_HOUR + 1, SL_SERIES_HOUR, &ev, &by);
	TAP_OK(ev == 1, "a second later it is not");
	free(s);

	{
		/* Connections' and topics' series: allocated when busy, within a budget. */
		struct sl_hour_budget b = { .max = 2 };
		struct sl_history x = { 0 }, y = { 0 }, z = { 0 };
		uint64_t t;

		sl_history_tick(&x, &b, 100, 0);
		TAP_OK(!x.hour && !x.refused && b.live == 0, "a quiet entity costs nothing");
		sl_history_tick(&x, &b, 101, 5);
		sl_history_tick(&y, &b, 101, 7);
		sl_history_tick(&z, &b, 101, 9);
		sl_history_tick(&z, &b, 102, 9);
		TAP_OK(x.hour && y.hour && !z.hour && z.refused && b.live == 2 && b.refused == 1,
		       "the third busy entity is refused, and counted once");
		TAP_OK(sl_history_at(&x, 101) == 5 && sl_history_at(&y, 101) == 7 &&
			   sl_history_at(&z, 101) == 0 && sl_history_at(&x, 100) == 0,
		       "each counts its own seconds; the refused one reads as none");
		TAP_OK(!x.hour->wide, "counts under 65,535 a second stay 16-bit");
		sl_history_tick(&x, &b, 102, 65534);
		TAP_OK(!x.hour->wide && sl_history_at(&x, 102) == 65534, "65,534 is still 16-bit");
		sl_history_tick(&x, &b, 102, 1);
		TAP_OK(x.hour->wide && sl_history_at(&x, 102) == 65535 &&
			   sl_history_at(&x, 101) == 5,
		       "65,535 moves the hour to 32-bit counts, the earlier seconds with it");
		sl_history_tick(&x, &b, 102, UINT32_MAX);
		sl_history_tick(&x, &b, 102, 10);
		TAP_OK(sl_history_at(&x, 102) == UINT32_MAX, "a second past 32 bits saturates");
		sl_history_tick(&x, &b, 101, 3);
		TAP_OK(sl_history_at(&x, 101) == 8 && sl_history_at(&x, 102) == UINT32_MAX,
		       "a late count for an earlier second still in the hour adds to it");
		for (t = 102; t <= 101 + SL_SERIES_HOUR; t++)
			sl_history_tick(&y, &b, t, 0);
		TAP_OK(y.hour && sl_history_at(&y, 101) == 7,
		       "an hour quiet after its last busy second: kept");
		sl_history_tick(&y, &b, 102 + SL_SERIES_HOUR, 0);
		TAP_OK(!y.hour && b.live == 1,
		       "a whole quiet hour: freed, its place back in the budget");
		sl_history_tick(&z, &b, 104 + SL_SERIES_HOUR, 2);
		TAP_OK(z.hour && !z.refused && b.live == 2 &&
			   sl_history_at(&z, 104 + SL_SERIES_HOUR) == 2,
		       "a refused entity gets a series once one is free");
		sl_history_free(&x, &b);
		sl_history_free(&x, &b);
		sl_history_free(&z, &b);
		TAP_OK(b.live == 0, "freeing twice frees once");
	}
	{
		struct sl_latency all = { 0 }, part = { 0 };
		unsigned bucket = sl_latency_add(&all, 3000000);

		sl_latency_count(&part, bucket, 3000000);
		TAP_OK(part.count[bucket] == 1 && part.total == 1 && part.sum_ns == 3000000 &&
			   sl_latency_quantile_us(&part, 0.5) == 5000,
		       "a finer histogram takes the bucket the first one found");
	}
	return tap_done();
}
