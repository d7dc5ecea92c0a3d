/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include "bench/args.h"

#include <errno.h>
#include <stdlib.h>

int sl_bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	/* strtoul alone would take leading blanks, a sign and wrap "-1" around. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}
