/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by the kernel meter (bpf/) and userspace: map values, drop
 * reasons, framings and limits. Only fixed-width types, explicit padding and
 * a size assert per struct, because the same bytes are read by a BPF program
 * compiled by clang and by userspace compiled by gcc, and they live on in
 * pinned maps across daemon upgrades.
 */
#ifndef SLUICE_METER_H
#define SLUICE_METER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bump on any layout change; a pinned map from another ABI is refused. */
#define SL_ABI_VERSION 8

#define SL_MAX_APPS 4096
#define SL_MAX_PORTS 64
#define SL_MAX_SOCKS 65536

/*
 * Entries of the pending list one pass may fill before the meter lets the
 * kernel push what it scanned. The list must hold every frame of a pass so
 * that a push that fails part-way can be undone exactly (see
 * bpf/meter.bpf.c, "rewind"); an entry holds a run of up to
 * SL_PASS_RUN_MAX frames of one length and kind, or one frame. Every pass
 * is a push of its own: at 32 entries of one frame the gateway's writevs of
 * up to 256 frames became 8 pushes. At 64, struct sl_sock (856 B) and its
 * storage header (72 B) still fit the same 1 KiB allocation size class as
 * at 32.
 */
#define SL_PASS_MAX_FRAMES 64
#define SL_PASS_RUN_MAX 255

/*
 * TLS records are opaque to the kernel: the daemon tells it where the records
 * that carry replies (acks, errors, handshakes answers, heartbeats) start, in a
 * small ring per socket; every other application-data record is an event.
 */
#define SL_REPLY_MARKS 16

/* Longest frame header plus the payload bytes peeked to classify a frame. */
#define SL_STASH_BYTES 24

/* How the bytes a gateway socket sends are cut into frames. */
enum sl_framing {
	SL_FRAMING_RAW = 0,  /* no framing known yet: bytes only */
	SL_FRAMING_WS = 1,   /* RFC 6455 server frames */
	SL_FRAMING_LEN4 = 2, /* 4-byte big-endian length + msgpack (native protocol) */
	SL_FRAMING_SSE = 3,  /* HTTP chunked, one chunk per SSE record, 8 hex digits */
	SL_FRAMING_TLS = 4,  /* TLS records, 5-byte header */
	SL_FRAMING__MAX = 5,
};

/* What a frame is, as the meter sees it. */
enum sl_frame_kind {
	SL_FRAME_EVENT = 0,    /* a delivered `ev` message: uses up event quotas */
	SL_FRAME_REPLY = 1,    /* ack, err, pong, heartbeat, gap and close notices */
	SL_FRAME_CONTROL = 2,  /* WebSocket close/ping/pong and TLS alerts: never dropped */
	SL_FRAME_FRAGMENT = 3, /* WebSocket continuation: part of the message it continues */
};

/*
 * Drop reasons: one numeric namespace shared by the kernel counters, the
 * logs and the metric label values (sl_drop_reason_name()).
 */
enum sl_drop_reason {
	SL_DROP_NONE = 0,
	SL_DROP_SOCK_EVENT_CAP = 1, /* the connection's event cap was reached */
	SL_DROP_APP_EVENT_CAP = 2,  /* the application's event cap was reached */
	SL_DROP_BYTE_RATE = 3,
	SL_DROP_CONN_TIME = 4,
	SL_DROP__MAX = 5,
};

/* Counters about the meter itself, one per-CPU array slot each. */
enum sl_meter_stat {
	SL_STAT_RUNS = 0,	  /* sk_msg program runs */
	SL_STAT_SELECTED = 1,	  /* sockets sock_ops put under the meter */
	SL_STAT_CLOSED = 2,	  /* close records emitted */
	SL_STAT_REWINDS = 3,	  /* passes undone after a partial push (daemon resynced) */
	SL_STAT_GAPS = 4,	  /* bytes pushed without a program run (no resync) */
	SL_STAT_DESYNCS = 5,	  /* sockets that fell back to counting bytes only */
	SL_STAT_KILLS = 6,	  /* TLS sockets cut for going over a cap */
	SL_STAT_HOLDS = 7,	  /* split headers held back while a cap was reached */
	SL_STAT_RINGBUF_LOST = 8, /* close records lost to a full ring buffer */
	SL_STAT_FORCED = 9,	  /* events let through over a cap: header already half out */
	SL_STAT__MAX = 10,
};

