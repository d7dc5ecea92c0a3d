/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Aligned text tables for sluicectl: cells are collected first so that each
 * column can be as wide as its widest cell, then printed at once.
 */
#ifndef SLUICE_CTL_TABLE_H
#define SLUICE_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct sl_table;

/*
 * headers holds ncols column names; a name starting with '>' makes a
 * right-aligned column (numbers) and the '>' is not printed.
 */
struct sl_table *sl_table_new(size_t ncols, const char *const *headers);

/* Appends the next cell, filling rows left to right. Failures surface at print. */
void sl_table_add(struct sl_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the header and the rows; -ENOMEM if a cell could not be stored. */
int sl_table_print(const struct sl_table *t, FILE *f);

void sl_table_free(struct sl_table *t);

#endif
