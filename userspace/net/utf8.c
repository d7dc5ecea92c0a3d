// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "net/utf8.h"

bool sl_utf8_feed(struct sl_utf8 *st, const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (st->need) {
			if (c < st->lo || c > st->hi)
				return false;
			st->need--;
			/* Only the first continuation byte has a narrowed range. */
			st->lo = 0x80;
			st->hi = 0xbf;
			continue;
		}
		if (c < 0x80)
			continue;
		/*
		 * Unicode Table 3-7: the lead byte fixes the length and the
		 * range of the second byte, which is what excludes overlongs
		 * (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and
		 * code points above U+10FFFF (F4 90.., F5..FF).
		 */
		st->lo = 0x80;
		st->hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			st->need = 1;
		} else if (c == 0xe0) {
			st->need = 2;
			st->lo = 0xa0;
		} else if (c == 0xed) {
			st->need = 2;
			st->hi = 0x9f;
		} else if (c >= 0xe1 && c <= 0xef) {
			st->need = 2;
		} else if (c == 0xf0) {
			st->need = 3;
			st->lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3) {
			st->need = 3;
		} else if (c == 0xf4) {
			st->need = 3;
			st->hi = 0x8f;
		} else {
			return false;
		}
	}
	return true;
}

bool sl_utf8_complete(const struct sl_utf8 *st)
{
	return st->need == 0;
}

bool sl_utf8_valid(const uint8_t *s, size_t len)
{
	struct sl_utf8 st = { 0 };

	return sl_utf8_feed(&st, s, len) && sl_utf8_complete(&st);
}
