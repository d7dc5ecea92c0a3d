/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A resume paced by its reader (SPEC "Retention and resume"): WebSocket
 * `since` and SSE `Last-Event-ID`. A resume may ask for a whole ring, more
 * than a subscriber's queue may hold (limits.max_queued_bytes_per_connection,
 * the plan's max_queued_bytes); queued at once it made its reader a slow
 * consumer before the first byte went out. So the replayed events are taken
 * from the rings a queue's worth at a time, as the writes drain it, from a
 * cursor: the last seq (a WebSocket topic) or acceptance number (an SSE
 * stream) sent. Live events the cursor covers are left to it: they are in
 * the ring already, after it, so nothing is sent twice or out of order.
 * Under a plan's byte rate the cursor also waits for the rate (a timer),
 * where sent flat out the resume would be closed with 4005 at every
 * reconnect.
 */
#ifndef SLUICE_NET_REPLAY_H
#define SLUICE_NET_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "net/conn.h"

/*
 * WebSocket `sub` with `since` on topic, which c holds a subscription to:
 * replays its retained events after since, paced. A second one for the same
 * topic starts that topic again from its own since. Returns 1 (a replay
 * is under way), 0 (nothing after since), the gap sl_router_replay_topic
 * found (-ERANGE, -ENOENT: the client is told 410), or -ENOMEM.
 */
int sl_replay_topic(struct sl_conn *c, const char *topic, uint64_t since);

/*
 * An SSE stream resumed after the event with acceptance number after_gseq,
 * on all of its patterns (c->subs, which must be subscribed already).
 * Returns 1 (a replay is under way), 0 (nothing after it), -ERANGE (a gap:
 * the client is told sluice.gap) or -ENOMEM.
 */
int sl_replay_stream(struct sl_conn *c, uint64_t after_gseq);

/* The outcome's name in `sluicectl stats` and /metrics: replay, current, gap. */
const char *sl_replay_outcome_name(enum sl_resume_outcome outcome);

/* Counts what a resume found (sl_replay_topic's or sl_replay_stream's answer, a gap). */
void sl_replay_count(struct sl_conn *c, int ret, bool gap);

/* After a write: queues what the drained queue has room for, from each cursor in turn. */
void sl_replay_more(struct sl_conn *c);

/*
 * A live event that c must not get now (c->replaying is set): a cursor of c
 * will send it, or it made the ring drop events the cursor had not sent, and
 * c was evicted (a client that reads slower than the topic's retention).
 */
bool sl_replay_holds(struct sl_conn *c, const struct sl_event *ev);

/* After an unsubscribe: the cursors of topics no subscription of c matches any more end. */
void sl_replay_unsubscribed(struct sl_conn *c);

/*
 * Cursor i of c's resume, for the operator (`sluicectl conn show`): false
 * past the last. *topic is NULL for an SSE stream's cursor, whose *after is
 * an acceptance number (gseq); a WebSocket topic's is a seq.
 */
bool sl_replay_cursor(const struct sl_conn *c, uint32_t i, const char **topic, uint64_t *after);

/* Ends every cursor (the connection is closing, or its subscriptions went). */
void sl_replay_end(struct sl_conn *c);

#endif
