// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Topic names, the subscription trie, retention rings and the router: pure
 * logic, table driven. The sanitized build proves the reference counting.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/event.h"
#include "route/ring.h"
#include "route/router.h"
#include "route/topic.h"
#include "route/trie.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SEC 1000000000ull

/* Builds n tokens of tok_len 'x's (the last one replaced by last when set). */
static char *tokens(char *buf, unsigned int n, unsigned int tok_len, const char *last)
{
	char *p = buf;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (i)
			*p++ = '.';
		if (last && i == n - 1) {
			strcpy(p, last);
			p += strlen(last);
		} else {
			memset(p, 'x', tok_len);
			p += tok_len;
		}
	}
	*p = '\0';
	return buf;
}

static void test_validate(void)
{
	static const struct {
		const char *s;
		bool pattern;
		bool ok;
	} cases[] = {
		{ "a", false, true },
		{ "a.b.c", false, true },
		{ "Az_09-.x", false, true },
		{ "orders.eu-west.created", false, true },
		{ "", false, false },
		{ "", true, false },
		{ ".", false, false },
		{ ".a", false, false },
		{ "a.", false, false },
		{ "a..b", false, false },
		{ "a..b", true, false },
		{ "a b", false, false },
		{ "a/b", false, false },
		{ "a:b", false, false },
		{ "caf\xc3\xa9", false, false },
		{ "a.*", false, false },
		{ "a.>", false, false },
		{ "*", false, false },
		{ ">", false, false },
		{ "a*", false, false },
		{ "*", true, true },
		{ ">", true, true },
		{ "a.*", true, true },
		{ "*.b", true, true },
		{ "a.*.c", true, true },
		{ "a.>", true, true },
		{ "*.*.>", true, true },
		{ "a.b", true, true },
		{ "a*", true, false },
		{ "a.b*", true, false },
		{ "**", true, false },
		{ ">>", true, false },
		{ "a.>.b", true, false },
		{ ">.a", true, false },
		{ "a.b>", true, false },
		{ "a.>.", true, false },
		{ "a.*.", true, false },
	};
	char buf[600];
	const char *why;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int err;

		why = NULL;
		err = sl_topic_validate(cases[i].s, strlen(cases[i].s), cases[i].pattern, &why);
		TAP_OK(cases[i].ok ? err == 0 : err == -EINVAL && why && *why,
		       "validate %s \"%s\" -> %s%s%s", cases[i].pattern ? "pattern" : "topic",
		       cases[i].s, cases[i].ok ? "ok" : "EINVAL", why ? ": " : "", why ? why : "");
	}

	why = NULL;
	sl_topic_validate("a.*", 3, false, &why);
	TAP_OK(why && !strcmp(why, "publishing to a wildcard is an error"),
	       "wildcard in a publish says so");
	TAP_OK(sl_topic_validate("a\0b", 3, false, NULL) == -EINVAL, "embedded NUL refused");
	TAP_OK(sl_topic_validate("a.b", 1, false, NULL) == 0, "length, not NUL, bounds the name");
	TAP_OK(sl_topic_validate(NULL, 0, false, NULL) == -EINVAL, "NULL refused");

	tokens(buf, 16, 1, NULL);
	TAP_OK(sl_topic_validate(buf, strlen(buf), false, NULL) == 0, "16 tokens accepted");
	tokens(buf, 17, 1, NULL);
	why = NULL;
	TAP_OK(sl_topic_validate(buf, strlen(buf), false, &why) == -EINVAL && why,
	       "17 tokens refused: %s", why);
	TAP_OK(sl_topic_validate(buf, strlen(buf), true, NULL) == -EINVAL,
	       "17 tokens refused as a pattern");
	tokens(buf, 16, 1, ">");
	TAP_OK(sl_topic_validate(buf, strlen(buf), true, NULL) == 0,
	       "16 tokens ending in '>' accepted as a pattern");
	tokens(buf, 17, 1, ">");
	TAP_OK(sl_topic_validate(buf, strlen(buf), true, NULL) == -EINVAL,
	       "17 tokens ending in '>' refused");
	/* 16 tokens of 15 bytes and 15 dots: exactly 255 bytes. */
	tokens(buf, 16, 15, NULL);
	TAP_OK(strlen(buf) == 255 && sl_topic_validate(buf, 255, false, NULL) == 0,
	       "255 bytes accepted");
	tokens(buf, 1, 255, NULL);
	TAP_OK(sl_topic_validate(buf, 255, false, NULL) == 0, "one 255-byte token accepted");
	tokens(buf, 1, 256, NULL);
	why = NULL;
	TAP_OK(sl_topic_validate(buf, 256, false, &why) == -EINVAL && why, "256 bytes refused: %s",
	       why);
	tokens(buf, 2, 128, NULL);
	TAP_OK(sl_topic_validate(buf, 257, true, NULL) == -EINVAL, "257-byte pattern refused");

	TAP_OK(sl_topic_is_pattern("a.*", 3) && sl_topic_is_pattern(">", 1) &&
		   !sl_topic_is_pattern("a.b", 3) && !sl_topic_is_pattern("", 0),
	       "is_pattern");
}

