// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The retention journal: what one router accepted, the next one restores. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "route/journal.h"
#include "route/router.h"
#include "tap.h"

#define NOW 1000000000000ull
#define SEC 1000000000ull

static void accept_hook(struct sl_event *ev, void *ctx)
{
	sl_journal_append(ctx, ev);
}

struct seen {
	uint64_t seqs[64];
	char data[64][16];
	int n;
};

static bool collect(struct sl_event *ev, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 64) {
		s->seqs[s->n] = ev->seq;
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)ev->len, ev->data);
		s->n++;
	}
	return true;
}

static struct sl_router *router_new(uint32_t count)
{
	struct sl_router_opts o = { .ring_count = count, .ring_age_ns = 3600 * SEC };

	return sl_router_new(&o);
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? -1 : sb.st_size;
}

static void publish(struct sl_router *r, const char *topic, int i, uint64_t now)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "e%d", i);

	sl_router_publish(r, topic, strlen(topic), buf, (size_t)n, now, NULL, NULL, NULL);
}

static void test_restart(const char *dir)
{
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r = router_new(4);
	struct seen s = { 0 };
	uint64_t seq;
	int i, fd;

	snprintf(path, sizeof(path), "%s/journal", dir);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0,
	       "journal: a missing file is an empty journal");
	sl_router_set_accept_hook(r, accept_hook, j);
	for (i = 1; i <= 6; i++)
		publish(r, "a.b", i, NOW + (uint64_t)i);
	publish(r, "c", 1, NOW);
	TAP_OK(sl_journal_pending(j), "journal: appended records wait for sync");
	TAP_OK(sl_journal_sync(j, r) == 0 && !sl_journal_pending(j), "journal: sync writes them");
	/* as after SIGKILL: the file is what write() took, nothing else */
	sl_journal_close(j, NULL);
	sl_router_free(r);

	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal: reopened");
	sl_journal_get_stats(j, &st);
	/* all 7 records are read back; a.b's ring keeps its last 4 of them */
	TAP_OK(st.restored == 7 && st.torn == 0, "journal: 7 records restored (got %llu)",
	       (unsigned long long)st.restored);
	TAP_OK(sl_router_replay_topic(r, "a.b", 2, collect, &s) == 0 && s.n == 4 &&
		   s.seqs[0] == 3 && s.seqs[3] == 6 && strcmp(s.data[3], "e6") == 0,
	       "journal: resume after seq 2 replays 3..6 with their payloads");
	TAP_OK(sl_router_replay_topic(r, "a.b", 1, collect, &s) == -ERANGE,
	       "journal: resuming from before the ring is still a gap");
	sl_router_set_accept_hook(r, accept_hook, j);
	TAP_OK(sl_router_publish(r, "a.b", 3, "x", 1, NOW + 20, NULL, NULL, &seq) == 0 && seq == 7,
	       "journal: numbering continues after the restart (seq %llu)",
	       (unsigned long long)seq);
	sl_journal_close(j, r); /* graceful: writes what is buffered */
	sl_router_free(r);

	/* a torn tail: the last record cut in half, then garbage */
	fd = open(path, O_WRONLY);
	TAP_OK(fd >= 0 && ftruncate(fd, file_size(path) - 3) == 0, "journal: tail cut");
	close(fd);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 30, &j) == 0, "journal: opens with a torn tail");
	sl_journal_get_stats(j, &st);
	memset(&s, 0, sizeof(s));
	TAP_OK(st.torn > 0 && sl_router_replay_topic(r, "a.b", 5, collect, &s) == 0 && s.n == 1 &&
		   s.seqs[0] == 6,
	       "journal: the torn record (seq 7) is dropped, the rest restored");
	sl_journal_close(j, r);
	sl_router_free(r);
}

