// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "bench/proto_sluice.h"
#include "bench/ws_client.h"

/* The fields of one server map the benchmark looks at. */
struct reply {
	const uint8_t *op, *data, *msg;
	size_t op_len, data_len, msg_len;
};

/* Reads a msgpack str or bin header at *p; returns its length or -1. */
static long read_raw(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	size_t n, h;

	if (q >= end)
		return -1;
	if ((*q & 0xe0) == 0xa0) {
		n = *q & 0x1f;
		h = 1;
	} else if (*q == 0xd9 || *q == 0xc4) {
		if (end - q < 2)
			return -1;
		n = q[1];
		h = 2;
	} else if (*q == 0xda || *q == 0xc5) {
		if (end - q < 3)
			return -1;
		n = (size_t)q[1] << 8 | q[2];
		h = 3;
	} else if (*q == 0xdb || *q == 0xc6) {
		if (end - q < 5)
			return -1;
		n = (size_t)q[1] << 24 | (size_t)q[2] << 16 | (size_t)q[3] << 8 | q[4];
		h = 5;
	} else {
		return -1;
	}
	if ((size_t)(end - q) < h + n)
		return -1;
	*p = q + h;
	return (long)n;
}

/* Skips one scalar (the server's maps hold only strings, binaries and integers). */
static int skip_value(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	static const uint8_t fixed[] = { [0xcc - 0xcc] = 1, [0xcd - 0xcc] = 2, [0xce - 0xcc] = 4,
					 [0xcf - 0xcc] = 8, [0xd0 - 0xcc] = 1, [0xd1 - 0xcc] = 2,
					 [0xd2 - 0xcc] = 4, [0xd3 - 0xcc] = 8 };
	long n;

	if (q >= end)
		return -1;
	if (*q <= 0x7f || *q >= 0xe0 || *q == 0xc0 || *q == 0xc2 || *q == 0xc3) {
		*p = q + 1;
		return 0;
	}
	if (*q >= 0xcc && *q <= 0xd3) {
		if (end - q < 1 + fixed[*q - 0xcc])
			return -1;
		*p = q + 1 + fixed[*q - 0xcc];
		return 0;
	}
	n = read_raw(p, end);
	if (n < 0)
		return -1;
	*p += n;
	return 0;
}

static int parse_reply(const uint8_t *p, size_t len, struct reply *r)
{
	const uint8_t *end = p + len, *key;
	unsigned n;
	long klen, vlen;

	memset(r, 0, sizeof(*r));
	if (!len)
		return -EPROTO;
	if ((*p & 0xf0) == 0x80) {
		n = *p & 0x0f;
		p++;
	} else if (*p == 0xde && len >= 3) {
		n = (unsigned)p[1] << 8 | p[2];
		p += 3;
	} else {
		return -EPROTO;
	}
	while (n--) {
		klen = read_raw(&p, end);
		if (klen < 0)
			return -EPROTO;
		key = p;
		p += klen;
		if ((klen == 2 && !memcmp(key, "op", 2)) ||
		    (klen == 4 && !memcmp(key, "data", 4)) ||
		    (klen == 3 && !memcmp(key, "msg", 3))) {
			vlen = read_raw(&p, end);
			if (vlen < 0)
				return -EPROTO;
			if (klen == 2) {
				r->op = p;
				r->op_len = (size_t)vlen;
			} else if (klen == 4) {
				r->data = p;
				r->data_len = (size_t)vlen;
			} else {
				r->msg = p;
				r->msg_len = (size_t)vlen;
			}
			p += vlen;
		} else if (skip_value(&p, end)) {
			return -EPROTO;
		}
	}
	return r->op ? 0 : -EPROTO;
}

static int is_op(const struct reply *r, const char *op)
{
	return r->op_len == strlen(op) && !memcmp(r->op, op, r->op_len);
}

static uint8_t *put_str(uint8_t *q, const char *s, size_t n)
{
	if (n < 32) {
		*q++ = (uint8_t)(0xa0 | n);
	} else {
		*q++ = 0xd9;
		*q++ = (uint8_t)n;
	}
	memcpy(q, s, n);
	return q + n;
}

