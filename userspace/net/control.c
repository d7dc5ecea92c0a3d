// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The control socket (SPEC: UNIX socket, mode 0600, framed msgpack): one
 * request per connection, `{op: STR, arg: STR}` in a 4-byte big-endian
 * length frame; the answer is `{ok: true, result: JSON}` or `{ok: false,
 * error: STR[, problems: JSON]}` where JSON is the text of one JSON document
 * (sluicectl prints it as is with -j). Operators only: the socket's mode
 * is the access control.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <jansson.h>
#include <msgpack.h>

#include "config/units.h"
#include "kern/kern.h"
#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/control.h"
#include "net/replay.h"
#include "net/reload.h"
#include "net/tcpinfo.h"
#include "net/ws.h"
#include "route/topic.h"
#include "net/workpool.h"
#include "proto/control_request.h"
#include "proto/envelope.h"

/* Changing to a group the daemon is not in needs CAP_CHOWN, which the unit does not grant. */
#define GROUP_HINT                                                                                 \
	": sluiced must be a member of the group (Group= or SupplementaryGroups= in the unit) "    \
	"or have CAP_CHOWN"

/*
 * A publish→write latency histogram: quantiles as bucket bounds, and the
 * count of each bucket (not cumulative) by its upper bound in µs.
 */
static json_t *latency_json(const struct sl_latency *h)
{
	json_t *buckets = json_object();
	char le[24];
	unsigned i;

	for (i = 0; buckets && i <= SL_LAT_BUCKETS; i++) {
		if (i < SL_LAT_BUCKETS)
			snprintf(le, sizeof(le), "%llu",
				 (unsigned long long)sl_latency_bounds_us[i]);
		json_object_set_new(buckets, i < SL_LAT_BUCKETS ? le : "+Inf",
				    json_integer((json_int_t)h->count[i]));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o*}", "p50",
			 (json_int_t)sl_latency_quantile_us(h, 0.5), "p90",
			 (json_int_t)sl_latency_quantile_us(h, 0.9), "p99",
			 (json_int_t)sl_latency_quantile_us(h, 0.99), "count", (json_int_t)h->total,
			 "buckets", buckets);
}

/* Frames the kernel removed, by the reason's name (SL_DROP_NONE never counts). */
static json_t *drops_by_reason_json(const __u64 *by_reason)
{
	json_t *o = json_object();

	for (int i = 1; o && i < SL_DROP__MAX; i++)
		json_object_set_new(o, sl_drop_reason_name((enum sl_drop_reason)i),
				    json_integer((json_int_t)by_reason[i]));
	return o;
}

/* Refused publishes by kind: the gateway's, or an application's publishers'. */
static json_t *publish_errors_json(const uint64_t *by_kind)
{
	json_t *o = json_object();
	int k;

	for (k = 0; o && k < SL_PUB_ERR__COUNT; k++)
		json_object_set_new(o, sl_publish_error_name((enum sl_publish_error)k),
				    json_integer((json_int_t)by_kind[k]));
	return o;
}

static json_t *app_usage_json(struct sl_gateway *gw, const struct sl_app_usage *all,
			      const struct sl_config_app *app)
{
	const struct sl_plan *plan = gw->policy ? sl_policy_app_plan(gw->policy, app) : NULL;
	uint32_t slot = sl_gateway_slot_for(gw, app->id);
	struct sl_app_usage u;
	uint64_t end;
	/* This window's count, as the handshake check sees it, not the last window's. */
	bool kernel = sl_gateway_app_usage(gw, all, slot, plan, sl_now_ns(), &u, &end);

	return json_pack("{s:s, s:i, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:i, s:s}",
			 "id", app->id, "slot", (int)slot, "plan", plan ? plan->name : NULL,
			 "limit", (json_int_t)(plan ? plan->events_limit : 0), "window_ns",
			 (json_int_t)(plan ? plan->events_window_ns : 0), "window_start_ns",
			 (json_int_t)u.window_start_ns, "window_end_ns", (json_int_t)end, "events",
			 (json_int_t)u.events, "events_total", (json_int_t)u.events_total, "bytes",
			 (json_int_t)u.bytes, "drops", (json_int_t)u.drops, "drops_by_reason",
			 drops_by_reason_json(u.drops_by_reason), "connections",
			 (int)(slot && gw->apps ? gw->apps[slot].conns : 0), "source",
			 kernel ? "kernel" : "daemon");
}

/* The per-second view of an application: its rate and its last minute. */
static void app_rates(struct sl_gateway *gw, const struct sl_config_app *app, json_t *out)
{
	uint32_t slot = sl_gateway_slot_for(gw, app->id);
	const struct sl_app_state *a = slot && gw->apps ? &gw->apps[slot] : NULL;
	uint64_t ev60 = 0, by60 = 0;

	if (!out)
		return;
	if (a && a->series)
		sl_series_last(a->series, sl_now_ns() / 1000000000ull, 60, &ev60, &by60);
	json_object_set_new(out, "events_per_second",
			    json_integer((json_int_t)(a ? a->events_per_second : 0)));
	json_object_set_new(out, "bytes_per_second",
			    json_integer((json_int_t)(a ? a->bytes_per_second : 0)));
	json_object_set_new(out, "events_last_minute", json_integer((json_int_t)ev60));
	if (a) {
		json_object_set_new(out, "latency_us", latency_json(&a->latency));
		json_object_set_new(out, "published", json_integer((json_int_t)a->published));
		json_object_set_new(out, "publish_errors_by_kind",
				    publish_errors_json(a->publish_errors));
	}
	if (!gw->kern && a) {
		/* Without the meter the daemon's writes are the only count. */
		json_object_set_new(out, "events_total",
				    json_integer((json_int_t)a->events_written));
		json_object_set_new(out, "bytes", json_integer((json_int_t)a->bytes_written));
	}
}

