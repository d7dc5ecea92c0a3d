/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Checking a loader's messages, shared by the config and policy tests. */
#ifndef SLUICE_TEST_DIAG_AT_H
#define SLUICE_TEST_DIAG_AT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

/* Whether some message is exactly "FILE:LINE:COL: " followed by text containing want. */
static inline bool diag_has_at(const struct sl_diag *diag, const char *file, unsigned int line,
			       unsigned int col, const char *want)
{
	char prefix[PATH_MAX + 32];
	size_t i, plen;

	snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file, line, col);
	plen = strlen(prefix);
	for (i = 0; i < diag->stored; i++) {
		const char *m = sl_diag_get(diag, i);

		if (!strncmp(m, prefix, plen) && strstr(m + plen, want))
			return true;
	}
	return false;
}

#endif
