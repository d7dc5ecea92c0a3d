// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Native publishers: frames of a 4-byte big-endian length and one msgpack
 * map. `hello` first, then `pub` (acked with the topic's seq when it carries
 * an id) and `ping` (the backend heartbeat). Authentication of `hello` plugs
 * in at hello_grant().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"
#include "proto/envelope.h"
#include "route/topic.h"

/*
 * A reply is encoded after four bytes kept for its length (reply_begin), so
 * that it is queued with one copy, packed with the replies before it
 * (outq.h): no allocation of its own waits in the queue.
 */
static int reply_begin(msgpack_sbuffer *sb)
{
	msgpack_sbuffer_init(sb);
	return msgpack_sbuffer_write(sb, "\0\0\0\0", 4) ? -ENOMEM : 0;
}

/*
 * Queues the reply in sb unless err (the encoder's error) and frees sb. A
 * reply that cannot be queued closes the connection: the publisher would
 * wait for its id for ever.
 */
static void pub_send(struct sl_conn *c, msgpack_sbuffer *sb, int err)
{
	uint8_t *p = (uint8_t *)sb->data;

	if (!err) {
		size_t len = sb->size - 4;

		p[0] = (uint8_t)(len >> 24);
		p[1] = (uint8_t)(len >> 16);
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		err = sl_conn_send(c, p, sb->size);
	}
	msgpack_sbuffer_destroy(sb);
	if (err) {
		c->close_reason = "out of memory";
		sl_conn_finish(c);
		return;
	}
	sl_conn_schedule_flush(c);
}

static void pub_err(struct sl_conn *c, bool has_id, uint64_t id, int code, const char *msg)
{
	msgpack_sbuffer sb;
	int ret = reply_begin(&sb);

	if (!ret)
		ret = sl_envelope_encode_err(&sb, has_id, id, code, msg);
	pub_send(c, &sb, ret);
}

static void pub_simple(struct sl_conn *c, const char *op)
{
	msgpack_sbuffer sb;
	int ret = reply_begin(&sb);

	if (!ret)
		ret = sl_envelope_encode_simple(&sb, op);
	pub_send(c, &sb, ret);
}

static void pub_ack(struct sl_conn *c, uint64_t id, uint64_t seq)
{
	msgpack_sbuffer sb;
	int ret = reply_begin(&sb);

	if (!ret)
		ret = sl_envelope_encode_ack(&sb, true, id, true, seq);
	pub_send(c, &sb, ret);
}

/* A backend authenticates with its hello token (JWT or API key) or its client certificate. */
static int hello_grant(struct sl_conn *c, const struct sl_envelope_in *m, int *status,
		       const char **why)
{
	size_t n = m->name_len < sizeof(c->name) - 1 ? m->name_len : sizeof(c->name) - 1;
	size_t i;

	/* The name goes into logs: keep it printable. */
	for (i = 0; i < n; i++)
		c->name[i] = m->name[i] >= 0x20 && m->name[i] < 0x7f && m->name[i] != '"' &&
				     m->name[i] != '\\'
				 ? m->name[i]
				 : '_';
	c->name[n] = '\0';
	return sl_conn_authenticate(c, NULL, m->has_token ? m->token : NULL,
				    m->has_token ? m->token_len : 0, false, status, why);
}

