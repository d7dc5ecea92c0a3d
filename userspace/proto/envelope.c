// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "proto/envelope.h"

#include <errno.h>
#include <string.h>

static int fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

static uint64_t read_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

ssize_t sl_envelope_frame_next(const uint8_t *buf, size_t len, size_t max_payload,
			       const uint8_t **payload, size_t *payload_len)
{
	uint64_t n;

	if (len < SL_ENVELOPE_FRAME_HEADER)
		return 0;
	n = read_be(buf, SL_ENVELOPE_FRAME_HEADER);
	if (n > max_payload)
		return -EMSGSIZE;
	if (len - SL_ENVELOPE_FRAME_HEADER < n)
		return 0;
	*payload = buf + SL_ENVELOPE_FRAME_HEADER;
	*payload_len = (size_t)n;
	return (ssize_t)(SL_ENVELOPE_FRAME_HEADER + n);
}

/*
 * Walks one msgpack object (the msgpack spec's formats) without allocating,
 * and sets *used to its length. msgpack-c allocates every array and map from
 * the count in its header, so a 5-byte "array of 2^32 elements" would make
 * it reserve gigabytes; here a container may not announce more elements than
 * bytes are left (each element takes at least one), and nesting is bounded.
 */
static int walk(const uint8_t *p, size_t len, size_t *used, const char **why)
{
	uint64_t left[SL_ENVELOPE_MAX_DEPTH + 1];
	size_t pos = 0, hdr, body, lenbytes;
	int depth = 0;

	left[0] = 1;
	while (depth >= 0) {
		uint64_t children = 0;
		bool container;
		uint8_t c;

		if (!left[depth]) {
			depth--;
			continue;
		}
		left[depth]--;
		if (pos >= len)
			return fail(why, "truncated msgpack");
		c = p[pos];
		container = (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
		/* A container read at depth d is nesting level d + 1. */
		if (container && depth == SL_ENVELOPE_MAX_DEPTH)
			return fail(why, "msgpack nested too deeply");
		hdr = 1;
		body = 0;
		lenbytes = 0;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			/* fixint, nil, bool */
		} else if (c <= 0x8f) {
			children = 2 * (uint64_t)(c & 0x0f);
		} else if (c <= 0x9f) {
			children = c & 0x0f;
		} else if (c <= 0xbf) {
			body = c & 0x1f;
		} else {
			switch (c) {
			case 0xc4: /* bin 8/16/32 */
			case 0xd9: /* str 8/16/32 */
			case 0xc7: /* ext 8/16/32: length, then a type byte */
				lenbytes = 1;
				break;
			case 0xc5:
			case 0xda:
			case 0xc8:
			case 0xdc: /* array 16 */
			case 0xde: /* map 16 */
				lenbytes = 2;
				break;
			case 0xc6:
			case 0xdb:
			case 0xc9:
			case 0xdd: /* array 32 */
			case 0xdf: /* map 32 */
				lenbytes = 4;
				break;
			case 0xcc:
			case 0xd0:
				body = 1;
				break;
			case 0xcd:
			case 0xd1:
				body = 2;
				break;
			case 0xca:
			case 0xce:
			case 0xd2:
				body = 4;
				break;
			case 0xcb:
			case 0xcf:
			case 0xd3:
				body = 8;
				break;
			case 0xd4: /* fixext 1/2/4/8/16: type byte and data */
			case 0xd5:
			case 0xd6:
			case 0xd7:
			case 0xd8:
				body = 1 + ((size_t)1 << (c - 0xd4));
				break;
			default: /* 0xc1 is never used */
				return fail(why, "invalid msgpack");
			}
		}
		if (lenbytes) {
			uint64_t n;

			if (len - pos < 1 + lenbytes)
				return fail(why, "truncated msgpack");
			n = read_be(p + pos + 1, lenbytes);
			hdr += lenbytes;
			if (c == 0xdc || c == 0xdd)
				children = n;
			else if (c == 0xde || c == 0xdf)
				children = 2 * n;
			else if (c >= 0xc7 && c <= 0xc9)
				body = (size_t)n + 1;
			else
				body = (size_t)n;
		}
		if (len - pos < hdr || len - pos - hdr < body)
			return fail(why, "truncated msgpack");
		pos += hdr + body;
		if (children) {
			if (children > len - pos)
				return fail(why, "truncated msgpack");
			left[++depth] = children;
		}
	}
	*used = pos;
	return 0;
}

