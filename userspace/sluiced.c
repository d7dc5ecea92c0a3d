// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sluiced: for now the kernel meter's host agent. It joins its cgroup, loads
 * or adopts the meter, registers the gateway's listener ports, prints the
 * meter's live counters and logs one JSON line per closed connection. The
 * gateway data path (listeners, WebSocket, SSE, routing) plugs in here.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kern/kern.h"

#define MAX_PORTS 16

struct port_arg {
	__u16 port;
	enum sl_framing framing;
};

struct options {
	const char *pin_root;
	const char *cgroup;
	struct port_arg ports[MAX_PORTS];
	int nports;
	int interval;
	int duration;
	int cleanup;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sluiced [--pin-root DIR] [--cgroup DIR] [--port "
		   "PORT[:{ws|len4|sse|tls|raw}]]...\n"
		   "               [--interval SECS] [--duration SECS]\n"
		   "       sluiced --cleanup [--pin-root DIR]\n");
}

static int parse_port(const char *arg, struct port_arg *out)
{
	char *end;
	unsigned long port = strtoul(arg, &end, 10);
	static const char *const names[SL_FRAMING__MAX] = { "raw", "ws", "len4", "sse", "tls" };
	int i;

	if (end == arg || port == 0 || port > 65535)
		return -EINVAL;
	out->port = (__u16)port;
	out->framing = SL_FRAMING_RAW;
	if (*end == '\0')
		return 0;
	if (*end != ':')
		return -EINVAL;
	for (i = 0; i < SL_FRAMING__MAX; i++) {
		if (strcmp(end + 1, names[i]) == 0) {
			out->framing = (enum sl_framing)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_close(void *ctx, const struct sl_close_record *r)
{
	(void)ctx;
	fprintf(stderr,
		"{\"msg\":\"conn_close\",\"id\":%llu,\"app\":%u,\"lport\":%u,\"rport\":%u,"
		"\"events\":%llu,\"replies\":%llu,\"bytes\":%llu,\"drops\":%llu,"
		"\"bytes_acked\":%llu,\"srtt_us\":%u,\"retrans\":%u,\"duration_ms\":%llu}\n",
		(unsigned long long)r->cookie, r->app_slot, r->local_port, r->remote_port,
		(unsigned long long)r->events, (unsigned long long)r->replies,
		(unsigned long long)r->bytes, (unsigned long long)r->drops,
		(unsigned long long)r->bytes_acked, r->srtt_us, r->total_retrans,
		(unsigned long long)(r->duration_ns / 1000000));
}

static void print_counters(struct sl_kern *k)
{
	struct sl_drop_count drops[SL_DROP__MAX];
	__u64 stats[SL_STAT__MAX];
	int i;

	if (sl_kern_stats(k, stats) || sl_kern_drops(k, drops))
		return;
	printf("meter:");
	for (i = 0; i < SL_STAT__MAX; i++)
		printf(" %s=%llu", sl_meter_stat_name((enum sl_meter_stat)i),
		       (unsigned long long)stats[i]);
	printf(" | drops:");
	for (i = 1; i < SL_DROP__MAX; i++)
		printf(" %s=%llu", sl_drop_reason_name((enum sl_drop_reason)i),
		       (unsigned long long)drops[i].frames);
	printf("\n");
	fflush(stdout);
}

/* The daemon's own cgroup: its sockets inherit it, which is how sock_ops finds them. */
static int default_cgroup(char *buf, size_t len)
{
	char root[PATH_MAX - 16];
	int ret = sl_kern_cgroup2_root(root, sizeof(root));

	if (ret)
		return ret;
	snprintf(buf, len, "%s/sluice", root);
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'r' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "port", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .pin_root = SL_KERN_DEFAULT_PIN_ROOT, .interval = 1 };
	struct sl_kern_opts kopts = { 0 };
	char err[512], cgroup[PATH_MAX];
	struct sl_kern *k;
	time_t start, last = 0;
	int c, i, ret;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.pin_root = optarg;
			break;
		case 'g':
			o.cgroup = optarg;
			break;
		case 'p':
			if (o.nports == MAX_PORTS || parse_port(optarg, &o.ports[o.nports])) {
				fprintf(stderr,
					"sluiced: bad --port %s (PORT[:FRAMING], at most %d)\n",
					optarg, MAX_PORTS);
				return 2;
			}
			o.nports++;
			break;
		case 'i':
			o.interval = atoi(optarg) > 0 ? atoi(optarg) : 1;
			break;
		case 'd':
			o.duration = atoi(optarg);
			break;
		case 'C':
			o.cleanup = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (o.cleanup) {
		if (sl_kern_cleanup(o.pin_root, err, sizeof(err))) {
			fprintf(stderr, "sluiced: %s\n", err);
			return 1;
		}
		return 0;
	}

	if (!o.cgroup) {
		ret = default_cgroup(cgroup, sizeof(cgroup));
		if (ret) {
			fprintf(stderr, "sluiced: cannot create the sluice cgroup: %s\n",
				strerror(-ret));
			return 1;
		}
		o.cgroup = cgroup;
	}
	/* Join before any listener exists: sockets keep the cgroup they were created in. */
	ret = sl_kern_cgroup_join(o.cgroup);
	if (ret) {
		fprintf(stderr, "sluiced: cannot join cgroup %s: %s\n", o.cgroup, strerror(-ret));
		return 1;
	}
	kopts.pin_root = o.pin_root;
	kopts.cgroup_path = o.cgroup;
	ret = sl_kern_open(&k, &kopts, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 1;
	}
	for (i = 0; i < o.nports; i++) {
		ret = sl_kern_port_add(k, o.ports[i].port, o.ports[i].framing);
		if (ret) {
			fprintf(stderr, "sluiced: cannot meter port %u: %s\n", o.ports[i].port,
				strerror(-ret));
			sl_kern_close(k);
			return 1;
		}
	}
	fprintf(stderr,
		"{\"msg\":\"meter_ready\",\"pin_root\":\"%s\",\"cgroup\":\"%s\",\"ports\":%d}\n",
		o.pin_root, o.cgroup, o.nports);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = time(NULL);
	while (!stopping) {
		sl_kern_closes_poll(k, log_close, NULL, 200);
		if (time(NULL) - last >= o.interval) {
			last = time(NULL);
			print_counters(k);
		}
		if (o.duration > 0 && time(NULL) - start >= o.duration)
			break;
	}
	/* Pins stay: a restarted sluiced adopts them with every counter. */
	sl_kern_close(k);
	return 0;
}
