// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "route/journal.h"

#define JOURNAL_MAGIC_V1 "SLJ1" /* records right after the magic */
#define JOURNAL_MAGIC "SLJ2"
#define HEADER_BYTES 24			    /* magic, check, floor, lost */
#define MAX_MARK ((uint64_t)1 << 62)	    /* no run counts this far: a damaged header */
#define RECORD_HEAD 8			    /* body_len, check */
#define BODY_FIXED (8 + 8 + 8 + 2)	    /* seq, gseq, ts_ns, topic_len */
#define MARKER_TS UINT64_MAX		    /* ts_ns of a numbers-only record */
#define MIN_COMPACT_BYTES (64ull << 20)	    /* never rewrite a journal smaller than this */
#define MAX_RECORD_BODY ((uint64_t)1 << 31) /* far above max_frame_bytes: a damaged length */

struct rec_buf {
	uint8_t *p;
	size_t len, cap;
};

/*
 * A rewrite under way (sl_journal_step): the rings are written to the new
 * file a slice at a time, then what the old file took meanwhile is copied
 * after them, and the new file is renamed over the old one.
 */
struct rewrite {
	int fd;		    /* the new file; -1: no rewrite under way */
	uint64_t bytes;	    /* written to it so far */
	size_t next_topic;  /* the router's topic index the next slice starts at */
	uint64_t tail_from; /* the old file's size when it began: its later records follow */
	bool topics_done;
	bool failed; /* a record of this run missed the old file: the copy would miss it too */
	struct rec_buf buf;
	/* The file replaced, cut down 16 MiB a slice: closed whole, a GiB held the loop 0.2 s. */
	int old_fd;
	uint64_t old_bytes;
};