/* all: sl_gateway_usage_all's table for a walk over many, else NULL (a lookup of its own). */
static json_t *app_json(struct sl_gateway *gw, const struct sl_app_usage *all,
			const struct sl_config_app *app)
{
	json_t *out = app_usage_json(gw, all, app);

	app_rates(gw, app, out);
	return out;
}

/* N of `app list top N` and `topic list top N`: 1 to SL_CONTROL_TOP_MAX. */
static bool top_n_arg(const char *arg, uint64_t *n)
{
	return arg && !sl_parse_count(arg, n) && *n >= 1 && *n <= SL_CONTROL_TOP_MAX;
}

struct app_rank {
	const struct sl_config_app *app;
	uint64_t events_per_second, events;
};

static int by_app_rate_desc(const void *a, const void *b)
{
	const struct app_rank *x = a, *y = b;

	if (x->events_per_second != y->events_per_second)
		return x->events_per_second < y->events_per_second ? 1 : -1;
	if (x->events != y->events)
		return x->events < y->events ? 1 : -1;
	return strcmp(x->app->id, y->app->id);
}

/*
 * `app list top N` and `sluicectl top`: the N busiest applications (events/s,
 * then events written), ranked on the daemon's own counts; the answer,
 * which costs a kernel lookup and a JSON object each, only for those N.
 */
static json_t *app_top(struct sl_gateway *gw, const char *arg, const char **err)
{
	struct app_rank *v;
	json_t *out;
	uint64_t n;
	uint32_t i, slot;

	if (!top_n_arg(arg, &n)) {
		*err = "top N: N is 1 to 1000";
		return NULL;
	}
	v = calloc(gw->cfg->n_apps + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < gw->cfg->n_apps; i++) {
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		v[i].app = &gw->cfg->apps[i];
		if (slot && gw->apps) {
			v[i].events_per_second = gw->apps[slot].events_per_second;
			v[i].events = gw->apps[slot].events_written;
		}
	}
	qsort(v, gw->cfg->n_apps, sizeof(*v), by_app_rate_desc);
	out = json_array();
	for (i = 0; out && i < gw->cfg->n_apps && i < n; i++)
		json_array_append_new(out, app_json(gw, NULL, v[i].app));
	free(v);
	return out;
}

/* Where a series' seconds come from: an application's, or a connection's or topic's. */
struct series_src {
	const struct sl_series *series;
	const struct sl_history *history;
};

static uint64_t series_src_at(const struct series_src *src, uint64_t t)
{
	if (src->series)
		return sl_series_at(src->series, t);
	return src->history ? sl_history_at(src->history, t) : 0;
}

/* `{app|conn|topic} series X [SECONDS]`: events per complete second, oldest first. */
static json_t *series_json(const char *key, json_t *id, unsigned n, const struct series_src *src)
{
	uint64_t now_s = sl_now_ns() / 1000000000ull, t;
	json_t *arr = json_array();

	for (t = now_s - n; arr && t < now_s; t++)
		json_array_append_new(arr, json_integer((json_int_t)series_src_at(src, t)));
	return json_pack("{s:o, s:I, s:o}", key, id, "start", (json_int_t)(now_s - n),
			 "events_per_second", arr);
}

/* A series request's "ID\nSECONDS" (SECONDS 60 when absent); false with *err when out of range. */
static bool series_arg(const char *arg, char *id, size_t id_size, unsigned *n, const char **err)
{
	const char *nl = arg ? strchr(arg, '\n') : NULL;
	unsigned long secs = nl ? strtoul(nl + 1, NULL, 10) : 60;

	snprintf(id, id_size, "%.*s", nl ? (int)(nl - arg) : (int)strlen(arg ? arg : ""),
		 arg ? arg : "");
	if (secs < 1 || secs > SL_SERIES_HOUR) {
		*err = "the series holds 1 to 3600 seconds";
		return false;
	}
	*n = (unsigned)secs;
	return true;
}

/* A connection's or topic's series, unless the budget refused it one. */
static json_t *history_json(struct sl_gateway *gw, const char *key, json_t *id, unsigned n,
			    const struct sl_history *h, const char **err)
{
	const struct series_src src = { NULL, h };

	if (h->refused && !h->hour) {
		json_decref(id);
		*err = gw->stats.hours.max
			   ? "no series was kept for it: metrics.max_series were all in use when "
			     "it was busy"
			   : "no series are kept: metrics.max_series is 0";
		return NULL;
	}
	return series_json(key, id, n, &src);
}

static const struct sl_config_app *find_app(struct sl_gateway *gw, const char *id, const char **err)
{
	const struct sl_config_app *app = id ? sl_config_app_find(gw->cfg, id) : NULL;

	if (!id)
		*err = "an application id is needed";
	else if (!app)
		*err = "no such application";
	return app;
}

/* events and bytes: deliveries written to subscribers (one event to two clients is 2). */
static json_t *topic_json(const struct sl_router_topic_stat *t, bool detail)
{
	json_t *o = json_pack("{s:s%, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
			      t->name, (size_t)t->name_len, "published", (json_int_t)t->seq, "seq",
			      (json_int_t)t->seq, "retained", (int)t->retained, "oldest_seq",
			      (json_int_t)t->oldest_seq, "events", (json_int_t)t->delivered.events,
			      "bytes", (json_int_t)t->delivered.bytes, "events_per_second",
			      (json_int_t)t->delivered.events_per_second, "bytes_per_second",
			      (json_int_t)t->delivered.bytes_per_second, "p99_us",
			      (json_int_t)sl_latency_quantile_us(&t->delivered.latency, 0.99));

	if (o && detail)
		json_object_set_new(o, "latency_us", latency_json(&t->delivered.latency));
	return o;
}

