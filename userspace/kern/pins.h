/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Read-only inspection of the meter's pinned BPF objects, for sluicectl and
 * for anyone who must look at the meter while the daemon is down: list the
 * pinned maps, dump one with its values decoded from BTF, show the pinned
 * links with their programs, and read the `conns` iterator. Nothing here
 * loads, attaches or writes; maps are opened with BPF_F_RDONLY.
 *
 * Every function that can fail because of the machine's state (no pins, not
 * bpffs, an unlistable map) returns -errno and, when err is not NULL, writes
 * one sentence for the operator into err.
 */
#ifndef SLUICE_KERN_PINS_H
#define SLUICE_KERN_PINS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include <jansson.h>

#include "sluice/meter.h"

struct btf;

/* The kernel's object names are 16 bytes, NUL included; pin names are longer. */
#define SL_PINS_OBJ_NAME_LEN 16
#define SL_PINS_TYPE_NAME_LEN 32

/* One map pinned directly under the pin root. */
struct sl_pins_map {
	char name[NAME_MAX + 1];		/* pin file name: the full map name */
	char kernel_name[SL_PINS_OBJ_NAME_LEN]; /* as the kernel keeps it (truncated) */
	char type_name[SL_PINS_TYPE_NAME_LEN];	/* "array", "sk_storage", … */
	__u32 id;
	__u32 type; /* enum bpf_map_type */
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 flags;
	__u32 btf_id; /* 0 when the map carries no BTF */
	bool has_btf; /* the value (at least) has a BTF type: dumps are decoded */
};

/*
 * Lists the maps pinned directly under pin_root, sorted by pin name. Other
 * pins (links, programs) and other files are skipped. *maps is malloc'ed
 * (NULL when *count is 0); free() it.
 */
int sl_pins_map_list(const char *pin_root, struct sl_pins_map **maps, size_t *count, char *err,
		     size_t errlen);

/*
 * Dumps the map pinned as pin_root/name (name may omit the "sluice_" prefix)
 * as a JSON array of {"key": K, "value": V}, or for per-CPU maps
 * {"key": K, "values": [{"cpu": N, "value": V}, …]}, one per possible CPU.
 * K and V are decoded from the map's BTF; without BTF they are arrays of
 * "0xNN" byte strings, as bpftool prints them, except the values of a
 * sockhash or sockmap, which are socket cookies. Maps the kernel cannot
 * enumerate (sk_storage, ring buffers, …) return -EOPNOTSUPP with a message
 * saying where to look instead. On success *out holds a new reference.
 */
int sl_pins_map_dump_json(const char *pin_root, const char *name, json_t **out, char *err,
			  size_t errlen);

/*
 * The same dump as text, one entry after another, values printed by
 * libbpf's btf_dump__dump_type_data (C initializer syntax), followed by a
 * "Found N entries" line. An error after the first entry leaves what was
 * printed in place.
 */
int sl_pins_map_dump_text(const char *pin_root, const char *name, FILE *out, char *err,
			  size_t errlen);

/*
 * Decodes size bytes at data as BTF type type_id of btf into JSON:
 * integers as numbers (u64 above INT64_MAX, which jansson cannot hold, and
 * 128-bit integers as strings), bools as booleans, enums by name when the
 * value has one, structs and unions as objects by member name (anonymous
 * members flattened), arrays as arrays, typedefs and qualifiers looked
 * through. Returns -EINVAL when the type does not fit in size.
 */
int sl_pins_btf_json(const struct btf *btf, __u32 type_id, const void *data, size_t size,
		     json_t **out);

/* A program as bpf_prog_get_info_by_fd sees it. */
struct sl_pins_prog {
	char name[SL_PINS_OBJ_NAME_LEN];
	char type_name[SL_PINS_TYPE_NAME_LEN];
	char tag[17]; /* hex */
	__u32 id;
	__u32 type; /* enum bpf_prog_type */
	__u32 verified_insns;
	__u32 xlated_len;  /* bytes */
	__u32 jited_len;   /* bytes */
	__u64 run_time_ns; /* only counted while kernel.bpf_stats_enabled is 1 */
	__u64 run_cnt;
};

/* One link (or, for older loaders, one program) pinned under the pin root. */
struct sl_pins_link {
	char pin[NAME_MAX + 1];
	bool is_link;			       /* false: a pinned program; only .prog is filled */
	char type_name[SL_PINS_TYPE_NAME_LEN]; /* "cgroup", "sockmap", "iter", … */
	char attach_type_name[SL_PINS_TYPE_NAME_LEN]; /* "" when the link type has none */
	char iter_target[SL_PINS_TYPE_NAME_LEN];      /* iter links: "tcp", … */
	__u32 id;
	__u32 type; /* enum bpf_link_type */
	__u32 prog_id;
	__u32 attach_type; /* enum bpf_attach_type; valid when attach_type_name[0] */
	__u64 cgroup_id;   /* cgroup links */
	__u32 map_id;	   /* sockmap links */
	bool has_prog;	   /* prog holds the attached program's info */
	struct sl_pins_prog prog;
};

/*
 * Lists the links and programs pinned directly under pin_root, sorted by pin
 * name. *links is malloc'ed (NULL when *count is 0); free() it.
 */
int sl_pins_prog_list(const char *pin_root, struct sl_pins_link **links, size_t *count, char *err,
		      size_t errlen);

/* Whether kernel.bpf_stats_enabled is on, i.e. run_time_ns and run_cnt count. */
int sl_pins_stats_enabled(bool *on);

/* One metered socket, as the `conns` iterator prints it. */
struct sl_pins_conn {
	__u64 cookie;
	__u16 local_port;  /* lport= */
	__u16 remote_port; /* rport= */
	__u32 app_slot;	   /* app= */
	char framing[16];  /* framing=: sl_framing_name() of the socket's framing */
	__u32 flags;	   /* flags=: SL_SOCK_F_* */
	__u64 events;
	__u64 replies;
	__u64 bytes;
	__u64 drops;
	__u64 drop_bytes;
	__u64 drops_by_reason[SL_DROP__MAX]; /* drops_REASON=, sl_drop_reason_name() */
	__u64 event_cap;		     /* cap= */
	__u64 unacked;
	__u64 notsent;
	__u64 age_ms;
};

/*
 * Parses one line of the `conns` iterator: space-separated key=value pairs.
 * Unknown keys are ignored so that the iterator can print more than this
 * version knows; cookie= is required. Returns -EBADMSG on a malformed line.
 */
int sl_pins_conn_parse(const char *line, struct sl_pins_conn *out);

/*
 * Reads pin_root/conns (SL_KERN_PIN_CONNS) and parses every line. *conns is
 * malloc'ed (NULL when *count is 0); free() it.
 */
int sl_pins_conn_list(const char *pin_root, struct sl_pins_conn **conns, size_t *count, char *err,
		      size_t errlen);

#endif
