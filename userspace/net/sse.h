/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Server-Sent Events records (WHATWG HTML §9.2 "Server-sent events"), each
 * wrapped in one HTTP/1.1 chunk (RFC 9112 §7.1) whose size is always 8 hex
 * digits. The fixed width is a contract with the kernel meter
 * (bpf/frame.h sl_parse_sse, docs/ARCHITECTURE.md "Frames and what counts as
 * an event"): it finds each record without scanning, and counts a record as
 * an event exactly when it starts with "id:". So only sl_sse_encode_event
 * writes an id line; comments and notices never start with one.
 */
#ifndef SLUICE_NET_SSE_H
#define SLUICE_NET_SSE_H

#include <stddef.h>
#include <stdint.h>

/* The chunked stream's end (RFC 9112 §7.1), sized like every other chunk. */
#define SL_SSE_LAST_CHUNK "00000000\r\n\r\n"
#define SL_SSE_CHUNK_HEADER_LEN 10 /* "%08x\r\n" */
#define SL_SSE_CHUNK_TRAILER_LEN 2 /* "\r\n" */

/*
 * Largest record: the meter (SL_FRAME_MAX_LEN in bpf/frame.h) treats a
 * longer chunk as a broken stream and stops counting events on it.
 */
#define SL_SSE_MAX_RECORD (1u << 30)

/* What the SSE response head carries besides Content-Type (sl_http_response, body NULL). */
#define SL_SSE_CONTENT_TYPE "text/event-stream"
#define SL_SSE_RESPONSE_HEADERS                                                                    \
	"Cache-Control: no-cache\r\n"                                                              \
	"Transfer-Encoding: chunked\r\n"                                                           \
	"X-Accel-Buffering: no\r\n"

/* Record names used by sluice itself (SPEC "Server-Sent Events", "Retention"). */
#define SL_SSE_EVENT_CLOSE "sluice.close"
#define SL_SSE_EVENT_GAP "sluice.gap"

/* A growable byte buffer; all zeroes is an empty buffer. Encoders append. */
struct sl_sse_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Frees the bytes and leaves an empty buffer. */
void sl_sse_buf_fini(struct sl_sse_buf *b);

/* Hands the bytes to the caller (free() them) and leaves an empty buffer. */
char *sl_sse_buf_take(struct sl_sse_buf *b, size_t *len);

/*
 * Appends one event chunk:
 *   id: <topic>:<seq>\n  event: <topic>\n  data: <line>\n ...  \n
 * A payload that is valid UTF-8 without a CR is sent as is, one data line
 * per LF-ended line, so a client's WHATWG parser rebuilds it byte for byte.
 * Any other payload (a CR would come back as LF) is sent as one base64 data
 * line after a `: sluice-encoding: base64` comment.
 * Returns 0, -EINVAL when the topic is empty or holds CR, LF or NUL, -E2BIG
 * over SL_SSE_MAX_RECORD, -ENOMEM.
 */
int sl_sse_encode_event(const char *topic, size_t topic_len, uint64_t seq, const uint8_t *data,
			size_t len, struct sl_sse_buf *out);

/* Appends a comment record `: <text>\n\n` (heartbeats). -EINVAL if text holds CR or LF. */
int sl_sse_encode_comment(const char *text, struct sl_sse_buf *out);

/*
 * Appends a notice record without an id (never counted as an event):
 * `event: <event_name>\ndata: <json_data>\n\n`, e.g. SL_SSE_EVENT_CLOSE with
 * {"code":4002,"reason":"…"}. -EINVAL if either holds CR or LF.
 */
int sl_sse_encode_notice(const char *event_name, const char *json_data, struct sl_sse_buf *out);

/*
 * Parses a Last-Event-ID value "<topic>:<seq>": the last ':' separates (a
 * topic never holds one, but the rule costs nothing), seq is decimal digits
 * that fit 64 bits. Writes the NUL-terminated topic. Returns 0 or -EINVAL
 * (empty seq, other characters, overflow, a topic that is not a valid topic
 * name (route/topic.h; wildcards included) or does not fit topic_cap).
 */
int sl_sse_parse_last_event_id(const char *s, size_t len, char *topic, size_t topic_cap,
			       uint64_t *seq);

#endif
