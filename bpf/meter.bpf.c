// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel meter: sock_ops selects the gateway's sockets and puts them in a
 * sockhash; sk_msg sees every byte the gateway sends on them, counts bytes,
 * events and replies per socket and per application, and enforces event caps.
 *
 * How one run works. The kernel hands the program a chunk of a sendmsg. The
 * program walks the frame headers of the chunk (one bpf_loop iteration per
 * frame, KERNEL-NOTES §5 "scan": ~55 ns a frame; the common case, nothing
 * stashed or held and the plan's limits not reached, in the plain loop of
 * sluice_quick, whose usual frames are parsed in place by sl_frame_quick or
 * repeat the last one parsed: about 10 ns a frame, docs/BENCHMARKS.md "The
 * meter's own work"), counts each frame once, and tells the kernel to push
 * the bytes it has looked at (apply_bytes). All parse state is kept as TCP
 * sequence numbers: tp->write_seq at the start of a run is the sequence
 * number of the run's first byte.
 *
 * Why sequence numbers: a nonblocking push can fail part-way (EAGAIN). The
 * writer then retries from the first unsent byte, which has a known
 * sequence number, so the next run can tell exactly which frames of the
 * previous pass never went out and undo their counts ("rewind"). On 6.18
 * the kernel keeps a stale PASS verdict after such a failure and would push
 * the retried bytes without running the program; the daemon re-inserts the
 * socket into the sockhash after a short write (sl_kern_sock_resync), which
 * gives it a fresh psock. Without that the program still notices the bytes
 * that bypassed it ("gap") and only loses exactness if a header was among
 * them, in which case the socket falls back to counting bytes (DESYNC).
 *
 * Why frames are removed only at the front of a message: when the kernel
 * frees the unsent rest of a message after a failed push it subtracts that
 * rest from the byte count sendmsg reports. Bytes popped from inside the
 * unsent rest would make the writer skip real bytes on retry. So a pass stops
 * before a frame to remove; the next run has it at offset 0 and pops it there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice/meter.h"
#include "frame.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Bound on bpf_loop iterations: a ~557 KB chunk of 2-byte frames, rounded up. */
#define SL_SCAN_MAX_ITER (1u << 19)

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SL_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_sockhash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_PORTS);
	__type(key, __u16);
	__type(value, struct sl_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_APPS);
	__type(key, __u32);
	__type(value, struct sl_app_limits);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_app_limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_APPS);
	__type(key, __u32);
	__type(value, struct sl_app_usage);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_app_usage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_DROP__MAX);
	__type(key, __u32);
	__type(value, struct sl_drop_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_closes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_info SEC(".maps");

static __always_inline int seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static __always_inline void stat_add(__u32 stat, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&sluice_stats, &stat);

	if (c)
		*c += n;
}

static __always_inline void drop_add(__u32 reason, __u64 bytes)
{
	struct sl_drop_count *d = bpf_map_lookup_elem(&sluice_drops, &reason);

	if (d) {
		d->frames++;
		d->bytes += bytes;
	}
}

/*
 * Quota windows are fixed and aligned to UTC. The first CPU to see a new
 * window swaps its start in and zeroes the count; a CPU that loses the race
 * sees the new start and leaves the count alone.
 */
static __always_inline void roll_window(struct sl_app_usage *u, const struct sl_app_limits *lim)
{
	__u64 utc, start, old;

	if (!lim->window_ns)
		return;
	utc = bpf_ktime_get_tai_ns() - lim->tai_offset_ns;
	start = utc - utc % lim->window_ns;
	old = u->window_start_ns;
	if (old >= start)
		return;
	if (__sync_val_compare_and_swap(&u->window_start_ns, old, start) == old)
		__sync_lock_test_and_set(&u->events, 0);
}

static __always_inline struct sl_app_usage *app_usage(struct sl_sock *st, __u64 *cap)
{
	struct sl_app_limits *lim;
	struct sl_app_usage *u;
	__u32 slot = st->app_slot;

	*cap = 0;
	if (!slot || slot >= SL_MAX_APPS)
		return NULL;
	u = bpf_map_lookup_elem(&sluice_app_usage, &slot);
	lim = bpf_map_lookup_elem(&sluice_app_limits, &slot);
	if (lim) {
		*cap = lim->event_cap;
		if (u)
			roll_window(u, lim);
	}
	return u;
}

/* Counts a byte delta (possibly negative) on the socket and its application. */
static __always_inline void bytes_add(struct sl_sock *st, struct sl_app_usage *usage, __s64 n)
{
	st->bytes += n;
	if (usage)
		__sync_fetch_and_add(&usage->bytes, n);
}

static __always_inline void desync(struct sl_sock *st)
{
	if (!(st->flags & SL_SOCK_F_DESYNC)) {
		st->flags |= SL_SOCK_F_DESYNC;
		stat_add(SL_STAT_DESYNCS, 1);
	}
}

/*
 * Rewind: the previous pass went out only up to seq. Its pending frames that
 * started before seq went out (at least in part) and stay counted; the others
 * are uncounted. Returns the parse position that goes with seq. A global
 * function, verified once on its own: inlined, the 64-entry loop cost the
 * verifier 450k steps of its 1M budget.
 */
