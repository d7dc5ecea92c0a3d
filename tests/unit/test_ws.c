// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * net/ws and net/utf8: the accept key, server frame headers, close bodies,
 * and the client-frame decoder against every "fail the connection" rule of
 * RFC 6455, fed whole, in odd-sized pieces and byte by byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/utf8.h"
#include "net/ws.h"
#include "tap.h"

#define MAX_MSG (1u << 20)

static const uint8_t mask_key[4] = { 0x37, 0xfa, 0x21, 0x3d }; /* RFC 6455 §5.7 */

enum {
	LEN_AUTO = 0,
	LEN_16 = 16,
	LEN_64 = 64
};

/* A client frame: b0 is FIN|RSV|opcode; masked unless told otherwise. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len, int form,
			   bool masked)
{
	const uint8_t *p = payload;
	size_t h = 2, i;

	out[0] = b0;
	if (form == LEN_64 || (form == LEN_AUTO && len > 0xffff)) {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	} else if (form == LEN_16 || len > 125) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = (uint8_t)len;
	}
	if (masked) {
		out[1] |= 0x80;
		memcpy(out + h, mask_key, 4);
		h += 4;
	}
	for (i = 0; i < len; i++)
		out[h + i] = masked ? p[i] ^ mask_key[i & 3] : p[i];
	return h + len;
}

struct got {
	enum sl_ws_event_type type;
	uint8_t opcode;
	uint16_t code;
	size_t len;
	uint64_t hash;
	uint8_t head[256];
	const char *why;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/*
 * Feeds buf to the decoder in pieces of `piece` bytes (0: all at once) and
 * records each event. Stops after an error. Returns the number of events.
 */
static int run(struct sl_ws_decoder *d, uint8_t *buf, size_t len, size_t piece, struct got *g,
	       int max, size_t *consumed_total)
{
	size_t off = 0, end;
	int n = 0;

	if (!piece)
		piece = len ? len : 1;
	while (off < len && n < max) {
		end = off + piece < len ? off + piece : len;
		while (off < end && n < max) {
			struct sl_ws_event ev;
			ssize_t c = sl_ws_decode(d, buf + off, end - off, &ev);

			if (c < 0)
				return -1;
			off += (size_t)c;
			if (ev.type == SL_WS_EV_NEED_MORE) {
				if (off != end)
					return -2; /* NEED_MORE must consume everything */
				break;
			}
			g[n].type = ev.type;
			g[n].opcode = ev.opcode;
			g[n].code = ev.close_code;
			g[n].len = ev.len;
			g[n].why = ev.why;
			g[n].hash = ev.payload ? fnv(ev.payload, ev.len) : 0;
			if (ev.payload)
				memcpy(g[n].head, ev.payload, ev.len < 256 ? ev.len : 256);
			n++;
			if (ev.type == SL_WS_EV_ERROR) {
				if (consumed_total)
					*consumed_total = off;
				return n;
			}
		}
	}
	if (consumed_total)
		*consumed_total = off;
	return n;
}

static bool got_is(const struct got *g, enum sl_ws_event_type type, const char *payload)
{
	size_t n = strlen(payload);

	return g->type == type && g->len == n && !memcmp(g->head, payload, n);
}

static void test_accept_key(void)
{
	static const char *const bad[] = {
		"dGhlIHNhbXBsZSBub25jZQ=",  "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZQAA",
		"dGhlIHNhbXBsZSBub25jZ*==", "dGhlIHNhbXBsZSBub25j ZQ=",	 "",
		"dGhlIHNhbXBsZSBub25jZQ=x", "dGhl-HNhbXBsZSBub25jZQ==",
	};
	char out[SL_WS_ACCEPT_LEN + 1];
	size_t i;

	TAP_OK(sl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out) == 0 &&
		   !strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
	       "RFC 6455 §1.3 example accept key");
	TAP_OK(sl_ws_accept_key("AAAAAAAAAAAAAAAAAAAAAA==", 24, out) == 0 && strlen(out) == 28,
	       "all-zero nonce accepted");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TAP_OK(sl_ws_accept_key(bad[i], strlen(bad[i]), out) == -EINVAL,
		       "bad key refused: \"%s\"", bad[i]);
}

