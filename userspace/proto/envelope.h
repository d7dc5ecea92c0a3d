/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The msgpack envelope shared by the WebSocket subprotocol (sluice.v1.msgpack)
 * and the native publisher protocol (SPEC "WebSocket", "Publishing"): one map
 * with string keys per message.
 *
 * Every encoder writes `op` as the first key, and fixmaps only: the kernel
 * meter recognises an event by the first 7 bytes of its payload,
 * 0x8N a2 'o' 'p' a2 'e' 'v' (bpf/frame.h sl_is_ev_payload).
 */
#ifndef SLUICE_PROTO_ENVELOPE_H
#define SLUICE_PROTO_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

/* Nesting levels allowed (the envelope map is level 1); deeper is refused early. */
#define SL_ENVELOPE_MAX_DEPTH 16

/* Operations a client or backend may send. */
enum sl_envelope_op {
	SL_ENVELOPE_OP_SUB = 1,
	SL_ENVELOPE_OP_UNSUB = 2,
	SL_ENVELOPE_OP_PUB = 3,
	SL_ENVELOPE_OP_HELLO = 4,
	SL_ENVELOPE_OP_PING = 5,
};

/*
 * A decoded request. Strings and data point into the decoded buffer (msgpack-c
 * references them in place), are not NUL-terminated, and are valid while
 * both that buffer and the scratch object live.
 */
struct sl_envelope_in {
	enum sl_envelope_op op;
	bool has_id, has_topic, has_data, has_since, has_token, has_name;
	uint64_t id;
	uint64_t since;
	const char *topic;
	size_t topic_len;
	const uint8_t *data; /* bin, or str (accepted for clients that cannot send bin) */
	size_t data_len;
	const char *token;
	size_t token_len;
	const char *name;
	size_t name_len;
};

/*
 * Unpacks exactly one msgpack map from buf into scratch->data, after checking
 * without allocating that it is well formed, nested at most
 * SL_ENVELOPE_MAX_DEPTH levels and announces no more elements than it has
 * bytes (msgpack-c reserves memory by the announced counts). scratch as for
 * sl_envelope_decode. Returns 0, -EINVAL with *why, or -ENOMEM.
 */
int sl_envelope_unpack_map(const uint8_t *buf, size_t len, msgpack_unpacked *scratch,
			   const char **why);

/*
 * Decodes exactly one msgpack map from buf. Field types: op str; id, since
 * non-negative int; topic, token, name str; data bin or str. Unknown keys are
 * ignored (forward compatible); a known key given twice is refused. Required
 * per op: sub and unsub need topic, pub needs topic and data; hello's token
 * and name are optional (open listeners need none).
 *
 * scratch must have been set up with msgpack_unpacked_init(); it is reused
 * by each call and released with msgpack_unpacked_destroy() by the caller.
 * Returns 0, -EINVAL with *why (a short static sentence, usable as an `err`
 * msg) for anything a peer got wrong, or -ENOMEM. After -EINVAL for a map,
 * in->has_id and in->id still give its id when it has exactly one valid id,
 * so that the `err` can answer the request.
 */
int sl_envelope_decode(const uint8_t *buf, size_t len, struct sl_envelope_in *in,
		       msgpack_unpacked *scratch, const char **why);

/*
 * Native publisher framing (SPEC "Publishing"): a 4-byte big-endian payload
 * length, then the payload, one envelope map.
 */
#define SL_ENVELOPE_FRAME_HEADER 4

/*
 * Finds the frame at the start of buf[0..len). Returns its whole length
 * (header and payload) with *payload and *payload_len set, 0 when more bytes
 * are needed, or -EMSGSIZE as soon as the header announces a payload over
 * max_payload (config limits.max_frame_bytes): the stream cannot be
 * resynchronised, so the connection must be closed.
 */
ssize_t sl_envelope_frame_next(const uint8_t *buf, size_t len, size_t max_payload,
			       const uint8_t **payload, size_t *payload_len);

/* The op's wire name ("sub", ...), or NULL for a value outside the enum. */
const char *sl_envelope_op_name(enum sl_envelope_op op);

/*
 * Encoders: append one map to sbuf, `op` first. Return 0 or -ENOMEM (sbuf may
 * then hold a partial map; reset it).
 */

/* {op:"ev", topic, seq, ts, data:bin}: the only map the meter counts as an event. */
int sl_envelope_encode_ev(msgpack_sbuffer *sbuf, const char *topic, size_t topic_len, uint64_t seq,
			  uint64_t ts_ns, const uint8_t *data, size_t len);

/* {op:"ack"[, id][, seq]}: a reply carries its request's id when the request had one. */
int sl_envelope_encode_ack(msgpack_sbuffer *sbuf, bool has_id, uint64_t id, bool has_seq,
			   uint64_t seq);

/* {op:"err"[, id], code, msg}; code reuses the HTTP numbers (SPEC). */
int sl_envelope_encode_err(msgpack_sbuffer *sbuf, bool has_id, uint64_t id, int code,
			   const char *msg);

/* {op:<op>}: "ok" (hello accepted) or "pong". */
int sl_envelope_encode_simple(msgpack_sbuffer *sbuf, const char *op);

#endif