__noinline __u32 sluice_rewind(struct sl_sock *st, struct sl_app_usage *usage, __u32 seq)
{
	__u32 hdr, i, start, end, frames, len, out;
	__s64 events = 0, replies = 0;

	if (!st)
		return 0;
	hdr = st->npending ? st->pending[0].start : st->next_hdr;
	for (i = 0; i < SL_PASS_MAX_FRAMES; i++) {
		if (i >= st->npending)
			break;
		start = st->pending[i].start;
		end = st->pending[i].end;
		frames = st->pending_frames[i];
		out = 0;
		if (seq_before(start, seq)) {
			/* The frames of the entry that start before seq went out. */
			len = (end - start) / frames;
			out = ((__u64)(seq - start) + len - 1) / len;
			if (out >= frames) {
				hdr = end;
				continue;
			}
			hdr = start + out * len;
		}
		if (st->pending_events & (1ull << i))
			events += frames - out;
		else if (st->pending_replies & (1ull << i))
			replies += frames - out;
	}
	st->events -= events;
	st->replies -= replies;
	if (usage) {
		if (events) {
			__sync_fetch_and_add(&usage->events, -events);
			__sync_fetch_and_add(&usage->events_total, -events);
		}
		if (replies)
			__sync_fetch_and_add(&usage->replies, -replies);
	}
	return hdr;
}

/*
 * Brings the parse state in line with `seq`, the sequence number where the
 * stream really is: at the start of a run, or at close. Equal to scan_end is
 * the normal case (the previous pass went out whole).
 */
static __always_inline void reconcile(struct sl_sock *st, struct sl_app_usage *usage, __u32 seq)
{
	__u32 hdr;

	if (seq == st->scan_end)
		goto confirmed;

	if (seq_before(seq, st->scan_end)) {
		bytes_add(st, usage, -(__s64)(st->scan_end - seq));
		hdr = sluice_rewind(st, usage, seq);
		if (st->stash_len && !(st->flags & SL_SOCK_F_HELD)) {
			/* A split header began at next_hdr; keep the part that went out. */
			st->stash_len = seq_before(st->next_hdr, seq) ? seq - st->next_hdr : 0;
		}
		st->next_hdr = hdr;
		stat_add(SL_STAT_REWINDS, 1);
	} else {
		/* Gap: bytes went out without a run (no resync after a short write). */
		bytes_add(st, usage, seq - st->scan_end);
		stat_add(SL_STAT_GAPS, 1);
		if (st->framing != SL_FRAMING_RAW &&
		    (st->stash_len || st->drop_rem || seq_before(st->next_hdr, seq)))
			desync(st);
	}
confirmed:
	st->npending = 0;
	st->pending_events = 0;
	st->pending_replies = 0;
	st->scan_end = seq;
}

struct scan_ctx {
	struct sk_msg_md *msg;
	struct sl_sock *st;
	struct sl_app_usage *usage;
	struct sl_app_usage *app; /* the application's, quota or not: drops by reason */
	__u64 app_cap;
	__u32 seq;   /* sequence number of the message's first byte */
	__u32 size;  /* bytes left in the message (pops shrink it) */
	__u32 apply; /* bytes this pass lets out */
	int verdict;
	int done;
};

/*
 * Byte rate: a token bucket per connection. Events that do not fit are
 * removed; replies and control frames always go and only drain the bucket.
 */
static __always_inline void bucket_refill(struct sl_sock *st, __u64 now)
{
	__u64 elapsed_us, add;

	elapsed_us = now > st->tokens_ns ? (now - st->tokens_ns) / 1000 : 0;
	/* Bounded so that elapsed * rate cannot overflow; the bucket is full by then. */
	if (elapsed_us > 1000000000)
		elapsed_us = 1000000000;
	add = elapsed_us * st->rate_bps / 1000000;
	if (add) {
		st->tokens += add;
		if (st->tokens > st->burst_bytes)
			st->tokens = st->burst_bytes;
		st->tokens_ns = now;
	}
}

static __always_inline int bucket_take(struct sl_sock *st, __u64 now, __u32 len, int must)
{
	if (!st->rate_bps)
		return 1;
	bucket_refill(st, now);
	if (st->tokens >= len) {
		st->tokens -= len;
		return 1;
	}
	if (must)
		st->tokens = 0;
	return must;
}

static __always_inline int cap_reached(struct scan_ctx *c)
{
	struct sl_sock *st = c->st;

	if (st->event_cap && st->events >= st->event_cap)
		return 1;
	return c->usage && c->app_cap && c->usage->events >= c->app_cap;
}

/*
 * Counts one event, or says why it may not go out. The application counter
 * is shared by all of its sockets on all CPUs: fetch-and-add first, then give
 * back, so that concurrent senders can never together pass the cap.
 */
static __always_inline __u8 charge_event(struct scan_ctx *c)
{
	struct sl_sock *st = c->st;
	__u64 old;

	if (st->event_cap && st->events >= st->event_cap)
		return SL_DROP_SOCK_EVENT_CAP;
	if (c->usage) {
		old = __sync_fetch_and_add(&c->usage->events, 1);
		if (c->app_cap && old >= c->app_cap) {
			__sync_fetch_and_add(&c->usage->events, -1);
			return SL_DROP_APP_EVENT_CAP;
		}
		__sync_fetch_and_add(&c->usage->events_total, 1);
	}
	st->events++;
	return SL_DROP_NONE;
}

static __always_inline void charge_forced(struct scan_ctx *c)
{
	c->st->events++;
	if (c->usage) {
		__sync_fetch_and_add(&c->usage->events, 1);
		__sync_fetch_and_add(&c->usage->events_total, 1);
	}
	stat_add(SL_STAT_FORCED, 1);
}

/*
 * Records the frame at next_hdr as entry i (< SL_PASS_MAX_FRAMES) of the
 * pass, so that a rewind can uncount it (sluice_rewind).
 */
