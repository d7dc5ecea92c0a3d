// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Listeners, connection lifecycle and the write path. Every connection is a
 * raw nonblocking fd with a read event and a write event (no bufferevents:
 * the write path must see each short write to resync the kernel meter).
 * Bytes to send go to the connection's output queue; the connection joins
 * the flush list; one deferred callback per loop iteration writes every
 * listed queue with one sendmsg each, a long list split between the loop
 * and the writer threads (workpool.h), and then settles the results on the
 * loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <sys/stat.h>

#include "kern/kern.h"
#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/tcpinfo.h"
#include "route/topic.h"
#include "net/control.h"
#include "net/gateway.h"
#include "net/plan.h"
#include "net/replay.h"
#include "net/reload.h"
#include "net/sse.h"
#include "net/workpool.h"

uint64_t sl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sl_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *kind_name(enum sl_conn_kind kind)
{
	static const char *const names[] = { "http", "ws", "sse", "publisher", "admin" };

	return kind <= SL_CONN_ADMIN ? names[kind] : "unknown";
}

static void on_write(evutil_socket_t fd, short what, void *arg);

/* The list c is on: the gateway's connections, or the refusals (refuse). */
static struct sl_conn **conn_list(struct sl_gateway *gw, const struct sl_conn *c)
{
	return c->on_refusals ? &gw->refusals : &gw->conns;
}

static void conn_free(struct sl_conn *c)
{
	struct sl_gateway *gw = c->gw;

	sl_sub_drop_subs(c);
	if (c->rd)
		event_free(c->rd);
	if (c->wr)
		event_free(c->wr);
	if (c->timer)
		event_free(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	if (gw->sweep_next == c)
		gw->sweep_next = c->next;
	if (c->prev)
		c->prev->next = c->next;
	else
		*conn_list(gw, c) = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->on_refusals)
		gw->nrefusals--;
	else
		gw->nconns--;
	if (c->kind == SL_CONN_PUB && c->hello_done)
		gw->npublishers--;
	else if (c->kind == SL_CONN_PUB)
		gw->npub_silent--;
	else if (c->kind == SL_CONN_ADMIN)
		gw->nadmin--;
	else if (c->kind == SL_CONN_HTTP && !c->on_refusals)
		gw->nhandshaking--;
	else if (c->kind == SL_CONN_SSE)
		gw->nsse--;
	if (c->counted && gw->apps)
		gw->apps[c->slot].conns--;
	if (c->limit_timer)
		event_free(c->limit_timer);
	if (c->expiry_timer)
		event_free(c->expiry_timer);
	sl_tls_free(c->tls);
	sl_history_free(&c->history, &gw->stats.hours);
	free(c->latency);
	sl_event_source_unref(c->source);
	sl_auth_result_fini(&c->auth);
	sl_outq_fini(&c->q);
	sl_ws_decoder_fini(&c->ws);
	free(c->in);
	free(c->own_close_reason);
	if (c->reply_marks)
		sl_marks_free(c->reply_marks);
	free(c->reply_marks);
	free(c);
}

/*
 * One line per connection close: who (peer, application), what (its
 * subscriptions, the first 8), its final counters (the kernel's drops when
 * it metered the socket, the p99 of its deliveries' latency), what TCP saw
 * acknowledged, and the close code and reason.
 */
static void log_conn_close(const struct sl_conn *c)
{
	struct sl_tcp_info ti;
	char topics[8 * (SL_TOPIC_MAX_LEN + 3) + 1] = "";
	struct sl_sock st = { 0 };
	size_t at = 0;
	uint32_t i;

	if (SL_CONFIG_LOG_INFO < sl_log_level)
		return;
	if (c->metered && c->gw->kern)
		sl_kern_sock_get(c->gw->kern, c->fd, &st);
	/* Patterns passed the topic validator: nothing in them needs escaping. */
	for (i = 0; i < c->nsubs && i < 8; i++)
		at += (size_t)snprintf(topics + at, sizeof(topics) - at, "%s\"%s\"", i ? "," : "",
				       c->subs[i]);
	sl_tcp_info(c->fd, &ti);
	sl_log_emit(SL_CONFIG_LOG_INFO,
		    "{\"msg\":\"conn_close\",\"id\":%llu,\"kind\":\"%s\",\"peer\":\"%s:%u\","
		    "\"app\":\"%s\",\"topics\":[%s],\"events\":%llu,\"bytes\":%llu,"
		    "\"drops\":%llu,\"latency_p99_us\":%lld,"
		    "\"bytes_acked\":%llu,\"code\":%u,\"reason\":\"%s\",\"duration_ms\":%llu}",
		    (unsigned long long)c->cookie, kind_name(c->kind), c->peer, c->peer_port,
		    sl_conn_app_id(c), topics, (unsigned long long)c->events_out,
		    (unsigned long long)c->bytes_out, (unsigned long long)st.drops,
		    /* -1: past the last bucket, as `conn show` says it */
		    (long long)(c->latency ? sl_latency_quantile_us(c->latency, 0.99) : 0),
		    (unsigned long long)ti.bytes_acked, c->close_code,
		    c->close_reason ? c->close_reason : "",
		    (unsigned long long)((sl_mono_ns() - c->opened_ns) / 1000000));
}

void sl_conn_close_now(struct sl_conn *c)
{
	struct sl_gateway *gw = c->gw;
	struct sl_conn **pp;

	/* Refusals are counted (stats.refused), not logged: a flood would be a line each. */
	if (!c->on_refusals)
		log_conn_close(c);
	if (gw->reading == c)
		gw->reading = NULL;
	if (c->kind == SL_CONN_PUB && c->hello_done)
		SL_INFO("{\"msg\":\"backend_down\",\"id\":%llu,\"name\":\"%s\",\"published\":%llu,"
			"\"errors\":%llu,\"reason\":\"%s\"}",
			(unsigned long long)c->cookie, c->name, (unsigned long long)c->pub_ok,
			(unsigned long long)c->pub_errors, c->close_reason ? c->close_reason : "");
	if (c->in_flush_list) {
		struct sl_conn *before = NULL;

		for (pp = &gw->flush_head; *pp; before = *pp, pp = &(*pp)->flush_next) {
			if (*pp == c) {
				*pp = c->flush_next;
				if (gw->flush_last == c)
					gw->flush_last = before;
				break;
			}
		}
	}
	if (c->read_paused) {
		for (pp = &gw->paused_head; *pp; pp = &(*pp)->pause_next) {
			if (*pp == c) {
				*pp = c->pause_next;
				break;
			}
		}
	}
	conn_free(c);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;
	char buf[4096];
	ssize_t n;

	(void)fd;
	if (what & EV_TIMEOUT) {
		sl_conn_close_now(c);
		return;
	}
	/* After our FIN, read and discard until the peer closes too. */
	do {
		n = recv(c->fd, buf, sizeof(buf), 0);
	} while (n > 0);
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		sl_conn_close_now(c);
}

/*
 * Moves a connection's queue to the gateway total it counts in: blocked_bytes
 * while its socket stopped short and waits for POLLOUT, ready_bytes otherwise.
 * The outq keeps the one it points to current.
 */
static void queue_counts_as(struct sl_conn *c, uint64_t *total)
{
	if (!c->q.total || c->q.total == total)
		return;
	*c->q.total -= c->q.bytes;
	*total += c->q.bytes;
	c->q.total = total;
}

/*
 * Everything queued is out: send our FIN and give the peer two seconds to
 * answer with its own, so the last bytes are not lost to a reset.
 */
static void conn_linger(struct sl_conn *c)
{
	struct timeval two = { 2, 0 };

	c->write_closed = true;
	shutdown(c->fd, SHUT_WR);
	event_del(c->rd);
	event_del(c->wr);
	c->wr_armed = false;
	queue_counts_as(c, &c->gw->ready_bytes);
	event_free(c->rd);
	c->rd = event_new(c->gw->base, c->fd, EV_READ | EV_PERSIST, on_linger, c);
	if (!c->rd || event_add(c->rd, &two)) {
		sl_conn_close_now(c);
		return;
	}
	/*
	 * That timeout starts again with every read: a peer sending a byte a
	 * second would keep the connection, and its place under
	 * limits.max_connections, for ever. The close deadline (sl_conn_finish)
	 * ends the linger two seconds from now whatever the peer sends; a
	 * refusal's handshake deadline bounds its linger already.
	 */
	if (!c->refusal && c->timer)
		evtimer_add(c->timer, &two);
}

/* Every accepted event, before any byte about it leaves: journaled, and tagged with its backend. */
static void event_accepted(struct sl_event *ev, void *ctx)
{
	struct sl_gateway *gw = ctx;

	if (gw->journal)
		sl_journal_append(gw->journal, ev);
	if (gw->accept_source) {
		ev->source = gw->accept_source;
		ev->source->refs++;
	}
}

/*
 * Restores the retention rings of the previous run and journals every
 * accepted event from now on. Without a journal the gateway still runs;
 * a restart then begins every topic's sequence again (clients get 410).
 */