static void test_frame_header(void)
{
	uint8_t h[SL_WS_MAX_SERVER_HEADER];
	size_t n;

	n = sl_ws_frame_header(h, SL_WS_OP_TEXT, true, 5);
	TAP_OK(n == 2 && h[0] == 0x81 && h[1] == 0x05, "5-byte text: 81 05");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 125);
	TAP_OK(n == 2 && h[0] == 0x82 && h[1] == 125, "125 bytes: 7-bit length");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 126);
	TAP_OK(n == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126, "126 bytes: 16-bit length");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 256);
	TAP_OK(n == 4 && h[1] == 0x7e && h[2] == 0x01 && h[3] == 0x00, "256 bytes: 82 7e 01 00");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 65535);
	TAP_OK(n == 4 && h[2] == 0xff && h[3] == 0xff, "65535 bytes: 16-bit length");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 65536);
	TAP_OK(n == 10 && h[1] == 127 && !h[2] && !h[3] && !h[4] && !h[5] && !h[6] && h[7] == 1 &&
		   !h[8] && !h[9],
	       "65536 bytes: 64-bit length");
	n = sl_ws_frame_header(h, SL_WS_OP_BINARY, true, 0x123456789aull);
	TAP_OK(n == 10 && h[5] == 0x12 && h[6] == 0x34 && h[9] == 0x9a, "40-bit length");
	n = sl_ws_frame_header(h, SL_WS_OP_CONTINUATION, false, 0);
	TAP_OK(n == 2 && h[0] == 0x00 && h[1] == 0, "non-final continuation, never masked");
	n = sl_ws_frame_header(h, 0xf9, true, 0);
	TAP_OK(n == 2 && h[0] == 0x89, "opcode limited to 4 bits, no RSV");
}

