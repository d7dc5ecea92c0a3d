/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The router: topics, their sequence numbers and retention rings, the
 * subscription trie and the fan-out of each published event to the matching
 * subscriptions. One router per event loop; nothing in it is global.
 *
 * Callbacks (deliver, replay) run while the router walks its own structures:
 * they must not subscribe, unsubscribe, publish or replay on the same router
 * (those calls answer -EBUSY then). A subscriber to be closed from a callback
 * is closed later, from the event loop, as Redis does with slow clients.
 */
#ifndef SLUICE_ROUTE_ROUTER_H
#define SLUICE_ROUTE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/event.h"

/* SPEC configuration example: `retention: {count: 1000, age: 1h}`. */
#define SL_ROUTER_DEFAULT_RING_COUNT 1000
#define SL_ROUTER_DEFAULT_RING_AGE_NS (3600ull * 1000000000ull)
/* Topics live as long as the router, so their number needs a bound. */
#define SL_ROUTER_DEFAULT_MAX_TOPICS 10000

struct sl_router_opts {
	uint32_t ring_count;  /* events retained per topic; 0: no retention */
	uint64_t ring_age_ns; /* retained events older than this are dropped; 0: no age bound */
	uint32_t max_topics;  /* 0: SL_ROUTER_DEFAULT_MAX_TOPICS */
	/* What the topics' one-hour series may cost, shared with others; NULL: none kept. */
	struct sl_hour_budget *hours;
};

/* What `sluicectl topic` shows about one topic. */
struct sl_router_topic_stat {
	const char *name;
	uint32_t name_len;
	uint32_t retained;   /* events in the ring */
	uint64_t seq;	     /* last seq assigned; 0 before the first event */
	uint64_t oldest_seq; /* seq of the oldest retained event; 0 when none */
	struct sl_topic_counters delivered;
};

struct sl_router;

/*
 * opts NULL: the defaults above. Returns NULL with errno EINVAL (ring_count
 * above SL_RING_MAX_CAPACITY) or ENOMEM.
 */
struct sl_router *sl_router_new(const struct sl_router_opts *opts);

/*
 * Frees topics, rings and subscriptions. Events still referenced elsewhere
 * point at their topic's name, so output queues are emptied first.
 */
void sl_router_free(struct sl_router *router);

/* 0, -EINVAL (bad pattern), -EEXIST (same pattern and sub), -ENOMEM or -EBUSY. */
int sl_router_subscribe(struct sl_router *router, const char *pattern, void *sub);
/* 0, -EINVAL, -ENOENT (no such subscription) or -EBUSY. */
int sl_router_unsubscribe(struct sl_router *router, const char *pattern, void *sub);

/*
 * Accepts one event on topic[0..topic_len): assigns its seq (per topic, from
 * 1, or from past the floor: sl_router_set_floor), gseq (router-wide
 * acceptance order) and ts, retains it, then calls deliver once per matching
 * (pattern, sub) pair; a sub under two overlapping patterns is called twice, and can skip the
 * second by its gseq. deliver takes its own reference if it keeps the event. *seq_out (may be NULL)
 * gets the seq. Returns 0, -EINVAL (bad topic or wildcard), -ENOSPC (max_topics reached), -ENOMEM
 * or -EBUSY.
 */
int sl_router_publish(struct sl_router *router, const char *topic, size_t topic_len,
		      const void *data, size_t len, uint64_t now_ns,
		      void (*deliver)(void *sub, struct sl_event *ev, void *ctx), void *ctx,
		      uint64_t *seq_out);

/*
 * WebSocket `since`: calls cb, in order, for the retained events of topic
 * with seq > since, until cb returns false (a replay paced by its reader goes
 * on later from the last seq cb took). Returns 0, 1 (cb stopped it),
 * -EINVAL (not a topic name), -ENOENT (no event was ever published on it),
 * -ERANGE (gap: some event after since is no longer retained, or since is
 * ahead of the topic, as after a restart that began the sequence again) or
 * -EBUSY. On an error cb is never called.
 */
int sl_router_replay_topic(struct sl_router *router, const char *topic, uint64_t since,
			   bool (*cb)(struct sl_event *ev, void *ctx), void *ctx);

/*
 * The acceptance number (gseq) of the event ref_topic:ref_seq, which SSE's
 * `Last-Event-ID` names (ref_seq 0: just before the topic's first event):
 * 0 or -ERANGE (unknown, or no longer retained and not the newest event its
 * ring dropped).
 */
int sl_router_gseq_of(struct sl_router *router, const char *ref_topic, uint64_t ref_seq,
		      uint64_t *gseq);

/*
 * SSE resume: calls cb, in acceptance (gseq) order, for every retained event
 * accepted after after_gseq on any topic matching one of the patterns, until
 * cb returns false. Returns 0, 1 (cb stopped it), -EINVAL (bad pattern),
 * -ERANGE (gap: an event after after_gseq on a matching topic is gone),
 * -ENOMEM or -EBUSY. On an error cb is never called.
 */
int sl_router_replay_after(struct sl_router *router, const char *const *patterns, size_t npatterns,
			   uint64_t after_gseq, bool (*cb)(struct sl_event *ev, void *ctx),
			   void *ctx);

/*
 * Whether ev's topic still retains every event after `after` (a seq, or with
 * by_gseq an acceptance number): a paced resume that got there can go on.
 */
bool sl_router_retains_after(const struct sl_router *router, const struct sl_event *ev,
			     uint64_t after, bool by_gseq);

