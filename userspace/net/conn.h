/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The gateway's internals, shared by gateway.c (listeners, connection
 * lifecycle, flushing), sub.c (WebSocket and SSE subscribers), pub.c (native
 * publishers), admin.c (admin HTTP), and admit.c, plan.c and reload.c (each
 * with its own header). Not a public API.
 */
#ifndef SLUICE_NET_CONN_H
#define SLUICE_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <jansson.h>

#include "auth/auth.h"
#include "config/config.h"
#include "net/http.h"
#include "net/marks.h"
#include "net/outq.h"
#include "net/tls.h"
#include "net/ws.h"
#include "policy/policy.h"
#include "route/journal.h"
#include "route/router.h"
#include "stats/stats.h"

struct sl_kern;
struct sl_workpool;
struct sl_flush_job;
struct sl_refusal;
struct sl_replay;

/* Packed: one byte, so that `replaying` fits the hot lines of struct sl_conn. */
enum __attribute__((packed)) sl_conn_kind {
	SL_CONN_HTTP = 0,  /* subscriber listener, reading the handshake */
	SL_CONN_WS = 1,	   /* WebSocket subscriber */
	SL_CONN_SSE = 2,   /* Server-Sent Events subscriber */
	SL_CONN_PUB = 3,   /* native publisher */
	SL_CONN_ADMIN = 4, /* admin listener, one request per connection */
};

/* One writing thread's share: what its flushes handed back, settled by the loop. */
struct sl_writer {
	struct sl_outq_sink sent;
	uint64_t flushes; /* connections it wrote (counted by the loop) */
};

struct sl_conn {
	/*
	 * Read or written for every event delivered and every flush: the first
	 * two cache lines (conns are allocated 64-byte aligned). With 1,000
	 * subscribers on a topic each event touches every subscriber's lines;
	 * spread over the struct they were the daemon's main cost in S1.
	 */
	struct sl_gateway *gw;
	struct sl_conn *flush_next; /* connections with bytes to write this iteration */
	enum sl_conn_kind kind;
	bool in_flush_list;
	bool closing;	   /* write what is queued, then close */
	bool write_closed; /* FIN sent, waiting for the peer's */
	bool metered;	   /* the kernel meter has this socket */
	bool replaying;	   /* a resume is under way: some live events wait for it (replay.h) */
	int fd;
	uint32_t slot;		    /* the application's kernel slot; 0 = none */
	const struct sl_plan *plan; /* the application's plan; NULL = no limits */
	struct sl_tls *tls;	    /* NULL on plain listeners */
	uint64_t last_gseq;	    /* a connection gets an event once, whatever its patterns */
	uint64_t soft_since_ns;	    /* queue above the soft bound since */
	struct sl_outq q;
	uint64_t bytes_out;
	uint64_t events_out;

	struct sl_conn *prev, *next; /* all connections */
	bool wr_armed;		     /* c->wr is added: a short write waits for room */
	bool tls_ready;		     /* handshake done */
	uint16_t close_code;
	uint16_t peer_port;
	uint64_t id;
	uint64_t cookie; /* socket cookie: the meter's key, the operator's `id` */
	char peer[64];

	struct event *rd, *wr, *timer;
	uint8_t *in;
	size_t in_len, in_cap;
	const char *close_reason;
	char *own_close_reason;	      /* an operator's kick reason, which close_reason points to */
	struct sl_marks *reply_marks; /* a metered TLS connection's (marks.h); NULL: none yet */

	struct sl_auth_result auth; /* who the client is and what it may do */
	bool counted;		    /* counts toward the application's connections */
	bool open_access;	    /* let in without credentials (subscribers auth: open) */
	uint32_t head_scanned;	    /* HTTP head bytes already looked at (sl_conn_head_may_end) */
	struct event *limit_timer;  /* max_connection_time */
	struct event *expiry_timer; /* the JWT's exp: the credential ends the connection */
	int64_t tokens;		    /* byte-rate mirror of the kernel's bucket */
	uint64_t tokens_ns, over_rate_since_ns;
	struct sl_ws_decoder ws;
	char **subs; /* subscribed patterns */
	uint32_t nsubs;
	struct sl_replay *replay; /* resumes under way (replay.c); NULL: none */
	uint32_t body_end;   /* an admin request waits for its body up to here (0: head not read) */
	uint16_t ws_quiet_s; /* seconds nothing was written to it, or since the ping (ws.ping) */
	bool ws_ping_out;    /* a ping went out and the client has sent nothing since */