#define SLOW_CONSUMERS_SHOWN 10

/*
 * The subscribers with the most bytes still queued: the loop flushes every
 * queue each iteration, so what remains is what the client's TCP would not take.
 */
static json_t *slow_consumers_json(struct sl_gateway *gw)
{
	const struct sl_conn *top[SLOW_CONSUMERS_SHOWN];
	const struct sl_conn *c;
	json_t *arr = json_array();
	size_t n = 0, i, j;

	for (c = gw->conns; c; c = c->next) {
		if ((c->kind != SL_CONN_WS && c->kind != SL_CONN_SSE) || !c->q.bytes)
			continue;
		for (i = n; i > 0 && top[i - 1]->q.bytes < c->q.bytes; i--)
			;
		if (i >= SLOW_CONSUMERS_SHOWN)
			continue;
		j = n < SLOW_CONSUMERS_SHOWN ? n++ : n - 1;
		for (; j > i; j--)
			top[j] = top[j - 1];
		top[i] = c;
	}
	for (i = 0; arr && i < n; i++)
		json_array_append_new(
		    arr,
		    json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)top[i]->cookie, "app",
			      sl_conn_app_id(top[i]), "queued_bytes", (json_int_t)top[i]->q.bytes,
			      "over_soft_bound_ms",
			      (json_int_t)(top[i]->soft_since_ns
					       ? (sl_mono_ns() - top[i]->soft_since_ns) / 1000000
					       : 0)));
	return arr;
}

static json_t *stats_json(struct sl_gateway *gw)
{
	const struct sl_gateway_stats *st = &gw->stats;
	struct sl_drop_count drops[SL_DROP__MAX];
	__u64 meter[SL_STAT__MAX];
	json_t *out;
	int i;

	out = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:b}", "connections",
			(int)gw->nconns, "connections_total", (json_int_t)st->conns_total,
			"published", (json_int_t)st->published, "publish_errors",
			(json_int_t)st->publish_errors, "events", (json_int_t)st->delivered,
			"evicted", (json_int_t)st->evicted, "handshake_errors",
			(json_int_t)st->handshake_errors, "topics",
			(int)sl_router_topic_count(gw->router), "meter", gw->kern != NULL);
	if (out)
		json_object_set_new(out, "bytes", json_integer((json_int_t)st->written_bytes));
	if (out)
		json_object_set_new(
		    out, "topics_reclaimed",
		    json_integer((json_int_t)sl_router_topics_reclaimed(gw->router)));
	if (out) {
		json_t *r = json_object();

		for (i = 0; r && i < SL_RESUME__COUNT; i++)
			json_object_set_new(r, sl_replay_outcome_name((enum sl_resume_outcome)i),
					    json_integer((json_int_t)st->resumes[i]));
		if (r) {
			json_object_set_new(r, "replayed_events",
					    json_integer((json_int_t)st->replayed));
			json_object_set_new(r, "under_way", json_integer(st->resuming));
			json_object_set_new(r, "refills_held",
					    json_integer((json_int_t)st->refills_held));
		}
		json_object_set_new(out, "resumes", r);
	}
	if (out && gw->kern && sl_kern_stats(gw->kern, meter) == 0 &&
	    sl_kern_drops(gw->kern, drops) == 0) {
		json_t *m = json_object(), *d = json_object();

		for (i = 0; i < SL_STAT__MAX; i++)
			json_object_set_new(m, sl_meter_stat_name((enum sl_meter_stat)i),
					    json_integer((json_int_t)meter[i]));
		for (i = 1; i < SL_DROP__MAX; i++)
			json_object_set_new(d, sl_drop_reason_name((enum sl_drop_reason)i),
					    json_pack("{s:I, s:I}", "events",
						      (json_int_t)drops[i].frames, "bytes",
						      (json_int_t)drops[i].bytes));
		json_object_set_new(out, "kernel", m);
		json_object_set_new(out, "drops", d);
	}
	if (out) {
		uint64_t now_s = sl_now_ns() / 1000000000ull, ev1, by1, ev60, by60;
		json_t *backends = json_array();
		struct sl_conn *c;

		sl_series_last(st->series, now_s, 1, &ev1, &by1);
		sl_series_last(st->series, now_s, 60, &ev60, &by60);
		json_object_set_new(out, "events_per_second", json_integer((json_int_t)ev1));
		json_object_set_new(out, "bytes_per_second", json_integer((json_int_t)by1));
		json_object_set_new(out, "events_last_minute", json_integer((json_int_t)ev60));
		/* Pacing: what every output queue holds, and how often publishers were held back.
		 */
		json_object_set_new(out, "queued_bytes",
				    json_integer((json_int_t)sl_gateway_queued_bytes(gw)));
		json_object_set_new(out, "publisher_pauses",
				    json_integer((json_int_t)st->publisher_pauses));
		json_object_set_new(out, "publishers_paused",
				    json_boolean(gw->paused_head != NULL));
		json_object_set_new(out, "meter_resyncs",
				    json_integer((json_int_t)st->meter_resyncs));
		/* Who wrote the sockets: the loop (first) and each writer thread. */
		{
			json_t *flushes = json_array();

			for (unsigned t = 0; t <= sl_workpool_threads(gw->writers); t++)
				json_array_append_new(
				    flushes, json_integer((json_int_t)gw->writer[t].flushes));
			json_object_set_new(out, "write_threads",
					    json_integer(sl_workpool_threads(gw->writers)));
			json_object_set_new(out, "flushes_by_thread", flushes);
		}
		json_object_set_new(out, "latency_us", latency_json(&st->latency));
		json_object_set_new(out, "series",
				    json_pack("{s:i, s:i, s:I}", "kept", (int)st->hours.live, "max",
					      (int)st->hours.max, "refused",
					      (json_int_t)st->hours.refused));
		/* Backend health: connected publishers, their heartbeat age and error rate. */
		for (c = gw->conns; c; c = c->next) {
			if (c->kind != SL_CONN_PUB || !c->hello_done)
				continue;
			json_array_append_new(
			    backends,
			    json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "name", c->name, "id",
				      (json_int_t)c->cookie, "app", sl_conn_app_id(c),
				      "heartbeat_age_ms",
				      (json_int_t)((sl_mono_ns() - c->last_ping_ns) / 1000000),
				      "published", (json_int_t)c->pub_ok, "errors",
				      (json_int_t)c->pub_errors));
			json_object_set_new(json_array_get(backends, json_array_size(backends) - 1),
					    "published_per_second",
					    json_integer((json_int_t)c->events_per_second));
			json_object_set_new(json_array_get(backends, json_array_size(backends) - 1),
					    "errors_per_second",
					    json_integer((json_int_t)c->errors_per_second));
		}
		json_object_set_new(out, "backends", backends);
		json_object_set_new(out, "publish_errors_by_kind",
				    publish_errors_json(st->publish_errors_by_kind));
		if (gw->journal) {
			struct sl_journal_stats js;

			sl_journal_get_stats(gw->journal, &js);
			json_object_set_new(
			    out, "journal",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "restored",
				      (json_int_t)js.restored, "appended", (json_int_t)js.appended,
				      "compactions", (json_int_t)js.compactions, "rewrite_failures",
				      (json_int_t)js.rewrite_failures, "write_errors",
				      (json_int_t)js.write_errors, "dropped",
				      (json_int_t)js.dropped, "mark_errors",
				      (json_int_t)js.mark_errors, "floor", (json_int_t)js.floor,
				      "file_bytes", (json_int_t)js.file_bytes));
		}
		json_object_set_new(out, "slow_consumers", slow_consumers_json(gw));
	}
	return out;
}