static void test_match(void)
{
	static const struct {
		const char *pattern, *topic;
		bool match;
	} cases[] = {
		{ "a", "a", true },	    { "a", "b", false },
		{ "a", "ab", false },	    { "ab", "a", false },
		{ "a.b", "a.b", true },	    { "a.b", "a.b.c", false },
		{ "a.b.c", "a.b", false },  { "*", "a", true },
		{ "*", "a.b", false },	    { "a.*", "a.b", true },
		{ "a.*", "a", false },	    { "a.*", "a.b.c", false },
		{ "*.b", "a.b", true },	    { "*.b", "a.c", false },
		{ "a.*.c", "a.x.c", true }, { "a.*.c", "a.x.d", false },
		{ "*.*", "a.b", true },	    { "*.*", "a", false },
		{ ">", "a", true },	    { ">", "a.b.c", true },
		{ "a.>", "a", false },	    { "a.>", "a.b", true },
		{ "a.>", "a.b.c.d", true }, { "a.>", "b.c", false },
		{ "a.>", "ab.c", false },   { "*.>", "a", false },
		{ "*.>", "a.b", true },	    { "a.*.>", "a.b", false },
		{ "a.*.>", "a.b.c", true }, { "a-b_C.>", "a-b_C.1", true },
		{ "A", "a", false },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		TAP_OK(sl_topic_match(cases[i].pattern, cases[i].topic) == cases[i].match,
		       "\"%s\" %s \"%s\"", cases[i].pattern,
		       cases[i].match ? "matches" : "does not match", cases[i].topic);
}

/* Records which values a match reported, and how often. */
struct hits {
	unsigned int count[8];
	unsigned int total;
};

static int vals[8];

static void hit(void *value, void *ctx)
{
	struct hits *h = ctx;

	h->count[(int *)value - vals]++;
	h->total++;
}

static struct hits trie_hits(struct sl_trie *trie, const char *topic)
{
	struct hits h = { 0 };

	sl_trie_match(trie, topic, hit, &h);
	return h;
}

static void test_trie(void)
{
	struct sl_trie *trie = sl_trie_new();
	struct hits h;

	TAP_OK(trie && sl_trie_count(trie) == 0, "trie: new is empty");
	TAP_OK(sl_trie_add(trie, "a.b", &vals[0]) == 0, "trie: add a.b v0");
	TAP_OK(sl_trie_add(trie, "a.b", &vals[0]) == -EEXIST, "trie: same pair again -> EEXIST");
	TAP_OK(sl_trie_add(trie, "a.b", &vals[1]) == 0, "trie: same pattern, other value");
	TAP_OK(sl_trie_add(trie, "a.*", &vals[0]) == 0, "trie: same value, overlapping pattern");
	TAP_OK(sl_trie_add(trie, "a.>", &vals[2]) == 0, "trie: add a.>");
	TAP_OK(sl_trie_add(trie, ">", &vals[3]) == 0, "trie: add >");
	TAP_OK(sl_trie_add(trie, "*.b", &vals[4]) == 0, "trie: add *.b");
	TAP_OK(sl_trie_add(trie, "a.b.c", &vals[5]) == 0, "trie: add a.b.c");
	TAP_OK(sl_trie_add(trie, "a.>.c", &vals[6]) == -EINVAL, "trie: invalid pattern -> EINVAL");
	TAP_OK(sl_trie_add(trie, "", &vals[6]) == -EINVAL, "trie: empty pattern -> EINVAL");
	TAP_OK(sl_trie_count(trie) == 7, "trie: count 7");

	h = trie_hits(trie, "a.b");
	TAP_OK(h.total == 6 && h.count[0] == 2 && h.count[1] == 1 && h.count[2] == 1 &&
		   h.count[3] == 1 && h.count[4] == 1 && h.count[5] == 0,
	       "trie: a.b hits each (pattern, value) pair once (total %u)", h.total);
	h = trie_hits(trie, "a");
	TAP_OK(h.total == 1 && h.count[3] == 1, "trie: a hits only > (a.> needs a token more)");
	h = trie_hits(trie, "a.b.c");
	TAP_OK(h.total == 3 && h.count[2] == 1 && h.count[3] == 1 && h.count[5] == 1,
	       "trie: a.b.c hits a.>, > and a.b.c");
	h = trie_hits(trie, "x.b");
	TAP_OK(h.total == 2 && h.count[3] == 1 && h.count[4] == 1, "trie: x.b hits > and *.b");
	h = trie_hits(trie, "x.y.z");
	TAP_OK(h.total == 1 && h.count[3] == 1, "trie: x.y.z hits only >");

	TAP_OK(sl_trie_remove(trie, "a.b", &vals[2]) == -ENOENT, "trie: remove absent value");
	TAP_OK(sl_trie_remove(trie, "a.c", &vals[0]) == -ENOENT, "trie: remove absent pattern");
	TAP_OK(sl_trie_remove(trie, "a..b", &vals[0]) == -EINVAL, "trie: remove invalid pattern");
	TAP_OK(sl_trie_remove(trie, "a.b", &vals[0]) == 0, "trie: remove a.b v0");
	TAP_OK(sl_trie_remove(trie, "a.b", &vals[0]) == -ENOENT, "trie: removing twice -> ENOENT");
	h = trie_hits(trie, "a.b");
	TAP_OK(h.total == 5 && h.count[0] == 1 && h.count[1] == 1,
	       "trie: a.b keeps v1 and v0 via a.*");
	/* Removing a node's values keeps its children: a.b.c lives below a.b. */
	TAP_OK(sl_trie_remove(trie, "a.b", &vals[1]) == 0, "trie: remove a.b v1");
	h = trie_hits(trie, "a.b.c");
	TAP_OK(h.count[5] == 1, "trie: a.b.c still there after a.b emptied");
	TAP_OK(sl_trie_remove(trie, "a.b.c", &vals[5]) == 0 &&
		   sl_trie_remove(trie, "a.*", &vals[0]) == 0 &&
		   sl_trie_remove(trie, "a.>", &vals[2]) == 0 &&
		   sl_trie_remove(trie, ">", &vals[3]) == 0 &&
		   sl_trie_remove(trie, "*.b", &vals[4]) == 0,
	       "trie: remove the rest");
	h = trie_hits(trie, "a.b");
	TAP_OK(sl_trie_count(trie) == 0 && h.total == 0, "trie: empty again, nothing matches");
	/* The pruned paths can be built again. */
	TAP_OK(sl_trie_add(trie, "a.b.c", &vals[5]) == 0 && trie_hits(trie, "a.b.c").total == 1,
	       "trie: add after prune");
	sl_trie_free(trie);
}

/* Small PRNG so the comparison below is the same on every run. */
static uint32_t rnd(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return *state >> 33;
}

static void random_name(uint64_t *state, char *buf, bool pattern)
{
	static const char *const toks[] = { "a", "b", "c", "ab" };
	unsigned int n = 1 + rnd(state) % 4, i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *tok = toks[rnd(state) % ARRAY_SIZE(toks)];

		if (pattern && rnd(state) % 3 == 0)
			tok = "*";
		if (pattern && i == n - 1 && rnd(state) % 4 == 0)
			tok = ">";
		if (i)
			strcat(buf, ".");
		strcat(buf, tok);
	}
}

struct count_ctx {
	unsigned int n;
};

static void count_cb(void *value, void *ctx)
{
	(void)value;
	((struct count_ctx *)ctx)->n++;
}

/* The trie agrees with sl_topic_match on every pattern, for a few hundred of each. */
static void test_trie_vs_match(void)
{
	static char patterns[300][32];
	struct sl_trie *trie = sl_trie_new();
	uint64_t state = 42;
	unsigned int i, j, added = 0, bad = 0;

	for (i = 0; i < ARRAY_SIZE(patterns); i++) {
		random_name(&state, patterns[i], true);
		if (sl_trie_add(trie, patterns[i], &patterns[i]) == 0)
			added++;
	}
	for (i = 0; i < 500; i++) {
		struct count_ctx c = { 0 };
		unsigned int want = 0;
		char topic[32];

		random_name(&state, topic, false);
		for (j = 0; j < ARRAY_SIZE(patterns); j++)
			want += sl_topic_match(patterns[j], topic);
		sl_trie_match(trie, topic, count_cb, &c);
		bad += c.n != want;
	}
	TAP_OK(added == ARRAY_SIZE(patterns) && bad == 0,
	       "trie: matches agree with sl_topic_match (%u patterns, %u mismatches)", added, bad);
	for (i = 0; i < ARRAY_SIZE(patterns); i += 2)
		sl_trie_remove(trie, patterns[i], &patterns[i]);
	for (i = 0, bad = 0; i < 500; i++) {
		struct count_ctx c = { 0 };
		unsigned int want = 0;
		char topic[32];

		random_name(&state, topic, false);
		for (j = 1; j < ARRAY_SIZE(patterns); j += 2)
			want += sl_topic_match(patterns[j], topic);
		sl_trie_match(trie, topic, count_cb, &c);
		bad += c.n != want;
	}
	TAP_OK(sl_trie_count(trie) == ARRAY_SIZE(patterns) / 2 && bad == 0,
	       "trie: still agrees after removing half (%u mismatches)", bad);
	sl_trie_free(trie);
}

/* Many values under one pattern go through the node's hash index: adds, dups, removals. */
static void test_trie_many_values(void)
{
	static int many[500];
	static bool present[500];
	struct sl_trie *trie = sl_trie_new();
	unsigned int i, k, bad = 0, removed = 0;
	struct count_ctx c = { 0 };

	for (i = 0; i < ARRAY_SIZE(many); i++) {
		bad += sl_trie_add(trie, "x.y", &many[i]) != 0;
		present[i] = true;
	}
	for (i = 0; i < ARRAY_SIZE(many); i++)
		bad += sl_trie_add(trie, "x.y", &many[i]) != -EEXIST;
	TAP_OK(!bad && sl_trie_count(trie) == 500, "trie: 500 values on one pattern, dups refused");

	/* Remove in a scrambled order (7 is prime to 500), re-adding every tenth. */
	for (k = 0; k < ARRAY_SIZE(many); k++) {
		i = (k * 7) % ARRAY_SIZE(many);
		bad += sl_trie_remove(trie, "x.y", &many[i]) != 0;
		present[i] = false;
		removed++;
		if (k % 10 == 9) {
			unsigned int j = (k * 7 + 3) % ARRAY_SIZE(many);

			if (!present[j]) {
				bad += sl_trie_add(trie, "x.y", &many[j]) != 0;
				present[j] = true;
				removed--;
			}
		}
		if (k % 50 == 49) {
			unsigned int j;

			for (j = 0; j < ARRAY_SIZE(many); j++)
				bad += present[j]
					   ? sl_trie_add(trie, "x.y", &many[j]) != -EEXIST
					   : sl_trie_remove(trie, "x.y", &many[j]) != -ENOENT;
		}
	}
	sl_trie_match(trie, "x.y", count_cb, &c);
	TAP_OK(!bad && c.n == ARRAY_SIZE(many) - removed &&
		   sl_trie_count(trie) == ARRAY_SIZE(many) - removed,
	       "trie: scrambled removals keep the index exact (%u left, %u errors)", c.n, bad);
	for (i = 0; i < ARRAY_SIZE(many); i++) {
		if (present[i])
			bad += sl_trie_remove(trie, "x.y", &many[i]) != 0;
	}
	TAP_OK(!bad && sl_trie_count(trie) == 0, "trie: and all of them removed");
	sl_trie_free(trie);
}