static void open_journal(struct sl_gateway *gw)
{
	struct sl_journal_stats st;
	char path[4096];
	int ret;

	if (!gw->cfg->retention.journal || !gw->cfg->state_dir)
		return;
	mkdir(gw->cfg->state_dir, 0700);
	snprintf(path, sizeof(path), "%s/journal", gw->cfg->state_dir);
	ret = sl_journal_open(path, gw->router, sl_now_ns(), &gw->journal);
	if (ret) {
		SL_ERROR("{\"msg\":\"journal_off\",\"path\":\"%s\",\"error\":\"%s\","
			 "\"detail\":\"retained events will not survive a restart\"}",
			 path, strerror(-ret));
		return;
	}
	sl_journal_get_stats(gw->journal, &st);
	SL_INFO("{\"msg\":\"journal_restored\",\"path\":\"%s\",\"events\":%llu,\"topics\":%zu,"
		"\"torn_bytes\":%llu,\"floor\":%llu}",
		path, (unsigned long long)st.restored, sl_router_topic_count(gw->router),
		(unsigned long long)st.torn, (unsigned long long)st.floor);
	if (st.lost_at_open)
		SL_WARN(
		    "{\"msg\":\"journal_lost\",\"path\":\"%s\",\"lost_up_to_gseq\":%llu,"
		    "\"detail\":\"the last run gave out events it could not journal; every topic "
		    "without a later event continues after %llu, resuming from before it gets "
		    "410\"}",
		    path, (unsigned long long)st.lost_at_open, (unsigned long long)st.floor);
	if (st.header_damaged)
		SL_ERROR("{\"msg\":\"journal_header_damaged\",\"path\":\"%s\","
			 "\"detail\":\"its records were restored, its floor was not: numbers a "
			 "failed write left out may be given out again\"}",
			 path);
	if (st.rewrite_error)
		SL_WARN("{\"msg\":\"journal_not_rewritten\",\"path\":\"%s\",\"error\":\"%s\","
			"\"detail\":\"appending to the old file; free space in state_dir\"}",
			path, strerror((int)st.rewrite_error));
}

/*
 * Accepted events reach the journal before any byte about them (an event,
 * an ack, a 202) leaves the process, so a killed daemon never reuses a
 * sequence number somebody saw.
 */
static void journal_sync(struct sl_gateway *gw)
{
	static const struct timeval next_iteration = { 0, 0 };
	struct sl_journal_stats st;
	int ret;

	if (!gw->journal || !sl_journal_pending(gw->journal))
		return;
	ret = sl_journal_sync(gw->journal, gw->router);
	if (sl_journal_rewriting(gw->journal))
		event_add(gw->journal_ev, &next_iteration);
	if (!ret)
		return;
	/* Once per failing run of writes (a full disk fails every flush). */
	sl_journal_get_stats(gw->journal, &st);
	if (st.mark_errors != gw->journal_mark_errors_logged &&
	    (st.mark_errors == 1 || st.mark_errors % 10000 == 0)) {
		gw->journal_mark_errors_logged = st.mark_errors;
		SL_ERROR("{\"msg\":\"journal_mark_failed\",\"failures\":%llu,"
			 "\"detail\":\"events whose records were dropped are not marked in the "
			 "header: a restart may give their numbers out again\"}",
			 (unsigned long long)st.mark_errors);
	}
	if (st.write_errors == 1 || st.write_errors % 10000 == 0)
		SL_ERROR("{\"msg\":\"journal_write_failed\",\"error\":\"%s\",\"failures\":%llu,"
			 "\"dropped\":%llu}",
			 strerror(-ret), (unsigned long long)st.write_errors,
			 (unsigned long long)st.dropped);
}

/* A slice of the journal's rewrite per loop iteration: the sockets are polled between. */
static void on_journal_step(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval next_iteration = { 0, 0 };
	struct sl_gateway *gw = arg;
	int ret = sl_journal_step(gw->journal, gw->router);

	(void)fd;
	(void)what;
	if (ret > 0)
		event_add(gw->journal_ev, &next_iteration);
	else if (ret < 0)
		SL_WARN("{\"msg\":\"journal_rewrite_failed\",\"error\":\"%s\",\"detail\":\"the "
			"journal goes on in the old file, rewritten once it has grown by 64 MiB "
			"more\"}",
			strerror(-ret));
}

/* One connection's flush: the write (any thread), then its settling (the loop). */
struct sl_flush_job {
	struct sl_conn *c;
	uint64_t now; /* one clock read per flush, not per event */
	size_t queued_before;
	ssize_t written;
	uint64_t events;
	size_t sent_from, sent_to; /* what went out: a range of writer[worker].sent */
	size_t budget;		   /* bytes the write may offer (SIZE_MAX: all queued) */
	bool marks_bound;	   /* the budget ends before a reply record not yet marked */
	unsigned worker;
	int short_write;
};

static void flush_list_add(struct sl_conn *c);

/* Touches only the connection's fd and queue and the worker's own sink. */
static void flush_write(struct sl_gateway *gw, struct sl_flush_job *j, unsigned worker)
{
	struct sl_outq_sink *sink = &gw->writer[worker].sent;

	j->worker = worker;
	j->now = sl_now_ns();
	j->events = 0;
	j->queued_before = j->c->q.bytes;
	j->sent_from = sink->count;
	j->written =
	    sl_outq_flush_upto(&j->c->q, j->c->fd, j->budget, &j->short_write, &j->events, sink);
	j->sent_to = sink->count;
}

struct settle_at {
	struct sl_gateway *gw;
	uint64_t now;
	struct sl_latency *conn_latency, *app_latency; /* NULL: not kept */
	uint64_t live_after; /* gseq: the connection's deliveries up to it were a resume's */
};

/*
 * A delivered event's latency and its topic's counters, after the write.
 * The bucket is found once; the connection's, application's and topic's
 * histograms take it as it is. A resume's deliveries are counted, not
 * timed: an hour-old event is the client's absence, not the gateway's delay.
 */
static void event_written(const struct settle_at *at, const struct sl_event *ev, size_t len)
{
	if (at->now > ev->ts_ns && ev->gseq > at->live_after) {
		uint64_t ns = at->now - ev->ts_ns;
		unsigned bucket = sl_latency_add(&at->gw->stats.latency, ns);

		if (at->conn_latency)
			sl_latency_count(at->conn_latency, bucket, ns);
		if (at->app_latency)
			sl_latency_count(at->app_latency, bucket, ns);
		if (ev->counters)
			sl_latency_count(&ev->counters->latency, bucket, ns);
		if (ev->source)
			sl_latency_count(&ev->source->latency, bucket, ns);
	}
	if (ev->counters) {
		ev->counters->events++;
		ev->counters->bytes += len;
	}
}

/* One event a flush completed (len > 0) or carried a piece of: counted, its reference let go. */
static void settle_event(struct sl_event *ev, uint32_t len, void *ctx)
{
	const struct settle_at *at = ctx;

	if (len)
		event_written(at, ev, len);
	sl_event_unref(ev);
}

/*
 * Reads c again. A publisher's buffer may hold whole frames, left there when
 * its replies reached their bound (pub_frames): no byte on the socket may
 * come to wake them, so the read callback runs for them.
 */
static void read_again(struct sl_conn *c)
{
	event_add(c->rd, NULL);
	if (c->in_len || (c->tls && sl_tls_pending(c->tls)))
		event_active(c->rd, EV_READ, 0);
}

/*
 * The rest of a TLS record that c->in had no room for waits inside wolfSSL:
 * read it now, for no byte on the socket may come to wake the read (a 12 KiB
 * message waited for the client's next one).
 */
static void read_tls_rest(struct sl_conn *c)
{
	if (c->tls && !c->closing && sl_tls_pending(c->tls))
		event_active(c->rd, EV_READ, 0);
}

/* Everything shared a write leads to, on the loop; may close the connection. */
static void flush_settle(struct sl_gateway *gw, const struct sl_flush_job *j)
{
	const struct sl_outq_sink *sink = &gw->writer[j->worker].sent;
	struct sl_conn *c = j->c;
	struct settle_at at = { gw, j->now, NULL, NULL, c->replayed_gseq };
	uint64_t events = j->events;
	ssize_t w = j->written;
	size_t i;

	/* Out of memory, it stays NULL: only this connection's view of its latency is missing. */
	if (events && !c->latency)
		c->latency = calloc(1, sizeof(*c->latency));
	at.conn_latency = c->latency;
	at.app_latency = c->slot && gw->apps ? &gw->apps[c->slot].latency : NULL;
	sl_outq_settle(&c->q, j->queued_before);
	gw->writer[j->worker].flushes++;
	for (i = j->sent_from; i < j->sent_to; i++)
		sl_outq_sent_each(&sink->items[i], settle_event, &at);
	if (w < 0) {
		c->close_reason = "write failed";
		sl_conn_close_now(c);
		return;
	}
	c->bytes_out += (uint64_t)w;
	gw->stats.written_bytes += (uint64_t)w;
	if (c->replies_held && c->q.bytes <= gw->cfg->limits.max_queued_bytes_per_connection / 2) {
		c->replies_held = false;
		/* A closing one reads no more; a paced one waits for resume_publishers. */
		if (!c->closing && !c->read_paused)
			read_again(c);
	}
	if (gw->stats.series && (events || w > 0))
		sl_series_add(gw->stats.series, j->now / 1000000000ull, events, (uint64_t)w);
	c->events_out += events;
	gw->stats.delivered += events;
	/* Answers and heartbeats only: an idle subscriber keeps no queue array. */
	if (!events && !c->q.count)
		sl_outq_trim(&c->q);
	if (c->slot && gw->apps) {
		gw->apps[c->slot].events_written += events;
		gw->apps[c->slot].bytes_written += (uint64_t)w;
	}
	if (j->short_write) {
		/* The meter must re-sync before the retry (kern.h, sl_kern_sock_resync). */
		if (c->metered && gw->kern && sl_kern_sock_resync(gw->kern, c->fd) == 0)
			gw->stats.meter_resyncs++;
		event_add(c->wr, NULL);
		c->wr_armed = true;
		queue_counts_as(c, &gw->blocked_bytes);
		return;
	}
	/* The write stopped before a reply record the kernel's ring had no room for. */
	if (j->marks_bound && c->q.count)
		flush_list_add(c);
	if (c->q.count && c->wr_armed)
		return; /* the budget ended the write: the rest waits for the next POLLOUT */
	if (c->wr_armed) {
		event_del(c->wr);
		c->wr_armed = false;
		queue_counts_as(c, &gw->ready_bytes);
	}
	if (c->closing && !c->q.count)
		conn_linger(c);
	else if (c->replaying)
		sl_replay_more(c); /* last: it may close c */
}

