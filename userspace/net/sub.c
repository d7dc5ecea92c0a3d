// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Subscribers: the HTTP handshake on the subscriber listener, then the
 * WebSocket protocol (sub/unsub/pub ops in msgpack) or a Server-Sent Events
 * stream. Authentication plugs in at one place, handshake_grant().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "kern/kern.h"
#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/plan.h"
#include "net/replay.h"
#include "net/sse.h"
#include "proto/envelope.h"
#include "route/topic.h"

#define SL_SSE_MAX_TOPICS 16

/* The answer that starts an SSE stream; %s: CORS fields for a listed origin, or nothing. */
#define SSE_HEAD                                                                                   \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"        \
	"X-Accel-Buffering: no\r\n%sTransfer-Encoding: chunked\r\n\r\n"

static void queue_or_close(struct sl_conn *c, int ret)
{
	if (ret) {
		/* Deferred: the caller may be iterating the router's subscriptions. */
		c->close_reason = "out of memory";
		sl_conn_finish(c);
	}
}

/*
 * Answers a handshake with an error and closes after the answer is out; to
 * a HEAD request the head alone (RFC 9110 §9.3.2: the same fields, no content).
 */
static void http_fail_to(struct sl_conn *c, bool head_only, int status, const char *code,
			 const char *detail, const char *extra)
{
	size_t len;
	char *resp = sl_http_error(status, code, detail, extra, &len);
	const char *end = resp && head_only ? memmem(resp, len, "\r\n\r\n", 4) : NULL;

	if (end)
		len = (size_t)(end - resp) + 4;
	c->gw->stats.handshake_errors++;
	c->close_code = (uint16_t)status;
	c->close_reason = code;
	sl_conn_answer_and_close(c, resp, len);
}

static void http_fail(struct sl_conn *c, int status, const char *code, const char *detail,
		      const char *extra)
{
	http_fail_to(c, false, status, code, detail, extra);
}

/* Credentials → application (admit.c, sl_conn_authenticate), answered here on failure. */
static int handshake_grant(struct sl_conn *c, const struct sl_http_request *req)
{
	bool open = c->gw->cfg->listeners.subscribers.auth == SL_CONFIG_AUTH_OPEN;
	const char *why = "invalid credentials", *code, *challenge;
	int status = 401;

	if (sl_conn_authenticate(c, req, NULL, 0, open, &status, &why) == 0) {
		unsigned retry = 1;
		char extra[64];

		if (sl_conn_admit(c, &code, &why, &retry) == 0)
			return 0;
		snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", retry);
		http_fail(c, 429, code, why, extra);
		return -EAGAIN;
	}
	sl_conn_auth_refusal(c, status, &code, &challenge);
	http_fail(c, status, code, why, challenge);
	return -EACCES;
}

/*
 * listeners.subscribers.origins, before any credential is looked at: a
 * browser attaches ambient credentials (a client certificate, like a cookie)
 * to a WebSocket or EventSource that a page on another site opens, and sends
 * that page's Origin with it (RFC 6455 §10.2, RFC 6454 §7). A request with
 * no Origin is not from a browser page and passes: the list protects
 * browser users, not the listener.
 */
static int handshake_origin(struct sl_conn *c, const struct sl_http_request *req)
{
	const struct sl_config_listener *l = &c->gw->cfg->listeners.subscribers;
	const struct sl_http_header *h;
	size_t count;

	if (!l->origins_set)
		return 0;
	count = sl_http_header_count(req, "Origin");
	if (count == 0)
		return 0;
	/* RFC 6454 §7.3: a user agent sends one field; two are not a browser's. */
	if (count > 1) {
		http_fail(c, 400, "bad_request", "Origin must be sent once", NULL);
		return -EINVAL;
	}
	h = sl_http_header_get(req, "Origin");
	if (sl_config_origin_allowed(l, h->value, h->value_len))
		return 0;
	c->gw->stats.auth_failures[SL_AUTH_FORBIDDEN_ORIGIN]++;
	/* The Origin is the client's text: logged by reason only, like a credential. */
	SL_WARN("{\"msg\":\"auth_failed\",\"reason\":\"forbidden_origin\",\"peer\":\"%s:%u\"}",
		c->peer, c->peer_port);
	http_fail(c, 403, "forbidden_origin",
		  "the Origin is not in listeners.subscribers.origins: pages of that site may "
		  "not open streams here",
		  NULL);
	return -EACCES;
}

/*
 * A cross-origin EventSource is readable by its page only with
 * Access-Control-Allow-Origin (a WebSocket needs none). It is given to the
 * pages listeners.subscribers.origins lists, as they sent their Origin (the
 * one field handshake_origin let pass), with credentials: such a page may
 * present a client certificate or cookies. Without a list nothing is
 * given: echoing any Origin would let any site read a stream opened with
 * the user's ambient credentials.
 */
