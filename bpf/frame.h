/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Frame header parsing for the kernel meter. Pure functions over a small
 * byte buffer, so that the same source runs inside the sk_msg program and in
 * the userspace unit tests (tests/unit/test_frame.c): sk_msg has no
 * BPF_PROG_TEST_RUN, so this is where the parsing rules are proven.
 *
 * The buffer holds the first bytes of a frame (at most SL_STASH_BYTES) and
 * `avail` says how many are valid. Every index into it is a constant below
 * SL_STASH_BYTES, or masked, which keeps the verifier's job trivial.
 */
#ifndef SLUICE_BPF_FRAME_H
#define SLUICE_BPF_FRAME_H

#ifndef SL_INLINE
#define SL_INLINE static __always_inline
#endif

/* The gateway writes `ev` maps with `op` first: fixmap, "op", "ev". */
#define SL_EV_MARKER_LEN 7

/* Largest frame the meter follows; anything longer means the stream is not framed. */
#define SL_FRAME_MAX_LEN (1u << 30)

/* Largest TLS record: 2^14 plaintext plus the expansion RFC 8446 allows. */
#define SL_TLS_MAX_RECORD (16384 + 2048)

enum sl_parse_status {
	SL_PARSE_OK = 0,   /* frame length and kind known */
	SL_PARSE_MORE = 1, /* `need` bytes are needed, fewer are available */
	SL_PARSE_BAD = 2,  /* not a frame of this framing: the stream is not what we think */
};

struct sl_frame {
	__u32 len;  /* whole frame: header, payload and trailer */
	__u32 need; /* bytes from the frame start needed to classify it */
	__u8 kind;  /* enum sl_frame_kind */
	__u8 status;
	__u8 fin;    /* WebSocket: last frame of its message */
	__u8 opcode; /* WebSocket opcode */
};

SL_INLINE __u32 sl_min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/* True when the payload that starts at `at` begins with the `ev` marker. */
SL_INLINE int sl_is_ev_payload(const __u8 *b, __u32 at)
{
	return (b[at & 31] & 0xf0) == 0x80 && b[(at + 1) & 31] == 0xa2 && b[(at + 2) & 31] == 'o' &&
	       b[(at + 3) & 31] == 'p' && b[(at + 4) & 31] == 0xa2 && b[(at + 5) & 31] == 'e' &&
	       b[(at + 6) & 31] == 'v';
}

