// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "net/outq.h"

#define OUTQ_IOV 256
#define OUTQ_ITEMS_PER_WRITE 1024

void sl_outq_init(struct sl_outq *q)
{
	memset(q, 0, sizeof(*q));
}

static void bytes_add(struct sl_outq *q, ssize_t n)
{
	q->bytes += (size_t)n;
	if (q->total)
		*q->total += (uint64_t)n;
}

static void item_release(struct sl_outq_item *it)
{
	if (it->ev)
		sl_event_unref(it->ev);
	if (it->owned)
		free((void *)it->data);
	memset(it, 0, sizeof(*it));
}

/* Releases the head item and moves on (the capacity is a power of two, see grow). */
static void pop_head(struct sl_outq *q)
{
	item_release(&q->items[q->head]);
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	q->head_off = 0;
}

void sl_outq_fini(struct sl_outq *q)
{
	if (q->total)
		*q->total -= q->bytes;
	while (q->count)
		pop_head(q);
	free(q->items);
	memset(q, 0, sizeof(*q));
}

/* The item i places after the head (the capacity is a power of two, see grow). */
static struct sl_outq_item *slot(const struct sl_outq *q, uint32_t i)
{
	return &q->items[(q->head + i) & (q->cap - 1)];
}

/*
 * Doubles the ring, keeping order; amortised, so pushing stays O(1). The
 * capacity is always a power of two (16, 32, ...), so a slot index is a mask,
 * not a division: three of those per delivery showed in the fan-out profile.
 */
static int grow(struct sl_outq *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 16, i;
	struct sl_outq_item *items = malloc(cap * sizeof(*items));

	if (!items)
		return -ENOMEM;
	for (i = 0; i < q->count; i++)
		items[i] = *slot(q, i);
	free(q->items);
	q->items = items;
	q->cap = cap;
	q->head = 0;
	return 0;
}

static struct sl_outq_item *tail_slot(struct sl_outq *q)
{
	if (q->count == q->cap && grow(q))
		return NULL;
	return slot(q, q->count);
}

int sl_outq_push_event(struct sl_outq *q, struct sl_event *ev, const struct sl_bytes *b)
{
	struct sl_outq_item *it;

	if (!b || !b->data)
		return -ENOMEM;
	if (b->len >= SL_OUTQ_ITEM_MAX)
		return -EMSGSIZE;
	it = tail_slot(q);
	if (!it)
		return -ENOMEM;
	it->data = b->data;
	it->len = (uint32_t)b->len;
	it->ev = sl_event_ref(ev);
	it->owned = 0;
	it->event_len = (uint32_t)b->len;
	q->count++;
	bytes_add(q, (ssize_t)b->len);
	return 0;
}

int sl_outq_push_owned(struct sl_outq *q, uint8_t *data, size_t len)
{
	struct sl_outq_item *it = len < SL_OUTQ_ITEM_MAX ? tail_slot(q) : NULL;

	if (!it) {
		free(data);
		return len < SL_OUTQ_ITEM_MAX ? -ENOMEM : -EMSGSIZE;
	}
	it->data = data;
	it->len = (uint32_t)len;
	it->ev = NULL;
	it->owned = 1;
	it->event_len = 0;
	q->count++;
	bytes_add(q, (ssize_t)len);
	return 0;
}

int sl_outq_push_copy(struct sl_outq *q, const void *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return sl_outq_push_owned(q, copy, len);
}

void sl_outq_drop_unsent(struct sl_outq *q)
{
	uint32_t keep = q->head_off ? 1 : 0;

	while (q->count > keep) {
		struct sl_outq_item *it = slot(q, q->count - 1);

		bytes_add(q, -(ssize_t)it->len);
		item_release(it);
		q->count--;
	}
}

void sl_outq_tail_is_event(struct sl_outq *q, struct sl_event *ev, size_t frame_len)
{
	struct sl_outq_item *it;

	if (!q->count)
		return;
	it = slot(q, q->count - 1);
	/* At least 1: an empty frame still completes its event. */
	it->event_len = frame_len && frame_len < SL_OUTQ_ITEM_MAX ? (uint32_t)frame_len : 1;
	if (!it->ev)
		it->ev = sl_event_ref(ev);
}

void sl_outq_sink_fini(struct sl_outq_sink *s)
{
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* Room for n more; 0, or -ENOMEM with the sink unchanged. */
static int sink_reserve(struct sl_outq_sink *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 1024;
	struct sl_outq_sent *items;

	if (s->count + n <= s->cap)
		return 0;
	while (cap < s->count + n)
		cap *= 2;
	items = realloc(s->items, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	s->items = items;
	s->cap = cap;
	return 0;
}

/* Pops the head item, handing its event reference to the sink (room reserved). */
static void pop_sent(struct sl_outq *q, struct sl_outq_sink *sink)
{
	struct sl_outq_item *it = &q->items[q->head];

	if (it->ev) {
		struct sl_outq_sent *s = &sink->items[sink->count++];

		s->ev = it->ev;
		s->event_len = it->event_len;
		it->ev = NULL;
	}
	pop_head(q);
}

ssize_t sl_outq_flush(struct sl_outq *q, int fd, int *short_write, uint64_t *events_done,
		      struct sl_outq_sink *sink)
{
	struct iovec iov[OUTQ_IOV];
	size_t total = 0, offered, left, len;
	uint32_t n, i, niov;
	const uint8_t *data;
	ssize_t w;

	*short_write = 0;
	while (q->count) {
		offered = 0;
		n = q->count < OUTQ_ITEMS_PER_WRITE ? q->count : OUTQ_ITEMS_PER_WRITE;
		if (sink_reserve(sink, n)) {
			*short_write = 1;
			break;
		}
		for (i = 0, niov = 0; i < n; i++) {
			struct sl_outq_item *it = slot(q, i);
			size_t skip = i == 0 ? q->head_off : 0;

			data = it->data + skip;
			len = it->len - skip;
			if (niov &&
			    (const uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len ==
				data) {
				iov[niov - 1].iov_len += len;
			} else {
				if (niov == OUTQ_IOV)
					break;
				iov[niov].iov_base = (void *)data;
				iov[niov].iov_len = len;
				niov++;
			}
			offered += len;
		}
		w = writev(fd, iov, (int)niov);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*short_write = 1;
				break;
			}
			return -errno;
		}
		total += (size_t)w;
		q->bytes -= (size_t)w;
		left = (size_t)w;
		while (left && q->count) {
			struct sl_outq_item *it = &q->items[q->head];
			size_t rest = it->len - q->head_off;

			if (left < rest) {
				q->head_off += left;
				break;
			}
			left -= rest;
			if (it->event_len && events_done)
				(*events_done)++;
			pop_sent(q, sink);
		}
		if ((size_t)w < offered) {
			*short_write = 1;
			break;
		}
	}
	return (ssize_t)total;
}

void sl_outq_trim(struct sl_outq *q)
{
	if (q->count || !q->items)
		return;
	free(q->items);
	q->items = NULL;
	q->cap = 0;
	q->head = 0;
	q->head_off = 0;
}
