// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Server-Sent Events (net/sse.c): the Last-Event-ID value a reconnecting
 * EventSource sends back ("<topic>:<seq>"), and the event records that carry
 * publishers' payloads, which three readers must agree on: the chunk framing
 * (RFC 9112 §7.1), the kernel meter (bpf/frame.h sl_parse_sse: one chunk, one
 * record, an event) and a WHATWG EventSource, which must see exactly one
 * event holding the payload (no payload can inject a field or a record).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <linux/types.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"
#include "fuzz.h"
#include "net/sse.h"
#include "net/utf8.h"

static void fuzz_last_event_id(const uint8_t *data, size_t size)
{
	/* Two sizes of topic buffer: the gateway's, and one that is often too small. */
	static const size_t caps[] = { 256, 8 };
	char again[300];
	uint64_t seq, seq2;

	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		char *topic = malloc(caps[k]), *topic2 = malloc(caps[k]);
		size_t tl;
		int n;

		if (!topic || !topic2)
			abort();
		if (sl_sse_parse_last_event_id((const char *)data, size, topic, caps[k], &seq) ==
		    0) {
			tl = strnlen(topic, caps[k]);
			FUZZ_CHECK(tl > 0 && tl < caps[k] && tl < size);
			FUZZ_CHECK(!memcmp(topic, data, tl) && data[tl] == ':');
			for (size_t i = 0; i < tl; i++)
				FUZZ_CHECK((unsigned char)topic[i] >= 0x20 && topic[i] != 0x7f);
			/* What the gateway writes back in id: lines parses to the same values. */
			n = snprintf(again, sizeof(again), "%s:%" PRIu64, topic, seq);
			FUZZ_CHECK(n > 0 && (size_t)n < sizeof(again));
			FUZZ_CHECK(sl_sse_parse_last_event_id(again, (size_t)n, topic2, caps[k],
							      &seq2) == 0);
			FUZZ_CHECK(seq2 == seq && !strcmp(topic, topic2));
		}
		free(topic);
		free(topic2);
	}
}

/*
 * WHATWG HTML §9.2.6 "Interpreting an event stream", for one record: returns
 * the number of events dispatched and the last one's id, event and data.
 */
struct sse_event {
	char id[128], type[128];
	uint8_t *data;
	size_t data_len;
	bool base64;
};

static int interpret(const char *r, size_t n, struct sse_event *ev)
{
	size_t i = 0, data_len = 0;
	int dispatched = 0;
	uint8_t *data = malloc(n + 1);

	if (!data)
		abort();
	ev->id[0] = ev->type[0] = '\0';
	ev->base64 = false;
	while (i < n) {
		size_t s = i, e, colon, v;

		while (i < n && r[i] != '\r' && r[i] != '\n')
			i++;
		/* A line needs its end of line; a record always ends with one. */
		FUZZ_CHECK(i < n);
		e = i;
		i += (r[i] == '\r' && i + 1 < n && r[i + 1] == '\n') ? 2 : 1;
		if (e == s) {
			if (data_len) {
				dispatched++;
				ev->data_len = data_len - 1; /* the last LF is removed */
			}
			data_len = 0;
			continue;
		}
		if (r[s] == ':') {
			if (e - s == sizeof(": sluice-encoding: base64") - 1 &&
			    !memcmp(r + s, ": sluice-encoding: base64", e - s))
				ev->base64 = true;
			continue;
		}
		colon = s;
		while (colon < e && r[colon] != ':')
			colon++;
		v = colon < e ? colon + 1 : e;
		if (v < e && r[v] == ' ')
			v++;
		if (colon - s == 4 && !memcmp(r + s, "data", 4)) {
			memcpy(data + data_len, r + v, e - v);
			data_len += e - v;
			data[data_len++] = '\n';
		} else if (colon - s == 2 && !memcmp(r + s, "id", 2)) {
			FUZZ_CHECK(e - v < sizeof(ev->id));
			memcpy(ev->id, r + v, e - v);
			ev->id[e - v] = '\0';
		} else if (colon - s == 5 && !memcmp(r + s, "event", 5)) {
			FUZZ_CHECK(e - v < sizeof(ev->type));
			memcpy(ev->type, r + v, e - v);
			ev->type[e - v] = '\0';
		} else {
			FUZZ_CHECK(0); /* the encoder writes no other field */
		}
	}
	ev->data = data;
	return dispatched;
}

static void fuzz_event(const uint8_t *payload, size_t len, uint64_t seq)
{
	struct sl_sse_buf out = { 0 };
	struct sl_frame f;
	struct sse_event ev;
	uint8_t head[SL_STASH_BYTES] = { 0 }, *want;
	char id[64];
	size_t record = 0;

	FUZZ_CHECK(sl_sse_encode_event("stocks.nyse", 11, seq, payload, len, &out) == 0);
	/* The chunk: 8 hex digits, CRLF, the record, CRLF. */
	FUZZ_CHECK(out.len >= SL_SSE_CHUNK_HEADER_LEN + SL_SSE_CHUNK_TRAILER_LEN);
	for (int i = 0; i < 8; i++) {
		char c = out.data[i];

		FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		record = record << 4 | (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	FUZZ_CHECK(out.data[8] == '\r' && out.data[9] == '\n');
	FUZZ_CHECK(out.len == SL_SSE_CHUNK_HEADER_LEN + record + SL_SSE_CHUNK_TRAILER_LEN);
	FUZZ_CHECK(!memcmp(out.data + out.len - 2, "\r\n", 2));

	/* The meter sees one event frame of exactly that length. */
	memcpy(head, out.data, out.len < sizeof(head) ? out.len : sizeof(head));
	sl_frame_parse(SL_FRAMING_SSE, head, out.len < sizeof(head) ? out.len : sizeof(head), &f);
	FUZZ_CHECK(f.status == SL_PARSE_OK && f.len == out.len && f.kind == SL_FRAME_EVENT);

	/* An EventSource dispatches exactly one event, with our id, type and payload. */
	FUZZ_CHECK(interpret(out.data + SL_SSE_CHUNK_HEADER_LEN, record, &ev) == 1);
	snprintf(id, sizeof(id), "stocks.nyse:%" PRIu64, seq);
	FUZZ_CHECK(!strcmp(ev.id, id) && !strcmp(ev.type, "stocks.nyse"));
	want = malloc(len / 3 * 4 + 8);
	if (!want)
		abort();
	/* Text only when a reader gets the very bytes back: UTF-8 without a CR. */
	if (sl_utf8_valid(payload, len) && !memchr(payload, '\r', len)) {
		FUZZ_CHECK(!ev.base64);
		FUZZ_CHECK(ev.data_len == len && !memcmp(ev.data, payload, len));
	} else {
		word32 n = (word32)(len / 3 * 4 + 8);

		FUZZ_CHECK(ev.base64);
		FUZZ_CHECK(Base64_Decode(ev.data, (word32)ev.data_len, want, &n) == 0);
		FUZZ_CHECK(n == len && !memcmp(want, payload, len));
	}
	free(want);
	free(ev.data);
	sl_sse_buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_last_event_id(data, size);
	fuzz_event(data, size, size * 7919);
	return 0;
}
