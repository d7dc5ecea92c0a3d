// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The meter's frame parsers (bpf/frame.h), compiled for userspace: sk_msg
 * has no BPF_PROG_TEST_RUN, so the parsing rules are proven here and the
 * kernel path is proven end to end by tests/bats/meter.bats.
 */
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"
#include "tap.h"
#include "../tools/frames.h"

static struct sl_frame parse(enum sl_framing framing, const uint8_t *bytes, size_t avail)
{
	uint8_t buf[32] = { 0 };
	struct sl_frame f;

	memcpy(buf, bytes, avail < SL_STASH_BYTES ? avail : SL_STASH_BYTES);
	sl_frame_parse(framing, buf, avail < SL_STASH_BYTES ? avail : SL_STASH_BYTES, &f);
	return f;
}

/* Every encoder size class round-trips: length and kind as the generator meant. */
static void roundtrip(enum sl_framing framing)
{
	static const size_t sizes[] = {
		0, 1, 2, 3, 6, 7, 8, 125, 126, 127, 300, 65535, 65536, 70000
	};
	static uint8_t frame[70000 + 64];
	enum tf_kind kind;
	size_t i, len;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (kind = TF_EVENT; kind <= TF_CONTROL; kind++) {
			size_t plen = sizes[i];
			struct sl_frame f;
			int want_event;

			if (plen > tf_max_payload(framing))
				continue;
			if (framing == SL_FRAMING_WS && kind == TF_CONTROL && plen > 125)
				continue;
			len = tf_encode(frame, framing, kind, plen, (uint32_t)i);
			f = parse(framing, frame, len);
			want_event = tf_is_event(framing, kind, plen);
			TAP_OK(f.status == SL_PARSE_OK && f.len == len &&
				   (f.kind == SL_FRAME_EVENT) == want_event,
			       "%s kind %d payload %zu: len %u (want %zu) kind %u",
			       sl_framing_name(framing), kind, plen, f.len, len, f.kind);
			/* With any prefix shorter than `need`, the parser asks for more. */
			if (f.status == SL_PARSE_OK && f.need > 0) {
				struct sl_frame part = parse(framing, frame, f.need - 1);

				TAP_OK(part.status == SL_PARSE_MORE && part.need >= f.need,
				       "%s payload %zu: %u of %u bytes asks for more",
				       sl_framing_name(framing), plen, f.need - 1, f.need);
			}
		}
	}
}