static __always_inline void pending_add(struct sl_sock *st, __u32 i, const struct sl_frame *f)
{
	st->pending[i].start = st->next_hdr;
	st->pending[i].end = st->next_hdr + f->len;
	st->pending_frames[i] = 1;
	if (f->kind == SL_FRAME_EVENT)
		st->pending_events |= 1ull << i;
	else if (f->kind != SL_FRAME_FRAGMENT)
		st->pending_replies |= 1ull << i;
	st->npending = i + 1;
}

/* Bound on an in-place read's distance from msg->data: a page frag is 32 KiB. */
#define SL_WINDOW_MAX 32768

/*
 * Three 8-byte loads instead of 24 checked byte loads (unaligned packet
 * loads are fine on x86); the byte loop was a third of the per-frame cost.
 */
static __always_inline void copy_window(__u8 *buf, const __u8 *data)
{
	((__u64 *)buf)[0] = ((const __u64 *)data)[0];
	((__u64 *)buf)[1] = ((const __u64 *)data)[1];
	((__u64 *)buf)[2] = ((const __u64 *)data)[2];
}

/* Copies up to n (<= SL_STASH_BYTES) message bytes at off into buf[at...]. */
static __always_inline __u32 copy_from_msg(struct scan_ctx *c, __u32 off, __u32 n, __u8 *buf,
					   __u32 at)
{
	struct sk_msg_md *msg = c->msg;
	__u8 *data, *end;
	__u32 i, rel;

	if (n > SL_STASH_BYTES)
		n = SL_STASH_BYTES;
	if (!n)
		return 0;
	if (n == SL_STASH_BYTES && at == 0 && off >= c->st->win_off) {
		/*
		 * The common case: a whole header window inside the element
		 * msg->data already shows. A pull per frame (a helper call that
		 * walks the scatterlist) was the largest part of a frame's cost.
		 * (A stash's rest is pulled: that narrows msg->data, but such a
		 * frame ends the pass anyway.)
		 */
		rel = off - c->st->win_off;
		data = msg->data;
		end = msg->data_end;
		if (rel < SL_WINDOW_MAX) {
			data += rel;
			if (data + SL_STASH_BYTES <= end) {
				copy_window(buf, data);
				return SL_STASH_BYTES;
			}
		}
	}
	if (bpf_msg_pull_data(msg, off, off + n, 0))
		return 0;
	c->st->win_off = off;
	data = msg->data;
	end = msg->data_end;
	if (n == SL_STASH_BYTES && at == 0 && data + SL_STASH_BYTES <= end) {
		copy_window(buf, data);
		return SL_STASH_BYTES;
	}
	for (i = 0; i < SL_STASH_BYTES; i++) {
		if (i >= n || data + i + 1 > end)
			break;
		buf[(at + i) & 31] = data[i];
	}
	return i;
}

static __always_inline void stash_save(struct sl_sock *st, const __u8 *buf, __u32 len)
{
	__u32 i;

	for (i = 0; i < SL_STASH_BYTES; i++)
		st->stash[i] = buf[i];
	st->stash_len = len;
}

static __always_inline void finish(struct scan_ctx *c, __u32 apply, int verdict)
{
	c->apply = apply;
	c->verdict = verdict;
	c->done = 1;
}

/*
 * Every count a removed frame (or a cut TLS stream) adds to: the socket's,
 * the application's (as it goes under a quota, else once per run from the
 * socket's difference) and the meter's, and each of them by reason.
 */
static __always_inline void count_drop(struct scan_ctx *c, __u8 reason, __u64 bytes)
{
	struct sl_sock *st = c->st;

	st->drops++;
	st->drop_bytes += bytes;
	if (c->usage) {
		__sync_fetch_and_add(&c->usage->drops, 1);
		__sync_fetch_and_add(&c->usage->drop_bytes, bytes);
	}
	drop_add(reason, bytes);
	if (reason < SL_DROP__MAX) {
		st->drops_by_reason[reason]++;
		if (c->app)
			__sync_fetch_and_add(&c->app->drops_by_reason[reason], 1);
	}
}

/* Removes the frame at offset 0 of the message; returns 1 when the run is over. */
static __always_inline int remove_front(struct scan_ctx *c, struct sl_frame *f, __u8 reason,
					__u32 held)
{
	struct sl_sock *st = c->st;
	__u32 in_msg = f->len - held, n;

	n = in_msg < c->size ? in_msg : c->size;
	if (n && bpf_msg_pop_data(c->msg, 0, n, 0)) {
		desync(st);
		finish(c, c->size, SK_PASS);
		return 1;
	}
	/* A pop points msg->data at the message's first element again. */
	c->st->win_off = 0;
	c->size -= n;
	st->drop_rem = in_msg - n;
	count_drop(c, reason, f->len);
	st->stash_len = 0;
	st->flags &= ~SL_SOCK_F_HELD;
	if (st->framing == SL_FRAMING_WS && f->opcode != 0 && !f->fin) {
		st->flags |= SL_SOCK_F_DROP_MSG;
		st->drop_reason = reason;
	} else if (f->opcode == 0 && f->fin) {
		st->flags &= ~SL_SOCK_F_DROP_MSG;
	}
	if (st->drop_rem || !c->size) {
		finish(c, 0, SK_PASS);
		return 1;
	}
	return 0;
}

/* TLS: did the daemon say the record starting here carries a reply? */
static __always_inline int is_marked_reply(struct sl_sock *st)
{
	__u32 i;

	for (i = 0; i < SL_REPLY_MARKS; i++)
		if (st->reply_seq[i] == st->next_hdr)
			return 1;
	return 0;
}

struct sl_hdr_buf {
	__u8 b[32];
};

/*
 * A global function is verified once, on its own, instead of once per path
 * into it: inlined into scan_one the four parsers multiplied the verifier's
 * states past its 1M instruction budget.
 */
