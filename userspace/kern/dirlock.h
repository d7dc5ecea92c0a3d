/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One live daemon per directory. Two sluiced on one bpf_pin_dir would share
 * application slots and counters that each believes it owns, and a second
 * one on a state_dir rewrites the journal under the first (whose later
 * appends then go to an unlinked file and are lost at its next start). The
 * claim is an exclusive flock on the directory: the kernel drops it when the
 * holder dies, SIGKILL included, so unlike a pid file nothing stale outlives
 * a crash, and it works on bpffs, where no regular file can be created.
 */
#ifndef SLUICE_KERN_DIRLOCK_H
#define SLUICE_KERN_DIRLOCK_H

#include <sys/types.h>

/* Creates path and its missing parents with mode. Returns 0 or -errno. */
int sl_mkdir_p(const char *path, mode_t mode);

/*
 * Claims dir (which must exist) for this process while the returned fd is
 * open (close-on-exec). A holder on its way out (a daemon draining after
 * SIGTERM) is waited for up to wait_ms. Returns the fd, -EWOULDBLOCK when
 * another process still holds dir, or -errno.
 */
int sl_dirlock_take(const char *dir, unsigned int wait_ms);

#endif
