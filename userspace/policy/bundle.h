/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A config file with everything it defines, loaded and checked in one call:
 * the config itself (config/config.h), its issuers (auth/auth.h) and its
 * plans (policy/policy.h). `sluiced` at start and with --check, a reload
 * (SIGHUP, `sluicectl policy load`) and `sluicectl policy check` all load
 * through here, so they accept and refuse the same files with the same
 * messages (SPEC "Policies": every problem as FILE:LINE:COL).
 *
 *	struct sl_diag diag = { 0 };
 *	struct sl_config cfg;
 *	struct sl_auth *auth;
 *	struct sl_policy *pol;
 *
 *	if (sl_bundle_load(path, &cfg, &auth, &pol, &diag))
 *		-> sl_diag_print(&diag, stderr), sl_config_free(&cfg), exit
 */
#ifndef SLUICE_POLICY_BUNDLE_H
#define SLUICE_POLICY_BUNDLE_H

#include "auth/auth.h"
#include "config/config.h"
#include "policy/policy.h"

/*
 * Loads path into cfg, then its issuers into *auth and its plans into
 * *policy. Once the file has been read and parsed as one YAML document,
 * every check runs, whatever the earlier ones found, and diag gets all of
 * their problems as one list in file order (the config, then its policy
 * files, each by line and column). A file that cannot be read or parsed
 * stops there, with that one problem.
 *
 * Returns 0 with *auth and *policy set, or non-zero (as sl_config_load:
 * -EINVAL for problems, -ENOENT... when the file cannot be read, -ENOMEM)
 * with both NULL; diag then holds at least one problem unless out of
 * memory. auth or policy may be NULL for a caller that only checks. Call
 * sl_config_free on cfg afterwards whatever the result; *auth refers to cfg.
 */
int sl_bundle_load(const char *path, struct sl_config *cfg, struct sl_auth **auth,
		   struct sl_policy **policy, struct sl_diag *diag);

#endif
