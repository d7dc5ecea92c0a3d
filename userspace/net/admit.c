// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Credentials to application to kernel slot, and the admission of a
 * subscriber under its application's plan (admit.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "kern/kern.h"
#include "net/admit.h"
#include "net/conn.h"
#include "net/log.h"

const char *sl_conn_app_id(const struct sl_conn *c)
{
	return c->auth.app ? c->auth.app->id : "";
}

/*
 * Counts the credentials of a request and copies the access_token (malloc'd,
 * NUL-terminated, into *query_token) when there is one. The value is copied
 * because the scan goes on past it: decoding the next pair into the same
 * buffer left the token as that pair's value plus the token's tail, so
 * ?access_token=KEY&x=1 was refused. Returns the count, -EINVAL for a query
 * that does not decode (which could hide an access_token from the count) or
 * -ENOMEM.
 */
static int count_credentials(const struct sl_http_request *req, char **query_token,
			     size_t *query_len)
{
	const char *cursor, *end;
	char *name, *value;
	size_t cap;
	int n = 0, ret = 0;

	*query_token = NULL;
	*query_len = 0;
	if (!req)
		return 0;
	n += (int)sl_http_header_count(req, "Authorization");
	n += (int)sl_http_header_count(req, "X-API-Key");
	if (!req->query_len)
		return n;
	if (sl_http_query_buffers(req, &name, &value, &cap))
		return -ENOMEM;
	cursor = req->query;
	end = req->query + req->query_len;
	while ((ret = sl_http_query_next(&cursor, end, name, cap, value, cap)) > 0) {
		if (strcmp(name, "access_token") != 0)
			continue;
		if (++n == 1 && !(*query_token = strdup(value))) {
			ret = -ENOMEM;
			break;
		}
	}
	if (*query_token)
		*query_len = strlen(*query_token);
	explicit_bzero(name, 2 * cap);
	free(name);
	if (ret < 0) {
		if (*query_token) {
			explicit_bzero(*query_token, *query_len);
			free(*query_token);
			*query_token = NULL;
		}
		return ret;
	}
	return n;
}

static int authenticate(struct sl_conn *c, const struct sl_http_request *req, const char *token,
			size_t token_len, bool open, int *status, const char **why);
static int authenticate_one(struct sl_conn *c, const struct sl_http_request *req,
			    const char *query_token, size_t query_len, const char *token,
			    size_t token_len, bool open, int *status, const char **why);

/*
 * The daemon's side of a slot handed to another application: its counts,
 * rates, series and histogram go as the kernel's do. Not `conns`: a
 * connection of the old application still closing gives its count back.
 */
static void app_state_forget(struct sl_app_state *a)
{
	uint32_t conns = a->conns;

	free(a->series);
	*a = (struct sl_app_state){ .conns = conns };
}

/* FNV-1a: application ids come from the operator's config, not from clients. */
static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h;
}

static void slot_index_put(struct sl_gateway *gw, uint32_t slot)
{
	uint32_t h = id_hash(gw->slot_ids[slot]);

	while (gw->slot_index[h % SL_SLOT_INDEX_SIZE])
		h++;
	gw->slot_index[h % SL_SLOT_INDEX_SIZE] = (uint16_t)slot;
}

void sl_gateway_slot_index_build(struct sl_gateway *gw)
{
	uint32_t slot;

	memset(gw->slot_index, 0, SL_SLOT_INDEX_SIZE * sizeof(*gw->slot_index));
	for (slot = 1; slot < SL_MAX_APPS; slot++)
		if (gw->slot_ids[slot])
			slot_index_put(gw, slot);
}

/*
 * Kernel slots belong to application ids: a reload that adds, removes or
 * reorders applications moves no counts between them, and at start each
 * application takes back its slot of the last run (sl_gateway_claim_pinned_slots).
 * Found through an index: a search of all 4,096 slots per call made every
 * walk over the applications quadratic (the state saved every 10 s, /metrics,
 * `app list`: 138 ms at 4,000 applications).
 */
