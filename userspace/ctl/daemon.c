// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Objects that need the daemon's control socket (see daemon.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <msgpack.h>

#include "config/config.h"
#include "config/units.h"
#include "ctl/daemon.h"
#include "ctl/out.h"
#include "ctl/table.h"
#include "policy/bundle.h"
#include "policy/policy.h"
#include "proto/control_request.h"

static int read_full(int fd, void *buf, size_t len)
{
	size_t at = 0;
	ssize_t n;

	while (at < len) {
		n = read(fd, (char *)buf + at, len - at);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		at += (size_t)n;
	}
	return 0;
}

/* Copies a string member of the answer map; NULL when absent. */
static char *answer_str(const msgpack_object *map, const char *key)
{
	uint32_t i;

	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    !memcmp(kv->key.via.str.ptr, key, strlen(key)) &&
		    kv->val.type == MSGPACK_OBJECT_STR)
			return strndup(kv->val.via.str.ptr, kv->val.via.str.size);
	}
	return NULL;
}

static int req_fail(const struct sl_ctl *ctl, bool report, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed request: reported (sl_out_error) unless the caller only asks. */
static int req_fail(const struct sl_ctl *ctl, bool report, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!report)
		return SL_EXIT_ERROR;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sl_out_error(ctl, "%s", msg);
}

/*
 * How long a request waits for the daemon. A stopped (SIGSTOP) or wedged
 * daemon still accepts on its socket: without a bound every command, and a
 * script running it, hung for good. A reload of thousands of applications
 * answers well within it.
 */
#define CONTROL_TIMEOUT_S 10

/* A request whose answer did not come: the timeout (errno e), or what went wrong instead. */
static int no_answer(const struct sl_ctl *ctl, bool report, int e, const char *otherwise)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return req_fail(ctl, report,
				"sluiced on %s did not answer within %d s (is it stopped or hung?)",
				ctl->socket_path, CONTROL_TIMEOUT_S);
	return req_fail(ctl, report, "%s", otherwise);
}

/*
 * One request on the control socket: {op, arg} framed with a 4-byte length.
 * Returns 0 with *result (a JSON document), or an exit status after
 * printing the daemon's error (and its problems, one per line) when report.
 */
static int request_as(const struct sl_ctl *ctl, const char *op, const char *arg, json_t **result,
		      bool report)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval limit = { .tv_sec = CONTROL_TIMEOUT_S };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	uint8_t hdr[4];
	char *body = NULL, *text = NULL, *error = NULL, *problems = NULL;
	size_t n;
	int fd, ret = SL_EXIT_ERROR;

	*result = NULL;
	if (strlen(ctl->socket_path) >= sizeof(sun.sun_path))
		return req_fail(ctl, report, "control socket path too long: %s", ctl->socket_path);
	strcpy(sun.sun_path, ctl->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return req_fail(ctl, report,
				"cannot reach sluiced on %s: %s (is it running? --socket)",
				ctl->socket_path, strerror(e));
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit))) {
		int e = errno;

		close(fd);
		return req_fail(ctl, report, "cannot set a timeout on %s: %s", ctl->socket_path,
				strerror(e));
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, arg ? 2 : 1);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, op, strlen(op));
	if (arg) {
		msgpack_pack_str_with_body(&pk, "arg", 3);
		msgpack_pack_str_with_body(&pk, arg, strlen(arg));
	}
	hdr[0] = (uint8_t)(sb.size >> 24);
	hdr[1] = (uint8_t)(sb.size >> 16);
	hdr[2] = (uint8_t)(sb.size >> 8);
	hdr[3] = (uint8_t)sb.size;
	errno = 0;
	if (write(fd, hdr, 4) != 4 || write(fd, sb.data, sb.size) != (ssize_t)sb.size ||
	    read_full(fd, hdr, 4)) {
		int e = errno;

		msgpack_sbuffer_destroy(&sb);
		close(fd);
		return no_answer(ctl, report, e, "the control socket closed the request");
	}
	msgpack_sbuffer_destroy(&sb);
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	body = n < (16u << 20) ? malloc(n ? n : 1) : NULL;
	errno = 0;
	if (!body || read_full(fd, body, n)) {
		int e = errno;

		close(fd);
		free(body);
		return no_answer(ctl, report, e, "bad answer from sluiced");
	}
	close(fd);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, body, n, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    up.data.type == MSGPACK_OBJECT_MAP) {
		text = answer_str(&up.data, "result");
		error = answer_str(&up.data, "error");
		problems = answer_str(&up.data, "problems");
	}
	msgpack_unpacked_destroy(&up);
	free(body);
	if (text) {
		*result = json_loads(text, 0, NULL);
		ret = *result ? SL_EXIT_OK : req_fail(ctl, report, "bad JSON from sluiced");
	} else {
		json_t *list = problems ? json_loads(problems, 0, NULL) : NULL;
		size_t i;

		if (report && list)
			for (i = 0; i < json_array_size(list); i++)
				fprintf(stderr, "%s\n", json_string_value(json_array_get(list, i)));
		if (report && ctl->json && json_is_array(list)) {
			/* The problems belong in the one document too, as `policy check -j` has
			 * them. */
			fprintf(stderr, "sluicectl: %s\n", error ? error : "request failed");
			sl_out_json(ctl, json_pack("{s:o, s:O}", "error",
						   sl_out_string(error ? error : "request failed"),
						   "problems", list));
			ret = SL_EXIT_ERROR;
		} else {
			ret = req_fail(ctl, report, "%s", error ? error : "request failed");
		}
		json_decref(list);
	}
	free(text);
	free(error);
	free(problems);
	return ret;
}

