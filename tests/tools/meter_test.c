// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluice-meter-test: drives the real kernel meter with real sockets.
 *
 *   sluice-meter-test [--pin-root DIR] [--cgroup DIR] load | cleanup
 *   sluice-meter-test [...] send --framing F --mode M [--frames N] [--seed S]
 *        [--max-size B] [--batch N] [--event-cap K] [--app SLOT --app-cap K] [--keep-usage]
 *        [--reload-midway] [--prefix] [--runs | --long-runs]
 *   sluice-meter-test [...] send --conns N --app SLOT --app-cap K [--rounds R] [--framing F]
 *        [--mode M] [--frames N] [--seed S] [--max-size B] [--batch N] [--event-cap K]
 *        [--prefix] [--runs]
 *   sluice-meter-test [...] unmetered
 *
 * `send` plays the gateway: it accepts a connection on a metered port in its
 * cgroup, writes N random frames in the chosen way (writev batches, random
 * split writes, 1-byte writes, or nonblocking writes to a slow reader), and a
 * reader thread collects what arrives. It then checks that the receiver got
 * exactly the frames it should (all, or all but the events over a cap) byte
 * for byte, and that the kernel's per-socket, per-application and close
 * record counters equal what was written. Exit status 0 only when all match.
 *
 * `send --conns N` races N connections of one application at its shared
 * quota: N writer threads, spread over the CPUs, write their own streams at
 * once while N readers drain the peers; then the same checks, per
 * connection and summed over the application, for R rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kern/kern.h"
#include "frames.h"

enum send_mode {
	MODE_WRITEV,
	MODE_SPLIT,
	MODE_BYTES1,
	MODE_NONBLOCK,
	MODE_NONBLOCK_NORESYNC,
};

static const char *const mode_names[] = { "writev", "split", "bytes1", "nonblock",
					  "nonblock-noresync" };

struct options {
	const char *pin_root;
	const char *cgroup;
	enum sl_framing framing;
	enum send_mode mode;
	unsigned frames;
	uint64_t seed;
	size_t max_size;
	unsigned batch; /* most frames in one writev (writev and nonblock modes) */
	uint64_t event_cap;
	unsigned app;
	uint64_t app_cap;
	uint64_t app_window_ms; /* quota windows of this length (UTC-aligned) */
	uint64_t max_conn_ms;	/* connection deadline; frames after --pause-at go past it */
	unsigned pause_at;
	uint64_t rate_bps, burst;
	unsigned pace_ms; /* sleep between writes, so that time passes during a run */
	bool runs;	  /* frames in runs of one size, events mixed with lookalikes */
	bool long_runs;	  /* runs of up to 1,000 like frames, nothing mixed in */
	bool keep_usage;
	bool reload_midway;
	bool prefix;
	unsigned hold_ms;
	unsigned conns;	 /* 0: one connection (cmd_send); else cmd_race */
	unsigned rounds; /* of cmd_race, each from seed + round */
	const char *self;
};

struct frame {
	size_t off; /* in the sent stream */
	size_t len;
	enum tf_kind kind;
	bool event; /* as the meter sees it */
	bool delivered;
};

struct reader {
	int fd;
	bool slow;
	uint8_t *buf;
	size_t len, cap;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "sluice-meter-test: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	ssize_t n;

	for (;;) {
		if (r->cap - r->len < 65536) {
			r->cap = r->cap ? r->cap * 2 : 1 << 20;
			r->buf = realloc(r->buf, r->cap);
			if (!r->buf)
				die("out of memory");
		}
		/* A slow reader takes little and often: the sender's buffer fills up. */
		n = recv(r->fd, r->buf + r->len, r->slow ? 16384 : r->cap - r->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r->len += n;
		if (r->slow)
			usleep(50);
	}
	return NULL;
}

static size_t pick_size(uint64_t *rng, size_t max)
{
	uint64_t r = tf_rand(rng);
	size_t lo, hi;

	switch (r % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		lo = 0, hi = 130;
		break;
	case 4:
	case 5:
	case 6:
		lo = 120, hi = 2000;
		break;
	case 7:
	case 8:
		lo = 2000, hi = 70000;
		break;
	default:
		lo = 60000, hi = 100000;
		break;
	}
	if (hi > max)
		hi = max;
	if (lo > hi)
		lo = 0;
	return lo + (tf_rand(rng) >> 8) % (hi - lo + 1);
}

/* Builds the stream the gateway writes: an optional handshake prefix, then frames. */
static uint8_t *build_stream(const struct options *o, struct frame *frames, size_t *len_out,
			     size_t *prefix_out)
{
	uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
	size_t cap = 1 << 20, len = 0, plen, i, run_left = 0, run_plen = 0;
	uint8_t *buf = malloc(cap);
	enum tf_kind kind, run_kind = TF_EVENT;

	if (!buf)
		die("out of memory");
	if (o->prefix) {
		/* What the HTTP handshake looks like to the meter: bytes before framing. */
		static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n";
		size_t extra = tf_rand(&rng) % 200;

		memcpy(buf, head, sizeof(head) - 1);
		len = sizeof(head) - 1;
		memset(buf + len, 'x', extra);
		len += extra;
		memcpy(buf + len, "\r\n\r\n", 4);
		len += 4;
	}
	*prefix_out = len;
	for (i = 0; i < o->frames; i++) {
		uint64_t r = tf_rand(&rng) % 10;

		kind = r < 7 ? TF_EVENT : r < 9 ? TF_REPLY : TF_CONTROL;
		if (o->runs) {
			/*
			 * The meter takes a frame whose head repeats the last one
			 * it parsed without parsing it: runs of like frames, with
			 * lookalikes of the same size in between.
			 */
			if (run_left == 0) {
				run_left = 1 + tf_rand(&rng) % (o->long_runs ? 1000 : 64);
				run_plen = pick_size(&rng, o->max_size);
				run_kind = r < 6 ? TF_EVENT : r < 8 ? TF_LOOKALIKE : kind;
			}
			run_left--;
			kind = run_kind;
			if ((kind == TF_EVENT || kind == TF_LOOKALIKE) && !o->long_runs &&
			    tf_rand(&rng) % 6 == 0)
				kind = kind == TF_EVENT ? TF_LOOKALIKE : TF_EVENT;
			plen = run_plen;
		} else {
			plen = pick_size(&rng, o->max_size);
		}
		if (plen > tf_max_payload(o->framing))
			plen = tf_max_payload(o->framing);
		if (o->framing == SL_FRAMING_WS && kind == TF_CONTROL && plen > 125)
			plen = plen % 126; /* RFC 6455 §5.5: control payloads are short */
		while (cap - len < plen + TF_MAX_HEADER + 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		frames[i].off = len;
		frames[i].kind = kind;
		frames[i].event = tf_is_event(o->framing, kind, plen);
		frames[i].len = tf_encode(buf + len, o->framing, kind, plen, (uint32_t)i);
		len += frames[i].len;
	}
	*len_out = len;
	return buf;
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen))
		die("listen: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect: %s", strerror(errno));
	return fd;
}

