/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Frame encoders for the meter's test sender and the kernel benchmark: they
 * write frames the way the gateway does (WebSocket server frames, the native
 * 4-byte length prefix, SSE as fixed-width HTTP chunks, TLS-shaped records)
 * with payloads that say whether the frame is an event.
 */
#ifndef SLUICE_TESTS_FRAMES_H
#define SLUICE_TESTS_FRAMES_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kern/kern.h"
#include "sluice/meter.h"

/* What the generator makes; the meter must see the same kind. */
enum tf_kind {
	TF_EVENT = 0,
	TF_REPLY = 1,
	TF_CONTROL = 2,
	/*
	 * A reply whose head is an event's but for the marker's last byte
	 * ("ew" for "ev", "id;" for "id:"): the meter must tell the two apart
	 * by that byte alone.
	 */
	TF_LOOKALIKE = 3,
};

#define TF_MAX_HEADER 16

static inline uint64_t tf_rand(uint64_t *state)
{
	/* xorshift64*: reproducible from the seed, good enough to pick sizes. */
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ull;
}

/* Writes the payload: the `ev` marker for events (when it fits), then a pattern. */
static inline void tf_payload(uint8_t *p, size_t len, enum tf_kind kind, uint32_t index,
			      enum sl_framing framing)
{
	static const uint8_t ev[] = { 0x84, 0xa2, 'o', 'p', 0xa2, 'e', 'v' };
	static const uint8_t ack[] = { 0x82, 0xa2, 'o', 'p', 0xa3, 'a', 'c', 'k' };
	size_t i, at = 0;

	if (framing == SL_FRAMING_SSE) {
		/* SSE records: events start with "id:", replies are comments. */
		const char *head = kind == TF_EVENT ? "id:" : kind == TF_LOOKALIKE ? "id;" : ":";

		for (i = 0; i < len && head[i]; i++)
			p[i] = head[i];
		at = i;
	} else if ((kind == TF_EVENT || kind == TF_LOOKALIKE) && len >= sizeof(ev)) {
		memcpy(p, ev, sizeof(ev));
		at = sizeof(ev);
		if (kind == TF_LOOKALIKE)
			p[at - 1] = 'w';
	} else if (kind == TF_REPLY && len >= sizeof(ack)) {
		memcpy(p, ack, sizeof(ack));
		at = sizeof(ack);
	}
	for (i = at; i < len; i++)
		p[i] = (uint8_t)('a' + (index * 7 + i) % 26);
}

/* Largest payload a framing carries in one frame (TLS records are bounded). */
static inline size_t tf_max_payload(enum sl_framing framing)
{
	return framing == SL_FRAMING_TLS ? 16384 + 2048 : (size_t)1 << 30;
}

/* Encodes one frame into out (header + payload + trailer); returns its length. */
static inline size_t tf_encode(uint8_t *out, enum sl_framing framing, enum tf_kind kind,
			       size_t plen, uint32_t index)
{
	size_t hl = 0;
	char hex[16];

	switch (framing) {
	case SL_FRAMING_WS:
		out[0] = 0x80 | (kind == TF_CONTROL ? 0x9 : 0x2); /* FIN + ping or binary */
		if (plen < 126) {
			out[1] = (uint8_t)plen;
			hl = 2;
		} else if (plen < 65536) {
			out[1] = 126;
			out[2] = (uint8_t)(plen >> 8);
			out[3] = (uint8_t)plen;
			hl = 4;
		} else {
			out[1] = 127;
			memset(out + 2, 0, 4);
			out[6] = (uint8_t)(plen >> 24);
			out[7] = (uint8_t)(plen >> 16);
			out[8] = (uint8_t)(plen >> 8);
			out[9] = (uint8_t)plen;
			hl = 10;
		}
		break;
	case SL_FRAMING_LEN4:
		out[0] = (uint8_t)(plen >> 24);
		out[1] = (uint8_t)(plen >> 16);
		out[2] = (uint8_t)(plen >> 8);
		out[3] = (uint8_t)plen;
		hl = 4;
		break;
	case SL_FRAMING_SSE:
		snprintf(hex, sizeof(hex), "%08zx", plen);
		memcpy(out, hex, 8);
		out[8] = '\r';
		out[9] = '\n';
		hl = 10;
		break;
	case SL_FRAMING_TLS:
		out[0] = kind == TF_EVENT ? 23 : kind == TF_CONTROL ? 21 : 22;
		out[1] = 3;
		out[2] = 3;
		out[3] = (uint8_t)(plen >> 8);
		out[4] = (uint8_t)plen;
		hl = 5;
		break;
	default:
		break;
	}
	if (framing == SL_FRAMING_TLS)
		memset(out + hl, (int)(index & 0xff), plen); /* encrypted bytes: opaque */
	else
		tf_payload(out + hl, plen, kind, index, framing);
	if (framing == SL_FRAMING_SSE) {
		out[hl + plen] = '\r';
		out[hl + plen + 1] = '\n';
		return hl + plen + 2;
	}
	return hl + plen;
}

/* Whether the meter classifies this frame as an event (the marker must fit). */
static inline int tf_is_event(enum sl_framing framing, enum tf_kind kind, size_t plen)
{
	if (kind != TF_EVENT)
		return 0;
	if (framing == SL_FRAMING_SSE)
		return plen >= 3;
	if (framing == SL_FRAMING_TLS)
		return 1;
	return plen >= 7;
}

static inline int tf_framing_parse(const char *s, enum sl_framing *out)
{
	static const enum sl_framing all[] = { SL_FRAMING_WS, SL_FRAMING_LEN4, SL_FRAMING_SSE,
					       SL_FRAMING_TLS, SL_FRAMING_RAW };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, sl_framing_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

#endif
