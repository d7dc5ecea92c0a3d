// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "route/ring.h"
#include "route/router.h"
#include "route/topic.h"
#include "route/trie.h"

struct route_topic {
	struct route_topic *next; /* hash chain */
	uint64_t hash;
	uint64_t seq;	    /* last seq assigned */
	uint64_t last_gseq; /* gseq of that event, known even once it left the ring */
	struct sl_ring ring;
	struct sl_topic_counters counters;
	struct sl_enc_arena arena; /* its events' encodings, back to back */
	uint32_t len;
	char name[]; /* NUL-terminated; events point here, so it never moves */
};

struct sl_router {
	struct sl_router_opts opts;
	struct sl_trie *subs;
	struct route_topic **buckets;
	uint32_t nbuckets; /* a power of two */
	/*
	 * The buckets before the last doubling, while their chains move over
	 * (buckets_move): those below `moved` are empty. NULL once all moved.
	 */
	struct route_topic **old_buckets;
	uint32_t old_nbuckets, moved;
	/* Creation order, for stats and for the sweeps over every topic. */
	struct route_topic **topics;
	uint32_t ntopics, topics_cap;
	uint64_t gseq;
	/* Numbers up to here may be out there already (sl_router_set_floor). */
	uint64_t floor;
	/*
	 * The last gseq of any topic reclaimed (sl_router_expire): a topic that
	 * is created again, or is new, starts past it, since a seq never passes
	 * the gseq of its event and clients may hold numbers of a forgotten one.
	 */
	uint64_t reclaimed_gseq;
	uint64_t reclaimed; /* topics reclaimed */
	/* Publishers pick topic names: a per-router seed keeps chains unpredictable. */
	uint64_t seed;
	bool busy;	   /* inside a callback: the structures being walked must not change */
	bool reclaim_held; /* sl_router_hold_reclaim */
	/* The second's sweep under way (sl_router_sweep_start): the next topic, its clocks. */
	bool sweeping;
	uint32_t sweep_next;
	uint64_t sweep_now_ns, sweep_rate_s;
	void (*on_accept)(struct sl_event *ev, void *ctx);
	void *accept_ctx;
};

struct sl_router *sl_router_new(const struct sl_router_opts *opts)
{
	struct sl_router *router;

	if (opts && opts->ring_count > SL_RING_MAX_CAPACITY) {
		errno = EINVAL;
		return NULL;
	}
	router = calloc(1, sizeof(*router));
	if (!router)
		goto nomem;
	if (opts) {
		router->opts = *opts;
	} else {
		router->opts.ring_count = SL_ROUTER_DEFAULT_RING_COUNT;
		router->opts.ring_age_ns = SL_ROUTER_DEFAULT_RING_AGE_NS;
	}
	if (!router->opts.max_topics)
		router->opts.max_topics = SL_ROUTER_DEFAULT_MAX_TOPICS;
	router->nbuckets = 64;
	router->buckets = calloc(router->nbuckets, sizeof(*router->buckets));
	router->subs = sl_trie_new();
	if (!router->buckets || !router->subs)
		goto nomem;
	/* A weak seed still works: the chains only get easier to predict. */
	if (getrandom(&router->seed, sizeof(router->seed), GRND_NONBLOCK) != sizeof(router->seed))
		router->seed = (uintptr_t)router;
	return router;
nomem:
	sl_router_free(router);
	errno = ENOMEM;
	return NULL;
}

static void topic_free(struct sl_router *router, struct route_topic *t)
{
	sl_ring_fini(&t->ring);
	sl_enc_arena_fini(&t->arena);
	if (router->opts.hours)
		sl_history_free(&t->counters.history, router->opts.hours);
	free(t);
}

void sl_router_free(struct sl_router *router)
{
	uint32_t i;

	if (!router)
		return;
	for (i = 0; i < router->ntopics; i++)
		topic_free(router, router->topics[i]);
	free(router->topics);
	free(router->buckets);
	free(router->old_buckets);
	sl_trie_free(router->subs);
	free(router);
}

/* FNV-1a, seeded. */
static uint64_t topic_hash(const struct sl_router *router, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ router->seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 32);
}