__noinline int sluice_parse(struct sl_hdr_buf *hb, __u32 framing, __u32 avail, struct sl_frame *f)
{
	if (!hb || !f)
		return SL_PARSE_BAD;
	sl_frame_parse(framing, hb->b, avail, f);
	return f->status;
}

/* What sluice_quick needs of the run and gives back: scalars only (global function argument). */
struct sl_quick {
	__u32 seq;
	__u32 size;
	__u32 apply;
	/*
	 * Set when usage is not NULL: the walk tests this, not the pointer,
	 * whose two cases would double the verifier's states in the loop.
	 */
	__u32 defer;
	/* What the walk took, for quick_commit: next_hdr, npending, pending masks, counts. */
	__u32 pos;
	__u32 n;
	__u64 ev_bits;
	__u64 rep_bits;
	__u64 evs;
	__u64 reps;
};

/* The bytes of a head's second word that sl_frame_quick reads, as a mask. */
static __always_inline __u64 quick_mask1(__u32 framing, __u64 w0)
{
	return (1ull << ((sl_frame_quick_reads(framing, w0) - 8) * 8 & 63)) - 1;
}

/*
 * Charges a quick walk to the plan's limits in one step, only if all of its
 * frames fit them, and then exactly as scan_one would have charged them one
 * by one: a byte rate when the bucket holds the walk's bytes (frame by
 * frame the bucket would then pass every event, and replies would drain it
 * the same), a connection cap when its events fit under it, an application
 * quota when they fit there. The quota is shared by the application's
 * sockets on all CPUs, so it is taken with compare-and-swap: the counter
 * never holds more than was let out, and no other socket of the
 * application sees the quota used up by events that then do not go. 0 when
 * the walk does not fit: nothing is to be committed, and scan_one charges
 * the same frames one by one, dropping what does not fit. usage is NULL
 * without a quota.
 */
static __always_inline int quick_charge(struct sl_sock *st, struct sl_app_usage *usage,
					__u64 app_cap, const struct sl_quick *q)
{
	__u32 walked = q->pos - st->next_hdr;
	__u64 old;
	int tries, ok = !q->evs || !usage;

	if (st->event_cap && q->evs &&
	    (st->events >= st->event_cap || q->evs > st->event_cap - st->events))
		return 0;
	if (st->rate_bps) {
		bucket_refill(st, st->run_now_ns);
		if (st->tokens < walked)
			return 0;
	}
	for (tries = 0; tries < 4 && !ok; tries++) {
		old = usage->events;
		if (old >= app_cap || q->evs > app_cap - old)
			break;
		ok = __sync_val_compare_and_swap(&usage->events, old, old + q->evs) == old;
	}
	if (!ok)
		return 0;
	if (st->rate_bps)
		st->tokens -= walked;
	if (!usage)
		return 1;
	if (q->evs)
		__sync_fetch_and_add(&usage->events_total, q->evs);
	if (q->reps)
		__sync_fetch_and_add(&usage->replies, q->reps);
	return 1;
}

static __always_inline void quick_commit(struct sl_sock *st, const struct sl_quick *q)
{
	st->next_hdr = q->pos;
	st->npending = q->n;
	st->pending_events |= q->ev_bits;
	st->pending_replies |= q->rep_bits;
	st->events += q->evs;
	st->replies += q->reps;
}

/*
 * Charges a walk, then commits it; 0 when it did not fit (nothing
 * committed). A global function, verified once: inlined at the end of
 * sluice_quick, it ran once for every way out of the walk's loop, past
 * the verifier's budget.
 */
__noinline int sluice_settle(struct sl_sock *st, struct sl_app_usage *usage, __u64 app_cap,
			     const struct sl_quick *q)
{
	if (!st || !q || !quick_charge(st, usage, app_cap, q))
		return 0;
	quick_commit(st, q);
	return 1;
}

/*
 * How many frames from the one at rel (message offset win + rel) repeat the
 * memo's head, the one at rel included (its caller saw it repeat): each next
 * one starts memo_len bytes on. Stops at SL_PASS_RUN_MAX, at limit (the
 * message's end, as rel), and before a head that leaves the element
 * msg->data shows (sluice_quick parses that one). A run is one entry of the
 * pending list, and each frame of it costs a bounds check, two loads and two
 * compares. A global function, verified once: its loop inside sluice_quick's
 * would multiply the verifier's work by its bound.
 *
 * The loop has no counter of its own (with one, clang spilled three values
 * to the stack): the verifier bounds it by the window over the frame's
 * least length, so frames shorter than 16 bytes, never an event, are taken
 * one by one (with no least length it had 32 768 iterations to check and
 * gave up).
 */
__noinline __u32 sluice_like(struct sk_msg_md *msg, const struct sl_sock *st, __u32 rel,
			     __u32 limit)
{
	__u64 w0, w1, mask1, len, at = rel, end;
	__u8 *data, *dend, *p;

	if (!msg || !st || st->memo_len < 16)
		return 1;
	w0 = st->memo_w0;
	w1 = st->memo_w1;
	len = st->memo_len;
	mask1 = quick_mask1(st->framing, w0);
	data = msg->data;
	dend = msg->data_end;
	/* One bound: the run's, the message's and the window's. */
	end = at + (SL_PASS_RUN_MAX - 1) * len + 1;
	if (end > limit)
		end = limit;
	if (end > SL_WINDOW_MAX)
		end = SL_WINDOW_MAX;
	for (;;) {
		at += len;
		if (at >= end)
			break;
		/* Else clang adds len to a packet pointer, which the verifier cannot bound. */
		barrier_var(at);
		p = data + at;
		if (p + SL_STASH_BYTES > dend)
			break;
		if (((const __u64 *)p)[0] != w0 || (((const __u64 *)p)[1] & mask1) != w1)
			break;
	}
	return (at - rel) / len;
}

