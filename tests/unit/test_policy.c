// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Plans (userspace/policy): every key and its defaults, every class of error
 * with its exact FILE:LINE:COL, several problems in one run, problems the
 * config loader reports not repeated, applications' plans and kernel slots,
 * the kernel limits, UTC-aligned quota windows around their boundaries, the
 * JSON description, and the examples in policies/examples/. Each case writes
 * its YAML into a private temporary directory, so the text a position refers
 * to sits next to the assertion.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "config/units.h"
#include "policy/bundle.h"
#include "policy/policy.h"
#include "diag_at.h"
#include "tap.h"
#include "tmpfiles.h"

#define SEC SL_NSEC_PER_SEC
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)
#define KIB 1024ULL
#define MIB (1024ULL * 1024)

/* One config file through both loaders, as `sluiced --check` runs them. */
struct run {
	struct sl_config cfg;
	struct sl_diag diag;
	struct sl_policy *pol;
	const char *path;
	int cfg_err, pol_err;
};

static void load_path(struct run *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->cfg_err = sl_config_load(path, &r->cfg, &r->diag);
	/* The policy is checked even when the config has problems: every problem at once. */
	if (r->cfg_err == 0 || r->cfg_err == -EINVAL)
		r->pol_err = sl_policy_load(&r->pol, &r->cfg, &r->diag);
}

static void load(struct run *r, const char *text)
{
	load_path(r, put("case.yaml", text));
}

static void done(struct run *r)
{
	sl_policy_free(r->pol);
	sl_diag_free(&r->diag);
	sl_config_free(&r->cfg);
}

static void show(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->diag.stored; i++)
		printf("# %s\n", sl_diag_get(&r->diag, i));
}

/* Whether some message is exactly "PATH:LINE:COL: " followed by text containing want. */
static bool has_at(const struct run *r, unsigned int line, unsigned int col, const char *want)
{
	return diag_has_at(&r->diag, r->path, line, col, want);
}

/* Whether the message for this position is exactly rest (after "PATH:LINE:COL: "). */
static bool exactly_at(const struct run *r, unsigned int line, unsigned int col, const char *rest)
{
	char want[PATH_MAX + 512];
	size_t i;

	snprintf(want, sizeof(want), "%s:%u:%u: %s", r->path, line, col, rest);
	for (i = 0; i < r->diag.stored; i++)
		if (!strcmp(sl_diag_get(&r->diag, i), want))
			return true;
	return false;
}

static bool ok_run(const struct run *r)
{
	return r->cfg_err == 0 && r->pol_err == 0 && r->pol && sl_diag_count(&r->diag) == 0;
}

/* The config is valid; the policy has exactly one problem, at line:col, saying want. */
static void expect_one(const char *what, const char *text, unsigned int line, unsigned int col,
		       const char *want)
{
	struct run r;
	bool ok;

	load(&r, text);
	ok = r.cfg_err == 0 && r.pol_err == -EINVAL && !r.pol && sl_diag_count(&r.diag) == 1 &&
	     has_at(&r, line, col, want);
	TAP_OK(ok, "%s: one problem at %u:%u saying \"%s\"", what, line, col, want);
	if (!ok)
		show(&r);
	done(&r);
}

/* ---- Plans ---------------------------------------------------------------------------------- */

static void test_full(void)
{
	struct run r;
	const struct sl_plan *p;
	char buf[SL_PLAN_DESCRIBE_BUF];

	load(&r,
	     "plans:\n"
	     "  - name: bronze\n"
	     "    events: {limit: 10000, per: 1d}\n"
	     "    bytes_per_second: 65536\n"
	     "    burst_bytes: 256KiB\n"
	     "    max_connection_time: 1h\n"
	     "    backpressure: {max_queued_bytes: 1MiB, soft_queued_bytes: 256KiB, grace: 2s}\n"
	     "    max_connections: 100\n"
	     "  - name: silver\n"
	     "    events: {limit: 1, per: 24h}\n"
	     "    bytes_per_second: \"1MiB\"\n"
	     "    backpressure:\n"
	     "      max_queued_bytes: 2097152\n"
	     "  - name: free\n");
	TAP_OK(ok_run(&r), "full: a valid plans section loads without problems");
	if (!ok_run(&r)) {
		show(&r);
		done(&r);
		return;
	}
	TAP_OK(sl_policy_plan_count(r.pol) == 3, "full: three plans");
	p = sl_policy_plan(r.pol, 0);
	TAP_OK(p && !strcmp(p->name, "bronze") && p->mark.line == 2 && p->mark.col == 5,
	       "full: plan 0 is bronze, its entry at 2:5");
	TAP_OK(p && p->events_limit == 10000 && p->events_window_ns == DAY,
	       "full: bronze: 10000 events per 1d");
	TAP_OK(p && p->bytes_per_second == 65536 && p->burst_bytes == 256 * KIB,
	       "full: bronze: 65536 B/s, burst 256KiB");
	TAP_OK(p && p->max_connection_time_ns == HOUR, "full: bronze: 1h per connection");
	TAP_OK(p && p->max_queued_bytes == MIB && p->soft_queued_bytes == 256 * KIB &&
		   p->grace_ns == 2 * SEC,
	       "full: bronze: backpressure 1MiB hard, 256KiB soft, 2s grace");
	TAP_OK(p && p->max_connections == 100, "full: bronze: 100 connections");
	TAP_OK(p && !strcmp(sl_plan_describe(p, buf, sizeof(buf)),
			    "10000 events per 1d, 64KiB/s (burst 256KiB), 1h per connection, "
			    "queue 1MiB (soft 256KiB for 2s), 100 connections"),
	       "full: bronze described as \"%s\"", buf);

	p = sl_policy_plan_find(r.pol, "silver");
	TAP_OK(p == sl_policy_plan(r.pol, 1), "full: find silver gives plan 1");
	TAP_OK(p && p->events_limit == 1 && p->events_window_ns == DAY,
	       "full: silver: per 24h is the 1d window");
	TAP_OK(p && p->bytes_per_second == MIB && p->burst_bytes == MIB,
	       "full: silver: a quoted size works, burst defaults to bytes_per_second");
	TAP_OK(p && p->max_queued_bytes == 2 * MIB && p->soft_queued_bytes == MIB &&
		   p->grace_ns == 5 * SEC,
	       "full: silver: soft bound defaults to half the hard one, grace to 5s");
	TAP_OK(p && p->max_connection_time_ns == 0 && p->max_connections == 0,
	       "full: silver: no time limit, no connection cap");

	p = sl_policy_plan_find(r.pol, "free");
	TAP_OK(p && !p->events_limit && !p->events_window_ns && !p->bytes_per_second &&
		   !p->burst_bytes && !p->max_connection_time_ns && !p->max_queued_bytes &&
		   !p->soft_queued_bytes && !p->grace_ns && !p->max_connections,
	       "full: a plan with only a name has no limits");
	TAP_OK(p && !strcmp(sl_plan_describe(p, buf, sizeof(buf)), "no limits"),
	       "full: and is described as \"no limits\"");
	TAP_OK(!sl_policy_plan_find(r.pol, "gold") && !sl_policy_plan(r.pol, 3) &&
		   !sl_policy_plan_find(r.pol, "bronz"),
	       "full: unknown names and indexes find nothing");
	done(&r);
}

static void test_windows_accepted(void)
{
	static const struct {
		const char *per;
		uint64_t ns;
	} cases[] = {
		{ "1m", MINUTE }, { "60s", MINUTE }, { "1h", HOUR },	  { "60m", HOUR },
		{ "1d", DAY },	  { "24h", DAY },    { "30d", 30 * DAY }, { "720h", 30 * DAY },
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		const struct sl_plan *p;

		snprintf(text, sizeof(text),
			 "plans:\n  - name: p\n    events: {limit: 5, per: %s}\n", cases[i].per);
		load(&r, text);
		p = ok_run(&r) ? sl_policy_plan(r.pol, 0) : NULL;
		TAP_OK(p && p->events_window_ns == cases[i].ns && p->events_limit == 5,
		       "per: %s is accepted as a window of %llu s", cases[i].per,
		       (unsigned long long)(cases[i].ns / SEC));
		if (!p)
			show(&r);
		done(&r);
	}
}