static void resume_publishers(struct sl_gateway *gw);

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;

	(void)fd;
	(void)what;
	/*
	 * Room again: the connection joins this iteration's flush list, so that
	 * the sockets that became writable together are written together (by the
	 * writer threads too), not one callback each. A backlog drains there,
	 * where pacing can end.
	 */
	flush_list_add(c);
}

/*
 * Publisher pacing. A publisher that outruns what the subscribers read
 * would only grow queues until slow-consumer eviction drops everyone (a
 * flat-out publisher against a saturated host did exactly that). Above
 * limits.max_queued_bytes_total (all output queues together) publishers are
 * not read, so TCP pushes back on them; reading resumes once the queues
 * that can move are down to an eighth of it (pacing_may_resume). (Resuming
 * at half kept every queue busy, so the soft bound's look at the kernel's
 * unsent bytes found whole seconds of backlog there on a saturated host and
 * evicted readers; at an eighth S1 and S6 ran without loss.) Each write that
 * drains a backlog checks. Stalled subscribers cannot hold everyone: their
 * queues wait behind full sockets and do not count toward resuming, their
 * own bound evicts them, and if they fill the whole bound so that a pause
 * lasts PACE_GRACE_S, those that read nothing are evicted.
 */
#define PACE_GRACE_S 2

/* Publishers are read again once the queues are down to this (an eighth of the bound). */
static uint64_t pace_resume_mark(const struct sl_gateway *gw)
{
	return gw->cfg->limits.max_queued_bytes_total / 8;
}

static bool pacing_over(const struct sl_gateway *gw)
{
	uint64_t cap = gw->cfg->limits.max_queued_bytes_total;

	return cap && sl_gateway_queued_bytes(gw) >= cap;
}

/*
 * The queues that can move are down to the mark, and all of them together
 * leave a mark's worth of room. Queues behind a socket that stopped short
 * wait for their reader, so they do not hold the publishers: ten readers
 * that stopped, 4 MiB each, held S6's publisher for the 2 s grace again
 * and again, until the stall eviction had taken them in rounds.
 */
static bool pacing_may_resume(const struct sl_gateway *gw)
{
	uint64_t cap = gw->cfg->limits.max_queued_bytes_total;
	uint64_t mark = pace_resume_mark(gw);

	/* cap 0: a reload turned pacing off. */
	return !cap || (gw->ready_bytes <= mark && sl_gateway_queued_bytes(gw) <= cap - mark);
}

static void pause_publisher(struct sl_conn *c)
{
	struct sl_gateway *gw = c->gw;

	if (c->read_paused)
		return;
	event_del(c->rd);
	c->read_paused = true;
	c->pause_next = gw->paused_head;
	gw->paused_head = c;
	if (!gw->paused_since_ns) {
		gw->paused_since_ns = sl_mono_ns();
		gw->stats.publisher_pauses++;
		SL_DEBUG("{\"msg\":\"publishers_paused\",\"queued_bytes\":%llu}",
			 (unsigned long long)sl_gateway_queued_bytes(gw));
	}
}

bool sl_gateway_pace(struct sl_conn *c)
{
	if (!pacing_over(c->gw))
		return false;
	pause_publisher(c);
	c->input_held = true;
	return true;
}

static void resume_publishers(struct sl_gateway *gw)
{
	struct sl_conn *c;

	if (!gw->paused_head || !pacing_may_resume(gw))
		return;
	while ((c = gw->paused_head)) {
		gw->paused_head = c->pause_next;
		c->pause_next = NULL;
		c->read_paused = false;
		/* Level-triggered: what waited in the socket is read at once. */
		read_again(c);
	}
	gw->paused_since_ns = 0;
}

static bool stalled_reader(const struct sl_conn *c)
{
	return (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) && !c->closing && c->q.bytes &&
	       !c->bytes_per_second;
}

static int by_queue_desc(const void *a, const void *b)
{
	uint64_t qa = (*(struct sl_conn *const *)a)->q.bytes;
	uint64_t qb = (*(struct sl_conn *const *)b)->q.bytes;

	return qa < qb ? 1 : qa > qb ? -1 : 0;
}

/*
 * A pause that does not drain. Subscribers that are reading, however slowly,
 * only need time (a saturated host drains kernel socket buffers first, for
 * seconds): only those that took no byte in the last whole second, the ones
 * holding the publishers for nothing, are evicted, largest queue first. Runs
 * at the end of the 1 s tick's sweep, which has set bytes_per_second.
 */
static void check_pacing(struct sl_gateway *gw)
{
	uint64_t mark = pace_resume_mark(gw);
	struct sl_conn *c, **stalled;
	size_t n = 0, i;

	resume_publishers(gw);
	if (!gw->paused_head || sl_mono_ns() - gw->paused_since_ns < PACE_GRACE_S * 1000000000ull)
		return;
	/*
	 * Sorted once, not a scan per eviction: thousands of stalled readers among
	 * tens of thousands of connections would otherwise hold the loop for a
	 * second. Without memory for the list the next tick tries again.
	 */
	for (c = gw->conns; c; c = c->next)
		n += stalled_reader(c);
	stalled = n ? malloc(n * sizeof(*stalled)) : NULL;
	if (!stalled)
		return;
	n = 0;
	for (c = gw->conns; c; c = c->next)
		if (stalled_reader(c))
			stalled[n++] = c;
	qsort(stalled, n, sizeof(*stalled), by_queue_desc);
	/* Each eviction drops that reader's unsent backlog (not TLS's) and may free it. */
	for (i = 0; i < n && sl_gateway_queued_bytes(gw) > mark; i++)
		sl_sub_evict(stalled[i], SL_EVICT_PACING_STALL);
	free(stalled);
	resume_publishers(gw);
}

/*
 * Below this many connections the writer threads are not woken: their
 * wake-up costs more than the writes (and a handful of subscribers' latency
 * would wait for it).
 */
#define FLUSH_PARALLEL_MIN 32
/* Connections a thread takes at a time from the flush list. */
#define FLUSH_CHUNK 8

static void flush_job_run(void *ctx, size_t index, unsigned worker)
{
	struct sl_gateway *gw = ctx;

	flush_write(gw, &gw->jobs[index], worker);
}

/*
 * A subscriber's socket takes at most this much it cannot send yet; the rest
 * of its backlog waits in the daemon's queue, whose bytes all subscribers
 * share. Without it a reader that falls behind has megabytes queued in the
 * kernel, copied once per subscriber and cold by the time they are read: in
 * S1 (docs/BENCHMARKS.md) about a gigabyte of TCP memory, and readers paying
 * twice the CPU per event. It does not limit bytes in flight, so a long fat
 * path is still filled.
 */
#define SUB_NOTSENT_LOWAT (128 * 1024)

/*
 * What a subscriber's socket is sure to take: after POLLOUT its unsent bytes
 * are under half of SUB_NOTSENT_LOWAT (tcp_poll wakes a writer at notsent * 2
 * < lowat), so a write of that half goes in whole. On a metered socket this
 * spares the meter's resync (kern.h), ~5 µs of CPU and ~9 µs of the loop's
 * time each (docs/BENCHMARKS.md), which every write stopped short by the
 * kernel costs: a backlogged reader otherwise has one per POLLOUT. Only the
 * first short write of a backlog still needs one.
 */
static size_t write_budget(const struct sl_conn *c)
{
	if (c->wr_armed && c->metered && (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE))
		return SUB_NOTSENT_LOWAT / 2;
	return SIZE_MAX;
}

/*
 * Before a write of a metered TLS connection: the kernel's ring gets the
 * first SL_REPLY_MARKS reply records not yet written (one map update, only
 * when one of them is new to it), and the write stops before the record
 * after them, which the next write's ring holds. Returns the bytes the
 * write may offer (SIZE_MAX: no bound).
 */
static size_t sync_reply_marks(struct sl_gateway *gw, struct sl_conn *c)
{
	struct sl_marks *m = c->reply_marks;
	__u64 offsets[SL_REPLY_MARKS];
	uint32_t n, i;

	if (!m || !c->metered || !gw->kern)
		return SIZE_MAX;
	sl_marks_drop_below(m, c->bytes_out);
	if (!m->count)
		return SIZE_MAX;
	n = m->count < SL_REPLY_MARKS ? m->count : SL_REPLY_MARKS;
	if (sl_marks_at(m, n - 1) > m->pushed_last) {
		for (i = 0; i < n; i++)
			offsets[i] = sl_marks_at(m, i);
		/* A socket the meter no longer has counts nothing: the write goes on. */
		if (sl_kern_sock_set_reply_marks(gw->kern, c->fd, offsets, n))
			return SIZE_MAX;
		m->pushed_last = offsets[n - 1];
	}
	return m->count > SL_REPLY_MARKS ? sl_marks_at(m, SL_REPLY_MARKS) - c->bytes_out : SIZE_MAX;
}

/* Moves the flush list into gw->jobs, as much as fits (the rest stays listed). */
static size_t take_flush_list(struct sl_gateway *gw)
{
	struct sl_conn *c;
	size_t n = 0;

	while ((c = gw->flush_head)) {
		if (n == gw->jobs_cap) {
			size_t cap = gw->jobs_cap ? gw->jobs_cap * 2 : 256;
			struct sl_flush_job *jobs = realloc(gw->jobs, cap * sizeof(*jobs));

			if (!jobs)
				break;
			gw->jobs = jobs;
			gw->jobs_cap = cap;
		}
		gw->flush_head = c->flush_next;
		if (!gw->flush_head)
			gw->flush_last = NULL;
		c->flush_next = NULL;
		c->in_flush_list = false;
		if (!c->write_closed) {
			size_t budget = write_budget(c), upto = sync_reply_marks(gw, c);

			gw->jobs[n++] =
			    (struct sl_flush_job){ .c = c,
						   .budget = upto < budget ? upto : budget,
						   .marks_bound = upto < budget };
		}
	}
	return n;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct sl_gateway *gw = arg;
	size_t n, i;

	(void)fd;
	(void)what;
	n = take_flush_list(gw);
	journal_sync(gw);
	/*
	 * Nothing else runs on the loop until the writes are done, and each job
	 * touches only its connection's queue and socket: the threads need no
	 * locks. Reference counts, counters and everything else a write leads
	 * to are settled on the loop afterwards.
	 */
	if (gw->writers && n >= FLUSH_PARALLEL_MIN)
		sl_workpool_run(gw->writers, n, FLUSH_CHUNK, flush_job_run, gw);
	else
		for (i = 0; i < n; i++)
			flush_write(gw, &gw->jobs[i], 0);
	/* A close settles only its own connection: the later jobs stay valid. */
	for (i = 0; i < n; i++)
		flush_settle(gw, &gw->jobs[i]);
	for (i = 0; i <= sl_workpool_threads(gw->writers); i++)
		gw->writer[i].sent.count = 0;
	if (gw->flush_head)
		event_active(gw->flush_ev, EV_WRITE, 0);
	resume_publishers(gw);
}

