// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ws_client.h"

/* The largest answer head we wait for before calling the peer broken. */
#define HEAD_MAX 16384

void sl_bench_ws_request(struct evbuffer *out, const char *host, unsigned port, const char *path,
			 const char *subprotocol)
{
	/*
	 * The key only has to be 16 base64-encoded bytes (RFC 6455 §4.1); the
	 * benchmark does not check Sec-WebSocket-Accept, since the peers are
	 * trusted local servers and the check would cost a SHA-1 per connection.
	 */
	evbuffer_add_printf(out,
			    "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\nSec-WebSocket-Key: c2x1aWNlLWJlbmNoLWtleQ==\r\n"
			    "Sec-WebSocket-Version: 13\r\n",
			    path, host, port);
	if (subprotocol)
		evbuffer_add_printf(out, "Sec-WebSocket-Protocol: %s\r\n", subprotocol);
	evbuffer_add(out, "\r\n", 2);
}

int sl_bench_http_head(struct evbuffer *in, int *status)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char line[16];
	int code;

	if (end.pos < 0)
		return evbuffer_get_length(in) > HEAD_MAX ? -EPROTO : 0;
	memset(line, 0, sizeof(line));
	evbuffer_copyout(in, line, sizeof(line) - 1);
	if (strncmp(line, "HTTP/1.", 7) || sscanf(line + 8, " %d", &code) != 1)
		return -EPROTO;
	*status = code;
	evbuffer_drain(in, (size_t)end.pos + 4);
	return 1;
}

void sl_bench_ws_send(struct evbuffer *out, unsigned opcode, const void *data, size_t len)
{
	static const uint8_t mask[4] = { 0x5a, 0x17, 0xc3, 0x81 };
	uint8_t head[14], buf[512];
	const uint8_t *p = data;
	size_t n = 0, i, off, chunk;

	head[n++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		head[n++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		head[n++] = 0x80 | 126;
		head[n++] = (uint8_t)(len >> 8);
		head[n++] = (uint8_t)len;
	} else {
		head[n++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			head[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(head + n, mask, 4);
	n += 4;
	evbuffer_add(out, head, n);
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < sizeof(buf) ? len - off : sizeof(buf);
		for (i = 0; i < chunk; i++)
			buf[i] = p[off + i] ^ mask[(off + i) & 3];
		evbuffer_add(out, buf, chunk);
	}
}

int sl_bench_ws_read(struct evbuffer *in, struct evbuffer *out, size_t max_frame,
		     sl_bench_ws_message_fn fn, void *arg)
{
	uint8_t head[10];
	size_t avail, hlen, total;
	uint64_t len;
	unsigned opcode, i;
	uint8_t *frame;
	int rc;

	for (;;) {
		avail = evbuffer_get_length(in);
		if (avail < 2)
			return 0;
		evbuffer_copyout(in, head, avail < sizeof(head) ? avail : sizeof(head));
		if (head[1] & 0x80)
			return -EPROTO; /* RFC 6455 §5.1: a server must not mask */
		opcode = head[0] & 0x0f;
		len = head[1] & 0x7f;
		hlen = 2;
		if (len == 126) {
			if (avail < 4)
				return 0;
			len = (uint64_t)head[2] << 8 | head[3];
			hlen = 4;
		} else if (len == 127) {
			if (avail < 10)
				return 0;
			for (len = 0, i = 0; i < 8; i++)
				len = len << 8 | head[2 + i];
			hlen = 10;
		}
		if (len > max_frame)
			return -EMSGSIZE;
		total = hlen + (size_t)len;
		if (avail < total)
			return 0;
		frame = evbuffer_pullup(in, (ssize_t)total);
		if (!frame)
			return -ENOMEM;
		rc = 0;
		switch (opcode) {
		case 0x0:
		case SL_BENCH_WS_TEXT:
		case SL_BENCH_WS_BINARY:
			rc = fn(arg, frame + hlen, (size_t)len);
			break;
		case SL_BENCH_WS_PING:
			sl_bench_ws_send(out, SL_BENCH_WS_PONG, frame + hlen, (size_t)len);
			break;
		case SL_BENCH_WS_PONG:
			break;
		case SL_BENCH_WS_CLOSE:
			rc = -ECONNRESET;
			break;
		default:
			rc = -EPROTO;
			break;
		}
		evbuffer_drain(in, total);
		if (rc)
			return rc;
	}
}
