// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bench/args.h"
#include "bench/conn.h"
#include "bench/fanout.h"
#include "bench/out.h"
#include "bench/sandbox.h"

/* Bounds on what one run may ask for; every loop below is bounded by these. */
#define MAX_SUBS 200000
#define MAX_THREADS 64
#define MAX_PUBLISHERS 64
#define MAX_TOPICS 100000
#define MAX_PIDS 16
/* Connections each worker has in their handshake at once (accept backlog). */
#define CONNECT_BURST 128
/* A publisher stops queueing above this many unsent bytes (TCP backpressure). */
#define PUB_QUEUE_BYTES (256 * 1024)
/* Events queued per publisher per wake-up at most, so timers still run. */
#define PUB_BATCH 4096
#define FLUSH_TIMEOUT_NS (10ull * 1000000000ull)
#define NS 1000000000ull
/* Bytes a subscriber reads per read(2) once subscribed. */
#define SUB_READ_BYTES 65536

static const char usage_text[] =
    "Usage: sluice-bench " SL_BENCH_FANOUT_GRAMMAR "\n"
    "\n"
    "  --system S        the server under test; its subscribers speak its WebSocket protocol\n"
    "  --port P          its subscriber (WebSocket) port on --host (127.0.0.1)\n"
    "  --pub-port P      its publisher port (sluice native, nats TCP, MQTT TCP, nginx HTTP)\n"
    "  --token KEY       sluice publisher hello token (API key or JWT)\n"
    "  --subs N          measured WebSocket subscribers (default 100)\n"
    "  --sse N           measured SSE subscribers, sluice only (default 0)\n"
    "  --slow N          extra subscribers on topic 0 that stop reading once subscribed\n"
    "  --topics T        subscriber i takes topic i mod T (default 1)\n"
    "  --rate R          events/s over all topics, 0 = flat out (fanout 0, latency 1000)\n"
    "  --duration SEC    publishing time, or holding time for idle (default 10)\n"
    "  --payload BYTES   payload size, 34 to 65000 (default 256)\n"
    "  --threads K       subscriber worker threads (default 1)\n"
    "  --publishers P    publisher connections, each owning topics p, p+P, ... (default 1)\n"
    "  --pipeline N      nchan: HTTP requests in flight per publisher (default 64)\n"
    "  --server-pid LIST server processes whose CPU and RSS are read from /proc\n"
    "  --connect-timeout SEC  to connect and subscribe everyone (default 60)\n"
    "  --drain SEC       longest wait for deliveries after publishing (default 10)\n"
    "  --json            one JSON document on stdout; progress on stderr\n"
    "  --quiet           no progress\n"
    "\n"
    "Payload: 'T' + 16 hex digits of the CLOCK_MONOTONIC send time, 'S' + 16 hex digits\n"
    "of the per-topic sequence, '.' padding. Loss = expected - unique deliveries, where\n"
    "expected = sum over topics of published x subscribers ready before publishing.\n"
    "Exit status: 0 ran, 1 could not run (nobody subscribed, publisher refused), 2 usage,\n"
    "130 interrupted (SIGINT/SIGTERM; the partial result is still printed).\n";

struct options {
	const char *mode;
	const char *system;
	const char *host;
	const char *token;
	unsigned sub_port, pub_port;
	unsigned subs, sse, slow, topics, rate, duration_s, payload, threads, publishers;
	unsigned pipeline, connect_timeout_s, drain_s;
	int pids[MAX_PIDS];
	unsigned npids;
	bool publish, json, quiet;
};

struct run;

struct worker {
	pthread_t thread;
	bool started;
	struct run *run;
	struct event_base *base;
	struct event *tick;
	struct sl_bench_sub *subs;
	size_t nsubs, next;
	unsigned pending;
	struct sl_bench_counters counters;
};

struct publisher {
	pthread_t thread;
	bool started;
	struct run *run;
	struct event_base *base;
	struct event *tick;
	struct sl_bench_pub pubs[MAX_PUBLISHERS];
	uint32_t next_topic[MAX_PUBLISHERS];
	uint64_t *seq; /* per topic: the last sequence published */
	uint8_t *payload;
	uint64_t published;
	uint64_t start_ns, deadline_ns, stopped_ns, flush_deadline_ns;
	double cpu_start_s, cpu_end_s; /* this thread's CPU time while publishing */
	int phase;		       /* PUB_PHASE_* ; written by the publisher, read by main */
	char error[200];
};

enum {
	PUB_PHASE_CONNECTING,
	PUB_PHASE_RUNNING,
	PUB_PHASE_FLUSHING,
	PUB_PHASE_DONE
};

struct run {
	struct options o;
	const struct sl_bench_proto *proto;
	struct sl_bench_target target;
	struct sockaddr_in sub_addr, pub_addr;
	struct worker workers[MAX_THREADS];
	struct publisher pub;
	int stop;	/* workers and publisher leave their loops */
	int publishing; /* subscriptions confirmed from now on are late */
};