static int request(const struct sl_ctl *ctl, const char *op, const char *arg, json_t **result)
{
	return request_as(ctl, op, arg, result, true);
}

/* Text output of one object: aligned `key  value` lines. */
static void print_object(json_t *obj)
{
	const char *key;
	json_t *v;
	int width = 0;

	json_object_foreach(obj, key, v)
	{
		int len = (int)strnlen(key, 64);

		if (len > width)
			width = len;
	}
	json_object_foreach(obj, key, v)
	{
		char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf("%-*s  %s\n", width, key, s ? s : json_string_value(v));
		free(s);
	}
}

/* The topic table of `topic list` and `top`. */
static void print_topic_table(json_t *topics)
{
	size_t i;

	printf("%-32s %10s %12s %10s %8s %10s %8s\n", "TOPIC", "PUBLISHED", "DELIVERED", "EVENTS/S",
	       "RETAINED", "OLDEST", "P99(us)");
	for (i = 0; i < json_array_size(topics); i++) {
		json_t *t = json_array_get(topics, i);

		printf("%-32s %10lld %12lld %10lld %8lld %10lld %8lld\n",
		       json_string_value(json_object_get(t, "name")),
		       json_integer_value(json_object_get(t, "published")),
		       json_integer_value(json_object_get(t, "events")),
		       json_integer_value(json_object_get(t, "events_per_second")),
		       json_integer_value(json_object_get(t, "retained")),
		       json_integer_value(json_object_get(t, "oldest_seq")),
		       json_integer_value(json_object_get(t, "p99_us")));
	}
}

/* The application table of `app list` and `top`. */
static void print_app_table(json_t *apps)
{
	size_t i;

	printf("%-20s %-10s %12s %12s %10s %12s %6s %8s %s\n", "APPLICATION", "PLAN", "EVENTS",
	       "LIMIT", "EVENTS/S", "BYTES/S", "CONNS", "P99(us)", "SOURCE");
	for (i = 0; i < json_array_size(apps); i++) {
		json_t *a = json_array_get(apps, i);
		const char *plan = json_string_value(json_object_get(a, "plan"));

		printf("%-20s %-10s %12lld %12lld %10lld %12lld %6lld %8lld %s\n",
		       json_string_value(json_object_get(a, "id")), plan ? plan : "-",
		       json_integer_value(json_object_get(a, "events")),
		       json_integer_value(json_object_get(a, "limit")),
		       json_integer_value(json_object_get(a, "events_per_second")),
		       json_integer_value(json_object_get(a, "bytes_per_second")),
		       json_integer_value(json_object_get(a, "connections")),
		       json_integer_value(json_object_get(json_object_get(a, "latency_us"), "p99")),
		       json_string_value(json_object_get(a, "source")));
	}
}

