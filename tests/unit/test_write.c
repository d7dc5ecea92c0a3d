// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The parallel write path: the fork-join pool (net/workpool.c) and output
 * queue flushes that hand back what went out instead of releasing it
 * (net/outq.c), over real socket pairs, on the loop alone and on several
 * threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "net/outq.h"
#include "net/workpool.h"
#include "route/event.h"
#include "tap.h"

/* ---- The pool ------------------------------------------------------------------------------- */

struct count_ctx {
	unsigned *seen;	     /* per index: times fn ran for it */
	unsigned *by_worker; /* per worker: indices it ran */
	unsigned sleep_us;   /* per index, to give the threads time to join */
	unsigned bad_worker; /* calls with a worker id out of range */
	unsigned workers;    /* threads + 1 */
};

static void count_fn(void *arg, size_t index, unsigned worker)
{
	struct count_ctx *c = arg;

	__atomic_fetch_add(&c->seen[index], 1, __ATOMIC_RELAXED);
	if (worker >= c->workers) {
		__atomic_fetch_add(&c->bad_worker, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&c->by_worker[worker], 1, __ATOMIC_RELAXED);
	if (c->sleep_us)
		usleep(c->sleep_us);
}

/* Every index ran exactly once. */
static int each_once(const unsigned *seen, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (seen[i] != 1)
			return 0;
	return 1;
}

static void test_pool_bad_sizes(void)
{
	errno = 0;
	TAP_OK(!sl_workpool_new(0) && errno == EINVAL, "a pool of 0 threads is refused (EINVAL)");
	errno = 0;
	TAP_OK(!sl_workpool_new(65) && errno == EINVAL, "a pool of 65 threads is refused (EINVAL)");
	TAP_OK(sl_workpool_threads(NULL) == 0, "no pool has no threads");
	sl_workpool_free(NULL);
	TAP_OK(sl_workpool_auto_threads(0) == 0, "auto with a maximum of 0 is 0");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus > 1 ? (unsigned)(cpus - 1) : 0;

	TAP_OK(sl_workpool_auto_threads(64) == (want < 64 ? want : 64),
	       "auto is the online CPUs minus the loop's (%u of %ld)", sl_workpool_auto_threads(64),
	       cpus);
}

static void test_pool_ranges(void)
{
	static const struct {
		size_t n, chunk;
	} cases[] = { { 0, 8 },	   { 1, 8 },	{ 7, 8 },    { 8, 8 },	    { 9, 8 },
		      { 1000, 1 }, { 1000, 8 }, { 1000, 0 }, { 1000, 5000 } };
	struct sl_workpool *p = sl_workpool_new(3);
	unsigned seen[1000], by_worker[4];
	size_t i;

	TAP_OK(p && sl_workpool_threads(p) == 3, "a pool of 3 threads starts");
	if (!p)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct count_ctx c = { seen, by_worker, 0, 0, 4 };

		memset(seen, 0, sizeof(seen));
		memset(by_worker, 0, sizeof(by_worker));
		sl_workpool_run(p, cases[i].n, cases[i].chunk, count_fn, &c);
		TAP_OK(each_once(seen, cases[i].n) && c.bad_worker == 0 &&
			   by_worker[0] + by_worker[1] + by_worker[2] + by_worker[3] == cases[i].n,
		       "n %zu chunk %zu: every index once, worker ids 0..3", cases[i].n,
		       cases[i].chunk);
	}
	sl_workpool_free(p);
}

/* Thousands of short jobs back to back: late wakers must never run a finished job's range. */
static void test_pool_many_runs(void)
{
	struct sl_workpool *p = sl_workpool_new(2);
	unsigned seen[64], by_worker[3];
	unsigned runs, ok = 0;

	if (!p) {
		TAP_OK(0, "a pool of 2 threads starts");
		return;
	}
	for (runs = 0; runs < 20000; runs++) {
		struct count_ctx c = { seen, by_worker, 0, 0, 3 };
		size_t n = runs % 64;

		memset(seen, 0, sizeof(seen));
		sl_workpool_run(p, n, 1 + runs % 4, count_fn, &c);
		ok += each_once(seen, n) && c.bad_worker == 0;
	}
	TAP_OK(ok == 20000, "20,000 runs back to back: every index of each exactly once (%u)", ok);
	sl_workpool_free(p);
}

static void test_pool_threads_work(void)
{
	struct sl_workpool *p = sl_workpool_new(2);
	unsigned seen[200], by_worker[3] = { 0 };
	struct count_ctx c = { seen, by_worker, 1000, 0, 3 };

	if (!p) {
		TAP_OK(0, "a pool of 2 threads starts");
		return;
	}
	memset(seen, 0, sizeof(seen));
	/* 200 ms of sleeping work for one: the threads have long woken before it is gone. */
	sl_workpool_run(p, 200, 1, count_fn, &c);
	TAP_OK(each_once(seen, 200) && by_worker[1] + by_worker[2] > 0,
	       "the threads take part (loop %u, threads %u + %u)", by_worker[0], by_worker[1],
	       by_worker[2]);
	sl_workpool_free(p);
}

/* ---- Flushes that hand back what went out ---------------------------------------------------- */

static struct sl_event *event_of(const char *text, struct sl_bytes *b)
{
	struct sl_event *ev = sl_event_new("t", 1, text, strlen(text), 1, 1, 0);

	b->data = (uint8_t *)ev->data;
	b->len = ev->len;
	return ev;
}

static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t r;

	while (got < cap && (r = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)r;
	return (ssize_t)got;
}

/*
 * A socket pair whose writing end sv[0] has a send buffer of sndbuf bytes
 * (0: the default); both ends nonblocking, so a full buffer is a short
 * write and an empty one a read of nothing. 0 or -1.
 */
static int writer_pair(int sv[2], int sndbuf)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	if (sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return 0;
}