/*
 * Applies the age bound to every ring; call it periodically (idle topics age
 * too). Near max_topics (the top eighth) it then reclaims every topic that
 * holds nothing (an empty ring, no event alive): later topics start their
 * numbers past the last gseq of any reclaimed one, so a name published again
 * never reuses a seq, and an SSE resume from before that gseq is a gap.
 */
void sl_router_expire(struct sl_router *router, uint64_t now_ns);

/* Topics reclaimed so far. */
uint64_t sl_router_topics_reclaimed(const struct sl_router *router);

/*
 * The last gseq of any reclaimed topic (0: none), which the journal keeps
 * across restarts and gives back with sl_router_note_reclaimed.
 */
uint64_t sl_router_reclaimed_gseq(const struct sl_router *router);
void sl_router_note_reclaimed(struct sl_router *router, uint64_t gseq);

size_t sl_router_topic_count(const struct sl_router *router);
size_t sl_router_subscription_count(const struct sl_router *router);

/* Calls cb for every topic, in creation order. */
void sl_router_foreach_topic(const struct sl_router *router,
			     void (*cb)(const struct sl_router_topic_stat *stat, void *ctx),
			     void *ctx);

enum sl_topic_rank {
	SL_RANK_RATE,	/* events/s, then events delivered, then name: `topic list top N` */
	SL_RANK_EVENTS, /* events delivered, then name: /metrics */
};

/*
 * The n highest ranked topics, highest first, in *out (malloc'd, free it;
 * NULL when there are none): one pass with a heap of n, nothing copied for
 * the others. rest (may be NULL) gets the deliveries of all the others
 * summed (events, bytes, latency). 0 or -ENOMEM.
 */
int sl_router_top_topics(const struct sl_router *router, size_t n, enum sl_topic_rank by,
			 struct sl_router_topic_stat **out, size_t *nout,
			 struct sl_topic_counters *rest);

/*
 * Fills *stat for the i-th topic in creation order (a listing a page at a
 * time); -ENOENT past the last. Reclaims move topics down: a listing across
 * one may miss or repeat some.
 */
int sl_router_topic_stat_at(const struct sl_router *router, size_t i,
			    struct sl_router_topic_stat *stat);

/* Fills *stat for the NUL-terminated topic name; -ENOENT when unknown. */
int sl_router_topic_stat(const struct sl_router *router, const char *topic,
			 struct sl_router_topic_stat *stat);

/*
 * on_accept (NULL: none) sees each event sl_router_publish accepts, once it
 * is numbered and retained and before any subscriber gets it (the journal),
 * and may tag it with its source.
 */
void sl_router_set_accept_hook(struct sl_router *router,
			       void (*on_accept)(struct sl_event *ev, void *ctx), void *ctx);

/*
 * Puts back an event a previous run accepted (the retention journal):
 * the topic continues from seq and the router's gseq from gseq. data NULL
 * restores only the numbers (a topic whose ring had emptied). A jump in seq
 * is recorded as a gap, so resuming from before it answers -ERANGE, and the
 * events retained before it are dropped. Events
 * older than the age bound (by now_ns) are not retained. Returns 0,
 * -EALREADY (seq not after the topic's), -EINVAL, -ENOSPC or -ENOMEM.
 */
int sl_router_restore(struct sl_router *router, const char *topic, size_t topic_len,
		      const void *data, size_t len, uint64_t seq, uint64_t gseq, uint64_t ts_ns,
		      uint64_t now_ns);

/*
 * After a journal that fell behind: numbers up to floor (a gseq) may have
 * been handed out by a previous run and not journaled. Every topic without
 * an event past floor, and every topic created from now on, continues after
 * it; resuming from before it is a gap (-ERANGE). Call it once restored.
 * Returns 0 or -EBUSY.
 */
int sl_router_set_floor(struct sl_router *router, uint64_t floor);

/*
 * For the journal's rewrite: calls cb for every retained event of up to max
 * topics from index from in creation order, oldest first per topic, and
 * once with ev NULL for a topic that retains nothing, with its last seq and
 * gseq. Returns the index after the last topic visited.
 */
size_t sl_router_foreach_retained(const struct sl_router *router, size_t from, size_t max,
				  void (*cb)(const char *topic, uint32_t topic_len, uint64_t seq,
					     uint64_t gseq, const struct sl_event *ev, void *ctx),
				  void *ctx);

/*
 * While held, no topic is reclaimed: a walk by index over several loop
 * iterations (the journal's rewrite) would skip the topics a reclaim moves
 * down past it.
 */
void sl_router_hold_reclaim(struct sl_router *router, bool hold);

/*
 * Turns each topic's delivery counts into its rate, and counts that into
 * the topic's series as Unix second now_s; call it once a second.
 */
void sl_router_tick_rates(struct sl_router *router, uint64_t now_s);

/*
 * The same once-a-second upkeep (sl_router_expire at now_ns, then
 * sl_router_tick_rates for Unix second rate_s) in slices, for the event
 * loop: a walk over a million topics took about 30 ms, and every event
 * waited for it. sl_router_sweep_start first ends a sweep still under way;
 * sl_router_sweep visits up to max topics and returns true once every topic
 * has had its turn (then the reclaim, near max_topics, whole).
 * sl_router_tick_rates overtakes a sweep under way.
 */
void sl_router_sweep_start(struct sl_router *router, uint64_t now_ns, uint64_t rate_s);
bool sl_router_sweep(struct sl_router *router, uint32_t max);

#endif