static int show(const struct sl_ctl *ctl, json_t *doc)
{
	size_t i;

	if (ctl->json)
		return sl_out_json(ctl, doc);
	if (json_is_array(doc) && !json_object_get(json_array_get(doc, 0), "limit")) {
		/* Records of another kind (connections): one block each. */
		for (i = 0; i < json_array_size(doc); i++) {
			print_object(json_array_get(doc, i));
			printf("\n");
		}
	} else if (json_is_array(doc)) {
		print_app_table(doc);
	} else {
		print_object(doc);
	}
	json_decref(doc);
	return SL_EXIT_OK;
}

static int daemon_cmd(const struct sl_ctl *ctl, const char *op, const char *what, int argc,
		      char **argv, bool needs_arg)
{
	json_t *doc;
	int ret;

	if (needs_arg && argc != 1)
		return sl_out_usage(ctl, "%s needs exactly one argument", what);
	if (!needs_arg && argc)
		return sl_out_usage(ctl, "%s takes no arguments", what);
	ret = request(ctl, op, needs_arg ? argv[0] : NULL, &doc);
	return ret ? ret : show(ctl, doc);
}

bool sl_daemon_meter_off(const struct sl_ctl *ctl)
{
	json_t *st = NULL;
	bool off;

	/* No daemon, or a failed request: left to the caller's own error, not reported twice. */
	if (request_as(ctl, "stats", NULL, &st, false))
		return false;
	off = json_is_false(json_object_get(st, "meter"));
	json_decref(st);
	return off;
}

int sl_daemon_pins_error(const struct sl_ctl *ctl, int ret, const char *err)
{
	if (ret == -ENOENT && sl_daemon_meter_off(ctl))
		return sl_out_error(ctl,
				    "sluiced runs with bpf: off, so there is no kernel meter to "
				    "read: its counts are in `sluicectl stats` and `app usage`");
	return sl_out_error(ctl, "%s", err);
}

bool sl_daemon_reachable(const struct sl_ctl *ctl)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool ok;
	int fd;

	if (strlen(ctl->socket_path) >= sizeof(sun.sun_path))
		return false;
	strcpy(sun.sun_path, ctl->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

int sl_daemon_call(const struct sl_ctl *ctl, const char *op, const char *arg)
{
	json_t *doc;
	int ret = request(ctl, op, arg, &doc);

	return ret ? ret : show(ctl, doc);
}

/*
 * A list the daemon answers a page per request (topic.page, conn.page),
 * gathered into one array: the daemon builds each answer on its event loop,
 * so the subscribers wait only for a page. arg is the page's start, then
 * "\n" and filter when there is one; the answer holds the page in key and
 * the next page's start in `next`, none after the last. Entries created
 * meanwhile may be listed or not; topics moved by a reclaim meanwhile may
 * be missed or listed twice.
 */
static int daemon_pages(const struct sl_ctl *ctl, const char *op, const char *filter,
			const char *key, json_t **doc)
{
	/* More pages than limits.max_topics or any connection count can fill. */
	const uint64_t max_pages = 10000000 / SL_CONTROL_CONN_PAGE + 2;
	json_t *all = json_array(), *page, *next;
	char from[24] = "0", arg[SL_CONTROL_ARG_MAX];
	uint64_t pages;
	int ret = SL_EXIT_OK;
	bool more;

	for (pages = 0; all && pages < max_pages; pages++) {
		if (filter)
			snprintf(arg, sizeof(arg), "%s\n%s", from, filter);
		else
			snprintf(arg, sizeof(arg), "%s", from);
		ret = request(ctl, op, arg, &page);
		if (ret)
			break;
		json_array_extend(all, json_object_get(page, key));
		next = json_object_get(page, "next");
		more = json_is_integer(next);
		if (more)
			snprintf(from, sizeof(from), "%lld", json_integer_value(next));
		json_decref(page);
		if (!more)
			break;
	}
	if (ret || !all) {
		json_decref(all);
		return ret ? ret : sl_out_error(ctl, "out of memory");
	}
	*doc = all;
	return SL_EXIT_OK;
}

int sl_daemon_call_pages(const struct sl_ctl *ctl, const char *op, const char *filter,
			 const char *key)
{
	json_t *doc;
	int ret = daemon_pages(ctl, op, filter, key, &doc);

	return ret ? ret : show(ctl, doc);
}

/* `... list top N`: N is 1 to SL_CONTROL_TOP_MAX, as the daemon takes it. */
static bool top_n_valid(const char *s)
{
	uint64_t n;

	return !sl_parse_count(s, &n) && n >= 1 && n <= SL_CONTROL_TOP_MAX;
}

static int topic_list(const struct sl_ctl *ctl, int argc, char **argv)
{
	json_t *doc;
	int ret;

	if (argc == 2 && !strcmp(argv[0], "top")) {
		if (!top_n_valid(argv[1]))
			return sl_out_usage(ctl, "topic list top N: N is 1 to %d",
					    SL_CONTROL_TOP_MAX);
		ret = request(ctl, "topic.list", argv[1], &doc);
	} else if (argc) {
		return sl_out_usage(ctl, "topic list takes only `top N`");
	} else {
		ret = daemon_pages(ctl, "topic.page", NULL, "topics", &doc);
	}
	if (ret)
		return ret;
	if (ctl->json)
		return sl_out_json(ctl, doc);
	print_topic_table(doc);
	json_decref(doc);
	return SL_EXIT_OK;
}

static int topic_show(const struct sl_ctl *ctl, int argc, char **argv)
{
	return daemon_cmd(ctl, "topic.show", "topic show TOPIC", argc, argv, true);
}

static int app_list(const struct sl_ctl *ctl, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[0], "top")) {
		if (!top_n_valid(argv[1]))
			return sl_out_usage(ctl, "app list top N: N is 1 to %d",
					    SL_CONTROL_TOP_MAX);
		return sl_daemon_call(ctl, "app.list", argv[1]);
	}
	if (argc)
		return sl_out_usage(ctl, "app list takes only `top N`");
	return sl_daemon_call(ctl, "app.list", NULL);
}