	uint64_t opened_ns;
	char name[64]; /* publisher name from hello */
	bool hello_done;
	bool read_paused;  /* a publisher held back by pacing (on gw->paused_head) */
	bool input_held;   /* paused with a publish still in c->in: it is taken first */
	bool replies_held; /* a publisher not read until its unread replies go out */
	struct sl_conn *pause_next;
	uint64_t last_ping_ns; /* publisher heartbeat (sl_mono_ns) */
	uint64_t pub_ok, pub_errors;
	/* Over the last whole second: events delivered (a backend: published), bytes written. */
	uint64_t events_per_second, bytes_per_second, errors_per_second;
	uint64_t events_at_tick, bytes_at_tick, errors_at_tick;
	struct sl_history history; /* events_per_second, one hour (SPEC "Analytics") */
	/* Its deliveries' publish→write latency; allocated at its first delivery. */
	struct sl_latency *latency;
	/*
	 * The newest event a resume of it sent (gseq): deliveries up to there are
	 * a resume's, late by the client's absence, not the gateway's latency.
	 */
	uint64_t replayed_gseq;
	/* A backend's: its events' deliveries (they hold references); NULL: none. */
	struct sl_event_source *source;
	/*
	 * Refused before its HTTP request was served (connection limit,
	 * shutdown): answered with this (over TLS once the handshake is done),
	 * then closed, within its handshake deadline.
	 */
	const struct sl_refusal *refusal;
	bool on_refusals; /* on gw->refusals: not one of the gateway's connections */
};

/* A field added above q or events_out would push the delivery path onto a third line. */
_Static_assert(offsetof(struct sl_conn, events_out) + sizeof(uint64_t) <= 128,
	       "the fields every delivery touches must fit the first two cache lines");

/* Why a publish was refused: the `kind` label of sluice_publish_errors_total. */
enum sl_publish_error {
	SL_PUB_ERR_MALFORMED = 0,	/* not a valid envelope / request */
	SL_PUB_ERR_FORBIDDEN = 1,	/* the application may not publish on the topic */
	SL_PUB_ERR_INVALID_TOPIC = 2,	/* not a subject, or a wildcard */
	SL_PUB_ERR_TOO_LARGE = 3,	/* payload over limits.max_frame_bytes */
	SL_PUB_ERR_TOO_MANY_TOPICS = 4, /* limits.max_topics reached */
	SL_PUB_ERR_INTERNAL = 5,	/* out of memory */
	SL_PUB_ERR__COUNT = 6,
};

const char *sl_publish_error_name(enum sl_publish_error kind);

/* The daemon's view of an application, for graceful enforcement. */
struct sl_app_state {
	uint32_t conns;	       /* subscriber connections open */
	uint64_t window_start; /* UTC start of the quota window `events` counts in */
	uint64_t events;       /* events queued to the application in that window */
	/* Written to the application's subscribers since the start (the daemon's count). */
	uint64_t events_written, bytes_written;
	/* The kernel's counts (the daemon's with `bpf: off`) over the last whole second. */
	uint64_t events_per_second, bytes_per_second;
	uint64_t events_at_tick, bytes_at_tick;
	bool rate_based;	   /* *_at_tick hold a first reading: the next tick gives a rate */
	struct sl_series *series;  /* per second for an hour; allocated on first traffic */
	struct sl_latency latency; /* its subscribers' deliveries, publish → written */
	/* What its publishers sent: accepted, and refused by kind (SPEC "Analytics"). */
	uint64_t published;
	uint64_t publish_errors[SL_PUB_ERR__COUNT];
};

/*
 * The answer to a request refused with -err (sl_gateway_publish, a message
 * that does not decode): the HTTP status, which WebSocket and native `err`
 * codes reuse (SPEC). 400 for what the client sent (-EINVAL, -EMSGSIZE),
 * 429 for limits.max_topics (-ENOSPC), 500 for anything else: the gateway's
 * own failure (-ENOMEM), which says to send the same again later, where a
 * 4xx says not to.
 */
int sl_publish_status(int err);

/* What a resume found: events to replay, none (it was current), or a gap. */
enum sl_resume_outcome {
	SL_RESUME_REPLAY,
	SL_RESUME_CURRENT,
	SL_RESUME_GAP,
	SL_RESUME__COUNT,
};