static void flush_list_add(struct sl_conn *c)
{
	if (c->in_flush_list || c->write_closed)
		return;
	c->in_flush_list = true;
	/* First queued, first written: the oldest events of a burst go out first. */
	c->flush_next = NULL;
	if (c->gw->flush_last)
		c->gw->flush_last->flush_next = c;
	else
		c->gw->flush_head = c;
	c->gw->flush_last = c;
	event_active(c->gw->flush_ev, EV_WRITE, 0);
}

void sl_conn_schedule_flush(struct sl_conn *c)
{
	/*
	 * A socket that took less than it was offered is full: writing again
	 * before it reports room (on_write) would only fail, or move a sliver,
	 * and cost a sendmsg plus the meter's re-sync each loop iteration.
	 */
	if (!c->wr_armed)
		flush_list_add(c);
}

/*
 * A closing connection whose last bytes (the close frame) cannot go out
 * because the peer reads nothing would hold its socket and memory forever:
 * after this long it is reset instead.
 */
#define CLOSE_DEADLINE_S 10

static void on_close_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;
	struct linger rst = { 1, 0 };

	(void)fd;
	(void)what;
	if (c->write_closed) {
		/* The end of the linger (conn_linger): the peer had its two seconds. */
		sl_conn_close_now(c);
		return;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	if (!c->close_reason)
		c->close_reason = "close deadline: the peer read nothing";
	sl_conn_close_now(c);
}

/*
 * The TLS record about to be queued (at the queue's end) is a reply, not an
 * event. Kept until a write reaches it (sync_reply_marks): one map update
 * per write, not per reply, and no mark lost however many are queued.
 */
static int mark_reply(struct sl_conn *c)
{
	if (!c->reply_marks)
		c->reply_marks = calloc(1, sizeof(*c->reply_marks));
	return c->reply_marks ? sl_marks_push(c->reply_marks, c->bytes_out + c->q.bytes) : -ENOMEM;
}

void sl_conn_finish(struct sl_conn *c)
{
	if (c->tls && c->tls_ready && !c->closing) {
		/* In TLS 1.3 the close_notify alert travels as an application-data record too. */
		if (c->metered)
			mark_reply(c);
		sl_tls_shutdown(c->tls);
	}
	c->closing = true;
	event_del(c->rd);
	sl_conn_schedule_flush(c);
	/*
	 * A refusal keeps its handshake deadline to the end (linger included):
	 * answering it costs no longer than a handshake may take.
	 */
	if (c->refusal && c->timer)
		return;
	if (c->timer)
		event_free(c->timer);
	c->timer = evtimer_new(c->gw->base, on_close_deadline, c);
	if (c->timer) {
		struct timeval deadline = { CLOSE_DEADLINE_S, 0 };

		evtimer_add(c->timer, &deadline);
	}
}

void sl_conn_answer_and_close(struct sl_conn *c, char *resp, size_t len)
{
	if (!resp || sl_conn_send_owned(c, (uint8_t *)resp, len)) {
		sl_conn_close_now(c);
		return;
	}
	sl_conn_finish(c);
}

int sl_conn_meter(struct sl_conn *c, int framing)
{
	struct sl_sock_config cfg = { 0 };
	int ret;

	if (!c->gw->kern)
		return 0;
	cfg.framing = (enum sl_framing)framing;
	cfg.app_slot = c->slot;
	if (c->plan) {
		cfg.max_conn_time_ns = c->plan->max_connection_time_ns;
		cfg.rate_bps = c->plan->bytes_per_second;
		cfg.burst_bytes = c->plan->burst_bytes;
	}
	/*
	 * Inside TLS the kernel sees records only: TLS framing, set once after
	 * the handshake. The application and its plan are known only after the
	 * HTTP request inside it: they are set then, the framing left as it is
	 * (they never were, and no TLS subscriber counted for its application).
	 */
	if (c->tls && c->metered)
		return framing == SL_FRAMING_TLS ? 0
						 : sl_kern_sock_set_plan(c->gw->kern, c->fd, &cfg);
	if (c->tls && framing != SL_FRAMING_TLS)
		return 0;
	/* Framing starts after everything written or queued so far (the handshake answer). */
	cfg.frame_start = (uint32_t)(c->bytes_out + c->q.bytes);
	ret = sl_kern_sock_configure(c->gw->kern, c->fd, &cfg);
	c->metered = ret == 0;
	if (c->metered)
		c->q.cork_from = SL_OUTQ_CORK_METERED;
	return ret;
}

bool sl_conn_head_may_end(struct sl_conn *c)
{
	size_t from = c->head_scanned;

	c->head_scanned = (uint32_t)c->in_len;
	/* The first read is parsed whole, so a bad request line is answered at once. */
	return !from || c->in_len >= c->gw->cfg->limits.max_header_bytes ||
	       memchr(c->in + from, '\n', c->in_len - from);
}

int sl_conn_send(struct sl_conn *c, const void *data, size_t len)
{
	sl_conn_rate_charge(c, len);
	if (!c->tls)
		return sl_outq_push_copy(&c->q, data, len);
	if (!c->tls_ready)
		return -ENOTCONN;
	/* The record about to be queued is a reply: say so before the kernel sees it. */
	if (c->metered && mark_reply(c))
		return -ENOMEM;
	return sl_tls_write(c->tls, data, len);
}

int sl_conn_send_owned(struct sl_conn *c, uint8_t *data, size_t len)
{
	int ret;

	if (!c->tls) {
		sl_conn_rate_charge(c, len);
		return sl_outq_push_owned(&c->q, data, len);
	}
	ret = sl_conn_send(c, data, len);
	free(data);
	return ret;
}

int sl_conn_send_event_tls(struct sl_conn *c, struct sl_event *ev, const struct sl_bytes *b)
{
	size_t at = 0, chunk;
	int ret;

	if (!b)
		return -ENOMEM;
	/* One record per event; an event over 16 KiB continues in records marked as replies. */
	while (at < b->len) {
		chunk = b->len - at > 16384 ? 16384 : b->len - at;
		if (at && c->metered && mark_reply(c))
			return -ENOMEM;
		ret = sl_tls_write(c->tls, b->data + at, chunk);
		if (ret)
			return ret;
		at += chunk;
	}
	sl_outq_tail_is_event(&c->q, ev, b->len);
	return 0;
}

static void answer_refusal(struct sl_conn *c);

/*
 * TLS: finish the handshake, then decrypt what is there into c->in. Returns
 * -1 if closed or done reading (a refusal, answered as soon as TLS is up).
 */
static int tls_read(struct sl_conn *c, size_t room)
{
	const char *why = "handshake failed";
	enum sl_auth_reason cert_refused;
	ssize_t n;
	int ret;

	if (!c->tls_ready) {
		ret = sl_tls_handshake(c->tls, &why, &cert_refused);
		sl_conn_schedule_flush(c);
		if (ret == -EAGAIN)
			return 0;
		if (ret) {
			c->close_reason = why;
			c->gw->stats.handshake_errors++;
			/* A refused client certificate is a failed authentication, as a token. */
			if (cert_refused != SL_AUTH_OK) {
				c->gw->stats.auth_failures[cert_refused]++;
				SL_WARN("{\"msg\":\"auth_failed\",\"reason\":\"%s\",\"credential\":"
					"\"certificate\",\"peer\":\"%s:%u\"}",
					sl_auth_reason_name(cert_refused), c->peer, c->peer_port);
			}
			/* The alert wolfSSL queued says why (bad_certificate, protocol_version). */
			sl_conn_finish(c);
			return -1;
		}
		c->tls_ready = true;
		if (c->refusal) {
			answer_refusal(c);
			return -1;
		}
		sl_conn_meter(c, SL_FRAMING_TLS);
	}
	while (room) {
		n = sl_tls_read(c->tls, c->in + c->in_len, room);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			c->close_reason = n == 0 ? "peer closed" : "TLS error";
			sl_conn_close_now(c);
			return -1;
		}
		c->in_len += (size_t)n;
		room -= (size_t)n;
	}
	return 0;
}

/*
 * A publisher flooding the gateway is read up to this many times per loop
 * iteration: more events per iteration means more frames per subscriber
 * writev, and the kernel meter's cost is mostly per sendmsg (KERNEL-NOTES §5).
 */
#define PUB_READ_ROUNDS 16

/* Not read until a write brings its replies to half their bound (flush_settle). */
static void hold_replies(struct sl_conn *c)
{
	event_del(c->rd);
	c->replies_held = true;
}

/* Handles the whole frames in a publisher's buffer; true when it is not to be read now. */
static bool pub_frames(struct sl_conn *c)
{
	sl_pub_on_bytes(c);
	if (c->closing)
		return true;
	if (sl_conn_replies_backlogged(c)) {
		hold_replies(c);
		return true;
	}
	return false;
}