static int app_show(const struct sl_ctl *ctl, int argc, char **argv)
{
	return daemon_cmd(ctl, "app.show", "app show ID", argc, argv, true);
}

static int app_usage(const struct sl_ctl *ctl, int argc, char **argv)
{
	return daemon_cmd(ctl, "app.usage", "app usage ID", argc, argv, true);
}

int sl_daemon_series(const struct sl_ctl *ctl, const char *op, const char *usage, int argc,
		     char **argv)
{
	char arg[512];
	json_t *doc, *v;
	long secs = 60;
	size_t i;
	int ret;

	if (argc < 1 || argc > 2)
		return sl_out_usage(ctl, "%s", usage);
	if (argc == 2) {
		char *end;

		secs = strtol(argv[1], &end, 10);
		if (!argv[1][0] || *end || secs < 1 || secs > 3600)
			return sl_out_usage(ctl, "SECS is 1 to 3600 (the series holds one hour)");
	}
	if (strlen(argv[0]) > 300)
		return sl_out_error(ctl, "'%.40s...' is longer than any id or topic", argv[0]);
	snprintf(arg, sizeof(arg), "%s\n%ld", argv[0], secs);
	ret = request(ctl, op, arg, &doc);
	if (ret)
		return ret;
	if (ctl->json)
		return sl_out_json(ctl, doc);
	/* One line a second, as `sar` prints them: Unix second, events. */
	json_array_foreach(json_object_get(doc, "events_per_second"), i, v)
	{
		printf("%lld %lld\n",
		       json_integer_value(json_object_get(doc, "start")) + (long long)i,
		       json_integer_value(v));
	}
	json_decref(doc);
	return SL_EXIT_OK;
}

static int app_series(const struct sl_ctl *ctl, int argc, char **argv)
{
	return sl_daemon_series(ctl, "app.series", "app series needs ID [SECS]", argc, argv);
}

static int topic_series(const struct sl_ctl *ctl, int argc, char **argv)
{
	return sl_daemon_series(ctl, "topic.series", "topic series needs TOPIC [SECS]", argc, argv);
}

