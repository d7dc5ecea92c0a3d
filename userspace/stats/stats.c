// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

const uint64_t sl_latency_bounds_us[SL_LAT_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 10000000,
};

/* The first nanosecond past bucket i: ns / 1000 > bound, without a division per event. */
static uint64_t bucket_end_ns(unsigned i)
{
	return (sl_latency_bounds_us[i] + 1) * 1000;
}

unsigned sl_latency_add(struct sl_latency *h, uint64_t ns)
{
	unsigned i = h->hint;

	/*
	 * Start at the last sample's bucket unless ns is below it: flat out,
	 * every delivery's latency is seconds, thirteen compares from 0.
	 */
	if (i > SL_LAT_BUCKETS || (i > 0 && ns < bucket_end_ns(i - 1)))
		i = 0;
	while (i < SL_LAT_BUCKETS && ns >= bucket_end_ns(i))
		i++;
	h->hint = i;
	sl_latency_count(h, i, ns);
	return i;
}

uint64_t sl_latency_quantile_us(const struct sl_latency *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (!h->total)
		return 0;
	want = (uint64_t)(q * (double)h->total);
	if (want >= h->total)
		want = h->total - 1;
	/*
	 * A quantile in the +Inf bucket is the last finite bound, as Prometheus's
	 * histogram_quantile gives it: a number JSON readers can compare (it was
	 * UINT64_MAX, printed as -1), and the buckets show how many passed it.
	 */
	for (i = 0; i < SL_LAT_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > want)
			return sl_latency_bounds_us[i];
	}
	return sl_latency_bounds_us[SL_LAT_BUCKETS - 1];
}

/*
 * Moves a ring of one-second slots whose newest is *second on to now_s.
 * Returns how many slots up to now_s must be cleared first: those skipped
 * since *second, all of them when that is more than the ring holds, none
 * for a fresh (calloc'd) ring; -1 when now_s is further back than it holds.
 */
static int ring_advance(uint64_t *second, uint64_t now_s)
{
	uint64_t gap;

	if (now_s <= *second)
		return now_s + SL_SERIES_SECONDS > *second ? 0 : -1;
	gap = *second ? now_s - *second : 0;
	*second = now_s;
	return gap < SL_SERIES_SECONDS ? (int)gap : SL_SERIES_SECONDS;
}

void sl_series_add(struct sl_series *s, uint64_t now_s, uint64_t events, uint64_t bytes)
{
	int clear = ring_advance(&s->second, now_s);

	if (clear < 0)
		return;
	if (clear == SL_SERIES_SECONDS) {
		memset(s->events, 0, sizeof(s->events));
		memset(s->bytes, 0, sizeof(s->bytes));
	}
	for (uint64_t t = now_s + 1 - (uint64_t)clear; clear < SL_SERIES_SECONDS && t <= now_s;
	     t++) {
		s->events[t % SL_SERIES_SECONDS] = 0;
		s->bytes[t % SL_SERIES_SECONDS] = 0;
	}
	s->events[now_s % SL_SERIES_SECONDS] += events;
	s->bytes[now_s % SL_SERIES_SECONDS] += bytes;
}

void sl_series_last(const struct sl_series *s, uint64_t now_s, unsigned n, uint64_t *events,
		    uint64_t *bytes)
{
	uint64_t t;

	*events = 0;
	*bytes = 0;
	if (n > SL_SERIES_SECONDS - 1)
		n = SL_SERIES_SECONDS - 1;
	for (t = now_s - n; t < now_s; t++) {
		if (t > s->second || s->second - t >= SL_SERIES_SECONDS)
			continue;
		*events += s->events[t % SL_SERIES_SECONDS];
		*bytes += s->bytes[t % SL_SERIES_SECONDS];
	}
}

uint64_t sl_series_at(const struct sl_series *s, uint64_t t)
{
	if (t > s->second || s->second - t >= SL_SERIES_SECONDS)
		return 0;
	return s->events[t % SL_SERIES_SECONDS];
}

static uint64_t hour_get(const struct sl_hour *s, size_t slot)
{
	return s->wide ? s->wide[slot] : s->narrow[slot];
}

/* False when the count needs the wide slots and they could not be had (out of memory). */
static bool hour_set(struct sl_hour *s, size_t slot, uint64_t n)
{
	if (!s->wide && n >= UINT16_MAX) {
		s->wide = malloc(sizeof(*s->wide) * SL_SERIES_SECONDS);
		if (!s->wide)
			return false;
		for (size_t i = 0; i < SL_SERIES_SECONDS; i++)
			s->wide[i] = s->narrow[i];
	}
	if (s->wide)
		s->wide[slot] = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	else
		s->narrow[slot] = (uint16_t)n;
	return true;
}

static void hour_add(struct sl_hour *s, uint64_t now_s, uint64_t n)
{
	int clear = ring_advance(&s->second, now_s);
	size_t slot = now_s % SL_SERIES_SECONDS;

	if (clear < 0)
		return;
	if (clear == SL_SERIES_SECONDS) {
		memset(s->narrow, 0, sizeof(s->narrow));
		if (s->wide)
			memset(s->wide, 0, sizeof(*s->wide) * SL_SERIES_SECONDS);
	}
	for (uint64_t t = now_s + 1 - (uint64_t)clear; clear < SL_SERIES_SECONDS && t <= now_s; t++)
		hour_set(s, t % SL_SERIES_SECONDS, 0);
	/* Out of memory for the wide slots, the second keeps the most it can say. */
	if (!hour_set(s, slot, hour_get(s, slot) + n))
		hour_set(s, slot, UINT16_MAX - 1);
	if (n && now_s > s->last_busy)
		s->last_busy = now_s;
}

void sl_history_tick(struct sl_history *h, struct sl_hour_budget *b, uint64_t now_s, uint64_t n)
{
	if (!h->hour && n) {
		if (b->live >= b->max) {
			if (!h->refused)
				b->refused++;
			h->refused = true;
			return;
		}
		h->hour = calloc(1, sizeof(*h->hour));
		if (!h->hour)
			return; /* the next busy second tries again */
		b->live++;
		h->refused = false;
	}
	if (!h->hour)
		return;
	hour_add(h->hour, now_s, n);
	/* A whole hour of zeros says nothing an absent series does not. */
	if (now_s > h->hour->last_busy + SL_SERIES_HOUR)
		sl_history_free(h, b);
}

void sl_history_free(struct sl_history *h, struct sl_hour_budget *b)
{
	if (!h->hour)
		return;
	free(h->hour->wide);
	free(h->hour);
	h->hour = NULL;
	b->live--;
}

uint64_t sl_history_at(const struct sl_history *h, uint64_t t)
{
	const struct sl_hour *s = h->hour;

	if (!s || t > s->second || s->second - t >= SL_SERIES_SECONDS)
		return 0;
	return hour_get(s, t % SL_SERIES_SECONDS);
}