/* The chain a topic of this hash is on: the old one while its bucket has not moved yet. */
static struct route_topic **chain_of(const struct sl_router *router, uint64_t hash)
{
	uint32_t old = router->old_buckets ? (uint32_t)(hash & (router->old_nbuckets - 1)) : 0;

	if (router->old_buckets && old >= router->moved)
		return &router->old_buckets[old];
	return &router->buckets[hash & (router->nbuckets - 1)];
}

static struct route_topic *topic_find(const struct sl_router *router, const char *s, size_t len,
				      uint64_t hash)
{
	struct route_topic *t = *chain_of(router, hash);

	for (; t; t = t->next) {
		if (t->hash == hash && t->len == len && !memcmp(t->name, s, len))
			return t;
	}
	return NULL;
}

static struct route_topic *topic_lookup(const struct sl_router *router, const char *name)
{
	size_t len = strlen(name);

	return topic_find(router, name, len, topic_hash(router, name, len));
}

/* Moves up to n of the old buckets' chains over; frees the old buckets once all have. */
static void buckets_move(struct sl_router *router, uint32_t n)
{
	for (; router->old_buckets && n; n--) {
		struct route_topic *t = router->old_buckets[router->moved], *next;

		/* Counted as moved first: chain_of then names the new buckets for these. */
		router->old_buckets[router->moved++] = NULL;
		for (; t; t = next) {
			struct route_topic **b = &router->buckets[t->hash & (router->nbuckets - 1)];

			next = t->next;
			t->next = *b;
			*b = t;
		}
		if (router->moved == router->old_nbuckets) {
			free(router->old_buckets);
			router->old_buckets = NULL;
		}
	}
}

/*
 * Doubles the buckets when the chains average more than one topic; keeps the
 * old on failure. Their chains move over a few per new topic (topic_get):
 * moved at once, a million topics held the loop for 69 ms. A doubling is due
 * again only after as many topics as there were buckets, by when all moved.
 */
static void buckets_grow(struct sl_router *router)
{
	uint32_t nbuckets = router->nbuckets * 2;
	struct route_topic **buckets;

	if (router->ntopics <= router->nbuckets || nbuckets < router->nbuckets)
		return;
	buckets_move(router, UINT32_MAX);
	buckets = calloc(nbuckets, sizeof(*buckets));
	if (!buckets)
		return;
	router->old_buckets = router->buckets;
	router->old_nbuckets = router->nbuckets;
	router->moved = 0;
	router->buckets = buckets;
	router->nbuckets = nbuckets;
}

/* The topic named s, created on its first event with its numbers starting past start. */
static int topic_get(struct sl_router *router, const char *s, size_t len, uint64_t start,
		     struct route_topic **out)
{
	uint64_t hash = topic_hash(router, s, len);
	struct route_topic *t = topic_find(router, s, len, hash), **b;

	if (t) {
		*out = t;
		return 0;
	}
	if (router->ntopics >= router->opts.max_topics)
		return -ENOSPC;
	if (router->ntopics == router->topics_cap) {
		uint32_t cap = router->topics_cap ? router->topics_cap * 2 : 16;
		struct route_topic **topics = realloc(router->topics, cap * sizeof(*topics));

		if (!topics)
			return -ENOMEM;
		router->topics = topics;
		router->topics_cap = cap;
	}
	t = calloc(1, sizeof(*t) + len + 1);
	if (!t)
		return -ENOMEM;
	/* Cannot fail: ring_count was checked in sl_router_new. */
	(void)sl_ring_init(&t->ring, router->opts.ring_count);
	t->hash = hash;
	t->len = len;
	memcpy(t->name, s, len);
	/* A lost run may have numbered this topic too: start past anything it could have used. */
	t->seq = t->last_gseq = start;
	t->ring.dropped_seq = t->ring.dropped_gseq = start;
	t->ring.dropped_exact = false;
	b = chain_of(router, hash);
	t->next = *b;
	*b = t;
	router->topics[router->ntopics++] = t;
	buckets_move(router, 8);
	buckets_grow(router);
	*out = t;
	return 0;
}

int sl_router_subscribe(struct sl_router *router, const char *pattern, void *sub)
{
	if (router->busy)
		return -EBUSY;
	return sl_trie_add(router->subs, pattern, sub);
}