static struct sl_event *event(uint64_t seq, uint64_t gseq, uint64_t ts)
{
	return sl_event_new("t", 1, &seq, sizeof(seq), seq, gseq, ts);
}

/* Records the seqs a replay produced. */
struct seqs {
	uint64_t seq[64];
	uint64_t gseq[64];
	const char *topic[64];
	unsigned int n;
};

static bool seq_cb(struct sl_event *ev, void *ctx)
{
	struct seqs *s = ctx;

	if (s->n < ARRAY_SIZE(s->seq)) {
		s->seq[s->n] = ev->seq;
		s->gseq[s->n] = ev->gseq;
		s->topic[s->n] = ev->topic;
	}
	s->n++;
	return true;
}

/* SSE's resume as sub.c makes it: the referenced event's gseq, then the replay after it. */
static int resume_after(struct sl_router *r, const char *const *patterns, size_t n,
			const char *ref_topic, uint64_t ref_seq,
			bool (*cb)(struct sl_event *ev, void *ctx), void *ctx)
{
	uint64_t gseq;
	int ret = sl_router_gseq_of(r, ref_topic, ref_seq, &gseq);

	return ret ? ret : sl_router_replay_after(r, patterns, n, gseq, cb, ctx);
}

/* Takes two events a call, as a paced resume does, and keeps where it got to. */
struct paced {
	struct seqs s;
	unsigned int room;
	uint64_t after_seq, after_gseq;
};

static bool paced_cb(struct sl_event *ev, void *ctx)
{
	struct paced *p = ctx;

	if (!p->room)
		return false;
	p->room--;
	p->after_seq = ev->seq;
	p->after_gseq = ev->gseq;
	return seq_cb(ev, &p->s);
}

static bool seqs_are(const struct seqs *s, uint64_t first, uint64_t last)
{
	unsigned int i;

	if (s->n != (last >= first ? last - first + 1 : 0))
		return false;
	for (i = 0; i < s->n; i++) {
		if (s->seq[i] != first + i)
			return false;
	}
	return true;
}

static void test_ring(void)
{
	struct sl_ring ring;
	struct sl_event *ev, *first;
	struct seqs s;
	uint64_t i;

	TAP_OK(sl_ring_init(&ring, SL_RING_MAX_CAPACITY + 1) == -EINVAL, "ring: capacity bound");
	TAP_OK(sl_ring_init(&ring, 4) == 0, "ring: init 4");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 0, seq_cb, &s) == 0 && s.n == 0, "ring: empty since 0");
	TAP_OK(sl_ring_find(&ring, 1) == NULL, "ring: find in empty ring");

	first = event(1, 1, 1);
	sl_ring_push(&ring, first);
	TAP_OK(first->refs == 2, "ring: push takes its own reference");
	for (i = 2; i <= 10; i++) {
		ev = event(i, i, i);
		sl_ring_push(&ring, ev);
		sl_event_unref(ev);
	}
	TAP_OK(first->refs == 1, "ring: eviction drops the ring's reference");
	sl_event_unref(first);
	TAP_OK(ring.count == 4 && sl_ring_at(&ring, 0)->seq == 7 && sl_ring_at(&ring, 3)->seq == 10,
	       "ring: wrapped around, keeps 7..10");
	TAP_OK(sl_ring_find(&ring, 6) == NULL && sl_ring_find(&ring, 7)->seq == 7 &&
		   sl_ring_find(&ring, 10)->seq == 10 && sl_ring_find(&ring, 11) == NULL &&
		   sl_ring_find(&ring, 0) == NULL,
	       "ring: find");

	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 6, seq_cb, &s) == 0 && seqs_are(&s, 7, 10),
	       "ring: since 6 -> 7..10");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 8, seq_cb, &s) == 0 && seqs_are(&s, 9, 10),
	       "ring: since 8 -> 9..10");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 10, seq_cb, &s) == 0 && s.n == 0, "ring: since 10 -> nothing");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 5, seq_cb, &s) == -ERANGE && s.n == 0,
	       "ring: since 5 -> gap, no callback");
	TAP_OK(sl_ring_since(&ring, 0, seq_cb, &s) == -ERANGE && s.n == 0, "ring: since 0 -> gap");

	/* Keep wrapping: order survives many turns of the head. */
	for (i = 11; i <= 23; i++) {
		ev = event(i, i, i);
		sl_ring_push(&ring, ev);
		sl_event_unref(ev);
	}
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 19, seq_cb, &s) == 0 && seqs_are(&s, 20, 23),
	       "ring: many turns later, since 19 -> 20..23");
	sl_ring_fini(&ring);
	TAP_OK(ring.count == 0 && !ring.slots, "ring: fini releases everything");

	/* Growth from small slots keeps order. */
	sl_ring_init(&ring, 50);
	for (i = 1; i <= 40; i++) {
		ev = event(i, i, i);
		sl_ring_push(&ring, ev);
		sl_event_unref(ev);
	}
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 0, seq_cb, &s) == 0 && seqs_are(&s, 1, 40) && ring.size <= 50,
	       "ring: grows in steps, since 0 -> 1..40");
	sl_ring_fini(&ring);

	/* Age: events at 1s..10s, now 12s, max age 5s keeps 7s..10s. */
	sl_ring_init(&ring, 100);
	for (i = 1; i <= 10; i++) {
		ev = event(i, i, i * SEC);
		sl_ring_push(&ring, ev);
		sl_event_unref(ev);
	}
	sl_ring_expire(&ring, 12 * SEC, 0);
	TAP_OK(ring.count == 10, "ring: max age 0 is no age bound");
	sl_ring_expire(&ring, 12 * SEC, 5 * SEC);
	TAP_OK(ring.count == 4 && sl_ring_at(&ring, 0)->seq == 7, "ring: expiry keeps 7..10");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 5, seq_cb, &s) == -ERANGE && s.n == 0,
	       "ring: since 5 after expiry -> gap");
	sl_ring_expire(&ring, 5 * SEC, 1);
	TAP_OK(ring.count == 4, "ring: a clock behind the events expires nothing");
	sl_ring_expire(&ring, 100 * SEC, 5 * SEC);
	TAP_OK(ring.count == 0 && !ring.slots, "ring: all expired, slots released");
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 9, seq_cb, &s) == -ERANGE, "ring: emptied, since 9 -> gap");
	TAP_OK(sl_ring_since(&ring, 10, seq_cb, &s) == 0 && s.n == 0,
	       "ring: emptied, since 10 -> nothing missed");
	ev = event(11, 11, 101 * SEC);
	sl_ring_push(&ring, ev);
	sl_event_unref(ev);
	s = (struct seqs){ 0 };
	TAP_OK(sl_ring_since(&ring, 10, seq_cb, &s) == 0 && seqs_are(&s, 11, 11),
	       "ring: refills after expiry");
	sl_ring_fini(&ring);

	/* Capacity 0: retention off, yet a resume still learns it missed something. */
	sl_ring_init(&ring, 0);
	ev = event(1, 1, 1);
	sl_ring_push(&ring, ev);
	TAP_OK(ring.count == 0 && ev->refs == 1, "ring: capacity 0 retains nothing");
	sl_event_unref(ev);
	TAP_OK(sl_ring_since(&ring, 0, seq_cb, &s) == -ERANGE &&
		   sl_ring_since(&ring, 1, seq_cb, &s) == 0,
	       "ring: capacity 0 still reports gaps");
	sl_ring_fini(&ring);
}

/* A subscriber: counts deliveries and may keep the last event. */
struct sub {
	unsigned int got;
	uint64_t last_seq;
	struct sl_event *kept;
};

static void deliver(void *subp, struct sl_event *ev, void *ctx)
{
	struct sub *sub = subp;

	(void)ctx;
	sub->got++;
	sub->last_seq = ev->seq;
	if (sub->kept)
		sl_event_unref(sub->kept);
	sub->kept = sl_event_ref(ev);
}

