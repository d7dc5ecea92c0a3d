// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `sluicectl conn`: reads the `conns` iterator pinned by the meter, the only
 * way to enumerate per-socket state (sk_storage has no get_next_key). What
 * needs the daemon's knowledge (application names, topics, closing a
 * client gracefully) answers that it is not there yet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/units.h"
#include "kern/kern.h"
#include "kern/pins.h"
#include "ctl/conn.h"
#include "ctl/daemon.h"
#include "ctl/out.h"
#include "net/ws.h"
#include "ctl/table.h"

static const char conn_help[] =
    "Usage: sluicectl conn list [app ID] [topic PATTERN]\n"
    "       sluicectl conn show ID\n"
    "       sluicectl conn series ID [SECS]\n"
    "       sluicectl conn kick ID [REASON]\n"
    "       sluicectl conn help\n"
    "\n"
    "ID  a connection's id: its socket cookie, as `conn list` shows it.\n"
    "\n"
    "`list` reads the meter's connection iterator under the pin root (--pin-root,\n"
    "default " SL_KERN_DEFAULT_PIN_ROOT "), also while the daemon is down; `show` asks\n"
    "the daemon when it runs and reads the pins otherwise; filtering by app or topic,\n"
    "`series` and `kick` need the daemon. `series` prints events per second (a\n"
    "publisher's: published), one line a second for the last SECS (default 60).\n";

/* SL_SOCK_F_* by name, for operators who should not decode bits. */
static const struct {
	__u32 bit;
	const char *name;
} sock_flags[] = {
	{ SL_SOCK_F_DESYNC, "desync" },
	{ SL_SOCK_F_HELD, "held" },
	{ SL_SOCK_F_KILLED, "killed" },
	{ SL_SOCK_F_DROP_MSG, "drop_msg" },
};

#define NFLAGS (sizeof(sock_flags) / sizeof(sock_flags[0]))

static int do_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, conn_help);
}

static json_t *flags_json(__u32 flags)
{
	json_t *arr = json_array();
	char buf[16];
	size_t i;

	for (i = 0; arr && i < NFLAGS; i++) {
		if (!(flags & sock_flags[i].bit))
			continue;
		flags &= ~sock_flags[i].bit;
		if (json_array_append_new(arr, json_string(sock_flags[i].name)))
			goto fail;
	}
	/* Bits newer than this sluicectl still show, as numbers. */
	if (arr && flags) {
		snprintf(buf, sizeof(buf), "0x%x", flags);
		if (json_array_append_new(arr, json_string(buf)))
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

static void flags_text(__u32 flags, char *buf, size_t len)
{
	size_t i, pos = 0;

	buf[0] = '\0';
	for (i = 0; i < NFLAGS && pos < len; i++) {
		if (!(flags & sock_flags[i].bit))
			continue;
		flags &= ~sock_flags[i].bit;
		pos += snprintf(buf + pos, len - pos, "%s%s", pos ? "," : "", sock_flags[i].name);
	}
	if (flags && pos < len)
		pos += snprintf(buf + pos, len - pos, "%s0x%x", pos ? "," : "", flags);
	if (!pos)
		snprintf(buf, len, "-");
}

/* As `conn show` from the daemon says them: each reason's name and count. */
static json_t *drops_by_reason_json(const struct sl_pins_conn *c)
{
	json_t *o = json_object();

	for (int r = 1; o && r < SL_DROP__MAX; r++)
		json_object_set_new(o, sl_drop_reason_name((enum sl_drop_reason)r),
				    sl_out_u64(c->drops_by_reason[r]));
	return o;
}

static json_t *conn_json(const struct sl_pins_conn *c)
{
	const struct {
		const char *key;
		__u64 value;
	} counters[] = {
		{ "events", c->events },	 { "replies", c->replies },
		{ "bytes", c->bytes },		 { "drops", c->drops },
		{ "drop_bytes", c->drop_bytes }, { "event_cap", c->event_cap },
		{ "unacked", c->unacked },	 { "notsent", c->notsent },
		{ "age_ms", c->age_ms },
	};
	json_t *o;
	size_t i;

	o = json_pack("{s:o, s:i, s:i, s:I, s:o}", "id", sl_out_u64(c->cookie), "local_port",
		      c->local_port, "remote_port", c->remote_port, "app_slot",
		      (json_int_t)c->app_slot, "framing", sl_out_string(c->framing));
	for (i = 0; o && i < sizeof(counters) / sizeof(counters[0]); i++)
		if (json_object_set_new(o, counters[i].key, sl_out_u64(counters[i].value)))
			goto fail;
	if (o && json_object_set_new(o, "drops_by_reason", drops_by_reason_json(c)))
		goto fail;
	if (o && json_object_set_new(o, "flags", flags_json(c->flags)))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Ages as people read them: 850ms, 12.3s, 5m07s, 3h02m, 4d05h. */
static void age_text(__u64 ms, char *buf, size_t len)
{
	__u64 s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", (uint64_t)ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", (uint64_t)s,
			 (uint64_t)(ms % 1000 / 100));
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", (uint64_t)(s / 60),
			 (uint64_t)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", (uint64_t)(s / 3600),
			 (uint64_t)(s % 3600 / 60));
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", (uint64_t)(s / 86400),
			 (uint64_t)(s % 86400 / 3600));
}

