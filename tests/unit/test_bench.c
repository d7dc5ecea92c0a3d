// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluice-bench's pure logic (userspace/bench): the latency histogram's
 * quantiles, the payload format and the per-subscriber loss and duplicate
 * accounting, and the WebSocket client's frame reader (server frames in, a
 * masked pong out). No network.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "bench/args.h"
#include "bench/conn.h"
#include "bench/hist.h"
#include "bench/ws_client.h"
#include "tap.h"

static void test_hist(void)
{
	struct sl_bench_hist *h = calloc(1, sizeof(*h));
	uint64_t v, q;
	int ok = 1;

	TAP_OK(sl_bench_hist_quantile(h, 0.5) == 0, "an empty histogram has quantile 0");
	for (v = 1; v <= 100000; v++)
		sl_bench_hist_add(h, v * 1000);
	TAP_OK(h->count == 100000 && h->max == 100000000ull, "count and exact max");
	q = sl_bench_hist_quantile(h, 0.5);
	TAP_OK(q > 50000000ull * 94 / 100 && q < 50000000ull * 106 / 100,
	       "p50 within 6%% of 50 ms: %llu", (unsigned long long)q);
	q = sl_bench_hist_quantile(h, 0.99);
	TAP_OK(q > 99000000ull * 94 / 100 && q <= 100000000ull, "p99 within 6%% and <= max: %llu",
	       (unsigned long long)q);
	memset(h, 0, sizeof(*h));
	for (v = 0; v < 16; v++)
		sl_bench_hist_add(h, v);
	for (v = 0; v < 16; v++)
		ok &= h->bucket[v] == 1;
	TAP_OK(ok, "values below 16 have a bucket each");
	sl_bench_hist_add(h, UINT64_MAX);
	TAP_OK(h->bucket[SL_BENCH_HIST_BUCKETS - 1] == 1,
	       "the largest value lands in the last bucket");
	free(h);
}

static void test_payload_and_accounting(void)
{
	struct sl_bench_counters *c = calloc(1, sizeof(*c));
	struct sl_bench_sub s = { .counters = c };
	uint8_t p[64];
	char name[32];

	sl_bench_payload_fill(p, sizeof(p), 0x0123456789abcdefull, 1);
	TAP_OK(!memcmp(p, "T0123456789abcdefS0000000000000001..", 36), "payload format");
	sl_bench_payload_fill(p, sizeof(p), sl_bench_now_ns(), 1);
	sl_bench_sub_deliver(&s, p, sizeof(p));
	sl_bench_payload_fill(p, sizeof(p), sl_bench_now_ns(), 2);
	sl_bench_sub_deliver(&s, p, sizeof(p));
	sl_bench_sub_deliver(&s, p, sizeof(p));
	sl_bench_payload_fill(p, sizeof(p), sl_bench_now_ns(), 5);
	sl_bench_sub_deliver(&s, p, sizeof(p));
	TAP_OK(c->delivered == 4 && c->duplicates == 1 && c->gaps == 2 && s.last_seq == 5,
	       "1, 2, 2, 5: 4 delivered, 1 duplicate, a gap of 2 (got %llu %llu %llu)",
	       (unsigned long long)c->delivered, (unsigned long long)c->duplicates,
	       (unsigned long long)c->gaps);
	sl_bench_sub_deliver(&s, (const uint8_t *)"hello", 5);
	p[17] = 'X';
	sl_bench_sub_deliver(&s, p, sizeof(p));
	TAP_OK(c->bad == 2 && c->delivered == 4, "foreign payloads count as bad, not delivered");
	s.flags = SL_BENCH_SUB_SLOW;
	sl_bench_payload_fill(p, sizeof(p), sl_bench_now_ns(), 6);
	sl_bench_sub_deliver(&s, p, sizeof(p));
	TAP_OK(c->delivered == 4, "slow subscribers are not measured");
	TAP_OK(c->hist.count == 4, "one latency sample per delivery");
	sl_bench_topic_name(SL_BENCH_MQTT, 7, name, sizeof(name));
	TAP_OK(!strcmp(name, "bench/t7"), "MQTT topic names use /");
	sl_bench_topic_name(SL_BENCH_NATS, 7, name, sizeof(name));
	TAP_OK(!strcmp(name, "bench.t7"), "NATS subjects use .");
	TAP_OK(sl_bench_proto_find("mosquitto") && sl_bench_proto_find("nchan") &&
		   sl_bench_proto_find("nats") && sl_bench_proto_find("sluice") &&
		   !sl_bench_proto_find("kafka"),
	       "the adapter table");
	free(c);
}

/* The plain digit-by-digit reading sl_bench_get_hex16 must agree with. */
static uint64_t hex16_reference(const uint8_t *p)
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