static void test_expired_and_compaction(const char *dir)
{
	char path[512];
	struct sl_journal *j;
	struct sl_router_opts o = { .ring_count = 2, .ring_age_ns = 5 * SEC };
	struct sl_router *r = sl_router_new(&o);
	uint64_t seq;
	off_t before;
	int i;

	snprintf(path, sizeof(path), "%s/journal2", dir);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "journal: second file");
	sl_router_set_accept_hook(r, accept_hook, j);
	for (i = 1; i <= 100; i++)
		publish(r, "old", i, NOW);
	sl_journal_sync(j, r);
	before = file_size(path);
	sl_journal_close(j, r);
	sl_router_free(r);

	/* 10 s later every event is past the age bound: only the numbers survive */
	r = sl_router_new(&o);
	TAP_OK(sl_journal_open(path, r, NOW + 10 * SEC, &j) == 0, "journal: reopened later");
	TAP_OK(file_size(path) < before, "journal: rewritten smaller at open (%lld < %lld)",
	       (long long)file_size(path), (long long)before);
	TAP_OK(sl_router_replay_topic(r, "old", 100, collect, &(struct seen){ 0 }) == 0,
	       "journal: resuming at the last seq works with an empty ring");
	TAP_OK(sl_router_replay_topic(r, "old", 99, collect, &(struct seen){ 0 }) == -ERANGE,
	       "journal: expired events are a gap, not silently skipped");
	TAP_OK(sl_router_publish(r, "old", 3, "y", 1, NOW + 10 * SEC, NULL, NULL, &seq) == 0 &&
		   seq == 101,
	       "journal: an expired topic keeps its numbering");
	sl_journal_close(j, r);
	sl_router_free(r);
}

static void test_bad_files(const char *dir)
{
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r = router_new(4);
	int fd;

	snprintf(path, sizeof(path), "%s/garbage", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	TAP_OK(fd >= 0 && write(fd, "not a journal at all", 20) == 20, "journal: garbage written");
	close(fd);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "journal: a foreign file is replaced");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.restored == 0 && st.torn == 20, "journal: ... and counted as torn");
	sl_journal_close(j, r);
	snprintf(path, sizeof(path), "%s/no/such/dir/journal", dir);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == -ENOENT && !j,
	       "journal: an unusable path is an error");
	sl_router_free(r);
}

/*
 * RLIMIT_FSIZE stands in for a full disk: writes past the limit fail (EFBIG,
 * after a short write up to it), overwrites below it succeed, as on a full
 * disk whose allocated blocks can still be rewritten. Works as root too.
 */
static void limit_file_size(rlim_t bytes)
{
	struct rlimit rl;

	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes;
	setrlimit(RLIMIT_FSIZE, &rl);
}

static uint64_t next_seq(struct sl_router *r, const char *topic)
{
	uint64_t seq = 0;

	sl_router_publish(r, topic, strlen(topic), "n", 1, NOW + 50, NULL, NULL, &seq);
	return seq;
}

/*
 * a: 1..3 journaled; then a 4..6, b 3 and lost.t 1..2 (gseq 6..11) are
 * handed out but their write fails ("disk full") and the daemon is killed.
 * tail_room: bytes the failing write may still put down (a short write).
 */
static void run_with_lost_writes(const char *path, rlim_t tail_room, bool recover)
{
	struct sl_router *r = router_new(4);
	struct sl_journal_stats st;
	struct sl_journal *j;
	int i;

	unlink(path);
	sl_journal_open(path, r, NOW, &j);
	sl_router_set_accept_hook(r, accept_hook, j);
	for (i = 1; i <= 3; i++)
		publish(r, "a", i, NOW);
	publish(r, "b", 1, NOW);
	publish(r, "b", 2, NOW);
	TAP_OK(sl_journal_sync(j, r) == 0, "journal lost: first records written");
	limit_file_size((rlim_t)file_size(path) + tail_room);
	for (i = 4; i <= 6; i++)
		publish(r, "a", i, NOW);
	publish(r, "b", 3, NOW);
	publish(r, "lost.t", 1, NOW);
	publish(r, "lost.t", 2, NOW);
	TAP_OK(sl_journal_sync(j, r) != 0, "journal lost: the write past the limit fails");
	limit_file_size(RLIM_INFINITY);
	sl_journal_get_stats(j, &st);
	TAP_OK(st.write_errors == 1 && st.dropped == 6 && st.mark_errors == 0 &&
		   file_size(path) == (off_t)st.file_bytes,
	       "journal lost: 6 records dropped, their numbers marked, no part record left");
	if (recover) {
		/* the disk has room again: a:7 (gseq 12) is written after the lost ones */
		publish(r, "a", 7, NOW);
		TAP_OK(sl_journal_sync(j, r) == 0, "journal lost: writing works again");
	}
	sl_journal_close(j, NULL); /* SIGKILL */
	sl_router_free(r);
}

