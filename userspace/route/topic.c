// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include "route/topic.h"

static bool token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int invalid(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

int sl_topic_validate(const char *s, size_t len, bool pattern, const char **why)
{
	unsigned int tokens = 0;
	size_t i = 0, start;

	if (!s || len == 0)
		return invalid(why, "topic is empty");
	if (len > SL_TOPIC_MAX_LEN)
		return invalid(why, "topic is longer than 255 bytes");

	/* One token per iteration; i ends on the '.' after it or on len. */
	while (i <= len) {
		start = i;
		while (i < len && s[i] != '.')
			i++;
		if (++tokens > SL_TOPIC_MAX_TOKENS)
			return invalid(why, "topic has more than 16 tokens");
		if (i == start)
			return invalid(
			    why, "topic has an empty token (leading, trailing or double '.')");
		if (i - start == 1 && (s[start] == '*' || s[start] == '>')) {
			if (!pattern)
				return invalid(why, "publishing to a wildcard is an error");
			if (s[start] == '>' && i != len)
				return invalid(why, "'>' must be the last token of a pattern");
		} else {
			for (size_t j = start; j < i; j++) {
				unsigned char c = s[j];

				if (token_char(c))
					continue;
				if (c == '*' || c == '>')
					return invalid(
					    why, pattern ? "a wildcard must be a whole token"
							 : "publishing to a wildcard is an error");
				return invalid(why, "topic tokens may hold only A-Z a-z 0-9 _ -");
			}
		}
		i++;
	}
	return 0;
}

bool sl_topic_match(const char *pattern, const char *topic)
{
	const char *p = pattern, *t = topic;

	for (;;) {
		const char *pe = strchrnul(p, '.'), *te = strchrnul(t, '.');
		size_t pl = pe - p, tl = te - t;

		/* '>' takes this token and everything after it: one or more. */
		if (pl == 1 && *p == '>')
			return tl > 0;
		if (pl == 1 && *p == '*') {
			if (tl == 0)
				return false;
		} else if (pl != tl || memcmp(p, t, pl) != 0) {
			return false;
		}
		if (*pe == '\0' || *te == '\0')
			return *pe == '\0' && *te == '\0';
		p = pe + 1;
		t = te + 1;
	}
}

bool sl_topic_is_pattern(const char *s, size_t len)
{
	return len && (memchr(s, '*', len) || memchr(s, '>', len));
}
