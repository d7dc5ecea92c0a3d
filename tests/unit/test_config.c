// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The config loader (userspace/config): defaults, a full file, every class
 * of error with its exact FILE:LINE:COL, several errors in one run, inline
 * applications, `policies:` resolution, and the duration and size parsers.
 * Each case writes its YAML into a private temporary directory, so the text
 * a position refers to sits next to the assertion.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config/config.h"
#include "config/node.h"
#include "config/problems.h"
#include "config/units.h"
#include "diag_at.h"
#include "tap.h"
#include "tmpfiles.h"

#define SEC SL_NSEC_PER_SEC
#define MS SL_NSEC_PER_MSEC

struct run {
	struct sl_config cfg;
	struct sl_diag diag;
	const char *path;
	int err;
};

static void load(struct run *r, const char *name, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->path = put(name, text);
	r->err = sl_config_load(r->path, &r->cfg, &r->diag);
}

static void done(struct run *r)
{
	sl_diag_free(&r->diag);
	sl_config_free(&r->cfg);
}

/* Whether some message is exactly "PATH:LINE:COL: " followed by text containing want. */
static bool has_at(const struct run *r, unsigned int line, unsigned int col, const char *want)
{
	return diag_has_at(&r->diag, r->path, line, col, want);
}

/* Whether the first message is exactly this (after the path). */
static bool first_is(const struct run *r, const char *rest)
{
	const char *m = sl_diag_get(&r->diag, 0);
	size_t plen = strlen(r->path);

	return m && !strncmp(m, r->path, plen) && !strcmp(m + plen, rest);
}

static void show(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->diag.stored; i++)
		printf("# %s\n", sl_diag_get(&r->diag, i));
}

/* One error case: the file must fail with exactly one problem at line:col containing want. */
static void expect_one(const char *what, const char *text, unsigned int line, unsigned int col,
		       const char *want)
{
	struct run r;
	bool ok;

	load(&r, "case.yaml", text);
	ok = r.err == -EINVAL && sl_diag_count(&r.diag) == 1 && has_at(&r, line, col, want);
	TAP_OK(ok, "%s: one problem at %u:%u saying \"%s\"", what, line, col, want);
	if (!ok)
		show(&r);
	done(&r);
}

/* ---- units ---------------------------------------------------------------------------------- */

struct parse_case {
	const char *s;
	int err;
	uint64_t v;
};

/* Every case parses to its error, and to its value when that is 0. */
static void check_parses(const char *kind, int (*parse)(const char *, uint64_t *),
			 const struct parse_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t v = 12345;
		int err = parse(cases[i].s, &v);

		TAP_OK(err == cases[i].err && (err || v == cases[i].v),
		       "%s \"%s\" -> %d (want %d), %llu", kind, cases[i].s, err, cases[i].err,
		       (unsigned long long)v);
	}
}

static void test_durations(void)
{
	static const struct parse_case cases[] = {
		{ "500ms", 0, 500 * MS },
		{ "2s", 0, 2 * SEC },
		{ "5m", 0, 300 * SEC },
		{ "1h", 0, 3600 * SEC },
		{ "1d", 0, 86400 * SEC },
		{ "30d", 0, 30 * 86400 * SEC },
		{ "0s", 0, 0 },
		{ "0ms", 0, 0 },
		{ "007s", 0, 7 * SEC },
		{ "213503d", 0, 213503ULL * 86400 * SEC },
		{ "18446744073709ms", 0, 18446744073709ULL * MS },
		{ "213504d", -ERANGE, 0 },
		{ "18446744073710ms", -ERANGE, 0 },
		{ "99999999999999999999s", -ERANGE, 0 },
		{ "5", -EINVAL, 0 },
		{ "0", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 },
		{ "1.5h", -EINVAL, 0 },
		{ " 1s", -EINVAL, 0 },
		{ "1s ", -EINVAL, 0 },
		{ "1 s", -EINVAL, 0 },
		{ "1H", -EINVAL, 0 },
		{ "1sec", -EINVAL, 0 },
		{ "1us", -EINVAL, 0 },
		{ "1w", -EINVAL, 0 },
		{ "1h30m", -EINVAL, 0 },
	};
	check_parses("duration", sl_parse_duration, cases, sizeof(cases) / sizeof(cases[0]));
	TAP_OK(sl_parse_duration(NULL, &(uint64_t){ 0 }) == -EINVAL, "duration NULL is -EINVAL");
}