static bool str_is(const msgpack_object_str *s, const char *lit)
{
	return s->size == strlen(lit) && !memcmp(s->ptr, lit, s->size);
}

static const char *const op_names[] = {
	[SL_ENVELOPE_OP_SUB] = "sub",	[SL_ENVELOPE_OP_UNSUB] = "unsub",
	[SL_ENVELOPE_OP_PUB] = "pub",	[SL_ENVELOPE_OP_HELLO] = "hello",
	[SL_ENVELOPE_OP_PING] = "ping",
};

const char *sl_envelope_op_name(enum sl_envelope_op op)
{
	if ((unsigned)op >= sizeof(op_names) / sizeof(op_names[0]))
		return NULL;
	return op_names[op];
}

static int take_str(const msgpack_object *v, bool *has, const char **ptr, size_t *len,
		    const char **why, const char *type_msg)
{
	if (*has)
		return fail(why, "duplicate key");
	if (v->type != MSGPACK_OBJECT_STR)
		return fail(why, type_msg);
	*has = true;
	*ptr = v->via.str.ptr;
	*len = v->via.str.size;
	return 0;
}

static int take_uint(const msgpack_object *v, bool *has, uint64_t *out, const char **why,
		     const char *type_msg)
{
	if (*has)
		return fail(why, "duplicate key");
	/* msgpack-c reports every non-negative integer, however encoded, as POSITIVE. */
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return fail(why, type_msg);
	*has = true;
	*out = v->via.u64;
	return 0;
}

int sl_envelope_unpack_map(const uint8_t *buf, size_t len, msgpack_unpacked *scratch,
			   const char **why)
{
	msgpack_unpack_return ret;
	size_t used = 0, off = 0;
	int rc;

	msgpack_unpacked_destroy(scratch);
	if (!len)
		return fail(why, "empty message");
	if (!((buf[0] & 0xf0) == 0x80 || buf[0] == 0xde || buf[0] == 0xdf))
		return fail(why, "message is not a msgpack map");
	rc = walk(buf, len, &used, why);
	if (rc)
		return rc;
	if (used != len)
		return fail(why, "trailing bytes after the msgpack map");

	ret = msgpack_unpack_next(scratch, (const char *)buf, len, &off);
	if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
		if (why)
			*why = "out of memory";
		return -ENOMEM;
	}
	if (ret != MSGPACK_UNPACK_SUCCESS || off != len || scratch->data.type != MSGPACK_OBJECT_MAP)
		return fail(why, "invalid msgpack");
	return 0;
}

/*
 * The id of a request refused for another of its keys, so that the refusal
 * can answer it: only a single id of the right type counts.
 */
static void recover_id(const msgpack_object_map *map, struct sl_envelope_in *in)
{
	size_t i, ids = 0;
	bool valid = false;

	for (i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key, *v = &map->ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR || !str_is(&k->via.str, "id"))
			continue;
		ids++;
		valid = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
		if (valid)
			in->id = v->via.u64;
	}
	in->has_id = ids == 1 && valid;
}

static int decode_map(const msgpack_object_map *map, struct sl_envelope_in *in, const char **why)
{
	const char *op = NULL;
	size_t op_len = 0, i;
	bool has_op = false;
	int rc;

	for (i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key, *v = &map->ptr[i].val;
		const msgpack_object_str *key = &k->via.str;

		if (k->type != MSGPACK_OBJECT_STR)
			return fail(why, "map key is not a string");
		if (str_is(key, "op")) {
			rc = take_str(v, &has_op, &op, &op_len, why, "op must be a string");
		} else if (str_is(key, "id")) {
			rc = take_uint(v, &in->has_id, &in->id, why,
				       "id must be a non-negative integer");
		} else if (str_is(key, "since")) {
			rc = take_uint(v, &in->has_since, &in->since, why,
				       "since must be a non-negative integer");
		} else if (str_is(key, "topic")) {
			rc = take_str(v, &in->has_topic, &in->topic, &in->topic_len, why,
				      "topic must be a string");
		} else if (str_is(key, "token")) {
			rc = take_str(v, &in->has_token, &in->token, &in->token_len, why,
				      "token must be a string");
		} else if (str_is(key, "name")) {
			rc = take_str(v, &in->has_name, &in->name, &in->name_len, why,
				      "name must be a string");
		} else if (str_is(key, "data")) {
			if (in->has_data)
				return fail(why, "duplicate key");
			if (v->type == MSGPACK_OBJECT_BIN) {
				in->data = (const uint8_t *)v->via.bin.ptr;
				in->data_len = v->via.bin.size;
			} else if (v->type == MSGPACK_OBJECT_STR) {
				in->data = (const uint8_t *)v->via.str.ptr;
				in->data_len = v->via.str.size;
			} else {
				return fail(why, "data must be bin or a string");
			}
			in->has_data = true;
			rc = 0;
		} else {
			/* Unknown keys are for later versions: ignored. */
			rc = 0;
		}
		if (rc)
			return rc;
	}

	if (!has_op)
		return fail(why, "missing op");
	for (i = 1; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (op_len == strlen(op_names[i]) && !memcmp(op, op_names[i], op_len)) {
			in->op = (enum sl_envelope_op)i;
			break;
		}
	}
	if (!in->op)
		return fail(why, "unknown op");
	switch (in->op) {
	case SL_ENVELOPE_OP_SUB:
	case SL_ENVELOPE_OP_UNSUB:
		if (!in->has_topic)
			return fail(why, "missing topic");
		break;
	case SL_ENVELOPE_OP_PUB:
		if (!in->has_topic)
			return fail(why, "missing topic");
		if (!in->has_data)
			return fail(why, "missing data");
		break;
	default:
		break;
	}
	return 0;
}

