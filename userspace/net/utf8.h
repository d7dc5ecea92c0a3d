/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Strict UTF-8 validation (RFC 3629 §4, Unicode Table 3-7 "well-formed
 * byte sequences"): no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF. Incremental, so that a WebSocket text message split across
 * frames can be failed as soon as its first bad byte arrives (RFC 6455 §8.1).
 */
#ifndef SLUICE_NET_UTF8_H
#define SLUICE_NET_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero-initialised means "at a character boundary". */
struct sl_utf8 {
	uint8_t need; /* continuation bytes still expected */
	uint8_t lo;   /* range allowed for the next continuation byte */
	uint8_t hi;
};

/* Feeds bytes; false as soon as they cannot be part of well-formed UTF-8. */
bool sl_utf8_feed(struct sl_utf8 *st, const uint8_t *s, size_t len);

/* True when everything fed so far ends on a character boundary. */
bool sl_utf8_complete(const struct sl_utf8 *st);

/* Whole-buffer check: well-formed and not truncated. */
bool sl_utf8_valid(const uint8_t *s, size_t len);

#endif
