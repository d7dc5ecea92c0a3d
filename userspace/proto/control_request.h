/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A request on the control socket (SPEC "Control socket"): one msgpack map
 * `{op: STR, arg: STR}` in the native 4-byte big-endian length framing
 * (sl_envelope_frame_next). Kept apart from net/control.c, which answers it,
 * so that the decoder can be fuzzed and tested without a gateway.
 */
#ifndef SLUICE_PROTO_CONTROL_REQUEST_H
#define SLUICE_PROTO_CONTROL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame's payload may be this long; longer is refused before it is read. */
#define SL_CONTROL_MAX_REQUEST 65536
/* op and arg are copied NUL-terminated; these bounds include the NUL. */
#define SL_CONTROL_OP_MAX 64
#define SL_CONTROL_ARG_MAX 4096

/*
 * `topic list` comes a page of this many topics at a time (op topic.page, arg
 * the first one's index; the answer's `next` is the next page's), and `topic
 * list top N` and `app list top N` (ops topic.list and app.list, arg N) take
 * at most this many: an answer is built whole on the event loop, which waits
 * for it (about 5 us a topic, 15 an application).
 */
#define SL_CONTROL_TOPIC_PAGE 256
#define SL_CONTROL_TOP_MAX 1000
/* `conn list` from the daemon (op conn.page, arg "AFTER\nAPP\nPATTERN"), as many a page. */
#define SL_CONTROL_CONN_PAGE 256

struct sl_control_request {
	char op[SL_CONTROL_OP_MAX];
	char arg[SL_CONTROL_ARG_MAX];
	bool has_arg;
};

/*
 * Decodes exactly one map from buf[0..len) (a frame's payload; checked as
 * sl_envelope_unpack_map does, so no announced count reserves memory). op is
 * required, arg optional; both are strings without NUL bytes that fit their
 * bounds; other keys are ignored, a key given twice is refused, and nothing
 * may follow the map. Returns 0, or -EINVAL with *why (a short static
 * sentence for the reply's `error`), or -ENOMEM.
 */
int sl_control_request_decode(const uint8_t *buf, size_t len, struct sl_control_request *req,
			      const char **why);

#endif
