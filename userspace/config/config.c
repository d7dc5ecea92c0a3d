// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading is three passes over one buffer: libyaml's event parser first (to
 * refuse deep nesting and a second document before the document loader
 * allocates for them), then the document loader, then a walk of the
 * document driven by the field tables below. Problems are gathered, sorted
 * by position and handed to the caller's sl_diag, so the output reads like
 * the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <yaml.h>

#include "auth/hex.h"
#include "config/config.h"
#include "config/node.h"
#include "config/problems.h"
#include "config/units.h"
#include "route/topic.h"

/* ---- Diagnostics ---------------------------------------------------------------------------- */

void sl_diag_init(struct sl_diag *diag)
{
	memset(diag, 0, sizeof(*diag));
}

/* Keeps msg (owned) at place when there is room; returns false when the caller still owns it. */
static bool diag_store(struct sl_diag *diag, char *msg, const struct sl_diag_place *place)
{
	if (diag->stored >= SL_DIAG_MAX)
		return false;
	if (!diag->msgs) {
		diag->msgs = calloc(SL_DIAG_MAX, sizeof(*diag->msgs));
		diag->places = calloc(SL_DIAG_MAX, sizeof(*diag->places));
		if (!diag->msgs || !diag->places) {
			free(diag->msgs);
			free(diag->places);
			diag->msgs = NULL;
			diag->places = NULL;
			return false;
		}
	}
	diag->places[diag->stored] = *place;
	diag->msgs[diag->stored++] = msg;
	return true;
}

static void diag_vadd(struct sl_diag *diag, unsigned rank, const char *file, unsigned long line,
		      unsigned long col, const char *fmt, va_list ap)
{
	struct sl_diag_place place = { .rank = rank, .line = line, .col = col };
	char pos[48] = "", *body = NULL, *msg = NULL;

	diag->count++;
	if (diag->stored >= SL_DIAG_MAX)
		return;
	if (vasprintf(&body, fmt, ap) < 0)
		return;
	if (line && col)
		snprintf(pos, sizeof(pos), ":%lu:%lu", line, col);
	else if (line)
		snprintf(pos, sizeof(pos), ":%lu", line);
	if (!file)
		file = "<config>";
	if (asprintf(&msg, "%s%s: %s", file, pos, body) >= 0 && !diag_store(diag, msg, &place))
		free(msg);
	free(body);
}

void sl_diag_add(struct sl_diag *diag, const char *file, unsigned long line, unsigned long col,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(diag, 0, file, line, col, fmt, ap);
	va_end(ap);
}

void sl_diag_add_ranked(struct sl_diag *diag, unsigned rank, const char *file, unsigned long line,
			unsigned long col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(diag, rank, file, line, col, fmt, ap);
	va_end(ap);
}

size_t sl_diag_count(const struct sl_diag *diag)
{
	return diag->count;
}

const char *sl_diag_get(const struct sl_diag *diag, size_t i)
{
	return i < diag->stored ? diag->msgs[i] : NULL;
}

void sl_diag_print(const struct sl_diag *diag, FILE *f)
{
	size_t i;

	for (i = 0; i < diag->stored; i++)
		fprintf(f, "%s\n", diag->msgs[i]);
	if (diag->count > diag->stored)
		fprintf(f, "... and %zu more problem%s not shown\n", diag->count - diag->stored,
			diag->count - diag->stored == 1 ? "" : "s");
}

void sl_diag_free(struct sl_diag *diag)
{
	size_t i;

	for (i = 0; i < diag->stored; i++)
		free(diag->msgs[i]);
	free(diag->msgs);
	free(diag->places);
	memset(diag, 0, sizeof(*diag));
}

struct merged {
	char *msg;
	struct sl_diag_place place;
	size_t order; /* parts' order, then each part's own */
};

static int merged_cmp(const void *a, const void *b)
{
	const struct merged *x = a, *y = b;

	if (x->place.rank != y->place.rank)
		return x->place.rank < y->place.rank ? -1 : 1;
	if (x->place.line != y->place.line)
		return x->place.line < y->place.line ? -1 : 1;
	if (x->place.col != y->place.col)
		return x->place.col < y->place.col ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void sl_diag_merge(struct sl_diag *diag, struct sl_diag *parts, size_t n)
{
	struct merged *all;
	size_t total = 0, i, j, k = 0;

	for (i = 0; i < n; i++)
		total += parts[i].stored;
	all = calloc(total ? total : 1, sizeof(*all));
	for (i = 0; i < n; i++) {
		for (j = 0; j < parts[i].stored; j++) {
			char *msg = parts[i].msgs[j];

			/* Out of memory to sort: in the parts' order rather than lost. */
			if (!all) {
				if (!diag_store(diag, msg, &parts[i].places[j]))
					free(msg);
				continue;
			}
			all[k] = (struct merged){ msg, parts[i].places[j], k };
			k++;
		}
		diag->count += parts[i].count;
		free(parts[i].msgs);
		free(parts[i].places);
		memset(&parts[i], 0, sizeof(parts[i]));
	}
	if (all) {
		qsort(all, k, sizeof(*all), merged_cmp);
		for (i = 0; i < k; i++)
			if (!diag_store(diag, all[i].msg, &all[i].place))
				free(all[i].msg);
		free(all);
	}
}

/* ---- Loader state --------------------------------------------------------------------------- */

/* Every allocation of a loaded config hangs off cfg->owned, so freeing is one walk. */
struct owned {
	struct owned *next;
	max_align_t data[];
};

/* A name or key and where it was written, for finding repeats. */
struct named {
	const void *key;
	size_t len;
	const yaml_node_t *node;
	size_t order;
	const char *owner; /* the application it belongs to, named in the message; or NULL */
};

struct loader {
	const char *file; /* as given, for messages */
	struct sl_config *cfg;
	yaml_document_t *doc;
	struct sl_problems problems;
	struct named *keys; /* every application's API keys, to refuse one key in two apps */
	size_t n_keys, cap_keys;
	/* every application's certificate fingerprints and CNs, likewise */
	struct named *cert_fps, *cert_cns;
	size_t n_cert_fps, cap_cert_fps, n_cert_cns, cap_cert_cns;
	unsigned cur_rank; /* the file problem_at() is about: 0 the config, i + 1 policies[i] */
	int err;	   /* -ENOMEM once an allocation failed */
};

static void problem_in(struct loader *ld, unsigned rank, unsigned long line, unsigned long col,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void problem_in(struct loader *ld, unsigned rank, unsigned long line, unsigned long col,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (sl_problems_vadd(&ld->problems, rank, line, col, NULL, fmt, ap))
		ld->err = -ENOMEM;
	va_end(ap);
}

/* A problem in the file being read (before its nodes are in the config's document). */
#define problem_at(ld, line, col, ...) problem_in(ld, (ld)->cur_rank, line, col, __VA_ARGS__)

static unsigned rank_of(const struct loader *ld, const yaml_node_t *n);

/* A problem at a node of the config's document, in whichever file wrote it. */
#define problem(ld, node, ...)                                                                     \
	problem_in(ld, rank_of(ld, node), (node)->start_mark.line + 1,                             \
		   (node)->start_mark.column + 1, __VA_ARGS__)

static const char *rank_file(const void *ctx, unsigned rank)
{
	const struct loader *ld = ctx;

	return rank && rank <= ld->cfg->n_policies ? ld->cfg->policies[rank - 1] : ld->file;
}

/*
 * Hands the problems to diag in file order (the config, then its policy
 * files); those without a position come first in their file.
 */
static void flush_problems(struct loader *ld, struct sl_diag *diag)
{
	sl_problems_flush(&ld->problems, diag, rank_file, ld);
	if (ld->err == -ENOMEM)
		sl_diag_add(diag, ld->file, 0, 0, "out of memory while reading the configuration");
}

static void *own_alloc(struct loader *ld, size_t size)
{
	struct owned *o = calloc(1, sizeof(*o) + size);

	if (!o) {
		ld->err = -ENOMEM;
		return NULL;
	}
	o->next = ld->cfg->owned;
	ld->cfg->owned = o;
	return o->data;
}

static char *own_strdup(struct loader *ld, const char *s)
{
	size_t len = strlen(s);
	char *copy = own_alloc(ld, len + 1);

	if (copy)
		memcpy(copy, s, len + 1);
	return copy;
}

static struct sl_config_mark mark_of(const yaml_node_t *n)
{
	struct sl_config_mark m = {
		.line = (uint32_t)n->start_mark.line + 1,
		.col = (uint32_t)n->start_mark.column + 1,
	};

	return m;
}

static yaml_node_t *node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

static int node_index(struct loader *ld, const yaml_node_t *n)
{
	return (int)(n - ld->doc->nodes.start) + 1;
}

static unsigned origin_rank(const struct sl_config *cfg, const yaml_document_t *doc,
			    const yaml_node_t *n)
{
	int index;
	uint32_t i;

	if (!doc || n < doc->nodes.start || n >= doc->nodes.top)
		return 0;
	index = (int)(n - doc->nodes.start) + 1;
	for (i = 0; i < cfg->n_origins; i++)
		if (index >= cfg->origins[i].first && index <= cfg->origins[i].last)
			return cfg->origins[i].rank;
	return 0;
}

static unsigned rank_of(const struct loader *ld, const yaml_node_t *n)
{
	return origin_rank(ld->cfg, ld->doc, n);
}

const char *sl_config_node_file(const struct sl_config *cfg, const yaml_node_t *n, unsigned *rank)
{
	unsigned r = n ? origin_rank(cfg, cfg->doc, n) : 0;

	if (rank)
		*rank = r;
	return sl_config_rank_file(cfg, r);
}

const char *sl_config_rank_file(const struct sl_config *cfg, unsigned rank)
{
	return rank && rank <= cfg->n_policies ? cfg->policies[rank - 1] : cfg->path;
}

/* ---- Describing values in messages ---------------------------------------------------------- */

/* The text of a scalar node, or NULL after reporting why it is not one. */
static const char *scalar(struct loader *ld, const yaml_node_t *n, const char *path,
			  const char *expected)
{
	char d[SL_NODE_EXCERPT_BUF];

	/* Callers that give null a meaning (off, unset, empty) test is_null first. */
	if (n->type != YAML_SCALAR_NODE || sl_node_is_null(n)) {
		problem(ld, n, "%s: expected %s, got %s", path, expected,
			sl_node_describe(n, d, sizeof(d)));
		return NULL;
	}
	/* A "\0" escape would make C see a shorter string than YAML did. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		problem(ld, n, "%s: the value holds a NUL byte", path);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* ---- Listener addresses --------------------------------------------------------------------- */

/* A value refused with msg as its reason (listener addresses, browser origins). */
static int bad_value(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

int sl_config_parse_addr(const char *s, struct sl_config_addr *addr, const char **why)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_s, *h;
	unsigned long port = 0;
	size_t host_len, i;
	int family;

	memset(addr, 0, sizeof(*addr));
	addr->family = AF_INET;
	if (!s)
		return bad_value(why, "no address given");
	if (!*s || !strcmp(s, "off"))
		return 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return bad_value(why, "an IPv6 address needs its closing ']'");
		if (close[1] != ':')
			return bad_value(why, "expected :PORT after the ']'");
		h = s + 1;
		host_len = close - h;
		port_s = close + 2;
		family = AF_INET6;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon)
			return bad_value(why, "expected HOST:PORT, such as 0.0.0.0:8080");
		if (memchr(s, ':', colon - s))
			return bad_value(why,
					 "an IPv6 address goes in brackets, such as [::1]:8080");
		h = s;
		host_len = colon - s;
		port_s = colon + 1;
		family = AF_INET;
	}
	if (host_len == 0)
		return bad_value(why, "the host is missing: 0.0.0.0 listens on every IPv4 address, "
				      "[::] on every IPv6 address");
	if (!*port_s)
		return bad_value(why, "the port is missing");
	for (i = 0; port_s[i]; i++) {
		if (port_s[i] < '0' || port_s[i] > '9' || i >= 5)
			return bad_value(why, "the port must be a number from 0 to 65535");
		port = port * 10 + (port_s[i] - '0');
	}
	if (port > 65535)
		return bad_value(why, "the port must be a number from 0 to 65535");
	if (host_len >= sizeof(host))
		return bad_value(why, family == AF_INET6
					  ? "the host is not an IPv6 address"
					  : "the host must be a numeric IPv4 address "
					    "(names are not resolved)");
	memcpy(host, h, host_len);
	host[host_len] = '\0';

	addr->family = family;
	addr->port = (uint16_t)port;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr->sa;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return bad_value(why, "the host must be a numeric IPv4 address, or an IPv6 "
					      "address in brackets (names are not resolved)");
		sin->sin_family = AF_INET;
		sin->sin_port = htons(addr->port);
		addr->sa_len = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, addr->host, sizeof(addr->host));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->sa;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return bad_value(why, "the host is not an IPv6 address (names and zone ids "
					      "are not accepted)");
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(addr->port);
		addr->sa_len = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr->host, sizeof(addr->host));
	}
	addr->enabled = true;
	return 0;
}

