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
#include "net/admit.h"
#include "net/conn.h"
#include "net/replay.h"
#include "net/workpool.h"
#include "route/topic.h"

/*
 * head_only: the answer to HEAD, the same head with its Content-Length and
 * no body (RFC 9110 §9.3.2): bytes after it would be taken for another answer.
 */
static void answer(struct sl_conn *c, char *resp, size_t len, bool head_only)
{
	const char *head_end = resp && head_only ? strstr(resp, "\r\n\r\n") : NULL;

	if (head_end)
		len = (size_t)(head_end + 4 - resp);
	sl_conn_answer_and_close(c, resp, len);
}

static void respond(struct sl_conn *c, int status, const char *type, const char *body,
		    bool head_only)
{
	size_t len;
	char *resp =
	    sl_http_response(status, NULL, type, "Connection: close\r\n", body, strlen(body), &len);

	answer(c, resp, len, head_only);
}

static void fail_to(struct sl_conn *c, int status, const char *code, const char *detail,
		    const char *extra, bool head_only)
{
	size_t len;
	char *resp = sl_http_error(status, code, detail, extra, &len);

	answer(c, resp, len, head_only);
}

static void fail(struct sl_conn *c, int status, const char *code, const char *detail,
		 const char *extra)
{
	fail_to(c, status, code, detail, extra, false);
}

/*
 * The lines of one latency histogram, name_bucket{LABELS,le=...} with the
 * counts cumulative, then _sum and _count; labels: "" or `app="x"`.
 */
static void histogram_lines(FILE *f, const char *name, const char *labels,
			    const struct sl_latency *h)
{
	const char *comma = *labels ? "," : "", *open = *labels ? "{" : "",
		   *close = *labels ? "}" : "";
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i < SL_LAT_BUCKETS; i++) {
		cum += h->count[i];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, comma,
			(double)sl_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, comma,
		(unsigned long long)h->total);
	/* Without labels the braces go too: name_sum, not name_sum{}. */
	fprintf(f, "%s_sum%s%s%s %.9f\n", name, open, labels, close, (double)h->sum_ns / 1e9);
	fprintf(f, "%s_count%s%s%s %llu\n", name, open, labels, close,
		(unsigned long long)h->total);
}

/* One metric family's header. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. */
static void single(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	family(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* An application's or topic's counters, for ranking and for `_other`. */
struct ranked {
	const char *name;
	uint64_t events, bytes;
	uint64_t drops[SL_DROP__MAX]; /* an application's frames the kernel removed, by reason */
	const struct sl_latency *latency; /* its deliveries; NULL: none yet */
};

static int by_events_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->events != y->events)
		return x->events < y->events ? 1 : -1;
	return strcmp(x->name, y->name);
}

/*
 * One family of name{label="..."} lines: the first top_n entries of v (sorted
 * busiest first) and one `_other` line summing the rest, so the label's
 * cardinality is at most top_n + 1 however many there are.
 */
static void ranked_family(FILE *f, const struct ranked *v, size_t n, uint32_t top_n,
			  const char *label, const char *name, const char *help, bool bytes)
{
	uint64_t other = 0, value;
	size_t i;

	family(f, name, "counter", help);
	for (i = 0; i < n; i++) {
		value = bytes ? v[i].bytes : v[i].events;
		if (i < top_n)
			fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, v[i].name,
				(unsigned long long)value);
		else
			other += value;
	}
	if (n > top_n)
		fprintf(f, "%s{%s=\"_other\"} %llu\n", name, label, (unsigned long long)other);
}

