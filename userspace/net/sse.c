// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "net/sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

#include "net/utf8.h"
#include "route/topic.h"

/* Written before the base64 data line of a payload that is not UTF-8 (SPEC). */
#define BASE64_COMMENT ": sluice-encoding: base64\n"

void sl_sse_buf_fini(struct sl_sse_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

char *sl_sse_buf_take(struct sl_sse_buf *b, size_t *len)
{
	char *data = b->data;

	*len = b->len;
	memset(b, 0, sizeof(*b));
	return data;
}

/* Makes room for extra more bytes (plus one spare byte for a NUL some writers add). */
static int reserve(struct sl_sse_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 256;
	char *p;

	if (need < b->len)
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static void put(struct sl_sse_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_str(struct sl_sse_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* "%08x\r\n": callers keep record_len <= SL_SSE_MAX_RECORD, so 8 digits always suffice. */
static void put_chunk_header(struct sl_sse_buf *b, size_t record_len)
{
	static const char hex[] = "0123456789abcdef";
	char *p = b->data + b->len;
	int i;

	for (i = 0; i < 8; i++)
		p[i] = hex[(record_len >> (28 - 4 * i)) & 0xf];
	p[8] = '\r';
	p[9] = '\n';
	b->len += SL_SSE_CHUNK_HEADER_LEN;
}

static bool has_line_break(const char *s, size_t n)
{
	return memchr(s, '\r', n) || memchr(s, '\n', n);
}

/*
 * Returns the end of the line starting at i and sets *next past its LF (or
 * to n + 1 for the last line). Text payloads hold no CR (see text below).
 */
static size_t line_end(const uint8_t *d, size_t n, size_t i, size_t *next)
{
	const uint8_t *lf = i < n ? memchr(d + i, '\n', n - i) : NULL;
	size_t e = lf ? (size_t)(lf - d) : n;

	*next = e + 1;
	return e;
}

/* Bytes of the `data:` lines for a UTF-8 payload: one line even when empty. */
static size_t text_data_len(const uint8_t *d, size_t n)
{
	size_t total = 0, i = 0, e, next;

	while (i <= n) {
		e = line_end(d, n, i, &next);
		total += sizeof("data: ") - 1 + (e - i) + 1;
		i = next;
	}
	return total;
}

static void put_text_data(struct sl_sse_buf *b, const uint8_t *d, size_t n)
{
	size_t i = 0, e, next;

	while (i <= n) {
		e = line_end(d, n, i, &next);
		put_str(b, "data: ");
		put(b, d + i, e - i);
		put(b, "\n", 1);
		i = next;
	}
}

int sl_sse_encode_event(const char *topic, size_t topic_len, uint64_t seq, const uint8_t *data,
			size_t len, struct sl_sse_buf *out)
{
	size_t record, data_len, b64_len = 0, start = out->len;
	char seq_text[24];
	bool text;
	int seq_len, rc;

	if (!topic_len || has_line_break(topic, topic_len) || memchr(topic, '\0', topic_len))
		return -EINVAL;
	if (len > SL_SSE_MAX_RECORD || topic_len > SL_SSE_MAX_RECORD)
		return -E2BIG;
	if (!data)
		data = (const uint8_t *)"";
	seq_len = snprintf(seq_text, sizeof(seq_text), "%llu", (unsigned long long)seq);

	/*
	 * A reader's parser (WHATWG) ends a line at CRLF, LF or a lone CR and
	 * joins data lines with LF, so only LF survives a data line: a payload
	 * with a CR goes base64 to arrive as published.
	 */
	text = !memchr(data, '\r', len) && sl_utf8_valid(data, len);
	if (text) {
		data_len = text_data_len(data, len);
	} else {
		b64_len = (len + 2) / 3 * 4;
		data_len = sizeof(BASE64_COMMENT) - 1 + sizeof("data: ") - 1 + b64_len + 1;
	}
	record = sizeof("id: ") - 1 + topic_len + 1 + (size_t)seq_len + 1 + sizeof("event: ") - 1 +
		 topic_len + 1 + data_len + 1;
	if (record > SL_SSE_MAX_RECORD)
		return -E2BIG;
	rc = reserve(out, SL_SSE_CHUNK_HEADER_LEN + record + SL_SSE_CHUNK_TRAILER_LEN);
	if (rc)
		return rc;

	put_chunk_header(out, record);
	/* The kernel meter counts this record as an event because it starts with "id:". */
	put_str(out, "id: ");
	put(out, topic, topic_len);
	put(out, ":", 1);
	put(out, seq_text, (size_t)seq_len);
	put_str(out, "\nevent: ");
	put(out, topic, topic_len);
	put(out, "\n", 1);
	if (text) {
		put_text_data(out, data, len);
	} else {
		/* reserve() left one spare byte for the NUL wolfSSL may add. */
		word32 outlen = (word32)b64_len + 1;

		put_str(out, BASE64_COMMENT);
		put_str(out, "data: ");
		if (Base64_Encode_NoNl(data, (word32)len, (byte *)out->data + out->len, &outlen) ||
		    outlen != b64_len) {
			out->len = start;
			return -EIO;
		}
		out->len += b64_len;
		put(out, "\n", 1);
	}
	/* An empty line dispatches the event. */
	put_str(out, "\n\r\n");
	return 0;
}

int sl_sse_encode_comment(const char *text, struct sl_sse_buf *out)
{
	size_t n = text ? strlen(text) : 0, record;
	int rc;

	if (n && has_line_break(text, n))
		return -EINVAL;
	if (n > SL_SSE_MAX_RECORD)
		return -E2BIG;
	record = (n ? 2 + n : 1) + 2;
	rc = reserve(out, SL_SSE_CHUNK_HEADER_LEN + record + SL_SSE_CHUNK_TRAILER_LEN);
	if (rc)
		return rc;
	put_chunk_header(out, record);
	/* Starts with ':' so the meter sees a reply, never an event. */
	if (n) {
		put_str(out, ": ");
		put(out, text, n);
	} else {
		put(out, ":", 1);
	}
	put_str(out, "\n\n\r\n");
	return 0;
}

int sl_sse_encode_notice(const char *event_name, const char *json_data, struct sl_sse_buf *out)
{
	size_t name_len = event_name ? strlen(event_name) : 0;
	size_t json_len = json_data ? strlen(json_data) : 0, record;
	int rc;

	if (!name_len || has_line_break(event_name, name_len) ||
	    (json_len && has_line_break(json_data, json_len)))
		return -EINVAL;
	if (name_len > SL_SSE_MAX_RECORD / 2 || json_len > SL_SSE_MAX_RECORD / 2)
		return -E2BIG;
	record = sizeof("event: ") - 1 + name_len + 1 + sizeof("data: ") - 1 + json_len + 2;
	rc = reserve(out, SL_SSE_CHUNK_HEADER_LEN + record + SL_SSE_CHUNK_TRAILER_LEN);
	if (rc)
		return rc;
	put_chunk_header(out, record);
	/* No id line: a notice is a reply to the meter and does not move Last-Event-ID. */
	put_str(out, "event: ");
	put(out, event_name, name_len);
	put_str(out, "\ndata: ");
	put(out, json_data, json_len);
	put_str(out, "\n\n\r\n");
	return 0;
}

int sl_sse_parse_last_event_id(const char *s, size_t len, char *topic, size_t topic_cap,
			       uint64_t *seq)
{
	const char *colon = NULL;
	uint64_t v = 0;
	size_t i, topic_len;

	for (i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
	}
	if (!colon || colon == s || colon == s + len - 1)
		return -EINVAL;
	topic_len = (size_t)(colon - s);
	/* An event's id names a topic, never a pattern: `z.*:1` is no reference, not a gap. */
	if (sl_topic_validate(s, topic_len, false, NULL))
		return -EINVAL;
	for (i = topic_len + 1; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (topic_len + 1 > topic_cap)
		return -EINVAL;
	memcpy(topic, s, topic_len);
	topic[topic_len] = '\0';
	*seq = v;
	return 0;
}
