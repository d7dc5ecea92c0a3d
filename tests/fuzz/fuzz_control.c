// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The control socket's request (proto/control_request.c): the payload of
 * one frame, `{op, arg}`. The framing is fuzz_frame's.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "proto/control_request.h"
#include "proto/envelope.h"

/* The string value of key in the map, by a plain scan; NULL when absent. */
static const msgpack_object_str *find(const msgpack_object_map *map, const char *key)
{
	uint32_t i;

	for (i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    !memcmp(k->via.str.ptr, key, k->via.str.size))
			return map->ptr[i].val.type == MSGPACK_OBJECT_STR ? &map->ptr[i].val.via.str
									  : NULL;
	}
	return NULL;
}

static void check_same(const msgpack_object_str *s, const char *copy, size_t bound)
{
	FUZZ_CHECK(s && s->size < bound);
	FUZZ_CHECK(strlen(copy) == s->size && !memcmp(copy, s->ptr, s->size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sl_control_request zero;
	struct sl_control_request req;
	const msgpack_object_str *arg;
	const char *why = NULL;
	msgpack_unpacked up;
	uint8_t *buf = malloc(size ? size : 1);
	int rc;

	if (!buf)
		abort();
	/* An exact-size copy, so that ASan sees a read past the payload. */
	memcpy(buf, data, size);
	rc = sl_control_request_decode(buf, size, &req, &why);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc) {
		FUZZ_CHECK(why && *why && !memcmp(&req, &zero, sizeof(req)));
	} else {
		/* What was decoded is what a plain reading of the same map finds. */
		msgpack_unpacked_init(&up);
		FUZZ_CHECK(sl_envelope_unpack_map(buf, size, &up, &why) == 0);
		check_same(find(&up.data.via.map, "op"), req.op, SL_CONTROL_OP_MAX);
		arg = find(&up.data.via.map, "arg");
		FUZZ_CHECK(req.has_arg == (arg != NULL));
		if (arg)
			check_same(arg, req.arg, SL_CONTROL_ARG_MAX);
		else
			FUZZ_CHECK(req.arg[0] == '\0');
		msgpack_unpacked_destroy(&up);
	}
	free(buf);
	return 0;
}
