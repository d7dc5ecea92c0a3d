// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The RFC 6455 client frame decoder (net/ws.c): every byte a WebSocket
 * subscriber sends after the handshake. The first input byte picks the
 * message bound and how the stream is cut into reads, so that frames split
 * at every position are exercised; the rest is the stream.
 */
#include <string.h>

#include "fuzz.h"
#include "net/utf8.h"
#include "net/ws.h"

/* Reads every byte, so that ASan checks the whole of what an event points to. */
static void touch(const uint8_t *p, size_t len)
{
	volatile uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[] = { 65536, 0, 1, 125, 126, 1000, 70000, 16 };
	struct sl_ws_decoder d;
	size_t at = 0, max, chunk;
	uint8_t *buf;
	int events = 0;

	if (size < 1)
		return 0;
	max = bounds[data[0] & 7];
	chunk = (data[0] >> 3) ? (data[0] >> 3) : size; /* 1..31 bytes per read, or all */
	size--;
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size);

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
			FUZZ_CHECK(++events <= (int)size); /* every event needs a 2-byte header */
			switch (ev.type) {
			case SL_WS_EV_MESSAGE:
				FUZZ_CHECK(ev.opcode == SL_WS_OP_TEXT ||
					   ev.opcode == SL_WS_OP_BINARY);
				FUZZ_CHECK(ev.len <= max && ev.len <= size);
				if (ev.opcode == SL_WS_OP_TEXT)
					FUZZ_CHECK(sl_utf8_valid(ev.payload, ev.len));
				touch(ev.payload, ev.len);
				break;
			case SL_WS_EV_PING:
			case SL_WS_EV_PONG:
				FUZZ_CHECK(ev.len <= SL_WS_MAX_CONTROL_PAYLOAD);
				touch(ev.payload, ev.len);
				break;
			case SL_WS_EV_CLOSE:
				FUZZ_CHECK(ev.len <= SL_WS_MAX_CONTROL_PAYLOAD - 2);
				FUZZ_CHECK(sl_utf8_valid(ev.payload, ev.len));
				FUZZ_CHECK(ev.close_code == SL_WS_CLOSE_NO_STATUS ||
					   sl_ws_close_code_valid(ev.close_code));
				break;
			case SL_WS_EV_ERROR:
				FUZZ_CHECK(ev.why && ev.close_code >= 1000);
				/* A dead decoder consumes nothing and repeats the error. */
				FUZZ_CHECK(sl_ws_decode(&d, buf + pos, end - pos, &ev) == 0 &&
					   ev.type == SL_WS_EV_ERROR);
				goto out;
			default:
				FUZZ_CHECK(0);
			}
		}
		at = end;
	}
out:
	sl_ws_decoder_fini(&d);
	free(buf);
	return 0;
}