static void test_flush_hands_back(void)
{
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	struct sl_bytes b1, b2;
	struct sl_event *e1 = event_of("hello", &b1), *e2 = event_of("world!", &b2);
	uint64_t total = 0, events = 0;
	int sv[2], short_write = 0;
	char buf[64] = { 0 };
	size_t before;
	ssize_t w;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		TAP_OK(0, "socketpair");
		return;
	}
	sl_outq_init(&q);
	q.total = &total;
	sl_outq_push_event(&q, e1, &b1);
	sl_outq_push_copy(&q, "|", 1);
	sl_outq_push_event(&q, e2, &b2);
	TAP_OK(q.bytes == 12 && total == 12 && e1->refs == 2 && e2->refs == 2,
	       "three items queued: 12 bytes, one reference per event");
	before = q.bytes;
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(w == 12 && !short_write && events == 2 && q.count == 0 && q.bytes == 0,
	       "the flush wrote all 12 bytes, 2 events, none short");
	TAP_OK(sink.count == 2 && sink.items[0].ev == e1 && sink.items[0].event_len == 5 &&
		   sink.items[1].ev == e2 && sink.items[1].event_len == 6,
	       "the sink holds both events in order with their lengths (the copy has no event)");
	TAP_OK(e1->refs == 2 && e2->refs == 2,
	       "the queue's references went to the sink, not released on the writing thread");
	TAP_OK(total == 12, "the shared total is left for the loop");
	sl_outq_settle(&q, before);
	TAP_OK(total == 0, "sl_outq_settle lowers the shared total by what was written");
	close(sv[0]);
	TAP_OK(read_all(sv[1], buf, sizeof(buf) - 1) == 12 && !strcmp(buf, "hello|world!"),
	       "the peer read the bytes in order: %s", buf);
	sl_event_unref(sink.items[0].ev);
	sl_event_unref(sink.items[1].ev);
	TAP_OK(e1->refs == 1 && e2->refs == 1, "settling releases exactly the queue's references");
	sl_event_unref(e1);
	sl_event_unref(e2);
	close(sv[1]);
	sl_outq_fini(&q);
	sl_outq_sink_fini(&sink);
}

/*
 * An eviction before the first write keeps the handshake answer queued
 * first (keep_head) and drops the rest; without keep_head nothing stays.
 */
static void test_drop_keeps_head(void)
{
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
	struct sl_outq q;
	struct sl_bytes b1, b2;
	struct sl_event *e1 = event_of("hello", &b1), *e2 = event_of("world!", &b2);
	uint64_t total = 0;
	int keep;

	for (keep = 1; keep >= 0; keep--) {
		sl_outq_init(&q);
		q.total = &total;
		sl_outq_push_copy(&q, head, sizeof(head) - 1);
		sl_outq_push_copy(&q, "pong", 4);
		sl_outq_push_event(&q, e1, &b1);
		sl_outq_push_event(&q, e2, &b2);
		sl_outq_drop_unsent(&q, keep);
		TAP_OK(
		    q.count == (uint32_t)keep && q.bytes == (keep ? sizeof(head) - 1 : 0) &&
			total == q.bytes && e1->refs == 1 && e2->refs == 1 &&
			(!keep || !memcmp(q.items[q.head].data, head, sizeof(head) - 1)),
		    "a drop before any write %s the head item, drops the rest and its references",
		    keep ? "keeps" : "does not keep");
		sl_outq_fini(&q);
	}
	sl_event_unref(e1);
	sl_event_unref(e2);
}

/* An item of 2 GiB or more does not fit the queue's 32-bit lengths: refused, nothing kept. */
static void test_push_too_big(void)
{
	struct sl_outq q;
	struct sl_bytes b, huge;
	struct sl_event *ev = event_of("x", &b);
	uint64_t total = 0;

	sl_outq_init(&q);
	q.total = &total;
	huge.data = b.data;
	huge.len = SL_OUTQ_ITEM_MAX;
	TAP_OK(sl_outq_push_event(&q, ev, &huge) == -EMSGSIZE && q.count == 0 && ev->refs == 1 &&
		   total == 0,
	       "an event encoding of 2 GiB is refused (-EMSGSIZE), no reference taken");
	/* push_owned takes ownership even when it refuses: ASan sees a leak otherwise. */
	TAP_OK(sl_outq_push_owned(&q, malloc(16), SL_OUTQ_ITEM_MAX) == -EMSGSIZE && q.count == 0 &&
		   total == 0,
	       "a private buffer claiming 2 GiB is refused (-EMSGSIZE) and freed");
	TAP_OK(sl_outq_push_event(&q, ev, &b) == 0 && q.count == 1 && total == 1,
	       "the queue still takes a normal event afterwards");
	sl_outq_fini(&q);
	TAP_OK(ev->refs == 1 && total == 0, "fini releases it");
	sl_event_unref(ev);
}

/* A peer that reads nothing: the flush stops short, keeps the rest, hands back what went out. */
static void test_flush_short(void)
{
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	struct sl_bytes b;
	static char big[4096];
	struct sl_event *ev;
	uint64_t total = 0, events = 0;
	int sv[2], short_write = 0, sndbuf = 4096, i;
	size_t before, sent_bytes = 0;
	ssize_t w;

	memset(big, 'x', sizeof(big) - 1);
	ev = event_of(big, &b);
	if (writer_pair(sv, sndbuf)) {
		TAP_OK(0, "socketpair");
		return;
	}
	sl_outq_init(&q);
	q.total = &total;
	for (i = 0; i < 1000; i++)
		sl_outq_push_event(&q, ev, &b);
	before = q.bytes;
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	for (i = 0; i < (int)sink.count; i++)
		sent_bytes += sink.items[i].event_len;
	TAP_OK(w > 0 && short_write && q.count > 0 && events == sink.count &&
		   (size_t)w >= sent_bytes && (size_t)w < sent_bytes + b.len,
	       "a full socket: short write after %zd bytes, %llu whole events handed back", w,
	       (unsigned long long)events);
	TAP_OK(q.bytes == before - (size_t)w && ev->refs == 1 + q.count + sink.count,
	       "the queue keeps the rest with its references (%u queued, %zu handed back)", q.count,
	       sink.count);
	sl_outq_settle(&q, before);
	TAP_OK(total == q.bytes, "settled: the shared total is what is still queued");
	for (i = 0; i < (int)sink.count; i++)
		sl_event_unref(sink.items[i].ev);
	sink.count = 0;
	sl_outq_fini(&q);
	TAP_OK(total == 0 && ev->refs == 1, "fini gives back the rest and its references");
	sl_event_unref(ev);
	close(sv[0]);
	close(sv[1]);
	sl_outq_sink_fini(&sink);
}

