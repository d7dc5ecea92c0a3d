// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "bench/out.h"

int sl_bench_table_init(struct sl_bench_table *t, size_t ncols, const char *const *headers)
{
	size_t i;

	if (!ncols || ncols > SL_BENCH_TABLE_COLS)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->nrows = 1;
	for (i = 0; i < ncols; i++)
		snprintf(t->cell[0][i], SL_BENCH_TABLE_CELL, "%s", headers[i]);
	return 0;
}

int sl_bench_table_row(struct sl_bench_table *t)
{
	if (t->nrows >= SL_BENCH_TABLE_ROWS)
		return -ENOSPC;
	return (int)t->nrows++;
}

void sl_bench_table_set(struct sl_bench_table *t, int row, size_t col, const char *fmt, ...)
{
	va_list ap;

	if (row <= 0 || (size_t)row >= t->nrows || col >= t->ncols)
		return;
	va_start(ap, fmt);
	vsnprintf(t->cell[row][col], SL_BENCH_TABLE_CELL, fmt, ap);
	va_end(ap);
}

void sl_bench_table_print(const struct sl_bench_table *t, FILE *f)
{
	size_t width[SL_BENCH_TABLE_COLS] = { 0 }, r, c, w, total = 0;
	bool right[SL_BENCH_TABLE_COLS] = { false };
	const char *text;

	for (c = 0; c < t->ncols; c++) {
		right[c] = t->cell[0][c][0] == '>';
		for (r = 0; r < t->nrows; r++) {
			w = strlen(t->cell[r][c]) - (r == 0 && right[c]);
			if (w > width[c])
				width[c] = w;
		}
		total += width[c] + (c ? 2 : 0);
	}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			text = t->cell[r][c] + (r == 0 && right[c]);
			if (c)
				fputs("  ", f);
			if (c + 1 == t->ncols && !right[c])
				fputs(text, f); /* no trailing blanks */
			else
				fprintf(f, right[c] ? "%*s" : "%-*s", (int)width[c], text);
		}
		fputc('\n', f);
		if (r == 0) {
			for (w = 0; w < total; w++)
				fputc('-', f);
			fputc('\n', f);
		}
	}
}

void sl_bench_json_string(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			/* bytes, not characters: error text need not be UTF-8 */
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