static int send_sse_head(struct sl_conn *c, const struct sl_http_request *req)
{
	const struct sl_http_header *origin = sl_http_header_get(req, "Origin");
	char cors[SL_CONFIG_MAX_ORIGIN + 128] = "", head[sizeof(SSE_HEAD) + sizeof(cors)];
	int n;

	if (c->gw->cfg->listeners.subscribers.origins_set && origin &&
	    origin->value_len <= SL_CONFIG_MAX_ORIGIN)
		snprintf(cors, sizeof(cors),
			 "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
			 "true\r\nVary: Origin\r\n",
			 (int)origin->value_len, origin->value);
	n = snprintf(head, sizeof(head), SSE_HEAD, cors);
	return sl_conn_send(c, head, (size_t)n);
}

static bool may_subscribe(const struct sl_conn *c, const char *pattern)
{
	return sl_auth_allows(&c->auth, false, pattern);
}

static int add_sub(struct sl_conn *c, const char *pattern)
{
	char **subs;
	char *copy;
	int ret;

	if (c->nsubs >= c->gw->cfg->limits.max_subscriptions_per_connection) {
		/* A pattern held is no new one: acked again (a since replays), not refused. */
		for (uint32_t i = 0; i < c->nsubs; i++)
			if (strcmp(c->subs[i], pattern) == 0)
				return -EEXIST;
		return -E2BIG;
	}
	copy = strdup(pattern);
	if (!copy)
		return -ENOMEM;
	subs = realloc(c->subs, (c->nsubs + 1) * sizeof(*subs));
	if (!subs) {
		free(copy);
		return -ENOMEM;
	}
	c->subs = subs;
	ret = sl_router_subscribe(c->gw->router, copy, c);
	if (ret) {
		free(copy);
		return ret;
	}
	c->subs[c->nsubs++] = copy;
	/* Patterns passed the topic validator, so they need no JSON escaping. */
	SL_DEBUG("{\"msg\":\"subscribe\",\"id\":%llu,\"topic\":\"%s\"}",
		 (unsigned long long)c->cookie, copy);
	return 0;
}

static int del_sub(struct sl_conn *c, const char *pattern)
{
	uint32_t i;

	for (i = 0; i < c->nsubs; i++) {
		if (strcmp(c->subs[i], pattern) == 0) {
			sl_router_unsubscribe(c->gw->router, c->subs[i], c);
			SL_DEBUG("{\"msg\":\"unsubscribe\",\"id\":%llu,\"topic\":\"%s\"}",
				 (unsigned long long)c->cookie, c->subs[i]);
			free(c->subs[i]);
			c->subs[i] = c->subs[--c->nsubs];
			if (c->replaying)
				sl_replay_unsubscribed(c);
			return 0;
		}
	}
	return -ENOENT;
}

void sl_sub_drop_subs(struct sl_conn *c)
{
	uint32_t i;

	for (i = 0; i < c->nsubs; i++) {
		sl_router_unsubscribe(c->gw->router, c->subs[i], c);
		free(c->subs[i]);
	}
	free(c->subs);
	c->subs = NULL;
	c->nsubs = 0;
	sl_replay_end(c);
}

/* ---- WebSocket -------------------------------------------------------- */

static int ws_queue_frame(struct sl_conn *c, uint8_t opcode, const void *payload, size_t len)
{
	uint8_t hdr[SL_WS_MAX_SERVER_HEADER];
	size_t hl = sl_ws_frame_header(hdr, opcode, true, len);
	uint8_t *buf = malloc(hl + len + 1);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, hdr, hl);
	if (len)
		memcpy(buf + hl, payload, len);
	return sl_conn_send_owned(c, buf, hl + len);
}

static void ws_queue_sbuf(struct sl_conn *c, msgpack_sbuffer *sb)
{
	queue_or_close(c, ws_queue_frame(c, SL_WS_OP_BINARY, sb->data, sb->size));
}

