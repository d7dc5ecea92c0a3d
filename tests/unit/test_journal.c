// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The retention journal: what one router accepted, the next one restores. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "route/journal.h"
#include "route/router.h"
#include "tap.h"

#define NOW 1000000000000ull
#define SEC 1000000000ull

static void accept_hook(const struct sl_event *ev, void *ctx)
{
	sl_journal_append(ctx, ev);
}

struct seen {
	uint64_t seqs[64];
	char data[64][16];
	int n;
};

static void collect(struct sl_event *ev, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 64) {
		s->seqs[s->n] = ev->seq;
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)ev->len, ev->data);
		s->n++;
	}
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

int main(void)
{
	char dir[] = "/tmp/sluice-journal-XXXXXX";
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	test_restart(dir);
	test_expired_and_compaction(dir);
	test_bad_files(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_done();
}
