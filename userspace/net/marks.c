// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "net/marks.h"

int sl_marks_push(struct sl_marks *m, uint64_t offset)
{
	if (m->count == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 16, i;
		uint64_t *at;

		if (cap < m->cap)
			return -ENOMEM;
		at = malloc(cap * sizeof(*at));
		if (!at)
			return -ENOMEM;
		for (i = 0; i < m->count; i++)
			at[i] = sl_marks_at(m, i);
		free(m->at);
		m->at = at;
		m->cap = cap;
		m->head = 0;
	}
	m->at[(m->head + m->count) % m->cap] = offset;
	m->count++;
	return 0;
}

void sl_marks_drop_below(struct sl_marks *m, uint64_t offset)
{
	while (m->count && m->at[m->head] < offset) {
		m->head = (m->head + 1) % m->cap;
		m->count--;
	}
	/* An idle connection keeps no array (there may be 10,000 of them). */
	if (!m->count && m->cap) {
		free(m->at);
		m->at = NULL;
		m->cap = 0;
		m->head = 0;
	}
}

uint64_t sl_marks_at(const struct sl_marks *m, uint32_t i)
{
	return m->at[(m->head + i) % m->cap];
}

void sl_marks_free(struct sl_marks *m)
{
	free(m->at);
	*m = (struct sl_marks){ 0 };
}
