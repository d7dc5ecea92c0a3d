// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "net/http.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "auth/hex.h"

/* RFC 9110 §5.6.2: tchar, the characters of methods and field names. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * RFC 9110 §5.5: field-value is VCHAR, obs-text, SP and HTAB. Every other
 * control character (NUL, bare CR, DEL, ...) is refused, which is what keeps
 * a value from smuggling a line break to a backend or a log.
 */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * RFC 3986 request-target characters: printable ASCII only. '#' starts a
 * fragment, which a client never sends (RFC 9112 §3.2), so it is refused too.
 */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#';
}

static int fail(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}

/* Checks what has arrived of "HTTP/1.x" so that garbage is refused early. */
static int check_version(const char *v, size_t avail, const char **why)
{
	static const char want[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < avail && i < 8; i++) {
		unsigned char c = (unsigned char)v[i];

		if (i == 5 && c != '1' && c >= '0' && c <= '9')
			return fail(why, "unsupported HTTP version (only HTTP/1.x)", -EINVAL);
		if (i < 7 && c != (unsigned char)want[i])
			return fail(why, "malformed HTTP version in request line", -EINVAL);
		if (i == 7 && (c < '0' || c > '9'))
			return fail(why, "malformed HTTP version in request line", -EINVAL);
	}
	return 0;
}

/*
 * Splits the request-target (RFC 9112 §3.2) into path and query. Origin-form
 * is what clients send; a server MUST also accept the absolute-form
 * (§3.2.2), whose authority is ignored here (Host names the listener anyway).
 * The asterisk-form only makes sense for OPTIONS, which is refused later.
 */
static int split_target(struct sl_http_request *req, const char **why)
{
	const char *t = req->target, *end = t + req->target_len, *p = t, *q;

	if (req->target_len == 1 && t[0] == '*') {
		req->path = t;
		req->path_len = 1;
		req->query = end;
		req->query_len = 0;
		return 0;
	}
	if (t[0] != '/') {
		size_t scheme;

		if (req->target_len > 7 && !strncasecmp(t, "http://", 7))
			scheme = 7;
		else if (req->target_len > 8 && !strncasecmp(t, "https://", 8))
			scheme = 8;
		else
			return fail(why, "request target must be a path such as /v1/ws", -EINVAL);
		p = t + scheme;
		while (p < end && *p != '/' && *p != '?')
			p++;
		if (p == t + scheme)
			return fail(why, "absolute request target without a host", -EINVAL);
	}
	q = memchr(p, '?', (size_t)(end - p));
	if (p == end || p == q) {
		/* "http://host" and "http://host?x" name the root path. */
		req->path = "/";
		req->path_len = 1;
	} else {
		req->path = p;
		req->path_len = (size_t)((q ? q : end) - p);
	}
	req->query = q ? q + 1 : end;
	req->query_len = (size_t)(end - req->query);
	return 0;
}

static bool name_is(const struct sl_http_header *h, const char *name)
{
	return strlen(name) == h->name_len && !strncasecmp(h->name, name, h->name_len);
}

/*
 * RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a
 * Host field, and to any request with more than one.
 */
static int check_host(const struct sl_http_request *req, const char **why)
{
	size_t n = sl_http_header_count(req, "Host");

	if (n > 1)
		return fail(why, "more than one Host header", -EINVAL);
	if (!n && req->version_minor >= 1)
		return fail(why, "missing Host header (required by HTTP/1.1)", -EINVAL);
	return 0;
}

