// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
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

/* Parses 16 hex digits; -1 (all ones) when one is not a hex digit. */
static uint64_t get_hex16(const uint8_t *p)
{
	uint64_t v = 0;
	unsigned i, d;

	for (i = 0; i < 16; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return UINT64_MAX;
		v = v << 4 | d;
	}
	return v;
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
	ts = get_hex16(payload + 1);
	seq = get_hex16(payload + 18);
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