static void test_sizes(void)
{
	static const struct parse_case cases[] = {
		{ "0", 0, 0 },
		{ "1048576", 0, 1048576 },
		{ "64KiB", 0, 65536 },
		{ "1MiB", 0, 1 << 20 },
		{ "4MiB", 0, 4 << 20 },
		{ "1GiB", 0, 1 << 30 },
		{ "0KiB", 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "17179869183GiB", 0, 17179869183ULL << 30 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "17179869184GiB", -ERANGE, 0 },
		{ "1KB", -EINVAL, 0 },
		{ "1MB", -EINVAL, 0 },
		{ "1kib", -EINVAL, 0 },
		{ "1K", -EINVAL, 0 },
		{ "1B", -EINVAL, 0 },
		{ "1TiB", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "1.5MiB", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "MiB", -EINVAL, 0 },
		{ "1 MiB", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
	};
	check_parses("size", sl_parse_size, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Counts are digits only: nothing a typo could turn into another number. */
static void test_counts(void)
{
	static const struct parse_case cases[] = {
		{ "0", 0, 0 },
		{ "10000", 0, 10000 },
		{ "007", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999x", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "1.0", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1KiB", -EINVAL, 0 },
	};
	check_parses("count", sl_parse_count, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_formatting(void)
{
	static const struct {
		uint64_t v;
		const char *want;
	} durations[] = {
		{ 0, "0s" },	     { 500 * MS, "500ms" }, { 90 * SEC, "90s" },
		{ 3600 * SEC, "1h" }, { 86400 * SEC, "1d" }, { 1500 * MS, "1500ms" },
		{ 1, "1ns" },	     { UINT64_MAX, "18446744073709551615ns" },
	},
	  sizes[] = {
		  { 0, "0" },	      { 1000, "1000" },	    { 1024, "1KiB" },	    { 1536, "1536" },
		  { 4 << 20, "4MiB" }, { 1ULL << 30, "1GiB" }, { 3ULL << 40, "3072GiB" },
	  };
	char buf[SL_UNITS_BUF_SIZE];
	uint64_t back;
	size_t i;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		sl_format_duration(durations[i].v, buf, sizeof(buf));
		TAP_OK(!strcmp(buf, durations[i].want), "format duration %llu ns -> %s (want %s)",
		       (unsigned long long)durations[i].v, buf, durations[i].want);
		/* Whatever is a whole number of ms reads back as the same value. */
		if (durations[i].v % MS == 0)
			TAP_OK(sl_parse_duration(buf, &back) == 0 && back == durations[i].v,
			       "duration %s reads back", buf);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sl_format_size(sizes[i].v, buf, sizeof(buf));
		TAP_OK(!strcmp(buf, sizes[i].want) && sl_parse_size(buf, &back) == 0 &&
			   back == sizes[i].v,
		       "format size %llu -> %s (want %s) and back", (unsigned long long)sizes[i].v,
		       buf, sizes[i].want);
	}
}

/* ---- addresses ------------------------------------------------------------------------------ */

static void test_addresses(void)
{
	static const struct {
		const char *s;
		int ok, enabled, family;
		const char *host;
		unsigned int port;
	} cases[] = {
		{ "0.0.0.0:8080", 1, 1, AF_INET, "0.0.0.0", 8080 },
		{ "127.0.0.1:0", 1, 1, AF_INET, "127.0.0.1", 0 },
		{ "10.1.2.3:65535", 1, 1, AF_INET, "10.1.2.3", 65535 },
		{ "[::1]:7070", 1, 1, AF_INET6, "::1", 7070 },
		{ "[::]:80", 1, 1, AF_INET6, "::", 80 },
		{ "[0:0::1]:80", 1, 1, AF_INET6, "::1", 80 },
		{ "off", 1, 0, 0, "", 0 },
		{ "", 1, 0, 0, "", 0 },
		{ .s = "localhost:8080" },
		{ .s = "0.0.0.0" },
		{ .s = ":8080" },
		{ .s = "0.0.0.0:" },
		{ .s = "0.0.0.0:65536" },
		{ .s = "0.0.0.0:-1" },
		{ .s = "0.0.0.0:080a" },
		{ .s = "0.0.0.0:123456" },
		{ .s = "::1:80" },
		{ .s = "[::1]80" },
		{ .s = "[::1:80" },
		{ .s = "[]:80" },
		{ .s = "[fe80::1%eth0]:80" },
		{ .s = "[1.2.3.4]:80" },
		{ .s = "1.2.3:80" },
		{ .s = "256.1.1.1:80" },
		{ .s = "OFF" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_config_addr a;
		const char *why = NULL;
		int err = sl_config_parse_addr(cases[i].s, &a, &why);
		bool ok;

		if (!cases[i].ok) {
			TAP_OK(err == -EINVAL && why && *why, "address \"%s\" refused: %s",
			       cases[i].s, why ? why : "(no reason)");
			continue;
		}
		ok = err == 0 && a.enabled == (bool)cases[i].enabled;
		if (ok && a.enabled) {
			ok = a.family == cases[i].family && !strcmp(a.host, cases[i].host) &&
			     a.port == cases[i].port && a.sa.ss_family == cases[i].family &&
			     a.sa_len == (a.family == AF_INET ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6)) &&
			     ntohs(((struct sockaddr_in *)&a.sa)->sin_port) == cases[i].port;
		}
		TAP_OK(ok, "address \"%s\" -> %s host %s port %u", cases[i].s,
		       a.enabled ? "enabled" : "off", a.host, a.port);
	}
	{
		struct sl_config_addr a;
		char buf[SL_CONFIG_ADDR_BUF];

		sl_config_parse_addr("[::1]:9", &a, NULL);
		TAP_OK(!strcmp(sl_config_addr_format(&a, buf, sizeof(buf)), "[::1]:9"),
		       "IPv6 address formats with brackets: %s", buf);
		sl_config_parse_addr("off", &a, NULL);
		TAP_OK(!strcmp(sl_config_addr_format(&a, buf, sizeof(buf)), "off"),
		       "disabled address formats as off");
	}
}

/* ---- defaults and whole files --------------------------------------------------------------- */

static void check_defaults(const struct sl_config *c, const char *what)
{
	char a[SL_CONFIG_ADDR_BUF], b[SL_CONFIG_ADDR_BUF], p[SL_CONFIG_ADDR_BUF];

	TAP_OK(!strcmp(sl_config_addr_format(&c->listeners.subscribers.plain, a, sizeof(a)),
		       "0.0.0.0:8080") &&
		   !c->listeners.subscribers.tls.enabled &&
		   c->listeners.subscribers.auth == SL_CONFIG_AUTH_REQUIRED &&
		   !c->listeners.subscribers.origins_set && c->listeners.subscribers.n_origins == 0,
	       "%s: subscribers 0.0.0.0:8080, no TLS, auth required, any origin (%s)", what, a);
	TAP_OK(!strcmp(sl_config_addr_format(&c->listeners.publishers.plain, p, sizeof(p)),
		       "127.0.0.1:7070") &&
		   !c->listeners.publishers.tls.enabled &&
		   !strcmp(sl_config_addr_format(&c->listeners.admin.plain, b, sizeof(b)),
			   "127.0.0.1:9090"),
	       "%s: publishers %s, admin %s", what, p, b);
	TAP_OK(!strcmp(c->listeners.control.path, "/run/sluice/control.sock") &&
		   c->listeners.control.mode == 0600,
	       "%s: control socket /run/sluice/control.sock mode 0600", what);
	TAP_OK(!c->tls.cert_file && !c->tls.key_file && !c->tls.client_ca_file, "%s: no TLS files",
	       what);
	TAP_OK(c->bpf && !strcmp(c->bpf_pin_dir, "/sys/fs/bpf/sluice") &&
		   !strcmp(c->cgroup, "sluice"),
	       "%s: bpf on, pins in /sys/fs/bpf/sluice, cgroup sluice", what);
	TAP_OK(c->retention.count == 1000 && c->retention.age_ns == 3600 * SEC &&
		   c->sse.heartbeat_ns == 15 * SEC && c->jwt.leeway_ns == 30 * SEC,
	       "%s: retention 1000/1h, heartbeat 15s, leeway 30s", what);
	TAP_OK(c->limits.max_frame_bytes == 1048576 && c->limits.max_header_bytes == 16384 &&
		   c->limits.handshake_timeout_ns == 10 * SEC &&
		   c->limits.max_connections == 10000 &&
		   c->limits.max_subscriptions_per_connection == 100 &&
		   c->limits.max_topics == 10000 &&
		   c->limits.max_queued_bytes_per_connection == 4 << 20 &&
		   c->limits.max_publishers == 100,
	       "%s: limits at their defaults", what);
	TAP_OK(!strcmp(c->state_dir, "/var/lib/sluice") && c->log.level == SL_CONFIG_LOG_INFO,
	       "%s: state_dir /var/lib/sluice, log level info", what);
	TAP_OK(c->write_threads == SL_CONFIG_THREADS_AUTO, "%s: write_threads auto", what);
	TAP_OK(c->n_policies == 0 && !c->plans.present && !c->applications.present &&
		   !c->issuers.present && c->n_apps == 0,
	       "%s: no policies, no inline sections", what);
}

static void test_defaults(void)
{
	struct sl_config c;
	struct run r;

	sl_config_defaults(&c);
	check_defaults(&c, "sl_config_defaults");
	TAP_OK(c.path == NULL && c.doc == NULL && c.owned == NULL, "defaults allocate nothing");
	sl_config_free(&c);
	check_defaults(&c, "sl_config_free on defaults");

	load(&r, "empty.yaml", "");
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0, "an empty file is valid");
	check_defaults(&r.cfg, "empty file");
	done(&r);

	load(&r, "comments.yaml", "# nothing but a comment\n---\n# and another\n");
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0, "a file of comments is valid");
	done(&r);

	load(&r, "sections.yaml", "listeners:\ntls:\nretention: ~\nlimits: {}\n");
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0,
	       "empty (null) sections are valid and keep the defaults");
	check_defaults(&r.cfg, "null sections");
	done(&r);
}

static const char *full_yaml =
    "# Every key, none at its default.\n"
    "listeners:\n"
    "  subscribers: {plain: \"127.0.0.1:18080\", tls: \"[::]:18443\", auth: open}\n"
    "  publishers:\n"
    "    plain: \"[::1]:17070\"\n"
    "    tls: 127.0.0.1:17071\n"
    "  admin: {plain: 127.0.0.1:0}\n"
    "  control: {path: /tmp/sluice-test/control.sock, mode: \"0660\"}\n"
    "tls:\n"
    "  cert_file: certs/server.pem\n"
    "  key_file: certs/server.key\n"
    "  client_ca_file: CA_ABS\n"
    "bpf: off\n"
    "bpf_pin_dir: /sys/fs/bpf/sluice-test\n"
    "cgroup: /sys/fs/cgroup/unified/sluice-test\n"
    "retention: {count: 50, age: 90s}\n"
    "sse: {heartbeat: 500ms}\n"
    "limits:\n"
    "  max_frame_bytes: 64KiB\n"
    "  max_header_bytes: 8192\n"
    "  handshake_timeout: 2s\n"
    "  max_connections: 500\n"
    "  max_subscriptions_per_connection: 8\n"
    "  max_topics: 1000\n"
    "  max_queued_bytes_per_connection: 1MiB\n"
    "  max_publishers: 3\n"
    "jwt: {leeway: 0s}\n"
    "state_dir: /var/lib/sluice-test\n"
    "write_threads: 3\n"
    "log: {level: debug}\n"
    "policies: [policies/a.yaml, POLICY_ABS]\n";

/* full_yaml with its two absolute-path placeholders filled in. */
static char *full_text(void)
{
	static char text[4096];
	char ca[PATH_MAX], pol[PATH_MAX], *o = text;
	const char *s = full_yaml;

	snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
	snprintf(pol, sizeof(pol), "%s/b.yaml", tmpdir);
	while (*s) {
		if (!strncmp(s, "CA_ABS", 6)) {
			o += sprintf(o, "%s", ca);
			s += 6;
		} else if (!strncmp(s, "POLICY_ABS", 10)) {
			o += sprintf(o, "%s", pol);
			s += 10;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return text;
}

static void check_full(const struct sl_config *c, const char *what)
{
	char a[SL_CONFIG_ADDR_BUF], b[SL_CONFIG_ADDR_BUF], d[SL_CONFIG_ADDR_BUF];
	char e[SL_CONFIG_ADDR_BUF], f[SL_CONFIG_ADDR_BUF], want[PATH_MAX + 64];
	char real[PATH_MAX];

	if (!realpath(tmpdir, real))
		snprintf(real, sizeof(real), "%s", tmpdir);
	sl_config_addr_format(&c->listeners.subscribers.plain, a, sizeof(a));
	sl_config_addr_format(&c->listeners.subscribers.tls, b, sizeof(b));
	sl_config_addr_format(&c->listeners.publishers.plain, d, sizeof(d));
	sl_config_addr_format(&c->listeners.publishers.tls, e, sizeof(e));
	sl_config_addr_format(&c->listeners.admin.plain, f, sizeof(f));
	TAP_OK(!strcmp(a, "127.0.0.1:18080") && !strcmp(b, "[::]:18443") &&
		   c->listeners.subscribers.auth == SL_CONFIG_AUTH_OPEN,
	       "%s: subscribers %s + %s, auth open", what, a, b);
	TAP_OK(!strcmp(d, "[::1]:17070") && !strcmp(e, "127.0.0.1:17071") &&
		   !strcmp(f, "127.0.0.1:0"),
	       "%s: publishers %s + %s, admin %s", what, d, e, f);
	TAP_OK(!strcmp(c->listeners.control.path, "/tmp/sluice-test/control.sock") &&
		   c->listeners.control.mode == 0660,
	       "%s: control socket and mode 0660", what);
	snprintf(want, sizeof(want), "%s/certs/server.pem", real);
	TAP_OK(c->tls.cert_file && !strcmp(c->tls.cert_file, want),
	       "%s: relative cert_file resolved against the config's directory: %s", what,
	       c->tls.cert_file ? c->tls.cert_file : "(null)");
	snprintf(want, sizeof(want), "%s/ca.pem", tmpdir);
	TAP_OK(c->tls.key_file && c->tls.client_ca_file && !strcmp(c->tls.client_ca_file, want),
	       "%s: absolute client_ca_file kept as written", what);
	TAP_OK(!c->bpf && !strcmp(c->bpf_pin_dir, "/sys/fs/bpf/sluice-test") &&
		   !strcmp(c->cgroup, "/sys/fs/cgroup/unified/sluice-test"),
	       "%s: bpf off, pin dir, cgroup", what);
	TAP_OK(c->retention.count == 50 && c->retention.age_ns == 90 * SEC &&
		   c->sse.heartbeat_ns == 500 * MS && c->jwt.leeway_ns == 0,
	       "%s: retention 50/90s, heartbeat 500ms, leeway 0s", what);
	TAP_OK(c->limits.max_frame_bytes == 65536 && c->limits.max_header_bytes == 8192 &&
		   c->limits.handshake_timeout_ns == 2 * SEC && c->limits.max_connections == 500 &&
		   c->limits.max_subscriptions_per_connection == 8 &&
		   c->limits.max_topics == 1000 &&
		   c->limits.max_queued_bytes_per_connection == 1 << 20 &&
		   c->limits.max_publishers == 3,
	       "%s: every limit as written", what);
	TAP_OK(!strcmp(c->state_dir, "/var/lib/sluice-test") && c->log.level == SL_CONFIG_LOG_DEBUG,
	       "%s: state_dir and log level debug", what);
	TAP_OK(c->write_threads == 3, "%s: write_threads 3", what);
	snprintf(want, sizeof(want), "%s/policies/a.yaml", real);
	TAP_OK(c->n_policies == 2 && !strcmp(c->policies[0], want),
	       "%s: relative policy file resolved: %s", what,
	       c->n_policies ? c->policies[0] : "(none)");
	snprintf(want, sizeof(want), "%s/b.yaml", tmpdir);
	TAP_OK(c->n_policies == 2 && !strcmp(c->policies[1], want), "%s: absolute policy file kept",
	       what);
}

static void test_full(void)
{
	struct run r, again;
	char *printed = NULL;
	size_t printed_len = 0;
	FILE *mem;

	put_dir("certs");
	put_dir("policies");
	put("certs/server.pem", "cert\n");
	put("certs/server.key", "key\n");
	put("ca.pem", "ca\n");
	put("policies/a.yaml", "plans: []\n");
	put("b.yaml", "applications: []\n");

	load(&r, "full.yaml", full_text());
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0, "the full config is valid (err %d)",
	       r.err);
	show(&r);
	check_full(&r.cfg, "full");
	TAP_OK(r.cfg.listeners.subscribers.plain.mark.line == 3 &&
		   r.cfg.listeners.subscribers.plain.mark.col == 24,
	       "listener addresses keep where they were written (3:24, got %u:%u)",
	       r.cfg.listeners.subscribers.plain.mark.line,
	       r.cfg.listeners.subscribers.plain.mark.col);
	TAP_OK(r.cfg.path && !strcmp(r.cfg.path, r.path) && r.cfg.dir && r.cfg.dir[0] == '/',
	       "the config records its path and absolute directory (%s)", r.cfg.dir);

	/* The printed effective config loads back to the same values. */
	mem = open_memstream(&printed, &printed_len);
	TAP_OK(mem && sl_config_print(&r.cfg, mem) == 0, "sl_config_print succeeds");
	if (mem)
		fclose(mem);
	load(&again, "printed.yaml", printed ? printed : "");
	TAP_OK(again.err == 0 && sl_diag_count(&again.diag) == 0,
	       "the printed full config loads back cleanly");
	show(&again);
	check_full(&again.cfg, "printed full");
	done(&again);
	free(printed);
	done(&r);

	/* Loading twice into one struct after a free leaks nothing (the -san build checks). */
	load(&r, "full.yaml", full_text());
	sl_config_free(&r.cfg);
	sl_config_free(&r.cfg);
	check_defaults(&r.cfg, "after two frees");
	sl_diag_free(&r.diag);
}

static void test_switches_and_modes(void)
{
	static const struct {
		const char *text;
		int ok;
		bool bpf;
	} sw[] = {
		{ "bpf: on\n", 1, true },   { "bpf: off\n", 1, false },
		{ "bpf: true\n", 1, true }, { "bpf: false\n", 1, false },
		{ "bpf: yes\n", 1, true },  { "bpf: No\n", 1, false },
		{ "bpf: OFF\n", 1, false }, { "bpf: \"on\"\n", 1, true },
		{ "bpf: 1\n", 0, 0 },	    { "bpf: maybe\n", 0, 0 },
		{ "bpf: ~\n", 0, 0 },
	};
	static const struct {
		const char *text;
		int ok;
		uint32_t mode;
	} modes[] = {
		{ "listeners: {control: {mode: \"0600\"}}\n", 1, 0600 },
		{ "listeners: {control: {mode: 0660}}\n", 1, 0660 },
		{ "listeners: {control: {mode: 600}}\n", 1, 0600 },
		{ "listeners: {control: {mode: \"0777\"}}\n", 1, 0777 },
		{ "listeners: {control: {mode: \"0\"}}\n", 1, 0 },
		{ "listeners: {control: {mode: \"0800\"}}\n", 0, 0 },
		{ "listeners: {control: {mode: \"1777\"}}\n", 0, 0 },
		{ "listeners: {control: {mode: \"00600\"}}\n", 0, 0 },
		{ "listeners: {control: {mode: rw}}\n", 0, 0 },
		{ "listeners: {control: {mode: \"\"}}\n", 0, 0 },
	};
	size_t i;
	struct run r;

	for (i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
		load(&r, "sw.yaml", sw[i].text);
		TAP_OK(sw[i].ok ? (r.err == 0 && r.cfg.bpf == sw[i].bpf)
				: (r.err == -EINVAL && has_at(&r, 1, 6, "bpf: expected on or off")),
		       "%.*s %s", (int)strlen(sw[i].text) - 1, sw[i].text,
		       sw[i].ok ? "accepted" : "refused");
		done(&r);
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		load(&r, "mode.yaml", modes[i].text);
		TAP_OK(modes[i].ok
			   ? (r.err == 0 && r.cfg.listeners.control.mode == modes[i].mode)
			   : (r.err == -EINVAL &&
			      has_at(&r, 1, 29, "listeners.control.mode: expected an octal mode")),
		       "%.*s %s", (int)strlen(modes[i].text) - 1, modes[i].text,
		       modes[i].ok ? "accepted" : "refused");
		if (!modes[i].ok && r.err != -EINVAL)
			show(&r);
		done(&r);
	}
}

/* write_threads: auto (quoted or not) or a count; 0 means the loop writes alone. */
static void test_write_threads(void)
{
	static const struct {
		const char *text;
		uint32_t want;
	} ok[] = {
		{ "write_threads: auto\n", SL_CONFIG_THREADS_AUTO },
		{ "write_threads: \"auto\"\n", SL_CONFIG_THREADS_AUTO },
		{ "write_threads: 0\n", 0 },
		{ "write_threads: 64\n", 64 },
	};
	size_t i;
	struct run r;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		load(&r, "threads.yaml", ok[i].text);
		TAP_OK(r.err == 0 && r.cfg.write_threads == ok[i].want, "%.*s accepted",
		       (int)strlen(ok[i].text) - 1, ok[i].text);
		done(&r);
	}
}

/* listeners.control.group: a group name or number that exists, resolved to its gid at load. */
static void test_control_group(void)
{
	struct group *gr = getgrgid(0);
	char text[256];
	struct run r;
	FILE *f;

	load(&r, "group.yaml", "listeners: {control: {path: /tmp/x.sock}}\n");
	TAP_OK(r.err == 0 && r.cfg.listeners.control.group == NULL,
	       "control.group is unset by default");
	done(&r);

	snprintf(text, sizeof(text), "listeners: {control: {group: %s, mode: \"0660\"}}\n",
		 gr ? gr->gr_name : "root");
	load(&r, "group.yaml", text);
	TAP_OK(r.err == 0 && r.cfg.listeners.control.group &&
		   !strcmp(r.cfg.listeners.control.group, gr ? gr->gr_name : "root") &&
		   r.cfg.listeners.control.gid == 0 && r.cfg.listeners.control.mode == 0660,
	       "control.group: a group name resolves to its gid");
	if (r.err)
		show(&r);
	done(&r);

	load(&r, "group.yaml", "listeners: {control: {group: 4242}}\n");
	TAP_OK(r.err == 0 && r.cfg.listeners.control.gid == 4242,
	       "control.group: a number is taken as the gid");
	done(&r);

	load(&r, "group.yaml", "listeners: {control: {group: ~}}\n");
	TAP_OK(r.err == 0 && r.cfg.listeners.control.group == NULL, "control.group: null is unset");
	done(&r);

	/* The effective config prints the group and loads back to the same gid. */
	load(&r, "group.yaml", "listeners: {control: {group: 4242}}\n");
	f = fopen(put("group-printed.yaml", ""), "w");
	if (f) {
		sl_config_print(&r.cfg, f);
		fclose(f);
	}
	done(&r);
	memset(&r, 0, sizeof(r));
	r.path = remember("group-printed.yaml");
	r.err = sl_config_load(r.path, &r.cfg, &r.diag);
	TAP_OK(r.err == 0 && r.cfg.listeners.control.gid == 4242,
	       "control.group survives sl_config_print");
	if (r.err)
		show(&r);
	done(&r);

	expect_one("control.group: a group that does not exist",
		   "listeners: {control: {group: no-such-group-sluice}}\n", 1, 30,
		   "listeners.control.group: there is no group \"no-such-group-sluice\" on this "
		   "host");
	expect_one("control.group: a list", "listeners: {control: {group: [a]}}\n", 1, 30,
		   "listeners.control.group: expected a group name or number, got a list");
	expect_one("control.group: a gid out of range",
		   "listeners: {control: {group: 99999999999}}\n", 1, 30,
		   "listeners.control.group: \"99999999999\" is not a group id");
}

/* cgroup: "./NAME" is kept as written; the daemon resolves it below the cgroup it started in. */
static void test_cgroup_relative(void)
{
	struct run r;

	load(&r, "cg.yaml", "cgroup: ./meter\n");
	TAP_OK(r.err == 0 && !strcmp(r.cfg.cgroup, "./meter"), "cgroup: ./meter is accepted as is");
	done(&r);
	expect_one("cgroup ./.. escaping", "cgroup: ./..\n", 1, 9,
		   "cgroup: \"./..\" must not contain \"..\"");
}

static void test_disabled_listeners(void)
{
	struct run r;

	load(&r, "off.yaml",
	     "listeners:\n"
	     "  publishers: {plain: off}\n"
	     "  admin: {plain: \"\"}\n");
	TAP_OK(r.err == 0 && !r.cfg.listeners.publishers.plain.enabled &&
		   !r.cfg.listeners.admin.plain.enabled,
	       "off and \"\" disable optional listeners");
	done(&r);

	load(&r, "null.yaml", "listeners:\n  admin:\n    plain:\n");
	TAP_OK(r.err == 0 && !r.cfg.listeners.admin.plain.enabled, "an empty value disables too");
	done(&r);
}

/* ---- each class of error, at its exact position -------------------------------------------- */

static void test_errors(void)
{
	char long_path[200], text[400];
	struct run r;

	/* Unknown keys. */
	expect_one("unknown top-level key", "bpf: on\nretenton: {count: 5}\n", 2, 1,
		   "unknown key \"retenton\"; did you mean \"retention\"?");
	expect_one(
	    "unknown nested key", "listeners:\n  subscribers:\n    plain: 0.0.0.0:1\n    foo: 1\n",
	    4, 5,
	    "unknown key \"foo\" in listeners.subscribers; expected one of: plain, tls, auth, "
	    "origins");
	expect_one("unknown key with a near miss", "limits: {max_conections: 5}\n", 1, 10,
		   "did you mean \"max_connections\"?");
	{
		/* Longer than any name: no suggestion is looked for, the keys are listed. */
		char text[SL_CONFIG_MAX_NAME + 64];

		snprintf(text, sizeof(text), "retention: {%0*d: 1}\n", SL_CONFIG_MAX_NAME + 1, 7);
		expect_one("unknown key longer than a name", text, 1, 13,
			   "; expected one of: count, age, journal");
	}

	/* Wrong types. */
	expect_one("scalar for a mapping", "retention: 5\n", 1, 12,
		   "retention: expected a mapping with keys count, age, journal; got \"5\"");
	expect_one("list for a mapping", "listeners: [a, b]\n", 1, 12,
		   "listeners: expected a mapping with keys subscribers, publishers, admin, "
		   "control; got a list");
	expect_one("mapping for a scalar", "state_dir: {a: 1}\n", 1, 12,
		   "state_dir: expected an absolute path, got a mapping");
	expect_one("list for a count", "retention:\n  count: [1]\n", 2, 10,
		   "retention.count: expected an integer, got a list");
	expect_one("quoted count", "retention: {count: \"10\"}\n", 1, 20,
		   "retention.count: expected an integer, got the quoted string \"10\"");
	expect_one("top level not a mapping", "- a\n- b\n", 1, 1,
		   "the file: expected a mapping with keys listeners, tls, bpf,");
	expect_one("policies not a list", "policies: a.yaml\n", 1, 11,
		   "policies: expected a list of files, got \"a.yaml\"");
	expect_one("non-string key", "{[a]: 1}\n", 1, 2, "keys must be strings, got a list");

	/* Bad values. */
	expect_one("count zero", "retention: {count: 0}\n", 1, 20,
		   "retention.count: \"0\" is out of range: expected 1 to 1000000");
	expect_one("count negative", "retention: {count: -1}\n", 1, 20,
		   "retention.count: expected a whole number such as 1000, got \"-1\"");
	expect_one("count overflow", "limits: {max_topics: 99999999999999999999999}\n", 1, 22,
		   "limits.max_topics: \"99999999999999999999999\" is out of range: expected 1 to "
		   "10000000");
	expect_one("duration without unit", "sse: {heartbeat: 15}\n", 1, 18,
		   "sse.heartbeat: \"15\" is not a duration: use a whole number with a unit");
	expect_one("duration out of range", "sse:\n  heartbeat: 2h\n", 2, 14,
		   "sse.heartbeat: \"2h\" is out of range: expected 100ms to 1h");
	expect_one("duration overflow", "jwt: {leeway: 999999999d}\n", 1, 15,
		   "jwt.leeway: \"999999999d\" is out of range: expected 0s to 1h");
	expect_one("size unit", "limits: {max_frame_bytes: 1MB}\n", 1, 27,
		   "limits.max_frame_bytes: \"1MB\" is not a size: use bytes (65536) or a whole "
		   "number with KiB, MiB or GiB (64KiB)");
	expect_one("size out of range", "limits: {max_header_bytes: 2MiB}\n", 1, 28,
		   "limits.max_header_bytes: \"2MiB\" is out of range: expected 256 to 1MiB");
	expect_one("threads out of range", "write_threads: 65\n", 1, 16,
		   "write_threads: \"65\" is out of range: expected 0 to 64");
	expect_one("threads word", "write_threads: many\n", 1, 16,
		   "write_threads: expected auto or a whole number such as 2, got \"many\"");
	expect_one("threads quoted count", "write_threads: \"2\"\n", 1, 16,
		   "write_threads: expected an integer, got the quoted string \"2\"");
	expect_one("threads negative", "write_threads: -1\n", 1, 16,
		   "write_threads: expected auto or a whole number such as 2, got \"-1\"");
	expect_one("host name", "listeners: {admin: {plain: \"localhost:9090\"}}\n", 1, 28,
		   "listeners.admin.plain: \"localhost:9090\" is not a listener address: the host "
		   "must be a numeric IPv4 address");
	expect_one("port too big", "listeners: {admin: {plain: 127.0.0.1:70000}}\n", 1, 28,
		   "the port must be a number from 0 to 65535");
	expect_one("auth word", "listeners: {subscribers: {auth: maybe}}\n", 1, 33,
		   "listeners.subscribers.auth: expected open or required, got \"maybe\"");
	expect_one("log level", "log: {level: verbose}\n", 1, 14,
		   "log.level: expected debug, info, warn or error, got \"verbose\"");
	expect_one("relative state_dir", "state_dir: var/lib\n", 1, 12,
		   "state_dir: expected an absolute path, got \"var/lib\"");
	expect_one("cgroup escaping", "cgroup: sluice/../..\n", 1, 9,
		   "cgroup: \"sluice/../..\" must not contain \"..\"");
	expect_one("empty cgroup", "cgroup: \"\"\n", 1, 9,
		   "cgroup: expected a cgroup name or absolute path, got \"\"");
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	snprintf(text, sizeof(text), "listeners:\n  control:\n    path: %s\n", long_path);
	expect_one("socket path too long", text, 3, 11,
		   "listeners.control.path: the path is longer than 107 bytes");
	expect_one("null where a path is needed", "state_dir:\n", 1, 11,
		   "state_dir: expected an absolute path, got nothing (null)");
	expect_one("null where a duration is needed", "sse: {heartbeat: ~}\n", 1, 18,
		   "sse.heartbeat: expected a duration, got nothing (null)");
	expect_one("NUL in a value", "state_dir: \"/var/\\0lib\"\n", 1, 12,
		   "state_dir: the value holds a NUL byte");
	put("exists.pem", "x\n");
	expect_one("missing TLS file", "tls: {cert_file: nope.pem, key_file: exists.pem}\n", 1, 18,
		   "tls.cert_file: cannot use");

	/* Duplicate keys, reported at the repeat and pointing at the first. */
	expect_one("duplicate top-level key", "bpf: on\nstate_dir: /x\nbpf: off\n", 3, 1,
		   "key \"bpf\" is already defined at 1:1");
	expect_one("duplicate nested key", "limits:\n  max_topics: 5\n  max_topics: 6\n", 3, 3,
		   "key \"max_topics\" is already defined at 2:3");
	expect_one("duplicate applications section",
		   "applications: [{id: a}, {id: b}]\napplications: [{id: c}]\n", 2, 1,
		   "key \"applications\" is already defined at 1:1");
	expect_one("duplicate key inside a plan", "plans:\n  - {name: a, events: 1, events: 2}\n",
		   2, 26, "key \"events\" is already defined at 2:15");

	/* Files that do not parse: libyaml's own problem and position. */
	load(&r, "syntax.yaml", "bpf: on\na: b: c\n");
	TAP_OK(r.err == -EINVAL && sl_diag_count(&r.diag) == 1 &&
		   first_is(&r, ":2:5: mapping values are not allowed in this context"),
	       "a syntax error reports libyaml's problem at 2:5");
	show(&r);
	done(&r);
	load(&r, "flow.yaml", "listeners:\n  subscribers: {plain: 1.2.3.4:80\n");
	TAP_OK(r.err == -EINVAL && first_is(&r, ":3:1: did not find expected ',' or '}' (while "
						"parsing a flow mapping at 2:16)"),
	       "an unclosed flow mapping reports where it starts");
	done(&r);
	load(&r, "tab.yaml", "listeners:\n\tadmin: {}\n");
	TAP_OK(r.err == -EINVAL && first_is(&r, ":2:1: found character that cannot start any token "
						"(while scanning for the next token at 2:1)"),
	       "a tab indent is a syntax error at 2:1");
	done(&r);
	load(&r, "utf8.yaml", "bpf: on\nstate_dir: \"/x\xff\"\n");
	TAP_OK(r.err == -EINVAL && first_is(&r, ":2:15: invalid leading UTF-8 octet (byte 0xff)"),
	       "invalid UTF-8 reports line and column from libyaml's byte offset");
	done(&r);
	load(&r, "two.yaml", "bpf: on\n---\nbpf: off\n");
	TAP_OK(r.err == -EINVAL &&
		   first_is(&r, ":2:1: a second YAML document: a config file holds one"),
	       "a second document is refused at its ---");
	done(&r);
	{
		char deep[400];
		int i;

		for (i = 0; i < 70; i++)
			deep[i] = '[';
		deep[70] = '\0';
		load(&r, "deep.yaml", deep);
		TAP_OK(r.err == -EINVAL && first_is(&r, ":1:65: nested deeper than 64 levels"),
		       "nesting deeper than 64 levels is refused before loading");
		show(&r);
		done(&r);
	}

	/* A file that cannot be read. */
	memset(&r, 0, sizeof(r));
	r.path = "/nonexistent/sluice.yaml";
	r.err = sl_config_load(r.path, &r.cfg, &r.diag);
	TAP_OK(r.err == -ENOENT && sl_diag_count(&r.diag) == 1 &&
		   first_is(&r, ": cannot read the file: No such file or directory"),
	       "a missing file is -ENOENT with one message");
	done(&r);
	memset(&r, 0, sizeof(r));
	r.path = tmpdir;
	r.err = sl_config_load(r.path, &r.cfg, &r.diag);
	TAP_OK(r.err == -EISDIR && sl_diag_count(&r.diag) == 1, "a directory is refused");
	done(&r);
}

/* Rules that involve several keys. */
static void test_cross_checks(void)
{
	struct run r;

	put("c.pem", "c\n");
	put("k.pem", "k\n");
	expect_one("TLS listener without a certificate",
		   "listeners:\n  publishers: {tls: 127.0.0.1:7071}\n", 2, 21,
		   "listeners.publishers.tls: a TLS listener needs tls.cert_file and tls.key_file");
	expect_one("certificate without key", "tls:\n  cert_file: c.pem\n", 2, 14,
		   "tls.cert_file is set but tls.key_file is not");
	expect_one("CA without certificate", "tls: {client_ca_file: c.pem}\n", 1, 23,
		   "tls.client_ca_file is set but tls.cert_file is not");
	expect_one("no subscriber listener", "listeners:\n  subscribers: {plain: off}\n", 2, 16,
		   "listeners.subscribers: plain and tls are both off");
	expect_one("two listeners on one port",
		   "listeners:\n  subscribers: {plain: 127.0.0.1:7000}\n  admin: {plain: "
		   "0.0.0.0:7000}\n",
		   3, 18,
		   "listeners.admin.plain: 0.0.0.0:7000 clashes with listeners.subscribers.plain "
		   "(127.0.0.1:7000)");
	expect_one("IPv6 any takes the IPv4 port", "listeners: {admin: {plain: \"[::]:7070\"}}\n",
		   1, 28, "clashes with listeners.publishers.plain (127.0.0.1:7070)");
	expect_one("queue smaller than a frame",
		   "limits: {max_frame_bytes: 1MiB, max_queued_bytes_per_connection: 64KiB}\n", 1,
		   66,
		   "limits.max_queued_bytes_per_connection (64KiB) is smaller than "
		   "limits.max_frame_bytes (1MiB)");
	expect_one("total queue bound smaller than a frame",
		   "limits: {max_frame_bytes: 1MiB, max_queued_bytes_total: 64KiB}\n", 1, 57,
		   "limits.max_queued_bytes_total (64KiB) is smaller than "
		   "limits.max_frame_bytes (1MiB): one large event would pause every publisher");

	load(&r, "pacing_off.yaml", "limits: {max_queued_bytes_total: 0}\n");
	TAP_OK(r.err == 0 && r.cfg.limits.max_queued_bytes_total == 0,
	       "max_queued_bytes_total 0 turns pacing off");
	done(&r);

	load(&r, "ports0.yaml",
	     "listeners:\n  subscribers: {plain: 127.0.0.1:0}\n  publishers: {plain: 127.0.0.1:0}\n"
	     "  admin: {plain: 127.0.0.1:0}\n");
	TAP_OK(r.err == 0, "port 0 on every listener is fine: the kernel picks");
	done(&r);

	load(&r, "v6.yaml", "listeners: {admin: {plain: \"[::1]:7070\"}}\n");
	TAP_OK(r.err == 0, "[::1] and 127.0.0.1 can share a port number");
	done(&r);

	/* SPEC "Listeners": 0.0.0.0:8443 TLS once a certificate is configured. */
	load(&r, "tlsdefault.yaml", "tls: {cert_file: c.pem, key_file: k.pem}\n");
	TAP_OK(r.err == 0 && r.cfg.listeners.subscribers.tls.enabled &&
		   r.cfg.listeners.subscribers.tls.port == 8443 &&
		   !strcmp(r.cfg.listeners.subscribers.tls.host, "0.0.0.0") &&
		   !r.cfg.listeners.publishers.tls.enabled,
	       "a certificate turns on subscribers TLS at 0.0.0.0:8443 (only there)");
	show(&r);
	done(&r);
	load(&r, "tlsoff.yaml",
	     "tls: {cert_file: c.pem, key_file: k.pem}\nlisteners: {subscribers: {tls: off}}\n");
	TAP_OK(r.err == 0 && !r.cfg.listeners.subscribers.tls.enabled,
	       "tls: off keeps it off even with a certificate");
	done(&r);
}

/* Several problems in one file: all reported, in file order, and nothing else. */
static void test_many(void)
{
	struct run r;
	char *printed = NULL;
	size_t len = 0;
	FILE *mem;
	int i;

	load(&r, "many.yaml",
	     "listeners:\n"
	     "  subscribers: {plain: \"0.0.0.0:99999\", auth: sometimes}\n"
	     "retention: {count: 0, age: forever}\n"
	     "bogus: 1\n"
	     "log: {level: loud}\n"
	     "bpf: on\n"
	     "bpf: off\n");
	TAP_OK(r.err == -EINVAL && sl_diag_count(&r.diag) == 7,
	       "seven problems in one file are all reported (got %zu)", sl_diag_count(&r.diag));
	TAP_OK(has_at(&r, 2, 24, "is not a listener address") &&
		   has_at(&r, 2, 47, "expected open or required") &&
		   has_at(&r, 3, 20, "is out of range") && has_at(&r, 3, 28, "not a duration") &&
		   has_at(&r, 4, 1, "unknown key \"bogus\"") &&
		   has_at(&r, 5, 14, "expected debug, info") &&
		   has_at(&r, 7, 1, "key \"bpf\" is already defined at 6:1"),
	       "each at its own position");
	{
		bool sorted = true;
		size_t k;

		unsigned int line, col, prev_line = 0, prev_col = 0;
		size_t plen = strlen(r.path);

		for (k = 0; k < r.diag.stored; k++) {
			if (sscanf(sl_diag_get(&r.diag, k) + plen, ":%u:%u:", &line, &col) != 2 ||
			    line < prev_line || (line == prev_line && col < prev_col))
				sorted = false;
			prev_line = line;
			prev_col = col;
		}
		TAP_OK(sorted, "problems come in file order");
	}
	show(&r);
	done(&r);

	/* More than SL_DIAG_MAX: counted, the first ones kept, the rest summarised. */
	{
		static char text[8192];
		size_t o = 0;

		for (i = 0; i < 150; i++)
			o += snprintf(text + o, sizeof(text) - o, "unknown_%d: 1\n", i);
		load(&r, "flood.yaml", text);
	}
	mem = open_memstream(&printed, &len);
	sl_diag_print(&r.diag, mem);
	fclose(mem);
	TAP_OK(r.err == -EINVAL && sl_diag_count(&r.diag) == 150 && r.diag.stored == SL_DIAG_MAX &&
		   has_at(&r, 1, 1, "unknown_0") && has_at(&r, 100, 1, "unknown_99") &&
		   strstr(printed, "... and 50 more problems not shown\n"),
	       "150 problems: 150 counted, %d kept, the rest summarised", SL_DIAG_MAX);
	free(printed);
	done(&r);
}

/* ---- inline policy sections ----------------------------------------------------------------- */

static const uint8_t sha_abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

static void test_inline(void)
{
	const struct sl_config_app *app;
	struct run r;
	yaml_node_t *n;

	load(&r, "apps.yaml",
	     "plans:\n"
	     "  - name: bronze\n"
	     "    events: {limit: 10000, per: 1d}\n"
	     "    backpressure: {max_queued_bytes: 1MiB, grace: 5s}\n"
	     "applications:\n"
	     "  - id: acme-mobile\n"
	     "    plan: bronze\n"
	     "    api_keys:\n"
	     "      - {sha256: "
	     "\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}\n"
	     "    subscribe: &common [\"stocks.>\", \"trains.*.status\"]\n"
	     "    publish: []\n"
	     "    certificates: [{cn: acme}]\n"
	     "  - id: backend\n"
	     "    subscribe: *common\n"
	     "    publish: [\"stocks.>\", \"trains.*.status\"]\n"
	     "issuers:\n"
	     "  - {name: acme-idp, alg: RS256, audience: sluice}\n");
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0, "inline plans, applications, issuers");
	show(&r);
	TAP_OK(r.cfg.plans.present && r.cfg.plans.count == 1 && r.cfg.plans.mark.line == 2 &&
		   r.cfg.issuers.present && r.cfg.issuers.count == 1 &&
		   r.cfg.applications.present && r.cfg.applications.count == 2,
	       "sections recorded with counts and positions");
	n = r.cfg.doc ? yaml_document_get_node(r.cfg.doc, r.cfg.plans.node) : NULL;
	TAP_OK(n && n->type == YAML_SEQUENCE_NODE && n->start_mark.line + 1 == 2,
	       "the plans node stays reachable in cfg->doc for the policy module");
	TAP_OK(r.cfg.n_apps == 2, "two applications stored");
	app = sl_config_app_find(&r.cfg, "acme-mobile");
	TAP_OK(app && !strcmp(app->plan, "bronze") && app->n_subscribe == 2 &&
		   !strcmp(app->subscribe[0], "stocks.>") &&
		   !strcmp(app->subscribe[1], "trains.*.status") && app->n_publish == 0 &&
		   app->mark.line == 6 && app->mark.col == 5,
	       "acme-mobile: plan, subscribe patterns, no publish, position 6:5");
	TAP_OK(app && app->n_api_keys == 1 && !memcmp(app->api_keys[0], sha_abc, 32),
	       "acme-mobile: the API key hash decoded from upper-case hex");
	app = sl_config_app_find(&r.cfg, "backend");
	TAP_OK(app && !app->plan && app->n_subscribe == 2 && app->n_publish == 2 &&
		   !strcmp(app->publish[1], "trains.*.status") && app->n_api_keys == 0,
	       "backend: subscribe through an alias, publish patterns");
	TAP_OK(!sl_config_app_find(&r.cfg, "nobody"), "an unknown id is not found");
	{
		/* The sections print as written and load back to the same applications. */
		char *printed = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&printed, &len);
		struct run again;

		sl_config_print(&r.cfg, mem);
		fclose(mem);
		load(&again, "apps-printed.yaml", printed);
		app = sl_config_app_find(&again.cfg, "acme-mobile");
		TAP_OK(again.err == 0 && again.cfg.n_apps == 2 && again.cfg.plans.count == 1 &&
			   again.cfg.issuers.count == 1 && app && app->n_subscribe == 2 &&
			   !strcmp(app->subscribe[0], "stocks.>") && app->n_api_keys == 1 &&
			   !memcmp(app->api_keys[0], sha_abc, 32),
		       "printed inline sections load back to the same applications");
		show(&again);
		done(&again);
		free(printed);
	}
	done(&r);

	expect_one("application without id", "applications:\n  - plan: x\n", 2, 5,
		   "applications[0]: an application needs an id");
	expect_one("application not a mapping", "applications: [acme]\n", 1, 16,
		   "applications[0]: expected a mapping with an id, got \"acme\"");
	expect_one("applications not a list", "applications: {id: a}\n", 1, 15,
		   "applications: expected a list of mappings with an id, got a mapping");
	expect_one("id with a blank", "applications: [{id: \"a b\"}]\n", 1, 21,
		   "applications[0].id: \"a b\" is not a valid name");
	/* a quote or a backslash would break the JSON log lines and the /metrics labels */
	expect_one("id with a quote", "applications: [{id: 'we\"ird'}]\n", 1, 21,
		   "applications[0].id: \"we\\\"ird\" is not a valid name: 1 to 128 bytes without "
		   "blanks, control characters, quotes or backslashes");
	expect_one("plan name with a backslash", "plans: [{name: 'a\\b'}]\n", 1, 16,
		   "plans[0].name: \"a\\\\b\" is not a valid name");
	expect_one("duplicate application", "applications:\n  - id: a\n  - id: b\n  - id: a\n", 4,
		   9, "application \"a\" is already defined at 2:9");
	expect_one(
	    "bad subscribe pattern", "applications:\n  - id: a\n    subscribe: [\"a.>.b\"]\n", 3,
	    17,
	    "applications[0].subscribe[0]: \"a.>.b\" is not a topic pattern: '>' must be the "
	    "last token");
	expect_one("bad publish pattern", "applications:\n  - id: a\n    publish: [\"a..b\"]\n", 3,
		   15, "applications[0].publish[0]: \"a..b\" is not a topic pattern");
	expect_one("subscribe not a list", "applications:\n  - id: a\n    subscribe: \"a.>\"\n", 3,
		   16, "applications[0].subscribe: expected a list of topic patterns, got \"a.>\"");
	expect_one("short sha256", "applications:\n  - id: a\n    api_keys: [{sha256: abc}]\n", 3,
		   25, "applications[0].api_keys[0].sha256: expected the key's SHA-256 as 64 hex");
	expect_one("key as a string", "applications:\n  - id: a\n    api_keys: [secret]\n", 3, 16,
		   "applications[0].api_keys[0]: expected {sha256: HEX}, got \"secret\"");
	expect_one("key without sha256", "applications:\n  - id: a\n    api_keys: [{}]\n", 3, 16,
		   "an API key needs sha256");
	expect_one("an API key's unknown key",
		   "applications:\n  - id: a\n    api_keys: [{sha256: "
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, md5: x}]\n",
		   3, 91, "unknown key \"md5\" in applications[0].api_keys[0]");
	expect_one("an application's unknown key, with a guess",
		   "applications:\n  - id: a\n    plna: gold\n", 3, 5,
		   "unknown key \"plna\" in applications[0]; did you mean \"plan\"?");
	expect_one("one key in two applications",
		   "applications:\n"
		   "  - {id: a, api_keys: [{sha256: "
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad}]}\n"
		   "  - {id: b, api_keys: [{sha256: "
		   "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD}]}\n",
		   3, 33, "this API key is already defined at 2:33");
	expect_one("plan without name", "plans:\n  - {events: {limit: 1}}\n", 2, 5,
		   "plans[0]: every plan needs a name");
	expect_one("duplicate plan", "plans: [{name: p}, {name: p}]\n", 1, 27,
		   "plan \"p\" is already defined at 1:16");
	expect_one("issuer without name", "issuers:\n  - alg: RS256\n", 2, 5,
		   "issuers[0]: every issuer needs a name");
	expect_one("plans not a list", "plans: bronze\n", 1, 8,
		   "plans: expected a list of mappings with a name, got \"bronze\"");

	load(&r, "nullsec.yaml", "applications:\nplans: []\n");
	TAP_OK(r.err == 0 && r.cfg.applications.present && r.cfg.applications.count == 0 &&
		   r.cfg.plans.present && r.cfg.n_apps == 0,
	       "empty sections are present with no entries");
	done(&r);
}

