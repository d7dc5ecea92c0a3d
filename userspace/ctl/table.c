// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Aligned text tables (see table.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/table.h"

struct sl_table {
	size_t ncols;
	const char *const *headers;
	char **cells;
	size_t ncells, cap;
	bool failed;
};

struct sl_table *sl_table_new(size_t ncols, const char *const *headers)
{
	struct sl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

void sl_table_add(struct sl_table *t, const char *fmt, ...)
{
	char **grown, *cell;
	va_list ap;
	int ret;

	if (t->failed)
		return;
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		grown = realloc(t->cells, t->cap * sizeof(*t->cells));
		if (!grown) {
			t->failed = true;
			return;
		}
		t->cells = grown;
	}
	va_start(ap, fmt);
	ret = vasprintf(&cell, fmt, ap);
	va_end(ap);
	if (ret < 0) {
		t->failed = true;
		return;
	}
	t->cells[t->ncells++] = cell;
}

static const char *header_name(const struct sl_table *t, size_t col)
{
	const char *h = t->headers[col];

	return h[0] == '>' ? h + 1 : h;
}

static void print_cell(const struct sl_table *t, FILE *f, size_t col, const char *s,
		       const size_t *width)
{
	bool right = t->headers[col][0] == '>', last = col + 1 == t->ncols;
	int pad = (int)(width[col] - strlen(s));

	if (col)
		fputs("  ", f);
	if (right)
		fprintf(f, "%*s%s", pad, "", s);
	else if (last)
		fputs(s, f); /* no trailing blanks */
	else
		fprintf(f, "%s%*s", s, pad, "");
	if (last)
		fputc('\n', f);
}

int sl_table_print(const struct sl_table *t, FILE *f)
{
	size_t *width, i, col, len;

	if (!t || t->failed)
		return -ENOMEM;
	width = calloc(t->ncols, sizeof(*width));
	if (!width)
		return -ENOMEM;
	for (col = 0; col < t->ncols; col++)
		width[col] = strlen(header_name(t, col));
	for (i = 0; i < t->ncells; i++) {
		len = strlen(t->cells[i]);
		if (len > width[i % t->ncols])
			width[i % t->ncols] = len;
	}
	for (col = 0; col < t->ncols; col++)
		print_cell(t, f, col, header_name(t, col), width);
	for (i = 0; i < t->ncells; i++)
		print_cell(t, f, i % t->ncols, t->cells[i], width);
	/* A row left short by a caller's bug still ends its line. */
	if (t->ncells % t->ncols)
		fputc('\n', f);
	free(width);
	return 0;
}

void sl_table_free(struct sl_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