int sl_router_unsubscribe(struct sl_router *router, const char *pattern, void *sub)
{
	if (router->busy)
		return -EBUSY;
	return sl_trie_remove(router->subs, pattern, sub);
}

struct deliver_ctx {
	void (*deliver)(void *sub, struct sl_event *ev, void *ctx);
	void *ctx;
	struct sl_event *ev;
};

static void deliver_one(void *sub, void *ctx)
{
	struct deliver_ctx *d = ctx;

	d->deliver(sub, d->ev, d->ctx);
}

int sl_router_publish(struct sl_router *router, const char *topic, size_t topic_len,
		      const void *data, size_t len, uint64_t now_ns,
		      void (*deliver)(void *sub, struct sl_event *ev, void *ctx), void *ctx,
		      uint64_t *seq_out)
{
	struct deliver_ctx d = { .deliver = deliver, .ctx = ctx };
	struct route_topic *t;
	int err;

	if (router->busy)
		return -EBUSY;
	if (sl_topic_validate(topic, topic_len, false, NULL))
		return -EINVAL;
	err = topic_get(
	    router, topic, topic_len,
	    router->floor > router->reclaimed_gseq ? router->floor : router->reclaimed_gseq, &t);
	if (err)
		return err;
	/* Numbers are committed only once the event exists, so a failure leaves no hole. */
	d.ev = sl_event_new(t->name, t->len, data, len, t->seq + 1, router->gseq + 1, now_ns);
	if (!d.ev)
		return -ENOMEM;
	d.ev->counters = &t->counters;
	d.ev->arena = &t->arena;
	t->counters.alive++;
	t->seq = d.ev->seq;
	t->last_gseq = router->gseq = d.ev->gseq;

	/* Ageing here too keeps a busy topic's ring tight between periodic sweeps. */
	sl_ring_expire(&t->ring, now_ns, router->opts.ring_age_ns);
	sl_ring_push(&t->ring, d.ev);
	if (router->on_accept)
		router->on_accept(d.ev, router->accept_ctx);
	if (deliver) {
		router->busy = true;
		sl_trie_match(router->subs, t->name, deliver_one, &d);
		router->busy = false;
	}
	if (seq_out)
		*seq_out = d.ev->seq;
	sl_event_unref(d.ev);
	return 0;
}

int sl_router_replay_topic(struct sl_router *router, const char *topic, uint64_t since,
			   bool (*cb)(struct sl_event *ev, void *ctx), void *ctx)
{
	struct route_topic *t;
	int err;

	if (router->busy)
		return -EBUSY;
	if (!topic || sl_topic_validate(topic, strlen(topic), false, NULL))
		return -EINVAL;
	t = topic_lookup(router, topic);
	if (!t)
		return -ENOENT;
	if (since > t->seq)
		return -ERANGE;
	router->busy = true;
	err = sl_ring_since(&t->ring, since, cb, ctx);
	router->busy = false;
	return err;
}

/* One matching topic's retained events after the reference, merged by gseq. */
struct cursor {
	const struct sl_ring *ring;
	uint32_t pos;
	uint64_t gseq; /* of the event at pos */
};

static void heap_down(struct cursor *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;
		struct cursor tmp;

		if (l < n && heap[l].gseq < heap[min].gseq)
			min = l;
		if (r < n && heap[r].gseq < heap[min].gseq)
			min = r;
		if (min == i)
			return;
		tmp = heap[i];
		heap[i] = heap[min];
		heap[min] = tmp;
		i = min;
	}
}

static bool matches_any(const char *const *patterns, size_t npatterns, const char *topic)
{
	size_t i;

	for (i = 0; i < npatterns; i++) {
		if (sl_topic_match(patterns[i], topic))
			return true;
	}
	return false;
}