char *sl_config_addr_format(const struct sl_config_addr *addr, char *buf, size_t size)
{
	if (!addr->enabled)
		snprintf(buf, size, "off");
	else if (addr->family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", addr->host, addr->port);
	else
		snprintf(buf, size, "%s:%u", addr->host, addr->port);
	return buf;
}

/* A default that cannot fail: the literals are checked by the defaults test. */
static void addr_default(struct sl_config_addr *addr, const char *s)
{
	sl_config_parse_addr(s, addr, NULL);
}

static bool addr_is_any(const struct sl_config_addr *a)
{
	if (a->family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
}

/* Whether two listeners would fight over one port (port 0 never does: the kernel picks). */
static bool addrs_clash(const struct sl_config_addr *a, const struct sl_config_addr *b)
{
	if (!a->enabled || !b->enabled || a->port == 0 || a->port != b->port)
		return false;
	if (a->family == b->family)
		return addr_is_any(a) || addr_is_any(b) || !strcmp(a->host, b->host);
	/* Linux dual stack: [::] takes the IPv4 port too unless net.ipv6.bindv6only is set. */
	return (a->family == AF_INET6 && addr_is_any(a)) ||
	       (b->family == AF_INET6 && addr_is_any(b));
}

/* ---- Browser origins ------------------------------------------------------------------------ */

/*
 * RFC 6454 §6.2 (and the WHATWG URL serializer browsers use for Origin):
 * only what a browser can send is accepted, so that a config entry that
 * could never match is an error here rather than a silent 403 later.
 */
int sl_config_parse_origin(const char *s, size_t len, char *out, const char **why)
{
	const char *end = s + len, *p, *auth_end, *host, *host_end, *port_s = NULL;
	char host_buf[SL_CONFIG_ORIGIN_BUF], port_buf[8] = "";
	unsigned long port = 0;
	bool https, ipv6 = false, label_empty = true;
	size_t i;
	int n;

	if (len == 0)
		return bad_value(why, "the origin is empty");
	if (len > SL_CONFIG_MAX_ORIGIN)
		return bad_value(why, "an origin is at most 255 bytes");
	if (memchr(s, '\0', len))
		return bad_value(why, "the origin holds a NUL byte");
	if (len == 1 && s[0] == '*')
		return bad_value(why, "a wildcard is not allowed: leave "
				      "listeners.subscribers.origins out to allow any origin, or "
				      "list each one");
	/* RFC 6454 §7.3: "null" is every sandboxed frame's and file: page's, so it names no one. */
	if (len == 4 && !strncasecmp(s, "null", 4))
		return bad_value(why, "\"null\" is the origin of sandboxed frames and local files, "
				      "shared by unrelated pages: it cannot be allowed");
	for (p = s; p + 3 <= end && memcmp(p, "://", 3); p++)
		;
	if (p + 3 > end)
		return bad_value(why, "expected SCHEME://HOST[:PORT], such as "
				      "https://app.example.com");
	if ((size_t)(p - s) == 5 && !strncasecmp(s, "https", 5))
		https = true;
	else if ((size_t)(p - s) == 4 && !strncasecmp(s, "http", 4))
		https = false;
	else
		return bad_value(why, "the scheme must be http or https");
	host = p + 3;
	for (auth_end = host; auth_end < end; auth_end++)
		if (*auth_end == '/' || *auth_end == '?' || *auth_end == '#')
			break;
	if (auth_end < end)
		return bad_value(why, auth_end + 1 == end && *auth_end == '/'
					  ? "an origin has no path, not even a trailing \"/\""
					  : "an origin has no path, query or fragment: write "
					    "SCHEME://HOST[:PORT] with nothing after it");
	if (memchr(host, '@', auth_end - host))
		return bad_value(why, "an origin has no user name or password");
	if (host < auth_end && *host == '[') {
		const char *close = memchr(host, ']', auth_end - host);
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr a6;

		if (!close)
			return bad_value(why, "an IPv6 address needs its closing \"]\"");
		if ((size_t)(close - host - 1) >= sizeof(addr))
			return bad_value(why, "the host is not an IPv6 address");
		memcpy(addr, host + 1, close - host - 1);
		addr[close - host - 1] = '\0';
		if (inet_pton(AF_INET6, addr, &a6) != 1)
			return bad_value(why, "the host is not an IPv6 address");
		inet_ntop(AF_INET6, &a6, host_buf, sizeof(host_buf));
		ipv6 = true;
		host_end = close + 1;
		if (host_end < auth_end && *host_end != ':')
			return bad_value(why, "expected :PORT after the \"]\"");
	} else {
		host_end = memchr(host, ':', auth_end - host);
		if (!host_end)
			host_end = auth_end;
		if (host_end == host)
			return bad_value(why, "the host is missing");
		for (i = 0; host + i < host_end; i++) {
			unsigned char ch = (unsigned char)host[i];

			if (ch >= 0x80)
				return bad_value(why, "write an internationalized host name in its "
						      "ASCII (xn--) form, as browsers send it");
			if (ch == '.') {
				if (label_empty)
					break;
				label_empty = true;
			} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
				label_empty = false;
			} else {
				return bad_value(why, "the host may hold only letters, digits, "
						      "\"-\", \"_\" and \".\"");
			}
			host_buf[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
		}
		if (host + i < host_end || label_empty)
			return bad_value(why, "the host has an empty label (a leading, doubled or "
					      "trailing \".\")");
		host_buf[i] = '\0';
	}
	if (host_end < auth_end) {
		port_s = host_end + 1;
		if (port_s == auth_end)
			return bad_value(why, "the port is missing after \":\"");
		for (p = port_s; p < auth_end; p++) {
			if (*p < '0' || *p > '9' || p - port_s >= 5)
				return bad_value(why, "the port must be a number from 1 to 65535");
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return bad_value(why, "the port must be a number from 1 to 65535");
		/* §6.2: the scheme's default port is not part of the serialization. */
		if (port != (https ? 443u : 80u))
			snprintf(port_buf, sizeof(port_buf), ":%lu", port);
	}
	n = snprintf(out, SL_CONFIG_ORIGIN_BUF, "%s://%s%s%s%s", https ? "https" : "http",
		     ipv6 ? "[" : "", host_buf, ipv6 ? "]" : "", port_buf);
	if (n < 0 || n >= SL_CONFIG_ORIGIN_BUF)
		return bad_value(why, "an origin is at most 255 bytes");
	return 0;
}

bool sl_config_origin_allowed(const struct sl_config_listener *l, const char *value, size_t len)
{
	char origin[SL_CONFIG_ORIGIN_BUF];
	uint32_t i;

	if (!l->origins_set)
		return true;
	if (sl_config_parse_origin(value, len, origin, NULL))
		return false;
	for (i = 0; i < l->n_origins; i++)
		if (!strcmp(l->origins[i], origin))
			return true;
	return false;
}

/* ---- The field tables ----------------------------------------------------------------------- */

enum kind {
	K_MAP,	     /* a nested mapping described by sub */
	K_ADDR,	     /* struct sl_config_addr */
	K_AUTH,	     /* enum sl_config_auth */
	K_ORIGINS,   /* struct sl_config_listener: origins, n_origins, origins_set */
	K_SOCKET,    /* const char *: absolute path that fits sun_path */
	K_DIR,	     /* const char *: absolute path */
	K_FILE,	     /* const char *: existing file, relative to the config's directory */
	K_CGROUP,    /* const char *: name under the cgroup2 mount or absolute path */
	K_COUNT,     /* uint32_t in [min, max] */
	K_THREADS,   /* uint32_t in [min, max], or auto (SL_CONFIG_THREADS_AUTO) */
	K_SIZE,	     /* uint64_t bytes in [min, max] */
	K_DURATION,  /* uint64_t nanoseconds in [min, max] */
	K_SWITCH,    /* bool: on | off */
	K_MODE,	     /* uint32_t permission bits, octal */
	K_GROUP,     /* const char *: an existing group, name or number (gid next to it) */
	K_LOG_LEVEL, /* enum sl_config_log_level */
	K_POLICIES,  /* policies: [FILE, ...] */
	K_PLANS,
	K_APPS,
	K_ISSUERS,
};

struct field {
	const char *key;
	enum kind kind;
	size_t off; /* offsetof(struct sl_config, ...) */
	uint64_t min, max;
	const struct field *sub;
};

#define FIELD(k, kd, member, ...)                                                                  \
	{                                                                                          \
		.key = k, .kind = kd, .off = offsetof(struct sl_config, member), __VA_ARGS__       \
	}
#define MAP(k, fields)                                                                             \
	{                                                                                          \
		.key = k, .kind = K_MAP, .sub = fields                                             \
	}
#define END                                                                                        \
	{                                                                                          \
		.key = NULL                                                                        \
	}

#define MS SL_NSEC_PER_MSEC
#define SEC SL_NSEC_PER_SEC
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

static const struct field subscribers_fields[] = {
	FIELD("plain", K_ADDR, listeners.subscribers.plain),
	FIELD("tls", K_ADDR, listeners.subscribers.tls),
	FIELD("auth", K_AUTH, listeners.subscribers.auth),
	FIELD("origins", K_ORIGINS, listeners.subscribers),
	END,
};

static const struct field publishers_fields[] = {
	FIELD("plain", K_ADDR, listeners.publishers.plain),
	FIELD("tls", K_ADDR, listeners.publishers.tls),
	END,
};

static const struct field admin_fields[] = {
	FIELD("plain", K_ADDR, listeners.admin.plain),
	END,
};

static const struct field control_fields[] = {
	FIELD("path", K_SOCKET, listeners.control.path),
	FIELD("mode", K_MODE, listeners.control.mode),
	FIELD("group", K_GROUP, listeners.control.group),
	END,
};

static const struct field listeners_fields[] = {
	MAP("subscribers", subscribers_fields),
	MAP("publishers", publishers_fields),
	MAP("admin", admin_fields),
	MAP("control", control_fields),
	END,
};

static const struct field tls_fields[] = {
	FIELD("cert_file", K_FILE, tls.cert_file),
	FIELD("key_file", K_FILE, tls.key_file),
	FIELD("client_ca_file", K_FILE, tls.client_ca_file),
	END,
};

/*
 * The bounds keep a typo from becoming an outage (a 0 that disables
 * everything, an extra digit that lets one client take all memory) and say
 * where the code's assumptions end; docs/CONFIG.md repeats them.
 */
static const struct field retention_fields[] = {
	FIELD("count", K_COUNT, retention.count, .min = 1, .max = 1000000),
	FIELD("age", K_DURATION, retention.age_ns, .min = 100 * MS, .max = 30 * DAY),
	FIELD("journal", K_SWITCH, retention.journal),
	END,
};

static const struct field sse_fields[] = {
	/* Below 100ms heartbeats cost more than the events; above 1h proxies cut idle streams. */
	FIELD("heartbeat", K_DURATION, sse.heartbeat_ns, .min = 100 * MS, .max = HOUR),
	END,
};

static const struct field ws_fields[] = {
	/*
	 * 0s: no pings. Counted in the gateway's 1 s tick, so whole seconds;
	 * above 1h a proxy's idle timeout has long cut the connection.
	 */
	FIELD("ping", K_DURATION, ws.ping_ns, .min = 0, .max = HOUR),
	END,
};

static const struct field limits_fields[] = {
	/* A frame must hold a small msgpack map; 256 MiB bounds one allocation. */
	FIELD("max_frame_bytes", K_SIZE, limits.max_frame_bytes, .min = 64, .max = 256 << 20),
	/* Smaller than a request line with a JWT would refuse every client. */
	FIELD("max_header_bytes", K_SIZE, limits.max_header_bytes, .min = 256, .max = 1 << 20),
	FIELD("handshake_timeout", K_DURATION, limits.handshake_timeout_ns, .min = 100 * MS,
	      .max = 5 * MINUTE),
	FIELD("max_connections", K_COUNT, limits.max_connections, .min = 1, .max = 1000000),
	FIELD("max_subscriptions_per_connection", K_COUNT, limits.max_subscriptions_per_connection,
	      .min = 1, .max = 100000),
	FIELD("max_topics", K_COUNT, limits.max_topics, .min = 1, .max = 10000000),
	FIELD("max_queued_bytes_per_connection", K_SIZE, limits.max_queued_bytes_per_connection,
	      .min = 1 << 10, .max = 1ULL << 30),
	FIELD("max_publishers", K_COUNT, limits.max_publishers, .min = 1, .max = 100000),
	/* 0 turns pacing off; 64 GiB is far beyond any host this runs on. */
	FIELD("max_queued_bytes_total", K_SIZE, limits.max_queued_bytes_total, .min = 0,
	      .max = 1ULL << 36),
	END,
};

static const struct field jwt_fields[] = {
	/* More than an hour of clock skew is a broken clock, not skew. */
	FIELD("leeway", K_DURATION, jwt.leeway_ns, .min = 0, .max = HOUR),
	END,
};

static const struct field log_fields[] = {
	FIELD("level", K_LOG_LEVEL, log.level),
	END,
};

static const struct field metrics_fields[] = {
	/* Every label value is a series in Prometheus: a bound keeps its memory bounded. */
	FIELD("top_n", K_COUNT, metrics.top_n, .min = 0, .max = 1000),
	/* 100,000 series are 0.7 to 2.1 GB: past that a history is a job for Prometheus. */
	FIELD("max_series", K_COUNT, metrics.max_series, .min = 0, .max = 100000),
	END,
};

static const struct field top_fields[] = {
	MAP("listeners", listeners_fields),
	MAP("tls", tls_fields),
	FIELD("bpf", K_SWITCH, bpf),
	FIELD("bpf_pin_dir", K_DIR, bpf_pin_dir),
	FIELD("graceful_enforcement", K_SWITCH, graceful),
	FIELD("cgroup", K_CGROUP, cgroup),
	MAP("retention", retention_fields),
	MAP("sse", sse_fields),
	MAP("ws", ws_fields),
	MAP("limits", limits_fields),
	MAP("jwt", jwt_fields),
	FIELD("state_dir", K_DIR, state_dir),
	/* More writers than that only contend for the same sockets' CPUs. */
	FIELD("write_threads", K_THREADS, write_threads, .min = 0, .max = 64),
	MAP("log", log_fields),
	MAP("metrics", metrics_fields),
	FIELD("policies", K_POLICIES, policies),
	FIELD("plans", K_PLANS, plans),
	FIELD("applications", K_APPS, applications),
	FIELD("issuers", K_ISSUERS, issuers),
	END,
};

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

const char *sl_config_log_level_name(enum sl_config_log_level level)
{
	if ((unsigned int)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return "info";
	return log_level_names[level];
}

void sl_config_defaults(struct sl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	addr_default(&cfg->listeners.subscribers.plain, "0.0.0.0:8080");
	addr_default(&cfg->listeners.subscribers.tls, "off");
	cfg->listeners.subscribers.auth = SL_CONFIG_AUTH_REQUIRED;
	addr_default(&cfg->listeners.publishers.plain, "127.0.0.1:7070");
	addr_default(&cfg->listeners.publishers.tls, "off");
	addr_default(&cfg->listeners.admin.plain, "127.0.0.1:9090");
	cfg->listeners.control.path = "/run/sluice/control.sock";
	cfg->listeners.control.mode = 0600;
	cfg->bpf = true;
	cfg->graceful = true;
	cfg->bpf_pin_dir = "/sys/fs/bpf/sluice";
	cfg->cgroup = "sluice";
	cfg->retention.count = 1000;
	cfg->retention.age_ns = HOUR;
	cfg->retention.journal = true;
	cfg->sse.heartbeat_ns = 15 * SEC;
	/* Centrifugo's default: under the 30-60 s idle timeouts of common proxies. */
	cfg->ws.ping_ns = 25 * SEC;
	cfg->limits.max_frame_bytes = 1048576;
	cfg->limits.max_header_bytes = 16384;
	cfg->limits.handshake_timeout_ns = 10 * SEC;
	cfg->limits.max_connections = 10000;
	cfg->limits.max_subscriptions_per_connection = 100;
	cfg->limits.max_topics = 10000;
	cfg->limits.max_queued_bytes_per_connection = 4 << 20;
	cfg->limits.max_queued_bytes_total = 64 << 20;
	cfg->limits.max_publishers = 100;
	cfg->jwt.leeway_ns = 30 * SEC;
	cfg->state_dir = "/var/lib/sluice";
	cfg->write_threads = SL_CONFIG_THREADS_AUTO;
	cfg->log.level = SL_CONFIG_LOG_INFO;
	cfg->metrics.top_n = 20;
	cfg->metrics.max_series = 1024;
}

/* ---- Setting one value ---------------------------------------------------------------------- */

static const char *key_list(const struct field *fields, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; fields->key && o < size; fields++)
		o += snprintf(buf + o, size - o, "%s%s", o ? ", " : "", fields->key);
	return buf;
}

static void unknown_key(struct loader *ld, const yaml_node_t *key, const struct field *fields,
			const char *prefix)
{
	const char *text = (const char *)key->data.scalar.value;
	const struct field *f, *near = NULL;
	size_t best = 3;
	char d[SL_NODE_EXCERPT_BUF], keys[512];

	for (f = fields; f->key; f++) {
		size_t dist = sl_node_distance(text, f->key);

		if (dist < best) {
			best = dist;
			near = f;
		}
	}
	if (near)
		problem(ld, key, "unknown key %s%s%s; did you mean \"%s\"?",
			sl_node_excerpt(text, d, sizeof(d)), prefix ? " in " : "",
			prefix ? prefix : "", near->key);
	else
		problem(ld, key, "unknown key %s%s%s; expected one of: %s",
			sl_node_excerpt(text, d, sizeof(d)), prefix ? " in " : "",
			prefix ? prefix : "", key_list(fields, keys, sizeof(keys)));
}

/*
 * Reports the keys of map that fields does not name, for the list entries
 * that have no struct field of their own (applications, keys, certificates):
 * a typo there ("plna") would otherwise leave an application unlimited.
 */
static void only_keys(struct loader *ld, const yaml_node_t *map, const struct field *fields,
		      const char *path)
{
	const yaml_node_pair_t *pair;
	const struct field *f;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = node_at(ld, pair->key);

		/* Non-string keys were reported by check_keys. */
		if (key->type != YAML_SCALAR_NODE)
			continue;
		for (f = fields; f->key; f++)
			if (!strcmp(f->key, (const char *)key->data.scalar.value))
				break;
		if (!f->key)
			unknown_key(ld, key, fields, path);
	}
}

static const struct field app_keys[] = {
	{ .key = "id" },
	{ .key = "plan" },
	{ .key = "subscribe" },
	{ .key = "publish" },
	{ .key = "api_keys" },
	{ .key = "certificates" },
	{ 0 },
};
static const struct field api_key_keys[] = { { .key = "sha256" }, { 0 } };
static const struct field certificate_keys[] = { { .key = "sha256" }, { .key = "cn" }, { 0 } };

static void out_of_range(struct loader *ld, const yaml_node_t *n, const char *path,
			 const struct field *f, const char *text)
{
	char lo[SL_UNITS_BUF_SIZE], hi[SL_UNITS_BUF_SIZE], d[SL_NODE_EXCERPT_BUF];

	if (f->kind == K_SIZE) {
		sl_format_size(f->min, lo, sizeof(lo));
		sl_format_size(f->max, hi, sizeof(hi));
	} else if (f->kind == K_DURATION) {
		sl_format_duration(f->min, lo, sizeof(lo));
		sl_format_duration(f->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%" PRIu64, f->min);
		snprintf(hi, sizeof(hi), "%" PRIu64, f->max);
	}
	problem(ld, n, "%s: %s is out of range: expected %s to %s", path,
		sl_node_excerpt(text, d, sizeof(d)), lo, hi);
}

static int set_number(struct loader *ld, const struct field *f, const yaml_node_t *n,
		      const char *path, void *dst)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s;
	uint64_t v;
	int err;

	if (f->kind == K_COUNT || f->kind == K_THREADS) {
		s = scalar(ld, n, path, "an integer");
		if (!s)
			return -EINVAL;
		/* "1000" in quotes is a string in YAML; a strict reader says so. */
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
			problem(ld, n, "%s: expected an integer, got the quoted string %s", path,
				sl_node_excerpt(s, d, sizeof(d)));
			return -EINVAL;
		}
		err = sl_parse_count(s, &v);
		if (err == -EINVAL) {
			problem(ld, n, "%s: expected %s, got %s", path,
				f->kind == K_THREADS ? "auto or a whole number such as 2"
						     : "a whole number such as 1000",
				sl_node_excerpt(s, d, sizeof(d)));
			return err;
		}
	} else if (f->kind == K_SIZE) {
		s = scalar(ld, n, path, "a size");
		if (!s)
			return -EINVAL;
		err = sl_parse_size(s, &v);
		if (err == -EINVAL) {
			problem(ld, n,
				"%s: %s is not a size: use bytes (65536) or a whole number with "
				"KiB, MiB or GiB (64KiB)",
				path, sl_node_excerpt(s, d, sizeof(d)));
			return err;
		}
	} else {
		s = scalar(ld, n, path, "a duration");
		if (!s)
			return -EINVAL;
		err = sl_parse_duration(s, &v);
		if (err == -EINVAL) {
			problem(ld, n,
				"%s: %s is not a duration: use a whole number with a unit: ms, s, "
				"m, h or d (500ms, 2s, 5m, 1h, 1d)",
				path, sl_node_excerpt(s, d, sizeof(d)));
			return err;
		}
	}
	if (err == -ERANGE || v < f->min || v > f->max) {
		out_of_range(ld, n, path, f, s);
		return -ERANGE;
	}
	if (f->kind == K_COUNT || f->kind == K_THREADS)
		*(uint32_t *)dst = (uint32_t)v;
	else
		*(uint64_t *)dst = v;
	return 0;
}

/* One of words[], compared exactly; reports the choices otherwise. */
static int choose(struct loader *ld, const yaml_node_t *n, const char *path,
		  const char *const *words, size_t n_words, const char *choices)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, choices);
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < n_words; i++)
		if (!strcmp(s, words[i]))
			return (int)i;
	problem(ld, n, "%s: expected %s, got %s", path, choices, sl_node_describe(n, d, sizeof(d)));
	return -EINVAL;
}

