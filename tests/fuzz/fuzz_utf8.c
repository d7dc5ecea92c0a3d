// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Strict UTF-8 validation (net/utf8.c), which guards WebSocket text messages
 * and SSE payloads: whole-buffer and incremental answers agree, at every
 * split point, with a plain reference decoder written from RFC 3629.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "net/utf8.h"

static bool reference_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
			return false; /* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool want = reference_valid(data, size);

	FUZZ_CHECK(sl_utf8_valid(data, size) == want);
	for (size_t cut = 0; cut <= size && cut <= 64; cut++) {
		struct sl_utf8 st = { 0 };
		bool ok = sl_utf8_feed(&st, data, cut) && sl_utf8_feed(&st, data + cut, size - cut);

		FUZZ_CHECK((ok && sl_utf8_complete(&st)) == want);
		/* A prefix of valid text is never refused, only incomplete. */
		if (want) {
			struct sl_utf8 pre = { 0 };

			FUZZ_CHECK(sl_utf8_feed(&pre, data, cut));
		}
	}
	return 0;
}