/*
 * What the queue's private bytes cost: each buffer as the allocator rounds
 * it, plus its chunk header, plus the item array.
 */
static size_t private_held(const struct sl_outq *q)
{
	size_t sum = q->cap * sizeof(struct sl_outq_item);
	uint32_t i;

	for (i = 0; i < q->count; i++) {
		const struct sl_outq_item *it = &q->items[(q->head + i) & (q->cap - 1)];

		if (it->owned)
			sum += malloc_usable_size((void *)it->data) + sizeof(size_t);
	}
	return sum;
}

/*
 * A publisher that reads no acks: its replies wait in its queue, bounded by
 * limits.max_queued_bytes_per_connection on q->bytes. Each was an
 * allocation and an item of its own, about three times its bytes in all;
 * packed, what the queue holds is what it counts, within one buffer.
 */
#define ACKS 4000
#define ACK_LEN 25

static void test_replies_packed(void)
{
	static char want[ACKS * ACK_LEN + 4096], got[sizeof(want)];
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	struct sl_bytes b;
	struct sl_event *ev = event_of("event", &b);
	uint64_t total = 0, events = 0;
	int sv[2], short_write = 0, shorts = 0, i;
	size_t want_len = 0, got_len = 0, before, held, big_at;
	uint8_t *owned;
	ssize_t w, r;

	for (i = 0; i < ACKS; i++)
		snprintf(want + (size_t)i * ACK_LEN, ACK_LEN + 1, "ack %020d", i);
	sl_outq_init(&q);
	q.total = &total;
	for (i = 0; i < ACKS; i++)
		sl_outq_push_copy(&q, want + (size_t)i * ACK_LEN, ACK_LEN);
	want_len = (size_t)ACKS * ACK_LEN;
	held = private_held(&q);
	TAP_OK(q.bytes == want_len && total == want_len && q.count <= 16,
	       "%d replies of %d bytes: %zu bytes counted, in %u items (one each before)", ACKS,
	       ACK_LEN, q.bytes, q.count);
	TAP_OK(
	    held <= q.bytes + q.bytes / 8 + 16384,
	    "what they hold is about what is counted: %zu bytes with allocator and items for %zu",
	    held, q.bytes);

	/* An event between replies ends a buffer; a reply alone after it is exact. */
	sl_outq_push_event(&q, ev, &b);
	memcpy(want + want_len, b.data, b.len);
	want_len += b.len;
	sl_outq_push_copy(&q, "|", 1);
	want[want_len++] = '|';
	TAP_OK(q.count >= 3 && q.items[(q.head + q.count - 1) & (q.cap - 1)].room == 0,
	       "after an event the next reply starts a buffer of its own size");
	/* Owned small buffers (WebSocket replies) are packed too; a large one is kept as it is. */
	owned = malloc(3);
	memcpy(owned, "abc", 3);
	sl_outq_push_owned(&q, owned, 3);
	memcpy(want + want_len, "abc", 3);
	want_len += 3;
	TAP_OK(q.items[(q.head + q.count - 1) & (q.cap - 1)].len == 3 &&
		   q.items[(q.head + q.count - 1) & (q.cap - 1)].room >= 253,
	       "a small owned buffer after a reply is copied into a buffer with room for more");
	big_at = q.count;
	owned = malloc(2000);
	memset(owned, 'B', 2000);
	sl_outq_push_owned(&q, owned, 2000);
	memset(want + want_len, 'B', 2000);
	want_len += 2000;
	TAP_OK(q.count == big_at + 1 && q.items[(q.head + q.count - 1) & (q.cap - 1)].data == owned,
	       "a 2000-byte owned buffer stays an item of its own");

	/* Through a small socket buffer: writes end inside buffers that grow meanwhile. */
	if (writer_pair(sv, 4096)) {
		TAP_OK(0, "socketpair");
		goto out;
	}
	for (i = 0; q.count && i < 100000; i++) {
		before = q.bytes;
		w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
		sl_outq_settle(&q, before);
		shorts += short_write;
		if (w < 0)
			break;
		while ((r = read(sv[1], got + got_len, sizeof(got) - got_len)) > 0)
			got_len += (size_t)r;
	}
	TAP_OK(
	    got_len == want_len && !memcmp(got, want, want_len) && shorts > 3 && total == 0,
	    "the peer reads every reply in order (%zu bytes, %d short writes), the total settled",
	    got_len, shorts);
	TAP_OK(events == 1 && sink.count == 1 && sink.items[0].ev == ev,
	       "the event among them is handed back once");
	sl_event_unref(sink.items[0].ev);
	close(sv[0]);
	close(sv[1]);
out:
	sl_outq_fini(&q);
	sl_outq_sink_fini(&sink);
	TAP_OK(ev->refs == 1, "no reference left behind");
	sl_event_unref(ev);
}

/*
 * TLS: records go in as copies, and the one that ends an event marks its
 * item (sl_outq_tail_is_event). Packed with replies before it, the event
 * is counted once that item is written; nothing is packed after it. And a
 * reply may go into a buffer a write is part-way through.
 */