static void test_policies(void)
{
	char real[PATH_MAX], want[PATH_MAX + 64];
	struct run r;

	if (!realpath(tmpdir, real))
		snprintf(real, sizeof(real), "%s", tmpdir);
	put_dir("etc");
	put_dir("etc/policies.d");
	put("etc/policies.d/one.yaml", "plans: []\n");
	put("etc/two.yaml", "plans: []\n");

	/* Relative to the config's directory, not to the working directory. */
	load(&r, "etc/sluice.yaml", "policies:\n  - policies.d/one.yaml\n  - ./two.yaml\n");
	snprintf(want, sizeof(want), "%s/etc/policies.d/one.yaml", real);
	TAP_OK(r.err == 0 && r.cfg.n_policies == 2 && !strcmp(r.cfg.policies[0], want),
	       "policies resolved against the config's directory: %s",
	       r.cfg.n_policies ? r.cfg.policies[0] : "(none)");
	snprintf(want, sizeof(want), "%s/etc/./two.yaml", real);
	TAP_OK(r.cfg.n_policies == 2 && !strcmp(r.cfg.policies[1], want),
	       "second policy file kept in order: %s",
	       r.cfg.n_policies > 1 ? r.cfg.policies[1] : "");
	done(&r);

	load(&r, "etc/missing.yaml", "policies: [one.yaml, policies.d/one.yaml, policies.d]\n");
	TAP_OK(r.err == -EINVAL && sl_diag_count(&r.diag) == 2 &&
		   has_at(&r, 1, 12, "policies[0]: cannot use") &&
		   has_at(&r, 1, 12, "No such file or directory") &&
		   has_at(&r, 1, 43, "policies[2]: ") && has_at(&r, 1, 43, "is not a regular file"),
	       "a missing policy file and a directory are both reported");
	show(&r);
	done(&r);

	load(&r, "etc/nullpol.yaml", "policies:\n");
	TAP_OK(r.err == 0 && r.cfg.n_policies == 0, "policies: with nothing is no files");
	done(&r);

	/*
	 * A file's entries join the config's sections, and the printed config
	 * keeps them in the file: read again, it is the same config, not one
	 * with every entry of the file twice.
	 */
	put("etc/tenants.yaml", "applications:\n  - id: acme\n    subscribe: ['a.>']\n"
				"issuers: []\n");
	load(&r, "etc/merged.yaml",
	     "policies: [tenants.yaml]\napplications:\n  - id: own\n    subscribe: ['o.>']\n");
	TAP_OK(r.err == 0 && r.cfg.n_apps == 2 && !strcmp(r.cfg.apps[0].id, "own") &&
		   !strcmp(r.cfg.apps[1].id, "acme") && r.cfg.n_origins == 1 &&
		   !r.cfg.issuers.present,
	       "a policy file's application follows the config's; its empty list adds nothing");
	show(&r);
	{
		char *printed = NULL;
		size_t printed_len = 0;
		FILE *mem = open_memstream(&printed, &printed_len);
		struct run again;

		TAP_OK(mem && sl_config_print(&r.cfg, mem) == 0, "the merged config prints");
		if (mem)
			fclose(mem);
		TAP_OK(printed && !strstr(printed, "acme") && strstr(printed, "own") &&
			   strstr(printed, "tenants.yaml"),
		       "printed: the config's own application and the file list, not the file's");
		load(&again, "etc/printed.yaml", printed ? printed : "");
		TAP_OK(again.err == 0 && again.cfg.n_apps == 2,
		       "the printed config loads back the same");
		show(&again);
		done(&again);
		free(printed);
	}
	done(&r);

	/* Only the file wrote the section: printed, it is left out (the file still has it). */
	load(&r, "etc/fileonly.yaml", "policies: [tenants.yaml]\n");
	{
		char *printed = NULL;
		size_t printed_len = 0;
		FILE *mem = open_memstream(&printed, &printed_len);

		TAP_OK(r.err == 0 && r.cfg.n_apps == 1 && mem && sl_config_print(&r.cfg, mem) == 0,
		       "a section only a policy file wrote loads");
		if (mem)
			fclose(mem);
		TAP_OK(printed && !strstr(printed, "applications:"),
		       "and is not printed as the config's own");
		free(printed);
	}
	done(&r);
}

