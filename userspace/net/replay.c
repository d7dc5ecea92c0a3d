// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "net/conn.h"
#include "net/plan.h"
#include "net/replay.h"
#include "route/router.h"
#include "route/topic.h"

/* Where a resume has got to. */
struct replay_cursor {
	const char *topic; /* the router's name of the topic; NULL: all the stream's patterns */
	uint64_t after;	   /* the last seq sent (a topic), or gseq (a stream) */
	/*
	 * An event of the topic, held: the router reclaims no topic with an
	 * event alive, so topic stays valid while the cursor lasts.
	 */
	struct sl_event *pin;
};

struct sl_replay {
	struct event *pace; /* waits out the plan's byte rate; NULL until it first has to */
	uint32_t n, cap;
	struct replay_cursor at[]; /* oldest first */
};

/*
 * A drained queue is refilled up to this, at most, and to half of each of
 * the subscriber's queue bounds (so a resume never brings it near one). A
 * WebSocket topic's cursor refills with a lookup and a binary search, so it
 * stops at what a write offers a socket that has room (write_budget): live
 * events of the connection's other topics wait behind no more. An SSE
 * stream's refill scans every topic (about 360 µs with 10,000 busy ones,
 * docs/BENCHMARKS.md), and the stream's live events wait behind its cursor
 * anyway, so it takes more at a time: queued events are references to the
 * ring's, so the fill costs queue entries, not copies. Over TLS they are
 * encrypted copies, so TLS keeps the smaller fill.
 */
#define REPLAY_FILL_TOPIC (64 * 1024)
#define REPLAY_FILL_STREAM (1024 * 1024)
/*
 * Past the resumes' share of the total bound (fill_target) a refill still
 * takes up to this. One event at a time was a write, a syscall, per event,
 * and for an SSE stream a scan of every topic per event: 356 µs with
 * 10,000 busy topics, against 8.3 µs per event at 16 KiB (docs/BENCHMARKS.md).
 */
#define REPLAY_FILL_LEAST (16 * 1024)

static uint64_t fill_target(const struct sl_conn *c, const struct replay_cursor *at)
{
	struct sl_gateway *gw = c->gw;
	uint64_t target = gw->cfg->limits.max_queued_bytes_per_connection / 2;
	uint64_t most = at->topic || c->tls ? REPLAY_FILL_TOPIC : REPLAY_FILL_STREAM;
	uint64_t share = gw->cfg->limits.max_queued_bytes_total / 2;
	const struct sl_plan *plan = c->plan;

	if (plan && plan->max_queued_bytes && gw->cfg->graceful &&
	    sl_plan_soft_bound(plan) / 2 < target)
		target = sl_plan_soft_bound(plan) / 2;
	if (most < target)
		target = most;
	/*
	 * Refills take the queues together to half of max_queued_bytes_total
	 * (the other half is for live events), and past it a queue to
	 * REPLAY_FILL_LEAST. A herd of resumes whose readers are slow (a
	 * reconnect storm) filled the whole bound, which paused the publishers
	 * for as long as they resumed: every live event waited, until the
	 * pause's grace evicted the resumers that read nothing.
	 */
	if (share) {
		uint64_t queued = sl_gateway_queued_bytes(gw);
		uint64_t room = queued < share ? share - queued : 0;
		uint64_t least = target < REPLAY_FILL_LEAST ? target : REPLAY_FILL_LEAST;

		if (c->q.bytes + room < target) {
			target = c->q.bytes + room < least ? least : c->q.bytes + room;
			gw->stats.refills_held++;
		}
	}
	return target;
}

struct take_ctx {
	struct sl_conn *c;
	struct replay_cursor *at;
	uint64_t target;
	uint64_t wait_ns; /* the byte rate stopped it: go on after this long */
};

/*
 * One replayed event, if the queue has room for it (an empty queue takes
 * one whatever its size: at most max_frame_bytes, within every bound) and
 * the plan's byte rate lets it go now.
 */