static void sub_release(struct sub *sub)
{
	if (sub->kept)
		sl_event_unref(sub->kept);
	sub->kept = NULL;
}

static int pub(struct sl_router *r, const char *topic, uint64_t now, uint64_t *seq)
{
	return sl_router_publish(r, topic, strlen(topic), topic, strlen(topic), now, deliver, NULL,
				 seq);
}

struct busy_ctx {
	struct sl_router *router;
	int err;
};

static void deliver_unsub(void *sub, struct sl_event *ev, void *ctx)
{
	struct busy_ctx *b = ctx;

	(void)ev;
	b->err = sl_router_unsubscribe(b->router, "c", sub);
}

struct stat_ctx {
	unsigned int n;
	uint64_t seq_sum;
	uint32_t retained_sum;
	bool first_is_a;
};

static void stat_cb(const struct sl_router_topic_stat *st, void *ctx)
{
	struct stat_ctx *c = ctx;

	if (c->n == 0)
		c->first_is_a = st->name_len == 1 && !strcmp(st->name, "a");
	c->n++;
	c->seq_sum += st->seq;
	c->retained_sum += st->retained;
}

static void test_router(void)
{
	struct sl_router_opts opts = { .ring_count = 4, .ring_age_ns = 10 * SEC, .max_topics = 4 };
	struct sl_router *r = sl_router_new(&opts);
	struct sub a = { 0 }, all = { 0 }, star = { 0 };
	struct sl_router_topic_stat st;
	struct stat_ctx sc = { 0 };
	struct busy_ctx busy;
	struct seqs s;
	uint64_t seq = 0;
	int i;

	TAP_OK(r != NULL, "router: new");
	TAP_OK(sl_router_subscribe(r, "a", &a) == 0 && sl_router_subscribe(r, ">", &all) == 0 &&
		   sl_router_subscribe(r, "*.x", &star) == 0,
	       "router: subscribe a, >, *.x");
	TAP_OK(sl_router_subscribe(r, "a..b", &a) == -EINVAL &&
		   sl_router_subscribe(r, "a.>.b", &a) == -EINVAL,
	       "router: invalid pattern -> EINVAL");
	TAP_OK(sl_router_subscribe(r, "a", &a) == -EEXIST, "router: duplicate -> EEXIST");
	TAP_OK(sl_router_unsubscribe(r, "b", &a) == -ENOENT,
	       "router: unsubscribe unknown -> ENOENT");
	TAP_OK(sl_router_subscription_count(r) == 3, "router: 3 subscriptions");

	TAP_OK(pub(r, "a.*", 1, &seq) == -EINVAL && pub(r, "a.>", 1, &seq) == -EINVAL &&
		   pub(r, "a..b", 1, &seq) == -EINVAL,
	       "router: publishing to a wildcard or a bad name -> EINVAL");
	TAP_OK(sl_router_topic_count(r) == 0, "router: refused publishes create no topic");

	TAP_OK(pub(r, "a", 1 * SEC, &seq) == 0 && seq == 1, "router: a seq 1");
	TAP_OK(pub(r, "a", 2 * SEC, &seq) == 0 && seq == 2, "router: a seq 2");
	TAP_OK(pub(r, "b.x", 3 * SEC, &seq) == 0 && seq == 1, "router: b.x has its own seq 1");
	TAP_OK(pub(r, "a", 4 * SEC, &seq) == 0 && seq == 3, "router: a seq 3");
	TAP_OK(a.got == 3 && a.last_seq == 3 && all.got == 4 && star.got == 1,
	       "router: fan-out by pattern (a %u, > %u, *.x %u)", a.got, all.got, star.got);
	TAP_OK(a.kept->gseq == 4 && a.kept->ts_ns == 4 * SEC && !strcmp(a.kept->topic, "a") &&
		   a.kept->len == 1 && a.kept->data[0] == 'a',
	       "router: event carries gseq, ts, topic and payload");
	TAP_OK(star.kept->gseq == 3 && star.kept->topic_len == 3, "router: gseq across topics");

	/* Unknown topic, since ahead, gap. */
	s = (struct seqs){ 0 };
	TAP_OK(sl_router_replay_topic(r, "nope", 0, seq_cb, &s) == -ENOENT,
	       "router: replay unknown topic -> ENOENT");
	TAP_OK(sl_router_replay_topic(r, "a.*", 0, seq_cb, &s) == -EINVAL,
	       "router: replay on a pattern -> EINVAL");
	TAP_OK(sl_router_replay_topic(r, "a", 9, seq_cb, &s) == -ERANGE && s.n == 0,
	       "router: since ahead of the topic -> gap");
	TAP_OK(sl_router_replay_topic(r, "a", 1, seq_cb, &s) == 0 && seqs_are(&s, 2, 3),
	       "router: replay a since 1 -> 2..3");
	for (i = 0; i < 3; i++)
		pub(r, "a", 5 * SEC, NULL);
	s = (struct seqs){ 0 };
	TAP_OK(sl_router_replay_topic(r, "a", 1, seq_cb, &s) == -ERANGE && s.n == 0,
	       "router: replay past the ring -> gap");
	TAP_OK(sl_router_replay_topic(r, "a", 2, seq_cb, &s) == 0 && seqs_are(&s, 3, 6),
	       "router: replay a since 2 -> 3..6");
	{
		struct paced p = { .after_seq = 2 };
		int ret, calls = 0;

		do {
			p.room = 2;
			ret = sl_router_replay_topic(r, "a", p.after_seq, paced_cb, &p);
			calls++;
		} while (ret == 1 && calls < 10);
		TAP_OK(ret == 0 && calls == 2 && seqs_are(&p.s, 3, 6),
		       "router: a replay its callback stops (1) goes on from the last seq taken "
		       "(%d calls)",
		       calls);
		p.room = 0;
		TAP_OK(sl_router_replay_topic(r, "a", 2, paced_cb, &p) == 1 &&
			   sl_router_replay_topic(r, "a", 6, paced_cb, &p) == 0,
		       "router: 1 only when an event was left, 0 when none was");
	}

	/* max_topics 4: a and b.x exist. */
	TAP_OK(pub(r, "c", 6 * SEC, NULL) == 0 && pub(r, "d.x", 6 * SEC, NULL) == 0,
	       "router: topics 3 and 4");
	TAP_OK(pub(r, "e", 6 * SEC, NULL) == -ENOSPC && sl_router_topic_count(r) == 4,
	       "router: topic 5 -> ENOSPC");
	TAP_OK(pub(r, "a", 6 * SEC, &seq) == 0 && seq == 7,
	       "router: existing topics still take events");

	sl_router_foreach_topic(r, stat_cb, &sc);
	TAP_OK(sc.n == 4 && sc.first_is_a && sc.seq_sum == 7 + 1 + 1 + 1 &&
		   sc.retained_sum == 4 + 1 + 1 + 1,
	       "router: foreach_topic in creation order with seq and ring count");
	TAP_OK(sl_router_topic_stat(r, "a", &st) == 0 && st.seq == 7 && st.retained == 4 &&
		   st.oldest_seq == 4,
	       "router: topic_stat");
	TAP_OK(sl_router_topic_stat(r, "zz", &st) == -ENOENT, "router: topic_stat unknown");
	TAP_OK(sl_router_topic_stat_at(r, 0, &st) == 0 && strcmp(st.name, "a") == 0 &&
		   st.seq == 7 && sl_router_topic_stat_at(r, 3, &st) == 0 &&
		   strcmp(st.name, "d.x") == 0 && sl_router_topic_stat_at(r, 4, &st) == -ENOENT,
	       "router: topic_stat_at is creation order, ENOENT past the last");

	/* A callback may not change the router it is called from. */
	busy = (struct busy_ctx){ .router = r, .err = 0 };
	sl_router_subscribe(r, "c", &a);
	sl_router_publish(r, "c", 1, "x", 1, 7 * SEC, deliver_unsub, &busy, NULL);
	TAP_OK(busy.err == -EBUSY, "router: unsubscribe from inside deliver -> EBUSY");
	TAP_OK(sl_router_unsubscribe(r, "c", &a) == 0, "router: and works afterwards");

	/* Age 10s at 16.5s: a's newest (6s) goes, c's 7s event stays. */
	sl_router_expire(r, 16 * SEC + SEC / 2);
	TAP_OK(sl_router_topic_stat(r, "a", &st) == 0 && st.retained == 0 && st.seq == 7 &&
		   sl_router_topic_stat(r, "c", &st) == 0 && st.retained == 1 && st.oldest_seq == 2,
	       "router: expire applies the age bound to every topic");
	s = (struct seqs){ 0 };
	TAP_OK(sl_router_replay_topic(r, "a", 7, seq_cb, &s) == 0 && s.n == 0,
	       "router: expired topic, since latest -> nothing missed");

	/* Events kept by subscribers outlive their eviction: a and > hold a's seq 7, the ring not.
	 */
	TAP_OK(a.kept == all.kept && a.kept->seq == 7 && a.kept->refs == 2 &&
		   a.kept->data[0] == 'a',
	       "router: a delivered event outlives the ring");
	sub_release(&a);
	sub_release(&all);
	sub_release(&star);
	sl_router_free(r);
	TAP_OK(sl_router_new(&(struct sl_router_opts){ .ring_count = SL_RING_MAX_CAPACITY + 1 }) ==
		       NULL &&
		   errno == EINVAL,
	       "router: ring_count above the bound -> EINVAL");
}

