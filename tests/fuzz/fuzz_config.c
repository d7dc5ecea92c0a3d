// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The YAML config loader (config/config.c sl_config_load, sl_config_print).
 * A config that loads prints as YAML that loads back to the same config:
 * print(load(print(load(x)))) == print(load(x)).
 */
#include <errno.h>
#include <string.h>

#include "config/config.h"
#include "config_input.h"
#include "fuzz.h"

/* Prints cfg into a malloc'd string. */
static char *print(const struct sl_config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	FUZZ_CHECK(sl_config_print(cfg, f) == 0);
	if (fclose(f))
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_diag diag = { 0 };
	struct sl_config cfg, again;
	char *text1, *text2;
	size_t len1, len2;
	int ret;

	ret = sl_config_load(fuzz_config_path(data, size), &cfg, &diag);
	FUZZ_CHECK(ret == 0 || sl_diag_count(&diag) > 0);
	if (ret == 0) {
		text1 = print(&cfg, &len1);
		sl_diag_free(&diag);
		ret = sl_config_load(fuzz_config_path((const uint8_t *)text1, len1), &again, &diag);
		if (ret) {
			fprintf(stderr, "printed config does not load back:\n%s\n", text1);
			sl_diag_print(&diag, stderr);
		}
		FUZZ_CHECK(ret == 0);
		text2 = print(&again, &len2);
		if (len1 != len2 || memcmp(text1, text2, len1))
			fprintf(stderr, "first print:\n%s\nsecond print:\n%s\n", text1, text2);
		FUZZ_CHECK(len1 == len2 && !memcmp(text1, text2, len1));
		free(text1);
		free(text2);
		sl_config_free(&again);
	}
	sl_config_free(&cfg);
	sl_diag_free(&diag);
	return 0;
}
