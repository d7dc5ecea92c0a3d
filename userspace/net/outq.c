// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "net/outq.h"

#define OUTQ_IOV 256

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

/* Releases a run's events first .. first + n - 1 (the block may go with the last). */
static void run_unref(const struct sl_enc_block *b, uint32_t first, uint32_t n)
{
	const struct sl_enc_entry *e = b->entries + first;
	uint32_t k;

	for (k = 0; k < n; k++)
		sl_event_unref(e[k].ev);
}

static void item_release(struct sl_outq_item *it)
{
	if (it->count)
		run_unref(it->block, it->first, it->count);
	else if (it->ev)
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

/* The arena block holding b when b is one of ev's encodings in one, and its entry. */
static struct sl_enc_block *block_of(const struct sl_event *ev, const struct sl_bytes *b,
				     uint32_t *index)
{
	uintptr_t at = (uintptr_t)b, enc0 = (uintptr_t)ev->enc;
	size_t i;

	if (at < enc0 || at >= (uintptr_t)(ev->enc + SL_ENC__MAX))
		return NULL;
	i = (at - enc0) / sizeof(ev->enc[0]);
	*index = ev->block_index[i];
	return ev->block[i];
}

int sl_outq_push_event(struct sl_outq *q, struct sl_event *ev, const struct sl_bytes *b)
{
	struct sl_outq_item *it;
	struct sl_enc_block *block;
	uint32_t index = 0;

	if (!b || !b->data)
		return -ENOMEM;
	if (b->len >= SL_OUTQ_ITEM_MAX)
		return -EMSGSIZE;
	block = block_of(ev, b, &index);
	if (block && q->count) {
		it = slot(q, q->count - 1);
		/* The next encoding of the tail run's block: the bytes follow too. */
		if (it->count && it->block == block && it->first + it->count == index &&
		    it->len + b->len < SL_OUTQ_ITEM_MAX) {
			it->len += (uint32_t)b->len;
			it->count++;
			sl_event_ref(ev);
			bytes_add(q, (ssize_t)b->len);
			return 0;
		}
	}
	it = tail_slot(q);
	if (!it)
		return -ENOMEM;
	it->data = b->data;
	it->len = (uint32_t)b->len;
	it->owned = 0;
	if (block) {
		it->block = block;
		it->event_len = 0; /* a run's events have their lengths in the block */
		it->first = index;
		it->count = 1;
	} else {
		it->ev = ev;
		it->event_len = (uint32_t)b->len;
		it->first = 0;
		it->count = 0;
	}
	sl_event_ref(ev);
	q->count++;
	bytes_add(q, (ssize_t)b->len);
	return 0;
}

/*
 * Private bytes up to this size are packed into shared buffers; a larger
 * copy is an allocation of its own, whose item and allocator overhead is
 * then a few percent of it.
 */
#define OUTQ_SMALL 1024
/* A packed buffer that follows a full one is twice its size, within these. */
#define OUTQ_PACK_MIN 256
#define OUTQ_PACK_MAX (16u * 1024)

static int push_buffer(struct sl_outq *q, uint8_t *data, size_t len, size_t room)
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
	it->room = (uint32_t)room;
	it->count = 0;
	q->count++;
	bytes_add(q, (ssize_t)len);
	return 0;
}

/* The tail item when more private bytes may go into its buffer. */
static struct sl_outq_item *open_tail(struct sl_outq *q)
{
	struct sl_outq_item *it;

	if (!q->count)
		return NULL;
	it = slot(q, q->count - 1);
	/* One that completes an event (its last TLS record) must end where the event does. */
	return it->owned && !it->event_len ? it : NULL;
}