static void test_lost_writes(const char *dir)
{
	const char *const all[] = { ">" };
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r;
	struct seen s = { 0 };
	uint64_t gseq = 0;

	signal(SIGXFSZ, SIG_IGN);
	snprintf(path, sizeof(path), "%s/journal-lost", dir);

	run_with_lost_writes(path, 0, false);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal lost: reopened");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.floor == 11 && st.lost_at_open == 11,
	       "journal lost: the header says numbers up to gseq 11 were lost");
	TAP_OK(next_seq(r, "a") > 11, "journal lost: a continues past every number handed out");
	TAP_OK(sl_router_replay_topic(r, "a", 3, collect, &s) == -ERANGE && s.n == 0,
	       "journal lost: resuming a from 3 (before the lost 4..6) is a gap");
	TAP_OK(sl_router_gseq_of(r, "a", 3, &gseq) == -ERANGE ||
		   (sl_router_replay_after(r, all, 1, gseq, collect, &s) == -ERANGE && s.n == 0),
	       "journal lost: Last-Event-ID a:3 is a gap too");
	TAP_OK(next_seq(r, "b") > 11, "journal lost: b continues past them too");
	TAP_OK(next_seq(r, "lost.t") > 11, "journal lost: a topic the journal never held too");
	TAP_OK(sl_router_replay_topic(r, "lost.t", 2, collect, &s) == -ERANGE,
	       "journal lost: resuming it from a lost number is a gap");
	TAP_OK(next_seq(r, "new.t") > 11, "journal lost: and a topic first seen now");
	sl_journal_close(j, r);
	sl_router_free(r);

	/* a short write left half a record; then writing worked again */
	run_with_lost_writes(path, 10, true);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0,
	       "journal lost: reopened after recovery");
	memset(&s, 0, sizeof(s));
	TAP_OK(sl_router_replay_topic(r, "a", 6, collect, &s) == 0 && s.n == 1 && s.seqs[0] == 7,
	       "journal lost: a:7, written after the failure, is restored");
	TAP_OK(sl_router_replay_topic(r, "a", 3, collect, &s) == -ERANGE,
	       "journal lost: ... and resuming from before the lost ones is a gap");
	TAP_OK(next_seq(r, "a") == 8, "journal lost: a continues after 7");
	TAP_OK(next_seq(r, "b") > 11 && next_seq(r, "lost.t") > 11,
	       "journal lost: the topics without a later record continue past the lost numbers");
	sl_journal_close(j, r);
	sl_router_free(r);
}

static void test_still_full_at_restart(const char *dir)
{
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r;

	snprintf(path, sizeof(path), "%s/journal-full", dir);
	run_with_lost_writes(path, 10, false);
	/* room for the header, none for a rewrite: the old file is appended to */
	limit_file_size(40);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal full: opens on a full disk");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.rewrite_error == EFBIG && st.floor == 11 && st.lost_at_open == 11,
	       "journal full: the rewrite failed, the loss up to gseq 11 was read (%llu %llu %llu)",
	       (unsigned long long)st.rewrite_error, (unsigned long long)st.floor,
	       (unsigned long long)st.lost_at_open);
	sl_router_set_accept_hook(r, accept_hook, j);
	TAP_OK(next_seq(r, "a") == 12, "journal full: a continues after the lost numbers");
	TAP_OK(sl_journal_sync(j, r) != 0, "journal full: its record cannot be written");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.dropped == 1 && st.mark_errors == 0, "journal full: dropped, and marked");
	sl_journal_close(j, NULL);
	sl_router_free(r);
	limit_file_size(RLIM_INFINITY);

	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 20, &j) == 0, "journal full: reopened with room");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.rewrite_error == 0 && st.floor == 12 && st.lost_at_open == 12,
	       "journal full: the second run's loss (gseq 12) was marked too");
	sl_router_set_accept_hook(r, accept_hook, j);
	TAP_OK(next_seq(r, "a") == 13 && next_seq(r, "b") == 13,
	       "journal full: no number of either run is given out again");
	sl_journal_close(j, r);
	sl_router_free(r);

	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 30, &j) == 0, "journal full: a clean restart");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.floor == 12 && st.lost_at_open == 0 && st.header_damaged == 0,
	       "journal full: the floor stays, no new loss is reported");
	TAP_OK(next_seq(r, "a") == 14 && next_seq(r, "other") == 13,
	       "journal full: topics continue, a new one starts past the floor");
	sl_journal_close(j, r);
	sl_router_free(r);
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One record as journal.h lays it out; returns its length. */
static size_t put_record(uint8_t *p, const char *topic, uint64_t seq, uint64_t gseq,
			 const char *data)
{
	size_t tl = strlen(topic), dl = strlen(data), body = 26 + tl + dl;

	put_le(p, body, 4);
	put_le(p + 8, seq, 8);
	put_le(p + 16, gseq, 8);
	put_le(p + 24, NOW, 8);
	put_le(p + 32, tl, 2);
	memcpy(p + 34, topic, tl);
	memcpy(p + 34 + tl, data, dl);
	put_le(p + 4, fnv1a(p + 8, body), 4);
	return 8 + body;
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		TAP_OK(0, "journal: cannot write %s", path);
	close(fd);
}

