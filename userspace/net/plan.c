// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A subscriber's plan enforced gracefully in userspace (plan.h): checked
 * before each event is queued and once a second, closing the connection with
 * the bound's close code.
 */
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "net/conn.h"
#include "net/plan.h"

static void on_time_limit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sl_sub_close(arg, SL_WS_CLOSE_TIME_LIMIT, "subscription time limit reached");
}

/* The plan's max_connection_time, from the TCP handshake; a reload moves the deadline. */
void sl_conn_arm_time_limit(struct sl_conn *c)
{
	const struct sl_plan *plan = c->plan;
	struct timeval tv;
	uint64_t left;

	if (c->limit_timer) {
		event_free(c->limit_timer);
		c->limit_timer = NULL;
	}
	if (!plan || !plan->max_connection_time_ns || !c->gw->cfg->graceful)
		return;
	/* Counted from the TCP handshake, like the kernel's deadline. */
	left = plan->max_connection_time_ns;
	if (sl_mono_ns() - c->opened_ns < left)
		left -= sl_mono_ns() - c->opened_ns;
	else
		left = 0;
	tv = sl_timeval_ns(left);
	c->limit_timer = evtimer_new(c->gw->base, on_time_limit, c);
	if (c->limit_timer)
		evtimer_add(c->limit_timer, &tv);
}

static int64_t rate_burst(const struct sl_plan *plan)
{
	return (int64_t)(plan->burst_bytes ? plan->burst_bytes : plan->bytes_per_second);
}

void sl_conn_started(struct sl_conn *c)
{
	const struct sl_plan *plan = c->plan;

	if (!c->gw->apps)
		return;
	/* With a plan or not: `app show` reports them, and a plan a reload adds finds them. */
	if (c->slot) {
		c->gw->apps[c->slot].conns++;
		c->counted = true;
	}
	if (!plan)
		return;
	/*
	 * The kernel's bucket, set full a moment ago (sl_conn_meter), will take
	 * the handshake's answer still queued when it is a TLS record; on a
	 * plain socket the meter's framing starts after it.
	 */
	c->tokens = rate_burst(plan) - (c->tls ? (int64_t)c->q.bytes : 0);
	c->tokens_ns = sl_mono_ns();
	sl_conn_arm_time_limit(c);
}

uint64_t sl_plan_soft_bound(const struct sl_plan *plan)
{
	return plan->soft_queued_bytes ? plan->soft_queued_bytes : plan->max_queued_bytes / 2;
}

/* The byte-rate mirror's tokens, refilled up to now. */
static void refill(struct sl_conn *c, const struct sl_plan *plan, uint64_t now)
{
	uint64_t idle_us = (now - c->tokens_ns) / 1000;

	/* Bounded like the kernel's refill, so idle * rate cannot overflow. */
	if (idle_us > 1000000000ull)
		idle_us = 1000000000ull;
	c->tokens += (int64_t)(idle_us * plan->bytes_per_second / 1000000);
	c->tokens_ns = now;
	if (c->tokens > rate_burst(plan))
		c->tokens = rate_burst(plan);
}

/* Bytes as the kernel meter counts them: over TLS, the records they become. */
static size_t wire_len(const struct sl_conn *c, size_t bytes)
{
	return c->tls ? sl_tls_wire_len(c->tls, bytes) : bytes;
}

uint64_t sl_conn_rate_wait_ns(struct sl_conn *c, size_t bytes)
{
	const struct sl_plan *plan = c->plan;
	int64_t need;

	if (!plan || !plan->bytes_per_second || !c->gw->cfg->graceful || !c->gw->apps)
		return 0;
	bytes = wire_len(c, bytes);
	refill(c, plan, sl_mono_ns());
	/* An event larger than the burst goes once the bucket is full. */
	need = (int64_t)bytes < rate_burst(plan) ? (int64_t)bytes : rate_burst(plan);
	if (c->tokens >= need)
		return 0;
	/* A millisecond more: the refill rounds down to whole microseconds. */
	return (uint64_t)(need - c->tokens) * 1000000000ull / plan->bytes_per_second + 1000000;
}

void sl_conn_rate_charge(struct sl_conn *c, size_t bytes)
{
	const struct sl_plan *plan = c->plan;

	if (!plan || !plan->bytes_per_second || !c->gw->cfg->graceful || !c->gw->apps)
		return;
	refill(c, plan, sl_mono_ns());
	c->tokens -= (int64_t)wire_len(c, bytes);
}