static void bad_input(void)
{
	static const uint8_t ws_rsv_opcode[] = { 0x83, 0x00 };
	static const uint8_t ws_huge[] = { 0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t sse_not_hex[] = "0000z01a\r\nid:1";
	static const uint8_t sse_no_crlf[] = "0000001a\n\nid:1";
	static const uint8_t tls_bad_type[] = { 99, 3, 3, 0, 10 };
	static const uint8_t tls_too_long[] = { 23, 3, 3, 0x50, 0 };
	static const uint8_t len4_huge[] = { 0x7f, 0xff, 0xff, 0xff };

	TAP_OK(parse(SL_FRAMING_WS, ws_rsv_opcode, 2).status == SL_PARSE_BAD,
	       "ws: reserved opcode is not a frame");
	TAP_OK(parse(SL_FRAMING_WS, ws_huge, 10).status == SL_PARSE_BAD,
	       "ws: 64-bit length above 4 GiB is not followed");
	TAP_OK(parse(SL_FRAMING_SSE, sse_not_hex, 14).status == SL_PARSE_BAD,
	       "sse: chunk size must be hex");
	TAP_OK(parse(SL_FRAMING_SSE, sse_no_crlf, 14).status == SL_PARSE_BAD,
	       "sse: chunk size line ends in CRLF");
	TAP_OK(parse(SL_FRAMING_TLS, tls_bad_type, 5).status == SL_PARSE_BAD,
	       "tls: unknown record type");
	TAP_OK(parse(SL_FRAMING_TLS, tls_too_long, 5).status == SL_PARSE_BAD,
	       "tls: record longer than RFC 8446 allows");
	TAP_OK(parse(SL_FRAMING_LEN4, len4_huge, 4).status == SL_PARSE_BAD,
	       "len4: length above the frame bound");
	TAP_OK(parse(SL_FRAMING_RAW, len4_huge, 4).status == SL_PARSE_BAD, "raw: nothing to parse");
}

static void classification(void)
{
	/* An `ack` reply and a WebSocket close are never events. */
	static const uint8_t ack[] = { 0x82, 9, 0x82, 0xa2, 'o', 'p', 0xa3, 'a', 'c', 'k', 1 };
	static const uint8_t close_frame[] = { 0x88, 2, 0x03, 0xe8 };
	static const uint8_t cont[] = { 0x80, 1, 'x' };
	static const uint8_t sse_heartbeat[] = "00000001\r\n:\r\n";
	static const uint8_t tls_alert[] = { 21, 3, 3, 0, 2 };

	TAP_OK(parse(SL_FRAMING_WS, ack, sizeof(ack)).kind == SL_FRAME_REPLY, "ws ack is a reply");
	TAP_OK(parse(SL_FRAMING_WS, close_frame, sizeof(close_frame)).kind == SL_FRAME_CONTROL,
	       "ws close is control");
	TAP_OK(parse(SL_FRAMING_WS, cont, sizeof(cont)).kind == SL_FRAME_FRAGMENT,
	       "ws continuation is a fragment");
	TAP_OK(parse(SL_FRAMING_SSE, sse_heartbeat, 13).kind == SL_FRAME_REPLY,
	       "sse heartbeat comment is a reply");
	TAP_OK(parse(SL_FRAMING_TLS, tls_alert, 5).kind == SL_FRAME_CONTROL,
	       "tls alert is control");
}

/*
 * sl_frame_quick on a full 24-byte window (the only case the meter calls it
 * in), as the meter reads it: the first 16 bytes as two little-endian words.
 */
static int quick(enum sl_framing framing, const uint8_t *window, struct sl_frame *f)
{
	uint64_t w[2];

	memcpy(w, window, sizeof(w));
	return sl_frame_quick(framing, w[0], w[1], f);
}

/* When the quick parse answers, it answers as sl_frame_parse does. */
static int agrees(enum sl_framing framing, const uint8_t *window)
{
	struct sl_frame q, f;

	if (!quick(framing, window, &q))
		return 1;
	f = parse(framing, window, SL_STASH_BYTES);
	return f.status == SL_PARSE_OK && f.len == q.len && f.kind == q.kind;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/*
 * The meter's parse memo keys a frame by the first sl_frame_quick_reads
 * bytes of its head: whatever follows them must not change the answer.
 */
static int reads_enough(enum sl_framing framing, const uint8_t *window)
{
	struct sl_frame q, r;
	uint8_t other[32];
	uint64_t w0;
	size_t reads, k;
	int tries;

	memcpy(&w0, window, sizeof(w0));
	reads = sl_frame_quick_reads(framing, w0);
	if (reads < 9 || reads > 16)
		return 0;
	if (!quick(framing, window, &q))
		return 1;
	for (tries = 0; tries < 4; tries++) {
		memcpy(other, window, sizeof(other));
		for (k = reads; k < sizeof(other); k++)
			other[k] = (uint8_t)tf_rand(&rng);
		if (!quick(framing, other, &r) || r.len != q.len || r.kind != q.kind)
			return 0;
	}
	return 1;
}

static uint8_t pick(const char *alphabet, size_t n)
{
	return (uint8_t)alphabet[tf_rand(&rng) % n];
}

static void quick_parse(void)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 6, 7, 8, 100, 125, 126, 127, 300, 65535 };
	static const enum sl_framing framings[] = { SL_FRAMING_WS, SL_FRAMING_LEN4,
						    SL_FRAMING_SSE };
	/* Bytes a header is made of, and the ones that break it. */
	static const char hexish[] = "0123456789abcdefABCDEFgz:\r\n\x00\x80\xff";
	static const char wsish[] = "\x81\x82\x80\x89\x01\x7e\x7f\xfe\x00\x84\xa2opev";
	static uint8_t frame[65535 + 64];
	uint8_t window[32];
	size_t i, k, taken = 0, usual = 0, disagree = 0, memo_wrong = 0;
	enum tf_kind kind;

	/* The generator's frames, followed by other bytes, as the meter sees them. */
	for (k = 0; k < 3; k++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (kind = TF_EVENT; kind <= TF_CONTROL; kind++) {
				struct sl_frame q;
				size_t len = tf_encode(frame, framings[k], kind, sizes[i], 7);

				memset(frame + len, 0xa5, 32);
				memcpy(window, frame, sizeof(window));
				disagree += !agrees(framings[k], window);
				memo_wrong += !reads_enough(framings[k], window);
				/* WS control frames are left to the general parser. */
				if (framings[k] == SL_FRAMING_WS && kind == TF_CONTROL)
					continue;
				usual++;
				taken += quick(framings[k], window, &q);
			}
		}
	}
	TAP_OK(disagree == 0 && taken == usual,
	       "sl_frame_quick takes every usual ws/len4/sse frame (%zu of %zu) and agrees with "
	       "sl_frame_parse on all of them",
	       taken, usual);

	/* Random headers near the accepted shapes: wherever it answers, it is right. */
	disagree = 0;
	taken = 0;
	for (i = 0; i < 300000; i++) {
		enum sl_framing framing = framings[i % 3];

		for (k = 0; k < sizeof(window); k++)
			window[k] = framing == SL_FRAMING_SSE ? pick(hexish, sizeof(hexish) - 1)
							      : pick(wsish, sizeof(wsish) - 1);
		if (framing == SL_FRAMING_SSE && i % 2) {
			window[8] = '\r';
			window[9] = '\n';
		}
		disagree += !agrees(framing, window);
		memo_wrong += !reads_enough(framing, window);
		taken += quick(framing, window, &(struct sl_frame){ 0 });
	}
	TAP_OK(disagree == 0 && taken > 1000,
	       "300,000 random headers: sl_frame_quick answered %zu, each as sl_frame_parse",
	       taken);

	TAP_OK(
	    memo_wrong == 0,
	    "sl_frame_quick reads no byte of a head beyond sl_frame_quick_reads: the generator's "
	    "frames and 300,000 random heads answer the same whatever follows");

	memcpy(window, "0000002A\r\nid:x", 14);
	TAP_OK(!quick(SL_FRAMING_SSE, window, &(struct sl_frame){ 0 }) &&
		   parse(SL_FRAMING_SSE, window, SL_STASH_BYTES).status == SL_PARSE_OK,
	       "an uppercase SSE length is left to sl_frame_parse, which takes it");
}

int main(void)
{
	roundtrip(SL_FRAMING_WS);
	roundtrip(SL_FRAMING_LEN4);
	roundtrip(SL_FRAMING_SSE);
	roundtrip(SL_FRAMING_TLS);
	bad_input();
	classification();
	quick_parse();
	return tap_done();
}