/* Entries of gw->slot_index: twice the slots, so probes stay short. */
#define SL_SLOT_INDEX_SIZE (2 * SL_MAX_APPS)

struct sl_gateway_stats {
	uint64_t conns_total;
	uint64_t published;
	uint64_t publish_errors;
	uint64_t publish_errors_by_kind[SL_PUB_ERR__COUNT];
	uint64_t delivered;
	uint64_t written_bytes; /* everything written to clients (TLS: before encryption) */
	uint64_t evicted;
	uint64_t handshake_errors;
	uint64_t refused;	   /* connections over limits.max_connections / max_publishers */
	uint64_t accept_pauses;	   /* accept() failed (out of fds): the listener paused */
	uint64_t publisher_pauses; /* times publishers were held back by pacing */
	uint64_t meter_resyncs;	   /* metered sockets re-inserted after a short write */
	/* WebSocket `since`, SSE Last-Event-ID / lastEventID: by outcome (replay.h) */
	uint64_t resumes[SL_RESUME__COUNT];
	uint64_t replayed;     /* events a resume took from the rings */
	uint64_t refills_held; /* refills cut short by the resumes' share (replay.c) */
	uint32_t resuming;     /* connections with a resume under way */
	uint64_t auth_failures[SL_AUTH_REASON_COUNT];
	struct sl_latency latency; /* publish accepted → last byte written, per delivery */
	struct sl_series *series;  /* delivered events and bytes per second, one hour */
	/* What the per-connection and per-topic series may cost together. */
	struct sl_hour_budget hours;
};

struct sl_gateway {
	struct event_base *base;
	const struct sl_config *cfg; /* the config in force: the caller's, or a reload's */
	/* What SIGHUP reloads: the file the daemon started with (-c), not the last one loaded. */
	const char *start_path;
	struct sl_kern *kern;
	struct sl_router *router;
	struct sl_journal *journal; /* NULL: retention.journal off, or it could not open */
	uint64_t journal_mark_errors_logged;
	struct evconnlistener *sub_lst, *pub_lst, *admin_lst, *sub_tls_lst, *pub_tls_lst;
	uint16_t sub_port, pub_port, admin_port, sub_tls_port, pub_tls_port;
	struct sl_tls_ctx *tls_ctx;
	struct evconnlistener *control_lst;
	struct control_conn *control_conns; /* control.c: open ones, newest first */
	uint32_t ncontrol;
	struct sl_auth *auth;
	struct sl_policy *policy;
	struct sl_app_state *apps;	/* per kernel slot */
	struct sl_app_usage *app_usage; /* sl_gateway_usage_all's table, per kernel slot */
	uint32_t app_usage_n;		/* its slots read, 0 to app_usage_n - 1 */
	char **slot_ids; /* application id of each kernel slot: stable across reloads */
	/* slot_ids by id: open addressing on the id's hash, 0 empty (admit.c) */
	uint16_t *slot_index;
	/* what a reload loaded: owned here (the first config belongs to the caller) */
	struct sl_config *own_cfg;
	struct sl_auth *own_auth;
	struct sl_policy *own_policy;
	struct sl_config_app anonymous; /* open listeners without a `public` application */
	struct event *flush_ev, *heartbeat_ev, *closes_ev, *expire_ev;
	struct event *sig_term, *sig_int, *sig_hup, *drain_ev, *idle_ev;
	struct sl_conn *conns;
	struct sl_conn *flush_head, *flush_last; /* connections to flush, in order */
	/*
	 * Writer threads (config write_threads): a long flush list is written
	 * by the loop and them together; NULL: the loop writes alone. writer[]
	 * has one entry per thread, 0 being the loop's.
	 */
	struct sl_workpool *writers;
	struct sl_writer *writer;
	struct sl_flush_job *jobs;
	size_t jobs_cap;
	struct sl_conn *reading;  /* the connection on_read is handling; NULL once it is closed */
	uint64_t deliver_mono_ns; /* while an event fans out: its sl_mono_ns(), else 0 */
	struct sl_event_source *accept_source; /* while sl_gateway_publish runs: the event's */
	uint32_t nconns;
	uint32_t npublishers; /* publishers past hello: what limits.max_publishers bounds */
	uint32_t npub_silent; /* publishers before hello: make_room bounds them */
	uint32_t nadmin;      /* admin listener connections: make_room bounds them */
	uint32_t nsse;	      /* SSE streams: without any, the heartbeat walks nothing */
	/*
	 * Subscriber listener connections before their handshake is answered:
	 * make_room looks for one to drop only when there is one, since a full
	 * gateway of subscribers would otherwise scan them all at every accept.
	 */
	uint32_t nhandshaking;
	/*
	 * Connections accepted only to be answered 429 or 503 (gateway.c,
	 * refuse): off gw->conns and nconns, at most REFUSALS_MAX.
	 */
	struct sl_conn *refusals;
	uint32_t nrefusals;
	uint64_t next_id;
	bool shutting_down;
	uint64_t ticks; /* seconds of the 1 s housekeeping timer */
	/*
	 * The 1 s tick's walk over the topics (the router's) and the
	 * connections, a slice per loop iteration (gateway.c, on_sweep): whether
	 * one is under way, the next connection to visit (NULL: none left), the
	 * second it counts for, and the zero-timeout timer of the next slice.
	 */
	bool sweeping;
	struct sl_conn *sweep_next;
	uint64_t sweep_now_s;
	struct event *sweep_ev;
	struct event *journal_ev; /* the next slice of the journal's rewrite (sl_journal_step) */
	/*
	 * Publisher pacing: the bytes the output queues hold, in two sums (their
	 * total is sl_gateway_queued_bytes): blocked, of connections whose socket
	 * stopped short and waits for room, and ready, of the others; and the
	 * publishers not being read while the total is over
	 * limits.max_queued_bytes_total.
	 */
	uint64_t ready_bytes;
	uint64_t blocked_bytes;
	struct sl_conn *paused_head;
	uint64_t paused_since_ns;  /* sl_mono_ns() when the current pause began; 0: none */
	struct sl_bytes heartbeat; /* one SSE comment record, shared by every stream */
	struct sl_gateway_stats stats;
};

