/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluice-bench's command-line numbers. Each mode (fanout, latency, idle,
 * kernel) parses its own options; they share this one rule for numbers so
 * that a typo ("1e3", "+5", " 5", "5s") is a usage error in every mode,
 * never a value that differs from the one written.
 */
#ifndef SLUICE_BENCH_ARGS_H
#define SLUICE_BENCH_ARGS_H

/* Parses DIGITS only (sl_parse_count) into min..max. Returns 0 or -EINVAL. */
int sl_bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

#endif