static void test_replies_packed_edges(void)
{
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	struct sl_bytes b;
	struct sl_event *ev = event_of("event", &b);
	uint64_t events = 0;
	int sv[2], short_write = 0;
	char buf[64] = { 0 };
	uint32_t items;
	ssize_t w;

	if (writer_pair(sv, 0)) {
		TAP_OK(0, "socketpair");
		sl_event_unref(ev);
		return;
	}
	sl_outq_init(&q);
	sl_outq_push_copy(&q, "first;", 6);
	sl_outq_push_copy(&q, "second;", 7);
	w = sl_outq_flush_upto(&q, sv[0], 8, &short_write, &events, &sink);
	sl_outq_push_copy(&q, "third;", 6);
	TAP_OK(w == 8 && q.count == 1 && q.head_off == 2 && q.bytes == 11,
	       "a reply after a write that stopped inside the head buffer goes into it");
	sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(read_all(sv[1], buf, 19) == 19 && !strcmp(buf, "first;second;third;") &&
		   q.count == 0 && q.bytes == 0,
	       "and is written after the rest of it: %s", buf);
	memset(buf, 0, sizeof(buf));

	sl_outq_push_copy(&q, "r1;", 3);
	sl_outq_push_copy(&q, "r2;", 3);
	sl_outq_push_copy(&q, "EVENT;", 6);
	sl_outq_tail_is_event(&q, ev, 5);
	items = q.count;
	sl_outq_push_copy(&q, "r3;", 3);
	TAP_OK(items == 2 && q.count == 3,
	       "records packed after a reply (%u items); none after the one that ends an event",
	       items);
	sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(read_all(sv[1], buf, 15) == 15 && !strcmp(buf, "r1;r2;EVENT;r3;") && events == 1 &&
		   sink.count == 1 && sink.items[0].ev == ev && sink.items[0].event_len == 5,
	       "written in order (%s); the event handed back once with its length", buf);
	sl_event_unref(sink.items[0].ev);
	close(sv[0]);
	close(sv[1]);
	sl_outq_fini(&q);
	sl_outq_sink_fini(&sink);
	TAP_OK(ev->refs == 1, "its reference given back");
	sl_event_unref(ev);
}

/*
 * A loopback TCP connection (the cork is TCP's): sv[0] is the nonblocking,
 * TCP_NODELAY writing end the gateway has, with a send buffer of sndbuf
 * bytes (0: the default); sv[1] the reading end, whose reads give up after
 * 5 s, so that a test waiting for bytes that do not come fails instead of
 * hanging. 0 or -1.
 */
static int tcp_pair(int sv[2], int sndbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd, one = 1, ok = -1;

	sv[0] = sv[1] = -1;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen))
		goto out;
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0)
		goto out;
	if (sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(sv[0], (struct sockaddr *)&a, sizeof(a)))
		goto out;
	sv[1] = accept(lfd, NULL, NULL);
	if (sv[1] < 0)
		goto out;
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
		   sizeof(struct timeval));
	setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	ok = 0;
out:
	close(lfd);
	if (ok) {
		if (sv[0] >= 0)
			close(sv[0]);
		sv[0] = -1;
	}
	return ok;
}

/*
 * Every setsockopt and sendmsg of this binary, the flush's included, passes
 * through here on its way to the kernel: the cork's test counts what a
 * flush asked for, since a cork that was pushed leaves no other trace on a
 * plain TCP socket.
 */
static unsigned nodelay_calls; /* TCP_NODELAY set to 1: a push */
static unsigned send_calls[2]; /* sendmsg without, with MSG_MORE */

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (level == IPPROTO_TCP && name == TCP_NODELAY && val && len == sizeof(int) &&
	    *(const int *)val)
		__atomic_add_fetch(&nodelay_calls, 1, __ATOMIC_RELAXED);
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	/* The parallel flush tests write from several threads. */
	__atomic_add_fetch(&send_calls[(flags & MSG_MORE) != 0], 1, __ATOMIC_RELAXED);
	return (ssize_t)syscall(SYS_sendmsg, fd, msg, flags);
}

/* Reads exactly n bytes from a blocking socket; 1 when they are all `c`. */
static int read_exactly(int fd, size_t n, char c)
{
	char buf[16384];
	size_t got = 0, i;
	ssize_t r;
	int same = 1;

	while (got < n && (r = read(fd, buf, sizeof(buf) < n - got ? sizeof(buf) : n - got)) > 0) {
		for (i = 0; i < (size_t)r; i++)
			same &= buf[i] == c;
		got += (size_t)r;
	}
	return got == n && same;
}

/*
 * Metered sockets flush corked from cork_from queued bytes (MSG_MORE on
 * every write, one TCP_NODELAY push at the end): every way out of a flush
 * (all written, a full socket, an error) pushes, so the peer gets every
 * byte the socket took, and a queue under the mark is written as before.
 */
