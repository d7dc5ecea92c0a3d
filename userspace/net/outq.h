/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A connection's output queue: references to shared event encodings plus
 * small private buffers (handshake answers, replies), written with one
 * sendmsg per flush. Queued bytes are what backpressure limits look at.
 */
#ifndef SLUICE_NET_OUTQ_H
#define SLUICE_NET_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "route/event.h"

/*
 * An item is one of: private bytes (owned), one event's bytes (ev), or a
 * run: consecutive encodings of one arena block (route/event.h), the
 * entries first .. first + count - 1, each holding one event reference of
 * this queue. A delivery that follows the tail run in its block only
 * lengthens the run: in S1 a subscriber's ~200 events per flush are one
 * item instead of 200, which is memory traffic the fan-out no longer
 * makes (24-byte items per event were megabytes per flush at 1,000
 * subscribers) and one iovec for the kernel.
 */
struct sl_outq_item {
	const uint8_t *data;
	union {
		struct sl_event *ev;	    /* count == 0: holds a reference when not NULL */
		struct sl_enc_block *block; /* count > 0 */
	};
	uint32_t len;
	/*
	 * Nonzero: a delivered event once fully written, of this many encoded
	 * bytes (TLS: before encryption). Runs count their events instead.
	 */
	uint32_t event_len : 31;
	uint32_t owned : 1; /* data is a private copy, freed when written */
	union {
		uint32_t first; /* count > 0 */
		uint32_t room;	/* owned: bytes allocated after data + len (sl_outq_push_copy) */
	};
	uint32_t count;
};

/* sl_outq.cork_from for metered sockets: half a tcp_bpf page-frag element. */
#define SL_OUTQ_CORK_METERED (16u * 1024)

/* Bound on one item's bytes (frames are at most 256 MiB, limits.max_frame_bytes). */
#define SL_OUTQ_ITEM_MAX (1u << 31)

struct sl_outq {
	struct sl_outq_item *items;
	uint32_t cap, head, count;
	/*
	 * 0, or the queued bytes from which a flush corks its writes (MSG_MORE)
	 * and pushes what they held back at the end (TCP_NODELAY set again).
	 * Set on sockets the kernel meter sees: tcp_bpf pushes each scatterlist
	 * element of a sendmsg (a page frag of up to 32 KiB) as its own segment
	 * under TCP_NODELAY, where plain TCP fills segments across the whole
	 * write. The cork folds them back together. Below the mark a write
	 * spans two elements less often, and the push would cost about what it
	 * saves (docs/BENCHMARKS.md, "The sk_msg floor in S1").
	 */
	uint32_t cork_from;
	size_t head_off; /* bytes of the head item already written */
	size_t bytes;	 /* bytes queued, not yet written */
	uint64_t *total; /* NULL, or a sum over several queues that bytes is part of */
};

void sl_outq_init(struct sl_outq *q);
void sl_outq_fini(struct sl_outq *q);

/* Gives back the item array of an empty queue (an idle connection's memory). */
void sl_outq_trim(struct sl_outq *q);

/*
 * Queues an event's encoding b (sl_event_encoding; shared bytes, one
 * reference on ev). -ENOMEM when b is NULL (the encoding failed),
 * -EMSGSIZE from SL_OUTQ_ITEM_MAX bytes on (also for the pushes below).
 */
int sl_outq_push_event(struct sl_outq *q, struct sl_event *ev, const struct sl_bytes *b);

/*
 * Queues a private copy of data. Small copies (replies, handshake answers,
 * their TLS records) are appended to the tail item's buffer when it has
 * room, and a full one is followed by one twice its size (up to 16 KiB).
 * An allocation and an item each cost about three times a 25-byte ack, so
 * a publisher that read no acks held three times
 * limits.max_queued_bytes_per_connection; packed, what q->bytes counts is
 * what they hold, within one buffer's free room.
 */
int sl_outq_push_copy(struct sl_outq *q, const void *data, size_t len);

