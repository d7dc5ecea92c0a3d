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

#define ENC_BLOCK_MIN (4 * 1024)
#define ENC_BLOCK_MAX (64 * 1024)
#define NS_PER_S 1000000000ull

static void block_unref(struct sl_enc_block *b)
{
	if (b && !--b->refs) {
		free(b->entries);
		free(b);
	}
}

void sl_enc_arena_fini(struct sl_enc_arena *a)
{
	int i;

	for (i = 0; i < SL_ENC__MAX; i++) {
		block_unref(a->open[i]);
		a->open[i] = NULL;
	}
}

/*
 * A block filled within a second is followed by one twice its size, one
 * that took longer by one half its size: a busy topic's runs of queued
 * events stay long, a quiet topic's blocks small.
 */
static uint32_t next_block_size(const struct sl_enc_block *full, uint64_t now_ns)
{
	uint32_t size;

	if (!full)
		return ENC_BLOCK_MIN;
	if (now_ns - full->opened_ns < NS_PER_S)
		size = full->size * 2;
	else
		size = full->size / 2;
	return size < ENC_BLOCK_MIN ? ENC_BLOCK_MIN : size > ENC_BLOCK_MAX ? ENC_BLOCK_MAX : size;
}

/* Room for an encoding of len bytes, right after the previous one when it fits. */
static uint8_t *enc_alloc(struct sl_event *ev, enum sl_encoding enc, size_t len)
{
	struct sl_enc_arena *a = ev->arena;
	struct sl_enc_block *b;
	uint32_t size;

	if (!a || len > ENC_BLOCK_MAX)
		return malloc(len ? len : 1);
	b = a->open[enc];
	if (!b || b->size - b->used < len) {
		size = next_block_size(b, ev->ts_ns);
		if (size < len)
			size = ENC_BLOCK_MAX;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		memset(b, 0, sizeof(*b));
		b->refs = 1;
		b->size = size;
		b->opened_ns = ev->ts_ns;
		block_unref(a->open[enc]);
		a->open[enc] = b;
	}
	if (b->count == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		struct sl_enc_entry *entries = realloc(b->entries, cap * sizeof(*entries));

		if (!entries)
			return NULL;
		b->entries = entries;
		b->cap = cap;
	}
	b->entries[b->count].ev = ev;
	b->entries[b->count].len = (uint32_t)len;
	ev->block_index[enc] = b->count++;
	b->refs++;
	ev->block[enc] = b;
	b->used += (uint32_t)len;
	return b->data + b->used - len;
}

void sl_event_source_unref(struct sl_event_source *src)
{
	if (src && !--src->refs)
		free(src);
}

void sl_event_unref(struct sl_event *ev)
{
	int i;

	if (!ev || --ev->refs)
		return;
	if (ev->counters)
		ev->counters->alive--;
	sl_event_source_unref(ev->source);
	for (i = 0; i < SL_ENC__MAX; i++) {
		if (ev->block[i])
			block_unref(ev->block[i]);
		else
			free(ev->enc[i].data);
	}
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
	out->data = enc_alloc(ev, ws ? SL_ENC_WS : SL_ENC_NATIVE, hl + sb.size);
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

const struct sl_bytes *sl_event_encode(struct sl_event *ev, enum sl_encoding enc)
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
					&sse) == 0 &&
		    (b->data = enc_alloc(ev, SL_ENC_SSE, sse.len))) {
			memcpy(b->data, sse.data, sse.len);
			b->len = sse.len;
		}
		sl_sse_buf_fini(&sse);
		break;
	default:
		break;
	}
	return b->data ? b : NULL;
}
