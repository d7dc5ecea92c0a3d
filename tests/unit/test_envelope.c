// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proto/envelope: decoding every op and every refusal, and the encoders'
 * exact bytes, including the `ev` marker the kernel meter matches
 * (checked with the meter's own parsers from bpf/frame.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"

#include "net/ws.h"
#include "proto/envelope.h"
#include "tap.h"

/* A tiny builder: m("op","sub") style calls appending to one sbuffer. */
struct mb {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void mb_init(struct mb *b, size_t entries)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&b->pk, entries);
}

static void mb_str(struct mb *b, const char *s)
{
	msgpack_pack_str_with_body(&b->pk, s, strlen(s));
}

static void mb_kv_str(struct mb *b, const char *k, const char *v)
{
	mb_str(b, k);
	mb_str(b, v);
}

static void mb_kv_uint(struct mb *b, const char *k, uint64_t v)
{
	mb_str(b, k);
	msgpack_pack_uint64(&b->pk, v);
}

static void mb_kv_bin(struct mb *b, const char *k, const void *v, size_t n)
{
	mb_str(b, k);
	msgpack_pack_bin_with_body(&b->pk, v, n);
}

static int decode_mb(struct mb *b, struct sl_envelope_in *in, msgpack_unpacked *u, const char **why)
{
	*why = NULL;
	return sl_envelope_decode((const uint8_t *)b->sb.data, b->sb.size, in, u, why);
}

static bool span_is(const void *p, size_t n, const char *want)
{
	return p && n == strlen(want) && !memcmp(p, want, n);
}

static void test_ops(void)
{
	struct sl_envelope_in in;
	msgpack_unpacked u;
	const char *why;
	struct mb b;
	int rc;

	msgpack_unpacked_init(&u);

	mb_init(&b, 4);
	mb_kv_str(&b, "op", "sub");
	mb_kv_uint(&b, "id", 1);
	mb_kv_str(&b, "topic", "stocks.>");
	mb_kv_uint(&b, "since", 10);
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_SUB && in.has_id && in.id == 1 && in.has_topic &&
		   span_is(in.topic, in.topic_len, "stocks.>") && in.has_since && in.since == 10 &&
		   !in.has_data && !in.has_token,
	       "sub with id, topic and since");
	TAP_OK((const char *)in.topic >= b.sb.data &&
		   (const char *)in.topic < b.sb.data + b.sb.size,
	       "topic points into the decoded buffer");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 3);
	mb_kv_str(&b, "topic", "a.b");
	mb_kv_uint(&b, "id", UINT64_MAX);
	mb_kv_str(&b, "op", "unsub");
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_UNSUB && in.id == UINT64_MAX &&
		   span_is(in.topic, in.topic_len, "a.b") && !in.has_since,
	       "unsub, op not first, largest id");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 4);
	mb_kv_str(&b, "op", "pub");
	mb_kv_str(&b, "topic", "t");
	mb_kv_bin(&b, "data", "\x00\xff", 2);
	mb_kv_uint(&b, "id", 0);
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_PUB && in.has_data && in.data_len == 2 &&
		   in.data[0] == 0 && in.data[1] == 0xff && in.has_id && in.id == 0,
	       "pub with bin data and id 0");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 3);
	mb_kv_str(&b, "op", "pub");
	mb_kv_str(&b, "topic", "t");
	mb_kv_str(&b, "data", "text payload");
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && span_is(in.data, in.data_len, "text payload") && !in.has_id,
	       "pub with str data, no id");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 3);
	mb_kv_str(&b, "op", "pub");
	mb_kv_str(&b, "topic", "t");
	mb_kv_bin(&b, "data", "", 0);
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.has_data && in.data_len == 0, "pub with empty data");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 3);
	mb_kv_str(&b, "op", "hello");
	mb_kv_str(&b, "token", "eyJhbGciOi.x.y");
	mb_kv_str(&b, "name", "orders-backend");
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_HELLO &&
		   span_is(in.token, in.token_len, "eyJhbGciOi.x.y") &&
		   span_is(in.name, in.name_len, "orders-backend"),
	       "hello with token and name");
	msgpack_sbuffer_destroy(&b.sb);

	mb_init(&b, 1);
	mb_kv_str(&b, "op", "hello");
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_HELLO && !in.has_token && !in.has_name,
	       "hello without token (open listener)");
	msgpack_sbuffer_destroy(&b.sb);

	/* Unknown keys, however nested, are ignored. */
	mb_init(&b, 4);
	mb_str(&b, "future");
	msgpack_pack_map(&b.pk, 1);
	mb_str(&b, "a");
	msgpack_pack_array(&b.pk, 3);
	msgpack_pack_int(&b.pk, -1);
	msgpack_pack_double(&b.pk, 1.5);
	msgpack_pack_nil(&b.pk);
	mb_kv_str(&b, "op", "ping");
	mb_str(&b, "flag");
	msgpack_pack_true(&b.pk);
	mb_str(&b, "ext");
	msgpack_pack_ext_with_body(&b.pk, "abcd", 4, 7);
	rc = decode_mb(&b, &in, &u, &why);
	TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_PING, "ping with unknown nested keys ignored");
	msgpack_sbuffer_destroy(&b.sb);

	{
		/* Hand-made encodings msgpack-c would not choose: map16, signed id. */
		static const uint8_t m16[] = { 0xde, 0x00, 0x02, 0xa2, 'o', 'p', 0xa4, 'p',
					       'i',  'n',  'g',	 0xa2, 'i', 'd', 0xd0, 0x05 };
		static const uint8_t m32[] = { 0xdf, 0,	   0,	0,   1,	  0xa2, 'o',
					       'p',  0xa4, 'p', 'i', 'n', 'g' };

		rc = sl_envelope_decode(m16, sizeof(m16), &in, &u, &why);
		TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_PING && in.id == 5,
		       "map16 and a positive int8 id");
		rc = sl_envelope_decode(m32, sizeof(m32), &in, &u, &why);
		TAP_OK(rc == 0 && in.op == SL_ENVELOPE_OP_PING, "map32");
	}
	msgpack_unpacked_destroy(&u);

	TAP_OK(!strcmp(sl_envelope_op_name(SL_ENVELOPE_OP_UNSUB), "unsub") &&
		   !strcmp(sl_envelope_op_name(SL_ENVELOPE_OP_PING), "ping") &&
		   !sl_envelope_op_name(0) && !sl_envelope_op_name(99),
	       "op names");
}

