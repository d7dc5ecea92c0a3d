// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "bench/proto_nchan.h"
#include "bench/ws_client.h"

static int ws_message(void *arg, const uint8_t *payload, size_t len)
{
	sl_bench_sub_deliver(arg, payload, len);
	return 0;
}

static int sub_open(struct sl_bench_sub *s)
{
	char path[80], name[64];

	if (sl_bench_topic_name(SL_BENCH_NCHAN, s->topic, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "/sub/%s", name);
	sl_bench_ws_request(bufferevent_get_output(s->bev), s->target->host, s->target->sub_port,
			    path, NULL);
	s->state = SL_BENCH_SUB_HANDSHAKE;
	return 0;
}

static int sub_read(struct sl_bench_sub *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	int rc, status;

	if (s->state == SL_BENCH_SUB_HANDSHAKE) {
		rc = sl_bench_http_head(in, &status);
		if (rc <= 0)
			return rc;
		if (status != 101)
			return -EPROTO;
		/* Nchan subscribes a WebSocket to its channel at the upgrade. */
		sl_bench_sub_ready(s);
	}
	return sl_bench_ws_read(in, bufferevent_get_output(s->bev), s->target->max_frame,
				ws_message, s);
}

static int pub_open(struct sl_bench_pub *p)
{
	p->state = SL_BENCH_PUB_READY;
	return 0;
}

/* Consumes complete answers (head + Content-Length body), one per request sent. */
static int pub_read(struct sl_bench_pub *p)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	struct evbuffer_ptr end;
	const char *head, *cl;
	size_t hlen, body;
	int status;

	for (;;) {
		end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (end.pos < 0)
			return evbuffer_get_length(in) > 16384 ? -EPROTO : 0;
		hlen = (size_t)end.pos + 4;
		head = (const char *)evbuffer_pullup(in, (ssize_t)hlen);
		if (strncmp(head, "HTTP/1.", 7) || sscanf(head + 8, " %d", &status) != 1)
			return -EPROTO;
		body = 0;
		cl = strcasestr(head, "\r\ncontent-length:");
		if (cl && cl < head + hlen)
			body = strtoul(cl + 17, NULL, 10);
		if (evbuffer_get_length(in) < hlen + body)
			return 0;
		if (status >= 300) {
			p->errors++;
			if (!p->error[0])
				snprintf(p->error, sizeof(p->error), "nchan publish: HTTP %d",
					 status);
		}
		evbuffer_drain(in, hlen + body);
		if (p->inflight)
			p->inflight--;
	}
}

static int pub_write(struct sl_bench_pub *p, uint32_t topic, const uint8_t *payload, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	char name[64];

	if (p->inflight >= p->max_inflight)
		return -EAGAIN;
	if (sl_bench_topic_name(SL_BENCH_NCHAN, topic, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	evbuffer_add_printf(out,
			    "POST /pub/%s HTTP/1.1\r\nHost: %s:%u\r\nContent-Length: %zu\r\n"
			    "Content-Type: application/octet-stream\r\n\r\n",
			    name, p->target->host, p->target->pub_port, len);
	evbuffer_add(out, payload, len);
	p->inflight++;
	return 0;
}

const struct sl_bench_proto sl_bench_proto_nchan = {
	.name = "nchan",
	.sub_open = sub_open,
	.sub_read = sub_read,
	.pub_open = pub_open,
	.pub_read = pub_read,
	.pub_write = pub_write,
};
