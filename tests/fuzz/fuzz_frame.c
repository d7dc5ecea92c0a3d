// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The native publisher stream (proto/envelope.c sl_envelope_frame_next, as
 * net/pub.c drives it): 4-byte big-endian lengths, each followed by one
 * envelope. The first input byte picks limits.max_frame_bytes; the rest is
 * the stream.
 */
#include <errno.h>
#include <string.h>

#include "envelope_check.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[] = { 1u << 20, 0, 1, 16, 255, 256, 4096, 65536 };
	const uint8_t *payload;
	size_t at = 0, max, plen;
	uint8_t *buf, *copy;
	ssize_t n;

	if (size < 1)
		return 0;
	max = bounds[data[0] & 7];
	size--;
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size);
	for (;;) {
		n = sl_envelope_frame_next(buf + at, size - at, max, &payload, &plen);
		FUZZ_CHECK(n >= 0 || n == -EMSGSIZE);
		if (n <= 0) {
			/* Need more: fewer bytes than a header, or than the header announces. */
			if (n == 0)
				FUZZ_CHECK(size - at < SL_ENVELOPE_FRAME_HEADER ||
					   size - at - SL_ENVELOPE_FRAME_HEADER <
					       ((size_t)buf[at] << 24 | (size_t)buf[at + 1] << 16 |
						(size_t)buf[at + 2] << 8 | buf[at + 3]));
			break;
		}
		FUZZ_CHECK((size_t)n == SL_ENVELOPE_FRAME_HEADER + plen && (size_t)n <= size - at);
		FUZZ_CHECK(plen <= max && payload == buf + at + SL_ENVELOPE_FRAME_HEADER);
		/* An exact-size copy, so that ASan sees a read past the frame. */
		copy = malloc(plen ? plen : 1);
		if (!copy)
			abort();
		memcpy(copy, payload, plen);
		fuzz_envelope_decode(copy, plen);
		free(copy);
		at += (size_t)n;
	}
	free(buf);
	return 0;
}
