// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/workpool.h"

struct sl_workpool {
	pthread_mutex_t mu;
	pthread_cond_t go;   /* a new job (or stop) for the threads */
	pthread_cond_t done; /* the last thread inside a job left it */
	pthread_t *threads;
	unsigned nthreads;
	bool stop;
	/* The job, written by the caller under mu before the threads see it. */
	uint64_t generation;
	bool open;	 /* threads may still join the job */
	unsigned inside; /* threads that joined and have not left */
	sl_work_fn fn;
	void *ctx;
	size_t n, chunk;
	size_t next; /* first index nobody took; atomic while the job runs */
};

/* Takes chunks until the range is gone. */
static void drain(struct sl_workpool *p, unsigned worker)
{
	for (;;) {
		size_t i = __atomic_fetch_add(&p->next, p->chunk, __ATOMIC_RELAXED), end;

		if (i >= p->n)
			return;
		end = i + p->chunk < p->n ? i + p->chunk : p->n;
		for (; i < end; i++)
			p->fn(p->ctx, i, worker);
	}
}

struct thread_arg {
	struct sl_workpool *p;
	unsigned worker;
};

static void *thread_main(void *arg)
{
	struct thread_arg a = *(struct thread_arg *)arg;
	struct sl_workpool *p = a.p;
	uint64_t seen = 0;

	free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->generation;
		/* Woken after the caller finished the range alone: nothing to join. */
		if (!p->open)
			continue;
		p->inside++;
		pthread_mutex_unlock(&p->mu);
		drain(p, a.worker);
		pthread_mutex_lock(&p->mu);
		if (--p->inside == 0 && !p->open)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct sl_workpool *sl_workpool_new(unsigned threads)
{
	struct sl_workpool *p;
	sigset_t all, old;
	unsigned i;
	int err = 0;

	if (!threads || threads > 64) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->threads = calloc(threads, sizeof(*p->threads)))) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	/* Signals are the loop's (libevent's handlers): the threads block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads; i++) {
		struct thread_arg *a = malloc(sizeof(*a));

		if (!a) {
			err = ENOMEM;
			break;
		}
		a->p = p;
		a->worker = i + 1;
		err = pthread_create(&p->threads[i], NULL, thread_main, a);
		if (err) {
			free(a);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->nthreads = i;
	if (!i) {
		sl_workpool_free(p);
		errno = err;
		return NULL;
	}
	return p;
}

void sl_workpool_free(struct sl_workpool *p)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->go);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

unsigned sl_workpool_threads(const struct sl_workpool *p)
{
	return p ? p->nthreads : 0;
}

void sl_workpool_run(struct sl_workpool *p, size_t n, size_t chunk, sl_work_fn fn, void *ctx)
{
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	p->chunk = chunk ? chunk : 1;
	p->next = 0;
	p->open = true;
	p->generation++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	drain(p, 0);

	/*
	 * The range is gone; close the job so late wakers stay out, and wait
	 * for those that joined (their last index may still be running).
	 */
	pthread_mutex_lock(&p->mu);
	p->open = false;
	while (p->inside)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

unsigned sl_workpool_auto_threads(unsigned max)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus <= 1)
		return 0;
	return (unsigned)(cpus - 1) < max ? (unsigned)(cpus - 1) : max;
}
