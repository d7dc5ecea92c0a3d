/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a TLS connection's reply records start, in stream offsets, oldest
 * first: the records the kernel meter must count as replies, not events
 * (docs/ARCHITECTURE.md, "Metering TLS"). Kept here until the bytes are
 * written, because the kernel's ring holds only SL_REPLY_MARKS of them:
 * thousands of pipelined answers, or an event of 64 records, overran it.
 */
#ifndef SLUICE_NET_MARKS_H
#define SLUICE_NET_MARKS_H

#include <stddef.h>
#include <stdint.h>

struct sl_marks {
	uint64_t *at;  /* a ring of cap offsets */
	uint32_t head; /* the oldest */
	uint32_t count;
	uint32_t cap;
	uint64_t pushed_last; /* the newest offset the kernel's ring was given (0: none) */
};

/* Appends offset (not below the newest one). 0 or -ENOMEM. */
int sl_marks_push(struct sl_marks *m, uint64_t offset);

/* Forgets the marks below offset: their records are written. */
void sl_marks_drop_below(struct sl_marks *m, uint64_t offset);

/* The i-th oldest mark (i < count). */
uint64_t sl_marks_at(const struct sl_marks *m, uint32_t i);

void sl_marks_free(struct sl_marks *m);

#endif
