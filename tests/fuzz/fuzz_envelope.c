// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The msgpack envelope decoder (proto/envelope.c): every binary WebSocket
 * message and every native publisher frame is one map decoded here.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "envelope_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	fuzz_envelope_decode(buf, size);
	free(buf);
	return 0;
}