/* The shipped demo config must stay valid. */
static void test_demo(void)
{
	static const char *const where[] = { "policies/demo.yaml", "../../policies/demo.yaml" };
	const struct sl_config_app *app;
	struct sl_config cfg;
	struct sl_diag diag = { 0 };
	const char *path = NULL;
	size_t i;
	int err;

	for (i = 0; i < sizeof(where) / sizeof(where[0]) && !path; i++)
		if (access(where[i], R_OK) == 0)
			path = where[i];
	if (!path) {
		TAP_OK(0, "policies/demo.yaml found (run from the repository root)");
		return;
	}
	err = sl_config_load(path, &cfg, &diag);
	sl_diag_print(&diag, stdout);
	TAP_OK(err == 0 && sl_diag_count(&diag) == 0, "policies/demo.yaml is valid");
	TAP_OK(cfg.listeners.subscribers.auth == SL_CONFIG_AUTH_OPEN &&
		   cfg.listeners.subscribers.plain.port == 8080 &&
		   cfg.listeners.publishers.plain.port == 7070 &&
		   cfg.listeners.admin.plain.port == 9090,
	       "demo: open subscribers on 8080, publishers 7070, admin 9090");
	app = sl_config_app_find(&cfg, "demo");
	TAP_OK(app && app->n_subscribe == 1 && !strcmp(app->subscribe[0], ">") &&
		   app->n_publish == 2 && !strcmp(app->publish[0], "demo.>") &&
		   !strcmp(app->publish[1], "stocks.>"),
	       "demo: application demo subscribes to > and publishes demo.> and stocks.>");
	sl_diag_free(&diag);
	sl_config_free(&cfg);
}