/*
 * A chunked body carries its framing in the buffer too: 5 bytes of it for
 * each byte of payload sent in 1-byte chunks ("1\r\nX\r\n"). An admin
 * request may take that much room; a frame on any other connection has no
 * such framing.
 */
#define CHUNKED_WIRE_PER_BYTE 6

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;
	struct sl_gateway *gw = c->gw;
	size_t cap_limit = gw->cfg->limits.max_frame_bytes *
			       (c->kind == SL_CONN_ADMIN ? CHUNKED_WIRE_PER_BYTE : 1) +
			   gw->cfg->limits.max_header_bytes;
	int rounds = c->kind == SL_CONN_PUB && !c->tls ? PUB_READ_ROUNDS : 1;
	size_t room = 0;
	ssize_t n = 0;

	(void)what;
	if (c->kind == SL_CONN_PUB && c->hello_done && pacing_over(gw)) {
		pause_publisher(c);
		return;
	}
	if (sl_conn_replies_backlogged(c)) {
		hold_replies(c);
		return;
	}
	/* Frames left in the buffer at the reply bound go before anything new. */
	if (c->kind == SL_CONN_PUB && c->in_len && pub_frames(c))
		return;
	/* So does a publish a pause held (sl_gateway_pace): no byte may come to wake it. */
	if (c->input_held) {
		c->input_held = false;
		goto take;
	}
again:
	if (c->in_cap - c->in_len < 4096) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
		uint8_t *in;

		/* Bounded: nothing a peer sends may grow a buffer past one frame. */
		if (cap > cap_limit + 8192)
			cap = cap_limit + 8192;
		if (cap <= c->in_len) {
			c->close_reason = "input over the frame limit";
			/* A client sending a request is owed an answer, not a reset. */
			if (c->kind == SL_CONN_ADMIN && !c->closing)
				sl_admin_over_limit(c);
			else
				sl_conn_close_now(c);
			return;
		}
		in = realloc(c->in, cap);
		if (!in) {
			sl_conn_close_now(c);
			return;
		}
		c->in = in;
		c->in_cap = cap;
	}
	if (c->tls) {
		size_t before = c->in_len;

		if (tls_read(c, c->in_cap - c->in_len) || c->in_len == before)
			return;
	} else {
		room = c->in_cap - c->in_len;
		n = recv(fd, c->in + c->in_len, room, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			if (!c->close_reason)
				c->close_reason = n == 0 ? "peer closed" : "read failed";
			sl_conn_close_now(c);
			return;
		}
		c->in_len += (size_t)n;
	}
take:
	gw->reading = c; /* sl_conn_close_now clears it: then c is gone */
	switch (c->kind) {
	case SL_CONN_HTTP:
		sl_sub_on_http(c);
		break;
	case SL_CONN_WS:
		/* Any bytes answer the keepalive (sl_sub_keepalive): the client is there. */
		c->ws_ping_out = false;
		sl_sub_on_ws_bytes(c);
		break;
	case SL_CONN_SSE:
		c->in_len = 0; /* an event stream has nothing to say back */
		break;
	case SL_CONN_PUB:
		if (pub_frames(c))
			return;
		/* The publisher filled the buffer: there is likely more waiting. */
		if (!c->tls && (size_t)n == room && --rounds > 0 && !pacing_over(gw))
			goto again;
		read_tls_rest(c);
		return;
	case SL_CONN_ADMIN:
		sl_admin_on_http(c);
		return;
	}
	/*
	 * A subscriber rarely has anything to say: keep no input buffer between
	 * its messages, so 10,000 idle subscribers do not hold 8 KiB each (the
	 * next read allocates again; the allocator hands back the same block).
	 */
	if (gw->reading != c)
		return;
	gw->reading = NULL;
	if (c->in && !c->in_len && c->kind != SL_CONN_HTTP && !c->tls) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	read_tls_rest(c);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->kind == SL_CONN_ADMIN && sl_admin_timed_out(c)) {
		c->close_reason = "handshake timeout, answered";
		return;
	}
	if (c->kind == SL_CONN_HTTP || c->kind == SL_CONN_ADMIN ||
	    (c->kind == SL_CONN_PUB && !c->hello_done)) {
		c->close_reason = "handshake timeout";
		sl_conn_close_now(c);
	}
}

/* What a connection refused before its HTTP request is answered (SPEC: handshake failures). */
struct sl_refusal {
	int status;
	const char *code, *detail, *extra_headers;
};

static const struct sl_refusal refused_limit = { 429, "connection_limit",
						 "the gateway's connection limit is reached",
						 "Retry-After: 1\r\n" };
static const struct sl_refusal refused_shutdown = { 503, "shutting_down",
						    "the gateway is shutting down", NULL };

/*
 * refusal NULL: one of the gateway's connections. Otherwise a connection
 * accepted only to be answered (refuse): it goes on gw->refusals, not
 * gw->conns, and counts in no limit, total or listing. Owns fd from here on:
 * closed with the connection, or at once when NULL is returned.
 */
