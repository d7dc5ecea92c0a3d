// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluice-bench kernel: the cost of the kernel meter on the send path.
 *
 * Method (KERNEL-NOTES §5): the process makes its own cgroup and pin root,
 * loads the meter there, and plays the gateway on loopback TCP with
 * TCP_NODELAY: a sender thread pinned to one CPU writes 100-byte frames on
 * an accepted socket, a reader thread pinned to another CPU drains the
 * client end. `off` accepts on a port the meter was not told about (the
 * socket is never put in the sockhash, so no sk_msg runs); `on` accepts on a
 * registered port and configures the socket's framing, so the sk_msg program
 * parses every frame. Rounds of the four (shape, config) pairs are
 * interleaved, each on a fresh connection, so that drift on a noisy machine
 * spreads over all of them; each is reported as median [min..max].
 *
 * Every `on` round is also a correctness check: before the socket closes the
 * meter's per-socket event count must equal the frames sent.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#include "bench/args.h"
#include "bench/floor.h"
#include "bench/kernel.h"
#include "bench/out.h"
#include "bench/progstat.h"
#include "bench/sandbox.h"
#include "bench/stats.h"
#include "kern/kern.h"

#define FRAME_BYTES 100
#define BATCH_FRAMES 16 /* frames per writev in the writev16 shape */
#define MAX_ROUNDS 100
#define MAX_CALLS 100000000u
#define READ_BUF_BYTES (256 * 1024)
/* A send or recv blocked this long means the other side is stuck: fail, don't hang. */
#define SOCK_TIMEOUT_S 10
#define ACCEPT_TIMEOUT_MS 5000
/* Reading the clock every 256 calls costs nothing next to ~1 µs syscalls. */
#define DEADLINE_CHECK_MASK 255u
/* A short write is retried this often before the round is given up. */
#define SHORT_WRITE_RETRIES 64
/* The target: metering costs at most 10% of the send path at 16 frames per writev. */
#define TARGET_RATIO 1.10

enum shape {
	SHAPE_SEND = 0,
	SHAPE_WRITEV16 = 1,
	SHAPE__MAX = 2,
};

enum config {
	CONFIG_OFF = 0,
	CONFIG_ON = 1,
	CONFIG__MAX = 2,
};

static const char *const shape_names[SHAPE__MAX] = { "send", "writev16" };
static const char *const config_names[CONFIG__MAX] = { "off", "on" };
static const unsigned shape_frames[SHAPE__MAX] = { 1, BATCH_FRAMES };

static const char usage_text[] =
    "Usage: sluice-bench " SL_BENCH_KERNEL_GRAMMAR "\n"
    "\n"
    "Measures what the kernel meter costs on the send path: 100-byte frames over\n"
    "loopback TCP (TCP_NODELAY), sender and reader pinned to their own CPUs, from a\n"
    "socket the meter ignores (off) and one whose every frame it parses (on).\n"
    "Needs root: it makes a cgroup and a BPF pin root named sluice-bench-<pid> and\n"
    "removes both at exit.\n"
    "\n"
    "  --rounds N          interleaved rounds per (shape, config), each on a fresh\n"
    "                      connection (default 7, at most 100)\n"
    "  --send-calls N      send() calls of one frame per round (default 200000)\n"
    "  --writev-calls N    writev() calls of 16 frames per round (default 20000)\n"
    "  --shape S           send, writev16 or both (default both)\n"
    "  --framing F         len4 (4-byte length + msgpack, default), ws (WebSocket), or\n"
    "                      raw (the program counts bytes only)\n"
    "  --floor             `on` is a no-op sk_msg program instead of the meter: what\n"
    "                      the kernel's sk_msg send path costs before any program work\n"
    "  --plan P[,P...]     `on` sockets carry plan limits set too high to bite (the\n"
    "                      count check proves they did not): time (a connection time\n"
    "                      limit), rate (a byte rate), quota (an application event\n"
    "                      quota), cap (a connection event cap); none is the default\n"
    "  --sender-cpu N      CPU of the sending thread (default 0)\n"
    "  --reader-cpu N      CPU of the draining thread (default 1)\n"
    "  --round-timeout S   cut a round short after S seconds (default 30)\n"
    "  --no-warmup         skip the short unrecorded round per (shape, config)\n"
    "  --bpf-stats         then turn kernel.bpf_stats_enabled on for one more `on`\n"
    "                      round per shape and report the sk_msg program's own cost\n"
    "  -j, --json          print one JSON document on stdout\n"
    "  -q, --quiet         no per-round progress on stderr\n"
    "\n"
    "Exit status: 0 done and the meter counted every frame, 1 error, interruption\n"
    "or a meter count mismatch, 2 usage error.\n";

struct options {
	unsigned rounds;
	unsigned calls[SHAPE__MAX];
	bool shape_on[SHAPE__MAX];
	enum sl_framing framing;
	int cpu_sender;
	int cpu_reader;
	unsigned round_timeout_s;
	bool warmup;
	bool bpf_stats;
	bool floor;
	unsigned plan; /* PLAN_* bits */
	bool json;
	bool quiet;
};

/* Plan limits of --plan: what they cost the meter when they never bite. */
enum {
	PLAN_TIME = 1 << 0,
	PLAN_RATE = 1 << 1,
	PLAN_QUOTA = 1 << 2,
	PLAN_CAP = 1 << 3,
};
static const char *const plan_names[] = { "time", "rate", "quota", "cap" };
#define PLAN_NAMES (sizeof(plan_names) / sizeof(plan_names[0]))
#define PLAN_APP_SLOT 1
/* Far above what a round sends (at most 100 M calls of 16 frames of 100 B). */
#define PLAN_EVENTS (1ull << 40)
#define PLAN_RATE_BPS (1ull << 30) /* with a bucket as deep */
#define PLAN_TIME_NS (24 * 3600 * 1000000000ull)

/* The --plan bits as the option spells them. */
static const char *plan_text(unsigned plan, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < PLAN_NAMES; i++)
		if (plan & (1u << i))
			used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
						 used ? "," : "", plan_names[i]);
	return used ? buf : "none";
}

