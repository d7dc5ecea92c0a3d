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

/*
 * The header of the frame at p, of which avail bytes are there: 0 with its
 * opcode, header length and payload length, -EAGAIN when the header is not
 * all there, or -errno.
 */
static int frame_head(const uint8_t *p, size_t avail, size_t max_frame, unsigned *opcode,
		      size_t *hlen, uint64_t *len)
{
	unsigned i;

	if (avail < 2)
		return -EAGAIN;
	if (p[1] & 0x80)
		return -EPROTO; /* RFC 6455 §5.1: a server must not mask */
	*opcode = p[0] & 0x0f;
	*len = p[1] & 0x7f;
	*hlen = 2;
	if (*len == 126) {
		if (avail < 4)
			return -EAGAIN;
		*len = (uint64_t)p[2] << 8 | p[3];
		*hlen = 4;
	} else if (*len == 127) {
		if (avail < 10)
			return -EAGAIN;
		for (*len = 0, i = 0; i < 8; i++)
			*len = *len << 8 | p[2 + i];
		*hlen = 10;
	}
	return *len > max_frame ? -EMSGSIZE : 0;
}

static int frame_message(struct evbuffer *out, unsigned opcode, const uint8_t *payload, size_t len,
			 sl_bench_ws_message_fn fn, void *arg)
{
	switch (opcode) {
	case 0x0:
	case SL_BENCH_WS_TEXT:
	case SL_BENCH_WS_BINARY:
		return fn(arg, payload, len);
	case SL_BENCH_WS_PING:
		sl_bench_ws_send(out, SL_BENCH_WS_PONG, payload, len);
		return 0;
	case SL_BENCH_WS_PONG:
		return 0;
	case SL_BENCH_WS_CLOSE:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

/*
 * The frames wholly inside the buffer's first contiguous piece are read in
 * place and drained at once: a 64 KiB read holds a few hundred events, and
 * a copy, a pull-up and a drain for each cost the client (and so the server
 * it shares the CPUs with) more than reading them. Returns the bytes read,
 * with *rc set when a frame ended the reading.
 */
static size_t read_in_place(const uint8_t *p, size_t n, struct evbuffer *out, size_t max_frame,
			    sl_bench_ws_message_fn fn, void *arg, int *rc)
{
	size_t used = 0, hlen;
	unsigned opcode;
	uint64_t len;
	int head;

	while (!*rc) {
		head = frame_head(p + used, n - used, max_frame, &opcode, &hlen, &len);
		if (head == -EAGAIN || (!head && len > n - used - hlen))
			break;
		if (head) {
			*rc = head;
			break;
		}
		*rc = frame_message(out, opcode, p + used + hlen, (size_t)len, fn, arg);
		used += hlen + (size_t)len;
	}
	return used;
}

int sl_bench_ws_read(struct evbuffer *in, struct evbuffer *out, size_t max_frame,
		     sl_bench_ws_message_fn fn, void *arg)
{
	struct evbuffer_iovec piece;
	uint8_t head[10], *frame;
	size_t avail, hlen, used;
	unsigned opcode;
	uint64_t len;
	int rc;

	for (;;) {
		avail = evbuffer_get_length(in);
		if (avail < 2)
			return 0;
		rc = 0;
		used = 0;
		if (evbuffer_peek(in, -1, NULL, &piece, 1) >= 1)
			used = read_in_place(piece.iov_base, piece.iov_len, out, max_frame, fn, arg,
					     &rc);
		if (used) {
			evbuffer_drain(in, used);
			if (rc)
				return rc;
			continue;
		}
		if (rc)
			return rc;
		/* The first frame spans two pieces: make it contiguous. */
		evbuffer_copyout(in, head, avail < sizeof(head) ? avail : sizeof(head));
		rc = frame_head(head, avail < sizeof(head) ? avail : sizeof(head), max_frame,
				&opcode, &hlen, &len);
		if (rc)
			return rc == -EAGAIN ? 0 : rc;
		if (avail - hlen < len)
			return 0;
		frame = evbuffer_pullup(in, (ssize_t)(hlen + len));
		if (!frame)
			return -ENOMEM;
		rc = frame_message(out, opcode, frame + hlen, (size_t)len, fn, arg);
		evbuffer_drain(in, hlen + (size_t)len);
		if (rc)
			return rc;
	}
}

static int append_to_stream(void *stream, const uint8_t *payload, size_t len)
{
	return evbuffer_add(stream, payload, len) ? -ENOMEM : 0;
}

int sl_bench_ws_read_stream(struct evbuffer *in, struct evbuffer *out, size_t max_frame,
			    struct evbuffer *stream)
{
	return sl_bench_ws_read(in, out, max_frame, append_to_stream, stream);
}