static void ws_reply_err(struct sl_conn *c, bool has_id, uint64_t id, int code, const char *msg)
{
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	if (sl_envelope_encode_err(&sb, has_id, id, code, msg) == 0)
		ws_queue_sbuf(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	sl_conn_schedule_flush(c);
}

static void ws_reply_ack(struct sl_conn *c, const struct sl_envelope_in *m, bool has_seq,
			 uint64_t seq)
{
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	if (sl_envelope_encode_ack(&sb, m->has_id, m->id, has_seq, seq) == 0)
		ws_queue_sbuf(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	sl_conn_schedule_flush(c);
}

void sl_sub_close(struct sl_conn *c, uint16_t code, const char *reason)
{
	uint8_t payload[SL_WS_MAX_CONTROL_PAYLOAD];
	char json[160];
	size_t len;

	if (c->closing)
		return;
	c->close_code = code;
	c->close_reason = reason;
	/*
	 * A slow consumer's backlog would never drain and would keep the close
	 * frame from reaching it: drop what was not started (Redis does the same).
	 * TLS records cannot be dropped once encrypted, so TLS keeps its queue.
	 */
	if (code == SL_WS_CLOSE_SLOW_CONSUMER) {
		SL_WARN("{\"msg\":\"evicted\",\"id\":%llu,\"queued_bytes\":%zu,\"app\":\"%s\","
			"\"reason\":\"%s\"}",
			(unsigned long long)c->cookie, c->q.bytes, sl_conn_app_id(c), reason);
		/*
		 * Evicted before its first write (a burst of events before the
		 * first flush; a client that pipelined its handshake with ops and
		 * read nothing): the head item is the 200 or the 101, queued first,
		 * and a close without it is no answer a client can read. It stays,
		 * byte for byte (the Sec-WebSocket-Accept is not kept anywhere
		 * else), and the kernel meter's framing, which starts after it
		 * (sl_conn_meter), stays where it was.
		 */
		if (!c->tls)
			sl_outq_drop_unsent(&c->q, c->bytes_out == 0);
	}
	if (c->kind == SL_CONN_WS) {
		len = sl_ws_close_payload(payload, code, reason);
		if (ws_queue_frame(c, SL_WS_OP_CLOSE, payload, len)) {
			sl_conn_close_now(c);
			return;
		}
	} else if (c->kind == SL_CONN_SSE) {
		struct sl_sse_buf rec = { 0 };
		size_t rlen;

		snprintf(json, sizeof(json), "{\"code\":%u,\"reason\":\"%s\"}", code, reason);
		if (sl_sse_encode_notice(SL_SSE_EVENT_CLOSE, json, &rec) == 0) {
			uint8_t *bytes = (uint8_t *)sl_sse_buf_take(&rec, &rlen);

			if (bytes)
				sl_conn_send_owned(c, bytes, rlen);
		}
		sl_sse_buf_fini(&rec);
		sl_conn_send(c, SL_SSE_LAST_CHUNK, sizeof(SL_SSE_LAST_CHUNK) - 1);
	}
	sl_conn_finish(c);
}

/* The close reasons of an eviction (docs/POLICIES.md lists them). */
static const char *const evict_reasons[] = {
	[SL_EVICT_PLAN_HARD] = "slow consumer evicted: output queue over max_queued_bytes",
	[SL_EVICT_PLAN_SOFT] =
	    "slow consumer evicted: output queue over soft_queued_bytes for longer than grace",
	[SL_EVICT_CONN_LIMIT] =
	    "slow consumer evicted: output queue over limits.max_queued_bytes_per_connection",
	[SL_EVICT_PACING_STALL] =
	    "slow consumer evicted: read nothing while the publishers were paused",
	[SL_EVICT_REPLAY_BEHIND] =
	    "slow consumer evicted: the retention ring dropped events its resume had not sent yet",
};

void sl_sub_evict(struct sl_conn *c, enum sl_evict_bound bound)
{
	if (c->closing)
		return;
	c->gw->stats.evicted++;
	sl_sub_close(c, SL_WS_CLOSE_SLOW_CONSUMER, evict_reasons[bound]);
}

/*
 * Once per subscriber and event, the fan-out's innermost call. Not forced
 * inline into both callers: one copy is where LTO inlines the plan, the
 * queue and the flush (Makefile), and sl_sub_deliver reaches it by a jump.
 */
static void push(struct sl_conn *c, struct sl_event *ev, const struct sl_bytes *enc)
{
	bool last;

	if (c->q.bytes > c->gw->cfg->limits.max_queued_bytes_per_connection) {
		/* A consumer that does not read must not cost the gateway memory. */
		sl_sub_evict(c, SL_EVICT_CONN_LIMIT);
		return;
	}
	if (!sl_conn_plan_allows(c, ev, enc ? enc->len : ev->len, &last))
		return;
	if (sl_conn_send_event(c, ev, enc)) {
		queue_or_close(c, -ENOMEM);
		return;
	}
	if (last)
		/* The application's last event of the window; the quota ends the stream. */
		sl_sub_close(c, SL_WS_CLOSE_QUOTA, "event quota exhausted");
	sl_conn_schedule_flush(c);
}

void sl_sub_push(struct sl_conn *c, struct sl_event *ev, const struct sl_bytes *enc)
{
	push(c, ev, enc);
}

void sl_sub_deliver(void *sub, struct sl_event *ev, void *ctx)
{
	struct sl_conn *c = sub;

	(void)ctx;
	/* Overlapping patterns of one connection: the event goes out once. */
	if (c->last_gseq == ev->gseq || c->closing)
		return;
	c->last_gseq = ev->gseq;
	/* A resume under way sends it from the ring, after what it has not sent yet. */
	if (c->replaying && sl_replay_holds(c, ev))
		return;
	/* The encoding looked up here: one lookup per delivery, not one per use. */
	push(c, ev, sl_event_encoding(ev, sl_conn_encoding(c)));
}

static void ws_op_sub(struct sl_conn *c, const struct sl_envelope_in *m)
{
	char pattern[SL_TOPIC_MAX_LEN + 1];
	const char *why = NULL;
	int ret;

	if (m->topic_len > SL_TOPIC_MAX_LEN ||
	    sl_topic_validate(m->topic, m->topic_len, true, &why)) {
		ws_reply_err(c, m->has_id, m->id, 400, why ? why : "topic too long");
		return;
	}
	memcpy(pattern, m->topic, m->topic_len);
	pattern[m->topic_len] = '\0';
	if (!may_subscribe(c, pattern)) {
		ws_reply_err(c, m->has_id, m->id, 403, "not allowed to subscribe to this topic");
		return;
	}
	if (m->has_since && sl_topic_is_pattern(m->topic, m->topic_len)) {
		ws_reply_err(c, m->has_id, m->id, 400, "since needs an exact topic, not a pattern");
		return;
	}
	/*
	 * A pattern already held is acked again and a `since` replays all the
	 * same: SPEC ties the replay to `since`, not to a new pattern, and a
	 * client that noticed a gap asks again on what it has. The live path
	 * gives it nothing twice: the replay is over before the next event.
	 */
	ret = add_sub(c, pattern);
	if (ret == -E2BIG) {
		ws_reply_err(c, m->has_id, m->id, 429,
			     "too many subscriptions (limits.max_subscriptions_per_connection)");
		return;
	}
	if (ret && ret != -EEXIST) {
		ws_reply_err(c, m->has_id, m->id, 500, "cannot subscribe");
		return;
	}
	ws_reply_ack(c, m, false, 0);
	if (m->has_since) {
		bool gap;

		ret = sl_replay_topic(c, pattern, m->since);
		/* An unknown topic after events the client saw: a restart lost them. */
		gap = ret == -ERANGE || (ret == -ENOENT && m->since > 0);
		sl_replay_count(c, ret == -ENOENT ? 0 : ret, gap);
		if (gap)
			ws_reply_err(c, m->has_id, m->id, 410,
				     "events after `since` are no longer retained");
		else if (ret == -ENOMEM)
			ws_reply_err(c, m->has_id, m->id, 500, "cannot replay");
		sl_conn_schedule_flush(c);
	}
}

static void ws_op_unsub(struct sl_conn *c, const struct sl_envelope_in *m)
{
	char pattern[SL_TOPIC_MAX_LEN + 1];
	const char *why = NULL;

	/* A pattern that sub would refuse is a bad request here too, not one not held. */
	if (m->topic_len > SL_TOPIC_MAX_LEN ||
	    sl_topic_validate(m->topic, m->topic_len, true, &why)) {
		ws_reply_err(c, m->has_id, m->id, 400, why ? why : "topic too long");
		return;
	}
	memcpy(pattern, m->topic, m->topic_len);
	pattern[m->topic_len] = '\0';
	if (del_sub(c, pattern)) {
		ws_reply_err(c, m->has_id, m->id, 404, "not subscribed to this pattern");
		return;
	}
	ws_reply_ack(c, m, false, 0);
}

static void ws_op_pub(struct sl_conn *c, const struct sl_envelope_in *m)
{
	char topic[SL_TOPIC_MAX_LEN + 1];
	const char *why = NULL;
	uint64_t seq;
	int ret;

	/*
	 * What a client let in without credentials (auth: open) gets wrong is
	 * answered, never counted: anyone who reaches the listener could
	 * otherwise add to the publish errors an operator alerts on, as
	 * pre-hello frames could (pub.c).
	 */
	bool counts = !c->open_access;

	if (m->topic_len > SL_TOPIC_MAX_LEN ||
	    sl_topic_validate(m->topic, m->topic_len, false, &why)) {
		if (counts)
			sl_gateway_publish_refused(c, SL_PUB_ERR_INVALID_TOPIC);
		ws_reply_err(c, m->has_id, m->id, 400, why ? why : "topic too long");
		return;
	}
	memcpy(topic, m->topic, m->topic_len);
	topic[m->topic_len] = '\0';
	if (!sl_auth_allows(&c->auth, true, topic)) {
		if (counts)
			sl_gateway_publish_refused(c, SL_PUB_ERR_FORBIDDEN);
		ws_reply_err(c, m->has_id, m->id, 403, "not allowed to publish on this topic");
		return;
	}
	ret = sl_gateway_publish(c, topic, m->topic_len, m->data, m->data_len, &seq, &why);
	if (ret) {
		ws_reply_err(c, m->has_id, m->id, sl_publish_status(ret), why);
		return;
	}
	ws_reply_ack(c, m, true, seq);
	/* Its next frames wait, like a native publisher's, while the queues are over their bound.
	 */
	sl_gateway_pace(c);
}

static void ws_on_message(struct sl_conn *c, const struct sl_ws_event *ev)
{
	struct sl_envelope_in m;
	msgpack_unpacked scratch;
	const char *why = NULL;
	int ret;

	if (ev->opcode != SL_WS_OP_BINARY) {
		sl_sub_close(c, SL_WS_CLOSE_UNSUPPORTED_DATA,
			     "binary frames of sluice.v1.msgpack only");
		return;
	}
	msgpack_unpacked_init(&scratch);
	ret = sl_envelope_decode(ev->payload, ev->len, &m, &scratch, &why);
	if (ret) {
		ws_reply_err(c, m.has_id, m.id, sl_publish_status(ret),
			     why ? why : "invalid msgpack envelope");
		msgpack_unpacked_destroy(&scratch);
		return;
	}
	switch (m.op) {
	case SL_ENVELOPE_OP_SUB:
		ws_op_sub(c, &m);
		break;
	case SL_ENVELOPE_OP_UNSUB:
		ws_op_unsub(c, &m);
		break;
	case SL_ENVELOPE_OP_PUB:
		ws_op_pub(c, &m);
		break;
	default:
		ws_reply_err(c, m.has_id, m.id, 400, "op not valid on a subscriber connection");
		break;
	}
	msgpack_unpacked_destroy(&scratch);
}

/*
 * A client's answers (acks, errors, pongs) wait in the queue its events use,
 * but sl_sub_deliver and sl_conn_plan_allows look at the queue's bounds only
 * when an event comes: a client that sent ops and read nothing, subscribed to
 * nothing busy, grew it without limit. It is the slow consumer those bounds
 * are for, so the same hard bounds evict it where its queue grows (the Redis
 * model), within one answer of them; not reading it instead, as a publisher
 * is, would keep its queue and its connection until an event evicted it.
 * Once per frame read, never per event delivered. (A plan's soft bound is
 * checked each second already, events or not: sl_conn_check_soft_bound.)
 */
static void answers_within_bounds(struct sl_conn *c)
{
	const struct sl_plan *plan = c->plan;

	if (c->q.bytes > c->gw->cfg->limits.max_queued_bytes_per_connection)
		sl_sub_evict(c, SL_EVICT_CONN_LIMIT);
	else if (plan && plan->max_queued_bytes && c->gw->cfg->graceful &&
		 c->q.bytes > plan->max_queued_bytes)
		sl_sub_evict(c, SL_EVICT_PLAN_HARD);
}

void sl_sub_on_ws_bytes(struct sl_conn *c)
{
	struct sl_ws_event ev;
	size_t at = 0;
	ssize_t used;

	while (at < c->in_len && !c->closing && !c->input_held) {
		used = sl_ws_decode(&c->ws, c->in + at, c->in_len - at, &ev);
		if (used < 0) {
			sl_sub_close(c, SL_WS_CLOSE_PROTOCOL_ERROR, "protocol error");
			break;
		}
		at += (size_t)used;
		switch (ev.type) {
		case SL_WS_EV_NEED_MORE:
			break;
		case SL_WS_EV_MESSAGE:
			ws_on_message(c, &ev);
			break;
		case SL_WS_EV_PING:
			queue_or_close(c, ws_queue_frame(c, SL_WS_OP_PONG, ev.payload, ev.len));
			sl_conn_schedule_flush(c);
			break;
		case SL_WS_EV_PONG:
			break;
		case SL_WS_EV_CLOSE:
			/* Echo the peer's code (RFC 6455 §5.5.1), or 1000 for an empty close. */
			sl_sub_close(c,
				     ev.close_code == SL_WS_CLOSE_NO_STATUS ? SL_WS_CLOSE_NORMAL
									    : ev.close_code,
				     "closed by the client");
			break;
		case SL_WS_EV_ERROR:
			sl_sub_close(c, ev.close_code, ev.why ? ev.why : "protocol error");
			break;
		}
		answers_within_bounds(c);
		if (ev.type == SL_WS_EV_NEED_MORE && used == 0)
			break;
	}
	/* What the decoder consumed is gone; it buffers partial frames itself. */
	if (at >= c->in_len)
		c->in_len = 0;
	else {
		memmove(c->in, c->in + at, c->in_len - at);
		c->in_len -= at;
	}
}

static bool offers_subprotocol(const struct sl_http_request *req)
{
	return sl_http_header_has_value(req, "Sec-WebSocket-Protocol", SL_WS_SUBPROTOCOL);
}

static void start_ws(struct sl_conn *c, const struct sl_http_request *req, size_t head_len)
{
	const struct sl_http_header *key = sl_http_header_get(req, "Sec-WebSocket-Key");
	const struct sl_http_header *ver = sl_http_header_get(req, "Sec-WebSocket-Version");
	char accept[SL_WS_ACCEPT_LEN + 1], resp[512];
	int n;

	/* RFC 6455 §4.1: the opening handshake is an HTTP/1.1 (or later) request. */
	if (req->version_minor < 1) {
		http_fail(c, 400, "bad_request", "GET /v1/ws needs HTTP/1.1 (RFC 6455 §4.1)", NULL);
		return;
	}
	if (!sl_http_header_has_token(req, "Upgrade", "websocket") ||
	    !sl_http_header_has_token(req, "Connection", "upgrade")) {
		http_fail(c, 426, "upgrade_required", "GET /v1/ws needs a WebSocket upgrade",
			  "Upgrade: websocket\r\n");
		return;
	}
	/*
	 * RFC 6455 §11.3.1 and §11.3.5: neither field may appear twice in a
	 * request. Only the first was read, so two keys were answered for the
	 * first while an intermediary may have checked, or logged, the other.
	 */
	if (sl_http_header_count(req, "Sec-WebSocket-Key") > 1 ||
	    sl_http_header_count(req, "Sec-WebSocket-Version") > 1) {
		http_fail(c, 400, "bad_request",
			  "Sec-WebSocket-Key and Sec-WebSocket-Version must each be sent once",
			  NULL);
		return;
	}
	if (!ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0) {
		http_fail(c, 426, "upgrade_required", "only WebSocket version 13 is spoken",
			  "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	if (!key || sl_ws_accept_key(key->value, key->value_len, accept)) {
		http_fail(c, 400, "bad_request", "missing or malformed Sec-WebSocket-Key", NULL);
		return;
	}
	if (handshake_origin(c, req) || handshake_grant(c, req))
		return;
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		     accept,
		     offers_subprotocol(req) ? "Sec-WebSocket-Protocol: " SL_WS_SUBPROTOCOL "\r\n"
					     : "");
	if (sl_conn_send(c, resp, (size_t)n)) {
		sl_conn_close_now(c);
		return;
	}
	c->kind = SL_CONN_WS;
	c->gw->nhandshaking--;
	/* The handshake timer is done for good: its memory goes (S4: idle subscribers). */
	event_free(c->timer);
	c->timer = NULL;
	sl_conn_meter(c, SL_FRAMING_WS);
	sl_conn_started(c);
	SL_INFO(
	    "{\"msg\":\"conn_open\",\"id\":%llu,\"kind\":\"ws\",\"peer\":\"%s:%u\",\"app\":\"%s\"}",
	    (unsigned long long)c->cookie, c->peer, c->peer_port, sl_conn_app_id(c));
	sl_conn_schedule_flush(c);
	/* Bytes after the handshake are already WebSocket frames. */
	memmove(c->in, c->in + head_len, c->in_len - head_len);
	c->in_len -= head_len;
	if (c->in_len)
		sl_sub_on_ws_bytes(c);
}

static void start_sse(struct sl_conn *c, const struct sl_http_request *req)
{
	char ref_topic[SL_TOPIC_MAX_LEN + 1], *name = NULL, *value = NULL;
	const char *patterns[SL_SSE_MAX_TOPICS];
	char *owned[SL_SSE_MAX_TOPICS];
	const struct sl_http_header *header_id = sl_http_header_get(req, "Last-Event-ID");
	const char *cursor = req->query, *why = NULL;
	size_t n = 0, i, cap;
	uint64_t ref_seq = 0;
	bool last = false;     /* resume after ref_topic:ref_seq (header or lastEventID) */
	bool param_id = false; /* a lastEventID parameter was read */
	int ret;

	/*
	 * The stream is chunked, which an HTTP/1.0 client does not speak (RFC
	 * 9112 §6.1: no Transfer-Encoding in an answer to HTTP/1.0): it read
	 * the chunk sizes as event lines. Refused before anything is read.
	 */
	if (req->version_minor < 1) {
		http_fail(c, 400, "bad_request",
			  "GET /v1/sse needs HTTP/1.1 (the stream is chunked)", NULL);
		return;
	}
	/* Room for any pair: an access_token JWT is longer than a topic. */
	if (sl_http_query_buffers(req, &name, &value, &cap)) {
		sl_conn_close_now(c);
		return;
	}
	while (cursor && cursor < req->query + req->query_len) {
		ret =
		    sl_http_query_next(&cursor, req->query + req->query_len, name, cap, value, cap);
		if (ret < 0) {
			http_fail(c, 400, "bad_request", "malformed query string", NULL);
			goto out;
		}
		if (ret == 0)
			break;
		/*
		 * lastEventID (Mercure's name, exact case): an EventSource sets no
		 * header on its first connection, so a page that kept the last id
		 * resumes with it. It means what Last-Event-ID means, and is
		 * checked as strictly; the header, when sent too, wins (below).
		 */
		if (strcmp(name, "lastEventID") == 0) {
			if (param_id) {
				http_fail(c, 400, "bad_last_event_id",
					  "the lastEventID parameter must be given once", NULL);
				goto out;
			}
			param_id = true;
			if (sl_sse_parse_last_event_id(value, strlen(value), ref_topic,
						       sizeof(ref_topic), &ref_seq)) {
				http_fail(c, 400, "bad_last_event_id",
					  "the lastEventID parameter must be TOPIC:SEQ", NULL);
				goto out;
			}
			last = true;
			continue;
		}
		if (strcmp(name, "topic") != 0)
			continue;
		if (sl_topic_validate(value, strlen(value), true, &why)) {
			http_fail(c, 400, "bad_topic", why, NULL);
			goto out;
		}
		/* The same pattern twice is one subscription (add_sub), so it counts once. */
		for (i = 0; i < n && strcmp(owned[i], value) != 0; i++)
			;
		if (i < n)
			continue;
		if (n == SL_SSE_MAX_TOPICS) {
			http_fail(c, 400, "too_many_topics", "at most 16 different topic patterns",
				  NULL);
			goto out;
		}
		/*
		 * limits.max_subscriptions_per_connection, before the 200: past it
		 * the stream was opened (a replay sent) and then closed with 1008.
		 */
		if (n == c->gw->cfg->limits.max_subscriptions_per_connection) {
			http_fail(
			    c, 400, "too_many_topics",
			    "more topic parameters than limits.max_subscriptions_per_connection",
			    NULL);
			goto out;
		}
		owned[n] = strdup(value);
		if (!owned[n]) {
			sl_conn_close_now(c);
			goto out;
		}
		patterns[n] = owned[n];
		n++;
	}
	if (!n) {
		http_fail(c, 400, "bad_request", "GET /v1/sse needs at least one ?topic=PATTERN",
			  NULL);
		goto out;
	}
	/*
	 * One id places the resume; with two, the first was used silently while
	 * a proxy may have acted on the other (the field is not a list, RFC 9110
	 * §5.3). Refused like two Origins.
	 */
	if (sl_http_header_count(req, "Last-Event-ID") > 1) {
		http_fail(c, 400, "bad_last_event_id", "Last-Event-ID must be sent once", NULL);
		goto out;
	}
	/*
	 * The header wins over the parameter: an EventSource that reconnects
	 * keeps its URL (the lastEventID of the first connection) and sends the
	 * id of the last event it got in the header, which is newer.
	 */
	/* An empty one (a polyfill's, never a browser's) says no event was seen: no resume. */
	if (header_id && header_id->value_len) {
		if (sl_sse_parse_last_event_id(header_id->value, header_id->value_len, ref_topic,
					       sizeof(ref_topic), &ref_seq)) {
			http_fail(c, 400, "bad_last_event_id", "Last-Event-ID must be TOPIC:SEQ",
				  NULL);
			goto out;
		}
		last = true;
	}
	if (handshake_origin(c, req) || handshake_grant(c, req))
		goto out;
	for (i = 0; i < n; i++) {
		if (!may_subscribe(c, patterns[i])) {
			http_fail(c, 403, "forbidden", "not allowed to subscribe to this topic",
				  NULL);
			goto out;
		}
	}
	if (send_sse_head(c, req)) {
		sl_conn_close_now(c);
		goto out;
	}
	c->kind = SL_CONN_SSE;
	c->gw->nhandshaking--;
	c->gw->nsse++;
	/* The handshake timer is done for good: its memory goes (S4: idle subscribers). */
	event_free(c->timer);
	c->timer = NULL;
	sl_conn_meter(c, SL_FRAMING_SSE);
	sl_conn_started(c);
	/* Subscribed before the resume: its cursor covers the stream's patterns from here. */
	for (i = 0; i < n; i++) {
		ret = add_sub(c, patterns[i]);
		if (ret && ret != -EEXIST) {
			sl_sub_close(c, 1008, "too many subscriptions");
			goto out;
		}
	}
	if (last) {
		uint64_t after_gseq = 0;

		/*
		 * The referenced event only places the resume in acceptance
		 * order, but an answer that depends on it (a replay from there
		 * or a gap) told a client whether an event of a topic it may not
		 * read exists, and when it came: such an id names nothing.
		 */
		ret = may_subscribe(c, ref_topic)
			  ? sl_router_gseq_of(c->gw->router, ref_topic, ref_seq, &after_gseq)
			  : -ERANGE;
		if (ret == 0)
			ret = sl_replay_stream(c, after_gseq);
		sl_replay_count(c, ret, ret == -ERANGE);
		if (ret == -ERANGE) {
			struct sl_sse_buf rec = { 0 };
			size_t rlen;

			if (sl_sse_encode_notice(SL_SSE_EVENT_GAP,
						 "{\"code\":410,\"reason\":\"events after "
						 "Last-Event-ID are no longer retained\"}",
						 &rec) == 0) {
				uint8_t *bytes = (uint8_t *)sl_sse_buf_take(&rec, &rlen);

				if (bytes)
					sl_conn_send_owned(c, bytes, rlen);
			}
			sl_sse_buf_fini(&rec);
		} else if (ret < 0) {
			sl_sub_close(c, 1011, "internal error");
			goto out;
		}
	}
	SL_INFO("{\"msg\":\"conn_open\",\"id\":%llu,\"kind\":\"sse\",\"peer\":\"%s:%u\",\"app\":\"%"
		"s\"}",
		(unsigned long long)c->cookie, c->peer, c->peer_port, sl_conn_app_id(c));
	c->in_len = 0;
	sl_conn_schedule_flush(c);
out:
	for (i = 0; i < n; i++)
		free(owned[i]);
	explicit_bzero(name, 2 * cap);
	free(name);
}

void sl_sub_keepalive(struct sl_conn *c, bool wrote)
{
	uint64_t every = (c->gw->cfg->ws.ping_ns + 999999999ull) / 1000000000ull;

	if (!every || c->closing)
		return;
	if (c->ws_ping_out) {
		/* RFC 6455 §5.5.2: a ping must be answered; one that is not is gone or broken. */
		if (++c->ws_quiet_s >= every)
			sl_sub_close(c, SL_WS_CLOSE_PROTOCOL_ERROR,
				     "no pong to the gateway's ping");
		return;
	}
	c->ws_quiet_s = wrote ? 0 : (uint16_t)(c->ws_quiet_s + 1);
	if (c->ws_quiet_s < every)
		return;
	if (ws_queue_frame(c, SL_WS_OP_PING, NULL, 0)) {
		queue_or_close(c, -ENOMEM);
		return;
	}
	c->ws_ping_out = true;
	c->ws_quiet_s = 0;
	sl_conn_schedule_flush(c);
}

void sl_sub_heartbeat(struct sl_conn *c)
{
	/* A comment record keeps proxies and clients from timing the stream out. */
	if (c->q.count == 0 && sl_conn_send(c, c->gw->heartbeat.data, c->gw->heartbeat.len) == 0)
		sl_conn_schedule_flush(c);
}

/*
 * A handshake has no body (RFC 6455 §4.1 is a GET; RFC 9110 §9.3.1 gives a
 * GET body no meaning): after a WebSocket head the bytes are frames, so a
 * body would be taken for them.
 */
static bool has_body(const struct sl_http_request *req)
{
	uint64_t len;
	int ret = sl_http_content_length(req, &len);

	return ret != -ENOENT && (ret || len);
}

void sl_sub_on_http(struct sl_conn *c)
{
	struct sl_http_request req;
	const char *why = NULL;
	bool ws, head_only;
	int head;

	if (!sl_conn_head_may_end(c))
		return;
	head = sl_http_parse((const char *)c->in, c->in_len, c->gw->cfg->limits.max_header_bytes,
			     &req, &why);
	if (head == 0)
		return;
	if (head == -EMSGSIZE) {
		http_fail(c, 400, "headers_too_large", "request head over limits.max_header_bytes",
			  NULL);
		return;
	}
	if (head < 0) {
		http_fail(c, 400, "bad_request", why ? why : "malformed request", NULL);
		return;
	}
	event_del(c->rd);
	event_add(c->rd, NULL);
	ws = req.path_len == 6 && memcmp(req.path, "/v1/ws", 6) == 0;
	head_only = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
	if (!ws && !(req.path_len == 7 && memcmp(req.path, "/v1/sse", 7) == 0))
		http_fail_to(c, head_only, 404, "not_found",
			     "no such endpoint: use /v1/ws or /v1/sse", NULL);
	else if (req.method_len != 3 || memcmp(req.method, "GET", 3) != 0)
		http_fail_to(c, head_only, 405, "method_not_allowed", "use GET", "Allow: GET\r\n");
	else if (has_body(&req))
		http_fail(c, 400, "bad_request", "a handshake request has no body", NULL);
	else if (ws)
		start_ws(c, &req, (size_t)head);
	else
		start_sse(c, &req);
}
