// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route/topic.h"
#include "route/trie.h"

struct trie_node {
	struct trie_node *parent;
	/* Literal children sorted by token, found by binary search. */
	struct trie_node **kids;
	uint32_t nkids, kids_cap;
	struct trie_node *star; /* '*' child */
	struct trie_node *rest; /* '>' child: a leaf, since '>' is always last */
	/* Subscribers of the pattern ending here; unordered, removal swaps with last. */
	void **values;
	uint32_t nvalues, values_cap;
	/*
	 * Past INDEX_MIN values, an open-addressing index (position + 1, 0 =
	 * free) keeps subscribe and unsubscribe O(1): a fan-out topic may have
	 * tens of thousands of subscribers joining and leaving.
	 */
	uint32_t *index;
	uint32_t index_cap; /* a power of two, at least twice nvalues */
	uint8_t token_len;  /* tokens fit: a topic is at most 255 bytes */
	char token[];
};

struct sl_trie {
	struct trie_node *root;
	size_t count;
};

static struct trie_node *node_new(struct trie_node *parent, const char *token, size_t len)
{
	struct trie_node *n = calloc(1, sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	n->parent = parent;
	n->token_len = len;
	memcpy(n->token, token, len);
	return n;
}

static void node_free(struct trie_node *n)
{
	uint32_t i;

	if (!n)
		return;
	/* Recursion depth is bounded by SL_TOPIC_MAX_TOKENS + 1. */
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	node_free(n->star);
	node_free(n->rest);
	free(n->kids);
	free(n->values);
	free(n->index);
	free(n);
}

struct sl_trie *sl_trie_new(void)
{
	struct sl_trie *trie = calloc(1, sizeof(*trie));

