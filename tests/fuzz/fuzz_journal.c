// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The retention journal's reader (route/journal.c sl_journal_open): a file a
 * crash, a full disk or a damaged block left behind. Whatever the file, the
 * open ends with a journal or an error, and a journal it rewrote opens again
 * with no topic's numbers going back: a restart never hands out a sequence
 * number a client may have seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "route/journal.h"
#include "route/router.h"
#include "fuzz.h"

#define NOW 1000000000000ull
#define MAX_TOPICS 64

struct snapshot {
	size_t n;
	struct {
		char name[256];
		uint64_t seq;
	} t[MAX_TOPICS];
};

static void take(const struct sl_router_topic_stat *st, void *ctx)
{
	struct snapshot *s = ctx;

	FUZZ_CHECK(s->n < MAX_TOPICS && st->name_len < sizeof(s->t[0].name));
	memcpy(s->t[s->n].name, st->name, st->name_len);
	s->t[s->n].name[st->name_len] = '\0';
	s->t[s->n].seq = st->seq;
	s->n++;
}

static char dir[] = "/dev/shm/sluice-fuzz-journal-XXXXXX";
static char path[sizeof(dir) + 16];

static void remove_dir(void)
{
	char tmp[sizeof(path) + 8];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	unlink(path);
	rmdir(dir);
}

/* A directory of its own on tmpfs: the open renames a rewritten file over the old one. */
static const char *journal_path(void)
{
	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/journal", dir);
		atexit(remove_dir);
	}
	return path;
}

static struct sl_router *router_new(void)
{
	struct sl_router_opts o = { .ring_count = 4, .max_topics = MAX_TOPICS };
	struct sl_router *r = sl_router_new(&o);

	if (!r)
		abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = journal_path();
	struct snapshot first = { 0 }, again = { 0 };
	struct sl_journal *j;
	struct sl_router *r = router_new();
	size_t i, k;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	if (sl_journal_open(path, r, NOW, &j)) {
		sl_router_free(r);
		return 0;
	}
	sl_router_foreach_topic(r, take, &first);
	sl_journal_close(j, r);
	sl_router_free(r);

	r = router_new();
	FUZZ_CHECK(sl_journal_open(path, r, NOW, &j) == 0);
	sl_router_foreach_topic(r, take, &again);
	for (i = 0; i < first.n; i++) {
		for (k = 0; k < again.n && strcmp(again.t[k].name, first.t[i].name); k++)
			;
		FUZZ_CHECK(k < again.n);
		FUZZ_CHECK(again.t[k].seq >= first.t[i].seq);
	}
	sl_journal_close(j, r);
	sl_router_free(r);
	return 0;
}
