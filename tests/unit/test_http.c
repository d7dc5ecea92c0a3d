// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* net/http: the request-head parser's every refusal, the helpers, the response builders. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "tap.h"

#define MAX_HEAD 16384

static int parse_n(const char *s, size_t n, size_t max, struct sl_http_request *req,
		   const char **why)
{
	*why = NULL;
	return sl_http_parse(s, n, max, req, why);
}

static int parse(const char *s, struct sl_http_request *req, const char **why)
{
	return parse_n(s, strlen(s), MAX_HEAD, req, why);
}

static bool span_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && !memcmp(p, want, n);
}

static bool header_is(const struct sl_http_request *req, const char *name, const char *want)
{
	const struct sl_http_header *h = sl_http_header_get(req, name);

	return h && span_is(h->value, h->value_len, want);
}

static void test_upgrade_request(void)
{
	static const char req_text[] = "GET /v1/ws?access_token=abc&x=1 HTTP/1.1\r\n"
				       "Host: gw.example\r\n"
				       "Connection: keep-alive, Upgrade\r\n"
				       "upgrade: websocket\r\n"
				       "Sec-WebSocket-Key:dGhlIHNhbXBsZSBub25jZQ==  \r\n"
				       "Sec-WebSocket-Version: 13\r\n"
				       "X-Empty:\r\n"
				       "X-Obs-Text: caf\xc3\xa9\tbar\r\n"
				       "\r\n"
				       "trailing body bytes";
	size_t head = strlen(req_text) - strlen("trailing body bytes");
	struct sl_http_request req;
	const char *why;
	int rc;

	rc = parse(req_text, &req, &why);
	TAP_OK(rc == (int)head, "upgrade request: head length %d (want %zu)", rc, head);
	TAP_OK(span_is(req.method, req.method_len, "GET"), "method GET");
	TAP_OK(span_is(req.target, req.target_len, "/v1/ws?access_token=abc&x=1"), "raw target");
	TAP_OK(span_is(req.path, req.path_len, "/v1/ws"), "path without the query");
	TAP_OK(span_is(req.query, req.query_len, "access_token=abc&x=1"), "query string");
	TAP_OK(req.version_minor == 1, "HTTP/1.1");
	TAP_OK(req.header_count == 7, "7 header fields (%zu)", req.header_count);
	TAP_OK(header_is(&req, "HOST", "gw.example"), "header lookup is case-insensitive");
	TAP_OK(header_is(&req, "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
	       "no space after colon, trailing spaces trimmed");
	TAP_OK(header_is(&req, "X-Empty", ""), "empty value");
	TAP_OK(header_is(&req, "X-Obs-Text", "caf\xc3\xa9\tbar"), "obs-text and HTAB in a value");
	TAP_OK(!sl_http_header_get(&req, "Origin"), "absent header is NULL");
	TAP_OK(sl_http_header_has_token(&req, "connection", "upgrade"),
	       "Connection list holds upgrade");
	TAP_OK(sl_http_header_has_token(&req, "Connection", "KEEP-ALIVE"),
	       "Connection list holds keep-alive");
	TAP_OK(sl_http_header_has_token(&req, "Upgrade", "WebSocket"), "Upgrade: websocket");
	TAP_OK(!sl_http_header_has_token(&req, "Connection", "close"), "no close token");
	TAP_OK(!sl_http_header_has_token(&req, "Connection", "keep"), "tokens match whole");
}

static void test_incremental(void)
{
	static const char text[] = "GET /v1/sse?topic=a.b HTTP/1.1\r\nHost: x\r\n"
				   "Last-Event-ID: a.b:42\r\n\r\n";
	size_t n = strlen(text), i;
	struct sl_http_request req;
	const char *why;
	bool all_zero = true;

	for (i = 0; i < n; i++)
		if (parse_n(text, i, MAX_HEAD, &req, &why) != 0)
			all_zero = false;
	TAP_OK(all_zero, "every strict prefix needs more bytes");
	TAP_OK(parse_n(text, n, MAX_HEAD, &req, &why) == (int)n, "whole head parsed");
	TAP_OK(header_is(&req, "last-event-id", "a.b:42"), "Last-Event-ID read");
}

static void test_forms(void)
{
	struct sl_http_request req;
	const char *why;
	int rc;

	rc = parse("GET / HTTP/1.1\r\nX: y\r\n\r\n", &req, &why);
	TAP_OK(rc == -EINVAL && strstr(why, "missing Host"), "HTTP/1.1 without Host refused");
	rc = parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", &req, &why);
	TAP_OK(rc == -EINVAL && strstr(why, "more than one Host"), "two Host fields refused");
	rc = parse("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", &req, &why);
	TAP_OK(rc == -EINVAL, "two Host fields refused in HTTP/1.0 too");
	rc = parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &req, &why);
	TAP_OK(rc == 22 && req.version_minor == 0,
	       "leading empty lines skipped, HTTP/1.0 needs no Host");
	TAP_OK(span_is(req.path, req.path_len, "/") && req.query_len == 0 && req.query,
	       "no query: empty, never NULL");

	rc = parse("GET http://gw.example:8080/v1/sse?topic=x HTTP/1.1\r\nHost: h\r\n\r\n", &req,
		   &why);
	TAP_OK(rc > 0 && span_is(req.path, req.path_len, "/v1/sse") &&
		   span_is(req.query, req.query_len, "topic=x"),
	       "absolute-form target (RFC 9112 §3.2.2)");
	rc = parse("GET HTTPS://gw.example HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why);
	TAP_OK(rc > 0 && span_is(req.path, req.path_len, "/"), "absolute-form without a path");
	rc = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why);
	TAP_OK(rc > 0 && span_is(req.path, req.path_len, "*"), "asterisk-form");
	rc = parse("POST /v1/publish? HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why);
	TAP_OK(rc > 0 && span_is(req.path, req.path_len, "/v1/publish") && req.query_len == 0,
	       "empty query after ?");
	rc = parse("M-SEARCH /a|b{c} HTTP/1.9\r\nHost: h\r\n\r\n", &req, &why);
	TAP_OK(rc > 0 && span_is(req.method, req.method_len, "M-SEARCH") && req.version_minor == 9,
	       "token method, lax URI characters, HTTP/1.9");
}

struct bad_case {
	const char *text;
	size_t len; /* 0: strlen */
	const char *why_has;
	const char *what;
};

static void test_malformed(void)
{
	static const struct bad_case cases[] = {
		{ "GET  / HTTP/1.1\r\n\r\n", 0, "target", "double space" },
		{ " GET / HTTP/1.1\r\n\r\n", 0, "method", "empty method" },
		{ "G(T / HTTP/1.1\r\n\r\n", 0, "method", "non-token method" },
		{ "GET\t/ HTTP/1.1\r\n\r\n", 0, "method", "tab after method" },
		{ "GET x HTTP/1.1\r\n\r\n", 0, "target", "relative target" },
		{ "CONNECT gw:443 HTTP/1.1\r\n\r\n", 0, "target", "authority-form" },
		{ "GET http:// HTTP/1.1\r\n\r\n", 0, "target", "absolute without host" },
		{ "GET /a#frag HTTP/1.1\r\n\r\n", 0, "target", "fragment" },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 0, "target", "control in target" },
		{ "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 0, "target", "raw non-ASCII target" },
		{ "GET /\r\n\r\n", 0, "target", "HTTP/0.9 request line" },
		{ "GET / HTTP/2.0\r\n\r\n", 0, "unsupported", "HTTP/2.0" },
		{ "GET / HTTP/0.9\r\n\r\n", 0, "unsupported", "HTTP/0.9" },
		{ "GET / http/1.1\r\n\r\n", 0, "version", "lowercase version" },
		{ "GET / HTTP/1.x\r\n\r\n", 0, "version", "non-digit minor" },
		{ "GET / HTTP/11.1\r\n\r\n", 0, "version", "two-digit major" },
		{ "GET / HTTP/1.1 \r\n\r\n", 0, "CRLF", "space after version" },
		{ "GET / HTTP/1.1\n\r\n", 0, "CRLF", "bare LF after version" },
		{ "GET / HTTP/1.1\rX\r\n", 0, "CRLF", "bare CR after version" },
		{ "\rGET / HTTP/1.1\r\n\r\n", 0, "bare CR", "bare CR before request line" },
		{ "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 0, "bare LF", "bare LF in a value" },
		{ "GET / HTTP/1.1\r\nHost: a\r\n\n", 0, "bare LF", "bare LF as the empty line" },
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 0, "bare CR", "bare CR in a value" },
		{ "GET / HTTP/1.1\r\nHost: a\r\n\rx", 0, "bare CR", "bare CR as the empty line" },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, "colon", "space before colon" },
		{ "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 0, "colon", "tab before colon" },
		{ "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, "indented", "space before first field" },
		{ "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 0, "folded", "obs-fold" },
		{ "GET / HTTP/1.1\r\nH(st: a\r\n\r\n", 0, "header name", "non-token name" },
		{ "GET / HTTP/1.1\r\nHost\r\n\r\n", 0, "header name", "field without colon" },
		{ "GET / HTTP/1.1\r\n: a\r\n\r\n", 0, "empty header name", "empty name" },
		{ "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 0, "control", "SOH in a value" },
		{ "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n", 0, "control", "DEL in a value" },
		{ "GET / HTTP/1.1\r\nX: a\0z\r\n\r\n", 26, "control", "NUL in a value" },
		{ "\x16\x03\x01\x02\x00\x01", 6, "method", "TLS ClientHello on a plain port" },
		{ "GET / HTTX", 0, "version", "bad version refused before the line ends" },
	};
	struct sl_http_request req;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		const char *why;
		int rc = parse_n(c->text, c->len ? c->len : strlen(c->text), MAX_HEAD, &req, &why);

		TAP_OK(rc == -EINVAL && why && strstr(why, c->why_has), "refused: %s (%d, %s)",
		       c->what, rc, why ? why : "no why");
	}
}

/* A head of exactly n bytes: request line, one padding field, empty line. */
static char *head_of(size_t n)
{
	static const char line[] = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
	char *s = malloc(n + 1);
	size_t pad = n - (sizeof(line) - 1) - 4;

	memcpy(s, line, sizeof(line) - 1);
	memset(s + sizeof(line) - 1, 'a', pad);
	memcpy(s + n - 4, "\r\n\r\n", 4);
	s[n] = '\0';
	return s;
}

static void test_limits(void)
{
	struct sl_http_request req;
	char *s, big[8192];
	const char *why;
	size_t i, off;
	int rc;

	s = head_of(1024);
	TAP_OK(parse_n(s, 1024, 1024, &req, &why) == 1024, "head of exactly the limit accepted");
	TAP_OK(parse_n(s, 1024, 1023, &req, &why) == -EMSGSIZE && strstr(why, "too large"),
	       "head one byte over the limit: -EMSGSIZE");
	TAP_OK(parse_n(s, 1000, 1000, &req, &why) == -EMSGSIZE,
	       "incomplete head that filled the limit: -EMSGSIZE");
	TAP_OK(parse_n(s, 999, 1000, &req, &why) == 0, "incomplete head under the limit: more");
	free(s);

	off = (size_t)sprintf(big, "GET / HTTP/1.0\r\n");
	for (i = 0; i < SL_HTTP_MAX_HEADERS; i++)
		off += (size_t)sprintf(big + off, "X-%zu: v\r\n", i);
	strcpy(big + off, "\r\n");
	rc = parse(big, &req, &why);
	TAP_OK(rc == (int)off + 2 && req.header_count == SL_HTTP_MAX_HEADERS,
	       "%d header fields accepted", SL_HTTP_MAX_HEADERS);
	TAP_OK(sl_http_header_count(&req, "x-1") == 1 && sl_http_header_count(&req, "x") == 0,
	       "header count");
	off += (size_t)sprintf(big + off, "X-last: v\r\n\r\n");
	rc = parse(big, &req, &why);
	TAP_OK(rc == -EMSGSIZE && strstr(why, "too many"), "%d header fields: -EMSGSIZE",
	       SL_HTTP_MAX_HEADERS + 1);
}

static void test_tokens_and_length(void)
{
	struct sl_http_request req;
	const char *why;
	uint64_t v;

	parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nconnection: ,  UPGRADE ,\r\n"
	      "Authorization: a\r\nAuthorization: b\r\n\r\n",
	      &req, &why);
	TAP_OK(sl_http_header_has_token(&req, "Connection", "upgrade"),
	       "token found in a second field, empty elements skipped");
	TAP_OK(sl_http_header_count(&req, "authorization") == 2, "duplicate credentials counted");
	TAP_OK(sl_http_content_length(&req, &v) == -ENOENT && v == 0, "no Content-Length");

	parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n", &req, &why);
	TAP_OK(sl_http_content_length(&req, &v) == 0 && v == 42, "Content-Length 42");
	parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42 , 42\r\ncontent-length: 42\r\n\r\n",
	      &req, &why);
	TAP_OK(sl_http_content_length(&req, &v) == 0 && v == 42, "identical repeats accepted");
	parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n", &req,
	      &why);
	TAP_OK(sl_http_content_length(&req, &v) == 0 && v == UINT64_MAX, "largest length");

	parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\nContent-Length: 43\r\n\r\n",
	      &req, &why);
	TAP_OK(sl_http_content_length(&req, &v) == -EINVAL, "two fields that disagree refused");

	parse(
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	    &req, &why);
	TAP_OK(sl_http_content_length(&req, &v) == -EINVAL,
	       "Content-Length with Transfer-Encoding refused (smuggling)");
	parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &req, &why);
	TAP_OK(sl_http_content_length(&req, &v) == -EINVAL, "chunked request body refused");

	static const char *const bad[] = {
		"42, 43", "-1",	 "+1",	"4 2", "0x10", "", "18446744073709551616",
		"42,",	  ",42", "1e3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text),
			 "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n", bad[i]);
		TAP_OK(parse(text, &req, &why) > 0 && sl_http_content_length(&req, &v) == -EINVAL,
		       "Content-Length refused: \"%s\"", bad[i]);
	}
}

