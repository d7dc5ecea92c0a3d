// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/problems.h"

int sl_problems_vadd(struct sl_problems *ps, unsigned rank, unsigned long line, unsigned long col,
		     const char *path, const char *fmt, va_list ap)
{
	struct sl_problem *p;
	char *body = NULL, *copy = NULL;

	if (ps->n >= SL_PROBLEMS_MAX) {
		ps->dropped++;
		return 0;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct sl_problem *np = realloc(ps->items, cap * sizeof(*np));

		if (!np)
			goto oom;
		ps->items = np;
		ps->cap = cap;
	}
	if (vasprintf(&body, fmt, ap) < 0) {
		body = NULL;
		goto oom;
	}
	if (path && !(copy = strdup(path)))
		goto oom;
	p = &ps->items[ps->n];
	p->rank = rank;
	p->line = line;
	p->col = col;
	p->seq = ps->n++;
	p->path = copy;
	p->body = body;
	return 0;
oom:
	free(body);
	ps->dropped++;
	return -ENOMEM;
}

static int problem_cmp(const void *a, const void *b)
{
	const struct sl_problem *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_place(const struct sl_problem *a, const struct sl_problem *b)
{
	return a->rank == b->rank && a->line == b->line && a->col == b->col;
}

void sl_problems_flush(struct sl_problems *ps, struct sl_diag *diag,
		       const char *(*file_of)(const void *ctx, unsigned rank), const void *ctx)
{
	size_t i, j;

	if (ps->n)
		qsort(ps->items, ps->n, sizeof(*ps->items), problem_cmp);
	for (i = 0; i < ps->n; i++) {
		const struct sl_problem *p = &ps->items[i];
		bool repeat = false;

		for (j = i; j-- > 0 && same_place(&ps->items[j], p) && !repeat;)
			repeat = !strcmp(ps->items[j].body, p->body);
		if (repeat)
			continue;
		if (p->path)
			sl_diag_add_ranked(diag, p->rank, file_of(ctx, p->rank), p->line, p->col,
					   "%s: %s", p->path, p->body);
		else
			sl_diag_add_ranked(diag, p->rank, file_of(ctx, p->rank), p->line, p->col,
					   "%s", p->body);
	}
	for (i = 0; i < ps->n; i++) {
		free(ps->items[i].path);
		free(ps->items[i].body);
	}
	diag->count += ps->dropped;
	free(ps->items);
	memset(ps, 0, sizeof(*ps));
}