static int set_switch(struct loader *ld, const yaml_node_t *n, const char *path, bool *dst)
{
	/* YAML 1.1 booleans as well as on/off: "bpf: false" means what it says. */
	static const char *const yes[] = { "on", "true", "yes" }, *const no[] = { "off", "false",
										  "no" };
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, "on or off");
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i])) {
			*dst = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*dst = false;
			return 0;
		}
	}
	problem(ld, n, "%s: expected on or off, got %s", path, sl_node_describe(n, d, sizeof(d)));
	return -EINVAL;
}

static int set_mode(struct loader *ld, const yaml_node_t *n, const char *path, uint32_t *dst)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, "an octal mode such as \"0600\"");
	uint32_t mode = 0;
	size_t i;

	if (!s)
		return -EINVAL;
	/* Always octal, as chmod reads it: "600" and "0600" are the same mode. */
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '7' || i >= 4)
			break;
		mode = mode * 8 + (s[i] - '0');
	}
	if (i == 0 || s[i] || mode > 0777) {
		problem(ld, n, "%s: expected an octal mode from \"0000\" to \"0777\", got %s", path,
			sl_node_excerpt(s, d, sizeof(d)));
		return -EINVAL;
	}
	*dst = mode;
	return 0;
}

/*
 * A group to give the control socket to: a name from the group database or a
 * number. It must exist when the config is loaded, so that `--check` finds a
 * typo before the daemon starts; *gid gets its number.
 */
