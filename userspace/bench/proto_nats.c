// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "bench/proto_nats.h"
#include "bench/ws_client.h"

#define CONNECT_LINE "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n"

/* A connection's reaction to one protocol line. */
enum line_kind {
	LINE_OTHER,
	LINE_PING,
	LINE_PONG,
	LINE_ERR,
	LINE_MSG
};

/*
 * Parses the protocol lines and MSG payloads in buf. For each MSG calls
 * deliver; answers PING through pong; returns bytes consumed or -EPROTO.
 */
static long parse(const uint8_t *buf, size_t len, struct sl_bench_sub *s, int *pings, int *pongs,
		  struct sl_bench_counters *errs, struct sl_bench_pub *perr)
{
	size_t off = 0, llen, n;
	const uint8_t *line, *eol, *sp;
	char num[24];

	while (off < len) {
		line = buf + off;
		eol = memchr(line, '\n', len - off);
		if (!eol)
			return len - off > 4096 ? -EPROTO : (long)off;
		llen = (size_t)(eol - line) + 1;
		if (llen >= 4 && !memcmp(line, "MSG ", 4)) {
			/* MSG <subject> <sid> [reply-to] <#bytes>: the size is the last token. */
			sp = eol;
			while (sp > line && (sp[-1] == '\r' || sp[-1] == '\n'))
				sp--;
			n = 0;
			while (sp > line && sp[-1] != ' ')
				sp--;
			if ((size_t)(eol - sp) >= sizeof(num))
				return -EPROTO;
			memcpy(num, sp, (size_t)(eol - sp));
			num[eol - sp] = 0;
			n = strtoul(num, NULL, 10);
			if (len - off < llen + n + 2)
				return (long)off;
			if (s)
				sl_bench_sub_deliver(s, line + llen, n);
			off += llen + n + 2;
			continue;
		}
		if (llen >= 4 && !memcmp(line, "PING", 4))
			(*pings)++;
		else if (llen >= 4 && !memcmp(line, "PONG", 4))
			(*pongs)++;
		else if (llen >= 4 && !memcmp(line, "-ERR", 4)) {
			if (errs)
				sl_bench_counters_error(errs, "nats", line, llen - 2);
			if (perr) {
				perr->errors++;
				if (!perr->error[0])
					snprintf(perr->error, sizeof(perr->error), "nats: %.*s",
						 (int)(llen > 120 ? 120 : llen - 2),
						 (const char *)line);
			}
		}
		off += llen;
	}
	return (long)off;
}

static int sub_open(struct sl_bench_sub *s)
{
	sl_bench_ws_request(bufferevent_get_output(s->bev), s->target->host, s->target->sub_port,
			    "/", NULL);
	s->state = SL_BENCH_SUB_HANDSHAKE;
	return 0;
}

static int sub_read(struct sl_bench_sub *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev), *out = bufferevent_get_output(s->bev);
	char cmd[160], name[64];
	int rc, status, pings = 0, pongs = 0, n;
	long used;

	if (s->state == SL_BENCH_SUB_HANDSHAKE) {
		rc = sl_bench_http_head(in, &status);
		if (rc <= 0)
			return rc;
		if (status != 101)
			return -EPROTO;
		if (!s->stream && !(s->stream = evbuffer_new()))
			return -ENOMEM;
		sl_bench_topic_name(SL_BENCH_NATS, s->topic, name, sizeof(name));
		n = snprintf(cmd, sizeof(cmd), CONNECT_LINE "SUB %s 1\r\nPING\r\n", name);
		sl_bench_ws_send(out, SL_BENCH_WS_BINARY, cmd, (size_t)n);
		s->state = SL_BENCH_SUB_SUBSCRIBING;
	}
	rc = sl_bench_ws_read_stream(in, out, s->target->max_frame, s->stream);
	if (rc)
		return rc;
	used = parse(evbuffer_pullup(s->stream, -1), evbuffer_get_length(s->stream), s, &pings,
		     &pongs, s->counters, NULL);
	if (used < 0)
		return (int)used;
	evbuffer_drain(s->stream, (size_t)used);
	while (pings-- > 0)
		sl_bench_ws_send(out, SL_BENCH_WS_BINARY, "PONG\r\n", 6);
	if (pongs && s->state == SL_BENCH_SUB_SUBSCRIBING)
		sl_bench_sub_ready(s);
	return 0;
}

static int pub_open(struct sl_bench_pub *p)
{
	evbuffer_add_printf(bufferevent_get_output(p->bev), CONNECT_LINE "PING\r\n");
	p->state = SL_BENCH_PUB_HELLO;
	return 0;
}

static int pub_read(struct sl_bench_pub *p)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	int pings = 0, pongs = 0;
	long used;

	used =
	    parse(evbuffer_pullup(in, -1), evbuffer_get_length(in), NULL, &pings, &pongs, NULL, p);
	if (used < 0)
		return (int)used;
	evbuffer_drain(in, (size_t)used);
	while (pings-- > 0)
		evbuffer_add(bufferevent_get_output(p->bev), "PONG\r\n", 6);
	if (pongs && p->state == SL_BENCH_PUB_HELLO)
		p->state = SL_BENCH_PUB_READY;
	return 0;
}

static int pub_write(struct sl_bench_pub *p, uint32_t topic, const uint8_t *payload, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	char name[64];

	if (sl_bench_topic_name(SL_BENCH_NATS, topic, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	evbuffer_add_printf(out, "PUB %s %zu\r\n", name, len);
	evbuffer_add(out, payload, len);
	evbuffer_add(out, "\r\n", 2);
	return 0;
}

const struct sl_bench_proto sl_bench_proto_nats = {
	.name = "nats",
	.sub_open = sub_open,
	.sub_read = sub_read,
	.pub_open = pub_open,
	.pub_read = pub_read,
	.pub_write = pub_write,
};
