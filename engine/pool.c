/*
 * The thread pool for matrix work.  Workload: the forward pass calls eng_pool_run a few hundred
 * times per token (every matmul of every layer), each job lasting tens of microseconds to a few
 * milliseconds, so dispatch must cost well under a microsecond: workers spin on a generation
 * counter for a while after each job (about a millisecond) before sleeping on a condition
 * variable, and the caller spins the same way for completion.  Work splitting is the job's
 * business (matmul splits by rows, so results never depend on the thread count).
 */
#include "base.h"
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define SPIN_ROUNDS 20000 /* pause instructions before sleeping (~1 ms) */

struct eng_pool;
struct worker {
    struct eng_pool *pool;
    int ith;
    pthread_t th;
};

struct eng_pool {
    int n;                 /* threads including the caller */
    struct worker *w;      /* n - 1 workers */
    int n_started;
    eng_pool_fn fn;
    void *arg;
    atomic_uint gen;       /* bumped for every job */
    atomic_int done;       /* workers finished with the current job */
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
};

void openblas_set_num_threads(int n); /* libopenblas */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct eng_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool->gen, memory_order_acquire) == seen &&
               !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->gen) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv_work, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        seen = atomic_load_explicit(&pool->gen, memory_order_acquire);
        pool->fn(pool->arg, w->ith, pool->n);
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_acq_rel) + 1 == pool->n - 1) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->cv_done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

int eng_pool_new(int n_threads, struct eng_pool **out)
{
    int rc = 0;
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 256)
        n_threads = 256;
    struct eng_pool *pool = sk_calloc(1, sizeof *pool);
    if (!pool)
        return -ENOMEM;
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv_work, NULL);
    pthread_cond_init(&pool->cv_done, NULL);
    if (n_threads > 1) {
        pool->w = sk_calloc((size_t)n_threads - 1, sizeof *pool->w);
        if (!pool->w) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        pool->w[i].pool = pool;
        pool->w[i].ith = i + 1;
        int e = pthread_create(&pool->w[i].th, NULL, worker_main, &pool->w[i]);
        if (e) {
            rc = -e;
            goto fail;
        }
        pool->n_started++;
    }
    /* Our pool owns the cores; BLAS calls (large prompt batches) run on one thread inside a
     * pool job, never beside it. */
    openblas_set_num_threads(1);
    *out = pool;
    return 0;
fail:
    eng_pool_delete(pool);
    return rc;
}

void eng_pool_delete(struct eng_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->w[i].th, NULL);
    pthread_cond_destroy(&pool->cv_work);
    pthread_cond_destroy(&pool->cv_done);
    pthread_mutex_destroy(&pool->mu);
    sk_free(pool->w);
    sk_free(pool);
}

int eng_pool_threads(const struct eng_pool *pool)
{
    return pool ? pool->n : 1;
}

void eng_pool_run(struct eng_pool *pool, eng_pool_fn fn, void *arg)
{
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    int spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) != pool->n - 1) {
        if (++spins < SPIN_ROUNDS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&pool->mu);
        while (atomic_load(&pool->done) != pool->n - 1)
            pthread_cond_wait(&pool->cv_done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}
