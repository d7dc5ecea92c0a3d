/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A fork-join pool for the one loop's parallel parts: the caller and a few
 * threads split an index range between them, and the call returns when all
 * of it is done. Nothing else runs on the loop meanwhile, so the work needs
 * no locks of its own as long as each index touches only its own data.
 */
#ifndef SLUICE_NET_WORKPOOL_H
#define SLUICE_NET_WORKPOOL_H

#include <stddef.h>

struct sl_workpool;

/* Called for every index once; worker is 0 for the caller, 1..threads for the pool's threads. */
typedef void (*sl_work_fn)(void *ctx, size_t index, unsigned worker);

/* threads (1..64) besides the caller's; NULL with errno set when none could start. */
struct sl_workpool *sl_workpool_new(unsigned threads);
void sl_workpool_free(struct sl_workpool *p);
unsigned sl_workpool_threads(const struct sl_workpool *p);

/*
 * Runs fn for every index in [0, n), taken in chunks of `chunk` by whoever is
 * free; a thread that wakes after the range is gone takes nothing and is not
 * waited for.
 */
void sl_workpool_run(struct sl_workpool *p, size_t n, size_t chunk, sl_work_fn fn, void *ctx);

/* Online CPUs minus the loop's own, at most max; 0 on a single CPU. */
unsigned sl_workpool_auto_threads(unsigned max);

#endif