static int set_group(struct loader *ld, const yaml_node_t *n, const char *path, const char **dst,
		     uint32_t *gid)
{
	char d[SL_NODE_EXCERPT_BUF], *end;
	const char *s, *copy;
	struct group *gr;
	unsigned long id;

	if (sl_node_is_null(n)) {
		*dst = NULL;
		return 0;
	}
	s = scalar(ld, n, path, "a group name or number");
	if (!s)
		return -EINVAL;
	errno = 0;
	id = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && !*end) {
		if (errno || id >= (gid_t)-1) {
			problem(ld, n, "%s: %s is not a group id", path,
				sl_node_excerpt(s, d, sizeof(d)));
			return -EINVAL;
		}
	} else {
		gr = getgrnam(s);
		if (!gr) {
			problem(ld, n,
				"%s: there is no group %s on this host: create it (groupadd) or "
				"name an existing one",
				path, sl_node_excerpt(s, d, sizeof(d)));
			return -EINVAL;
		}
		id = gr->gr_gid;
	}
	copy = own_strdup(ld, s);
	if (!copy)
		return -ENOMEM;
	*dst = copy;
	*gid = (uint32_t)id;
	return 0;
}

/* An absolute path of at most max bytes, copied into the config. */
static int set_abs_path(struct loader *ld, const yaml_node_t *n, const char *path, size_t max,
			const char **dst)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, "an absolute path");
	const char *copy;

	if (!s)
		return -EINVAL;
	if (s[0] != '/') {
		problem(ld, n, "%s: expected an absolute path, got %s", path,
			sl_node_excerpt(s, d, sizeof(d)));
		return -EINVAL;
	}
	if (strlen(s) > max) {
		problem(ld, n, "%s: the path is longer than %zu bytes", path, max);
		return -EINVAL;
	}
	copy = own_strdup(ld, s);
	if (!copy)
		return -ENOMEM;
	*dst = copy;
	return 0;
}

static int set_cgroup(struct loader *ld, const yaml_node_t *n, const char *path, const char **dst)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, "a cgroup name or absolute path");
	const char *p, *copy;

	if (!s)
		return -EINVAL;
	if (!*s || strlen(s) >= PATH_MAX) {
		problem(ld, n, "%s: expected a cgroup name or absolute path, got %s", path,
			sl_node_excerpt(s, d, sizeof(d)));
		return -EINVAL;
	}
	/* A relative name stays under the cgroup2 mount: ".." would climb out of it. */
	for (p = s; (p = strstr(p, "..")) != NULL; p += 2) {
		if ((p == s || p[-1] == '/') && (p[2] == '/' || p[2] == '\0')) {
			problem(ld, n, "%s: %s must not contain \"..\"", path,
				sl_node_excerpt(s, d, sizeof(d)));
			return -EINVAL;
		}
	}
	copy = own_strdup(ld, s);
	if (!copy)
		return -ENOMEM;
	*dst = copy;
	return 0;
}

/*
 * A file named relative to the config's directory (so a config and its
 * policies and keys can move together), made absolute and checked to exist:
 * `--check` should find a missing file before the daemon does.
 */
static int resolve_file(struct loader *ld, const yaml_node_t *n, const char *path, const char **dst)
{
	char d[PATH_MAX + 16], *full = NULL;
	const char *s = scalar(ld, n, path, "a file name");
	struct stat st;
	int err = 0;

	if (!s)
		return -EINVAL;
	if (!*s) {
		problem(ld, n, "%s: the file name is empty", path);
		return -EINVAL;
	}
	if (s[0] == '/')
		full = strdup(s);
	else if (asprintf(&full, "%s/%s", ld->cfg->dir ? ld->cfg->dir : ".", s) < 0)
		full = NULL;
	if (!full) {
		ld->err = -ENOMEM;
		return -ENOMEM;
	}
	if (strlen(full) >= PATH_MAX) {
		problem(ld, n, "%s: the path is longer than %d bytes", path, PATH_MAX - 1);
		err = -EINVAL;
	} else if (stat(full, &st) != 0) {
		problem(ld, n, "%s: cannot use %s: %s", path, sl_node_excerpt(full, d, sizeof(d)),
			strerror(errno));
		err = -EINVAL;
	} else if (!S_ISREG(st.st_mode)) {
		problem(ld, n, "%s: %s is not a regular file", path,
			sl_node_excerpt(full, d, sizeof(d)));
		err = -EINVAL;
	} else {
		*dst = own_strdup(ld, full);
		if (!*dst)
			err = -ENOMEM;
	}
	free(full);
	return err;
}

static int set_addr(struct loader *ld, const yaml_node_t *n, const char *path,
		    struct sl_config_addr *dst)
{
	struct sl_config_addr addr;
	char d[SL_NODE_EXCERPT_BUF];
	const char *s, *why;

	if (sl_node_is_null(n)) {
		sl_config_parse_addr("off", &addr, NULL);
	} else {
		s = scalar(ld, n, path, "HOST:PORT or off");
		if (!s)
			return -EINVAL;
		if (sl_config_parse_addr(s, &addr, &why)) {
			problem(ld, n, "%s: %s is not a listener address: %s", path,
				sl_node_excerpt(s, d, sizeof(d)), why);
			return -EINVAL;
		}
	}
	addr.mark = mark_of(n);
	*dst = addr;
	return 0;
}

/*
 * The length of a list node of at most max entries, or -1 after reporting a
 * node that is not a list (expected: what its entries should be) or a longer
 * list (noun: what it counts).
 */
static long bounded_list(struct loader *ld, const yaml_node_t *n, const char *path,
			 const char *expected, size_t max, const char *noun)
{
	char d[SL_NODE_EXCERPT_BUF];
	size_t count;

	if (n->type != YAML_SEQUENCE_NODE) {
		problem(ld, n, "%s: expected a list of %s, got %s", path, expected,
			sl_node_describe(n, d, sizeof(d)));
		return -1;
	}
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > max) {
		problem(ld, n, "%s: %zu %s is more than the %zu allowed", path, count, noun, max);
		return -1;
	}
	return (long)count;
}

/*
 * listeners.subscribers.origins: a list, stored serialized so that the
 * gateway compares an Origin header with strcmp. Null is refused rather
 * than read as either meaning: "any origin" is leaving the key out, "no
 * browser page" is [].
 */
static int set_origins(struct loader *ld, const yaml_node_t *n, const char *path,
		       struct sl_config_listener *l)
{
	const yaml_node_t *where[SL_CONFIG_MAX_ORIGINS];
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF], origin[SL_CONFIG_ORIGIN_BUF];
	yaml_node_item_t *item;
	const char **list;
	long count;
	uint32_t i = 0, j;

	l->origins_set = true;
	if (sl_node_is_null(n)) {
		problem(ld, n,
			"%s: expected a list of origins, got nothing (null): leave the key out "
			"to allow any origin, or write [] to allow no browser page",
			path);
		return -EINVAL;
	}
	count = bounded_list(ld, n, path, "origins such as https://app.example.com",
			     SL_CONFIG_MAX_ORIGINS, "origins");
	if (count < 0)
		return -EINVAL;
	list = own_alloc(ld, (count ? count : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *on = node_at(ld, *item);
		const char *s, *why;

		sl_node_path(p, sizeof(p), "%s[%u]", path,
			     (unsigned int)(item - n->data.sequence.items.start));
		s = scalar(ld, on, p, "an origin such as https://app.example.com");
		if (!s)
			continue;
		if (sl_config_parse_origin(s, strlen(s), origin, &why)) {
			problem(ld, on, "%s: %s is not an origin: %s", p,
				sl_node_excerpt(s, d, sizeof(d)), why);
			continue;
		}
		/* At most 64 entries: a quadratic look is cheaper than sorting. */
		for (j = 0; j < i; j++)
			if (!strcmp(list[j], origin))
				break;
		if (j < i) {
			problem(ld, on, "%s: %s is the same origin as the one at %zu:%zu", p,
				sl_node_excerpt(s, d, sizeof(d)), where[j]->start_mark.line + 1,
				where[j]->start_mark.column + 1);
			continue;
		}
		list[i] = own_strdup(ld, origin);
		if (!list[i])
			return -ENOMEM;
		where[i++] = on;
	}
	l->origins = list;
	l->n_origins = i;
	return 0;
}

static int set_policies(struct loader *ld, const yaml_node_t *n, const char *path)
{
	struct sl_config *cfg = ld->cfg;
	const char **files;
	yaml_node_item_t *item;
	char p[SL_NODE_PATH_BUF];
	long count;
	uint32_t i = 0;

	if (sl_node_is_null(n)) {
		cfg->policies = NULL;
		cfg->n_policies = 0;
		return 0;
	}
	count = bounded_list(ld, n, path, "files", SL_CONFIG_MAX_POLICIES, "files");
	if (count < 0)
		return -EINVAL;
	files = own_alloc(ld, (count ? count : 1) * sizeof(*files));
	if (!files)
		return -ENOMEM;
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		sl_node_path(p, sizeof(p), "%s[%u]", path,
			     (unsigned int)(item - n->data.sequence.items.start));
		if (resolve_file(ld, node_at(ld, *item), p, &files[i]) == 0)
			i++;
	}
	cfg->policies = files;
	cfg->n_policies = i;
	return 0;
}

/* ---- Inline policy sections ----------------------------------------------------------------- */

/*
 * Names (application ids, plan and issuer names) end up in logs, metrics
 * labels and JWT `sub` claims: any bytes but blanks and control characters.
 */
static const char *get_name(struct loader *ld, const yaml_node_t *n, const char *path)
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *s = scalar(ld, n, path, "a name");
	size_t i;

	if (!s)
		return NULL;
	/*
	 * Names go as they are into JSON log lines and /metrics labels, where a
	 * quote or a backslash would end the string (or escape the next byte).
	 */
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\')
			break;
	if (i == 0 || s[i] || i > SL_CONFIG_MAX_NAME) {
		problem(ld, n,
			"%s: %s is not a valid name: 1 to %d bytes without blanks, control "
			"characters, quotes or backslashes",
			path, sl_node_excerpt(s, d, sizeof(d)), SL_CONFIG_MAX_NAME);
		return NULL;
	}
	return s;
}

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Reports every repeat of an earlier entry, pointing at the first (and at
 * its application, when it has an owner); sorting keeps it O(n log n).
 * Binary keys (hashes) are not quoted in the message.
 */