static void test_flush_corked(void)
{
	static char chunk[10 * 1024];
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	uint64_t events = 0;
	int sv[2], short_write = 0, i, unsent = -1;
	size_t left;
	ssize_t w;

	memset(chunk, 'c', sizeof(chunk));
	signal(SIGPIPE, SIG_IGN); /* as sluiced does: a dead peer is EPIPE */
	if (tcp_pair(sv, 0)) {
		TAP_OK(0, "loopback TCP pair");
		return;
	}
	sl_outq_init(&q);
	q.cork_from = SL_OUTQ_CORK_METERED;
	for (i = 0; i < 3; i++)
		sl_outq_push_copy(&q, chunk, sizeof(chunk));
	nodelay_calls = send_calls[0] = send_calls[1] = 0;
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(w == 3 * (ssize_t)sizeof(chunk) && !short_write && q.count == 0,
	       "30 KiB from a 16 KiB mark: written whole (%zd bytes)", w);
	TAP_OK(send_calls[1] >= 1 && send_calls[0] == 0 && nodelay_calls == 1,
	       "that flush wrote with MSG_MORE only (%u, %u without) and pushed once (%u)",
	       send_calls[1], send_calls[0], nodelay_calls);
	/*
	 * MSG_MORE alone would leave the 30 KiB (less than a loopback segment)
	 * unsent until TCP's probe timer, some 200 ms later.
	 */
	TAP_OK(ioctl(sv[0], SIOCOUTQNSD, &unsent) == 0 && unsent == 0,
	       "right after the flush nothing is left unsent (%d bytes): the push let it out",
	       unsent);
	TAP_OK(read_exactly(sv[1], 3 * sizeof(chunk), 'c'), "the peer read all 30 KiB");

	sl_outq_push_copy(&q, chunk, 100);
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(w == 100 && read_exactly(sv[1], 100, 'c') && send_calls[0] == 1 &&
		   send_calls[1] >= 1 && nodelay_calls == 1,
	       "100 bytes under the mark: written without MSG_MORE and read, no push");
	close(sv[0]);
	close(sv[1]);

	/* A full socket: the short write's bytes still reach the peer. */
	if (tcp_pair(sv, 4096)) {
		TAP_OK(0, "loopback TCP pair with a small send buffer");
		sl_outq_fini(&q);
		return;
	}
	for (i = 0; i < 400; i++) /* 4 MB: more than the kernel's buffers on both ends */
		sl_outq_push_copy(&q, chunk, sizeof(chunk));
	nodelay_calls = 0; /* tcp_pair's own */
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	left = q.bytes;
	TAP_OK(w > 0 && short_write && left > 0 && nodelay_calls == 1,
	       "a full socket: short after %zd bytes, pushed once", w);
	TAP_OK(read_exactly(sv[1], (size_t)w, 'c'), "the peer read the %zd bytes the socket took",
	       w);

	/* A hard error (the writer shut down its side): -EPIPE, still uncorked. */
	shutdown(sv[0], SHUT_WR);
	w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
	TAP_OK(w == -EPIPE && q.bytes == left && nodelay_calls == 2,
	       "a write error: %zd, pushed once, the queue unchanged", w);
	close(sv[0]);
	close(sv[1]);
	sl_outq_fini(&q);
	sl_outq_sink_fini(&sink);
}

/*
 * Thousands of event items whose bytes lie back to back but are not in an
 * arena block (so not a run): the stream and the hand-back must be exact
 * across private copies in between, more items than one writev takes, and
 * short writes.
 */
#define ADJ_EVENTS 3000
#define ADJ_LEN 8

static int flush_adjacent(int sndbuf, char *got, size_t cap, size_t *got_len, size_t *handed,
			  unsigned *flushes)
{
	static char stream[ADJ_EVENTS * ADJ_LEN + 1];
	struct sl_outq_sink sink = { 0 };
	struct sl_outq q;
	struct sl_bytes b;
	struct sl_event *ev = event_of("x", &b);
	uint64_t events = 0, total = 0;
	int sv[2], short_write, ok = 1;
	size_t k, before;
	ssize_t w, r;

	if (writer_pair(sv, sndbuf))
		return 0;
	sl_outq_init(&q);
	q.total = &total;
	for (k = 0; k < ADJ_EVENTS; k++) {
		snprintf(stream + k * ADJ_LEN, ADJ_LEN + 1, "e%06zu;", k);
		if (k % 500 == 499)
			sl_outq_push_copy(&q, "|", 1);
		b.data = (uint8_t *)stream + k * ADJ_LEN;
		b.len = ADJ_LEN;
		sl_outq_push_event(&q, ev, &b);
	}
	*got_len = 0;
	*flushes = 0;
	while (q.count && *flushes < 100000) {
		before = q.bytes;
		w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
		sl_outq_settle(&q, before);
		ok &= w >= 0;
		(*flushes)++;
		/* A slow peer (with a small buffer): a little at a time, so writes stop short. */
		while (*got_len < cap &&
		       (r = read(sv[1], got + *got_len,
				 sndbuf && cap - *got_len > 999 ? 999 : cap - *got_len)) > 0) {
			*got_len += (size_t)r;
			if (sndbuf)
				break;
		}
	}
	while (*got_len < cap && (r = read(sv[1], got + *got_len, cap - *got_len)) > 0)
		*got_len += (size_t)r;
	ok &= events == ADJ_EVENTS && sink.count == ADJ_EVENTS && total == 0;
	for (k = 0; k < sink.count; k++)
		ok &= sink.items[k].ev == ev && sink.items[k].event_len == ADJ_LEN;
	*handed = sink.count;
	for (k = 0; k < sink.count; k++)
		sl_event_unref(sink.items[k].ev);
	ok &= ev->refs == 1;
	sl_event_unref(ev);
	sl_outq_fini(&q);
	sl_outq_sink_fini(&sink);
	close(sv[0]);
	close(sv[1]);
	return ok;
}

static void test_flush_adjacent(void)
{
	static char got[ADJ_EVENTS * (ADJ_LEN + 1)], want[sizeof(got)];
	size_t want_len = 0, got_len, handed, k;
	unsigned flushes;
	int ok;

	for (k = 0; k < ADJ_EVENTS; k++) {
		if (k % 500 == 499)
			want[want_len++] = '|';
		want_len += (size_t)sprintf(want + want_len, "e%06zu;", k);
	}
	ok = flush_adjacent(0, got, sizeof(got), &got_len, &handed, &flushes);
	TAP_OK(ok && handed == ADJ_EVENTS && got_len == want_len && !memcmp(got, want, want_len),
	       "3,000 back-to-back items and 6 copies: the peer reads the exact stream, all "
	       "handed back in order (%zu bytes, %u flushes)",
	       got_len, flushes);
	ok = flush_adjacent(4096, got, sizeof(got), &got_len, &handed, &flushes);
	TAP_OK(ok && handed == ADJ_EVENTS && got_len == want_len && !memcmp(got, want, want_len) &&
		   flushes > 10,
	       "the same through a 4 KiB socket buffer: short writes inside runs lose and repeat "
	       "nothing (%u flushes)",
	       flushes);
}