static void test_close_payload(void)
{
	uint8_t out[SL_WS_MAX_CONTROL_PAYLOAD];
	char reason[300];
	size_t n;

	n = sl_ws_close_payload(out, 1000, "bye");
	TAP_OK(n == 5 && out[0] == 0x03 && out[1] == 0xe8 && !memcmp(out + 2, "bye", 3),
	       "1000 \"bye\"");
	n = sl_ws_close_payload(out, SL_WS_CLOSE_SLOW_CONSUMER, NULL);
	TAP_OK(n == 2 && out[0] == 0x0f && out[1] == 0xa3, "4003 without a reason");
	memset(reason, 'a', 200);
	reason[200] = '\0';
	n = sl_ws_close_payload(out, 1008, reason);
	TAP_OK(n == 125, "long reason cut to 123 bytes");
	memset(reason, 'a', 122);
	strcpy(reason + 122, "\xc3\xa9tail");
	n = sl_ws_close_payload(out, 1008, reason);
	TAP_OK(n == 124 && sl_utf8_valid(out + 2, n - 2), "cut before a split 2-byte character");
	memset(reason, 'a', 120);
	strcpy(reason + 120, "\xf0\x9d\x84\x9e");
	n = sl_ws_close_payload(out, 1008, reason);
	TAP_OK(n == 122 && sl_utf8_valid(out + 2, n - 2), "cut before a split 4-byte character");
	TAP_OK(!sl_ws_close_payload(out, 1005, "x") && !sl_ws_close_payload(out, 1006, "x") &&
		   !sl_ws_close_payload(out, 1015, "x") && !sl_ws_close_payload(out, 999, "x"),
	       "codes that must not be sent give an empty body");
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		bool ok;
		const char *what;
	} cases[] = {
		{ "", true, "empty" },
		{ "plain ASCII", true, "ASCII" },
		{ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true, "Greek kosme" },
		{ "\xc2\x80", true, "U+0080" },
		{ "\xe2\x82\xac", true, "euro sign" },
		{ "\xed\x9f\xbf", true, "U+D7FF (last before surrogates)" },
		{ "\xee\x80\x80", true, "U+E000 (first after surrogates)" },
		{ "\xef\xbf\xbf", true, "U+FFFF" },
		{ "\xf0\x9d\x84\x9e", true, "U+1D11E" },
		{ "\xf4\x8f\xbf\xbf", true, "U+10FFFF" },
		{ "\xc0\x80", false, "overlong NUL (C0 80)" },
		{ "\xc1\xbf", false, "overlong C1" },
		{ "\xe0\x80\xaf", false, "overlong 3-byte /" },
		{ "\xe0\x9f\xbf", false, "overlong 3-byte U+07FF" },
		{ "\xf0\x80\x80\xaf", false, "overlong 4-byte /" },
		{ "\xf0\x8f\xbf\xbf", false, "overlong 4-byte U+FFFF" },
		{ "\xed\xa0\x80", false, "surrogate U+D800" },
		{ "\xed\xbf\xbf", false, "surrogate U+DFFF" },
		{ "\xed\xa0\x80\xed\xb0\x80", false, "surrogate pair in CESU-8" },
		{ "\xf4\x90\x80\x80", false, "U+110000" },
		{ "\xf5\x80\x80\x80", false, "lead byte F5" },
		{ "\xfe", false, "FE" },
		{ "\xff", false, "FF" },
		{ "\x80", false, "lone continuation byte" },
		{ "a\xbf", false, "continuation after ASCII" },
		{ "\xc3", false, "truncated 2-byte" },
		{ "\xe2\x82", false, "truncated 3-byte" },
		{ "\xf0\x9d\x84", false, "truncated 4-byte" },
		{ "\xc3\x41", false, "ASCII where a continuation belongs" },
		{ "\xe2\x28\xa1", false, "bad second byte" },
		{ "ok\xe2\x82\xacok\xf0\x9d\x84", false, "valid then truncated at the end" },
	};
	struct sl_utf8 st = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TAP_OK(sl_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)) ==
			   cases[i].ok,
		       "utf8 %s: %s", cases[i].ok ? "valid" : "invalid", cases[i].what);
	TAP_OK(sl_utf8_valid((const uint8_t *)"a\0b", 3), "NUL is valid UTF-8");
	TAP_OK(sl_utf8_feed(&st, (const uint8_t *)"\xe2", 1) && !sl_utf8_complete(&st) &&
		   sl_utf8_feed(&st, (const uint8_t *)"\x82", 1) && !sl_utf8_complete(&st) &&
		   sl_utf8_feed(&st, (const uint8_t *)"\xac", 1) && sl_utf8_complete(&st),
	       "incremental: euro sign fed a byte at a time");
	memset(&st, 0, sizeof(st));
	TAP_OK(sl_utf8_feed(&st, (const uint8_t *)"\xed", 1) &&
		   !sl_utf8_feed(&st, (const uint8_t *)"\xa0", 1),
	       "incremental: surrogate refused at its second byte");
}

/* The RFC's own example and zero-copy delivery. */
static void test_single_frames(void)
{
	uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct sl_ws_decoder d;
	struct sl_ws_event ev;
	ssize_t c;

	sl_ws_decoder_init(&d, MAX_MSG);
	c = sl_ws_decode(&d, hello, sizeof(hello), &ev);
	TAP_OK(c == 11 && ev.type == SL_WS_EV_MESSAGE && ev.opcode == SL_WS_OP_TEXT &&
		   ev.len == 5 && !memcmp(ev.payload, "Hello", 5),
	       "RFC 6455 §5.7 masked \"Hello\"");
	TAP_OK(ev.payload == hello + 6, "whole frame in the buffer: unmasked in place, no copy");
	c = sl_ws_decode(&d, hello, 0, &ev);
	TAP_OK(c == 0 && ev.type == SL_WS_EV_NEED_MORE, "empty input: need more");
	sl_ws_decoder_fini(&d);
}