static void report_repeats(struct loader *ld, struct named *v, size_t n, const char *what,
			   bool show_key)
{
	size_t i, first = 0;
	char d[SL_NODE_EXCERPT_BUF], o[SL_NODE_EXCERPT_BUF], owner[SL_NODE_EXCERPT_BUF + 32];

	if (n > 1)
		qsort(v, n, sizeof(*v), named_cmp);
	for (i = 1; i < n; i++) {
		if (v[i].len != v[first].len || memcmp(v[i].key, v[first].key, v[i].len)) {
			first = i;
			continue;
		}
		/* The first one's file is named when it is not this one's (a policy file). */
		unsigned here = rank_of(ld, v[i].node), there = rank_of(ld, v[first].node);

		owner[0] = '\0';
		if (v[first].owner)
			snprintf(owner, sizeof(owner), "for application %s ",
				 sl_node_excerpt(v[first].owner, o, sizeof(o)));
		problem(ld, v[i].node, "%s%s%s is already defined %sat %s%s%zu:%zu", what,
			show_key ? " " : "",
			show_key ? sl_node_excerpt(v[i].key, d, sizeof(d)) : "", owner,
			here != there ? rank_file(ld, there) : "", here != there ? ":" : "",
			v[first].node->start_mark.line + 1, v[first].node->start_mark.column + 1);
	}
}

/*
 * Starts a section: records that it is there and where. Returns its number of
 * entries, or -1 when there is nothing to walk (null, or not a list).
 */
static long section_begin(struct loader *ld, const yaml_node_t *n, const char *path,
			  struct sl_config_section *sec, const char *item_desc)
{
	long count;

	memset(sec, 0, sizeof(*sec));
	sec->present = true;
	sec->mark = mark_of(n);
	sec->node = node_index(ld, n);
	if (sl_node_is_null(n))
		return -1;
	count = bounded_list(ld, n, path, item_desc, SL_CONFIG_MAX_APPS, "entries");
	if (count >= 0)
		sec->count = (uint32_t)count;
	return count;
}

/* plans and issuers: a list of mappings with a unique `name`; the rest is the policy module's. */
static void check_named_section(struct loader *ld, const yaml_node_t *n, const char *path,
				struct sl_config_section *sec, const char *what)
{
	long count = section_begin(ld, n, path, sec, "mappings with a name");
	struct named *names;
	size_t n_names = 0;
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	long i;

	if (count <= 0)
		return;
	names = calloc(count, sizeof(*names));
	if (!names) {
		ld->err = -ENOMEM;
		return;
	}
	for (i = 0; i < count; i++) {
		yaml_node_t *item = node_at(ld, n->data.sequence.items.start[i]), *name_node;
		const char *name;

		sl_node_path(p, sizeof(p), "%s[%ld]", path, i);
		if (item->type != YAML_MAPPING_NODE) {
			problem(ld, item, "%s: expected a mapping with a name, got %s", p,
				sl_node_describe(item, d, sizeof(d)));
			continue;
		}
		name_node = sl_node_get(ld->doc, item, "name");
		if (!name_node) {
			problem(ld, item, "%s: every %s needs a name", p, what);
			continue;
		}
		sl_node_path(p, sizeof(p), "%s[%ld].name", path, i);
		name = get_name(ld, name_node, p);
		if (name)
			names[n_names++] = (struct named){ name, strlen(name), name_node, i, NULL };
	}
	report_repeats(ld, names, n_names, what, true);
	free(names);
}

static int pattern_list(struct loader *ld, const yaml_node_t *n, const char *path,
			const char ***dst, uint32_t *n_dst)
{
	yaml_node_item_t *item;
	const char **list;
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	long count;
	uint32_t i = 0;

	if (sl_node_is_null(n))
		return 0;
	count = bounded_list(ld, n, path, "topic patterns", SL_CONFIG_MAX_PATTERNS, "patterns");
	if (count < 0)
		return -EINVAL;
	list = own_alloc(ld, (count ? count : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *pn = node_at(ld, *item);
		const char *s, *why;

		sl_node_path(p, sizeof(p), "%s[%u]", path,
			     (unsigned int)(item - n->data.sequence.items.start));
		s = scalar(ld, pn, p, "a topic pattern");
		if (!s)
			continue;
		if (sl_topic_validate(s, strlen(s), true, &why)) {
			problem(ld, pn, "%s: %s is not a topic pattern: %s", p,
				sl_node_excerpt(s, d, sizeof(d)), why);
			continue;
		}
		list[i] = own_strdup(ld, s);
		if (list[i])
			i++;
	}
	*dst = list;
	*n_dst = i;
	return 0;
}

static void free_named(struct named **v, size_t *n, size_t *cap)
{
	free(*v);
	*v = NULL;
	*n = *cap = 0;
}

static int push_named(struct loader *ld, struct named **v, size_t *n, size_t *cap, const void *key,
		      size_t len, const yaml_node_t *node, const char *owner)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct named *nv = realloc(*v, ncap * sizeof(**v));

		if (!nv) {
			ld->err = -ENOMEM;
			return -ENOMEM;
		}
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = (struct named){ key, len, node, *n, owner };
	(*n)++;
	return 0;
}

/*
 * The SHA-256 at hn, 64 hex digits, into out; `what` and `how` name the
 * digest and how to make it in the problem a bad one gets. Returns 0 or -1.
 */
static int sha256_hex(struct loader *ld, const yaml_node_t *hn, const char *p, const char *what,
		      const char *how, uint8_t out[32])
{
	char d[SL_NODE_EXCERPT_BUF];
	const char *hex = scalar(ld, hn, p, "64 hex digits");

	if (!hex)
		return -1;
	if (strlen(hex) != 64 || sl_hex_decode(hex, 32, out)) {
		problem(ld, hn, "%s: expected %s as 64 hex digits (%s), got %s", p, what, how,
			sl_node_excerpt(hex, d, sizeof(d)));
		return -1;
	}
	return 0;
}

static int api_keys(struct loader *ld, const yaml_node_t *n, const char *path,
		    struct sl_config_app *app)
{
	yaml_node_item_t *item;
	uint8_t(*keys)[32];
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	long count;
	uint32_t k = 0;

	if (sl_node_is_null(n))
		return 0;
	count = bounded_list(ld, n, path, "{sha256: HEX}", SL_CONFIG_MAX_API_KEYS, "keys");
	if (count < 0)
		return -EINVAL;
	keys = own_alloc(ld, (count ? count : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *kn = node_at(ld, *item), *hn;

		sl_node_path(p, sizeof(p), "%s[%u]", path,
			     (unsigned int)(item - n->data.sequence.items.start));
		if (kn->type != YAML_MAPPING_NODE) {
			problem(ld, kn, "%s: expected {sha256: HEX}, got %s", p,
				sl_node_describe(kn, d, sizeof(d)));
			continue;
		}
		only_keys(ld, kn, api_key_keys, p);
		hn = sl_node_get(ld->doc, kn, "sha256");
		if (!hn) {
			problem(ld, kn,
				"%s: an API key needs sha256 (keys are stored only as hashes)", p);
			continue;
		}
		strncat(p, ".sha256", sizeof(p) - strlen(p) - 1);
		if (sha256_hex(ld, hn, p, "the key's SHA-256", "printf %s KEY | sha256sum",
			       keys[k]))
			continue;
		if (push_named(ld, &ld->keys, &ld->n_keys, &ld->cap_keys, keys[k], 32, hn, NULL))
			return -ENOMEM;
		k++;
	}
	app->api_keys = (const uint8_t(*)[32])keys;
	app->n_api_keys = k;
	return 0;
}

/*
 * mTLS identities: `certificates: [{sha256: HEX}, {cn: NAME}]`. A fingerprint
 * pins one certificate; a CN accepts any certificate with that subject that
 * the client CA signed. Each is recorded with its application so that
 * check_apps() can refuse one identity in two of them.
 */
static int certificates(struct loader *ld, const yaml_node_t *n, const char *path,
			struct sl_config_app *app)
{
	yaml_node_item_t *item;
	uint8_t(*fps)[32];
	const char **cns;
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	long count;
	uint32_t nf = 0, nc = 0;

	if (sl_node_is_null(n))
		return 0;
	count = bounded_list(ld, n, path, "{sha256: HEX} or {cn: NAME}", SL_CONFIG_MAX_API_KEYS,
			     "certificates");
	if (count < 0)
		return -EINVAL;
	fps = own_alloc(ld, (count ? count : 1) * sizeof(*fps));
	cns = own_alloc(ld, (count ? count : 1) * sizeof(*cns));
	if (!fps || !cns)
		return -ENOMEM;
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *kn = node_at(ld, *item), *hn, *cn;
		const char *name;

		sl_node_path(p, sizeof(p), "%s[%u]", path,
			     (unsigned int)(item - n->data.sequence.items.start));
		if (kn->type != YAML_MAPPING_NODE) {
			problem(ld, kn, "%s: expected {sha256: HEX} or {cn: NAME}, got %s", p,
				sl_node_describe(kn, d, sizeof(d)));
			continue;
		}
		only_keys(ld, kn, certificate_keys, p);
		hn = sl_node_get(ld->doc, kn, "sha256");
		cn = sl_node_get(ld->doc, kn, "cn");
		if (!hn == !cn) {
			problem(ld, kn, "%s: give exactly one of sha256 or cn", p);
			continue;
		}
		if (cn) {
			strncat(p, ".cn", sizeof(p) - strlen(p) - 1);
			name = scalar(ld, cn, p, "a subject common name");
			if (name && !name[0]) {
				problem(ld, cn, "%s: empty common name", p);
				continue;
			}
			/* The gateway reads at most this much of a certificate's CN. */
			if (name && strlen(name) > SL_CONFIG_MAX_CN) {
				problem(ld, cn, "%s: a common name of %zu bytes; at most %d", p,
					strlen(name), SL_CONFIG_MAX_CN);
				continue;
			}
			name = name ? own_strdup(ld, name) : NULL;
			if (!name)
				continue;
			if (push_named(ld, &ld->cert_cns, &ld->n_cert_cns, &ld->cap_cert_cns, name,
				       strlen(name), cn, app->id))
				return -ENOMEM;
			cns[nc++] = name;
			continue;
		}
		strncat(p, ".sha256", sizeof(p) - strlen(p) - 1);
		if (sha256_hex(ld, hn, p, "the certificate's SHA-256 fingerprint",
			       "openssl x509 -outform DER | sha256sum", fps[nf]))
			continue;
		if (push_named(ld, &ld->cert_fps, &ld->n_cert_fps, &ld->cap_cert_fps, fps[nf], 32,
			       hn, app->id))
			return -ENOMEM;
		nf++;
	}
	app->cert_sha256 = (const uint8_t(*)[32])fps;
	app->n_cert_sha256 = nf;
	app->cert_cn = cns;
	app->n_cert_cn = nc;
	return 0;
}

/* An application's keys; the policy module checks that its plan exists. */
static void check_app(struct loader *ld, const yaml_node_t *item, const char *path,
		      struct sl_config_app *app)
{
	yaml_node_t *v;
	char p[SL_NODE_PATH_BUF];

