// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP request heads and the WebSocket/SSE handshake fields (net/http.c,
 * sl_ws_accept_key, the Origin check's sl_config_parse_origin): what every
 * subscriber, publisher and admin client sends first. The first input byte picks the head bound;
 * the rest is the head.
 */
#include <errno.h>
#include <string.h>

#include "config/config.h"
#include "fuzz.h"
#include "net/http.h"
#include "net/ws.h"

static void check_request(const char *buf, size_t n, const struct sl_http_request *req)
{
	FUZZ_CHECK(fuzz_within(req->method, req->method_len, buf, n) && req->method_len > 0);
	FUZZ_CHECK(fuzz_within(req->target, req->target_len, buf, n) && req->target_len > 0);
	/* Absolute-form without a path ("http://host") names the root, a static "/". */
	FUZZ_CHECK(fuzz_within(req->path, req->path_len, buf, n) ||
		   (req->path_len == 1 && req->path[0] == '/'));
	FUZZ_CHECK(req->query && req->query_len <= req->target_len);
	if (req->query_len)
		FUZZ_CHECK(fuzz_within(req->query, req->query_len, buf, n));
	FUZZ_CHECK(req->header_count <= SL_HTTP_MAX_HEADERS);
	for (size_t i = 0; i < req->header_count; i++) {
		const struct sl_http_header *h = &req->headers[i];

		FUZZ_CHECK(fuzz_within(h->name, h->name_len, buf, n) && h->name_len > 0);
		if (h->value_len)
			FUZZ_CHECK(fuzz_within(h->value, h->value_len, buf, n));
	}
}

/* What the gateway asks of a parsed head (net/sub.c, net/gateway.c, net/admin.c). */
static void use_request(const struct sl_http_request *req)
{
	const struct sl_http_header *key = sl_http_header_get(req, "Sec-WebSocket-Key");
	const struct sl_http_header *origin = sl_http_header_get(req, "Origin");
	char accept[SL_WS_ACCEPT_LEN + 1], name[64], value[512];
	char serialized[SL_CONFIG_ORIGIN_BUF], again[SL_CONFIG_ORIGIN_BUF];
	const char *cursor = req->query;
	uint64_t clen;
	int ret, pairs = 0;

	(void)sl_http_header_has_token(req, "Upgrade", "websocket");
	(void)sl_http_header_has_token(req, "Connection", "upgrade");
	(void)sl_http_header_has_token(req, "Sec-WebSocket-Protocol", SL_WS_SUBPROTOCOL);
	FUZZ_CHECK(sl_http_header_count(req, "Host") <= req->header_count);
	if (key && sl_ws_accept_key(key->value, key->value_len, accept) == 0)
		FUZZ_CHECK(strlen(accept) == SL_WS_ACCEPT_LEN);
	/* A serialization is an origin, and its own serialization: compared with strcmp. */
	if (origin &&
	    sl_config_parse_origin(origin->value, origin->value_len, serialized, NULL) == 0) {
		FUZZ_CHECK(strlen(serialized) <= SL_CONFIG_MAX_ORIGIN);
		FUZZ_CHECK(sl_config_parse_origin(serialized, strlen(serialized), again, NULL) ==
			       0 &&
			   strcmp(serialized, again) == 0);
	}
	ret = sl_http_content_length(req, &clen);
	FUZZ_CHECK(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	while ((ret = sl_http_query_next(&cursor, req->query + req->query_len, name, sizeof(name),
					 value, sizeof(value))) == 1) {
		FUZZ_CHECK(strlen(name) < sizeof(name) && strlen(value) < sizeof(value));
		FUZZ_CHECK(++pairs <= (int)req->query_len);
	}
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[] = { 8192, 64, 1024, 16384 };
	struct sl_http_request *req;
	size_t max_head;
	const char *why = NULL;
	char *buf;
	int n;

	if (size < 1)
		return 0;
	max_head = bounds[data[0] % 4];
	size--;
	/* An exact-size copy, so that ASan sees any read past what was received. */
	buf = malloc(size ? size : 1);
	req = malloc(sizeof(*req));
	if (!buf || !req)
		abort();
	memcpy(buf, data + 1, size);

	n = sl_http_parse(buf, size, max_head, req, &why);
	FUZZ_CHECK(n == 0 || n == -EMSGSIZE || n == -EINVAL || n > 0);
	if (n < 0)
		FUZZ_CHECK(why != NULL);
	if (n > 0) {
		FUZZ_CHECK((size_t)n <= size && (size_t)n <= max_head);
		check_request(buf, (size_t)n, req);
		use_request(req);
		/* Incremental use: the head alone gives the same answer, a prefix asks for more. */
		FUZZ_CHECK(sl_http_parse(buf, (size_t)n, max_head, req, NULL) == n);
		FUZZ_CHECK(sl_http_parse(buf, (size_t)n - 1, max_head, req, NULL) == 0);
		FUZZ_CHECK(sl_http_parse(buf, (size_t)n / 2, max_head, req, NULL) == 0);
		FUZZ_CHECK(sl_http_parse(buf, (size_t)n * 4 / 5, max_head, req, NULL) == 0);
	}
	/* What a prefix decided (a head, an error), more bytes do not change. */
	for (size_t k = size / 3; k < size; k += (size - k + 1) / 2) {
		int r = sl_http_parse(buf, k, max_head, req, NULL);

		FUZZ_CHECK(r == 0 || r == n);
	}
	/* The same bytes as a chunked body: bounded, decodable in place, prefixes wait. */
	{
		size_t encoded = 0, half = 0;
		uint64_t decoded = 0, half_decoded = 0;
		int r =
		    sl_http_chunked_scan((const uint8_t *)buf, size, max_head, &encoded, &decoded);

		FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EINVAL || r == -EMSGSIZE);
		if (r == 0) {
			FUZZ_CHECK(encoded <= size && decoded <= max_head && decoded < encoded);
			FUZZ_CHECK(!encoded ||
				   sl_http_chunked_scan((const uint8_t *)buf, encoded - 1, max_head,
							&half, &half_decoded) == -EAGAIN);
			sl_http_chunked_decode((uint8_t *)buf, encoded);
		}
	}
	free(req);
	free(buf);
	return 0;
}