struct bad_case {
	uint8_t bytes[64];
	size_t len;
	const char *why_has;
	const char *what;
};

#define B(...) { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ })

static void test_bad_bytes(void)
{
	static const struct bad_case cases[] = {
		{ B(0x91, 0x01), "not a msgpack map", "array" },
		{ B(0xa3, 's', 'u', 'b'), "not a msgpack map", "string" },
		{ B(0xc0), "not a msgpack map", "nil" },
		{ B(0x05), "not a msgpack map", "integer" },
		{ B(0x81, 0xa2, 'o', 'p'), "truncated", "map missing a value" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g'), "truncated",
		  "map missing an entry" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n'), "truncated", "string cut short" },
		{ B(0x81, 0xa2, 'o', 'p', 0xd9), "truncated", "str8 without its length" },
		{ B(0x81, 0xa2, 'o', 'p', 0xc6, 0xff, 0xff, 0xff, 0xff), "truncated",
		  "bin32 announcing 4 GiB" },
		{ B(0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff), "truncated",
		  "array32 announcing 4 billion elements" },
		{ B(0x81, 0xa1, 'x', 0xdf, 0x7f, 0xff, 0xff, 0xff), "truncated",
		  "map32 announcing 2 billion entries" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xc0), "trailing",
		  "trailing nil" },
		{ B(0x80, 0x80), "trailing", "two maps" },
		{ B(0x81, 0xa1, 'x', 0xc1), "invalid msgpack", "reserved byte 0xc1" },
		{ B(0x81, 0x01, 0xa1, 'x'), "key is not a string", "integer key" },
		{ B(0x81, 0xc4, 0x02, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g'), "key is not a string",
		  "bin key" },
		{ B(0x80), "missing op", "empty map" },
		{ B(0x81, 0xa2, 'o', 'p', 0x01), "op must be a string", "integer op" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa2, 'e', 'v'), "unknown op", "server op ev" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa3, 'S', 'U', 'B'), "unknown op",
		  "ops are case-sensitive" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa0), "unknown op", "empty op" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa4, 's', 'u', 'b', 0), "unknown op", "op with a NUL" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0xff),
		  "id must be", "negative id" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0xca, 0x3f,
		    0x80, 0, 0),
		  "id must be", "float id" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0xa1, '1'),
		  "id must be", "string id" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0xc0),
		  "id must be", "nil id" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa5, 's', 'i', 'n', 'c', 'e',
		    0xd0, 0xfe),
		  "since must be", "negative since" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b', 0xa5, 't', 'o', 'p', 'i', 'c', 0xc4,
		    0x01, 'a'),
		  "topic must be a string", "bin topic" },
		{ B(0x83, 0xa2, 'o', 'p', 0xa3, 'p', 'u', 'b', 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1,
		    'a', 0xa4, 'd', 'a', 't', 'a', 0x07),
		  "data must be", "integer data" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 'l', 'l', 'o', 0xa5, 't', 'o', 'k', 'e',
		    'n', 0x90),
		  "token must be a string", "array token" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 'l', 'l', 'o', 0xa4, 'n', 'a', 'm', 'e',
		    0xc0),
		  "name must be a string", "nil name" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b'), "missing topic",
		  "sub without topic" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa5, 'u', 'n', 's', 'u', 'b'), "missing topic",
		  "unsub without topic" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa3, 'p', 'u', 'b', 0xa4, 'd', 'a', 't', 'a', 0xa0),
		  "missing topic", "pub without topic" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa3, 'p', 'u', 'b', 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1,
		    'a'),
		  "missing data", "pub without data" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa2, 'o', 'p', 0xa4, 'p', 'i',
		    'n', 'g'),
		  "duplicate key", "op twice" },
		{ B(0x83, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b', 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1,
		    'a', 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1, 'b'),
		  "duplicate key", "topic twice" },
	};
	struct sl_envelope_in in;
	msgpack_unpacked u;
	const char *why;
	size_t i;
	int rc;

	msgpack_unpacked_init(&u);
	why = NULL;
	rc = sl_envelope_decode((const uint8_t *)"", 0, &in, &u, &why);
	TAP_OK(rc == -EINVAL && why && strstr(why, "empty"), "empty message refused");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		rc = sl_envelope_decode(cases[i].bytes, cases[i].len, &in, &u, &why);
		TAP_OK(rc == -EINVAL && why && strstr(why, cases[i].why_has), "refused: %s (%s)",
		       cases[i].what, why ? why : "no why");
	}
	msgpack_unpacked_destroy(&u);
}