/*
 * The common case, a whole pass in one plain loop: headers inside the
 * element msg->data shows, nothing stashed or held. It does what scan_one
 * does for such frames, minus the bpf_loop call, zeroing and checks that
 * cannot apply per frame. It walks, then charges the walk as a whole to the
 * plan's limits if there are any, then commits it (sluice_settle). Returns 1
 * when the pass is complete (q->apply set); otherwise scan_one goes on from
 * next_hdr: every frame taken so far counted and pending, or, when the walk
 * did not fit the limits, none. usage is the application's when it has a
 * quota (app_cap), else NULL. Charging and committing here, not in the
 * caller, keeps one path out of the call: a branch on its result doubled
 * the states the verifier takes into scan_one's loop. A global
 * function, verified once on its own (inside scan_one it tripled the
 * verifier's work).
 *
 * The position, the counters and the pending masks live in registers and
 * reach q once, on the way out: through st, each frame waited on the
 * store of the one before. And a frame whose head repeats the last one
 * sl_frame_quick parsed (st->memo_*) is taken as that one, together with
 * the like frames that follow it (sluice_like): one entry for the run.
 */
__noinline int sluice_quick(struct sk_msg_md *msg, struct sl_sock *st, struct sl_app_usage *usage,
			    __u64 app_cap, struct sl_quick *q)
{
	__u64 w0, w1, memo_mask1, ev_bits = 0, rep_bits = 0, evs = 0, reps = 0;
	__u32 k, i, off, rel, avail, pos, seq, size, win, n, frames, span;
	struct sl_hdr_buf hb;
	struct sl_frame f;
	__u8 *data, *dend;
	int status, ret = 0;

	if (!msg || !st || !q)
		return -1;
	((__u64 *)hb.b)[3] = 0;
	pos = st->next_hdr;
	n = st->npending;
	seq = q->seq;
	size = q->size;
	win = st->win_off;
	memo_mask1 = quick_mask1(st->framing, st->memo_w0);
	for (k = 0; k < SL_PASS_MAX_FRAMES; k++) {
		frames = 1;
		if (seq_before(pos, seq)) {
			ret = -1;
			break;
		}
		off = pos - seq;
		if (off >= size) {
			q->apply = size;
			ret = 1;
			break;
		}
		if (off < win) {
			ret = -1;
			break;
		}
		rel = off - win;
		if (rel >= SL_WINDOW_MAX) {
			ret = -1;
			break;
		}
		data = msg->data;
		dend = msg->data_end;
		data += rel;
		if (data + SL_STASH_BYTES <= dend) {
			w0 = ((const __u64 *)data)[0];
			w1 = ((const __u64 *)data)[1];
			if (w0 == st->memo_w0 && (w1 & memo_mask1) == st->memo_w1 && st->memo_len) {
				f.len = st->memo_len;
				f.kind = st->memo_kind;
				frames = sluice_like(msg, st, rel, size - win);
				goto take;
			}
			if (sl_frame_quick(st->framing, w0, w1, &f)) {
				memo_mask1 = quick_mask1(st->framing, w0);
				st->memo_w0 = w0;
				st->memo_w1 = w1 & memo_mask1;
				st->memo_len = f.len;
				st->memo_kind = f.kind;
				goto take;
			}
			copy_window(hb.b, data);
			avail = SL_STASH_BYTES;
		} else {
			/* The header runs past the element msg->data shows, or past the message. */
			for (avail = 0; avail < SL_STASH_BYTES; avail++) {
				if (data + avail + 1 > dend)
					break;
				hb.b[avail] = data[avail];
			}
			if (!avail) {
				if (!off) {
					ret = -1;
					break;
				}
				/*
				 * It starts the next element (tcp_bpf copies a writev into
				 * page frags of up to 32 KiB): end the pass here; the
				 * next run's msg->data shows that element. (After a pull
				 * msg->data shows only the bytes pulled, and a pull of
				 * more than the element holds copies.)
				 */
				q->apply = off;
				ret = 1;
				break;
			}
		}
		status = sluice_parse(&hb, st->framing, avail, &f);
		if (status == SL_PARSE_MORE && off + avail < size) {
			/*
			 * Split across two elements: keep its first bytes as a
			 * stash, exactly as for a header split across two writes,
			 * and end the pass where the element ends. Pulling the
			 * header instead would copy the whole next element.
			 */
			if (q->defer || st->event_cap || st->rate_bps) {
				/* A stash is a commitment before the charge: scan_one takes it. */
				ret = -1;
				break;
			}
			stash_save(st, hb.b, avail);
			q->apply = off + avail;
			ret = 1;
			break;
		}
		if (status != SL_PARSE_OK || f.kind == SL_FRAME_FRAGMENT) {
			ret = -1;
			break;
		}
	take:
		i = n;
		if (i >= SL_PASS_MAX_FRAMES) {
			ret = -1;
			break;
		}
		span = f.len * frames;
		st->pending[i].start = pos;
		st->pending[i].end = pos + span;
		st->pending_frames[i] = frames;
		n = i + 1;
		if (f.kind == SL_FRAME_EVENT) {
			ev_bits |= 1ull << i;
			evs += frames;
		} else {
			rep_bits |= 1ull << i;
			reps += frames;
		}
		pos += span;
		if (pos - seq >= size) {
			q->apply = size;
			ret = 1;
			break;
		}
		if (n >= SL_PASS_MAX_FRAMES) {
			q->apply = pos - seq;
			ret = 1;
			break;
		}
	}
	q->pos = pos;
	q->n = n;
	q->ev_bits = ev_bits;
	q->rep_bits = rep_bits;
	q->evs = evs;
	q->reps = reps;
	return sluice_settle(st, usage, app_cap, q) ? ret : -1;
}

