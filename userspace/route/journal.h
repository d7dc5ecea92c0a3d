/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The retention journal: every accepted event appended to a file in the
 * state directory before any subscriber or publisher sees an answer about
 * it, so that a daemon killed with SIGKILL restarts with its retention
 * rings and sequence numbers where they were and clients resume without
 * loss or duplicates. The page cache keeps what write() took when the
 * process dies; a machine crash may lose the last events (no fsync per
 * event: its cost would be per publish).
 *
 * File: a header, then records, each
 *   u32 body_len | u32 check (FNV-1a of the body) | body
 *   body = u64 seq | u64 gseq | u64 ts_ns | u16 topic_len | topic | data
 * all little-endian. A torn last record (killed mid-write) is dropped.
 * The file is rewritten from the rings at open and when it has grown to
 * several times what the rings hold (compaction). At open in one go; while
 * running in slices (sl_journal_step), the old file taking records until
 * the new one, with a copy of those, replaces it.
 *
 * Header: "SLJ2" | u32 check (FNV-1a of the rest) | u64 floor | u64 lost.
 * A write that fails (full disk, EIO) drops its records, yet their events
 * go out: lost, the newest gseq given out without its record, is then
 * rewritten in place, which needs no new block. The next open continues
 * every topic that has no record past max(floor, lost) after it (a topic's
 * seq never passes gseq), and its rewrite keeps that number as floor for
 * good, since topics known only to the lost records cannot be named.
 * "SLJ1" files (records right after the magic, no numbers) still restore.
 * A numbers-only record with no topic keeps the last gseq of the topics the
 * router reclaimed (sl_router_reclaimed_gseq): they have no record left.
 */
#ifndef SLUICE_ROUTE_JOURNAL_H
#define SLUICE_ROUTE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/event.h"
#include "route/router.h"

struct sl_journal;

struct sl_journal_stats {
	uint64_t restored;	   /* events put back into rings at open */
	uint64_t torn;		   /* bytes of a damaged tail dropped at open */
	uint64_t appended;	   /* events appended since open */
	uint64_t compactions;	   /* rewrites since open */
	uint64_t rewrite_failures; /* rewrites that failed; each waits for the file to grow again */
	uint64_t write_errors;	   /* failed writes (later syncs try again) */
	uint64_t dropped;	   /* events given out whose records a failed write dropped */
	uint64_t mark_errors; /* failed header rewrites: numbers of dropped events may be reused */
	uint64_t floor; /* at open (the header's, or a topic left out): topics continue after it */
	uint64_t lost_at_open;	 /* the previous run dropped records up to this gseq (0: none) */
	uint64_t header_damaged; /* 1: the header failed its check; its numbers were not used */
	uint64_t rewrite_error;	 /* errno of the rewrite at open (0: none); the old file is used */
	uint64_t file_bytes;	 /* the file's size now */
};

/*
 * Restores the events of an existing journal at path into router (as
 * sl_router_restore, ageing by now_ns), applies its floor
 * (sl_router_set_floor), rewrites the file from the rings and opens it for
 * appending. When the rewrite fails the old file is appended to instead
 * (stats: rewrite_error). A missing file is an empty journal. Returns 0 or
 * -errno (the router may then hold part of the journal).
 */
int sl_journal_open(const char *path, struct sl_router *router, uint64_t now_ns,
		    struct sl_journal **out);

/* Buffers ev's record; sl_journal_sync writes it. */
void sl_journal_append(struct sl_journal *j, const struct sl_event *ev);

/* True when records are buffered and not yet written, or a loss not yet marked. */
int sl_journal_pending(const struct sl_journal *j);

/*
 * Writes the buffered records (one write). Call before anything about those
 * events leaves the process. On failure the records are dropped and their
 * numbers marked in the header (one more write, only then). Returns 0 or
 * -errno. When the file has grown past its bound, a rewrite begins: call
 * sl_journal_step while sl_journal_rewriting says so.
 */
int sl_journal_sync(struct sl_journal *j, struct sl_router *router);

/* Whether a rewrite is under way (false for NULL). */
bool sl_journal_rewriting(const struct sl_journal *j);

/*
 * One slice of the rewrite: about 256 KiB of the rings' records written to
 * the new file, or of the old file's newer records copied after them; the
 * last one renames the new file over the old. No topic is reclaimed
 * meanwhile (sl_router_hold_reclaim). Returns 1 while there is more to do,
 * 0 when it is done (or none was under way), -errno when it was given up
 * (the old file stays; a failed write of a record meanwhile gives it up
 * too, as the copy would miss that record).
 */
int sl_journal_step(struct sl_journal *j, struct sl_router *router);

void sl_journal_get_stats(const struct sl_journal *j, struct sl_journal_stats *st);

/* Writes what is buffered and closes. NULL is a no-op. */
void sl_journal_close(struct sl_journal *j, struct sl_router *router);

#endif