int sl_http_parse(const char *buf, size_t len, size_t max_head_bytes, struct sl_http_request *req,
		  const char **why)
{
	/* Only the first max_head_bytes can belong to an acceptable head. */
	size_t lim = len < max_head_bytes ? len : max_head_bytes;
	size_t p = 0, start, vstart, vend;
	int rc;

	if (lim > INT_MAX)
		lim = INT_MAX;
	memset(req, 0, offsetof(struct sl_http_request, headers));

	/* RFC 9112 §2.2: empty lines before the request-line are ignored. */
	while (p < lim && buf[p] == '\r') {
		if (p + 1 == lim)
			goto more;
		if (buf[p + 1] != '\n')
			return fail(why, "bare CR in request", -EINVAL);
		p += 2;
	}

	/* request-line = method SP request-target SP HTTP-version CRLF (§3) */
	start = p;
	while (p < lim && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == lim)
		goto more;
	if (buf[p] != ' ' || p == start)
		return fail(why, "malformed method in request line", -EINVAL);
	req->method = buf + start;
	req->method_len = p - start;

	start = ++p;
	while (p < lim && is_target_char((unsigned char)buf[p]))
		p++;
	if (p == lim)
		goto more;
	if (buf[p] != ' ' || p == start)
		return fail(why, "malformed request target in request line", -EINVAL);
	req->target = buf + start;
	req->target_len = p - start;

	start = ++p;
	rc = check_version(buf + start, lim - start, why);
	if (rc)
		return rc;
	if (lim - start > 8 && buf[start + 8] != '\r')
		return fail(why, "request line must end with CRLF after the version", -EINVAL);
	if (lim - start < 10)
		goto more;
	if (buf[start + 9] != '\n')
		return fail(why, "request line must end with CRLF after the version", -EINVAL);
	req->version_minor = buf[start + 7] - '0';
	p = start + 10;
	rc = split_target(req, why);
	if (rc)
		return rc;

	/* field-line = field-name ":" OWS field-value OWS CRLF (§5) */
	for (;;) {
		struct sl_http_header *h;

		if (p == lim)
			goto more;
		if (buf[p] == '\r') {
			if (p + 1 == lim)
				goto more;
			if (buf[p + 1] != '\n')
				return fail(why, "bare CR in request head", -EINVAL);
			rc = check_host(req, why);
			return rc ? rc : (int)(p + 2);
		}
		if (buf[p] == '\n')
			return fail(why, "bare LF in request head", -EINVAL);
		if (buf[p] == ' ' || buf[p] == '\t')
			/* §5.2 obs-fold, or whitespace before the first field (§2.2). */
			return fail(why, "folded or indented header line", -EINVAL);
		if (req->header_count == SL_HTTP_MAX_HEADERS)
			return fail(why, "too many header fields", -EMSGSIZE);

		start = p;
		while (p < lim && is_tchar((unsigned char)buf[p]))
			p++;
		if (p == lim)
			goto more;
		if (buf[p] == ' ' || buf[p] == '\t')
			/* §5.1: MUST be rejected, a classic smuggling vector. */
			return fail(why, "whitespace between header name and colon", -EINVAL);
		if (buf[p] != ':')
			return fail(why, "malformed header name", -EINVAL);
		if (p == start)
			return fail(why, "empty header name", -EINVAL);
		h = &req->headers[req->header_count];
		h->name = buf + start;
		h->name_len = p - start;

		p++;
		while (p < lim && (buf[p] == ' ' || buf[p] == '\t'))
			p++;
		vstart = vend = p;
		while (p < lim && buf[p] != '\r') {
			if (buf[p] == '\n')
				return fail(why, "bare LF in request head", -EINVAL);
			if (!is_field_char((unsigned char)buf[p]))
				return fail(why, "control character in header value", -EINVAL);
			if (buf[p] != ' ' && buf[p] != '\t')
				vend = p + 1;
			p++;
		}
		if (p + 1 >= lim)
			goto more;
		if (buf[p + 1] != '\n')
			return fail(why, "bare CR in request head", -EINVAL);
		h->value = buf + vstart;
		h->value_len = vend - vstart;
		req->header_count++;
		p += 2;
	}

more:
	if (len >= max_head_bytes)
		return fail(why, "request head too large", -EMSGSIZE);
	return 0;
}

const struct sl_http_header *sl_http_header_get(const struct sl_http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->header_count; i++)
		if (name_is(&req->headers[i], name))
			return &req->headers[i];
	return NULL;
}

size_t sl_http_header_count(const struct sl_http_request *req, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < req->header_count; i++)
		n += name_is(&req->headers[i], name);
	return n;
}

/* True when the comma-separated list value holds token (elements OWS-trimmed). */
static bool list_find(const char *v, size_t len, const char *token, bool any_case)
{
	size_t tlen = strlen(token), i = 0, s, e;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && e - s == tlen &&
		    !(any_case ? strncasecmp(v + s, token, tlen) : strncmp(v + s, token, tlen)))
			return true;
	}
	return false;
}

static bool header_lists(const struct sl_http_request *req, const char *name, const char *token,
			 bool any_case)
{
	size_t i;

	for (i = 0; i < req->header_count; i++) {
		const struct sl_http_header *h = &req->headers[i];

		if (name_is(h, name) && list_find(h->value, h->value_len, token, any_case))
			return true;
	}
	return false;
}

bool sl_http_header_has_token(const struct sl_http_request *req, const char *name,
			      const char *token)
{
	return header_lists(req, name, token, true);
}