static int ws_message(void *arg, const uint8_t *payload, size_t len)
{
	struct sl_bench_sub *s = arg;
	struct reply r;

	if (parse_reply(payload, len, &r)) {
		s->counters->bad++;
		return 0;
	}
	if (is_op(&r, "ev"))
		sl_bench_sub_deliver(s, r.data, r.data_len);
	else if (is_op(&r, "ack"))
		sl_bench_sub_ready(s);
	else if (is_op(&r, "err"))
		sl_bench_counters_error(s->counters, "sluice err", r.msg ? (const void *)r.msg : "",
					r.msg_len);
	return 0;
}

static int sub_open(struct sl_bench_sub *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char topic[64];

	if (sl_bench_topic_name(SL_BENCH_SLUICE, s->topic, topic, sizeof(topic)) < 0)
		return -ENAMETOOLONG;
	if (s->flags & SL_BENCH_SUB_SSE)
		evbuffer_add_printf(out,
				    "GET /v1/sse?topic=%s HTTP/1.1\r\nHost: %s:%u\r\n"
				    "Accept: text/event-stream\r\n\r\n",
				    topic, s->target->host, s->target->sub_port);
	else
		sl_bench_ws_request(out, s->target->host, s->target->sub_port, "/v1/ws",
				    "sluice.v1.msgpack");
	s->state = SL_BENCH_SUB_HANDSHAKE;
	return 0;
}

/* Scans complete SSE events ("\n\n"-terminated) in s->stream for data lines. */
static void sse_events(struct sl_bench_sub *s)
{
	struct evbuffer_ptr end;
	const uint8_t *p, *line, *nl, *stop;
	size_t n;

	for (;;) {
		end = evbuffer_search(s->stream, "\n\n", 2, NULL);
		if (end.pos < 0)
			return;
		n = (size_t)end.pos + 2;
		p = evbuffer_pullup(s->stream, (ssize_t)n);
		stop = p + n;
		for (line = p; line < stop; line = nl + 1) {
			nl = memchr(line, '\n', (size_t)(stop - line));
			if (!nl)
				break;
			if (nl - line >= 6 && !memcmp(line, "data: ", 6))
				sl_bench_sub_deliver(s, line + 6, (size_t)(nl - line - 6));
		}
		evbuffer_drain(s->stream, n);
	}
}

/* Undoes HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) into s->stream. */
static int sse_read(struct sl_bench_sub *s, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	char line[24];
	size_t n, avail;
	unsigned long size;
	char *endp;

	if (!s->stream && !(s->stream = evbuffer_new()))
		return -ENOMEM;
	for (;;) {
		avail = evbuffer_get_length(in);
		if (s->chunk_left) {
			if (!avail)
				break;
			n = avail < s->chunk_left ? avail : s->chunk_left;
			evbuffer_remove_buffer(in, s->stream, n);
			s->chunk_left -= (uint32_t)n;
			continue;
		}
		if (s->chunk_crlf) {
			if (avail < 2)
				break;
			evbuffer_drain(in, 2);
			s->chunk_crlf = 0;
			continue;
		}
		eol = evbuffer_search(in, "\r\n", 2, NULL);
		if (eol.pos < 0) {
			if (avail > 20)
				return -EPROTO;
			break;
		}
		if (eol.pos >= (ssize_t)sizeof(line))
			return -EPROTO;
		evbuffer_remove(in, line, (size_t)eol.pos + 2);
		line[eol.pos] = 0;
		size = strtoul(line, &endp, 16);
		if (endp == line)
			return -EPROTO;
		if (!size)
			return -ECONNRESET; /* the last chunk: the server ended the stream */
		s->chunk_left = (uint32_t)size;
		s->chunk_crlf = 1;
	}
	sse_events(s);
	return 0;
}