/*
 * True when nothing but counting can happen to the frames of this run, or
 * nothing but the limits quick_charge charges for the whole walk. A
 * connection time limit cannot before its deadline: scan_one compares it
 * with the clock read once per run, run_now_ns.
 */
static __always_inline int quick_ok(const struct scan_ctx *c)
{
	const struct sl_sock *st = c->st;

	return (!st->deadline_ns || st->run_now_ns <= st->deadline_ns) && !st->stash_len &&
	       !(st->flags & (SL_SOCK_F_HELD | SL_SOCK_F_DROP_MSG)) &&
	       st->framing != SL_FRAMING_TLS;
}

/* One frame per call; returns 1 to stop the loop. */
static long scan_one(__u32 iter __attribute__((unused)), struct scan_ctx *c)
{
	struct sl_sock *st = c->st;
	struct sl_frame f = {};
	struct sl_hdr_buf hb = {};
	__u8 *buf = hb.b;
	__u32 off, pre = 0, have, end, i;
	__u8 reason = SL_DROP_NONE;
	int held = st->flags & SL_SOCK_F_HELD;
	int use_stash = st->stash_len && (!held || st->next_hdr == st->stash_seq);

	if (use_stash) {
		pre = st->stash_len;
		if (pre > SL_STASH_BYTES)
			pre = SL_STASH_BYTES;
		for (i = 0; i < SL_STASH_BYTES; i++)
			buf[i] = st->stash[i];
		/* Unheld stash bytes are already out: the header began before this message. */
		off = held ? st->next_hdr - c->seq : 0;
	} else {
		if (seq_before(st->next_hdr, c->seq)) {
			desync(st);
			finish(c, c->size, SK_PASS);
			return 1;
		}
		off = st->next_hdr - c->seq;
	}
	if (off >= c->size && !(use_stash && held)) {
		/* The rest of the message is payload of the current frame. */
		finish(c, c->size, SK_PASS);
		return 1;
	}
	if (off > c->size) {
		finish(c, c->size, SK_PASS);
		return 1;
	}

	have =
	    pre + copy_from_msg(c, off, sl_min_u32(SL_STASH_BYTES - pre, c->size - off), buf, pre);
	if (sluice_parse(&hb, st->framing, have, &f) == SL_PARSE_BAD) {
		desync(st);
		finish(c, c->size, SK_PASS);
		return 1;
	}

	if (f.status == SL_PARSE_MORE) {
		/* The message ends inside the header. */
		if (held || (!use_stash && st->framing != SL_FRAMING_TLS && cap_reached(c))) {
			/*
			 * This frame may have to be removed, and nothing of it is out
			 * yet: hold its first bytes back until the header is whole.
			 */
			if (c->size > off && bpf_msg_pop_data(c->msg, off, c->size - off, 0)) {
				desync(st);
				finish(c, c->size, SK_PASS);
				return 1;
			}
			if (!held) {
				st->stash_seq = c->seq + off;
				stat_add(SL_STAT_HOLDS, 1);
			}
			st->flags |= SL_SOCK_F_HELD;
			stash_save(st, buf, have);
			c->size = off;
			finish(c, off, SK_PASS);
			return 1;
		}
		stash_save(st, buf, have);
		finish(c, c->size, SK_PASS);
		return 1;
	}

	if (f.kind == SL_FRAME_EVENT && st->framing == SL_FRAMING_TLS && is_marked_reply(st))
		f.kind = SL_FRAME_REPLY;
	if (f.kind == SL_FRAME_EVENT) {
		/* The kernel backstop of a plan: connection time, byte rate, then quota. */
		if (st->deadline_ns && st->run_now_ns > st->deadline_ns)
			reason = SL_DROP_CONN_TIME;
		else if (!bucket_take(st, st->run_now_ns, f.len, 0))
			reason = SL_DROP_BYTE_RATE;
		else
			reason = charge_event(c);
	} else if (f.kind == SL_FRAME_FRAGMENT && (st->flags & SL_SOCK_F_DROP_MSG)) {
		reason = st->drop_reason;
	} else {
		bucket_take(st, st->run_now_ns, f.len, 1);
	}

	if (reason != SL_DROP_NONE) {
		if (use_stash && !held) {
			/* Part of the header is already out; the frame can only go on. */
			if (f.kind == SL_FRAME_EVENT)
				charge_forced(c);
			reason = SL_DROP_NONE;
		} else if (off > 0) {
			/* Let the frames before it out first; the next run has it in front. */
			finish(c, off, SK_PASS);
			return 1;
		} else if (st->framing == SL_FRAMING_TLS) {
			/* A record cannot be taken out of a TLS stream: cut the connection. */
			st->flags |= SL_SOCK_F_KILLED;
			stat_add(SL_STAT_KILLS, 1);
			count_drop(c, reason, c->size);
			finish(c, 0, SK_DROP);
			return 1;
		} else {
			return remove_front(c, &f, reason, held ? pre : 0);
		}
	}

	if (use_stash && held) {
		/* The frame goes out after all: put the held bytes back in front of it. */
		if (bpf_msg_push_data(c->msg, off, pre, 0) ||
		    bpf_msg_pull_data(c->msg, off, off + pre, 0)) {
			desync(st);
			finish(c, c->size, SK_PASS);
			return 1;
		}
		c->st->win_off = off;
		{
			__u8 *data = c->msg->data, *dend = c->msg->data_end;

			for (i = 0; i < SL_STASH_BYTES; i++) {
				if (i >= pre || data + i + 1 > dend)
					break;
				data[i] = buf[i];
			}
		}
		c->size += pre;
		st->flags &= ~SL_SOCK_F_HELD;
	}
	st->stash_len = 0;

	i = st->npending;
	if (i < SL_PASS_MAX_FRAMES)
		pending_add(st, i, &f);
	if (f.kind == SL_FRAME_REPLY || f.kind == SL_FRAME_CONTROL) {
		st->replies++;
		if (c->usage)
			__sync_fetch_and_add(&c->usage->replies, 1);
	} else if (f.kind == SL_FRAME_FRAGMENT && f.fin) {
		st->flags &= ~SL_SOCK_F_DROP_MSG;
	}
	st->next_hdr += f.len;

	end = st->next_hdr - c->seq;
	if (end >= c->size) {
		finish(c, c->size, SK_PASS);
		return 1;
	}
	if (st->npending >= SL_PASS_MAX_FRAMES || use_stash) {
		/*
		 * The pending list is full, or this frame's header was split: let
		 * this much out, the rest gets a new run (where, without a stash,
		 * sluice_quick can take it).
		 */
		finish(c, end, SK_PASS);
		return 1;
	}
	return 0;
}