	app->mark = mark_of(item);
	only_keys(ld, item, app_keys, path);
	v = sl_node_get(ld->doc, item, "id");
	if (!v) {
		problem(ld, item, "%s: an application needs an id", path);
	} else {
		sl_node_path(p, sizeof(p), "%s.id", path);
		app->id = get_name(ld, v, p);
		if (app->id)
			app->id = own_strdup(ld, app->id);
	}
	v = sl_node_get(ld->doc, item, "plan");
	if (v) {
		sl_node_path(p, sizeof(p), "%s.plan", path);
		app->plan = get_name(ld, v, p);
		if (app->plan)
			app->plan = own_strdup(ld, app->plan);
	}
	v = sl_node_get(ld->doc, item, "subscribe");
	if (v) {
		sl_node_path(p, sizeof(p), "%s.subscribe", path);
		pattern_list(ld, v, p, &app->subscribe, &app->n_subscribe);
	}
	v = sl_node_get(ld->doc, item, "publish");
	if (v) {
		sl_node_path(p, sizeof(p), "%s.publish", path);
		pattern_list(ld, v, p, &app->publish, &app->n_publish);
	}
	v = sl_node_get(ld->doc, item, "api_keys");
	if (v) {
		sl_node_path(p, sizeof(p), "%s.api_keys", path);
		api_keys(ld, v, p, app);
	}
	v = sl_node_get(ld->doc, item, "certificates");
	if (v) {
		sl_node_path(p, sizeof(p), "%s.certificates", path);
		certificates(ld, v, p, app);
	}
}

static void check_apps(struct loader *ld, const yaml_node_t *n, const char *path)
{
	struct sl_config *cfg = ld->cfg;
	long count = section_begin(ld, n, path, &cfg->applications, "mappings with an id");
	struct named *ids = NULL;
	size_t n_ids = 0;
	char d[SL_NODE_EXCERPT_BUF], p[SL_NODE_PATH_BUF];
	long i;

	/* A repeated `applications:` key (reported elsewhere) replaces, never appends. */
	cfg->apps = NULL;
	cfg->n_apps = 0;
	if (count <= 0)
		return;
	cfg->apps = own_alloc(ld, count * sizeof(*cfg->apps));
	ids = calloc(count, sizeof(*ids));
	if (!cfg->apps || !ids) {
		ld->err = -ENOMEM;
		free(ids);
		return;
	}
	for (i = 0; i < count; i++) {
		yaml_node_t *item = node_at(ld, n->data.sequence.items.start[i]);
		struct sl_config_app *app = &cfg->apps[cfg->n_apps];

		sl_node_path(p, sizeof(p), "%s[%ld]", path, i);
		if (item->type != YAML_MAPPING_NODE) {
			problem(ld, item, "%s: expected a mapping with an id, got %s", p,
				sl_node_describe(item, d, sizeof(d)));
			continue;
		}
		check_app(ld, item, p, app);
		if (app->id) {
			ids[n_ids] =
			    (struct named){ app->id, strlen(app->id),
					    sl_node_get(ld->doc, item, "id"), n_ids, NULL };
			n_ids++;
		}
		cfg->n_apps++;
	}
	/*
	 * One id, one application; one key, fingerprint or CN, one application:
	 * otherwise who is calling is ambiguous (and auth's sorted indexes
	 * could find either).
	 */
	report_repeats(ld, ids, n_ids, "application", true);
	report_repeats(ld, ld->keys, ld->n_keys, "this API key", false);
	report_repeats(ld, ld->cert_fps, ld->n_cert_fps, "this certificate fingerprint", false);
	report_repeats(ld, ld->cert_cns, ld->n_cert_cns, "certificate CN", true);
	free(ids);
	free_named(&ld->keys, &ld->n_keys, &ld->cap_keys);
	free_named(&ld->cert_fps, &ld->n_cert_fps, &ld->cap_cert_fps);
	free_named(&ld->cert_cns, &ld->n_cert_cns, &ld->cap_cert_cns);
}

/* ---- Walking the document ------------------------------------------------------------------- */

static void walk_map(struct loader *ld, const yaml_node_t *map, const struct field *fields,
		     const char *prefix);

static void set_field(struct loader *ld, const struct field *f, const yaml_node_t *n,
		      const char *path)
{
	struct sl_config *cfg = ld->cfg;
	void *dst = (char *)cfg + f->off;
	int v;

	switch (f->kind) {
	case K_MAP:
		walk_map(ld, n, f->sub, path);
		break;
	case K_ADDR:
		set_addr(ld, n, path, dst);
		break;
	case K_AUTH: {
		static const char *const words[] = { "required", "open" };

		v = choose(ld, n, path, words, 2, "open or required");
		if (v >= 0)
			*(enum sl_config_auth *)dst =
			    v ? SL_CONFIG_AUTH_OPEN : SL_CONFIG_AUTH_REQUIRED;
		break;
	}
	case K_ORIGINS:
		set_origins(ld, n, path, dst);
		break;
	case K_SOCKET:
		set_abs_path(ld, n, path, SL_CONFIG_SOCKET_PATH_MAX, dst);
		break;
	case K_DIR:
		set_abs_path(ld, n, path, PATH_MAX - 1, dst);
		break;
	case K_FILE:
		if (sl_node_is_null(n))
			*(const char **)dst = NULL;
		else
			resolve_file(ld, n, path, dst);
		break;
	case K_CGROUP:
		set_cgroup(ld, n, path, dst);
		break;
	case K_COUNT:
	case K_SIZE:
	case K_DURATION:
		set_number(ld, f, n, path, dst);
		break;
	case K_THREADS:
		if (n->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)n->data.scalar.value, "auto") == 0)
			*(uint32_t *)dst = SL_CONFIG_THREADS_AUTO;
		else
			set_number(ld, f, n, path, dst);
		break;
	case K_SWITCH:
		set_switch(ld, n, path, dst);
		break;
	case K_MODE:
		set_mode(ld, n, path, dst);
		break;
	case K_GROUP:
		/* The only group in the config: its gid has a fixed home. */
		set_group(ld, n, path, dst, &cfg->listeners.control.gid);
		break;
	case K_LOG_LEVEL:
		v = choose(ld, n, path, log_level_names, 4, "debug, info, warn or error");
		if (v >= 0)
			*(enum sl_config_log_level *)dst = (enum sl_config_log_level)v;
		break;
	case K_POLICIES:
		/* Read before the walk (sl_config_load), so that their entries are walked too. */
		break;
	case K_PLANS:
		check_named_section(ld, n, path, dst, "plan");
		break;
	case K_APPS:
		check_apps(ld, n, path);
		break;
	case K_ISSUERS:
		check_named_section(ld, n, path, dst, "issuer");
		break;
	}
}

static void walk_map(struct loader *ld, const yaml_node_t *map, const struct field *fields,
		     const char *prefix)
{
	yaml_node_pair_t *pair;
	char d[SL_NODE_EXCERPT_BUF], keys[512], path[SL_NODE_PATH_BUF];

	/* "tls:" with everything under it commented out is an empty section, not an error. */
	if (sl_node_is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		problem(ld, map, "%s: expected a mapping with keys %s; got %s",
			prefix ? prefix : "the file", key_list(fields, keys, sizeof(keys)),
			sl_node_describe(map, d, sizeof(d)));
		return;
	}
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node_at(ld, pair->key), *value = node_at(ld, pair->value);
		const struct field *f;

		/* Non-string keys were reported by check_keys. */
		if (key->type != YAML_SCALAR_NODE)
			continue;
		for (f = fields; f->key; f++)
			if (!strcmp(f->key, (const char *)key->data.scalar.value))
				break;
		if (!f->key) {
			unknown_key(ld, key, fields, prefix);
			continue;
		}
		sl_node_path(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			     f->key);
		set_field(ld, f, value, path);
	}
}

/*
 * Duplicate and non-string keys, in every mapping of the document (the
 * policy sections included): libyaml keeps both values of a repeated key,
 * and silently using one of them would hide a mistake. Nodes are visited
 * once each, in the document's own array, however aliases share them.
 */
static void check_keys(struct loader *ld)
{
	struct named *v = NULL;
	size_t n_v, cap = 0;
	yaml_node_t *n;

	for (n = ld->doc->nodes.start; n < ld->doc->nodes.top; n++) {
		yaml_node_pair_t *pair;

		if (n->type != YAML_MAPPING_NODE)
			continue;
		n_v = 0;
		for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
			yaml_node_t *key = node_at(ld, pair->key);
			char d[SL_NODE_EXCERPT_BUF];

			if (key->type != YAML_SCALAR_NODE) {
				problem(ld, key, "keys must be strings, got %s",
					sl_node_describe(key, d, sizeof(d)));
				continue;
			}
			if (push_named(ld, &v, &n_v, &cap, key->data.scalar.value,
				       key->data.scalar.length, key, NULL))
				goto out;
		}
		report_repeats(ld, v, n_v, "key", true);
	}
out:
	free(v);
}

/* The node at a dotted path from the root ("tls.cert_file"), or NULL. */
static yaml_node_t *find_path(struct loader *ld, const char *dotted)
{
	yaml_node_t *n = yaml_document_get_root_node(ld->doc);
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (tok = strtok_r(buf, ".", &save); tok && n; tok = strtok_r(NULL, ".", &save))
		n = sl_node_get(ld->doc, n, tok);
	return n;
}

/* Whether the file gave a (non-null) value at this path, valid or not. */
static bool written(struct loader *ld, const char *dotted)
{
	const yaml_node_t *n = find_path(ld, dotted);

	return n && !sl_node_is_null(n);
}