static struct sl_conn *conn_new(struct sl_gateway *gw, int fd, enum sl_conn_kind kind, bool tls,
				const struct sockaddr *sa, const struct sl_refusal *refusal)
{
	int notsent_lowat = SUB_NOTSENT_LOWAT;
	struct timeval tv = sl_timeval_ns(gw->cfg->limits.handshake_timeout_ns);
	struct sl_conn *c = NULL, **head;
	socklen_t len = sizeof(uint64_t);
	int one = 1;

	/* 64-byte aligned: the fields every delivery touches fill two cache lines (conn.h). */
	if (posix_memalign((void **)&c, 64, sizeof(*c))) {
		close(fd);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->gw = gw;
	c->fd = fd;
	c->kind = kind;
	c->refusal = refusal;
	c->on_refusals = refusal != NULL;
	c->id = ++gw->next_id;
	c->opened_ns = sl_mono_ns();
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c->cookie, &len))
		c->cookie = c->id;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(in6->sin6_port);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (kind == SL_CONN_HTTP)
		setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &notsent_lowat,
			   sizeof(notsent_lowat));
	sl_outq_init(&c->q);
	/*
	 * Pacing holds the publishers for what subscribers have not read; a
	 * publisher's own unread replies counted there paused every publisher
	 * for as long as it read nothing (replies_backlogged bounds them).
	 */
	c->q.total = kind == SL_CONN_PUB ? NULL : &gw->ready_bytes;
	sl_ws_decoder_init(&c->ws, gw->cfg->limits.max_frame_bytes);
	if (tls)
		c->tls = sl_tls_new(gw->tls_ctx, fd, &c->q);
	c->rd = event_new(gw->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wr = event_new(gw->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->timer = evtimer_new(gw->base, on_handshake_timeout, c);
	head = conn_list(gw, c);
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
	if (c->on_refusals) {
		gw->nrefusals++;
	} else {
		gw->nconns++;
		gw->stats.conns_total++;
	}
	if (kind == SL_CONN_PUB)
		gw->npub_silent++;
	else if (kind == SL_CONN_ADMIN)
		gw->nadmin++;
	else if (!c->on_refusals)
		gw->nhandshaking++;
	if (!c->rd || !c->wr || !c->timer || (tls && !c->tls) || event_add(c->rd, NULL) ||
	    evtimer_add(c->timer, &tv)) {
		sl_conn_close_now(c);
		return NULL;
	}
	return c;
}

/* The HTTP answer of a refusal (malloc'd), or NULL out of memory. */
static char *refusal_response(const struct sl_refusal *r, size_t *len)
{
	return sl_http_error(r->status, r->code, r->detail, r->extra_headers, len);
}

/*
 * One try at answering a plain connection, then close: the fallback when
 * REFUSALS_MAX are in flight. A request already waiting unread may make the
 * close a reset that the client sees before the answer.
 */
static void refuse_at_once(int fd, const struct sl_refusal *r)
{
	size_t len;
	char *resp = refusal_response(r, &len);

	if (resp) {
		ssize_t w = send(fd, resp, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		(void)w;
		free(resp);
	}
	close(fd);
}

/* Queues a refusal's answer (over TLS once the handshake is done) and closes after it. */
static void answer_refusal(struct sl_conn *c)
{
	size_t len;
	char *resp = refusal_response(c->refusal, &len);

	c->close_code = (uint16_t)c->refusal->status;
	c->close_reason = c->refusal->code;
	sl_conn_answer_and_close(c, resp, len);
}

/*
 * Refused connections whose answer may be in flight at once. Each holds a
 * connection (a TLS one a wolfSSL session, and a handshake's CPU) for at
 * most limits.handshake_timeout, linger included (sl_conn_finish). Beyond
 * this many, as under a flood of connections over the limit, a plain one
 * gets refuse_at_once and a TLS one is closed without an answer (its client
 * sees a failed handshake): refusing must stay cheaper than serving.
 */
#define REFUSALS_MAX 64

/*
 * Answers a connection the gateway cannot take (limits, shutdown) like any
 * handshake failure: queued, then closed with a linger so that a request
 * already sent cannot turn the close into a reset that loses the answer. A
 * TLS client cannot read a plaintext answer: its handshake is completed
 * first (tls_read answers then).
 */
static void refuse(struct sl_gateway *gw, int fd, const struct sockaddr *sa, bool tls,
		   const struct sl_refusal *r)
{
	struct sl_conn *c;

	if (gw->nrefusals >= REFUSALS_MAX) {
		if (tls)
			close(fd);
		else
			refuse_at_once(fd, r);
		return;
	}
	c = conn_new(gw, fd, SL_CONN_HTTP, tls, sa, r);
	if (c && !tls)
		answer_refusal(c);
}

/*
 * A Prometheus and a few health checks need a handful of admin connections;
 * the bound keeps a flood of them from the fds the subscribers need.
 */
#define ADMIN_CONNS_MAX 64

/* What limits.max_connections bounds: the subscriber listeners' connections. */
static uint32_t subscriber_conns(const struct sl_gateway *gw)
{
	return gw->nconns - gw->npublishers - gw->npub_silent - gw->nadmin;
}

/*
 * Connections that have not said who they are have pools of their own: on
 * the publisher listener before hello (at most limits.max_publishers), on
 * the admin one (at most ADMIN_CONNS_MAX), and on the subscriber listeners
 * before their handshake is answered (they count in limits.max_connections
 * with the subscribers). A full pool drops its oldest for the newcomer:
 * silent connections, however many and however often renewed, keep no one
 * out, since a backend says hello, a scrape is answered and a subscriber's
 * handshake is taken at once, and they have left the pool before their
 * turn. (Subscriber sockets that never sent a byte held every slot of
 * max_connections until handshake_timeout, and valid clients got 429.)
 * False when there is no room and none could be made.
 */
static bool make_room(struct sl_gateway *gw, enum sl_conn_kind kind)
{
	uint32_t held = kind == SL_CONN_PUB	? gw->npub_silent
			: kind == SL_CONN_ADMIN ? gw->nadmin
						: subscriber_conns(gw);
	uint32_t max = kind == SL_CONN_PUB     ? gw->cfg->limits.max_publishers
		       : kind == SL_CONN_ADMIN ? ADMIN_CONNS_MAX
					       : gw->cfg->limits.max_connections;
	/* The pool's members; the scan stops at the last (gw->conns is newest first). */
	uint32_t pool = kind == SL_CONN_PUB	? gw->npub_silent
			: kind == SL_CONN_ADMIN ? gw->nadmin
						: gw->nhandshaking;
	struct sl_conn *c, *oldest = NULL, *oldest_answered = NULL;
	uint32_t seen = 0;

	if (held < max)
		return true;
	if (!pool)
		return false;
	/*
	 * An admin connection whose authenticated head came in and whose body
	 * is on its way has a request: dropping it would lose that publish.
	 * Subscribers past their handshake are SL_CONN_WS or SL_CONN_SSE. The
	 * scan stops at the pool's last member, near the head for handshakes
	 * and hellos (they have their timeouts): a full gateway of 19,000
	 * subscribers was walked whole at every accept, a millisecond each that
	 * a flood of connects could ask for again and again.
	 */
	for (c = gw->conns; c && seen < pool; c = c->next) {
		if (c->kind != kind || c->hello_done)
			continue;
		seen++;
		if (c->body_end)
			continue;
		if (c->write_closed)
			oldest_answered = c;
		else if (!c->closing)
			oldest = c;
	}
	/*
	 * One answered in full waits up to two seconds for its peer's FIN
	 * (conn_linger) and counts in the pool until then: clients that never
	 * close held a socket each past the bound (100 answered scrapes, 100
	 * sockets). Its answer is out, so dropping it first costs no one a
	 * request.
	 */
	if (oldest_answered) {
		oldest_answered->close_reason = "answered, and the pool is full";
		sl_conn_close_now(oldest_answered);
		return true;
	}
	if (!oldest)
		return false;
	oldest->close_reason = "the oldest connection without a hello or a request, dropped for a "
			       "newcomer";
	sl_conn_close_now(oldest);
	return true;
}

static void on_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct sl_gateway *gw = arg;
	enum sl_conn_kind kind = SL_CONN_HTTP;
	bool tls = lst == gw->sub_tls_lst || lst == gw->pub_tls_lst;

	(void)socklen;
	if (lst == gw->pub_lst || lst == gw->pub_tls_lst)
		kind = SL_CONN_PUB;
	else if (lst == gw->admin_lst)
		kind = SL_CONN_ADMIN;
	if (gw->shutting_down) {
		/* The native protocol has no answer before hello: the publisher sees a close. */
		if (kind == SL_CONN_PUB)
			close(fd);
		else
			refuse(gw, fd, sa, tls, &refused_shutdown);
		return;
	}
	/*
	 * limits.max_publishers counts backends past hello (pub.c); before it,
	 * this. A full admin or publisher pool that cannot drop anyone still
	 * takes the newcomer; a full subscriber listener refuses it.
	 */
	if (!make_room(gw, kind) && kind == SL_CONN_HTTP) {
		refuse(gw, fd, sa, tls, &refused_limit);
		gw->stats.refused++;
		return;
	}
	conn_new(gw, fd, kind, tls, sa, NULL);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

static void on_accept_error(struct evconnlistener *lst, void *arg)
{
	struct timeval pause = { 0, 100000 };

	struct sl_gateway *gw = arg;
	int e = errno;

	/* Out of fds: back off instead of spinning on a listener that stays readable. */
	gw->stats.accept_pauses++;
	if (gw->stats.accept_pauses == 1 || gw->stats.accept_pauses % 100 == 0)
		SL_ERROR("{\"msg\":\"accept_error\",\"error\":\"%s\",\"pauses\":%llu,"
			 "\"detail\":\"accepting paused for 100ms each time\"}",
			 strerror(e), (unsigned long long)gw->stats.accept_pauses);
	evconnlistener_disable(lst);
	event_base_once(evconnlistener_get_base(lst), -1, EV_TIMEOUT, on_accept_resume, lst,
			&pause);
}

static int bind_listener(struct sl_gateway *gw, const struct sl_config_addr *l,
			 struct evconnlistener **out, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[SL_CONFIG_ADDR_BUF];

	*out = NULL;
	*port = 0;
	if (!l->enabled)
		return 0;
	*out = evconnlistener_new_bind(gw->base, on_accept, gw,
				       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					   LEV_OPT_CLOSE_ON_EXEC,
				       1024, (const struct sockaddr *)&l->sa, (int)l->sa_len);
	if (!*out) {
		int e = errno;

		snprintf(err, errlen, "%s:%u:%u: cannot listen on %s: %s",
			 gw->cfg->path ? gw->cfg->path : "config", l->mark.line, l->mark.col,
			 sl_config_addr_format(l, name, sizeof(name)), strerror(e));
		return -e;
	}
	evconnlistener_set_error_cb(*out, on_accept_error);
	if (getsockname(evconnlistener_get_fd(*out), (struct sockaddr *)&ss, &sl) == 0)
		*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static void log_meter_close(void *ctx, const struct sl_close_record *r)
{
	(void)ctx;
	SL_INFO("{\"msg\":\"meter_close\",\"id\":%llu,\"lport\":%u,\"rport\":%u,\"events\":%llu,"
		"\"replies\":%llu,\"bytes\":%llu,\"drops\":%llu,\"bytes_acked\":%llu,"
		"\"srtt_us\":%u,\"retrans\":%u,\"duration_ms\":%llu}",
		(unsigned long long)r->cookie, r->local_port, r->remote_port,
		(unsigned long long)r->events, (unsigned long long)r->replies,
		(unsigned long long)r->bytes, (unsigned long long)r->drops,
		(unsigned long long)r->bytes_acked, r->srtt_us, r->total_retrans,
		(unsigned long long)(r->duration_ns / 1000000));
}

static void on_closes(evutil_socket_t fd, short what, void *arg)
{
	struct sl_gateway *gw = arg;

	(void)fd;
	(void)what;
	sl_kern_closes_consume(gw->kern, log_meter_close, gw);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct sl_gateway *gw = arg;
	struct sl_conn *c;

	(void)fd;
	(void)what;
	/* A walk over 10,000 WebSocket subscribers for no SSE stream held the loop ~1 ms. */
	if (!gw->nsse)
		return;
	for (c = gw->conns; c; c = c->next)
		if (c->kind == SL_CONN_SSE && !c->closing)
			sl_sub_heartbeat(c);
}

/*
 * A connection's part of the 1 s tick: its rates, its series, and, since an
 * idle subscriber keeps no buffers (Redis-style housekeeping), the trims
 * (the input buffer is 8 KiB), here once a second rather than per write.
 */
static void conn_tick_rates(struct sl_gateway *gw, struct sl_conn *c, uint64_t now_s)
{
	uint64_t events = c->kind == SL_CONN_PUB ? c->pub_ok : c->events_out;

	c->events_per_second = events - c->events_at_tick;
	sl_history_tick(&c->history, &gw->stats.hours, now_s - 1, c->events_per_second);
	c->bytes_per_second = c->bytes_out - c->bytes_at_tick;
	c->errors_per_second = c->pub_errors - c->errors_at_tick;
	c->events_at_tick = events;
	c->bytes_at_tick = c->bytes_out;
	c->errors_at_tick = c->pub_errors;
	if (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) {
		if (c->in && !c->in_len) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
		if (!c->events_per_second)
			sl_outq_trim(&c->q);
		sl_conn_plan_tick(c);
	}
	if (c->kind == SL_CONN_WS)
		sl_sub_keepalive(c, c->bytes_per_second != 0);
}

/*
 * Applications count from the kernel's map when the meter runs (it sees
 * what the socket took), else from the daemon's writes.
 */
static void apps_tick_rates(struct sl_gateway *gw, uint64_t now_s)
{
	const struct sl_app_usage *all;
	uint32_t slot;

	if (!gw->apps)
		return;
	all = sl_gateway_usage_all(gw);
	for (slot = 1; slot < SL_MAX_APPS; slot++) {
		struct sl_app_state *a = &gw->apps[slot];
		uint64_t events = a->events_written, bytes = a->bytes_written;
		struct sl_app_usage u;

		if (!gw->slot_ids || !gw->slot_ids[slot] || !gw->slot_ids[slot][0])
			continue;
		if (sl_gateway_kernel_usage(gw, all, slot, &u)) {
			events = u.events_total;
			bytes = u.bytes;
		}
		/*
		 * The first tick sets the base (adopted kernel counts are history, not a
		 * rate), as does a counter that went back (an `app usage` reset).
		 */
		if (!a->rate_based || a->events_at_tick > events || a->bytes_at_tick > bytes) {
			a->events_per_second = a->bytes_per_second = 0;
			a->rate_based = true;
		} else {
			a->events_per_second = events - a->events_at_tick;
			a->bytes_per_second = bytes - a->bytes_at_tick;
		}
		if (!a->series && (a->events_per_second || a->bytes_per_second))
			a->series = calloc(1, sizeof(*a->series));
		if (a->series && (a->events_per_second || a->bytes_per_second))
			sl_series_add(a->series, now_s - 1, a->events_per_second,
				      a->bytes_per_second);
		a->events_at_tick = events;
		a->bytes_at_tick = bytes;
	}
}

/*
 * The rates `sluicectl top`, `stats` and /metrics show, per topic,
 * connection, backend and application, and the series, all at once: at
 * start and after a reload (rates start from the counts as they are then).
 * A sweep under way is overtaken.
 */
void sl_gateway_tick_rates(struct sl_gateway *gw)
{
	uint64_t now_s = sl_now_ns() / 1000000000ull;
	struct sl_conn *c, *next;

	gw->sweep_next = NULL;
	gw->sweeping = false;
	sl_router_tick_rates(gw->router, now_s - 1);
	/* Moved on first: a tick may close c (keepalive, quota). */
	for (c = gw->conns; c; c = next) {
		next = c->next;
		conn_tick_rates(gw, c, now_s);
	}
	apps_tick_rates(gw, now_s);
}

/*
 * What the tick's sweep visits per loop iteration. One walk over 10,000
 * subscribers (rates, series, trims, soft bounds) held the loop for 2-5 ms
 * each second: every event published meanwhile waited for it, the tail of
 * S3's latency (docs/BENCHMARKS.md). A slice of 512 is about 0.1 ms. The
 * topics' walk (ageing, rates, series) took 3 ms at 100,000 topics and 30 ms
 * at a million; 2,048 of them are about 0.1 ms too.
 */
#define SWEEP_CONNS 512
#define SWEEP_TOPICS 2048

/* One slice (whole: all that is left); true, after check_pacing, when the sweep is over. */
static bool sweep(struct sl_gateway *gw, bool whole)
{
	bool topics_done = sl_router_sweep(gw->router, whole ? UINT32_MAX : SWEEP_TOPICS);
	uint64_t now_mono = sl_mono_ns();
	struct sl_conn *c;
	unsigned n;

	for (n = 0; gw->sweep_next && (whole || n < SWEEP_CONNS); n++) {
		c = gw->sweep_next;
		/* Moved on first: the soft bound may evict c. */
		gw->sweep_next = c->next;
		conn_tick_rates(gw, c, gw->sweep_now_s);
		sl_conn_check_soft_bound(c, now_mono);
	}
	if (gw->sweep_next || !topics_done)
		return false;
	gw->sweeping = false;
	check_pacing(gw);
	return true;
}

/* A zero timeout: the loop polls its sockets before the next slice. */
static void sweep_on(struct sl_gateway *gw)
{
	static const struct timeval next_iteration = { 0, 0 };

	if (!sweep(gw, false))
		event_add(gw->sweep_ev, &next_iteration);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweep_on(arg);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct sl_gateway *gw = arg;
	uint64_t now_s = sl_now_ns() / 1000000000ull;

	(void)fd;
	(void)what;
	apps_tick_rates(gw, now_s);
	/*
	 * A loop too busy to finish a sweep in a second ends it here, whole:
	 * started over instead, its tail would never get its soft bounds
	 * checked, nor the pacing its look at stalled readers.
	 */
	if (gw->sweeping)
		sweep(gw, true);
	sl_router_sweep_start(gw->router, sl_now_ns(), now_s - 1);
	gw->sweeping = true;
	gw->sweep_now_s = now_s;
	gw->sweep_next = gw->conns;
	sweep_on(gw);
	if (++gw->ticks % 10 == 0)
		sl_gateway_save_state(gw);
}

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(((struct sl_gateway *)arg)->base, NULL);
}

/*
 * A connection still in its HTTP handshake when the drain starts: answered
 * 503 now, or, on TLS before the handshake is done, as soon as it is.
 */
static void refuse_in_handshake(struct sl_conn *c)
{
	c->refusal = &refused_shutdown;
	if (!c->tls || c->tls_ready)
		answer_refusal(c);
}

/*
 * SIGTERM/SIGINT: close every client with 1001, flush, exit. The listeners
 * keep accepting during the drain so that new clients get an answer
 * (on_accept: 503 shutting_down, or a publisher's close). A disabled
 * listener would still complete TCP handshakes into its backlog, and those
 * clients would wait for an answer that never comes.
 */
static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sl_gateway *gw = arg;
	struct timeval grace = { 2, 0 };
	struct sl_conn *c, *next;

	(void)what;
	if (gw->shutting_down)
		return;
	gw->shutting_down = true;
	SL_LIFECYCLE("{\"msg\":\"shutdown\",\"signal\":%d,\"connections\":%u}", (int)sig,
		     gw->nconns);
	for (c = gw->conns; c; c = next) {
		next = c->next;
		if (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE)
			sl_sub_close(c, 1001, "gateway shutting down");
		else if (c->kind == SL_CONN_HTTP && !c->closing)
			refuse_in_handshake(c);
		else if (c->kind == SL_CONN_PUB)
			sl_conn_close_now(c);
	}
	gw->drain_ev = evtimer_new(gw->base, on_drained, gw);
	if (gw->drain_ev)
		evtimer_add(gw->drain_ev, &grace);
}

/*
 * SIGHUP: load the certificate and key again (a renewed certificate needs
 * no restart). New connections get the new context; live ones keep theirs
 * (wolfSSL counts the context's references). A bad file changes nothing.
 */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	sl_gateway_reload(arg, NULL, NULL);
}