static uint64_t load64(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static int load_int(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void store_int(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

/* ---- subscribers (worker threads) ---- */

static void connect_more(struct worker *w);

static void sub_close(struct sl_bench_sub *s)
{
	struct worker *w = s->owner;

	if (s->state == SL_BENCH_SUB_CLOSED)
		return;
	if (s->state == SL_BENCH_SUB_READY) {
		if (s->flags & SL_BENCH_SUB_SLOW)
			w->counters.slow_closed++;
		else
			w->counters.closed++;
	} else {
		w->counters.failed++;
		__atomic_store_n(&w->counters.failed, w->counters.failed, __ATOMIC_RELAXED);
		w->pending--;
	}
	s->state = SL_BENCH_SUB_CLOSED;
	if (s->raw_rd)
		event_free(s->raw_rd);
	s->raw_rd = NULL;
	if (s->bev)
		bufferevent_free(s->bev);
	s->bev = NULL;
	if (s->stream)
		evbuffer_free(s->stream);
	s->stream = NULL;
	connect_more(w);
}

/*
 * A slow subscriber reads nothing, so it cannot see a close queued behind
 * its backlog. At the end it reads what is there for up to wait_ms: the
 * server gave up on it when the stream ends (EOF or reset) meanwhile. Any
 * protocol: a server that evicted it has stopped sending and closed.
 */
static bool closed_by_server(const struct sl_bench_sub *s, int wait_ms)
{
	static char sink[65536];
	struct pollfd pfd;
	uint64_t end = sl_bench_now_ns() + (uint64_t)wait_ms * 1000000ull, now;
	ssize_t n;

	if (!s->bev || s->state != SL_BENCH_SUB_READY)
		return false;
	pfd.fd = bufferevent_getfd(s->bev);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return false;
	/* Bounded: a server still streaming to it is not a close. */
	while ((now = sl_bench_now_ns()) < end) {
		n = recv(pfd.fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return true;
		if (n < 0 && poll(&pfd, 1, (int)((end - now) / 1000000) + 1) < 0)
			return false;
	}
	return false;
}

static void sub_read_cb(struct bufferevent *bev, void *arg)
{
	struct sl_bench_sub *s = arg;

	(void)bev;
	s->counters->read_ns = sl_bench_now_ns();
	if (s->target && s->owner && ((struct worker *)s->owner)->run->proto->sub_read(s) < 0)
		sub_close(s);
	s->counters->read_ns = 0;
}

/*
 * The stream once subscribed: one read(2) of up to SUB_READ_BYTES into the
 * bufferevent's input, where the protocol adapters parse it as before.
 * libevent's own reads ask FIONREAD first and take at most 4 KiB, an ioctl
 * and a readv per 14 events of 256 bytes: most of the client's syscalls, in
 * a client that shares the server's CPUs.
 */
static void sub_raw_read(evutil_socket_t fd, short what, void *arg)
{
	struct sl_bench_sub *s = arg;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec vec;
	ssize_t n;

	(void)what;
	/* A socket bufferevent freezes its input's end between its own reads. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, SUB_READ_BYTES, &vec, 1) < 1) {
		evbuffer_freeze(in, 0);
		sub_close(s);
		return;
	}
	n = read(fd, vec.iov_base, vec.iov_len);
	if (n > 0) {
		vec.iov_len = (size_t)n;
		evbuffer_commit_space(in, &vec, 1);
	}
	evbuffer_freeze(in, 0);
	if (n > 0)
		sub_read_cb(s->bev, s);
	else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		sub_close(s);
}

static void sub_on_ready(struct sl_bench_sub *s)
{
	struct worker *w = s->owner;

	w->pending--;
	if (load_int(&w->run->publishing))
		s->flags |= SL_BENCH_SUB_LATE;
	else if (!(s->flags & SL_BENCH_SUB_SLOW))
		s->flags |= SL_BENCH_SUB_MEASURED;
	bufferevent_disable(s->bev, EV_READ);
	/* Slow subscribers stop reading here; without memory for the event this one reads
	 * through the bufferevent as before. */
	if (!(s->flags & SL_BENCH_SUB_SLOW)) {
		s->raw_rd = event_new(w->base, bufferevent_getfd(s->bev), EV_READ | EV_PERSIST,
				      sub_raw_read, s);
		if (s->raw_rd && event_add(s->raw_rd, NULL)) {
			event_free(s->raw_rd);
			s->raw_rd = NULL;
		}
		if (!s->raw_rd)
			bufferevent_enable(s->bev, EV_READ);
	}
	connect_more(w);
}

static void sub_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sl_bench_sub *s = arg;
	struct worker *w = s->owner;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (w->run->proto->sub_open(s) < 0)
			sub_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		sub_close(s);
}

static void sub_connect(struct worker *w, struct sl_bench_sub *s)
{
	int fd, one = 1, small = 4096;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	w->pending++;
	if (fd < 0) {
		sub_close(s);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A slow consumer's small window makes the server's queue fill, not the kernel's. */
	if (s->flags & SL_BENCH_SUB_SLOW)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	s->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		close(fd);
		sub_close(s);
		return;
	}
	s->state = SL_BENCH_SUB_CONNECTING;
	bufferevent_setcb(s->bev, sub_read_cb, NULL, sub_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&w->run->sub_addr,
				       sizeof(w->run->sub_addr)))
		sub_close(s);
}

static void connect_more(struct worker *w)
{
	while (w->pending < CONNECT_BURST && w->next < w->nsubs && !load_int(&w->run->stop))
		sub_connect(w, &w->subs[w->next++]);
}

static void worker_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (load_int(&w->run->stop))
		event_base_loopbreak(w->base);
	else
		connect_more(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 0, 20000 };
	size_t i;

	connect_more(w);
	event_add(w->tick, &tv);
	event_base_dispatch(w->base);
	for (i = 0; i < w->nsubs; i++) {
		if ((w->subs[i].flags & SL_BENCH_SUB_SLOW) && closed_by_server(&w->subs[i], 300))
			w->counters.slow_closed++;
		if (w->subs[i].raw_rd)
			event_free(w->subs[i].raw_rd);
		w->subs[i].raw_rd = NULL;
		if (w->subs[i].bev)
			bufferevent_free(w->subs[i].bev);
		if (w->subs[i].stream)
			evbuffer_free(w->subs[i].stream);
		w->subs[i].bev = NULL;
		w->subs[i].stream = NULL;
	}
	return NULL;
}

/* ---- publisher thread ---- */

static double own_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pub_fail(struct publisher *P, struct sl_bench_pub *p, const char *why)
{
	if (!P->error[0])
		snprintf(P->error, sizeof(P->error), "publisher %u: %s", p->id,
			 p->error[0] ? p->error : why);
	p->state = SL_BENCH_PUB_FAILED;
	store_int(&P->phase, PUB_PHASE_DONE);
	event_base_loopbreak(P->base);
}

/* Queues what is due on every publisher; returns without blocking. */
static void pub_fill(struct publisher *P)
{
	struct run *r = P->run;
	uint64_t now, due, budget;
	unsigned i, n, blocked;
	struct sl_bench_pub *p;
	uint32_t t;

	if (load_int(&P->phase) != PUB_PHASE_RUNNING)
		return;
	now = sl_bench_now_ns();
	if (now >= P->deadline_ns) {
		P->stopped_ns = now;
		P->cpu_end_s = own_cpu_s();
		P->flush_deadline_ns = now + FLUSH_TIMEOUT_NS;
		store_int(&P->phase, PUB_PHASE_FLUSHING);
		return;
	}
	if (r->o.rate) {
		due = (uint64_t)((double)r->o.rate * (double)(now - P->start_ns) / 1e9) + 1;
		budget = due > P->published ? due - P->published : 0;
	} else {
		budget = (uint64_t)PUB_BATCH * r->o.publishers;
	}
	for (n = 0; budget;) {
		blocked = 0;
		for (i = 0; i < r->o.publishers && budget; i++) {
			p = &P->pubs[i];
			if (evbuffer_get_length(bufferevent_get_output(p->bev)) >=
			    PUB_QUEUE_BYTES) {
				blocked++;
				continue;
			}
			t = P->next_topic[i];
			sl_bench_payload_fill(P->payload, r->o.payload, sl_bench_now_ns(),
					      P->seq[t] + 1);
			if (r->proto->pub_write(p, t, P->payload, r->o.payload)) {
				blocked++;
				continue;
			}
			P->seq[t]++;
			P->next_topic[i] =
			    t + r->o.publishers < r->o.topics ? t + r->o.publishers : i;
			__atomic_store_n(&P->published, P->published + 1, __ATOMIC_RELAXED);
			budget--;
		}
		if (blocked == r->o.publishers || ++n > PUB_BATCH)
			break;
	}
}

static bool pub_flushed(struct publisher *P)
{
	unsigned i;

	for (i = 0; i < P->run->o.publishers; i++)
		if (evbuffer_get_length(bufferevent_get_output(P->pubs[i].bev)) ||
		    P->pubs[i].inflight)
			return false;
	return true;
}

static void pub_tick(evutil_socket_t fd, short what, void *arg)
{
	struct publisher *P = arg;
	uint64_t now = sl_bench_now_ns();
	int phase = load_int(&P->phase);

	(void)fd;
	(void)what;
	if (load_int(&P->run->stop)) {
		store_int(&P->phase, PUB_PHASE_DONE);
		event_base_loopbreak(P->base);
		return;
	}
	if (phase == PUB_PHASE_RUNNING) {
		pub_fill(P);
	} else if (phase == PUB_PHASE_FLUSHING) {
		if (pub_flushed(P) || now > P->flush_deadline_ns) {
			if (!pub_flushed(P))
				snprintf(P->error, sizeof(P->error),
					 "publisher could not flush within 10 s after publishing");
			store_int(&P->phase, PUB_PHASE_DONE);
			event_base_loopbreak(P->base);
		}
	}
}

static struct publisher *pub_owner(struct sl_bench_pub *p)
{
	return (struct publisher *)((char *)(p - p->id) - offsetof(struct publisher, pubs));
}

static void pub_read_any(struct bufferevent *bev, void *arg)
{
	struct sl_bench_pub *p = arg;
	struct publisher *P = pub_owner(p);
	unsigned i;
	bool all = true;

	(void)bev;
	if (P->run->proto->pub_read(p) < 0) {
		pub_fail(P, p, "protocol error");
		return;
	}
	if (load_int(&P->phase) == PUB_PHASE_CONNECTING) {
		for (i = 0; i < P->run->o.publishers; i++)
			all = all && P->pubs[i].state == SL_BENCH_PUB_READY;
		if (all) {
			P->start_ns = sl_bench_now_ns();
			P->cpu_start_s = own_cpu_s();
			P->deadline_ns = P->start_ns + (uint64_t)P->run->o.duration_s * NS;
			store_int(&P->phase, PUB_PHASE_RUNNING);
		}
	}
	pub_fill(P);
}

static void pub_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pub_fill(pub_owner(arg));
}