/* "prefix[" + n copies of item joined by ", " + "]\n", or NULL. */
static char *long_list(const char *prefix, const char *item, unsigned n)
{
	size_t plen = strlen(prefix), ilen = strlen(item), len = plen + n * (ilen + 2) + 3;
	char *s = malloc(len), *at;
	unsigned i;

	if (!s)
		return NULL;
	at = s + sprintf(s, "%s[", prefix);
	for (i = 0; i < n; i++)
		at += sprintf(at, "%s%s", i ? ", " : "", item);
	strcpy(at, "]\n");
	return s;
}

/* Every list with a bound says which bound a longer one broke, and where the list is. */
static void test_list_bounds(void)
{
	static const struct {
		const char *what, *prefix, *item;
		unsigned n, line, col;
		const char *want;
	} cases[] = {
		{ "policies", "policies: ", "a.yaml", SL_CONFIG_MAX_POLICIES + 1, 1, 11,
		  "policies: 257 files is more than the 256 allowed" },
		{ "subscribe patterns", "applications:\n  - id: a\n    subscribe: ", "a.b",
		  SL_CONFIG_MAX_PATTERNS + 1, 3, 16,
		  "applications[0].subscribe: 1025 patterns is more than the 1024 allowed" },
		{ "publish patterns", "applications:\n  - id: a\n    publish: ", "a.b",
		  SL_CONFIG_MAX_PATTERNS + 1, 3, 14,
		  "applications[0].publish: 1025 patterns is more than the 1024 allowed" },
		{ "API keys", "applications:\n  - id: a\n    api_keys: ", "{sha256: x}",
		  SL_CONFIG_MAX_API_KEYS + 1, 3, 15,
		  "applications[0].api_keys: 65 keys is more than the 64 allowed" },
		{ "certificates", "applications:\n  - id: a\n    certificates: ", "{cn: x}",
		  SL_CONFIG_MAX_API_KEYS + 1, 3, 19,
		  "applications[0].certificates: 65 certificates is more than the 64 allowed" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = long_list(cases[i].prefix, cases[i].item, cases[i].n);

		if (!text) {
			TAP_OK(0, "%s: memory for the list", cases[i].what);
			continue;
		}
		expect_one(cases[i].what, text, cases[i].line, cases[i].col, cases[i].want);
		free(text);
	}
	expect_one("certificates not a list",
		   "applications:\n  - id: a\n    certificates: {cn: x}\n", 3, 19,
		   "applications[0].certificates: expected a list of {sha256: HEX} or {cn: NAME}, "
		   "got a mapping");
	expect_one("API keys not a list", "applications:\n  - id: a\n    api_keys: abc\n", 3, 15,
		   "applications[0].api_keys: expected a list of {sha256: HEX}, got \"abc\"");
	expect_one(
	    "sha256 with a letter past f",
	    "applications:\n  - id: a\n    api_keys: [{sha256: "
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag}]\n",
	    3, 25,
	    "applications[0].api_keys[0].sha256: expected the key's SHA-256 as 64 hex digits "
	    "(printf %s KEY | sha256sum), got "
	    "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff6...\"");
	expect_one("sha256 one digit too long",
		   "applications:\n  - id: a\n    api_keys: [{sha256: "
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0}]\n",
		   3, 25,
		   "applications[0].api_keys[0].sha256: expected the key's SHA-256 as 64 hex");
	expect_one(
	    "certificate sha256 not hex",
	    "applications:\n  - id: a\n    certificates: [{sha256: \"x\"}]\n", 3, 29,
	    "applications[0].certificates[0].sha256: expected the certificate's SHA-256 "
	    "fingerprint as 64 hex digits (openssl x509 -outform DER | sha256sum), got \"x\"");
}

