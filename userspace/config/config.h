/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's configuration (SPEC "Configuration"): one YAML file, read
 * with libyaml's document API and checked strictly. Unknown keys, wrong
 * types, bad values and duplicate keys are all errors, and every one is
 * collected as "FILE:LINE:COL: message" so that `sluiced --check` shows them
 * together instead of one per run. docs/CONFIG.md lists every key.
 *
 *	struct sl_diag diag = { 0 };
 *	struct sl_config cfg;
 *	int err = sl_config_load(path, &cfg, &diag);
 *
 *	sl_diag_print(&diag, stderr);
 *	sl_diag_free(&diag);
 *	...
 *	sl_config_free(&cfg);
 */
#ifndef SLUICE_CONFIG_CONFIG_H
#define SLUICE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ---- Diagnostics ---------------------------------------------------------------------------- */

/*
 * At most this many messages are kept: a garbage file can hold thousands of
 * problems and the first hundred are what anyone reads. The rest are still
 * counted, and sl_diag_print says how many were left out.
 */
#define SL_DIAG_MAX 100

/* Where a stored message is, for sl_diag_merge. */
struct sl_diag_place {
	unsigned rank;		 /* its file: 0 the config, i + 1 the config's policies[i] */
	unsigned long line, col; /* as given to sl_diag_add */
};

/* Collects problems. A zeroed struct is ready to use; sl_diag_free releases it. */
struct sl_diag {
	char **msgs;		      /* "FILE:LINE:COL: message", the first SL_DIAG_MAX */
	struct sl_diag_place *places; /* places[i] is where msgs[i] is, for sl_diag_merge */
	size_t stored;		      /* entries in msgs */
	size_t count; /* every problem added, stored or not (out of memory included) */
};

void sl_diag_init(struct sl_diag *diag);

/*
 * Adds one problem. line and col are 1-based (libyaml marks + 1); line 0
 * means the problem has no position ("FILE: message"), col 0 prints only the
 * line. Never fails: a message that cannot be stored is still counted.
 */
