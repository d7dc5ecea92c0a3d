/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Plans and the applications that use them (SPEC "Policies"): reads the
 * `plans` section of a loaded config from cfg->doc, checks every key with
 * its FILE:LINE:COL, resolves each application's `plan:` and gives every
 * application its slot in the kernel meter's per-application maps.
 * docs/POLICIES.md is the reference of every key.
 *
 *	plans:
 *	  - name: bronze                             # required, unique
 *	    events: {limit: 10000, per: 1d}          # per application, per UTC window
 *	    bytes_per_second: 64KiB                  # per connection (token bucket)
 *	    burst_bytes: 256KiB                      # bucket depth, default bytes_per_second
 *	    max_connection_time: 1h
 *	    backpressure: {max_queued_bytes: 1MiB, soft_queued_bytes: 512KiB, grace: 5s}
 *	    max_connections: 100                     # per application
 *
 * Typical use, after sl_config_load:
 *
 *	struct sl_policy *pol;
 *	struct sl_app_limits lim;
 *
 *	if (sl_policy_load(&pol, &cfg, &diag))
 *		-> sl_diag_print(&diag, stderr), exit
 *	for each application app:
 *		sl_policy_app_limits(pol, app, &lim);
 *		sl_kern_app_set_limits(kern, sl_policy_app_slot(pol, app), &lim);
 *	...
 *	sl_policy_free(pol);
 *
 * A policy is read-only once loaded and owns copies of every string it keeps,
 * so it outlives the config it was made from and can be shared by threads.
 */
#ifndef SLUICE_POLICY_POLICY_H
#define SLUICE_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "config/units.h"
#include "sluice/meter.h"

/*
 * Bounds (inclusive); docs/POLICIES.md repeats them with their reasons. A
 * key that is left out means "no limit", so 0 is never a valid value.
 */
#define SL_POLICY_MAX_EVENTS_LIMIT 1000000000000000ULL /* 10^15 events per window */
/* The kernel's bucket multiplies up to 10^9 us of idle time by the rate in 64 bits. */
#define SL_POLICY_MAX_BYTES_PER_SECOND (16ULL << 30)
#define SL_POLICY_MAX_BURST_BYTES (16ULL << 30)
#define SL_POLICY_MIN_CONNECTION_TIME_NS (1ULL * SL_NSEC_PER_SEC)
#define SL_POLICY_MAX_CONNECTION_TIME_NS (365ULL * 86400 * SL_NSEC_PER_SEC)
#define SL_POLICY_MIN_QUEUED_BYTES (1ULL << 10) /* as limits.max_queued_bytes_per_connection */
#define SL_POLICY_MAX_QUEUED_BYTES (1ULL << 30)
#define SL_POLICY_MAX_GRACE_NS (3600ULL * SL_NSEC_PER_SEC)
#define SL_POLICY_DEFAULT_GRACE_NS (5ULL * SL_NSEC_PER_SEC)
#define SL_POLICY_MAX_CONNECTIONS 1000000u

/* Room for sl_plan_describe's longest line, NUL included. */
#define SL_PLAN_DESCRIBE_BUF 256

/* One plan. Every limit is 0 when the plan does not set it (no limit). */
struct sl_plan {
	const char *name;
	uint64_t events_limit;	   /* events: {limit: N, per: 1m|1h|1d|30d}; 0 = no quota */
	uint64_t events_window_ns; /* the `per` duration; fixed windows aligned to UTC */
	uint64_t bytes_per_second; /* per connection; 0 = unlimited */
	uint64_t burst_bytes; /* token bucket depth; default = bytes_per_second when rate set */
	uint64_t max_connection_time_ns; /* 0 = unlimited */
	/* backpressure: {max_queued_bytes: SIZE, soft_queued_bytes: SIZE, grace: DURATION} */
	uint64_t max_queued_bytes;  /* hard bound; 0 = no backpressure section */
	uint64_t soft_queued_bytes; /* held for grace; default max_queued_bytes / 2 */
	uint64_t grace_ns;	    /* default 5s when backpressure is set */
	uint32_t max_connections;   /* per application; 0 = unlimited */
	struct sl_config_mark mark; /* the plan's entry in `plans` */
};

struct sl_policy;

/*
 * Builds the policy of cfg (loaded by sl_config_load, valid or not): every
 * plan of the inline `plans` section, and the plan and kernel slot of each
 * of cfg->apps. Problems the config loader already reported (a section that
 * is not a list, an entry without a name, a repeated name) are not reported
 * twice; those entries are skipped. Returns 0 with *out set, -EINVAL when
 * this call added problems to diag (all of them, sorted by position; *out
 * NULL) or -ENOMEM.
 */
int sl_policy_load(struct sl_policy **out, const struct sl_config *cfg, struct sl_diag *diag);

