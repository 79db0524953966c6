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

#define THREADS 4
#define ROUNDS  6

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
                struct abox_session_options opt = { .owner = "t", .wait_if_busy = true };
                if (abox_session_create(reg, policy, &opt, &s, &err) < 0) {
                        fail("create", err.msg);
                        continue;
                }
                int rc = abox_session_run(s, &req, &r, &err);
                expect(rc, r, &err, "42");
                if (abox_session_find(reg, abox_session_id(s), "t", &again, &err) < 0)
                        fail("find", err.msg);
                else if (abox_session_put_file(again, "f", "x", 1, &err) < 0)
                        fail("put", err.msg);
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
        pthread_t t[THREADS * 2];
        for (int i = 0; i < THREADS; i++) {
                pthread_create(&t[i], NULL, sessions_main, NULL);
                pthread_create(&t[THREADS + i], NULL, pool_main, NULL);
        }
        for (int i = 0; i < THREADS * 2; i++)
                pthread_join(t[i], NULL);
        struct abox_request n = { .language = ABOX_LANG_PYTHON, .code = "n", .code_len = 1 };
        char want[16];
        snprintf(want, sizeof want, "%d", THREADS * ROUNDS);
        int rc = abox_session_run(shared, &n, &r, &err);
        expect(rc, r, &err, want);
        abox_session_release(shared);
        abox_sessions_free(reg);
        abox_pool_free(pool);
        abox_policy_free(policy);
        if (failures)
                fprintf(stderr, "session_threads: %d failures\n", failures);
        return failures ? 1 : 0;
}
