/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.1 for the subscriber and admin listeners: a strict request-head
 * parser (RFC 9112 §2-§5) and builders for the few responses the gateway
 * writes. Pure code over caller buffers: no sockets, no global state.
 *
 * The parser is incremental in the simple way: call it again with the whole
 * buffer received so far until it answers. Heads are bounded (max_head_bytes,
 * config `limits.max_header_bytes`), so re-scanning costs little, and bad
 * input is refused as soon as it is seen rather than when the head ends.
 */
#ifndef SLUICE_NET_HTTP_H
#define SLUICE_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More header fields than this is an attack or a broken client: -EMSGSIZE. */
#define SL_HTTP_MAX_HEADERS 64

/* Strings below point into the parsed buffer and are not NUL-terminated. */
struct sl_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* without leading and trailing whitespace */
	size_t value_len;
};

struct sl_http_request {
	const char *method;
	size_t method_len;
	const char *target; /* the request-target exactly as sent */
	size_t target_len;
	const char *path; /* "/v1/ws"; "*" for the asterisk-form */
	size_t path_len;
	const char *query; /* after '?'; never NULL, empty when the target has none */
	size_t query_len;
	int version_minor; /* HTTP/1.<minor> */
	size_t header_count;
	struct sl_http_header headers[SL_HTTP_MAX_HEADERS];
};

/*
 * Parses a request head from the first len bytes of buf.
 *
 * Returns the head length (request line, fields and the empty line) when the
 * head is complete, 0 when more bytes are needed, -EMSGSIZE when the head is
 * longer than max_head_bytes or has more than SL_HTTP_MAX_HEADERS fields, and
 * -EINVAL when it is malformed (including an HTTP/1.1 request without exactly
 * one Host field, RFC 9112 §3.2). On error *why (when why is not NULL) is a
 * short static sentence for the 400 answer. req is valid only after a
 * positive return, and only while buf is.
 */
int sl_http_parse(const char *buf, size_t len, size_t max_head_bytes, struct sl_http_request *req,
		  const char **why);

/* The first field named name (case-insensitive), or NULL. */
const struct sl_http_header *sl_http_header_get(const struct sl_http_request *req,
						const char *name);

/* How many fields are named name: credentials sent twice are refused. */
size_t sl_http_header_count(const struct sl_http_request *req, const char *name);

/*
 * True when a comma-separated list field (every field of that name, RFC 9110
 * §5.3) holds token, case-insensitively: `Connection: keep-alive, Upgrade`.
 */
bool sl_http_header_has_token(const struct sl_http_request *req, const char *name,
			      const char *token);

/*
 * The same, byte for byte: a subprotocol is echoed back as the client sent
 * it, and RFC 6455 §4.1 has the client fail on a value it did not offer.
 */
bool sl_http_header_has_value(const struct sl_http_request *req, const char *name,
			      const char *value);

/*
 * A chunked request body (RFC 9112 §7.1) at p[0..len), read without being
 * changed: 0 once it is all in, with *encoded its length on the wire (the
 * last chunk, trailers and final CRLF included) and *decoded the data's;
 * -EAGAIN while it is not; -EINVAL when malformed (a bare LF, a size that
 * is not hex); -EMSGSIZE as soon as the data would pass max.
 */
int sl_http_chunked_scan(const uint8_t *p, size_t len, uint64_t max, size_t *encoded,
			 uint64_t *decoded);

/* Moves the data of a body sl_http_chunked_scan accepted to its start. */
void sl_http_chunked_decode(uint8_t *p, size_t encoded);

/*
 * Content-Length (RFC 9112 §6.3): 0 with *out set, -ENOENT when absent
 * (*out = 0), -EINVAL when malformed, out of range, given twice with
 * different values (identical repeats are accepted, as §6.3 allows), or when
 * the request also has Transfer-Encoding (§6.1: chunked request bodies are
 * not supported, and the pair is a request-smuggling vector).
 */
int sl_http_content_length(const struct sl_http_request *req, uint64_t *out);

/*
 * Iterates over the pairs of a query string (application/x-www-form-urlencoded:
 * '&' separates pairs, '+' is a space, %XX is a byte). *cursor starts at the
 * query (req->query, end req->query + req->query_len) and is advanced past
 * each pair; a NULL *cursor is an empty query. Empty pairs are skipped; a pair
 * without '=' has an empty value. Writes NUL-terminated name and value.
 * Returns 1 for a pair, 0 at the end, -EINVAL for a bad escape, an escaped NUL
 * (it would cut the C string short) or a name or value that does not fit.
 */
int sl_http_query_next(const char **cursor, const char *end, char *name, size_t name_cap,
		       char *value, size_t value_cap);

/*
 * Buffers for sl_http_query_next in which every pair of req's query fits
 * (decoding never lengthens): *name and *value, *cap bytes each, in one
 * block freed by free(*name). A caller scanning for one parameter must not
 * give up at a longer one it does not care about (a cache buster before the
 * topic, a 400-byte RS256 access_token): that made an access_token followed
 * by another parameter, or an SSE or publish URL with a JWT in it, fail.
 * Returns 0 or -ENOMEM.
 */
int sl_http_query_buffers(const struct sl_http_request *req, char **name, char **value,
			  size_t *cap);

/*
 * Builds a response: status line (reason NULL picks the standard phrase),
 * Date, Content-Type when content_type is not NULL, Content-Length, then
 * extra_headers verbatim (whole "Name: value\r\n" lines; a missing final CRLF
 * is added), the empty line and the body.
 *
 * body NULL means no body in this buffer and no Content-Length: a 101
 * upgrade, or a stream that follows with Transfer-Encoding: chunked. 1xx, 204
 * and 304 never carry Content-Length (RFC 9110 §8.6).
 *
 * Returns a malloc'd buffer (*out_len bytes, NUL-terminated past the end), or
 * NULL with errno ENOMEM, or EINVAL when reason or content_type hold CR or LF.
 */
char *sl_http_response(int status, const char *reason, const char *content_type,
		       const char *extra_headers, const char *body, size_t body_len,
		       size_t *out_len);

/*
 * A handshake failure (SPEC "Authentication at the handshake"):
 * `{"error":"<code>","detail":"<detail>"}` as application/json, with
 * `Connection: close`. extra_headers carries WWW-Authenticate (401) or
 * Retry-After (429). Same return convention as sl_http_response.
 */
char *sl_http_error(int status, const char *code, const char *detail, const char *extra_headers,
		    size_t *out_len);

/* The standard reason phrase (RFC 9110 §15) of the statuses we use, or "Unknown". */
const char *sl_http_reason(int status);

#endif
