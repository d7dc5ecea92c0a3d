/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every system adapter shares: one subscriber connection, one publisher
 * connection, the per-thread counters they feed, the payload format and the
 * table of adapters (bench/proto_*.h).
 *
 * The payload is ASCII so that it passes unchanged through every system
 * (SSE included): "T" + 16 hex digits of the CLOCK_MONOTONIC send time in ns,
 * "S" + 16 hex digits of the publisher's per-topic sequence (from 1), then
 * '.' up to the payload size. Per subscriber the benchmark keeps only the
 * last sequence seen, so memory stays bounded whatever the event count.
 */
#ifndef SLUICE_BENCH_CONN_H
#define SLUICE_BENCH_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "bench/hist.h"

#define SL_BENCH_PAYLOAD_MIN 34

enum sl_bench_system {
	SL_BENCH_SLUICE = 0,
	SL_BENCH_NCHAN = 1,
	SL_BENCH_NATS = 2,
	SL_BENCH_MQTT = 3,
};

/* Where the system under test listens and what is sent to it; read-only while running. */
struct sl_bench_target {
	enum sl_bench_system system;
	const char *host;
	unsigned sub_port;
	unsigned pub_port;
	const char *token; /* sluice publisher hello token */
	size_t max_frame;
};

/*
 * One worker thread's counters. Only the owner writes them; the main thread
 * reads the few it polls (ready, failed, delivered) with relaxed atomics.
 */
struct sl_bench_counters {
	uint64_t ready;	      /* subscriptions confirmed */
	uint64_t failed;      /* connections that never became ready */
	uint64_t closed;      /* ready connections the server closed */
	uint64_t slow_closed; /* slow (--slow) connections the server closed */
	uint64_t delivered;   /* events received by measured subscribers */
	uint64_t duplicates;  /* sequence not above the last one seen */
	uint64_t gaps;	      /* sequences skipped between two received */
	uint64_t bad;	      /* payloads not in the benchmark's format */
	uint64_t errors;      /* error replies (err, -ERR, refused SUBACK, HTTP >= 300) */
	uint64_t last_ns;     /* CLOCK_MONOTONIC of the last delivery */
	/*
	 * CLOCK_MONOTONIC when the current read callback began: every event of one
	 * read arrived then, so one clock read per read, not per event (a clock
	 * read per event was 4% of the client's CPU in S1).
	 */
	uint64_t read_ns;
	char first_error[160];
	struct sl_bench_hist hist; /* publish -> deliver latency, ns */
};

enum sl_bench_sub_state {
	SL_BENCH_SUB_CONNECTING = 0,
	SL_BENCH_SUB_HANDSHAKE,
	SL_BENCH_SUB_SUBSCRIBING,
	SL_BENCH_SUB_READY,
	SL_BENCH_SUB_CLOSED,
};

#define SL_BENCH_SUB_SSE 0x1	  /* sluice only: Server-Sent Events instead of WebSocket */
#define SL_BENCH_SUB_SLOW 0x2	  /* stops reading once subscribed; not measured */
#define SL_BENCH_SUB_LATE 0x4	  /* became ready after publishing started; not measured */
#define SL_BENCH_SUB_MEASURED 0x8 /* ready before publishing: counts in the expected total */

struct sl_bench_sub {
	struct bufferevent *bev;
	struct event *raw_rd; /* reads once subscribed, in place of bev's (fanout.c) */
	struct sl_bench_counters *counters;
	const struct sl_bench_target *target;
	struct evbuffer *stream; /* byte stream carried in frames or chunks (NATS, MQTT, SSE) */
	void (*on_ready)(struct sl_bench_sub *s);
	void *owner;
	uint64_t last_seq;
	uint32_t id;
	uint32_t topic;
	uint32_t chunk_left; /* SSE: bytes left in the current HTTP chunk */
	uint8_t state;
	uint8_t flags;
	uint8_t chunk_crlf; /* SSE: the CRLF after a chunk is still due */
};

enum sl_bench_pub_state {
	SL_BENCH_PUB_CONNECTING = 0,
	SL_BENCH_PUB_HELLO,
	SL_BENCH_PUB_READY,
	SL_BENCH_PUB_FAILED,
};

struct sl_bench_pub {
	struct bufferevent *bev;
	const struct sl_bench_target *target;
	uint32_t id;
	unsigned inflight;     /* nchan: requests without an answer yet */
	unsigned max_inflight; /* nchan: pipelining depth */
	uint8_t state;
	uint64_t errors;
	char error[160];
};

/* One system's adapter. Functions return 0 or -errno; -errno closes the connection. */
struct sl_bench_proto {
	const char *name;
	/* After the TCP connect: send the handshake. */
	int (*sub_open)(struct sl_bench_sub *s);
	/* Bytes arrived in bufferevent_get_input(s->bev). */
	int (*sub_read)(struct sl_bench_sub *s);
	int (*pub_open)(struct sl_bench_pub *p);
	int (*pub_read)(struct sl_bench_pub *p);
	/* Queues one event; -EAGAIN when the adapter must wait for answers first. */
	int (*pub_write)(struct sl_bench_pub *p, uint32_t topic, const uint8_t *payload,
			 size_t len);
};

/* The adapter named name (sluice, nchan, nats, mosquitto); NULL when unknown. */
const struct sl_bench_proto *sl_bench_proto_find(const char *name);

uint64_t sl_bench_now_ns(void);

/* The value of the 16 lowercase hex digits at p; UINT64_MAX when one is not a digit. */
uint64_t sl_bench_get_hex16(const uint8_t *p);

/* Writes the payload format (see above) into buf; len >= SL_BENCH_PAYLOAD_MIN. */
void sl_bench_payload_fill(uint8_t *buf, size_t len, uint64_t ts_ns, uint64_t seq);

/* The topic (channel, subject) name of index topic for a system, e.g. bench.t7 or bench/t7. */
int sl_bench_topic_name(enum sl_bench_system system, uint32_t topic, char *buf, size_t len);

/* The subscription is confirmed: count it and tell the owner. */
void sl_bench_sub_ready(struct sl_bench_sub *s);

/* One event's payload arrived at s: latency, loss and duplicate accounting. */
void sl_bench_sub_deliver(struct sl_bench_sub *s, const uint8_t *payload, size_t len);

/* Counts an error reply and keeps the first one's text. */
void sl_bench_counters_error(struct sl_bench_counters *c, const char *what, const void *text,
			     size_t len);

#endif