int sl_envelope_decode(const uint8_t *buf, size_t len, struct sl_envelope_in *in,
		       msgpack_unpacked *scratch, const char **why)
{
	int rc;

	memset(in, 0, sizeof(*in));
	rc = sl_envelope_unpack_map(buf, len, scratch, why);
	if (rc)
		return rc;
	rc = decode_map(&scratch->data.via.map, in, why);
	if (rc == -EINVAL)
		recover_id(&scratch->data.via.map, in);
	return rc;
}

/* msgpack-c packers return nonzero only when the sbuffer cannot grow. */
static int pack_key(msgpack_packer *pk, const char *key)
{
	return msgpack_pack_str_with_body(pk, key, strlen(key));
}

static int pack_op(msgpack_packer *pk, size_t entries, const char *op)
{
	/* A fixmap (at most 15 entries) with op first: what the meter matches. */
	if (entries > 15)
		return -1;
	return msgpack_pack_map(pk, entries) || pack_key(pk, "op") || pack_key(pk, op);
}

int sl_envelope_encode_ev(msgpack_sbuffer *sbuf, const char *topic, size_t topic_len, uint64_t seq,
			  uint64_t ts_ns, const uint8_t *data, size_t len)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	if (pack_op(&pk, 5, "ev") || pack_key(&pk, "topic") ||
	    msgpack_pack_str_with_body(&pk, topic, topic_len) || pack_key(&pk, "seq") ||
	    msgpack_pack_uint64(&pk, seq) || pack_key(&pk, "ts") ||
	    msgpack_pack_uint64(&pk, ts_ns) || pack_key(&pk, "data") ||
	    msgpack_pack_bin_with_body(&pk, data, len))
		return -ENOMEM;
	return 0;
}

int sl_envelope_encode_ack(msgpack_sbuffer *sbuf, bool has_id, uint64_t id, bool has_seq,
			   uint64_t seq)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	if (pack_op(&pk, 1 + has_id + has_seq, "ack"))
		return -ENOMEM;
	if (has_id && (pack_key(&pk, "id") || msgpack_pack_uint64(&pk, id)))
		return -ENOMEM;
	if (has_seq && (pack_key(&pk, "seq") || msgpack_pack_uint64(&pk, seq)))
		return -ENOMEM;
	return 0;
}

int sl_envelope_encode_err(msgpack_sbuffer *sbuf, bool has_id, uint64_t id, int code,
			   const char *msg)
{
	msgpack_packer pk;

	if (!msg)
		msg = "";
	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	if (pack_op(&pk, has_id ? 4 : 3, "err"))
		return -ENOMEM;
	if (has_id && (pack_key(&pk, "id") || msgpack_pack_uint64(&pk, id)))
		return -ENOMEM;
	if (pack_key(&pk, "code") || msgpack_pack_int(&pk, code) || pack_key(&pk, "msg") ||
	    msgpack_pack_str_with_body(&pk, msg, strlen(msg)))
		return -ENOMEM;
	return 0;
}

int sl_envelope_encode_simple(msgpack_sbuffer *sbuf, const char *op)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	return pack_op(&pk, 1, op) ? -ENOMEM : 0;
}
