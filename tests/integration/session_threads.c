/* Where threads meet in sessions and the pool: many threads creating,
 * finding, running, filing and destroying sessions in one registry with its
 * reaper thread running, while others draw one-shot runs from a warm pool.
 * Exits 1 on any wrong result.  A plain program (not Criterion, whose
 * runner forks each test), run in the normal and ASan builds. */
#include "agentbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4
#ifndef ROUNDS
#define ROUNDS 6 /* real sandboxes are slow; the stand-in box runs more */
#endif

static struct abox_sessions *reg;
static struct abox_pool *pool;
static struct abox_policy *policy;
static struct abox_session *shared;
static int failures;

static void fail(const char *what, const char *msg)
{
        fprintf(stderr, "session_threads: %s: %s\n", what, msg);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
}

/* rc first, then r: the call fills r, so it must have returned before r is
 * read (an argument list has no order). */
static void expect(int rc, struct abox_result *r, const struct abox_error *err, const char *value)
{
        if (rc < 0) {
                fail("run", err->msg);
                return;
        }
        const char *v = abox_result_value(r);
        if (!v || strcmp(v, value) != 0)
                fail("value", v ? v : "(none)");
        abox_result_free(r);
}

static void *sessions_main(void *data)
{
        (void)data;
        struct abox_request req = { .language = ABOX_LANG_PYTHON, .code = "6 * 7", .code_len = 5 };
        for (int i = 0; i < ROUNDS; i++) {
                struct abox_session *s = NULL, *again = NULL;
                struct abox_result *r = NULL;
                struct abox_error err = { 0 };
                /* Every other session is drawn from the pool. */
                struct abox_session_options opt = { .owner = "t",
                                                    .wait_if_busy = true,
                                                    .pool = i % 2 ? pool : NULL };
                if (abox_session_create(reg, policy, &opt, &s, &err) < 0) {
                        fail("create", err.msg);
                        continue;
                }
                int rc = abox_session_run(s, &req, &r, &err);
                expect(rc, r, &err, "42");
                char *got = NULL;
                size_t got_len = 0;
                if (abox_session_find(reg, abox_session_id(s), "t", &again, &err) < 0)
                        fail("find", err.msg);
                else if (abox_session_put_file(again, "f", "x", 1, &err) < 0 ||
                         abox_session_get_file(s, "f", &got, &got_len, &err) < 0)
                        fail("put and get", err.msg);
                else if (got_len != 1 || got[0] != 'x')
                        fail("get", "not what was put");
                free(got);
                abox_session_release(again);
                /* The shared session, busy with the others' cells too. */
                struct abox_request inc = { .language = ABOX_LANG_PYTHON,
                                            .code = "n += 1",
                                            .code_len = 6 };
                if (abox_session_run(shared, &inc, &r, &err) < 0)
                        fail("shared", err.msg);
                else
                        abox_result_free(r);
                if (abox_session_destroy(s, &err) < 0)
                        fail("destroy", err.msg);
                abox_session_release(s);
        }
        return NULL;
}

/* Sessions that expire while others use them: a fake clock jumps and the
 * reaper runs, racing runs, finds and files, which may fairly answer
 * "ended" or "not found" — but nothing else, and never crash. */
static uint64_t fake_now;

