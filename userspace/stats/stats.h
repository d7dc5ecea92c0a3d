/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Analytics kept in the daemon: a publish→deliver latency histogram with
 * Prometheus-style cumulative buckets, and per-second series (one hour)
 * of delivered events and bytes. Fixed memory, no allocation when counting.
 */
#ifndef SLUICE_STATS_STATS_H
#define SLUICE_STATS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in microseconds: 50 µs to 10 s, roughly ×2.5 apart, then +Inf. */
#define SL_LAT_BUCKETS 14
extern const uint64_t sl_latency_bounds_us[SL_LAT_BUCKETS];

struct sl_latency {
	uint64_t count[SL_LAT_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
	uint64_t total;
	uint64_t sum_ns;
	unsigned hint; /* the last sample's bucket: consecutive deliveries mostly share one */
};

void sl_latency_add(struct sl_latency *h, uint64_t ns);
/* The value at quantile q (0..1), as the upper bound of its bucket, in µs; 0 when empty. */
uint64_t sl_latency_quantile_us(const struct sl_latency *h, double q);

/* SPEC "Analytics": at least the last hour at 1 s, all of it complete seconds. */
#define SL_SERIES_HOUR 3600
/* The hour's slots and the second still filling. */
#define SL_SERIES_SECONDS (SL_SERIES_HOUR + 1)

struct sl_series {
	uint64_t events[SL_SERIES_SECONDS];
	uint64_t bytes[SL_SERIES_SECONDS];
	uint64_t second; /* the Unix second of the newest slot */
};

/* Counts into the slot of now_s, clearing the slots skipped since the last call. */
void sl_series_add(struct sl_series *s, uint64_t now_s, uint64_t events, uint64_t bytes);

/* Sums of the last n complete seconds before now_s (the current one is still filling). */
void sl_series_last(const struct sl_series *s, uint64_t now_s, unsigned n, uint64_t *events,
		    uint64_t *bytes);

/* Events counted in Unix second t; 0 when t is not in the series. */
uint64_t sl_series_at(const struct sl_series *s, uint64_t t);

#endif
