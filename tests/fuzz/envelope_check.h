/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Decodes one envelope and checks what the decoder promises (fuzz_envelope, fuzz_frame). */
#ifndef SLUICE_TESTS_FUZZ_ENVELOPE_CHECK_H
#define SLUICE_TESTS_FUZZ_ENVELOPE_CHECK_H

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "proto/envelope.h"

static inline void fuzz_envelope_decode(const uint8_t *buf, size_t len)
{
	struct sl_envelope_in in;
	msgpack_unpacked scratch;
	const char *why = NULL;
	int ret;

	msgpack_unpacked_init(&scratch);
	ret = sl_envelope_decode(buf, len, &in, &scratch, &why);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret == -EINVAL)
		FUZZ_CHECK(why != NULL);
	if (ret == 0) {
		FUZZ_CHECK(sl_envelope_op_name(in.op) != NULL);
		/* Strings and data point into the buffer: nothing was copied or invented. */
		if (in.has_topic && in.topic_len)
			FUZZ_CHECK(fuzz_within(in.topic, in.topic_len, buf, len));
		if (in.has_data && in.data_len)
			FUZZ_CHECK(fuzz_within(in.data, in.data_len, buf, len));
		if (in.has_token && in.token_len)
			FUZZ_CHECK(fuzz_within(in.token, in.token_len, buf, len));
		if (in.has_name && in.name_len)
			FUZZ_CHECK(fuzz_within(in.name, in.name_len, buf, len));
		/* What each op requires is there. */
		if (in.op == SL_ENVELOPE_OP_SUB || in.op == SL_ENVELOPE_OP_UNSUB)
			FUZZ_CHECK(in.has_topic);
		if (in.op == SL_ENVELOPE_OP_PUB)
			FUZZ_CHECK(in.has_topic && in.has_data);
	}
	msgpack_unpacked_destroy(&scratch);
}

#endif