int sl_router_gseq_of(struct sl_router *router, const char *ref_topic, uint64_t ref_seq,
		      uint64_t *gseq)
{
	struct route_topic *ref;
	struct sl_event *ev;

	/* An ID naming nothing we hold (or held before a restart) is a gap: start over. */
	ref = ref_topic ? topic_lookup(router, ref_topic) : NULL;
	if (!ref)
		return -ERANGE;
	/*
	 * Before the topic's first event, as WebSocket `since: 0`: the stream
	 * from there, while that first event is still retained.
	 */
	if (ref_seq == 0) {
		if (ref->ring.dropped_seq || !ref->ring.count)
			return -ERANGE;
		*gseq = sl_ring_at(&ref->ring, 0)->gseq - 1;
		return 0;
	}
	if (ref_seq == ref->seq) {
		*gseq = ref->last_gseq;
		return 0;
	}
	ev = sl_ring_find(&ref->ring, ref_seq);
	if (ev) {
		*gseq = ev->gseq;
		return 0;
	}
	/*
	 * The reference itself aged out or was pushed out, the newest to go:
	 * every event after it is still retained, nothing was missed (as for
	 * WebSocket `since`). A quiet topic with retention.age is that case.
	 * Only by its own gseq: a bound (after a restart's hole, a floor) could
	 * pass other topics' events after the real one, missed without a gap.
	 */
	if (ref->ring.dropped_exact && ref_seq == ref->ring.dropped_seq) {
		*gseq = ref->ring.dropped_gseq;
		return 0;
	}
	return -ERANGE;
}

int sl_router_replay_after(struct sl_router *router, const char *const *patterns, size_t npatterns,
			   uint64_t after_gseq, bool (*cb)(struct sl_event *ev, void *ctx),
			   void *ctx)
{
	struct cursor *heap = NULL;
	size_t i, n = 0;
	int err = 0;

	if (router->busy)
		return -EBUSY;
	for (i = 0; i < npatterns; i++) {
		if (!patterns[i] || sl_topic_validate(patterns[i], strlen(patterns[i]), true, NULL))
			return -EINVAL;
	}
	/*
	 * A reclaimed topic may have matched and had events after the reference
	 * (gone by age, as it was reclaimed only once empty): what it would
	 * have said, a gap, is said for it.
	 */
	if (after_gseq < router->reclaimed_gseq)
		return -ERANGE;
	/*
	 * One cursor per matching topic rather than one pointer per event: the
	 * memory is bounded by max_topics whatever the rings hold.
	 */
	heap = malloc(router->ntopics * sizeof(*heap));
	if (!heap)
		return router->ntopics ? -ENOMEM : 0;
	for (i = 0; i < router->ntopics; i++) {
		const struct route_topic *t = router->topics[i];
		uint32_t pos;

		/*
		 * Nothing accepted after after_gseq (so nothing dropped after it
		 * either): skipped before the pattern match, since a paced resume
		 * comes here once per queue's worth of events.
		 */
		if (t->last_gseq <= after_gseq || !matches_any(patterns, npatterns, t->name))
			continue;
		if (t->ring.dropped_gseq > after_gseq) {
			err = -ERANGE;
			goto out;
		}
		pos = sl_ring_seek_gseq(&t->ring, after_gseq);
		if (pos < t->ring.count) {
			heap[n].ring = &t->ring;
			heap[n].pos = pos;
			heap[n].gseq = sl_ring_at(&t->ring, pos)->gseq;
			n++;
		}
	}
	for (i = n / 2; i-- > 0;)
		heap_down(heap, n, i);
	router->busy = true;
	while (n) {
		struct cursor *c = &heap[0];

		if (!cb(sl_ring_at(c->ring, c->pos), ctx)) {
			err = 1;
			break;
		}
		if (++c->pos < c->ring->count) {
			c->gseq = sl_ring_at(c->ring, c->pos)->gseq;
		} else {
			heap[0] = heap[--n];
		}
		heap_down(heap, n, 0);
	}
	router->busy = false;
out:
	free(heap);
	return err;
}

bool sl_router_retains_after(const struct sl_router *router, const struct sl_event *ev,
			     uint64_t after, bool by_gseq)
{
	const struct route_topic *t = topic_find(router, ev->topic, ev->topic_len,
						 topic_hash(router, ev->topic, ev->topic_len));

	if (!t)
		return false;
	return (by_gseq ? t->ring.dropped_gseq : t->ring.dropped_seq) <= after;
}

static void topic_unlink(struct sl_router *router, const struct route_topic *t)
{
	struct route_topic **b = chain_of(router, t->hash);

	while (*b != t)
		b = &(*b)->next;
	*b = t->next;
}

