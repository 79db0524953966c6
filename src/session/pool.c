/* The warm pool: sandboxes built ahead, each with its interpreter waiting.
 *
 * Worker threads (three per core, at most eight) keep `size` boxes ready
 * and tear down the used ones, so neither the build nor the teardown is on
 * a request's path — nor, while the pool is at least half full, on its CPU:
 * a one-shot run's replacement is built after the run (refill_now()).  A
 * box leaves the pool once — for one one-shot execution or as a new
 * session — and is never reused: a one-shot run's comes back only to be
 * torn down.  A pool holds one policy; a request under any other policy
 * gets a fresh sandbox.
 */
#include "agentbox.h"

#include "base/cleanup.h"
#include "box.h"
#include "core/command_policy.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS     8
#define WORKERS_PER_CPU 3
#define RETRY_DELAY     1 /* seconds, after a failed build */
#define TAKE_TIMEOUT    30
#define QUEUE_SLACK     ((size_t)MAX_WORKERS * 4) /* used boxes queued beyond size */

struct abox_pool {
        struct abox_policy *policy;
        size_t size;
        pthread_mutex_t lock;
        /* Apart, so that an event wakes only whom it concerns: with three
         * workers per core, waking all of them for every box taken and
         * given back raised the warm pool's p99 from about 1.2 to 3-3.8 ms
         * on 2 cores (session_bench --quick). */
        pthread_cond_t changed; /* takers: a box is ready, a build failed, or stopping */
        pthread_cond_t work;    /* workers: a box to tear down or to build, or stopping */
        struct box **ready, **used;
        size_t n_ready, n_used, building;
        bool stopping;
        struct abox_error last; /* the last build's failure, for takers */
        bool failing;
        pthread_t workers[MAX_WORKERS];
        size_t n_workers;
};

static void *worker(void *data)
{
        struct abox_pool *pool = data;
        pthread_mutex_lock(&pool->lock);
        while (!pool->stopping) {
                if (pool->n_used > 0) {
                        struct box *b = pool->used[--pool->n_used];
                        pthread_mutex_unlock(&pool->lock);
                        box_free(b);
                        pthread_mutex_lock(&pool->lock);
                        continue;
                }
                if (pool->n_ready + pool->building < pool->size) {
                        pool->building++;
                        pthread_mutex_unlock(&pool->lock);
                        struct box *b = NULL;
                        struct abox_error err = { 0 };
                        int r = box_start(pool->policy, &b, &err);
                        pthread_mutex_lock(&pool->lock);
                        pool->building--;
                        if (r == 0) {
                                pool->ready[pool->n_ready++] = b;
                                pool->failing = false;
                        } else {
                                pool->last = err;
                                pool->failing = true;
                        }
                        pthread_cond_broadcast(&pool->changed);
                        /* After a failure, a pause before the next try (other
                         * wake-ups must not turn it into a spin). */
                        struct timespec until;
                        clock_gettime(CLOCK_REALTIME, &until);
                        until.tv_sec += RETRY_DELAY;
                        while (r < 0 && !pool->stopping &&
                               pthread_cond_timedwait(&pool->work, &pool->lock, &until) !=
                                       ETIMEDOUT)
                                ;
                        continue;
                }
                pthread_cond_wait(&pool->work, &pool->lock);
        }
        pthread_mutex_unlock(&pool->lock);
        return NULL;
}

int abox_pool_new(const struct abox_policy *p, size_t size, struct abox_pool **ret,
                  struct abox_error *err)
{
        if (!p || !ret)
                return abox_error_set(err, -EINVAL, "missing policy or result pointer");
        if (size == 0)
                size = p->pool_size;
        if (size == 0 || size > 1024)
                return abox_error_set(err, -EINVAL,
                                      "a pool holds 1 to 1024 sandboxes (pool_size is %zu)", size);
        int r = policy_validate(p, err);
        if (r < 0)
                return r;
        /* A sandbox gets its secrets' values when it is built: a warm one
         * would carry (and redact) values that may have changed since. */
        if (p->secrets.n)
                return abox_error_set(err, -EINVAL,
                                      "a pool cannot keep sandboxes for a policy with secrets: "
                                      "their values are read when a sandbox is built");
        struct abox_pool *pool = calloc(1, sizeof *pool);
        if (!pool)
                return abox_error_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&pool->lock, NULL);
        pthread_cond_init(&pool->changed, NULL);
        pthread_cond_init(&pool->work, NULL);
        pool->size = size;
        pool->policy = abox_policy_dup(p);
        pool->ready = calloc(size, sizeof(struct box *));
        pool->used = calloc(size + QUEUE_SLACK, sizeof(struct box *));
        if (!pool->policy || !pool->ready || !pool->used) {
                abox_pool_free(pool);
                return abox_error_set(err, -ENOMEM, "out of memory");
        }
        /* A build spends most of its time waiting for the child it
         * started (the sandbox's set-up, the interpreter's start): with
         * one worker per core the cores idled 11 % of the time under a
         * full load; three per core keep them busy (bench/README.md). */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t want = cpus < 1 ? 1 : (size_t)cpus * WORKERS_PER_CPU;
        if (want > MAX_WORKERS)
                want = MAX_WORKERS;
        for (size_t i = 0; i < want; i++) {
                if ((r = -pthread_create(&pool->workers[i], NULL, worker, pool)) < 0)
                        break;
                pool->n_workers++;
        }
        if (pool->n_workers == 0) {
                abox_pool_free(pool);
                return abox_error_set(err, r, "cannot start the pool's workers: %s", strerror(-r));
        }
        *ret = pool;
        return 0;
}