/*
 * Runs: consecutive encodings of an arena block queued as one item. The
 * stream, the hand-back (each event once, in order, with its length) and
 * the references must be exactly what one item per event gives, through
 * short writes inside a run, a gap in the sequence, bytes in between and an
 * eviction's drop.
 */
#define RUN_EVENTS 300

struct collected {
	struct sl_event *ev[RUN_EVENTS * 2];
	uint32_t len[RUN_EVENTS * 2];
	size_t n;
	int overflow;
};

static void collect(struct sl_event *ev, uint32_t len, void *ctx)
{
	struct collected *c = ctx;

	if (c->n == RUN_EVENTS * 2) {
		c->overflow = 1;
		sl_event_unref(ev);
		return;
	}
	c->ev[c->n] = ev;
	c->len[c->n++] = len;
	sl_event_unref(ev);
}

static void run_events(struct sl_enc_arena *a, struct sl_event **evs, size_t n)
{
	char text[32];
	size_t k;

	for (k = 0; k < n; k++) {
		snprintf(text, sizeof(text), "run event %04zu;", k);
		evs[k] = sl_event_new("t", 1, text, strlen(text), k + 1, k + 1, 1000 + k);
		evs[k]->arena = a;
		sl_event_encoding(evs[k], SL_ENC_NATIVE);
	}
}

/*
 * Flushes q into a socket pair until it is empty (or the peer stops
 * reading after stop_after bytes), the peer reading step bytes a round;
 * hands everything back into c. Returns the bytes the peer read into got.
 */
static size_t run_flush(struct sl_outq *q, size_t sndbuf, size_t step, size_t budget,
			struct collected *c, char *got, size_t cap, uint64_t *events,
			unsigned *shorts, size_t *largest)
{
	struct sl_outq_sink sink = { 0 };
	int sv[2], short_write, rounds = 0;
	size_t got_len = 0, k, before;
	ssize_t r, w;

	if (writer_pair(sv, (int)sndbuf))
		return 0;
	*events = 0;
	*shorts = 0;
	*largest = 0;
	while (q->count && rounds++ < 100000) {
		before = q->bytes;
		w = sl_outq_flush_upto(q, sv[0], budget, &short_write, events, &sink);
		sl_outq_settle(q, before);
		*shorts += short_write;
		if (w > 0 && (size_t)w > *largest)
			*largest = (size_t)w;
		for (k = 0; k < sink.count; k++)
			sl_outq_sent_each(&sink.items[k], collect, c);
		sink.count = 0;
		while (got_len < cap &&
		       (r = read(sv[1], got + got_len,
				 step < cap - got_len ? step : cap - got_len)) > 0) {
			got_len += (size_t)r;
			if (step < cap)
				break;
		}
	}
	while (got_len < cap && (r = read(sv[1], got + got_len, cap - got_len)) > 0)
		got_len += (size_t)r;
	close(sv[0]);
	close(sv[1]);
	sl_outq_sink_fini(&sink);
	return got_len;
}

/* The stream of events[from..to) with one gap (skip) and a '|' after event bar. */
static size_t run_want(struct sl_event **evs, size_t to, size_t skip, size_t bar, char *want)
{
	size_t k, n = 0;

	for (k = 0; k < to; k++) {
		const struct sl_bytes *b = &evs[k]->enc[SL_ENC_NATIVE];

		if (k == skip)
			continue;
		memcpy(want + n, b->data, b->len);
		n += b->len;
		if (k == bar)
			want[n++] = '|';
	}
	return n;
}

struct run_result {
	int exact; /* the stream, the hand-back in order and the references as they should be */
	unsigned shorts;
	size_t largest;
};

/*
 * Queues events 0..RUN_EVENTS-1 but 150 again and flushes them all
 * (run_flush with these settings).
 */
static void run_again(struct sl_outq *q, struct sl_event **evs, size_t sndbuf, size_t step,
		      size_t budget, struct run_result *r)
{
	static char got[RUN_EVENTS * 64], want[sizeof(got)];
	static struct collected c;
	size_t k, want_len, got_len, in_order = 0, refs_ok = 0;
	uint64_t events;

	for (k = 0; k < RUN_EVENTS; k++)
		if (k != 150)
			sl_outq_push_event(q, evs[k], &evs[k]->enc[SL_ENC_NATIVE]);
	want_len = run_want(evs, RUN_EVENTS, 150, RUN_EVENTS, want);
	c.n = 0;
	got_len = run_flush(q, sndbuf, step, budget, &c, got, sizeof(got), &events, &r->shorts,
			    &r->largest);
	for (k = 0; k < c.n; k++)
		in_order += c.ev[k] == evs[k < 150 ? k : k + 1];
	for (k = 0; k < RUN_EVENTS; k++)
		refs_ok += evs[k]->refs == 1;
	r->exact = got_len == want_len && !memcmp(got, want, want_len) && events == 299 &&
		   c.n == 299 && in_order == 299 && refs_ok == RUN_EVENTS && q->count == 0;
}

