// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The admin listener: one request per connection. Health and readiness for
 * orchestrators, a first /metrics, and POST /v1/publish for backends that
 * speak HTTP only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/kern.h"
#include "net/conn.h"
#include "route/topic.h"

static void respond(struct sl_conn *c, int status, const char *type, const char *body)
{
	size_t len;
	char *resp =
	    sl_http_response(status, NULL, type, "Connection: close\r\n", body, strlen(body), &len);

	sl_conn_answer_and_close(c, resp, len);
}

static void fail(struct sl_conn *c, int status, const char *code, const char *detail,
		 const char *extra)
{
	size_t len;
	char *resp = sl_http_error(status, code, detail, extra, &len);

	sl_conn_answer_and_close(c, resp, len);
}

#define APPEND(...)                                                                                \
	do {                                                                                       \
		size_t used_ = strlen(buf);                                                        \
		if (used_ < len)                                                                   \
			snprintf(buf + used_, len - used_, __VA_ARGS__);                           \
	} while (0)

/*
 * Latency histogram, the kernel's drops by reason and per-application
 * counts (bounded: the first SL_METRICS_MAX_APPS applications of the policy).
 */
#define SL_METRICS_MAX_APPS 50

static void metrics_more(struct sl_gateway *gw, char *buf, size_t len)
{
	const struct sl_latency *h = &gw->stats.latency;
	struct sl_drop_count drops[SL_DROP__MAX];
	struct sl_app_usage u;
	uint64_t cum = 0;
	uint32_t i, slot, backends = 0;
	struct sl_conn *c;

	APPEND("# HELP sluice_delivery_latency_seconds Publish accepted to event written, per "
	       "delivery.\n# TYPE sluice_delivery_latency_seconds histogram\n");
	for (i = 0; i < SL_LAT_BUCKETS; i++) {
		cum += h->count[i];
		APPEND("sluice_delivery_latency_seconds_bucket{le=\"%g\"} %llu\n",
		       (double)sl_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	APPEND("sluice_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
	       (unsigned long long)h->total);
	APPEND("sluice_delivery_latency_seconds_sum %.9f\n", (double)h->sum_ns / 1e9);
	APPEND("sluice_delivery_latency_seconds_count %llu\n", (unsigned long long)h->total);
	for (c = gw->conns; c; c = c->next)
		if (c->kind == SL_CONN_PUB && c->hello_done)
			backends++;
	APPEND("# HELP sluice_backends_connected Publishers connected (after hello).\n"
	       "# TYPE sluice_backends_connected gauge\nsluice_backends_connected %u\n",
	       backends);
	if (!gw->kern)
		return;
	if (sl_kern_drops(gw->kern, drops) == 0) {
		APPEND(
		    "# HELP sluice_kernel_drops_total Events the kernel meter removed, by reason.\n"
		    "# TYPE sluice_kernel_drops_total counter\n");
		for (i = 1; i < SL_DROP__MAX; i++)
			APPEND("sluice_kernel_drops_total{reason=\"%s\"} %llu\n",
			       sl_drop_reason_name((enum sl_drop_reason)i),
			       (unsigned long long)drops[i].frames);
	}
	APPEND("# HELP sluice_app_events_total Events delivered to an application, counted by the "
	       "kernel.\n# TYPE sluice_app_events_total counter\n");
	for (i = 0; i < gw->cfg->n_apps && i < SL_METRICS_MAX_APPS; i++) {
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		if (slot && sl_kern_app_usage(gw->kern, slot, &u) == 0)
			APPEND("sluice_app_events_total{app=\"%s\"} %llu\n", gw->cfg->apps[i].id,
			       (unsigned long long)u.events_total);
	}
	APPEND("# HELP sluice_app_bytes_total Bytes sent to an application, counted by the "
	       "kernel.\n# TYPE sluice_app_bytes_total counter\n");
	for (i = 0; i < gw->cfg->n_apps && i < SL_METRICS_MAX_APPS; i++) {
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		if (slot && sl_kern_app_usage(gw->kern, slot, &u) == 0)
			APPEND("sluice_app_bytes_total{app=\"%s\"} %llu\n", gw->cfg->apps[i].id,
			       (unsigned long long)u.bytes);
	}
}

static void metrics(struct sl_conn *c)
{
	const struct sl_gateway_stats *s = &c->gw->stats;
	char body[32768];
	size_t used;
	int r;

	snprintf(body, sizeof(body),
		 "# HELP sluice_connections Open connections.\n"
		 "# TYPE sluice_connections gauge\nsluice_connections %u\n"
		 "# HELP sluice_connections_total Connections accepted.\n"
		 "# TYPE sluice_connections_total counter\nsluice_connections_total %llu\n"
		 "# HELP sluice_published_events_total Events accepted from publishers.\n"
		 "# TYPE sluice_published_events_total counter\n"
		 "sluice_published_events_total %llu\n"
		 "# HELP sluice_publish_errors_total Publish requests refused.\n"
		 "# TYPE sluice_publish_errors_total counter\nsluice_publish_errors_total %llu\n"
		 "# HELP sluice_delivered_events_total Events written to subscribers.\n"
		 "# TYPE sluice_delivered_events_total counter\n"
		 "sluice_delivered_events_total %llu\n"
		 "# HELP sluice_evicted_total Subscribers evicted as slow consumers.\n"
		 "# TYPE sluice_evicted_total counter\nsluice_evicted_total %llu\n"
		 "# HELP sluice_auth_failures_total Failed authentications by reason.\n"
		 "# TYPE sluice_auth_failures_total counter\n",
		 c->gw->nconns, (unsigned long long)s->conns_total,
		 (unsigned long long)s->published, (unsigned long long)s->publish_errors,
		 (unsigned long long)s->delivered, (unsigned long long)s->evicted);
	for (r = 1; r < SL_AUTH_REASON_COUNT; r++) {
		used = strlen(body);
		snprintf(body + used, sizeof(body) - used,
			 "sluice_auth_failures_total{reason=\"%s\"} %llu\n",
			 sl_auth_reason_name((enum sl_auth_reason)r),
			 (unsigned long long)s->auth_failures[r]);
	}
	metrics_more(c->gw, body, sizeof(body));
	respond(c, 200, "text/plain; version=0.0.4", body);
}

static void publish(struct sl_conn *c, const struct sl_http_request *req, size_t head)
{
	char name[16], topic[SL_TOPIC_MAX_LEN + 1] = "", body[64];
	const char *cursor = req->query, *why = NULL;
	uint64_t clen, seq;
	int ret;

	if (sl_http_content_length(req, &clen)) {
		fail(c, 411, "length_required", "POST /v1/publish needs a Content-Length", NULL);
		return;
	}
	if (clen > c->gw->cfg->limits.max_frame_bytes) {
		fail(c, 413, "payload_too_large", "payload over limits.max_frame_bytes", NULL);
		return;
	}
	if (c->in_len - head < clen)
		return; /* the body is still coming */
	while (cursor && cursor < req->query + req->query_len) {
		char value[SL_TOPIC_MAX_LEN + 1];

		ret = sl_http_query_next(&cursor, req->query + req->query_len, name, sizeof(name),
					 value, sizeof(value));
		if (ret <= 0)
			break;
		if (strcmp(name, "topic") == 0)
			memcpy(topic, value, sizeof(topic));
	}
	if (!topic[0]) {
		fail(c, 400, "bad_request", "POST /v1/publish needs ?topic=TOPIC", NULL);
		return;
	}
	{
		int status = 401;

		why = "invalid credentials";
		if (sl_conn_authenticate(c, req, NULL, 0, false, &status, &why)) {
			fail(c, status, status == 401 ? "unauthorized" : "bad_request", why,
			     status == 401 ? "WWW-Authenticate: Bearer realm=\"sluice\"\r\n"
					   : NULL);
			return;
		}
		/* Bad names and wildcards get the router's 400 below, not a 403. */
		if (!sl_topic_validate(topic, strlen(topic), false, NULL) &&
		    !sl_auth_allows(&c->auth, true, topic)) {
			fail(c, 403, "forbidden", "not allowed to publish on this topic", NULL);
			return;
		}
	}
	ret = sl_gateway_publish(c->gw, topic, strlen(topic), c->in + head, clen, &seq, &why);
	if (ret) {
		fail(c, ret == -ENOSPC ? 429 : 400, "publish_refused", why, NULL);
		return;
	}
	snprintf(body, sizeof(body), "{\"seq\":%llu}", (unsigned long long)seq);
	respond(c, 202, "application/json", body);
}

void sl_admin_on_http(struct sl_conn *c)
{
	struct sl_http_request req;
	const char *why = NULL;
	int head;

	if (c->closing)
		return;
	head = sl_http_parse((const char *)c->in, c->in_len, c->gw->cfg->limits.max_header_bytes,
			     &req, &why);
	if (head == 0)
		return;
	if (head < 0) {
		fail(c, 400, head == -EMSGSIZE ? "headers_too_large" : "bad_request",
		     why ? why : "malformed request", NULL);
		return;
	}
#define IS(m, p)                                                                                   \
	(req.method_len == strlen(m) && memcmp(req.method, m, req.method_len) == 0 &&              \
	 req.path_len == strlen(p) && memcmp(req.path, p, req.path_len) == 0)
	if (IS("GET", "/healthz"))
		respond(c, 200, "text/plain", "ok\n");
	else if (IS("GET", "/readyz"))
		respond(c, c->gw->shutting_down ? 503 : 200, "text/plain",
			c->gw->shutting_down ? "shutting down\n" : "ready\n");
	else if (IS("GET", "/metrics"))
		metrics(c);
	else if (IS("POST", "/v1/publish"))
		publish(c, &req, (size_t)head);
	else if (req.path_len == 11 && memcmp(req.path, "/v1/publish", 11) == 0)
		fail(c, 405, "method_not_allowed", "use POST", "Allow: POST\r\n");
	else
		fail(c, 404, "not_found", "no such endpoint", NULL);
#undef IS
}