/*
 * Frees the topics that hold nothing: no event in the ring and none alive
 * anywhere (a queue, a resume's cursor). Each counted to max_topics for
 * good: per-user topics that went quiet refused every new topic until a
 * restart. Only near max_topics, since a topic created again starts its
 * numbers past every one a reclaimed topic gave out (a jump, not a reuse).
 */
static void reclaim(struct sl_router *router)
{
	uint32_t i, kept = 0;

	for (i = 0; i < router->ntopics; i++) {
		struct route_topic *t = router->topics[i];

		if (t->ring.count || t->counters.alive) {
			router->topics[kept++] = t;
			continue;
		}
		topic_unlink(router, t);
		if (t->last_gseq > router->reclaimed_gseq)
			router->reclaimed_gseq = t->last_gseq;
		router->reclaimed++;
		topic_free(router, t);
	}
	router->ntopics = kept;
}

/* Whether to reclaim: near max_topics, unless a walk by index holds it off. */
static bool near_max_topics(const struct sl_router *router)
{
	return !router->reclaim_held &&
	       router->ntopics >= router->opts.max_topics - router->opts.max_topics / 8;
}

void sl_router_expire(struct sl_router *router, uint64_t now_ns)
{
	uint32_t i;

	/* From inside a callback the rings are being read: the next sweep will do. */
	if (router->busy)
		return;
	for (i = 0; router->opts.ring_age_ns && i < router->ntopics; i++)
		sl_ring_expire(&router->topics[i]->ring, now_ns, router->opts.ring_age_ns);
	if (near_max_topics(router))
		reclaim(router);
}

uint64_t sl_router_topics_reclaimed(const struct sl_router *router)
{
	return router->reclaimed;
}

uint64_t sl_router_reclaimed_gseq(const struct sl_router *router)
{
	return router->reclaimed_gseq;
}

void sl_router_note_reclaimed(struct sl_router *router, uint64_t gseq)
{
	if (gseq > router->reclaimed_gseq)
		router->reclaimed_gseq = gseq;
	/* Those topics' events were numbered up to it: acceptance goes on past. */
	if (gseq > router->gseq)
		router->gseq = gseq;
}

size_t sl_router_topic_count(const struct sl_router *router)
{
	return router->ntopics;
}

size_t sl_router_subscription_count(const struct sl_router *router)
{
	return sl_trie_count(router->subs);
}

static void stat_fill(const struct route_topic *t, struct sl_router_topic_stat *stat)
{
	stat->name = t->name;
	stat->name_len = t->len;
	stat->retained = t->ring.count;
	stat->seq = t->seq;
	stat->oldest_seq = t->ring.count ? sl_ring_at(&t->ring, 0)->seq : 0;
	stat->delivered = t->counters;
}

void sl_router_foreach_topic(const struct sl_router *router,
			     void (*cb)(const struct sl_router_topic_stat *stat, void *ctx),
			     void *ctx)
{
	struct sl_router_topic_stat stat;
	uint32_t i;

	for (i = 0; i < router->ntopics; i++) {
		stat_fill(router->topics[i], &stat);
		cb(&stat, ctx);
	}
}

/* Whether a ranks below b: fewer events/s (by rate), fewer events, a later name. */
static bool less_busy(const struct route_topic *a, const struct route_topic *b,
		      enum sl_topic_rank by)
{
	if (by == SL_RANK_RATE && a->counters.events_per_second != b->counters.events_per_second)
		return a->counters.events_per_second < b->counters.events_per_second;
	if (a->counters.events != b->counters.events)
		return a->counters.events < b->counters.events;
	return strcmp(a->name, b->name) > 0;
}

/* Restores the min-heap (the lowest ranked on top) below i. */
static void rank_heap_down(const struct route_topic **heap, size_t n, size_t i,
			   enum sl_topic_rank by)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1;
		const struct route_topic *t;

		if (l < n && less_busy(heap[l], heap[least], by))
			least = l;
		if (r < n && less_busy(heap[r], heap[least], by))
			least = r;
		if (least == i)
			return;
		t = heap[i];
		heap[i] = heap[least];
		heap[least] = t;
		i = least;
	}
}