/*
 * listeners.subscribers.origins: stored as RFC 6454 serializations, so that
 * an Origin header matches whatever case the config was written in; every
 * entry a browser could never send is refused with its position.
 */
static void test_origins(void)
{
	static const struct {
		const char *what, *item, *want;
	} bad[] = {
		{ "path", "\"https://app.example.com/app\"",
		  "listeners.subscribers.origins[0]: \"https://app.example.com/app\" is not an "
		  "origin: "
		  "an origin has no path, query or fragment: write SCHEME://HOST[:PORT] with "
		  "nothing "
		  "after it" },
		{ "trailing slash", "\"https://app.example.com/\"",
		  "listeners.subscribers.origins[0]: \"https://app.example.com/\" is not an "
		  "origin: "
		  "an origin has no path, not even a trailing \"/\"" },
		{ "wildcard", "\"*\"",
		  "listeners.subscribers.origins[0]: \"*\" is not an origin: a wildcard is not "
		  "allowed: leave listeners.subscribers.origins out to allow any origin, or list "
		  "each one" },
		{ "no scheme", "app.example.com",
		  "listeners.subscribers.origins[0]: \"app.example.com\" is not an origin: "
		  "expected "
		  "SCHEME://HOST[:PORT], such as https://app.example.com" },
		{ "empty", "\"\"",
		  "listeners.subscribers.origins[0]: \"\" is not an origin: the origin is empty" },
		{ "quoted null", "\"null\"",
		  "listeners.subscribers.origins[0]: \"null\" is not an origin: \"null\" is the "
		  "origin "
		  "of sandboxed frames and local files, shared by unrelated pages: it cannot be "
		  "allowed" },
		{ "YAML null", "~",
		  "listeners.subscribers.origins[0]: expected an origin such as "
		  "https://app.example.com, got nothing (null)" },
		{ "scheme", "\"wss://app.example.com\"",
		  "listeners.subscribers.origins[0]: \"wss://app.example.com\" is not an origin: "
		  "the "
		  "scheme must be http or https" },
		{ "user name", "\"https://me@app.example.com\"",
		  "is not an origin: an origin has no user name or password" },
		{ "query", "\"https://app.example.com?a=1\"",
		  "is not an origin: an origin has no path, query or fragment" },
		{ "port zero", "\"http://localhost:0\"",
		  "is not an origin: the port must be a number from 1 to 65535" },
		{ "port too big", "\"http://localhost:65536\"",
		  "is not an origin: the port must be a number from 1 to 65535" },
		{ "empty port", "\"http://localhost:\"",
		  "is not an origin: the port is missing after" },
		{ "no host", "\"https://:8443\"", "is not an origin: the host is missing" },
		{ "trailing dot", "\"https://app.example.com.\"",
		  "is not an origin: the host has an empty label (a leading, doubled or trailing "
		  "\".\")" },
		{ "blank in host", "\"https://app example.com\"",
		  "is not an origin: the host may hold only letters, digits, \"-\", \"_\" and "
		  "\".\"" },
		{ "non-ASCII host", "\"https://bücher.example\"",
		  "is not an origin: write an internationalized host name in its ASCII (xn--) "
		  "form" },
		{ "IPv6 unclosed", "\"http://[::1:8080\"",
		  "is not an origin: an IPv6 address needs its closing \"]\"" },
		{ "IPv6 bad", "\"http://[fe80::1%25eth0]\"",
		  "is not an origin: the host is not an IPv6 address" },
		{ "mapping", "{a: 1}",
		  "listeners.subscribers.origins[0]: expected an origin such as "
		  "https://app.example.com, got a mapping" },
	};
	const char *prefix = "listeners:\n  subscribers:\n    origins: [";
	struct sl_config_listener any = { 0 };
	const struct sl_config_listener *l;
	char text[512], origin[SL_CONFIG_ORIGIN_BUF], *printed = NULL, *big;
	size_t printed_len = 0, i;
	struct run r, again;
	FILE *mem;

	load(&r, "origins.yaml",
	     "listeners:\n"
	     "  subscribers:\n"
	     "    origins:\n"
	     "      - HTTPS://App.Example.COM\n"
	     "      - \"http://localhost:3000\"\n"
	     "      - \"https://a.example.com:443\"\n"
	     "      - \"http://[0:0::1]:80\"\n"
	     "      - \"http://127.0.0.1:08080\"\n");
	l = &r.cfg.listeners.subscribers;
	TAP_OK(r.err == 0 && sl_diag_count(&r.diag) == 0 && l->origins_set && l->n_origins == 5,
	       "a list of origins loads (err %d, %u origins)", r.err, l->n_origins);
	show(&r);
	if (l->n_origins == 5)
		TAP_OK(!strcmp(l->origins[0], "https://app.example.com") &&
			   !strcmp(l->origins[1], "http://localhost:3000") &&
			   !strcmp(l->origins[2], "https://a.example.com") &&
			   !strcmp(l->origins[3], "http://[::1]") &&
			   !strcmp(l->origins[4], "http://127.0.0.1:8080"),
		       "origins are kept serialized: scheme and host lowercased, default port "
		       "dropped, IPv6 compressed (%s %s %s %s %s)",
		       l->origins[0], l->origins[1], l->origins[2], l->origins[3], l->origins[4]);
	{
		static const struct {
			const char *origin;
			bool allowed;
		} h[] = {
			{ "https://app.example.com", true },
			{ "HTTPS://APP.EXAMPLE.COM", true },
			{ "https://app.example.com:443", true },
			{ "http://localhost:3000", true },
			{ "http://[::1]", true },
			{ "http://127.0.0.1:8080", true },
			{ "http://app.example.com", false },	   /* another scheme */
			{ "https://app.example.com:8443", false }, /* another port */
			{ "http://localhost", false },
			{ "https://evil.example.com", false },
			{ "https://app.example.com.evil.example", false },
			{ "https://app.example.com/", false },
			{ "null", false },
			{ "", false },
			{ "*", false },
		};

		for (i = 0; i < sizeof(h) / sizeof(h[0]); i++)
			TAP_OK(sl_config_origin_allowed(l, h[i].origin, strlen(h[i].origin)) ==
				   h[i].allowed,
			       "Origin \"%s\" is %s", h[i].origin,
			       h[i].allowed ? "allowed" : "refused");
		TAP_OK(sl_config_origin_allowed(l, "https://app.example.comXX", 23),
		       "the header's length is used, not a NUL");
	}
	TAP_OK(sl_config_origin_allowed(&any, "https://evil.example.com", 24) &&
		   sl_config_origin_allowed(&any, "null", 4),
	       "without the key any Origin is allowed, null included");

	mem = open_memstream(&printed, &printed_len);
	TAP_OK(mem && sl_config_print(&r.cfg, mem) == 0, "sl_config_print with origins succeeds");
	if (mem)
		fclose(mem);
	TAP_OK(printed && strstr(printed, "  origins: [\"https://app.example.com\", "
					  "\"http://localhost:3000\", \"https://a.example.com\", "
					  "\"http://[::1]\", \"http://127.0.0.1:8080\"]\n"),
	       "origins are printed as a list under subscribers");
	load(&again, "printed.yaml", printed ? printed : "");
	TAP_OK(again.err == 0 && again.cfg.listeners.subscribers.n_origins == 5 &&
		   !strcmp(again.cfg.listeners.subscribers.origins[3], "http://[::1]"),
	       "the printed origins load back");
	done(&again);
	free(printed);
	done(&r);

	/* Printed without the key, a config says the same: any origin. */
	load(&r, "none.yaml", "bpf: off\n");
	printed = NULL;
	mem = open_memstream(&printed, &printed_len);
	if (mem) {
		sl_config_print(&r.cfg, mem);
		fclose(mem);
	}
	TAP_OK(printed && !strstr(printed, "origins"), "an unset origins list is not printed");
	free(printed);
	done(&r);

	load(&r, "empty.yaml", "listeners: {subscribers: {origins: []}}\n");
	l = &r.cfg.listeners.subscribers;
	TAP_OK(r.err == 0 && l->origins_set && l->n_origins == 0 &&
		   !sl_config_origin_allowed(l, "https://app.example.com", 23),
	       "origins: [] loads and allows no browser page");
	done(&r);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s]\n", prefix, bad[i].item);
		expect_one(bad[i].what, text, 3, 15, bad[i].want);
	}
	expect_one("null list", "listeners:\n  subscribers:\n    origins: ~\n", 3, 14,
		   "listeners.subscribers.origins: expected a list of origins, got nothing (null): "
		   "leave the key out to allow any origin, or write [] to allow no browser page");
	expect_one("not a list", "listeners:\n  subscribers:\n    origins: https://a.example\n", 3,
		   14,
		   "listeners.subscribers.origins: expected a list of origins such as "
		   "https://app.example.com, got \"https://a.example\"");
	expect_one(
	    "same origin twice",
	    "listeners:\n  subscribers:\n    origins: [\"https://a.example\", "
	    "\"HTTPS://A.example:443\"]\n",
	    3, 36,
	    "listeners.subscribers.origins[1]: \"HTTPS://A.example:443\" is the same origin as "
	    "the one at 3:15");
	/* 255 bytes is the bound; 256 is refused. */
	memset(text, 'a', sizeof(text));
	memcpy(text, "https://", 8);
	text[255] = '\0';
	TAP_OK(sl_config_parse_origin(text, 255, origin, NULL) == 0,
	       "an origin of 255 bytes is accepted");
	text[255] = 'a';
	text[256] = '\0';
	TAP_OK(sl_config_parse_origin(text, 256, origin, NULL) == -EINVAL,
	       "an origin of 256 bytes is refused");
	{
		char yaml[700];

		snprintf(yaml, sizeof(yaml), "%s\"%s\"]\n", prefix, text);
		expect_one("too long", yaml, 3, 15,
			   "is not an origin: an origin is at most 255 bytes");
	}
	big = long_list("listeners:\n  subscribers:\n    origins: ", "\"https://a.example\"",
			SL_CONFIG_MAX_ORIGINS + 1);
	if (big) {
		/* Only the bound is reported: the entries are not read. */
		expect_one("too many", big, 3, 14,
			   "listeners.subscribers.origins: 65 origins is more than the 64 allowed");
		free(big);
	}
}

