/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel meter seen from userspace: load or adopt the BPF programs,
 * attach them with bpf_links, pin everything under one directory per
 * instance, and give typed access to the maps. The only module that touches
 * libbpf for the meter's lifecycle; read-only inspection of pins lives in
 * pins.h.
 */
#ifndef SLUICE_KERN_H
#define SLUICE_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sluice/meter.h"

#define SL_KERN_DEFAULT_PIN_ROOT "/sys/fs/bpf/sluice"

/* Names of the pinned objects under the pin root (maps keep their own names). */
#define SL_KERN_PIN_LINK_SOCKOPS "link_sockops"
#define SL_KERN_PIN_LINK_SK_MSG "link_sk_msg"
#define SL_KERN_PIN_CONNS "conns" /* iter/tcp: `cat` lists metered sockets */

struct sl_kern;

struct sl_kern_opts {
	const char *pin_root;	 /* default SL_KERN_DEFAULT_PIN_ROOT */
	const char *cgroup_path; /* cgroup v2 directory to attach sock_ops to */
	bool quiet;		 /* keep libbpf's own messages off stderr */
};

/*
 * Loads the programs (reusing pinned maps, so counters carry over), attaches
 * them or moves the pinned links to the new programs, and pins what is new.
 * On failure returns -errno and writes one sentence for the operator to err.
 */
int sl_kern_open(struct sl_kern **out, const struct sl_kern_opts *opts, char *err, size_t errlen);

/* Releases this process's handles; pins and attachments stay for the next one. */
void sl_kern_close(struct sl_kern *k);

/* Detaches the links, empties the sockhash, removes every pin, then closes. */
int sl_kern_detach(struct sl_kern *k);

/*
 * 0 when pin_root is on bpffs (or would be, once created), else -ENOTDIR with
 * a message: a directory elsewhere holds someone else's files.
 */
int sl_kern_pin_root_check(const char *pin_root, char *err, size_t errlen);

/*
 * The same from the pins alone, for `sluiced --cleanup` and tests: works when
 * no process has the meter open. Missing pins are not an error; a pin root
 * that is not on bpffs is refused (-ENOTDIR) and nothing is removed.
 */
int sl_kern_cleanup(const char *pin_root, char *err, size_t errlen);

/* Meters sockets accepted on this local port (host order) with this framing. */
int sl_kern_port_add(struct sl_kern *k, __u16 port, enum sl_framing framing);
int sl_kern_port_del(struct sl_kern *k, __u16 port);

/* What userspace configures on one metered socket. */
struct sl_sock_config {
	enum sl_framing framing;
	__u32 frame_start; /* stream offset where framing begins (after the HTTP handshake) */
	__u32 app_slot;	   /* 0 = none */
	__u64 event_cap;   /* 0 = no cap */
	/* plan limits the kernel enforces on this connection (0 = none) */
	__u64 max_conn_time_ns; /* from establishment */
	__u64 rate_bps;
	__u64 burst_bytes; /* defaults to rate_bps */
};

/* Per-socket state by fd: -ENOENT when the socket is not metered. */
int sl_kern_sock_get(struct sl_kern *k, int fd, struct sl_sock *out);
int sl_kern_sock_configure(struct sl_kern *k, int fd, const struct sl_sock_config *cfg);

/* A policy reload: new application slot and plan limits, parse state untouched. */
int sl_kern_sock_set_plan(struct sl_kern *k, int fd, const struct sl_sock_config *cfg);

/*
 * Call after any write on a metered socket that returned less than asked
 * (EAGAIN included), before the next write. The kernel (6.18) keeps a stale
 * verdict after a push that failed part-way and would let the retried bytes
 * out unmetered; re-inserting the socket gives it a fresh psock so that the
 * retry is metered from its exact stream offset (see docs/ARCHITECTURE.md).
 */
int sl_kern_sock_resync(struct sl_kern *k, int fd);

/*
 * TLS sockets: the records that will start at these stream offsets (1 to
 * SL_REPLY_MARKS of them) carry replies, not events (the kernel cannot look
 * inside records). They replace the socket's marks; call before a write
 * that reaches them, and let no write pass a reply record not marked.
 */
int sl_kern_sock_set_reply_marks(struct sl_kern *k, int fd, const __u64 *offsets, unsigned n);

/* With a window and no tai_offset_ns, the current CLOCK_TAI - CLOCK_REALTIME is filled in. */
int sl_kern_app_set_limits(struct sl_kern *k, __u32 slot, const struct sl_app_limits *limits);
int sl_kern_app_limits(struct sl_kern *k, __u32 slot, struct sl_app_limits *out);
int sl_kern_app_usage(struct sl_kern *k, __u32 slot, struct sl_app_usage *out);
/*
 * The usage of slots 0 to n - 1 (1 <= n <= SL_MAX_APPS) into out, in one
 * syscall: a walk over 4,000 applications made one lookup syscall each,
 * every second.
 */
int sl_kern_app_usage_all(struct sl_kern *k, struct sl_app_usage *out, __u32 n);
int sl_kern_app_reset(struct sl_kern *k, __u32 slot);

/* Puts saved usage back (after a reboot emptied the pins); only into an unused slot. */
int sl_kern_app_restore(struct sl_kern *k, __u32 slot, const struct sl_app_usage *saved);

/* Sums over CPUs. */
int sl_kern_drops(struct sl_kern *k, struct sl_drop_count out[SL_DROP__MAX]);
int sl_kern_stats(struct sl_kern *k, __u64 out[SL_STAT__MAX]);

/* Close records: cb is called once per record; returns records seen or -errno. */
typedef void (*sl_kern_close_cb)(void *ctx, const struct sl_close_record *rec);
int sl_kern_closes_poll(struct sl_kern *k, sl_kern_close_cb cb, void *ctx, int timeout_ms);

/* For event loops: an fd that becomes readable when close records wait, and a drain. */
int sl_kern_closes_fd(struct sl_kern *k);
int sl_kern_closes_consume(struct sl_kern *k, sl_kern_close_cb cb, void *ctx);

/* Finds the cgroup v2 mount from /proc/mounts (hybrid layouts put it elsewhere). */
int sl_kern_cgroup2_root(char *buf, size_t len);

/* Moves the calling process into the cgroup (sockets inherit it at creation). */
int sl_kern_cgroup_join(const char *cgroup_path);

/* Mounts bpffs at /sys/fs/bpf when nothing is mounted there. */
int sl_kern_bpffs_ensure(char *err, size_t errlen);

const char *sl_drop_reason_name(enum sl_drop_reason reason);
const char *sl_meter_stat_name(enum sl_meter_stat stat);
const char *sl_framing_name(enum sl_framing framing);

#endif
