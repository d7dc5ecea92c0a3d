/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluicectl's output: in JSON mode (-j) stdout carries exactly one JSON
 * document per run, the result or {"error": "…"}; in text mode results go
 * to stdout and errors to stderr.
 */
#ifndef SLUICE_CTL_OUT_H
#define SLUICE_CTL_OUT_H

#include <jansson.h>

#include "ctl/cmd.h"

/* Prints doc, taking its reference, as the run's JSON document. Returns an exit status. */
int sl_out_json(const struct sl_ctl *ctl, json_t *doc);

/* Reports an error and returns SL_EXIT_ERROR. */
int sl_out_error(const struct sl_ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports a usage error and returns SL_EXIT_USAGE. */
int sl_out_usage(const struct sl_ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints help: as text on stdout, or in JSON mode as {"help": text}. Returns SL_EXIT_OK. */
int sl_out_help(const struct sl_ctl *ctl, const char *text);

/*
 * A JSON string for any C string: names from the kernel or the file system
 * need not be UTF-8, which jansson refuses; invalid bytes become '?'.
 */
json_t *sl_out_string(const char *s);

/* A JSON number for a u64; above INT64_MAX, which jansson cannot hold, a decimal string. */
json_t *sl_out_u64(unsigned long long v);

#endif
