/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The policy in force and what outlives the process: the plans written to
 * the kernel's per-application limits, an atomic reload of the config with
 * its policy (SIGHUP, `sluicectl policy load`) that moves the live
 * connections to it, and state_dir/quota.json, which keeps each
 * application's quota window and counts across a reboot.
 */
#ifndef SLUICE_NET_RELOAD_H
#define SLUICE_NET_RELOAD_H

#include <jansson.h>

struct sl_gateway;

/* Kernel limits for every application with a plan; the daemon's mirror starts from the kernel. */
int sl_gateway_apply_policy(struct sl_gateway *gw);

/*
 * Loads a config file (path NULL: the one the daemon started with) with its policy and
 * applies it atomically. -EINVAL when nothing changed; *problems (when not
 * NULL) then holds the reasons as a JSON array of strings.
 */
int sl_gateway_reload(struct sl_gateway *gw, const char *path, json_t **problems);

/*
 * Would sl_gateway_reload(path) apply? The same loads and checks (the
 * settings a reload cannot change, the certificate), nothing applied or
 * logged: 0, or -EINVAL with *problems as a reload would give them.
 */
int sl_gateway_reload_check(struct sl_gateway *gw, const char *path, json_t **problems);

/* Writes state_dir/quota.json (also done at shutdown and every 10 s). */
void sl_gateway_save_state(struct sl_gateway *gw);

#endif