/*
 * 6.18 keeps msg->apply_bytes and msg->cork_bytes from earlier runs
 * (KERNEL-NOTES §1.2): apply_bytes is set on every return path. The meter
 * never corks (split headers are held by popping them), so cork_bytes is
 * never anything but 0 and is left alone: a helper call saved per run.
 */
static __always_inline int verdict(struct sk_msg_md *msg, __u32 apply, int v)
{
	bpf_msg_apply_bytes(msg, apply);
	return v;
}

SEC("sk_msg")
int sluice_meter(struct sk_msg_md *msg)
{
	/* Read ctx fields once: clang 14 may otherwise fold them into ctx pointer math. */
	struct bpf_sock *sk = msg->sk;
	__u32 size = msg->size;
	struct scan_ctx c = {};
	struct sl_quick q = {};
	struct sl_app_usage *usage;
	struct tcp_sock *tp;
	struct sl_sock *st;
	__u64 app_cap;
	__u32 seq, n;
	int quick;

	if (!sk)
		return verdict(msg, 0, SK_PASS);
	st = bpf_sk_storage_get(&sluice_socks, sk, 0, 0);
	tp = bpf_skc_to_tcp_sock(sk);
	if (!st || !tp)
		return verdict(msg, 0, SK_PASS);
	stat_add(SL_STAT_RUNS, 1);
	if (st->flags & SL_SOCK_F_KILLED)
		return verdict(msg, 0, SK_DROP);

	seq = tp->write_seq;
	usage = app_usage(st, &app_cap);
	reconcile(st, usage, seq);

	if (st->drop_rem) {
		/* The rest of a removed frame. */
		n = st->drop_rem < size ? st->drop_rem : size;
		if (bpf_msg_pop_data(msg, 0, n, 0)) {
			desync(st);
		} else {
			st->drop_rem -= n;
			size -= n;
		}
		if (st->drop_rem || !size)
			return verdict(msg, 0, SK_PASS);
	}

	if (st->framing == SL_FRAMING_RAW || st->framing >= SL_FRAMING__MAX ||
	    (st->flags & SL_SOCK_F_DESYNC)) {
		c.apply = size;
		c.verdict = SK_PASS;
	} else {
		/*
		 * Without an application cap nothing in the scan needs the shared
		 * counters as they go: the scan counts on the socket only, and the
		 * application gets the differences once per run. Four atomic adds
		 * per frame were a fifth of the frame's cost.
		 */
		__u64 events0 = st->events, replies0 = st->replies, drops0 = st->drops;
		__u64 drop_bytes0 = st->drop_bytes;

		c.msg = msg;
		c.st = st;
		c.usage = app_cap ? usage : NULL;
		c.app = usage;
		c.app_cap = app_cap;
		c.seq = seq;
		c.size = size;
		/*
		 * Until a helper reshapes the message, msg->data..data_end is its
		 * first scatterlist element, which usually holds a whole writev:
		 * headers in it are read in place. The offset lives in the map
		 * value, not on the stack: a tracked stack value multiplied the
		 * verifier's states past its budget.
		 */
		st->win_off = 0;
		/*
		 * Only a plan needs the clock (~70 ns a read in this VM). Kept in
		 * the map value: a stack value that is either 0 or the clock
		 * doubled the verifier's states.
		 */
		if (st->deadline_ns || st->rate_bps)
			st->run_now_ns = bpf_ktime_get_ns();
		q.seq = seq;
		q.size = size;
		q.defer = c.usage != NULL;
		quick = quick_ok(&c) ? sluice_quick(msg, st, c.usage, app_cap, &q) : -1;
		if (quick > 0)
			finish(&c, q.apply, SK_PASS);
		else
			bpf_loop(SL_SCAN_MAX_ITER, scan_one, &c, 0);
		if (usage && !app_cap) {
			if (st->events != events0) {
				__sync_fetch_and_add(&usage->events, st->events - events0);
				__sync_fetch_and_add(&usage->events_total, st->events - events0);
			}
			if (st->replies != replies0)
				__sync_fetch_and_add(&usage->replies, st->replies - replies0);
			if (st->drops != drops0) {
				__sync_fetch_and_add(&usage->drops, st->drops - drops0);
				__sync_fetch_and_add(&usage->drop_bytes,
						     st->drop_bytes - drop_bytes0);
			}
		}
		if (!c.done) {
			desync(st);
			c.apply = c.size;
			c.verdict = SK_PASS;
		}
	}
	if (c.verdict == SK_PASS) {
		bytes_add(st, usage, c.apply);
		st->scan_end = seq + c.apply;
	}
	return verdict(msg, c.apply, c.verdict);
}

