/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A connected subscriber held to its application's plan in userspace, before
 * the kernel would have to drop (DESIGN: enforce gracefully in userspace,
 * hard in the kernel): the time limit, the output bounds (hard, and soft
 * held for grace), the byte rate and the event quota, each closing with its
 * own close code.
 */
#ifndef SLUICE_NET_PLAN_H
#define SLUICE_NET_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_conn;
struct sl_event;
struct sl_gateway;
struct sl_plan;

/* The handshake is done: count the connection and arm its plan's time limit. */
void sl_conn_started(struct sl_conn *c);

/* The plan's max_connection_time, from the TCP handshake; a reload moves the deadline. */
void sl_conn_arm_time_limit(struct sl_conn *c);

/* The plan's soft output bound: soft_queued_bytes, by default half of max_queued_bytes. */
uint64_t sl_plan_soft_bound(const struct sl_plan *plan);

/* Graceful plan checks before an event is queued; false when the connection was closed. */
bool sl_conn_plan_allows(struct sl_conn *c, struct sl_event *ev, size_t bytes, bool *last);

/*
 * A subscriber's part of the 1 s tick: its application's event quota ran
 * out (on another of its connections, or below a count a reload lowered
 * the limit to): closed with 4002 as the one that took the last event was,
 * rather than left holding a connection slot until an event comes.
 */
void sl_conn_plan_tick(struct sl_conn *c);

/*
 * Nanoseconds until the plan's byte rate lets `bytes` more go out (0: now),
 * by the mirror of the kernel's bucket: a resume waits that long rather than
 * run over the rate, which would close it (4005) at every reconnect.
 */
uint64_t sl_conn_rate_wait_ns(struct sl_conn *c, size_t bytes);

/*
 * A reply (ack, pong, error, heartbeat) queued to a connection: the kernel's
 * bucket takes its bytes like an event's, so the mirror does too. Without
 * them a resume paced by the mirror ran a few reply frames ahead of the
 * kernel, which dropped an event now and then.
 */
void sl_conn_rate_charge(struct sl_conn *c, size_t bytes);

/*
 * Once a second per connection (the tick's sweep): the soft output bound
 * counts the kernel's view too (bytes the socket holds unsent or
 * unacknowledged, SIOCOUTQ), so a client whose window stays shut is caught
 * even while the daemon's own queue is short; and a connection that gets no
 * new events still trips its grace period. It may evict c.
 */
void sl_conn_check_soft_bound(struct sl_conn *c, uint64_t now_mono_ns);

#endif