int sl_outq_push_copy(struct sl_outq *q, const void *data, size_t len)
{
	struct sl_outq_item *tail = open_tail(q);
	size_t cap = len, tail_cap;
	uint8_t *copy;

	if (tail && len <= tail->room) {
		memcpy((uint8_t *)tail->data + tail->len, data, len);
		tail->len += (uint32_t)len;
		tail->room -= (uint32_t)len;
		bytes_add(q, (ssize_t)len);
		return 0;
	}
	if (len >= SL_OUTQ_ITEM_MAX)
		return -EMSGSIZE;
	/*
	 * Small private bytes after private bytes: a backlog of replies is
	 * building up (one alone, an idle stream's heartbeat, stays exact).
	 * An event item in between starts over: a subscriber's replies are few.
	 */
	tail_cap = tail ? (size_t)tail->len + tail->room : 0;
	if (tail && len <= OUTQ_SMALL && tail_cap <= OUTQ_PACK_MAX) {
		cap = tail_cap * 2 < OUTQ_PACK_MIN   ? OUTQ_PACK_MIN
		      : tail_cap * 2 > OUTQ_PACK_MAX ? OUTQ_PACK_MAX
						     : tail_cap * 2;
		if (cap < len)
			cap = len;
	}
	copy = malloc(cap ? cap : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return push_buffer(q, copy, len, cap - len);
}

int sl_outq_push_owned(struct sl_outq *q, uint8_t *data, size_t len)
{
	int ret;

	if (len > OUTQ_SMALL)
		return push_buffer(q, data, len, 0);
	/* A copy and a free now, so that a backlog of small replies is packed. */
	ret = sl_outq_push_copy(q, data, len);
	free(data);
	return ret;
}

/* The entries of run it that head_off has passed whole (the partly written one not counted). */
static uint32_t run_entries_done(const struct sl_outq_item *it, size_t head_off, size_t *bytes)
{
	const struct sl_enc_entry *e = it->block->entries + it->first;
	uint32_t k = 0;

	*bytes = 0;
	while (k < it->count && *bytes + e[k].len <= head_off) {
		*bytes += e[k].len;
		k++;
	}
	return k;
}

void sl_outq_drop_unsent(struct sl_outq *q, bool keep_head)
{
	uint32_t keep = q->head_off || keep_head ? 1 : 0, k;
	struct sl_outq_item *it;
	size_t done, rest;

	while (q->count > keep) {
		it = slot(q, q->count - 1);
		bytes_add(q, -(ssize_t)it->len);
		item_release(it);
		q->count--;
	}
	if (!keep)
		return;
	it = slot(q, 0);
	/* Kept whole (keep_head) when nothing of it went out. */
	if (!it->count || !q->head_off)
		return;
	/* A run started: keep up to the end of the event under way, drop the rest. */
	k = run_entries_done(it, q->head_off, &done);
	if (k + 1 >= it->count)
		return;
	rest = done + it->block->entries[it->first + k].len;
	run_unref(it->block, it->first + k + 1, it->count - k - 1);
	bytes_add(q, -(ssize_t)(it->len - rest));
	it->len = (uint32_t)rest;
	it->count = k + 1;
}

void sl_outq_tail_is_event(struct sl_outq *q, struct sl_event *ev, size_t frame_len)
{
	struct sl_outq_item *it;

	if (!q->count)
		return;
	it = slot(q, q->count - 1);
	/* A run (plaintext) counts its events already; TLS records are never runs. */
	if (it->count)
		return;
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

/*
 * Pops the head item, handing its event references to the sink (room
 * reserved); counts the events it completes.
 */
static void pop_sent(struct sl_outq *q, struct sl_outq_sink *sink, uint64_t *events_done)
{
	struct sl_outq_item *it = &q->items[q->head];

	if (it->count || it->ev) {
		struct sl_outq_sent *s = &sink->items[sink->count++];

		s->ev = it->ev; /* or the block: the union's one pointer */
		s->event_len = it->event_len;
		s->first = it->first;
		s->count = it->count;
		if (events_done)
			*events_done += it->count ? it->count : it->event_len ? 1 : 0;
		it->ev = NULL;
		it->count = 0;
	}
	pop_head(q);
}

/*
 * A write ended inside run it (the head): the events it passed whole are
 * handed back now, and the run starts at the one under way.
 */
static void run_split_sent(struct sl_outq *q, struct sl_outq_item *it, struct sl_outq_sink *sink,
			   uint64_t *events_done)
{
	struct sl_outq_sent *s;
	size_t bytes;
	uint32_t k = run_entries_done(it, q->head_off, &bytes);

	if (!k)
		return;
	s = &sink->items[sink->count++];
	s->block = it->block;
	s->event_len = 0;
	s->first = it->first;
	s->count = k;
	if (events_done)
		*events_done += k;
	it->data += bytes;
	it->len -= (uint32_t)bytes;
	it->first += k;
	it->count -= k;
	q->head_off -= bytes;
}

static ssize_t flush_writes(struct sl_outq *q, int fd, size_t budget, int more, int *short_write,
			    uint64_t *events_done, struct sl_outq_sink *sink)
{
	struct iovec iov[OUTQ_IOV];
	struct msghdr mh = { .msg_iov = iov };
	size_t total = 0, offered, left;
	uint32_t n, i;
	ssize_t w;

	*short_write = 0;
	while (q->count && budget) {
		offered = 0;
		n = q->count < OUTQ_IOV ? q->count : OUTQ_IOV;
		/* One entry per item, and one for a run a short write ends in. */
		if (sink_reserve(sink, n + 1)) {
			*short_write = 1;
			break;
		}
		for (i = 0; i < n && offered < budget; i++) {
			struct sl_outq_item *it = slot(q, i);
			size_t skip = i == 0 ? q->head_off : 0;
			size_t len = it->len - skip;

			iov[i].iov_base = (void *)(it->data + skip);
			iov[i].iov_len = len < budget - offered ? len : budget - offered;
			offered += iov[i].iov_len;
		}
		mh.msg_iovlen = i;
		/* sendmsg, not writev: the same socket call without the VFS layer's checks. */
		w = sendmsg(fd, &mh, more ? MSG_MORE : 0);
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
		budget -= (size_t)w;
		q->bytes -= (size_t)w;
		left = (size_t)w;
		while (left && q->count) {
			struct sl_outq_item *it = &q->items[q->head];
			size_t rest = it->len - q->head_off;

			if (left < rest) {
				q->head_off += left;
				if (it->count > 1)
					run_split_sent(q, it, sink, events_done);
				break;
			}
			left -= rest;
			pop_sent(q, sink, events_done);
		}
		if ((size_t)w < offered) {
			*short_write = 1;
			break;
		}
	}
	return (ssize_t)total;
}

ssize_t sl_outq_flush_upto(struct sl_outq *q, int fd, size_t budget, int *short_write,
			   uint64_t *events_done, struct sl_outq_sink *sink)
{
	ssize_t ret;
	int one = 1;

	if (!q->cork_from || (q->bytes < budget ? q->bytes : budget) < q->cork_from)
		return flush_writes(q, fd, budget, 0, short_write, events_done, sink);
	ret = flush_writes(q, fd, budget, 1, short_write, events_done, sink);
	/*
	 * MSG_MORE held back what the writes left below a full segment, on
	 * every way out of the flush; setting TCP_NODELAY again (the gateway
	 * sets it on every connection) pushes it. One call, where TCP_CORK
	 * took two.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return ret;
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