uint32_t sl_gateway_slot_for(struct sl_gateway *gw, const char *id)
{
	uint32_t h, i, slot, free_slot = 0;
	bool given_away = false;

	if (!gw->slot_ids || !id)
		return 0;
	for (h = id_hash(id); (slot = gw->slot_index[h % SL_SLOT_INDEX_SIZE]); h++)
		if (strcmp(gw->slot_ids[slot], id) == 0)
			return slot;
	for (i = 1; i < SL_MAX_APPS && !free_slot; i++)
		if (!gw->slot_ids[i])
			free_slot = i;
	/*
	 * Only slots held for applications gone from the config are left (at
	 * start their id is "", after a reload the one they had): one's counts
	 * go. Without this a newcomer got no slot, and no kernel quota.
	 */
	for (i = 1; !free_slot && i < SL_MAX_APPS; i++)
		if ((!gw->slot_ids[i][0] || !sl_config_app_find(gw->cfg, gw->slot_ids[i])) &&
		    (!gw->kern || !sl_kern_app_reset(gw->kern, i))) {
			free(gw->slot_ids[i]);
			gw->slot_ids[i] = NULL;
			if (gw->apps)
				app_state_forget(&gw->apps[i]);
			free_slot = i;
			given_away = true;
		}
	if (!free_slot)
		return 0;
	gw->slot_ids[free_slot] = strdup(id);
	/* A slot given away still sits in the index under its old id. */
	if (given_away)
		sl_gateway_slot_index_build(gw);
	else if (gw->slot_ids[free_slot])
		slot_index_put(gw, free_slot);
	return gw->slot_ids[free_slot] ? free_slot : 0;
}

/* sl_app_limits.owner of an application: the first 8 bytes of SHA-256 of its id. */
uint64_t sl_gateway_slot_owner(const char *id)
{
	uint8_t digest[WC_SHA256_DIGEST_SIZE];
	uint64_t owner;

	if (wc_Sha256Hash((const byte *)id, (word32)strlen(id), digest))
		return 0;
	memcpy(&owner, digest, sizeof(owner));
	return owner ? owner : 1;
}

/*
 * At start, each application takes back the slot whose pinned limits name it
 * as owner: the last run's counts stay its own even when the config was
 * reordered since, or a reload handed out slots out of config order. A slot
 * owned by an application gone from the config is held (id "") with its
 * counts, in case it comes back, and given away only when no slot is free.
 * Pins from before owners were written name nobody: the config order applies.
 */
int sl_gateway_claim_pinned_slots(struct sl_gateway *gw)
{
	const struct sl_config *cfg = gw->cfg;
	struct sl_app_limits lim;
	uint64_t *owners;
	uint32_t slot, i;
	int ret = 0;

	owners = calloc(cfg->n_apps + 1, sizeof(*owners));
	if (!owners)
		return -ENOMEM;
	for (i = 0; i < cfg->n_apps; i++)
		owners[i] = sl_gateway_slot_owner(cfg->apps[i].id);
	for (slot = 1; slot < SL_MAX_APPS && !ret; slot++) {
		if (sl_kern_app_limits(gw->kern, slot, &lim) || !lim.owner)
			continue;
		for (i = 0; i < cfg->n_apps && owners[i] != lim.owner; i++)
			;
		gw->slot_ids[slot] = strdup(i < cfg->n_apps ? cfg->apps[i].id : "");
		if (!gw->slot_ids[slot])
			ret = -ENOMEM;
		if (i < cfg->n_apps)
			owners[i] = 0; /* a second slot naming it is held like a stranger's */
	}
	free(owners);
	sl_gateway_slot_index_build(gw);
	return ret;
}

static void on_credentials_expired(evutil_socket_t fd, short what, void *arg)
{
	struct sl_conn *c = arg;

	(void)fd;
	(void)what;
	SL_INFO("{\"msg\":\"credentials_expired\",\"id\":%llu,\"app\":\"%s\"}",
		(unsigned long long)c->cookie, sl_conn_app_id(c));
	if (c->kind == SL_CONN_WS || c->kind == SL_CONN_SSE) {
		sl_sub_close(c, SL_WS_CLOSE_POLICY, "credentials expired");
	} else if (!c->closing) {
		c->close_reason = "credentials expired";
		sl_conn_finish(c);
	}
}

/*
 * A JWT is accepted only before exp (plus the leeway), and the connection it
 * opened is no exception: without this a token that expires in five minutes
 * (or one revoked by letting it expire) kept a subscription or a publisher
 * going for as long as the client liked. Closed with 1008 (RFC 6455 §7.4.1,
 * policy violation; SPEC is silent on expiry), like Centrifugo's expired
 * connections; API keys and certificates have no expiry here.
 */
static int arm_expiry(struct sl_conn *c)
{
	uint64_t end, now = sl_now_ns(), left;
	struct timeval tv;

	if (c->expiry_timer) {
		event_free(c->expiry_timer);
		c->expiry_timer = NULL;
	}
	if (!c->auth.expires_ns)
		return 0;
	end = c->auth.expires_ns + c->gw->cfg->jwt.leeway_ns;
	if (end < c->auth.expires_ns)
		return 0; /* saturated: a date past 2554 */
	left = end > now ? end - now : 0;
	tv = sl_timeval_ns(left);
	c->expiry_timer = evtimer_new(c->gw->base, on_credentials_expired, c);
	/* Without its timer the token would outlive its exp: refused, not let in for good. */
	return c->expiry_timer && !evtimer_add(c->expiry_timer, &tv) ? 0 : -ENOMEM;
}