void abox_pool_free(struct abox_pool *pool)
{
        if (!pool)
                return;
        pthread_mutex_lock(&pool->lock);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->changed);
        pthread_cond_broadcast(&pool->work);
        pthread_mutex_unlock(&pool->lock);
        for (size_t i = 0; i < pool->n_workers; i++)
                pthread_join(pool->workers[i], NULL);
        for (size_t i = 0; i < pool->n_ready; i++)
                box_free(pool->ready[i]);
        for (size_t i = 0; i < pool->n_used; i++)
                box_free(pool->used[i]);
        free(pool->ready);
        free(pool->used);
        abox_policy_free(pool->policy);
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->changed);
        pthread_cond_destroy(&pool->work);
        free(pool);
}

size_t abox_pool_ready(struct abox_pool *pool)
{
        pthread_mutex_lock(&pool->lock);
        size_t n = pool->n_ready;
        pthread_mutex_unlock(&pool->lock);
        return n;
}

/* A used box goes to the workers for teardown (or is freed here when they
 * are far behind); either way they wake to refill: two of them, so that the
 * teardown and the new build go side by side. */
static void give_back(struct abox_pool *pool, struct box *b)
{
        pthread_mutex_lock(&pool->lock);
        bool queued = pool->n_used < pool->size + QUEUE_SLACK;
        if (queued)
                pool->used[pool->n_used++] = b;
        pthread_cond_signal(&pool->work);
        pthread_cond_signal(&pool->work);
        pthread_mutex_unlock(&pool->lock);
        if (!queued)
                box_free(b);
}

/* Whether taking a box should start its replacement now.  Building one
 * is background work that competes for the CPU with the very execution
 * that took the box: started at the take, it tripled a warm run's median
 * on 2 cores.  A one-shot run's box comes back when the run ends, and
 * give_back() wakes the workers then; only a pool running low starts at
 * once (a long run must not leave it empty), and so does a box that will
 * not come back (a session's). */
static bool refill_now(const struct abox_pool *pool, bool comes_back)
{
        return !comes_back || (pool->n_ready + pool->building) * 2 < pool->size;
}

/* A ready box, waiting for one while the workers build; fails with the
 * workers' own error when they cannot build any.  comes_back: the box
 * will be given back (a one-shot run). */
static int take(struct abox_pool *pool, bool comes_back, struct box **ret, struct abox_error *err)
{
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += TAKE_TIMEOUT;
        pthread_mutex_lock(&pool->lock);
        int r = 0;
        *ret = NULL;
        while (!*ret && r == 0) {
                if (pool->n_ready > 0) {
                        struct box *b = pool->ready[--pool->n_ready];
                        if (box_waiting(b)) {
                                *ret = b;
                                break;
                        }
                        /* It died waiting: torn down, and replaced at once. */
                        pthread_mutex_unlock(&pool->lock);
                        give_back(pool, b);
                        pthread_mutex_lock(&pool->lock);
                        continue;
                }
                if (pool->failing && pool->building == 0) {
                        r = abox_error_set(err, pool->last.code, "%s", pool->last.msg);
                        break;
                }
                if (pthread_cond_timedwait(&pool->changed, &pool->lock, &until) == ETIMEDOUT)
                        r = abox_error_set(err, -ETIMEDOUT,
                                           "no warm sandbox became ready within %d s",
                                           TAKE_TIMEOUT);
        }
        if (r == 0 && refill_now(pool, comes_back))
                pthread_cond_signal(&pool->work);
        pthread_mutex_unlock(&pool->lock);
        return r;
}

/* A box that ran nothing (its request was refused before it ran) is as
 * fresh as it was: back to the ready ones, or torn down if they are full. */
static void put_back(struct abox_pool *pool, struct box *b)
{
        pthread_mutex_lock(&pool->lock);
        /* n_ready + building never exceeds size: a build under way has
         * its place in ready[] kept. */
        bool kept = pool->n_ready + pool->building < pool->size;
        if (kept) {
                pool->ready[pool->n_ready++] = b;
                pthread_cond_signal(&pool->changed); /* for one waiting to take it */
        }
        pthread_mutex_unlock(&pool->lock);
        if (!kept)
                give_back(pool, b);
}

int pool_take_box(struct abox_pool *pool, const struct abox_policy *p, struct box **ret,
                  struct abox_error *err)
{
        *ret = NULL;
        if (!policy_equal(pool->policy, p))
                return 0;
        return take(pool, /* comes_back= */ false, ret, err);
}

int abox_pool_run(struct abox_pool *pool, const struct abox_policy *p,
                  const struct abox_request *req, struct abox_result **ret, struct abox_error *err)
{
        if (!pool || !p || !req || !ret)
                return abox_error_set(err, -EINVAL, "missing pool, policy, request or result");
        /* Under allowed_commands a warm box may execute what a session
         * needs — its shell and its interpreter — which is more than a
         * one-shot run of either language may: such a run is built fresh,
         * with exactly its own. */
        if ((req->language != ABOX_LANG_PYTHON && req->language != ABOX_LANG_SHELL) ||
            !policy_equal(pool->policy, p) || command_policy_active(p))
                return abox_run(p, req, ret, err);
        struct box *b = NULL;
        int r = take(pool, /* comes_back= */ true, &b, err);
        if (r < 0)
                return r;
        r = box_exec(b, req, NULL, /* once= */ true, ret, err);
        if (box_broken(b))
                give_back(pool, b);
        else
                put_back(pool, b);
        return r;
}
