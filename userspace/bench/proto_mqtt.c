// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "bench/proto_mqtt.h"
#include "bench/ws_client.h"

/* MQTT 3.1.1 §2.2.3: the remaining length, 7 bits a byte, at most 4 bytes. */
static size_t put_varint(uint8_t *q, size_t v)
{
	size_t n = 0;

	do {
		q[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			q[n] |= 0x80;
		n++;
	} while (v && n < 4);
	return n;
}

/* CONNECT with clean session, keep-alive 0 and client id id; returns its length. */
static size_t connect_packet(uint8_t *buf, const char *id)
{
	size_t idlen = strlen(id), rl = 10 + 2 + idlen, n = 0;

	buf[n++] = 0x10;
	n += put_varint(buf + n, rl);
	memcpy(buf + n, "\x00\x04MQTT\x04\x02\x00\x00", 10);
	n += 10;
	buf[n++] = (uint8_t)(idlen >> 8);
	buf[n++] = (uint8_t)idlen;
	memcpy(buf + n, id, idlen);
	return n + idlen;
}

/*
 * Walks the complete packets in buf: PUBLISH payloads go to s (when given),
 * CONNACK and SUBACK codes are checked. Returns bytes consumed or -errno;
 * *connack / *suback are set when those arrived.
 */
static long parse(const uint8_t *buf, size_t len, struct sl_bench_sub *s, int *connack, int *suback)
{
	size_t off = 0, rl, h, tl, skip;
	unsigned shift;
	const uint8_t *p;

	while (len - off >= 2) {
		p = buf + off;
		rl = 0;
		shift = 0;
		for (h = 1; h < 5; h++) {
			if (off + h >= len)
				return (long)off;
			rl |= (size_t)(p[h] & 0x7f) << shift;
			shift += 7;
			if (!(p[h] & 0x80))
				break;
		}
		if (h == 5)
			return -EPROTO;
		h++;
		if (len - off < h + rl)
			return (long)off;
		switch (p[0] >> 4) {
		case 2: /* CONNACK: flags, return code */
			if (rl < 2 || p[h + 1] != 0)
				return -EACCES;
			*connack = 1;
			break;
		case 9: /* SUBACK: packet id, one granted QoS per topic; 0x80 is failure */
			if (rl < 3 || p[h + 2] == 0x80)
				return -EACCES;
			*suback = 1;
			break;
		case 3: /* PUBLISH: topic, a packet id above QoS 0, payload */
			if (rl < 2)
				return -EPROTO;
			tl = (size_t)p[h] << 8 | p[h + 1];
			skip = 2 + tl + ((p[0] & 0x06) ? 2 : 0);
			if (skip > rl)
				return -EPROTO;
			if (s)
				sl_bench_sub_deliver(s, p + h + skip, rl - skip);
			break;
		default:
			break;
		}
		off += h + rl;
	}
	return (long)off;
}

static int sub_open(struct sl_bench_sub *s)
{
	sl_bench_ws_request(bufferevent_get_output(s->bev), s->target->host, s->target->sub_port,
			    "/mqtt", "mqtt");
	s->state = SL_BENCH_SUB_HANDSHAKE;
	return 0;
}

static int sub_read(struct sl_bench_sub *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev), *out = bufferevent_get_output(s->bev);
	uint8_t pkt[256];
	char id[32], name[64];
	size_t n, tl;
	int rc, status, connack = 0, suback = 0;
	long used;

	if (s->state == SL_BENCH_SUB_HANDSHAKE) {
		rc = sl_bench_http_head(in, &status);
		if (rc <= 0)
			return rc;
		if (status != 101)
			return -EPROTO;
		if (!s->stream && !(s->stream = evbuffer_new()))
			return -ENOMEM;
		snprintf(id, sizeof(id), "sb-%d-%u", (int)getpid(), s->id);
		n = connect_packet(pkt, id);
		/* SUBSCRIBE right behind CONNECT: MQTT lets a client pipeline them. */
		tl = (size_t)sl_bench_topic_name(SL_BENCH_MQTT, s->topic, name, sizeof(name));
		pkt[n++] = 0x82;
		n += put_varint(pkt + n, 2 + 2 + tl + 1);
		pkt[n++] = 0;
		pkt[n++] = 1;
		pkt[n++] = (uint8_t)(tl >> 8);
		pkt[n++] = (uint8_t)tl;
		memcpy(pkt + n, name, tl);
		n += tl;
		pkt[n++] = 0; /* QoS 0 */
		sl_bench_ws_send(out, SL_BENCH_WS_BINARY, pkt, n);
		s->state = SL_BENCH_SUB_SUBSCRIBING;
	}
	rc = sl_bench_ws_read_stream(in, out, s->target->max_frame, s->stream);
	if (rc)
		return rc;
	if (!evbuffer_get_length(s->stream))
		return 0;
	used = parse(evbuffer_pullup(s->stream, -1), evbuffer_get_length(s->stream), s, &connack,
		     &suback);
	if (used < 0) {
		if (used == -EACCES)
			sl_bench_counters_error(s->counters, "mqtt", "CONNECT or SUBSCRIBE refused",
						28);
		return (int)used;
	}
	evbuffer_drain(s->stream, (size_t)used);
	if (suback && s->state == SL_BENCH_SUB_SUBSCRIBING)
		sl_bench_sub_ready(s);
	return 0;
}

static int pub_open(struct sl_bench_pub *p)
{
	uint8_t pkt[64];
	char id[32];

	snprintf(id, sizeof(id), "sb-pub-%d-%u", (int)getpid(), p->id);
	evbuffer_add(bufferevent_get_output(p->bev), pkt, connect_packet(pkt, id));
	p->state = SL_BENCH_PUB_HELLO;
	return 0;
}

static int pub_read(struct sl_bench_pub *p)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	int connack = 0, suback = 0;
	long used;

	if (!evbuffer_get_length(in))
		return 0;
	used = parse(evbuffer_pullup(in, -1), evbuffer_get_length(in), NULL, &connack, &suback);
	if (used < 0) {
		snprintf(p->error, sizeof(p->error), "mqtt: CONNECT refused or bad packet");
		p->state = SL_BENCH_PUB_FAILED;
		return (int)used;
	}
	evbuffer_drain(in, (size_t)used);
	if (connack && p->state == SL_BENCH_PUB_HELLO)
		p->state = SL_BENCH_PUB_READY;
	return 0;
}

static int pub_write(struct sl_bench_pub *p, uint32_t topic, const uint8_t *payload, size_t len)
{
	uint8_t head[80];
	char name[64];
	size_t n = 0;
	int tl;

	tl = sl_bench_topic_name(SL_BENCH_MQTT, topic, name, sizeof(name));
	if (tl < 0)
		return tl;
	head[n++] = 0x30; /* PUBLISH, QoS 0, no retain */
	n += put_varint(head + n, 2 + (size_t)tl + len);
	head[n++] = (uint8_t)(tl >> 8);
	head[n++] = (uint8_t)tl;
	memcpy(head + n, name, (size_t)tl);
	n += (size_t)tl;
	evbuffer_add(bufferevent_get_output(p->bev), head, n);
	evbuffer_add(bufferevent_get_output(p->bev), payload, len);
	return 0;
}

const struct sl_bench_proto sl_bench_proto_mqtt = {
	.name = "mosquitto",
	.sub_open = sub_open,
	.sub_read = sub_read,
	.pub_open = pub_open,
	.pub_read = pub_read,
	.pub_write = pub_write,
};