/*
 * A connection id (its socket cookie), a count (sl_parse_count: digits
 * only) ended by the end of arg or a newline (kick's reason follows one).
 * "12abc", " 12" and "-1" are refused rather than read as 12 or 2^64 - 1.
 */
static bool conn_id_arg(const char *arg, uint64_t *id, const char **err)
{
	char digits[SL_UNITS_BUF_SIZE];
	size_t n = arg ? strcspn(arg, "\n") : 0;

	if (arg && n < sizeof(digits)) {
		memcpy(digits, arg, n);
		digits[n] = '\0';
		if (!sl_parse_count(digits, id))
			return true;
	}
	*err = "a connection id is needed";
	return false;
}

/* `conn kick ID [REASON]`: arg is "ID" or "ID\nREASON"; the id is the socket cookie. */
static json_t *kick(struct sl_gateway *gw, const char *arg, const char **err)
{
	uint64_t id;
	const char *nl, *reason;
	struct sl_conn *c;
	char *own;

	if (!conn_id_arg(arg, &id, err))
		return NULL;
	nl = strchr(arg, '\n');
	reason = nl ? nl + 1 : "disconnected by an operator";
	*err = sl_ws_close_reason_problem(reason);
	if (*err)
		return NULL;
	for (c = gw->conns; c; c = c->next) {
		if (c->cookie != id || c->closing)
			continue;
		/* The request's buffer is gone by the close's log line: c keeps a copy. */
		own = strdup(reason);
		if (!own) {
			*err = "out of memory";
			return NULL;
		}
		free(c->own_close_reason);
		c->own_close_reason = own;
		if (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) {
			sl_sub_close(c, SL_WS_CLOSE_KICKED, own);
		} else {
			c->close_reason = own;
			sl_conn_finish(c);
		}
		SL_INFO("{\"msg\":\"conn_kicked\",\"id\":%llu,\"reason\":\"%s\"}",
			(unsigned long long)id, reason);
		return json_pack("{s:I, s:s}", "kicked", (json_int_t)id, "reason", reason);
	}
	*err = "no such connection";
	return NULL;
}

/*
 * One connection as `conn list` and `conn show` print it: the daemon's view
 * (who, what, queued and written), the kernel meter's counts for the socket
 * and, for `show`, what TCP says the client acknowledged.
 */