static void test_runs(void)
{
	static struct sl_event *evs[RUN_EVENTS];
	static char got[RUN_EVENTS * 64], want[sizeof(got)];
	static struct collected c;
	struct sl_enc_arena a = { 0 };
	struct sl_outq q;
	size_t k, want_len, got_len, in_order, refs_ok, largest;
	uint64_t events, total = 0;
	struct run_result r;
	unsigned shorts;

	run_events(&a, evs, RUN_EVENTS);
	sl_outq_init(&q);
	q.total = &total;
	/* A gap (event 150 skipped) and private bytes after event 200 end runs. */
	for (k = 0; k < RUN_EVENTS; k++) {
		if (k != 150)
			sl_outq_push_event(&q, evs[k], &evs[k]->enc[SL_ENC_NATIVE]);
		if (k == 200)
			sl_outq_push_copy(&q, "|", 1);
	}
	TAP_OK(q.count >= 4 && q.count <= 10 && evs[0]->refs == 2 && evs[150]->refs == 1,
	       "runs: 299 events in %u items (the gap and the copy end runs), a reference each",
	       q.count);
	want_len = run_want(evs, RUN_EVENTS, 150, 200, want);
	c.n = 0;
	got_len = run_flush(&q, 0, sizeof(got), SIZE_MAX, &c, got, sizeof(got), &events, &shorts,
			    &largest);
	for (k = 0, in_order = 0; k < c.n; k++)
		in_order += c.ev[k] == evs[k < 150 ? k : k + 1] &&
			    c.len[k] == evs[k < 150 ? k : k + 1]->enc[SL_ENC_NATIVE].len;
	TAP_OK(got_len == want_len && !memcmp(got, want, want_len) && events == 299 && c.n == 299 &&
		   in_order == 299 && !c.overflow,
	       "runs: the peer reads the exact stream (no byte of the skipped event), 299 events "
	       "handed back once each, in order, with their lengths");
	for (k = 0, refs_ok = 0; k < RUN_EVENTS; k++)
		refs_ok += evs[k]->refs == 1;
	TAP_OK(refs_ok == RUN_EVENTS && total == 0 && q.count == 0,
	       "runs: every queue reference released by the hand-back, the total settled");

	/* The same through a small socket buffer read 999 bytes a round: writes end inside runs. */
	run_again(&q, evs, 4096, 999, SIZE_MAX, &r);
	TAP_OK(r.exact && r.shorts > 3,
	       "runs: %u short writes inside runs: exact stream, each event handed back once as "
	       "its last byte went, references released",
	       r.shorts);

	/*
	 * A budget of 100 bytes a flush (the gateway's after POLLOUT) into a
	 * socket with room: every flush stops at the budget, inside events and
	 * runs, never short, and the stream and hand-back are the same.
	 */
	run_again(&q, evs, 0, RUN_EVENTS * 64, 100, &r);
	TAP_OK(r.exact && r.shorts == 0 && r.largest == 100 && total == 0,
	       "runs: flushes of at most 100 bytes (largest %zu) end inside runs without a short "
	       "write; exact stream, each event handed back once, in order",
	       r.largest);

	/* An eviction's drop keeps the event under way whole and nothing after it. */
	for (k = 0; k < RUN_EVENTS; k++)
		sl_outq_push_event(&q, evs[k], &evs[k]->enc[SL_ENC_NATIVE]);
	{
		struct sl_outq_sink sink = { 0 };
		int sv[2], short_write, sndbuf = 4096;
		size_t before, sent_bytes = 0, kept_to;
		ssize_t w;

		if (writer_pair(sv, sndbuf) == 0) {
			before = q.bytes;
			w = sl_outq_flush(&q, sv[0], &short_write, &events, &sink);
			sl_outq_settle(&q, before);
			c.n = 0;
			for (k = 0; k < sink.count; k++)
				sl_outq_sent_each(&sink.items[k], collect, &c);
			sl_outq_drop_unsent(&q, false);
			/* Whole events written, then the one under way up to its end. */
			for (k = 0; k < c.n; k++)
				sent_bytes += c.len[k];
			kept_to = sent_bytes + evs[c.n]->enc[SL_ENC_NATIVE].len;
			/* A write that ended on an event's end leaves nothing under way. */
			if (sent_bytes == (size_t)w)
				kept_to = sent_bytes;
			TAP_OK(w > 0 && short_write && q.count == (kept_to > (size_t)w) &&
				   q.bytes == kept_to - (size_t)w &&
				   evs[c.n]->refs == 1 + (kept_to > (size_t)w) &&
				   evs[c.n + 1]->refs == 1 && evs[RUN_EVENTS - 1]->refs == 1,
			       "runs: a drop after %zd bytes keeps event %zu to its end (%zu bytes "
			       "left), releases the %zu after it",
			       w, c.n, q.bytes, RUN_EVENTS - c.n - 1);
			close(sv[0]);
			close(sv[1]);
		}
		sl_outq_fini(&q);
		sl_outq_sink_fini(&sink);
	}
	for (k = 0, refs_ok = 0; k < RUN_EVENTS; k++)
		refs_ok += evs[k]->refs == 1;
	TAP_OK(refs_ok == RUN_EVENTS && total == 0, "runs: fini releases the kept run");
	sl_enc_arena_fini(&a);
	for (k = 0; k < RUN_EVENTS; k++)
		sl_event_unref(evs[k]);
}

/* 64 queues written by a pool of 2 threads and the caller, each into its own socket pair. */
#define PAR_QUEUES 64
#define PAR_EVENTS 200

struct par_job {
	struct sl_outq q;
	int sv[2];
	ssize_t written;
	uint64_t events;
	int short_write;
	unsigned worker;
	size_t from, to;
};

struct par_ctx {
	struct par_job *jobs;
	struct sl_outq_sink sinks[3];
};

static void par_flush(void *arg, size_t index, unsigned worker)
{
	struct par_ctx *c = arg;
	struct par_job *j = &c->jobs[index];

	j->worker = worker;
	j->from = c->sinks[worker].count;
	j->written = sl_outq_flush(&j->q, j->sv[0], &j->short_write, &j->events, &c->sinks[worker]);
	j->to = c->sinks[worker].count;
}