/* Adds (sign 1) or takes away (-1) a topic's deliveries in *sum. */
static void sum_counters(struct sl_topic_counters *sum, const struct sl_topic_counters *k,
			 int64_t sign)
{
	unsigned b;

	sum->events += (uint64_t)sign * k->events;
	sum->bytes += (uint64_t)sign * k->bytes;
	for (b = 0; b <= SL_LAT_BUCKETS; b++)
		sum->latency.count[b] += (uint64_t)sign * k->latency.count[b];
	sum->latency.total += (uint64_t)sign * k->latency.total;
	sum->latency.sum_ns += (uint64_t)sign * k->latency.sum_ns;
}

int sl_router_top_topics(const struct sl_router *router, size_t n, enum sl_topic_rank by,
			 struct sl_router_topic_stat **out, size_t *nout,
			 struct sl_topic_counters *rest)
{
	const struct route_topic **heap = NULL;
	size_t i, kept = 0;

	*out = NULL;
	*nout = 0;
	if (rest)
		memset(rest, 0, sizeof(*rest));
	if (n > router->ntopics)
		n = router->ntopics;
	if (n) {
		heap = malloc(n * sizeof(*heap));
		*out = malloc(n * sizeof(**out));
		if (!heap || !*out) {
			free(heap);
			free(*out);
			*out = NULL;
			return -ENOMEM;
		}
	}
	for (i = 0; i < router->ntopics; i++) {
		const struct route_topic *t = router->topics[i];

		if (rest)
			sum_counters(rest, &t->counters, 1);
		if (kept < n) {
			heap[kept++] = t;
			if (kept == n)
				for (size_t j = n / 2; j-- > 0;)
					rank_heap_down(heap, n, j, by);
		} else if (n && less_busy(heap[0], t, by)) {
			heap[0] = t;
			rank_heap_down(heap, n, 0, by);
		}
	}
	/* Taking the lowest ranked off the top fills the answer from its end. */
	for (i = n; i-- > 0;) {
		stat_fill(heap[0], &(*out)[i]);
		if (rest)
			sum_counters(rest, &heap[0]->counters, -1);
		heap[0] = heap[i];
		rank_heap_down(heap, i, 0, by);
	}
	free(heap);
	*nout = n;
	return 0;
}

int sl_router_topic_stat_at(const struct sl_router *router, size_t i,
			    struct sl_router_topic_stat *stat)
{
	if (i >= router->ntopics)
		return -ENOENT;
	stat_fill(router->topics[i], stat);
	return 0;
}

int sl_router_topic_stat(const struct sl_router *router, const char *topic,
			 struct sl_router_topic_stat *stat)
{
	const struct route_topic *t = topic_lookup(router, topic);

	if (!t)
		return -ENOENT;
	stat_fill(t, stat);
	return 0;
}

static void tick_rate(struct sl_router *router, struct route_topic *t, uint64_t now_s)
{
	struct sl_topic_counters *k = &t->counters;

	k->events_per_second = k->events - k->events_at_tick;
	if (router->opts.hours)
		sl_history_tick(&k->history, router->opts.hours, now_s, k->events_per_second);
	k->bytes_per_second = k->bytes - k->bytes_at_tick;
	k->events_at_tick = k->events;
	k->bytes_at_tick = k->bytes;
}

void sl_router_tick_rates(struct sl_router *router, uint64_t now_s)
{
	uint32_t i;

	/* Ticked twice in a second, the rest of a sweep would count nothing. */
	router->sweeping = false;
	for (i = 0; i < router->ntopics; i++)
		tick_rate(router, router->topics[i], now_s);
}

void sl_router_sweep_start(struct sl_router *router, uint64_t now_ns, uint64_t rate_s)
{
	/*
	 * Started over instead, on a loop too busy to end a sweep in a second,
	 * the last topics would never age nor get a rate.
	 */
	if (router->sweeping)
		sl_router_sweep(router, UINT32_MAX);
	router->sweeping = true;
	router->sweep_next = 0;
	router->sweep_now_ns = now_ns;
	router->sweep_rate_s = rate_s;
}