/* A file the previous version wrote: "SLJ1" and records, no header numbers. */
static void test_old_format(const char *dir)
{
	uint8_t file[512], magic[4];
	char path[512];
	size_t n = 4;
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r = router_new(4);
	struct seen s = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/journal-v1", dir);
	memcpy(file, "SLJ1", 4);
	n += put_record(file + n, "v1.t", 1, 1, "one");
	n += put_record(file + n, "v1.t", 2, 2, "two");
	n += put_record(file + n, "v1.u", 1, 3, "three");
	put_file(path, file, n);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal v1: opens");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.restored == 3 && st.torn == 0 && st.floor == 0 && st.header_damaged == 0,
	       "journal v1: its records restore, with no floor");
	TAP_OK(sl_router_replay_topic(r, "v1.t", 0, collect, &s) == 0 && s.n == 2 &&
		   strcmp(s.data[1], "two") == 0,
	       "journal v1: with their payloads");
	sl_router_set_accept_hook(r, accept_hook, j);
	TAP_OK(next_seq(r, "v1.t") == 3 && next_seq(r, "v1.u") == 2,
	       "journal v1: numbering continues");
	sl_journal_close(j, r);
	sl_router_free(r);
	fd = open(path, O_RDONLY);
	TAP_OK(fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "SLJ2", 4) == 0,
	       "journal v1: rewritten in the new format");
	close(fd);

	/* the same file with its magic damaged: the record after it tells the layout */
	memcpy(file, "S\0J1", 4);
	put_file(path, file, n);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal v1: opens with a bad magic");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.restored == 3 && st.header_damaged == 1 && next_seq(r, "v1.t") == 3,
	       "journal v1: ... its records still restore, the damage is reported");
	sl_journal_close(j, r);
	sl_router_free(r);
}

/* Overwrites n bytes at off in the file. */
static void damage(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, p, n, off) != (ssize_t)n)
		TAP_OK(0, "journal: cannot damage %s", path);
	close(fd);
}

/* Each header damage costs at most the header's numbers, never the records. */
static void test_damaged_header(const char *dir)
{
	uint8_t head[24];
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r;
	uint64_t want = 4;
	int i;

	snprintf(path, sizeof(path), "%s/journal-damaged", dir);
	r = router_new(4);
	sl_journal_open(path, r, NOW, &j);
	sl_router_set_accept_hook(r, accept_hook, j);
	for (i = 1; i <= 3; i++)
		publish(r, "d", i, NOW);
	sl_journal_close(j, r);
	sl_router_free(r);

	/* a check that fails; a bad magic; a floor past any count with a valid check */
	for (i = 0; i < 3; i++) {
		if (i == 0)
			damage(path, 12, "\x7f", 1);
		if (i == 1)
			damage(path, 0, "XLJ2", 4);
		if (i == 2) {
			memcpy(head, "SLJ2", 4);
			put_le(head + 8, UINT64_MAX - 1, 8);
			put_le(head + 16, UINT64_MAX, 8);
			put_le(head + 4, fnv1a(head + 8, 16), 4);
			damage(path, 0, head, sizeof(head));
		}
		r = router_new(4);
		TAP_OK(sl_journal_open(path, r, NOW + 10, &j) == 0, "journal damaged %d: opens", i);
		sl_journal_get_stats(j, &st);
		sl_router_set_accept_hook(r, accept_hook, j);
		TAP_OK(st.header_damaged == 1 && st.floor == 0 && next_seq(r, "d") == want,
		       "journal damaged %d: reported, seq continues at %llu", i,
		       (unsigned long long)want);
		want++;
		sl_journal_close(j, r);
		sl_router_free(r);
	}

	/* a header cut short: nothing to read, nothing to crash on */
	put_file(path, (const uint8_t *)"SLJ2\1\2", 6);
	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "journal damaged: a cut header opens");
	sl_journal_get_stats(j, &st);
	TAP_OK(st.restored == 0 && st.header_damaged == 1, "journal damaged: ... reported");
	sl_journal_close(j, r);
	sl_router_free(r);
}