/* Text of `policy show`: the file, its plans with their limits in one line, the applications. */
static int print_policy(json_t *doc)
{
	static const char *const plan_cols[] = { "PLAN", "LIMITS" };
	static const char *const app_cols[] = { "APPLICATION", "PLAN", ">SLOT" };
	static const char *const issuer_cols[] = { "ISSUER", "ALG", "KEY" };
	struct sl_table *plans = sl_table_new(2, plan_cols), *apps = sl_table_new(3, app_cols);
	struct sl_table *issuers = sl_table_new(3, issuer_cols);
	json_t *v;
	size_t i;
	int ret = -ENOMEM;

	if (!plans || !apps || !issuers)
		goto out;
	json_array_foreach(json_object_get(doc, "issuers"), i, v)
	{
		sl_table_add(issuers, "%s", json_string_value(json_object_get(v, "name")));
		sl_table_add(issuers, "%s", json_string_value(json_object_get(v, "alg")));
		sl_table_add(issuers, "%s", json_string_value(json_object_get(v, "key")));
	}
	json_array_foreach(json_object_get(doc, "plans"), i, v)
	{
		sl_table_add(plans, "%s", json_string_value(json_object_get(v, "name")));
		sl_table_add(plans, "%s", json_string_value(json_object_get(v, "summary")));
	}
	json_array_foreach(json_object_get(doc, "applications"), i, v)
	{
		const char *plan = json_string_value(json_object_get(v, "plan"));

		sl_table_add(apps, "%s", json_string_value(json_object_get(v, "id")));
		sl_table_add(apps, "%s", plan ? plan : "-");
		sl_table_add(apps, "%lld", json_integer_value(json_object_get(v, "slot")));
	}
	printf("file %s\n\n", json_string_value(json_object_get(doc, "file")));
	ret = sl_table_print(plans, stdout);
	printf("\n");
	if (!ret)
		ret = sl_table_print(apps, stdout);
	/* Most configs have none: no empty table for them. */
	if (!ret && json_array_size(json_object_get(doc, "issuers"))) {
		printf("\n");
		ret = sl_table_print(issuers, stdout);
	}
out:
	sl_table_free(plans);
	sl_table_free(apps);
	sl_table_free(issuers);
	return ret;
}

static int policy_show(const struct sl_ctl *ctl, int argc, char **argv)
{
	json_t *doc;
	int ret;

	(void)argv;
	if (argc)
		return sl_out_usage(ctl, "policy show takes no arguments");
	ret = request(ctl, "policy.show", NULL, &doc);
	if (ret)
		return ret;
	if (ctl->json)
		return sl_out_json(ctl, doc);
	ret = print_policy(doc) ? sl_out_error(ctl, "out of memory") : SL_EXIT_OK;
	json_decref(doc);
	return ret;
}

/*
 * Loads FILE as sluiced would (config, issuers, plans) without the daemon;
 * auth (NULL: not wanted) gets the issuers with their keys.
 */
static int load_local(const struct sl_ctl *ctl, const char *file, struct sl_config *cfg,
		      struct sl_auth **auth, struct sl_policy **policy, json_t **problems)
{
	struct sl_diag diag;
	size_t i;
	int ret;

	*problems = json_array();
	sl_diag_init(&diag);
	ret = sl_bundle_load(file, cfg, auth, policy, &diag);
	for (i = 0; i < sl_diag_count(&diag); i++) {
		json_array_append_new(*problems, json_string(sl_diag_get(&diag, i)));
		if (!ctl->json)
			fprintf(stderr, "%s\n", sl_diag_get(&diag, i));
	}
	ret = sl_diag_count(&diag) || ret ? -EINVAL : 0;
	sl_diag_free(&diag);
	return ret;
}

static int policy_check(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_policy *policy;
	struct sl_config cfg;
	json_t *problems;
	int ret;

	if (argc != 1)
		return sl_out_usage(ctl, "policy check needs FILE");
	ret = load_local(ctl, argv[0], &cfg, NULL, &policy, &problems);
	sl_policy_free(policy);
	sl_config_free(&cfg);
	if (ctl->json) {
		sl_out_json(ctl, json_pack("{s:b, s:o}", "ok", !ret, "problems", problems));
		return ret ? SL_EXIT_ERROR : SL_EXIT_OK;
	}
	json_decref(problems);
	if (ret) {
		fprintf(stderr, "sluicectl: %s has problems\n", argv[0]);
		return SL_EXIT_ERROR;
	}
	printf("%s: ok\n", argv[0]);
	return SL_EXIT_OK;
}