static void check_message(size_t len, int form, size_t piece, const char *what)
{
	uint8_t *payload = malloc(len + 1), *buf = malloc(len + 32);
	struct sl_ws_decoder d;
	struct got g[2];
	size_t n, i, used;
	int k;

	for (i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	n = client_frame(buf, 0x82, payload, len, form, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, piece, g, 2, &used);
	TAP_OK(k == 1 && g[0].type == SL_WS_EV_MESSAGE && g[0].opcode == SL_WS_OP_BINARY &&
		   g[0].len == len && g[0].hash == fnv(payload, len) && used == n,
	       "%s (%zu bytes, pieces of %zu)", what, len, piece);
	sl_ws_decoder_fini(&d);
	free(payload);
	free(buf);
}

static void test_lengths(void)
{
	check_message(0, LEN_AUTO, 0, "empty binary message");
	check_message(125, LEN_AUTO, 0, "7-bit length");
	check_message(126, LEN_AUTO, 0, "16-bit length");
	check_message(300, LEN_AUTO, 1, "16-bit length byte by byte");
	check_message(65535, LEN_AUTO, 4093, "largest 16-bit length");
	check_message(70000, LEN_AUTO, 0, "64-bit length");
	check_message(70000, LEN_AUTO, 9, "64-bit length, 9-byte pieces");
	check_message(70000, LEN_AUTO, 1, "64-bit length byte by byte");
	check_message(5, LEN_64, 0, "non-minimal 64-bit length accepted");
	check_message(5, LEN_16, 3, "non-minimal 16-bit length accepted");
	check_message(MAX_MSG, LEN_AUTO, 65536, "exactly the maximum size");
}

static void test_fragmentation(void)
{
	uint8_t buf[1024];
	struct sl_ws_decoder d;
	struct got g[8];
	size_t n = 0, pieces[] = { 0, 1, 2, 5 }, used, i;
	int k;

	n += client_frame(buf + n, 0x01, "Hel", 3, LEN_AUTO, true);
	n += client_frame(buf + n, 0x89, "p", 1, LEN_AUTO, true);
	n += client_frame(buf + n, 0x00, "", 0, LEN_AUTO, true);
	n += client_frame(buf + n, 0x8a, "", 0, LEN_AUTO, true);
	n += client_frame(buf + n, 0x80, "lo \xe2\x82\xac", 6, LEN_AUTO, true);
	n += client_frame(buf + n, 0x82, "\xff\x00", 2, LEN_AUTO, true);

	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		uint8_t copy[1024];

		memcpy(copy, buf, n);
		sl_ws_decoder_init(&d, MAX_MSG);
		k = run(&d, copy, n, pieces[i], g, 8, &used);
		TAP_OK(k == 4 && used == n && got_is(&g[0], SL_WS_EV_PING, "p") &&
			   got_is(&g[1], SL_WS_EV_PONG, "") &&
			   got_is(&g[2], SL_WS_EV_MESSAGE, "Hello \xe2\x82\xac") &&
			   g[2].opcode == SL_WS_OP_TEXT && g[3].type == SL_WS_EV_MESSAGE &&
			   g[3].len == 2 && g[3].head[0] == 0xff && g[3].head[1] == 0 &&
			   g[3].opcode == SL_WS_OP_BINARY,
		       "fragmented text with ping, empty fragment and pong interleaved, then "
		       "binary (pieces of %zu)",
		       pieces[i]);
		sl_ws_decoder_fini(&d);
	}

	/* A UTF-8 character split across two fragments is fine. */
	n = client_frame(buf, 0x01, "\xe2\x82", 2, LEN_AUTO, true);
	n += client_frame(buf + n, 0x80, "\xac", 1, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, 0, g, 8, &used);
	TAP_OK(k == 1 && got_is(&g[0], SL_WS_EV_MESSAGE, "\xe2\x82\xac"),
	       "character split across fragments");
	sl_ws_decoder_fini(&d);

	/* Several messages in one read come out one per call. */
	n = client_frame(buf, 0x81, "one", 3, LEN_AUTO, true);
	n += client_frame(buf + n, 0x81, "two", 3, LEN_AUTO, true);
	n += client_frame(buf + n, 0x88, "\x03\xe8", 2, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, 0, g, 8, &used);
	TAP_OK(k == 3 && got_is(&g[0], SL_WS_EV_MESSAGE, "one") &&
		   got_is(&g[1], SL_WS_EV_MESSAGE, "two") && g[2].type == SL_WS_EV_CLOSE &&
		   g[2].code == 1000 && g[2].len == 0,
	       "three frames in one buffer: three calls");
	sl_ws_decoder_fini(&d);

	/* A large fragmented message is reassembled, then its buffer released. */
	{
		uint8_t *big = malloc(3 * 40000 + 64), *payload = malloc(120000);
		struct sl_ws_event ev;

		for (i = 0; i < 120000; i++)
			payload[i] = (uint8_t)(i ^ (i >> 8));
		n = client_frame(big, 0x02, payload, 40000, LEN_AUTO, true);
		n += client_frame(big + n, 0x00, payload + 40000, 40000, LEN_AUTO, true);
		n += client_frame(big + n, 0x80, payload + 80000, 40000, LEN_AUTO, true);
		sl_ws_decoder_init(&d, MAX_MSG);
		k = run(&d, big, n, 1000, g, 8, &used);
		TAP_OK(k == 1 && g[0].len == 120000 && g[0].hash == fnv(payload, 120000),
		       "120000-byte message from three fragments");
		sl_ws_decode(&d, big, 0, &ev);
		TAP_OK(d.msg == NULL && d.msg_cap == 0,
		       "reassembly buffer over 4 KiB released after delivery");
		sl_ws_decoder_fini(&d);
		free(big);
		free(payload);
	}
}

