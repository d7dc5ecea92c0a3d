// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel meter's frame header parsers (bpf/frame.h), compiled for
 * userspace as tests/unit/test_frame.c does: what sk_msg reads of every
 * WebSocket, native, SSE and TLS frame the gateway sends, payload bytes of
 * publishers included. Byte 0 picks the framing; the rest is the start of a
 * frame, of which the kernel holds at most SL_STASH_BYTES.
 */
#include <string.h>
#include <linux/types.h>

#define SL_INLINE static inline
#include "sluice/meter.h"
#include "frame.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[32] = { 0 };
	struct sl_frame f, g;
	__u8 framing;
	__u32 avail;

	if (size < 1)
		return 0;
	framing = data[0] % SL_FRAMING__MAX;
	avail = size - 1 < SL_STASH_BYTES ? (__u32)(size - 1) : SL_STASH_BYTES;
	memcpy(buf, data + 1, avail);
	sl_frame_parse(framing, buf, avail, &f);

	FUZZ_CHECK(f.status <= SL_PARSE_BAD && f.kind <= SL_FRAME_FRAGMENT);
	/* A frame must be classifiable from what the kernel can stash. */
	FUZZ_CHECK(f.need <= SL_STASH_BYTES);
	FUZZ_CHECK((f.status == SL_PARSE_MORE) == (f.status != SL_PARSE_BAD && avail < f.need));
	if (f.status == SL_PARSE_OK) {
		FUZZ_CHECK(f.len >= f.need && f.len > 0);
		FUZZ_CHECK(f.len <= SL_FRAME_MAX_LEN + 14 /* WebSocket header with a mask */);
		/* Only the first need bytes matter: the bytes after them change nothing. */
		memset(buf + f.need, 0xa5, sizeof(buf) - f.need);
		sl_frame_parse(framing, buf, f.need, &g);
		FUZZ_CHECK(g.status == SL_PARSE_OK && g.len == f.len && g.kind == f.kind &&
			   g.fin == f.fin && g.opcode == f.opcode);
	}
	if (f.status == SL_PARSE_OK && f.need > 0) {
		sl_frame_parse(framing, buf, f.need - 1, &g);
		FUZZ_CHECK(g.status == SL_PARSE_MORE);
	}
	return 0;
}