static int policy_load(const struct sl_ctl *ctl, int argc, char **argv)
{
	char path[PATH_MAX];

	if (argc != 1)
		return sl_out_usage(ctl, "policy load needs FILE");
	/* The daemon resolves nothing relative to sluicectl's directory. */
	if (!realpath(argv[0], path))
		return sl_out_error(ctl, "cannot find %s: %s", argv[0], strerror(errno));
	argv[0] = path;
	return daemon_cmd(ctl, "policy.load", "policy load FILE", argc, argv, true);
}

/* Entries of `key` in a and b, matched by `name`: added, removed, changed. */
static json_t *diff_list(json_t *a, json_t *b, const char *name)
{
	json_t *out = json_pack("{s:[], s:[], s:[]}", "added", "removed", "changed");
	size_t i, j;

	for (i = 0; i < json_array_size(b); i++) {
		json_t *nb = json_array_get(b, i), *match = NULL;

		for (j = 0; j < json_array_size(a); j++)
			if (json_equal(json_object_get(json_array_get(a, j), name),
				       json_object_get(nb, name)))
				match = json_array_get(a, j);
		if (!match)
			json_array_append(json_object_get(out, "added"), json_object_get(nb, name));
		else if (!json_equal(match, nb))
			json_array_append(json_object_get(out, "changed"),
					  json_object_get(nb, name));
	}
	for (j = 0; j < json_array_size(a); j++) {
		json_t *na = json_array_get(a, j), *match = NULL;

		for (i = 0; i < json_array_size(b); i++)
			if (json_equal(json_object_get(json_array_get(b, i), name),
				       json_object_get(na, name)))
				match = na;
		if (!match)
			json_array_append(json_object_get(out, "removed"),
					  json_object_get(na, name));
	}
	return out;
}

/*
 * Where things are is not a policy change: an application's kernel slot
 * (the daemon's business) and the place of a plan in its file (a comment
 * line above it moved every plan).
 */
static void strip_places(json_t *policy)
{
	json_t *apps = json_object_get(policy, "applications"), *plans;
	size_t i;

	plans = json_object_get(policy, "plans");
	for (i = 0; i < json_array_size(apps); i++)
		json_object_del(json_array_get(apps, i), "slot");
	for (i = 0; i < json_array_size(plans); i++) {
		json_object_del(json_array_get(plans, i), "line");
		json_object_del(json_array_get(plans, i), "col");
	}
}

static int policy_diff(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_policy *policy;
	struct sl_auth *auth = NULL;
	struct sl_config cfg;
	json_t *running, *local = NULL, *problems, *out, *verdict;
	char abs[PATH_MAX];
	int ret;

	if (argc != 1)
		return sl_out_usage(ctl, "policy diff needs FILE");
	ret = request(ctl, "policy.show", NULL, &running);
	if (ret)
		return ret;
	ret = load_local(ctl, argv[0], &cfg, &auth, &policy, &problems);
	if (!ret)
		ret = sl_policy_to_json(policy, &cfg, auth, &local);
	sl_policy_free(policy);
	sl_auth_free(auth);
	sl_config_free(&cfg);
	json_decref(problems);
	if (ret || !local) {
		json_decref(running);
		return sl_out_error(ctl, "%s does not load: see `sluicectl policy check %s`",
				    argv[0], argv[0]);
	}
	/*
	 * A file the daemon would refuse (a setting a reload cannot change, a
	 * certificate that does not load) changes nothing: its problems, as
	 * `policy load` would give them, rather than a list of changes.
	 */
	if (!realpath(argv[0], abs) || (ret = request(ctl, "policy.try", abs, &verdict))) {
		json_decref(running);
		json_decref(local);
		return ret ? ret
			   : sl_out_error(ctl, "cannot find %s: %s", argv[0], strerror(errno));
	}
	json_decref(verdict);
	strip_places(running);
	strip_places(local);
	out = json_pack(
	    "{s:o, s:o, s:o}", "plans",
	    diff_list(json_object_get(running, "plans"), json_object_get(local, "plans"), "name"),
	    "applications",
	    diff_list(json_object_get(running, "applications"),
		      json_object_get(local, "applications"), "id"),
	    "issuers",
	    diff_list(json_object_get(running, "issuers"), json_object_get(local, "issuers"),
		      "name"));
	json_decref(running);
	json_decref(local);
	if (ctl->json)
		return sl_out_json(ctl, out);
	{
		const char *kinds[] = { "added", "removed", "changed" },
			   *sect[] = { "plans", "applications", "issuers" };
		int k, t;
		size_t i;

		for (t = 0; t < 3; t++)
			for (k = 0; k < 3; k++) {
				json_t *l =
				    json_object_get(json_object_get(out, sect[t]), kinds[k]);

				for (i = 0; i < json_array_size(l); i++)
					printf("%-8s %-13s %s\n", kinds[k], sect[t],
					       json_string_value(json_array_get(l, i)));
			}
	}
	json_decref(out);
	return SL_EXIT_OK;
}

