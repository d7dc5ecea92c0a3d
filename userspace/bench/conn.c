// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/conn.h"
#include "bench/proto_mqtt.h"
#include "bench/proto_nats.h"
#include "bench/proto_nchan.h"
#include "bench/proto_sluice.h"

static const struct sl_bench_proto *const protos[] = {
	&sl_bench_proto_sluice,
	&sl_bench_proto_nchan,
	&sl_bench_proto_nats,
	&sl_bench_proto_mqtt,
};

const struct sl_bench_proto *sl_bench_proto_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(protos[i]->name, name))
			return protos[i];
	return NULL;
}

uint64_t sl_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_hex16(uint8_t *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		p[i] = (uint8_t)digits[v & 15];
		v >>= 4;
	}
}

/*
 * Eight lowercase hex digits, loaded little-endian (the first digit in the
 * low byte), to their value. A byte is a digit when its high nibble is 3 and
 * its low nibble 0-9, or its high nibble is 6 (bit 6 set) and its low nibble
 * 1-6; anything else sets bits in *bad.
 */
static uint64_t hex8(uint64_t x, uint64_t *bad)
{
	const uint64_t ones = 0x0101010101010101ull;
	uint64_t letter = (x >> 6) & ones, low = x & (ones * 0x0f), v;

	*bad |= (x & (ones * 0xf0)) ^ (ones * 0x30 + letter * 0x30);
	*bad |= (low + ones * 6 + letter * 3) & (ones * 0x10);
	*bad |= ~(low + ones * 0x0f) & (letter << 4);
	v = low + letter * 9;
	v = (v & 0x00ff00ff00ff00ffull) << 4 | (v >> 8 & 0x00ff00ff00ff00ffull);
	v = (v & 0x0000ffff0000ffffull) << 8 | (v >> 16 & 0x0000ffff0000ffffull);
	return (v & 0xffffffffull) << 16 | v >> 32;
}

/*
 * Without a branch per digit: the low digits of a timestamp are random, and
 * the mispredicted branches of a digit-by-digit loop were the client's
 * largest cost at millions of events a second, CPU the server under test
 * shares.
 */
uint64_t sl_bench_get_hex16(const uint8_t *p)
{
	uint64_t hi, lo, bad = 0;

	memcpy(&hi, p, 8);
	memcpy(&lo, p + 8, 8);
	hi = hex8(le64toh(hi), &bad);
	lo = hex8(le64toh(lo), &bad);
	return bad ? UINT64_MAX : hi << 32 | lo;
}

void sl_bench_payload_fill(uint8_t *buf, size_t len, uint64_t ts_ns, uint64_t seq)
{
	buf[0] = 'T';
	put_hex16(buf + 1, ts_ns);
	buf[17] = 'S';
	put_hex16(buf + 18, seq);
	if (len > SL_BENCH_PAYLOAD_MIN)
		memset(buf + SL_BENCH_PAYLOAD_MIN, '.', len - SL_BENCH_PAYLOAD_MIN);
}

int sl_bench_topic_name(enum sl_bench_system system, uint32_t topic, char *buf, size_t len)
{
	int n;

	switch (system) {
	case SL_BENCH_MQTT:
		n = snprintf(buf, len, "bench/t%u", topic);
		break;
	case SL_BENCH_NCHAN:
		n = snprintf(buf, len, "t%u", topic);
		break;
	default:
		n = snprintf(buf, len, "bench.t%u", topic);
		break;
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* The owner thread is the only writer; relaxed stores let the main thread poll. */
static inline void bump(uint64_t *v, uint64_t by)
{
	__atomic_store_n(v, *v + by, __ATOMIC_RELAXED);
}

void sl_bench_sub_ready(struct sl_bench_sub *s)
{
	if (s->state == SL_BENCH_SUB_READY)
		return;
	s->state = SL_BENCH_SUB_READY;
	if (s->on_ready)
		s->on_ready(s);
	if (!(s->flags & (SL_BENCH_SUB_SLOW | SL_BENCH_SUB_LATE)))
		bump(&s->counters->ready, 1);
}

void sl_bench_sub_deliver(struct sl_bench_sub *s, const uint8_t *payload, size_t len)
{
	struct sl_bench_counters *c = s->counters;
	uint64_t ts, seq, now;

	if (s->flags & (SL_BENCH_SUB_SLOW | SL_BENCH_SUB_LATE))
		return;
	if (len < SL_BENCH_PAYLOAD_MIN || payload[0] != 'T' || payload[17] != 'S') {
		c->bad++;
		return;
	}
	ts = sl_bench_get_hex16(payload + 1);
	seq = sl_bench_get_hex16(payload + 18);
	if (ts == UINT64_MAX || seq == UINT64_MAX) {
		c->bad++;
		return;
	}
	now = c->read_ns ? c->read_ns : sl_bench_now_ns();
	sl_bench_hist_add(&c->hist, now > ts ? now - ts : 0);
	__atomic_store_n(&c->last_ns, now, __ATOMIC_RELAXED);
	bump(&c->delivered, 1);
	if (seq <= s->last_seq) {
		c->duplicates++;
		return;
	}
	c->gaps += seq - s->last_seq - 1;
	s->last_seq = seq;
}

void sl_bench_counters_error(struct sl_bench_counters *c, const char *what, const void *text,
			     size_t len)
{
	c->errors++;
	if (c->first_error[0])
		return;
	if (len > 120)
		len = 120;
	snprintf(c->first_error, sizeof(c->first_error), "%s: %.*s", what, (int)len,
		 (const char *)text);
}
