/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluicectl's command tables, bpftool style: each level is a small table of
 * { name, function } and one dispatcher picks the entry that an argument
 * names, in full or by an unambiguous prefix (`sluicectl m l`).
 */
#ifndef SLUICE_CTL_CMD_H
#define SLUICE_CTL_CMD_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses, as SPEC.md fixes them. */
#define SL_EXIT_OK 0
#define SL_EXIT_ERROR 1
#define SL_EXIT_USAGE 2

/* The parsed command line: the only state the modules of sluicectl share. */
struct sl_ctl {
	bool json;
	bool pretty;
	const char *pin_root;	 /* --pin-root, SLUICE_PIN_ROOT, or the default */
	const char *socket_path; /* --socket, SLUICE_CONTROL_SOCKET, or the default */
};

/*
 * A command gets the arguments after its own name and returns the process
 * exit status (SL_EXIT_*), having printed its output or its one error.
 */
typedef int (*sl_cmd_fn)(const struct sl_ctl *ctl, int argc, char **argv);

struct sl_cmd {
	const char *name;
	sl_cmd_fn fn;
};

/*
 * Runs the entry of cmds (terminated by a NULL name) that argv[0] names,
 * exactly or by a prefix that only one entry (or several names of the same
 * function, i.e. aliases) starts with, passing the arguments after it. With
 * no arguments runs cmds[0], as `bpftool map` lists maps. object is the
 * level's name for messages ("map"); NULL at the top level.
 */
int sl_cmd_select(const struct sl_ctl *ctl, const struct sl_cmd *cmds, const char *object, int argc,
		  char **argv);

/* A usage error unless argc is 0: for commands that take no (more) arguments. */
int sl_cmd_no_args(const struct sl_ctl *ctl, const char *object, int argc, char **argv);

#endif