static int policy_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, "Usage: sluicectl " SL_POLICY_GRAMMAR "\n"
				"       sluicectl policy help\n"
				"  check reads FILE here; show, load and diff ask the daemon.\n");
}

static int app_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl,
			   "Usage: sluicectl " SL_APP_GRAMMAR "\n"
			   "       sluicectl app help\n"
			   "  Counts come from the kernel meter (source: kernel), or from the\n"
			   "  daemon's writes when it runs with bpf: off (source: daemon).\n"
			   "  list top N (1 to 1000) shows the N busiest (events per second, then\n"
			   "  events written), as `sluicectl top` does.\n"
			   "  series prints events per second, one line a second (default 60).\n");
}

static int topic_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(
	    ctl, "Usage: sluicectl " SL_TOPIC_GRAMMAR "\n"
		 "       sluicectl topic help\n"
		 "  list shows every topic, in the order they were created; top N (1 to 1000)\n"
		 "  the N busiest (deliveries per second, then deliveries).\n"
		 "  series prints deliveries per second, one line a second (default 60).\n");
}

/*
 * The tables hold the grammar's commands although none runs yet, so that
 * prefixes and unknown commands already behave as they will with the daemon.
 */
int sl_daemon_policy_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "show", policy_show }, { "check", policy_check }, { "load", policy_load },
		{ "diff", policy_diff }, { "help", policy_help },   { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "policy", argc, argv);
}

int sl_daemon_app_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", app_list },	  { "show", app_show }, { "usage", app_usage },
		{ "series", app_series }, { "help", app_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "app", argc, argv);
}

int sl_daemon_topic_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", topic_list }, { "show", topic_show }, { "series", topic_series },
		{ "help", topic_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "topic", argc, argv);
}

/* stats and top take options, not commands: `help` is their only word. */
int sl_daemon_stats_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	long interval = 0;
	int ret;

	if (argc >= 1 && !strcmp(argv[0], "help"))
		return sl_out_help(ctl,
				   "Usage: sluicectl " SL_STATS_GRAMMAR "\n"
				   "       sluicectl stats help\n"
				   "  --interval SECS prints the counters again every SECS.\n");
	if (argc == 2 && !strcmp(argv[0], "--interval")) {
		char *end;

		interval = strtol(argv[1], &end, 10);
		if (*end || interval <= 0 || interval > 3600)
			return sl_out_usage(ctl, "--interval takes 1 to 3600 seconds");
	} else if (argc) {
		return sl_out_usage(ctl, "stats takes only --interval SECS");
	}
	for (;;) {
		ret = sl_daemon_call(ctl, "stats", NULL);
		if (ret || !interval)
			return ret;
		fflush(stdout);
		sleep((unsigned)interval);
	}
}

#define TOP_TOPICS_ARG "10" /* the busiest topics shown */
#define TOP_APPS_ARG "10"   /* and applications */

