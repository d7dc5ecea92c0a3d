// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>

#include "policy/bundle.h"

enum {
	PART_CONFIG,
	PART_ISSUERS,
	PART_PLANS,
	PART__COUNT
};

/* The first failure, out of memory before the others: retrying may help with that one. */
static int first_error(const int *errs, size_t n)
{
	int err = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (errs[i] == -ENOMEM)
			return -ENOMEM;
		if (!err)
			err = errs[i];
	}
	return err;
}

int sl_bundle_load(const char *path, struct sl_config *cfg, struct sl_auth **auth,
		   struct sl_policy **policy, struct sl_diag *diag)
{
	struct sl_diag parts[PART__COUNT];
	int errs[PART__COUNT] = { 0 }, err;
	struct sl_auth *a = NULL;
	struct sl_policy *p = NULL;
	size_t i, before = sl_diag_count(diag);

	if (auth)
		*auth = NULL;
	if (policy)
		*policy = NULL;
	for (i = 0; i < PART__COUNT; i++)
		sl_diag_init(&parts[i]);
	errs[PART_CONFIG] = sl_config_load(path, cfg, &parts[PART_CONFIG]);
	/*
	 * cfg->doc is the parsed file. With problems in it, cfg holds the
	 * defaults where a value was refused and leaves out what it could not
	 * read (an application's bad pattern, a key that is not 64 hex digits);
	 * the issuers and plans are read from the document, so they are still
	 * checked and reported in the same run.
	 */
	if (cfg->doc && (!errs[PART_CONFIG] || errs[PART_CONFIG] == -EINVAL)) {
		errs[PART_ISSUERS] = sl_auth_new(&a, cfg, &parts[PART_ISSUERS]);
		errs[PART_PLANS] = sl_policy_load(&p, cfg, &parts[PART_PLANS]);
	}
	sl_diag_merge(diag, parts, PART__COUNT);
	err = first_error(errs, PART__COUNT);
	if (!err && sl_diag_count(diag) > before)
		err = -EINVAL;
	if (err) {
		sl_policy_free(p);
		sl_auth_free(a);
		return err;
	}
	if (auth)
		*auth = a;
	else
		sl_auth_free(a);
	if (policy)
		*policy = p;
	else
		sl_policy_free(p);
	return 0;
}
