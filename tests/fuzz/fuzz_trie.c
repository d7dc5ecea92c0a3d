// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The subscription trie (route/trie.c), the matcher that routes every
 * published event, driven by what clients may send: subscribe and
 * unsubscribe any pattern, publish to any topic. The input is lines
 * "<op><value><text>": op '+' adds, '-' removes, anything else matches;
 * value is one of 8 subscribers. Every answer is checked against a plain
 * list of pairs and sl_topic_match.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "route/topic.h"
#include "route/trie.h"

#define VALUES 8
#define MAX_PAIRS 256

struct pair {
	char *pattern;
	int value;
};

static int values[VALUES];

static void count_cb(void *value, void *ctx)
{
	int *counts = ctx, i = (int)((int *)value - values);

	FUZZ_CHECK(i >= 0 && i < VALUES);
	counts[i]++;
}

static int find(const struct pair *pairs, size_t n, const char *pattern, int value)
{
	for (size_t i = 0; i < n; i++)
		if (pairs[i].value == value && !strcmp(pairs[i].pattern, pattern))
			return (int)i;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_trie *trie = sl_trie_new();
	struct pair pairs[MAX_PAIRS];
	size_t n = 0, at = 0;

	if (!trie)
		abort();
	while (at + 2 <= size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t end = nl ? (size_t)(nl - data) : size;
		char op = (char)data[at];
		int value = data[at + 1] % VALUES, ret, idx;
		char *text;
		bool valid;

		if (end < at + 2) {
			at = end + 1;
			continue;
		}
		text = strndup((const char *)data + at + 2, end - at - 2);
		if (!text)
			abort();
		at = end + 1;
		/* An embedded NUL shortens the C string: validate what the trie sees. */
		valid = sl_topic_validate(text, strlen(text), true, NULL) == 0;
		idx = valid ? find(pairs, n, text, value) : -1;
		if (op == '+') {
			if (n == MAX_PAIRS) {
				free(text);
				break;
			}
			ret = sl_trie_add(trie, text, &values[value]);
			FUZZ_CHECK(ret == (!valid ? -EINVAL : idx >= 0 ? -EEXIST : 0));
			if (ret == 0) {
				pairs[n++] = (struct pair){ text, value };
				text = NULL;
			}
		} else if (op == '-') {
			ret = sl_trie_remove(trie, text, &values[value]);
			FUZZ_CHECK(ret == (!valid ? -EINVAL : idx < 0 ? -ENOENT : 0));
			if (ret == 0) {
				free(pairs[idx].pattern);
				pairs[idx] = pairs[--n];
			}
		} else if (valid && !sl_topic_is_pattern(text, strlen(text))) {
			int got[VALUES] = { 0 }, want[VALUES] = { 0 };

			sl_trie_match(trie, text, count_cb, got);
			for (size_t i = 0; i < n; i++)
				want[pairs[i].value] += sl_topic_match(pairs[i].pattern, text);
			FUZZ_CHECK(!memcmp(got, want, sizeof(got)));
		}
		free(text);
		FUZZ_CHECK(sl_trie_count(trie) == n);
	}
	for (size_t i = 0; i < n; i++)
		free(pairs[i].pattern);
	sl_trie_free(trie);
	return 0;
}
