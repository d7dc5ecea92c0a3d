// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The inline policy (policy/policy.c: plans and applications' plans, slots)
 * and the issuers section (auth/auth.c sl_auth_new), read from a config the
 * loader accepted or not, as sluiced does after sl_config_load.
 */
#include <errno.h>
#include <string.h>

#include "auth/auth.h"
#include "config/config.h"
#include "config_input.h"
#include "fuzz.h"
#include "policy/policy.h"

static void use_policy(const struct sl_policy *pol, const struct sl_config *cfg)
{
	char line[SL_PLAN_DESCRIBE_BUF];
	uint32_t slots = sl_policy_app_count(pol);
	json_t *js = NULL;

	for (size_t i = 0; i < sl_policy_plan_count(pol); i++) {
		const struct sl_plan *plan = sl_policy_plan(pol, i);
		uint64_t start, end;

		FUZZ_CHECK(plan && plan->name && sl_policy_plan_find(pol, plan->name));
		sl_plan_describe(plan, line, sizeof(line));
		FUZZ_CHECK(strlen(line) < sizeof(line) - 1);
		sl_plan_window(plan, 1767225600ULL * 1000000000ULL, &start, &end);
		FUZZ_CHECK(start <= 1767225600ULL * 1000000000ULL && end > start);
	}
	FUZZ_CHECK(sl_policy_plan(pol, sl_policy_plan_count(pol)) == NULL);
	for (uint32_t i = 0; i < cfg->n_apps; i++) {
		const struct sl_config_app *app = &cfg->apps[i];
		uint32_t slot = sl_policy_app_slot(pol, app);
		struct sl_app_limits lim;

		FUZZ_CHECK(slot <= slots && slot < SL_MAX_APPS);
		if (slot)
			FUZZ_CHECK(!strcmp(sl_policy_slot_app_id(pol, slot), app->id));
		sl_policy_app_limits(pol, app, &lim);
	}
	FUZZ_CHECK(sl_policy_to_json(pol, cfg, NULL, &js) == 0 && json_is_object(js));
	json_decref(js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_diag diag = { 0 };
	struct sl_policy *pol = NULL;
	struct sl_auth *auth = NULL;
	struct sl_config cfg;
	int ret;

	(void)sl_config_load(fuzz_config_path(data, size), &cfg, &diag);
	ret = sl_policy_load(&pol, &cfg, &diag);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_CHECK((ret == 0) == (pol != NULL));
	if (pol) {
		use_policy(pol, &cfg);
		sl_policy_free(pol);
	}
	ret = sl_auth_new(&auth, &cfg, &diag);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	sl_auth_free(auth);
	sl_config_free(&cfg);
	sl_diag_free(&diag);
	return 0;
}