/* max_topics lowered across a restart: a topic left out must not start over later. */
/* Publishes and syncs bytes of events of 1 MiB on topic "big", a rewrite run as the loop runs it.
 */
static void append_big(struct sl_router *r, struct sl_journal *j, const uint8_t *payload,
		       uint64_t bytes)
{
	uint64_t done;

	for (done = 0; done < bytes; done += 1u << 20) {
		sl_router_publish(r, "big", 3, payload, 1u << 20, NOW, NULL, NULL, NULL);
		sl_journal_sync(j, r);
		while (sl_journal_step(j, r) > 0)
			;
	}
}

/*
 * A rewrite that fails (here its new file cannot be created; on a full disk
 * its writes fail) is not tried again at every sync: each try encodes every
 * retained event again. It is tried once the file has grown 64 MiB more.
 */
static void test_rewrite_backoff(const char *dir)
{
	char path[512], tmp[520];
	uint8_t *payload = calloc(1, 1u << 20);
	struct sl_router *r = router_new(2);
	struct sl_journal_stats st;
	struct sl_journal *j;
	int i;

	snprintf(path, sizeof(path), "%s/journal-backoff", dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	TAP_OK(payload && sl_journal_open(path, r, NOW, &j) == 0, "rewrite backoff: opened");
	sl_router_set_accept_hook(r, accept_hook, j);
	mkdir(tmp, 0700); /* open(O_CREAT) of the new file fails: EISDIR */
	append_big(r, j, payload, 65ull << 20);
	sl_journal_get_stats(j, &st);
	TAP_OK(st.rewrite_failures == 1 && st.compactions == 0 && st.write_errors == 0,
	       "rewrite backoff: the rewrite at 64 MiB failed once (%llu), appends go on",
	       (unsigned long long)st.rewrite_failures);
	for (i = 0; i < 10; i++) {
		publish(r, "small", i, NOW);
		sl_journal_sync(j, r);
	}
	sl_journal_get_stats(j, &st);
	TAP_OK(st.rewrite_failures == 1, "rewrite backoff: the next syncs do not try again (%llu)",
	       (unsigned long long)st.rewrite_failures);
	rmdir(tmp);
	append_big(r, j, payload, 64ull << 20);
	sl_journal_get_stats(j, &st);
	TAP_OK(st.compactions == 1 && st.rewrite_failures == 1 && file_size(path) < (4 << 20),
	       "rewrite backoff: 64 MiB later it is tried again, and works (%lld bytes)",
	       (long long)file_size(path));
	sl_journal_close(j, r);
	sl_router_free(r);
	unlink(path);
	free(payload);
}

static void test_topics_left_out(const char *dir)
{
	struct sl_router_opts one = { .ring_count = 4, .max_topics = 1 };
	char path[512];
	struct sl_journal *j;
	struct sl_journal_stats st;
	struct sl_router *r = router_new(4);

	snprintf(path, sizeof(path), "%s/journal-topics", dir);
	sl_journal_open(path, r, NOW, &j);
	sl_router_set_accept_hook(r, accept_hook, j);
	publish(r, "kept", 1, NOW);
	publish(r, "left.out", 1, NOW);
	publish(r, "left.out", 2, NOW); /* gseq 3 */
	sl_journal_close(j, r);
	sl_router_free(r);

	r = sl_router_new(&one);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0,
	       "journal topics: reopened with max_topics 1");
	sl_journal_get_stats(j, &st);
	/* the floor emptied kept's ring too, and at max_topics the open forgets it */
	TAP_OK(st.floor == 3 && sl_router_topic_count(r) == 0,
	       "journal topics: the topic left out sets the floor (%llu)",
	       (unsigned long long)st.floor);
	sl_journal_close(j, r);
	sl_router_free(r);

	r = router_new(4);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "journal topics: reopened with room");
	TAP_OK(next_seq(r, "left.out") == 4 && next_seq(r, "kept") == 4,
	       "journal topics: its numbers are not given out again");
	sl_journal_close(j, r);
	sl_router_free(r);
}