static struct sl_kern *open_meter(const struct options *o)
{
	struct sl_kern_opts kopts = { .pin_root = o->pin_root, .cgroup_path = o->cgroup };
	struct sl_kern *k;
	char err[512];
	int ret;

	ret = sl_kern_open(&k, &kopts, err, sizeof(err));
	if (ret)
		die("%s", err);
	return k;
}

static void reload_in_child(const struct options *o)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execl(o->self, o->self, "--pin-root", o->pin_root, "--cgroup", o->cgroup, "load",
		      (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		die("reloading the meter in a second process failed");
}

/* Most iovecs in one writev: IOV_MAX on Linux. */
#define BATCH_MAX 1024

/* One writev with an iovec per frame, as the gateway flushes a subscriber's queue. */
static ssize_t send_batch(int fd, const uint8_t *buf, const struct frame *frames, size_t nframes,
			  size_t at, size_t want)
{
	struct iovec iov[BATCH_MAX];
	struct msghdr mh = { .msg_iov = iov };
	size_t end = at + want, i = 0, cut;

	while (i < nframes && frames[i].off + frames[i].len <= at)
		i++;
	while (at < end && mh.msg_iovlen < BATCH_MAX) {
		cut = i < nframes ? frames[i].off + frames[i].len : end;
		if (cut > end || cut <= at)
			cut = end;
		iov[mh.msg_iovlen].iov_base = (void *)(buf + at);
		iov[mh.msg_iovlen].iov_len = cut - at;
		mh.msg_iovlen++;
		at = cut;
		i++;
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static int wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 10000) == 1 ? 0 : -ETIMEDOUT;
}

/*
 * Writes [from, to) of the stream. Returns bytes the kernel accepted; stops
 * early (and sets *send_err) when a send fails for good (a killed socket).
 */
static size_t write_range(struct sl_kern *k, const struct options *o, int fd, const uint8_t *buf,
			  const struct frame *frames, size_t from, size_t to, uint64_t *rng,
			  int *send_err, unsigned *short_writes)
{
	size_t at = from;
	ssize_t n;
	size_t want;

	while (at < to) {
		switch (o->mode) {
		case MODE_BYTES1:
			want = 1;
			break;
		case MODE_SPLIT:
			want = 1 + tf_rand(rng) % 70000;
			break;
		default: {
			/* a batch of whole frames, like the gateway's one writev per flush */
			size_t i = 0, nframes = 1 + tf_rand(rng) % o->batch;

			while (i < o->frames && frames[i].off + frames[i].len <= at)
				i++;
			want = 0;
			while (i < o->frames && nframes--) {
				want = frames[i].off + frames[i].len - at;
				i++;
			}
			if (!want)
				want = to - at;
			break;
		}
		}
		if (want > to - at)
			want = to - at;
		n = send_batch(fd, buf, frames, o->frames, at, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			*send_err = errno;
			return at - from;
		}
		if (n < (ssize_t)want) {
			/* A short write: resync the meter before the retry (see kern.h). */
			(*short_writes)++;
			if (o->mode == MODE_NONBLOCK && sl_kern_sock_resync(k, fd))
				die("resync: %s", strerror(errno));
			if (n < 0 || n == 0) {
				if (wait_writable(fd))
					die("the reader stopped reading");
				continue;
			}
		}
		at += n;
		if (o->pace_ms)
			usleep(o->pace_ms * 1000);
	}
	return at - from;
}

struct close_wait {
	uint64_t cookie;
	struct sl_close_record rec;
	bool seen;
};

static void on_close(void *ctx, const struct sl_close_record *rec)
{
	struct close_wait *w = ctx;

	if (rec->cookie == w->cookie) {
		w->rec = *rec;
		w->seen = true;
	}
}

static uint64_t sum_reasons(const __u64 *by_reason)
{
	uint64_t sum = 0;

	for (int r = 0; r < SL_DROP__MAX; r++)
		sum += by_reason[r];
	return sum;
}

static int check_u64(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	printf("MISMATCH %s: kernel=%llu expected=%llu\n", what, (unsigned long long)got,
	       (unsigned long long)want);
	return 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * With a byte rate the kernel's choice depends on timing: check that what
 * arrived is the sent frames in order with only events left out, and return
 * the event bytes that arrived.
 */
static int check_subsequence(const struct frame *frames, size_t n, const uint8_t *stream,
			     size_t prefix, const uint8_t *got, size_t got_len,
			     uint64_t *event_bytes)
{
	size_t at = prefix, i;

	*event_bytes = 0;
	if (got_len < prefix || memcmp(got, stream, prefix) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (at + frames[i].len <= got_len &&
		    memcmp(got + at, stream + frames[i].off, frames[i].len) == 0) {
			at += frames[i].len;
			if (frames[i].event)
				*event_bytes += frames[i].len;
			continue;
		}
		if (!frames[i].event)
			return -1; /* a reply or control frame went missing */
	}
	return at == got_len ? 0 : -1;
}

static int cmd_send(const struct options *o)
{
	struct frame *frames = calloc(o->frames ? o->frames : 1, sizeof(*frames));
	struct sl_app_usage usage_before = { 0 }, usage_after;
	struct sl_sock_config cfg = { 0 };
	struct reader rd = { 0 };
	struct close_wait cw = { 0 };
	size_t len, prefix, i, expect_len = 0, accepted;
	uint64_t rng = o->seed + 77, expect_events = 0, expect_replies = 0;
	uint64_t expect_drops = 0, expect_drop_bytes = 0, cap_left;
	unsigned short_writes = 0;
	uint64_t rate_start;
	struct sl_kern *k;
	struct sl_sock st;
	pthread_t thread;
	uint8_t *stream, *expect;
	int lfd, cfd, sfd, send_err = 0, fails = 0, flags = 0;
	uint16_t port, client_port = 0;
	bool tls_cut = false;

	if (!frames)
		die("out of memory");
	stream = build_stream(o, frames, &len, &prefix);
	k = open_meter(o);
	if (o->app) {
		struct sl_app_limits lim = { .event_cap = o->app_cap,
					     .window_ns = o->app_window_ms * 1000000ull };

		if (o->app_window_ms) {
			/* Start just after a window turns, so the whole run is inside one window.
			 */
			uint64_t w = o->app_window_ms * 1000000ull, now = realtime_ns();

			usleep((useconds_t)((w - now % w) / 1000 + 20000));
		}
		if (!o->keep_usage && sl_kern_app_reset(k, o->app))
			die("reset app usage: %s", strerror(errno));
		if (sl_kern_app_set_limits(k, o->app, &lim) ||
		    sl_kern_app_usage(k, o->app, &usage_before))
			die("app maps: %s", strerror(errno));
	}

	lfd = listen_any(&port);
	if (sl_kern_port_add(k, port, SL_FRAMING_RAW))
		die("port add: %s", strerror(errno));
	cfd = connect_to(port);
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sfd < 0)
		die("accept: %s", strerror(errno));
	if (sl_kern_sock_get(k, sfd, &st))
		die("the accepted socket is not metered: %s", strerror(errno));
	cw.cookie = st.cookie;
	{
		struct sockaddr_in a;
		socklen_t alen = sizeof(a);

		getsockname(cfd, (struct sockaddr *)&a, &alen);
		client_port = ntohs(a.sin_port);
	}

	cfg.framing = o->framing;
	cfg.frame_start = (uint32_t)prefix;
	cfg.app_slot = o->app;
	cfg.event_cap = o->event_cap;
	cfg.max_conn_time_ns = o->max_conn_ms * 1000000ull;
	cfg.rate_bps = o->rate_bps;
	cfg.burst_bytes = o->burst;
	if (sl_kern_sock_configure(k, sfd, &cfg))
		die("configure: %s", strerror(errno));

	if (o->mode == MODE_NONBLOCK || o->mode == MODE_NONBLOCK_NORESYNC) {
		int small = 32768;

		/* Small buffers on both ends make the kernel push part of a write. */
		setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		flags = fcntl(sfd, F_GETFL);
		fcntl(sfd, F_SETFL, flags | O_NONBLOCK);
		rd.slow = true;
	}
	rd.fd = cfd;
	if (pthread_create(&thread, NULL, reader_main, &rd))
		die("pthread_create failed");
	rate_start = mono_ns();

	/* What must arrive: everything but the events over the caps. */
	expect = malloc(len ? len : 1);
	if (!expect)
		die("out of memory");
	memcpy(expect, stream, prefix);
	expect_len = prefix;
	cap_left = UINT64_MAX;
	if (o->event_cap)
		cap_left = o->event_cap;
	if (o->app && o->app_cap) {
		/* A fresh window starts from zero whatever the last one used. */
		uint64_t used = o->app_window_ms ? 0 : usage_before.events;
		uint64_t left = o->app_cap > used ? o->app_cap - used : 0;

		if (left < cap_left)
			cap_left = left;
	}
	for (i = 0; i < o->frames; i++) {
		bool late = o->max_conn_ms && o->pause_at && i >= o->pause_at;

		if (frames[i].event && (!cap_left || late)) {
			if (o->framing == SL_FRAMING_TLS) {
				tls_cut = true;
				expect_drops++;
				break;
			}
			expect_drops++;
			expect_drop_bytes += frames[i].len;
			continue;
		}
		if (frames[i].event) {
			expect_events++;
			cap_left--;
		} else {
			expect_replies++;
		}
		frames[i].delivered = true;
		memcpy(expect + expect_len, stream + frames[i].off, frames[i].len);
		expect_len += frames[i].len;
	}

	if (o->max_conn_ms && o->pause_at && o->pause_at < o->frames) {
		/* Write up to the pause, sleep past the connection's deadline, write the rest. */
		size_t cut = frames[o->pause_at].off;

		accepted =
		    write_range(k, o, sfd, stream, frames, 0, cut, &rng, &send_err, &short_writes);
		usleep((useconds_t)(o->max_conn_ms * 1000 + 100000));
		accepted += write_range(k, o, sfd, stream, frames, cut, len, &rng, &send_err,
					&short_writes);
	} else if (o->reload_midway) {
		size_t half = o->frames ? frames[o->frames / 2].off : len;

		accepted =
		    write_range(k, o, sfd, stream, frames, 0, half, &rng, &send_err, &short_writes);
		reload_in_child(o);
		if (!send_err)
			accepted += write_range(k, o, sfd, stream, frames, half, len, &rng,
						&send_err, &short_writes);
	} else {
		accepted =
		    write_range(k, o, sfd, stream, frames, 0, len, &rng, &send_err, &short_writes);
	}

	/* Wait until everything written is out of the send queue, then read the counters. */
	if (o->mode == MODE_NONBLOCK || o->mode == MODE_NONBLOCK_NORESYNC)
		fcntl(sfd, F_SETFL, flags);
	if (sl_kern_sock_get(k, sfd, &st))
		die("sock_get: %s", strerror(errno));
	if (o->hold_ms)
		usleep(o->hold_ms * 1000); /* lets a test look at the live socket */
	shutdown(sfd, SHUT_WR);
	pthread_join(thread, NULL);
	close(cfd);
	close(sfd);
	close(lfd);

	for (i = 0; i < 40 && !cw.seen; i++)
		sl_kern_closes_poll(k, on_close, &cw, 100);

	printf("framing=%s mode=%s frames=%u seed=%llu sent=%zu received=%zu expected=%zu "
	       "events=%llu replies=%llu bytes=%llu drops=%llu drop_bytes=%llu short_writes=%u "
	       "flags=%u send_err=%d\n",
	       sl_framing_name(o->framing), mode_names[o->mode], o->frames,
	       (unsigned long long)o->seed, accepted, rd.len, expect_len,
	       (unsigned long long)st.events, (unsigned long long)st.replies,
	       (unsigned long long)st.bytes, (unsigned long long)st.drops,
	       (unsigned long long)st.drop_bytes, short_writes, st.flags, send_err);

	if (o->rate_bps) {
		uint64_t event_bytes, allowed;
		double secs = (double)(mono_ns() - rate_start) / 1e9;

		if (check_subsequence(frames, o->frames, stream, prefix, rd.buf, rd.len,
				      &event_bytes)) {
			printf("MISMATCH stream: not the sent frames with only events left out\n");
			fails++;
		}
		/* A token bucket lets out at most burst + rate x time. */
		allowed = (o->burst ? o->burst : o->rate_bps) + (uint64_t)(o->rate_bps * secs);
		printf("rate: event_bytes=%llu allowed=%llu seconds=%.2f drops=%llu\n",
		       (unsigned long long)event_bytes, (unsigned long long)allowed, secs,
		       (unsigned long long)st.drops);
		if (event_bytes > allowed || !st.drops) {
			printf("MISMATCH rate: over the bucket, or nothing held back\n");
			fails++;
		}
		fails += check_u64("events", st.events, st.events); /* counted, whatever they are */
		goto out;
	}
	if (rd.len != expect_len || memcmp(rd.buf, expect, expect_len) != 0) {
		size_t at = 0;

		while (at < rd.len && at < expect_len && rd.buf[at] == expect[at])
			at++;
		printf(
		    "MISMATCH stream: received %zu bytes, expected %zu, first difference at %zu\n",
		    rd.len, expect_len, at);
		fails++;
	}
	if (o->mode == MODE_NONBLOCK_NORESYNC) {
		/* Without resync exactness is not promised; the meter must notice, not lie. */
		__u64 stats[SL_STAT__MAX];

		sl_kern_stats(k, stats);
		printf("gaps=%llu desyncs=%llu\n", (unsigned long long)stats[SL_STAT_GAPS],
		       (unsigned long long)stats[SL_STAT_DESYNCS]);
		if (!stats[SL_STAT_GAPS]) {
			printf("MISMATCH the meter did not notice bytes that bypassed it\n");
			fails++;
		}
		/* Bytes stay exact once the close record reconciles with the stream. */
		if (!cw.seen) {
			printf("MISMATCH no close record\n");
			fails++;
		} else {
			fails += check_u64("close bytes", cw.rec.bytes, expect_len);
		}
		goto out;
	}
	if (tls_cut) {
		if (!(st.flags & SL_SOCK_F_KILLED) || send_err != EACCES) {
			printf("MISMATCH tls: socket not cut (flags=%u send_err=%d)\n", st.flags,
			       send_err);
			fails++;
		}
	} else if (send_err) {
		printf("MISMATCH send failed: %s\n", strerror(send_err));
		fails++;
	}
	if (st.flags & SL_SOCK_F_DESYNC) {
		printf("MISMATCH meter desynced\n");
		fails++;
	}
	fails += check_u64("events", st.events, expect_events);
	fails += check_u64("replies", st.replies, expect_replies);
	fails += check_u64("bytes", st.bytes, expect_len);
	fails += check_u64("drops", st.drops, expect_drops);
	fails += check_u64("drops by reason, summed", sum_reasons(st.drops_by_reason), st.drops);
	printf("drops_by_reason=%llu,%llu,%llu,%llu\n",
	       (unsigned long long)st.drops_by_reason[SL_DROP_SOCK_EVENT_CAP],
	       (unsigned long long)st.drops_by_reason[SL_DROP_APP_EVENT_CAP],
	       (unsigned long long)st.drops_by_reason[SL_DROP_BYTE_RATE],
	       (unsigned long long)st.drops_by_reason[SL_DROP_CONN_TIME]);
	if (!tls_cut)
		fails += check_u64("drop_bytes", st.drop_bytes, expect_drop_bytes);
	if (o->app) {
		if (sl_kern_app_usage(k, o->app, &usage_after))
			die("app usage: %s", strerror(errno));
		printf("app=%u app_events=%llu app_bytes=%llu app_drops=%llu\n", o->app,
		       (unsigned long long)usage_after.events,
		       (unsigned long long)usage_after.bytes,
		       (unsigned long long)usage_after.drops);
		fails += check_u64("app events",
				   o->app_window_ms ? usage_after.events
						    : usage_after.events - usage_before.events,
				   expect_events);
		fails += check_u64("app bytes", usage_after.bytes - usage_before.bytes, expect_len);
		/* A cut TLS stream counts its one drop for the application as for the socket. */
		fails +=
		    check_u64("app drops", usage_after.drops - usage_before.drops, expect_drops);
		fails += check_u64("app drops by reason, summed",
				   sum_reasons(usage_after.drops_by_reason) -
				       sum_reasons(usage_before.drops_by_reason),
				   expect_drops);
	}
	if (!cw.seen) {
		printf("MISMATCH no close record\n");
		fails++;
	} else {
		printf("close: events=%llu bytes=%llu bytes_acked=%llu srtt_us=%u duration_ms=%llu "
		       "rport=%u\n",
		       (unsigned long long)cw.rec.events, (unsigned long long)cw.rec.bytes,
		       (unsigned long long)cw.rec.bytes_acked, cw.rec.srtt_us,
		       (unsigned long long)(cw.rec.duration_ns / 1000000), cw.rec.remote_port);
		fails += check_u64("close events", cw.rec.events, expect_events);
		fails += check_u64("close remote port", cw.rec.remote_port, client_port);
		fails += check_u64("close bytes", cw.rec.bytes, expect_len);
		if (!tls_cut)
			/* bytes_acked counts the FIN too (KERNEL-NOTES §2) */
			fails += check_u64("close bytes_acked", cw.rec.bytes_acked, expect_len + 1);
	}
out : {
	__u64 stats[SL_STAT__MAX];

	if (sl_kern_stats(k, stats) == 0)
		printf("meter: runs=%llu rewinds=%llu gaps=%llu holds=%llu forced=%llu "
		       "desyncs=%llu\n",
		       (unsigned long long)stats[SL_STAT_RUNS],
		       (unsigned long long)stats[SL_STAT_REWINDS],
		       (unsigned long long)stats[SL_STAT_GAPS],
		       (unsigned long long)stats[SL_STAT_HOLDS],
		       (unsigned long long)stats[SL_STAT_FORCED],
		       (unsigned long long)stats[SL_STAT_DESYNCS]);
}
	printf("%s\n", fails ? "FAIL" : "OK");
	sl_kern_close(k);
	free(stream);
	free(expect);
	free(frames);
	free(rd.buf);
	return fails ? 1 : 0;
}

/* Most connections in one race: enough for several per CPU. */
#define RACE_CONNS_MAX 16
/* A race that has not finished by then is stuck (a reader or writer that hangs). */
#define RACE_TIMEOUT_S 60
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* What the rounds of one `send --conns` share: the meter, the listener, the CPUs. */
struct race {
	const struct options *o;
	struct sl_kern *k;
	int lfd;
	uint16_t port;
	int cpus[CPU_SETSIZE];
	int ncpus;
};

/* One connection of a round: its stream, its writer and reader, what the kernel counted. */
struct racer {
	struct options o; /* the run's options with this connection's seed */
	struct sl_kern *k;
	pthread_barrier_t *start;
	int cpu; /* the writer's */
	int sfd, cfd;
	struct frame *frames;
	uint8_t *stream;
	size_t len, prefix, accepted;
	uint64_t rng;
	int send_err;
	unsigned short_writes;
	struct reader rd;
	pthread_t writer, reader;
	struct sl_sock st;
	struct sl_close_record rec;
	bool closed;
	uint64_t offered, nonevents;  /* events in the stream, and the other frames */
	uint64_t arrived, drop_bytes; /* events that arrived, bytes of those that did not */
};

static void *race_writer_main(void *arg)
{
	struct racer *r = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(r->start);
	r->accepted = write_range(r->k, &r->o, r->sfd, r->stream, r->frames, 0, r->len, &r->rng,
				  &r->send_err, &r->short_writes);
	return NULL;
}

struct race_closes {
	struct racer *racers;
	unsigned n, seen;
};

static void on_race_close(void *ctx, const struct sl_close_record *rec)
{
	struct race_closes *w = ctx;
	unsigned i;

	for (i = 0; i < w->n; i++) {
		if (rec->cookie == w->racers[i].st.cookie && !w->racers[i].closed) {
			w->racers[i].rec = *rec;
			w->racers[i].closed = true;
			w->seen++;
		}
	}
}

/*
 * What must arrive on one connection of a race: its stream with every
 * event after its first k left out, for some k. The quota, once used up,
 * stays used up (nothing here gives events back: no rewinds without short
 * writes, no windows), and so does a connection cap, so no later event of
 * the connection may go. The length that arrived tells k (each event adds
 * its length); the bytes must then be exactly those. Returns -1 when no k
 * explains what arrived.
 */
static int arrive_check(struct racer *r)
{
	const uint8_t *got = r->rd.buf;
	size_t i, want = r->prefix, at = r->prefix;
	uint64_t k = 0, left;

	for (i = 0; i < r->o.frames; i++)
		if (!r->frames[i].event)
			want += r->frames[i].len;
	for (i = 0; i < r->o.frames && want < r->rd.len; i++) {
		if (r->frames[i].event) {
			want += r->frames[i].len;
			k++;
		}
	}
	if (want != r->rd.len || memcmp(got, r->stream, r->prefix) != 0)
		return -1;
	r->arrived = k;
	r->drop_bytes = 0;
	left = k;
	for (i = 0; i < r->o.frames; i++) {
		const struct frame *f = &r->frames[i];

		if (f->event && !left) {
			r->drop_bytes += f->len;
			continue;
		}
		if (f->event)
			left--;
		if (memcmp(got + at, r->stream + f->off, f->len) != 0)
			return -1;
		at += f->len;
	}
	return 0;
}

/* Checks one connection after its round; returns the mismatches. */
static int racer_check(const struct race *race, struct racer *r, unsigned i)
{
	const struct options *o = race->o;
	char what[64];
	int fails = 0;

	if (arrive_check(r)) {
		printf("MISMATCH conn %u: received %zu bytes that are not its stream with the "
		       "events after some first K left out\n",
		       i, r->rd.len);
		fails++;
		r->arrived = r->st.events; /* for the sums */
	}
	printf("conn=%u cpu=%d seed=%llu frames=%u sent=%zu received=%zu offered=%llu "
	       "arrived=%llu events=%llu replies=%llu drops=%llu drop_bytes=%llu "
	       "short_writes=%u flags=%u\n",
	       i, r->cpu, (unsigned long long)r->o.seed, o->frames, r->accepted, r->rd.len,
	       (unsigned long long)r->offered, (unsigned long long)r->arrived,
	       (unsigned long long)r->st.events, (unsigned long long)r->st.replies,
	       (unsigned long long)r->st.drops, (unsigned long long)r->st.drop_bytes,
	       r->short_writes, r->st.flags);
	if (r->send_err) {
		printf("MISMATCH conn %u: send failed: %s\n", i, strerror(r->send_err));
		fails++;
	}
	if (r->st.flags & SL_SOCK_F_DESYNC) {
		printf("MISMATCH conn %u: meter desynced\n", i);
		fails++;
	}
	if (o->event_cap && r->arrived > o->event_cap) {
		printf("MISMATCH conn %u: %llu events arrived, over its cap of %llu\n", i,
		       (unsigned long long)r->arrived, (unsigned long long)o->event_cap);
		fails++;
	}
	snprintf(what, sizeof(what), "conn %u events", i);
	fails += check_u64(what, r->st.events, r->arrived);
	snprintf(what, sizeof(what), "conn %u replies", i);
	fails += check_u64(what, r->st.replies, r->nonevents);
	snprintf(what, sizeof(what), "conn %u bytes", i);
	fails += check_u64(what, r->st.bytes, r->rd.len);
	snprintf(what, sizeof(what), "conn %u drops", i);
	fails += check_u64(what, r->st.drops, r->offered - r->arrived);
	snprintf(what, sizeof(what), "conn %u drop_bytes", i);
	fails += check_u64(what, r->st.drop_bytes, r->drop_bytes);
	if (!r->closed) {
		printf("MISMATCH conn %u: no close record\n", i);
		return fails + 1;
	}
	snprintf(what, sizeof(what), "conn %u close events", i);
	fails += check_u64(what, r->rec.events, r->arrived);
	snprintf(what, sizeof(what), "conn %u close bytes", i);
	fails += check_u64(what, r->rec.bytes, r->rd.len);
	return fails;
}

static uint64_t cap_drops(const struct sl_drop_count d[SL_DROP__MAX])
{
	return d[SL_DROP_APP_EVENT_CAP].frames + d[SL_DROP_SOCK_EVENT_CAP].frames;
}

/*
 * One round: o->conns fresh connections of the application, its usage
 * reset, a stream each from this round's seed; writers pinned round robin
 * to the CPUs, so that passes of several sockets take the quota at the
 * same moment, and released together. Returns the mismatches.
 */
static int race_round(struct race *race, unsigned round)
{
	const struct options *o = race->o;
	struct racer *racers = calloc(o->conns, sizeof(*racers));
	struct sl_drop_count drops_before[SL_DROP__MAX], drops_after[SL_DROP__MAX];
	__u64 stats_before[SL_STAT__MAX], stats_after[SL_STAT__MAX];
	struct race_closes closes = { .racers = racers, .n = o->conns };
	struct sl_sock_config cfg = { .framing = o->framing,
				      .app_slot = o->app,
				      .event_cap = o->event_cap };
	uint64_t offered = 0, offered_capped = 0, arrived = 0, replies = 0, bytes = 0;
	uint64_t drops = 0, drop_bytes = 0, forced, want, t0, ms;
	struct sl_app_usage usage;
	pthread_barrier_t start;
	int fails = 0;
	unsigned i;
	size_t j;

	if (!racers)
		die("out of memory");
	if (sl_kern_app_reset(race->k, o->app))
		die("reset app usage: %s", strerror(errno));
	if (pthread_barrier_init(&start, NULL, o->conns + 1))
		die("pthread_barrier_init failed");
	for (i = 0; i < o->conns; i++) {
		struct racer *r = &racers[i];

		r->o = *o;
		r->o.seed = (o->seed + round) * 1000 + i; /* each connection its own stream */
		r->k = race->k;
		r->start = &start;
		r->cpu = race->cpus[i % race->ncpus];
		r->rng = r->o.seed + 77;
		r->frames = calloc(o->frames ? o->frames : 1, sizeof(*r->frames));
		if (!r->frames)
			die("out of memory");
		r->stream = build_stream(&r->o, r->frames, &r->len, &r->prefix);
		for (j = 0; j < o->frames; j++) {
			if (r->frames[j].event)
				r->offered++;
			else
				r->nonevents++;
		}
		offered += r->offered;
		offered_capped +=
		    o->event_cap && o->event_cap < r->offered ? o->event_cap : r->offered;

		/* The listener's queue is empty before each connect: accept returns this one. */
		r->cfd = connect_to(race->port);
		r->sfd = accept4(race->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (r->sfd < 0)
			die("accept: %s", strerror(errno));
		if (sl_kern_sock_get(race->k, r->sfd, &r->st))
			die("the accepted socket is not metered: %s", strerror(errno));
		cfg.frame_start = (uint32_t)r->prefix;
		if (sl_kern_sock_configure(race->k, r->sfd, &cfg))
			die("configure: %s", strerror(errno));
		r->rd.fd = r->cfd;
		if (pthread_create(&r->reader, NULL, reader_main, &r->rd) ||
		    pthread_create(&r->writer, NULL, race_writer_main, r))
			die("pthread_create failed");
	}
	if (sl_kern_stats(race->k, stats_before) || sl_kern_drops(race->k, drops_before))
		die("meter stats: %s", strerror(errno));

	/* Every writer waits at the barrier: let them all go at once. */
	t0 = mono_ns();
	pthread_barrier_wait(&start);
	for (i = 0; i < o->conns; i++)
		pthread_join(racers[i].writer, NULL);
	ms = (mono_ns() - t0) / 1000000;
	for (i = 0; i < o->conns; i++) {
		/* Blocking writes have all gone through the meter: its counters are final. */
		if (sl_kern_sock_get(race->k, racers[i].sfd, &racers[i].st))
			die("sock_get: %s", strerror(errno));
		shutdown(racers[i].sfd, SHUT_WR);
	}
	for (i = 0; i < o->conns; i++) {
		pthread_join(racers[i].reader, NULL);
		close(racers[i].cfd);
		close(racers[i].sfd);
	}
	for (i = 0; i < 40 && closes.seen < o->conns; i++)
		sl_kern_closes_poll(race->k, on_race_close, &closes, 100);
	if (sl_kern_app_usage(race->k, o->app, &usage) || sl_kern_stats(race->k, stats_after) ||
	    sl_kern_drops(race->k, drops_after))
		die("meter maps: %s", strerror(errno));

	for (i = 0; i < o->conns; i++) {
		struct racer *r = &racers[i];

		fails += racer_check(race, r, i);
		arrived += r->arrived;
		replies += r->nonevents;
		bytes += r->rd.len;
		drops += r->offered - r->arrived;
		drop_bytes += r->drop_bytes;
	}

	/*
	 * Summed over the connections, exactly the cap arrives when more was
	 * offered. The one way past it: an event whose header was split between
	 * two sends and already half out when another socket took the quota's
	 * last event goes on (stat `forced`, docs/ARCHITECTURE.md).
	 */
	forced = stats_after[SL_STAT_FORCED] - stats_before[SL_STAT_FORCED];
	want = offered_capped < o->app_cap ? offered_capped : o->app_cap;
	printf("race: round=%u conns=%u cpus=%d app_cap=%llu offered=%llu arrived=%llu "
	       "forced=%llu holds=%llu ms=%llu\n",
	       round, o->conns, race->ncpus, (unsigned long long)o->app_cap,
	       (unsigned long long)offered, (unsigned long long)arrived, (unsigned long long)forced,
	       (unsigned long long)(stats_after[SL_STAT_HOLDS] - stats_before[SL_STAT_HOLDS]),
	       (unsigned long long)ms);
	printf("app=%u app_events=%llu app_bytes=%llu app_replies=%llu app_drops=%llu\n", o->app,
	       (unsigned long long)usage.events, (unsigned long long)usage.bytes,
	       (unsigned long long)usage.replies, (unsigned long long)usage.drops);
	if (arrived < want || arrived > want + forced) {
		printf("MISMATCH events that arrived, all connections: %llu, expected %llu (+ at "
		       "most %llu forced)\n",
		       (unsigned long long)arrived, (unsigned long long)want,
		       (unsigned long long)forced);
		fails++;
	}
	fails += check_u64("app events", usage.events, arrived);
	fails += check_u64("app events_total", usage.events_total, arrived);
	fails += check_u64("app replies", usage.replies, replies);
	fails += check_u64("app bytes", usage.bytes, bytes);
	fails += check_u64("app drops", usage.drops, drops);
	fails += check_u64("app drop_bytes", usage.drop_bytes, drop_bytes);
	fails += check_u64("cap drops in the drop map",
			   cap_drops(drops_after) - cap_drops(drops_before), drops);

	pthread_barrier_destroy(&start);
	for (i = 0; i < o->conns; i++) {
		free(racers[i].frames);
		free(racers[i].stream);
		free(racers[i].rd.buf);
	}
	free(racers);
	return fails;
}

static void race_timeout(int sig)
{
	static const char msg[] = "sluice-meter-test: the race did not finish within " STRINGIFY(
	    RACE_TIMEOUT_S) " s (a writer or reader is stuck)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

/*
 * send --conns N: N connections of one application write at once, right at
 * its quota, for --rounds rounds. A pass takes the quota in one
 * compare-and-swap (quick_charge), or event by event with fetch-and-add and
 * give-back (charge_event) when it does not fit or a connection cap keeps
 * the socket on the slow path: neither may let the connections together
 * past the cap, nor hold back an event that fits.
 */
static int cmd_race(const struct options *o)
{
	struct sl_app_limits lim = { .event_cap = o->app_cap };
	struct race race = { .o = o };
	unsigned round;
	cpu_set_t set;
	int fails = 0;
	int cpu;

	if (!o->app || o->app >= SL_MAX_APPS || !o->app_cap)
		die("--conns races sockets at an application quota: give --app SLOT (1 to %d) and "
		    "--app-cap K",
		    SL_MAX_APPS - 1);
	if (o->framing == SL_FRAMING_TLS || o->framing == SL_FRAMING_RAW)
		die("--conns: use --framing ws, len4 or sse (a TLS socket over a cap is cut)");
	if (o->mode != MODE_WRITEV && o->mode != MODE_SPLIT && o->mode != MODE_BYTES1)
		die("--conns: use --mode writev, split or bytes1 (short writes give quota back, "
		    "so which connection gets it is not fixed)");
	if (o->keep_usage || o->reload_midway || o->hold_ms || o->app_window_ms || o->max_conn_ms ||
	    o->rate_bps || o->pace_ms)
		die("--conns takes only --framing, --mode, --frames, --seed, --max-size, --batch, "
		    "--event-cap, --app, --app-cap, --rounds, --prefix and --runs");
	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity: %s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			race.cpus[race.ncpus++] = cpu;

	signal(SIGALRM, race_timeout);
	alarm(RACE_TIMEOUT_S);
	race.k = open_meter(o);
	if (sl_kern_app_set_limits(race.k, o->app, &lim))
		die("app limits: %s", strerror(errno));
	race.lfd = listen_any(&race.port);
	if (sl_kern_port_add(race.k, race.port, SL_FRAMING_RAW))
		die("port add: %s", strerror(errno));
	for (round = 0; round < o->rounds; round++)
		fails += race_round(&race, round);
	alarm(0);
	close(race.lfd);
	sl_kern_port_del(race.k, race.port);
	printf("%s\n", fails ? "FAIL" : "OK");
	sl_kern_close(race.k);
	return fails ? 1 : 0;
}

/* Sockets that are not the gateway's listeners must never be metered. */
static int cmd_unmetered(const struct options *o)
{
	struct sl_kern *k = open_meter(o);
	int lfd, lfd2, cfd, cfd2, sfd, sfd2, fails = 0;
	uint16_t port, port2;
	struct sl_sock st;

	lfd = listen_any(&port);
	lfd2 = listen_any(&port2);
	if (sl_kern_port_add(k, port, SL_FRAMING_WS))
		die("port add: %s", strerror(errno));
	cfd = connect_to(port);
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cfd2 = connect_to(port2);
	sfd2 = accept4(lfd2, NULL, NULL, SOCK_CLOEXEC);
	if (sfd < 0 || sfd2 < 0)
		die("accept: %s", strerror(errno));

	if (sl_kern_sock_get(k, sfd, &st)) {
		printf("MISMATCH the gateway's accepted socket is not metered\n");
		fails++;
	}
	if (sl_kern_sock_get(k, cfd, &st) != -ENOENT) {
		printf("MISMATCH the outgoing (client) socket is metered\n");
		fails++;
	}
	if (sl_kern_sock_get(k, sfd2, &st) != -ENOENT) {
		printf("MISMATCH a socket on an unregistered port is metered\n");
		fails++;
	}
	if (sl_kern_sock_get(k, lfd, &st) != -ENOENT) {
		printf("MISMATCH the listening socket is metered\n");
		fails++;
	}
	sl_kern_port_del(k, port);
	close(cfd);
	close(sfd);
	close(cfd2);
	close(sfd2);
	close(lfd);
	close(lfd2);
	printf("%s\n", fails ? "FAIL" : "OK");
	sl_kern_close(k);
	return fails ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sluice-meter-test [--pin-root DIR] [--cgroup DIR] { load | cleanup | "
		"unmetered |\n"
		"         send --framing {ws|len4|sse|tls} --mode "
		"{writev|split|bytes1|nonblock|nonblock-noresync}\n"
		"              [--frames N] [--seed S] [--max-size B] [--batch N] [--event-cap K]\n"
		"              [--app SLOT --app-cap K] [--keep-usage] [--reload-midway] "
		"[--prefix] [--hold-ms MS]\n"
		"              [--app-window-ms MS] [--max-conn-ms MS --pause-at N] [--rate BPS "
		"[--burst B]] [--pace-ms MS] [--runs | --long-runs]\n"
		"         send --conns N --app SLOT --app-cap K [--rounds R] [--framing F] [--mode "
		"{writev|split|bytes1}] [...] }\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'r' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "framing", required_argument, NULL, 'f' },
		{ "mode", required_argument, NULL, 'm' },
		{ "frames", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "max-size", required_argument, NULL, 'x' },
		{ "batch", required_argument, NULL, 'b' },
		{ "event-cap", required_argument, NULL, 'c' },
		{ "app", required_argument, NULL, 'a' },
		{ "app-cap", required_argument, NULL, 'A' },
		{ "keep-usage", no_argument, NULL, 'k' },
		{ "reload-midway", no_argument, NULL, 'R' },
		{ "prefix", no_argument, NULL, 'p' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "app-window-ms", required_argument, NULL, 'W' },
		{ "max-conn-ms", required_argument, NULL, 'T' },
		{ "pause-at", required_argument, NULL, 'P' },
		{ "rate", required_argument, NULL, 'B' },
		{ "burst", required_argument, NULL, 'U' },
		{ "pace-ms", required_argument, NULL, 'M' },
		{ "runs", no_argument, NULL, 'u' },
		{ "long-runs", no_argument, NULL, 'L' },
		{ "conns", required_argument, NULL, 'N' },
		{ "rounds", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = {
		.pin_root = SL_KERN_DEFAULT_PIN_ROOT,
		.framing = SL_FRAMING_WS,
		.frames = 300,
		.seed = 1,
		.max_size = 100000,
		.batch = 32,
		.rounds = 1,
	};
	char err[512];
	int c;
	size_t i;

	o.self = argv[0];
	if (strchr(o.self, '/') == NULL)
		die("run me by path (I re-exec myself for --reload-midway)");
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.pin_root = optarg;
			break;
		case 'g':
			o.cgroup = optarg;
			break;
		case 'f':
			if (tf_framing_parse(optarg, &o.framing))
				usage();
			break;
		case 'm':
			for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
				if (strcmp(optarg, mode_names[i]) == 0)
					break;
			if (i == sizeof(mode_names) / sizeof(mode_names[0]))
				usage();
			o.mode = (enum send_mode)i;
			break;
		case 'n':
			o.frames = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 10);
			break;
		case 'x':
			o.max_size = strtoull(optarg, NULL, 10);
			break;
		case 'u':
			o.runs = true;
			break;
		case 'L':
			o.runs = true;
			o.long_runs = true;
			break;
		case 'b':
			o.batch = (unsigned)strtoul(optarg, NULL, 10);
			if (o.batch < 1 || o.batch > BATCH_MAX)
				die("--batch: 1 to %d frames", BATCH_MAX);
			break;
		case 'c':
			o.event_cap = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			o.app = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'A':
			o.app_cap = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			o.keep_usage = true;
			break;
		case 'R':
			o.reload_midway = true;
			break;
		case 'p':
			o.prefix = true;
			break;
		case 'H':
			o.hold_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'W':
			o.app_window_ms = strtoull(optarg, NULL, 10);
			break;
		case 'T':
			o.max_conn_ms = strtoull(optarg, NULL, 10);
			break;
		case 'P':
			o.pause_at = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'B':
			o.rate_bps = strtoull(optarg, NULL, 10);
			break;
		case 'U':
			o.burst = strtoull(optarg, NULL, 10);
			break;
		case 'M':
			o.pace_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'N':
			o.conns = (unsigned)strtoul(optarg, NULL, 10);
			if (o.conns < 1 || o.conns > RACE_CONNS_MAX)
				die("--conns: 1 to %d connections", RACE_CONNS_MAX);
			break;
		case 'O':
			o.rounds = (unsigned)strtoul(optarg, NULL, 10);
			if (o.rounds < 1 || o.rounds > 100)
				die("--rounds: 1 to 100");
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(argv[optind], "cleanup") == 0) {
		if (sl_kern_cleanup(o.pin_root, err, sizeof(err)))
			die("%s", err);
		return 0;
	}
	if (o.rounds != 1 && !o.conns)
		die("--rounds goes with --conns (a race); a plain send is one round");
	if (!o.cgroup)
		die("--cgroup DIR is needed (a cgroup v2 directory this test owns)");
	if (sl_kern_cgroup_join(o.cgroup))
		die("cannot join cgroup %s: %s", o.cgroup, strerror(errno));
	if (strcmp(argv[optind], "load") == 0) {
		sl_kern_close(open_meter(&o));
		return 0;
	}
	if (strcmp(argv[optind], "send") == 0)
		return o.conns ? cmd_race(&o) : cmd_send(&o);
	if (strcmp(argv[optind], "unmetered") == 0)
		return cmd_unmetered(&o);
	usage();
	return 2;
}
