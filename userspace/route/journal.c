// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "route/journal.h"

#define JOURNAL_MAGIC "SLJ1"
#define RECORD_HEAD 8			    /* body_len, check */
#define BODY_FIXED (8 + 8 + 8 + 2)	    /* seq, gseq, ts_ns, topic_len */
#define MARKER_TS UINT64_MAX		    /* ts_ns of a numbers-only record */
#define MIN_COMPACT_BYTES (64ull << 20)	    /* never rewrite a journal smaller than this */
#define MAX_RECORD_BODY ((uint64_t)1 << 31) /* far above max_frame_bytes: a damaged length */

struct sl_journal {
	char *path;
	int fd;
	uint8_t *buf; /* records not yet written */
	size_t len, cap;
	uint64_t file_bytes;
	uint64_t compact_at; /* rewrite when the file reaches this size */
	struct sl_journal_stats st;
};

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

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int reserve(struct sl_journal *j, size_t more)
{
	size_t cap = j->cap ? j->cap : 4096;
	uint8_t *buf;

	if (j->len + more <= j->cap)
		return 0;
	while (cap < j->len + more)
		cap *= 2;
	buf = realloc(j->buf, cap);
	if (!buf)
		return -ENOMEM;
	j->buf = buf;
	j->cap = cap;
	return 0;
}

/* Appends one record to the buffer; data NULL writes a numbers-only marker. */
static int add_record(struct sl_journal *j, const char *topic, uint32_t topic_len, uint64_t seq,
		      uint64_t gseq, uint64_t ts_ns, const uint8_t *data, size_t len)
{
	size_t body = BODY_FIXED + topic_len + (data ? len : 0);
	uint8_t *p;

	if (reserve(j, RECORD_HEAD + body))
		return -ENOMEM;
	p = j->buf + j->len;
	put_le(p, body, 4);
	put_le(p + RECORD_HEAD, seq, 8);
	put_le(p + RECORD_HEAD + 8, gseq, 8);
	put_le(p + RECORD_HEAD + 16, data ? ts_ns : MARKER_TS, 8);
	put_le(p + RECORD_HEAD + 24, topic_len, 2);
	memcpy(p + RECORD_HEAD + BODY_FIXED, topic, topic_len);
	if (data && len)
		memcpy(p + RECORD_HEAD + BODY_FIXED + topic_len, data, len);
	put_le(p + 4, fnv1a(p + RECORD_HEAD, body), 4);
	j->len += RECORD_HEAD + body;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads the whole file; a missing file is empty. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	ssize_t r;
	size_t at = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &sb)) {
		close(fd);
		return -errno;
	}
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (at < (size_t)sb.st_size) {
		r = read(fd, buf + at, (size_t)sb.st_size - at);
		if (r <= 0)
			break;
		at += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = at;
	return 0;
}

/* Restores every intact record; stops at the first damaged one (a torn tail). */
static void restore(struct sl_journal *j, const uint8_t *p, size_t len, struct sl_router *router,
		    uint64_t now_ns)
{
	size_t at = 4;

	if (len < 4 || memcmp(p, JOURNAL_MAGIC, 4)) {
		j->st.torn = len;
		return;
	}
	while (at + RECORD_HEAD <= len) {
		uint64_t body = get_le(p + at, 4), ts;
		const uint8_t *b = p + at + RECORD_HEAD;
		uint32_t topic_len;

		if (body < BODY_FIXED || body > MAX_RECORD_BODY || at + RECORD_HEAD + body > len ||
		    fnv1a(b, body) != (uint32_t)get_le(p + at + 4, 4))
			break;
		topic_len = (uint32_t)get_le(b + 24, 2);
		if (BODY_FIXED + topic_len > body)
			break;
		ts = get_le(b + 16, 8);
		if (sl_router_restore(router, (const char *)b + BODY_FIXED, topic_len,
				      ts == MARKER_TS ? NULL : b + BODY_FIXED + topic_len,
				      body - BODY_FIXED - topic_len, get_le(b, 8), get_le(b + 8, 8),
				      ts, now_ns) == 0 &&
		    ts != MARKER_TS)
			j->st.restored++;
		at += RECORD_HEAD + body;
	}
	j->st.torn = len - at;
}