/* Their latency histograms, the rest's summed as `_other`: (top_n + 1) x 17 series at most. */
static void ranked_latency(FILE *f, const struct ranked *v, size_t n, uint32_t top_n,
			   const char *label, const char *name)
{
	struct sl_latency other = { 0 }, none = { 0 };
	char labels[SL_TOPIC_MAX_LEN + 32];
	size_t i;
	unsigned b;

	family(f, name, "histogram",
	       "Publish accepted to event written, per live delivery, by the label (the busiest by "
	       "events; the rest as _other).");
	for (i = 0; i < n; i++) {
		const struct sl_latency *h = v[i].latency ? v[i].latency : &none;

		if (i < top_n) {
			snprintf(labels, sizeof(labels), "%s=\"%s\"", label, v[i].name);
			histogram_lines(f, name, labels, h);
			continue;
		}
		for (b = 0; b <= SL_LAT_BUCKETS; b++)
			other.count[b] += h->count[b];
		other.total += h->total;
		other.sum_ns += h->sum_ns;
	}
	if (n > top_n) {
		snprintf(labels, sizeof(labels), "%s=\"_other\"", label);
		histogram_lines(f, name, labels, &other);
	}
}

/* What a ranked family is called and what its counts are. */
struct ranked_names {
	const char *label;
	const char *events, *events_help;
	const char *bytes, *bytes_help;
	const char *latency;
};

/* v is ranked busiest first: the first top_n are named, the rest summed as `_other`. */
static void ranked_lines(FILE *f, struct ranked *v, size_t n, uint32_t top_n,
			 const struct ranked_names *names)
{
	ranked_family(f, v, n, top_n, names->label, names->events, names->events_help, false);
	ranked_family(f, v, n, top_n, names->label, names->bytes, names->bytes_help, true);
	ranked_latency(f, v, n, top_n, names->label, names->latency);
}

static const struct ranked_names app_names = {
	"app",
	"sluice_app_events_total",
	"Events the kernel meter let out to the application's subscribers (the daemon's writes "
	"with bpf: off); the busiest by this count, the rest as _other.",
	"sluice_app_bytes_total",
	"Bytes the kernel meter let out on the application's sockets: events, protocol replies "
	"and handshake answers alike (the daemon's writes with bpf: off).",
	"sluice_app_delivery_latency_seconds",
};

static const struct ranked_names topic_names = {
	"topic",
	"sluice_topic_events_total",
	"Events of the topic written to subscribers; the busiest by this count, the rest as "
	"_other.",
	"sluice_topic_bytes_total",
	"Bytes of those events as written, framing included.",
	"sluice_topic_delivery_latency_seconds",
};

/*
 * The kernel's drops of the same applications, by reason: at most
 * (top_n + 1) x 4 series. v is sorted already (ranked_lines).
 */
static void app_drops_family(FILE *f, const struct ranked *v, size_t n, uint32_t top_n)
{
	const char *name = "sluice_app_drops_total";
	uint64_t other[SL_DROP__MAX] = { 0 };
	size_t i;
	int r;

	family(f, name, "counter",
	       "Events the kernel meter removed, by application (the busiest by events; the "
	       "rest as _other) and reason.");
	for (i = 0; i < n; i++)
		for (r = 1; r < SL_DROP__MAX; r++) {
			if (i >= top_n) {
				other[r] += v[i].drops[r];
				continue;
			}
			fprintf(f, "%s{app=\"%s\",reason=\"%s\"} %llu\n", name, v[i].name,
				sl_drop_reason_name((enum sl_drop_reason)r),
				(unsigned long long)v[i].drops[r]);
		}
	for (r = 1; n > top_n && r < SL_DROP__MAX; r++)
		fprintf(f, "%s{app=\"_other\",reason=\"%s\"} %llu\n", name,
			sl_drop_reason_name((enum sl_drop_reason)r), (unsigned long long)other[r]);
}

