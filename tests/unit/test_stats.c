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
	return tap_done();
}