static void test_replay_after(void)
{
	struct sl_router_opts opts = { .ring_count = 3, .max_topics = 100 };
	struct sl_router *r = sl_router_new(&opts);
	const char *const pats[] = { "news.*", "alerts" };
	const char *const bad[] = { "news.>.x" };
	struct seqs s;
	unsigned int i;
	bool ordered = true;

	/* gseq: 1 news.eu, 2 news.us, 3 other, 4 alerts, 5 news.eu, 6 news.us, 7 other */
	static const char *const order[] = { "news.eu", "news.us", "other", "alerts",
					     "news.eu", "news.us", "other" };
	for (i = 0; i < ARRAY_SIZE(order); i++)
		sl_router_publish(r, order[i], strlen(order[i]), "d", 1, i + 1, NULL, NULL, NULL);

	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.eu", 1, seq_cb, &s) == 0 && s.n == 4,
	       "replay_after: news.eu:1 -> 4 events (got %u)", s.n);
	for (i = 0; i < s.n && i < 4; i++)
		ordered &= s.gseq[i] == (uint64_t[]){ 2, 4, 5, 6 }[i];
	TAP_OK(ordered, "replay_after: in acceptance order across topics, other topic excluded");
	TAP_OK(s.n == 4 && !strcmp(s.topic[0], "news.us") && !strcmp(s.topic[1], "alerts") &&
		   !strcmp(s.topic[2], "news.eu") && s.seq[2] == 2,
	       "replay_after: topics and seqs as published");

	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "other", 1, seq_cb, &s) == 0 && s.n == 3 && s.gseq[0] == 4,
	       "replay_after: the reference need not match the patterns");
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.us", 2, seq_cb, &s) == 0 && s.n == 0,
	       "replay_after: latest event -> nothing");
	TAP_OK(resume_after(r, pats, 2, "news.us", 3, seq_cb, &s) == -ERANGE &&
		   resume_after(r, pats, 2, "nope", 1, seq_cb, &s) == -ERANGE &&
		   resume_after(r, pats, 2, "nope", 0, seq_cb, &s) == -ERANGE &&
		   resume_after(r, pats, 2, NULL, 1, seq_cb, &s) == -ERANGE,
	       "replay_after: unknown reference -> gap");
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.eu", 0, seq_cb, &s) == 0 && s.n == 5 &&
		   s.gseq[0] == 1 && s.gseq[4] == 6,
	       "replay_after: news.eu:0 is before its first event, as WebSocket since 0 (got %u)",
	       s.n);
	TAP_OK(resume_after(r, bad, 1, "news.eu", 1, seq_cb, &s) == -EINVAL,
	       "replay_after: bad pattern -> EINVAL");

	{
		struct paced p = { .after_gseq = 1 };
		int ret, calls = 0;

		do {
			p.room = 2;
			ret = sl_router_replay_after(r, pats, 2, p.after_gseq, paced_cb, &p);
			calls++;
		} while (ret == 1 && calls < 10);
		TAP_OK(ret == 0 && calls == 2 && p.s.n == 4 && p.s.gseq[0] == 2 &&
			   p.s.gseq[1] == 4 && p.s.gseq[2] == 5 && p.s.gseq[3] == 6,
		       "replay_after: stopped by its callback (1) and resumed from the last gseq "
		       "taken, each event once, in order (%d calls, %u events)",
		       calls, p.s.n);
	}

	/* Push news.eu past its ring of 3: seq 1 is evicted. */
	for (i = 0; i < 3; i++)
		sl_router_publish(r, "news.eu", 7, "d", 1, 10, NULL, NULL, NULL);
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.eu", 1, seq_cb, &s) == -ERANGE && s.n == 0,
	       "replay_after: reference evicted -> gap, no callback");
	TAP_OK(resume_after(r, pats, 2, "news.eu", 0, seq_cb, &s) == -ERANGE && s.n == 0,
	       "replay_after: before a first event no longer retained -> gap");
	/* news.eu:2 (gseq 5) is the newest it dropped: all after it is still there. */
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.eu", 2, seq_cb, &s) == 0 && s.n == 4 &&
		   s.gseq[0] == 6 && s.seq[1] == 3 && s.seq[3] == 5,
	       "replay_after: the reference itself dropped, nothing after it -> no gap (got %u)",
	       s.n);
	/* news.us:1 is still retained, but news.eu evicted its seq 2 (gseq 5) after it. */
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, pats, 2, "news.us", 1, seq_cb, &s) == -ERANGE && s.n == 0,
	       "replay_after: a matching topic lost an event after the reference -> gap");
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, (const char *const[]){ "news.us" }, 1, "news.us", 1, seq_cb, &s) ==
		       0 &&
		   s.n == 1 && s.seq[0] == 2,
	       "replay_after: the same reference is fine for topics that lost nothing");
	sl_router_free(r);
}

/* Retention off: only a reference to each topic's latest event can still be placed. */
static void test_replay_no_retention(void)
{
	struct sl_router_opts opts = { .ring_count = 0 };
	struct sl_router *r = sl_router_new(&opts);
	const char *const all[] = { ">" };
	const char *const only_a[] = { "a" };
	struct seqs s = { 0 };

	sl_router_publish(r, "a", 1, "d", 1, 1, NULL, NULL, NULL);
	sl_router_publish(r, "b", 1, "d", 1, 2, NULL, NULL, NULL);
	TAP_OK(resume_after(r, all, 1, "b", 1, seq_cb, &s) == 0 && s.n == 0,
	       "no retention: resuming from the newest event misses nothing");
	TAP_OK(resume_after(r, all, 1, "a", 1, seq_cb, &s) == -ERANGE && s.n == 0,
	       "no retention: an event after the reference is gone -> gap");
	TAP_OK(resume_after(r, only_a, 1, "a", 1, seq_cb, &s) == 0 && s.n == 0,
	       "no retention: not a gap when the lost event is on another topic");
	TAP_OK(sl_router_replay_topic(r, "a", 0, seq_cb, &s) == -ERANGE &&
		   sl_router_replay_topic(r, "a", 1, seq_cb, &s) == 0 && s.n == 0,
	       "no retention: since works the same way");
	sl_router_free(r);
}

static void count_deliver(void *subp, struct sl_event *ev, void *ctx)
{
	(void)ev;
	(*(unsigned int *)subp)++;
	(*(unsigned int *)ctx)++;
}

