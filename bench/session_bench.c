/* Sessions and the warm pool, measured through the library, side by side
 * with bare `python3 -c 'print(1)'` and bubblewrap + the same, in one run.
 *
 *   build/bench/session_bench [--quick] [--json FILE]
 *
 * Parts (each prints a Markdown table; medians and p99 over many runs):
 *   oneshot     print(1) end to end: agentbox through a warm pool, a fresh
 *               agentbox sandbox (abox_run), bare python3, bwrap + python3;
 *               interleaved, paced so the pool has refilled between requests
 *   throughput  fresh-sandbox one-shot executions per second for 30 s from
 *               four client threads, the pool refilling meanwhile
 *   roundtrip   `x += 1` in an existing session
 *   memory      200 idle sessions: resident memory per session (the PSS of
 *               every process in the sandboxes plus this process's growth),
 *               and the round trip of one session while they idle
 *   preload     the first pandas cell of a pooled session, with the
 *               policy's python_preload naming pandas and without
 * No assertion here: numbers for the README, not a test.
 */
#include "agentbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
        qsort(v, n, sizeof *v, cmp_double);
        size_t i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i < n ? i : n - 1];
}

static void die(const char *what, const struct abox_error *err)
{
        fprintf(stderr, "session_bench: %s: %s\n", what, err ? err->msg : strerror(errno));
        exit(1);
}

/* A pool of n, waited for until all n are ready (so the first requests do
 * not measure the build). */
static struct abox_pool *warm_pool(const struct abox_policy *p, size_t n)
{
        struct abox_pool *pool = NULL;
        struct abox_error err = { 0 };
        if (abox_pool_new(p, n, &pool, &err) < 0)
                die("pool", &err);
        while (abox_pool_ready(pool) < n)
                usleep(10000);
        return pool;
}

/* A command's wall time, its stdout read to EOF (as a caller would). */
static double spawn_ms(char *const argv[])
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe", NULL);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        double t0 = now_ms();
        pid_t pid;
        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
                die(argv[0], NULL);
        close(p[1]);
        char buf[256];
        while (read(p[0], buf, sizeof buf) > 0)
                ;
        waitpid(pid, NULL, 0);
        double t = now_ms() - t0;
        close(p[0]);
        posix_spawn_file_actions_destroy(&fa);
        return t;
}

static const struct abox_request print1 = { .language = ABOX_LANG_PYTHON,
                                            .code = "print(1)",
                                            .code_len = 8 };

static double pool_ms(struct abox_pool *pool, const struct abox_policy *p)
{
        struct abox_result *r = NULL;
        struct abox_error err = { 0 };
        double t0 = now_ms();
        if (abox_pool_run(pool, p, &print1, &r, &err) < 0)
                die("pool run", &err);
        double t = now_ms() - t0;
        size_t n;
        if (strcmp(abox_result_stdout(r, &n), "1\n") != 0)
                die("pool run printed something else", NULL);
        abox_result_free(r);
        return t;
}

static double fresh_ms(const struct abox_policy *p)
{
        struct abox_result *r = NULL;
        struct abox_error err = { 0 };
        double t0 = now_ms();
        if (abox_run(p, &print1, &r, &err) < 0)
                die("run", &err);
        double t = now_ms() - t0;
        abox_result_free(r);
        return t;
}

static void row(const char *name, double *v, size_t n, double base)
{
        double p50 = pct(v, n, 0.5), p99 = pct(v, n, 0.99);
        printf("| %-28s | %8.2f | %8.2f | %6.2fx |\n", name, p50, p99, p50 / base);
}

static void oneshot(struct abox_pool *pool, const struct abox_policy *p, size_t runs)
{
        char *bare[] = { "/usr/bin/python3", "-c", "print(1)", NULL };
        char *bwrap[] = { "/usr/bin/bwrap",
                          "--unshare-all",
                          "--die-with-parent",
                          "--ro-bind",
                          "/usr",
                          "/usr",
                          "--symlink",
                          "usr/bin",
                          "/bin",
                          "--symlink",
                          "usr/lib",
                          "/lib",
                          "--symlink",
                          "usr/lib64",
                          "/lib64",
                          "--symlink",
                          "usr/sbin",
                          "/sbin",
                          "--proc",
                          "/proc",
                          "--dev",
                          "/dev",
                          "--tmpfs",
                          "/tmp",
                          "--",
                          "/usr/bin/python3",
                          "-c",
                          "print(1)",
                          NULL };
        bool have_bwrap = access(bwrap[0], X_OK) == 0;
        double *v[4];
        for (int i = 0; i < 4; i++)
                v[i] = calloc(runs, sizeof(double));
        for (int w = 0; w < 5; w++)
                pool_ms(pool, p), fresh_ms(p), spawn_ms(bare);
        for (size_t i = 0; i < runs; i++) {
                /* Paced: a warm sandbox is waiting, as it is below the
                 * throughput limit measured next. */
                usleep(30000);
                v[0][i] = pool_ms(pool, p);
                v[1][i] = spawn_ms(bare);
                v[2][i] = have_bwrap ? spawn_ms(bwrap) : 0;
                v[3][i] = fresh_ms(p);
        }
        double base = pct(v[1], runs, 0.5);
        printf("\n### print(1), end to end (%zu runs each, interleaved; ms)\n\n", runs);
        printf("| %-28s | %8s | %8s | %7s |\n|---|---|---|---|\n", "variant", "p50", "p99",
               "vs bare");
        row("agentbox, warm pool", v[0], runs, base);
        row("bare python3 -c", v[1], runs, base);
        if (have_bwrap)
                row("bwrap + python3 -c", v[2], runs, base);
        row("agentbox, fresh sandbox", v[3], runs, base);
        for (int i = 0; i < 4; i++)
                free(v[i]);
}

