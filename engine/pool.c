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
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define SPIN_ROUNDS 20000 /* spin steps before sleeping (~1-2 ms) */
#define SPIN_PAUSE_ONLY 2000 /* the first ~100 us only pause; after that every 16th step yields */

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
    atomic_ullong claim;   /* gen << 32 | next unclaimed index of the current job */
    atomic_int done;       /* indices of the current job finished */
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

/* One step of a busy wait; 0 when it is time to sleep.  Pausing alone is right while every
 * pool thread has a core.  When the machine is oversubscribed the thread we wait for may be
 * runnable but descheduled, possibly on our core: spinning then burns the very time slice it
 * needs, so after the first ~100 us the wait also yields the CPU now and then. */
static inline int spin_step(int *spins)
{
    int s = ++*spins;
    if (s >= SPIN_ROUNDS)
        return 0;
    if (s > SPIN_PAUSE_ONLY && s % 16 == 0)
        sched_yield();
    else
        cpu_relax();
    return 1;
}

/* Claims and runs indices of job `gen` until none is left.  Indices go to whoever asks first,
 * so a thread that is descheduled when a job is posted (an oversubscribed machine) does not
 * hold the job up: the others run its share, and when it wakes it finds nothing to claim.  fn
 * and arg are read only after a successful claim, while the poster still waits for that index. */
static void run_claims(struct eng_pool *pool, unsigned gen)
{
    unsigned long long c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        if ((unsigned)(c >> 32) != gen || (int)(c & 0xffffffffu) >= pool->n)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        int ith = (int)(c & 0xffffffffu);
        pool->fn(pool->arg, ith, pool->n);
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_acq_rel) + 1 == pool->n) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->cv_done);
            pthread_mutex_unlock(&pool->mu);
        }
        c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
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
            if (spin_step(&spins))
                continue;
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->gen) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv_work, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        seen = atomic_load_explicit(&pool->gen, memory_order_acquire);
        run_claims(pool, seen);
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
    /* the previous job is complete: every claimed index has finished, and a late worker can
     * no longer claim one (the claim word carries the old gen until the store below) */
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    unsigned gen = atomic_load_explicit(&pool->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->claim, (unsigned long long)gen << 32, memory_order_release);
    pthread_mutex_lock(&pool->mu);
    atomic_store_explicit(&pool->gen, gen, memory_order_release);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    run_claims(pool, gen);
    int spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) != pool->n) {
        if (spin_step(&spins))
            continue;
        pthread_mutex_lock(&pool->mu);
        while (atomic_load(&pool->done) != pool->n)
            pthread_cond_wait(&pool->cv_done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}
