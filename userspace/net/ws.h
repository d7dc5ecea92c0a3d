/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * RFC 6455, server side, as pure codecs: the opening-handshake accept key
 * (§4.2.2), server frame headers (§5.2, never masked) and an incremental
 * decoder of client frames that enforces every "MUST fail the connection"
 * of §5 and §8.1 and reports the close code to send (§7.4.1).
 */
#ifndef SLUICE_NET_WS_H
#define SLUICE_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/utf8.h"

/* §1.3: appended to Sec-WebSocket-Key before hashing. */
#define SL_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define SL_WS_ACCEPT_LEN 28	      /* base64 of a SHA-1 digest */
#define SL_WS_MAX_SERVER_HEADER 10    /* 2 + 64-bit length, no mask */
#define SL_WS_MAX_CLIENT_HEADER 14    /* 2 + 64-bit length + masking key */
#define SL_WS_MAX_CONTROL_PAYLOAD 125 /* §5.5 */
/* A close frame's reason: the payload less its 2-byte code (§5.5.1). */
#define SL_WS_MAX_CLOSE_REASON (SL_WS_MAX_CONTROL_PAYLOAD - 2)
/* The subprotocol of SPEC "WebSocket": one msgpack map per binary frame. */
#define SL_WS_SUBPROTOCOL "sluice.v1.msgpack"

/* §5.2 opcodes. */
enum sl_ws_opcode {
	SL_WS_OP_CONTINUATION = 0x0,
	SL_WS_OP_TEXT = 0x1,
	SL_WS_OP_BINARY = 0x2,
	SL_WS_OP_CLOSE = 0x8,
	SL_WS_OP_PING = 0x9,
	SL_WS_OP_PONG = 0xa,
};

/* §7.4.1 and the IANA registry, plus sluice's own 4xxx (SPEC "Close codes"). */
enum sl_ws_close_code {
	SL_WS_CLOSE_NORMAL = 1000,
	SL_WS_CLOSE_GOING_AWAY = 1001,
	SL_WS_CLOSE_PROTOCOL_ERROR = 1002,
	SL_WS_CLOSE_UNSUPPORTED_DATA = 1003,
	SL_WS_CLOSE_NO_STATUS = 1005, /* reported, never sent */
	SL_WS_CLOSE_ABNORMAL = 1006,  /* reported, never sent */
	SL_WS_CLOSE_INVALID_DATA = 1007,
	SL_WS_CLOSE_POLICY = 1008,
	SL_WS_CLOSE_TOO_BIG = 1009,
	SL_WS_CLOSE_MANDATORY_EXTENSION = 1010,
	SL_WS_CLOSE_INTERNAL_ERROR = 1011,
	SL_WS_CLOSE_TIME_LIMIT = 4001,
	SL_WS_CLOSE_QUOTA = 4002,
	SL_WS_CLOSE_SLOW_CONSUMER = 4003,
	SL_WS_CLOSE_KICKED = 4004,
	SL_WS_CLOSE_BYTE_RATE = 4005,
};

/*
 * Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2): base64(SHA-1(key +
 * GUID)). The key must be the base64 of 16 bytes, i.e. 22 base64 characters
 * and "==" (§4.1 and §11.3.1); anything else is -EINVAL, to be answered with
 * 400. out receives 28 characters and a NUL.
 */
int sl_ws_accept_key(const char *client_key, size_t len, char out[SL_WS_ACCEPT_LEN + 1]);

/* Writes a server frame header (FIN, no RSV, no mask); returns its length: 2, 4 or 10. */
size_t sl_ws_frame_header(uint8_t out[SL_WS_MAX_SERVER_HEADER], uint8_t opcode, bool fin,
			  uint64_t payload_len);

/*
 * Close frame body (§5.5.1): the code in network order, then the reason cut to
 * fit 123 bytes on a UTF-8 character boundary. Codes that must not be sent
 * (1005, 1006, 1015, anything below 1000) give an empty body. Returns its length.
 */
size_t sl_ws_close_payload(uint8_t out[SL_WS_MAX_CONTROL_PAYLOAD], uint16_t code,
			   const char *reason);

/*
 * Why an operator's close reason cannot go out as it is, or NULL when it
 * can: it goes in a close frame (123 bytes of UTF-8), in SSE's sluice.close
 * JSON and in the log's JSON, where a quote, a backslash or a control
 * character would break the line. sluicectl and the daemon ask alike.
 */
const char *sl_ws_close_reason_problem(const char *reason);

/* True for the codes a peer may send in a close frame (§7.4.1, §7.4.2). */
bool sl_ws_close_code_valid(uint16_t code);

enum sl_ws_event_type {
	SL_WS_EV_NEED_MORE = 0, /* every byte given was consumed, no event yet */
	SL_WS_EV_MESSAGE,	/* a complete text or binary message */
	SL_WS_EV_PING,
	SL_WS_EV_PONG,
	SL_WS_EV_CLOSE,
	SL_WS_EV_ERROR, /* fail the connection: send a close with close_code, then close */
};

struct sl_ws_event {
	enum sl_ws_event_type type;
	uint8_t opcode; /* MESSAGE: SL_WS_OP_TEXT or SL_WS_OP_BINARY */
	/*
	 * MESSAGE: the whole message; PING/PONG: the application data;
	 * CLOSE: the reason (UTF-8, not NUL-terminated). Unmasked. Points into
	 * the caller's buffer or into the decoder; valid until the next call
	 * and, in the first case, as long as that buffer is.
	 */
	const uint8_t *payload;
	size_t len;
	/* CLOSE: code received (1005 for an empty close); ERROR: code to send. */
	uint16_t close_code;
	const char *why; /* ERROR: a short static sentence for logs and the close reason */
};

struct sl_ws_decoder {
	size_t max_message; /* largest message, reassembled, in bytes */

	/* Frame header being assembled. */
	uint8_t hdr[SL_WS_MAX_CLIENT_HEADER];
	uint8_t hdr_len;
	uint8_t hdr_need;

	/* Frame whose payload is being read. */
	bool in_payload;
	uint8_t opcode;
	bool fin;
	uint8_t mask[4];
	uint64_t frame_len;
	uint64_t frame_pos; /* payload bytes seen, which also indexes the mask */

	/* Data message in progress (possibly over several frames). */
	bool in_message;
	uint8_t msg_opcode;
	struct sl_utf8 utf8;
	uint8_t *msg;
	size_t msg_len;
	size_t msg_cap;
	bool msg_delivered; /* msg was handed out by the previous call */

	/* Control frame payload, when it does not arrive in one piece. */
	uint8_t ctl[SL_WS_MAX_CONTROL_PAYLOAD];

	bool failed; /* an ERROR was reported: every later call repeats it */
	uint16_t fail_code;
	const char *fail_why;
};

/* max_message bounds one reassembled message (config limits.max_frame_bytes). */
void sl_ws_decoder_init(struct sl_ws_decoder *d, size_t max_message);
void sl_ws_decoder_fini(struct sl_ws_decoder *d);

/*
 * Consumes bytes of buf (unmasking them in place) until one event is ready
 * or buf is used up, and returns how many it consumed. The caller loops,
 * advancing by the return value, until the event is SL_WS_EV_NEED_MORE (then
 * all bytes were consumed). After SL_WS_EV_ERROR the decoder is dead: later
 * calls consume nothing and report the same error. Never fails otherwise:
 * out of memory is an ERROR with 1011.
 */
ssize_t sl_ws_decode(struct sl_ws_decoder *d, uint8_t *buf, size_t len, struct sl_ws_event *ev);

#endif
