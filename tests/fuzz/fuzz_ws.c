// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The RFC 6455 client frame decoder (net/ws.c): every byte a WebSocket
 * subscriber sends after the handshake. The first input byte picks the
 * message bound and how the stream is cut into reads; the rest is the
 * stream. It is decoded twice, whole and cut into reads: how TCP happens to
 * split the bytes must not change a single event.
 */
#include <string.h>

#include "fuzz.h"
#include "net/utf8.h"
#include "net/ws.h"

/* FNV-1a, continued from h; reading every byte also lets ASan check what an event points to. */
static uint64_t hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void check_event(const struct sl_ws_event *ev, size_t max, size_t size)
{
	switch (ev->type) {
	case SL_WS_EV_MESSAGE:
		FUZZ_CHECK(ev->opcode == SL_WS_OP_TEXT || ev->opcode == SL_WS_OP_BINARY);
		FUZZ_CHECK(ev->len <= max && ev->len <= size);
		if (ev->opcode == SL_WS_OP_TEXT)
			FUZZ_CHECK(sl_utf8_valid(ev->payload, ev->len));
		break;
	case SL_WS_EV_PING:
	case SL_WS_EV_PONG:
		FUZZ_CHECK(ev->len <= SL_WS_MAX_CONTROL_PAYLOAD);
		break;
	case SL_WS_EV_CLOSE:
		FUZZ_CHECK(ev->len <= SL_WS_MAX_CONTROL_PAYLOAD - 2);
		FUZZ_CHECK(sl_utf8_valid(ev->payload, ev->len));
		FUZZ_CHECK(ev->close_code == SL_WS_CLOSE_NO_STATUS ||
			   sl_ws_close_code_valid(ev->close_code));
		break;
	case SL_WS_EV_ERROR:
		FUZZ_CHECK(ev->why && ev->close_code >= 1000);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

/*
 * Decodes data[0..size) in reads of chunk bytes; returns the number of events
 * and sets *digest to a hash of all of them, in order.
 */
static size_t decode(const uint8_t *data, size_t size, size_t max, size_t chunk, uint64_t *digest)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct sl_ws_decoder d;
	size_t at = 0, n = 0;
	uint64_t h = 14695981039346656037ull;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	sl_ws_decoder_init(&d, max);
	while (at < size) {
		size_t end = at + chunk < size ? at + chunk : size, pos = at;
		struct sl_ws_event ev;

		/* One read: call until every byte of it was consumed. */
		for (;;) {
			ssize_t used = sl_ws_decode(&d, buf + pos, end - pos, &ev);

			FUZZ_CHECK(used >= 0 && (size_t)used <= end - pos);
			pos += (size_t)used;
			if (ev.type == SL_WS_EV_NEED_MORE) {
				FUZZ_CHECK(pos == end);
				break;
			}
			check_event(&ev, max, size);
			/* Each event needs a 2-byte header; one error may end the stream. */
			FUZZ_CHECK(++n <= size / 2 + 1);
			h = hash(h, &ev.type, sizeof(ev.type));
			h = hash(h, &ev.opcode, sizeof(ev.opcode));
			h = hash(h, &ev.close_code, sizeof(ev.close_code));
			h = hash(h, &ev.len, sizeof(ev.len));
			h = hash(h, ev.payload, ev.len);
			if (ev.type == SL_WS_EV_ERROR) {
				/* A dead decoder consumes nothing and repeats the error. */
				FUZZ_CHECK(sl_ws_decode(&d, buf + pos, end - pos, &ev) == 0 &&
					   ev.type == SL_WS_EV_ERROR);
				goto out;
			}
		}
		at = end;
	}
out:
	sl_ws_decoder_fini(&d);
	free(buf);
	*digest = h;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[] = { 65536, 0, 1, 125, 126, 1000, 70000, 16 };
	uint64_t whole, split;
	size_t max, chunk;

	if (size < 1)
		return 0;
	max = bounds[data[0] & 7];
	chunk = (data[0] >> 3) ? (data[0] >> 3) : 1; /* 1..31 bytes per read */
	FUZZ_CHECK(decode(data + 1, size - 1, max, size, &whole) ==
		   decode(data + 1, size - 1, max, chunk, &split));
	FUZZ_CHECK(whole == split);
	return 0;
}
