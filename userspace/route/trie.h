/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Subscription trie: one node per pattern token, with the '*' and '>'
 * children kept apart from the literal ones so that matching a topic walks
 * at most the literal child and the '*' child per level and reads the '>'
 * child's values directly. Matching allocates nothing.
 */
#ifndef SLUICE_ROUTE_TRIE_H
#define SLUICE_ROUTE_TRIE_H

#include <stddef.h>

struct sl_trie;

/* NULL when out of memory. */
struct sl_trie *sl_trie_new(void);
void sl_trie_free(struct sl_trie *trie);

/*
 * Adds value under pattern (NUL-terminated, checked with sl_topic_validate).
 * Returns 0, -EINVAL for an invalid pattern, -EEXIST when this exact
 * (pattern, value) pair is already there, or -ENOMEM.
 */
int sl_trie_add(struct sl_trie *trie, const char *pattern, void *value);

/* Removes the pair and prunes nodes left empty. Returns 0, -EINVAL or -ENOENT. */
int sl_trie_remove(struct sl_trie *trie, const char *pattern, void *value);

/*
 * Calls cb once for every (pattern, value) pair whose pattern matches the
 * NUL-terminated topic. A value under two overlapping patterns (`a.*` and
 * `a.>`) is reported once per pattern. cb must not add or remove.
 */
void sl_trie_match(const struct sl_trie *trie, const char *topic,
		   void (*cb)(void *value, void *ctx), void *ctx);

/* Number of (pattern, value) pairs held. */
size_t sl_trie_count(const struct sl_trie *trie);

#endif