static void test_query(void)
{
	static const char q[] = "topic=a.b&&topic=c%2Ed%2a&x=1+2%2B3&flag&=v&e=&%C3%A9=%c3%a9";
	const char *cur = q, *end = q + strlen(q);
	char name[16], value[16];
	int rc, n = 0;
	bool ok = true;

	static const char *const want[][2] = {
		{ "topic", "a.b" }, { "topic", "c.d*" }, { "x", "1 2+3" },	     { "flag", "" },
		{ "", "v" },	    { "e", "" },	 { "\xc3\xa9", "\xc3\xa9" },
	};
	while ((rc = sl_http_query_next(&cur, end, name, sizeof(name), value, sizeof(value))) ==
	       1) {
		if (n >= 7 || strcmp(name, want[n][0]) || strcmp(value, want[n][1]))
			ok = false;
		n++;
	}
	TAP_OK(rc == 0 && n == 7 && ok, "query pairs decoded (%d pairs, rc %d)", n, rc);
	TAP_OK(cur == end, "cursor at the end");

	static const char *const bad[] = { "a=%", "a=%2", "a=%zz", "a=%0g", "a%00b=1", "a=x%00" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cur = bad[i];
		rc = sl_http_query_next(&cur, bad[i] + strlen(bad[i]), name, sizeof(name), value,
					sizeof(value));
		TAP_OK(rc == -EINVAL, "bad escape refused: \"%s\"", bad[i]);
	}
	cur = "abcdefghijklmnop=1";
	TAP_OK(sl_http_query_next(&cur, cur + 18, name, sizeof(name), value, sizeof(value)) ==
		   -EINVAL,
	       "name that does not fit (16 bytes into 16)");
	cur = "abcdefghijklmno=%41";
	rc = sl_http_query_next(&cur, cur + 19, name, sizeof(name), value, sizeof(value));
	TAP_OK(rc == 1 && !strcmp(name, "abcdefghijklmno") && !strcmp(value, "A"),
	       "15 bytes fit in 16");
	cur = "a=1&b=2";
	sl_http_query_next(&cur, cur + 7, name, sizeof(name), value, sizeof(value));
	TAP_OK(sl_http_query_next(&cur, cur + 4, name, sizeof(name), value, sizeof(value)) == 1 &&
		   !strcmp(name, "b"),
	       "cursor advances pair by pair");
	cur = NULL;
	TAP_OK(sl_http_query_next(&cur, NULL, name, sizeof(name), value, sizeof(value)) == 0,
	       "NULL cursor: done");
	cur = "&&&";
	TAP_OK(sl_http_query_next(&cur, cur + 3, name, sizeof(name), value, sizeof(value)) == 0,
	       "only separators: done");
}