static __always_inline void on_established(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sl_port *port;
	struct tcp_sock *tp;
	struct sl_sock *st;
	__u16 lport = skops->local_port;
	__u64 cookie;

	port = bpf_map_lookup_elem(&sluice_ports, &lport);
	if (!port || !sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	st = bpf_sk_storage_get(&sluice_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return;
	cookie = bpf_get_socket_cookie(skops);
	st->cookie = cookie;
	st->established_ns = bpf_ktime_get_ns();
	st->seq_base = tp->write_seq;
	st->next_hdr = st->seq_base;
	st->scan_end = st->seq_base;
	st->local_port = lport;
	/* the port sits in network order in the upper half (sock_ops_convert_ctx_access) */
	st->remote_port = bpf_ntohl(skops->remote_port);
	st->framing = port->framing;
	if (bpf_sock_hash_update(skops, &sluice_sockhash, &cookie, BPF_NOEXIST))
		return;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	stat_add(SL_STAT_SELECTED, 1);
}

static __always_inline void on_close(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sl_close_record *rec;
	struct sl_app_usage *usage;
	struct tcp_sock *tp;
	struct sl_sock *st;
	__u32 seq, old_state;
	__u64 app_cap;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&sluice_socks, sk, 0, 0);
	tp = bpf_skc_to_tcp_sock(sk);
	if (!st || !tp)
		return;
	usage = app_usage(st, &app_cap);
	/*
	 * Frames of a pass that never went out are not counted as delivered.
	 * A FIN takes one sequence number that is not a byte of the stream.
	 */
	seq = tp->write_seq;
	old_state = skops->args[0];
	if (old_state == BPF_TCP_FIN_WAIT1 || old_state == BPF_TCP_FIN_WAIT2 ||
	    old_state == BPF_TCP_CLOSING || old_state == BPF_TCP_LAST_ACK ||
	    old_state == BPF_TCP_TIME_WAIT)
		seq--;
	reconcile(st, usage, seq);

	rec = bpf_ringbuf_reserve(&sluice_closes, sizeof(*rec), 0);
	if (!rec) {
		stat_add(SL_STAT_RINGBUF_LOST, 1);
		return;
	}
	rec->cookie = st->cookie;
	rec->duration_ns = bpf_ktime_get_ns() - st->established_ns;
	rec->events = st->events;
	rec->replies = st->replies;
	rec->bytes = st->bytes;
	rec->drops = st->drops;
	rec->drop_bytes = st->drop_bytes;
	rec->bytes_acked = skops->bytes_acked;
	rec->bytes_received = skops->bytes_received;
	rec->srtt_us = skops->srtt_us >> 3; /* the kernel keeps srtt << 3 */
	rec->total_retrans = skops->total_retrans;
	rec->app_slot = st->app_slot;
	rec->local_port = st->local_port;
	rec->remote_port = st->remote_port;
	rec->old_state = old_state;
	rec->flags = st->flags;
	__builtin_memset(rec->pad, 0, sizeof(rec->pad));
	bpf_ringbuf_submit(rec, 0);
	stat_add(SL_STAT_CLOSED, 1);
}

SEC("sockops")
int sluice_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_established(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			on_close(skops);
		break;
	default:
		break;
	}
	return 1;
}

/* A char matrix, not pointers: rodata pointers would need relocations BPF has not got. */
static const char framing_names[SL_FRAMING__MAX][5] = { "raw", "ws", "len4", "sse", "tls" };

/* `cat PIN_ROOT/conns`: one line per metered socket (sk_storage cannot be enumerated). */
SEC("iter/tcp")
int sluice_conns(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct seq_file *seq = ctx->meta->seq;
	struct tcp_sock *tp;
	struct sl_sock *st;
	__u32 framing;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	st = bpf_sk_storage_get(&sluice_socks, tp, 0, 0);
	if (!st)
		return 0;
	framing = st->framing < SL_FRAMING__MAX ? st->framing : 0;
	BPF_SEQ_PRINTF(seq, "cookie=%llu lport=%u rport=%u app=%u framing=%s flags=%u ", st->cookie,
		       st->local_port, st->remote_port, st->app_slot, framing_names[framing],
		       st->flags);
	BPF_SEQ_PRINTF(
	    seq, "events=%llu replies=%llu bytes=%llu drops=%llu drop_bytes=%llu cap=%llu ",
	    st->events, st->replies, st->bytes, st->drops, st->drop_bytes, st->event_cap);
	/* Keys: drops_ and sl_drop_reason_name() of each reason. */
	BPF_SEQ_PRINTF(
	    seq,
	    "drops_conn_event_cap=%llu drops_app_event_cap=%llu drops_byte_rate=%llu "
	    "drops_conn_time=%llu ",
	    st->drops_by_reason[SL_DROP_SOCK_EVENT_CAP], st->drops_by_reason[SL_DROP_APP_EVENT_CAP],
	    st->drops_by_reason[SL_DROP_BYTE_RATE], st->drops_by_reason[SL_DROP_CONN_TIME]);
	BPF_SEQ_PRINTF(seq, "unacked=%u notsent=%u age_ms=%llu\n", tp->snd_nxt - tp->snd_una,
		       tp->write_seq - tp->snd_nxt,
		       (bpf_ktime_get_ns() - st->established_ns) / 1000000);
	return 0;
}
