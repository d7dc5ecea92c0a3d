// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "proto/control_request.h"
#include "proto/envelope.h"

static bool key_is(const msgpack_object *key, const char *name)
{
	size_t n = strlen(name);

	return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n &&
	       memcmp(key->via.str.ptr, name, n) == 0;
}

/*
 * Copies a string value into buf. A NUL inside would cut the string short
 * where the daemon compares or parses it, so it is refused, not truncated.
 */
static int copy_string(const msgpack_object *val, char *buf, size_t len, const char **why,
		       const char *not_string, const char *too_long, const char *has_nul)
{
	if (val->type != MSGPACK_OBJECT_STR) {
		*why = not_string;
		return -EINVAL;
	}
	if (val->via.str.size >= len) {
		*why = too_long;
		return -EINVAL;
	}
	if (memchr(val->via.str.ptr, '\0', val->via.str.size)) {
		*why = has_nul;
		return -EINVAL;
	}
	memcpy(buf, val->via.str.ptr, val->via.str.size);
	buf[val->via.str.size] = '\0';
	return 0;
}

static int decode_map(const msgpack_object *map, struct sl_control_request *req, const char **why)
{
	bool has_op = false;
	uint32_t i;
	int err;

	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (key_is(&kv->key, "op")) {
			if (has_op) {
				*why = "op given twice";
				return -EINVAL;
			}
			err = copy_string(
			    &kv->val, req->op, sizeof(req->op), why, "op must be a string",
			    "op is too long (at most 63 bytes)", "op contains a NUL byte");
			if (err)
				return err;
			has_op = true;
		} else if (key_is(&kv->key, "arg")) {
			if (req->has_arg) {
				*why = "arg given twice";
				return -EINVAL;
			}
			err = copy_string(
			    &kv->val, req->arg, sizeof(req->arg), why, "arg must be a string",
			    "arg is too long (at most 4095 bytes)", "arg contains a NUL byte");
			if (err)
				return err;
			req->has_arg = true;
		}
	}
	if (!has_op) {
		*why = "request has no op";
		return -EINVAL;
	}
	return 0;
}

int sl_control_request_decode(const uint8_t *buf, size_t len, struct sl_control_request *req,
			      const char **why)
{
	msgpack_unpacked up;
	int err;

	memset(req, 0, sizeof(*req));
	msgpack_unpacked_init(&up);
	err = sl_envelope_unpack_map(buf, len, &up, why);
	if (!err)
		err = decode_map(&up.data, req, why);
	msgpack_unpacked_destroy(&up);
	if (err)
		memset(req, 0, sizeof(*req));
	return err;
}