static void test_responses(void)
{
	size_t len;
	char *r;

	r = sl_http_response(101, NULL, NULL,
			     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
			     NULL, 0, &len);
	TAP_OK(r && len == strlen(r) && !strncmp(r, "HTTP/1.1 101 Switching Protocols\r\n", 34) &&
		   strstr(r, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n") &&
		   !strstr(r, "Content-Length") && !strstr(r, "Date:"),
	       "101: no Content-Length, missing final CRLF added, head ends the buffer");
	TAP_OK(r && !strcmp(r + len - 4, "\r\n\r\n"), "101 ends with the empty line");
	free(r);

	r = sl_http_response(200, NULL, "text/plain", NULL, "hello", 5, &len);
	TAP_OK(r && strstr(r, "HTTP/1.1 200 OK\r\nDate: ") && strstr(r, " GMT\r\n") &&
		   strstr(r, "\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello") &&
		   !strcmp(r + len - 5, "hello"),
	       "200 with Date, type, length and body");
	free(r);

	r = sl_http_response(200, NULL, "text/event-stream", "Transfer-Encoding: chunked\r\n", NULL,
			     0, &len);
	TAP_OK(r && !strstr(r, "Content-Length") && len > 11 &&
		   !strcmp(r + len - 11, "chunked\r\n\r\n"),
	       "streamed response: no Content-Length");
	free(r);

	r = sl_http_response(204, NULL, NULL, NULL, "", 0, &len);
	TAP_OK(r && !strstr(r, "Content-Length") && strstr(r, "204 No Content"),
	       "204: no Content-Length");
	free(r);

	r = sl_http_response(202, "Queued", "application/json", NULL, "{}", 2, &len);
	TAP_OK(r && !strncmp(r, "HTTP/1.1 202 Queued\r\n", 21), "custom reason phrase");
	free(r);

	errno = 0;
	TAP_OK(!sl_http_response(200, "OK\r\nX: injected", NULL, NULL, NULL, 0, &len) &&
		   errno == EINVAL,
	       "CRLF in reason refused");
	errno = 0;
	TAP_OK(!sl_http_response(200, NULL, "text/plain\nX: y", NULL, NULL, 0, &len) &&
		   errno == EINVAL,
	       "LF in content type refused");
	errno = 0;
	TAP_OK(!sl_http_response(200, NULL, NULL, "A: b\r\n\r\nbody", NULL, 0, &len) &&
		   errno == EINVAL,
	       "empty line inside extra headers refused");
	TAP_OK(!sl_http_response(42, NULL, NULL, NULL, NULL, 0, &len) && errno == EINVAL,
	       "status outside 100..999 refused");

	r = sl_http_error(401, "unauthorized", "missing \"Authorization\"",
			  "WWW-Authenticate: Bearer realm=\"sluice\"\r\n", &len);
	TAP_OK(
	    r && !strncmp(r, "HTTP/1.1 401 Unauthorized\r\n", 27) &&
		strstr(r, "\r\nContent-Type: application/json\r\n") &&
		strstr(r, "\r\nConnection: close\r\nWWW-Authenticate: Bearer realm=\"sluice\"\r\n"),
	    "401 head: type, Connection: close, WWW-Authenticate");
	{
		const char *body = "{\"error\":\"unauthorized\",\"detail\":\"missing "
				   "\\\"Authorization\\\"\"}";
		char cl[64];

		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
		TAP_OK(r && !strcmp(r + len - strlen(body), body) && strstr(r, cl),
		       "401 body is the JSON error with escaped quotes, length matches");
	}
	free(r);

	r = sl_http_error(429, "quota_exhausted", "event quota exhausted", "Retry-After: 30", &len);
	TAP_OK(r && strstr(r, "429 Too Many Requests") && strstr(r, "Retry-After: 30\r\n\r\n{"),
	       "429 with Retry-After");
	free(r);
	errno = 0;
	TAP_OK(!sl_http_error(400, "bad", "\xff\xfe", NULL, &len) && errno == EINVAL,
	       "detail that is not UTF-8 refused");
	TAP_OK(!strcmp(sl_http_reason(426), "Upgrade Required") &&
		   !strcmp(sl_http_reason(599), "Unknown"),
	       "reason phrases");
}

static void test_chunked(void)
{
	static const char whole[] = "5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
	static const char *const bad[] = {
		"zz\r\nab\r\n0\r\n\r\n", /* not hex */
		"2\nab\r\n0\r\n\r\n",	 /* a bare LF */
		"2\r\nabc\r\n0\r\n\r\n", /* data longer than its size */
		"\r\n",			 /* no size */
		"1000000000000000\r\n",	 /* 16 hex digits */
		"0\r\nX: 1\n\r\n",	 /* a trailer with a bare LF */
	};
	uint8_t buf[sizeof(whole)];
	size_t n = strlen(whole), i, encoded = 0;
	uint64_t decoded = 0;
	bool waits = true;

	for (i = 0; i < n; i++)
		waits &= sl_http_chunked_scan((const uint8_t *)whole, i, 100, &encoded, &decoded) ==
			 -EAGAIN;
	TAP_OK(waits, "chunked: every part of a body short of its end waits for more");
	memcpy(buf, whole, n);
	TAP_OK(sl_http_chunked_scan(buf, n, 100, &encoded, &decoded) == 0 && encoded == n &&
		   decoded == 11,
	       "chunked: the whole body, extension and trailer included (%zu, %llu)", encoded,
	       (unsigned long long)decoded);
	sl_http_chunked_decode(buf, encoded);
	TAP_OK(!memcmp(buf, "hello world", 11), "chunked: decoded in place");
	TAP_OK(sl_http_chunked_scan((const uint8_t *)whole, n, 10, &encoded, &decoded) == -EMSGSIZE,
	       "chunked: data past max is refused before it is all in");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TAP_OK(sl_http_chunked_scan((const uint8_t *)bad[i], strlen(bad[i]), 1u << 20,
					    &encoded, &decoded) == -EINVAL,
		       "chunked: malformed %zu refused", i);
	TAP_OK(sl_http_chunked_scan((const uint8_t *)"0\r\n\r\n", 5, 0, &encoded, &decoded) == 0 &&
		   encoded == 5 && decoded == 0,
	       "chunked: an empty body");
}

int main(void)
{
	test_chunked();
	test_upgrade_request();
	test_incremental();
	test_forms();
	test_malformed();
	test_limits();
	test_tokens_and_length();
	test_query();
	test_responses();
	return tap_done();
}