/* Per application (kernel counts when the meter runs) and per topic, bounded by metrics.top_n. */
static void metrics_ranked(struct sl_gateway *gw, FILE *f)
{
	struct ranked *apps = calloc(gw->cfg->n_apps + 1, sizeof(*apps));
	struct sl_router_topic_stat *stats = NULL;
	struct sl_topic_counters rest;
	struct ranked *topics;
	const struct sl_app_usage *all = sl_gateway_usage_all(gw);
	struct sl_app_usage u;
	size_t n = 0;
	uint32_t i, slot;

	for (i = 0; apps && i < gw->cfg->n_apps; i++) {
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		if (!slot)
			continue;
		apps[n].name = gw->cfg->apps[i].id;
		apps[n].latency = gw->apps ? &gw->apps[slot].latency : NULL;
		if (sl_gateway_kernel_usage(gw, all, slot, &u)) {
			apps[n].events = u.events_total;
			apps[n].bytes = u.bytes;
			memcpy(apps[n].drops, u.drops_by_reason, sizeof(apps[n].drops));
		} else if (gw->apps) {
			apps[n].events = gw->apps[slot].events_written;
			apps[n].bytes = gw->apps[slot].bytes_written;
		}
		n++;
	}
	if (apps) {
		qsort(apps, n, sizeof(*apps), by_events_desc);
		ranked_lines(f, apps, n, gw->cfg->metrics.top_n, &app_names);
		app_drops_family(f, apps, n, gw->cfg->metrics.top_n);
	}
	free(apps);
	/*
	 * The busiest topics and the rest as one sum: at 300,000 topics a copy
	 * and a sort of every one held the loop 0.1 s a scrape.
	 */
	if (sl_router_top_topics(gw->router, gw->cfg->metrics.top_n, SL_RANK_EVENTS, &stats, &n,
				 &rest))
		return;
	topics = calloc(n + 1, sizeof(*topics));
	/* Topic names are validated subjects: no quote or backslash to escape. */
	for (i = 0; topics && i < n; i++)
		topics[i] = (struct ranked){ .name = stats[i].name,
					     .events = stats[i].delivered.events,
					     .bytes = stats[i].delivered.bytes,
					     .latency = &stats[i].delivered.latency };
	if (topics && sl_router_topic_count(gw->router) > n)
		topics[n++] = (struct ranked){ .name = "_other",
					       .events = rest.events,
					       .bytes = rest.bytes,
					       .latency = &rest.latency };
	if (topics)
		ranked_lines(f, topics, n, gw->cfg->metrics.top_n, &topic_names);
	free(topics);
	free(stats);
}