	if (!trie)
		return NULL;
	trie->root = node_new(NULL, "", 0);
	if (!trie->root) {
		free(trie);
		return NULL;
	}
	return trie;
}

void sl_trie_free(struct sl_trie *trie)
{
	if (!trie)
		return;
	node_free(trie->root);
	free(trie);
}

static int token_cmp(const struct trie_node *n, const char *token, size_t len)
{
	size_t min = n->token_len < len ? n->token_len : len;
	int c = memcmp(n->token, token, min);

	if (c)
		return c;
	return (n->token_len > len) - (n->token_len < len);
}

/* Index of the literal child holding token, or of where it would be inserted. */
static uint32_t kid_search(const struct trie_node *n, const char *token, size_t len, bool *found)
{
	uint32_t lo = 0, hi = n->nkids;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = token_cmp(n->kids[mid], token, len);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct trie_node **wild_slot(struct trie_node *n, const char *token, size_t len)
{
	if (len == 1 && token[0] == '*')
		return &n->star;
	if (len == 1 && token[0] == '>')
		return &n->rest;
	return NULL;
}

static struct trie_node *child_find(const struct trie_node *n, const char *token, size_t len)
{
	struct trie_node **wild = wild_slot((struct trie_node *)n, token, len);
	bool found;
	uint32_t i;

	if (wild)
		return *wild;
	i = kid_search(n, token, len, &found);
	return found ? n->kids[i] : NULL;
}

static struct trie_node *child_get(struct trie_node *n, const char *token, size_t len)
{
	struct trie_node **wild = wild_slot(n, token, len), *kid;
	bool found;
	uint32_t i;

	if (wild) {
		if (!*wild)
			*wild = node_new(n, token, len);
		return *wild;
	}
	i = kid_search(n, token, len, &found);
	if (found)
		return n->kids[i];
	if (n->nkids == n->kids_cap) {
		uint32_t cap = n->kids_cap ? n->kids_cap * 2 : 4;
		struct trie_node **kids = realloc(n->kids, cap * sizeof(*kids));

		if (!kids)
			return NULL;
		n->kids = kids;
		n->kids_cap = cap;
	}
	kid = node_new(n, token, len);
	if (!kid)
		return NULL;
	memmove(&n->kids[i + 1], &n->kids[i], (n->nkids - i) * sizeof(*n->kids));
	n->kids[i] = kid;
	n->nkids++;
	return kid;
}

static bool node_empty(const struct trie_node *n)
{
	return !n->nvalues && !n->nkids && !n->star && !n->rest;
}

/* Frees n and its ancestors for as long as they hold nothing, so removal leaves no dead paths. */
static void prune(struct trie_node *n)
{
	while (n->parent && node_empty(n)) {
		struct trie_node *parent = n->parent;
		struct trie_node **wild = wild_slot(parent, n->token, n->token_len);

		if (wild) {
			*wild = NULL;
		} else {
			bool found;
			uint32_t i = kid_search(parent, n->token, n->token_len, &found);

			memmove(&parent->kids[i], &parent->kids[i + 1],
				(parent->nkids - i - 1) * sizeof(*parent->kids));
			if (--parent->nkids == 0) {
				free(parent->kids);
				parent->kids = NULL;
				parent->kids_cap = 0;
			}
		}
		node_free(n);
		n = parent;
	}
}

/* The node for pattern, created along the way when create is set. */
static struct trie_node *walk(struct sl_trie *trie, const char *pattern, bool create)
{
	struct trie_node *n = trie->root;
	const char *p = pattern;

	for (;;) {
		const char *end = strchrnul(p, '.');
		struct trie_node *next =
		    create ? child_get(n, p, end - p) : child_find(n, p, end - p);

		if (!next) {
			/* Drop the empty nodes a failed add may have left on the way. */
			if (create)
				prune(n);
			return NULL;
		}
		n = next;
		if (*end == '\0')
			return n;
		p = end + 1;
	}
}

/* Below this many values a scan is as cheap as hashing. */
#define INDEX_MIN 16

static uint32_t value_hash(const void *value)
{
	uint64_t x = (uintptr_t)value;

	/* Pointers share low zero bits and high bits: mix them all in (murmur3 finaliser). */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* The index slot holding value, or the free slot that ends its probe. */
static uint32_t *index_slot(const struct trie_node *n, const void *value)
{
	uint32_t mask = n->index_cap - 1, i = value_hash(value) & mask;

	while (n->index[i] && n->values[n->index[i] - 1] != value)
		i = (i + 1) & mask;
	return &n->index[i];
}

/* Builds the index anew with cap slots; without memory the node just scans. */
static void index_rebuild(struct trie_node *n, uint32_t cap)
{
	uint32_t i;

	free(n->index);
	n->index_cap = 0;
	n->index = calloc(cap, sizeof(*n->index));
	if (!n->index)
		return;
	n->index_cap = cap;
	for (i = 0; i < n->nvalues; i++)
		*index_slot(n, n->values[i]) = i + 1;
}

/* Linear probing without tombstones: later entries of the run shift back into the hole. */
static void index_delete(struct trie_node *n, uint32_t *slot)
{
	uint32_t mask = n->index_cap - 1, hole = slot - n->index, j = hole;

	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (!n->index[j])
			break;
		home = value_hash(n->values[n->index[j] - 1]) & mask;
		/* The entry may move into the hole unless its home lies in (hole, j]. */
		if (hole < j ? home <= hole || home > j : home <= hole && home > j) {
			n->index[hole] = n->index[j];
			hole = j;
		}
	}
	n->index[hole] = 0;
}

static int value_find(const struct trie_node *n, const void *value)
{
	uint32_t i;

	if (n->index) {
		i = *index_slot(n, value);
		return i ? (int)i - 1 : -1;
	}
	for (i = 0; i < n->nvalues; i++) {
		if (n->values[i] == value)
			return i;
	}
	return -1;
}

int sl_trie_add(struct sl_trie *trie, const char *pattern, void *value)
{
	struct trie_node *n;

	if (!pattern || sl_topic_validate(pattern, strlen(pattern), true, NULL))
		return -EINVAL;
	n = walk(trie, pattern, true);
	if (!n)
		return -ENOMEM;
	if (value_find(n, value) >= 0)
		return -EEXIST;
	if (n->nvalues == n->values_cap) {
		uint32_t cap = n->values_cap ? n->values_cap * 2 : 2;
		void **values = realloc(n->values, cap * sizeof(*values));

		if (!values) {
			prune(n);
			return -ENOMEM;
		}
		n->values = values;
		n->values_cap = cap;
	}
	n->values[n->nvalues++] = value;
	if (n->index && n->nvalues * 2 <= n->index_cap) {
		*index_slot(n, value) = n->nvalues;
	} else if (n->nvalues >= INDEX_MIN) {
		uint32_t cap = 4 * INDEX_MIN;

		/* At most half full, so every probe meets a free slot. */
		while (cap < n->nvalues * 2)
			cap *= 2;
		index_rebuild(n, cap);
	}
	trie->count++;
	return 0;
}

int sl_trie_remove(struct sl_trie *trie, const char *pattern, void *value)
{
	struct trie_node *n;
	uint32_t last;
	int i;

	if (!pattern || sl_topic_validate(pattern, strlen(pattern), true, NULL))
		return -EINVAL;
	n = walk(trie, pattern, false);
	if (!n)
		return -ENOENT;
	i = value_find(n, value);
	if (i < 0)
		return -ENOENT;
	last = n->nvalues - 1;
	if (n->index)
		index_delete(n, index_slot(n, value));
	if ((uint32_t)i != last) {
		n->values[i] = n->values[last];
		/* Still found through values[last], which holds the same pointer. */
		if (n->index)
			*index_slot(n, n->values[i]) = i + 1;
	}
	n->nvalues = last;
	if (!n->nvalues) {
		free(n->values);
		free(n->index);
		n->values = NULL;
		n->index = NULL;
		n->values_cap = 0;
		n->index_cap = 0;
	}
	trie->count--;
	prune(n);
	return 0;
}

/*
 * In the gateway a value is a connection whose first two cache lines the
 * callback reads (net/conn.h). Fetching them a few values ahead hides the
 * memory latency that, at 1,000 subscribers a topic, was most of a
 * delivery's cost. A prefetch never faults, whatever the value is.
 */
#define EMIT_AHEAD 4

static void emit(const struct trie_node *n, void (*cb)(void *value, void *ctx), void *ctx)
{
	uint32_t i;

	for (i = 0; i < n->nvalues; i++) {
		if (i + EMIT_AHEAD < n->nvalues) {
			const char *ahead = n->values[i + EMIT_AHEAD];

			__builtin_prefetch(ahead);
			__builtin_prefetch(ahead + 64);
		}
		cb(n->values[i], ctx);
	}
}

/*
 * t is the start of a topic token. Each level follows at most two children
 * (the literal and the '*'), so the work is bounded by the trie, with a
 * recursion depth of at most SL_TOPIC_MAX_TOKENS.
 */
static void match(const struct trie_node *n, const char *t, void (*cb)(void *value, void *ctx),
		  void *ctx)
{
	const char *end = strchrnul(t, '.');
	size_t len = end - t;
	const struct trie_node *next[2];
	bool found;
	uint32_t i, nnext = 0;

	if (len == 0)
		return;
	if (n->rest)
		emit(n->rest, cb, ctx);
	i = kid_search(n, t, len, &found);
	if (found)
		next[nnext++] = n->kids[i];
	if (n->star)
		next[nnext++] = n->star;
	for (i = 0; i < nnext; i++) {
		if (*end == '\0')
			emit(next[i], cb, ctx);
		else
			match(next[i], end + 1, cb, ctx);
	}
}

void sl_trie_match(const struct sl_trie *trie, const char *topic,
		   void (*cb)(void *value, void *ctx), void *ctx)
{
	match(trie->root, topic, cb, ctx);
}

size_t sl_trie_count(const struct sl_trie *trie)
{
	return trie->count;
}