/* Reclaimed topics leave no record: one numbers-only record keeps their last gseq. */
static void test_reclaimed_numbers(const char *dir)
{
	struct sl_router_opts few = { .ring_count = 4, .ring_age_ns = SEC, .max_topics = 2 };
	char path[512];
	struct sl_journal *j;
	struct sl_router *r = sl_router_new(&few);

	snprintf(path, sizeof(path), "%s/journal-reclaimed", dir);
	sl_journal_open(path, r, NOW, &j);
	sl_router_set_accept_hook(r, accept_hook, j);
	publish(r, "gone", 1, NOW);
	publish(r, "gone", 2, NOW);
	publish(r, "also.gone", 1, NOW); /* gseq 3 */
	sl_journal_close(j, r);
	sl_router_free(r);

	/* Restored aged out: the open forgets both before its rewrite, which keeps the number */
	r = sl_router_new(&few);
	TAP_OK(sl_journal_open(path, r, NOW + 20 * SEC, &j) == 0 && sl_router_topic_count(r) == 0 &&
		   sl_router_reclaimed_gseq(r) == 3,
	       "journal reclaimed: both topics forgotten at open");
	sl_journal_close(j, r);
	sl_router_free(r);
	for (int round = 0; round < 2; round++) {
		r = router_new(4);
		TAP_OK(sl_journal_open(path, r, NOW + 20 * SEC, &j) == 0 &&
			   sl_router_reclaimed_gseq(r) == 3,
		       "journal reclaimed: their last gseq comes back after restart %d", round + 1);
		sl_journal_close(j, r);
		sl_router_free(r);
	}
	r = router_new(4);
	sl_journal_open(path, r, NOW + 20 * SEC, &j);
	TAP_OK(next_seq(r, "gone") == 4, "journal reclaimed: the name starts past them");
	sl_journal_close(j, r);
	sl_router_free(r);
}

/* What a router retains, one line per record, to compare a restored router with it. */
struct retained_list {
	char *text;
	size_t len, cap;
};

static void list_retained(const char *topic, uint32_t topic_len, uint64_t seq, uint64_t gseq,
			  const struct sl_event *ev, void *ctx)
{
	struct retained_list *l = ctx;
	char line[128];
	uint32_t sum = 0;
	size_t i;
	int n;

	for (i = 0; ev && i < ev->len; i++)
		sum = sum * 31 + ev->data[i];
	n = snprintf(line, sizeof(line), "%.*s %llu %llu %zu %u\n", (int)topic_len, topic,
		     (unsigned long long)seq, (unsigned long long)gseq, ev ? ev->len : 0, sum);
	if (l->len + (size_t)n + 1 > l->cap) {
		l->cap = (l->cap + (size_t)n + 1) * 2;
		l->text = realloc(l->text, l->cap);
	}
	memcpy(l->text + l->len, line, (size_t)n + 1);
	l->len += (size_t)n;
}

static char *retained_text(struct sl_router *r)
{
	struct retained_list l = { 0 };

	sl_router_foreach_retained(r, 0, SIZE_MAX, list_retained, &l);
	return l.text ? l.text : strdup("");
}

/*
 * Whether the journal at path restores exactly what r retains. A copy is
 * opened: an open rewrites the file, under the live journal's feet.
 */
static bool restores_as(const char *path, struct sl_router *r)
{
	struct sl_router *again = router_new(20);
	struct sl_journal *j2;
	char *want = retained_text(r), *got, copy[600], cmd[1300];
	bool same;

	snprintf(copy, sizeof(copy), "%s.check", path);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, copy);
	if (system(cmd) || sl_journal_open(copy, again, NOW, &j2)) {
		free(want);
		sl_router_free(again);
		return false;
	}
	got = retained_text(again);
	same = !strcmp(want, got);
	free(want);
	free(got);
	sl_journal_close(j2, NULL);
	sl_router_free(again);
	unlink(copy);
	return same;
}

/* Events of 4 KiB on topics t0..t(ntopics-1), i-th of them on topic i % ntopics, synced. */
static void publish_spread(struct sl_router *r, struct sl_journal *j, int from, int count,
			   int ntopics)
{
	uint8_t payload[4096];
	char topic[16];
	int i;

	for (i = from; i < from + count; i++) {
		memset(payload, i & 0xff, sizeof(payload));
		snprintf(topic, sizeof(topic), "t%d", i % ntopics);
		sl_router_publish(r, topic, strlen(topic), payload, sizeof(payload), NOW, NULL,
				  NULL, NULL);
		sl_journal_sync(j, r);
	}
}