bool sl_router_sweep(struct sl_router *router, uint32_t max)
{
	uint32_t n;

	if (!router->sweeping)
		return true;
	/* From inside a callback the rings are being read: the next slice will do. */
	if (router->busy)
		return false;
	/* Topics created meanwhile are at the end: this sweep reaches them too. */
	for (n = 0; n < max && router->sweep_next < router->ntopics; n++) {
		struct route_topic *t = router->topics[router->sweep_next++];

		if (router->opts.ring_age_ns)
			sl_ring_expire(&t->ring, router->sweep_now_ns, router->opts.ring_age_ns);
		tick_rate(router, t, router->sweep_rate_s);
	}
	if (router->sweep_next < router->ntopics)
		return false;
	router->sweeping = false;
	/* Whole, since it moves topics in the array; only near max_topics. */
	if (near_max_topics(router))
		reclaim(router);
	return true;
}

int sl_router_restore(struct sl_router *router, const char *topic, size_t topic_len,
		      const void *data, size_t len, uint64_t seq, uint64_t gseq, uint64_t ts_ns,
		      uint64_t now_ns)
{
	struct route_topic *t;
	struct sl_event *ev;
	int err;

	if (router->busy)
		return -EBUSY;
	if (!seq || sl_topic_validate(topic, topic_len, false, NULL))
		return -EINVAL;
	/* Its own numbers come from the journal: the record's seq decides. */
	err = topic_get(router, topic, topic_len, router->floor, &t);
	if (err)
		return err;
	if (seq <= t->seq)
		return -EALREADY;
	if (!data || seq > t->seq + 1) {
		/*
		 * What came before seq is not here: resuming from before it is a
		 * gap, and the events before the hole can no longer be reached.
		 */
		sl_ring_clear(&t->ring);
		t->ring.dropped_seq = seq - (data ? 1 : 0);
		t->ring.dropped_gseq = gseq - (data ? 1 : 0);
		t->ring.dropped_exact = false;
	}
	t->seq = seq;
	t->last_gseq = gseq;
	if (gseq > router->gseq)
		router->gseq = gseq;
	if (!data)
		return 0;
	ev = sl_event_new(t->name, t->len, data, len, seq, gseq, ts_ns);
	if (!ev)
		return -ENOMEM;
	ev->counters = &t->counters;
	ev->arena = &t->arena;
	t->counters.alive++;
	sl_ring_push(&t->ring, ev);
	sl_ring_expire(&t->ring, now_ns, router->opts.ring_age_ns);
	sl_event_unref(ev);
	return 0;
}

int sl_router_set_floor(struct sl_router *router, uint64_t floor)
{
	uint32_t i;

	if (router->busy)
		return -EBUSY;
	if (floor <= router->floor)
		return 0;
	router->floor = floor;
	if (router->gseq < floor)
		router->gseq = floor;
	for (i = 0; i < router->ntopics; i++) {
		struct route_topic *t = router->topics[i];

		/*
		 * A topic with an event after the floor already has a hole where
		 * its lost events were (restore saw its seq jump). The others may
		 * have used any number up to floor: a topic's seq never passes
		 * the router's gseq, both counting every event from 1.
		 */
		if (t->last_gseq >= floor)
			continue;
		sl_ring_clear(&t->ring);
		if (t->seq < floor)
			t->seq = floor;
		t->last_gseq = floor;
		t->ring.dropped_seq = t->seq;
		t->ring.dropped_gseq = floor;
		t->ring.dropped_exact = false;
	}
	return 0;
}

size_t sl_router_foreach_retained(const struct sl_router *router, size_t from, size_t max,
				  void (*cb)(const char *topic, uint32_t topic_len, uint64_t seq,
					     uint64_t gseq, const struct sl_event *ev, void *ctx),
				  void *ctx)
{
	size_t i;
	uint32_t k;

	for (i = from; i < router->ntopics && i - from < max; i++) {
		const struct route_topic *t = router->topics[i];

		if (!t->ring.count) {
			if (t->seq)
				cb(t->name, t->len, t->seq, t->last_gseq, NULL, ctx);
			continue;
		}
		for (k = 0; k < t->ring.count; k++) {
			const struct sl_event *ev = sl_ring_at(&t->ring, k);

			cb(t->name, t->len, ev->seq, ev->gseq, ev, ctx);
		}
	}
	return i;
}

void sl_router_hold_reclaim(struct sl_router *router, bool hold)
{
	router->reclaim_held = hold;
}

void sl_router_set_accept_hook(struct sl_router *router,
			       void (*on_accept)(struct sl_event *ev, void *ctx), void *ctx)
{
	router->on_accept = on_accept;
	router->accept_ctx = ctx;
}
