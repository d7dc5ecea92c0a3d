/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A benchmark's private place in the system: its own cgroup v2 directory
 * (the meter attaches sock_ops there, so only the benchmark's sockets are
 * seen) and its own BPF pin root, both named after the pid and both removed
 * at exit, including after SIGINT/SIGTERM.
 */
#ifndef SLUICE_BENCH_SANDBOX_H
#define SLUICE_BENCH_SANDBOX_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct sl_bench_sandbox {
	char cgroup[PATH_MAX];	 /* <cgroup2 mount>/sluice-bench-<pid> */
	char home[PATH_MAX];	 /* the cgroup we came from: rmdir needs us out */
	char pin_root[PATH_MAX]; /* /sys/fs/bpf/sluice-bench-<pid> */
	bool made_cgroup;
	bool joined;
};

/*
 * Set by SIGINT/SIGTERM/SIGHUP. A signal handler cannot be handed state, so
 * this one flag is global; every benchmark loop polls it.
 */
extern volatile sig_atomic_t sl_bench_stop;

/* Installs the stop handler (without SA_RESTART, so a blocked main thread wakes). */
int sl_bench_signals_install(void);

/*
 * Blocks the stop signals in the calling thread, saving the old mask: call it
 * around pthread_create so that workers never see EINTR in a timed loop and
 * the signal goes to the main thread.
 */
int sl_bench_signals_block(sigset_t *old);
void sl_bench_signals_restore(const sigset_t *old);

/* Creates the cgroup and joins it; fills the pin root path (sl_kern_open creates it). */
int sl_bench_sandbox_enter(struct sl_bench_sandbox *sb, char *err, size_t errlen);

/*
 * Removes the meter's pins (detaching its links), moves the process back to
 * where it came from and removes the cgroup. Safe on a half-entered sandbox;
 * close the sl_kern handle first.
 */
int sl_bench_sandbox_leave(struct sl_bench_sandbox *sb, char *err, size_t errlen);

#endif
