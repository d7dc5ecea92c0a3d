/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared by the libFuzzer harnesses (docs/FUZZING.md). An invariant that
 * does not hold aborts, which libFuzzer reports as a crash and saves the
 * input that caused it.
 */
#ifndef SLUICE_TESTS_FUZZ_H
#define SLUICE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Whether [p, p + n) lies inside [base, base + len). */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t len)
{
	const uint8_t *q = p, *b = base;

	return q >= b && n <= len && q - b <= (ptrdiff_t)(len - n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