static void test_bounds_accepted(void)
{
	struct run r;
	const struct sl_plan *p;

	load(&r, "plans:\n"
		 "  - name: max\n"
		 "    events: {limit: 1000000000000000, per: 30d}\n"
		 "    bytes_per_second: 16GiB\n"
		 "    burst_bytes: 16GiB\n"
		 "    max_connection_time: 365d\n"
		 "    backpressure: {max_queued_bytes: 4MiB, soft_queued_bytes: 4MiB, grace: 1h}\n"
		 "    max_connections: 1000000\n"
		 "  - name: min\n"
		 "    events: {limit: 1, per: 1m}\n"
		 "    bytes_per_second: 1\n"
		 "    burst_bytes: 1\n"
		 "    max_connection_time: 1s\n"
		 "    backpressure: {max_queued_bytes: 1MiB, soft_queued_bytes: 1, grace: 0s}\n"
		 "    max_connections: 1\n"
		 "limits: {max_frame_bytes: 1MiB, max_queued_bytes_per_connection: 4MiB}\n");
	TAP_OK(ok_run(&r), "bounds: the largest and smallest values of every key are accepted");
	if (!ok_run(&r))
		show(&r);
	p = sl_policy_plan_find(r.pol, "max");
	TAP_OK(p && p->events_limit == SL_POLICY_MAX_EVENTS_LIMIT &&
		   p->bytes_per_second == 16ULL << 30 && p->burst_bytes == 16ULL << 30 &&
		   p->max_connection_time_ns == 365 * DAY && p->max_queued_bytes == 4 * MIB &&
		   p->soft_queued_bytes == 4 * MIB && p->grace_ns == HOUR &&
		   p->max_connections == 1000000,
	       "bounds: the upper bounds are kept exactly");
	p = sl_policy_plan_find(r.pol, "min");
	TAP_OK(p && p->events_limit == 1 && p->bytes_per_second == 1 && p->burst_bytes == 1 &&
		   p->max_connection_time_ns == SEC && p->soft_queued_bytes == 1 &&
		   p->grace_ns == 0 && p->max_connections == 1,
	       "bounds: the lower bounds are kept exactly (grace 0s evicts at once)");
	done(&r);
}

static void test_absent(void)
{
	struct sl_config cfg;
	struct sl_diag diag = { 0 };
	struct sl_policy *pol = NULL;
	struct sl_app_limits lim;
	struct run r;
	int err;

	sl_config_defaults(&cfg);
	err = sl_policy_load(&pol, &cfg, &diag);
	TAP_OK(err == 0 && pol && sl_policy_plan_count(pol) == 0 && sl_policy_app_count(pol) == 0 &&
		   sl_diag_count(&diag) == 0,
	       "absent: the built-in defaults (no document) give an empty policy");
	sl_policy_app_limits(pol, NULL, &lim);
	TAP_OK(!lim.event_cap && !lim.window_ns && !lim.tai_offset_ns && !lim.owner,
	       "absent: no application, no limits");
	sl_policy_free(pol);
	sl_diag_free(&diag);
	sl_config_free(&cfg);

	load(&r, "log: {level: info}\n");
	TAP_OK(ok_run(&r) && sl_policy_plan_count(r.pol) == 0, "absent: no plans section");
	done(&r);
	load(&r, "plans:\n");
	TAP_OK(ok_run(&r) && sl_policy_plan_count(r.pol) == 0, "absent: an empty plans section");
	done(&r);
	load(&r, "plans: []\napplications: [{id: a}]\n");
	TAP_OK(ok_run(&r) && sl_policy_plan_count(r.pol) == 0 && sl_policy_app_count(r.pol) == 1,
	       "absent: plans: [] and an application without a plan");
	done(&r);
	sl_policy_free(NULL);
	TAP_OK(sl_policy_plan_count(NULL) == 0 && !sl_policy_plan(NULL, 0) &&
		   !sl_policy_plan_find(NULL, "x") && !sl_policy_app_plan(NULL, NULL) &&
		   sl_policy_app_slot(NULL, NULL) == 0 && !sl_policy_slot_app_id(NULL, 1),
	       "absent: every accessor takes a NULL policy");
}

/* ---- Errors --------------------------------------------------------------------------------- */