static void test_fanout(void)
{
	static unsigned int got[1000];
	struct sl_router *r = sl_router_new(NULL);
	unsigned int i, total = 0, once = 0, err = 0;

	for (i = 0; i < ARRAY_SIZE(got); i++)
		err |= sl_router_subscribe(r, "load.one", &got[i]);
	TAP_OK(!err && sl_router_subscription_count(r) == 1000, "fanout: 1000 subscribers");
	sl_router_publish(r, "load.one", 8, "x", 1, 1, count_deliver, &total, NULL);
	for (i = 0; i < ARRAY_SIZE(got); i++)
		once += got[i] == 1;
	TAP_OK(total == 1000 && once == 1000, "fanout: each got the event exactly once");
	for (i = 0; i < ARRAY_SIZE(got); i += 2)
		err |= sl_router_unsubscribe(r, "load.one", &got[i]);
	sl_router_publish(r, "load.one", 8, "x", 1, 2, count_deliver, &total, NULL);
	for (i = 0, once = 0; i < ARRAY_SIZE(got); i++)
		once += got[i] == (i % 2 ? 2u : 1u);
	TAP_OK(!err && total == 1500 && once == 1000,
	       "fanout: after 500 unsubscribe, only the other 500 get the next");
	sl_router_free(r);
}

/* The longest run of encodings lying back to back, in bytes; and how many runs. */
static size_t longest_run(struct sl_event **evs, size_t n, enum sl_encoding enc, size_t *runs)
{
	size_t i, run = 0, longest = 0;

	*runs = 0;
	for (i = 0; i < n; i++) {
		const struct sl_bytes *b = &evs[i]->enc[enc];

		if (!i || b->data != evs[i - 1]->enc[enc].data + evs[i - 1]->enc[enc].len) {
			(*runs)++;
			run = 0;
		}
		run += b->len;
		if (run > longest)
			longest = run;
	}
	return longest;
}

/* Publishes n events to an arena, ns_apart apart; counts encodings equal to a lone event's. */
static size_t arena_events(struct sl_enc_arena *a, struct sl_event **evs, size_t n,
			   uint64_t ns_apart, const char *payload, size_t len)
{
	size_t i, same = 0;
	int enc;

	for (i = 0; i < n; i++) {
		struct sl_event *lone =
		    sl_event_new("t.a", 3, payload, len, i + 1, i + 1, SEC + i * ns_apart);

		evs[i] = sl_event_new("t.a", 3, payload, len, i + 1, i + 1, SEC + i * ns_apart);
		evs[i]->arena = a;
		for (enc = 0; enc < SL_ENC__MAX; enc++) {
			const struct sl_bytes *b = sl_event_encoding(evs[i], enc),
					      *lb = sl_event_encoding(lone, enc);

			same += b && lb && b->len == lb->len && !memcmp(b->data, lb->data, b->len);
		}
		sl_event_unref(lone);
	}
	return same;
}

/*
 * Encodings from a topic's arena: back to back in publish order, byte for
 * byte what a lone event encodes to, in blocks that grow for a busy topic
 * and stay small for a quiet one; every block is freed with its last event,
 * whatever the order (ASan's leak check in the sanitizer build).
 */
static void test_enc_arena(void)
{
	static struct sl_event *busy[2000], *quiet[200], *big[2];
	struct sl_event *lone;
	struct sl_enc_arena a = { 0 }, q = { 0 }, g = { 0 };
	static char payload[100 * 1024];
	size_t i, runs, longest, same;

	memset(payload, 'p', sizeof(payload));
	same = arena_events(&a, busy, 2000, 1000, payload, 256);
	TAP_OK(same == 2000 * SL_ENC__MAX,
	       "arena: 2,000 events x 3 encodings, each equal to a lone event's (%zu)", same);
	longest = longest_run(busy, 2000, SL_ENC_WS, &runs);
	TAP_OK(
	    runs >= 5 && runs <= 20 && longest > 32 * 1024 && longest <= 64 * 1024,
	    "arena: a busy topic's WebSocket frames lie back to back in %zu runs, blocks grown to "
	    "64 KiB (longest run %zu bytes)",
	    runs, longest);
	longest = longest_run(busy, 2000, SL_ENC_SSE, &runs);
	TAP_OK(runs <= 25 && longest > 32 * 1024 && longest <= 64 * 1024,
	       "arena: its SSE records too, in blocks of their own (%zu runs, longest %zu)", runs,
	       longest);
	same = arena_events(&q, quiet, 200, 2 * SEC, payload, 256);
	longest = longest_run(quiet, 200, SL_ENC_WS, &runs);
	TAP_OK(
	    same == 200 * SL_ENC__MAX && longest <= 4096 && runs >= 200 * 300 / 4096,
	    "arena: a quiet topic (an event every 2 s) keeps 4 KiB blocks (%zu runs, longest %zu)",
	    runs, longest);
	same = arena_events(&g, big, 2, 1000, payload, sizeof(payload));
	TAP_OK(same == 2 * SL_ENC__MAX && !big[0]->block[SL_ENC_WS] && !big[1]->block[SL_ENC_WS],
	       "arena: an encoding over 64 KiB is an allocation of its own, same bytes");
	/*
	 * Blocks outlive the arena and go with their last event, in any order:
	 * a block freed early is a use after free, one never freed a leak, both
	 * failures in the sanitizer build.
	 */
	sl_enc_arena_fini(&a);
	lone = sl_event_new("t.a", 3, payload, 256, 2000, 2000, SEC + 1999 * 1000);
	TAP_OK(!memcmp(sl_event_encoding(lone, SL_ENC_WS)->data, busy[1999]->enc[SL_ENC_WS].data,
		       busy[1999]->enc[SL_ENC_WS].len),
	       "arena: encodings stay valid after their arena lets go of its blocks");
	sl_event_unref(lone);
	for (i = 0; i < 2000; i++)
		sl_event_unref(busy[(i * 7919) % 2000]);
	for (i = 0; i < 200; i++)
		sl_event_unref(quiet[199 - i]);
	sl_enc_arena_fini(&q);
	sl_event_unref(big[0]);
	sl_event_unref(big[1]);
	sl_enc_arena_fini(&g);
}

static uint64_t pub_seq(struct sl_router *r, const char *topic, uint64_t *gseq)
{
	struct seqs s = { 0 };
	uint64_t seq = 0;

	sl_router_publish(r, topic, strlen(topic), "d", 1, 1, NULL, NULL, &seq);
	/* the event just published is the newest retained: its gseq */
	if (gseq && sl_router_replay_topic(r, topic, seq - 1, seq_cb, &s) == 0 && s.n == 1)
		*gseq = s.gseq[0];
	return seq;
}

/* After a journal that fell behind: numbers up to the floor may be out there. */
static void test_floor(void)
{
	struct sl_router_opts opts = { .ring_count = 4 };
	struct sl_router *r = sl_router_new(&opts);
	const char *const all[] = { ">" };
	struct sl_router_topic_stat st;
	struct seqs s = { 0 };
	uint64_t seq, gseq = 0;

	pub_seq(r, "x", NULL);
	pub_seq(r, "x", NULL);
	pub_seq(r, "y", NULL);
	TAP_OK(sl_router_set_floor(r, 10) == 0, "floor: set");
	TAP_OK(sl_router_topic_stat(r, "x", &st) == 0 && st.seq == 10 && st.retained == 0,
	       "floor: a topic below it moves up to it, its ring emptied");
	TAP_OK(sl_router_replay_topic(r, "x", 2, seq_cb, &s) == -ERANGE &&
		   sl_router_replay_topic(r, "x", 5, seq_cb, &s) == -ERANGE &&
		   resume_after(r, all, 1, "x", 2, seq_cb, &s) == -ERANGE && s.n == 0,
	       "floor: resuming from before it is a gap");
	seq = pub_seq(r, "x", &gseq);
	TAP_OK(seq == 11 && gseq == 11, "floor: numbering continues after it (seq %llu gseq %llu)",
	       (unsigned long long)seq, (unsigned long long)gseq);
	seq = pub_seq(r, "z", &gseq);
	TAP_OK(seq == 11 && gseq == 12, "floor: a new topic starts after it too");
	TAP_OK(sl_router_replay_topic(r, "z", 0, seq_cb, &s) == -ERANGE &&
		   sl_router_replay_topic(r, "z", 10, seq_cb, &s) == 0 && s.n == 1,
	       "floor: a new topic's numbers below it are a gap");
	/*
	 * The floor is a bound, not the gseq of an event x:10 or z:10 had: other
	 * topics' events between the real one and the floor would be passed.
	 */
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, all, 1, "x", 10, seq_cb, &s) == -ERANGE &&
		   resume_after(r, all, 1, "z", 10, seq_cb, &s) == -ERANGE && s.n == 0,
	       "floor: an SSE resume from the floor's number is a gap, not placed by the bound");
	TAP_OK(sl_router_set_floor(r, 5) == 0 && pub_seq(r, "y", NULL) == 11,
	       "floor: a lower floor changes nothing");
	/* y's last event is past 12 now, x's is not */
	TAP_OK(sl_router_set_floor(r, 12) == 0 && pub_seq(r, "x", NULL) == 13 &&
		   pub_seq(r, "y", NULL) == 12,
	       "floor: a topic with an event past it keeps its numbers");
	sl_router_free(r);

	/* A hole in restored numbers: the events before it cannot be resumed through. */
	r = sl_router_new(&opts);
	sl_router_restore(r, "j", 1, "a", 1, 1, 1, 1, 1);
	sl_router_restore(r, "j", 1, "b", 1, 2, 2, 1, 1);
	sl_router_restore(r, "j", 1, "e", 1, 5, 9, 1, 1);
	TAP_OK(sl_router_topic_stat(r, "j", &st) == 0 && st.retained == 1 && st.oldest_seq == 5,
	       "floor: a restored hole drops what came before it");
	s = (struct seqs){ 0 };
	TAP_OK(resume_after(r, (const char *const[]){ ">" }, 1, "j", 4, seq_cb, &s) == -ERANGE &&
		   s.n == 0,
	       "floor: an SSE resume from just before the hole is a gap (j:4's gseq is not known)");
	/* a ring of 4 keeping 1, 2, 5 would now evict 1 and forget the hole after 2 */
	pub_seq(r, "j", NULL);
	pub_seq(r, "j", NULL);
	s = (struct seqs){ 0 };
	TAP_OK(sl_router_replay_topic(r, "j", 2, seq_cb, &s) == -ERANGE && s.n == 0,
	       "floor: ... so evicting does not hide the hole");
	sl_router_free(r);
}