struct sl_journal {
	char *path;
	int fd;
	struct rec_buf out; /* records not yet written */
	struct rewrite rw;
	uint64_t file_bytes;
	uint64_t compact_at; /* rewrite when the file reaches this size */
	uint64_t floor;	     /* goes into every header: an earlier run's losses */
	uint64_t last_gseq;  /* of the newest event appended */
	uint64_t lost;	     /* newest gseq handed out without a record in the file (0: none) */
	uint64_t marked;     /* the lost the header says */
	uint64_t pending;    /* events in buf */
	bool short_rewrite;  /* a record did not fit in memory during a rewrite */
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

static int reserve(struct rec_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void rec_buf_free(struct rec_buf *b)
{
	free(b->p);
	*b = (struct rec_buf){ 0 };
}

/* Appends one record to b; data NULL writes a numbers-only marker. */
static int add_record(struct rec_buf *b, const char *topic, uint32_t topic_len, uint64_t seq,
		      uint64_t gseq, uint64_t ts_ns, const uint8_t *data, size_t len)
{
	size_t body = BODY_FIXED + topic_len + (data ? len : 0);
	uint8_t *p;

	if (reserve(b, RECORD_HEAD + body))
		return -ENOMEM;
	p = b->p + b->len;
	put_le(p, body, 4);
	put_le(p + RECORD_HEAD, seq, 8);
	put_le(p + RECORD_HEAD + 8, gseq, 8);
	put_le(p + RECORD_HEAD + 16, data ? ts_ns : MARKER_TS, 8);
	put_le(p + RECORD_HEAD + 24, topic_len, 2);
	memcpy(p + RECORD_HEAD + BODY_FIXED, topic, topic_len);
	if (data && len)
		memcpy(p + RECORD_HEAD + BODY_FIXED + topic_len, data, len);
	put_le(p + 4, fnv1a(p + RECORD_HEAD, body), 4);
	b->len += RECORD_HEAD + body;
	return 0;
}

/*
 * At an explicit offset, so that after a failed (maybe short) write the next
 * one starts over at the end of the last whole record.
 */
static int write_at(int fd, const uint8_t *p, size_t n, uint64_t at)
{
	ssize_t w;

	while (n) {
		w = pwrite(fd, p, n, (off_t)at);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		at += (uint64_t)w;
	}
	return 0;
}

/*
 * Cuts what a short write (or a torn tail) left after the last whole record:
 * a part record would hide the records written after it, and its blocks go
 * back to a full disk. Should that fail, the next write starts at `at` and
 * overwrites it all the same.
 */
static void cut_at(int fd, uint64_t at)
{
	int ret = ftruncate(fd, (off_t)at);

	(void)ret;
}

static void header_fill(uint8_t *h, uint64_t floor, uint64_t lost)
{
	memcpy(h, JOURNAL_MAGIC, 4);
	put_le(h + 8, floor, 8);
	put_le(h + 16, lost, 8);
	put_le(h + 4, fnv1a(h + 8, 16), 4);
}

/*
 * Records in the header that numbers up to j->lost left the process without
 * their records. An overwrite in place: the header's block exists, so this
 * works on a full disk (not on a copy-on-write filesystem, which needs a new
 * block for it).
 */
static int mark_lost(struct sl_journal *j)
{
	uint8_t h[HEADER_BYTES];
	int ret;

	header_fill(h, j->floor, j->lost);
	ret = write_at(j->fd, h, sizeof(h), 0);
	if (ret)
		j->st.mark_errors++;
	else
		j->marked = j->lost;
	return ret;
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

/* The body length of the intact record at p[at], 0 when it is damaged or cut. */
static uint64_t record_body(const uint8_t *p, size_t len, size_t at)
{
	uint64_t body;

	if (at + RECORD_HEAD > len)
		return 0;
	body = get_le(p + at, 4);
	if (body < BODY_FIXED || body > MAX_RECORD_BODY || at + RECORD_HEAD + body > len ||
	    fnv1a(p + at + RECORD_HEAD, body) != (uint32_t)get_le(p + at + 4, 4) ||
	    BODY_FIXED + get_le(p + at + RECORD_HEAD + 24, 2) > body)
		return 0;
	return body;
}

/*
 * Reads the header's numbers into j and returns where the records start
 * (len when none can be found). A damaged header costs its numbers, never
 * the records: a lost magic is told apart by where an intact record sits.
 */
static size_t read_header(struct sl_journal *j, const uint8_t *p, size_t len, bool *v2)
{
	uint64_t floor = len >= HEADER_BYTES ? get_le(p + 8, 8) : 0;
	uint64_t lost = len >= HEADER_BYTES ? get_le(p + 16, 8) : 0;
	bool numbers_ok = len >= HEADER_BYTES && floor < MAX_MARK && lost < MAX_MARK &&
			  fnv1a(p + 8, 16) == (uint32_t)get_le(p + 4, 4);
	bool magic_ok = len >= 4 && !memcmp(p, JOURNAL_MAGIC, 4);

	*v2 = false;
	if (len >= 4 && !memcmp(p, JOURNAL_MAGIC_V1, 4))
		return 4;
	if (!magic_ok && !numbers_ok && !record_body(p, len, HEADER_BYTES)) {
		if (record_body(p, len, 4)) {
			j->st.header_damaged = 1;
			return 4;
		}
		return len;
	}
	*v2 = true;
	if (!magic_ok || !numbers_ok)
		j->st.header_damaged = 1;
	if (numbers_ok) {
		j->floor = floor > lost ? floor : lost;
		j->st.lost_at_open = lost > floor ? lost : 0;
	}
	return len < HEADER_BYTES ? len : HEADER_BYTES;
}

/*
 * Restores every intact record; stops at the first damaged one (a torn tail).
 * Returns the length of the intact part (0: nothing usable, not even a header).
 */
static size_t restore(struct sl_journal *j, const uint8_t *p, size_t len, struct sl_router *router,
		      uint64_t now_ns, bool *v2)
{
	size_t at = read_header(j, p, len, v2);
	uint64_t body;

	if (at == len && !*v2) {
		j->st.torn = len;
		return 0;
	}
	while ((body = record_body(p, len, at))) {
		const uint8_t *b = p + at + RECORD_HEAD;
		uint32_t topic_len = (uint32_t)get_le(b + 24, 2);
		uint64_t gseq = get_le(b + 8, 8), ts = get_le(b + 16, 8);
		int err;

		/* Numbers-only with no topic: the reclaimed topics' last gseq (compact). */
		if (!topic_len && ts == MARKER_TS) {
			if (gseq < MAX_MARK)
				sl_router_note_reclaimed(router, gseq);
			at += RECORD_HEAD + body;
			continue;
		}
		err = sl_router_restore(router, (const char *)b + BODY_FIXED, topic_len,
					ts == MARKER_TS ? NULL : b + BODY_FIXED + topic_len,
					body - BODY_FIXED - topic_len, get_le(b, 8), gseq, ts,
					now_ns);

		if (err == 0 && ts != MARKER_TS)
			j->st.restored++;
		/*
		 * A topic past max_topics (lowered since) is not restored, so the
		 * rewrite forgets it: the floor keeps its numbers from coming back.
		 */
		if (err == -ENOSPC && gseq > j->floor && gseq < MAX_MARK)
			j->floor = gseq;
		at += RECORD_HEAD + body;
	}
	j->st.torn = len - at;
	return at;
}

static void add_retained(const char *topic, uint32_t topic_len, uint64_t seq, uint64_t gseq,
			 const struct sl_event *ev, void *ctx)
{
	struct sl_journal *j = ctx;

	if (add_record(&j->rw.buf, topic, topic_len, seq, gseq, ev ? ev->ts_ns : 0,
		       ev ? ev->data : NULL, ev ? ev->len : 0))
		j->short_rewrite = true;
}

/* The new file's path: the journal's with ".new". */
static char *new_path(const struct sl_journal *j)
{
	size_t len = strlen(j->path) + 5;
	char *tmp = malloc(len);

	if (tmp)
		snprintf(tmp, len, "%s.new", j->path);
	return tmp;
}

/* Opens the new file with its header in j->rw.buf; the rings' records go after it. */
static int rewrite_open(struct sl_journal *j)
{
	char *tmp = new_path(j);

	if (!tmp)
		return -ENOMEM;
	j->rw.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	free(tmp);
	if (j->rw.fd < 0)
		return -errno;
	j->rw.buf.len = 0;
	j->short_rewrite = false;
	if (reserve(&j->rw.buf, HEADER_BYTES) == 0) {
		/* The rings hold every number this run gave out: only older losses remain. */
		header_fill(j->rw.buf.p, j->floor, 0);
		j->rw.buf.len = HEADER_BYTES;
	}
	return j->rw.buf.len ? 0 : -ENOMEM;
}

/* Writes what j->rw.buf holds to the new file. */
static int rewrite_flush(struct sl_journal *j)
{
	/* A record missing from the rewrite would be a number reused after a restart. */
	int ret = j->short_rewrite ? -ENOMEM
				   : write_at(j->rw.fd, j->rw.buf.p, j->rw.buf.len, j->rw.bytes);

	/*
	 * Its write-back starts now, a slice at a time: ext4 starts it for all
	 * of the file at the rename over the old one, which held the loop for
	 * 0.1 s at 100 MB.
	 */
	if (!ret)
		sync_file_range(j->rw.fd, (off_t)j->rw.bytes, (off_t)j->rw.buf.len,
				SYNC_FILE_RANGE_WRITE);
	if (!ret)
		j->rw.bytes += j->rw.buf.len;
	j->rw.buf.len = 0;
	return ret;
}

/*
 * Reclaimed topics have no record left to keep their numbers: one
 * numbers-only record with no topic keeps the last gseq any of them
 * reached, past which every new topic starts (an older sluiced skips it).
 */
static void add_reclaimed(struct sl_journal *j, struct sl_router *router)
{
	if (sl_router_reclaimed_gseq(router) &&
	    add_record(&j->rw.buf, "", 0, 0, sl_router_reclaimed_gseq(router), 0, NULL, 0))
		j->short_rewrite = true;
}

/*
 * The new file replaces the old: a crash on either side of the rename leaves
 * one whole. keep_old: the old one's blocks are freed by sl_journal_step.
 */
static int rewrite_commit(struct sl_journal *j, bool keep_old)
{
	char *tmp = new_path(j);
	int ret = tmp ? 0 : -ENOMEM;

	if (!ret && rename(tmp, j->path))
		ret = -errno;
	free(tmp);
	if (ret)
		return ret;
	if (keep_old && j->fd >= 0) {
		j->rw.old_fd = j->fd;
		j->rw.old_bytes = j->file_bytes;
	} else if (j->fd >= 0) {
		close(j->fd);
	}
	j->fd = j->rw.fd;
	j->rw.fd = -1;
	j->file_bytes = j->rw.bytes;
	/* Rewrite again once the file holds several times what the rings hold. */
	j->compact_at =
	    j->file_bytes * 4 > MIN_COMPACT_BYTES ? j->file_bytes * 4 : MIN_COMPACT_BYTES;
	j->st.compactions++;
	j->lost = j->marked = 0;
	return 0;
}

static void rewrite_drop(struct sl_journal *j, struct sl_router *router)
{
	char *tmp = new_path(j);

	if (j->rw.fd >= 0) {
		close(j->rw.fd);
		if (tmp)
			unlink(tmp);
		if (router)
			sl_router_hold_reclaim(router, false);
	}
	free(tmp);
	j->rw.fd = -1;
	rec_buf_free(&j->rw.buf);
}

/*
 * Rewrites the file from the rings at once, at open: nothing waits for the
 * loop yet. The records not yet written describe events the rings hold.
 */
static int compact(struct sl_journal *j, struct sl_router *router)
{
	int ret = rewrite_open(j);

	j->rw.bytes = 0;
	if (!ret) {
		sl_router_foreach_retained(router, 0, SIZE_MAX, add_retained, j);
		add_reclaimed(j, router);
		ret = rewrite_flush(j);
	}
	if (!ret)
		ret = rewrite_commit(j, false);
	if (ret) {
		rewrite_drop(j, NULL);
		return ret;
	}
	rec_buf_free(&j->rw.buf);
	j->out.len = 0;
	j->pending = 0;
	return 0;
}

static int open_in_place(struct sl_journal *j, size_t intact)
{
	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0)
		return -errno;
	cut_at(j->fd, intact);
	j->file_bytes = intact;
	j->compact_at = intact * 4 > MIN_COMPACT_BYTES ? intact * 4 : MIN_COMPACT_BYTES;
	/*
	 * The header is rewritten now: a damaged one is repaired, and an
	 * overwrite that fails is known before any event depends on it.
	 */
	j->lost = j->floor;
	return mark_lost(j);
}

int sl_journal_open(const char *path, struct sl_router *router, uint64_t now_ns,
		    struct sl_journal **out)
{
	struct sl_journal *j = calloc(1, sizeof(*j));
	uint8_t *old = NULL;
	size_t len = 0, intact = 0;
	bool v2 = false;
	int ret;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->rw.fd = -1;
	j->rw.old_fd = -1;
	j->path = strdup(path);
	if (!j->path) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = read_file(path, &old, &len);
	if (ret)
		goto fail;
	if (old)
		intact = restore(j, old, len, router, now_ns, &v2);
	free(old);
	j->st.floor = j->floor;
	if (j->floor)
		sl_router_set_floor(router, j->floor);
	/* Topics the age bound emptied are forgotten near max_topics before the rewrite. */
	sl_router_expire(router, now_ns);
	ret = compact(j, router);
	/*
	 * On a full disk the rewrite fails; going on without a journal would
	 * let this run's numbers be given out again by the next. The old file
	 * has a header to mark losses in: keep appending to it.
	 */
	if (ret && v2 && intact >= HEADER_BYTES) {
		j->st.rewrite_error = -ret;
		ret = open_in_place(j, intact);
	}
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
	j->last_gseq = ev->gseq;
	if (add_record(&j->out, ev->topic, ev->topic_len, ev->seq, ev->gseq, ev->ts_ns, ev->data,
		       ev->len)) {
		/* The event goes out all the same: the header must say its number was used. */
		j->st.write_errors++;
		j->st.dropped++;
		j->lost = ev->gseq;
		j->rw.failed = true;
		return;
	}
	j->st.appended++;
	j->pending++;
}

int sl_journal_pending(const struct sl_journal *j)
{
	return j->out.len != 0 || j->lost > j->marked;
}

bool sl_journal_rewriting(const struct sl_journal *j)
{
	return j && (j->rw.fd >= 0 || j->rw.old_fd >= 0);
}

/* A slice of the replaced file's blocks freed; closed once it is empty. */
#define OLD_FILE_CUT (16ull << 20)

static void cut_old_file(struct sl_journal *j)
{
	j->rw.old_bytes = j->rw.old_bytes > OLD_FILE_CUT ? j->rw.old_bytes - OLD_FILE_CUT : 0;
	if (j->rw.old_bytes && ftruncate(j->rw.old_fd, (off_t)j->rw.old_bytes) == 0)
		return;
	close(j->rw.old_fd);
	j->rw.old_fd = -1;
}

/* Begins a rewrite in slices; the old file goes on taking records meanwhile. */
static void rewrite_begin(struct sl_journal *j, struct sl_router *router)
{
	j->rw.bytes = 0;
	j->rw.next_topic = 0;
	j->rw.topics_done = false;
	j->rw.failed = false;
	j->rw.tail_from = j->file_bytes;
	if (rewrite_open(j)) {
		rewrite_drop(j, NULL);
		j->st.rewrite_failures++;
		j->compact_at = j->file_bytes + MIN_COMPACT_BYTES;
		return;
	}
	/* A reclaim moves topics down the array, past the slices' cursor. */
	sl_router_hold_reclaim(router, true);
}

/* A slice writes about this much of the rings, or copies as much of the old file's tail. */
#define REWRITE_SLICE (256u << 10)

/* Copies up to max bytes of the old file's records taken since the rewrite began. */
static int copy_tail(struct sl_journal *j, uint64_t max)
{
	uint64_t left = j->file_bytes - j->rw.tail_from;
	size_t n = left < max ? (size_t)left : (size_t)max;
	ssize_t r;

	if (!n)
		return 0;
	if (reserve(&j->rw.buf, n))
		return -ENOMEM;
	r = pread(j->fd, j->rw.buf.p, n, (off_t)j->rw.tail_from);
	if (r != (ssize_t)n)
		return r < 0 ? -errno : -EIO;
	j->rw.buf.len = n;
	j->rw.tail_from += n;
	return rewrite_flush(j);
}

int sl_journal_step(struct sl_journal *j, struct sl_router *router)
{
	int ret = 0;

	if (j->rw.fd < 0) {
		if (j->rw.old_fd >= 0)
			cut_old_file(j);
		return j->rw.old_fd >= 0;
	}
	if (j->rw.failed) {
		ret = -EIO;
	} else if (!j->rw.topics_done) {
		/* Topics in creation order; their rings as they are now, newer records follow. */
		while (!j->rw.topics_done && j->rw.buf.len < REWRITE_SLICE) {
			/* A topic at a time: one topic's ring is the least a slice takes. */
			j->rw.next_topic = sl_router_foreach_retained(router, j->rw.next_topic, 1,
								      add_retained, j);
			j->rw.topics_done = j->rw.next_topic >= sl_router_topic_count(router);
		}
		if (j->rw.topics_done)
			add_reclaimed(j, router);
		ret = rewrite_flush(j);
	} else if (j->file_bytes - j->rw.tail_from > REWRITE_SLICE) {
		ret = copy_tail(j, REWRITE_SLICE);
	} else {
		/* The last of the tail, then the swap, in one go: no record can come between. */
		ret = copy_tail(j, REWRITE_SLICE);
		if (!ret)
			ret = rewrite_commit(j, true);
		if (!ret) {
			sl_router_hold_reclaim(router, false);
			rec_buf_free(&j->rw.buf);
			return 1;
		}
	}
	if (!ret)
		return 1;
	/*
	 * The old file stays, whole. Tried again at once, a full disk would
	 * stall the loop: the next try waits until the file has grown by as
	 * much again.
	 */
	rewrite_drop(j, router);
	j->st.rewrite_failures++;
	j->compact_at = j->file_bytes + MIN_COMPACT_BYTES;
	return ret;
}

int sl_journal_sync(struct sl_journal *j, struct sl_router *router)
{
	int ret = 0, mark;

	if (j->out.len) {
		ret = write_at(j->fd, j->out.p, j->out.len, j->file_bytes);
		if (ret) {
			/*
			 * Keeping them would grow without bound while the disk stays
			 * full: they are dropped, and the header marks their numbers
			 * as used. Later syncs try again.
			 */
			cut_at(j->fd, j->file_bytes);
			j->st.write_errors++;
			j->st.dropped += j->pending;
			j->lost = j->last_gseq;
			j->rw.failed = true;
		} else {
			j->file_bytes += j->out.len;
		}
		j->out.len = 0;
		j->pending = 0;
		/* A burst can leave a large buffer behind: give it back. */
		if (j->out.cap > (1u << 20))
			rec_buf_free(&j->out);
	}
	if (j->lost > j->marked) {
		mark = mark_lost(j);
		if (!ret)
			ret = mark;
	}
	/*
	 * Encoding every retained event again at once held the loop for 1.8 s
	 * at 1,000 topics of 1,000 events of 256 bytes: the rewrite goes in
	 * slices (sl_journal_step) instead.
	 */
	if (!ret && !sl_journal_rewriting(j) && j->file_bytes >= j->compact_at)
		rewrite_begin(j, router);
	return ret;
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
	/* A rewrite left unfinished: the old file holds everything. */
	rewrite_drop(j, router);
	if (j->rw.old_fd >= 0)
		close(j->rw.old_fd);
	j->compact_at = UINT64_MAX;
	if (router && j->fd >= 0)
		sl_journal_sync(j, router);
	if (j->fd >= 0)
		close(j->fd);
	rec_buf_free(&j->out);
	free(j->path);
	free(j);
}
