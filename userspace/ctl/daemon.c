// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Objects that need the daemon's control socket (see daemon.h). */
#include <string.h>

#include "ctl/daemon.h"
#include "ctl/out.h"

#define NEEDS_DAEMON "Needs the daemon: not implemented yet.\n"

int sl_daemon_missing(const struct sl_ctl *ctl, const char *what)
{
	return sl_out_error(ctl,
			    "%s%snot implemented yet: needs the daemon (sluicectl does not speak "
			    "the control socket %s yet)",
			    what ?: "", what ? ": " : "", ctl->socket_path);
}

static int missing(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_daemon_missing(ctl, NULL);
}

static int policy_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, "Usage: sluicectl " SL_POLICY_GRAMMAR "\n"
				"       sluicectl policy help\n" NEEDS_DAEMON);
}

static int app_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, "Usage: sluicectl " SL_APP_GRAMMAR "\n"
				"       sluicectl app help\n" NEEDS_DAEMON);
}

static int topic_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, "Usage: sluicectl " SL_TOPIC_GRAMMAR "\n"
				"       sluicectl topic help\n" NEEDS_DAEMON);
}

/*
 * The tables hold the grammar's commands although none runs yet, so that
 * prefixes and unknown commands already behave as they will with the daemon.
 */
int sl_daemon_policy_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "show", missing }, { "check", missing },    { "load", missing },
		{ "diff", missing }, { "help", policy_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "policy", argc, argv);
}

int sl_daemon_app_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", missing },  { "show", missing }, { "usage", missing },
		{ "help", app_help }, { NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "app", argc, argv);
}

int sl_daemon_topic_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	static const struct sl_cmd cmds[] = {
		{ "list", missing },
		{ "show", missing },
		{ "help", topic_help },
		{ NULL, NULL },
	};

	return sl_cmd_select(ctl, cmds, "topic", argc, argv);
}

/* stats and top take options, not commands: `help` is their only word. */
int sl_daemon_stats_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "help"))
		return sl_out_help(ctl, "Usage: sluicectl " SL_STATS_GRAMMAR "\n"
					"       sluicectl stats help\n" NEEDS_DAEMON);
	return sl_daemon_missing(ctl, "stats");
}

int sl_daemon_top_run(const struct sl_ctl *ctl, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "help"))
		return sl_out_help(ctl, "Usage: sluicectl " SL_TOP_GRAMMAR "\n"
					"       sluicectl top help\n" NEEDS_DAEMON);
	return sl_daemon_missing(ctl, "top");
}
