/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Problems found while the config (config.c) or its plans (policy.c) are
 * read, gathered as the walk finds them and handed to an sl_diag in file
 * order, so that the output reads like the files: the config first, then its
 * policy files in the order it names them ("ranks"), each by line and column.
 */
#ifndef SLUICE_CONFIG_PROBLEMS_H
#define SLUICE_CONFIG_PROBLEMS_H

#include <stdarg.h>
#include <stddef.h>

#include "config/config.h"

/* Past this many, problems are counted but not kept for sorting: sl_diag keeps 100 anyway. */
#define SL_PROBLEMS_MAX 10000

struct sl_problem {
	unsigned rank; /* 0: the config file; i + 1: its policies[i] */
	unsigned long line, col;
	size_t seq; /* order of finding, for problems at one place */
	char *path; /* the key path the message is about, or NULL */
	char *body; /* what is wrong */
};

/* A zeroed struct is empty; sl_problems_flush empties it again. */
struct sl_problems {
	struct sl_problem *items;
	size_t n, cap;
	size_t dropped; /* past SL_PROBLEMS_MAX or out of memory: counted only */
};

/*
 * Adds one problem; path (may be NULL) is printed before the body as
 * "path: body". Returns 0, or -ENOMEM when it could only be counted.
 */
int sl_problems_vadd(struct sl_problems *ps, unsigned rank, unsigned long line, unsigned long col,
		     const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/*
 * Hands every problem to diag, sorted by rank, line, column and order of
 * finding, with file_of(ctx, rank) naming the file. A node two entries share
 * through a YAML alias is checked once per entry: the same body at the same
 * place is reported once, whichever path reached it.
 */
void sl_problems_flush(struct sl_problems *ps, struct sl_diag *diag,
		       const char *(*file_of)(const void *ctx, unsigned rank), const void *ctx);

#endif