struct client {
        struct abox_pool *pool;
        const struct abox_policy *p;
        double until;
        size_t done;
};

static void *client_main(void *data)
{
        struct client *c = data;
        while (now_ms() < c->until) {
                pool_ms(c->pool, c->p);
                c->done++;
        }
        return NULL;
}

static void throughput(const struct abox_policy *p, double seconds)
{
        struct abox_pool *pool = warm_pool(p, 16);
        struct client c[4];
        pthread_t t[4];
        double t0 = now_ms();
        for (int i = 0; i < 4; i++) {
                c[i] = (struct client){ pool, p, t0 + seconds * 1000, 0 };
                pthread_create(&t[i], NULL, client_main, &c[i]);
        }
        size_t total = 0;
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                total += c[i].done;
        }
        double secs = (now_ms() - t0) / 1000;
        printf("\n### throughput: fresh-sandbox print(1), 4 clients, pool of 16 refilling\n\n");
        printf("| executions | seconds | per second |\n|---|---|---|\n");
        printf("| %zu | %.1f | %.1f |\n", total, secs, (double)total / secs);
        abox_pool_free(pool);
}

static void roundtrips(struct abox_session *s, size_t n, double *ret_p50, double *ret_p99)
{
        struct abox_request req = { .language = ABOX_LANG_PYTHON, .code = "x += 1", .code_len = 6 };
        double *v = calloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++) {
                struct abox_result *r = NULL;
                struct abox_error err = { 0 };
                double t0 = now_ms();
                if (abox_session_run(s, &req, &r, &err) < 0)
                        die("session run", &err);
                v[i] = now_ms() - t0;
                abox_result_free(r);
        }
        *ret_p50 = pct(v, n, 0.5);
        *ret_p99 = pct(v, n, 0.99);
        free(v);
}

static struct abox_session *new_session(struct abox_sessions *reg, const struct abox_policy *p)
{
        struct abox_session *s = NULL;
        struct abox_error err = { 0 };
        struct abox_session_options opt = { .owner = "bench" };
        if (abox_session_create(reg, p, &opt, &s, &err) < 0)
                die("session", &err);
        struct abox_request req = { .language = ABOX_LANG_PYTHON, .code = "x = 0", .code_len = 5 };
        struct abox_result *r = NULL;
        if (abox_session_run(s, &req, &r, &err) < 0)
                die("session run", &err);
        abox_result_free(r);
        return s;
}

/* kB of one line of a /proc file ("Key:   123 kB"). */
static long kb_of(const char *path, const char *key)
{
        FILE *f = fopen(path, "r");
        char line[256];
        long v = -1;
        while (f && fgets(line, sizeof line, f))
                if (strncmp(line, key, strlen(key)) == 0)
                        v = atol(line + strlen(key));
        if (f)
                fclose(f);
        return v;
}

/* PSS of every process that runs as a sandbox uid (root: 0x7E000000+). */
static long sandbox_pss_kb(size_t *ret_procs)
{
        DIR *d = opendir("/proc");
        struct dirent *e;
        long total = 0;
        size_t n = 0;
        while (d && (e = readdir(d))) {
                if (e->d_name[0] < '0' || e->d_name[0] > '9')
                        continue;
                char path[300];
                snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
                long uid = kb_of(path, "Uid:");
                if (uid < 0x7E000000L)
                        continue;
                snprintf(path, sizeof path, "/proc/%s/smaps_rollup", e->d_name);
                long pss = kb_of(path, "Pss:");
                if (pss > 0)
                        total += pss, n++;
        }
        if (d)
                closedir(d);
        *ret_procs = n;
        return total;
}