static int list_text(const struct sl_ctl *ctl, const struct sl_pins_conn *conns, size_t n)
{
	static const char *const headers[] = {
		">ID",	   ">LPORT",   ">RPORT",   ">APP",   "FRAMING",
		">EVENTS", ">REPLIES", ">BYTES",   ">DROPS", ">DROP_BYTES",
		">CAP",	   ">UNACKED", ">NOTSENT", ">AGE",   "FLAGS",
	};
	struct sl_table *t = sl_table_new(sizeof(headers) / sizeof(headers[0]), headers);
	const struct sl_pins_conn *c;
	char buf[64];
	size_t i;
	int ret;

	for (i = 0; t && i < n; i++) {
		c = &conns[i];
		sl_table_add(t, "%llu", (unsigned long long)c->cookie);
		sl_table_add(t, "%u", c->local_port);
		sl_table_add(t, "%u", c->remote_port);
		if (c->app_slot)
			sl_table_add(t, "%u", c->app_slot);
		else
			sl_table_add(t, "-");
		sl_table_add(t, "%s", c->framing[0] ? c->framing : "-");
		sl_table_add(t, "%llu", (unsigned long long)c->events);
		sl_table_add(t, "%llu", (unsigned long long)c->replies);
		sl_table_add(t, "%llu", (unsigned long long)c->bytes);
		sl_table_add(t, "%llu", (unsigned long long)c->drops);
		sl_table_add(t, "%llu", (unsigned long long)c->drop_bytes);
		if (c->event_cap)
			sl_table_add(t, "%llu", (unsigned long long)c->event_cap);
		else
			sl_table_add(t, "-");
		sl_table_add(t, "%llu", (unsigned long long)c->unacked);
		sl_table_add(t, "%llu", (unsigned long long)c->notsent);
		age_text(c->age_ms, buf, sizeof(buf));
		sl_table_add(t, "%s", buf);
		flags_text(c->flags, buf, sizeof(buf));
		sl_table_add(t, "%s", buf);
	}
	ret = sl_table_print(t, stdout);
	sl_table_free(t);
	if (ret)
		return sl_out_error(ctl, "cannot print the connection list: %s", strerror(-ret));
	return SL_EXIT_OK;
}