void sl_conn_auth_refusal(const struct sl_conn *c, int status, const char **code,
			  const char **header)
{
	if (status != 401) {
		*code = status >= 500 ? "internal" : "bad_request";
		*header = NULL;
		return;
	}
	*code = c->auth.reason ? sl_auth_reason_name(c->auth.reason) : "unauthorized";
	/*
	 * RFC 6750 §3: tell the client how to authenticate, and that the
	 * credential it gave failed; §3.1: no error code to a client that gave
	 * none.
	 */
	*header = c->auth.reason == SL_AUTH_MISSING
		      ? "WWW-Authenticate: Bearer realm=\"sluice\"\r\n"
		      : "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_token\"\r\n";
}

int sl_conn_authenticate(struct sl_conn *c, const struct sl_http_request *req, const char *token,
			 size_t token_len, bool open, int *status, const char **why)
{
	int ret = authenticate(c, req, token, token_len, open, status, why);

	if (ret == 0 && arm_expiry(c)) {
		*status = 500;
		*why = "out of memory";
		ret = -EACCES;
	}

	c->slot = 0;
	c->plan = NULL;
	if (ret == 0 && c->auth.app && c->gw->policy && c->auth.app != &c->gw->anonymous) {
		c->slot = sl_gateway_slot_for(c->gw, c->auth.app->id);
		c->plan = sl_policy_app_plan(c->gw->policy, c->auth.app);
		if (c->slot >= SL_MAX_APPS)
			c->slot = 0;
	}
	return ret;
}

static int authenticate(struct sl_conn *c, const struct sl_http_request *req, const char *token,
			size_t token_len, bool open, int *status, const char **why)
{
	char *query_token;
	size_t query_len;
	int n, ret;

	sl_auth_result_fini(&c->auth);
	memset(&c->auth, 0, sizeof(c->auth));
	c->open_access = false;
	n = count_credentials(req, &query_token, &query_len);
	if (n < 0) {
		*status = n == -ENOMEM ? 500 : 400;
		*why = n == -ENOMEM ? "out of memory" : "malformed query string";
		return -EACCES;
	}
	if (n > 1) {
		free(query_token);
		*status = 400;
		*why = "give one credential: Authorization, X-API-Key or access_token";
		return -EACCES;
	}
	ret = authenticate_one(c, req, query_token, query_len, token, token_len, open, status, why);
	if (query_token) {
		explicit_bzero(query_token, query_len);
		free(query_token);
	}
	return ret;
}

/* The one credential of a request (or of a hello, token), or the client certificate. */
static int authenticate_one(struct sl_conn *c, const struct sl_http_request *req,
			    const char *query_token, size_t query_len, const char *token,
			    size_t token_len, bool open, int *status, const char **why)
{
	struct sl_gateway *gw = c->gw;
	const struct sl_http_header *h;
	enum sl_auth_source src;
	const char *value = NULL;
	size_t value_len = 0;
	uint8_t fp[32];
	char cn[SL_CONFIG_MAX_CN + 1];

	if (req && (h = sl_http_header_get(req, "Authorization"))) {
		src = SL_AUTH_SOURCE_AUTHORIZATION;
		value = h->value;
		value_len = h->value_len;
	} else if (req && (h = sl_http_header_get(req, "X-API-Key"))) {
		src = SL_AUTH_SOURCE_API_KEY;
		value = h->value;
		value_len = h->value_len;
	} else if (query_token) {
		src = SL_AUTH_SOURCE_TOKEN;
		value = query_token;
		value_len = query_len;
	} else if (token && token_len) {
		src = SL_AUTH_SOURCE_TOKEN;
		value = token;
		value_len = token_len;
	}
	if (value) {
		if (!gw->auth ||
		    sl_auth_check(gw->auth, src, value, value_len, sl_now_ns(), &c->auth, why)) {
			enum sl_auth_reason r = gw->auth ? c->auth.reason : SL_AUTH_INTERNAL;

			gw->stats.auth_failures[r < SL_AUTH_REASON_COUNT ? r : SL_AUTH_INTERNAL]++;
			/* Logged without the credential: only the reason and the peer. */
			SL_WARN("{\"msg\":\"auth_failed\",\"reason\":\"%s\",\"peer\":\"%s:%u\"}",
				sl_auth_reason_name(r), c->peer, c->peer_port);
			sl_auth_result_fini(&c->auth);
			memset(&c->auth, 0, sizeof(c->auth));
			/* Out of memory: the gateway failed, not the credential. */
			*status = gw->auth && r == SL_AUTH_INTERNAL ? 500 : 401;
			return -EACCES;
		}
		return 0;
	}
	if (c->tls && sl_tls_peer(c->tls, cn, sizeof(cn), fp) == 0) {
		/* wolfSSL verified the chain against client_ca_file during the handshake. */
		c->auth.app = gw->auth ? sl_auth_cert_lookup(gw->auth, cn, fp) : NULL;
		if (c->auth.app) {
			c->auth.method = SL_AUTH_METHOD_CERT;
			return 0;
		}
		gw->stats.auth_failures[SL_AUTH_UNKNOWN_KEY]++;
		SL_WARN("{\"msg\":\"auth_failed\",\"reason\":\"unknown_certificate\","
			"\"peer\":\"%s:%u\"}",
			c->peer, c->peer_port);
		*status = 401;
		*why = "the client certificate names no application";
		return -EACCES;
	}
	if (open) {
		const struct sl_config_app *pub = sl_config_app_find(gw->cfg, "public");

		/* No `public` application: anyone may subscribe to anything, nobody publish. */
		c->auth.app = pub ? pub : &gw->anonymous;
		c->open_access = true;
		return 0;
	}
	gw->stats.auth_failures[SL_AUTH_MISSING]++;
	c->auth.reason = SL_AUTH_MISSING;
	*status = 401;
	/* A backend's hello has no headers: it is told the credential it can give. */
	*why = req ? "credentials are required: Authorization: Bearer JWT, X-API-Key, "
		     "?access_token= or a client certificate"
		   : "credentials are required: the hello's token (a JWT or an API key) or a "
		     "client certificate";
	return -EACCES;
}

