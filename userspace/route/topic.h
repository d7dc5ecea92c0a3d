/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Topic names and patterns (SPEC "Topics"): NATS-style subjects, tokens of
 * [A-Za-z0-9_-] separated by '.'. Patterns add '*' (exactly one token) and
 * '>' (one or more trailing tokens, last token only).
 */
#ifndef SLUICE_ROUTE_TOPIC_H
#define SLUICE_ROUTE_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define SL_TOPIC_MAX_LEN 255
#define SL_TOPIC_MAX_TOKENS 16

/*
 * Checks s[0..len) as a topic (pattern false: no wildcards, since publishing
 * to a wildcard is an error) or as a subscription pattern. Returns 0 or
 * -EINVAL with *why (if why is not NULL) set to a short static sentence
 * saying what is wrong, fit to send back to the client.
 */
int sl_topic_validate(const char *s, size_t len, bool pattern, const char **why);

/*
 * Whether the NUL-terminated topic matches the NUL-terminated pattern. Both
 * are expected to be valid; invalid input never matches more than it says.
 */
bool sl_topic_match(const char *pattern, const char *topic);

/* Whether s[0..len) holds a wildcard token ('*' or '>'). */
bool sl_topic_is_pattern(const char *s, size_t len);

#endif