static void metrics_write(struct sl_gateway *gw, FILE *f)
{
	const struct sl_gateway_stats *s = &gw->stats;
	struct sl_drop_count drops[SL_DROP__MAX];
	uint32_t backends = 0;
	struct sl_conn *c;
	int i;

	single(f, "sluice_connections", "gauge", "Open connections.", gw->nconns);
	single(f, "sluice_connections_total", "counter", "Connections accepted.", s->conns_total);
	single(f, "sluice_published_events_total", "counter", "Events accepted from publishers.",
	       s->published);
	family(f, "sluice_publish_errors_total", "counter", "Publish requests refused, by kind.");
	for (i = 0; i < SL_PUB_ERR__COUNT; i++)
		fprintf(f, "sluice_publish_errors_total{kind=\"%s\"} %llu\n",
			sl_publish_error_name((enum sl_publish_error)i),
			(unsigned long long)s->publish_errors_by_kind[i]);
	single(f, "sluice_delivered_events_total", "counter", "Events written to subscribers.",
	       s->delivered);
	single(f, "sluice_written_bytes_total", "counter",
	       "Bytes written to clients: events, replies, heartbeats (TLS: before encryption).",
	       s->written_bytes);
	single(f, "sluice_evicted_total", "counter", "Subscribers evicted as slow consumers.",
	       s->evicted);
	family(f, "sluice_resumes_total", "counter",
	       "Resumes (WebSocket since, SSE Last-Event-ID) by what they found: events to "
	       "replay, none, or a gap (410).");
	for (i = 0; i < SL_RESUME__COUNT; i++)
		fprintf(f, "sluice_resumes_total{outcome=\"%s\"} %llu\n",
			sl_replay_outcome_name((enum sl_resume_outcome)i),
			(unsigned long long)s->resumes[i]);
	single(f, "sluice_replayed_events_total", "counter",
	       "Events resumes took from the retention rings.", s->replayed);
	single(f, "sluice_resuming_connections", "gauge",
	       "Subscribers with a resume under way (paced by their reading).", s->resuming);
	single(f, "sluice_resume_refills_held_total", "counter",
	       "Resume refills cut short because all queues held half of "
	       "limits.max_queued_bytes_total.",
	       s->refills_held);
	single(f, "sluice_topics_reclaimed_total", "counter",
	       "Topics forgotten near limits.max_topics because they held no event.",
	       sl_router_topics_reclaimed(gw->router));
	single(f, "sluice_queued_bytes", "gauge", "Bytes held in every output queue together.",
	       sl_gateway_queued_bytes(gw));
	single(f, "sluice_publisher_pauses_total", "counter",
	       "Times publishers were not read because the output queues held "
	       "limits.max_queued_bytes_total.",
	       s->publisher_pauses);
	single(f, "sluice_meter_resyncs_total", "counter",
	       "Metered sockets re-inserted into the meter's sockhash after the kernel took "
	       "part of a write.",
	       s->meter_resyncs);
	single(f, "sluice_write_threads", "gauge",
	       "Threads writing subscriber sockets beside the event loop (write_threads).",
	       sl_workpool_threads(gw->writers));
	family(f, "sluice_flushes_total", "counter",
	       "Connection flushes (writes of a connection's queue) by the thread that did them; "
	       "thread 0 is the event loop.");
	for (unsigned t = 0; t <= sl_workpool_threads(gw->writers); t++)
		fprintf(f, "sluice_flushes_total{thread=\"%u\"} %llu\n", t,
			(unsigned long long)gw->writer[t].flushes);
	family(f, "sluice_auth_failures_total", "counter", "Failed authentications by reason.");
	for (i = 1; i < SL_AUTH_REASON_COUNT; i++)
		fprintf(f, "sluice_auth_failures_total{reason=\"%s\"} %llu\n",
			sl_auth_reason_name((enum sl_auth_reason)i),
			(unsigned long long)s->auth_failures[i]);
	family(f, "sluice_delivery_latency_seconds", "histogram",
	       "Publish accepted to event written, per live delivery (not a resume's).");
	histogram_lines(f, "sluice_delivery_latency_seconds", "", &s->latency);
	for (c = gw->conns; c; c = c->next)
		if (c->kind == SL_CONN_PUB && c->hello_done)
			backends++;
	single(f, "sluice_backends_connected", "gauge", "Publishers connected (after hello).",
	       backends);
	/* Without the meter (bpf: off) nothing is dropped there: zeros, so that alerts and
	 * dashboards find the family on every host. */
	memset(drops, 0, sizeof(drops));
	if (!gw->kern || sl_kern_drops(gw->kern, drops) == 0) {
		family(f, "sluice_kernel_drops_total", "counter",
		       "Events the kernel meter removed, by reason.");
		for (i = 1; i < SL_DROP__MAX; i++)
			fprintf(f, "sluice_kernel_drops_total{reason=\"%s\"} %llu\n",
				sl_drop_reason_name((enum sl_drop_reason)i),
				(unsigned long long)drops[i].frames);
	}
	metrics_ranked(gw, f);
}

static void metrics(struct sl_conn *c, bool head_only)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	if (!f) {
		fail(c, 500, "internal", "out of memory", NULL);
		return;
	}
	metrics_write(c->gw, f);
	if (fclose(f) || !body) {
		free(body);
		fail(c, 500, "internal", "out of memory", NULL);
		return;
	}
	respond(c, 200, "text/plain; version=0.0.4", body, head_only);
	free(body);
}

/*
 * The body's length (*len) and its length on the wire (*wire): from
 * Content-Length, or from a chunked body (RFC 9112 §7.1, which a client
 * streaming a payload of unknown length sends: curl -T -) once it is all
 * in. -ENOENT (neither), -EINVAL (unusable, or Transfer-Encoding other than
 * chunked alone, or both: the classic smuggling vector), -EMSGSIZE (past
 * limits.max_frame_bytes) or -EAGAIN (a chunked body still on its way).
 */
