// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "bench/sandbox.h"
#include "kern/kern.h"

#define BENCH_PIN_PARENT "/sys/fs/bpf"

volatile sig_atomic_t sl_bench_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	sl_bench_stop = 1;
}

int sl_bench_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_stop_signal };
	size_t i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	/* A reader that went away must show up as EPIPE on send, not kill us before cleanup. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int sl_bench_signals_block(sigset_t *old)
{
	sigset_t set;
	int ret;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	ret = pthread_sigmask(SIG_BLOCK, &set, old);
	return -ret;
}

void sl_bench_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The cgroup v2 path of this process ("0::/path" in /proc/self/cgroup), under root. */
static void find_home(struct sl_bench_sandbox *sb, const char *root)
{
	char line[PATH_MAX + 16];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int n;

	n = snprintf(sb->home, sizeof(sb->home), "%s", root);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line + 3, "/") != 0 &&
		    (size_t)snprintf(sb->home + n, sizeof(sb->home) - n, "%s", line + 3) >=
			sizeof(sb->home) - n)
			sb->home[n] = '\0'; /* too long to go back to: the root will do */
		break;
	}
	fclose(f);
}

int sl_bench_sandbox_enter(struct sl_bench_sandbox *sb, char *err, size_t errlen)
{
	char root[PATH_MAX];
	int ret;

	memset(sb, 0, sizeof(*sb));
	ret = sl_kern_cgroup2_root(root, sizeof(root));
	if (ret) {
		set_err(err, errlen,
			"no cgroup v2 mount found in /proc/mounts (%s): mount one, e.g. "
			"`mount -t cgroup2 none /sys/fs/cgroup/unified`",
			strerror(-ret));
		return ret;
	}
	find_home(sb, root);
	if ((size_t)snprintf(sb->cgroup, sizeof(sb->cgroup), "%s/sluice-bench-%d", root,
			     (int)getpid()) >= sizeof(sb->cgroup) ||
	    (size_t)snprintf(sb->pin_root, sizeof(sb->pin_root), "%s/sluice-bench-%d",
			     BENCH_PIN_PARENT, (int)getpid()) >= sizeof(sb->pin_root)) {
		set_err(err, errlen, "cgroup path under %s is too long", root);
		return -ENAMETOOLONG;
	}
	/*
	 * A directory with our pid can only be left over from an earlier process
	 * that had the same pid and was killed: it is ours to reuse. Stale pins
	 * would carry old counters and an attached link into this run.
	 */
	sl_kern_cleanup(sb->pin_root, NULL, 0);
	if (mkdir(sb->cgroup, 0755)) {
		if (errno != EEXIST) {
			ret = -errno;
			set_err(err, errlen, "cannot create cgroup %s: %s (run as root)",
				sb->cgroup, strerror(-ret));
			return ret;
		}
	}
	sb->made_cgroup = true;
	ret = sl_kern_cgroup_join(sb->cgroup);
	if (ret) {
		set_err(err, errlen, "cannot join cgroup %s: %s", sb->cgroup, strerror(-ret));
		return ret;
	}
	sb->joined = true;
	return 0;
}

int sl_bench_sandbox_leave(struct sl_bench_sandbox *sb, char *err, size_t errlen)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	char kerr[512] = "";
	char root[PATH_MAX];
	int ret = 0, r, tries;

	if (sb->pin_root[0]) {
		r = sl_kern_cleanup(sb->pin_root, kerr, sizeof(kerr));
		if (r) {
			ret = r;
			set_err(err, errlen, "%s", kerr);
		}
	}
	if (sb->joined) {
		r = sl_kern_cgroup_join(sb->home);
		if (r && sl_kern_cgroup2_root(root, sizeof(root)) == 0)
			r = sl_kern_cgroup_join(root);
		if (r && !ret) {
			ret = r;
			set_err(err, errlen, "cannot leave cgroup %s: %s", sb->cgroup,
				strerror(-r));
		}
		sb->joined = false;
	}
	if (sb->made_cgroup) {
		/*
		 * The kernel may still be finishing the exit of a thread we joined a
		 * moment ago (EBUSY); give it a short, bounded grace.
		 */
		r = 0;
		for (tries = 0; tries < 50; tries++) {
			if (rmdir(sb->cgroup) == 0 || errno == ENOENT) {
				r = 0;
				break;
			}
			r = -errno;
			if (r != -EBUSY)
				break;
			nanosleep(&pause, NULL);
		}
		if (r && !ret) {
			ret = r;
			set_err(err, errlen, "cannot remove cgroup %s: %s", sb->cgroup,
				strerror(-r));
		}
		sb->made_cgroup = false;
	}
	return ret;
}