/* One (shape, config) over the recorded rounds. */
struct series {
	double ns_call[MAX_ROUNDS];
	double ns_frame[MAX_ROUNDS];
	double cpu_frame[MAX_ROUNDS];
	size_t n;
	unsigned truncated;  /* rounds cut short by --round-timeout */
	unsigned checked;    /* rounds whose meter check passed */
	unsigned mismatches; /* rounds whose meter check failed */
	__u64 frames;	     /* frames sent in the recorded rounds */
	__u64 events;	     /* events the meter counted in them (on) */
};

/* The sk_msg program's own cost in one extra `on` round (--bpf-stats). */
struct prog_cost {
	bool valid;
	__u64 calls;
	__u64 frames;
	__u64 runs;
	__u64 run_ns;
};

struct bench {
	struct options o;
	struct sl_kern *k;
	struct sl_bench_floor floor;
	int listen_fd[CONFIG__MAX];
	__u16 port[CONFIG__MAX];
	uint8_t frames[BATCH_FRAMES * FRAME_BYTES];
	struct iovec iov[BATCH_FRAMES];
	uint8_t *read_buf;
	struct series series[SHAPE__MAX][CONFIG__MAX];
	struct prog_cost prog[SHAPE__MAX];
	char prog_note[160]; /* why --bpf-stats gave nothing */
	unsigned mismatches;
	char kernel[65];
	char cpu[128];
	long ncpus;
};

struct sender {
	struct bench *b;
	int fd;
	bool metered;
	enum shape shape;
	unsigned calls;
	__u64 deadline_ns;
	/* results */
	unsigned done;
	__u64 bytes;
	__u64 wall_ns;
	__u64 cpu_ns;
	unsigned short_writes;
	bool truncated;
	int err;
};

struct reader {
	int fd;
	uint8_t *buf;
	__u64 bytes;
	int err;
};