static void on_idle_check(evutil_socket_t fd, short what, void *arg)
{
	struct sl_gateway *gw = arg;

	(void)fd;
	(void)what;
	/* Leave early once every subscriber is flushed and closed and every refusal answered. */
	if (gw->shutting_down && !gw->conns && !gw->refusals)
		event_base_loopexit(gw->base, NULL);
}

/* The loop's sink, and the writer threads the config asks for (none: the loop writes alone). */
static int start_writers(struct sl_gateway *gw)
{
	uint32_t cfg = gw->cfg->write_threads;
	unsigned want = cfg == SL_CONFIG_THREADS_AUTO ? sl_workpool_auto_threads(8) : cfg;

	if (want) {
		gw->writers = sl_workpool_new(want);
		if (!gw->writers)
			SL_WARN("{\"msg\":\"write_threads_off\",\"threads\":%u,\"error\":\"%s\","
				"\"detail\":\"the loop writes alone\"}",
				want, strerror(errno));
	}
	gw->writer = calloc(sl_workpool_threads(gw->writers) + 1, sizeof(*gw->writer));
	return gw->writer ? 0 : -ENOMEM;
}

int sl_gateway_new(struct sl_gateway **out, const struct sl_config *cfg, struct sl_kern *kern,
		   struct sl_auth *auth, struct sl_policy *policy, char *err, size_t errlen)
{
	static const char *const everything[] = { ">" };
	struct sl_router_opts ropts = { 0 };
	struct timeval tv;
	struct sl_gateway *gw;
	int ret;