/* sl_sock.flags */
#define SL_SOCK_F_DESYNC (1u << 0)   /* parse state lost: counting bytes only */
#define SL_SOCK_F_HELD (1u << 1)     /* stash holds popped bytes not yet in the stream */
#define SL_SOCK_F_KILLED (1u << 2)   /* sends refused (TLS over a cap) */
#define SL_SOCK_F_DROP_MSG (1u << 3) /* WS: continuations of a removed message follow */

/*
 * One entry of the current pass, by TCP stream sequence numbers: its frames
 * (sl_sock.pending_frames, all of one length and kind) from start to end.
 */
struct sl_pending {
	__u32 start;
	__u32 end;
};

/*
 * Per-socket state, in the sk_storage map `sluice_socks`. sock_ops creates
 * it; userspace writes the configuration part by socket fd (read, modify,
 * write: only the daemon sends on its sockets, so no program run races it);
 * the sk_msg program owns the rest.
 *
 * Positions are TCP sequence numbers (tp->write_seq space, wrapping u32): the
 * stream offset of a byte is (seq - seq_base). A retried write after a partial
 * push starts at the same sequence number, which is what lets the meter count
 * every frame exactly once whatever the kernel did with the previous attempt.
 *
 * What every run reads or writes comes first, the pending list's first
 * entries included: four cache lines. A run comes to each socket cold (a
 * thousand others were sent to since), and each line it touches is a miss.
 */
struct sl_sock {
	/* configuration, written by userspace */
	__u64 event_cap; /* events this connection may receive; 0 = no cap */
	__u32 app_slot;	 /* index into sluice_app_limits/usage; 0 = none */
	__u8 framing;	 /* enum sl_framing */
	__u8 flags;	 /* SL_SOCK_F_* */
	__u8 stash_len;
	__u8 npending;

	/* counters, written by the programs */
	__u64 events;	  /* delivered events */
	__u64 replies;	  /* protocol replies and control frames */
	__u64 bytes;	  /* bytes that entered the TCP stream */
	__u64 drops;	  /* frames removed */
	__u64 drop_bytes; /* bytes removed */

	/* parse state */
	__u32 next_hdr;	       /* seq of the next frame header */
	__u32 scan_end;	       /* seq just past the last byte of the current pass */
	__u32 drop_rem;	       /* bytes of a removed frame still to come */
	__u32 win_off;	       /* run scratch: message offset msg->data points at */
	__u64 pending_events;  /* bit i: pending[i] holds events */
	__u64 pending_replies; /* bit i: pending[i] holds replies or control frames */

	/* plan limits of this connection, written by userspace */
	__u64 deadline_ns; /* bpf_ktime_get_ns() after which events are refused; 0 = none */
	__u64 rate_bps;	   /* byte rate of the token bucket; 0 = none */

	/*
	 * Parse memo, kernel only: the head of the last frame sl_frame_quick
	 * parsed (its first word, and of its second the bytes the parse reads,
	 * sl_frame_quick_reads) and that frame's length and kind; memo_len 0 =
	 * none. A frame whose head repeats it parses the same, so it is taken
	 * without parsing.
	 */
	__u64 memo_w0;
	__u64 memo_w1;
	__u32 memo_len;
	__u8 memo_kind;
	__u8 memo_pad[3];

	__u8 pending_frames[SL_PASS_MAX_FRAMES]; /* frames in pending[i]: 1..SL_PASS_RUN_MAX */
	struct sl_pending pending[SL_PASS_MAX_FRAMES];

	/* identity, written by sock_ops */
	__u64 cookie;
	__u64 established_ns; /* bpf_ktime_get_ns() at establishment */
	__u32 seq_base;	      /* write_seq at establishment: stream offset 0 */
	__u16 local_port;
	__u16 remote_port;