static int body_length(struct sl_conn *c, const struct sl_http_request *req, size_t head,
		       uint64_t *len, size_t *wire)
{
	const struct sl_http_header *te = sl_http_header_get(req, "Transfer-Encoding");
	static const char chunked[] = "chunked";
	int ret;

	*len = 0;
	*wire = 0;
	if (!te) {
		ret = sl_http_content_length(req, len);
		*wire = (size_t)*len;
		return ret;
	}
	if (sl_http_header_get(req, "Content-Length") ||
	    sl_http_header_count(req, "Transfer-Encoding") != 1 ||
	    te->value_len != sizeof(chunked) - 1 || strncasecmp(te->value, chunked, te->value_len))
		return -EINVAL;
	return sl_http_chunked_scan(c->in + head, c->in_len - head,
				    c->gw->cfg->limits.max_frame_bytes, wire, len);
}

static void publish(struct sl_conn *c, const struct sl_http_request *req, size_t head)
{
	char topic[SL_TOPIC_MAX_LEN + 1] = "", body[64], *name, *value;
	const char *cursor = req->query, *why = NULL, *too_long = NULL;
	unsigned int topics = 0;
	uint64_t clen, seq;
	size_t wire;
	int status = 401;
	size_t cap;
	int ret;

	/*
	 * Credentials first, on each pass (again once a late body is in): what
	 * a client without them sends is a failed authentication, never one
	 * of the publish errors an operator alerts on (the native protocol
	 * counts from hello on, pub.c).
	 */
	why = "invalid credentials";
	if (sl_conn_authenticate(c, req, NULL, 0, false, &status, &why)) {
		const char *code, *challenge;

		sl_conn_auth_refusal(c, status, &code, &challenge);
		fail(c, status, code, why, challenge);
		return;
	}
	ret = body_length(c, req, head, &clen, &wire);
	if (ret == -ENOENT) {
		fail(c, 411, "length_required",
		     "POST /v1/publish needs a Content-Length or a chunked body", NULL);
		return;
	}
	/* One that is there but unusable is the client's mistake, not a missing header. */
	if (ret == -EINVAL) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_MALFORMED);
		fail(c, 400, "bad_request",
		     "the body's length is unusable: Content-Length is not one number below "
		     "2^64, comes with Transfer-Encoding, or Transfer-Encoding is not chunked "
		     "alone, or the chunked body is malformed",
		     NULL);
		return;
	}
	if (ret == -EMSGSIZE || clen > c->gw->cfg->limits.max_frame_bytes) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_TOO_LARGE);
		fail(c, 413, "payload_too_large", "payload over limits.max_frame_bytes", NULL);
		return;
	}
	if (ret == -EAGAIN || c->in_len - head < wire) {
		static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";

		/*
		 * RFC 9110 §10.1.1: a client that expects 100-continue holds its
		 * body back for it (curl, for bodies over 1 KiB, for a second).
		 * Only on the first wait: the head is not parsed again before.
		 */
		if (!c->body_end && c->in_len == head && req->version_minor >= 1 &&
		    sl_http_header_has_token(req, "Expect", "100-continue") &&
		    sl_conn_send(c, go_on, sizeof(go_on) - 1) == 0)
			sl_conn_schedule_flush(c);
		/* A chunked body's end is not known yet: the next byte is read and looked at. */
		c->body_end = (uint32_t)(ret == -EAGAIN ? c->in_len + 1 : head + wire);
		return;
	}
	/* Room for any pair: an access_token JWT before the topic must not end the scan. */
	if (sl_http_query_buffers(req, &name, &value, &cap)) {
		fail(c, 500, "internal", "out of memory", NULL);
		return;
	}
	while ((ret = sl_http_query_next(&cursor, req->query + req->query_len, name, cap, value,
					 cap)) > 0) {
		if (strcmp(name, "topic") != 0 || topics++)
			continue;
		/* Refused below as an invalid topic, in the validator's words. */
		if (strlen(value) >= sizeof(topic))
			sl_topic_validate(value, strlen(value), false, &too_long);
		else
			memcpy(topic, value, strlen(value) + 1);
	}
	explicit_bzero(name, 2 * cap);
	free(name);
	if (ret < 0) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_MALFORMED);
		fail(c, 400, "bad_request", "malformed query string", NULL);
		return;
	}
	/* Two topics name no one place to publish: the last one winning hid the mistake. */
	if (topics > 1) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_MALFORMED);
		fail(c, 400, "bad_request", "POST /v1/publish takes ?topic= once", NULL);
		return;
	}
	if (too_long) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_INVALID_TOPIC);
		fail(c, 400, "publish_refused", too_long, NULL);
		return;
	}
	if (!topic[0]) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_MALFORMED);
		fail(c, 400, "bad_request", "POST /v1/publish needs ?topic=TOPIC", NULL);
		return;
	}
	/* Bad names and wildcards get the router's 400 below, not a 403. */
	if (!sl_topic_validate(topic, strlen(topic), false, NULL) &&
	    !sl_auth_allows(&c->auth, true, topic)) {
		sl_gateway_publish_refused(c, SL_PUB_ERR_FORBIDDEN);
		fail(c, 403, "forbidden", "not allowed to publish on this topic", NULL);
		return;
	}
	/* Held while the queues are over their bound, as a native publisher is: the body waits. */
	if (sl_gateway_pace(c)) {
		c->body_end = (uint32_t)(head + wire);
		return;
	}
	/* Last, once nothing can send the request back to be read again. */
	if (wire != clen)
		sl_http_chunked_decode(c->in + head, wire);
	ret = sl_gateway_publish(c, topic, strlen(topic), c->in + head, clen, &seq, &why);
	if (ret) {
		status = sl_publish_status(ret);
		/* Too many topics passes: the sweep forgets quiet ones each second. */
		fail(c, status, status >= 500 ? "internal" : "publish_refused", why,
		     status == 429 ? "Retry-After: 1\r\n" : NULL);
		return;
	}
	snprintf(body, sizeof(body), "{\"seq\":%llu}", (unsigned long long)seq);
	respond(c, 202, "application/json", body, false);
}

