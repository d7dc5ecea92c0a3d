/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluice-bench's output: aligned text tables and JSON strings. In JSON mode
 * stdout carries exactly one JSON document (the result or {"error": "…"})
 * and progress goes to stderr, so that `sluice-bench … --json | jq` works.
 */
#ifndef SLUICE_BENCH_OUT_H
#define SLUICE_BENCH_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Enough for the benchmark tables: a few rows per (shape, config) and a dozen columns. */
#define SL_BENCH_TABLE_ROWS 32
#define SL_BENCH_TABLE_COLS 12
#define SL_BENCH_TABLE_CELL 48

struct sl_bench_table {
	size_t ncols;
	size_t nrows; /* row 0 is the header */
	char cell[SL_BENCH_TABLE_ROWS][SL_BENCH_TABLE_COLS][SL_BENCH_TABLE_CELL];
};

/* headers: ncols column names; a name starting with '>' makes a right-aligned column. */
int sl_bench_table_init(struct sl_bench_table *t, size_t ncols, const char *const *headers);

/* Starts a row; returns its index or -ENOSPC. */
int sl_bench_table_row(struct sl_bench_table *t);

/* Sets a cell of a row (longer text is cut at SL_BENCH_TABLE_CELL - 1 bytes). */
void sl_bench_table_set(struct sl_bench_table *t, int row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints the header, a rule, and the rows, each column as wide as its widest cell. */
void sl_bench_table_print(const struct sl_bench_table *t, FILE *f);

/* Prints s as a JSON string, quotes included; bytes that are not printable ASCII are escaped. */
void sl_bench_json_string(FILE *f, const char *s);

#endif