static void on_frame(struct sl_conn *c, const uint8_t *p, size_t len)
{
	struct sl_envelope_in m;
	msgpack_unpacked scratch;
	const char *why = NULL;
	uint64_t seq;
	int ret;

	msgpack_unpacked_init(&scratch);
	ret = sl_envelope_decode(p, len, &m, &scratch, &why);
	if (ret) {
		pub_err(c, m.has_id, m.id, sl_publish_status(ret),
			why ? why : "invalid msgpack envelope");
		/*
		 * Before hello there is no backend yet: a failed handshake, which
		 * anyone who reaches the port could otherwise add to the
		 * publish errors an operator alerts on.
		 */
		if (!c->hello_done) {
			sl_conn_finish(c);
			goto out;
		}
		sl_gateway_publish_refused(c, ret == -ENOMEM ? SL_PUB_ERR_INTERNAL
							     : SL_PUB_ERR_MALFORMED);
		c->pub_errors++;
		goto out;
	}
	if (!c->hello_done) {
		if (m.op != SL_ENVELOPE_OP_HELLO) {
			pub_err(c, false, 0, 400, "the first frame must be hello");
			sl_conn_finish(c);
			goto out;
		}
		int status = 401;

		why = "invalid credentials";
		if (hello_grant(c, &m, &status, &why)) {
			pub_err(c, false, 0, status, why);
			c->close_reason = "authentication failed";
			sl_conn_finish(c);
			goto out;
		}
		/* Only a backend past its hello holds a slot (gateway.c, make_room). */
		if (c->gw->npublishers >= c->gw->cfg->limits.max_publishers) {
			uint64_t refused = ++c->gw->stats.refused;

			if (refused == 1 || refused % 1000 == 0)
				SL_WARN("{\"msg\":\"publisher_refused\",\"reason\":\"limits.max_"
					"publishers\",\"refused\":%llu}",
					(unsigned long long)refused);
			pub_err(c, false, 0, 429, "too many publishers (limits.max_publishers)");
			c->close_reason = "limits.max_publishers";
			sl_conn_finish(c);
			goto out;
		}
		c->hello_done = true;
		/* None (out of memory): only this backend's latency view is missing. */
		c->source = calloc(1, sizeof(*c->source));
		if (c->source)
			c->source->refs = 1;
		c->gw->npub_silent--;
		c->gw->npublishers++;
		c->last_ping_ns = sl_mono_ns();
		evtimer_del(c->timer);
		SL_INFO("{\"msg\":\"backend_up\",\"id\":%llu,\"name\":\"%s\",\"peer\":\"%s:%u\"}",
			(unsigned long long)c->cookie, c->name, c->peer, c->peer_port);
		pub_simple(c, "ok");
		goto out;
	}
	switch (m.op) {
	case SL_ENVELOPE_OP_PING:
		c->last_ping_ns = sl_mono_ns();
		pub_simple(c, "pong");
		break;
	case SL_ENVELOPE_OP_PUB:
		if (m.has_topic && m.topic_len <= SL_TOPIC_MAX_LEN) {
			char topic[SL_TOPIC_MAX_LEN + 1];

			memcpy(topic, m.topic, m.topic_len);
			topic[m.topic_len] = '\0';
			/* Wildcards and bad names fall through to the router's 400. */
			if (!sl_topic_is_pattern(topic, m.topic_len) &&
			    !sl_topic_validate(topic, m.topic_len, false, NULL) &&
			    !sl_auth_allows(&c->auth, true, topic)) {
				sl_gateway_publish_refused(c, SL_PUB_ERR_FORBIDDEN);
				c->pub_errors++;
				if (m.has_id)
					pub_err(c, true, m.id, 403,
						"not allowed to publish on this topic");
				break;
			}
		}
		ret = sl_gateway_publish(c, m.topic, m.topic_len, m.data, m.data_len, &seq, &why);
		if (ret)
			c->pub_errors++;
		else
			c->pub_ok++;
		if (ret) {
			/* Errors are answered only when the frame asked for an answer. */
			if (m.has_id)
				pub_err(c, true, m.id, sl_publish_status(ret), why);
		} else if (m.has_id) {
			pub_ack(c, m.id, seq);
		}
		break;
	default:
		pub_err(c, m.has_id, m.id, 400, "op not valid on a publisher connection");
		break;
	}
out:
	msgpack_unpacked_destroy(&scratch);
}

void sl_pub_on_bytes(struct sl_conn *c)
{
	size_t at = 0, len;
	const uint8_t *payload;
	ssize_t n;

	/* Replies at their bound: the rest waits in the buffer (gateway.c, pub_frames). */
	while (!c->closing && !sl_conn_replies_backlogged(c)) {
		n = sl_envelope_frame_next(c->in + at, c->in_len - at,
					   c->gw->cfg->limits.max_frame_bytes, &payload, &len);
		if (n == -EMSGSIZE) {
			pub_err(c, false, 0, 400, "frame over limits.max_frame_bytes");
			c->close_reason = "frame too big";
			sl_conn_finish(c);
			break;
		}
		if (n <= 0)
			break;
		on_frame(c, payload, len);
		at += (size_t)n;
	}
	if (c->closing)
		return;
	memmove(c->in, c->in + at, c->in_len - at);
	c->in_len -= at;
}