	*out = NULL;
	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return -ENOMEM;
	gw->cfg = cfg;
	gw->start_path = cfg->path;
	sl_log_level = cfg->log.level;
	gw->kern = kern;
	gw->auth = auth;
	gw->stats.series = calloc(1, sizeof(*gw->stats.series));
	gw->policy = policy;
	gw->anonymous.id = "anonymous";
	gw->anonymous.subscribe = (const char **)everything;
	gw->anonymous.n_subscribe = 1;
	gw->base = event_base_new();
	ret = start_writers(gw);
	if (ret)
		goto fail;
	ropts.ring_count = cfg->retention.count;
	ropts.ring_age_ns = cfg->retention.age_ns;
	ropts.max_topics = cfg->limits.max_topics;
	ropts.hours = &gw->stats.hours;
	gw->stats.hours.max = cfg->metrics.max_series;
	gw->router = sl_router_new(&ropts);
	if (gw->router)
		sl_router_set_accept_hook(gw->router, event_accepted, gw);
	if (!gw->base || !gw->router || !gw->stats.series) {
		ret = -ENOMEM;
		goto fail;
	}
	open_journal(gw);
	{
		struct sl_sse_buf hb = { 0 };

		if (sl_sse_encode_comment("hb", &hb) == 0)
			gw->heartbeat.data = (uint8_t *)sl_sse_buf_take(&hb, &gw->heartbeat.len);
		sl_sse_buf_fini(&hb);
		if (!gw->heartbeat.data) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = bind_listener(gw, &cfg->listeners.subscribers.plain, &gw->sub_lst, &gw->sub_port, err,
			    errlen);
	if (!ret)
		ret = bind_listener(gw, &cfg->listeners.publishers.plain, &gw->pub_lst,
				    &gw->pub_port, err, errlen);
	if (!ret)
		ret = bind_listener(gw, &cfg->listeners.admin.plain, &gw->admin_lst,
				    &gw->admin_port, err, errlen);
	if (!ret &&
	    (cfg->listeners.subscribers.tls.enabled || cfg->listeners.publishers.tls.enabled))
		ret = sl_tls_ctx_new(&gw->tls_ctx, cfg->tls.cert_file, cfg->tls.key_file,
				     cfg->tls.client_ca_file, err, errlen);
	if (!ret)
		ret = bind_listener(gw, &cfg->listeners.subscribers.tls, &gw->sub_tls_lst,
				    &gw->sub_tls_port, err, errlen);
	if (!ret)
		ret = bind_listener(gw, &cfg->listeners.publishers.tls, &gw->pub_tls_lst,
				    &gw->pub_tls_port, err, errlen);
	if (ret)
		goto fail;
	if (kern) {
		/* Sockets accepted on these ports are metered; framing is set per socket. */
		if (gw->sub_port)
			ret = sl_kern_port_add(kern, gw->sub_port, SL_FRAMING_RAW);
		if (!ret && gw->pub_port)
			ret = sl_kern_port_add(kern, gw->pub_port, SL_FRAMING_LEN4);
		if (!ret && gw->admin_port)
			ret = sl_kern_port_add(kern, gw->admin_port, SL_FRAMING_RAW);
		if (!ret && gw->sub_tls_port)
			ret = sl_kern_port_add(kern, gw->sub_tls_port, SL_FRAMING_RAW);
		if (!ret && gw->pub_tls_port)
			ret = sl_kern_port_add(kern, gw->pub_tls_port, SL_FRAMING_RAW);
		if (ret) {
			snprintf(err, errlen,
				 "cannot register the listener ports with the meter: %s",
				 strerror(-ret));
			goto fail;
		}
		gw->closes_ev = event_new(gw->base, sl_kern_closes_fd(kern), EV_READ | EV_PERSIST,
					  on_closes, gw);
		if (!gw->closes_ev || event_add(gw->closes_ev, NULL)) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = sl_control_listen(gw, &gw->control_lst, err, errlen);
	if (ret)
		goto fail;
	/* Out of fds, the control listener too backs off instead of spinning (and logging). */
	if (gw->control_lst)
		evconnlistener_set_error_cb(gw->control_lst, on_accept_error);
	ret = sl_gateway_apply_policy(gw);
	if (ret) {
		snprintf(err, errlen, "cannot apply the plans to the meter: %s", strerror(-ret));
		goto fail;
	}
	gw->flush_ev = event_new(gw->base, -1, 0, on_flush, gw);
	gw->heartbeat_ev = event_new(gw->base, -1, EV_PERSIST, on_heartbeat, gw);
	gw->expire_ev = event_new(gw->base, -1, EV_PERSIST, on_expire, gw);
	gw->sig_term = evsignal_new(gw->base, SIGTERM, on_stop_signal, gw);
	gw->sig_int = evsignal_new(gw->base, SIGINT, on_stop_signal, gw);
	gw->sig_hup = evsignal_new(gw->base, SIGHUP, on_reload_signal, gw);
	gw->idle_ev = event_new(gw->base, -1, EV_PERSIST, on_idle_check, gw);
	gw->sweep_ev = evtimer_new(gw->base, on_sweep, gw);
	gw->journal_ev = evtimer_new(gw->base, on_journal_step, gw);
	if (!gw->flush_ev || !gw->heartbeat_ev || !gw->expire_ev || !gw->sig_term || !gw->sig_int ||
	    !gw->sig_hup || !gw->idle_ev || !gw->sweep_ev || !gw->journal_ev) {
		ret = -ENOMEM;
		goto fail;
	}
	tv = sl_timeval_ns(cfg->sse.heartbeat_ns);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_sec = 15;
	event_add(gw->heartbeat_ev, &tv);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	event_add(gw->expire_ev, &tv);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	event_add(gw->idle_ev, &tv);
	event_add(gw->sig_term, NULL);
	event_add(gw->sig_int, NULL);
	event_add(gw->sig_hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	*out = gw;
	return 0;
fail:
	sl_gateway_free(gw);
	return ret ? ret : -ENOMEM;
}

uint16_t sl_gateway_port(const struct sl_gateway *gw, char which)
{
	switch (which) {
	case 's':
		return gw->sub_port;
	case 'p':
		return gw->pub_port;
	case 'a':
		return gw->admin_port;
	default:
		return 0;
	}
}

/* The TCP listeners (the control socket stays until sl_gateway_free). */
static void close_listeners(struct sl_gateway *gw)
{
	struct evconnlistener **all[] = { &gw->sub_lst, &gw->pub_lst, &gw->admin_lst,
					  &gw->sub_tls_lst, &gw->pub_tls_lst };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (*all[i])
			evconnlistener_free(*all[i]);
		*all[i] = NULL;
	}
}

/*
 * Once the loop is over the exit is under way. Freeing the signal events
 * gives SIGTERM, SIGINT and SIGHUP their default action back, and a second
 * stop signal would then kill the process in the middle of saving its
 * state: they stay pending instead (the worker threads block all signals).
 */
static void block_stop_signals(void)
{
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
}

int sl_gateway_run(struct sl_gateway *gw)
{
	int ret;

	/* Rates start from the counts as they are now (adopted pins included). */
	sl_gateway_tick_rates(gw);
	SL_LIFECYCLE("{\"msg\":\"ready\",\"subscribers\":%u,\"publishers\":%u,\"admin\":%u,"
		     "\"subscribers_tls\":%u,\"publishers_tls\":%u,\"meter\":%s}",
		     gw->sub_port, gw->pub_port, gw->admin_port, gw->sub_tls_port, gw->pub_tls_port,
		     gw->kern ? "true" : "false");
	ret = event_base_dispatch(gw->base) < 0 ? -EIO : 0;
	block_stop_signals();
	/* The drain is over: from now on the kernel refuses a client rather than queue it. */
	close_listeners(gw);
	sl_gateway_save_state(gw);
	return ret;
}

void sl_gateway_free(struct sl_gateway *gw)
{
	if (!gw)
		return;
	while (gw->conns)
		sl_conn_close_now(gw->conns);
	while (gw->refusals)
		sl_conn_close_now(gw->refusals);
	close_listeners(gw);
	sl_control_close_all(gw);
	if (gw->control_lst) {
		evconnlistener_free(gw->control_lst);
		unlink(gw->cfg->listeners.control.path);
	}
	sl_tls_ctx_free(gw->tls_ctx);
	if (gw->flush_ev)
		event_free(gw->flush_ev);
	if (gw->heartbeat_ev)
		event_free(gw->heartbeat_ev);
	if (gw->expire_ev)
		event_free(gw->expire_ev);
	if (gw->sweep_ev)
		event_free(gw->sweep_ev);
	if (gw->journal_ev)
		event_free(gw->journal_ev);
	if (gw->closes_ev)
		event_free(gw->closes_ev);
	if (gw->sig_term)
		event_free(gw->sig_term);
	if (gw->sig_int)
		event_free(gw->sig_int);
	if (gw->sig_hup)
		event_free(gw->sig_hup);
	if (gw->drain_ev)
		event_free(gw->drain_ev);
	if (gw->idle_ev)
		event_free(gw->idle_ev);
	sl_journal_close(gw->journal, gw->router);
	if (gw->router)
		sl_router_free(gw->router);
	free(gw->heartbeat.data);
	free(gw->stats.series);
	if (gw->apps)
		for (uint32_t i = 0; i < SL_MAX_APPS; i++)
			free(gw->apps[i].series);
	free(gw->apps);
	free(gw->app_usage);
	if (gw->slot_ids)
		for (uint32_t i = 0; i < SL_MAX_APPS; i++)
			free(gw->slot_ids[i]);
	free(gw->slot_ids);
	free(gw->slot_index);
	sl_policy_free(gw->own_policy);
	sl_auth_free(gw->own_auth);
	if (gw->own_cfg) {
		sl_config_free(gw->own_cfg);
		free(gw->own_cfg);
	}
	if (gw->base)
		event_base_free(gw->base);
	if (gw->writer)
		for (unsigned i = 0; i <= sl_workpool_threads(gw->writers); i++)
			sl_outq_sink_fini(&gw->writer[i].sent);
	free(gw->writer);
	sl_workpool_free(gw->writers);
	free(gw->jobs);
	free(gw);
}

const char *sl_publish_error_name(enum sl_publish_error kind)
{
	static const char *const names[SL_PUB_ERR__COUNT] = {
		"malformed", "forbidden",	"invalid_topic",
		"too_large", "too_many_topics", "internal",
	};

	return (unsigned int)kind < SL_PUB_ERR__COUNT ? names[kind] : "internal";
}

int sl_publish_status(int err)
{
	switch (err) {
	case -EINVAL:
	case -EMSGSIZE:
		return 400;
	case -ENOSPC:
		return 429;
	default:
		return 500;
	}
}

void sl_gateway_publish_refused(struct sl_conn *from, enum sl_publish_error kind)
{
	struct sl_gateway *gw = from->gw;

	if ((unsigned int)kind >= SL_PUB_ERR__COUNT)
		kind = SL_PUB_ERR_INTERNAL;
	gw->stats.publish_errors++;
	gw->stats.publish_errors_by_kind[kind]++;
	if (from->slot && gw->apps)
		gw->apps[from->slot].publish_errors[kind]++;
}

int sl_gateway_publish(struct sl_conn *from, const char *topic, size_t topic_len, const void *data,
		       size_t len, uint64_t *seq, const char **why)
{
	struct sl_gateway *gw = from->gw;
	int ret;

	if (len > gw->cfg->limits.max_frame_bytes) {
		*why = "payload over max_frame_bytes";
		sl_gateway_publish_refused(from, SL_PUB_ERR_TOO_LARGE);
		return -EMSGSIZE;
	}
	/* One clock read for the plan checks of every delivery of this event. */
	gw->deliver_mono_ns = sl_mono_ns();
	gw->accept_source = from->source;
	ret = sl_router_publish(gw->router, topic, topic_len, data, len, sl_now_ns(),
				sl_sub_deliver, gw, seq);
	gw->deliver_mono_ns = 0;
	gw->accept_source = NULL;
	if (ret == -EINVAL) {
		*why = "invalid topic (NATS-style subject, no wildcards)";
		sl_gateway_publish_refused(from, SL_PUB_ERR_INVALID_TOPIC);
	} else if (ret == -ENOSPC) {
		*why = "too many topics (limits.max_topics)";
		sl_gateway_publish_refused(from, SL_PUB_ERR_TOO_MANY_TOPICS);
	} else if (ret) {
		*why =
		    ret == -ENOMEM ? "out of memory: the event was not accepted" : "internal error";
		sl_gateway_publish_refused(from, SL_PUB_ERR_INTERNAL);
	} else {
		gw->stats.published++;
		if (from->slot && gw->apps)
			gw->apps[from->slot].published++;
	}
	return ret;
}
