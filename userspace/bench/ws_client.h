/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The client side of RFC 6455 that the benchmark needs: the upgrade request,
 * the 101 answer, masked client frames and a frame reader over an evbuffer
 * that answers pings itself. Payloads are handed out in place (pulled up in
 * the input buffer), so a delivered event costs no copy.
 */
#ifndef SLUICE_BENCH_WS_CLIENT_H
#define SLUICE_BENCH_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#define SL_BENCH_WS_TEXT 0x1
#define SL_BENCH_WS_BINARY 0x2
#define SL_BENCH_WS_CLOSE 0x8
#define SL_BENCH_WS_PING 0x9
#define SL_BENCH_WS_PONG 0xa

/* Appends the upgrade request; subprotocol may be NULL. */
void sl_bench_ws_request(struct evbuffer *out, const char *host, unsigned port, const char *path,
			 const char *subprotocol);

/*
 * Consumes the HTTP answer head from in: 1 with *status set once the head is
 * complete, 0 when more bytes are needed, -EPROTO when it is not HTTP (or
 * over 16 KiB without an end).
 */
int sl_bench_http_head(struct evbuffer *in, int *status);

/* Appends one masked client frame (RFC 6455 §5.3: a client must mask). */
void sl_bench_ws_send(struct evbuffer *out, unsigned opcode, const void *data, size_t len);

/* Called once per data frame (text, binary, continuation); nonzero stops the reader. */
typedef int (*sl_bench_ws_message_fn)(void *arg, const uint8_t *payload, size_t len);

/*
 * Reads every complete frame in in: data frames go to fn, pings are answered
 * on out, pongs ignored. Returns 0 when it needs more bytes, the callback's
 * nonzero value, -ECONNRESET on a close frame, -EPROTO on a malformed or
 * masked server frame, -EMSGSIZE over max_frame bytes.
 */
int sl_bench_ws_read(struct evbuffer *in, struct evbuffer *out, size_t max_frame,
		     sl_bench_ws_message_fn fn, void *arg);

/*
 * sl_bench_ws_read for protocols that run as a byte stream over WebSocket
 * messages (MQTT, NATS): every data frame's payload is appended to stream,
 * whose parser does not care where the messages began.
 */
int sl_bench_ws_read_stream(struct evbuffer *in, struct evbuffer *out, size_t max_frame,
			    struct evbuffer *stream);

#endif