/* A refusal answers the request's id when the map gives exactly one valid id. */
static void test_refused_id(void)
{
	static const struct {
		uint8_t bytes[32];
		size_t len;
		bool has_id;
		uint64_t id;
		const char *what;
	} cases[] = {
		{ B(0x82, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b', 0xa2, 'i', 'd', 0x09), true, 9,
		  "sub without topic" },
		{ B(0x82, 0xa2, 'o', 'p', 0x05, 0xa2, 'i', 'd', 0xcd, 0x01, 0x00), true, 256,
		  "id after the key that fails" },
		{ B(0x82, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b', 0xa2, 'i', 'd', 0xa1, 'x'), false, 0,
		  "string id" },
		{ B(0x83, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b', 0xa2, 'i', 'd', 0x01, 0xa2, 'i', 'd',
		    0x02),
		  false, 0, "two ids" },
		{ B(0x81, 0xa2, 'o', 'p', 0xa3, 's', 'u', 'b'), false, 0, "no id" },
		{ B(0x92, 0xa2, 'i', 'd'), false, 0, "not a map" },
	};
	struct sl_envelope_in in;
	msgpack_unpacked u;
	const char *why;
	size_t i;
	int rc;

	msgpack_unpacked_init(&u);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		rc = sl_envelope_decode(cases[i].bytes, cases[i].len, &in, &u, &why);
		TAP_OK(rc == -EINVAL && in.has_id == cases[i].has_id &&
			   (!cases[i].has_id || in.id == cases[i].id),
		       "refused, id %s: %s", cases[i].has_id ? "kept" : "none", cases[i].what);
	}
	msgpack_unpacked_destroy(&u);
}

static void test_depth(void)
{
	uint8_t buf[64];
	struct sl_envelope_in in;
	msgpack_unpacked u;
	const char *why;
	size_t n, i;
	int rc;

	msgpack_unpacked_init(&u);
	/* {op:"ping", x:[[[...]]]} with the map at depth 1. */
	for (int depth = SL_ENVELOPE_MAX_DEPTH; depth <= SL_ENVELOPE_MAX_DEPTH + 1; depth++) {
		static const uint8_t head[] = { 0x82, 0xa2, 'o', 'p',  0xa4, 'p',
						'i',  'n',  'g', 0xa1, 'x' };

		memcpy(buf, head, sizeof(head));
		n = sizeof(head);
		for (i = 0; i < (size_t)depth - 1; i++)
			buf[n++] = i + 2 == (size_t)depth ? 0x90 : 0x91;
		why = NULL;
		rc = sl_envelope_decode(buf, n, &in, &u, &why);
		if (depth == SL_ENVELOPE_MAX_DEPTH)
			TAP_OK(rc == 0, "nesting of %d accepted (%s)", depth, why ? why : "ok");
		else
			TAP_OK(rc == -EINVAL && why && strstr(why, "deeply"),
			       "nesting of %d refused", depth);
	}
	msgpack_unpacked_destroy(&u);
}

/* The meter's view of a payload sent in each framing. */
static uint8_t meter_kind(enum sl_framing framing, const uint8_t *payload, size_t len)
{
	uint8_t frame[64] = { 0 };
	struct sl_frame f;
	size_t h = 0;

	if (framing == SL_FRAMING_WS) {
		h = sl_ws_frame_header(frame, SL_WS_OP_BINARY, true, len);
	} else {
		frame[0] = (uint8_t)(len >> 24);
		frame[1] = (uint8_t)(len >> 16);
		frame[2] = (uint8_t)(len >> 8);
		frame[3] = (uint8_t)len;
		h = 4;
	}
	memcpy(frame + h, payload, len < 32 ? len : 32);
	sl_frame_parse(framing, frame, SL_STASH_BYTES, &f);
	if (f.status != SL_PARSE_OK || f.len != h + len)
		return 0xff;
	return f.kind;
}

static const msgpack_object *field(const msgpack_object *map, const char *key)
{
	uint32_t i;

	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && span_is(k->via.str.ptr, k->via.str.size, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static void test_encoders(void)
{
	static const uint8_t marker[] = { 0x85, 0xa2, 0x6f, 0x70, 0xa2, 0x65, 0x76 };
	static const uint8_t ack[] = {
		0x82, 0xa2, 'o', 'p', 0xa3, 'a', 'c', 'k', 0xa2, 'i', 'd', 5
	};
	static const uint8_t ok[] = { 0x81, 0xa2, 'o', 'p', 0xa2, 'o', 'k' };
	static const uint8_t pong[] = { 0x81, 0xa2, 'o', 'p', 0xa4, 'p', 'o', 'n', 'g' };
	const msgpack_object *v, *o;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	size_t off = 0;
	const uint8_t *p;

	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);

	TAP_OK(sl_envelope_encode_ev(&sb, "stocks.acme", 11, 42, 1700000000123456789ull,
				     (const uint8_t *)"\x01\x02\x03", 3) == 0,
	       "ev encoded");
	p = (const uint8_t *)sb.data;
	TAP_OK(sb.size > 7 && !memcmp(p, marker, 7), "ev starts with 85 a2 6f 70 a2 65 76");
	TAP_OK(meter_kind(SL_FRAMING_WS, p, sb.size) == SL_FRAME_EVENT,
	       "meter: ev in a WebSocket binary frame is an event");
	TAP_OK(meter_kind(SL_FRAMING_LEN4, p, sb.size) == SL_FRAME_EVENT,
	       "meter: ev in a native frame is an event");
	TAP_OK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   off == sb.size && u.data.type == MSGPACK_OBJECT_MAP && u.data.via.map.size == 5,
	       "ev is one 5-entry map");
	o = &u.data;
	v = field(o, "topic");
	TAP_OK(v && v->type == MSGPACK_OBJECT_STR &&
		   span_is(v->via.str.ptr, v->via.str.size, "stocks.acme"),
	       "ev topic");
	v = field(o, "seq");
	TAP_OK(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 42, "ev seq");
	v = field(o, "ts");
	TAP_OK(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		   v->via.u64 == 1700000000123456789ull,
	       "ev ts in ns");
	v = field(o, "data");
	TAP_OK(v && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 3 &&
		   !memcmp(v->via.bin.ptr, "\x01\x02\x03", 3),
	       "ev data is bin");
	msgpack_sbuffer_clear(&sb);

	sl_envelope_encode_ev(&sb, "t", 1, 1, 1, NULL, 0);
	TAP_OK(!memcmp(sb.data, marker, 7) &&
		   meter_kind(SL_FRAMING_LEN4, (const uint8_t *)sb.data, sb.size) == SL_FRAME_EVENT,
	       "ev with empty data is still an event");
	msgpack_sbuffer_clear(&sb);

	TAP_OK(sl_envelope_encode_ack(&sb, true, 5, false, 0) == 0 && sb.size == sizeof(ack) &&
		   !memcmp(sb.data, ack, sizeof(ack)),
	       "ack {op,id} byte for byte");
	TAP_OK(meter_kind(SL_FRAMING_WS, (const uint8_t *)sb.data, sb.size) == SL_FRAME_REPLY &&
		   meter_kind(SL_FRAMING_LEN4, (const uint8_t *)sb.data, sb.size) == SL_FRAME_REPLY,
	       "meter: ack is a reply");
	msgpack_sbuffer_clear(&sb);
	off = 0;
	sl_envelope_encode_ack(&sb, true, 7, true, 99);
	TAP_OK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   (uint8_t)sb.data[0] == 0x83 && field(&u.data, "seq") &&
		   field(&u.data, "seq")->via.u64 == 99 && field(&u.data, "id")->via.u64 == 7,
	       "ack with seq: 3 entries");
	msgpack_sbuffer_clear(&sb);
	off = 0;
	sl_envelope_encode_ack(&sb, false, 0, true, 4);
	TAP_OK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   (uint8_t)sb.data[0] == 0x82 && field(&u.data, "seq")->via.u64 == 4 &&
		   !field(&u.data, "id") &&
		   meter_kind(SL_FRAMING_LEN4, (const uint8_t *)sb.data, sb.size) == SL_FRAME_REPLY,
	       "ack to a request without id: no id (not a made-up 0), still a reply to the meter");
	msgpack_sbuffer_clear(&sb);

	off = 0;
	sl_envelope_encode_err(&sb, true, 3, 403, "topic not allowed");
	v = NULL;
	TAP_OK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   (uint8_t)sb.data[0] == 0x84 &&
		   !memcmp(sb.data + 1,
			   "\xa2op\xa3"
			   "err",
			   7) &&
		   field(&u.data, "id")->via.u64 == 3 && field(&u.data, "code")->via.u64 == 403 &&
		   span_is(field(&u.data, "msg")->via.str.ptr, field(&u.data, "msg")->via.str.size,
			   "topic not allowed"),
	       "err with id, code and msg");
	TAP_OK(meter_kind(SL_FRAMING_WS, (const uint8_t *)sb.data, sb.size) == SL_FRAME_REPLY,
	       "meter: err is a reply");
	msgpack_sbuffer_clear(&sb);
	off = 0;
	sl_envelope_encode_err(&sb, false, 0, 410, NULL);
	TAP_OK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   (uint8_t)sb.data[0] == 0x83 && !field(&u.data, "id") &&
		   field(&u.data, "code")->via.u64 == 410 &&
		   field(&u.data, "msg")->via.str.size == 0,
	       "unsolicited err without id");
	msgpack_sbuffer_clear(&sb);

	TAP_OK(sl_envelope_encode_simple(&sb, "ok") == 0 && sb.size == sizeof(ok) &&
		   !memcmp(sb.data, ok, sizeof(ok)),
	       "{op:\"ok\"} byte for byte");
	msgpack_sbuffer_clear(&sb);
	TAP_OK(sl_envelope_encode_simple(&sb, "pong") == 0 && sb.size == sizeof(pong) &&
		   !memcmp(sb.data, pong, sizeof(pong)) &&
		   meter_kind(SL_FRAMING_LEN4, (const uint8_t *)sb.data, sb.size) == SL_FRAME_REPLY,
	       "{op:\"pong\"} byte for byte, a reply to the meter");
	msgpack_sbuffer_clear(&sb);

	/* Encoders append: two maps back to back in one buffer. */
	sl_envelope_encode_simple(&sb, "pong");
	sl_envelope_encode_ack(&sb, true, 5, false, 0);
	TAP_OK(sb.size == sizeof(pong) + sizeof(ack) &&
		   !memcmp(sb.data + sizeof(pong), ack, sizeof(ack)),
	       "encoders append");

	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
	test_ops();
	test_bad_bytes();
	test_refused_id();
	test_depth();
	test_encoders();
	return tap_done();
}
