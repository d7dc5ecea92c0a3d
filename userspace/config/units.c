// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config/units.h"

struct unit {
	const char *name;
	uint64_t scale;
};

/*
 * Largest first: the formatters pick the first unit that divides exactly.
 * A day is always 86400 s: durations are intervals, not calendar dates.
 */
static const struct unit duration_units[] = {
	{ "d", 86400 * SL_NSEC_PER_SEC }, { "h", 3600 * SL_NSEC_PER_SEC },
	{ "m", 60 * SL_NSEC_PER_SEC },	  { "s", SL_NSEC_PER_SEC },
	{ "ms", SL_NSEC_PER_MSEC },
};

static const struct unit size_units[] = {
	{ "GiB", 1ULL << 30 },
	{ "MiB", 1ULL << 20 },
	{ "KiB", 1ULL << 10 },
};

#define N_UNITS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Reads the leading decimal digits of s. Returns the number of digits (0
 * when s does not start with one) or -ERANGE when the value overflows.
 */
static int read_digits(const char *s, uint64_t *val)
{
	uint64_t v = 0;
	int i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned int d = s[i] - '0';

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*val = v;
	return i;
}

static int parse_with_units(const char *s, const struct unit *units, size_t n_units,
			    int unit_required, uint64_t *out)
{
	uint64_t amount;
	size_t i;
	int len;

	if (!s)
		return -EINVAL;
	len = read_digits(s, &amount);
	if (len < 0)
		return len;
	if (len == 0)
		return -EINVAL;
	if (s[len] == '\0') {
		if (unit_required)
			return -EINVAL;
		*out = amount;
		return 0;
	}
	for (i = 0; i < n_units; i++) {
		if (strcmp(s + len, units[i].name) != 0)
			continue;
		if (amount > UINT64_MAX / units[i].scale)
			return -ERANGE;
		*out = amount * units[i].scale;
		return 0;
	}
	return -EINVAL;
}

int sl_parse_duration(const char *s, uint64_t *ns)
{
	return parse_with_units(s, duration_units, N_UNITS(duration_units), 1, ns);
}

int sl_parse_count(const char *s, uint64_t *count)
{
	return parse_with_units(s, NULL, 0, 0, count);
}

int sl_parse_size(const char *s, uint64_t *bytes)
{
	return parse_with_units(s, size_units, N_UNITS(size_units), 0, bytes);
}

static char *format_with_units(uint64_t v, const struct unit *units, size_t n_units,
			       const char *fallback, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < n_units && v; i++) {
		if (v % units[i].scale == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", v / units[i].scale, units[i].name);
			return buf;
		}
	}
	snprintf(buf, size, "%" PRIu64 "%s", v, fallback);
	return buf;
}

char *sl_format_duration(uint64_t ns, char *buf, size_t size)
{
	if (ns == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	return format_with_units(ns, duration_units, N_UNITS(duration_units), "ns", buf, size);
}

char *sl_format_size(uint64_t bytes, char *buf, size_t size)
{
	return format_with_units(bytes, size_units, N_UNITS(size_units), "", buf, size);
}