static void test_control(void)
{
	static const uint16_t ok_codes[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
					     1010, 1011, 1012, 1013, 1014, 3000, 4999 };
	static const uint16_t bad_codes[] = { 0,    999,  1004, 1005, 1006, 1015,
					      1016, 1100, 2000, 2999, 5000, 65535 };
	uint8_t buf[256], body[130];
	struct sl_ws_decoder d;
	struct got g[2];
	size_t n, i;
	int k;

	memset(body, 'x', sizeof(body));
	n = client_frame(buf, 0x89, body, 125, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, 7, g, 2, NULL);
	TAP_OK(k == 1 && g[0].type == SL_WS_EV_PING && g[0].len == 125 &&
		   g[0].hash == fnv(body, 125),
	       "125-byte ping split across calls");
	sl_ws_decoder_fini(&d);

	n = client_frame(buf, 0x88, "", 0, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, 0, g, 2, NULL);
	TAP_OK(k == 1 && g[0].type == SL_WS_EV_CLOSE && g[0].code == SL_WS_CLOSE_NO_STATUS &&
		   g[0].len == 0,
	       "empty close: 1005");
	sl_ws_decoder_fini(&d);

	n = client_frame(buf, 0x88, "\x0f\xa1going \xe2\x82\xac", 11, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, buf, n, 1, g, 2, NULL);
	TAP_OK(k == 1 && g[0].type == SL_WS_EV_CLOSE && g[0].code == 4001 &&
		   got_is(&g[0], SL_WS_EV_CLOSE, "going \xe2\x82\xac"),
	       "close with code 4001 and a UTF-8 reason, byte by byte");
	sl_ws_decoder_fini(&d);

	for (i = 0; i < sizeof(ok_codes) / sizeof(ok_codes[0]); i++) {
		uint8_t c[2] = { (uint8_t)(ok_codes[i] >> 8), (uint8_t)ok_codes[i] };

		n = client_frame(buf, 0x88, c, 2, LEN_AUTO, true);
		sl_ws_decoder_init(&d, MAX_MSG);
		k = run(&d, buf, n, 0, g, 2, NULL);
		TAP_OK(k == 1 && g[0].type == SL_WS_EV_CLOSE && g[0].code == ok_codes[i],
		       "close code %u accepted", ok_codes[i]);
		sl_ws_decoder_fini(&d);
	}
	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		uint8_t c[2] = { (uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i] };

		n = client_frame(buf, 0x88, c, 2, LEN_AUTO, true);
		sl_ws_decoder_init(&d, MAX_MSG);
		k = run(&d, buf, n, 0, g, 2, NULL);
		TAP_OK(k == 1 && g[0].type == SL_WS_EV_ERROR && g[0].code == 1002,
		       "close code %u refused with 1002", bad_codes[i]);
		sl_ws_decoder_fini(&d);
	}
}

