/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The objects of sluicectl that only the daemon can answer (policy, app,
 * topic, stats, top), over its control socket; and what the daemon says
 * where the pins cannot answer.
 */
#ifndef SLUICE_CTL_DAEMON_H
#define SLUICE_CTL_DAEMON_H

#include <stdbool.h>

#include "ctl/cmd.h"

#define SL_POLICY_GRAMMAR "policy { show | check FILE | load FILE | diff FILE }"
#define SL_APP_GRAMMAR "app { list [top N] | show ID | usage ID | series ID [SECS] }"
#define SL_TOPIC_GRAMMAR "topic { list [top N] | show TOPIC | series TOPIC [SECS] }"
#define SL_STATS_GRAMMAR "stats [--interval SECS]"
#define SL_TOP_GRAMMAR "top"

int sl_daemon_policy_run(const struct sl_ctl *ctl, int argc, char **argv);
int sl_daemon_app_run(const struct sl_ctl *ctl, int argc, char **argv);
int sl_daemon_topic_run(const struct sl_ctl *ctl, int argc, char **argv);
int sl_daemon_stats_run(const struct sl_ctl *ctl, int argc, char **argv);
int sl_daemon_top_run(const struct sl_ctl *ctl, int argc, char **argv);

/* Sends {op, arg} on the control socket and prints the answer (text or -j). */
int sl_daemon_call(const struct sl_ctl *ctl, const char *op, const char *arg);

/*
 * The same for a list the daemon answers a page at a time (op conn.page),
 * with filter (NULL: none) after each page's start; key names the page's
 * array in each answer. Prints the whole list as one document.
 */
int sl_daemon_call_pages(const struct sl_ctl *ctl, const char *op, const char *filter,
			 const char *key);
/*
 * `OBJECT series X [SECS]` (usage: the usage error's message): asks op for
 * the last SECS complete seconds (default 60) and prints one line a second,
 * "UNIX_SECOND EVENTS", or the JSON document.
 */
int sl_daemon_series(const struct sl_ctl *ctl, const char *op, const char *usage, int argc,
		     char **argv);

/* Whether something accepts connections on the control socket (no request made). */
bool sl_daemon_reachable(const struct sl_ctl *ctl);

/* Whether a daemon answers on the control socket and runs without the kernel meter (bpf: off). */
bool sl_daemon_meter_off(const struct sl_ctl *ctl);

/*
 * Reports a failure to read the pins (err from kern/pins, ret its code):
 * where there are no pins because the daemon runs with `bpf: off`, says so
 * (SPEC "The kernel side") instead of asking whether sluiced is running.
 */
int sl_daemon_pins_error(const struct sl_ctl *ctl, int ret, const char *err);

#endif
