// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading is two walks over the config's YAML document: the `plans` entries,
 * every key checked against its type and bounds, then the applications'
 * `plan:` lines resolved against the plans found. Problems are gathered,
 * sorted by position and handed to the caller's sl_diag, as the config loader
 * does, so `sluiced --check` output reads like the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "auth/auth.h"
#include "config/node.h"
#include "config/problems.h"
#include "config/units.h"
#include "policy/policy.h"

#define SEC SL_NSEC_PER_SEC
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

struct app_entry {
	char *id;
	const struct sl_plan *plan;
	size_t order; /* index in cfg->apps: the first of a repeated id wins */
};

struct sl_policy {
	struct sl_plan *plans; /* file order */
	size_t n_plans;
	size_t *by_name;	/* indexes into plans, sorted by name, then file order */
	struct app_entry *apps; /* sorted by id: apps[i] has slot i + 1 */
	uint32_t n_apps;
};

/* ---- Problems ------------------------------------------------------------------------------- */

struct loader {
	const struct sl_config *cfg;
	struct sl_problems problems;
	int err; /* -ENOMEM once an allocation failed */
};

static void problem(struct loader *ld, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One problem, at node n (1-based line and column), about the key at path. */
static void problem(struct loader *ld, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	unsigned rank;
	va_list ap;

	sl_config_node_file(ld->cfg, n, &rank);
	va_start(ap, fmt);
	if (sl_problems_vadd(&ld->problems, rank, n->start_mark.line + 1, n->start_mark.column + 1,
			     path, fmt, ap))
		ld->err = -ENOMEM;
	va_end(ap);
}

static const char *rank_file(const void *ctx, unsigned rank)
{
	return sl_config_rank_file(ctx, rank);
}

static void flush_problems(struct loader *ld, struct sl_diag *diag)
{
	sl_problems_flush(&ld->problems, diag, rank_file, ld->cfg);
	if (ld->err == -ENOMEM)
		sl_diag_add(diag, ld->cfg->path, 0, 0, "out of memory while reading the plans");
}

/* ---- Reading nodes -------------------------------------------------------------------------- */

static yaml_node_t *node_at(const struct loader *ld, int index)
{
	return yaml_document_get_node(ld->cfg->doc, index);
}

/* The text of a scalar, or NULL after saying why it is not one (null included). */
static const char *scalar(struct loader *ld, const yaml_node_t *n, const char *path,
			  const char *expected)
{
	char d[SL_NODE_EXCERPT_BUF];

	if (n->type != YAML_SCALAR_NODE || sl_node_is_null(n)) {
		problem(ld, n, path, "expected %s, got %s", expected,
			sl_node_describe(n, d, sizeof(d)));
		return NULL;
	}
	/* A "\0" escape would make C see a shorter string than YAML did. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		problem(ld, n, path, "the value holds a NUL byte");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/*
 * Sorts the pairs of a mapping into values[] by keys[] (the last of a
 * repeated key wins, as in the config) and reports every other key. Keys
 * that are not strings were reported by the config loader.
 */
static void collect(struct loader *ld, const yaml_node_t *map, const char *path,
		    const char *const *keys, size_t n_keys, const yaml_node_t **values)
{
	yaml_node_pair_t *pair;
	char d[SL_NODE_EXCERPT_BUF], list[256];
	size_t k, o;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = node_at(ld, pair->key);
		const char *name, *near = NULL;
		size_t best = 3;

		if (!key || key->type != YAML_SCALAR_NODE)
			continue;
		name = (const char *)key->data.scalar.value;
		for (k = 0; k < n_keys; k++)
			if (!strcmp(name, keys[k]))
				break;
		if (k < n_keys) {
			values[k] = node_at(ld, pair->value);
			continue;
		}
		for (k = 0; k < n_keys; k++) {
			size_t dist = sl_node_distance(name, keys[k]);

			if (dist < best) {
				best = dist;
				near = keys[k];
			}
		}
		if (near) {
			problem(ld, key, path, "unknown key %s; did you mean \"%s\"?",
				sl_node_excerpt(name, d, sizeof(d)), near);
			continue;
		}
		for (k = 0, o = 0; k < n_keys && o < sizeof(list); k++)
			o += snprintf(list + o, sizeof(list) - o, "%s%s", k ? ", " : "", keys[k]);
		problem(ld, key, path, "unknown key %s; expected one of: %s",
			sl_node_excerpt(name, d, sizeof(d)), list);
	}
}

/* ---- Numbers -------------------------------------------------------------------------------- */

enum unit {
	U_COUNT,    /* a plain integer */
	U_SIZE,	    /* bytes or a size with KiB, MiB, GiB */
	U_DURATION, /* a whole number with ms, s, m, h or d */
};

static char *format_value(enum unit unit, uint64_t v, char *buf, size_t size)
{
	if (unit == U_SIZE)
		return sl_format_size(v, buf, size);
	if (unit == U_DURATION)
		return sl_format_duration(v, buf, size);
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

/*
 * A count, size or duration in [min, max]. Returns 0 with *out set, or -1
 * after reporting the problem. unlimited, when not NULL, is what leaving the
 * key out means, said when 0 is written for it.
 */
static int number(struct loader *ld, const yaml_node_t *n, const char *path, enum unit unit,
		  uint64_t min, uint64_t max, const char *unlimited, uint64_t *out)
{
	static const char *const expected[] = { "an integer", "a size", "a duration" };
	char d[SL_NODE_EXCERPT_BUF], lo[SL_UNITS_BUF_SIZE], hi[SL_UNITS_BUF_SIZE];
	const char *s = scalar(ld, n, path, expected[unit]);
	uint64_t v = 0;
	int err;

	if (!s)
		return -1;
	if (unit == U_COUNT) {
		/* "1000" in quotes is a string in YAML; a strict reader says so. */
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
			problem(ld, n, path, "expected an integer, got the quoted string %s",
				sl_node_excerpt(s, d, sizeof(d)));
			return -1;
		}
		err = sl_parse_count(s, &v);
		if (err == -EINVAL) {
			problem(ld, n, path, "expected a whole number such as 1000, got %s",
				sl_node_excerpt(s, d, sizeof(d)));
			return -1;
		}
	} else if (unit == U_SIZE) {
		err = sl_parse_size(s, &v);
		if (err == -EINVAL) {
			problem(ld, n, path,
				"%s is not a size: use bytes (65536) or a whole number with KiB, "
				"MiB or GiB (64KiB)",
				sl_node_excerpt(s, d, sizeof(d)));
			return -1;
		}
	} else {
		err = sl_parse_duration(s, &v);
		if (err == -EINVAL) {
			problem(ld, n, path,
				"%s is not a duration: use a whole number with a unit: ms, s, m, h "
				"or d (500ms, 2s, 5m, 1h, 1d)",
				sl_node_excerpt(s, d, sizeof(d)));
			return -1;
		}
	}
	if (err == -ERANGE || v < min || v > max) {
		problem(ld, n, path, "%s is out of range: expected %s to %s%s%s",
			sl_node_excerpt(s, d, sizeof(d)), format_value(unit, min, lo, sizeof(lo)),
			format_value(unit, max, hi, sizeof(hi)),
			!err && v == 0 && unlimited ? "; " : "",
			!err && v == 0 && unlimited ? unlimited : "");
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- Plans ---------------------------------------------------------------------------------- */

enum plan_key {
	P_NAME,
	P_EVENTS,
	P_BYTES_PER_SECOND,
	P_BURST_BYTES,
	P_MAX_CONNECTION_TIME,
	P_BACKPRESSURE,
	P_MAX_CONNECTIONS,
	P__COUNT,
};

static const char *const plan_keys[P__COUNT] = {
	[P_NAME] = "name",
	[P_EVENTS] = "events",
	[P_BYTES_PER_SECOND] = "bytes_per_second",
	[P_BURST_BYTES] = "burst_bytes",
	[P_MAX_CONNECTION_TIME] = "max_connection_time",
	[P_BACKPRESSURE] = "backpressure",
	[P_MAX_CONNECTIONS] = "max_connections",
};

static const char *const events_keys[] = { "limit", "per" };
static const char *const backpressure_keys[] = { "max_queued_bytes", "soft_queued_bytes", "grace" };

/* The quota windows the kernel and the invoices agree on (SPEC "Policies"). */
static const uint64_t windows[] = { MINUTE, HOUR, DAY, 30 * DAY };

/*
 * The plan's name as the config loader accepted it (1 to SL_CONFIG_MAX_NAME
 * bytes, no blanks or control characters), or NULL: the loader has said why.
 */
static const char *plan_name(const yaml_node_t *n)
{
	const char *s;
	size_t i;

	if (!n || n->type != YAML_SCALAR_NODE || sl_node_is_null(n))
		return NULL;
	s = (const char *)n->data.scalar.value;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return NULL;
	if (i == 0 || i != n->data.scalar.length || i > SL_CONFIG_MAX_NAME)
		return NULL;
	return s;
}

static void load_events(struct loader *ld, const yaml_node_t *n, const char *path,
			struct sl_plan *plan)
{
	const yaml_node_t *v[2] = { 0 };
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	uint64_t limit = 0, window = 0;
	const char *s;
	size_t i = 0;
	bool ok = true;

	if (n->type != YAML_MAPPING_NODE) {
		problem(ld, n, path, "expected a mapping {limit: N, per: 1m|1h|1d|30d}, got %s",
			sl_node_describe(n, d, sizeof(d)));
		return;
	}
	collect(ld, n, path, events_keys, 2, v);
	if (!v[0] && !v[1]) {
		problem(ld, n, path,
			"needs limit and per, such as {limit: 10000, per: 1d}; leave events out "
			"for no quota");
		return;
	}
	if (!v[0]) {
		problem(ld, n, path, "needs limit: the events allowed per window, such as 10000");
		ok = false;
	} else {
		sl_node_path(p, sizeof(p), "%s.limit", path);
		if (number(ld, v[0], p, U_COUNT, 1, SL_POLICY_MAX_EVENTS_LIMIT,
			   "leave events out for no quota", &limit))
			ok = false;
	}
	if (!v[1]) {
		problem(ld, n, path, "needs per: the quota window, one of 1m, 1h, 1d or 30d");
		return;
	}
	sl_node_path(p, sizeof(p), "%s.per", path);
	s = scalar(ld, v[1], p, "1m, 1h, 1d or 30d");
	if (!s)
		return;
	/* Equal durations are the same window: "24h" is 1d. */
	if (sl_parse_duration(s, &window) == 0)
		for (i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
			if (window == windows[i])
				break;
	if (window == 0 || i == sizeof(windows) / sizeof(windows[0])) {
		problem(ld, v[1], p,
			"%s is not a quota window: use 1m, 1h, 1d or 30d (fixed windows aligned "
			"to UTC)",
			sl_node_excerpt(s, d, sizeof(d)));
		return;
	}
	if (ok) {
		plan->events_limit = limit;
		plan->events_window_ns = window;
	}
}

/*
 * Whether the file wrote limits.KEY but the config loader refused the value
 * (and said why): cfg then holds the default, and measuring a plan against a
 * bound the file did not set would only add a misleading second message.
 */
static bool limit_refused(const struct loader *ld, const char *key, uint64_t held)
{
	yaml_document_t *doc = ld->cfg->doc;
	const yaml_node_t *n = sl_node_get(doc, yaml_document_get_root_node(doc), "limits");
	uint64_t v;

	n = n ? sl_node_get(doc, n, key) : NULL;
	if (!n)
		return false;
	return n->type != YAML_SCALAR_NODE ||
	       sl_parse_size((const char *)n->data.scalar.value, &v) || v != held;
}

static void load_backpressure(struct loader *ld, const yaml_node_t *n, const char *path,
			      struct sl_plan *plan)
{
	const struct sl_config_limits *lim = &ld->cfg->limits;
	const yaml_node_t *v[3] = { 0 };
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF], a[SL_UNITS_BUF_SIZE],
	    b[SL_UNITS_BUF_SIZE];
	uint64_t hard = 0, soft = 0, grace = SL_POLICY_DEFAULT_GRACE_NS;
	bool ok = true, hard_ok = false, soft_ok = false;

	if (n->type != YAML_MAPPING_NODE) {
		problem(ld, n, path,
			"expected a mapping {max_queued_bytes: SIZE, grace: DURATION}, got %s",
			sl_node_describe(n, d, sizeof(d)));
		return;
	}
	collect(ld, n, path, backpressure_keys, 3, v);
	if (!v[0]) {
		problem(ld, n, path,
			"needs max_queued_bytes: the queued bytes that evict a subscriber at "
			"once, such as 1MiB");
		ok = false;
	} else {
		sl_node_path(p, sizeof(p), "%s.max_queued_bytes", path);
		hard_ok = !number(ld, v[0], p, U_SIZE, SL_POLICY_MIN_QUEUED_BYTES,
				  SL_POLICY_MAX_QUEUED_BYTES, NULL, &hard);
		/*
		 * The global bound applies to every connection whatever its plan,
		 * so a larger plan bound would only look configured.
		 */
		if (hard_ok && hard > lim->max_queued_bytes_per_connection &&
		    !limit_refused(ld, "max_queued_bytes_per_connection",
				   lim->max_queued_bytes_per_connection)) {
			problem(ld, v[0], p,
				"%s is more than limits.max_queued_bytes_per_connection (%s), "
				"which bounds every connection: raise that limit or lower this one",
				sl_format_size(hard, a, sizeof(a)),
				sl_format_size(lim->max_queued_bytes_per_connection, b, sizeof(b)));
			hard_ok = false;
		} else if (hard_ok && hard < lim->max_frame_bytes &&
			   !limit_refused(ld, "max_frame_bytes", lim->max_frame_bytes)) {
			problem(ld, v[0], p,
				"%s is smaller than limits.max_frame_bytes (%s): one large event "
				"would evict any subscriber on this plan",
				sl_format_size(hard, a, sizeof(a)),
				sl_format_size(lim->max_frame_bytes, b, sizeof(b)));
			hard_ok = false;
		}
		ok = ok && hard_ok;
	}
	if (v[1]) {
		sl_node_path(p, sizeof(p), "%s.soft_queued_bytes", path);
		soft_ok = !number(ld, v[1], p, U_SIZE, 1, SL_POLICY_MAX_QUEUED_BYTES, NULL, &soft);
		if (soft_ok && hard_ok && soft > hard) {
			problem(ld, v[1], p,
				"%s is more than max_queued_bytes (%s): the soft bound must be at "
				"most the hard one",
				sl_format_size(soft, a, sizeof(a)),
				sl_format_size(hard, b, sizeof(b)));
			soft_ok = false;
		}
		ok = ok && soft_ok;
	} else {
		soft = hard / 2;
	}
	if (v[2]) {
		sl_node_path(p, sizeof(p), "%s.grace", path);
		if (number(ld, v[2], p, U_DURATION, 0, SL_POLICY_MAX_GRACE_NS, NULL, &grace))
			ok = false;
	}
	if (ok) {
		plan->max_queued_bytes = hard;
		plan->soft_queued_bytes = soft;
		plan->grace_ns = grace;
	}
}

/* Every key of one plan entry; values with problems stay 0 (the load fails anyway). */
static void load_plan(struct loader *ld, const yaml_node_t *item, const char *path,
		      struct sl_plan *plan)
{
	const yaml_node_t *v[P__COUNT] = { 0 };
	char p[SL_NODE_PATH_BUF];
	uint64_t x;

	collect(ld, item, path, plan_keys, P__COUNT, v);
	plan->mark.line = (uint32_t)item->start_mark.line + 1;
	plan->mark.col = (uint32_t)item->start_mark.column + 1;

	if (v[P_EVENTS]) {
		sl_node_path(p, sizeof(p), "%s.events", path);
		load_events(ld, v[P_EVENTS], p, plan);
	}
	if (v[P_BYTES_PER_SECOND]) {
		sl_node_path(p, sizeof(p), "%s.bytes_per_second", path);
		if (!number(ld, v[P_BYTES_PER_SECOND], p, U_SIZE, 1, SL_POLICY_MAX_BYTES_PER_SECOND,
			    "leave bytes_per_second out for no byte-rate limit", &x))
			plan->bytes_per_second = plan->burst_bytes = x;
	}
	if (v[P_BURST_BYTES]) {
		sl_node_path(p, sizeof(p), "%s.burst_bytes", path);
		if (!v[P_BYTES_PER_SECOND])
			problem(ld, v[P_BURST_BYTES], p,
				"burst_bytes needs bytes_per_second: it is the depth of the "
				"byte-rate bucket");
		/*
		 * A burst smaller than the largest event is accepted: such an
		 * event can never pass the bucket, which docs/POLICIES.md says.
		 */
		if (!number(ld, v[P_BURST_BYTES], p, U_SIZE, 1, SL_POLICY_MAX_BURST_BYTES, NULL,
			    &x) &&
		    plan->bytes_per_second)
			plan->burst_bytes = x;
	}
	if (v[P_MAX_CONNECTION_TIME]) {
		sl_node_path(p, sizeof(p), "%s.max_connection_time", path);
		if (!number(ld, v[P_MAX_CONNECTION_TIME], p, U_DURATION,
			    SL_POLICY_MIN_CONNECTION_TIME_NS, SL_POLICY_MAX_CONNECTION_TIME_NS,
			    "leave max_connection_time out for no time limit", &x))
			plan->max_connection_time_ns = x;
	}
	if (v[P_BACKPRESSURE]) {
		sl_node_path(p, sizeof(p), "%s.backpressure", path);
		load_backpressure(ld, v[P_BACKPRESSURE], p, plan);
	}
	if (v[P_MAX_CONNECTIONS]) {
		sl_node_path(p, sizeof(p), "%s.max_connections", path);
		if (!number(ld, v[P_MAX_CONNECTIONS], p, U_COUNT, 1, SL_POLICY_MAX_CONNECTIONS,
			    "leave max_connections out for no limit", &x))
			plan->max_connections = (uint32_t)x;
	}
}

static int by_name_cmp(const void *a, const void *b, void *arg)
{
	const struct sl_plan *plans = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(plans[x].name, plans[y].name);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

static int load_plans(struct loader *ld, struct sl_policy *pol)
{
	const struct sl_config *cfg = ld->cfg;
	const yaml_node_t *seq;
	size_t count, i;

	if (!cfg->doc || !cfg->plans.present || !cfg->plans.node)
		return 0;
	seq = node_at(ld, cfg->plans.node);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0; /* null (no plans), or reported by the config loader */
	count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	/* Over the bound: the config loader said so and read none of them; neither does this. */
	if (count > SL_CONFIG_MAX_APPS)
		return 0;
	pol->plans = calloc(count ? count : 1, sizeof(*pol->plans));
	pol->by_name = calloc(count ? count : 1, sizeof(*pol->by_name));
	if (!pol->plans || !pol->by_name)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		const yaml_node_t *item = node_at(ld, seq->data.sequence.items.start[i]);
		struct sl_plan *plan = &pol->plans[pol->n_plans];
		const char *name;
		char p[SL_NODE_PATH_BUF];

		/* Not a mapping: the config loader said so. */
		if (!item || item->type != YAML_MAPPING_NODE)
			continue;
		sl_node_path(p, sizeof(p), "plans[%zu]", i);
		load_plan(ld, item, p, plan);
		/* Without a valid name the entry is still checked, then dropped. */
		name = plan_name(sl_node_get(ld->cfg->doc, item, "name"));
		if (!name) {
			memset(plan, 0, sizeof(*plan));
			continue;
		}
		plan->name = strdup(name);
		if (!plan->name)
			return -ENOMEM;
		pol->by_name[pol->n_plans] = pol->n_plans;
		pol->n_plans++;
	}
	qsort_r(pol->by_name, pol->n_plans, sizeof(*pol->by_name), by_name_cmp, pol->plans);
	return 0;
}

/* ---- Applications --------------------------------------------------------------------------- */

/* The plan list for a message: "bronze, gold, silver" (the first few, sorted). */
static void plan_list(const struct sl_policy *pol, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < pol->n_plans && o + 8 < size; i++) {
		const char *name = pol->plans[pol->by_name[i]].name;

		if (i && !strcmp(name, pol->plans[pol->by_name[i - 1]].name))
			continue;
		if (i == 8 || o + strlen(name) + 8 >= size) {
			snprintf(buf + o, size - o, ", ...");
			return;
		}
		o += snprintf(buf + o, size - o, "%s%s", o ? ", " : "", name);
	}
}

static void undefined_plan(struct loader *ld, const struct sl_policy *pol, const yaml_node_t *n,
			   const char *path, const char *name)
{
	const char *near = NULL;
	char d[SL_NODE_EXCERPT_BUF], list[200];
	size_t i, best = 3;

	for (i = 0; i < pol->n_plans; i++) {
		size_t dist = sl_node_distance(name, pol->plans[i].name);

		if (dist < best) {
			best = dist;
			near = pol->plans[i].name;
		}
	}
	if (near) {
		problem(ld, n, path, "undefined plan %s; did you mean \"%s\"?",
			sl_node_excerpt(name, d, sizeof(d)), near);
	} else if (pol->n_plans) {
		plan_list(pol, list, sizeof(list));
		problem(ld, n, path, "undefined plan %s; the plans are: %s",
			sl_node_excerpt(name, d, sizeof(d)), list);
	} else {
		problem(ld, n, path, "undefined plan %s: no plans are defined",
			sl_node_excerpt(name, d, sizeof(d)));
	}
}

/*
 * Every application's `plan:` must name a plan, reported at that line. The
 * loader's cfg->apps hold the mapping entries of the section in order, so
 * the walk pairs them up again to find the lines.
 */
static void check_app_plans(struct loader *ld, const struct sl_policy *pol)
{
	const struct sl_config *cfg = ld->cfg;
	const yaml_node_t *seq;
	uint32_t j = 0;
	size_t i, count;

	if (!cfg->doc || !cfg->applications.node)
		return;
	seq = node_at(ld, cfg->applications.node);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return;
	count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	for (i = 0; i < count && j < cfg->n_apps; i++) {
		const yaml_node_t *item = node_at(ld, seq->data.sequence.items.start[i]);
		const struct sl_config_app *app;
		const yaml_node_t *plan_node;
		char p[SL_NODE_PATH_BUF];

		if (!item || item->type != YAML_MAPPING_NODE)
			continue;
		app = &cfg->apps[j++];
		/* No plan, or one the config loader refused and reported. */
		if (!app->plan || sl_policy_plan_find(pol, app->plan))
			continue;
		plan_node = sl_node_get(ld->cfg->doc, item, "plan");
		sl_node_path(p, sizeof(p), "applications[%zu].plan", i);
		undefined_plan(ld, pol, plan_node ? plan_node : item, p, app->plan);
	}
}

static int app_cmp(const void *a, const void *b)
{
	const struct app_entry *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int index_apps(struct loader *ld, struct sl_policy *pol)
{
	const struct sl_config *cfg = ld->cfg;
	uint32_t i, n = 0, kept = 0;

	pol->apps = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*pol->apps));
	if (!pol->apps)
		return -ENOMEM;
	for (i = 0; i < cfg->n_apps; i++) {
		const struct sl_config_app *app = &cfg->apps[i];
		struct app_entry *e = &pol->apps[n];

		if (!app->id)
			continue;
		e->id = strdup(app->id);
		if (!e->id)
			return -ENOMEM;
		e->plan = app->plan ? sl_policy_plan_find(pol, app->plan) : NULL;
		e->order = i;
		n++;
	}
	qsort(pol->apps, n, sizeof(*pol->apps), app_cmp);
	/* A repeated id was reported by the config loader; its first entry keeps the slot. */
	for (i = 0; i < n; i++) {
		if (kept && !strcmp(pol->apps[kept - 1].id, pol->apps[i].id)) {
			free(pol->apps[i].id);
			continue;
		}
		pol->apps[kept++] = pol->apps[i];
	}
	pol->n_apps = kept;
	/* Slot 0 means "no application" in the kernel's maps, so SL_MAX_APPS - 1 are usable. */
	if (kept > SL_MAX_APPS - 1) {
		const yaml_node_t *seq = node_at(ld, cfg->applications.node);

		if (seq)
			problem(ld, seq, "applications",
				"%u applications is more than the %u the kernel meter has slots "
				"for (SL_MAX_APPS in include/sluice/meter.h)",
				kept, SL_MAX_APPS - 1);
		for (i = SL_MAX_APPS - 1; i < kept; i++)
			free(pol->apps[i].id);
		pol->n_apps = SL_MAX_APPS - 1;
	}
	return 0;
}

static const struct app_entry *find_app(const struct sl_policy *pol,
					const struct sl_config_app *app)
{
	size_t lo = 0, hi;

	if (!pol || !app || !app->id)
		return NULL;
	hi = pol->n_apps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(pol->apps[mid].id, app->id);

		if (!c)
			return &pol->apps[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- The policy ----------------------------------------------------------------------------- */

int sl_policy_load(struct sl_policy **out, const struct sl_config *cfg, struct sl_diag *diag)
{
	struct loader ld = { .cfg = cfg };
	size_t before = sl_diag_count(diag);
	struct sl_policy *pol;
	int err;

	*out = NULL;
	pol = calloc(1, sizeof(*pol));
	if (!pol)
		return -ENOMEM;
	err = load_plans(&ld, pol);
	if (!err) {
		check_app_plans(&ld, pol);
		err = index_apps(&ld, pol);
	}
	if (!err)
		err = ld.err;
	flush_problems(&ld, diag);
	if (!err && sl_diag_count(diag) > before)
		err = -EINVAL;
	if (err) {
		sl_policy_free(pol);
		return err;
	}
	*out = pol;
	return 0;
}

void sl_policy_free(struct sl_policy *policy)
{
	size_t i;

	if (!policy)
		return;
	for (i = 0; i < policy->n_plans; i++)
		free((char *)policy->plans[i].name);
	for (i = 0; i < policy->n_apps; i++)
		free(policy->apps[i].id);
	free(policy->plans);
	free(policy->by_name);
	free(policy->apps);
	free(policy);
}

size_t sl_policy_plan_count(const struct sl_policy *policy)
{
	return policy ? policy->n_plans : 0;
}

const struct sl_plan *sl_policy_plan(const struct sl_policy *policy, size_t i)
{
	return policy && i < policy->n_plans ? &policy->plans[i] : NULL;
}

const struct sl_plan *sl_policy_plan_find(const struct sl_policy *policy, const char *name)
{
	size_t lo = 0, hi;

	if (!policy || !name)
		return NULL;
	/* The first of equal names: a repeated name (an error) resolves to its first entry. */
	hi = policy->n_plans;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(policy->plans[policy->by_name[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < policy->n_plans && !strcmp(policy->plans[policy->by_name[lo]].name, name))
		return &policy->plans[policy->by_name[lo]];
	return NULL;
}

const struct sl_plan *sl_policy_app_plan(const struct sl_policy *policy,
					 const struct sl_config_app *app)
{
	const struct app_entry *e = find_app(policy, app);

	return e ? e->plan : NULL;
}

uint32_t sl_policy_app_slot(const struct sl_policy *policy, const struct sl_config_app *app)
{
	const struct app_entry *e = find_app(policy, app);

	return e ? (uint32_t)(e - policy->apps) + 1 : 0;
}

uint32_t sl_policy_app_count(const struct sl_policy *policy)
{
	return policy ? policy->n_apps : 0;
}

const char *sl_policy_slot_app_id(const struct sl_policy *policy, uint32_t slot)
{
	if (!policy || slot == 0 || slot > policy->n_apps)
		return NULL;
	return policy->apps[slot - 1].id;
}

void sl_policy_app_limits(const struct sl_policy *policy, const struct sl_config_app *app,
			  struct sl_app_limits *out)
{
	const struct sl_plan *plan = sl_policy_app_plan(policy, app);

	memset(out, 0, sizeof(*out));
	if (!plan || !plan->events_limit)
		return;
	out->event_cap = plan->events_limit;
	out->window_ns = plan->events_window_ns;
}

void sl_plan_window(const struct sl_plan *plan, uint64_t now_unix_ns, uint64_t *start_ns,
		    uint64_t *end_ns)
{
	uint64_t w = plan && plan->events_limit ? plan->events_window_ns : 0;

	if (!w) {
		*start_ns = 0;
		*end_ns = UINT64_MAX;
		return;
	}
	/* The kernel's roll_window: start = utc - utc % window. */
	*start_ns = now_unix_ns - now_unix_ns % w;
	*end_ns = *start_ns > UINT64_MAX - w ? UINT64_MAX : *start_ns + w;
}

/* ---- Descriptions --------------------------------------------------------------------------- */

char *sl_plan_describe(const struct sl_plan *plan, char *buf, size_t size)
{
	char a[SL_UNITS_BUF_SIZE], b[SL_UNITS_BUF_SIZE], c[SL_UNITS_BUF_SIZE];
	size_t o = 0;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (o < size)                                                                      \
			o += snprintf(buf + o, size - o, __VA_ARGS__);                             \
	} while (0)

	if (!size)
		return buf;
	buf[0] = '\0';
	if (plan && plan->events_limit)
		ADD("%s%" PRIu64 " events per %s", o ? ", " : "", plan->events_limit,
		    sl_format_duration(plan->events_window_ns, a, sizeof(a)));
	if (plan && plan->bytes_per_second)
		ADD("%s%s/s (burst %s)", o ? ", " : "",
		    sl_format_size(plan->bytes_per_second, a, sizeof(a)),
		    sl_format_size(plan->burst_bytes, b, sizeof(b)));
	if (plan && plan->max_connection_time_ns)
		ADD("%s%s per connection", o ? ", " : "",
		    sl_format_duration(plan->max_connection_time_ns, a, sizeof(a)));
	if (plan && plan->max_queued_bytes)
		ADD("%squeue %s (soft %s for %s)", o ? ", " : "",
		    sl_format_size(plan->max_queued_bytes, a, sizeof(a)),
		    sl_format_size(plan->soft_queued_bytes, b, sizeof(b)),
		    sl_format_duration(plan->grace_ns, c, sizeof(c)));
	if (plan && plan->max_connections)
		ADD("%s%" PRIu32 " connection%s", o ? ", " : "", plan->max_connections,
		    plan->max_connections == 1 ? "" : "s");
	if (!o)
		ADD("no limits");
#undef ADD
	return buf;
}

/* Takes v; -1 when v is NULL or the set fails (jansson releases v either way). */
static int set(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) ? -1 : 0;
}

/* Every value here is bounded far below INT64_MAX; 0 is "no limit", null in JSON. */
static json_t *limit_json(uint64_t v)
{
	return v ? json_integer((json_int_t)v) : json_null();
}

static json_t *plan_json(const struct sl_plan *plan)
{
	char buf[SL_PLAN_DESCRIBE_BUF], w[SL_UNITS_BUF_SIZE];
	json_t *o = json_object(), *events = NULL, *bp = NULL;
	int bad = 0;

	if (!o)
		return NULL;
	if (plan->events_limit) {
		events = json_object();
		if (events) {
			bad |= set(events, "limit", json_integer((json_int_t)plan->events_limit));
			bad |= set(
			    events, "per",
			    json_string(sl_format_duration(plan->events_window_ns, w, sizeof(w))));
			bad |= set(events, "window_ns",
				   json_integer((json_int_t)plan->events_window_ns));
		}
	} else {
		events = json_null();
	}
	if (plan->max_queued_bytes) {
		bp = json_object();
		if (bp) {
			bad |= set(bp, "max_queued_bytes",
				   json_integer((json_int_t)plan->max_queued_bytes));
			bad |= set(bp, "soft_queued_bytes",
				   json_integer((json_int_t)plan->soft_queued_bytes));
			bad |= set(bp, "grace_ns", json_integer((json_int_t)plan->grace_ns));
		}
	} else {
		bp = json_null();
	}
	bad |= set(o, "name", json_string(plan->name));
	bad |= set(o, "line", json_integer(plan->mark.line));
	bad |= set(o, "col", json_integer(plan->mark.col));
	bad |= set(o, "events", events);
	bad |= set(o, "bytes_per_second", limit_json(plan->bytes_per_second));
	bad |= set(o, "burst_bytes", limit_json(plan->burst_bytes));
	bad |= set(o, "max_connection_time_ns", limit_json(plan->max_connection_time_ns));
	bad |= set(o, "backpressure", bp);
	bad |= set(o, "max_connections", limit_json(plan->max_connections));
	bad |= set(o, "summary", json_string(sl_plan_describe(plan, buf, sizeof(buf))));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

static json_t *hex_json(const uint8_t *b, size_t n, const char *prefix)
{
	char buf[80];
	size_t i, at = (size_t)snprintf(buf, sizeof(buf), "%s", prefix);

	for (i = 0; i < n && at + 2 < sizeof(buf); i++, at += 2)
		snprintf(buf + at, sizeof(buf) - at, "%02x", b[i]);
	return json_string(buf);
}

/*
 * A list as the file names its entries, sorted: the order of patterns or
 * keys changes nothing, so `policy diff` must not call it a change. Digests
 * read "sha256:HEX", names prefix + NAME (patterns with "", CNs with "cn:").
 */
static json_t *sorted_list(const uint8_t (*sha)[32], uint32_t n_sha, const char *prefix,
			   const char *const *names, uint32_t n_names)
{
	uint32_t n = n_sha + n_names, i;
	json_t **items = calloc(n ? n : 1, sizeof(*items)), *arr = json_array();
	bool ok = items && arr;

	for (i = 0; ok && i < n; i++) {
		items[i] = i < n_sha ? hex_json(sha[i], 32, "sha256:")
				     : json_sprintf("%s%s", prefix, names[i - n_sha]);
		ok = items[i] != NULL;
	}
	if (ok)
		qsort(items, n, sizeof(*items), by_string);
	for (i = 0; items && i < n; i++) {
		ok = ok && json_array_append(arr, items[i]) == 0;
		json_decref(items[i]);
	}
	free(items);
	if (!ok) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static json_t *issuers_json(const struct sl_auth *auth)
{
	json_t *arr = json_array();
	uint32_t i;

	for (i = 0; arr && auth && i < sl_auth_issuer_count(auth); i++) {
		struct sl_auth_issuer_info is;
		json_t *o;

		sl_auth_issuer_info(auth, i, &is);
		/* Eight bytes of the key's SHA-256 tell keys apart and say nothing of a secret. */
		o = json_pack("{s:s, s:s, s:s?, s:s?, s:o}", "name", is.name, "alg", is.alg,
			      "issuer", is.issuer, "audience", is.audience, "key",
			      hex_json(is.key_sha256, 8, ""));
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int sl_policy_to_json(const struct sl_policy *policy, const struct sl_config *cfg,
		      const struct sl_auth *auth, json_t **out)
{
	json_t *doc = json_object(), *plans = json_array(), *apps = json_array();
	json_t *issuers = issuers_json(auth);
	int bad = !doc || !plans || !apps || !issuers;
	size_t i;

	*out = NULL;
	for (i = 0; !bad && i < sl_policy_plan_count(policy); i++)
		bad = json_array_append_new(plans, plan_json(&policy->plans[i])) != 0;
	for (i = 0; !bad && cfg && i < cfg->n_apps; i++) {
		const struct sl_config_app *app = &cfg->apps[i];
		const struct sl_plan *plan = sl_policy_app_plan(policy, app);
		json_t *a;

		if (!app->id)
			continue;
		a = json_object();
		if (!a) {
			bad = 1;
			break;
		}
		bad |= set(a, "id", json_string(app->id));
		bad |= set(a, "plan", plan ? json_string(plan->name) : json_null());
		bad |= set(a, "slot", json_integer(sl_policy_app_slot(policy, app)));
		bad |=
		    set(a, "subscribe", sorted_list(NULL, 0, "", app->subscribe, app->n_subscribe));
		bad |= set(a, "publish", sorted_list(NULL, 0, "", app->publish, app->n_publish));
		bad |= set(a, "api_keys", sorted_list(app->api_keys, app->n_api_keys, "", NULL, 0));
		bad |= set(a, "certificates",
			   sorted_list(app->cert_sha256, app->n_cert_sha256, "cn:", app->cert_cn,
				       app->n_cert_cn));
		bad |= json_array_append_new(apps, a) != 0;
	}
	if (!bad && doc) {
		bad |= set(doc, "file", cfg && cfg->path ? json_string(cfg->path) : json_null());
		bad |= set(doc, "plans", plans);
		bad |= set(doc, "applications", apps);
		bad |= set(doc, "issuers", issuers);
		plans = apps = issuers = NULL;
	}
	if (bad) {
		json_decref(doc);
		json_decref(plans);
		json_decref(apps);
		json_decref(issuers);
		return -ENOMEM;
	}
	*out = doc;
	return 0;
}