static void pub_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sl_bench_pub *p = arg;
	struct publisher *P = pub_owner(p);

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (P->run->proto->pub_open(p) < 0)
			pub_fail(P, p, "cannot send the hello");
		else
			pub_read_any(p->bev, p);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		pub_fail(P, p,
			 what & BEV_EVENT_EOF ? "the server closed the connection"
					      : "connection error (refused or reset)");
}

static void *publisher_main(void *arg)
{
	struct publisher *P = arg;
	struct run *r = P->run;
	struct timeval tv = { 0, 1000 };
	struct sl_bench_pub *p;
	unsigned i;
	int one = 1, fd;

	for (i = 0; i < r->o.publishers; i++) {
		p = &P->pubs[i];
		p->id = i;
		p->target = &r->target;
		p->max_inflight = r->o.pipeline;
		P->next_topic[i] = i;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(P->error, sizeof(P->error), "socket: %s", strerror(errno));
			goto out;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p->bev = bufferevent_socket_new(P->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!p->bev) {
			close(fd);
			snprintf(P->error, sizeof(P->error), "out of memory");
			goto out;
		}
		bufferevent_setcb(p->bev, pub_read_any, pub_write_cb, pub_event_cb, p);
		/* Refill before the queue runs dry, so the socket never idles flat out. */
		bufferevent_setwatermark(p->bev, EV_WRITE, PUB_QUEUE_BYTES / 4, 0);
		bufferevent_enable(p->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&r->pub_addr,
					       sizeof(r->pub_addr))) {
			snprintf(P->error, sizeof(P->error),
				 "connect to the publisher port failed");
			goto out;
		}
	}
	event_add(P->tick, &tv);
	event_base_dispatch(P->base);
out:
	store_int(&P->phase, PUB_PHASE_DONE);
	for (i = 0; i < r->o.publishers; i++)
		if (P->pubs[i].bev)
			bufferevent_free(P->pubs[i].bev);
	return NULL;
}

/* ---- /proc of the server ---- */

struct proc_sample {
	double cpu_s;	   /* utime + stime of all --server-pid processes */
	unsigned long rss; /* VmRSS, KiB, summed */
	bool ok;
};

static void proc_read(const struct options *o, struct proc_sample *out)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st, kib;
	unsigned i;
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (!o->npids)
		return;
	out->ok = true;
	for (i = 0; i < o->npids; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", o->pids[i]);
		f = fopen(path, "r");
		if (!f || !fgets(buf, sizeof(buf), f)) {
			out->ok = false;
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		/* proc(5): fields 14 and 15 after the parenthesised comm, which may hold spaces. */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				 &st) != 2) {
			out->ok = false;
			continue;
		}
		out->cpu_s += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		snprintf(path, sizeof(path), "/proc/%d/status", o->pids[i]);
		f = fopen(path, "r");
		if (!f) {
			out->ok = false;
			continue;
		}
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "VmRSS: %lu kB", &kib) == 1)
				out->rss += kib;
		fclose(f);
	}
}