static json_t *conn_json(struct sl_gateway *gw, const struct sl_conn *c, bool detail)
{
	static const char *const kinds[] = { "http", "ws", "sse", "publisher", "admin" };
	json_t *subs = json_array(), *o;
	struct sl_sock st;
	uint32_t i;

	for (i = 0; subs && i < c->nsubs; i++)
		json_array_append_new(subs, json_string(c->subs[i]));
	o = json_pack("{s:I, s:s, s:s, s:i, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "id",
		      (json_int_t)c->cookie, "kind",
		      c->kind <= SL_CONN_ADMIN ? kinds[c->kind] : "?", "peer", c->peer, "peer_port",
		      (int)c->peer_port, "app", sl_conn_app_id(c), "subscriptions", subs,
		      "queued_bytes", (json_int_t)c->q.bytes, "written_events",
		      (json_int_t)c->events_out, "written_bytes", (json_int_t)c->bytes_out,
		      "events_per_second", (json_int_t)c->events_per_second, "bytes_per_second",
		      (json_int_t)c->bytes_per_second, "age_ms",
		      (json_int_t)((sl_mono_ns() - c->opened_ns) / 1000000));
	if (o && gw->kern && c->metered && sl_kern_sock_get(gw->kern, c->fd, &st) == 0) {
		json_object_set_new(o, "events", json_integer((json_int_t)st.events));
		json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
		json_object_set_new(o, "replies", json_integer((json_int_t)st.replies));
		json_object_set_new(o, "drops", json_integer((json_int_t)st.drops));
		json_object_set_new(o, "drops_by_reason", drops_by_reason_json(st.drops_by_reason));
	} else if (o) {
		/* Without the meter the daemon's writes are the count (SPEC: bpf off). */
		json_object_set_new(o, "events", json_integer((json_int_t)c->events_out));
		json_object_set_new(o, "bytes", json_integer((json_int_t)c->bytes_out));
	}
	if (o && detail) {
		struct sl_tcp_info ti;

		if (c->latency)
			json_object_set_new(o, "latency_us", latency_json(c->latency));
		json_object_set_new(o, "source",
				    json_string(gw->kern && c->metered ? "kernel" : "daemon"));
		if (c->kind == SL_CONN_PUB)
			json_object_set_new(
			    o, "backend",
			    json_pack("{s:s, s:I, s:I, s:I, s:o*}", "name", c->name, "published",
				      (json_int_t)c->pub_ok, "errors", (json_int_t)c->pub_errors,
				      "heartbeat_age_ms",
				      (json_int_t)((sl_mono_ns() - c->last_ping_ns) / 1000000),
				      "latency_us",
				      c->source ? latency_json(&c->source->latency) : NULL));
		if (c->replaying) {
			/* Where a resume is: its live events wait behind it (replay.h). */
			json_t *cursors = json_array();
			const char *topic;
			uint64_t after;

			for (uint32_t i = 0; cursors && sl_replay_cursor(c, i, &topic, &after); i++)
				json_array_append_new(
				    cursors, topic ? json_pack("{s:s, s:I}", "topic", topic,
							       "after_seq", (json_int_t)after)
						   : json_pack("{s:b, s:I}", "stream", 1,
							       "after_gseq", (json_int_t)after));
			json_object_set_new(o, "resume", cursors);
		}
		/* tcpi_bytes_acked: what the client's TCP confirmed, not what was written. */
		if (sl_tcp_info(c->fd, &ti) == 0)
			json_object_set_new(
			    o, "tcp",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_acked",
				      (json_int_t)ti.bytes_acked, "bytes_received",
				      (json_int_t)ti.bytes_received, "rtt_us",
				      (json_int_t)ti.rtt_us, "retransmits",
				      (json_int_t)ti.retransmits, "unacked", (json_int_t)ti.unacked,
				      "notsent_bytes", (json_int_t)ti.notsent_bytes));
	}
	return o;
}

static const struct sl_conn *find_conn(struct sl_gateway *gw, const char *arg, const char **err)
{
	uint64_t id;
	const struct sl_conn *c;

	if (!conn_id_arg(arg, &id, err))
		return NULL;
	for (c = gw->conns; c; c = c->next)
		if (c->cookie == id && !c->closing)
			return c;
	*err = "no such connection";
	return NULL;
}

/*
 * `conn list [app ID] [topic PATTERN]` when the daemon answers it (a filter,
 * or no meter), a page at a time: arg is "AFTER\nAPP\nPATTERN" (either may
 * be empty), AFTER 0 or the `next` of the page before. A connection matches
 * a topic pattern when one of its subscriptions is that pattern or covers
 * it. Counters come from the kernel meter by socket. Built whole, 10,000
 * connections held the loop for about 0.1 s (a kernel lookup and a JSON
 * object each), and 30,000 came to more than sluicectl takes in one answer.
 */
static json_t *conn_page(struct sl_gateway *gw, const char *arg, const char **err)
{
	char after_s[24] = "", app[SL_CONFIG_MAX_NAME + 1] = "", topic[SL_TOPIC_MAX_LEN + 1] = "";
	const char *nl1 = arg ? strchr(arg, '\n') : NULL;
	const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	size_t app_len = nl2 ? (size_t)(nl2 - nl1 - 1) : 0;
	json_t *conns, *out;
	struct sl_conn *c;
	uint64_t after;
	uint32_t i, n = 0;

	if (!nl2 || (size_t)(nl1 - arg) >= sizeof(after_s)) {
		*err = "a page is asked for in three lines: AFTER, APP, PATTERN";
		return NULL;
	}
	memcpy(after_s, arg, (size_t)(nl1 - arg));
	if (sl_parse_count(after_s, &after)) {
		*err = "a page starts after a connection's position (digits)";
		return NULL;
	}
	conns = json_array();
	out = json_pack("{s:o*}", "conns", conns);
	/* Longer than any id or topic: nothing can match it, and a cut one might. */
	if (!out || app_len >= sizeof(app) || strlen(nl2 + 1) >= sizeof(topic))
		return out;
	memcpy(app, nl1 + 1, app_len);
	strcpy(topic, nl2 + 1);
	/* Newest first, so by falling id: a page goes on below the last one listed. */
	for (c = gw->conns; c && after && c->id >= after; c = c->next)
		;
	for (; c && n < SL_CONTROL_CONN_PAGE; c = c->next) {
		bool match = !topic[0];

		if (app[0] && strcmp(sl_conn_app_id(c), app) != 0)
			continue;
		for (i = 0; !match && i < c->nsubs; i++)
			match = sl_auth_pattern_covers(c->subs[i], topic) ||
				strcmp(c->subs[i], topic) == 0;
		if (!match)
			continue;
		json_array_append_new(conns, conn_json(gw, c, false));
		if (++n == SL_CONTROL_CONN_PAGE && c->next)
			json_object_set_new(out, "next", json_integer((json_int_t)c->id));
	}
	return out;
}