	/* the rarer paths: plans, split headers, removed frames, TLS */
	__u64 burst_bytes; /* bucket depth, written by userspace */
	/* token bucket state, kernel only */
	__u64 tokens;
	__u64 tokens_ns;
	__u64 run_now_ns;		     /* run scratch: the clock, read only for a plan */
	__u64 drops_by_reason[SL_DROP__MAX]; /* frames removed, by enum sl_drop_reason */
	__u32 stash_seq;		     /* seq where held stash bytes belong */
	__u8 drop_reason; /* reason of the message being removed (SL_SOCK_F_DROP_MSG) */
	__u8 reply_head;  /* next slot of reply_seq to write (userspace) */
	__u8 pad[2];
	__u8 stash[SL_STASH_BYTES];	 /* header bytes split across messages */
	__u32 reply_seq[SL_REPLY_MARKS]; /* TLS: seqs where reply records start */
};

/* A gateway application's limits, written by userspace (sluice_app_limits). */
struct sl_app_limits {
	__u64 event_cap; /* events all connections together may receive per window; 0 = no cap */
	__u64 window_ns; /* fixed windows aligned to UTC; 0 = one window for ever */
	/*
	 * CLOCK_TAI - CLOCK_REALTIME (leap seconds, 37 s today): the kernel has
	 * bpf_ktime_get_tai_ns() but no UTC, and quota windows turn at UTC
	 * midnight like the customer's invoice does.
	 */
	__u64 tai_offset_ns;
	/*
	 * Which application the slot's counts belong to (the first 8 bytes of
	 * SHA-256 of its id; 0: none), for userspace only: a restarted daemon
	 * finds each application's pinned counts by it, whatever order the
	 * config lists them in and whatever slots reloads handed out.
	 */
	__u64 owner;
};

/* A gateway application's usage, written by the kernel (sluice_app_usage). */
struct sl_app_usage {
	__u64 events; /* in the current window */
	__u64 bytes;
	__u64 replies;
	__u64 drops;
	__u64 drop_bytes;
	__u64 window_start_ns; /* UTC start of the window `events` counts in */
	__u64 events_total;    /* across windows */
	__u64 reserved;
	__u64 drops_by_reason[SL_DROP__MAX]; /* frames removed, by enum sl_drop_reason */
};

/* Drop counters per reason (per-CPU array sluice_drops). */
struct sl_drop_count {
	__u64 frames;
	__u64 bytes;
};

/* A listener port that sock_ops meters (sluice_ports), set by userspace. */
struct sl_port {
	__u8 framing; /* framing until userspace says otherwise; RAW for HTTP */
	__u8 pad[7];
};

/* Close record on the ring buffer sluice_closes. */
struct sl_close_record {
	__u64 cookie;
	__u64 duration_ns;
	__u64 events;
	__u64 replies;
	__u64 bytes;
	__u64 drops;
	__u64 drop_bytes;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 srtt_us;
	__u32 total_retrans;
	__u32 app_slot;
	__u16 local_port;
	__u16 remote_port;
	__u8 old_state; /* TCP state before CLOSE: who closed, and how */
	__u8 flags;	/* sl_sock.flags at close */
	__u8 pad[6];
};

/* Single-entry array sluice_info: lets a loader refuse pins of another ABI. */
struct sl_info {
	__u32 abi_version;
	__u32 pad;
	__u64 created_ns;
};

_Static_assert(sizeof(struct sl_pending) == 8, "sl_pending layout");
_Static_assert(sizeof(struct sl_sock) == 192 + 8 * SL_DROP__MAX + SL_STASH_BYTES +
					     9 * SL_PASS_MAX_FRAMES + 4 * SL_REPLY_MARKS,
	       "sl_sock layout");
_Static_assert(sizeof(struct sl_app_limits) == 32, "sl_app_limits layout");
_Static_assert(sizeof(struct sl_app_usage) == 64 + 8 * SL_DROP__MAX, "sl_app_usage layout");
_Static_assert(sizeof(struct sl_drop_count) == 16, "sl_drop_count layout");
_Static_assert(sizeof(struct sl_port) == 8, "sl_port layout");
_Static_assert(sizeof(struct sl_close_record) == 96, "sl_close_record layout");
_Static_assert(sizeof(struct sl_info) == 16, "sl_info layout");

#endif