/* One screen of `sluicectl top`, from the daemon's stats, applications and busiest topics. */
static void top_screen(json_t *st, json_t *apps, json_t *topics, bool tty)
{
	json_t *drops = json_object_get(st, "drops"), *lat = json_object_get(st, "latency_us");
	json_t *backends = json_object_get(st, "backends"), *v;
	json_t *slow = json_object_get(st, "slow_consumers");
	const char *key;
	size_t i;

	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("sluice top   connections %lld   topics %lld   events/s %lld   bytes/s %lld\n",
	       json_integer_value(json_object_get(st, "connections")),
	       json_integer_value(json_object_get(st, "topics")),
	       json_integer_value(json_object_get(st, "events_per_second")),
	       json_integer_value(json_object_get(st, "bytes_per_second")));
	printf("published %lld   delivered %lld   evicted %lld   latency p50 %lldus p99 %lldus\n",
	       json_integer_value(json_object_get(st, "published")),
	       json_integer_value(json_object_get(st, "events")),
	       json_integer_value(json_object_get(st, "evicted")),
	       json_integer_value(json_object_get(lat, "p50")),
	       json_integer_value(json_object_get(lat, "p99")));
	printf("publish errors %lld:", json_integer_value(json_object_get(st, "publish_errors")));
	json_object_foreach(json_object_get(st, "publish_errors_by_kind"), key, v)
	{
		if (json_integer_value(v))
			printf(" %s=%lld", key, json_integer_value(v));
	}
	printf("\nkernel drops:");
	json_object_foreach(drops, key, v)
	{
		printf(" %s=%lld", key, json_integer_value(json_object_get(v, "events")));
	}
	printf("\n\n");
	print_app_table(apps);
	printf("\n");
	print_topic_table(topics);
	printf("\n%-20s %10s %12s %10s %8s %8s\n", "BACKEND", "HEARTBEAT", "PUBLISHED", "PUB/S",
	       "ERRORS", "ERR/S");
	for (i = 0; i < json_array_size(backends); i++) {
		json_t *b = json_array_get(backends, i);

		printf("%-20s %8lldms %12lld %10lld %8lld %8lld\n",
		       json_string_value(json_object_get(b, "name")),
		       json_integer_value(json_object_get(b, "heartbeat_age_ms")),
		       json_integer_value(json_object_get(b, "published")),
		       json_integer_value(json_object_get(b, "published_per_second")),
		       json_integer_value(json_object_get(b, "errors")),
		       json_integer_value(json_object_get(b, "errors_per_second")));
	}
	if (json_array_size(slow)) {
		printf("\n%-22s %-20s %12s %10s\n", "SLOW CONSUMER", "APPLICATION", "QUEUED",
		       "OVER SOFT");
		for (i = 0; i < json_array_size(slow); i++) {
			json_t *c = json_array_get(slow, i);

			printf("%-22lld %-20s %12lld %8lldms\n",
			       json_integer_value(json_object_get(c, "id")),
			       json_string_value(json_object_get(c, "app")),
			       json_integer_value(json_object_get(c, "queued_bytes")),
			       json_integer_value(json_object_get(c, "over_soft_bound_ms")));
		}
	}
	fflush(stdout);
}

int sl_daemon_top_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	bool tty = isatty(STDOUT_FILENO);
	json_t *st, *apps, *topics;
	int ret;

	if (argc >= 1 && !strcmp(argv[0], "help"))
		return sl_out_help(ctl, "Usage: sluicectl " SL_TOP_GRAMMAR "\n"
					"       sluicectl top help\n"
					"  A live view refreshed every second; Ctrl-C ends it.\n");
	if (argc)
		return sl_out_usage(ctl, "top takes no arguments");
	if (ctl->json)
		return sl_out_usage(ctl, "top is a live view: use `sluicectl -j stats` for JSON");
	for (;;) {
		ret = request(ctl, "stats", NULL, &st);
		if (ret)
			return ret;
		ret = request(ctl, "app.list", TOP_APPS_ARG, &apps);
		if (ret) {
			json_decref(st);
			return ret;
		}
		ret = request(ctl, "topic.list", TOP_TOPICS_ARG, &topics);
		if (ret) {
			json_decref(st);
			json_decref(apps);
			return ret;
		}
		top_screen(st, apps, topics, tty);
		json_decref(st);
		json_decref(apps);
		json_decref(topics);
		sleep(1);
	}
}