void sl_policy_free(struct sl_policy *policy);

/* Plans in the order the file lists them. */
size_t sl_policy_plan_count(const struct sl_policy *policy);

/* The i-th plan, or NULL when i >= sl_policy_plan_count. */
const struct sl_plan *sl_policy_plan(const struct sl_policy *policy, size_t i);

/* The plan with this name, or NULL. */
const struct sl_plan *sl_policy_plan_find(const struct sl_policy *policy, const char *name);

/*
 * The plan of the application with app->id in this policy, or NULL when it
 * has none (or the policy does not know it). Looked up by id, so an
 * application of an older config finds what this policy says about it.
 */
const struct sl_plan *sl_policy_app_plan(const struct sl_policy *policy,
					 const struct sl_config_app *app);

/*
 * The application's slot in sluice_app_limits / sluice_app_usage: 1-based,
 * below SL_MAX_APPS, given in the order of the application ids (bytes, as
 * strcmp), so the same set of applications gets the same slots however the
 * file orders them. 0 (no slot) for an application the policy does not know.
 */
uint32_t sl_policy_app_slot(const struct sl_policy *policy, const struct sl_config_app *app);

/* Applications with a slot: slots run from 1 to this number. */
uint32_t sl_policy_app_count(const struct sl_policy *policy);

/* The id of the application in slot (as in a close record's app_slot), or NULL. */
const char *sl_policy_slot_app_id(const struct sl_policy *policy, uint32_t slot);

/*
 * The application's limits for the kernel: event_cap = the plan's
 * events_limit, window_ns = its window; all zero (no cap) without a plan.
 * tai_offset_ns is left 0 for sl_kern_app_set_limits to fill in.
 */
void sl_policy_app_limits(const struct sl_policy *policy, const struct sl_config_app *app,
			  struct sl_app_limits *out);

/*
 * The quota window holding now_unix_ns: [*start_ns, *end_ns) in Unix ns.
 * Windows are fixed and aligned to multiples of their length since the
 * epoch, as the kernel computes them: 1m, 1h and 1d windows turn on UTC
 * minute, hour and midnight boundaries (Unix time has no leap seconds);
 * 30d windows are 30-day blocks counted from 1970-01-01T00:00:00Z, not
 * calendar months (one turned at 2023-12-19T00:00:00Z, the next at
 * 2024-01-18T00:00:00Z). Without a quota (plan NULL or no events) the one window is
 * [0, UINT64_MAX). An end past 2554 saturates at UINT64_MAX.
 */
void sl_plan_window(const struct sl_plan *plan, uint64_t now_unix_ns, uint64_t *start_ns,
		    uint64_t *end_ns);

/*
 * One line for people: "10000 events per 1d, 64KiB/s (burst 256KiB), 1h per
 * connection, queue 1MiB (soft 512KiB for 5s), 100 connections", or "no
 * limits". Returns buf (SL_PLAN_DESCRIBE_BUF bytes are always enough).
 */
char *sl_plan_describe(const struct sl_plan *plan, char *buf, size_t size);

/*
 * The policy as JSON for `sluicectl -j policy show`:
 *
 *	{"file": "/etc/sluice/sluice.yaml",
 *	 "plans": [{"name": "bronze", "line": 3, "col": 5,
 *	            "events": {"limit": 10000, "per": "1d", "window_ns": 86400000000000} | null,
 *	            "bytes_per_second": 65536 | null, "burst_bytes": 262144 | null,
 *	            "max_connection_time_ns": 3600000000000 | null,
 *	            "backpressure": {"max_queued_bytes": 1048576, "soft_queued_bytes": 524288,
 *	                             "grace_ns": 5000000000} | null,
 *	            "max_connections": 100 | null,
 *	            "summary": "<sl_plan_describe>"}, ...],
 *	 "applications": [{"id": "acme-mobile", "plan": "bronze" | null, "slot": 1,
 *	                   "subscribe": ["stocks.>"], "publish": [],
 *	                   "api_keys": ["sha256:HEX"], "certificates": ["sha256:HEX", "cn:NAME"]},
 *	                  ...],
 *	 "issuers": [{"name": "idp", "alg": "RS256", "issuer": "https://idp" | null,
 *	              "audience": "sluice" | null, "key": "16 hex digits"}, ...]}
 *
 * null means no limit. Applications are listed in cfg's order (those without
 * an id are left out), their lists sorted; issuers come from auth (NULL: an
 * empty list), each key by the first 8 bytes of its SHA-256. Returns 0 with
 * *out a new reference, or -ENOMEM.
 */
struct sl_auth;
int sl_policy_to_json(const struct sl_policy *policy, const struct sl_config *cfg,
		      const struct sl_auth *auth, json_t **out);

#endif