static void test_errors(void)
{
	/* Keys */
	expect_one("unknown key near a known one",
		   "plans:\n"
		   "  - name: a\n"
		   "    evnts: {limit: 1, per: 1d}\n",
		   3, 5, "plans[0]: unknown key \"evnts\"; did you mean \"events\"?");
	expect_one("unknown key",
		   "plans:\n"
		   "  - name: a\n"
		   "    colour: red\n",
		   3, 5,
		   "plans[0]: unknown key \"colour\"; expected one of: name, events, "
		   "bytes_per_second, burst_bytes, max_connection_time, backpressure, "
		   "max_connections");
	expect_one("unknown key in events",
		   "plans:\n  - {name: a, events: {limit: 1, per: 1d, burst: 2}}\n", 2, 43,
		   "plans[0].events: unknown key \"burst\"; expected one of: limit, per");
	expect_one("unknown key in backpressure",
		   "plans:\n"
		   "  - name: a\n"
		   "    backpressure: {max_queued_bytes: 1MiB, grce: 5s}\n",
		   3, 44, "plans[0].backpressure: unknown key \"grce\"; did you mean \"grace\"?");

	/* events */
	expect_one("events not a mapping",
		   "plans:\n"
		   "  - name: a\n"
		   "    events: 10000\n",
		   3, 13,
		   "plans[0].events: expected a mapping {limit: N, per: 1m|1h|1d|30d}, got "
		   "\"10000\"");
	expect_one("events null",
		   "plans:\n"
		   "  - name: a\n"
		   "    events:\n"
		   "    max_connections: 3\n",
		   3, 12,
		   "plans[0].events: expected a mapping {limit: N, per: 1m|1h|1d|30d}, got nothing "
		   "(null)");
	expect_one("events empty", "plans:\n  - name: a\n    events: {}\n", 3, 13,
		   "plans[0].events: needs limit and per, such as {limit: 10000, per: 1d}; leave "
		   "events out for no quota");
	expect_one("events without limit", "plans:\n  - name: a\n    events: {per: 1d}\n", 3, 13,
		   "plans[0].events: needs limit: the events allowed per window, such as 10000");
	expect_one("events without per", "plans:\n  - name: a\n    events: {limit: 10}\n", 3, 13,
		   "plans[0].events: needs per: the quota window, one of 1m, 1h, 1d or 30d");
	expect_one("events.limit zero", "plans:\n  - name: a\n    events: {limit: 0, per: 1d}\n", 3,
		   21,
		   "plans[0].events.limit: \"0\" is out of range: expected 1 to 1000000000000000; "
		   "leave events out for no quota");
	expect_one("events.limit negative",
		   "plans:\n  - name: a\n    events: {limit: -5, per: 1d}\n", 3, 21,
		   "plans[0].events.limit: expected a whole number such as 1000, got \"-5\"");
	expect_one("events.limit fraction",
		   "plans:\n  - name: a\n    events: {limit: 1.5, per: 1d}\n", 3, 21,
		   "plans[0].events.limit: expected a whole number such as 1000, got \"1.5\"");
	expect_one("events.limit quoted",
		   "plans:\n  - name: a\n    events: {limit: \"100\", per: 1d}\n", 3, 21,
		   "plans[0].events.limit: expected an integer, got the quoted string \"100\"");
	expect_one("events.limit too large",
		   "plans:\n  - name: a\n    events: {limit: 1000000000000001, per: 1d}\n", 3, 21,
		   "plans[0].events.limit: \"1000000000000001\" is out of range: expected 1 to "
		   "1000000000000000");
	expect_one("events.limit beyond 64 bits",
		   "plans:\n  - name: a\n    events: {limit: 99999999999999999999, per: 1d}\n", 3,
		   21, "is out of range: expected 1 to 1000000000000000");
	expect_one(
	    "events.per not a window", "plans:\n  - name: a\n    events: {limit: 10, per: 2d}\n", 3,
	    30,
	    "plans[0].events.per: \"2d\" is not a quota window: use 1m, 1h, 1d or 30d (fixed "
	    "windows aligned to UTC)");
	expect_one("events.per a word", "plans:\n  - name: a\n    events: {limit: 10, per: day}\n",
		   3, 30,
		   "plans[0].events.per: \"day\" is not a quota window: use 1m, 1h, 1d or 30d");
	expect_one("events.per without unit",
		   "plans:\n  - name: a\n    events: {limit: 10, per: 86400}\n", 3, 30,
		   "\"86400\" is not a quota window: use 1m, 1h, 1d or 30d");
	expect_one("events.per a list", "plans:\n  - name: a\n    events: {limit: 10, per: [1d]}\n",
		   3, 30, "plans[0].events.per: expected 1m, 1h, 1d or 30d, got a list");

	/* bytes_per_second and burst_bytes */
	expect_one("bytes_per_second not a size",
		   "plans:\n  - name: a\n    bytes_per_second: 1 MB\n", 3, 23,
		   "plans[0].bytes_per_second: \"1 MB\" is not a size: use bytes (65536) or a "
		   "whole number with KiB, MiB or GiB (64KiB)");
	expect_one("bytes_per_second decimal unit",
		   "plans:\n  - name: a\n    bytes_per_second: 64KB\n", 3, 23,
		   "\"64KB\" is not a size");
	expect_one("bytes_per_second zero", "plans:\n  - name: a\n    bytes_per_second: 0\n", 3, 23,
		   "plans[0].bytes_per_second: \"0\" is out of range: expected 1 to 16GiB; leave "
		   "bytes_per_second out for no byte-rate limit");
	expect_one("bytes_per_second too large",
		   "plans:\n  - name: a\n    bytes_per_second: 17GiB\n", 3, 23,
		   "plans[0].bytes_per_second: \"17GiB\" is out of range: expected 1 to 16GiB");
	expect_one("bytes_per_second a mapping",
		   "plans:\n  - name: a\n    bytes_per_second: {rate: 1}\n", 3, 23,
		   "plans[0].bytes_per_second: expected a size, got a mapping");
	expect_one("burst_bytes without bytes_per_second",
		   "plans:\n  - name: a\n    burst_bytes: 1MiB\n", 3, 18,
		   "plans[0].burst_bytes: burst_bytes needs bytes_per_second: it is the depth of "
		   "the byte-rate bucket");
	expect_one("burst_bytes zero",
		   "plans:\n  - name: a\n    bytes_per_second: 1KiB\n    burst_bytes: 0\n", 4, 18,
		   "plans[0].burst_bytes: \"0\" is out of range: expected 1 to 16GiB");

	/* max_connection_time */
	expect_one("max_connection_time without unit",
		   "plans:\n  - name: a\n    max_connection_time: 3600\n", 3, 26,
		   "plans[0].max_connection_time: \"3600\" is not a duration: use a whole number "
		   "with a unit: ms, s, m, h or d (500ms, 2s, 5m, 1h, 1d)");
	expect_one("max_connection_time zero", "plans:\n  - name: a\n    max_connection_time: 0s\n",
		   3, 26,
		   "plans[0].max_connection_time: \"0s\" is out of range: expected 1s to 365d; "
		   "leave max_connection_time out for no time limit");
	expect_one("max_connection_time too short",
		   "plans:\n  - name: a\n    max_connection_time: 500ms\n", 3, 26,
		   "\"500ms\" is out of range: expected 1s to 365d");
	expect_one("max_connection_time too long",
		   "plans:\n  - name: a\n    max_connection_time: 366d\n", 3, 26,
		   "\"366d\" is out of range: expected 1s to 365d");
	expect_one("max_connection_time combined units",
		   "plans:\n  - name: a\n    max_connection_time: 1h30m\n", 3, 26,
		   "\"1h30m\" is not a duration");

	/* backpressure */
	expect_one("backpressure not a mapping", "plans:\n  - name: a\n    backpressure: 1MiB\n", 3,
		   19,
		   "plans[0].backpressure: expected a mapping {max_queued_bytes: SIZE, grace: "
		   "DURATION}, got \"1MiB\"");
	expect_one("backpressure without max_queued_bytes",
		   "plans:\n  - name: a\n    backpressure: {grace: 5s}\n", 3, 19,
		   "plans[0].backpressure: needs max_queued_bytes: the queued bytes that evict a "
		   "subscriber at once, such as 1MiB");
	expect_one(
	    "backpressure below 1KiB",
	    "plans:\n  - name: a\n    backpressure: {max_queued_bytes: 1000}\n", 3, 38,
	    "plans[0].backpressure.max_queued_bytes: \"1000\" is out of range: expected 1KiB "
	    "to 1GiB");
	expect_one("backpressure above the global limit",
		   "plans:\n  - name: a\n    backpressure: {max_queued_bytes: 8MiB}\n", 3, 38,
		   "plans[0].backpressure.max_queued_bytes: 8MiB is more than "
		   "limits.max_queued_bytes_per_connection (4MiB), which bounds every connection: "
		   "raise that limit or lower this one");
	expect_one("backpressure below the largest frame",
		   "plans:\n  - name: a\n    backpressure: {max_queued_bytes: 512KiB}\n", 3, 38,
		   "plans[0].backpressure.max_queued_bytes: 512KiB is smaller than "
		   "limits.max_frame_bytes (1MiB): one large event would evict any subscriber on "
		   "this plan");
	expect_one("backpressure soft above hard",
		   "plans:\n"
		   "  - name: a\n"
		   "    backpressure:\n"
		   "      max_queued_bytes: 1MiB\n"
		   "      soft_queued_bytes: 2MiB\n",
		   5, 26,
		   "plans[0].backpressure.soft_queued_bytes: 2MiB is more than max_queued_bytes "
		   "(1MiB): the soft bound must be at most the hard one");
	expect_one("backpressure grace without unit",
		   "plans:\n  - name: a\n    backpressure: {max_queued_bytes: 1MiB, grace: 5}\n", 3,
		   51, "plans[0].backpressure.grace: \"5\" is not a duration");
	expect_one("backpressure grace too long",
		   "plans:\n  - name: a\n    backpressure: {max_queued_bytes: 1MiB, grace: 2h}\n",
		   3, 51, "plans[0].backpressure.grace: \"2h\" is out of range: expected 0s to 1h");

	/* max_connections */
	expect_one("max_connections zero", "plans:\n  - name: a\n    max_connections: 0\n", 3, 22,
		   "plans[0].max_connections: \"0\" is out of range: expected 1 to 1000000; leave "
		   "max_connections out for no limit");
	expect_one("max_connections too many",
		   "plans:\n  - name: a\n    max_connections: 1000001\n", 3, 22,
		   "\"1000001\" is out of range: expected 1 to 1000000");
	expect_one("max_connections quoted", "plans:\n  - name: a\n    max_connections: '10'\n", 3,
		   22,
		   "plans[0].max_connections: expected an integer, got the quoted string \"10\"");
	expect_one("max_connections a list", "plans:\n  - name: a\n    max_connections: [1]\n", 3,
		   22, "plans[0].max_connections: expected an integer, got a list");

	/* applications */
	expect_one("undefined plan, near a defined one",
		   "plans:\n"
		   "  - name: gold\n"
		   "applications:\n"
		   "  - id: acme\n"
		   "    plan: golf\n",
		   5, 11, "applications[0].plan: undefined plan \"golf\"; did you mean \"gold\"?");
	expect_one("undefined plan, far from every one",
		   "plans: [{name: silver}, {name: bronze}, {name: bronze-eu}]\n"
		   "applications:\n"
		   "  - {id: one}\n"
		   "  - {id: two, plan: platinum}\n",
		   4, 21,
		   "applications[1].plan: undefined plan \"platinum\"; the plans are: bronze, "
		   "bronze-eu, silver");
	expect_one("undefined plan, no plans at all",
		   "applications:\n"
		   "  - id: acme\n"
		   "    subscribe: [\">\"]\n"
		   "    plan: bronze\n",
		   4, 11, "applications[0].plan: undefined plan \"bronze\": no plans are defined");
}