static bool keep_first(struct sl_event *ev, void *ctx)
{
	*(struct sl_event **)ctx = sl_event_ref(ev);
	return false;
}

/* Near max_topics, topics that hold nothing are forgotten; their numbers are not. */
static void test_reclaim(void)
{
	struct sl_router_opts opts = { .ring_count = 4, .ring_age_ns = SEC, .max_topics = 8 };
	struct sl_router *r = sl_router_new(&opts);
	const char *const all[] = { ">" };
	struct sl_event *held = NULL;
	struct seqs s = { 0 };
	uint64_t seq, gseq = 0;
	char name[8];
	unsigned int i;

	/* gseq: t0..t5 1..6 */
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		pub_seq(r, name, NULL);
	}
	sl_router_expire(r, 10 * SEC);
	TAP_OK(sl_router_topic_count(r) == 6 && sl_router_topics_reclaimed(r) == 0,
	       "reclaim: nothing below the top eighth of max_topics");
	pub_seq(r, "t6", NULL); /* gseq 7 */
	/* one of t6's events held, as a subscriber's queue holds it */
	sl_router_replay_topic(r, "t6", 0, keep_first, &held);
	pub_seq(r, "t7", NULL); /* gseq 8 */
	TAP_OK(pub_seq(r, "t8", NULL) == 0, "reclaim: at max_topics a new topic is refused");
	sl_router_expire(r, 10 * SEC);
	TAP_OK(sl_router_topic_count(r) == 1 && sl_router_topics_reclaimed(r) == 7,
	       "reclaim: the empty topics are forgotten, one with an event alive is kept "
	       "(%zu left)",
	       sl_router_topic_count(r));
	TAP_OK(sl_router_reclaimed_gseq(r) == 8, "reclaim: the last gseq they reached is kept");
	seq = pub_seq(r, "t0", &gseq);
	TAP_OK(seq == 9 && gseq == 9,
	       "reclaim: a name published again numbers past it, never reusing a seq "
	       "(seq %llu)",
	       (unsigned long long)seq);
	TAP_OK(pub_seq(r, "t9", NULL) == 9, "reclaim: so does a new topic");
	TAP_OK(sl_router_replay_topic(r, "t0", 1, seq_cb, &s) == -ERANGE &&
		   sl_router_replay_topic(r, "t1", 1, seq_cb, &s) == -ENOENT && s.n == 0,
	       "reclaim: a resume from the old numbers is a gap (WebSocket since)");
	TAP_OK(sl_router_replay_after(r, all, 1, 5, seq_cb, &s) == -ERANGE && s.n == 0,
	       "reclaim: an SSE resume from before the reclaimed gseq is a gap");
	TAP_OK(sl_router_replay_after(r, all, 1, 8, seq_cb, &s) == 0 && s.n == 2,
	       "reclaim: one from after it replays (%u)", s.n);
	sl_event_unref(held);
	/* t6, t0, t9 and five more: near max_topics again */
	for (i = 1; i < 6; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		pub_seq(r, name, NULL);
	}
	sl_router_expire(r, 20 * SEC);
	TAP_OK(sl_router_topic_count(r) == 0 && sl_router_topics_reclaimed(r) == 15,
	       "reclaim: once its event is let go, that topic goes too");
	sl_router_note_reclaimed(r, 100);
	TAP_OK(pub_seq(r, "t0", &gseq) == 101 && gseq == 101,
	       "reclaim: a number noted from the journal holds for the next topics");
	sl_router_free(r);
}

static void count_delivery(void *sub, struct sl_event *ev, void *ctx)
{
	(void)sub;
	(void)ctx;
	ev->counters->events++;
}

static void pub_counted(struct sl_router *r, const char *topic, uint64_t now, unsigned n)
{
	while (n--)
		sl_router_publish(r, topic, strlen(topic), "d", 1, now, count_delivery, NULL, NULL);
}

static struct sl_router_topic_stat topic_stat(struct sl_router *r, const char *topic)
{
	struct sl_router_topic_stat st = { 0 };

	sl_router_topic_stat(r, topic, &st);
	return st;
}

/* The once-a-second upkeep in slices: every topic has its turn, once. */
static void test_sweep(void)
{
	struct sl_hour_budget hours = { .max = 100 };
	struct sl_router_opts opts = {
		.ring_count = 4, .ring_age_ns = SEC, .max_topics = 100, .hours = &hours
	};
	struct sl_router *r = sl_router_new(&opts);
	struct sl_router_topic_stat st;
	int sub;
	char name[8];
	unsigned i;

	sl_router_subscribe(r, ">", &sub);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		pub_counted(r, name, 5 * SEC, i == 0 ? 3 : 1);
	}
	TAP_OK(sl_router_sweep(r, 4), "sweep: none under way is over");
	sl_router_sweep_start(r, 5 * SEC + SEC / 2, 5);
	TAP_OK(!sl_router_sweep(r, 4), "sweep: a slice of 4 topics of 10 leaves some");
	st = topic_stat(r, "t0");
	TAP_OK(st.delivered.events_per_second == 3 &&
		   sl_history_at(&st.delivered.history, 5) == 3 &&
		   topic_stat(r, "t3").delivered.events_per_second == 1 &&
		   topic_stat(r, "t4").delivered.events_per_second == 0,
	       "sweep: the first 4 topics have their rate and series, the 5th not yet");
	pub_counted(r, "t10", 5 * SEC + SEC / 2, 2);
	TAP_OK(sl_router_sweep(r, 100), "sweep: the next slice ends it");
	TAP_OK(topic_stat(r, "t9").delivered.events_per_second == 1 &&
		   topic_stat(r, "t10").delivered.events_per_second == 2 &&
		   topic_stat(r, "t0").delivered.events_per_second == 3,
	       "sweep: the rest, a topic created meanwhile too, each once");
	TAP_OK(sl_router_sweep(r, 100) && topic_stat(r, "t0").delivered.events_per_second == 3,
	       "sweep: once over, a slice changes nothing");

	/* Ageing: the events of 5 s are past the 1 s bound at 7 s. */
	sl_router_sweep_start(r, 7 * SEC, 6);
	sl_router_sweep(r, 3);
	TAP_OK(topic_stat(r, "t0").retained == 0 && topic_stat(r, "t5").retained == 1,
	       "sweep: a ring ages at its topic's turn");
	sl_router_sweep_start(r, 8 * SEC, 7);
	TAP_OK(topic_stat(r, "t10").retained == 0 &&
		   topic_stat(r, "t10").delivered.events_per_second == 0,
	       "sweep: a new sweep ends the one still under way first, whole");

	/* tick_rates overtakes a sweep: the rest would count nothing for that second. */
	sl_router_sweep(r, 2);
	pub_counted(r, "t9", 8 * SEC, 2);
	sl_router_tick_rates(r, 7);
	TAP_OK(sl_router_sweep(r, 100) && topic_stat(r, "t9").delivered.events_per_second == 2,
	       "sweep: after tick_rates the sweep is over, the rates stand");
	sl_router_free(r);

	/* Near max_topics the reclaim comes at the sweep's end. */
	opts = (struct sl_router_opts){ .ring_count = 4, .ring_age_ns = SEC, .max_topics = 8 };
	r = sl_router_new(&opts);
	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		pub_counted(r, name, 5 * SEC, 1);
	}
	sl_router_sweep_start(r, 10 * SEC, 9);
	TAP_OK(!sl_router_sweep(r, 3) && sl_router_topic_count(r) == 7,
	       "sweep: no reclaim while the sweep is under way");
	TAP_OK(sl_router_sweep(r, 10) && sl_router_topic_count(r) == 0 &&
		   sl_router_topics_reclaimed(r) == 7,
	       "sweep: at its end, near max_topics, the aged empty topics are reclaimed");

	/* Held (the journal's rewrite walks the topics by index): none reclaimed till let go. */
	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		pub_counted(r, name, 20 * SEC, 1);
	}
	sl_router_hold_reclaim(r, true);
	sl_router_sweep_start(r, 30 * SEC, 29);
	sl_router_expire(r, 30 * SEC);
	TAP_OK(sl_router_sweep(r, 100) && sl_router_topic_count(r) == 7,
	       "sweep: reclaim held, the aged empty topics stay");
	sl_router_hold_reclaim(r, false);
	sl_router_sweep_start(r, 31 * SEC, 30);
	TAP_OK(sl_router_sweep(r, 100) && sl_router_topic_count(r) == 0,
	       "sweep: let go, the next sweep reclaims them");
	sl_router_free(r);
}

