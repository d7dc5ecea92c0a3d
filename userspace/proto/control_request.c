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

/* A string field of the request and the sentences that refuse it. */
struct field {
	const char *key;
	char *buf;
	size_t size;
	bool *given;
	const char *twice, *not_string, *too_long, *has_nul;
};

/*
 * Copies the field's value into its buffer. A NUL inside would cut the
 * string short where the daemon compares or parses it, so it is refused,
 * not truncated.
 */
static int take_field(const struct field *f, const msgpack_object *val, const char **why)
{
	if (*f->given)
		*why = f->twice;
	else if (val->type != MSGPACK_OBJECT_STR)
		*why = f->not_string;
	else if (val->via.str.size >= f->size)
		*why = f->too_long;
	else if (memchr(val->via.str.ptr, '\0', val->via.str.size))
		*why = f->has_nul;
	else {
		memcpy(f->buf, val->via.str.ptr, val->via.str.size);
		f->buf[val->via.str.size] = '\0';
		*f->given = true;
		return 0;
	}
	return -EINVAL;
}

static int decode_map(const msgpack_object *map, struct sl_control_request *req, const char **why)
{
	bool has_op = false;
	const struct field fields[] = {
		{ "op", req->op, sizeof(req->op), &has_op, "op given twice", "op must be a string",
		  "op is too long (at most 63 bytes)", "op contains a NUL byte" },
		{ "arg", req->arg, sizeof(req->arg), &req->has_arg, "arg given twice",
		  "arg must be a string", "arg is too long (at most 4095 bytes)",
		  "arg contains a NUL byte" },
	};
	uint32_t i, k;
	int err;

	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			if (!key_is(&kv->key, fields[k].key))
				continue;
			err = take_field(&fields[k], &kv->val, why);
			if (err)
				return err;
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