struct err_case {
	uint8_t frames[64];
	size_t len;
	uint16_t code;
	size_t consumed; /* where the decoder must stop */
	const char *what;
};

static void test_errors(void)
{
	struct err_case cases[32];
	struct sl_ws_decoder d;
	struct sl_ws_event ev;
	struct got g[4];
	size_t nc = 0, n, i, used;
	uint8_t big[16];
	int k;

#define CASE(code_, consumed_, what_)                                                              \
	do {                                                                                       \
		cases[nc].len = n;                                                                 \
		cases[nc].code = code_;                                                            \
		cases[nc].consumed = consumed_;                                                    \
		cases[nc].what = what_;                                                            \
		nc++;                                                                              \
	} while (0)

	n = client_frame(cases[nc].frames, 0x81, "hi", 2, LEN_AUTO, false);
	CASE(1002, 2, "unmasked client frame");
	n = client_frame(cases[nc].frames, 0xc1, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "RSV1 without an extension");
	n = client_frame(cases[nc].frames, 0xa1, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "RSV2");
	n = client_frame(cases[nc].frames, 0x91, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "RSV3");
	n = client_frame(cases[nc].frames, 0x83, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "reserved data opcode 3");
	n = client_frame(cases[nc].frames, 0x87, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "reserved data opcode 7");
	n = client_frame(cases[nc].frames, 0x8b, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "reserved control opcode 0xB");
	n = client_frame(cases[nc].frames, 0x8f, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "reserved control opcode 0xF");
	n = client_frame(cases[nc].frames, 0x09, "hi", 2, LEN_AUTO, true);
	CASE(1002, 2, "fragmented ping");
	n = client_frame(cases[nc].frames, 0x08, "", 0, LEN_AUTO, true);
	CASE(1002, 2, "fragmented close");
	n = client_frame(cases[nc].frames, 0x89, "", 0, LEN_16, true);
	cases[nc].frames[1] = 0x80 | 126;
	CASE(1002, 2, "ping announcing a 16-bit length");
	n = client_frame(cases[nc].frames, 0x80, "lo", 2, LEN_AUTO, true);
	CASE(1002, 2, "continuation without a message");
	n = client_frame(cases[nc].frames, 0x00, "lo", 2, LEN_AUTO, true);
	CASE(1002, 2, "non-final continuation without a message");
	n = client_frame(cases[nc].frames, 0x01, "a", 1, LEN_AUTO, true);
	n += client_frame(cases[nc].frames + n, 0x81, "b", 1, LEN_AUTO, true);
	CASE(1002, 9, "new text frame while a message is in progress");
	n = client_frame(cases[nc].frames, 0x02, "a", 1, LEN_AUTO, true);
	n += client_frame(cases[nc].frames + n, 0x02, "b", 1, LEN_AUTO, true);
	CASE(1002, 9, "new binary frame while a message is in progress");
	n = client_frame(cases[nc].frames, 0x82, "", 0, LEN_64, true);
	cases[nc].frames[2] = 0x80;
	CASE(1002, 14, "64-bit length with the most significant bit set");
	n = client_frame(cases[nc].frames, 0x88, "\x03", 1, LEN_AUTO, true);
	CASE(1002, 7, "close with a 1-byte body");
	n = client_frame(cases[nc].frames, 0x88, "\x03\xe8\xc3(", 4, LEN_AUTO, true);
	CASE(1007, 10, "close reason not UTF-8");
	n = client_frame(cases[nc].frames, 0x81, "ok\xed\xa0\x80", 5, LEN_AUTO, true);
	CASE(1007, 11, "text with a surrogate");
	n = client_frame(cases[nc].frames, 0x81, "\xc0\xaf", 2, LEN_AUTO, true);
	CASE(1007, 8, "text with an overlong encoding");
	n = client_frame(cases[nc].frames, 0x01, "ok\xff", 3, LEN_AUTO, true);
	n += client_frame(cases[nc].frames + n, 0x80, "more", 4, LEN_AUTO, true);
	CASE(1007, 9, "bad byte in a first fragment fails before the message ends");
	n = client_frame(cases[nc].frames, 0x01, "ok", 2, LEN_AUTO, true);
	n += client_frame(cases[nc].frames + n, 0x80, "\xe2\x82", 2, LEN_AUTO, true);
	CASE(1007, 16, "text ending inside a character");
	n = client_frame(cases[nc].frames, 0x82, "", 0, LEN_64, true);
	cases[nc].frames[6] = 0x01;
	CASE(1009, 14, "64-bit length over the maximum, refused on the header alone");
#undef CASE

	for (i = 0; i < nc; i++) {
		struct err_case *c = &cases[i];

		sl_ws_decoder_init(&d, MAX_MSG);
		k = run(&d, c->frames, c->len, 0, g, 4, &used);
		TAP_OK(k >= 1 && g[k - 1].type == SL_WS_EV_ERROR && g[k - 1].code == c->code &&
			   g[k - 1].why && used == c->consumed,
		       "%s: %u after %zu bytes (got %u after %zu: %s)", c->what, c->code,
		       c->consumed, k >= 1 ? g[k - 1].code : 0, used,
		       k >= 1 && g[k - 1].why ? g[k - 1].why : "-");
		sl_ws_decoder_fini(&d);
	}

	/* Errors are sticky: nothing more is consumed. */
	n = client_frame(big, 0x81, "hi", 2, LEN_AUTO, false);
	sl_ws_decoder_init(&d, MAX_MSG);
	sl_ws_decode(&d, big, n, &ev);
	TAP_OK(sl_ws_decode(&d, big + 2, n - 2, &ev) == 0 && ev.type == SL_WS_EV_ERROR &&
		   ev.close_code == 1002,
	       "after an error every call repeats it and consumes nothing");
	sl_ws_decoder_fini(&d);

	/* 1009 on the header: max 100, a 101-byte frame, only its header sent. */
	n = client_frame(big, 0x82, "", 0, LEN_AUTO, true);
	big[1] = 0x80 | 101;
	sl_ws_decoder_init(&d, 100);
	k = run(&d, big, n, 0, g, 4, &used);
	TAP_OK(k == 1 && g[0].code == 1009 && used == 6, "101 bytes over a 100-byte maximum: 1009");
	sl_ws_decoder_fini(&d);
	{
		uint8_t frames[256], data[100] = { 0 };

		n = client_frame(frames, 0x02, data, 60, LEN_AUTO, true);
		n += client_frame(frames + n, 0x80, data, 41, LEN_AUTO, true);
		sl_ws_decoder_init(&d, 100);
		k = run(&d, frames, n, 0, g, 4, &used);
		TAP_OK(k == 1 && g[0].code == 1009 && used == 66 + 6,
		       "fragments summing over the maximum: 1009 at the second header");
		sl_ws_decoder_fini(&d);
		n = client_frame(frames, 0x02, data, 60, LEN_AUTO, true);
		n += client_frame(frames + n, 0x89, data, 100, LEN_AUTO, true);
		n += client_frame(frames + n, 0x80, data, 40, LEN_AUTO, true);
		sl_ws_decoder_init(&d, 100);
		k = run(&d, frames, n, 0, g, 4, &used);
		TAP_OK(k == 2 && g[0].type == SL_WS_EV_PING && g[1].type == SL_WS_EV_MESSAGE &&
			   g[1].len == 100,
		       "control frames do not count toward the message maximum");
		sl_ws_decoder_fini(&d);
	}
	n = client_frame(big, 0x82, "\xff\xfe", 2, LEN_AUTO, true);
	sl_ws_decoder_init(&d, MAX_MSG);
	k = run(&d, big, n, 0, g, 4, &used);
	TAP_OK(k == 1 && g[0].type == SL_WS_EV_MESSAGE, "binary messages are not UTF-8 checked");
	sl_ws_decoder_fini(&d);
}

int main(void)
{
	test_accept_key();
	test_frame_header();
	test_close_payload();
	test_utf8();
	test_single_frames();
	test_lengths();
	test_fragmentation();
	test_control();
	test_errors();
	return tap_done();
}