static uint64_t fake_clock(void *data)
{
        (void)data;
        return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static struct abox_sessions *short_reg;
static volatile int expiring_done;

static void *expiring_main(void *data)
{
        (void)data;
        struct abox_request req = { .language = ABOX_LANG_PYTHON, .code = "1", .code_len = 1 };
        for (int i = 0; i < ROUNDS; i++) {
                struct abox_session *s = NULL, *again = NULL;
                struct abox_result *r = NULL;
                struct abox_error err = { 0 };
                struct abox_session_options opt = { .owner = "x", .idle_timeout_ms = 1 };
                if (abox_session_create(short_reg, policy, &opt, &s, &err) < 0) {
                        fail("create (expiring)", err.msg);
                        continue;
                }
                for (int k = 0; k < 3; k++) {
                        int rc = abox_session_run(s, &req, &r, &err);
                        if (rc == 0)
                                abox_result_free(r);
                        else if (rc != -ESHUTDOWN)
                                fail("run (expiring)", err.msg);
                        rc = abox_session_find(short_reg, abox_session_id(s), "x", &again, &err);
                        if (rc == 0) {
                                rc = abox_session_put_file(again, "f", "x", 1, &err);
                                if (rc < 0 && rc != -ESHUTDOWN)
                                        fail("put (expiring)", err.msg);
                                abox_session_release(again);
                        } else if (rc != -ENOENT) {
                                fail("find (expiring)", err.msg);
                        }
                }
                int rc = abox_session_destroy(s, &err);
                if (rc < 0 && rc != -ESHUTDOWN)
                        fail("destroy (expiring)", err.msg);
                abox_session_release(s);
        }
        __atomic_store_n(&expiring_done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

static void *reaper_main(void *data)
{
        (void)data;
        while (!__atomic_load_n(&expiring_done, __ATOMIC_SEQ_CST)) {
                __atomic_add_fetch(&fake_now, 5, __ATOMIC_SEQ_CST);
                abox_sessions_reap(short_reg);
                /* Often enough to meet the creators mid-way, without taking
                 * a core from the real sandboxes the other threads run. */
                usleep(200);
        }
        return NULL;
}

/* A session that refuses a second caller instead of making it wait: each
 * run either counts or is told "busy", never both, never anything else. */
static struct abox_session *impatient;
static int impatient_ran;

static void *impatient_main(void *data)
{
        (void)data;
        struct abox_request inc = { .language = ABOX_LANG_PYTHON, .code = "m += 1", .code_len = 6 };
        for (int i = 0; i < ROUNDS; i++) {
                struct abox_result *r = NULL;
                struct abox_error err = { 0 };
                int rc = abox_session_run(impatient, &inc, &r, &err);
                if (rc == 0) {
                        __atomic_add_fetch(&impatient_ran, 1, __ATOMIC_SEQ_CST);
                        abox_result_free(r);
                } else if (rc != -EBUSY) {
                        fail("impatient", err.msg);
                }
        }
        return NULL;
}

static void *pool_main(void *data)
{
        (void)data;
        struct abox_request req = { .language = ABOX_LANG_PYTHON, .code = "2 + 2", .code_len = 5 };
        for (int i = 0; i < ROUNDS; i++) {
                struct abox_result *r = NULL;
                struct abox_error err = { 0 };
                int rc = abox_pool_run(pool, policy, &req, &r, &err);
                expect(rc, r, &err, "4");
        }
        return NULL;
}

int main(void)
{
        struct abox_error err = { 0 };
        policy = abox_policy_new();
        struct abox_sessions_config cfg = { .reaper = true };
        if (abox_sessions_new(&cfg, &reg, &err) < 0 || abox_pool_new(policy, 2, &pool, &err) < 0) {
                fprintf(stderr, "session_threads: %s\n", err.msg);
                return 1;
        }
        struct abox_session_options opt = { .owner = "t", .wait_if_busy = true };
        if (abox_session_create(reg, policy, &opt, &shared, &err) < 0) {
                fprintf(stderr, "session_threads: %s\n", err.msg);
                return 1;
        }
        struct abox_request zero = { .language = ABOX_LANG_PYTHON, .code = "n = 0", .code_len = 5 };
        struct abox_result *r = NULL;
        if (abox_session_run(shared, &zero, &r, &err) < 0)
                fail("shared", err.msg);
        abox_result_free(r);
        struct abox_session_options hasty = { .owner = "i" };
        struct abox_request mzero = { .language = ABOX_LANG_PYTHON,
                                      .code = "m = 0",
                                      .code_len = 5 };
        if (abox_session_create(reg, policy, &hasty, &impatient, &err) < 0 ||
            abox_session_run(impatient, &mzero, &r, &err) < 0) {
                fprintf(stderr, "session_threads: %s\n", err.msg);
                return 1;
        }
        abox_result_free(r);
        struct abox_sessions_config fake = { .clock_ms = fake_clock };
        if (abox_sessions_new(&fake, &short_reg, &err) < 0) {
                fprintf(stderr, "session_threads: %s\n", err.msg);
                return 1;
        }
        pthread_t t[THREADS * 2 + 4];
        for (int i = 0; i < THREADS; i++) {
                pthread_create(&t[i], NULL, sessions_main, NULL);
                pthread_create(&t[THREADS + i], NULL, pool_main, NULL);
        }
        pthread_create(&t[THREADS * 2], NULL, expiring_main, NULL);
        pthread_create(&t[THREADS * 2 + 1], NULL, reaper_main, NULL);
        pthread_create(&t[THREADS * 2 + 2], NULL, impatient_main, NULL);
        pthread_create(&t[THREADS * 2 + 3], NULL, impatient_main, NULL);
        for (int i = 0; i < THREADS * 2 + 4; i++)
                pthread_join(t[i], NULL);
        abox_sessions_free(short_reg);
        struct abox_request n = { .language = ABOX_LANG_PYTHON, .code = "n", .code_len = 1 };
        char want[16];
        snprintf(want, sizeof want, "%d", THREADS * ROUNDS);
        int rc = abox_session_run(shared, &n, &r, &err);
        expect(rc, r, &err, want);
        abox_session_release(shared);
        struct abox_request m = { .language = ABOX_LANG_PYTHON, .code = "m", .code_len = 1 };
        snprintf(want, sizeof want, "%d", impatient_ran);
        rc = abox_session_run(impatient, &m, &r, &err);
        expect(rc, r, &err, want);
        /* A handle to a session ended before the registry outlives it too. */
        struct abox_session *ended = NULL;
        struct abox_session_options plain = { .owner = "e" };
        if (abox_session_create(reg, policy, &plain, &ended, &err) < 0 ||
            abox_session_destroy(ended, &err) < 0)
                fail("ended", err.msg);
        abox_session_release(impatient);
        abox_sessions_free(reg);
        abox_session_release(ended);
        abox_pool_free(pool);
        abox_policy_free(policy);
        if (failures)
                fprintf(stderr, "session_threads: %d failures\n", failures);
        return failures ? 1 : 0;
}
