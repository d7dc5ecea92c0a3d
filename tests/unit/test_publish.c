// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * How a refused publish is answered (net/gateway.c, sl_publish_status): the
 * one mapping the native `err`, the WebSocket `err` and POST /v1/publish
 * share. What the client sent is a 4xx; the gateway's own failure (out of
 * memory) is a 500, which tells a client to send the event again, where a
 * 400 told it the event was bad.
 */
#include <errno.h>
#include <string.h>

#include "net/conn.h"
#include "tap.h"

static void test_status(void)
{
	static const struct {
		int err, status;
		const char *what;
	} cases[] = {
		{ -EINVAL, 400, "an invalid topic or a message that does not decode (-EINVAL)" },
		{ -EMSGSIZE, 400, "a payload over limits.max_frame_bytes (-EMSGSIZE)" },
		{ -ENOSPC, 429, "limits.max_topics reached (-ENOSPC)" },
		{ -ENOMEM, 500, "out of memory (-ENOMEM)" },
		{ -EBUSY, 500, "the router re-entered (-EBUSY)" },
		{ -EIO, 500, "any other failure (-EIO)" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TAP_OK(sl_publish_status(cases[i].err) == cases[i].status,
		       "%s is answered %d (got %d)", cases[i].what, cases[i].status,
		       sl_publish_status(cases[i].err));
}

/* The kinds /metrics counts refusals by: out of memory has its own, `internal`. */
static void test_kinds(void)
{
	TAP_OK(!strcmp(sl_publish_error_name(SL_PUB_ERR_INTERNAL), "internal") &&
		   !strcmp(sl_publish_error_name(SL_PUB_ERR_MALFORMED), "malformed"),
	       "the kind for out of memory is \"internal\", apart from \"malformed\"");
	TAP_OK(!strcmp(sl_publish_error_name(SL_PUB_ERR__COUNT), "internal"),
	       "a kind out of range names \"internal\"");
}

int main(void)
{
	test_status();
	test_kinds();
	return tap_done();
}