/* Problems the config loader reports are not reported a second time. */
static void test_not_twice(void)
{
	struct run r;

	load(&r, "plans:\n"
		 "  - name: a\n"
		 "    max_connections: 0\n"
		 "  - name: a\n"
		 "  - max_connections: 5\n"
		 "  - just a string\n"
		 "  - name: \"two words\"\n"
		 "    events: {per: 1d}\n");
	TAP_OK(r.cfg_err == -EINVAL && r.pol_err == -EINVAL && sl_diag_count(&r.diag) == 6,
	       "not twice: 4 config problems and 2 plan problems, %zu in all",
	       sl_diag_count(&r.diag));
	TAP_OK(has_at(&r, 4, 11, "plan \"a\" is already defined at 2:11"),
	       "not twice: the repeated name, from the config loader");
	TAP_OK(has_at(&r, 5, 5, "plans[2]: every plan needs a name"),
	       "not twice: the missing name, from the config loader");
	TAP_OK(has_at(&r, 6, 5, "plans[3]: expected a mapping with a name"),
	       "not twice: the entry that is not a mapping, from the config loader");
	TAP_OK(has_at(&r, 7, 11, "is not a valid name"),
	       "not twice: the bad name, from the config loader");
	TAP_OK(has_at(&r, 3, 22, "plans[0].max_connections: \"0\" is out of range"),
	       "not twice: the plan's own problem");
	TAP_OK(has_at(&r, 8, 13, "plans[4].events: needs limit"),
	       "not twice: an entry with a bad name is still checked");
	done(&r);

	load(&r, "plans: {name: a}\n");
	TAP_OK(
	    r.cfg_err == -EINVAL && r.pol_err == 0 && sl_diag_count(&r.diag) == 1 &&
		has_at(&r, 1, 8, "plans: expected a list of mappings with a name, got a mapping"),
	    "not twice: plans as a mapping is reported once, by the config loader");
	done(&r);

	load(&r, "plans:\n"
		 "  - name: a\n"
		 "    max_connections: 1\n"
		 "    max_connections: 0\n");
	TAP_OK(r.cfg_err == -EINVAL && r.pol_err == -EINVAL && sl_diag_count(&r.diag) == 2 &&
		   has_at(&r, 4, 5, "key \"max_connections\" is already defined at 3:5") &&
		   has_at(&r, 4, 22, "\"0\" is out of range"),
	       "not twice: a repeated key is the config's; its last value is checked");
	if (sl_diag_count(&r.diag) != 2)
		show(&r);
	done(&r);

	load(&r, "applications:\n"
		 "  - id: a\n"
		 "    plan: \"\"\n");
	TAP_OK(r.cfg_err == -EINVAL && r.pol_err == 0 && sl_diag_count(&r.diag) == 1 &&
		   has_at(&r, 3, 11, "is not a valid name"),
	       "not twice: a plan name the config refused is not also undefined");
	done(&r);

	/* One events mapping shared by two plans through an alias: one message. */
	load(&r, "plans:\n"
		 "  - name: a\n"
		 "    events: &quota {limit: 0, per: 1d}\n"
		 "  - name: b\n"
		 "    events: *quota\n");
	TAP_OK(r.cfg_err == 0 && r.pol_err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
		   has_at(&r, 3, 28, "plans[0].events.limit: \"0\" is out of range"),
	       "not twice: a problem in an aliased mapping is reported once, at the anchor");
	if (sl_diag_count(&r.diag) != 1)
		show(&r);
	done(&r);
}

/* Every class at once, sorted by position, with the config's own problems among them. */
static void test_many(void)
{
	struct run r;

	load(&r, "retenton: 5\n"				 /* 1 */
		 "plans:\n"					 /* 2 */
		 "  - name: bronze\n"				 /* 3 */
		 "    events: {limit: 0, per: 2d}\n"		 /* 4 */
		 "    burst_bytes: 64KiB\n"			 /* 5 */
		 "    max_connection_time: 15\n"		 /* 6 */
		 "    backpressure: {soft_queued_bytes: 1KiB}\n" /* 7 */
		 "    max_connections: 1000001\n"		 /* 8 */
		 "    speed: fast\n"				 /* 9 */
		 "  - name: silver\n"				 /* 10 */
		 "    bytes_per_second: -1\n"			 /* 11 */
		 "applications:\n"				 /* 12 */
		 "  - {id: a, plan: bronze}\n"			 /* 13 */
		 "  - {id: b, plan: gold}\n"			 /* 14 */
		 "  - {id: c, plan: silver}\n"			 /* 15 */
		 "  - {id: d, plan: copper}\n");		 /* 16 */
	TAP_OK(r.cfg_err == -EINVAL && r.pol_err == -EINVAL && sl_diag_count(&r.diag) == 11,
	       "many: 11 problems (1 config, 10 policy), got %zu", sl_diag_count(&r.diag));
	TAP_OK(exactly_at(&r, 1, 1, "unknown key \"retenton\"; did you mean \"retention\"?"),
	       "many: 1:1 the config's unknown key");
	TAP_OK(exactly_at(&r, 4, 21,
			  "plans[0].events.limit: \"0\" is out of range: expected 1 to "
			  "1000000000000000; leave events out for no quota"),
	       "many: 4:21 events.limit");
	TAP_OK(exactly_at(&r, 4, 29,
			  "plans[0].events.per: \"2d\" is not a quota window: use 1m, 1h, 1d or "
			  "30d (fixed windows aligned to UTC)"),
	       "many: 4:29 events.per");
	TAP_OK(exactly_at(&r, 5, 18,
			  "plans[0].burst_bytes: burst_bytes needs bytes_per_second: it is the "
			  "depth of the byte-rate bucket"),
	       "many: 5:18 burst_bytes");
	TAP_OK(has_at(&r, 6, 26, "plans[0].max_connection_time: \"15\" is not a duration"),
	       "many: 6:26 max_connection_time");
	TAP_OK(has_at(&r, 7, 19, "plans[0].backpressure: needs max_queued_bytes"),
	       "many: 7:19 backpressure");
	TAP_OK(has_at(&r, 8, 22, "plans[0].max_connections: \"1000001\" is out of range"),
	       "many: 8:22 max_connections");
	TAP_OK(has_at(&r, 9, 5, "plans[0]: unknown key \"speed\"; expected one of:"),
	       "many: 9:5 unknown key");
	TAP_OK(has_at(&r, 11, 23, "plans[1].bytes_per_second: \"-1\" is not a size"),
	       "many: 11:23 bytes_per_second");
	TAP_OK(exactly_at(&r, 14, 19,
			  "applications[1].plan: undefined plan \"gold\"; the plans are: bronze, "
			  "silver"),
	       "many: 14:19 undefined plan");
	TAP_OK(exactly_at(&r, 16, 19,
			  "applications[3].plan: undefined plan \"copper\"; the plans are: bronze, "
			  "silver"),
	       "many: 16:19 another undefined plan");
	/* Sorted by position: each message's line is at least the previous one's. */
	{
		unsigned long prev = 0, line;
		bool sorted = true;
		size_t i, plen = strlen(r.path) + 1;

		for (i = 0; i < r.diag.stored; i++) {
			line = strtoul(sl_diag_get(&r.diag, i) + plen, NULL, 10);
			sorted = sorted && line >= prev;
			prev = line;
		}
		TAP_OK(sorted && r.diag.stored == 11,
		       "many: the policy's problems are in file order");
	}
	if (sl_diag_count(&r.diag) != 11)
		show(&r);
	done(&r);
}

/* ---- Applications: plans, slots, limits ----------------------------------------------------- */

