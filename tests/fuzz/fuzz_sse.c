// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SSE Last-Event-ID parsing (net/sse.c sl_sse_parse_last_event_id): the
 * header value a reconnecting EventSource sends back, "<topic>:<seq>".
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "net/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Two sizes of topic buffer: the gateway's, and one that is often too small. */
	static const size_t caps[] = { 256, 8 };
	char again[300];
	uint64_t seq, seq2;

	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		char *topic = malloc(caps[k]), *topic2 = malloc(caps[k]);
		size_t tl;
		int n;

		if (!topic || !topic2)
			abort();
		if (sl_sse_parse_last_event_id((const char *)data, size, topic, caps[k], &seq) ==
		    0) {
			tl = strnlen(topic, caps[k]);
			FUZZ_CHECK(tl > 0 && tl < caps[k] && tl < size);
			FUZZ_CHECK(!memcmp(topic, data, tl) && data[tl] == ':');
			for (size_t i = 0; i < tl; i++)
				FUZZ_CHECK((unsigned char)topic[i] >= 0x20 && topic[i] != 0x7f);
			/* What the gateway writes back in id: lines parses to the same values. */
			n = snprintf(again, sizeof(again), "%s:%" PRIu64, topic, seq);
			FUZZ_CHECK(n > 0 && (size_t)n < sizeof(again));
			FUZZ_CHECK(sl_sse_parse_last_event_id(again, (size_t)n, topic2, caps[k],
							      &seq2) == 0);
			FUZZ_CHECK(seq2 == seq && !strcmp(topic, topic2));
		}
		free(topic);
		free(topic2);
	}
	return 0;
}
