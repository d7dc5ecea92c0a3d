/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include "bench/args.h"

#include <errno.h>
#include <stdint.h>

#include "config/units.h"

int sl_bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;

	/* The config's rule for counts: digits only, so nothing is guessed. */
	if (sl_parse_count(s, &v) || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}