static void test_apps(void)
{
	const struct sl_config_app *zeta, *alpha, *mid, *none;
	struct sl_config_app stranger = { .id = "stranger", .plan = "gold" };
	struct sl_config_app copy;
	struct sl_app_limits lim;
	struct run r;

	load(&r, "plans:\n"
		 "  - name: gold\n"
		 "    events: {limit: 5000, per: 1h}\n"
		 "  - name: open\n"
		 "    max_connections: 3\n"
		 "applications:\n"
		 "  - {id: zeta, plan: gold}\n"
		 "  - {id: alpha, plan: open}\n"
		 "  - {id: mid}\n"
		 "  - {id: Mid, plan: gold}\n");
	TAP_OK(ok_run(&r), "apps: valid");
	if (!ok_run(&r)) {
		show(&r);
		done(&r);
		return;
	}
	zeta = sl_config_app_find(&r.cfg, "zeta");
	alpha = sl_config_app_find(&r.cfg, "alpha");
	mid = sl_config_app_find(&r.cfg, "mid");
	none = sl_config_app_find(&r.cfg, "Mid");
	TAP_OK(sl_policy_app_count(r.pol) == 4, "apps: four applications with slots");
	TAP_OK(sl_policy_app_plan(r.pol, zeta) == sl_policy_plan_find(r.pol, "gold") &&
		   sl_policy_app_plan(r.pol, alpha) == sl_policy_plan_find(r.pol, "open") &&
		   sl_policy_app_plan(r.pol, mid) == NULL,
	       "apps: zeta has gold, alpha open, mid none");
	/* Bytes order: "Mid" < "alpha" < "mid" < "zeta". */
	TAP_OK(sl_policy_app_slot(r.pol, none) == 1 && sl_policy_app_slot(r.pol, alpha) == 2 &&
		   sl_policy_app_slot(r.pol, mid) == 3 && sl_policy_app_slot(r.pol, zeta) == 4,
	       "apps: slots 1..4 in id order, not file order");
	TAP_OK(!strcmp(sl_policy_slot_app_id(r.pol, 1), "Mid") &&
		   !strcmp(sl_policy_slot_app_id(r.pol, 4), "zeta") &&
		   !sl_policy_slot_app_id(r.pol, 0) && !sl_policy_slot_app_id(r.pol, 5),
	       "apps: slots map back to ids; 0 and past the end to none");
	TAP_OK(sl_policy_app_slot(r.pol, &stranger) == 0 && !sl_policy_app_plan(r.pol, &stranger),
	       "apps: an application the policy does not know has no slot and no plan");
	copy = *zeta;
	copy.plan = NULL;
	TAP_OK(sl_policy_app_slot(r.pol, &copy) == 4 &&
		   sl_policy_app_plan(r.pol, &copy) == sl_policy_plan_find(r.pol, "gold"),
	       "apps: lookups go by id: a copy of zeta finds zeta's slot and plan");

	memset(&lim, 0xff, sizeof(lim));
	sl_policy_app_limits(r.pol, zeta, &lim);
	TAP_OK(lim.event_cap == 5000 && lim.window_ns == HOUR && lim.tai_offset_ns == 0 &&
		   lim.owner == 0,
	       "apps: zeta's kernel limits: 5000 events per 1h, tai offset left to the loader");
	memset(&lim, 0xff, sizeof(lim));
	sl_policy_app_limits(r.pol, alpha, &lim);
	TAP_OK(!lim.event_cap && !lim.window_ns && !lim.tai_offset_ns && !lim.owner,
	       "apps: a plan without events gives no cap");
	memset(&lim, 0xff, sizeof(lim));
	sl_policy_app_limits(r.pol, mid, &lim);
	TAP_OK(!lim.event_cap && !lim.window_ns, "apps: no plan gives no cap");
	done(&r);

	/* The same applications in another order get the same slots. */
	load(&r, "plans: [{name: gold}, {name: open}]\n"
		 "applications:\n"
		 "  - {id: mid}\n"
		 "  - {id: alpha, plan: open}\n"
		 "  - {id: Mid, plan: gold}\n"
		 "  - {id: zeta, plan: gold}\n");
	TAP_OK(ok_run(&r) && sl_policy_app_slot(r.pol, sl_config_app_find(&r.cfg, "Mid")) == 1 &&
		   sl_policy_app_slot(r.pol, sl_config_app_find(&r.cfg, "alpha")) == 2 &&
		   sl_policy_app_slot(r.pol, sl_config_app_find(&r.cfg, "mid")) == 3 &&
		   sl_policy_app_slot(r.pol, sl_config_app_find(&r.cfg, "zeta")) == 4,
	       "apps: reordering the file keeps every slot");
	done(&r);

	/* A repeated id (the config's error): its first entry keeps the slot. */
	load(&r, "plans: [{name: gold}]\n"
		 "applications:\n"
		 "  - {id: b, plan: gold}\n"
		 "  - {id: a}\n"
		 "  - {id: b}\n");
	TAP_OK(r.cfg_err == -EINVAL && r.pol_err == 0 && sl_policy_app_count(r.pol) == 2 &&
		   sl_policy_app_slot(r.pol, &r.cfg.apps[0]) == 2 &&
		   sl_policy_app_plan(r.pol, &r.cfg.apps[2]) == sl_policy_plan_find(r.pol, "gold"),
	       "apps: a repeated id has one slot, the first entry's");
	done(&r);
}

static void test_slot_bound(void)
{
	size_t n = SL_MAX_APPS, cap = 64 + n * 24, o = 0, i;
	char *text = malloc(cap);
	struct run r;

	if (!text)
		exit(2);
	o += snprintf(text + o, cap - o, "applications:\n");
	for (i = 0; i < n - 1; i++)
		o += snprintf(text + o, cap - o, "  - {id: app%05zu}\n", i);
	load(&r, text);
	TAP_OK(ok_run(&r) && sl_policy_app_count(r.pol) == SL_MAX_APPS - 1 &&
		   sl_policy_app_slot(r.pol, sl_config_app_find(&r.cfg, "app04094")) ==
		       SL_MAX_APPS - 1,
	       "slots: %d applications fit, the last in slot %d", SL_MAX_APPS - 1, SL_MAX_APPS - 1);
	done(&r);

	o += snprintf(text + o, cap - o, "  - {id: app%05zu}\n", n - 1);
	load(&r, text);
	TAP_OK(r.cfg_err == 0 && r.pol_err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
		   exactly_at(&r, 2, 3,
			      "applications: 4096 applications is more than the 4095 the kernel "
			      "meter has slots for (SL_MAX_APPS in include/sluice/meter.h)"),
	       "slots: one more is an error at the section");
	if (sl_diag_count(&r.diag) != 1)
		show(&r);
	done(&r);
	free(text);
}

/* ---- Windows -------------------------------------------------------------------------------- */