static void test_flush_parallel(void)
{
	static struct par_job jobs[PAR_QUEUES];
	struct par_ctx c = { jobs, { { 0 } } };
	struct sl_event *evs[PAR_EVENTS];
	struct sl_bytes bs[PAR_EVENTS];
	struct sl_workpool *p = sl_workpool_new(2);
	char text[32];
	uint64_t total = 0;
	size_t i, k, handed = 0, exact = 0, in_order = 0;

	if (!p) {
		TAP_OK(0, "a pool of 2 threads starts");
		return;
	}
	for (k = 0; k < PAR_EVENTS; k++) {
		snprintf(text, sizeof(text), "event %04zu;", k);
		evs[k] = event_of(text, &bs[k]);
	}
	for (i = 0; i < PAR_QUEUES; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, jobs[i].sv))
			break;
		sl_outq_init(&jobs[i].q);
		jobs[i].q.total = &total;
		for (k = 0; k < PAR_EVENTS; k++)
			sl_outq_push_event(&jobs[i].q, evs[k], &bs[k]);
	}
	TAP_OK(i == PAR_QUEUES && evs[0]->refs == 1 + PAR_QUEUES,
	       "64 queues of 200 events, each event referenced by every queue");
	sl_workpool_run(p, PAR_QUEUES, 4, par_flush, &c);
	for (i = 0; i < PAR_QUEUES; i++) {
		struct par_job *j = &jobs[i];
		size_t before = (size_t)PAR_EVENTS * bs[0].len;
		char got[PAR_EVENTS * 16], want[PAR_EVENTS * 16];
		size_t wl = 0, ok = 1;

		exact += j->written == (ssize_t)before && !j->short_write &&
			 j->events == PAR_EVENTS && j->to - j->from == PAR_EVENTS;
		for (k = 0; k < j->to - j->from && k < PAR_EVENTS; k++)
			ok &= c.sinks[j->worker].items[j->from + k].ev == evs[k];
		in_order += ok;
		sl_outq_settle(&j->q, before);
		for (k = 0; k < PAR_EVENTS; k++) {
			memcpy(want + wl, bs[k].data, bs[k].len);
			wl += bs[k].len;
		}
		close(j->sv[0]);
		if (read_all(j->sv[1], got, sizeof(got)) != (ssize_t)wl || memcmp(got, want, wl))
			in_order = 0;
		close(j->sv[1]);
		sl_outq_fini(&j->q);
	}
	TAP_OK(exact == PAR_QUEUES, "every queue written whole, 200 events each (%zu of 64)",
	       exact);
	TAP_OK(in_order == PAR_QUEUES,
	       "every peer read its bytes in order; each sink range holds its events in order");
	TAP_OK(total == 0, "settled: the shared total is 0");
	for (i = 0; i < 3; i++) {
		for (k = 0; k < c.sinks[i].count; k++)
			sl_event_unref(c.sinks[i].items[k].ev);
		handed += c.sinks[i].count;
		sl_outq_sink_fini(&c.sinks[i]);
	}
	TAP_OK(handed == PAR_QUEUES * PAR_EVENTS && evs[0]->refs == 1 &&
		   evs[PAR_EVENTS - 1]->refs == 1,
	       "12,800 deliveries handed back over the 3 sinks; settling leaves one reference");
	for (k = 0; k < PAR_EVENTS; k++)
		sl_event_unref(evs[k]);
	sl_workpool_free(p);
}

/* Runs written by 2 threads and the caller at once: the threads read the shared blocks' entries. */
static void test_runs_parallel(void)
{
	static struct par_job jobs[PAR_QUEUES];
	static struct sl_event *evs[RUN_EVENTS];
	static struct collected got;
	struct par_ctx c = { jobs, { { 0 } } };
	struct sl_enc_arena a = { 0 };
	struct sl_workpool *p = sl_workpool_new(2);
	size_t i, k, bytes = 0, exact = 0, refs_ok = 0, workers_used = 0;
	unsigned used[3] = { 0 };
	uint64_t total = 0;

	if (!p) {
		TAP_OK(0, "a pool of 2 threads starts");
		return;
	}
	run_events(&a, evs, RUN_EVENTS);
	for (k = 0; k < RUN_EVENTS; k++)
		bytes += evs[k]->enc[SL_ENC_NATIVE].len;
	for (i = 0; i < PAR_QUEUES; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, jobs[i].sv))
			break;
		sl_outq_init(&jobs[i].q);
		jobs[i].q.total = &total;
		for (k = 0; k < RUN_EVENTS; k++)
			sl_outq_push_event(&jobs[i].q, evs[k], &evs[k]->enc[SL_ENC_NATIVE]);
	}
	sl_workpool_run(p, PAR_QUEUES, 4, par_flush, &c);
	for (i = 0; i < PAR_QUEUES; i++) {
		struct par_job *j = &jobs[i];
		int ok = j->written == (ssize_t)bytes && j->events == RUN_EVENTS;

		got.n = 0;
		for (k = j->from; k < j->to; k++)
			sl_outq_sent_each(&c.sinks[j->worker].items[k], collect, &got);
		for (k = 0; k < got.n; k++)
			ok &= got.ev[k] == evs[k] && got.len[k] == evs[k]->enc[SL_ENC_NATIVE].len;
		exact += ok && got.n == RUN_EVENTS;
		used[j->worker < 3 ? j->worker : 0]++;
		sl_outq_settle(&j->q, bytes);
		close(j->sv[0]);
		close(j->sv[1]);
		sl_outq_fini(&j->q);
	}
	for (i = 0; i < 3; i++) {
		workers_used += used[i] > 0;
		sl_outq_sink_fini(&c.sinks[i]);
	}
	for (k = 0; k < RUN_EVENTS; k++)
		refs_ok += evs[k]->refs == 1;
	TAP_OK(exact == PAR_QUEUES && refs_ok == RUN_EVENTS && total == 0,
	       "runs on %zu workers at once: every queue's 300 events handed back once, in order, "
	       "with their lengths; references and total settled (%zu of 64 exact)",
	       workers_used, exact);
	sl_enc_arena_fini(&a);
	for (k = 0; k < RUN_EVENTS; k++)
		sl_event_unref(evs[k]);
	sl_workpool_free(p);
}

int main(void)
{
	test_pool_bad_sizes();
	test_pool_ranges();
	test_pool_many_runs();
	test_pool_threads_work();
	test_flush_hands_back();
	test_push_too_big();
	test_drop_keeps_head();
	test_flush_short();
	test_replies_packed();
	test_replies_packed_edges();
	test_flush_corked();
	test_flush_adjacent();
	test_runs();
	test_flush_parallel();
	test_runs_parallel();
	return tap_done();
}