static bool take(struct sl_event *ev, void *ctx)
{
	struct take_ctx *t = ctx;
	struct sl_conn *c = t->c;
	const struct sl_bytes *enc = sl_event_encoding(ev, sl_conn_encoding(c));
	size_t len = enc ? enc->len : ev->len;

	if (c->closing || (c->q.bytes && c->q.bytes + len > t->target))
		return false;
	t->wait_ns = sl_conn_rate_wait_ns(c, len);
	if (t->wait_ns)
		return false;
	t->at->after = t->at->topic ? ev->seq : ev->gseq;
	/* Asked for again: not the overlap of patterns that last_gseq skips. */
	c->last_gseq = 0;
	if (ev->gseq > c->replayed_gseq)
		c->replayed_gseq = ev->gseq;
	c->gw->stats.replayed++;
	sl_sub_push(c, ev, enc);
	return !c->closing;
}

/* Stops at the first event: whether a cursor has anything to send, and the topic's event. */
static bool probe(struct sl_event *ev, void *ctx)
{
	*(struct sl_event **)ctx = ev;
	return false;
}

static void drop_cursor(struct sl_conn *c, uint32_t i)
{
	struct sl_replay *r = c->replay;

	sl_event_unref(r->at[i].pin);
	r->at[i] = r->at[--r->n];
	if (!r->n)
		sl_replay_end(c);
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sl_replay_more(arg);
}

/* pin: an event of topic (NULL for a stream), whose reference the cursor takes. */
static int add_cursor(struct sl_conn *c, struct sl_event *pin, uint64_t after)
{
	const char *topic = pin ? pin->topic : NULL;
	struct sl_replay *r = c->replay;
	uint32_t i;

	for (i = 0; r && i < r->n; i++) {
		if (r->at[i].topic == topic) {
			r->at[i].after = after;
			return 0;
		}
	}
	if (!r || r->n == r->cap) {
		uint32_t cap = r ? r->cap * 2 : 1;
		struct sl_replay *grown = realloc(r, sizeof(*r) + cap * sizeof(r->at[0]));

		if (!grown)
			return -ENOMEM;
		if (!r) {
			*grown = (struct sl_replay){ 0 };
			c->gw->stats.resuming++;
		}
		grown->cap = cap;
		c->replay = r = grown;
	}
	r->at[r->n++] = (struct replay_cursor){ topic, after, pin ? sl_event_ref(pin) : NULL };
	c->replaying = true;
	return 0;
}

/* Goes on after wait_ns, when the plan's byte rate has refilled. */
static int pace(struct sl_conn *c, uint64_t wait_ns)
{
	struct sl_replay *r = c->replay;
	struct timeval tv = sl_timeval_ns(wait_ns);

	if (!r->pace)
		r->pace = evtimer_new(c->gw->base, on_pace, c);
	return r->pace && !evtimer_add(r->pace, &tv) ? 0 : -ENOMEM;
}

/*
 * Refills the queue from the first cursor: 1 when the queue is full (the next
 * write that drains it goes on) or the plan's byte rate makes it wait (its
 * timer goes on), 0 when the cursor reached the ring's end, -ERANGE when a
 * ring dropped events after the cursor (before any is taken), -ENOMEM.
 */
static int refill(struct sl_conn *c)
{
	struct take_ctx t = { c, &c->replay->at[0], fill_target(c, &c->replay->at[0]), 0 };
	int ret = t.at->topic
		      ? sl_router_replay_topic(c->gw->router, t.at->topic, t.at->after, take, &t)
		      : sl_router_replay_after(c->gw->router, (const char *const *)c->subs,
					       c->nsubs, t.at->after, take, &t);

	if (ret == 1 && t.wait_ns && pace(c, t.wait_ns))
		return -ENOMEM;
	return ret;
}

int sl_replay_topic(struct sl_conn *c, const char *topic, uint64_t since)
{
	struct sl_event *first = NULL;
	int ret = sl_router_replay_topic(c->gw->router, topic, since, probe, &first);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return 0; /* nothing after since: live events follow at once */
	ret = add_cursor(c, first, since);
	if (ret)
		return ret;
	sl_replay_more(c);
	return 1;
}