/* The file fails with exactly one problem, and it is exactly rest (":LINE:COL: message"). */
static void expect_exactly(const char *what, const char *name, const char *text, const char *rest)
{
	struct run r;
	bool ok;

	load(&r, name, text);
	ok = r.err == -EINVAL && sl_diag_count(&r.diag) == 1 && first_is(&r, rest);
	TAP_OK(ok, "%s: one problem, exactly \"%s\"", what, rest);
	if (!ok)
		show(&r);
	done(&r);
}

#define FP_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define FP_B "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

/*
 * mTLS identities, like API keys, belong to one application each: the
 * gateway's lookup must never have two to choose from.
 */
static void test_certificate_identities(void)
{
	char want[2 * PATH_MAX + 128];
	struct run r;

	expect_exactly("one fingerprint in two applications", "fp2.yaml",
		       "applications:\n"
		       "  - {id: a, certificates: [{sha256: " FP_A "}]}\n"
		       "  - {id: b, certificates: [{sha256: " FP_B "}, {sha256: " FP_A "}]}\n",
		       ":3:113: this certificate fingerprint is already defined for application "
		       "\"a\" at 2:37");
	expect_exactly("one fingerprint in two applications, in other letters", "fpcase.yaml",
		       "applications:\n"
		       "  - {id: a, certificates: [{sha256: " FP_A "}]}\n"
		       "  - {id: b, certificates: [{sha256: "
		       "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD}]}\n",
		       ":3:37: this certificate fingerprint is already defined for application "
		       "\"a\" at 2:37");
	expect_exactly("one CN in two applications", "cn2.yaml",
		       "applications:\n"
		       "  - id: a\n"
		       "    certificates: [{cn: backend}]\n"
		       "  - id: b\n"
		       "    certificates:\n"
		       "      - {cn: frontend}\n"
		       "      - {cn: backend}\n",
		       ":7:14: certificate CN \"backend\" is already defined for application \"a\" "
		       "at 3:25");
	/* Within one application it is harmless, but reported as a repeated API key is. */
	expect_exactly("one fingerprint twice in one application", "fp1.yaml",
		       "applications:\n"
		       "  - {id: a, certificates: [{sha256: " FP_A "}, {sha256: " FP_A "}]}\n",
		       ":2:113: this certificate fingerprint is already defined for application "
		       "\"a\" at 2:37");

	{
		/* The gateway reads a certificate's CN up to SL_CONFIG_MAX_CN bytes. */
		char text[2 * SL_CONFIG_MAX_CN + 128], rest[128];
		int at =
		    snprintf(text, sizeof(text), "applications:\n  - {id: a, certificates: [{cn: ");

		memset(text + at, 'x', SL_CONFIG_MAX_CN);
		snprintf(text + at + SL_CONFIG_MAX_CN, sizeof(text) - at - SL_CONFIG_MAX_CN,
			 "}]}\n");
		load(&r, "cnmax.yaml", text);
		TAP_OK(r.err == 0 && r.cfg.n_apps == 1 && r.cfg.apps[0].n_cert_cn == 1,
		       "a CN of %d bytes is taken", SL_CONFIG_MAX_CN);
		show(&r);
		done(&r);
		snprintf(text + at, sizeof(text) - at, "%0*d}]}\n", SL_CONFIG_MAX_CN + 1, 0);
		snprintf(rest, sizeof(rest),
			 ":2:33: applications[0].certificates[0].cn: a common name of %d bytes; at "
			 "most %d",
			 SL_CONFIG_MAX_CN + 1, SL_CONFIG_MAX_CN);
		expect_exactly("a CN longer than the gateway reads", "cnlong.yaml", text, rest);
	}

	load(&r, "kinds.yaml",
	     "applications:\n"
	     "  - {id: a, certificates: [{sha256: " FP_A "}, {cn: backend}]}\n"
	     "  - {id: b, certificates: [{sha256: " FP_B "}, {cn: Backend}, {cn: \"backend \"}]}\n"
	     "  - {id: c, api_keys: [{sha256: " FP_B "}], certificates: [{cn: " FP_A "}]}\n");
	TAP_OK(r.err == 0 && r.cfg.n_apps == 3 && r.cfg.apps[0].n_cert_sha256 == 1 &&
		   r.cfg.apps[0].n_cert_cn == 1 && r.cfg.apps[1].n_cert_cn == 2,
	       "CNs are told apart byte for byte, and a fingerprint, a CN and an API key never "
	       "clash with each other");
	show(&r);
	done(&r);

	/*
	 * Across files: the config's own applications come before a policy
	 * file's, so the repeat is the file's and the config is named.
	 */
	put_dir("certs");
	put("certs/tenants.yaml",
	    "applications:\n  - id: tenant\n    certificates: [{cn: shared}]\n");
	load(&r, "certs/sluice.yaml",
	     "policies: [tenants.yaml]\n"
	     "applications:\n"
	     "  - {id: own, certificates: [{cn: shared}]}\n");
	if (r.cfg.n_policies == 1)
		snprintf(want, sizeof(want),
			 "%s:3:25: certificate CN \"shared\" is already defined for application "
			 "\"own\" at %s:3:35",
			 r.cfg.policies[0], r.path);
	TAP_OK(
	    r.err == -EINVAL && r.cfg.n_policies == 1 && sl_diag_count(&r.diag) == 1 &&
		!strcmp(sl_diag_get(&r.diag, 0), want),
	    "one CN in a policy file and in the config: reported in the file, naming the config");
	show(&r);
	done(&r);
}