bool sl_http_header_has_value(const struct sl_http_request *req, const char *name,
			      const char *value)
{
	return header_lists(req, name, value, false);
}

/* The CRLF that ends a line at p[*at]: -EAGAIN before it is in, -EINVAL for a bare CR or LF. */
static int line_end(const uint8_t *p, size_t len, size_t *at)
{
	while (*at < len && p[*at] != '\r' && p[*at] != '\n') {
		if (!p[*at])
			return -EINVAL;
		(*at)++;
	}
	if (*at + 1 >= len)
		return -EAGAIN;
	if (p[*at] != '\r' || p[*at + 1] != '\n')
		return -EINVAL;
	*at += 2;
	return 0;
}

/*
 * One chunk's head at p[*at]: its size, its extensions (skipped) and CRLF.
 * At most 15 hex digits: no body this daemon takes needs more, and the sum
 * below cannot overflow.
 */
static int chunk_head(const uint8_t *p, size_t len, size_t *at, uint64_t *size)
{
	size_t digits = 0;
	int d;

	*size = 0;
	for (; *at < len; (*at)++, digits++) {
		uint8_t ch = p[*at];

		d = ch >= '0' && ch <= '9'   ? ch - '0'
		    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
					     : -1;
		if (d < 0)
			break;
		if (digits == 15)
			return -EINVAL;
		*size = *size * 16 + (uint64_t)d;
	}
	if (*at == len)
		return -EAGAIN;
	if (!digits || (p[*at] != ';' && p[*at] != ' ' && p[*at] != '\t' && p[*at] != '\r'))
		return -EINVAL;
	return line_end(p, len, at);
}

int sl_http_chunked_scan(const uint8_t *p, size_t len, uint64_t max, size_t *encoded,
			 uint64_t *decoded)
{
	size_t at = 0, line;
	uint64_t size, total = 0;
	int ret;

	for (;;) {
		ret = chunk_head(p, len, &at, &size);
		if (ret)
			return ret;
		if (!size)
			break;
		if (size > max - total)
			return -EMSGSIZE;
		total += size;
		if (len - at < size + 2)
			return -EAGAIN;
		at += size;
		if (p[at] != '\r' || p[at + 1] != '\n')
			return -EINVAL;
		at += 2;
	}
	/* Trailer fields, each a line, then the empty line. */
	for (;;) {
		line = at;
		ret = line_end(p, len, &at);
		if (ret)
			return ret;
		if (at - line == 2)
			break;
	}
	*encoded = at;
	*decoded = total;
	return 0;
}

void sl_http_chunked_decode(uint8_t *p, size_t encoded)
{
	size_t at = 0, out = 0;
	uint64_t size;

	while (chunk_head(p, encoded, &at, &size) == 0 && size) {
		memmove(p + out, p + at, size);
		out += size;
		at += size + 2;
	}
}

int sl_http_content_length(const struct sl_http_request *req, uint64_t *out)
{
	bool seen = false;
	uint64_t val = 0;
	size_t i, j;

	*out = 0;
	/*
	 * §6.1: Transfer-Encoding overrides Content-Length, and a request with
	 * both is the classic smuggling vector. sluice takes no chunked request
	 * bodies, so any Transfer-Encoding makes the length unknowable.
	 */
	if (sl_http_header_get(req, "Transfer-Encoding"))
		return -EINVAL;
	for (i = 0; i < req->header_count; i++) {
		const struct sl_http_header *h = &req->headers[i];

		if (!name_is(h, "Content-Length"))
			continue;
		/* §6.3 allows "42, 42" (a list of one repeated value). */
		j = 0;
		do {
			uint64_t n = 0;
			size_t digits = 0;

			while (j < h->value_len && (h->value[j] == ' ' || h->value[j] == '\t'))
				j++;
			while (j < h->value_len && h->value[j] >= '0' && h->value[j] <= '9') {
				unsigned d = (unsigned)(h->value[j] - '0');

				if (n > (UINT64_MAX - d) / 10)
					return -EINVAL;
				n = n * 10 + d;
				digits++;
				j++;
			}
			while (j < h->value_len && (h->value[j] == ' ' || h->value[j] == '\t'))
				j++;
			if (!digits || (j < h->value_len && h->value[j] != ','))
				return -EINVAL;
			if (seen && n != val)
				return -EINVAL;
			seen = true;
			val = n;
		} while (j++ < h->value_len);
	}
	if (!seen)
		return -ENOENT;
	*out = val;
	return 0;
}

