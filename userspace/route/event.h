/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One accepted event, shared by everything that holds it: the topic's
 * retention ring and every subscriber's output queue. Reference counted;
 * the transport encodings are built once, on first use, and the same bytes
 * go to every subscriber of that transport (encode once, share the bytes).
 */
#ifndef SLUICE_ROUTE_EVENT_H
#define SLUICE_ROUTE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "stats/stats.h"

enum sl_encoding {
	SL_ENC_WS = 0,	   /* WebSocket binary frame holding the `ev` msgpack map */
	SL_ENC_SSE = 1,	   /* one chunked SSE record */
	SL_ENC_NATIVE = 2, /* 4-byte length + `ev` msgpack map */
	SL_ENC__MAX = 3,
};

struct sl_bytes {
	uint8_t *data;
	size_t len;
};

/*
 * Deliveries of a topic's events, counted by the transport as each one's
 * last byte is written, and their rate over the last whole second.
 */
struct sl_topic_counters {
	uint64_t events, bytes;
	uint64_t events_per_second, bytes_per_second;
	uint64_t events_at_tick, bytes_at_tick; /* the counts at the last rate tick */
	uint64_t alive; /* its events not yet freed: the router keeps the topic while any is */
	struct sl_history history; /* events_per_second, one hour (sl_router_tick_rates) */
	struct sl_latency latency; /* its deliveries, publish → written */
};

/*
 * Where a topic's encodings are allocated: one after the other in shared
 * blocks, so that the events a subscriber has queued lie back to back in
 * memory and its writev passes them as one iovec. The kernel's copy of a
 * writev pays per iovec as well as per byte: at ~300 bytes an event, one
 * iovec each cost S1 more than the bytes did. A block lives while an
 * encoding in it does; its size follows the topic's rate (4 KiB for a quiet
 * topic, up to 64 KiB for a busy one), so retained events of quiet topics
 * do not pin big blocks. A block lists its encodings in order, so that an
 * output queue can hold a run of them as one item (net/outq.h).
 */
struct sl_event;

/* An encoding in a block: its event (no reference; whoever queued it holds one) and length. */
struct sl_enc_entry {
	struct sl_event *ev;
	uint32_t len;
};

struct sl_enc_block {
	uint32_t refs; /* the arena's while open, plus one per encoding in it */
	uint32_t used, size;
	uint32_t count, cap;	      /* entries */
	uint64_t opened_ns;	      /* the first encoding's event time */
	struct sl_enc_entry *entries; /* the encodings in allocation order */
	uint8_t data[];
};

struct sl_enc_arena {
	struct sl_enc_block *open[SL_ENC__MAX];
};

/* Lets go of the open blocks; the encodings in them stay valid until their events go. */
void sl_enc_arena_fini(struct sl_enc_arena *a);

/*
 * Who published an event (a backend), for the latency of its deliveries as
 * that backend sees it. Events outlive their publisher's connection, so
 * each holds a reference, as the connection does.
 */
struct sl_event_source {
	uint64_t refs;
	struct sl_latency latency;
};

/* Lets go of a reference (NULL: none); the last one frees it. */
void sl_event_source_unref(struct sl_event_source *src);

struct sl_event {
	uint32_t refs;
	uint32_t topic_len;
	uint64_t seq;	   /* per topic, strictly increasing from 1 */
	uint64_t gseq;	   /* per gateway: acceptance order across topics (SSE resume) */
	uint64_t ts_ns;	   /* UNIX time the gateway accepted it */
	const char *topic; /* owned by the router's topic, which outlives its events */
	struct sl_topic_counters *counters; /* the topic's; NULL for events outside a router */
	struct sl_event_source *source; /* NULL: not a backend's (HTTP, WebSocket, the journal) */
	size_t len;
	struct sl_bytes enc[SL_ENC__MAX];
	struct sl_enc_arena *arena; /* the topic's; NULL: each encoding is its own allocation */
	struct sl_enc_block *block[SL_ENC__MAX]; /* where enc[i] lives, if in an arena */
	uint32_t block_index[SL_ENC__MAX];	 /* and its entry there */
	uint8_t data[];				 /* the payload as published */
};

/* Allocates an event with a copy of the payload and one reference. */
struct sl_event *sl_event_new(const char *topic, size_t topic_len, const void *data, size_t len,
			      uint64_t seq, uint64_t gseq, uint64_t ts_ns);

static inline struct sl_event *sl_event_ref(struct sl_event *ev)
{
	ev->refs++;
	return ev;
}

void sl_event_unref(struct sl_event *ev);

/* Builds an encoding (sl_event_encoding's first call). */
const struct sl_bytes *sl_event_encode(struct sl_event *ev, enum sl_encoding enc);

/*
 * Bytes of the encoding, built on first call; NULL on allocation failure.
 * Inline: every delivery asks, and all but the first find it built.
 */
static inline const struct sl_bytes *sl_event_encoding(struct sl_event *ev, enum sl_encoding enc)
{
	return ev->enc[enc].data ? &ev->enc[enc] : sl_event_encode(ev, enc);
}

#endif