/* `topic list top N`: the N busiest topics (events/s, then events), busiest first. */
static json_t *topic_top(struct sl_gateway *gw, const char *arg, const char **err)
{
	struct sl_router_topic_stat *v;
	json_t *out;
	uint64_t n;
	size_t count, i;

	if (!top_n_arg(arg, &n)) {
		*err = "top N: N is 1 to 1000 (the whole list comes a page at a time)";
		return NULL;
	}
	if (sl_router_top_topics(gw->router, n, SL_RANK_RATE, &v, &count, NULL))
		return NULL;
	out = json_array();
	for (i = 0; out && i < count; i++)
		json_array_append_new(out, topic_json(&v[i], false));
	free(v);
	return out;
}

/*
 * `topic list`, a page at a time from arg (an index in creation order):
 * built whole, 300,000 topics held the loop for 1.6 s, every subscriber
 * waiting, and came to more than sluicectl takes in one answer.
 */
static json_t *topic_page(struct sl_gateway *gw, const char *arg, const char **err)
{
	struct sl_router_topic_stat t;
	json_t *out, *topics;
	uint64_t from, i;

	if (!arg || sl_parse_count(arg, &from)) {
		*err = "a page starts at a topic's index (digits)";
		return NULL;
	}
	topics = json_array();
	for (i = from; topics && i - from < SL_CONTROL_TOPIC_PAGE &&
		       !sl_router_topic_stat_at(gw->router, i, &t);
	     i++)
		json_array_append_new(topics, topic_json(&t, false));
	out = json_pack("{s:o*}", "topics", topics);
	if (out && i < sl_router_topic_count(gw->router))
		json_object_set_new(out, "next", json_integer((json_int_t)i));
	return out;
}

static json_t *do_request(struct sl_gateway *gw, const char *op, const char *arg, const char **err,
			  json_t **problems)
{
	const struct sl_config_app *app;
	json_t *out;
	uint32_t i;

	if (!strcmp(op, "app.list") && arg)
		return app_top(gw, arg, err);
	if (!strcmp(op, "app.list")) {
		const struct sl_app_usage *all = sl_gateway_usage_all(gw);

		out = json_array();
		for (i = 0; out && i < gw->cfg->n_apps; i++)
			json_array_append_new(out, app_json(gw, all, &gw->cfg->apps[i]));
		return out;
	}
	if (!strcmp(op, "app.series")) {
		char id[256];
		unsigned n;

		if (!series_arg(arg, id, sizeof(id), &n, err))
			return NULL;
		app = find_app(gw, arg ? id : NULL, err);
		if (app) {
			uint32_t slot = sl_gateway_slot_for(gw, app->id);
			const struct series_src src = { slot && gw->apps ? gw->apps[slot].series
									 : NULL,
							NULL };

			return series_json("id", json_string(app->id), n, &src);
		}
		return NULL;
	}
	if (!strcmp(op, "conn.series")) {
		const struct sl_conn *c;
		char id[256];
		unsigned n;

		if (!series_arg(arg, id, sizeof(id), &n, err))
			return NULL;
		c = find_conn(gw, arg ? id : NULL, err);
		return c ? history_json(gw, "id", json_integer((json_int_t)c->cookie), n,
					&c->history, err)
			 : NULL;
	}
	if (!strcmp(op, "topic.series")) {
		struct sl_router_topic_stat t;
		char id[512];
		unsigned n;

		if (!series_arg(arg, id, sizeof(id), &n, err))
			return NULL;
		if (sl_router_topic_stat(gw->router, id, &t)) {
			*err = "no such topic";
			return NULL;
		}
		return history_json(gw, "name", json_stringn(t.name, t.name_len), n,
				    &t.delivered.history, err);
	}
	if (!strcmp(op, "app.usage") || !strcmp(op, "app.show")) {
		app = find_app(gw, arg, err);
		if (!app)
			return NULL;
		out = app_json(gw, NULL, app);
		if (out && !strcmp(op, "app.show")) {
			json_t *sub = json_array(), *pub = json_array();

			for (i = 0; i < app->n_subscribe; i++)
				json_array_append_new(sub, json_string(app->subscribe[i]));
			for (i = 0; i < app->n_publish; i++)
				json_array_append_new(pub, json_string(app->publish[i]));
			json_object_set_new(out, "subscribe", sub);
			json_object_set_new(out, "publish", pub);
			json_object_set_new(out, "api_keys", json_integer(app->n_api_keys));
		}
		return out;
	}
	if (!strcmp(op, "policy.show")) {
		if (!gw->policy || sl_policy_to_json(gw->policy, gw->cfg, gw->auth, &out)) {
			*err = "no policy loaded";
			return NULL;
		}
		json_object_set_new(out, "file", json_string(gw->cfg->path ? gw->cfg->path : ""));
		/* The kernel slots are the gateway's (stable by id), not the policy's numbering. */
		{
			json_t *apps = json_object_get(out, "applications"), *a;
			size_t k;

			json_array_foreach(apps, k, a)
			{
				const char *id = json_string_value(json_object_get(a, "id"));

				if (id)
					json_object_set_new(
					    a, "slot", json_integer(sl_gateway_slot_for(gw, id)));
			}
		}
		return out;
	}
	if (!strcmp(op, "policy.try")) {
		if (!arg || arg[0] != '/') {
			*err = "policy try needs the config file as an absolute path";
			return NULL;
		}
		if (sl_gateway_reload_check(gw, arg, problems)) {
			*err = "a load of this file would be refused; nothing would change";
			return NULL;
		}
		return json_pack("{s:s, s:b}", "file", arg, "loads", 1);
	}
	if (!strcmp(op, "policy.load")) {
		if (!arg || arg[0] != '/') {
			*err = "policy load needs the config file as an absolute path";
			return NULL;
		}
		if (sl_gateway_reload(gw, arg, problems)) {
			*err = "the policy was not loaded; nothing changed";
			return NULL;
		}
		return json_pack("{s:s, s:i}", "loaded", arg, "applications", (int)gw->cfg->n_apps);
	}
	if (!strcmp(op, "topic.list"))
		return topic_top(gw, arg, err);
	if (!strcmp(op, "topic.page"))
		return topic_page(gw, arg, err);
	if (!strcmp(op, "topic.show")) {
		struct sl_router_topic_stat t;

		if (!arg || sl_router_topic_stat(gw->router, arg, &t)) {
			*err = "no such topic";
			return NULL;
		}
		return topic_json(&t, true);
	}
	if (!strcmp(op, "stats"))
		return stats_json(gw);
	if (!strcmp(op, "conn.kick"))
		return kick(gw, arg, err);
	if (!strcmp(op, "conn.page"))
		return conn_page(gw, arg, err);
	if (!strcmp(op, "conn.show")) {
		const struct sl_conn *c = find_conn(gw, arg, err);

		return c ? conn_json(gw, c, true) : NULL;
	}
	*err = "unknown request";
	return NULL;
}

