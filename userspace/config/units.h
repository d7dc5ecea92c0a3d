/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Durations and sizes as the config writes them (SPEC "Configuration"):
 * durations are an integer with a unit ("500ms", "2s", "5m", "1h", "1d"),
 * sizes are plain bytes or an integer with a binary unit ("64KiB", "1MiB",
 * "1GiB"). Integers only, no sign, no spaces: a typo must never parse as
 * something else, and "1.5h" or "1 MB" are refused rather than guessed.
 */
#ifndef SLUICE_CONFIG_UNITS_H
#define SLUICE_CONFIG_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define SL_NSEC_PER_MSEC 1000000ULL
#define SL_NSEC_PER_SEC 1000000000ULL

/* Room for any formatted duration or size, NUL included ("18446744073709551615ns"). */
#define SL_UNITS_BUF_SIZE 32

/*
 * Parses a duration into nanoseconds. Units: ms, s, m, h, d (a day is
 * 86400 s). Returns 0, -EINVAL when s is not "DIGITS UNIT" (missing or
 * unknown unit, sign, fraction, spaces) or -ERANGE when it does not fit
 * 64 bits of nanoseconds (about 213503 days).
 */
int sl_parse_duration(const char *s, uint64_t *ns);

/*
 * Parses a size into bytes: DIGITS, or DIGITS followed by KiB, MiB or GiB
 * (powers of 1024). Returns 0, -EINVAL (bad syntax, unknown unit such as
 * "KB") or -ERANGE (does not fit 64 bits).
 */
int sl_parse_size(const char *s, uint64_t *bytes);

/*
 * Parses a count: DIGITS only ("1e3", "0x10", "-1" and "+1" are refused, not
 * guessed). Returns 0, -EINVAL or -ERANGE (does not fit 64 bits).
 */
int sl_parse_count(const char *s, uint64_t *count);

/*
 * Formats with the largest unit that is exact ("90s" stays "90s", 3600 s is
 * "1h"; 0 is "0s"). Whatever sl_parse_duration accepted formats back to a
 * string it parses to the same value; a value that is not a whole number of
 * milliseconds is written in "ns", for logs only. Returns buf.
 */
char *sl_format_duration(uint64_t ns, char *buf, size_t size);

/* Formats as GiB, MiB or KiB when exact, plain bytes otherwise. Returns buf. */
char *sl_format_size(uint64_t bytes, char *buf, size_t size);

#endif
