/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A topic's retention ring (SPEC "Retention and resume"): the last events,
 * oldest first, bounded by count and age. Each retained event holds one
 * reference. Slots are allocated as the ring fills, so many quiet topics cost
 * little; an emptied ring gives its slots back.
 */
#ifndef SLUICE_ROUTE_RING_H
#define SLUICE_ROUTE_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "route/event.h"

/* Keeps index arithmetic in 32 bits and a ring's slots under 128 MiB. */
#define SL_RING_MAX_CAPACITY (1u << 24)

struct sl_ring {
	struct sl_event **slots;
	uint32_t capacity; /* the bound: events retained at most (0: none) */
	uint32_t size;	   /* slots allocated, <= capacity */
	uint32_t head;	   /* slot of the oldest event */
	uint32_t count;	   /* events retained */
	/*
	 * The newest event dropped (evicted or expired): resuming from before
	 * it would miss it, so that is a gap even when the ring is empty.
	 */
	uint64_t dropped_seq;
	uint64_t dropped_gseq;
	/*
	 * Those are an event's own numbers, not bounds the router set (a new
	 * topic's start, a journal's hole, a floor): only then does the gseq
	 * place a resume from that seq (sl_router_gseq_of).
	 */
	bool dropped_exact;
};

/* Returns 0 or -EINVAL when capacity exceeds SL_RING_MAX_CAPACITY. */
int sl_ring_init(struct sl_ring *ring, uint32_t capacity);
void sl_ring_fini(struct sl_ring *ring);

/*
 * Drops every retained event; the ring stays usable. For a hole in the
 * numbers: what came before it can no longer be resumed through.
 */
void sl_ring_clear(struct sl_ring *ring);

/*
 * Retains ev (taking a reference of its own), evicting the oldest event when
 * full. Events must come in increasing seq and gseq order. Never fails: when
 * growing the slots fails the ring keeps what it has and evicts sooner.
 */
void sl_ring_push(struct sl_ring *ring, struct sl_event *ev);

/* Drops events accepted more than max_age_ns before now_ns; max_age_ns 0: no age bound. */
void sl_ring_expire(struct sl_ring *ring, uint64_t now_ns, uint64_t max_age_ns);

/*
 * Calls cb, oldest first, for every retained event with seq > since_seq,
 * until cb returns false. Returns -ERANGE, calling nothing, when some event
 * after since_seq is no longer retained (the client must be told of the
 * gap), 1 when cb stopped it, 0 otherwise. cb must not change the ring.
 */
int sl_ring_since(struct sl_ring *ring, uint64_t since_seq,
		  bool (*cb)(struct sl_event *ev, void *ctx), void *ctx);

/* The retained event with this seq, or NULL. No reference is taken. */
struct sl_event *sl_ring_find(struct sl_ring *ring, uint64_t seq);

/* Position (0 = oldest) of the first retained event with gseq > gseq; count if none. */
uint32_t sl_ring_seek_gseq(const struct sl_ring *ring, uint64_t gseq);

/* The retained event at position i (0 = oldest, i < count). */
static inline struct sl_event *sl_ring_at(const struct sl_ring *ring, uint32_t i)
{
	uint32_t slot = ring->head + i;

	if (slot >= ring->size)
		slot -= ring->size;
	return ring->slots[slot];
}

#endif