static void test_windows(void)
{
	/* 2024-01-01T00:00:00Z: a minute, hour and day boundary, and 13 days into a 30d window. */
	const uint64_t jan1 = 1704067200ULL * SEC;
	/* 30d windows: day 19710 (2023-12-19) to day 19740 (2024-01-18). */
	const uint64_t dec19 = 19710ULL * DAY, jan18 = 19740ULL * DAY;
	struct sl_plan p = { .name = "p", .events_limit = 1 };
	uint64_t s, e;

	p.events_window_ns = MINUTE;
	sl_plan_window(&p, jan1, &s, &e);
	TAP_OK(s == jan1 && e == jan1 + MINUTE, "window 1m: a boundary starts a window");
	sl_plan_window(&p, jan1 - 1, &s, &e);
	TAP_OK(s == jan1 - MINUTE && e == jan1, "window 1m: 1 ns before, the previous one");
	sl_plan_window(&p, jan1 + 59 * SEC + 999999999, &s, &e);
	TAP_OK(s == jan1 && e == jan1 + MINUTE, "window 1m: its last ns");

	p.events_window_ns = HOUR;
	sl_plan_window(&p, jan1 + HOUR - 1, &s, &e);
	TAP_OK(s == jan1 && e == jan1 + HOUR, "window 1h: the last ns of 00:00-01:00");
	sl_plan_window(&p, jan1 + HOUR, &s, &e);
	TAP_OK(s == jan1 + HOUR && e == jan1 + 2 * HOUR, "window 1h: 01:00 starts the next");
	sl_plan_window(&p, jan1 + 90 * MINUTE, &s, &e);
	TAP_OK(s == jan1 + HOUR, "window 1h: 01:30 is in 01:00-02:00");

	p.events_window_ns = DAY;
	sl_plan_window(&p, jan1 - 1, &s, &e);
	TAP_OK(s == jan1 - DAY && e == jan1, "window 1d: 1 ns before midnight UTC is Dec 31");
	sl_plan_window(&p, jan1, &s, &e);
	TAP_OK(s == jan1 && e == jan1 + DAY, "window 1d: midnight UTC starts Jan 1");
	sl_plan_window(&p, jan1 + 23 * HOUR, &s, &e);
	TAP_OK(s == jan1, "window 1d: 23:00 UTC is still Jan 1 (no local time)");

	p.events_window_ns = 30 * DAY;
	sl_plan_window(&p, jan1, &s, &e);
	TAP_OK(s == dec19 && e == jan18,
	       "window 30d: Jan 1 2024 is in the block from 2023-12-19 to 2024-01-18");
	sl_plan_window(&p, jan18 - 1, &s, &e);
	TAP_OK(s == dec19 && e == jan18, "window 30d: its last ns");
	sl_plan_window(&p, jan18, &s, &e);
	TAP_OK(s == jan18 && e == jan18 + 30 * DAY, "window 30d: 2024-01-18 starts the next");
	sl_plan_window(&p, 0, &s, &e);
	TAP_OK(s == 0 && e == 30 * DAY, "window 30d: the first starts at the epoch");

	sl_plan_window(&p, UINT64_MAX, &s, &e);
	TAP_OK(s == UINT64_MAX - UINT64_MAX % (30 * DAY) && e == UINT64_MAX,
	       "window 30d: the end saturates past 2554");

	p.events_limit = 0;
	sl_plan_window(&p, jan1, &s, &e);
	TAP_OK(s == 0 && e == UINT64_MAX, "window: no quota is one window for ever");
	sl_plan_window(NULL, jan1, &s, &e);
	TAP_OK(s == 0 && e == UINT64_MAX, "window: no plan is one window for ever");
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void test_json(void)
{
	json_t *doc = NULL, *plans, *p0, *p1, *apps, *a0;
	struct run r;
	int err;

	load(&r, "plans:\n"
		 "  - name: bronze\n"
		 "    events: {limit: 10000, per: 1d}\n"
		 "    bytes_per_second: 64KiB\n"
		 "    backpressure: {max_queued_bytes: 1MiB}\n"
		 "  - name: free\n"
		 "applications:\n"
		 "  - {id: zed, plan: bronze, subscribe: [z.b, a.>], certificates: [{cn: web}]}\n"
		 "  - {id: abe}\n");
	if (!ok_run(&r)) {
		TAP_OK(0, "json: config valid");
		show(&r);
		done(&r);
		return;
	}
	err = sl_policy_to_json(r.pol, &r.cfg, NULL, &doc);
	TAP_OK(err == 0 && json_is_object(doc), "json: a document");
	plans = json_object_get(doc, "plans");
	p0 = json_array_get(plans, 0);
	p1 = json_array_get(plans, 1);
	TAP_OK(json_array_size(plans) == 2 &&
		   !strcmp(json_string_value(json_object_get(p0, "name")), "bronze") &&
		   json_integer_value(json_object_get(p0, "line")) == 2 &&
		   json_integer_value(json_object_get(p0, "col")) == 5,
	       "json: plans in file order with their position");
	TAP_OK(
	    json_integer_value(json_object_get(json_object_get(p0, "events"), "limit")) == 10000 &&
		!strcmp(json_string_value(json_object_get(json_object_get(p0, "events"), "per")),
			"1d") &&
		json_integer_value(json_object_get(json_object_get(p0, "events"), "window_ns")) ==
		    (json_int_t)DAY,
	    "json: events limit, per and window_ns");
	TAP_OK(json_integer_value(json_object_get(p0, "bytes_per_second")) == 65536 &&
		   json_integer_value(json_object_get(p0, "burst_bytes")) == 65536 &&
		   json_is_null(json_object_get(p0, "max_connection_time_ns")) &&
		   json_is_null(json_object_get(p0, "max_connections")),
	       "json: numbers for limits, null for none");
	TAP_OK(json_integer_value(json_object_get(json_object_get(p0, "backpressure"),
						  "soft_queued_bytes")) == 512 * 1024 &&
		   json_integer_value(json_object_get(json_object_get(p0, "backpressure"),
						      "grace_ns")) == (json_int_t)(5 * SEC),
	       "json: backpressure with its defaults");
	TAP_OK(json_is_null(json_object_get(p1, "events")) &&
		   json_is_null(json_object_get(p1, "backpressure")) &&
		   !strcmp(json_string_value(json_object_get(p1, "summary")), "no limits"),
	       "json: a plan without limits");
	apps = json_object_get(doc, "applications");
	a0 = json_array_get(apps, 0);
	TAP_OK(json_array_size(apps) == 2 &&
		   !strcmp(json_string_value(json_object_get(a0, "id")), "zed") &&
		   !strcmp(json_string_value(json_object_get(a0, "plan")), "bronze") &&
		   json_integer_value(json_object_get(a0, "slot")) == 2 &&
		   json_is_null(json_object_get(json_array_get(apps, 1), "plan")) &&
		   json_integer_value(json_object_get(json_array_get(apps, 1), "slot")) == 1,
	       "json: applications in file order with plan and slot");
	TAP_OK(
	    json_array_size(json_object_get(a0, "subscribe")) == 2 &&
		!strcmp(json_string_value(json_array_get(json_object_get(a0, "subscribe"), 0)),
			"a.>") &&
		json_array_size(json_object_get(a0, "publish")) == 0 &&
		json_array_size(json_object_get(a0, "api_keys")) == 0 &&
		!strcmp(json_string_value(json_array_get(json_object_get(a0, "certificates"), 0)),
			"cn:web"),
	    "json: an application's patterns (sorted) and identities");
	TAP_OK(json_array_size(json_object_get(doc, "issuers")) == 0, "json: no auth, no issuers");
	TAP_OK(!strcmp(json_string_value(json_object_get(doc, "file")), r.path), "json: the file");
	json_decref(doc);
	done(&r);
}

/* ---- The examples --------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_examples(void)
{
	static const char *const where[] = { "policies/examples", "../../policies/examples" };
	const char *dir = NULL;
	char *names[64], path[PATH_MAX];
	struct dirent *de;
	size_t n = 0, i;
	DIR *d = NULL;
	bool quota = false, rate = false, time = false, bp = false, cap = false;

	for (i = 0; i < sizeof(where) / sizeof(where[0]) && !d; i++)
		if ((d = opendir(where[i])))
			dir = where[i];
	if (!d) {
		TAP_OK(0, "policies/examples found (run from the repository root)");
		return;
	}
	while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
		size_t len = strlen(de->d_name);

		if (len > 5 && !strcmp(de->d_name + len - 5, ".yaml"))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	TAP_OK(n >= 6, "examples: %zu files (one per plan type and a combined one)", n);
	for (i = 0; i < n; i++) {
		struct run r;
		size_t k;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		load_path(&r, path);
		TAP_OK(ok_run(&r) && sl_policy_plan_count(r.pol) >= 1 && r.cfg.n_apps >= 1,
		       "examples: %s is valid and has plans and applications", names[i]);
		if (!ok_run(&r))
			show(&r);
		TAP_OK(r.cfg.listeners.subscribers.plain.enabled &&
			   !strcmp(r.cfg.listeners.subscribers.plain.host, "127.0.0.1") &&
			   !strcmp(r.cfg.listeners.publishers.plain.host, "127.0.0.1") &&
			   !strcmp(r.cfg.listeners.admin.plain.host, "127.0.0.1"),
		       "examples: %s listens on loopback only", names[i]);
		for (k = 0; r.pol && k < sl_policy_plan_count(r.pol); k++) {
			const struct sl_plan *p = sl_policy_plan(r.pol, k);

			quota = quota || p->events_limit;
			rate = rate || p->bytes_per_second;
			time = time || p->max_connection_time_ns;
			bp = bp || p->max_queued_bytes;
			cap = cap || p->max_connections;
		}
		done(&r);
		free(names[i]);
	}
	TAP_OK(quota && rate && time && bp && cap,
	       "examples: together they use every kind of limit");
}

/*
 * `policies: [FILE]`: a file's plans, applications and issuers are read as
 * the config's own (an inline application may use a plan from a file, and
 * the reverse), and a problem in a file is reported at its own place in it.
 */
static void test_policy_files(void)
{
	const struct sl_plan *gold, *inline_plan;
	char tenants[PATH_MAX], bad[PATH_MAX];
	struct run r;

	snprintf(tenants, sizeof(tenants), "%s",
		 put("tenants.yaml", "plans:\n"
				     "  - name: gold\n"
				     "    events: {limit: 500, per: 1h}\n"
				     "applications:\n"
				     "  - id: acme\n"
				     "    plan: bronze\n"
				     "    subscribe: ['acme.>']\n"));
	load(&r, "policies: [tenants.yaml]\n"
		 "plans:\n"
		 "  - name: bronze\n"
		 "    events: {limit: 10, per: 1d}\n"
		 "applications:\n"
		 "  - id: inline\n"
		 "    plan: gold\n"
		 "    subscribe: ['x.>']\n");
	TAP_OK(r.cfg_err == 0 && r.pol_err == 0 && sl_diag_count(&r.diag) == 0,
	       "a policy file's plans and applications load with the inline ones");
	show(&r);
	gold = sl_policy_plan_find(r.pol, "gold");
	TAP_OK(gold && gold->events_limit == 500, "the file's plan is there (limit %llu)",
	       gold ? (unsigned long long)gold->events_limit : 0ULL);
	TAP_OK(r.cfg.n_apps == 2 && !strcmp(r.cfg.apps[0].id, "inline") &&
		   !strcmp(r.cfg.apps[1].id, "acme"),
	       "the file's application comes after the inline one");
	inline_plan = r.cfg.n_apps == 2 ? sl_policy_app_plan(r.pol, &r.cfg.apps[0]) : NULL;
	TAP_OK(inline_plan == gold, "an inline application uses a plan from the file");
	TAP_OK(r.cfg.n_apps == 2 && sl_policy_app_plan(r.pol, &r.cfg.apps[1]) &&
		   sl_policy_app_plan(r.pol, &r.cfg.apps[1])->events_limit == 10,
	       "the file's application uses an inline plan");
	done(&r);

	/* Problems in a file are at their place in that file, after the config's own. */
	snprintf(bad, sizeof(bad), "%s",
		 put("bad.yaml", "listeners: {}\n"
				 "plans:\n"
				 "  - name: bronze\n"
				 "    speed: 3\n"
				 "applications:\n"
				 "  - id: inline\n"
				 "    subscribe: ['y.>']\n"));
	load(&r, "policies: [bad.yaml]\n"
		 "plans:\n"
		 "  - name: bronze\n"
		 "    events: {limit: 10, per: 1d}\n"
		 "applications:\n"
		 "  - id: inline\n"
		 "    subscribe: ['x.>']\n");
	TAP_OK(r.cfg_err == -EINVAL &&
		   diag_has_at(&r.diag, bad, 1, 1,
			       "unknown key \"listeners\"; a policy file holds plans") &&
		   diag_has_at(&r.diag, bad, 3, 11, "plan \"bronze\" is already defined at ") &&
		   diag_has_at(&r.diag, bad, 4, 5, "unknown key \"speed\"") &&
		   diag_has_at(&r.diag, bad, 6, 9, "application \"inline\" is already defined at "),
	       "a policy file's problems are reported in that file");
	show(&r);
	TAP_OK(r.diag.stored >= 1 && strncmp(sl_diag_get(&r.diag, 0), r.path, strlen(r.path)) &&
		   !strncmp(sl_diag_get(&r.diag, 0), bad, strlen(bad)),
	       "no problem is put on the config itself");
	done(&r);

	snprintf(bad, sizeof(bad), "%s", put("list.yaml", "- plans\n"));
	load(&r, "policies: [list.yaml]\n");
	TAP_OK(r.cfg_err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
		   diag_has_at(&r.diag, bad, 1, 1, "expected a mapping with keys plans"),
	       "a policy file that is not a mapping is refused");
	show(&r);
	done(&r);

	{
		/* Two files of 9 MiB (comments): each under the 16 MiB bound, not together. */
		size_t big = 9u << 20, at;
		char *text = malloc(big + 1), first[PATH_MAX];

		if (!text)
			exit(2);
		for (at = 0; at < big; at += 64)
			memcpy(text + at,
			       "# a comment line of sixty-four bytes, padding the file ........\n",
			       64);
		text[big] = '\0';
		snprintf(first, sizeof(first), "%s", put("big1.yaml", text));
		snprintf(bad, sizeof(bad), "%s", put("big2.yaml", text));
		free(text);
		load(&r, "policies: [big1.yaml, big2.yaml]\n");
		TAP_OK(r.cfg_err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
			   !strncmp(sl_diag_get(&r.diag, 0), bad, strlen(bad)) &&
			   strstr(sl_diag_get(&r.diag, 0),
				  "more than the 16 MiB they may hold together"),
		       "policy files over 16 MiB together are refused at the one that crosses it");
		show(&r);
		done(&r);
		unlink(first);
		unlink(bad);
	}

	snprintf(bad, sizeof(bad), "%s", put("broken.yaml", "plans: [\n"));
	load(&r, "policies: [broken.yaml]\n");
	TAP_OK(r.cfg_err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
		   !strncmp(sl_diag_get(&r.diag, 0), bad, strlen(bad)),
	       "a policy file that is not YAML is reported in its own name");
	show(&r);
	done(&r);
}

/* ---- The whole file: config, issuers and plans together (policy/bundle.h) ------------------ */

/* One file through sl_bundle_load, as sluiced, a reload and `sluicectl policy check` run it. */
struct bundle_run {
	struct sl_config cfg;
	struct sl_diag diag;
	struct sl_auth *auth;
	struct sl_policy *pol;
	const char *path;
	int err;
};

static void bundle(struct bundle_run *b, const char *path)
{
	memset(b, 0, sizeof(*b));
	b->path = path;
	b->auth = (struct sl_auth *)1; /* set to NULL by the call whatever happens */
	b->pol = (struct sl_policy *)1;
	b->err = sl_bundle_load(path, &b->cfg, &b->auth, &b->pol, &b->diag);
}

static void bundle_done(struct bundle_run *b)
{
	sl_policy_free(b->pol);
	sl_auth_free(b->auth);
	sl_diag_free(&b->diag);
	sl_config_free(&b->cfg);
}

/* Whether message i is exactly "FILE:LINE:COL: " followed by text starting with want. */
static bool bundle_nth(const struct bundle_run *b, size_t i, const char *file, unsigned line,
		       unsigned col, const char *want)
{
	char prefix[PATH_MAX + 600];
	const char *m = sl_diag_get(&b->diag, i);

	snprintf(prefix, sizeof(prefix), "%s:%u:%u: %s", file, line, col, want);
	return m && !strncmp(m, prefix, strlen(prefix));
}

static void bundle_show(const struct bundle_run *b)
{
	size_t i;

	for (i = 0; i < b->diag.stored; i++)
		printf("# %s\n", sl_diag_get(&b->diag, i));
}

/*
 * A config with its own problems still has its issuers and plans checked:
 * every problem in one run, in file order whichever check found it.
 */
static void test_bundle(void)
{
	struct bundle_run b;
	const char *path, *pol;
	char *big;
	bool ok;
	size_t i;

	path = put("bundle.yaml", "plans:\n"					  /* 1 */
				  "  - name: bronze\n"				  /* 2 */
				  "    events: {limit: 0, per: 2d}\n"		  /* 3 */
				  "    speed: fast\n"				  /* 4 */
				  "issuers:\n"					  /* 5 */
				  "  - name: idp\n"				  /* 6 */
				  "    alg: none\n"				  /* 7 */
				  "applications:\n"				  /* 8 */
				  "  - id: a\n"					  /* 9 */
				  "    plan: gold\n"				  /* 10 */
				  "    subscribe: ['x..y']\n"			  /* 11 */
				  "  - {plan: bronze, api_keys: [{sha256: x}]}\n" /* 12 */
				  "retention: {count: 0}\n");			  /* 13 */
	bundle(&b, path);
	ok = b.err == -EINVAL && !b.auth && !b.pol && sl_diag_count(&b.diag) == 9 &&
	     bundle_nth(&b, 0, path, 3, 21, "plans[0].events.limit: \"0\" is out of range") &&
	     bundle_nth(&b, 1, path, 3, 29, "plans[0].events.per: \"2d\" is not a quota window") &&
	     bundle_nth(&b, 2, path, 4, 5, "plans[0]: unknown key \"speed\"") &&
	     bundle_nth(&b, 3, path, 7, 10, "issuers[0].alg: \"none\" is not accepted") &&
	     bundle_nth(&b, 4, path, 10, 11, "applications[0].plan: undefined plan \"gold\"") &&
	     bundle_nth(&b, 5, path, 11, 17, "applications[0].subscribe[0]: \"x..y\" is not") &&
	     bundle_nth(&b, 6, path, 12, 5, "applications[1]: an application needs an id") &&
	     bundle_nth(&b, 7, path, 12, 40, "applications[1].api_keys[0].sha256: expected") &&
	     bundle_nth(&b, 8, path, 13, 20, "retention.count: \"0\" is out of range");
	TAP_OK(ok, "bundle: config, issuer and plan problems all at once, in file order");
	if (!ok)
		bundle_show(&b);
	bundle_done(&b);

	/* The config's problems come before its policy files', whatever their lines. */
	pol = put("bundle-pol.yaml", "plans:\n"
				     "  - name: p\n"
				     "    max_connections: 0\n"
				     "issuers:\n"
				     "  - {name: i, alg: HS256}\n");
	path = put("bundle-main.yaml", "policies: [bundle-pol.yaml]\n"
				       "applications:\n"
				       "  - {id: a, plan: nope}\n"
				       "sse: {heartbeat: soon}\n");
	bundle(&b, path);
	ok = b.err == -EINVAL && sl_diag_count(&b.diag) == 4 &&
	     bundle_nth(&b, 0, path, 3, 19, "applications[0].plan: undefined plan \"nope\"") &&
	     bundle_nth(&b, 1, path, 4, 18, "sse.heartbeat: \"soon\" is not a duration") &&
	     bundle_nth(&b, 2, pol, 3, 22, "plans[0].max_connections: \"0\" is out of range") &&
	     bundle_nth(&b, 3, pol, 5, 5, "issuers[0]: HS256 issuer \"i\" needs secret");
	TAP_OK(ok, "bundle: the config's problems first, then its policy file's");
	if (!ok)
		bundle_show(&b);
	bundle_done(&b);

	/* A limit the config refused is not held against a plan: its default was not written. */
	path = put("bundle-limit.yaml", "limits: {max_queued_bytes_per_connection: lots}\n"
					"plans:\n"
					"  - name: q\n"
					"    backpressure: {max_queued_bytes: 8MiB}\n");
	bundle(&b, path);
	ok = b.err == -EINVAL && sl_diag_count(&b.diag) == 1 &&
	     bundle_nth(&b, 0, path, 1, 43, "limits.max_queued_bytes_per_connection: \"lots\"");
	TAP_OK(ok, "bundle: a refused limit is reported once, not against the plan too");
	if (!ok)
		bundle_show(&b);
	bundle_done(&b);

	/* A limit that took is still one: the plan is measured against it. */
	path = put("bundle-limit2.yaml", "limits: {max_queued_bytes_per_connection: 2MiB}\n"
					 "plans:\n"
					 "  - name: q\n"
					 "    backpressure: {max_queued_bytes: 8MiB}\n");
	bundle(&b, path);
	ok = b.err == -EINVAL && sl_diag_count(&b.diag) == 1 &&
	     bundle_nth(&b, 0, path, 4, 38,
			"plans[0].backpressure.max_queued_bytes: 8MiB is more than "
			"limits.max_queued_bytes_per_connection (2MiB)");
	TAP_OK(ok, "bundle: a plan above a limit the file set is still refused");
	if (!ok)
		bundle_show(&b);
	bundle_done(&b);

	/* What cannot be read or parsed stops at that one problem. */
	path = remember("bundle-missing.yaml");
	bundle(&b, path);
	TAP_OK(b.err == -ENOENT && !b.auth && !b.pol && sl_diag_count(&b.diag) == 1 &&
		   strstr(sl_diag_get(&b.diag, 0), "cannot read the file"),
	       "bundle: a missing file is one problem");
	bundle_done(&b);
	path = put("bundle-broken.yaml", "plans: [\n  - name: x\n    max_connections: 0\n");
	bundle(&b, path);
	TAP_OK(b.err == -EINVAL && !b.auth && !b.pol && !b.cfg.doc && sl_diag_count(&b.diag) == 1,
	       "bundle: a file that is not YAML is one problem, its plans unread");
	bundle_done(&b);
	path = put("bundle-text.yaml", "just some words\n");
	bundle(&b, path);
	TAP_OK(b.err == -EINVAL && sl_diag_count(&b.diag) == 1 &&
		   bundle_nth(&b, 0, path, 1, 1, "the file: expected a mapping"),
	       "bundle: a document that is not a mapping is one problem");
	bundle_done(&b);

	/* Sections over their bound were not read by the config loader: nor by the others. */
	big = malloc(2 * (SL_CONFIG_MAX_APPS + 1) * 48 + 64);
	if (big) {
		char *at = big + sprintf(big, "plans:\n");

		for (i = 0; i <= SL_CONFIG_MAX_APPS; i++)
			at += sprintf(at, "  - {name: p%zu, max_connections: 0}\n", i);
		at += sprintf(at, "issuers:\n");
		for (i = 0; i <= SL_CONFIG_MAX_APPS; i++)
			at += sprintf(at, "  - {name: i%zu, alg: none}\n", i);
		path = put("bundle-big.yaml", big);
		free(big);
		bundle(&b, path);
		TAP_OK(b.err == -EINVAL && sl_diag_count(&b.diag) == 2 &&
			   bundle_nth(&b, 0, path, 2, 3, "plans: 100001 entries is more than") &&
			   bundle_nth(&b, 1, path, 100004, 3, "issuers: 100001 entries is more"),
		       "bundle: oversized plans and issuers are reported once each");
		if (sl_diag_count(&b.diag) != 2)
			bundle_show(&b);
		bundle_done(&b);
	}

	path = put("bundle-ok.yaml", "plans:\n"
				     "  - {name: bronze, events: {limit: 10, per: 1d}}\n"
				     "issuers:\n"
				     "  - {name: idp, alg: HS256, secret: "
				     "\"0123456789abcdef0123456789abcdef\"}\n"
				     "applications:\n"
				     "  - {id: a, plan: bronze, subscribe: ['x.>']}\n");
	bundle(&b, path);
	TAP_OK(b.err == 0 && b.auth && b.pol && sl_diag_count(&b.diag) == 0 &&
		   sl_auth_issuer_count(b.auth) == 1 && sl_policy_plan_count(b.pol) == 1,
	       "bundle: a valid file gives its issuers and plans");
	bundle_done(&b);
}

int main(void)
{
	if (tmpfiles_init("policy"))
		return 2;
	test_full();
	test_windows_accepted();
	test_bounds_accepted();
	test_absent();
	test_errors();
	test_not_twice();
	test_many();
	test_apps();
	test_slot_bound();
	test_windows();
	test_json();
	test_examples();
	test_policy_files();
	test_bundle();
	cleanup();
	return tap_done();
}