/*
 * Control connections open at once. sluicectl holds one for a request and
 * its reply; a script or two beside it need a handful. Past this many the
 * oldest is dropped for the newcomer (like the admin listener's pool): a
 * client that opens connections and sends nothing must not take the fds
 * the subscribers need (out of them, no listener accepts).
 */
#define CONTROL_CONNS_MAX 64

struct control_conn {
	struct sl_gateway *gw;
	struct bufferevent *bev;
	struct event *deadline;
	struct control_conn *prev, *next; /* gw->control_conns, newest first */
	bool replied;			  /* the reply is queued: only its write is left */
};

static void control_free(struct control_conn *cc)
{
	struct sl_gateway *gw = cc->gw;

	if (cc->prev)
		cc->prev->next = cc->next;
	else
		gw->control_conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	gw->ncontrol--;
	if (cc->deadline)
		event_free(cc->deadline);
	bufferevent_free(cc->bev);
	free(cc);
}

void sl_control_close_all(struct sl_gateway *gw)
{
	while (gw->control_conns)
		control_free(gw->control_conns);
}

static void control_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	control_free(arg);
}

/*
 * limits.handshake_timeout from now, in all: a timeout that each byte
 * restarts let a client that sends (or reads) a byte now and then hold
 * its connection and buffers for as long as it liked.
 */
static void control_arm_deadline(struct control_conn *cc)
{
	struct timeval tv = sl_timeval_ns(cc->gw->cfg->limits.handshake_timeout_ns);

	evtimer_add(cc->deadline, &tv);
}

static void control_done(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;

	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
		control_free(cc);
}

static void control_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *cc = arg;

	/*
	 * A client that shuts its side once the request is sent (nc -N, socat)
	 * still reads the reply: its end of input is no reason to drop the rest
	 * of the reply (it got the first 16 KiB only). control_done or the
	 * deadline ends the connection.
	 */
	if (cc->replied && (what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		control_free(cc);
}

static void reply(struct control_conn *cc, json_t *result, const char *err, json_t *problems)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
	char *ptext = problems ? json_dumps(problems, JSON_COMPACT) : NULL;
	uint8_t len[4];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, ptext ? 3 : 2);
	msgpack_pack_str_with_body(&pk, "ok", 2);
	if (text) {
		msgpack_pack_true(&pk);
		msgpack_pack_str_with_body(&pk, "result", 6);
		msgpack_pack_str_with_body(&pk, text, strlen(text));
	} else {
		msgpack_pack_false(&pk);
		msgpack_pack_str_with_body(&pk, "error", 5);
		msgpack_pack_str_with_body(&pk, err ? err : "failed", strlen(err ? err : "failed"));
	}
	if (ptext) {
		msgpack_pack_str_with_body(&pk, "problems", 8);
		msgpack_pack_str_with_body(&pk, ptext, strlen(ptext));
	}
	len[0] = (uint8_t)(sb.size >> 24);
	len[1] = (uint8_t)(sb.size >> 16);
	len[2] = (uint8_t)(sb.size >> 8);
	len[3] = (uint8_t)sb.size;
	bufferevent_write(cc->bev, len, 4);
	bufferevent_write(cc->bev, sb.data, sb.size);
	bufferevent_setcb(cc->bev, NULL, control_done, control_event, cc);
	cc->replied = true;
	/* The reply gets a deadline of its own: its reader may be slower than its writer. */
	control_arm_deadline(cc);
	msgpack_sbuffer_destroy(&sb);
	free(text);
	free(ptext);
}

static void control_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), payload_len = 0;
	/* A frame is at most this long: more input is not made contiguous for nothing. */
	size_t max_frame = SL_ENVELOPE_FRAME_HEADER + SL_CONTROL_MAX_REQUEST;
	const uint8_t *payload = NULL;
	struct sl_control_request req;
	const char *err = NULL;
	json_t *result = NULL, *problems = NULL;
	ssize_t frame;

	if (len > max_frame)
		len = max_frame;
	frame = sl_envelope_frame_next(evbuffer_pullup(in, (ssize_t)len), len,
				       SL_CONTROL_MAX_REQUEST, &payload, &payload_len);
	if (frame == 0)
		return;
	if (frame < 0) {
		reply(cc, NULL, "request too large", NULL);
		return;
	}
	/* One request per connection: the reply ends it, whatever follows is not read. */
	if (sl_control_request_decode(payload, payload_len, &req, &err) == 0)
		result = do_request(cc->gw, req.op, req.has_arg ? req.arg : NULL, &err, &problems);
	evbuffer_drain(in, (size_t)frame);
	reply(cc, result, err, problems);
	json_decref(result);
	json_decref(problems);
}