/* gateway.c */
static inline uint64_t sl_gateway_queued_bytes(const struct sl_gateway *gw)
{
	return gw->ready_bytes + gw->blocked_bytes;
}

/*
 * A publisher's acks, errors and pongs wait in its own queue. One that does
 * not read them is not read either, so TCP pushes back on it alone: its
 * replies stay within limits.max_queued_bytes_per_connection and one frame's
 * answer (sl_pub_on_bytes stops between frames there, since a read of 5-byte
 * bad frames, each answered with some 50 bytes, would add ten times the
 * read), and, kept out of the pacing total (conn_new), it cannot pause the
 * other publishers.
 */
static inline bool sl_conn_replies_backlogged(const struct sl_conn *c)
{
	return c->kind == SL_CONN_PUB &&
	       c->q.bytes >= c->gw->cfg->limits.max_queued_bytes_per_connection;
}
uint64_t sl_now_ns(void);
uint64_t sl_mono_ns(void);

/* A duration in nanoseconds as libevent's timers take it. */
static inline struct timeval sl_timeval_ns(uint64_t ns)
{
	return (struct timeval){ (time_t)(ns / 1000000000ull),
				 (suseconds_t)(ns % 1000000000ull / 1000) };
}
void sl_conn_schedule_flush(struct sl_conn *c);
void sl_conn_close_now(struct sl_conn *c);
/* Flush, then FIN, then close; a peer that reads nothing is reset after 10 s. */
void sl_conn_finish(struct sl_conn *c);
/* Sends a malloc'd HTTP answer (NULL: out of memory) and closes after it. */
void sl_conn_answer_and_close(struct sl_conn *c, char *resp, size_t len);
int sl_conn_meter(struct sl_conn *c, int framing);
/*
 * Whether the bytes read since the last call can change what the HTTP parser
 * says of the head: it ends only at a line end, and is refused at latest when
 * it reaches limits.max_header_bytes. A client sending a byte at a time then
 * costs a scan of each byte once instead of a parse of the whole head per byte.
 */
bool sl_conn_head_may_end(struct sl_conn *c);
/* Writes through TLS when the connection has it; replies are marked for the meter. */
int sl_conn_send(struct sl_conn *c, const void *data, size_t len);
int sl_conn_send_owned(struct sl_conn *c, uint8_t *data, size_t len);
/* sl_conn_send_event over TLS: one record per event. */
int sl_conn_send_event_tls(struct sl_conn *c, struct sl_event *ev, const struct sl_bytes *b);

