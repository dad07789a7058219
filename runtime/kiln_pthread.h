/* A small pthread pool for NAME_run_parallel.  Generated code creates no
 * threads; an application that wants them links this file (or supplies its
 * own parallel_for, e.g. an RTOS's or its own pool's):
 *
 *     kiln_pool *pool = kiln_pool_new(2);
 *     kiln_parallel par;
 *     kiln_pool_parallel(pool, &par);
 *     net_run_parallel(inputs, outputs, workspace, &par);
 *     kiln_pool_free(pool);
 *
 * One pool serves one run at a time.  Idle workers spin for a fraction of
 * a millisecond before they sleep on a condition variable. */
#ifndef KILN_PTHREAD_H
#define KILN_PTHREAD_H

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_pool kiln_pool;

/* nthreads workers in all: the caller of parallel_for and nthreads - 1
 * threads started here.  NULL if a thread cannot be started. */
kiln_pool *kiln_pool_new(int nthreads);
void kiln_pool_free(kiln_pool *pool);
/* task(ctx, i) for every i in [0, n), spread over the pool; returns when
 * all have run.  The kiln_parallel.parallel_for this pool provides. */
void kiln_pool_parallel_for(void *pool, int n, void (*task)(void *ctx, int i), void *ctx);
/* Fill par to run on this pool. */
void kiln_pool_parallel(kiln_pool *pool, kiln_parallel *par);

#ifdef __cplusplus
}
#endif
#endif