const struct sl_app_usage *sl_gateway_usage_all(struct sl_gateway *gw)
{
	uint32_t n = SL_MAX_APPS;

	gw->app_usage_n = 0;
	if (!gw->kern || !gw->slot_ids)
		return NULL;
	/* Slots are given lowest first: up to the highest held, not all 4,096 (426 KB). */
	while (n > 1 && !gw->slot_ids[n - 1])
		n--;
	if (!gw->app_usage)
		gw->app_usage = malloc(SL_MAX_APPS * sizeof(*gw->app_usage));
	if (!gw->app_usage || sl_kern_app_usage_all(gw->kern, gw->app_usage, n))
		return NULL;
	gw->app_usage_n = n;
	return gw->app_usage;
}

bool sl_gateway_kernel_usage(struct sl_gateway *gw, const struct sl_app_usage *all, uint32_t slot,
			     struct sl_app_usage *u)
{
	if (!slot || slot >= SL_MAX_APPS)
		return false;
	/* A slot given out during the walk (slot_for) is past what the batch read. */
	if (all && slot < gw->app_usage_n) {
		*u = all[slot];
		return true;
	}
	return gw->kern && sl_kern_app_usage(gw->kern, slot, u) == 0;
}

bool sl_gateway_app_usage(struct sl_gateway *gw, const struct sl_app_usage *all, uint32_t slot,
			  const struct sl_plan *plan, uint64_t now, struct sl_app_usage *u,
			  uint64_t *end)
{
	/* The kernel's count is the record; the daemon's mirror serves with bpf: off. */
	bool kernel = sl_gateway_kernel_usage(gw, all, slot, u);
	uint64_t start;

	if (!kernel) {
		memset(u, 0, sizeof(*u));
		if (slot && gw->apps) {
			u->events = gw->apps[slot].events;
			u->window_start_ns = gw->apps[slot].window_start;
		}
	}
	*end = 0;
	if (plan && plan->events_limit) {
		sl_plan_window(plan, now, &start, end);
		if (u->window_start_ns != start)
			u->events = 0;
		u->window_start_ns = start;
	}
	return kernel;
}

int sl_conn_admit(struct sl_conn *c, const char **code, const char **why, unsigned *retry_after)
{
	struct sl_gateway *gw = c->gw;
	const struct sl_plan *plan = c->plan;
	struct sl_app_usage u;
	uint64_t now, end;

	if (!plan || !gw->apps)
		return 0;
	if (plan->max_connections && gw->apps[c->slot].conns >= plan->max_connections) {
		/* As the gateway-wide limit answers (gateway.c, refused_limit). */
		*code = "connection_limit";
		*why = "the application's connection limit (plan max_connections) is reached";
		*retry_after = 1;
		return -EAGAIN;
	}
	if (!plan->events_limit)
		return 0;
	now = sl_now_ns();
	sl_gateway_app_usage(gw, NULL, c->slot, plan, now, &u, &end);
	if (u.events < plan->events_limit)
		return 0;
	*code = "quota_exhausted";
	*why = "the application's event quota is exhausted until the window turns";
	*retry_after = (unsigned)((end - now + 999999999ull) / 1000000000ull);
	return -EAGAIN;
}