int sl_replay_stream(struct sl_conn *c, uint64_t after_gseq)
{
	uint64_t replayed = c->gw->stats.replayed;
	int ret = add_cursor(c, NULL, after_gseq);

	if (ret)
		return ret;
	/*
	 * The stream's only cursor. Its first refill is also what finds a gap
	 * (before any event is taken) or nothing after the reference: a probe
	 * ahead of it scanned every topic once more.
	 */
	ret = refill(c);
	if (ret == 1)
		return 1;
	sl_replay_end(c);
	if (ret < 0)
		return ret;
	return c->gw->stats.replayed != replayed;
}

const char *sl_replay_outcome_name(enum sl_resume_outcome outcome)
{
	static const char *const names[SL_RESUME__COUNT] = {
		[SL_RESUME_REPLAY] = "replay",
		[SL_RESUME_CURRENT] = "current",
		[SL_RESUME_GAP] = "gap",
	};

	return names[outcome];
}

void sl_replay_count(struct sl_conn *c, int ret, bool gap)
{
	if (gap)
		c->gw->stats.resumes[SL_RESUME_GAP]++;
	else if (ret >= 0)
		c->gw->stats.resumes[ret ? SL_RESUME_REPLAY : SL_RESUME_CURRENT]++;
}

void sl_replay_more(struct sl_conn *c)
{
	uint64_t queued = c->q.bytes;
	int ret;

	while (c->replaying && !c->closing) {
		ret = refill(c);
		if (ret == 1)
			break;
		if (ret == -ERANGE) {
			/*
			 * The ring dropped events the cursor had not reached:
			 * the client reads slower than the topic's retention.
			 */
			sl_sub_evict(c, SL_EVICT_REPLAY_BEHIND);
			return;
		}
		if (ret < 0) {
			/* -ENOMEM: the events it held back cannot be sent in order. */
			sl_sub_close(c, 1011, "internal error");
			return;
		}
		/* Done: the live events of its topics are sent as they come. */
		drop_cursor(c, 0);
	}
	if (c->q.bytes != queued)
		sl_conn_schedule_flush(c);
}

/* Out of line: LTO put it into the fan-out's sl_sub_deliver, where it is rarely needed. */
__attribute__((noinline)) bool sl_replay_holds(struct sl_conn *c, const struct sl_event *ev)
{
	struct sl_replay *r = c->replay;
	uint32_t i;

	for (i = 0; i < r->n; i++) {
		const struct replay_cursor *at = &r->at[i];

		if (at->topic && at->topic != ev->topic)
			continue;
		/* Found here, not at its next write, which a reader that stopped never has. */
		if (!sl_router_retains_after(c->gw->router, ev, at->after, !at->topic))
			sl_sub_evict(c, SL_EVICT_REPLAY_BEHIND);
		return true;
	}
	return false;
}

static bool still_subscribed(const struct sl_conn *c, const char *topic)
{
	uint32_t i;

	for (i = 0; i < c->nsubs; i++) {
		if (sl_topic_match(c->subs[i], topic))
			return true;
	}
	return false;
}

void sl_replay_unsubscribed(struct sl_conn *c)
{
	uint32_t i = 0;

	/*
	 * A cursor serves every subscription matching its topic: the live
	 * events it held are owed to them too, so it ends only with the last.
	 */
	while (c->replaying && i < c->replay->n) {
		if (c->replay->at[i].topic && !still_subscribed(c, c->replay->at[i].topic))
			drop_cursor(c, i);
		else
			i++;
	}
}

bool sl_replay_cursor(const struct sl_conn *c, uint32_t i, const char **topic, uint64_t *after)
{
	if (!c->replay || i >= c->replay->n)
		return false;
	*topic = c->replay->at[i].topic;
	*after = c->replay->at[i].after;
	return true;
}

void sl_replay_end(struct sl_conn *c)
{
	uint32_t i;

	if (!c->replay)
		return;
	for (i = 0; i < c->replay->n; i++)
		sl_event_unref(c->replay->at[i].pin);
	c->gw->stats.resuming--;
	if (c->replay->pace)
		event_free(c->replay->pace);
	free(c->replay);
	c->replay = NULL;
	c->replaying = false;
}