void sl_diag_add(struct sl_diag *diag, const char *file, unsigned long line, unsigned long col,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * sl_diag_add for a problem in file, the config's file of rank
 * (sl_config_node_file gives it): sl_diag_merge puts the files in rank
 * order. sl_diag_add is rank 0, the config itself.
 */
void sl_diag_add_ranked(struct sl_diag *diag, unsigned rank, const char *file, unsigned long line,
			unsigned long col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Problems added so far; non-zero means the input is not usable. */
size_t sl_diag_count(const struct sl_diag *diag);

/* The i-th stored message, or NULL when i >= stored. */
const char *sl_diag_get(const struct sl_diag *diag, size_t i);

/* Prints one message a line, then a note for those not stored. */
void sl_diag_print(const struct sl_diag *diag, FILE *f);

void sl_diag_free(struct sl_diag *diag);

/*
 * Moves the problems of parts[0..n) into diag, after those it holds, sorted
 * by file, line and column: the files by their rank (the config, then its
 * policy files), a message without a line first in its file, and problems at
 * one place in the order of parts, then their own. Each part being a separate check (config,
 * issuers, plans), this is how their problems read as one list in file order. Problems past
 * SL_DIAG_MAX are counted, as by sl_diag_add; parts are left empty.
 */
void sl_diag_merge(struct sl_diag *diag, struct sl_diag *parts, size_t n);

/* ---- The configuration ---------------------------------------------------------------------- */

/* Bounds of the file itself (DESIGN "Bounded everything"). */
#define SL_CONFIG_MAX_FILE_BYTES (16u << 20)
#define SL_CONFIG_MAX_DEPTH 64
#define SL_CONFIG_MAX_POLICIES 256
#define SL_CONFIG_MAX_APPS 100000
#define SL_CONFIG_MAX_PATTERNS 1024 /* per subscribe or publish list */
#define SL_CONFIG_MAX_API_KEYS 64   /* per application */
#define SL_CONFIG_MAX_NAME 128	    /* application ids, plan and issuer names */
#define SL_CONFIG_MAX_CN 255	    /* a certificate subject CN, in bytes */
/* Browser origins a subscriber listener accepts; a DNS name is at most 253 bytes. */
#define SL_CONFIG_MAX_ORIGINS 64
#define SL_CONFIG_MAX_ORIGIN 255 /* bytes of one origin, as written */
/* sun_path is 108 bytes with its NUL. */
#define SL_CONFIG_SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Where a value was written: 1-based; line 0 means it is the built-in default. */
struct sl_config_mark {
	uint32_t line, col;
};

/* "HOST:PORT" with HOST a numeric IPv4 address, or "[IPv6]:PORT". */
struct sl_config_addr {
	bool enabled;		     /* false: "off", "" or null */
	uint16_t port;		     /* 0: the kernel picks one (tests use this) */
	int family;		     /* AF_INET or AF_INET6 */
	char host[INET6_ADDRSTRLEN]; /* numeric, without brackets */
	struct sockaddr_storage sa;  /* ready for bind(2) */
	socklen_t sa_len;
	struct sl_config_mark mark; /* to point bind errors at the config line */
};

/* Room for "[IPv6]:PORT" and a NUL. */
#define SL_CONFIG_ADDR_BUF (INET6_ADDRSTRLEN + 8)

enum sl_config_auth {
	SL_CONFIG_AUTH_REQUIRED = 0,
	SL_CONFIG_AUTH_OPEN = 1,
};

struct sl_config_listener {
	struct sl_config_addr plain;
	struct sl_config_addr tls;
	/* Subscribers only: publishers and admin publishing always authenticate. */
	enum sl_config_auth auth;
	/*
	 * Subscribers only: the browser origins whose pages may open a stream
	 * (cross-site WebSocket hijacking). Serialized as sl_config_parse_origin
	 * gives them. origins_set false (the key is absent): any origin.
	 */
	bool origins_set;
	const char **origins;
	uint32_t n_origins;
};

struct sl_config_control {
	const char *path;  /* absolute, at most SL_CONFIG_SOCKET_PATH_MAX bytes */
	uint32_t mode;	   /* permission bits, 0 to 0777 */
	const char *group; /* group name or number to chown the socket to; NULL: unset */
	uint32_t gid;	   /* group's id, resolved when the config is loaded */
};

struct sl_config_listeners {
	struct sl_config_listener subscribers, publishers, admin;
	struct sl_config_control control;
};

/* Absolute paths (relative ones are resolved against the config's directory); NULL: unset. */
struct sl_config_tls {
	const char *cert_file, *key_file, *client_ca_file;
};

struct sl_config_retention {
	uint32_t count; /* events per topic */
	uint64_t age_ns;
	bool journal; /* rings and sequence numbers survive a restart (state_dir/journal) */
};

struct sl_config_sse {
	uint64_t heartbeat_ns;
};

struct sl_config_ws {
	uint64_t ping_ns; /* a ping to a subscriber quiet this long; 0: none */
};

struct sl_config_limits {
	uint64_t max_frame_bytes;
	uint64_t max_header_bytes;
	uint64_t handshake_timeout_ns;
	uint32_t max_connections;
	uint32_t max_subscriptions_per_connection;
	uint32_t max_topics;
	uint64_t max_queued_bytes_per_connection;
	uint64_t max_queued_bytes_total; /* publishers are paced above it; 0 = never */
	uint32_t max_publishers;
};

struct sl_config_jwt {
	uint64_t leeway_ns;
};

enum sl_config_log_level {
	SL_CONFIG_LOG_DEBUG = 0,
	SL_CONFIG_LOG_INFO = 1,
	SL_CONFIG_LOG_WARN = 2,
	SL_CONFIG_LOG_ERROR = 3,
};

struct sl_config_log {
	enum sl_config_log_level level;
};

struct sl_config_metrics {
	/* /metrics labels at most this many applications and topics; the rest sum as `_other`. */
	uint32_t top_n;
	/* One-hour series of connections and topics kept at once (7 KiB each, stats/stats.h). */
	uint32_t max_series;
};

/*
 * An inline policy section (plans, applications, issuers). Only lightly
 * checked here; the policy module validates the rest from `node`, whose
 * marks give it FILE:LINE:COL.
 */
struct sl_config_section {
	bool present;
	int node;	/* index in cfg->doc (yaml_document_get_node), 0 when absent */
	uint32_t count; /* entries in the list */
	struct sl_config_mark mark;
};

/*
 * An inline application: what the gateway needs now to authorize topics.
 * Patterns are checked with sl_topic_validate (route/topic.h).
 */
struct sl_config_app {
	const char *id;
	const char *plan; /* NULL when not named */
	const char **subscribe;
	uint32_t n_subscribe;
	const char **publish;
	uint32_t n_publish;
	const uint8_t (*api_keys)[32]; /* SHA-256 of each key, decoded from hex */
	uint32_t n_api_keys;
	/* mTLS: client certificates that identify this application */
	const uint8_t (*cert_sha256)[32]; /* SHA-256 of the certificate's DER */
	uint32_t n_cert_sha256;
	const char **cert_cn; /* subject common names */
	uint32_t n_cert_cn;
	struct sl_config_mark mark; /* the application's entry */
};

struct yaml_document_s;
struct yaml_node_s;

/* Nodes first..last (yaml_document_get_node indexes) of doc came from policies[rank - 1]. */
struct sl_config_origin {
	int first, last;
	uint32_t rank;
};

#define SL_CONFIG_THREADS_AUTO UINT32_MAX

struct sl_config {
	const char *path; /* the file as given to sl_config_load; NULL for defaults */
	const char *dir;  /* its directory, absolute; NULL for defaults */

	struct sl_config_listeners listeners;
	struct sl_config_tls tls;
	bool bpf;
	/*
	 * The daemon closes clients (4001, 4002, 4003, 4005) before a plan's
	 * limit is crossed; off leaves enforcement to the kernel alone, to show
	 * and debug the backstop.
	 */
	bool graceful;
	const char *bpf_pin_dir;
	const char *cgroup; /* a name under the cgroup2 mount, or an absolute path */
	struct sl_config_retention retention;
	struct sl_config_sse sse;
	struct sl_config_ws ws;
	struct sl_config_limits limits;
	struct sl_config_jwt jwt;
	const char *state_dir;
	/*
	 * Threads that write subscriber sockets beside the loop (net/workpool.h);
	 * SL_CONFIG_THREADS_AUTO: one per CPU beyond the loop's, at most 8.
	 */
	uint32_t write_threads;
	struct sl_config_log log;
	struct sl_config_metrics metrics;

	const char **policies; /* absolute paths, in the order given */
	uint32_t n_policies;
	/*
	 * The entries of policies[i] are merged into doc's plans, applications
	 * and issuers; its nodes are the index range origins[i] (for messages).
	 */
	struct sl_config_origin *origins;
	uint32_t n_origins;

	struct sl_config_section plans, applications, issuers;
	struct sl_config_app *apps;
	uint32_t n_apps;

	/* The parsed file (NULL for defaults), kept for the policy module. */
	struct yaml_document_s *doc;
	void *owned; /* private: every allocation of this config */
};

/*
 * The file a node of cfg->doc was written in: cfg->path, or the policy file
 * its section entry came from. *rank (when not NULL) orders messages: 0 for
 * the config, then 1.. for the policy files in the order they are listed.
 */
const char *sl_config_node_file(const struct sl_config *cfg, const struct yaml_node_s *n,
				unsigned *rank);

/* The file of a rank that sl_config_node_file gave. */
const char *sl_config_rank_file(const struct sl_config *cfg, unsigned rank);

/* Fills cfg with the defaults; allocates nothing. Overwrites cfg without freeing it. */
void sl_config_defaults(struct sl_config *cfg);

/*
 * Reads path into cfg: defaults first, then what the file says. Returns 0
 * when the file is valid; otherwise -EINVAL (problems in the file), -ENOENT,
 * -EACCES, -EFBIG... (cannot be read) or -ENOMEM, and every problem is in
 * diag (a non-zero return always adds at least one). Call sl_config_free on
 * cfg afterwards whatever the result; cfg must not hold a loaded config.
 */
int sl_config_load(const char *path, struct sl_config *cfg, struct sl_diag *diag);

/* Releases what sl_config_load allocated and leaves the defaults in cfg; safe to repeat. */
void sl_config_free(struct sl_config *cfg);

/*
 * Parses "HOST:PORT" (IPv4) or "[IPv6]:PORT"; "off" and "" give a disabled
 * address. Returns 0 or -EINVAL with *why (if not NULL) saying what is wrong.
 */
int sl_config_parse_addr(const char *s, struct sl_config_addr *addr, const char **why);

/* "0.0.0.0:8080", "[::1]:0" or "off". Returns buf. */
char *sl_config_addr_format(const struct sl_config_addr *addr, char *buf, size_t size);

/*
 * An origin as RFC 6454 §6.2 serializes it: "SCHEME://HOST[:PORT]" with
 * SCHEME http or https, both it and HOST lowercased, an IPv6 HOST in brackets
 * (in inet_ntop's form) and PORT left out when it is the scheme's default.
 * s[0..len) is at most SL_CONFIG_MAX_ORIGIN bytes; out holds
 * SL_CONFIG_ORIGIN_BUF. Returns 0 or -EINVAL with *why (if not NULL) saying
 * what is wrong. The config and an Origin header go through it alike.
 */
#define SL_CONFIG_ORIGIN_BUF (SL_CONFIG_MAX_ORIGIN + 1)
int sl_config_parse_origin(const char *s, size_t len, char *out, const char **why);

/*
 * Whether a subscriber handshake's Origin value[0..len) is allowed by l:
 * always when l->origins_set is false, otherwise when it names one of
 * l->origins. "null" and anything that is not an origin are not allowed.
 */
bool sl_config_origin_allowed(const struct sl_config_listener *l, const char *value, size_t len);

/* "debug", "info", "warn" or "error". */
const char *sl_config_log_level_name(enum sl_config_log_level level);

/* The inline application with this id, or NULL. */
const struct sl_config_app *sl_config_app_find(const struct sl_config *cfg, const char *id);

/*
 * Writes the effective configuration as YAML that loads back to the same
 * values: every key with its value, defaults included, then the inline
 * policy sections as written. For `sluiced --check` and bug reports.
 * Returns 0 or -EIO.
 */
int sl_config_print(const struct sl_config *cfg, FILE *f);

#endif