static void problem_path(struct loader *ld, const char *dotted, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A problem about a key given in the file, at that key's value. */
static void problem_path(struct loader *ld, const char *dotted, const char *fmt, ...)
{
	yaml_node_t *n = find_path(ld, dotted);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		problem(ld, n, "%s", msg);
	else
		problem_at(ld, 0, 0, "%s", msg);
}

/* Rules across keys, checked once every key has its value. */
static void check_together(struct loader *ld)
{
	struct sl_config *cfg = ld->cfg;
	struct sl_config_listeners *l = &cfg->listeners;
	struct {
		const char *name;
		struct sl_config_addr *addr;
	} addrs[] = {
		{ "listeners.subscribers.plain", &l->subscribers.plain },
		{ "listeners.subscribers.tls", &l->subscribers.tls },
		{ "listeners.publishers.plain", &l->publishers.plain },
		{ "listeners.publishers.tls", &l->publishers.tls },
		{ "listeners.admin.plain", &l->admin.plain },
	};
	const size_t n_addrs = sizeof(addrs) / sizeof(addrs[0]);
	char a[SL_CONFIG_ADDR_BUF], o[SL_CONFIG_ADDR_BUF], b[SL_UNITS_BUF_SIZE],
	    c[SL_UNITS_BUF_SIZE];
	bool cert, key, ca;
	size_t i, j;

	/* A file that was written but refused counts as given: one mistake, one message. */
	cert = cfg->tls.cert_file || written(ld, "tls.cert_file");
	key = cfg->tls.key_file || written(ld, "tls.key_file");
	ca = cfg->tls.client_ca_file || written(ld, "tls.client_ca_file");
	if (cert && !key)
		problem_path(ld, "tls.cert_file", "tls.cert_file is set but tls.key_file is not");
	if (key && !cert)
		problem_path(ld, "tls.key_file", "tls.key_file is set but tls.cert_file is not");
	if (ca && !cert)
		problem_path(ld, "tls.client_ca_file",
			     "tls.client_ca_file is set but tls.cert_file is not: client "
			     "certificates are only asked for on TLS listeners");

	/* SPEC "Listeners": subscribers get 0.0.0.0:8443 once a certificate is configured. */
	if (!l->subscribers.tls.mark.line && cfg->tls.cert_file && cfg->tls.key_file)
		addr_default(&l->subscribers.tls, "0.0.0.0:8443");

	for (i = 0; i < n_addrs; i++) {
		if (!addrs[i].addr->enabled || strstr(addrs[i].name, ".tls") == NULL)
			continue;
		/* With one of the two given, the pair check above has said what is missing. */
		if (!cert && !key)
			problem_path(ld, addrs[i].name,
				     "%s: a TLS listener needs tls.cert_file and tls.key_file",
				     addrs[i].name);
	}
	if (!l->subscribers.plain.enabled && !l->subscribers.tls.enabled)
		problem_path(ld, "listeners.subscribers",
			     "listeners.subscribers: plain and tls are both off: no client could "
			     "subscribe");

	for (i = 0; i < n_addrs; i++) {
		for (j = i + 1; j < n_addrs; j++) {
			/* Point at the one the file wrote, the later of the two if both. */
			size_t at = addrs[j].addr->mark.line ? j : i, other = at == j ? i : j;

			if (!addrs_clash(addrs[i].addr, addrs[j].addr))
				continue;
			problem_path(
			    ld, addrs[at].name,
			    "%s: %s clashes with %s (%s): each listener needs its own port",
			    addrs[at].name, sl_config_addr_format(addrs[at].addr, a, sizeof(a)),
			    addrs[other].name,
			    sl_config_addr_format(addrs[other].addr, o, sizeof(o)));
		}
	}

	/* A queue smaller than one frame would evict every subscriber of a large event. */
	if (cfg->limits.max_queued_bytes_per_connection < cfg->limits.max_frame_bytes)
		problem_path(
		    ld, "limits.max_queued_bytes_per_connection",
		    "limits.max_queued_bytes_per_connection (%s) is smaller than "
		    "limits.max_frame_bytes (%s): one large event would evict any "
		    "subscriber",
		    sl_format_size(cfg->limits.max_queued_bytes_per_connection, b, sizeof(b)),
		    sl_format_size(cfg->limits.max_frame_bytes, c, sizeof(c)));
	/* Below one frame, every large event would pause the publishers by itself. */
	if (cfg->limits.max_queued_bytes_total &&
	    cfg->limits.max_queued_bytes_total < cfg->limits.max_frame_bytes)
		problem_path(ld, "limits.max_queued_bytes_total",
			     "limits.max_queued_bytes_total (%s) is smaller than "
			     "limits.max_frame_bytes (%s): one large event would pause every "
			     "publisher; use 0 to turn pacing off",
			     sl_format_size(cfg->limits.max_queued_bytes_total, b, sizeof(b)),
			     sl_format_size(cfg->limits.max_frame_bytes, c, sizeof(c)));
}

/* ---- Reading and parsing -------------------------------------------------------------------- */

static int read_file(const char *path, char **out, size_t *out_len)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!buf || len == cap) {
			if (buf)
				cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += n;
		if (len > SL_CONFIG_MAX_FILE_BYTES) {
			err = -EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/* libyaml's reader errors carry a byte offset, not a mark: count lines and characters up to it. */
static void offset_to_mark(const char *buf, size_t len, size_t offset, unsigned long *line,
			   unsigned long *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int parse_error(struct loader *ld, const yaml_parser_t *p, const char *buf, size_t len)
{
	unsigned long line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		ld->err = -ENOMEM;
		return -ENOMEM;
	case YAML_READER_ERROR:
		offset_to_mark(buf, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			problem_at(ld, line, col, "%s (byte 0x%02x)", p->problem,
				   (unsigned int)p->problem_value & 0xff);
		else
			problem_at(ld, line, col, "%s", p->problem);
		return -EINVAL;
	default:
		if (p->context)
			problem_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1,
				   "%s (%s at %zu:%zu)", p->problem, p->context,
				   p->context_mark.line + 1, p->context_mark.column + 1);
		else
			problem_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1, "%s",
				   p->problem ? p->problem : "the file is not valid YAML");
		return -EINVAL;
	}
}

/*
 * The event pass: libyaml 0.2.5 has no nesting limit and its loader holds
 * a stack entry and a node per level, so "[[[[..." of a large file would
 * take gigabytes before we saw a node. Events let us stop at the limit.
 */
static int prescan(struct loader *ld, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, docs = 0, err = 0;

	if (!yaml_parser_initialize(&parser)) {
		ld->err = -ENOMEM;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_type_t type;

		if (!yaml_parser_parse(&parser, &ev)) {
			err = parse_error(ld, &parser, buf, len);
			break;
		}
		type = ev.type;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				problem_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
					   "a second YAML document: a config file holds one");
				err = -EINVAL;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > SL_CONFIG_MAX_DEPTH) {
				problem_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
					   "nested deeper than %d levels", SL_CONFIG_MAX_DEPTH);
				err = -EINVAL;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (err || type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);
	return err;
}

/* The document of a file prescan() passed; problems go to ld->cur_rank's file. */
static int parse_document(struct loader *ld, const char *buf, size_t len, yaml_document_t **out)
{
	yaml_parser_t parser;
	yaml_document_t *doc;
	int err = 0;

	*out = NULL;
	doc = calloc(1, sizeof(*doc));
	if (!doc || !yaml_parser_initialize(&parser)) {
		free(doc);
		ld->err = -ENOMEM;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, doc)) {
		/* The loader has already freed what it built. */
		err = parse_error(ld, &parser, buf, len);
		free(doc);
		doc = NULL;
	}
	yaml_parser_delete(&parser);
	*out = doc;
	return err;
}

/* Reads an input file (the config, or a policy file: ld->cur_rank's); a problem says why not. */
static int read_input(struct loader *ld, const char *path, char **buf, size_t *len)
{
	int err = read_file(path, buf, len);

	if (err == -EFBIG)
		problem_at(ld, 0, 0, "the file is larger than %u MiB",
			   SL_CONFIG_MAX_FILE_BYTES >> 20);
	else if (err)
		problem_at(ld, 0, 0, "cannot read the file: %s", strerror(-err));
	return err;
}

/* An input file's text, checked event by event (prescan), then its document. */
static int parse_input(struct loader *ld, const char *buf, size_t len, yaml_document_t **out)
{
	int err = prescan(ld, buf, len);

	*out = NULL;
	return err ? err : parse_document(ld, buf, len, out);
}

/* ---- Policy files (`policies:`) ------------------------------------------------------------- */

/*
 * A policy file holds plans, applications and issuers, like the config's
 * own sections. Its entries are copied into the config's document, after
 * the config's own, so that every reader (this loader, the policy module,
 * auth) sees one list per section and checks it once, across files: a name
 * or API key defined twice is an error wherever the two are.
 */
static const char *const policy_sections[] = { "plans", "applications", "issuers" };

static void set_marks(struct loader *ld, int index, const yaml_node_t *from)
{
	yaml_node_t *n = node_at(ld, index);

	n->start_mark = from->start_mark;
	n->end_mark = from->end_mark;
}

/*
 * Node index of src, and all under it, appended to the config's document.
 * memo (one entry per node of src) keeps what aliases share shared, and
 * ends a recursive alias. Returns the new node's index, 0 when out of memory.
 */
static int copy_node(struct loader *ld, yaml_document_t *src, int index, int *memo)
{
	const yaml_node_t *n = yaml_document_get_node(src, index);
	yaml_node_item_t *item;
	yaml_node_pair_t *pair;
	int out = 0, k, v;

	if (!n)
		return 0;
	if (memo[index - 1])
		return memo[index - 1];
	switch (n->type) {
	case YAML_SCALAR_NODE:
		out = yaml_document_add_scalar(ld->doc, n->tag, n->data.scalar.value,
					       (int)n->data.scalar.length, n->data.scalar.style);
		break;
	case YAML_SEQUENCE_NODE:
		out = yaml_document_add_sequence(ld->doc, n->tag, n->data.sequence.style);
		break;
	case YAML_MAPPING_NODE:
		out = yaml_document_add_mapping(ld->doc, n->tag, n->data.mapping.style);
		break;
	default:
		break;
	}
	if (!out)
		goto oom;
	memo[index - 1] = out;
	set_marks(ld, out, n);
	if (n->type == YAML_SEQUENCE_NODE) {
		for (item = n->data.sequence.items.start; item < n->data.sequence.items.top;
		     item++) {
			v = copy_node(ld, src, *item, memo);
			if (!v || !yaml_document_append_sequence_item(ld->doc, out, v))
				goto oom;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
			k = copy_node(ld, src, pair->key, memo);
			v = k ? copy_node(ld, src, pair->value, memo) : 0;
			if (!v || !yaml_document_append_mapping_pair(ld->doc, out, k, v))
				goto oom;
		}
	}
	return out;
oom:
	ld->err = -ENOMEM;
	return 0;
}

/*
 * The config's list for section key, made when the config has none (or an
 * empty one); 0 when the config's own value is not a list (walking it
 * reports that) or out of memory.
 */
static int section_list(struct loader *ld, const char *key, const yaml_node_t *src_key,
			const yaml_node_t *src_list)
{
	yaml_node_t *root = yaml_document_get_root_node(ld->doc), *k, *v;
	long at = -1, i, n_pairs = root->data.mapping.pairs.top - root->data.mapping.pairs.start;
	int list, key_index;

	for (i = 0; i < n_pairs && at < 0; i++) {
		k = node_at(ld, root->data.mapping.pairs.start[i].key);
		if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			at = i;
	}
	if (at >= 0) {
		v = node_at(ld, root->data.mapping.pairs.start[at].value);
		if (v->type == YAML_SEQUENCE_NODE)
			return node_index(ld, v);
		if (!sl_node_is_null(v))
			return 0;
	}
	list = yaml_document_add_sequence(ld->doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
	if (!list) {
		ld->err = -ENOMEM;
		return 0;
	}
	set_marks(ld, list, src_list);
	/* Adding nodes may have moved the document's node array: find the root again. */
	root = yaml_document_get_root_node(ld->doc);
	if (at >= 0) {
		root->data.mapping.pairs.start[at].value = list;
		return list;
	}
	key_index = yaml_document_add_scalar(ld->doc, NULL, (const yaml_char_t *)key, -1,
					     YAML_PLAIN_SCALAR_STYLE);
	if (!key_index || !yaml_document_append_mapping_pair(ld->doc, 1, key_index, list)) {
		ld->err = -ENOMEM;
		return 0;
	}
	set_marks(ld, key_index, src_key);
	return list;
}

/* One policy file's sections, appended to the config's. Problems are in that file. */
static void merge_policy_doc(struct loader *ld, yaml_document_t *src)
{
	yaml_node_t *root = yaml_document_get_root_node(src), *key, *value;
	yaml_node_pair_t *pair;
	yaml_node_item_t *item;
	const yaml_node_t *seen[3] = { NULL, NULL, NULL };
	char d[SL_NODE_EXCERPT_BUF];
	int *memo, list, copy;
	size_t i;

	if (!root || sl_node_is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		problem_at(ld, root->start_mark.line + 1, root->start_mark.column + 1,
			   "expected a mapping with keys plans, applications, issuers; got %s",
			   sl_node_describe(root, d, sizeof(d)));
		return;
	}
	memo = calloc((size_t)(src->nodes.top - src->nodes.start), sizeof(*memo));
	if (!memo) {
		ld->err = -ENOMEM;
		return;
	}
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		key = yaml_document_get_node(src, pair->key);
		value = yaml_document_get_node(src, pair->value);
		for (i = 0; i < 3; i++)
			if (key->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)key->data.scalar.value, policy_sections[i]))
				break;
		if (i == 3) {
			problem_at(ld, key->start_mark.line + 1, key->start_mark.column + 1,
				   "unknown key %s; a policy file holds plans, applications and "
				   "issuers (the rest belongs in %s)",
				   key->type == YAML_SCALAR_NODE
				       ? sl_node_excerpt((const char *)key->data.scalar.value, d,
							 sizeof(d))
				       : "(not a string)",
				   ld->file);
			continue;
		}
		if (seen[i]) {
			problem_at(ld, key->start_mark.line + 1, key->start_mark.column + 1,
				   "key \"%s\" is already defined at %zu:%zu", policy_sections[i],
				   seen[i]->start_mark.line + 1, seen[i]->start_mark.column + 1);
			continue;
		}
		seen[i] = key;
		if (sl_node_is_null(value))
			continue;
		if (value->type == YAML_SEQUENCE_NODE &&
		    value->data.sequence.items.start == value->data.sequence.items.top)
			continue; /* an empty list adds nothing, not even an empty section */
		if (value->type != YAML_SEQUENCE_NODE) {
			problem_at(ld, value->start_mark.line + 1, value->start_mark.column + 1,
				   "%s: expected a list, got %s", policy_sections[i],
				   sl_node_describe(value, d, sizeof(d)));
			continue;
		}
		list = section_list(ld, policy_sections[i], key, value);
		for (item = value->data.sequence.items.start;
		     list && item < value->data.sequence.items.top; item++) {
			copy = copy_node(ld, src, *item, memo);
			if (!copy || !yaml_document_append_sequence_item(ld->doc, list, copy)) {
				ld->err = -ENOMEM;
				break;
			}
		}
		if (ld->err)
			break;
	}
	free(memo);
}