static void control_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
			   int socklen, void *arg)
{
	struct control_conn *cc = calloc(1, sizeof(*cc));
	struct sl_gateway *gw = arg;

	(void)lst;
	(void)sa;
	(void)socklen;
	if (!cc) {
		close(fd);
		return;
	}
	cc->gw = gw;
	cc->bev = bufferevent_socket_new(gw->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cc->deadline = evtimer_new(gw->base, control_deadline, cc);
	if (!cc->bev || !cc->deadline) {
		if (cc->deadline)
			event_free(cc->deadline);
		if (cc->bev)
			bufferevent_free(cc->bev);
		else
			close(fd);
		free(cc);
		return;
	}
	if (gw->ncontrol >= CONTROL_CONNS_MAX) {
		struct control_conn *oldest = gw->control_conns;

		while (oldest->next)
			oldest = oldest->next;
		control_free(oldest);
	}
	cc->next = gw->control_conns;
	if (cc->next)
		cc->next->prev = cc;
	gw->control_conns = cc;
	gw->ncontrol++;
	bufferevent_setcb(cc->bev, control_read, NULL, control_event, cc);
	/*
	 * Bounded like a client's handshake: the request must be in within
	 * limits.handshake_timeout of the accept, and the reply written within
	 * as long again (control_arm_deadline); no more than one frame is
	 * buffered, whatever a peer sends.
	 */
	control_arm_deadline(cc);
	bufferevent_setwatermark(cc->bev, EV_READ, 0,
				 SL_ENVELOPE_FRAME_HEADER + SL_CONTROL_MAX_REQUEST);
	bufferevent_enable(cc->bev, EV_READ);
}

/*
 * Creates the socket's directory and its missing parents (/run/sluice after a
 * reboot when no service manager made it). A directory made here for a
 * configured group is the group's too, so that its members can reach the
 * socket; an existing directory is left as the operator (or systemd's
 * RuntimeDirectory=) made it.
 */
static int make_socket_dir(char *dir, const struct sl_config_control *ctl)
{
	char *p;

	for (p = dir + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, ctl->group ? 0750 : 0755) == 0) {
			if (ctl->group && chown(dir, (uid_t)-1, (gid_t)ctl->gid)) {
				int e = errno;

				rmdir(dir);
				return -e;
			}
		} else if (errno != EEXIST) {
			return -errno;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Removes a socket file left by a daemon that did not exit cleanly, and
 * nothing else: a socket a live daemon still accepts on is -EADDRINUSE
 * (replacing it would cut that daemon off from sluicectl, and its exit would
 * then remove ours), anything that is not a socket -EEXIST (a typo in
 * listeners.control.path must not delete a file). A live daemon whose backlog
 * is full answers EAGAIN to a nonblocking connect; only ECONNREFUSED means
 * that no one listens.
 */
static int remove_stale_socket(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, ret = 0;

	if (lstat(sun->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 || errno == EAGAIN)
		ret = -EADDRINUSE;
	else if (errno != ECONNREFUSED)
		ret = -errno;
	close(fd);
	if (!ret && unlink(sun->sun_path) && errno != ENOENT)
		ret = -errno;
	return ret;
}

int sl_control_listen(struct sl_gateway *gw, struct evconnlistener **out, char *err, size_t errlen)
{
	const struct sl_config_control *ctl = &gw->cfg->listeners.control;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)], *slash;
	mode_t mode = ctl->mode ? (mode_t)ctl->mode : 0600, old_umask;
	int ret;

	*out = NULL;
	if (!ctl->path || !ctl->path[0])
		return 0;
	if (strlen(ctl->path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long", ctl->path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, ctl->path);
	strcpy(dir, ctl->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		ret = make_socket_dir(dir, ctl);
		if (ret) {
			snprintf(err, errlen, "cannot create %s for the control socket: %s%s", dir,
				 strerror(-ret), ret == -EPERM && ctl->group ? GROUP_HINT : "");
			return ret;
		}
	}
	ret = remove_stale_socket(&sun);
	if (ret) {
		snprintf(err, errlen, "cannot listen on the control socket %s: %s%s", ctl->path,
			 strerror(-ret),
			 ret == -EADDRINUSE
			     ? ": another sluiced serves it (one daemon per socket path)"
			 : ret == -EEXIST ? ": it is not a socket; choose another "
					    "listeners.control.path"
					  : "");
		return ret;
	}
	/*
	 * bind creates the socket with 0777 less the umask, and connecting
	 * needs only write permission: under umask 000 (or 002 for the group)
	 * anyone could connect between bind and chmod, and a connection made
	 * then stays usable, as did the socket when chmod failed unnoticed. The
	 * umask makes bind create it no more open than its mode (umask is per
	 * process; only files created meanwhile get it too, which is stricter).
	 */
	old_umask = umask(0777 & ~mode);
	*out = evconnlistener_new_bind(gw->base, control_accept, gw,
				       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
				       (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (!*out) {
		int e = errno;

		snprintf(err, errlen, "cannot listen on the control socket %s: %s", ctl->path,
			 strerror(e));
		return -e;
	}
	if (chmod(ctl->path, mode)) {
		int e = errno;

		snprintf(err, errlen, "cannot set the mode of the control socket %s to %04o: %s",
			 ctl->path, (unsigned)mode, strerror(e));
		evconnlistener_free(*out);
		*out = NULL;
		unlink(ctl->path);
		return -e;
	}
	/* Changing to a group the daemon is not in needs CAP_CHOWN, which the unit does not grant.
	 */
	if (ctl->group && chown(ctl->path, (uid_t)-1, (gid_t)ctl->gid)) {
		int e = errno;

		snprintf(err, errlen, "cannot give the control socket %s to group %s: %s%s",
			 ctl->path, ctl->group, strerror(e), e == EPERM ? GROUP_HINT : "");
		evconnlistener_free(*out);
		*out = NULL;
		unlink(ctl->path);
		return -e;
	}
	return 0;
}
