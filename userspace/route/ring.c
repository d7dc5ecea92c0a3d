// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route/ring.h"

int sl_ring_init(struct sl_ring *ring, uint32_t capacity)
{
	memset(ring, 0, sizeof(*ring));
	if (capacity > SL_RING_MAX_CAPACITY)
		return -EINVAL;
	ring->capacity = capacity;
	return 0;
}

static void drop_oldest(struct sl_ring *ring)
{
	struct sl_event *ev = ring->slots[ring->head];

	ring->slots[ring->head] = NULL;
	ring->dropped_seq = ev->seq;
	ring->dropped_gseq = ev->gseq;
	ring->dropped_exact = true;
	sl_event_unref(ev);
	if (++ring->head == ring->size)
		ring->head = 0;
	ring->count--;
}

static void release_slots(struct sl_ring *ring)
{
	free(ring->slots);
	ring->slots = NULL;
	ring->size = 0;
	ring->head = 0;
}

void sl_ring_clear(struct sl_ring *ring)
{
	while (ring->count)
		drop_oldest(ring);
	release_slots(ring);
}

void sl_ring_fini(struct sl_ring *ring)
{
	sl_ring_clear(ring);
}

/* Doubles the slots up to capacity, laying the events out oldest first from 0. */
static int grow(struct sl_ring *ring)
{
	uint32_t size = ring->size ? ring->size * 2 : 8, i;
	struct sl_event **slots;

	if (size > ring->capacity)
		size = ring->capacity;
	slots = malloc(size * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < ring->count; i++)
		slots[i] = sl_ring_at(ring, i);
	free(ring->slots);
	ring->slots = slots;
	ring->size = size;
	ring->head = 0;
	return 0;
}

void sl_ring_push(struct sl_ring *ring, struct sl_event *ev)
{
	uint32_t tail;

	if (ring->count == ring->size && (ring->size == ring->capacity || grow(ring))) {
		if (!ring->count) {
			/* No room at all (capacity 0): the event is dropped as it comes. */
			ring->dropped_seq = ev->seq;
			ring->dropped_gseq = ev->gseq;
			ring->dropped_exact = true;
			return;
		}
		drop_oldest(ring);
	}
	tail = ring->head + ring->count;
	if (tail >= ring->size)
		tail -= ring->size;
	ring->slots[tail] = sl_event_ref(ev);
	ring->count++;
}

void sl_ring_expire(struct sl_ring *ring, uint64_t now_ns, uint64_t max_age_ns)
{
	if (!max_age_ns || !ring->count)
		return;
	/* Oldest first, so the first young-enough event ends the sweep. */
	while (ring->count) {
		uint64_t ts = ring->slots[ring->head]->ts_ns;

		/* A clock stepped back makes events look young, never negative in age. */
		if (now_ns <= ts || now_ns - ts <= max_age_ns)
			break;
		drop_oldest(ring);
	}
	/* An idle topic whose events all aged out keeps no slots. */
	if (!ring->count)
		release_slots(ring);
}

/* Position of the first retained event with seq > seq; count if none. */
static uint32_t seek_seq(const struct sl_ring *ring, uint64_t seq)
{
	uint32_t lo = 0, hi = ring->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sl_ring_at(ring, mid)->seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t sl_ring_seek_gseq(const struct sl_ring *ring, uint64_t gseq)
{
	uint32_t lo = 0, hi = ring->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sl_ring_at(ring, mid)->gseq <= gseq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int sl_ring_since(struct sl_ring *ring, uint64_t since_seq,
		  bool (*cb)(struct sl_event *ev, void *ctx), void *ctx)
{
	uint32_t i;

	if (ring->dropped_seq > since_seq)
		return -ERANGE;
	/* Sequences are contiguous per topic: a later first seq means a hole before it. */
	if (ring->count) {
		uint64_t first = sl_ring_at(ring, 0)->seq;

		if (first > since_seq && first - since_seq > 1)
			return -ERANGE;
	}
	for (i = seek_seq(ring, since_seq); i < ring->count; i++) {
		if (!cb(sl_ring_at(ring, i), ctx))
			return 1;
	}
	return 0;
}

struct sl_event *sl_ring_find(struct sl_ring *ring, uint64_t seq)
{
	struct sl_event *ev;
	uint32_t i;

	if (seq == 0)
		return NULL;
	i = seek_seq(ring, seq - 1);
	if (i == ring->count)
		return NULL;
	ev = sl_ring_at(ring, i);
	return ev->seq == seq ? ev : NULL;
}
