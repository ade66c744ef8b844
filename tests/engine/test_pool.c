/* The thread pool: every index runs exactly once per job, jobs see each other's writes, many
 * short jobs in a row (the decode pattern), and sleeping workers wake up again. */
#include "base.h"
#include "engine/engine.h"
#include "tests/test.h"

#include <stdatomic.h>
#include <unistd.h>

struct job {
    atomic_int hits[8];
    int data[8];
    int round;
};

static void count_job(void *arg, int ith, int nth)
{
    struct job *j = arg;
    ASSERT(nth >= 1 && ith < nth);
    atomic_fetch_add(&j->hits[ith], 1);
    /* each thread reads its neighbour's value from the previous round */
    int prev = j->data[(ith + 1) % nth];
    ASSERT_EQ(prev, j->round - 1);
}
static void write_job(void *arg, int ith, int nth)
{
    (void)nth;
    struct job *j = arg;
    j->data[ith] = j->round;
}

TEST(pool_runs_every_index_once_per_job)
{
    for (int n = 1; n <= 4; n++) {
        struct eng_pool *p;
        ASSERT_EQ(eng_pool_new(n, &p), 0);
        ASSERT_EQ(eng_pool_threads(p), n);
        static struct job j;
        memset(&j, 0, sizeof j);
        /* more threads than cores: spinning workers share cores, keep that case short */
        int rounds = n <= 2 ? 1000 : 200;
        for (int r = 1; r <= rounds; r++) {
            j.round = r;
            eng_pool_run(p, count_job, &j);
            eng_pool_run(p, write_job, &j);
            if (r % (rounds / 4) == 0)
                usleep(20000); /* let workers fall asleep, then wake them */
        }
        for (int i = 0; i < n; i++)
            ASSERT_EQ(atomic_load(&j.hits[i]), rounds);
        for (int i = n; i < 8; i++)
            ASSERT_EQ(atomic_load(&j.hits[i]), 0);
        eng_pool_delete(p);
    }
}

TEST(pool_default_size_and_null_pool)
{
    struct eng_pool *p;
    ASSERT_EQ(eng_pool_new(0, &p), 0);
    ASSERT_GE(eng_pool_threads(p), 1);
    eng_pool_delete(p);
    eng_pool_delete(NULL);
    static struct job j;
    memset(&j, 0, sizeof j);
    j.round = 1;
    eng_pool_run(NULL, count_job, &j); /* runs on the caller as thread 0 of 1 */
    ASSERT_EQ(atomic_load(&j.hits[0]), 1);
}

TEST(pool_new_fails_cleanly_without_memory)
{
    struct eng_pool *p = (struct eng_pool *)1;
    sk_alloc_fail_after(0);
    int rc = eng_pool_new(3, &p);
    sk_alloc_fail_after(-1);
    ASSERT_EQ(rc, -12); /* -ENOMEM */
    ASSERT(p == NULL);
    sk_alloc_fail_after(1); /* pool struct ok, worker array fails */
    rc = eng_pool_new(3, &p);
    sk_alloc_fail_after(-1);
    ASSERT_EQ(rc, -12);
    ASSERT_EQ(sk_alloc_live_blocks(), 0);
}