/*
 * Reads every file set_policies() resolved into the config's document.
 * A file that cannot be read or parsed is reported in its own name and
 * adds nothing.
 */
static void merge_policy_files(struct loader *ld)
{
	struct sl_config *cfg = ld->cfg;
	yaml_node_t *root = yaml_document_get_root_node(ld->doc);
	yaml_document_t *src;
	size_t len, total = 0;
	char *buf;
	uint32_t i;
	int err;

	if (!cfg->n_policies || !root || root->type != YAML_MAPPING_NODE)
		return;
	cfg->origins = own_alloc(ld, cfg->n_policies * sizeof(*cfg->origins));
	if (!cfg->origins)
		return;
	for (i = 0; i < cfg->n_policies && !ld->err; i++) {
		struct sl_config_origin *o = &cfg->origins[cfg->n_origins];

		ld->cur_rank = i + 1;
		buf = NULL;
		len = 0;
		err = read_input(ld, cfg->policies[i], &buf, &len);
		/* Each file has the config's bound; together too, or 256 files could hold 4 GiB. */
		total += len;
		if (!err && total > SL_CONFIG_MAX_FILE_BYTES) {
			problem_at(ld, 0, 0,
				   "the policy files up to this one hold %zu MiB, more than the %u "
				   "MiB they may hold together; this one and the rest are not read",
				   total >> 20, SL_CONFIG_MAX_FILE_BYTES >> 20);
			free(buf);
			break;
		}
		if (!err)
			err = parse_input(ld, buf, len, &src);
		free(buf);
		if (err)
			continue;
		o->first = (int)(ld->doc->nodes.top - ld->doc->nodes.start) + 1;
		o->rank = i + 1;
		merge_policy_doc(ld, src);
		o->last = (int)(ld->doc->nodes.top - ld->doc->nodes.start);
		if (o->last >= o->first)
			cfg->n_origins++;
		yaml_document_delete(src);
		free(src);
	}
	ld->cur_rank = 0;
}

/* The config's directory, absolute: relative file names resolve against it. */
static void set_dir(struct loader *ld, const char *path)
{
	char *copy = strdup(path), *real;

	if (!copy) {
		ld->err = -ENOMEM;
		return;
	}
	real = realpath(dirname(copy), NULL);
	ld->cfg->dir = own_strdup(ld, real ? real : dirname(copy));
	free(real);
	free(copy);
}

int sl_config_load(const char *path, struct sl_config *cfg, struct sl_diag *diag)
{
	struct loader ld = { .file = path, .cfg = cfg };
	size_t before = sl_diag_count(diag), len = 0;
	yaml_node_t *root;
	char *buf = NULL;
	int err;

	sl_config_defaults(cfg);
	err = read_input(&ld, path, &buf, &len);
	if (err) {
		flush_problems(&ld, diag);
		return err;
	}
	cfg->path = own_strdup(&ld, path);
	set_dir(&ld, path);

	err = parse_input(&ld, buf, len, &ld.doc);
	cfg->doc = ld.doc;
	if (!err) {
		/* Before the walk: the policy files' entries are read as the config's own. */
		root = find_path(&ld, "policies");
		if (root) {
			set_policies(&ld, root, "policies");
			merge_policy_files(&ld);
		}
		check_keys(&ld);
		root = yaml_document_get_root_node(ld.doc);
		if (root)
			walk_map(&ld, root, top_fields, NULL);
		check_together(&ld);
	}
	free(buf);
	free(ld.keys);
	free(ld.cert_fps);
	free(ld.cert_cns);
	flush_problems(&ld, diag);
	if (ld.err)
		return ld.err;
	if (err)
		return err;
	return sl_diag_count(diag) > before ? -EINVAL : 0;
}

void sl_config_free(struct sl_config *cfg)
{
	struct owned *o = cfg->owned, *next;

	for (; o; o = next) {
		next = o->next;
		free(o);
	}
	if (cfg->doc) {
		yaml_document_delete(cfg->doc);
		free(cfg->doc);
	}
	sl_config_defaults(cfg);
}

const struct sl_config_app *sl_config_app_find(const struct sl_config *cfg, const char *id)
{
	uint32_t i;

	for (i = 0; i < cfg->n_apps; i++)
		if (cfg->apps[i].id && !strcmp(cfg->apps[i].id, id))
			return &cfg->apps[i];
	return NULL;
}

/* ---- Printing ------------------------------------------------------------------------------- */

static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Plain scalars with only these characters mean the same inside a flow collection. */
static bool flow_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_.-/+", *s)))
			return false;
	return true;
}

/*
 * A node in flow style. Depth is bounded by the prescan; the budget bounds
 * what aliases could multiply (a few lines of anchors can name millions of
 * nodes).
 */
static int emit_node(FILE *f, const yaml_document_t *doc, const yaml_node_t *n, size_t *budget)
{
	yaml_document_t *d = (yaml_document_t *)doc;
	const char *sep = "";

	if (!n || (*budget)-- == 0)
		return -E2BIG;
	if (n->type == YAML_SCALAR_NODE) {
		const char *v = (const char *)n->data.scalar.value;

		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (flow_safe(v) || sl_node_is_null(n)))
			fputs(*v ? v : "~", f);
		else
			print_quoted(f, v);
		return 0;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		fputc('[', f);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			fputs(sep, f);
			if (emit_node(f, doc, yaml_document_get_node(d, *it), budget))
				return -E2BIG;
			sep = ", ";
		}
		fputc(']', f);
		return 0;
	}
	if (n->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *p;

		fputc('{', f);
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			fputs(sep, f);
			if (emit_node(f, doc, yaml_document_get_node(d, p->key), budget))
				return -E2BIG;
			fputs(": ", f);
			if (emit_node(f, doc, yaml_document_get_node(d, p->value), budget))
				return -E2BIG;
			sep = ", ";
		}
		fputc('}', f);
		return 0;
	}
	return -E2BIG;
}

static unsigned section_rank(const struct sl_config *cfg, const struct sl_config_section *sec)
{
	return origin_rank(cfg, cfg->doc, yaml_document_get_node(cfg->doc, sec->node));
}

/*
 * A section as the config itself wrote it: the entries merged in from
 * `policies:` files stay in their files, so that the printed config, read
 * again with the same `policies:`, is the same config.
 */
static int emit_own_entries(FILE *f, const struct sl_config *cfg, const yaml_node_t *n,
			    size_t *budget)
{
	yaml_document_t *d = cfg->doc;
	yaml_node_item_t *it;
	const char *sep = "";

	if (!n || n->type != YAML_SEQUENCE_NODE)
		return emit_node(f, cfg->doc, n, budget);
	fputc('[', f);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *item = yaml_document_get_node(d, *it);

		if (origin_rank(cfg, d, item))
			continue;
		fputs(sep, f);
		if (emit_node(f, cfg->doc, item, budget))
			return -E2BIG;
		sep = ", ";
	}
	fputc(']', f);
	return 0;
}

static int print_fields(FILE *f, const struct sl_config *cfg, const struct field *fields,
			int indent)
{
	char buf[SL_CONFIG_ADDR_BUF > SL_UNITS_BUF_SIZE ? SL_CONFIG_ADDR_BUF : SL_UNITS_BUF_SIZE];
	size_t budget = 1000000;
	uint32_t i;

	for (; fields->key; fields++) {
		const void *src = (const char *)cfg + fields->off;

		/*
		 * An absent policy section stays absent: present-but-empty means
		 * something else. One that only the policy files wrote is theirs.
		 */
		if ((fields->kind == K_PLANS || fields->kind == K_APPS ||
		     fields->kind == K_ISSUERS) &&
		    (!((const struct sl_config_section *)src)->present || !cfg->doc ||
		     section_rank(cfg, src)))
			continue;
		/* No value means "any origin": only leaving the key out says that. */
		if (fields->kind == K_ORIGINS &&
		    !((const struct sl_config_listener *)src)->origins_set)
			continue;
		fprintf(f, "%*s%s:", indent, "", fields->key);
		switch (fields->kind) {
		case K_MAP:
			fputc('\n', f);
			if (print_fields(f, cfg, fields->sub, indent + 2))
				return -E2BIG;
			continue;
		case K_ADDR:
			/* Quoted: a plain [::1]:80 would start a YAML flow sequence. */
			sl_config_addr_format(src, buf, sizeof(buf));
			fprintf(f,
				((const struct sl_config_addr *)src)->enabled ? " \"%s\"" : " %s",
				buf);
			break;
		case K_AUTH:
			fprintf(f, " %s",
				*(const enum sl_config_auth *)src == SL_CONFIG_AUTH_OPEN
				    ? "open"
				    : "required");
			break;
		case K_ORIGINS: {
			const struct sl_config_listener *l = src;

			fprintf(f, " [");
			for (i = 0; i < l->n_origins; i++) {
				fputs(i ? ", " : "", f);
				print_quoted(f, l->origins[i]);
			}
			fputc(']', f);
			break;
		}
		case K_SOCKET:
		case K_DIR:
		case K_FILE:
		case K_CGROUP:
		case K_GROUP:
			fputc(' ', f);
			if (*(const char *const *)src)
				print_quoted(f, *(const char *const *)src);
			else
				fputc('~', f);
			break;
		case K_COUNT:
			fprintf(f, " %" PRIu32, *(const uint32_t *)src);
			break;
		case K_THREADS:
			if (*(const uint32_t *)src == SL_CONFIG_THREADS_AUTO)
				fputs(" auto", f);
			else
				fprintf(f, " %" PRIu32, *(const uint32_t *)src);
			break;
		case K_SIZE:
			fprintf(f, " %s", sl_format_size(*(const uint64_t *)src, buf, sizeof(buf)));
			break;
		case K_DURATION:
			fprintf(f, " %s",
				sl_format_duration(*(const uint64_t *)src, buf, sizeof(buf)));
			break;
		case K_SWITCH:
			fprintf(f, " %s", *(const bool *)src ? "on" : "off");
			break;
		case K_MODE:
			fprintf(f, " \"%04" PRIo32 "\"", *(const uint32_t *)src);
			break;
		case K_LOG_LEVEL:
			fprintf(f, " %s",
				sl_config_log_level_name(*(const enum sl_config_log_level *)src));
			break;
		case K_POLICIES:
			fprintf(f, " [");
			for (i = 0; i < cfg->n_policies; i++) {
				fputs(i ? ", " : "", f);
				print_quoted(f, cfg->policies[i]);
			}
			fputc(']', f);
			break;
		case K_PLANS:
		case K_APPS:
		case K_ISSUERS: {
			const struct sl_config_section *sec = src;

			fputc(' ', f);
			if (emit_own_entries(f, cfg, yaml_document_get_node(cfg->doc, sec->node),
					     &budget))
				return -E2BIG;
			break;
		}
		}
		fputc('\n', f);
	}
	return 0;
}

int sl_config_print(const struct sl_config *cfg, FILE *f)
{
	if (print_fields(f, cfg, top_fields, 0))
		return -EIO;
	return ferror(f) ? -EIO : 0;
}