SL_INLINE int sl_hex_value(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Sets need, then status MORE when avail < need; returns nonzero when ready. */
SL_INLINE int sl_frame_need(struct sl_frame *f, __u32 need, __u32 avail)
{
	f->need = need;
	if (avail < need) {
		f->status = SL_PARSE_MORE;
		return 0;
	}
	return 1;
}

/*
 * RFC 6455 §5.2 server frames: 2-byte base header, 16- or 64-bit extended
 * length, a masking key if MASK is set (servers never mask, but a frame is a
 * frame). Data frames are events when their payload carries the `ev` marker.
 */
SL_INLINE void sl_parse_ws(const __u8 *b, __u32 avail, struct sl_frame *f)
{
	__u32 hl = 2, plen;
	__u8 len7;

	if (!sl_frame_need(f, 2, avail))
		return;
	f->fin = b[0] >> 7;
	f->opcode = b[0] & 0x0f;
	len7 = b[1] & 0x7f;
	if (len7 == 126)
		hl = 4;
	else if (len7 == 127)
		hl = 10;
	if (b[1] & 0x80)
		hl += 4;
	if (!sl_frame_need(f, hl, avail))
		return;
	if (len7 == 126) {
		plen = (__u32)b[2] << 8 | b[3];
	} else if (len7 == 127) {
		if (b[2] | b[3] | b[4] | b[5]) {
			f->status = SL_PARSE_BAD;
			return;
		}
		plen = (__u32)b[6] << 24 | (__u32)b[7] << 16 | (__u32)b[8] << 8 | b[9];
	} else {
		plen = len7;
	}
	if (plen > SL_FRAME_MAX_LEN || (f->opcode >= 3 && f->opcode <= 7) || f->opcode > 10) {
		f->status = SL_PARSE_BAD;
		return;
	}
	f->len = hl + plen;
	if (f->opcode >= 8) {
		f->kind = SL_FRAME_CONTROL;
	} else if (f->opcode == 0) {
		f->kind = SL_FRAME_FRAGMENT;
	} else {
		if (!sl_frame_need(f, hl + sl_min_u32(plen, SL_EV_MARKER_LEN), avail))
			return;
		f->kind = plen >= SL_EV_MARKER_LEN && sl_is_ev_payload(b, hl) ? SL_FRAME_EVENT
									      : SL_FRAME_REPLY;
	}
	f->status = SL_PARSE_OK;
}

/* The native publisher/subscriber framing: 4-byte big-endian length, msgpack map. */
SL_INLINE void sl_parse_len4(const __u8 *b, __u32 avail, struct sl_frame *f)
{
	__u32 plen;

	if (!sl_frame_need(f, 4, avail))
		return;
	plen = (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
	if (plen > SL_FRAME_MAX_LEN) {
		f->status = SL_PARSE_BAD;
		return;
	}
	if (!sl_frame_need(f, 4 + sl_min_u32(plen, SL_EV_MARKER_LEN), avail))
		return;
	f->len = 4 + plen;
	f->kind =
	    plen >= SL_EV_MARKER_LEN && sl_is_ev_payload(b, 4) ? SL_FRAME_EVENT : SL_FRAME_REPLY;
	f->status = SL_PARSE_OK;
}

/*
 * SSE over HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), one chunk per
 * SSE record, the size always written as 8 hex digits: "0000002a\r\n" then
 * the record then "\r\n". Leading zeros are valid chunk-size syntax, and a
 * fixed width is what lets the kernel find each record without scanning.
 * Records that start with "id:" are events; comments (heartbeats) and the
 * sluice.close / sluice.gap notices are replies. The last chunk is
 * "00000000\r\n\r\n".
 */
SL_INLINE void sl_parse_sse(const __u8 *b, __u32 avail, struct sl_frame *f)
{
	__u32 plen = 0;
	int i, v;

	if (!sl_frame_need(f, 10, avail))
		return;
	for (i = 0; i < 8; i++) {
		v = sl_hex_value(b[i]);
		if (v < 0) {
			f->status = SL_PARSE_BAD;
			return;
		}
		plen = plen << 4 | (__u32)v;
	}
	if (b[8] != '\r' || b[9] != '\n' || plen > SL_FRAME_MAX_LEN) {
		f->status = SL_PARSE_BAD;
		return;
	}
	if (!sl_frame_need(f, 10 + sl_min_u32(plen, 3), avail))
		return;
	f->len = 10 + plen + 2;
	f->kind = plen >= 3 && b[10] == 'i' && b[11] == 'd' && b[12] == ':' ? SL_FRAME_EVENT
									    : SL_FRAME_REPLY;
	f->status = SL_PARSE_OK;
}

/*
 * TLS records (RFC 8446 §5.1): type, legacy version 3.x, 16-bit length.
 * Application data records are events; alerts are control. The meter reads
 * nothing inside a record (it is encrypted).
 */
SL_INLINE void sl_parse_tls(const __u8 *b, __u32 avail, struct sl_frame *f)
{
	__u32 plen;

	if (!sl_frame_need(f, 5, avail))
		return;
	plen = (__u32)b[3] << 8 | b[4];
	if (b[0] < 20 || b[0] > 24 || b[1] != 3 || plen > SL_TLS_MAX_RECORD) {
		f->status = SL_PARSE_BAD;
		return;
	}
	f->len = 5 + plen;
	if (b[0] == 23)
		f->kind = SL_FRAME_EVENT;
	else if (b[0] == 21)
		f->kind = SL_FRAME_CONTROL;
	else
		f->kind = SL_FRAME_REPLY;
	f->status = SL_PARSE_OK;
}

/*
 * The `ev` marker (sl_is_ev_payload) in a little-endian word of the
 * payload's first 8 bytes: bytes 0..6, the first only in its upper nibble.
 */
#define SL_EV_MARKER_MASK 0x00fffffffffffff0ull
#define SL_EV_MARKER_WORD 0x007665a2706fa280ull
/* "id:", an SSE event record's start, as the low 3 bytes of a little-endian word. */
#define SL_SSE_ID_WORD 0x3a6469u

/*
 * The usual frames, parsed from a frame's first 16 bytes as two
 * little-endian words (the meter's aligned stack loads): a whole unmasked
 * WebSocket text/binary message with a 7- or 16-bit length, a native len4
 * frame, or an SSE chunk with a lowercase hex length. Returns 1 with f->len
 * and f->kind set exactly as sl_frame_parse would; 0 for anything else,
 * which sl_frame_parse then handles. No loop and few branches: it runs for
 * every frame inside the meter's pass loop, where a branch per byte took the
 * verifier past its million instructions, and the call into the general
 * parser was half a frame's cost (test_frame.c holds it to sl_frame_parse).
 */
SL_INLINE int sl_frame_quick(__u32 framing, __u64 w0, __u64 w1, struct sl_frame *f)
{
	__u32 b0 = w0 & 0xff, b1 = w0 >> 8 & 0xff, plen, hl;
	__u64 word;

	if (framing == SL_FRAMING_WS) {
		/* FIN, no RSV, opcode 1 or 2; no mask bit (the server never masks). */
		if ((b0 != 0x81 && b0 != 0x82) || (b1 & 0x80) || b1 == 127)
			return 0;
		if (b1 == 126) {
			hl = 4;
			plen = (__u32)(w0 >> 16 & 0xff) << 8 | (__u32)(w0 >> 24 & 0xff);
		} else {
			hl = 2;
			plen = b1;
		}
	} else if (framing == SL_FRAMING_LEN4) {
		plen =
		    b0 << 24 | b1 << 16 | (__u32)(w0 >> 16 & 0xff) << 8 | (__u32)(w0 >> 24 & 0xff);
		if (plen > SL_FRAME_MAX_LEN)
			return 0;
		hl = 4;
	} else if (framing == SL_FRAMING_SSE) {
		/*
		 * "%08x\r\n": the digits decoded and encoded again in word
		 * operations; anything but lowercase hex fails the compare.
		 */
		__u64 n = (w0 & 0x0f0f0f0f0f0f0f0full) + 9 * (w0 >> 6 & 0x0101010101010101ull);
		__u64 text = n + 0x3030303030303030ull +
			     39 * ((n + 0x0606060606060606ull) >> 4 & 0x0101010101010101ull);
		__u64 t;

		if (text != w0 || (n & 0xf0f0f0f0f0f0f0f0ull) || (w1 & 0xffff) != 0x0a0d)
			return 0;
		/* Big-endian digits in a little-endian word: pairs, then quads, then all. */
		t = (n << 4 | n >> 8) & 0x00ff00ff00ff00ffull;
		t = (t << 8 | t >> 16) & 0x0000ffff0000ffffull;
		plen = (__u32)((t << 16 | t >> 32) & 0xffffffffull);
		if (plen > SL_FRAME_MAX_LEN)
			return 0;
		f->len = 10 + plen + 2;
		f->kind = plen >= 3 && (w1 >> 16 & 0xffffff) == SL_SSE_ID_WORD ? SL_FRAME_EVENT
									       : SL_FRAME_REPLY;
		return 1;
	} else {
		return 0;
	}
	/* The payload's first 8 bytes, from byte hl (2 or 4) of the two words. */
	word = hl == 2 ? (w0 >> 16 | w1 << 48) : (w0 >> 32 | w1 << 32);
	f->len = hl + plen;
	f->kind = plen >= SL_EV_MARKER_LEN && (word & SL_EV_MARKER_MASK) == SL_EV_MARKER_WORD
		      ? SL_FRAME_EVENT
		      : SL_FRAME_REPLY;
	return 1;
}

/*
 * How many of a frame's first bytes sl_frame_quick reads for the head in w0
 * (at least 9): the header and the start of the payload it classifies by.
 * Two heads equal in these bytes parse the same.
 */
SL_INLINE __u32 sl_frame_quick_reads(__u32 framing, __u64 w0)
{
	if (framing == SL_FRAMING_SSE)
		return 13;
	if (framing == SL_FRAMING_WS && (w0 >> 8 & 0xff) != 126)
		return 2 + SL_EV_MARKER_LEN;
	return 4 + SL_EV_MARKER_LEN;
}

SL_INLINE void sl_frame_parse(__u8 framing, const __u8 *b, __u32 avail, struct sl_frame *f)
{
	f->len = 0;
	f->need = 0;
	f->kind = SL_FRAME_REPLY;
	f->fin = 1;
	f->opcode = 0;
	f->status = SL_PARSE_BAD;
	switch (framing) {
	case SL_FRAMING_WS:
		sl_parse_ws(b, avail, f);
		break;
	case SL_FRAMING_LEN4:
		sl_parse_len4(b, avail, f);
		break;
	case SL_FRAMING_SSE:
		sl_parse_sse(b, avail, f);
		break;
	case SL_FRAMING_TLS:
		sl_parse_tls(b, avail, f);
		break;
	default:
		break;
	}
}

#endif
