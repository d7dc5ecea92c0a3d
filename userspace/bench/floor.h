/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sk_msg path's floor for `sluice-bench kernel --floor`: a sockhash of
 * its own with a two-instruction sk_msg program (return SK_PASS) attached.
 * A socket put in it takes the kernel's whole tcp_bpf send path (copy into
 * an sk_msg, run a program, push the pages) while the program does nothing,
 * so on/off then measures what any sk_msg program costs before the meter
 * does any work. Nothing is pinned: closing the two fds frees everything.
 */
#ifndef SLUICE_BENCH_FLOOR_H
#define SLUICE_BENCH_FLOOR_H

#include <stddef.h>

struct sl_bench_floor {
	int prog_fd;
	int map_fd;
	int link_fd;
};

/* Loads and attaches; returns 0 or -errno with err filled. */
int sl_bench_floor_open(struct sl_bench_floor *f, char *err, size_t errlen);

/* Puts a connected TCP socket behind the no-op program. */
int sl_bench_floor_add(struct sl_bench_floor *f, int sock_fd);

/* Detaches and closes; safe on a zeroed or half-opened floor (fds < 0 skipped). */
void sl_bench_floor_close(struct sl_bench_floor *f);

/*
 * The same floor in a running sluiced: its pinned sk_msg link (under
 * pin_root) is pointed at the no-op program. Returns 0 or -errno with err.
 */
int sl_bench_floor_swap(const char *pin_root, char *err, size_t errlen);

/* `sluice-bench meter-floor --pin-root DIR`: sl_bench_floor_swap from the command line. */
int sl_bench_meter_floor_main(int argc, char **argv);

#endif