static void test_hex16(void)
{
	static const char digits[] = "0123456789abcdef";
	uint64_t seed = 0x9e3779b97f4a7c15ull, got, want;
	unsigned pos, byte, i, wrong = 0, invalid = 0;
	uint8_t p[17];

	/* Every byte value at every position, in otherwise random digits. */
	for (pos = 0; pos < 16; pos++) {
		for (byte = 0; byte < 256; byte++) {
			for (i = 0; i < 16; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				p[i] = (uint8_t)digits[seed >> 60];
			}
			p[pos] = (uint8_t)byte;
			got = sl_bench_get_hex16(p);
			want = hex16_reference(p);
			wrong += got != want;
			invalid += !memchr(digits, byte, 16) && got == UINT64_MAX;
		}
	}
	TAP_OK(!wrong, "every byte at every position reads as digit by digit (%u differ)", wrong);
	TAP_OK(invalid == 16 * (256 - 16),
	       "each of the 240 non-digits is refused at each position (%u)", invalid);
	/* Random values round-trip through the payload writer. */
	for (i = 0, wrong = 0; i < 100000; i++) {
		uint8_t payload[SL_BENCH_PAYLOAD_MIN];

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		sl_bench_payload_fill(payload, sizeof(payload), seed, ~seed);
		wrong += sl_bench_get_hex16(payload + 1) != seed ||
			 sl_bench_get_hex16(payload + 18) != ~seed;
	}
	TAP_OK(!wrong, "100,000 random timestamps and sequence numbers read back (%u differ)",
	       wrong);
	memcpy(p, "0123456789ABCDEF", 16);
	TAP_OK(sl_bench_get_hex16(p) == UINT64_MAX, "uppercase digits are refused");
}

static int messages;
static size_t last_len;

static int on_message(void *arg, const uint8_t *payload, size_t len)
{
	(void)arg;
	(void)payload;
	messages++;
	last_len = len;
	return 0;
}

static void test_ws(void)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	uint8_t big[4 + 300], frame[16], pong[16];
	int status = 0, rc;

	evbuffer_add_printf(in, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
	TAP_OK(sl_bench_http_head(in, &status) == 0, "a partial head needs more bytes");
	evbuffer_add_printf(in, "\r\n");
	TAP_OK(sl_bench_http_head(in, &status) == 1 && status == 101 &&
		   evbuffer_get_length(in) == 0,
	       "the 101 head is consumed");

	evbuffer_add(in,
		     "\x82\x03"
		     "abc",
		     5);
	memset(big, 'x', sizeof(big));
	big[0] = 0x82;
	big[1] = 126;
	big[2] = 300 >> 8;
	big[3] = 300 & 0xff;
	evbuffer_add(in, big, 3); /* a partial second frame */
	rc = sl_bench_ws_read(in, out, 1 << 20, on_message, NULL);
	TAP_OK(rc == 0 && messages == 1 && last_len == 3 && evbuffer_get_length(in) == 3,
	       "one whole frame read, the partial one kept");
	evbuffer_add(in, big + 3, sizeof(big) - 3);
	evbuffer_add(in, "\x89\x02hi", 4); /* ping */
	rc = sl_bench_ws_read(in, out, 1 << 20, on_message, NULL);
	TAP_OK(rc == 0 && messages == 2 && last_len == 300, "16-bit length frame");
	TAP_OK(evbuffer_get_length(out) == 8, "the ping is answered with a masked pong");
	evbuffer_remove(out, pong, 8);
	TAP_OK(pong[0] == 0x8a && pong[1] == 0x82 && (pong[6] ^ pong[2]) == 'h' &&
		   (pong[7] ^ pong[3]) == 'i',
	       "pong: FIN, opcode 10, mask bit, payload echoed");
	frame[0] = 0x82;
	frame[1] = 0x81; /* masked: servers must not mask (RFC 6455 §5.1) */
	evbuffer_add(in, frame, 2 + 4 + 1);
	TAP_OK(sl_bench_ws_read(in, out, 1 << 20, on_message, NULL) < 0,
	       "a masked server frame fails");
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_add(in, "\x88\x00", 2);
	TAP_OK(sl_bench_ws_read(in, out, 1 << 20, on_message, NULL) < 0,
	       "a close frame ends the read");
	evbuffer_free(in);
	evbuffer_free(out);
}

/* Each frame's payload is its index repeated; counts the frames that are whole and in order. */
static int on_indexed(void *arg, const uint8_t *payload, size_t len)
{
	unsigned *next = arg;
	size_t i;

	for (i = 0; i < len; i++)
		if (payload[i] != (uint8_t)*next)
			return -EBADMSG;
	(*next)++;
	return 0;
}

