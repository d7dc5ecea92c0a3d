// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluicectl: the operator CLI, shaped like bpftool (SPEC.md, "sluicectl").
 * `sluicectl [OPTIONS] OBJECT COMMAND [ARGS]`; objects and commands come from
 * small tables and may be shortened to unambiguous prefixes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/kern.h"
#include "ctl/cmd.h"
#include "ctl/conn.h"
#include "ctl/daemon.h"
#include "ctl/key.h"
#include "ctl/map.h"
#include "ctl/out.h"
#include "ctl/prog.h"

#define DEFAULT_SOCKET "/run/sluice/control.sock"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

static const char usage_text[] =
    "Usage: sluicectl [OPTIONS] OBJECT { COMMAND | help }\n"
    "       sluicectl help\n"
    "\n"
    "  sluicectl " SL_POLICY_GRAMMAR "\n"
    "  sluicectl " SL_APP_GRAMMAR "\n"
    "  sluicectl " SL_CONN_GRAMMAR "\n"
    "  sluicectl " SL_TOPIC_GRAMMAR "\n"
    "  sluicectl " SL_MAP_GRAMMAR "\n"
    "  sluicectl " SL_PROG_GRAMMAR "\n"
    "  sluicectl " SL_KEY_GRAMMAR "\n"
    "  sluicectl " SL_STATS_GRAMMAR "\n"
    "  sluicectl " SL_TOP_GRAMMAR "\n"
    "\n"
    "OBJECT := { policy | app | conn | topic | map | prog | key | stats | top }\n"
    "OPTIONS := { -j|--json | -p|--pretty | --pin-root DIR | --socket PATH | -h|--help |\n"
    "             -V|--version }\n"
    "\n"
    "  -j, --json      print one JSON document; errors as {\"error\": \"...\"}\n"
    "  -p, --pretty    indent the JSON (implies -j)\n"
    "  --pin-root DIR  the meter's pinned objects (SLUICE_PIN_ROOT;\n"
    "                  default " SL_KERN_DEFAULT_PIN_ROOT ")\n"
    "  --socket PATH   the daemon's control socket (SLUICE_CONTROL_SOCKET;\n"
    "                  default " DEFAULT_SOCKET ")\n"
    "  -V, --version   the build and the meter ABI whose pins it reads\n"
    "\n"
    "Objects and commands may be shortened to unambiguous prefixes (`sluicectl m l`).\n"
    "`map`, `prog` and `conn list|show` read the pins and work without the daemon.\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

static int do_help(const struct sl_ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sl_out_help(ctl, usage_text);
}

static const struct sl_cmd objects[] = {
	{ "policy", sl_daemon_policy_run },
	{ "app", sl_daemon_app_run },
	{ "conn", sl_conn_run },
	{ "topic", sl_daemon_topic_run },
	{ "map", sl_map_run },
	{ "prog", sl_prog_run },
	{ "key", sl_key_run },
	{ "stats", sl_daemon_stats_run },
	{ "top", sl_daemon_top_run },
	{ "help", do_help },
	{ NULL, NULL },
};

/* The first bad option, kept until -j may have been seen after it. */
struct bad_option {
	const char *arg;
	const char *why;
};

/* --name VALUE or --name=VALUE; *i moves past what was used. */
static bool long_value(int argc, char **argv, int *i, const char *name, const char **value,
		       struct bad_option *bad)
{
	const char *arg = argv[*i];
	size_t len = strlen(name);

	if (strncmp(arg, name, len))
		return false;
	if (arg[len] == '=') {
		*value = arg + len + 1;
		return true;
	}
	if (arg[len])
		return false;
	if (*i + 1 < argc) {
		*value = argv[++*i];
	} else if (!bad->arg) {
		bad->arg = arg;
		bad->why = "needs a value";
	}
	return true;
}

/*
 * Global options may come anywhere, as in bpftool (`sluicectl map list -j`).
 * An unknown option before the object is a usage error; after it, it belongs
 * to the object (`stats --interval 5`). Positional arguments are moved to the
 * front of argv; returns how many there are.
 */
static int parse_args(int argc, char **argv, struct sl_ctl *ctl, bool *help, bool *version,
		      struct bad_option *bad)
{
	int i, n = 0;
	bool rest = false;
	const char *arg, *c;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (rest || arg[0] != '-' || !arg[1]) {
			argv[n++] = argv[i];
		} else if (!strcmp(arg, "--")) {
			rest = true;
		} else if (!strcmp(arg, "--json")) {
			ctl->json = true;
		} else if (!strcmp(arg, "--pretty")) {
			ctl->pretty = true;
		} else if (!strcmp(arg, "--help")) {
			*help = true;
		} else if (!strcmp(arg, "--version") || !strcmp(arg, "-V")) {
			*version = true;
		} else if (long_value(argc, argv, &i, "--pin-root", &ctl->pin_root, bad) ||
			   long_value(argc, argv, &i, "--socket", &ctl->socket_path, bad)) {
			continue;
		} else if (arg[1] != '-' && strspn(arg + 1, "jph") == strlen(arg + 1)) {
			for (c = arg + 1; *c; c++) {
				ctl->json |= *c == 'j';
				ctl->pretty |= *c == 'p';
				*help |= *c == 'h';
			}
		} else if (n) {
			argv[n++] = argv[i];
		} else if (!bad->arg) {
			bad->arg = arg;
			bad->why = "is not an option";
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct sl_ctl ctl = { 0 };
	struct bad_option bad = { 0 };
	char *help_args[] = { "help", NULL };
	bool help = false, version = false;
	const char *env;
	int n;

	n = parse_args(argc, argv, &ctl, &help, &version, &bad);
	ctl.json |= ctl.pretty;
	if (!ctl.pin_root) {
		env = getenv("SLUICE_PIN_ROOT");
		ctl.pin_root = env && env[0] ? env : SL_KERN_DEFAULT_PIN_ROOT;
	}
	if (!ctl.socket_path) {
		env = getenv("SLUICE_CONTROL_SOCKET");
		ctl.socket_path = env && env[0] ? env : DEFAULT_SOCKET;
	}
	if (bad.arg)
		return sl_out_usage(&ctl, "'%s' %s: see `sluicectl help`", bad.arg, bad.why);
	if (!ctl.pin_root[0])
		return sl_out_usage(&ctl, "--pin-root needs a directory");
	if (!ctl.socket_path[0])
		return sl_out_usage(&ctl, "--socket needs a path");
	if (help && n == 0)
		return do_help(&ctl, 0, NULL);
	/* As bpftool -V: the build, and the meter ABI whose pins it reads. */
	if (version && ctl.json)
		return sl_out_json(&ctl, json_pack("{s:s, s:i}", "version", SL_VERSION, "meter_abi",
						   SL_ABI_VERSION));
	if (version) {
		printf("sluicectl %s, meter ABI %d\n", SL_VERSION, SL_ABI_VERSION);
		return SL_EXIT_OK;
	}
	if (n == 0 && !ctl.json)
		fputs(usage_text, stderr);
	if (n == 0)
		return sl_out_usage(&ctl, "missing OBJECT: see `sluicectl help`");
	if (help) {
		/* `sluicectl map -h` is `sluicectl map help`. */
		help_args[0] = argv[0];
		help_args[1] = "help";
		return sl_cmd_select(&ctl, objects, NULL, 2, help_args);
	}
	return sl_cmd_select(&ctl, objects, NULL, n, argv);
}