static int query_decode(const char *s, const char *e, char *out, size_t cap)
{
	size_t n = 0;

	for (; s < e; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			uint8_t byte;

			if (e - s < 3 || sl_hex_decode(s + 1, 1, &byte))
				return -EINVAL;
			c = byte;
			if (!c)
				return -EINVAL;
			s += 2;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		out[n++] = (char)c;
	}
	if (!cap)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

int sl_http_query_next(const char **cursor, const char *end, char *name, size_t name_cap,
		       char *value, size_t value_cap)
{
	const char *p = *cursor, *pair_end, *eq;
	int rc;

	if (!p)
		return 0;
	while (p < end && *p == '&')
		p++;
	if (p >= end) {
		*cursor = end;
		return 0;
	}
	pair_end = memchr(p, '&', (size_t)(end - p));
	if (!pair_end)
		pair_end = end;
	eq = memchr(p, '=', (size_t)(pair_end - p));
	*cursor = pair_end;
	rc = query_decode(p, eq ? eq : pair_end, name, name_cap);
	if (rc)
		return rc;
	rc = query_decode(eq ? eq + 1 : pair_end, pair_end, value, value_cap);
	return rc ? rc : 1;
}

int sl_http_query_buffers(const struct sl_http_request *req, char **name, char **value, size_t *cap)
{
	*cap = req->query_len + 1;
	*name = malloc(2 * *cap);
	*value = *name ? *name + *cap : NULL;
	return *name ? 0 : -ENOMEM;
}

const char *sl_http_reason(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static bool has_line_break(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

/* IMF-fixdate (RFC 9110 §5.6.7), with English names whatever the locale. */
static void format_date(char out[30])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
		 tm.tm_mday % 100, months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
}

char *sl_http_response(int status, const char *reason, const char *content_type,
		       const char *extra_headers, const char *body, size_t body_len,
		       size_t *out_len)
{
	bool no_length = status < 200 || status == 204 || status == 304;
	char date[30], *out = NULL;
	size_t size = 0, extra_len;
	FILE *f;

	*out_len = 0;
	if (status < 100 || status > 999 || has_line_break(reason) ||
	    has_line_break(content_type) ||
	    (extra_headers && (strstr(extra_headers, "\r\n\r\n") || extra_headers[0] == '\r'))) {
		errno = EINVAL;
		return NULL;
	}
	f = open_memstream(&out, &size);
	if (!f)
		return NULL;
	fprintf(f, "HTTP/1.1 %d %s\r\n", status, reason ? reason : sl_http_reason(status));
	/* §6.6.1: an origin server with a clock MUST send Date (1xx: MAY). */
	if (status >= 200) {
		format_date(date);
		fprintf(f, "Date: %s\r\n", date);
	}
	if (content_type)
		fprintf(f, "Content-Type: %s\r\n", content_type);
	if (body && !no_length)
		fprintf(f, "Content-Length: %zu\r\n", body_len);
	if (extra_headers && extra_headers[0]) {
		extra_len = strlen(extra_headers);
		fputs(extra_headers, f);
		if (extra_len < 2 || strcmp(extra_headers + extra_len - 2, "\r\n"))
			fputs("\r\n", f);
	}
	fputs("\r\n", f);
	if (body && body_len && !no_length)
		fwrite(body, 1, body_len, f);
	if (ferror(f)) {
		fclose(f);
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	if (fclose(f)) {
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	*out_len = size;
	return out;
}

char *sl_http_error(int status, const char *code, const char *detail, const char *extra_headers,
		    size_t *out_len)
{
	char *body = NULL, *headers = NULL, *out = NULL;
	json_t *obj;
	int saved;

	*out_len = 0;
	obj = json_pack("{s:s, s:s}", "error", code ? code : "", "detail", detail ? detail : "");
	if (!obj) {
		/* jansson refuses strings that are not valid UTF-8. */
		errno = EINVAL;
		return NULL;
	}
	body = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!body) {
		errno = ENOMEM;
		return NULL;
	}
	if (asprintf(&headers, "Connection: close\r\n%s", extra_headers ? extra_headers : "") < 0) {
		headers = NULL;
		errno = ENOMEM;
		goto done;
	}
	out = sl_http_response(status, NULL, "application/json", headers, body, strlen(body),
			       out_len);
done:
	saved = errno;
	free(headers);
	free(body);
	errno = saved;
	return out;
}