static int list_json(const struct sl_ctl *ctl, const struct sl_pins_conn *conns, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, conn_json(&conns[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return sl_out_json(ctl, arr);
}

static int do_list(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_pins_conn *conns = NULL;
	char err[512];
	size_t n;
	int ret;

	if (argc >= 1 && (!strcmp(argv[0], "app") || !strcmp(argv[0], "topic"))) {
		if (argc % 2)
			return sl_out_usage(ctl, "'%s' needs a value: see `sluicectl conn help`",
					    argv[argc - 1]);
		/* The meter knows application slots and no topics; names are the daemon's. */
		char arg[400] = "", *app = "", *topic = "";
		int i;

		for (i = 0; i + 1 < argc; i += 2) {
			if (!strcmp(argv[i], "app"))
				app = argv[i + 1];
			else if (!strcmp(argv[i], "topic"))
				topic = argv[i + 1];
			else
				return sl_out_usage(
				    ctl, "unexpected '%s': conn list [app ID] [topic PATTERN]",
				    argv[i]);
		}
		snprintf(arg, sizeof(arg), "%s\n%s", app, topic);
		return sl_daemon_call_pages(ctl, "conn.page", arg, "conns");
	}
	ret = sl_cmd_no_args(ctl, "conn", argc, argv);
	if (ret)
		return ret;
	ret = sl_pins_conn_list(ctl->pin_root, &conns, &n, err, sizeof(err));
	if (ret == -ENOENT && sl_daemon_meter_off(ctl)) {
		/* No kernel meter (bpf: off): the daemon's own table, and a word that it is. */
		fprintf(stderr, "sluicectl: sluiced runs with bpf: off: connections as it counts "
				"them in userspace\n");
		return sl_daemon_call_pages(ctl, "conn.page", "\n", "conns");
	}
	if (ret)
		return sl_out_error(ctl, "%s", err);
	ret = ctl->json ? list_json(ctl, conns, n) : list_text(ctl, conns, n);
	free(conns);
	return ret;
}

static int show_text(const struct sl_pins_conn *c)
{
	char age[32], flags[64], why[128] = "";
	size_t at = 0;

	age_text(c->age_ms, age, sizeof(age));
	flags_text(c->flags, flags, sizeof(flags));
	for (int r = 1; r < SL_DROP__MAX; r++)
		if (c->drops_by_reason[r] && at < sizeof(why))
			at += (size_t)snprintf(why + at, sizeof(why) - at, "%s %s=%llu",
					       at ? "," : ":",
					       sl_drop_reason_name((enum sl_drop_reason)r),
					       (unsigned long long)c->drops_by_reason[r]);
	printf("id:          %llu\n"
	       "local port:  %u\n"
	       "remote port: %u\n"
	       "app slot:    %u\n"
	       "framing:     %s\n"
	       "events:      %llu\n"
	       "replies:     %llu\n"
	       "bytes:       %llu\n"
	       "drops:       %llu (%llu bytes)%s\n"
	       "event cap:   %llu\n"
	       "unacked:     %llu\n"
	       "notsent:     %llu\n"
	       "age:         %s\n"
	       "flags:       %s\n",
	       (unsigned long long)c->cookie, c->local_port, c->remote_port, c->app_slot,
	       c->framing[0] ? c->framing : "-", (unsigned long long)c->events,
	       (unsigned long long)c->replies, (unsigned long long)c->bytes,
	       (unsigned long long)c->drops, (unsigned long long)c->drop_bytes, why,
	       (unsigned long long)c->event_cap, (unsigned long long)c->unacked,
	       (unsigned long long)c->notsent, age, flags);
	return fflush(stdout) ? SL_EXIT_ERROR : SL_EXIT_OK;
}

/* An ID is a count: digits only (sl_parse_count), no sign, space or suffix. */
static int parse_id(const char *s, __u64 *id)
{
	uint64_t v;
	int ret = sl_parse_count(s, &v);

	if (!ret)
		*id = v;
	return ret;
}

static int not_an_id(const struct sl_ctl *ctl, const char *arg)
{
	return sl_out_usage(ctl,
			    "'%s' is not a connection ID: IDs are the numbers "
			    "`sluicectl conn list` shows",
			    arg);
}

static int do_show(const struct sl_ctl *ctl, int argc, char **argv)
{
	struct sl_pins_conn *conns = NULL;
	char err[512];
	size_t n, i;
	__u64 id;
	int ret;

	if (argc < 1)
		return sl_out_usage(ctl,
				    "conn show needs a connection ID: see `sluicectl conn list`");
	if (argc > 1)
		return sl_out_usage(ctl, "unexpected argument '%s': see `sluicectl conn help`",
				    argv[1]);
	if (parse_id(argv[0], &id))
		return not_an_id(ctl, argv[0]);
	/* The daemon knows who and what (and TCP's acks); the pins alone still count. */
	if (sl_daemon_reachable(ctl))
		return sl_daemon_call(ctl, "conn.show", argv[0]);
	ret = sl_pins_conn_list(ctl->pin_root, &conns, &n, err, sizeof(err));
	if (ret)
		return sl_out_error(ctl, "%s", err);
	for (i = 0; i < n && conns[i].cookie != id; i++)
		;
	if (i == n)
		ret = sl_out_error(ctl,
				   "no metered connection has ID %llu: see `sluicectl conn list`",
				   (unsigned long long)id);
	else if (ctl->json)
		ret = sl_out_json(ctl, conn_json(&conns[i]));
	else
		ret = show_text(&conns[i]);
	free(conns);
	return ret;
}

static int do_kick(const struct sl_ctl *ctl, int argc, char **argv)
{
	__u64 id;

	if (argc < 1)
		return sl_out_usage(ctl,
				    "conn kick needs a connection ID: see `sluicectl conn list`");
	if (parse_id(argv[0], &id))
		return not_an_id(ctl, argv[0]);
	if (argc > 2)
		return sl_out_usage(ctl, "unexpected argument '%s': quote a REASON with spaces",
				    argv[2]);
	/* Cut here, it would reach the daemon shorter and be closed with another reason. */
	if (argc > 1 && strlen(argv[1]) > SL_WS_MAX_CLOSE_REASON)
		return sl_out_usage(
		    ctl, "the REASON is %zu bytes; a WebSocket close frame holds at most %d",
		    strlen(argv[1]), SL_WS_MAX_CLOSE_REASON);
	/* A usage error like the length, before anything is sent (the daemon asks too). */
	if (argc > 1 && sl_ws_close_reason_problem(argv[1]))
		return sl_out_usage(ctl, "REASON: %s", sl_ws_close_reason_problem(argv[1]));
	/* Closing with the right close code (4004) is the daemon's job; the meter can only drop. */
	{
		char arg[160];

		snprintf(arg, sizeof(arg), "%llu%s%s", (unsigned long long)id, argc > 1 ? "\n" : "",
			 argc > 1 ? argv[1] : "");
		return sl_daemon_call(ctl, "conn.kick", arg);
	}
}

static int do_series(const struct sl_ctl *ctl, int argc, char **argv)
{
	__u64 id;

	if (argc >= 1 && parse_id(argv[0], &id))
		return not_an_id(ctl, argv[0]);
	return sl_daemon_series(ctl, "conn.series", "conn series needs ID [SECS]", argc, argv);
}

int sl_conn_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", do_list }, { "show", do_show }, { "series", do_series },
		{ "kick", do_kick }, { "help", do_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "conn", argc, argv);
}