/* Queues a malloc'd buffer, taking ownership (freed even on failure); small ones are copied. */
int sl_outq_push_owned(struct sl_outq *q, uint8_t *data, size_t len);

/*
 * Drops what is queued but not started, keeping a partly written head item
 * so the stream stays well-framed (an evicted slow consumer's backlog).
 * keep_head keeps the head item whole even when none of it went out: a
 * connection that wrote nothing yet still owes its peer the handshake
 * answer queued first.
 */
void sl_outq_drop_unsent(struct sl_outq *q, bool keep_head);

/*
 * The last queued item completes event ev (TLS: its last record), whose
 * encoding was frame_len bytes before encryption.
 */
void sl_outq_tail_is_event(struct sl_outq *q, struct sl_event *ev, size_t frame_len);

/*
 * An item that went out, handed back by a flush with the event reference it
 * held: a flush may run on a writer thread (workpool.h), where event
 * reference counts and shared counters must not be touched, so the loop
 * settles these afterwards.
 */
struct sl_outq_sent {
	/*
	 * count == 0: ev, the caller's reference now. count > 0: entries
	 * first .. first + count - 1 of block, a reference each.
	 */
	union {
		struct sl_event *ev;
		struct sl_enc_block *block;
	};
	uint32_t event_len; /* the event's encoded bytes; 0: not the last piece of an event */
	uint32_t first, count;
};

/*
 * Calls fn for each event a handed-back item completed, with its encoded
 * length, passing on the reference (fn releases it). A run's block may go
 * with its last event, so it is not read after that one.
 */
static inline void sl_outq_sent_each(const struct sl_outq_sent *s,
				     void (*fn)(struct sl_event *ev, uint32_t len, void *ctx),
				     void *ctx)
{
	const struct sl_enc_entry *e;
	uint32_t k;

	if (!s->count) {
		fn(s->ev, s->event_len, ctx);
		return;
	}
	e = s->block->entries + s->first;
	for (k = 0; k < s->count; k++)
		fn(e[k].ev, e[k].len, ctx);
}

/* What the flushes of one thread handed back (reused: count is reset, the array kept). */
struct sl_outq_sink {
	struct sl_outq_sent *items;
	size_t count, cap;
};

void sl_outq_sink_fini(struct sl_outq_sink *s);

/*
 * Writes as much as the socket takes with sendmsg (up to 256 items a call,
 * a run of events being one; looping while the kernel takes everything). Returns bytes written (>=
 * 0) or -errno on a hard error. *short_write is set when the kernel took less than offered (EAGAIN
 * included), or the sink could not grow: the caller must resync the meter (kern.h) and wait for
 * POLLOUT. *events_done counts the events completed. Every item with event references that went out
 * is appended to sink, in order (also when a hard error follows), and so is the part of a run a
 * short write passed whole. q->bytes goes down, *q->total does not (it is shared by every queue):
 * the caller lowers it with sl_outq_settle once the flush is over. A corked flush (cork_from)
 * always ends with a push. The flush offers at most budget bytes: when it returns with bytes
 * still queued and *short_write clear, the budget ended it, not the kernel.
 */
ssize_t sl_outq_flush_upto(struct sl_outq *q, int fd, size_t budget, int *short_write,
			   uint64_t *events_done, struct sl_outq_sink *sink);

/* Everything the socket takes. */
static inline ssize_t sl_outq_flush(struct sl_outq *q, int fd, int *short_write,
				    uint64_t *events_done, struct sl_outq_sink *sink)
{
	return sl_outq_flush_upto(q, fd, SIZE_MAX, short_write, events_done, sink);
}

/* Lowers the shared total by what a flush wrote: q->bytes was bytes_before when it began. */
static inline void sl_outq_settle(struct sl_outq *q, size_t bytes_before)
{
	if (q->total)
		*q->total -= bytes_before - q->bytes;
}

#endif