static void free_piece(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void test_ws_pieces(void)
{
	static const size_t cuts[] = { 1, 2, 3, 150, 151, 700, 1203, 1204, 1205, 2900 };
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	uint8_t stream[4096], *piece;
	size_t n = 0, at = 0, len, i;
	unsigned frames = 0, next = 0;
	int rc = 0;

	/* 7-bit and 16-bit lengths, empty frames, and headers cut in two below. */
	while (frames < 40) {
		len = (frames * 37) % 290;
		if (n + 4 + len > sizeof(stream))
			break;
		stream[n++] = 0x82;
		if (len < 126) {
			stream[n++] = (uint8_t)len;
		} else {
			stream[n++] = 126;
			stream[n++] = (uint8_t)(len >> 8);
			stream[n++] = (uint8_t)len;
		}
		memset(stream + n, frames, len);
		n += len;
		frames++;
	}
	/*
	 * References are pieces libevent never merges, so frames straddle them;
	 * each its own allocation, so reading past one is not the next one.
	 */
	for (i = 0; i <= sizeof(cuts) / sizeof(cuts[0]) && !rc; i++) {
		size_t end = i < sizeof(cuts) / sizeof(cuts[0]) && cuts[i] < n ? cuts[i] : n;

		if (end <= at)
			continue;
		piece = malloc(end - at);
		memcpy(piece, stream + at, end - at);
		evbuffer_add_reference(in, piece, end - at, free_piece, NULL);
		at = end;
		rc = sl_bench_ws_read(in, out, 1 << 20, on_indexed, &next);
	}
	TAP_OK(rc == 0 && next == frames && evbuffer_get_length(in) == 0,
	       "%u frames over %zu pieces, headers and payloads cut, read whole and in order (%u, "
	       "rc %d)",
	       frames, sizeof(cuts) / sizeof(cuts[0]) + 1, next, rc);
	evbuffer_free(in);
	evbuffer_free(out);
}

static void test_parse_uint(void)
{
	static const struct {
		const char *text;
		unsigned min, max;
		int ret;
		unsigned value;
	} cases[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "007", 1, 10, 0, 7 },
		{ "4294967295", 0, 4294967295u, 0, 4294967295u },
		{ "11", 0, 10, -EINVAL, 0 },
		{ "0", 1, 10, -EINVAL, 0 },
		{ "", 0, 10, -EINVAL, 0 },
		{ "-1", 0, 4294967295u, -EINVAL, 0 },
		{ "+5", 0, 10, -EINVAL, 0 },
		{ " 5", 0, 10, -EINVAL, 0 },
		{ "5 ", 0, 10, -EINVAL, 0 },
		{ "5s", 0, 10, -EINVAL, 0 },
		{ "1e3", 0, 10000, -EINVAL, 0 },
		{ "0x10", 0, 100, -EINVAL, 0 },
		{ "4294967296", 0, 4294967295u, -EINVAL, 0 },
		{ "99999999999999999999999", 0, 4294967295u, -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned v = 12345;
		int ret = sl_bench_parse_uint(cases[i].text, cases[i].min, cases[i].max, &v);

		if (cases[i].ret)
			TAP_OK(ret == cases[i].ret && v == 12345,
			       "\"%s\" in %u..%u is a usage error, the value untouched (%d, %u)",
			       cases[i].text, cases[i].min, cases[i].max, ret, v);
		else
			TAP_OK(!ret && v == cases[i].value, "\"%s\" in %u..%u is %u (%d, %u)",
			       cases[i].text, cases[i].min, cases[i].max, cases[i].value, ret, v);
	}
}

/* A byte stream carried in WebSocket messages (MQTT, NATS) comes out whole, a ping answered. */
static void test_ws_stream(void)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new(), *stream = evbuffer_new();
	char got[32] = "";
	int rc;

	/* "PING\r\nMSG a 1 2" as one message in two fragments, a ping between them (§5.4). */
	evbuffer_add(in, "\x02\x09PING\r\nMSG", 11);
	evbuffer_add(in, "\x89\x00", 2);
	evbuffer_add(in, "\x80\x06 a 1 2", 8);
	rc = sl_bench_ws_read_stream(in, out, 1 << 20, stream);
	evbuffer_remove(stream, got, sizeof(got) - 1);
	TAP_OK(rc == 0 && !strcmp(got, "PING\r\nMSG a 1 2") && !evbuffer_get_length(in),
	       "the fragments' payloads are one stream, in order (%d, %zu bytes)", rc, strlen(got));
	TAP_OK(evbuffer_get_length(out) == 6, "the ping between them was answered (%zu bytes)",
	       evbuffer_get_length(out));
	evbuffer_add(in, "\x82\x03MS", 4);
	rc = sl_bench_ws_read_stream(in, out, 1 << 20, stream);
	TAP_OK(rc == 0 && !evbuffer_get_length(stream) && evbuffer_get_length(in) == 4,
	       "a message not yet whole adds nothing and waits (%d)", rc);
	evbuffer_add(in, "G", 1);
	rc = sl_bench_ws_read_stream(in, out, 1 << 20, stream);
	TAP_OK(rc == 0 && evbuffer_get_length(stream) == 3, "then it is appended (%d)", rc);
	evbuffer_add(in, "\x82\x7e\x01\x00", 4);
	TAP_OK(sl_bench_ws_read_stream(in, out, 255, stream) == -EMSGSIZE,
	       "a message over max_frame is an error, not a stream");
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(stream);
}

int main(void)
{
	test_parse_uint();
	test_hist();
	test_payload_and_accounting();
	test_hex16();
	test_ws();
	test_ws_pieces();
	test_ws_stream();
	return tap_done();
}
