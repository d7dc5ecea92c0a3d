// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel meter's frame header parsers (bpf/frame.h), compiled for
 * userspace as tests/unit/test_frame.c does: what sk_msg reads of every
 * WebSocket, native, SSE and TLS frame the gateway sends, payload bytes of
 * publishers included. Byte 0 picks the framing; the rest is the start of a
 * frame, of which the kernel holds at most SL_STASH_BYTES.
 *
 * The in-place parse (sl_frame_quick) must agree with it wherever it answers.
 * The same input also drives the gateway's encoders (net/ws.c frame headers,
 * proto/envelope.c maps): the meter must read back exactly the frame length
 * and kind they wrote, since that is what quotas are billed on.
 */
#include <string.h>
#include <linux/types.h>

#include <msgpack.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"
#include "fuzz.h"
#include "net/ws.h"
#include "proto/envelope.h"

static struct sl_frame parse_head(__u8 framing, const uint8_t *frame, size_t len)
{
	uint8_t buf[32] = { 0 };
	struct sl_frame f;
	__u32 avail = len < SL_STASH_BYTES ? (__u32)len : SL_STASH_BYTES;

	memcpy(buf, frame, avail);
	sl_frame_parse(framing, buf, avail, &f);
	return f;
}

static uint64_t read_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A server WebSocket frame: opcode, FIN, any length up to the meter's bound, input as payload. */
static void encoded_ws(const uint8_t *data, size_t size)
{
	uint8_t frame[SL_WS_MAX_SERVER_HEADER + 16] = { 0 }, opcode;
	uint64_t plen;
	struct sl_frame f;
	size_t hl, have;
	bool fin, control;

	if (size < 10)
		return;
	opcode = data[0] & 0x0f;
	fin = data[0] & 0x80;
	control = opcode >= SL_WS_OP_CLOSE;
	if ((opcode > SL_WS_OP_BINARY && opcode < SL_WS_OP_CLOSE) || opcode > SL_WS_OP_PONG)
		return; /* the gateway sends no other opcode */
	plen = read_u64(data + 1) % ((data[9] & 1) ? SL_FRAME_MAX_LEN + 1ull : 300);
	if (control)
		plen %= SL_WS_MAX_CONTROL_PAYLOAD + 1;
	hl = sl_ws_frame_header(frame, opcode, fin || control, plen);
	have = size - 10 < 16 ? size - 10 : 16;
	have = have < plen ? have : (size_t)plen;
	memcpy(frame + hl, data + 10, have);
	f = parse_head(SL_FRAMING_WS, frame, hl + have);
	if (f.status == SL_PARSE_MORE) {
		/* Only when the payload is shorter than the marker and not all given. */
		FUZZ_CHECK(have < plen && have < SL_EV_MARKER_LEN);
		return;
	}
	FUZZ_CHECK(f.status == SL_PARSE_OK && f.len == hl + plen && f.opcode == opcode);
	FUZZ_CHECK(f.fin == (fin || control));
	if (control)
		FUZZ_CHECK(f.kind == SL_FRAME_CONTROL);
	else if (opcode == SL_WS_OP_CONTINUATION)
		FUZZ_CHECK(f.kind == SL_FRAME_FRAGMENT);
	else
		FUZZ_CHECK((f.kind == SL_FRAME_EVENT) ==
			   (plen >= SL_EV_MARKER_LEN && sl_is_ev_payload(frame, (__u32)hl)));
}

/* Native frames of the gateway's own maps: an `ev` is an event, an ack or err never is. */
static void encoded_len4(const uint8_t *data, size_t size)
{
	const char *topic = size ? "stocks.nyse" : "t";
	msgpack_sbuffer sb;
	uint8_t *frame;
	struct sl_frame f;

	for (int kind = 0; kind < 3; kind++) {
		msgpack_sbuffer_init(&sb);
		if (kind == 0)
			FUZZ_CHECK(sl_envelope_encode_ev(&sb, topic, strlen(topic), size, 1, data,
							 size) == 0);
		else if (kind == 1)
			FUZZ_CHECK(sl_envelope_encode_ack(&sb, true, size, true, size) == 0);
		else
			FUZZ_CHECK(sl_envelope_encode_err(&sb, true, size, 400, "bad") == 0);
		frame = malloc(SL_ENVELOPE_FRAME_HEADER + sb.size);
		if (!frame)
			abort();
		for (int i = 0; i < 4; i++)
			frame[i] = (uint8_t)(sb.size >> (24 - 8 * i));
		memcpy(frame + SL_ENVELOPE_FRAME_HEADER, sb.data, sb.size);
		f = parse_head(SL_FRAMING_LEN4, frame, SL_ENVELOPE_FRAME_HEADER + sb.size);
		FUZZ_CHECK(f.status == SL_PARSE_OK && f.len == SL_ENVELOPE_FRAME_HEADER + sb.size);
		FUZZ_CHECK((f.kind == SL_FRAME_EVENT) == (kind == 0));
		free(frame);
		msgpack_sbuffer_destroy(&sb);
	}
}

/*
 * The meter's in-place parse (sl_frame_quick), on a full window as the meter
 * calls it: wherever it answers, it answers as sl_frame_parse.
 */
static void quick_agrees(__u8 framing, const uint8_t *data, size_t size)
{
	uint8_t buf[32] = { 0 };
	uint64_t w[2];
	struct sl_frame q, f;

	if (size < SL_STASH_BYTES)
		return;
	memcpy(buf, data, SL_STASH_BYTES);
	memcpy(w, buf, sizeof(w));
	if (!sl_frame_quick(framing, w[0], w[1], &q))
		return;
	sl_frame_parse(framing, buf, SL_STASH_BYTES, &f);
	FUZZ_CHECK(f.status == SL_PARSE_OK && f.len == q.len && f.kind == q.kind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[32] = { 0 };
	struct sl_frame f, g;
	__u8 framing;
	__u32 avail;

	if (size < 1)
		return 0;
	framing = data[0] % SL_FRAMING__MAX;
	avail = size - 1 < SL_STASH_BYTES ? (__u32)(size - 1) : SL_STASH_BYTES;
	memcpy(buf, data + 1, avail);
	sl_frame_parse(framing, buf, avail, &f);

	FUZZ_CHECK(f.status <= SL_PARSE_BAD && f.kind <= SL_FRAME_FRAGMENT);
	/* A frame must be classifiable from what the kernel can stash. */
	FUZZ_CHECK(f.need <= SL_STASH_BYTES);
	FUZZ_CHECK((f.status == SL_PARSE_MORE) == (f.status != SL_PARSE_BAD && avail < f.need));
	if (f.status == SL_PARSE_OK) {
		FUZZ_CHECK(f.len >= f.need && f.len > 0);
		FUZZ_CHECK(f.len <= SL_FRAME_MAX_LEN + 14 /* WebSocket header with a mask */);
		/* Only the first need bytes matter: the bytes after them change nothing. */
		memset(buf + f.need, 0xa5, sizeof(buf) - f.need);
		sl_frame_parse(framing, buf, f.need, &g);
		FUZZ_CHECK(g.status == SL_PARSE_OK && g.len == f.len && g.kind == f.kind &&
			   g.fin == f.fin && g.opcode == f.opcode);
	}
	if (f.status == SL_PARSE_OK && f.need > 0) {
		sl_frame_parse(framing, buf, f.need - 1, &g);
		FUZZ_CHECK(g.status == SL_PARSE_MORE);
	}
	quick_agrees(framing, data + 1, size - 1);
	encoded_ws(data + 1, size - 1);
	encoded_len4(data + 1, size - 1);
	return 0;
}