/* What one round did, for the caller to record. */
struct round {
	unsigned calls;
	__u64 frames;
	__u64 wall_ns;
	__u64 cpu_ns;
	bool truncated;
	bool check_ok;
	__u64 events;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/*
 * The calling thread's CPU time: the scheduler's sum_exec_runtime, the same
 * account getrusage(RUSAGE_THREAD) reads, but getrusage leaves out what the
 * running thread used since its last tick or switch (up to a tick, 4 ms at
 * HZ=250): a 0.2 s round would be off by 2%. The clock adds that delta in.
 */
static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/*
 * 16 frames of 100 bytes each. Payloads start with the msgpack `ev` marker
 * (fixmap, "op", "ev": bpf/frame.h), so that the meter counts every frame as
 * an event and the event count can be checked against the frames sent.
 */
static void build_frames(struct bench *b)
{
	static const uint8_t ev[] = { 0x84, 0xa2, 'o', 'p', 0xa2, 'e', 'v' };
	size_t i, j, hl, plen;
	uint8_t *f;

	for (i = 0; i < BATCH_FRAMES; i++) {
		f = b->frames + i * FRAME_BYTES;
		if (b->o.framing == SL_FRAMING_WS) {
			/* RFC 6455 §5.2: FIN + binary, server frames are unmasked, 7-bit length */
			hl = 2;
			plen = FRAME_BYTES - hl;
			f[0] = 0x82;
			f[1] = (uint8_t)plen;
		} else {
			hl = 4;
			plen = FRAME_BYTES - hl;
			f[0] = 0;
			f[1] = 0;
			f[2] = (uint8_t)(plen >> 8);
			f[3] = (uint8_t)plen;
		}
		memcpy(f + hl, ev, sizeof(ev));
		for (j = hl + sizeof(ev); j < FRAME_BYTES; j++)
			f[j] = (uint8_t)('a' + (i * 7 + j) % 26);
		b->iov[i].iov_base = f;
		b->iov[i].iov_len = FRAME_BYTES;
	}
}

/*
 * Completes a call the kernel took only part of. On a blocking socket that
 * happens only when SO_SNDTIMEO expired with part of the data queued, i.e. the
 * reader stalled. A metered socket is resynced before the rest is written, as
 * kern.h requires, so that the retried bytes are metered from their offset.
 */
static int finish_call(struct sender *s, const struct iovec *iov, int iovcnt, size_t total,
		       ssize_t n)
{
	struct iovec rest[BATCH_FRAMES];
	size_t done, skip;
	int i, cnt, tries, ret;

	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	done = (size_t)n;
	s->short_writes++;
	for (tries = 0; done < total && tries < SHORT_WRITE_RETRIES; tries++) {
		if (s->metered) {
			ret = sl_kern_sock_resync(s->b->k, s->fd);
			if (ret)
				return ret;
		}
		cnt = 0;
		skip = done;
		for (i = 0; i < iovcnt; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			rest[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
			rest[cnt].iov_len = iov[i].iov_len - skip;
			skip = 0;
			cnt++;
		}
		n = writev(s->fd, rest, cnt);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		done += (size_t)n;
	}
	return done == total ? 0 : -ETIMEDOUT;
}

/* The timed loop. Signals are blocked in this thread, so no call returns EINTR. */
static void *sender_main(void *arg)
{
	struct sender *s = arg;
	const struct bench *b = s->b;
	const size_t per_call = shape_frames[s->shape] * FRAME_BYTES;
	struct iovec one;
	__u64 t0, t1, c0, c1;
	unsigned i;
	ssize_t n;
	int ret = 0;

	c0 = thread_cpu_ns();
	t0 = now_ns();
	for (i = 0; i < s->calls; i++) {
		if (sl_bench_stop) {
			ret = -EINTR;
			break;
		}
		if ((i & DEADLINE_CHECK_MASK) == DEADLINE_CHECK_MASK && now_ns() > s->deadline_ns) {
			s->truncated = true;
			break;
		}
		if (s->shape == SHAPE_SEND) {
			one.iov_base = (void *)(b->frames + (i % BATCH_FRAMES) * FRAME_BYTES);
			one.iov_len = FRAME_BYTES;
			n = send(s->fd, one.iov_base, FRAME_BYTES, MSG_NOSIGNAL);
			if (n != FRAME_BYTES)
				ret = finish_call(s, &one, 1, FRAME_BYTES, n);
		} else {
			n = writev(s->fd, b->iov, BATCH_FRAMES);
			if (n != (ssize_t)per_call)
				ret = finish_call(s, b->iov, BATCH_FRAMES, per_call, n);
		}
		if (ret)
			break;
	}
	t1 = now_ns();
	c1 = thread_cpu_ns();
	s->err = ret;
	s->done = i;
	s->bytes = (__u64)i * per_call;
	s->wall_ns = t1 - t0;
	s->cpu_ns = c1 - c0;
	return NULL;
}

/* Drains until the sender shuts down; bounded by what was sent and by SO_RCVTIMEO. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	ssize_t n;

	for (;;) {
		n = recv(r->fd, r->buf, READ_BUF_BYTES, 0);
		if (n > 0) {
			r->bytes += (__u64)n;
			continue;
		}
		if (n < 0)
			r->err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		break;
	}
	return NULL;
}

static int start_pinned(pthread_t *thread, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	cpu_set_t set;
	sigset_t old;
	int ret;

	ret = -pthread_attr_init(&attr);
	if (ret)
		return ret;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ret = -pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (ret)
		goto cleanup;
	ret = sl_bench_signals_block(&old);
	if (ret)
		goto cleanup;
	ret = -pthread_create(thread, &attr, fn, arg);
	sl_bench_signals_restore(&old);
cleanup:
	pthread_attr_destroy(&attr);
	return ret;
}

static int listen_loopback(int *fd_out, __u16 *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd, ret = 0;

	/* Nonblocking, so that accept can be bounded by poll. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*fd_out = fd;
	*port = ntohs(a.sin_port);
	return 0;
}

static int set_timeout(int fd, int opt)
{
	struct timeval tv = { .tv_sec = SOCK_TIMEOUT_S };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

/* A fresh connection: *cfd is the client (reader) end, *sfd the accepted (sender) end. */
static int connect_pair(struct bench *b, enum config config, int *cfd, int *sfd)
{
	/* --floor: the meter must not see `on` either; the no-op program gets it instead. */
	enum config via = b->o.floor ? CONFIG_OFF : config;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(b->port[via]) };
	struct pollfd p = { .fd = b->listen_fd[via], .events = POLLIN };
	int one = 1, ret;

	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cfd < 0)
		return -errno;
	if (connect(*cfd, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	ret = poll(&p, 1, ACCEPT_TIMEOUT_MS);
	if (ret <= 0)
		return ret ? -errno : -ETIMEDOUT;
	*sfd = accept4(b->listen_fd[via], NULL, NULL, SOCK_CLOEXEC);
	if (*sfd < 0)
		return -errno;
	if (setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return -errno;
	ret = set_timeout(*sfd, SO_SNDTIMEO);
	if (!ret)
		ret = set_timeout(*cfd, SO_RCVTIMEO);
	return ret;
}

/*
 * Makes sure the socket is what the configuration claims: `off` must not be
 * metered at all, `on` must be metered and is then told its framing. Either
 * failing would make the comparison meaningless, so both are fatal.
 */
static int prepare_socket(struct bench *b, enum config config, int sfd, char *err, size_t errlen)
{
	struct sl_sock_config cfg = {
		.framing = b->o.framing,
		.app_slot = b->o.plan & PLAN_QUOTA ? PLAN_APP_SLOT : 0,
		.event_cap = b->o.plan & PLAN_CAP ? PLAN_EVENTS : 0,
		.max_conn_time_ns = b->o.plan & PLAN_TIME ? PLAN_TIME_NS : 0,
		.rate_bps = b->o.plan & PLAN_RATE ? PLAN_RATE_BPS : 0,
	};
	struct sl_sock st;
	int ret;

	ret = sl_kern_sock_get(b->k, sfd, &st);
	if (config == CONFIG_OFF || b->o.floor) {
		if (ret == -ENOENT && config == CONFIG_ON) {
			ret = sl_bench_floor_add(&b->floor, sfd);
			if (ret)
				snprintf(err, errlen, "floor: cannot add the socket: %s",
					 strerror(-ret));
			return ret;
		}
		if (ret == -ENOENT)
			return 0;
		snprintf(err, errlen,
			 "MISMATCH: a socket on the unregistered port is metered (sock_get: %s); "
			 "the `off` numbers would include the meter",
			 ret ? strerror(-ret) : "found");
		return -EIO;
	}
	if (ret) {
		snprintf(err, errlen,
			 "MISMATCH: the socket on the registered port %u is not metered (%s); is "
			 "another sock_ops program attached to the cgroup?",
			 b->port[config], strerror(-ret));
		return -EIO;
	}
	ret = sl_kern_sock_configure(b->k, sfd, &cfg);
	if (ret)
		snprintf(err, errlen, "cannot configure the metered socket: %s", strerror(-ret));
	return ret;
}

/* The `on` check: every frame sent was counted once as an event, and nothing else. */
static bool check_meter(struct bench *b, int sfd, const struct sender *s, struct round *res,
			const char *what)
{
	__u64 frames = (__u64)s->done * shape_frames[s->shape];
	struct sl_sock st;
	int ret;

	ret = sl_kern_sock_get(b->k, sfd, &st);
	if (ret) {
		fprintf(stderr, "sluice-bench: MISMATCH %s: cannot read the meter's counters: %s\n",
			what, strerror(-ret));
		return false;
	}
	res->events = st.events;
	/* raw: the program runs but parses nothing, so only bytes can be checked. */
	if ((b->o.framing == SL_FRAMING_RAW ? st.events == 0 : st.events == frames) &&
	    st.bytes == s->bytes && !st.replies && !st.drops && !(st.flags & SL_SOCK_F_DESYNC))
		return true;
	fprintf(stderr,
		"sluice-bench: MISMATCH %s: meter counted events=%llu replies=%llu drops=%llu "
		"bytes=%llu flags=%#x; sent frames=%llu bytes=%llu\n",
		what, (unsigned long long)st.events, (unsigned long long)st.replies,
		(unsigned long long)st.drops, (unsigned long long)st.bytes, st.flags,
		(unsigned long long)frames, (unsigned long long)s->bytes);
	return false;
}

/*
 * One round on a fresh connection. Returns 0 or -errno with err filled; a
 * meter count mismatch is not an error but res->check_ok == false.
 */
static int run_round(struct bench *b, enum shape shape, enum config config, unsigned calls,
		     const char *what, struct round *res, char *err, size_t errlen)
{
	struct sender s = { .b = b,
			    .metered = config == CONFIG_ON,
			    .shape = shape,
			    .calls = calls,
			    .deadline_ns = now_ns() + b->o.round_timeout_s * 1000000000ull };
	struct reader r = { .buf = b->read_buf };
	bool have_reader = false, have_sender = false;
	pthread_t reader_thread, sender_thread;
	int cfd = -1, sfd = -1, ret;

	memset(res, 0, sizeof(*res));
	ret = connect_pair(b, config, &cfd, &sfd);
	if (ret) {
		snprintf(err, errlen, "cannot open a loopback connection: %s", strerror(-ret));
		goto cleanup;
	}
	ret = prepare_socket(b, config, sfd, err, errlen);
	if (ret)
		goto cleanup;
	s.fd = sfd;
	r.fd = cfd;
	ret = start_pinned(&reader_thread, b->o.cpu_reader, reader_main, &r);
	if (ret) {
		snprintf(err, errlen, "cannot start the reader on CPU%d: %s", b->o.cpu_reader,
			 strerror(-ret));
		goto cleanup;
	}
	have_reader = true;
	ret = start_pinned(&sender_thread, b->o.cpu_sender, sender_main, &s);
	if (ret) {
		snprintf(err, errlen, "cannot start the sender on CPU%d: %s", b->o.cpu_sender,
			 strerror(-ret));
		goto cleanup;
	}
	have_sender = true;
	pthread_join(sender_thread, NULL);
	have_sender = false;
	if (s.err) {
		ret = s.err;
		if (ret == -EINTR)
			snprintf(err, errlen, "interrupted");
		else if (ret == -ETIMEDOUT)
			snprintf(err, errlen,
				 "%s: a send blocked for %d s: the reader stopped reading", what,
				 SOCK_TIMEOUT_S);
		else
			snprintf(err, errlen, "%s: send failed: %s", what, strerror(-ret));
		goto cleanup;
	}
	if (!s.done) {
		ret = -ETIMEDOUT;
		snprintf(err, errlen, "%s: no call completed within --round-timeout", what);
		goto cleanup;
	}
	res->calls = s.done;
	res->frames = (__u64)s.done * shape_frames[shape];
	res->wall_ns = s.wall_ns;
	res->cpu_ns = s.cpu_ns;
	res->truncated = s.truncated;
	/* Read the counters before close: the socket's storage goes with it. */
	res->check_ok = config == CONFIG_OFF || b->o.floor || check_meter(b, sfd, &s, res, what);
	if (s.short_writes)
		fprintf(stderr, "sluice-bench: %s: %u short writes (completed after a resync)\n",
			what, s.short_writes);
cleanup:
	/* The reader stops at end of stream, so shut down before joining it. */
	if (sfd >= 0)
		shutdown(sfd, SHUT_WR);
	if (have_sender)
		pthread_join(sender_thread, NULL);
	if (have_reader) {
		pthread_join(reader_thread, NULL);
		if (!ret && r.err) {
			ret = r.err;
			snprintf(err, errlen, "%s: the reader failed: %s", what, strerror(-ret));
		} else if (!ret && r.bytes != s.bytes) {
			fprintf(
			    stderr,
			    "sluice-bench: MISMATCH %s: the reader got %llu bytes of %llu sent\n",
			    what, (unsigned long long)r.bytes, (unsigned long long)s.bytes);
			res->check_ok = false;
		}
	}
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

static void record(struct series *se, const struct round *res)
{
	size_t i = se->n++;

	se->ns_call[i] = (double)res->wall_ns / res->calls;
	se->ns_frame[i] = (double)res->wall_ns / (double)res->frames;
	se->cpu_frame[i] = (double)res->cpu_ns / (double)res->frames;
	se->truncated += res->truncated;
	se->frames += res->frames;
	se->events += res->events;
	if (res->check_ok)
		se->checked++;
	else
		se->mismatches++;
}

static void progress(const struct bench *b, const char *what, const struct round *res)
{
	if (b->o.quiet)
		return;
	fprintf(stderr, "%-24s %7.0f ns/call %6.0f ns/frame %6.0f CPU ns/frame%s%s\n", what,
		(double)res->wall_ns / res->calls, (double)res->wall_ns / (double)res->frames,
		(double)res->cpu_ns / (double)res->frames, res->truncated ? " (cut short)" : "",
		res->check_ok ? "" : " MISMATCH");
}

/*
 * The recorded rounds. Within a round, odd rounds run `on` before `off` so
 * that neither always follows the other (the second connection of a pair
 * starts with a warmer cache and a longer TIME_WAIT list).
 */
static int run_all(struct bench *b, char *err, size_t errlen)
{
	static const enum config orders[2][CONFIG__MAX] = { { CONFIG_OFF, CONFIG_ON },
							    { CONFIG_ON, CONFIG_OFF } };
	struct round res;
	char what[64];
	unsigned round, shape, i;
	enum config config;
	int ret;

	if (b->o.warmup) {
		for (shape = 0; shape < SHAPE__MAX; shape++) {
			if (!b->o.shape_on[shape])
				continue;
			for (i = 0; i < CONFIG__MAX; i++) {
				snprintf(what, sizeof(what), "warmup %s/%s", shape_names[shape],
					 config_names[i]);
				ret = run_round(b, shape, i, b->o.calls[shape] / 10 + 1, what, &res,
						err, errlen);
				if (ret)
					return ret;
				progress(b, what, &res);
				if (!res.check_ok)
					b->mismatches++;
			}
		}
	}
	for (round = 0; round < b->o.rounds; round++) {
		for (shape = 0; shape < SHAPE__MAX; shape++) {
			if (!b->o.shape_on[shape])
				continue;
			for (i = 0; i < CONFIG__MAX; i++) {
				if (sl_bench_stop) {
					snprintf(err, errlen, "interrupted");
					return -EINTR;
				}
				config = orders[round % 2][i];
				snprintf(what, sizeof(what), "round %u/%u %s/%s", round + 1,
					 b->o.rounds, shape_names[shape], config_names[config]);
				ret = run_round(b, shape, config, b->o.calls[shape], what, &res,
						err, errlen);
				if (ret)
					return ret;
				progress(b, what, &res);
				record(&b->series[shape][config], &res);
				if (!res.check_ok)
					b->mismatches++;
			}
		}
	}
	return 0;
}

/*
 * The program's own cost from the kernel's counters. bpf_stats_enabled adds
 * two clock reads per program run, so it is on only for these extra rounds,
 * never during the ones in the table; the old value is put back by the caller.
 */
static void measure_prog(struct bench *b, int *stats_restore)
{
	struct sl_bench_prog_stats before, after;
	struct round res;
	char what[64], err[256];
	unsigned shape;
	int old, ret;

	ret = sl_bench_bpf_stats_get(&old);
	if (!ret && !old) {
		ret = sl_bench_bpf_stats_set(1);
		if (!ret)
			*stats_restore = 0;
	}
	if (ret) {
		snprintf(b->prog_note, sizeof(b->prog_note),
			 "cannot turn on kernel.bpf_stats_enabled: %s", strerror(-ret));
		return;
	}
	for (shape = 0; shape < SHAPE__MAX; shape++) {
		if (!b->o.shape_on[shape] || sl_bench_stop)
			continue;
		snprintf(what, sizeof(what), "bpf-stats %s/on", shape_names[shape]);
		err[0] = '\0';
		ret = sl_bench_prog_stats_read(BPF_PROG_TYPE_SK_MSG, &before);
		if (!ret)
			ret = run_round(b, shape, CONFIG_ON, b->o.calls[shape], what, &res, err,
					sizeof(err));
		if (!ret)
			ret = sl_bench_prog_stats_read(BPF_PROG_TYPE_SK_MSG, &after);
		if (ret) {
			snprintf(b->prog_note, sizeof(b->prog_note), "%s: %s", what,
				 err[0] ? err : strerror(-ret));
			return;
		}
		progress(b, what, &res);
		if (!res.check_ok)
			b->mismatches++;
		b->prog[shape].valid = true;
		b->prog[shape].calls = res.calls;
		b->prog[shape].frames = res.frames;
		b->prog[shape].runs = after.run_cnt - before.run_cnt;
		b->prog[shape].run_ns = after.run_time_ns - before.run_time_ns;
	}
}

static void describe_machine(struct bench *b)
{
	char line[256], *v;
	struct utsname u;
	FILE *f;

	snprintf(b->kernel, sizeof(b->kernel), "unknown");
	snprintf(b->cpu, sizeof(b->cpu), "unknown");
	if (uname(&u) == 0)
		snprintf(b->kernel, sizeof(b->kernel), "%s", u.release);
	b->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) != 0 || !(v = strchr(line, ':')))
			continue;
		v += 1 + strspn(v + 1, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(b->cpu, sizeof(b->cpu), "%s", v);
		break;
	}
	fclose(f);
}

static bool summarize(const double *samples, size_t n, struct sl_bench_summary *s)
{
	return sl_bench_summarize(samples, n, s) == 0;
}

/* on/off of the median ns per frame, and the median of the per-round pairs. */
struct ratio {
	bool valid;
	double wall;
	double cpu;
	struct sl_bench_summary paired;
};

static struct ratio shape_ratio(const struct bench *b, enum shape shape)
{
	const struct series *off = &b->series[shape][CONFIG_OFF];
	const struct series *on = &b->series[shape][CONFIG_ON];
	struct sl_bench_summary s_off, s_on, c_off, c_on;
	double pairs[MAX_ROUNDS];
	struct ratio r = { 0 };
	size_t i;

	if (!summarize(off->ns_frame, off->n, &s_off) || !summarize(on->ns_frame, on->n, &s_on) ||
	    !summarize(off->cpu_frame, off->n, &c_off) || !summarize(on->cpu_frame, on->n, &c_on) ||
	    on->n != off->n)
		return r;
	/* Round i of `on` and `off` ran back to back: their ratio cancels slow drift. */
	for (i = 0; i < on->n; i++)
		pairs[i] = on->ns_frame[i] / off->ns_frame[i];
	if (!summarize(pairs, on->n, &r.paired))
		return r;
	r.wall = s_on.median / s_off.median;
	r.cpu = c_off.median > 0 ? c_on.median / c_off.median : 0;
	r.valid = true;
	return r;
}

static const char *check_text(const struct series *se, enum config config, bool floor, char *buf,
			      size_t len)
{
	if (se->mismatches)
		snprintf(buf, len, "MISMATCH in %u/%zu", se->mismatches, se->n);
	else if (config == CONFIG_OFF)
		snprintf(buf, len, "unmetered %u/%zu", se->checked, se->n);
	else if (floor)
		snprintf(buf, len, "no-op program %u/%zu", se->checked, se->n);
	else
		snprintf(buf, len, "events = frames %u/%zu", se->checked, se->n);
	return buf;
}

static void print_text(const struct bench *b)
{
	static const char *const headers[] = { "shape",	     "config",	  ">calls/round",
					       ">ns/call",   ">ns/frame", ">CPU ns/frame",
					       "meter check" };
	static const char *const ratio_headers[] = { "shape", ">on/off ns/frame",
						     ">per-round on/off", ">on/off CPU ns/frame" };
	static const char *const prog_headers[] = { "shape", ">runs/call", ">ns/run", ">ns/frame" };
	char plan[32];
	struct sl_bench_summary s;
	struct sl_bench_table t;
	const struct series *se;
	const struct prog_cost *p;
	unsigned shape, config;
	char buf[64];
	struct ratio r;
	int row;

	printf("sluice-bench kernel: kernel %s, CPU %s (%ld online), framing %s, plan %s\n",
	       b->kernel, b->cpu, b->ncpus, sl_framing_name(b->o.framing),
	       plan_text(b->o.plan, plan, sizeof(plan)));
	printf("%u-byte frames, loopback TCP, TCP_NODELAY, sender CPU%d, reader CPU%d; %u "
	       "interleaved rounds, fresh connection each;\n",
	       FRAME_BYTES, b->o.cpu_sender, b->o.cpu_reader, b->o.rounds);
	printf("median [min..max] over rounds; off = port not registered (no sk_msg), on = %s\n\n",
	       b->o.floor ? "a no-op sk_msg program (--floor: the sk_msg path's own cost)"
			  : "every frame parsed");

	sl_bench_table_init(&t, 7, headers);
	for (shape = 0; shape < SHAPE__MAX; shape++) {
		for (config = 0; config < CONFIG__MAX && b->o.shape_on[shape]; config++) {
			se = &b->series[shape][config];
			row = sl_bench_table_row(&t);
			sl_bench_table_set(&t, row, 0, "%s", shape_names[shape]);
			sl_bench_table_set(&t, row, 1, "%s", config_names[config]);
			sl_bench_table_set(&t, row, 2, "%u%s", b->o.calls[shape],
					   se->truncated ? "*" : "");
			if (summarize(se->ns_call, se->n, &s)) {
				sl_bench_summary_format(&s, buf, sizeof(buf));
				sl_bench_table_set(&t, row, 3, "%s", buf);
			}
			if (summarize(se->ns_frame, se->n, &s)) {
				sl_bench_summary_format(&s, buf, sizeof(buf));
				sl_bench_table_set(&t, row, 4, "%s", buf);
			}
			if (summarize(se->cpu_frame, se->n, &s)) {
				sl_bench_summary_format(&s, buf, sizeof(buf));
				sl_bench_table_set(&t, row, 5, "%s", buf);
			}
			sl_bench_table_set(&t, row, 6, "%s",
					   check_text(se, config, b->o.floor, buf, sizeof(buf)));
		}
	}
	sl_bench_table_print(&t, stdout);
	for (shape = 0; shape < SHAPE__MAX; shape++)
		for (config = 0; config < CONFIG__MAX; config++)
			if (b->series[shape][config].truncated)
				printf("* %u round(s) of %s/%s cut short by --round-timeout\n",
				       b->series[shape][config].truncated, shape_names[shape],
				       config_names[config]);

	printf("\n");
	sl_bench_table_init(&t, 4, ratio_headers);
	for (shape = 0; shape < SHAPE__MAX; shape++) {
		r = shape_ratio(b, shape);
		if (!r.valid)
			continue;
		row = sl_bench_table_row(&t);
		sl_bench_table_set(&t, row, 0, "%s", shape_names[shape]);
		sl_bench_table_set(&t, row, 1, "%.2f (%+.0f%%)", r.wall, (r.wall - 1) * 100);
		sl_bench_table_set(&t, row, 2, "%.2f [%.2f..%.2f]", r.paired.median, r.paired.min,
				   r.paired.max);
		sl_bench_table_set(&t, row, 3, "%.2f (%+.0f%%)", r.cpu, (r.cpu - 1) * 100);
	}
	sl_bench_table_print(&t, stdout);
	r = shape_ratio(b, SHAPE_WRITEV16);
	if (r.valid && b->o.floor)
		printf("floor: any sk_msg program costs %+.0f%% of the send path at %d frames per "
		       "writev before it does any work\n",
		       (r.wall - 1) * 100, BATCH_FRAMES);
	else if (r.valid)
		printf("target: metering costs at most %.0f%% of the send path at %d frames per "
		       "writev: writev16 on/off = %.2f: %s\n",
		       (TARGET_RATIO - 1) * 100, BATCH_FRAMES, r.wall,
		       r.wall <= TARGET_RATIO ? "met" : "NOT met");

	if (b->o.bpf_stats) {
		printf(
		    "\nsk_msg program alone (kernel.bpf_stats_enabled=1 for one extra `on` round "
		    "per shape, not in the tables above):\n");
		if (b->prog_note[0])
			printf("  unavailable: %s\n", b->prog_note);
		sl_bench_table_init(&t, 4, prog_headers);
		for (shape = 0; shape < SHAPE__MAX; shape++) {
			p = &b->prog[shape];
			if (!p->valid || !p->runs)
				continue;
			row = sl_bench_table_row(&t);
			sl_bench_table_set(&t, row, 0, "%s", shape_names[shape]);
			sl_bench_table_set(&t, row, 1, "%.2f", (double)p->runs / p->calls);
			sl_bench_table_set(&t, row, 2, "%.0f", (double)p->run_ns / p->runs);
			sl_bench_table_set(&t, row, 3, "%.0f", (double)p->run_ns / p->frames);
		}
		if (t.nrows > 1)
			sl_bench_table_print(&t, stdout);
	}

	if (b->mismatches)
		printf("\nMETER MISMATCH in %u round(s): the meter did not count every frame sent "
		       "(see stderr)\n",
		       b->mismatches);
	else if (!b->o.floor)
		printf("\nmeter check: every `on` round counted events = frames sent\n");
}

static void json_summary(const char *key, const double *samples, size_t n)
{
	struct sl_bench_summary s;

	if (!summarize(samples, n, &s)) {
		printf("\"%s\": null", key);
		return;
	}
	printf("\"%s\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}", key, s.median, s.min,
	       s.max);
}

/*
 * The JSON document. Every string in it is a fixed identifier except the
 * machine description and the note, which go through sl_bench_json_string.
 */
static void print_json(const struct bench *b)
{
	char plan[32];
	const struct series *se;
	const struct prog_cost *p;
	unsigned shape, config;
	bool first = true;
	struct ratio r;

	printf("{\"mode\": \"kernel\", \"kernel\": ");
	sl_bench_json_string(stdout, b->kernel);
	printf(", \"cpu\": ");
	sl_bench_json_string(stdout, b->cpu);
	printf(", \"online_cpus\": %ld, \"framing\": \"%s\", \"frame_bytes\": %d, "
	       "\"rounds\": %u, \"sender_cpu\": %d, \"reader_cpu\": %d, \"floor\": %s, "
	       "\"plan\": \"%s\", \"results\": [",
	       b->ncpus, sl_framing_name(b->o.framing), FRAME_BYTES, b->o.rounds, b->o.cpu_sender,
	       b->o.cpu_reader, b->o.floor ? "true" : "false",
	       plan_text(b->o.plan, plan, sizeof(plan)));
	for (shape = 0; shape < SHAPE__MAX; shape++) {
		for (config = 0; config < CONFIG__MAX && b->o.shape_on[shape]; config++) {
			se = &b->series[shape][config];
			printf("%s{\"shape\": \"%s\", \"config\": \"%s\", \"frames_per_call\": %u, "
			       "\"calls_per_round\": %u, \"rounds_done\": %zu, "
			       "\"rounds_cut_short\": %u, ",
			       first ? "" : ", ", shape_names[shape], config_names[config],
			       shape_frames[shape], b->o.calls[shape], se->n, se->truncated);
			json_summary("ns_per_call", se->ns_call, se->n);
			printf(", ");
			json_summary("ns_per_frame", se->ns_frame, se->n);
			printf(", ");
			json_summary("cpu_ns_per_frame", se->cpu_frame, se->n);
			printf(", \"frames\": %llu, \"meter_events\": ",
			       (unsigned long long)se->frames);
			if (config == CONFIG_ON)
				printf("%llu", (unsigned long long)se->events);
			else
				printf("null"); /* not metered: nothing to count */
			printf(", \"meter_check\": {\"ok\": %u, \"mismatch\": %u}}", se->checked,
			       se->mismatches);
			first = false;
		}
	}
	printf("], \"ratio_on_off\": {");
	first = true;
	for (shape = 0; shape < SHAPE__MAX; shape++) {
		r = shape_ratio(b, shape);
		if (!r.valid)
			continue;
		printf("%s\"%s\": {\"ns_per_frame\": %.3f, \"cpu_ns_per_frame\": %.3f, "
		       "\"per_round\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}}",
		       first ? "" : ", ", shape_names[shape], r.wall, r.cpu, r.paired.median,
		       r.paired.min, r.paired.max);
		first = false;
	}
	r = shape_ratio(b, SHAPE_WRITEV16);
	printf("}, \"target\": {\"shape\": \"writev16\", \"max_ratio\": %.2f, \"met\": %s}",
	       TARGET_RATIO, r.valid ? (r.wall <= TARGET_RATIO ? "true" : "false") : "null");
	if (b->o.bpf_stats) {
		printf(", \"bpf_stats\": {");
		first = true;
		for (shape = 0; shape < SHAPE__MAX; shape++) {
			p = &b->prog[shape];
			if (!p->valid || !p->runs)
				continue;
			printf("%s\"%s\": {\"calls\": %llu, \"frames\": %llu, \"runs\": %llu, "
			       "\"run_time_ns\": %llu}",
			       first ? "" : ", ", shape_names[shape], (unsigned long long)p->calls,
			       (unsigned long long)p->frames, (unsigned long long)p->runs,
			       (unsigned long long)p->run_ns);
			first = false;
		}
		if (b->prog_note[0]) {
			printf("%s\"unavailable\": ", first ? "" : ", ");
			sl_bench_json_string(stdout, b->prog_note);
		}
		printf("}");
	}
	printf(", \"mismatches\": %u, \"ok\": %s}\n", b->mismatches,
	       b->mismatches ? "false" : "true");
}

static int parse_plan(const char *arg, unsigned *out)
{
	const char *tok = arg, *end;
	unsigned i, plan = 0;
	size_t len;

	if (!strcmp(arg, "none")) {
		*out = 0;
		return 0;
	}
	for (;;) {
		end = strchr(tok, ',');
		len = end ? (size_t)(end - tok) : strlen(tok);
		for (i = 0; i < PLAN_NAMES; i++)
			if (len == strlen(plan_names[i]) && !strncmp(tok, plan_names[i], len))
				break;
		if (i == PLAN_NAMES)
			return -EINVAL; /* an unknown or empty name */
		plan |= 1u << i;
		if (!end)
			break;
		tok = end + 1;
	}
	*out = plan;
	return 0;
}

/* Returns 0 to run, 1 after printing help, -EINVAL after a usage message. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_ROUNDS = 256,
		OPT_SEND_CALLS,
		OPT_WRITEV_CALLS,
		OPT_SHAPE,
		OPT_FRAMING,
		OPT_SENDER_CPU,
		OPT_READER_CPU,
		OPT_ROUND_TIMEOUT,
		OPT_NO_WARMUP,
		OPT_BPF_STATS,
		OPT_FLOOR,
		OPT_PLAN
	};
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "send-calls", required_argument, NULL, OPT_SEND_CALLS },
		{ "writev-calls", required_argument, NULL, OPT_WRITEV_CALLS },
		{ "shape", required_argument, NULL, OPT_SHAPE },
		{ "framing", required_argument, NULL, OPT_FRAMING },
		{ "sender-cpu", required_argument, NULL, OPT_SENDER_CPU },
		{ "reader-cpu", required_argument, NULL, OPT_READER_CPU },
		{ "round-timeout", required_argument, NULL, OPT_ROUND_TIMEOUT },
		{ "no-warmup", no_argument, NULL, OPT_NO_WARMUP },
		{ "bpf-stats", no_argument, NULL, OPT_BPF_STATS },
		{ "floor", no_argument, NULL, OPT_FLOOR },
		{ "plan", required_argument, NULL, OPT_PLAN },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bad = NULL;
	unsigned v;
	int c;

	*o = (struct options){
		.rounds = 7,
		.calls = { 200000, 20000 },
		.shape_on = { true, true },
		.framing = SL_FRAMING_LEN4,
		.cpu_sender = 0,
		.cpu_reader = 1,
		.round_timeout_s = 30,
		.warmup = true,
	};
	optind = 1;
	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, "jqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROUNDS:
			if (sl_bench_parse_uint(optarg, 1, MAX_ROUNDS, &o->rounds))
				bad = "--rounds takes 1 to 100";
			break;
		case OPT_SEND_CALLS:
		case OPT_WRITEV_CALLS:
			if (sl_bench_parse_uint(optarg, 1, MAX_CALLS, &v))
				bad = "--send-calls and --writev-calls take 1 to 100000000";
			else
				o->calls[c == OPT_SEND_CALLS ? SHAPE_SEND : SHAPE_WRITEV16] = v;
			break;
		case OPT_SHAPE:
			o->shape_on[SHAPE_SEND] =
			    !strcmp(optarg, "send") || !strcmp(optarg, "both");
			o->shape_on[SHAPE_WRITEV16] =
			    !strcmp(optarg, "writev16") || !strcmp(optarg, "both");
			if (!o->shape_on[SHAPE_SEND] && !o->shape_on[SHAPE_WRITEV16])
				bad = "--shape takes send, writev16 or both";
			break;
		case OPT_FRAMING:
			if (!strcmp(optarg, "len4"))
				o->framing = SL_FRAMING_LEN4;
			else if (!strcmp(optarg, "ws"))
				o->framing = SL_FRAMING_WS;
			else if (!strcmp(optarg, "raw"))
				o->framing = SL_FRAMING_RAW;
			else
				bad = "--framing takes len4, ws or raw";
			break;
		case OPT_SENDER_CPU:
		case OPT_READER_CPU:
			if (sl_bench_parse_uint(optarg, 0, CPU_SETSIZE - 1, &v))
				bad = "--sender-cpu and --reader-cpu take a CPU number";
			else if (c == OPT_SENDER_CPU)
				o->cpu_sender = (int)v;
			else
				o->cpu_reader = (int)v;
			break;
		case OPT_ROUND_TIMEOUT:
			if (sl_bench_parse_uint(optarg, 1, 3600, &o->round_timeout_s))
				bad = "--round-timeout takes 1 to 3600 seconds";
			break;
		case OPT_NO_WARMUP:
			o->warmup = false;
			break;
		case OPT_FLOOR:
			o->floor = true;
			break;
		case OPT_PLAN:
			if (parse_plan(optarg, &o->plan))
				bad = "--plan takes none or a comma list of time, rate, quota, cap";
			break;
		case OPT_BPF_STATS:
			o->bpf_stats = true;
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
	if (bad) {
		fprintf(stderr, "sluice-bench kernel: %s (try `sluice-bench kernel --help`)\n",
			bad);
		return -EINVAL;
	}
	return 0;
}

/* Both CPUs must be ours to run on: a benchmark silently sharing one CPU measures nothing. */
static int check_cpus(const struct options *o, char *err, size_t errlen)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	if (!CPU_ISSET(o->cpu_sender, &set) || !CPU_ISSET(o->cpu_reader, &set)) {
		snprintf(err, errlen,
			 "CPU%d is not available to this process (%d CPUs allowed): choose others "
			 "with --sender-cpu and --reader-cpu",
			 CPU_ISSET(o->cpu_sender, &set) ? o->cpu_reader : o->cpu_sender,
			 CPU_COUNT(&set));
		return -EINVAL;
	}
	if (o->cpu_sender == o->cpu_reader)
		fprintf(stderr,
			"sluice-bench: sender and reader share CPU%d: numbers will include "
			"the reader's work\n",
			o->cpu_sender);
	return 0;
}

int sl_bench_kernel_main(int argc, char **argv)
{
	struct sl_kern_opts kopts = { .quiet = true };
	struct sl_bench_sandbox sb;
	int stats_restore = -1, status = 1, ret, i;
	char err[512] = "", leave_err[512] = "";
	struct bench *b;

	memset(&sb, 0, sizeof(sb));
	b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 1;
	}
	b->listen_fd[CONFIG_OFF] = -1;
	b->listen_fd[CONFIG_ON] = -1;
	b->floor.prog_fd = b->floor.map_fd = b->floor.link_fd = -1;
	ret = parse_options(argc, argv, &b->o);
	if (ret) {
		status = ret > 0 ? 0 : 2;
		goto cleanup;
	}
	describe_machine(b);
	build_frames(b);
	b->read_buf = malloc(READ_BUF_BYTES);
	if (!b->read_buf) {
		ret = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto cleanup;
	}
	ret = check_cpus(&b->o, err, sizeof(err));
	if (ret)
		goto cleanup;
	if (geteuid() != 0) {
		ret = -EPERM;
		snprintf(err, sizeof(err), "needs root: it makes a cgroup and loads BPF programs");
		goto cleanup;
	}
	ret = sl_bench_signals_install();
	if (ret) {
		snprintf(err, sizeof(err), "cannot install signal handlers: %s", strerror(-ret));
		goto cleanup;
	}

