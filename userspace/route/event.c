// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "net/sse.h"
#include "net/ws.h"
#include "proto/envelope.h"
#include "route/event.h"

struct sl_event *sl_event_new(const char *topic, size_t topic_len, const void *data, size_t len,
			      uint64_t seq, uint64_t gseq, uint64_t ts_ns)
{
	struct sl_event *ev = malloc(sizeof(*ev) + (len ? len : 1));

	if (!ev)
		return NULL;
	memset(ev, 0, sizeof(*ev));
	ev->refs = 1;
	ev->topic = topic;
	ev->topic_len = (uint32_t)topic_len;
	ev->seq = seq;
	ev->gseq = gseq;
	ev->ts_ns = ts_ns;
	ev->len = len;
	if (len)
		memcpy(ev->data, data, len);
	return ev;
}

void sl_event_unref(struct sl_event *ev)
{
	int i;

	if (!ev || --ev->refs)
		return;
	for (i = 0; i < SL_ENC__MAX; i++)
		free(ev->enc[i].data);
	free(ev);
}

/* The `ev` map behind a transport header: WS frame header or 4-byte length. */
static int encode_framed(struct sl_event *ev, struct sl_bytes *out, int ws)
{
	uint8_t hdr[SL_WS_MAX_SERVER_HEADER];
	msgpack_sbuffer sb;
	size_t hl;
	int ret = -1;

	msgpack_sbuffer_init(&sb);
	if (sl_envelope_encode_ev(&sb, ev->topic, ev->topic_len, ev->seq, ev->ts_ns, ev->data,
				  ev->len))
		goto out;
	if (ws) {
		hl = sl_ws_frame_header(hdr, SL_WS_OP_BINARY, true, sb.size);
	} else {
		hdr[0] = (uint8_t)(sb.size >> 24);
		hdr[1] = (uint8_t)(sb.size >> 16);
		hdr[2] = (uint8_t)(sb.size >> 8);
		hdr[3] = (uint8_t)sb.size;
		hl = 4;
	}
	out->data = malloc(hl + sb.size);
	if (!out->data)
		goto out;
	memcpy(out->data, hdr, hl);
	memcpy(out->data + hl, sb.data, sb.size);
	out->len = hl + sb.size;
	ret = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

const struct sl_bytes *sl_event_encoding(struct sl_event *ev, enum sl_encoding enc)
{
	struct sl_bytes *b = &ev->enc[enc];
	struct sl_sse_buf sse = { 0 };

	if (b->data)
		return b;
	switch (enc) {
	case SL_ENC_WS:
		encode_framed(ev, b, 1);
		break;
	case SL_ENC_NATIVE:
		encode_framed(ev, b, 0);
		break;
	case SL_ENC_SSE:
		if (sl_sse_encode_event(ev->topic, ev->topic_len, ev->seq, ev->data, ev->len,
					&sse) == 0)
			b->data = (uint8_t *)sl_sse_buf_take(&sse, &b->len);
		sl_sse_buf_fini(&sse);
		break;
	default:
		break;
	}
	return b->data ? b : NULL;
}