static int sub_read(struct sl_bench_sub *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint8_t frame[80], *q = frame;
	char topic[64];
	int rc, status, n;

	if (s->state == SL_BENCH_SUB_HANDSHAKE) {
		rc = sl_bench_http_head(in, &status);
		if (rc <= 0)
			return rc;
		if (s->flags & SL_BENCH_SUB_SSE) {
			if (status != 200)
				return -EPROTO;
			sl_bench_sub_ready(s);
		} else {
			if (status != 101)
				return -EPROTO;
			n = sl_bench_topic_name(SL_BENCH_SLUICE, s->topic, topic, sizeof(topic));
			*q++ = 0x83;
			q = put_str(q, "op", 2);
			q = put_str(q, "sub", 3);
			q = put_str(q, "id", 2);
			*q++ = 0x01;
			q = put_str(q, "topic", 5);
			q = put_str(q, topic, (size_t)n);
			sl_bench_ws_send(bufferevent_get_output(s->bev), SL_BENCH_WS_BINARY, frame,
					 (size_t)(q - frame));
			s->state = SL_BENCH_SUB_SUBSCRIBING;
		}
	}
	if (s->flags & SL_BENCH_SUB_SSE)
		return sse_read(s, in);
	return sl_bench_ws_read(in, bufferevent_get_output(s->bev), s->target->max_frame,
				ws_message, s);
}

static void put_frame(struct evbuffer *out, const uint8_t *map, size_t len)
{
	uint8_t head[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			    (uint8_t)len };

	evbuffer_add(out, head, 4);
	evbuffer_add(out, map, len);
}

static int pub_open(struct sl_bench_pub *p)
{
	uint8_t map[600], *q = map;
	size_t tlen = strlen(p->target->token);

	if (tlen > 255)
		return -ENAMETOOLONG;
	*q++ = 0x83;
	q = put_str(q, "op", 2);
	q = put_str(q, "hello", 5);
	q = put_str(q, "token", 5);
	q = put_str(q, p->target->token, tlen);
	q = put_str(q, "name", 4);
	q = put_str(q, "sluice-bench", 12);
	put_frame(bufferevent_get_output(p->bev), map, (size_t)(q - map));
	p->state = SL_BENCH_PUB_HELLO;
	return 0;
}

static int pub_read(struct sl_bench_pub *p)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	uint8_t head[4], *frame;
	struct reply r;
	size_t len;

	while (evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, head, 4);
		len =
		    (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
		if (len > p->target->max_frame)
			return -EMSGSIZE;
		if (evbuffer_get_length(in) < 4 + len)
			break;
		frame = evbuffer_pullup(in, (ssize_t)(4 + len));
		if (parse_reply(frame + 4, len, &r) == 0) {
			if (is_op(&r, "ok")) {
				p->state = SL_BENCH_PUB_READY;
			} else if (is_op(&r, "err")) {
				p->errors++;
				if (!p->error[0])
					snprintf(p->error, sizeof(p->error), "sluice err: %.*s",
						 (int)(r.msg_len > 120 ? 120 : r.msg_len),
						 r.msg ? (const char *)r.msg : "");
				if (p->state == SL_BENCH_PUB_HELLO)
					p->state = SL_BENCH_PUB_FAILED;
			}
		}
		evbuffer_drain(in, 4 + len);
	}
	return p->state == SL_BENCH_PUB_FAILED ? -EACCES : 0;
}

static int pub_write(struct sl_bench_pub *p, uint32_t topic, const uint8_t *payload, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	uint8_t head[96], *q = head + 4;
	char name[64];
	size_t mlen;
	int n;

	n = sl_bench_topic_name(SL_BENCH_SLUICE, topic, name, sizeof(name));
	if (n < 0)
		return n;
	*q++ = 0x83;
	q = put_str(q, "op", 2);
	q = put_str(q, "pub", 3);
	q = put_str(q, "topic", 5);
	q = put_str(q, name, (size_t)n);
	q = put_str(q, "data", 4);
	if (len < 256) {
		*q++ = 0xc4;
		*q++ = (uint8_t)len;
	} else {
		*q++ = 0xc5;
		*q++ = (uint8_t)(len >> 8);
		*q++ = (uint8_t)len;
	}
	mlen = (size_t)(q - head) - 4 + len;
	head[0] = (uint8_t)(mlen >> 24);
	head[1] = (uint8_t)(mlen >> 16);
	head[2] = (uint8_t)(mlen >> 8);
	head[3] = (uint8_t)mlen;
	evbuffer_add(out, head, (size_t)(q - head));
	evbuffer_add(out, payload, len);
	return 0;
}

const struct sl_bench_proto sl_bench_proto_sluice = {
	.name = "sluice",
	.sub_open = sub_open,
	.sub_read = sub_read,
	.pub_open = pub_open,
	.pub_read = pub_read,
	.pub_write = pub_write,
};
