// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * net/sse: exact record bytes, the fixed 8-hex chunk size, what the kernel
 * meter's own parser (bpf/frame.h) makes of each record, and a WHATWG-style
 * reader that rebuilds what a browser's EventSource would see.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"

#include "net/sse.h"
#include "tap.h"

/* What the meter says about the chunk at p (it sees at most SL_STASH_BYTES). */
static struct sl_frame meter(const char *p, size_t avail)
{
	uint8_t buf[32] = { 0 };
	struct sl_frame f;

	if (avail > SL_STASH_BYTES)
		avail = SL_STASH_BYTES;
	memcpy(buf, p, avail);
	sl_frame_parse(SL_FRAMING_SSE, buf, (__u32)avail, &f);
	return f;
}

/*
 * Checks one chunk at p: 8 lowercase hex digits, CRLF, the record, CRLF.
 * Sets *record and *record_len; returns the chunk length or 0 when malformed.
 */
static size_t chunk_at(const char *p, size_t avail, const char **record, size_t *record_len)
{
	size_t n = 0, i;

	if (avail < 12)
		return 0;
	for (i = 0; i < 8; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			n = n * 16 + (size_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			n = n * 16 + (size_t)(c - 'a' + 10);
		else
			return 0;
	}
	if (p[8] != '\r' || p[9] != '\n' || avail < 12 + n || p[10 + n] != '\r' ||
	    p[11 + n] != '\n')
		return 0;
	*record = p + 10;
	*record_len = n;
	return 12 + n;
}

struct reader {
	char id[128], event[128], data[4096];
	size_t data_len;
	int comments, dispatched;
};

/*
 * The WHATWG "event stream interpretation" over one record: lines end at
 * CRLF, LF or CR; a leading ':' is a comment; one space after the colon is
 * dropped; data lines are joined with LF; an empty line dispatches.
 */
static void read_record(struct reader *r, const char *s, size_t n)
{
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	while (i < n) {
		size_t start = i, end, colon, vlen;
		const char *value;

		while (i < n && s[i] != '\r' && s[i] != '\n')
			i++;
		end = i;
		if (i < n && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i += 2;
		else if (i < n)
			i++;
		if (end == start) {
			if (r->data_len && r->data[r->data_len - 1] == '\n')
				r->data_len--;
			r->dispatched++;
			continue;
		}
		if (s[start] == ':') {
			r->comments++;
			continue;
		}
		for (colon = start; colon < end && s[colon] != ':'; colon++)
			;
		value = s + colon + 1;
		vlen = colon < end ? end - colon - 1 : 0;
		if (vlen && value[0] == ' ') {
			value++;
			vlen--;
		}
		if (colon - start == 2 && !memcmp(s + start, "id", 2)) {
			memcpy(r->id, value, vlen);
			r->id[vlen] = '\0';
		} else if (colon - start == 5 && !memcmp(s + start, "event", 5)) {
			memcpy(r->event, value, vlen);
			r->event[vlen] = '\0';
		} else if (colon - start == 4 && !memcmp(s + start, "data", 4)) {
			memcpy(r->data + r->data_len, value, vlen);
			r->data_len += vlen;
			r->data[r->data_len++] = '\n';
		}
	}
}

static void test_exact_bytes(void)
{
	static const char want[] = "00000033\r\n"
				   "id: stocks.acme:42\nevent: stocks.acme\ndata: hello\n\n"
				   "\r\n";
	struct sl_sse_buf b = { 0 };
	struct sl_frame f;
	int rc;

	rc = sl_sse_encode_event("stocks.acme", 11, 42, (const uint8_t *)"hello", 5, &b);
	TAP_OK(rc == 0 && b.len == sizeof(want) - 1 && !memcmp(b.data, want, b.len),
	       "event chunk, byte for byte");
	f = meter(b.data, b.len);
	TAP_OK(f.status == SL_PARSE_OK && f.kind == SL_FRAME_EVENT && f.len == b.len,
	       "meter: one event, whole chunk (%u bytes)", f.len);
	sl_sse_buf_fini(&b);
	TAP_OK(b.data == NULL && b.len == 0 && b.cap == 0, "fini leaves an empty buffer");
}

static void check_roundtrip(const char *payload, size_t len, const char *want_data,
			    const char *what)
{
	struct sl_sse_buf b = { 0 };
	const char *rec;
	size_t rec_len, chunk;
	struct reader r;
	struct sl_frame f;
	int rc;

	rc = sl_sse_encode_event("t.x", 3, 7, (const uint8_t *)payload, len, &b);
	chunk = rc ? 0 : chunk_at(b.data, b.len, &rec, &rec_len);
	TAP_OK(chunk == b.len && chunk > 0, "%s: one well-formed chunk", what);
	if (!chunk) {
		sl_sse_buf_fini(&b);
		return;
	}
	read_record(&r, rec, rec_len);
	TAP_OK(r.dispatched == 1 && !strcmp(r.id, "t.x:7") && !strcmp(r.event, "t.x") &&
		   r.data_len == strlen(want_data) && !memcmp(r.data, want_data, r.data_len),
	       "%s: a reader gets the payload back", what);
	f = meter(b.data, b.len);
	TAP_OK(f.kind == SL_FRAME_EVENT && f.len == b.len, "%s: the meter counts one event", what);
	sl_sse_buf_fini(&b);
}

static void test_text(void)
{
	struct sl_sse_buf b = { 0 };
	static const char want_multi[] = "id: t:1\nevent: t\n"
					 "data: l\xc3\xadnea 1\ndata: line 2\ndata: line 3\n"
					 "data: \n\n";
	const char *rec;
	size_t rec_len;

	static const char multi[] = "l\xc3\xadnea 1\nline 2\nline 3\n";

	sl_sse_encode_event("t", 1, 1, (const uint8_t *)multi, sizeof(multi) - 1, &b);
	TAP_OK(chunk_at(b.data, b.len, &rec, &rec_len) == b.len &&
		   rec_len == sizeof(want_multi) - 1 && !memcmp(rec, want_multi, rec_len),
	       "multi-line UTF-8: one data line per LF-ended line");
	sl_sse_buf_fini(&b);

	check_roundtrip("hello", 5, "hello", "plain text");
	check_roundtrip("", 0, "", "empty payload");
	check_roundtrip("a\nb\n", 4, "a\nb\n", "trailing LF kept");
	check_roundtrip("\n\n", 2, "\n\n", "only line breaks");
	check_roundtrip(" lead", 5, " lead", "leading space kept");
	check_roundtrip("data: x", 7, "data: x", "field-like text");
	check_roundtrip("\xe2\x82\xac \xf0\x9d\x84\x9e", 8, "\xe2\x82\xac \xf0\x9d\x84\x9e",
			"multi-byte characters");
	check_roundtrip("{\"px\":1.5}", 10, "{\"px\":1.5}", "JSON");
}

static void test_binary(void)
{
	static const char want[] = "id: b:9\nevent: b\n: sluice-encoding: base64\n"
				   "data: AP/+AQ==\n\n";
	static const uint8_t bin[] = { 0x00, 0xff, 0xfe, 0x01 };
	struct sl_sse_buf b = { 0 };
	const char *rec;
	size_t rec_len;
	struct reader r;

	TAP_OK(sl_sse_encode_event("b", 1, 9, bin, sizeof(bin), &b) == 0 &&
		   chunk_at(b.data, b.len, &rec, &rec_len) == b.len &&
		   rec_len == sizeof(want) - 1 && !memcmp(rec, want, rec_len),
	       "binary payload: base64 comment and one data line");
	read_record(&r, rec, rec_len);
	TAP_OK(r.comments == 1 && r.data_len == 8 && !memcmp(r.data, "AP/+AQ==", 8),
	       "reader sees the comment and the base64 data");
	TAP_OK(meter(b.data, b.len).kind == SL_FRAME_EVENT, "meter: still an event");
	sl_sse_buf_fini(&b);

	TAP_OK(sl_sse_encode_event("b", 1, 1, (const uint8_t *)"a\r\nb\rc", 6, &b) == 0 &&
		   strstr(b.data, "base64\ndata: YQ0KYg1j\n"),
	       "UTF-8 with CRLF or a lone CR goes base64 (a reader would get LF back)");
	sl_sse_buf_fini(&b);
	TAP_OK(sl_sse_encode_event("b", 1, 1, (const uint8_t *)"\r", 1, &b) == 0 &&
		   strstr(b.data, "base64\ndata: DQ==\n"),
	       "a lone CR goes base64");
	sl_sse_buf_fini(&b);
	TAP_OK(sl_sse_encode_event("b", 1, 1, (const uint8_t *)"\xc0\xaf", 2, &b) == 0 &&
		   strstr(b.data, "base64\ndata: wK8=\n"),
	       "overlong UTF-8 goes base64");
	sl_sse_buf_fini(&b);
	TAP_OK(sl_sse_encode_event("b", 1, 1, (const uint8_t *)"ok\xe2\x82", 4, &b) == 0 &&
		   strstr(b.data, "data: b2vigg==\n"),
	       "truncated UTF-8 goes base64");
	sl_sse_buf_fini(&b);
	{
		uint8_t three[3] = { 0xff, 0xff, 0xff }, five[5] = { 0x80, 1, 2, 3, 4 };

		sl_sse_encode_event("b", 1, 1, three, 3, &b);
		TAP_OK(strstr(b.data, "data: ////\n") != NULL, "3 bytes: no padding");
		sl_sse_buf_fini(&b);
		sl_sse_encode_event("b", 1, 1, five, 5, &b);
		TAP_OK(strstr(b.data, "data: gAECAwQ=\n") != NULL, "5 bytes: one pad");
		sl_sse_buf_fini(&b);
	}
}

static void test_sizes(void)
{
	struct sl_sse_buf b = { 0 };
	const char *rec;
	size_t rec_len, off, chunk, n, i;
	char *big = malloc(100000);
	uint8_t *bin = malloc(70000);
	int events = 0, ok = 1;

	memset(big, 'x', 100000);
	for (i = 0; i < 70000; i++)
		bin[i] = (uint8_t)(0x80 + (i & 0x3f)); /* lone continuation bytes: not UTF-8 */
	sl_sse_encode_event("big", 3, 1, (const uint8_t *)big, 100000, &b);
	chunk = chunk_at(b.data, b.len, &rec, &rec_len);
	TAP_OK(chunk == b.len && !memcmp(b.data, "000186bd\r\n", 10),
	       "100000-byte payload: size 0x186bd in 8 digits");
	TAP_OK(meter(b.data, b.len).len == b.len, "meter agrees on the length");
	sl_sse_buf_fini(&b);

	/* Several records appended to one buffer, walked chunk by chunk. */
	sl_sse_encode_event("a", 1, 1, (const uint8_t *)"one", 3, &b);
	sl_sse_encode_comment("hb", &b);
	sl_sse_encode_event("a", 1, 2, bin, 70000, &b);
	sl_sse_encode_notice(SL_SSE_EVENT_GAP, "{\"from\":3}", &b);
	sl_sse_encode_event("a", 1, 3, (const uint8_t *)"", 0, &b);
	n = b.len;
	for (off = 0, i = 0; off < n; i++) {
		struct sl_frame f = meter(b.data + off, n - off);

		chunk = chunk_at(b.data + off, n - off, &rec, &rec_len);
		if (!chunk || f.status != SL_PARSE_OK || f.len != chunk)
			ok = 0;
		if (!chunk)
			break;
		if (f.kind == SL_FRAME_EVENT)
			events++;
		off += chunk;
	}
	TAP_OK(ok && off == n && i == 5, "five appended chunks walk back exactly (%zu)", i);
	TAP_OK(events == 3, "meter: 3 events among them, heartbeat and gap notice are replies");
	sl_sse_buf_fini(&b);
	free(big);
	free(bin);
}

static void test_comment_notice(void)
{
	static const char hb[] = "00000006\r\n: hb\n\n\r\n";
	static const char close_rec[] =
	    "event: sluice.close\n"
	    "data: {\"code\":4002,\"reason\":\"event quota exhausted\"}\n\n";
	struct sl_sse_buf b = { 0 };
	const char *rec;
	size_t rec_len, len;
	struct reader r;
	struct sl_frame f;
	char *taken;

	TAP_OK(sl_sse_encode_comment("hb", &b) == 0 && b.len == sizeof(hb) - 1 &&
		   !memcmp(b.data, hb, b.len),
	       "heartbeat comment chunk");
	f = meter(b.data, b.len);
	TAP_OK(f.kind == SL_FRAME_REPLY && f.len == b.len, "meter: heartbeat is a reply");
	sl_sse_buf_fini(&b);
	TAP_OK(sl_sse_encode_comment("", &b) == 0 && b.len == 15 &&
		   !memcmp(b.data, "00000003\r\n:\n\n\r\n", 15),
	       "empty comment");
	TAP_OK(sl_sse_encode_comment("a\nid: x:1", &b) == -EINVAL && b.len == 15,
	       "comment with LF refused, buffer untouched");
	TAP_OK(sl_sse_encode_comment("a\rb", &b) == -EINVAL, "comment with CR refused");
	sl_sse_buf_fini(&b);

	TAP_OK(sl_sse_encode_notice(SL_SSE_EVENT_CLOSE,
				    "{\"code\":4002,\"reason\":\"event quota exhausted\"}",
				    &b) == 0 &&
		   chunk_at(b.data, b.len, &rec, &rec_len) == b.len &&
		   rec_len == sizeof(close_rec) - 1 && !memcmp(rec, close_rec, rec_len),
	       "sluice.close notice, no id line");
	read_record(&r, rec, rec_len);
	TAP_OK(r.dispatched == 1 && !r.id[0] && !strcmp(r.event, "sluice.close"),
	       "reader: a sluice.close event without an id");
	TAP_OK(meter(b.data, b.len).kind == SL_FRAME_REPLY, "meter: notice is a reply");
	taken = sl_sse_buf_take(&b, &len);
	TAP_OK(taken && len == 10 + rec_len + 2 && b.data == NULL && b.len == 0,
	       "take hands over the bytes");
	free(taken);
	TAP_OK(sl_sse_encode_notice("", "{}", &b) == -EINVAL, "empty event name refused");
	TAP_OK(sl_sse_encode_notice("a\nid: b", "{}", &b) == -EINVAL, "LF in event name refused");
	TAP_OK(sl_sse_encode_notice(SL_SSE_EVENT_GAP, "{\r}", &b) == -EINVAL, "CR in data refused");
	TAP_OK(b.len == 0, "nothing written on refusal");
	sl_sse_buf_fini(&b);

	f = meter(SL_SSE_LAST_CHUNK, strlen(SL_SSE_LAST_CHUNK));
	TAP_OK(f.status == SL_PARSE_OK && f.len == 12 && f.kind == SL_FRAME_REPLY,
	       "last chunk: 12 bytes, a reply to the meter");
}

static void test_bad_topics(void)
{
	struct sl_sse_buf b = { 0 };

	TAP_OK(sl_sse_encode_event("", 0, 1, (const uint8_t *)"x", 1, &b) == -EINVAL,
	       "empty topic refused");
	TAP_OK(sl_sse_encode_event("a\nb", 3, 1, (const uint8_t *)"x", 1, &b) == -EINVAL,
	       "LF in topic refused");
	TAP_OK(sl_sse_encode_event("a\rb", 3, 1, (const uint8_t *)"x", 1, &b) == -EINVAL,
	       "CR in topic refused");
	TAP_OK(sl_sse_encode_event("a\0b", 3, 1, (const uint8_t *)"x", 1, &b) == -EINVAL,
	       "NUL in topic refused");
	TAP_OK(b.len == 0, "nothing written");
	TAP_OK(sl_sse_encode_event("t", 1, UINT64_MAX, (const uint8_t *)"x", 1, &b) == 0 &&
		   !memcmp(b.data + 10, "id: t:18446744073709551615\n", 27),
	       "largest seq");
	TAP_OK(sl_sse_encode_event("t", 1, 1, NULL, 0, &b) == 0, "NULL empty payload");
	sl_sse_buf_fini(&b);
}

static void test_last_event_id(void)
{
	static const struct {
		const char *s;
		const char *topic;
		uint64_t seq;
	} good[] = {
		{ "stocks.acme:42", "stocks.acme", 42 },
		{ "t:0", "t", 0 },
		{ "t:007", "t", 7 },
		{ "t:18446744073709551615", "t", UINT64_MAX },
		{ "tr.x-1.st_2:5", "tr.x-1.st_2", 5 },
	};
	/* The topic part is a topic name: no wildcard, no ':' or space, no empty token. */
	static const char *const bad[] = {
		"",	    "t",
		":",	    "t:",
		":5",	    "t:18446744073709551616",
		"t:-1",	    "t:+1",
		"t: 1",	    "t:1 ",
		"t:1a",	    "t:99999999999999999999",
		"t\x01x:1", "t\x7f:1",
		"a:b:7",    "trains.*.status:5",
		"a.>:1",    "not a topic!:1",
		"a..b:1",
	};
	char topic[16];
	uint64_t seq;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		TAP_OK(sl_sse_parse_last_event_id(good[i].s, strlen(good[i].s), topic,
						  sizeof(topic), &seq) == 0 &&
			   !strcmp(topic, good[i].topic) && seq == good[i].seq,
		       "Last-Event-ID \"%s\"", good[i].s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TAP_OK(sl_sse_parse_last_event_id(bad[i], strlen(bad[i]), topic, sizeof(topic),
						  &seq) == -EINVAL,
		       "Last-Event-ID refused: \"%s\"", bad[i]);
	TAP_OK(sl_sse_parse_last_event_id("abcdefghijklmno:1", 17, topic, 16, &seq) == 0 &&
		   !strcmp(topic, "abcdefghijklmno"),
	       "15-byte topic fits 16");
	TAP_OK(sl_sse_parse_last_event_id("abcdefghijklmnop:1", 18, topic, 16, &seq) == -EINVAL,
	       "16-byte topic does not fit 16");
	TAP_OK(sl_sse_parse_last_event_id("t:12x", 4, topic, 16, &seq) == 0 && seq == 12,
	       "length bounds the value (not NUL)");
}

int main(void)
{
	test_exact_bytes();
	test_text();
	test_binary();
	test_sizes();
	test_comment_notice();
	test_bad_topics();
	test_last_event_id();
	return tap_done();
}
