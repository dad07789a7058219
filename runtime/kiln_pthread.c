/* The pthread pool behind kiln_pthread.h.  Workers spin briefly, then
 * sleep on a condition variable between jobs; a job is a task function,
 * its context and n indices handed out by an atomic counter, so fast
 * threads take more. */
#include "kiln_pthread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>

/* A model's nodes come back to back, microseconds apart; a futex wake
 * costs tens of microseconds, long enough for the caller to take every
 * index of a small node itself.  So workers (and the caller waiting for
 * the last index) spin this many pauses, a fraction of a millisecond,
 * before they sleep. */
#define SPIN 4096
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

struct kiln_pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t *threads;
	int nthreads, started;
	atomic_ulong gen;             /* bumped for every job */
	atomic_bool quit;
	void (*task)(void *ctx, int i);
	void *ctx;
	int n;
	atomic_int next, left;        /* next index to hand out; indices not yet finished */
};

/* Run indices of the current job until none are left. */
static void drain(kiln_pool *p)
{
	for (;;) {
		int i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return;
		p->task(p->ctx, i);
		if (atomic_fetch_sub(&p->left, 1) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

static void *worker(void *arg)
{
	kiln_pool *p = arg;
	unsigned long seen = 0;
	for (;;) {
		for (int s = 0; s < SPIN && atomic_load(&p->gen) == seen && !atomic_load(&p->quit); s++)
			cpu_relax();
		pthread_mutex_lock(&p->mu);
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		drain(p);
	}
}

kiln_pool *kiln_pool_new(int nthreads)
{
	kiln_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->nthreads = nthreads < 1 ? 1 : nthreads;
	p->threads = calloc((size_t)p->nthreads, sizeof *p->threads);
	if (!p->threads || pthread_mutex_init(&p->mu, NULL) || pthread_cond_init(&p->work, NULL) ||
	    pthread_cond_init(&p->done, NULL)) {
		free(p->threads);
		free(p);
		return NULL;
	}
	for (int i = 0; i < p->nthreads - 1; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			kiln_pool_free(p);
			return NULL;
		}
		p->started++;
	}
	return p;
}

void kiln_pool_free(kiln_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

void kiln_pool_parallel_for(void *pool, int n, void (*task)(void *ctx, int i), void *ctx)
{
	kiln_pool *p = pool;
	if (n <= 0)
		return;
	pthread_mutex_lock(&p->mu);
	p->task = task;
	p->ctx = ctx;
	p->n = n;
	/* left before next: a worker still in the last job's drain may take
	 * an index of this one as soon as next is 0, and must find left set. */
	atomic_store(&p->left, n);
	atomic_store(&p->next, 0);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	drain(p);  /* the caller works too */
	for (int s = 0; s < SPIN && atomic_load(&p->left) > 0; s++)
		cpu_relax();
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&p->left) > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void kiln_pool_parallel(kiln_pool *p, kiln_parallel *par)
{
	par->parallel_for = kiln_pool_parallel_for;
	par->pool = p;
	par->nthreads = p->nthreads;
}