static double process_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double thread_cpu_s(pthread_t t)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(t, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- options ---- */

static int parse_pids(const char *s, struct options *o)
{
	char buf[256], *tok, *save = NULL;
	unsigned v;

	snprintf(buf, sizeof(buf), "%s", s);
	o->npids = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->npids >= MAX_PIDS || sl_bench_parse_uint(tok, 1, 1u << 30, &v))
			return -EINVAL;
		o->pids[o->npids++] = (int)v;
	}
	return o->npids ? 0 : -EINVAL;
}

/* Returns 0 to run, 1 after printing help, -EINVAL after a usage message. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_SYSTEM = 256,
		OPT_HOST,
		OPT_PORT,
		OPT_PUB_PORT,
		OPT_TOKEN,
		OPT_SUBS,
		OPT_SSE,
		OPT_SLOW,
		OPT_TOPICS,
		OPT_RATE,
		OPT_DURATION,
		OPT_PAYLOAD,
		OPT_THREADS,
		OPT_PUBLISHERS,
		OPT_PIPELINE,
		OPT_SERVER_PID,
		OPT_CONNECT_TIMEOUT,
		OPT_DRAIN,
	};
	static const struct option longopts[] = {
		{ "system", required_argument, NULL, OPT_SYSTEM },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "pub-port", required_argument, NULL, OPT_PUB_PORT },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "subs", required_argument, NULL, OPT_SUBS },
		{ "sse", required_argument, NULL, OPT_SSE },
		{ "slow", required_argument, NULL, OPT_SLOW },
		{ "topics", required_argument, NULL, OPT_TOPICS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "payload", required_argument, NULL, OPT_PAYLOAD },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "publishers", required_argument, NULL, OPT_PUBLISHERS },
		{ "pipeline", required_argument, NULL, OPT_PIPELINE },
		{ "server-pid", required_argument, NULL, OPT_SERVER_PID },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "drain", required_argument, NULL, OPT_DRAIN },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bad = NULL;
	bool rate_set = false;
	int c;

	*o = (struct options){
		.mode = argv[0],
		.host = "127.0.0.1",
		.token = "",
		.subs = 100,
		.topics = 1,
		.duration_s = 10,
		.payload = 256,
		.threads = 1,
		.publishers = 1,
		.pipeline = 64,
		.connect_timeout_s = 60,
		.drain_s = 10,
		.publish = strcmp(argv[0], "idle") != 0,
	};
	optind = 1;
	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, "jqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			o->system = optarg;
			break;
		case OPT_HOST:
			o->host = optarg;
			break;
		case OPT_PORT:
			if (sl_bench_parse_uint(optarg, 1, 65535, &o->sub_port))
				bad = "--port takes 1 to 65535";
			break;
		case OPT_PUB_PORT:
			if (sl_bench_parse_uint(optarg, 1, 65535, &o->pub_port))
				bad = "--pub-port takes 1 to 65535";
			break;
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_SUBS:
			if (sl_bench_parse_uint(optarg, 0, MAX_SUBS, &o->subs))
				bad = "--subs takes 0 to 200000";
			break;
		case OPT_SSE:
			if (sl_bench_parse_uint(optarg, 0, MAX_SUBS, &o->sse))
				bad = "--sse takes 0 to 200000";
			break;
		case OPT_SLOW:
			if (sl_bench_parse_uint(optarg, 0, 10000, &o->slow))
				bad = "--slow takes 0 to 10000";
			break;
		case OPT_TOPICS:
			if (sl_bench_parse_uint(optarg, 1, MAX_TOPICS, &o->topics))
				bad = "--topics takes 1 to 100000";
			break;
		case OPT_RATE:
			if (sl_bench_parse_uint(optarg, 0, 100000000, &o->rate))
				bad = "--rate takes 0 (flat out) to 100000000 events/s";
			rate_set = true;
			break;
		case OPT_DURATION:
			if (sl_bench_parse_uint(optarg, 1, 3600, &o->duration_s))
				bad = "--duration takes 1 to 3600 seconds";
			break;
		case OPT_PAYLOAD:
			if (sl_bench_parse_uint(optarg, SL_BENCH_PAYLOAD_MIN, 65000, &o->payload))
				bad = "--payload takes 34 to 65000 bytes";
			break;
		case OPT_THREADS:
			if (sl_bench_parse_uint(optarg, 1, MAX_THREADS, &o->threads))
				bad = "--threads takes 1 to 64";
			break;
		case OPT_PUBLISHERS:
			if (sl_bench_parse_uint(optarg, 1, MAX_PUBLISHERS, &o->publishers))
				bad = "--publishers takes 1 to 64";
			break;
		case OPT_PIPELINE:
			if (sl_bench_parse_uint(optarg, 1, 100000, &o->pipeline))
				bad = "--pipeline takes 1 to 100000";
			break;
		case OPT_SERVER_PID:
			if (parse_pids(optarg, o))
				bad = "--server-pid takes up to 16 comma-separated process ids";
			break;
		case OPT_CONNECT_TIMEOUT:
			if (sl_bench_parse_uint(optarg, 1, 3600, &o->connect_timeout_s))
				bad = "--connect-timeout takes 1 to 3600 seconds";
			break;
		case OPT_DRAIN:
			if (sl_bench_parse_uint(optarg, 1, 600, &o->drain_s))
				bad = "--drain takes 1 to 600 seconds";
			break;
		case 'j':
			o->json = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			bad = "unknown option or missing value";
			break;
		}
	}
	if (!bad && optind < argc)
		bad = "unexpected argument";
	if (!bad && !o->system)
		bad = "--system is required";
	if (!bad && !sl_bench_proto_find(o->system))
		bad = "--system takes sluice, nchan, nats or mosquitto";
	if (!bad && !o->sub_port)
		bad = "--port (the subscriber port) is required";
	if (!bad && o->publish && !o->pub_port)
		bad = "--pub-port is required unless the mode is idle";
	if (!bad && o->sse && strcmp(o->system, "sluice"))
		bad = "--sse is for --system sluice only";
	if (!bad && o->subs + o->sse == 0)
		bad = "at least one subscriber (--subs or --sse) is needed";
	if (!bad && o->publishers > o->topics)
		bad = "--publishers may not exceed --topics (each topic has one publisher)";
	if (bad) {
		fprintf(stderr, "sluice-bench %s: %s (try `sluice-bench %s --help`)\n", o->mode,
			bad, o->mode);
		return -EINVAL;
	}
	if (!rate_set)
		o->rate = strcmp(o->mode, "latency") ? 0 : 1000;
	return 0;
}

/* Raises RLIMIT_NOFILE to what the connections need (root may raise the hard limit). */
static int raise_nofile(rlim_t need, char *err, size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		rl.rlim_max = need;
		rl.rlim_cur = need;
		if (!setrlimit(RLIMIT_NOFILE, &rl))
			return 0;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need) {
		snprintf(err, errlen,
			 "needs %lu open files but the hard limit is %lu: raise it (ulimit -Hn)",
			 (unsigned long)need, (unsigned long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

/* ---- results ---- */

struct result {
	uint64_t total_subs, ready, failed, closed, late, slow_closed;
	uint64_t published, expected, delivered, unique, duplicates, gaps, loss, bad, errors;
	double pub_s, deliver_s, published_per_s, delivered_per_s;
	double window_delivered_per_s; /* delivered while the publisher ran, per second */
	uint64_t tail;		       /* events after a subscriber's last one, never received */
	bool drain_timeout;	       /* deliveries were still arriving at the end of --drain */
	uint64_t p50, p90, p99, max;   /* ns */
	struct proc_sample srv_start, srv_ready, srv_end;
	unsigned long rss_max;
	double server_cpu_pct, client_cpu_pct, worker_cpu_max_pct, pub_cpu_pct;
	double rss_per_sub;
	char error[200];
	char first_error[160];
};

static void print_text(const struct run *r, const struct result *res)
{
	const struct options *o = &r->o;

	printf("sluice-bench %s --system %s: %u WS + %u SSE subscribers (+%u slow) on %u "
	       "topic(s), %u-byte payloads, %s\n",
	       o->mode, o->system, o->subs, o->sse, o->slow, o->topics, o->payload,
	       !o->publish ? "no publishing"
	       : o->rate   ? "rate-limited"
			   : "flat out");
	printf("  connections   ready %llu of %llu, failed %llu, closed by server %llu, slow ones "
	       "closed by server %llu of %u\n",
	       (unsigned long long)res->ready, (unsigned long long)res->total_subs,
	       (unsigned long long)res->failed, (unsigned long long)res->closed,
	       (unsigned long long)res->slow_closed, o->slow);
	if (o->publish) {
		printf("  published     %llu in %.2f s = %.0f/s%s\n",
		       (unsigned long long)res->published, res->pub_s, res->published_per_s,
		       o->rate ? "" : " (flat out)");
		printf("  delivered     %llu of %llu expected, %.0f/s over %.2f s (%.0f/s while "
		       "publishing)\n",
		       (unsigned long long)res->delivered, (unsigned long long)res->expected,
		       res->delivered_per_s, res->deliver_s, res->window_delivered_per_s);
		printf("  loss          %llu (%.3f%%): gaps %llu, tail %llu%s; duplicates %llu, "
		       "bad %llu, errors %llu\n",
		       (unsigned long long)res->loss,
		       res->expected ? 100.0 * (double)res->loss / (double)res->expected : 0.0,
		       (unsigned long long)res->gaps, (unsigned long long)res->tail,
		       res->drain_timeout ? " (still arriving when --drain ran out)" : "",
		       (unsigned long long)res->duplicates, (unsigned long long)res->bad,
		       (unsigned long long)res->errors);
		printf("  latency us    p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n",
		       (double)res->p50 / 1e3, (double)res->p90 / 1e3, (double)res->p99 / 1e3,
		       (double)res->max / 1e3);
	}
	if (o->npids) {
		printf("  server        CPU %.0f%%, RSS start %lu KiB, ready %lu KiB, max %lu KiB, "
		       "%.0f bytes per subscriber\n",
		       res->server_cpu_pct, res->srv_start.rss, res->srv_ready.rss, res->rss_max,
		       res->rss_per_sub);
	}
	printf(
	    "  client        CPU %.0f%% (busiest subscriber thread %.0f%%, publisher %.0f%%)%s\n",
	    res->client_cpu_pct, res->worker_cpu_max_pct, res->pub_cpu_pct,
	    res->worker_cpu_max_pct >= 90
		? ": CLIENT-BOUND, the subscriber threads were saturated; add --threads"
		: "");
	if (res->error[0])
		printf("  error         %s\n", res->error);
	if (res->first_error[0])
		printf("  first error   %s\n", res->first_error);
}

static void print_json(const struct run *r, const struct result *res)
{
	const struct options *o = &r->o;

	printf("{\"mode\": \"%s\", \"system\": \"%s\", \"subs\": %u, \"sse\": %u, \"slow\": %u, "
	       "\"topics\": %u, \"payload\": %u, \"rate\": %u, \"duration_s\": %u, "
	       "\"threads\": %u, \"publishers\": %u,\n",
	       o->mode, o->system, o->subs, o->sse, o->slow, o->topics, o->payload, o->rate,
	       o->duration_s, o->threads, o->publishers);
	printf(" \"connections\": {\"total\": %llu, \"ready\": %llu, \"failed\": %llu, "
	       "\"closed\": %llu, \"late\": %llu, \"slow_closed\": %llu},\n",
	       (unsigned long long)res->total_subs, (unsigned long long)res->ready,
	       (unsigned long long)res->failed, (unsigned long long)res->closed,
	       (unsigned long long)res->late, (unsigned long long)res->slow_closed);
	printf(" \"published\": %llu, \"publish_s\": %.3f, \"published_per_s\": %.1f, "
	       "\"expected\": %llu, \"delivered\": %llu, \"deliver_s\": %.3f, "
	       "\"delivered_per_s\": %.1f, \"window_delivered_per_s\": %.1f, \"loss\": %llu, "
	       "\"duplicates\": %llu, \"gaps\": %llu, \"tail\": %llu, \"drain_timeout\": %s, "
	       "\"bad\": %llu, \"errors\": %llu,\n",
	       (unsigned long long)res->published, res->pub_s, res->published_per_s,
	       (unsigned long long)res->expected, (unsigned long long)res->delivered,
	       res->deliver_s, res->delivered_per_s, res->window_delivered_per_s,
	       (unsigned long long)res->loss, (unsigned long long)res->duplicates,
	       (unsigned long long)res->gaps, (unsigned long long)res->tail,
	       res->drain_timeout ? "true" : "false", (unsigned long long)res->bad,
	       (unsigned long long)res->errors);
	printf(" \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f},\n",
	       (double)res->p50 / 1e3, (double)res->p90 / 1e3, (double)res->p99 / 1e3,
	       (double)res->max / 1e3);
	if (o->npids)
		printf(" \"server\": {\"cpu_pct\": %.1f, \"rss_start_kib\": %lu, "
		       "\"rss_ready_kib\": %lu, \"rss_end_kib\": %lu, \"rss_max_kib\": %lu, "
		       "\"rss_per_sub_bytes\": %.1f},\n",
		       res->server_cpu_pct, res->srv_start.rss, res->srv_ready.rss,
		       res->srv_end.rss, res->rss_max, res->rss_per_sub);
	printf(" \"client\": {\"cpu_pct\": %.1f, \"worker_cpu_max_pct\": %.1f, "
	       "\"publisher_cpu_pct\": %.1f, \"bound\": %s},\n",
	       res->client_cpu_pct, res->worker_cpu_max_pct, res->pub_cpu_pct,
	       res->worker_cpu_max_pct >= 90 ? "true" : "false");
	printf(" \"first_error\": ");
	sl_bench_json_string(stdout, res->first_error);
	printf(", \"error\": ");
	sl_bench_json_string(stdout, res->error);
	printf("}\n");
}

/* ---- the run ---- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void sum_counters(struct run *r, uint64_t *ready, uint64_t *failed, uint64_t *delivered)
{
	unsigned i;

	*ready = *failed = *delivered = 0;
	for (i = 0; i < r->o.threads; i++) {
		*ready += load64(&r->workers[i].counters.ready);
		*failed += load64(&r->workers[i].counters.failed);
		*delivered += load64(&r->workers[i].counters.delivered);
	}
}

static void sample_rss(const struct options *o, unsigned long *max)
{
	struct proc_sample s;

	proc_read(o, &s);
	if (s.rss > *max)
		*max = s.rss;
}

static int setup(struct run *r, struct sl_bench_sub **subs_out, size_t *nsubs_out, char *err,
		 size_t errlen)
{
	const struct options *o = &r->o;
	size_t nsubs = (size_t)o->subs + o->sse + o->slow, i, per, off = 0;
	struct sl_bench_sub *subs;
	struct worker *w;
	unsigned t;

	r->proto = sl_bench_proto_find(o->system);
	r->target = (struct sl_bench_target){
		.system = !strcmp(o->system, "sluice")	? SL_BENCH_SLUICE
			  : !strcmp(o->system, "nchan") ? SL_BENCH_NCHAN
			  : !strcmp(o->system, "nats")	? SL_BENCH_NATS
							: SL_BENCH_MQTT,
		.host = o->host,
		.sub_port = o->sub_port,
		.pub_port = o->pub_port,
		.token = o->token,
		.max_frame = 16u << 20,
	};
	r->sub_addr.sin_family = AF_INET;
	r->sub_addr.sin_port = htons((uint16_t)o->sub_port);
	if (inet_pton(AF_INET, o->host, &r->sub_addr.sin_addr) != 1) {
		snprintf(err, errlen, "--host %s is not an IPv4 address", o->host);
		return -EINVAL;
	}
	r->pub_addr = r->sub_addr;
	r->pub_addr.sin_port = htons((uint16_t)o->pub_port);
	subs = calloc(nsubs, sizeof(*subs));
	if (!subs)
		return -ENOMEM;
	for (i = 0; i < nsubs; i++) {
		subs[i].id = (uint32_t)i;
		subs[i].target = &r->target;
		subs[i].on_ready = sub_on_ready;
		if (i < o->subs + o->sse) {
			subs[i].topic = (uint32_t)(i % o->topics);
			if (i >= o->subs)
				subs[i].flags |= SL_BENCH_SUB_SSE;
		} else {
			subs[i].topic = 0;
			subs[i].flags |= SL_BENCH_SUB_SLOW;
		}
	}
	/*
	 * Contiguous slices, one per worker: the SSE and slow subscribers, made
	 * last, land on the last thread(s), which is enough for a load test.
	 */
	for (t = 0; t < o->threads; t++) {
		w = &r->workers[t];
		w->run = r;
		per = nsubs / o->threads + (t < nsubs % o->threads);
		w->subs = subs + off;
		w->nsubs = per;
		off += per;
		for (i = 0; i < per; i++)
			w->subs[i].owner = w;
		w->base = event_base_new();
		if (!w->base)
			return -ENOMEM;
		w->tick = event_new(w->base, -1, EV_PERSIST, worker_tick, w);
		if (!w->tick)
			return -ENOMEM;
	}
	for (i = 0; i < nsubs; i++)
		subs[i].counters = &((struct worker *)subs[i].owner)->counters;
	*subs_out = subs;
	*nsubs_out = nsubs;
	return 0;
}

int sl_bench_fanout_main(int argc, char **argv)
{
	struct run *r;
	struct result res;
	struct sl_bench_sub *subs = NULL;
	struct sl_bench_hist *hist = NULL;
	size_t nsubs = 0, i;
	uint64_t ready, failed, delivered, last_delivered, last_ns = 0, *topic_subs = NULL;
	uint64_t window_ns = 0, window_delivered = 0;
	uint64_t t0, win_start, win_end, quiet_since, drain_deadline, deadline;
	double cpu0 = 0, wcpu0[MAX_THREADS] = { 0 }, v;
	char err[200] = "";
	sigset_t old;
	unsigned t;
	int rc, status = 1;

	r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 1;
	}
	rc = parse_options(argc, argv, &r->o);
	if (rc) {
		free(r);
		return rc > 0 ? 0 : 2;
	}
	memset(&res, 0, sizeof(res));
	sl_bench_signals_install();
	rc = raise_nofile((rlim_t)r->o.subs + r->o.sse + r->o.slow + r->o.publishers + 256, err,
			  sizeof(err));
	if (rc)
		goto report_error;
	rc = setup(r, &subs, &nsubs, err, sizeof(err));
	if (rc) {
		if (!err[0])
			snprintf(err, sizeof(err), "setup failed: %s", strerror(-rc));
		goto report_error;
	}
	res.total_subs = (uint64_t)r->o.subs + r->o.sse;
	proc_read(&r->o, &res.srv_start);
	res.rss_max = res.srv_start.rss;
	if (r->o.npids && !res.srv_start.ok) {
		snprintf(err, sizeof(err), "cannot read /proc of --server-pid");
		goto report_error;
	}

	/* 1. Connect and subscribe everyone, CONNECT_BURST at a time per worker. */
	sl_bench_signals_block(&old);
	for (t = 0; t < r->o.threads; t++) {
		if (pthread_create(&r->workers[t].thread, NULL, worker_main, &r->workers[t]))
			break;
		r->workers[t].started = true;
	}
	sl_bench_signals_restore(&old);
	t0 = sl_bench_now_ns();
	deadline = t0 + (uint64_t)r->o.connect_timeout_s * NS;
	last_ns = t0;
	for (;;) {
		sum_counters(r, &ready, &failed, &delivered);
		if (ready + failed >= res.total_subs || sl_bench_stop ||
		    sl_bench_now_ns() > deadline)
			break;
		if (!r->o.quiet && sl_bench_now_ns() - last_ns > NS) {
			last_ns = sl_bench_now_ns();
			fprintf(stderr, "sluice-bench: %llu of %llu subscribed, %llu failed\n",
				(unsigned long long)ready, (unsigned long long)res.total_subs,
				(unsigned long long)failed);
		}
		sample_rss(&r->o, &res.rss_max);
		sleep_ms(20);
	}
	if (r->o.slow) /* the slow ones connect last; give them a moment to subscribe */
		sleep_ms(500);
	/* Let the server settle (nchan, mosquitto finish subscribing after their answer). */
	sleep_ms(300);
	proc_read(&r->o, &res.srv_ready);
	sum_counters(r, &ready, &failed, &delivered);
	if (!ready) {
		snprintf(err, sizeof(err), "no subscriber became ready (%llu failed)",
			 (unsigned long long)failed);
		goto stop;
	}
	if (!r->o.quiet)
		fprintf(stderr, "sluice-bench: %llu of %llu subscribed in %.2f s\n",
			(unsigned long long)ready, (unsigned long long)res.total_subs,
			(double)(sl_bench_now_ns() - t0) / 1e9);

	win_start = sl_bench_now_ns();
	cpu0 = process_cpu_s();
	for (t = 0; t < r->o.threads; t++)
		wcpu0[t] = thread_cpu_s(r->workers[t].thread);

	if (!r->o.publish) {
		/* idle: hold the connections, watching the server. */
		deadline = win_start + (uint64_t)r->o.duration_s * NS;
		while (!sl_bench_stop && sl_bench_now_ns() < deadline) {
			sample_rss(&r->o, &res.rss_max);
			sleep_ms(100);
		}
		win_end = sl_bench_now_ns();
		goto measure;
	}

	/* 2. Publish for --duration, then wait for the deliveries to stop. */
	store_int(&r->publishing, 1);
	r->pub.run = r;
	r->pub.payload = malloc(r->o.payload);
	r->pub.seq = calloc(r->o.topics, sizeof(uint64_t));
	r->pub.base = event_base_new();
	if (!r->pub.payload || !r->pub.seq || !r->pub.base ||
	    !(r->pub.tick = event_new(r->pub.base, -1, EV_PERSIST, pub_tick, &r->pub))) {
		snprintf(err, sizeof(err), "out of memory");
		goto stop;
	}
	sl_bench_signals_block(&old);
	if (!pthread_create(&r->pub.thread, NULL, publisher_main, &r->pub))
		r->pub.started = true;
	sl_bench_signals_restore(&old);
	if (!r->pub.started) {
		snprintf(err, sizeof(err), "cannot start the publisher thread");
		goto stop;
	}
	/* Publisher time is bounded by its own deadline plus the 10 s flush bound. */
	deadline = sl_bench_now_ns() + ((uint64_t)r->o.duration_s + 30) * NS;
	last_ns = sl_bench_now_ns();
	while (load_int(&r->pub.phase) != PUB_PHASE_DONE && !sl_bench_stop &&
	       sl_bench_now_ns() < deadline) {
		if (!window_ns && load_int(&r->pub.phase) >= PUB_PHASE_FLUSHING) {
			sum_counters(r, &ready, &failed, &window_delivered);
			window_ns = sl_bench_now_ns();
		}
		sample_rss(&r->o, &res.rss_max);
		if (!r->o.quiet && sl_bench_now_ns() - last_ns > NS) {
			last_ns = sl_bench_now_ns();
			sum_counters(r, &ready, &failed, &delivered);
			fprintf(stderr, "sluice-bench: published %llu, delivered %llu\n",
				(unsigned long long)load64(&r->pub.published),
				(unsigned long long)delivered);
		}
		sleep_ms(50);
	}
	/* Drain: until everything expected arrived or nothing arrived for 1 s. */
	drain_deadline = sl_bench_now_ns() + (uint64_t)r->o.drain_s * NS;
	sum_counters(r, &ready, &failed, &last_delivered);
	quiet_since = sl_bench_now_ns();
	while (!sl_bench_stop && sl_bench_now_ns() < drain_deadline) {
		sleep_ms(50);
		sample_rss(&r->o, &res.rss_max);
		sum_counters(r, &ready, &failed, &delivered);
		if (r->o.topics == 1 && delivered >= load64(&r->pub.published) * ready)
			break;
		if (delivered != last_delivered) {
			last_delivered = delivered;
			quiet_since = sl_bench_now_ns();
		} else if (sl_bench_now_ns() - quiet_since > NS) {
			break;
		}
	}
	win_end = sl_bench_now_ns();
	if (!window_ns) {
		window_ns = win_end;
		window_delivered = delivered;
	}
	res.drain_timeout = win_end >= drain_deadline;

measure:
	proc_read(&r->o, &res.srv_end);
	res.client_cpu_pct = (process_cpu_s() - cpu0) / ((double)(win_end - win_start) / 1e9) * 100;
	for (t = 0; t < r->o.threads; t++) {
		v = (thread_cpu_s(r->workers[t].thread) - wcpu0[t]) /
		    ((double)(win_end - win_start) / 1e9) * 100;
		if (v > res.worker_cpu_max_pct)
			res.worker_cpu_max_pct = v;
	}
	if (r->o.npids && res.srv_end.ok)
		res.server_cpu_pct = (res.srv_end.cpu_s - res.srv_ready.cpu_s) /
				     ((double)(win_end - win_start) / 1e9) * 100;
	status = 0;

stop:
	store_int(&r->stop, 1);
	if (r->pub.started)
		pthread_join(r->pub.thread, NULL);
	for (t = 0; t < r->o.threads; t++)
		if (r->workers[t].started)
			pthread_join(r->workers[t].thread, NULL);

	/* 3. Merge: expected deliveries are per topic, published x ready subscribers. */
	hist = calloc(1, sizeof(*hist));
	topic_subs = calloc(r->o.topics, sizeof(uint64_t));
	if (!hist || !topic_subs) {
		snprintf(err, sizeof(err), "out of memory");
		status = 1;
		goto report_error;
	}
	for (i = 0; i < nsubs; i++) {
		if (subs[i].flags & (SL_BENCH_SUB_SLOW | SL_BENCH_SUB_LATE))
			continue;
		if (subs[i].flags & SL_BENCH_SUB_MEASURED)
			topic_subs[subs[i].topic]++;
	}
	last_ns = 0;
	for (t = 0; t < r->o.threads; t++) {
		struct sl_bench_counters *c = &r->workers[t].counters;

		res.ready += c->ready;
		res.failed += c->failed;
		res.closed += c->closed;
		res.slow_closed += c->slow_closed;
		res.delivered += c->delivered;
		res.duplicates += c->duplicates;
		res.gaps += c->gaps;
		res.bad += c->bad;
		res.errors += c->errors;
		if (c->last_ns > last_ns)
			last_ns = c->last_ns;
		if (!res.first_error[0] && c->first_error[0])
			snprintf(res.first_error, sizeof(res.first_error), "%s", c->first_error);
		sl_bench_hist_merge(hist, &c->hist);
	}
	for (i = 0; i < nsubs; i++)
		res.late += !!(subs[i].flags & SL_BENCH_SUB_LATE);
	if (r->pub.seq) {
		res.published = r->pub.published;
		for (t = 0; t < r->o.topics; t++)
			res.expected += r->pub.seq[t] * topic_subs[t];
		if (r->pub.start_ns) {
			res.pub_s =
			    (double)((r->pub.stopped_ns ? r->pub.stopped_ns : sl_bench_now_ns()) -
				     r->pub.start_ns) /
			    1e9;
			res.published_per_s = res.pub_s > 0 ? (double)res.published / res.pub_s : 0;
			if (res.pub_s > 0 && r->pub.cpu_end_s > 0)
				res.pub_cpu_pct =
				    (r->pub.cpu_end_s - r->pub.cpu_start_s) / res.pub_s * 100;
			if (window_ns > r->pub.start_ns)
				res.window_delivered_per_s = (double)window_delivered * 1e9 /
							     (double)(window_ns - r->pub.start_ns);
			if (last_ns > r->pub.start_ns) {
				res.deliver_s = (double)(last_ns - r->pub.start_ns) / 1e9;
				res.delivered_per_s = (double)res.delivered / res.deliver_s;
			}
		}
		if (r->pub.error[0] && !err[0])
			snprintf(err, sizeof(err), "%s", r->pub.error);
		for (t = 0; t < r->o.publishers && !res.first_error[0]; t++)
			if (r->pub.pubs[t].error[0])
				snprintf(res.first_error, sizeof(res.first_error), "%s",
					 r->pub.pubs[t].error);
		for (t = 0; t < r->o.publishers; t++)
			res.errors += r->pub.pubs[t].errors;
		if (!res.published && !err[0])
			snprintf(err, sizeof(err), "nothing was published");
		if (!res.published)
			status = 1;
	}
	for (i = 0; r->pub.seq && i < nsubs; i++)
		if (subs[i].flags & SL_BENCH_SUB_MEASURED)
			res.tail += r->pub.seq[subs[i].topic] - subs[i].last_seq;
	res.unique = res.delivered - res.duplicates;
	res.loss = res.expected > res.unique ? res.expected - res.unique : 0;
	res.p50 = sl_bench_hist_quantile(hist, 0.50);
	res.p90 = sl_bench_hist_quantile(hist, 0.90);
	res.p99 = sl_bench_hist_quantile(hist, 0.99);
	res.max = hist->max;
	if (res.ready && res.srv_ready.rss >= res.srv_start.rss)
		res.rss_per_sub = (double)(res.srv_ready.rss - res.srv_start.rss) * 1024.0 /
				  (double)(res.ready + r->o.slow);
	if (sl_bench_stop && !err[0])
		snprintf(err, sizeof(err), "interrupted");
	/* 128 + SIGINT, as a shell reports it: a calling script stops too. */
	if (sl_bench_stop)
		status = 130;
	snprintf(res.error, sizeof(res.error), "%s", err);
	if (r->o.json)
		print_json(r, &res);
	else
		print_text(r, &res);
	goto out;

report_error:
	if (r->o.json) {
		printf("{\"error\": ");
		sl_bench_json_string(stdout, err[0] ? err : "failed");
		printf("}\n");
	} else {
		fprintf(stderr, "sluice-bench %s: %s\n", r->o.mode, err[0] ? err : "failed");
	}
	status = 1;
	store_int(&r->stop, 1);
	for (t = 0; t < r->o.threads; t++)
		if (r->workers[t].started)
			pthread_join(r->workers[t].thread, NULL);
out:
	for (t = 0; t < MAX_THREADS; t++) {
		if (r->workers[t].tick)
			event_free(r->workers[t].tick);
		if (r->workers[t].base)
			event_base_free(r->workers[t].base);
	}
	if (r->pub.tick)
		event_free(r->pub.tick);
	if (r->pub.base)
		event_base_free(r->pub.base);
	free(r->pub.payload);
	free(r->pub.seq);
	free(topic_subs);
	free(hist);
	free(subs);
	free(r);
	return status;
}