void sl_conn_plan_tick(struct sl_conn *c)
{
	const struct sl_plan *plan = c->plan;
	const struct sl_app_state *a;
	uint64_t start, end;

	if (!plan || !plan->events_limit || !c->gw->cfg->graceful || !c->gw->apps || c->closing)
		return;
	a = &c->gw->apps[c->slot];
	sl_plan_window(plan, sl_now_ns(), &start, &end);
	if (a->window_start == start && a->events >= plan->events_limit)
		sl_sub_close(c, SL_WS_CLOSE_QUOTA, "event quota exhausted");
}

bool sl_conn_plan_allows(struct sl_conn *c, struct sl_event *ev, size_t bytes, bool *last)
{
	const struct sl_plan *plan = c->plan;
	struct sl_app_state *a;
	uint64_t now, start, end;

	(void)ev;
	*last = false;
	if (!plan || !c->gw->cfg->graceful || !c->gw->apps)
		return true;
	/* The queue holds, and the kernel's bucket takes, the records over TLS. */
	if (c->tls && (plan->max_queued_bytes || plan->bytes_per_second))
		bytes = wire_len(c, bytes);
	now = c->gw->deliver_mono_ns ? c->gw->deliver_mono_ns : sl_mono_ns();
	if (plan->max_queued_bytes) {
		/* Redis-style output limits: a hard bound, and a soft one held for grace. */
		uint64_t soft = sl_plan_soft_bound(plan);

		if (c->q.bytes + bytes > plan->max_queued_bytes) {
			sl_sub_evict(c, SL_EVICT_PLAN_HARD);
			return false;
		}
		if (c->q.bytes > soft) {
			if (!c->soft_since_ns)
				c->soft_since_ns = now;
			else if (now - c->soft_since_ns > plan->grace_ns) {
				sl_sub_evict(c, SL_EVICT_PLAN_SOFT);
				return false;
			}
		} else if (c->soft_since_ns) {
			/* Stored only when set: no store per delivery. */
			c->soft_since_ns = 0;
		}
	}
	if (plan->bytes_per_second) {
		/* Mirror of the kernel's bucket: over it for more than a second closes with 4005.
		 */
		refill(c, plan, now);
		if (c->tokens < (int64_t)bytes) {
			if (!c->over_rate_since_ns)
				c->over_rate_since_ns = now;
			else if (now - c->over_rate_since_ns > 1000000000ull) {
				sl_sub_close(c, SL_WS_CLOSE_BYTE_RATE, "byte-rate limit exceeded");
				return false;
			}
		} else {
			c->over_rate_since_ns = 0;
		}
		c->tokens -= (int64_t)bytes;
	}
	if (plan->events_limit) {
		a = &c->gw->apps[c->slot];
		sl_plan_window(plan, sl_now_ns(), &start, &end);
		if (a->window_start != start) {
			a->window_start = start;
			a->events = 0;
		}
		if (a->events >= plan->events_limit) {
			sl_sub_close(c, SL_WS_CLOSE_QUOTA, "event quota exhausted");
			return false;
		}
		if (++a->events == plan->events_limit)
			*last = true;
	}
	return true;
}

/*
 * Once a second: the soft output bound counts the kernel's view too (bytes
 * the socket holds unsent or unacknowledged, SIOCOUTQ), so a client whose
 * window stays shut is caught even while the daemon's own queue is short;
 * and a connection that gets no new events still trips its grace period.
 */
void sl_conn_check_soft_bound(struct sl_conn *c, uint64_t now_mono_ns)
{
	uint64_t soft, backlog;
	int outq;

	if (!c->plan || !c->plan->max_queued_bytes || c->closing ||
	    (c->kind != SL_CONN_WS && c->kind != SL_CONN_SSE))
		return;
	soft = sl_plan_soft_bound(c->plan);
	backlog = c->q.bytes;
	/*
	 * The socket's unsent bytes count only once the daemon holds some too
	 * (the kernel took less than offered): one ioctl per connection per
	 * second for 10,000 subscribers was a 5 ms stall, the S3 p99.
	 */
	if ((backlog || c->soft_since_ns) && ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq > 0)
		backlog += (uint64_t)outq;
	if (backlog > soft && !c->soft_since_ns)
		c->soft_since_ns = now_mono_ns;
	if (!c->soft_since_ns)
		return;
	if (backlog <= soft)
		c->soft_since_ns = 0;
	else if (now_mono_ns - c->soft_since_ns > c->plan->grace_ns)
		sl_sub_evict(c, SL_EVICT_PLAN_SOFT);
}