	ret = sl_bench_sandbox_enter(&sb, err, sizeof(err));
	if (ret)
		goto cleanup;
	kopts.pin_root = sb.pin_root;
	kopts.cgroup_path = sb.cgroup;
	ret = sl_kern_open(&b->k, &kopts, err, sizeof(err));
	if (ret)
		goto cleanup;
	for (i = 0; i < CONFIG__MAX; i++) {
		ret = listen_loopback(&b->listen_fd[i], &b->port[i]);
		if (ret) {
			snprintf(err, sizeof(err), "cannot listen on loopback: %s", strerror(-ret));
			goto cleanup;
		}
	}
	/* Only `on` is registered: `off` sockets never enter the sockhash. */
	ret = sl_kern_port_add(b->k, b->port[CONFIG_ON], b->o.framing);
	if (ret) {
		snprintf(err, sizeof(err), "cannot register port %u with the meter: %s",
			 b->port[CONFIG_ON], strerror(-ret));
		goto cleanup;
	}

	if (b->o.plan & PLAN_QUOTA) {
		ret = sl_kern_app_set_limits(b->k, PLAN_APP_SLOT,
					     &(struct sl_app_limits){ .event_cap = PLAN_EVENTS });
		if (ret) {
			snprintf(err, sizeof(err), "cannot set the application quota: %s",
				 strerror(-ret));
			goto cleanup;
		}
	}
	if (b->o.floor) {
		ret = sl_bench_floor_open(&b->floor, err, sizeof(err));
		if (ret)
			goto cleanup;
	}
	ret = run_all(b, err, sizeof(err));
	if (ret)
		goto cleanup;
	if (b->o.bpf_stats && !b->o.floor)
		measure_prog(b, &stats_restore);
	if (sl_bench_stop) {
		ret = -EINTR;
		snprintf(err, sizeof(err), "interrupted");
		goto cleanup;
	}
	if (b->o.json)
		print_json(b);
	else
		print_text(b);
	status = b->mismatches ? 1 : 0;

cleanup:
	for (i = 0; i < CONFIG__MAX; i++)
		if (b->listen_fd[i] >= 0)
			close(b->listen_fd[i]);
	if (stats_restore >= 0 && sl_bench_bpf_stats_set(stats_restore))
		fprintf(stderr, "sluice-bench: could not turn kernel.bpf_stats_enabled back off\n");
	sl_bench_floor_close(&b->floor);
	/* Close our handles first: leaving the sandbox detaches and unpins by path. */
	sl_kern_close(b->k);
	if (sl_bench_sandbox_leave(&sb, leave_err, sizeof(leave_err))) {
		fprintf(stderr, "sluice-bench: cleanup: %s\n", leave_err);
		if (!ret)
			status = 1;
	}
	if (ret && status != 0 && status != 2) {
		if (b->o.json) {
			printf("{\"error\": ");
			sl_bench_json_string(stdout, err[0] ? err : strerror(-ret));
			printf("}\n");
		}
		fprintf(stderr, "sluice-bench: %s%s\n", err[0] ? err : strerror(-ret),
			ret == -EINTR ? "; cleaned up" : "");
	}
	free(b->read_buf);
	free(b);
	return status;
}
