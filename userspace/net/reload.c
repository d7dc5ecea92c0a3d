// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The policy applied to the kernel, reloaded atomically under live
 * connections, and the quota state kept in state_dir (reload.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "config/node.h"
#include "kern/kern.h"
#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/plan.h"
#include "net/reload.h"
#include "policy/bundle.h"

static void restore_state(struct sl_gateway *gw);

/* Kernel limits for every application with a plan; the daemon's mirror starts from the kernel. */
int sl_gateway_apply_policy(struct sl_gateway *gw)
{
	const struct sl_config *cfg = gw->cfg;
	bool first = !gw->slot_ids;
	struct sl_app_limits lim;
	struct sl_app_usage u;
	uint32_t i, slot;
	int ret;

	if (!gw->apps)
		gw->apps = calloc(SL_MAX_APPS, sizeof(*gw->apps));
	if (!gw->slot_ids)
		gw->slot_ids = calloc(SL_MAX_APPS, sizeof(*gw->slot_ids));
	if (!gw->slot_index)
		gw->slot_index = calloc(SL_SLOT_INDEX_SIZE, sizeof(*gw->slot_index));
	if (!gw->apps || !gw->slot_ids || !gw->slot_index)
		return -ENOMEM;
	if (first && gw->kern) {
		ret = sl_gateway_claim_pinned_slots(gw);
		if (ret)
			return ret;
	}
	if (!gw->policy)
		return 0;
	restore_state(gw);
	for (i = 0; i < cfg->n_apps; i++) {
		const struct sl_config_app *app = &cfg->apps[i];
		const struct sl_plan *plan = sl_policy_app_plan(gw->policy, app);

		slot = sl_gateway_slot_for(gw, app->id);
		if (!slot || slot >= SL_MAX_APPS)
			continue;
		memset(&lim, 0, sizeof(lim));
		if (plan) {
			sl_policy_app_limits(gw->policy, app, &lim);
			lim.event_cap = plan->events_limit;
			lim.window_ns = plan->events_limit ? plan->events_window_ns : 0;
		}
		lim.owner = sl_gateway_slot_owner(app->id);
		if (!gw->kern)
			continue;
		ret = sl_kern_app_set_limits(gw->kern, slot, &lim);
		if (ret)
			return ret;
		/* A restarted daemon continues the kernel's counts (pinned maps). */
		if (sl_kern_app_usage(gw->kern, slot, &u) == 0) {
			gw->apps[slot].window_start = u.window_start_ns;
			gw->apps[slot].events = u.events;
		}
	}
	return 0;
}

/*
 * Quota state file: the kernel's pinned maps keep counts across daemon
 * restarts, but not across a reboot. state_dir/quota.json keeps each
 * application's window and counts; it is written at shutdown and every 10
 * seconds (write to a temporary file, then rename: never half a file).
 */
static int state_path(const struct sl_gateway *gw, char *buf, size_t len, const char *suffix)
{
	int n = snprintf(buf, len, "%s/quota.json%s", gw->cfg->state_dir, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Streamed, not built as a jansson tree: at 4,000 applications the tree and
 * its dump held the loop 8-16 ms every 10 s. Names hold no quote, backslash
 * or control character (config.c, get_name), so an id goes in as it is.
 */
void sl_gateway_save_state(struct sl_gateway *gw)
{
	char path[4096], tmp[4096];
	const struct sl_app_usage *all;
	struct sl_app_usage u;
	const char *sep = "";
	uint32_t i, slot;
	FILE *f;

	if (!gw->kern || !gw->policy || !gw->cfg->state_dir ||
	    state_path(gw, path, sizeof(path), "") || state_path(gw, tmp, sizeof(tmp), ".tmp"))
		return;
	mkdir(gw->cfg->state_dir, 0700);
	f = fopen(tmp, "w");
	if (!f)
		goto failed;
	fputs("{\"version\":1,\"apps\":{", f);
	all = sl_gateway_usage_all(gw);
	for (i = 0; i < gw->cfg->n_apps; i++) {
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		if (!sl_gateway_kernel_usage(gw, all, slot, &u))
			continue;
		fprintf(f,
			"%s\"%s\":{\"window_start_ns\":%llu,\"events\":%llu,\"events_total\":%llu,"
			"\"bytes\":%llu}",
			sep, gw->cfg->apps[i].id, (unsigned long long)u.window_start_ns,
			(unsigned long long)u.events, (unsigned long long)u.events_total,
			(unsigned long long)u.bytes);
		sep = ",";
	}
	fputs("}}", f);
	/* A full disk shows at the flush; fclose would report it too late to tell which. */
	if (fflush(f) || ferror(f)) {
		fclose(f);
		goto failed;
	}
	if (fclose(f) || rename(tmp, path))
		goto failed;
	return;
failed:
	SL_ERROR("{\"msg\":\"state_save_failed\",\"path\":\"%s\",\"error\":\"%s\"}", path,
		 strerror(errno));
	unlink(tmp);
}

/* After a reboot the pins are empty: the state file puts the counts back. */
static void restore_state(struct sl_gateway *gw)
{
	struct sl_app_usage u;
	json_error_t jerr;
	char path[4096];
	json_t *doc, *apps, *a;
	uint32_t i, slot;

	if (!gw->kern || !gw->policy || !gw->cfg->state_dir ||
	    state_path(gw, path, sizeof(path), ""))
		return;
	doc = json_load_file(path, 0, &jerr);
	if (!doc)
		return;
	apps = json_object_get(doc, "apps");
	for (i = 0; apps && i < gw->cfg->n_apps; i++) {
		a = json_object_get(apps, gw->cfg->apps[i].id);
		slot = sl_gateway_slot_for(gw, gw->cfg->apps[i].id);
		if (!a || !slot || slot >= SL_MAX_APPS)
			continue;
		memset(&u, 0, sizeof(u));
		u.window_start_ns =
		    (uint64_t)json_integer_value(json_object_get(a, "window_start_ns"));
		u.events = (uint64_t)json_integer_value(json_object_get(a, "events"));
		u.events_total = (uint64_t)json_integer_value(json_object_get(a, "events_total"));
		u.bytes = (uint64_t)json_integer_value(json_object_get(a, "bytes"));
		if (sl_kern_app_restore(gw->kern, slot, &u) == 0)
			SL_INFO("{\"msg\":\"quota_restored\",\"app\":\"%s\",\"events\":%llu}",
				gw->cfg->apps[i].id, (unsigned long long)u.events);
	}
	json_decref(doc);
}

static bool same_addr(const struct sl_config_addr *a, const struct sl_config_addr *b)
{
	return a->enabled == b->enabled &&
	       (!a->enabled || (a->sa_len == b->sa_len && memcmp(&a->sa, &b->sa, a->sa_len) == 0));
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* What a reload cannot change under a running gateway; NULL when nothing of it changed. */
static const char *needs_restart(const struct sl_config *old, const struct sl_config *new)
{
	const struct sl_config_listeners *a = &old->listeners, *b = &new->listeners;

	if (!same_addr(&a->subscribers.plain, &b->subscribers.plain) ||
	    !same_addr(&a->subscribers.tls, &b->subscribers.tls) ||
	    !same_addr(&a->publishers.plain, &b->publishers.plain) ||
	    !same_addr(&a->publishers.tls, &b->publishers.tls) ||
	    !same_addr(&a->admin.plain, &b->admin.plain))
		return "listeners changed";
	if (old->bpf != new->bpf || strcmp(old->bpf_pin_dir, new->bpf_pin_dir) != 0)
		return "bpf or bpf_pin_dir changed";
	if ((old->cgroup || new->cgroup) &&
	    (!old->cgroup || !new->cgroup || strcmp(old->cgroup, new->cgroup) != 0))
		return "cgroup changed";
	if (old->write_threads != new->write_threads)
		return "write_threads changed";
	/*
	 * Read once at start, like the above: accepted, they would only look
	 * applied. The control socket would stay where it is while the daemon
	 * unlinked the new path at exit; the rings, the journal and the SSE
	 * heartbeat would keep the old values.
	 */
	if (!same_str(old->listeners.control.path, new->listeners.control.path) ||
	    old->listeners.control.mode != new->listeners.control.mode ||
	    !same_str(old->listeners.control.group, new->listeners.control.group))
		return "listeners.control changed";
	if (old->retention.count != new->retention.count ||
	    old->retention.age_ns != new->retention.age_ns ||
	    old->retention.journal != new->retention.journal ||
	    old->limits.max_topics != new->limits.max_topics)
		return "retention or limits.max_topics changed";
	if (!same_str(old->state_dir, new->state_dir))
		return "state_dir changed";
	if (old->sse.heartbeat_ns != new->sse.heartbeat_ns)
		return "sse.heartbeat changed";
	return NULL;
}

static bool subscriptions_allowed(const struct sl_conn *c)
{
	uint32_t i;

	for (i = 0; i < c->nsubs; i++)
		if (!sl_auth_allows(&c->auth, false, c->subs[i]))
			return false;
	return true;
}

/*
 * Whether the credential c came in with would still let it in as app under
 * the reloaded auth. A client certificate is read again from the session.
 */
static bool credential_holds(struct sl_conn *c, struct sl_auth *auth,
			     const struct sl_config_app *app)
{
	uint8_t fp[32];
	char cn[SL_CONFIG_MAX_CN + 1];

	if (c->auth.method != SL_AUTH_METHOD_CERT)
		return sl_auth_still_names(auth, &c->auth, app);
	return c->tls && sl_tls_peer(c->tls, cn, sizeof(cn), fp) == 0 &&
	       sl_auth_cert_lookup(auth, cn, fp) == app;
}

/*
 * A file of plans and applications alone reads as a config whose listeners
 * are the defaults, and was refused as "listeners changed": say instead what
 * a load takes.
 */
static const char FILE_IS_NOT_A_CONFIG[] =
    "no listeners section, so not the daemon's config: a load takes the whole config file "
    "(as sluiced -c); name a file of plans and applications in its policies: list";

static bool names_listeners(const struct sl_config *cfg)
{
	yaml_node_t *root = cfg->doc ? yaml_document_get_root_node(cfg->doc) : NULL;

	return root && root->type == YAML_MAPPING_NODE && sl_node_get(cfg->doc, root, "listeners");
}

/*
 * SIGHUP: load the config file again with its policy. Atomic: the new
 * config, issuers and plans are all loaded and checked first; any problem
 * (or a change that needs a restart) is logged and nothing changes. Then
 * live connections move to the new application definitions: a connection
 * whose application is gone, or that holds a subscription the application
 * may no longer make, is closed with 1008; the others keep running under
 * their (possibly new) plan, in userspace and in the kernel.
 */
static int reload(struct sl_gateway *gw, const char *path, json_t **problems_out, bool apply)
{
	const struct sl_config *old = gw->cfg;
	struct sl_config *cfg = calloc(1, sizeof(*cfg));
	struct sl_policy *policy = NULL;
	struct sl_auth *auth = NULL;
	struct sl_tls_ctx *fresh_tls = NULL;
	struct sl_conn *c, *next;
	struct sl_diag diag;
	char tls_err[256];
	const char *why;
	bool tls_bad;
	uint32_t closed = 0, moved = 0;
	size_t i;
	int ret;

	if (problems_out)
		*problems_out = NULL;
	/*
	 * SIGHUP (no path) reads the file the daemon started with: after a
	 * `policy load OTHER`, an edit of that file and `systemctl reload` read
	 * OTHER again.
	 */
	if (!path)
		path = gw->start_path;
	if (!cfg || !path) {
		free(cfg);
		return -EINVAL;
	}
	sl_diag_init(&diag);
	ret = sl_bundle_load(path, cfg, &auth, &policy, &diag);
	why = !ret && !sl_diag_count(&diag) ? needs_restart(old, cfg) : NULL;
	if (why && !names_listeners(cfg))
		why = FILE_IS_NOT_A_CONFIG;
	/*
	 * The certificate is part of the reload: the one the new config names
	 * is loaded with it, and neither applies when either fails.
	 */
	tls_bad = !ret && !sl_diag_count(&diag) && !why && gw->tls_ctx &&
		  sl_tls_ctx_new(&fresh_tls, cfg->tls.cert_file, cfg->tls.key_file,
				 cfg->tls.client_ca_file, tls_err, sizeof(tls_err));
	if (ret || sl_diag_count(&diag) || why || tls_bad) {
		json_t *problems = json_array();

		for (i = 0; i < sl_diag_count(&diag); i++)
			json_array_append_new(problems, json_string(sl_diag_get(&diag, i)));
		if (why == FILE_IS_NOT_A_CONFIG)
			json_array_append_new(problems, json_sprintf("%s: %s", path, why));
		else if (why)
			json_array_append_new(problems,
					      json_sprintf("%s: restart sluiced to apply it", why));
		if (tls_bad)
			json_array_append_new(problems, json_sprintf("tls: %s", tls_err));
		if (apply) {
			char *list = json_dumps(problems, JSON_COMPACT);

			SL_ERROR("{\"msg\":\"reload_failed\",\"what\":\"%s\",\"problems\":%s,"
				 "\"detail\":\"nothing was changed\"}",
				 tls_bad ? "tls" : "policy", list ? list : "[]");
			free(list);
		}
		if (problems_out)
			*problems_out = problems;
		else
			json_decref(problems);
		sl_diag_free(&diag);
		sl_policy_free(policy);
		sl_auth_free(auth);
		sl_config_free(cfg);
		free(cfg);
		return -EINVAL;
	}
	sl_diag_free(&diag);
	if (!apply) {
		sl_tls_ctx_free(fresh_tls);
		sl_policy_free(policy);
		sl_auth_free(auth);
		sl_config_free(cfg);
		free(cfg);
		return 0;
	}

	for (c = gw->conns; c; c = next) {
		const struct sl_config_app *app;
		bool revoked = false;

		next = c->next;
		if (c->open_access) {
			/*
			 * As a new client without credentials would be: `public` or
			 * anonymous while auth stays open, refused once it is required.
			 */
			app = NULL;
			if (cfg->listeners.subscribers.auth == SL_CONFIG_AUTH_OPEN) {
				app = sl_config_app_find(cfg, "public");
				if (!app)
					app = &gw->anonymous;
			}
		} else if (!c->auth.app || c->auth.app == &gw->anonymous) {
			continue;
		} else {
			app = sl_config_app_find(cfg, c->auth.app->id);
			/* A key taken away or an issuer removed is revoked for the live connections
			 * too. */
			revoked = app && !credential_holds(c, auth, app);
			if (revoked)
				app = NULL;
		}
		if (!app) {
			closed++;
			c->auth.app = NULL;
			if (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE)
				sl_sub_close(c, SL_WS_CLOSE_POLICY,
					     c->open_access
						 ? "credentials are required after a reload"
					     : revoked ? "credentials revoked by a reload"
						       : "application removed by a reload");
			else
				sl_conn_finish(c);
			continue;
		}
		c->auth.app = app;
		/*
		 * The new list (or the token's scope under it) may no longer cover a
		 * live subscription: events on it would keep flowing under rights the
		 * policy revoked. Closed like a removed application's connections; the
		 * client resubscribes to what it may.
		 */
		if ((c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) && !c->closing &&
		    app != &gw->anonymous && !subscriptions_allowed(c)) {
			closed++;
			sl_sub_close(c, SL_WS_CLOSE_POLICY, "subscription revoked by a reload");
			continue;
		}
		moved++;
	}
	/* Swap, then re-plan the moved connections against the new plans. */
	if (fresh_tls) {
		/* Open sessions keep the old context (wolfSSL counts its users). */
		sl_tls_ctx_free(gw->tls_ctx);
		gw->tls_ctx = fresh_tls;
		SL_LIFECYCLE("{\"msg\":\"reload\",\"what\":\"tls\",\"cert_file\":\"%s\"}",
			     cfg->tls.cert_file);
	}
	gw->cfg = cfg;
	sl_log_level = cfg->log.level;
	/* Lowered below the series kept, it refuses new ones; the kept ones end as they would. */
	gw->stats.hours.max = cfg->metrics.max_series;
	gw->auth = auth;
	gw->policy = policy;
	sl_policy_free(gw->own_policy);
	sl_auth_free(gw->own_auth);
	if (gw->own_cfg) {
		sl_config_free(gw->own_cfg);
		free(gw->own_cfg);
	}
	gw->own_cfg = cfg;
	gw->own_auth = auth;
	gw->own_policy = policy;
	sl_gateway_apply_policy(gw);
	for (c = gw->conns; c; c = c->next) {
		struct sl_sock_config sc = { 0 };
		uint32_t slot;

		if (!c->auth.app || c->auth.app == &gw->anonymous)
			continue;
		slot = sl_gateway_slot_for(gw, c->auth.app->id);
		if (c->counted) {
			gw->apps[c->slot].conns--;
			gw->apps[slot].conns++;
		}
		c->slot = slot;
		c->plan = sl_policy_app_plan(policy, c->auth.app);
		/*
		 * A started subscriber is held to the new plan as a new one would be:
		 * its deadline follows the new max_connection_time (the old timer
		 * would close it with 4001 where the new plan allows it), and its
		 * connection counts toward the new plan's max_connections.
		 */
		if ((c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) && !c->closing) {
			if (slot && !c->counted) {
				gw->apps[slot].conns++;
				c->counted = true;
			}
			sl_conn_arm_time_limit(c);
		}
		if (c->metered && gw->kern) {
			sc.app_slot = slot;
			if (c->plan) {
				sc.max_conn_time_ns = c->plan->max_connection_time_ns;
				sc.rate_bps = c->plan->bytes_per_second;
				sc.burst_bytes = c->plan->burst_bytes;
			}
			sl_kern_sock_set_plan(gw->kern, c->fd, &sc);
		}
	}
	/* Rates start from the counts as they are now (adopted pins included). */
	sl_gateway_tick_rates(gw);
	SL_LIFECYCLE("{\"msg\":\"reload\",\"what\":\"policy\",\"applications\":%u,"
		     "\"connections_moved\":%u,\"connections_closed\":%u}",
		     cfg->n_apps, moved, closed);
	return 0;
}

int sl_gateway_reload(struct sl_gateway *gw, const char *path, json_t **problems_out)
{
	return reload(gw, path, problems_out, true);
}

int sl_gateway_reload_check(struct sl_gateway *gw, const char *path, json_t **problems_out)
{
	return reload(gw, path, problems_out, false);
}
