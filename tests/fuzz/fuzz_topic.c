// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Topic validator and matcher (route/topic.c) on what clients send in sub,
 * unsub and pub. The input is "PATTERN\0TOPIC" (no NUL: both are the input).
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "route/topic.h"

static bool has_wildcard_token(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if ((s[i] == '*' || s[i] == '>') && (i == 0 || s[i - 1] == '.') &&
		    (i + 1 == len || s[i + 1] == '.'))
			return true;
	return false;
}

/* SPEC "Topics" read literally, token by token: '*' is one token, '>' one or more. */
static bool reference_match(const char *pattern, const char *topic)
{
	const char *pe = strchr(pattern, '.'), *te = strchr(topic, '.');
	size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
	size_t tl = te ? (size_t)(te - topic) : strlen(topic);

	if (pl == 1 && pattern[0] == '>')
		return true;
	if (!(pl == 1 && pattern[0] == '*') && (pl != tl || memcmp(pattern, topic, pl)))
		return false;
	if (!pe || !te)
		return !pe && !te;
	return reference_match(pe + 1, te + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	char *pattern, *topic;
	bool pvalid, tvalid, tvalid_pattern;
	const char *why = NULL;

	pattern = strndup((const char *)data, plen);
	topic = nul ? strndup((const char *)nul + 1, size - plen - 1)
		    : strndup((const char *)data, size);
	if (!pattern || !topic)
		abort();

	pvalid = sl_topic_validate(pattern, strlen(pattern), true, &why) == 0;
	FUZZ_CHECK(pvalid || why);
	tvalid = sl_topic_validate(topic, strlen(topic), false, NULL) == 0;
	tvalid_pattern = sl_topic_validate(topic, strlen(topic), true, NULL) == 0;
	/* Every topic is also a pattern, matching only itself. */
	FUZZ_CHECK(!tvalid || tvalid_pattern);
	FUZZ_CHECK(!tvalid || !sl_topic_is_pattern(topic, strlen(topic)));
	if (tvalid)
		FUZZ_CHECK(sl_topic_match(topic, topic));
	/* Lengths that validate stay within the documented bound. */
	if (pvalid)
		FUZZ_CHECK(strlen(pattern) <= SL_TOPIC_MAX_LEN);

	/* The matcher must be safe on anything; on valid input it must be exact. */
	bool m = sl_topic_match(pattern, topic);

	if (pvalid && tvalid) {
		FUZZ_CHECK(m == reference_match(pattern, topic));
		if (!has_wildcard_token(pattern))
			FUZZ_CHECK(m == (strcmp(pattern, topic) == 0));
		if (!strcmp(pattern, ">"))
			FUZZ_CHECK(m);
		if (m)
			FUZZ_CHECK(sl_topic_is_pattern(pattern, strlen(pattern)) ||
				   !strcmp(pattern, topic));
	}
	free(pattern);
	free(topic);
	return 0;
}