/* Delivers to a counter the way the transport does: events, bytes and latency. */
static void count_delivery_timed(void *sub, struct sl_event *ev, void *ctx)
{
	(void)sub;
	(void)ctx;
	ev->counters->events++;
	ev->counters->bytes += 10;
	sl_latency_add(&ev->counters->latency, 1000);
}

/* top N by rate (the top view) and by events (/metrics, with the rest summed). */
static void test_top_topics(void)
{
	struct sl_router_opts opts = { .ring_count = 1, .max_topics = 100 };
	struct sl_router *r = sl_router_new(&opts);
	/* events per topic t0..t9; rates come from the last tick */
	static const unsigned events[10] = { 5, 1, 9, 3, 9, 0, 7, 2, 8, 4 };
	struct sl_router_topic_stat *v;
	struct sl_topic_counters rest;
	char name[8];
	size_t n;
	unsigned i, j;
	int sub;

	TAP_OK(sl_router_top_topics(r, 3, SL_RANK_EVENTS, &v, &n, &rest) == 0 && !v && n == 0 &&
		   rest.events == 0,
	       "top: no topics, nothing");
	sl_router_subscribe(r, ">", &sub);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		for (j = 0; j < events[i]; j++)
			sl_router_publish(r, name, strlen(name), "d", 1, SEC, count_delivery_timed,
					  NULL, NULL);
		if (!events[i]) /* a topic with an event nobody got */
			sl_router_publish(r, name, strlen(name), "d", 1, SEC, NULL, NULL, NULL);
	}
	sl_router_tick_rates(r, 1);
	/* t1 is the only busy one in the second after */
	pub_counted(r, "t1", 2 * SEC, 20);
	sl_router_tick_rates(r, 2);
	TAP_OK(sl_router_top_topics(r, 3, SL_RANK_EVENTS, &v, &n, &rest) == 0 && n == 3 &&
		   strcmp(v[0].name, "t1") == 0 && strcmp(v[1].name, "t2") == 0 &&
		   strcmp(v[2].name, "t4") == 0,
	       "top: by events, ties by name (t1 21, t2 9, t4 9)");
	TAP_OK(rest.events == 5 + 3 + 0 + 7 + 2 + 8 + 4 && rest.bytes == 10 * rest.events &&
		   rest.latency.total == rest.events,
	       "top: the rest summed: events, bytes, latency (%llu)",
	       (unsigned long long)rest.events);
	free(v);
	TAP_OK(sl_router_top_topics(r, 2, SL_RANK_RATE, &v, &n, NULL) == 0 && n == 2 &&
		   strcmp(v[0].name, "t1") == 0 && v[0].delivered.events_per_second == 20 &&
		   strcmp(v[1].name, "t2") == 0,
	       "top: by rate, then events (t1 20/s, then t2 of the idle ones)");
	free(v);
	TAP_OK(sl_router_top_topics(r, 50, SL_RANK_EVENTS, &v, &n, &rest) == 0 && n == 10 &&
		   strcmp(v[9].name, "t5") == 0 && rest.events == 0 && rest.latency.total == 0,
	       "top: n past the count is every topic, nothing left over");
	free(v);
	TAP_OK(sl_router_top_topics(r, 0, SL_RANK_EVENTS, &v, &n, &rest) == 0 && !v && n == 0 &&
		   rest.events == 21 + 5 + 9 + 3 + 9 + 0 + 7 + 2 + 8 + 4,
	       "top: 0 of them, all in the rest");
	sl_router_free(r);
}

/* Topics keep being found while the buckets double and their chains move over a few at a time. */
static void test_buckets_grow(void)
{
	struct sl_router_opts opts = { .ring_count = 1, .max_topics = 200000 };
	struct sl_router *r = sl_router_new(&opts);
	uint64_t seq;
	char name[16];
	unsigned i, lost = 0, twice = 0;

	for (i = 0; i < 70000; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		pub_seq(r, name, NULL);
		/* Just past the doubling at 65,537 the move is under way: every topic found. */
		if (i == 65600) {
			unsigned k;

			for (k = 0; k <= i; k += 7) {
				snprintf(name, sizeof(name), "g%u", k);
				lost += sl_router_topic_stat(
					    r, name, &(struct sl_router_topic_stat){ 0 }) != 0;
			}
		}
	}
	TAP_OK(lost == 0 && sl_router_topic_count(r) == 70000,
	       "buckets: every topic found while the chains move (%u lost)", lost);
	for (i = 0; i < 70000; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		seq = pub_seq(r, name, NULL);
		twice += seq != 2;
	}
	TAP_OK(twice == 0 && sl_router_topic_count(r) == 70000,
	       "buckets: after the moves, each name is still one topic (%u not)", twice);
	sl_router_free(r);

	/* A reclaim while the chains move unlinks each topic from the chain it is on. */
	opts = (struct sl_router_opts){ .ring_count = 1, .ring_age_ns = SEC, .max_topics = 560 };
	r = sl_router_new(&opts);
	for (i = 0; i < 520; i++) {
		snprintf(name, sizeof(name), "h%u", i);
		pub_seq(r, name, NULL);
	}
	sl_router_expire(r, 10 * SEC);
	TAP_OK(sl_router_topic_count(r) == 0, "buckets: a reclaim mid-move forgets them all");
	for (i = 0, twice = 0; i < 520; i++) {
		snprintf(name, sizeof(name), "h%u", i);
		pub_seq(r, name, NULL);
		pub_seq(r, name, NULL);
	}
	TAP_OK(sl_router_topic_count(r) == 520, "buckets: and takes the names again, once each");
	sl_router_free(r);
}

int main(void)
{
	test_validate();
	test_match();
	test_trie();
	test_trie_vs_match();
	test_trie_many_values();
	test_ring();
	test_router();
	test_replay_after();
	test_replay_no_retention();
	test_floor();
	test_reclaim();
	test_sweep();
	test_top_topics();
	test_buckets_grow();
	test_fanout();
	test_enc_arena();
	return tap_done();
}