/* The encoding a subscriber's events go out in. */
static inline enum sl_encoding sl_conn_encoding(const struct sl_conn *c)
{
	return c->kind == SL_CONN_WS ? SL_ENC_WS : SL_ENC_SSE;
}

/*
 * Queues event ev as b, its encoding for this connection (NULL: -ENOMEM).
 * Inline: once per subscriber and event, the fan-out's innermost call.
 */
static inline int sl_conn_send_event(struct sl_conn *c, struct sl_event *ev,
				     const struct sl_bytes *b)
{
	if (!c->tls)
		return sl_outq_push_event(&c->q, ev, b);
	return sl_conn_send_event_tls(c, ev, b);
}
/* Counts one refused publish (the ones sl_gateway_publish refuses are counted there). */
void sl_gateway_publish_refused(struct sl_conn *from, enum sl_publish_error kind);
/* An event from a publisher: counted for the gateway, its application and, a backend's, for it. */
int sl_gateway_publish(struct sl_conn *from, const char *topic, size_t topic_len, const void *data,
		       size_t len, uint64_t *seq, const char **why);
/*
 * For publishes that do not come over the native protocol (HTTP, a WebSocket
 * `pub`): true when the queues are over limits.max_queued_bytes_total. c is
 * then not read until they drain, and what is left in c->in is taken first
 * when it is; the caller stops taking c's input.
 */
bool sl_gateway_pace(struct sl_conn *c);
/*
 * Once a second: the rates `sluicectl top`, `stats` and /metrics show, per
 * topic, connection, backend and application, and each application's series.
 * Applications count from the kernel's map when the meter runs (it sees what
 * the socket took), else from the daemon's writes.
 */
void sl_gateway_tick_rates(struct sl_gateway *gw);

/* sub.c */
void sl_sub_on_http(struct sl_conn *c);
void sl_sub_on_ws_bytes(struct sl_conn *c);
void sl_sub_deliver(void *sub, struct sl_event *ev, void *ctx);
/*
 * Queues ev (encoded as enc, sl_event_encoding for c) for c as a delivery:
 * held to the queue bound, the plan and the quota, which may close c.
 */
void sl_sub_push(struct sl_conn *c, struct sl_event *ev, const struct sl_bytes *enc);
void sl_sub_close(struct sl_conn *c, uint16_t code, const char *reason);

/* The bound that made a subscriber a slow consumer: the rest of its close reason. */
enum sl_evict_bound {
	SL_EVICT_PLAN_HARD,	/* the plan's max_queued_bytes */
	SL_EVICT_PLAN_SOFT,	/* the plan's soft_queued_bytes, held past grace */
	SL_EVICT_CONN_LIMIT,	/* limits.max_queued_bytes_per_connection */
	SL_EVICT_PACING_STALL,	/* read nothing while pacing held the publishers */
	SL_EVICT_REPLAY_BEHIND, /* the ring dropped events its resume had not sent */
};

/* Counts the eviction and closes with 4003 "slow consumer evicted: <the bound>". */
void sl_sub_evict(struct sl_conn *c, enum sl_evict_bound bound);
void sl_sub_drop_subs(struct sl_conn *c);
void sl_sub_heartbeat(struct sl_conn *c);
/*
 * A WebSocket subscriber's part of the 1 s tick (wrote: bytes went to it in
 * that second). Quiet for ws.ping, it gets a ping; a ping still unanswered
 * (nothing read from it) ws.ping later closes it with 1002. Connections
 * with traffic get none: TCP's retransmissions and the queue bounds find a
 * dead reader there.
 */
void sl_sub_keepalive(struct sl_conn *c, bool wrote);

/* pub.c */
void sl_pub_on_bytes(struct sl_conn *c);

/* admin.c */
void sl_admin_on_http(struct sl_conn *c);
/*
 * At the handshake timeout: a POST whose head was taken is answered, 408
 * when its body is not all in, 503 when pacing still holds it. False when
 * c has nothing to be answered (it is closed silently then).
 */
bool sl_admin_timed_out(struct sl_conn *c);
/* The request outgrew the input buffer's bound: answered 413 and closed. */
void sl_admin_over_limit(struct sl_conn *c);

#endif