void sl_admin_over_limit(struct sl_conn *c)
{
	fail(c, 413, "payload_too_large",
	     "request over limits.max_frame_bytes, with its chunked framing", NULL);
}

bool sl_admin_timed_out(struct sl_conn *c)
{
	if (c->closing || !c->body_end)
		return false;
	/* Its head was taken: the client waits for an answer, not for a silent close. */
	if (c->in_len < c->body_end)
		fail(c, 408, "request_timeout",
		     "the body did not arrive within limits.handshake_timeout", NULL);
	else
		fail(c, 503, "paused",
		     "publishers are held while the subscribers' queues are full "
		     "(limits.max_queued_bytes_total); try again",
		     "Retry-After: 1\r\n");
	return true;
}

void sl_admin_on_http(struct sl_conn *c)
{
	struct sl_http_request req;
	const char *why = NULL;
	int head;

	if (c->closing)
		return;
	if (c->body_end ? c->in_len < c->body_end : !sl_conn_head_may_end(c))
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
#define PATH_IS(p) (req.path_len == strlen(p) && memcmp(req.path, p, req.path_len) == 0)
#define METHOD_IS(m) (req.method_len == strlen(m) && memcmp(req.method, m, req.method_len) == 0)
	/* RFC 9110 §9.3.2: HEAD wherever GET is, the same head and no content. */
	bool head_only = METHOD_IS("HEAD"), get = METHOD_IS("GET") || head_only;

	if (get && PATH_IS("/healthz"))
		respond(c, 200, "text/plain", "ok\n", head_only);
	else if (get && PATH_IS("/readyz"))
		respond(c, c->gw->shutting_down ? 503 : 200, "text/plain",
			c->gw->shutting_down ? "shutting down\n" : "ready\n", head_only);
	else if (get && PATH_IS("/metrics"))
		metrics(c, head_only);
	else if (METHOD_IS("POST") && PATH_IS("/v1/publish"))
		publish(c, &req, (size_t)head);
	else if (PATH_IS("/v1/publish"))
		fail_to(c, 405, "method_not_allowed", "use POST", "Allow: POST\r\n", head_only);
	else if (PATH_IS("/healthz") || PATH_IS("/readyz") || PATH_IS("/metrics"))
		fail(c, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n");
	else
		fail_to(c, 404, "not_found", "no such endpoint", NULL, head_only);
#undef METHOD_IS
#undef PATH_IS
}