static void memory_and_roundtrip(const struct abox_policy *p, size_t idle, size_t n_rt)
{
        struct abox_sessions_config cfg = { .max_sessions = idle + 8, .max_per_owner = idle + 8 };
        struct abox_sessions *reg = NULL;
        struct abox_error err = { 0 };
        if (abox_sessions_new(&cfg, &reg, &err) < 0)
                die("registry", &err);
        struct abox_session *probe = new_session(reg, p);
        double p50, p99, p50_busy, p99_busy;
        roundtrips(probe, n_rt, &p50, &p99);
        long self0 = kb_of("/proc/self/status", "VmRSS:");
        struct abox_session **many = calloc(idle, sizeof *many);
        double t0 = now_ms();
        for (size_t i = 0; i < idle; i++)
                many[i] = new_session(reg, p);
        double made = now_ms() - t0;
        sleep(1);
        size_t procs = 0;
        long pss = sandbox_pss_kb(&procs);
        long self = kb_of("/proc/self/status", "VmRSS:") - self0;
        roundtrips(probe, n_rt, &p50_busy, &p99_busy);
        printf("\n### session round trip, `x += 1` (%zu runs; ms)\n\n", n_rt);
        printf("| while | p50 | p99 |\n|---|---|---|\n");
        printf("| alone | %.3f | %.3f |\n", p50, p99);
        printf("| %zu other sessions idle | %.3f | %.3f |\n", idle, p50_busy, p99_busy);
        printf("\n### %zu idle Python sessions (made in %.1f s)\n\n", idle, made / 1000);
        printf("| processes | sandboxes' PSS | agentbox's growth | per session |\n"
               "|---|---|---|---|\n");
        printf("| %zu | %.1f MB | %.1f MB | %.2f MB |\n", procs, (double)pss / 1024,
               (double)self / 1024, ((double)pss + (double)self) / 1024 / (double)(idle + 1));
        for (size_t i = 0; i < idle; i++)
                abox_session_release(many[i]);
        free(many);
        abox_session_release(probe);
        abox_sessions_free(reg);
}

/* The first pandas cell of a new session drawn from the pool, with the
 * policy's python_preload naming pandas and without: the import is paid
 * while the box waits in the pool, not on the request.  Paced: the pool
 * refills before each request. */
static double first_pandas_ms(const struct abox_policy *p, size_t n)
{
        struct abox_pool *pool = warm_pool(p, 1);
        struct abox_sessions *reg = NULL;
        struct abox_error err = { 0 };
        struct abox_sessions_config cfg = { 0 };
        if (abox_sessions_new(&cfg, &reg, &err) < 0)
                die("registry", &err);
        const char *code = "import pandas as pd\npd.DataFrame({'v': [100, 200]})['v'].mean()";
        struct abox_request req = { .language = ABOX_LANG_PYTHON,
                                    .code = code,
                                    .code_len = strlen(code) };
        double *v = calloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++) {
                while (abox_pool_ready(pool) < 1)
                        usleep(10000);
                struct abox_session_options opt = { .pool = pool };
                struct abox_session *s = NULL;
                struct abox_result *r = NULL;
                double t0 = now_ms();
                if (abox_session_create(reg, p, &opt, &s, &err) < 0 ||
                    abox_session_run(s, &req, &r, &err) < 0)
                        die("pandas", &err);
                v[i] = now_ms() - t0;
                if (!abox_result_value(r) || strcmp(abox_result_value(r), "150.0") != 0)
                        die("pandas: wrong value", NULL);
                abox_result_free(r);
                abox_session_destroy(s, NULL);
                abox_session_release(s);
        }
        double p50 = pct(v, n, 0.5);
        free(v);
        abox_sessions_free(reg);
        abox_pool_free(pool);
        return p50;
}

static void preload(size_t n)
{
        struct abox_policy *plain = abox_policy_new(), *loaded = abox_policy_new();
        struct abox_error err = { 0 };
        if (abox_policy_set(loaded, "python_preload", "pandas", &err) < 0)
                die("policy", &err);
        double without = first_pandas_ms(plain, n), with = first_pandas_ms(loaded, n);
        printf("\n### first pandas cell of a pooled session (%zu runs each; ms)\n\n", n);
        printf("| policy | p50 |\n|---|---|\n");
        printf("| no python_preload | %.1f |\n| python_preload: [pandas] | %.1f |\n", without,
               with);
        abox_policy_free(plain);
        abox_policy_free(loaded);
}

int main(int argc, char **argv)
{
        bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
        struct abox_policy *p = abox_policy_new();
        if (argc > 2 && strcmp(argv[1], "--throughput") == 0) {
                /* Only the throughput, for profiling it (bench/README.md). */
                throughput(p, atof(argv[2]));
                abox_policy_free(p);
                return 0;
        }
        struct abox_pool *pool = warm_pool(p, 4);
        printf("## agentbox sessions and warm pool (%ld cores)\n", sysconf(_SC_NPROCESSORS_ONLN));
        oneshot(pool, p, quick ? 40 : 200);
        abox_pool_free(pool);
        throughput(p, quick ? 5 : 30);
        memory_and_roundtrip(p, quick ? 40 : 200, quick ? 200 : 2000);
        preload(quick ? 5 : 20);
        abox_policy_free(p);
        return 0;
}