/*
 * The rewrite while running goes in slices between which events keep
 * coming: the new file must hold, in the end, exactly what the rings hold.
 */
static void test_rewrite_in_slices(const char *dir)
{
	char path[512], tmp[520];
	struct sl_router *r = router_new(20);
	struct sl_journal_stats st;
	struct sl_journal *j;
	int i = 0, steps = 0, ret;

	snprintf(path, sizeof(path), "%s/journal-slices", dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "rewrite in slices: opened");
	sl_router_set_accept_hook(r, accept_hook, j);
	/* 200 topics of 20 retained events: 16 MiB in the rings, 64 slices */
	while (!sl_journal_rewriting(j) && i < 20000) {
		publish_spread(r, j, i, 1, 200);
		i++;
	}
	sl_journal_get_stats(j, &st);
	TAP_OK(sl_journal_rewriting(j) && st.file_bytes >= (64u << 20) && st.compactions == 0,
	       "rewrite in slices: begun by the sync that took the file past 64 MiB (%d events)",
	       i);
	/* Between slices: events on topics written already, on topics not yet, on new topics. */
	while ((ret = sl_journal_step(j, r)) > 0 && steps < 10000) {
		steps++;
		publish_spread(r, j, i, 7, 230);
		i += 7;
	}
	sl_journal_get_stats(j, &st);
	TAP_OK(ret == 0 && !sl_journal_rewriting(j) && st.compactions == 1 && steps > 40 &&
		   file_size(tmp) == -1,
	       "rewrite in slices: done in %d slices, the new file renamed over the old", steps);
	TAP_OK(st.file_bytes < (24u << 20) && file_size(path) == (off_t)st.file_bytes,
	       "rewrite in slices: the file is about what the rings hold (%llu bytes)",
	       (unsigned long long)st.file_bytes);
	TAP_OK(restores_as(path, r),
	       "rewrite in slices: it restores exactly what the rings hold, the events taken "
	       "meanwhile too");
	publish_spread(r, j, i, 50, 230);
	i += 50;
	TAP_OK(restores_as(path, r), "rewrite in slices: and appends go on after it");

	/* Closed while one is under way: the old file holds everything. */
	publish_spread(r, j, i, 17000, 200);
	i += 17000;
	TAP_OK(sl_journal_rewriting(j), "rewrite in slices: a second one begun");
	sl_journal_step(j, r);
	sl_journal_step(j, r);
	sl_journal_close(j, r);
	TAP_OK(file_size(tmp) == -1 && restores_as(path, r),
	       "rewrite in slices: closed mid-way, the new file is gone, the old one restores all");

	/* Given up when the old file misses a record meanwhile: the copy would miss it too. */
	TAP_OK(sl_journal_open(path, r, NOW, &j) == 0, "rewrite in slices: opened again");
	sl_router_set_accept_hook(r, accept_hook, j);
	publish_spread(r, j, i, 17000, 200);
	i += 17000;
	TAP_OK(sl_journal_rewriting(j), "rewrite in slices: a third one begun");
	sl_journal_step(j, r);
	sl_journal_get_stats(j, &st);
	limit_file_size(st.file_bytes + 100); /* the next 4 KiB record does not fit */
	publish_spread(r, j, i, 1, 200);
	limit_file_size(RLIM_INFINITY);
	ret = sl_journal_step(j, r);
	sl_journal_get_stats(j, &st);
	TAP_OK(ret < 0 && !sl_journal_rewriting(j) && st.compactions == 0 &&
		   st.rewrite_failures == 1 && st.write_errors == 1 && file_size(tmp) == -1,
	       "rewrite in slices: a failed append gives it up, the old file stays (%d)", ret);
	sl_journal_close(j, r);
	sl_router_free(r);
}

int main(void)
{
	char dir[] = "/tmp/sluice-journal-XXXXXX";
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	test_restart(dir);
	test_expired_and_compaction(dir);
	test_bad_files(dir);
	test_lost_writes(dir);
	test_still_full_at_restart(dir);
	test_old_format(dir);
	test_damaged_header(dir);
	test_topics_left_out(dir);
	test_reclaimed_numbers(dir);
	test_rewrite_backoff(dir);
	test_rewrite_in_slices(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_done();
}
