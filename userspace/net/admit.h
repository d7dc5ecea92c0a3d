/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who a gateway connection is and whether it may come in: its credentials
 * become an application, alike on every listener; the application gets its
 * kernel slot (stable across reloads and restarts); and its plan decides
 * whether a subscriber is admitted (max_connections, the event quota).
 */
#ifndef SLUICE_NET_ADMIT_H
#define SLUICE_NET_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_app_usage;
struct sl_conn;
struct sl_gateway;
struct sl_http_request;
struct sl_plan;

/*
 * The one place credentials become permissions, for every listener: an
 * Authorization / X-API-Key header or access_token value (JWT or API key),
 * else a verified client certificate, else the open listener's anonymous
 * application. Returns 0, or -EACCES with *status and *why set.
 */
int sl_conn_authenticate(struct sl_conn *c, const struct sl_http_request *req, const char *token,
			 size_t token_len, bool open, int *status, const char **why);
/*
 * How a refusal from sl_conn_authenticate (its status) is answered, alike on
 * every listener: the body's error code and, for a 401, the WWW-Authenticate
 * header line (else NULL).
 */
void sl_conn_auth_refusal(const struct sl_conn *c, int status, const char **code,
			  const char **header);
const char *sl_conn_app_id(const struct sl_conn *c);

/* The kernel slot of an application id, assigned on first use, stable for the daemon's life. */
uint32_t sl_gateway_slot_for(struct sl_gateway *gw, const char *id);

/* Its index (gw->slot_index) from gw->slot_ids, after they were set other than by it. */
void sl_gateway_slot_index_build(struct sl_gateway *gw);
/* sl_app_limits.owner of an application: the first 8 bytes of SHA-256 of its id. */
uint64_t sl_gateway_slot_owner(const char *id);
/*
 * At start, each application takes back the slot whose pinned limits name it
 * as owner: the last run's counts stay its own even when the config was
 * reordered since, or a reload handed out slots out of config order. A slot
 * owned by an application gone from the config is held (id "") with its
 * counts, in case it comes back, and given away only when no slot is free.
 * Pins from before owners were written name nobody: the config order applies.
 */
int sl_gateway_claim_pinned_slots(struct sl_gateway *gw);
/*
 * The kernel's usage of every slot held (up to the highest), read now in
 * one syscall into a table the gateway keeps; NULL without the meter or
 * when the read fails. For walks over all applications: one lookup
 * syscall each was 4,000 a second.
 */
const struct sl_app_usage *sl_gateway_usage_all(struct sl_gateway *gw);

/* slot's kernel usage: from all (sl_gateway_usage_all) when given, else a lookup of its own. */
bool sl_gateway_kernel_usage(struct sl_gateway *gw, const struct sl_app_usage *all, uint32_t slot,
			     struct sl_app_usage *u);

/*
 * slot's usage, the kernel's record (from all when given) or else the
 * daemon's mirror, with `events` and `window_start_ns` those of plan's
 * window holding now (*end: its end; 0 without a quota): both move to a new
 * window only at the application's next event. Returns whether the kernel
 * answered.
 */
bool sl_gateway_app_usage(struct sl_gateway *gw, const struct sl_app_usage *all, uint32_t slot,
			  const struct sl_plan *plan, uint64_t now, struct sl_app_usage *u,
			  uint64_t *end);

/*
 * A subscriber that authenticated: may its application open another
 * connection (max_connections, an exhausted quota)? 0, or -EAGAIN with the
 * error's code (connection_limit, quota_exhausted), why, and seconds to
 * Retry-After (answered with 429).
 */
int sl_conn_admit(struct sl_conn *c, const char **code, const char **why, unsigned *retry_after);

#endif