static void add_retained(const char *topic, uint32_t topic_len, uint64_t seq, uint64_t gseq,
			 const struct sl_event *ev, void *ctx)
{
	struct sl_journal *j = ctx;

	if (add_record(j, topic, topic_len, seq, gseq, ev ? ev->ts_ns : 0, ev ? ev->data : NULL,
		       ev ? ev->len : 0))
		j->st.write_errors++;
}

/*
 * Rewrites the file from the rings: a new file renamed over the old one, so
 * a crash in between leaves one whole journal or the other.
 */
static int compact(struct sl_journal *j, struct sl_router *router)
{
	size_t pending = j->len, tmplen = strlen(j->path) + 5;
	uint8_t *saved = NULL;
	char *tmp = malloc(tmplen);
	int fd, ret;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, tmplen, "%s.new", j->path);
	/* Records not yet written describe events the rings already hold. */
	if (pending) {
		saved = j->buf;
		j->buf = NULL;
		j->len = j->cap = 0;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (reserve(j, 4) == 0) {
		memcpy(j->buf, JOURNAL_MAGIC, 4);
		j->len = 4;
	}
	sl_router_foreach_retained(router, add_retained, j);
	ret = j->len >= 4 ? write_all(fd, j->buf, j->len) : -ENOMEM;
	if (!ret && rename(tmp, j->path))
		ret = -errno;
	if (ret) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->file_bytes = j->len;
	/* Rewrite again once the file holds several times what the rings hold. */
	j->compact_at =
	    j->file_bytes * 4 > MIN_COMPACT_BYTES ? j->file_bytes * 4 : MIN_COMPACT_BYTES;
	j->st.compactions++;
	j->len = 0;
out:
	if (saved) {
		if (ret) {
			free(j->buf);
			j->buf = saved;
			j->len = pending;
		} else {
			free(saved);
		}
	}
	free(tmp);
	return ret;
}

int sl_journal_open(const char *path, struct sl_router *router, uint64_t now_ns,
		    struct sl_journal **out)
{
	struct sl_journal *j = calloc(1, sizeof(*j));
	uint8_t *old = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->path = strdup(path);
	if (!j->path) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = read_file(path, &old, &len);
	if (ret)
		goto fail;
	if (old)
		restore(j, old, len, router, now_ns);
	free(old);
	ret = compact(j, router);
	if (ret)
		goto fail;
	j->st.compactions = 0;
	*out = j;
	return 0;
fail:
	sl_journal_close(j, NULL);
	return ret;
}

void sl_journal_append(struct sl_journal *j, const struct sl_event *ev)
{
	if (add_record(j, ev->topic, ev->topic_len, ev->seq, ev->gseq, ev->ts_ns, ev->data,
		       ev->len))
		j->st.write_errors++;
	else
		j->st.appended++;
}

int sl_journal_pending(const struct sl_journal *j)
{
	return j->len != 0;
}

int sl_journal_sync(struct sl_journal *j, struct sl_router *router)
{
	int ret;

	if (!j->len)
		return 0;
	if (j->file_bytes + j->len >= j->compact_at && compact(j, router) == 0)
		return 0; /* the rewrite holds the buffered events: they are in the rings */
	ret = write_all(j->fd, j->buf, j->len);
	if (ret) {
		/* Keeping them would grow without bound while the disk stays full. */
		j->st.write_errors++;
		j->len = 0;
		return ret;
	}
	j->file_bytes += j->len;
	j->len = 0;
	/* A burst can leave a large buffer behind: give it back. */
	if (j->cap > (1u << 20)) {
		free(j->buf);
		j->buf = NULL;
		j->cap = 0;
	}
	return 0;
}

void sl_journal_get_stats(const struct sl_journal *j, struct sl_journal_stats *st)
{
	*st = j->st;
	st->file_bytes = j->file_bytes;
}

void sl_journal_close(struct sl_journal *j, struct sl_router *router)
{
	if (!j)
		return;
	if (router && j->fd >= 0)
		sl_journal_sync(j, router);
	if (j->fd >= 0)
		close(j->fd);
	free(j->buf);
	free(j->path);
	free(j);
}
