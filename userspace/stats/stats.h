/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Analytics kept in the daemon: a publish→deliver latency histogram with
 * Prometheus-style cumulative buckets, and per-second series (one hour)
 * of delivered events and bytes. Fixed memory, no allocation when counting.
 */
#ifndef SLUICE_STATS_STATS_H
#define SLUICE_STATS_STATS_H

#include <stdbool.h>
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

/* Returns the sample's bucket, for sl_latency_count into the finer histograms. */
unsigned sl_latency_add(struct sl_latency *h, uint64_t ns);

/* A sample whose bucket sl_latency_add found already: one delivery, several views. */
static inline void sl_latency_count(struct sl_latency *h, unsigned bucket, uint64_t ns)
{
	h->count[bucket]++;
	h->total++;
	h->sum_ns += ns;
}
/*
 * The value at quantile q (0..1), as the upper bound of its bucket, in µs; 0 when
 * empty; the last finite bound (10 s) when it is past that.
 */
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

/*
 * One hour of events per second for the many: connections and topics, up to
 * thousands of them. Allocated at an entity's first busy second and freed
 * after a quiet hour, within a budget (metrics.max_series) that bounds what
 * they can cost together. 16-bit counts, 7 KiB: a subscriber taking 8,000
 * events a second (S1) fits. The first second of 65,535 events or more
 * moves the hour to 32-bit counts (14 KiB more, exact up to 4 G a second,
 * which is shown as 4 G).
 */
struct sl_hour {
	uint16_t narrow[SL_SERIES_SECONDS];
	uint32_t *wide;	    /* NULL: the counts are in narrow */
	uint64_t second;    /* the Unix second of the newest slot */
	uint64_t last_busy; /* the last second with events */
};

struct sl_hour_budget {
	uint32_t live, max;
	uint64_t refused; /* busy entities that got no series, the budget being spent */
};

/* An entity's series: none yet, kept, or refused by the budget. */
struct sl_history {
	struct sl_hour *hour;
	bool refused;
};

/*
 * The rate tick: n events in second now_s. Allocates the series at the
 * first busy second while the budget allows; frees it after an hour quiet.
 */
void sl_history_tick(struct sl_history *h, struct sl_hour_budget *b, uint64_t now_s, uint64_t n);
void sl_history_free(struct sl_history *h, struct sl_hour_budget *b);

/* Events counted in Unix second t; 0 when t is not in the series or there is none. */
uint64_t sl_history_at(const struct sl_history *h, uint64_t t);

#endif