/* sl_problems, the sorted collection both loaders report through. */
static int add_problem(struct sl_problems *ps, unsigned rank, unsigned long line, const char *path,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_problem(struct sl_problems *ps, unsigned rank, unsigned long line, const char *path,
		       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sl_problems_vadd(ps, rank, line, 1, path, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *problem_file(const void *ctx, unsigned rank)
{
	static const char *const files[] = { "main.yaml", "a.yaml", "b.yaml" };

	(void)ctx;
	return rank < 3 ? files[rank] : "?";
}

static void test_problems(void)
{
	static const char *const want[] = {
		"main.yaml:1:1: first", "main.yaml:7:1: plans[0].x: bad", "main.yaml:7:1: other",
		"a.yaml:2:1: in a",	"b.yaml:3:1: %d kept as text",
	};
	struct sl_problems ps = { 0 };
	struct sl_diag diag;
	bool ok = true;
	size_t i;

	sl_diag_init(&diag);
	add_problem(&ps, 2, 3, NULL, "%s", "%d kept as text");
	add_problem(&ps, 0, 7, "plans[0].x", "bad");
	add_problem(&ps, 1, 2, NULL, "in %s", "a");
	add_problem(&ps, 0, 7, "plans[1].x", "bad");
	add_problem(&ps, 0, 7, NULL, "other");
	add_problem(&ps, 0, 1, NULL, "first");
	sl_problems_flush(&ps, &diag, problem_file, NULL);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ok &= sl_diag_get(&diag, i) && !strcmp(sl_diag_get(&diag, i), want[i]);
	TAP_OK(ok && sl_diag_count(&diag) == 5 && !ps.items && !ps.n,
	       "problems: in file order, then line; one body at one place once, whichever path");
	sl_diag_free(&diag);

	sl_diag_init(&diag);
	for (i = 0; i < SL_PROBLEMS_MAX + 5; i++)
		ok &= add_problem(&ps, 0, SL_PROBLEMS_MAX + 5 - i, NULL, "p%zu", i) == 0;
	sl_problems_flush(&ps, &diag, problem_file, NULL);
	TAP_OK(ok && sl_diag_count(&diag) == SL_PROBLEMS_MAX + 5 && ps.dropped == 0 &&
		   sl_diag_get(&diag, 0) && !strcmp(sl_diag_get(&diag, 0), "main.yaml:6:1: p9999"),
	       "problems: past %d they are counted, not kept; those kept are still sorted",
	       SL_PROBLEMS_MAX);
	sl_diag_free(&diag);
}

/* sl_diag_merge: separate checks (config, issuers, plans) read as one list in file order. */
static void test_diag_merge(void)
{
	static const char *const want[] = {
		"main.yaml: no position",
		"main.yaml:2:5: from the plans",
		"main.yaml:9:1: from the config",
		"main.yaml:9:1: from the issuers",
		"main.yaml:9:1: from the issuers, again",
		"main.yaml:12: a line only",
		"a.yaml:1:1: in a, from the config",
		"b.yaml:3:7: in b, from the plans",
	};
	struct sl_diag parts[3], diag;
	bool ok = true;
	size_t i;

	sl_diag_init(&diag);
	for (i = 0; i < 3; i++)
		sl_diag_init(&parts[i]);
	sl_diag_add_ranked(&parts[0], 0, "main.yaml", 9, 1, "from the config");
	sl_diag_add_ranked(&parts[0], 1, "a.yaml", 1, 1, "in a, from the config");
	sl_diag_add_ranked(&parts[0], 0, "main.yaml", 12, 0, "a line only");
	sl_diag_add_ranked(&parts[1], 0, "main.yaml", 9, 1, "from the issuers");
	sl_diag_add_ranked(&parts[1], 0, "main.yaml", 9, 1, "from the issuers, again");
	sl_diag_add_ranked(&parts[1], 0, "main.yaml", 0, 0, "no position");
	sl_diag_add_ranked(&parts[2], 2, "b.yaml", 3, 7, "in b, from the plans");
	sl_diag_add_ranked(&parts[2], 0, "main.yaml", 2, 5, "from the plans");
	sl_diag_merge(&diag, parts, 3);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ok &= sl_diag_get(&diag, i) && !strcmp(sl_diag_get(&diag, i), want[i]);
	TAP_OK(ok && sl_diag_count(&diag) == 8 && diag.stored == 8,
	       "diag merge: by file, line and column; one place keeps the parts' order");
	for (i = 0; i < 3; i++)
		ok &= !parts[i].msgs && !parts[i].stored && !parts[i].count;
	TAP_OK(ok, "diag merge: the parts are left empty");
	if (!ok)
		for (i = 0; i < diag.stored; i++)
			printf("# %s\n", sl_diag_get(&diag, i));
	sl_diag_free(&diag);

	/* 150 late problems in one part, 10 early ones in another: the early ones are kept. */
	sl_diag_init(&diag);
	sl_diag_add(&diag, "main.yaml", 0, 0, "already there");
	for (i = 0; i < 150; i++)
		sl_diag_add_ranked(&parts[0], 0, "main.yaml", 100 + i, 1, "late %zu", i);
	for (i = 0; i < 10; i++)
		sl_diag_add_ranked(&parts[1], 0, "main.yaml", 1 + i, 1, "early %zu", i);
	sl_diag_merge(&diag, parts, 2);
	ok = sl_diag_count(&diag) == 161 && diag.stored == SL_DIAG_MAX &&
	     !strcmp(sl_diag_get(&diag, 0), "main.yaml: already there") &&
	     !strcmp(sl_diag_get(&diag, 1), "main.yaml:1:1: early 0") &&
	     !strcmp(sl_diag_get(&diag, 10), "main.yaml:10:1: early 9") &&
	     !strcmp(sl_diag_get(&diag, SL_DIAG_MAX - 1), "main.yaml:188:1: late 88");
	TAP_OK(ok,
	       "diag merge: past %d problems are counted; those kept are the first in file order",
	       SL_DIAG_MAX);
	sl_diag_free(&diag);
}

/* sl_node_get, which every loader's key lookups go through. */
static void test_node_get(void)
{
	static const char text[] = "a: 1\nb: [x]\na: 2\n[k]: 3\n? {m: 1}\n: 4\nc:\n";
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *list, *v;

	if (!yaml_parser_initialize(&parser)) {
		TAP_OK(0, "yaml parser");
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, sizeof(text) - 1);
	if (!yaml_parser_load(&parser, &doc)) {
		TAP_OK(0, "the test document parses");
		yaml_parser_delete(&parser);
		return;
	}
	root = yaml_document_get_root_node(&doc);
	v = sl_node_get(&doc, root, "a");
	TAP_OK(v && v->type == YAML_SCALAR_NODE && !strcmp((char *)v->data.scalar.value, "2"),
	       "a repeated key gives its last value");
	list = sl_node_get(&doc, root, "b");
	TAP_OK(list && list->type == YAML_SEQUENCE_NODE, "a value may be a list");
	TAP_OK(list && !sl_node_get(&doc, list, "x"), "a list is not a mapping: no value");
	TAP_OK(!sl_node_get(&doc, root, "k") && !sl_node_get(&doc, root, "m"),
	       "keys that are not strings are never matched");
	TAP_OK(!sl_node_get(&doc, root, "A") && !sl_node_get(&doc, root, ""),
	       "a key matches exactly (case, empty)");
	v = sl_node_get(&doc, root, "c");
	TAP_OK(v && sl_node_is_null(v), "a key with no value gives its null node");
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

int main(void)
{
	if (tmpfiles_init("config"))
		return 2;
	test_durations();
	test_sizes();
	test_counts();
	test_formatting();
	test_node_get();
	test_problems();
	test_diag_merge();
	test_addresses();
	test_defaults();
	test_full();
	test_switches_and_modes();
	test_write_threads();
	test_control_group();
	test_cgroup_relative();
	test_disabled_listeners();
	test_errors();
	test_list_bounds();
	test_origins();
	test_certificate_identities();
	test_cross_checks();
	test_many();
	test_inline();
	test_policies();
	test_demo();
	cleanup();
	return tap_done();
}
