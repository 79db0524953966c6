/* src/core/policy.c: the schema every front end decodes into.  Defaults must
 * be the safe ones DESIGN.md promises, every key type must reject what it
 * cannot enforce, and errors must name the key so an operator can fix it. */
#include <criterion/criterion.h>

#include "base/cleanup.h"
#include "core/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct abox_policy *p;
static struct abox_error err;
static char srcdir[] = "/tmp/abox-test-policy-XXXXXX";

static void setup(void)
{
        p = abox_policy_new();
        cr_assert_not_null(p);
        err = (struct abox_error){ 0 };
        cr_assert_not_null(mkdtemp(srcdir), "a real directory to use as a mount source");
}

static void teardown(void)
{
        abox_policy_free(p);
        rmdir(srcdir);
}

TestSuite(policy, .init = setup, .fini = teardown);

static void set_ok(const char *key, const char *value)
{
        int r = abox_policy_set(p, key, value, &err);
        cr_assert_eq(r, 0, "%s=%s refused: %d %s", key, value, r, err.msg);
}

/* Refused, with a message that contains `needle`. */
static void set_fails(const char *key, const char *value, const char *needle)
{
        err = (struct abox_error){ 0 };
        int r = abox_policy_set(p, key, value, &err);
        cr_assert_lt(r, 0, "%s=%s was accepted", key, value);
        cr_assert_eq(err.code, r, "err.code carries the returned code");
        cr_assert_not_null(strstr(err.msg, needle), "%s=%s: message '%s' lacks '%s'", key, value,
                           err.msg, needle);
}

Test(policy, safe_defaults)
{
        cr_assert_eq(p->memory_max_bytes, 256 * MiB);
        cr_assert_eq(p->timeout_ms, 30000);
        cr_assert_eq(p->pids_max, 64);
        cr_assert_eq(p->network, NETWORK_NONE);
        cr_assert_eq(p->backend, BACKEND_JAIL);
        cr_assert_eq(p->module_mode, MODULE_MODE_BLACKLIST);
        cr_assert_eq(p->n_mounts, 0);
        cr_assert_eq(p->env.n, 0);
        cr_assert_eq(p->allow_degraded.n, 0, "nothing may be degraded by default");
        cr_assert_null(p->rootfs);
        cr_assert_eq(policy_validate(p, &err), 0, "the defaults validate: %s", err.msg);
}

Test(policy, sizes)
{
        set_ok("memory_limit", "512m");
        cr_assert_eq(p->memory_max_bytes, 512 * MiB);
        set_ok("max_output_size", "10m");
        cr_assert_eq(p->output_max_bytes, 10 * MiB);
        set_ok("max_file_size", "1.5g");
        cr_assert_eq(p->file_size_max_bytes, GiB + GiB / 2);
        set_ok("disk_limit", "64m");
        cr_assert_eq(p->disk_max_bytes, 64 * MiB);
}

Test(policy, size_errors_name_the_key)
{
        set_fails("memory_limit", "256q", "memory_limit");
        cr_assert_eq(err.code, -EINVAL);
        set_fails("memory_limit", "1m", "memory_limit"); /* below 8 MiB */
        cr_assert_eq(err.code, -ERANGE);
        set_fails("memory_limit", "65g", "out of range");
        set_fails("disk_limit", "1k", "disk_limit");
        cr_assert_eq(p->memory_max_bytes, 256 * MiB, "a refused value changes nothing");
}

Test(policy, durations)
{
        set_ok("execution_timeout", "2");
        cr_assert_eq(p->timeout_ms, 2000);
        set_ok("execution_timeout", "500ms");
        cr_assert_eq(p->timeout_ms, 500);
        set_ok("execution_timeout", "0.001");
        cr_assert_eq(p->timeout_ms, 1, "1 ms is the minimum and is allowed");
        set_ok("cpu_time_limit", "10");
        cr_assert_eq(p->cpu_time_ms, 10000);
}

Test(policy, duration_bounds)
{
        /* A zero timeout would mean "kill at once" or, worse, "no timer". */
        set_fails("execution_timeout", "0", "execution_timeout");
        cr_assert_eq(err.code, -ERANGE);
        set_fails("execution_timeout", "0ms", "execution_timeout");
        set_fails("execution_timeout", "86401", "out of range");
        set_fails("execution_timeout", "-1", "execution_timeout");
        cr_assert_eq(err.code, -EINVAL);
        set_fails("execution_timeout", "soon", "seconds");
        cr_assert_eq(p->timeout_ms, 30000);
}

Test(policy, counts_and_cores)
{
        set_ok("pids_limit", "128");
        cr_assert_eq(p->pids_max, 128);
        set_fails("pids_limit", "0", "pids_limit");
        set_fails("pids_limit", "32769", "out of range");
        set_fails("pids_limit", "1.5", "whole number");
        set_ok("open_files_limit", "1024");
        cr_assert_eq(p->open_files_max, 1024);
        set_fails("open_files_limit", "15", "open_files_limit");
        set_ok("cpu_limit", "0.5");
        cr_assert_eq(p->cpu_milli, 500);
        set_ok("cpu_limit", "2");
        cr_assert_eq(p->cpu_milli, 2000);
        set_fails("cpu_limit", "0.001", "cpu_limit");
        set_fails("cpu_limit", "two", "cores");
}

Test(policy, enums)
{
        set_ok("network_access", "full");
        cr_assert_eq(p->network, NETWORK_FULL);
        set_ok("network_access", "restricted");
        cr_assert_eq(p->network, NETWORK_RESTRICTED);
        set_ok("network_access", "none");
        cr_assert_eq(p->network, NETWORK_NONE);
        set_fails("network_access", "host", "none, restricted, full");
        set_fails("network_access", "None", "network_access"); /* case matters */
        set_ok("mode", "whitelist");
        cr_assert_eq(p->module_mode, MODULE_MODE_WHITELIST);
        set_fails("mode", "greylist", "mode");
        set_ok("backend", "process");
        cr_assert_eq(p->backend, BACKEND_PROCESS);
        set_fails("backend", "docker", "backend");
}

Test(policy, validate_refuses_what_is_not_built)
{
        set_ok("network_access", "restricted");
        cr_assert_eq(policy_validate(p, &err), 0, "%s", err.msg);
        set_ok("backend", "process");
        cr_assert_lt(policy_validate(p, &err), 0);
}

Test(policy, python_preload_names_are_module_names)
{
        set_ok("python_preload", "json");
        set_ok("python_preload", "xml.etree.ElementTree");
        set_ok("python_preload", "_private2");
        cr_assert_eq(policy_validate(p, &err), 0, "%s", err.msg);
        set_fails("python_preload", "", "python_preload: empty item");
        const char *const bad[] = { "2json", "a..b", ".a", "a.", "os; import x", "a-b", "é" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                set_fails("python_preload", bad[i], "is not a module name");
        char long_name[202];
        memset(long_name, 'a', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        set_fails("python_preload", long_name, "is not a module name");
        cr_assert_eq(p->python_preload.n, 3, "nothing refused was kept");
        for (int i = 3; i < 32; i++)
                set_ok("python_preload", "json");
        set_fails("python_preload", "json", "more than 32 modules");
}

Test(policy, network_entries_are_checked_when_set)
{
        set_ok("allowed_domains", "api.example.com");
        set_ok("allowed_domains", "*.example.org:8443");
        set_ok("allowed_domains", "10.0.0.5");
        set_ok("allowed_domains", "[::1]:8080");
        set_fails("allowed_domains", "*.com", "allowed_domains");
        set_fails("allowed_domains", "http://x.example", "not a host name");
        set_fails("allowed_domains", "x.example:0", "x.example:0");
        set_fails("allowed_domains", "x.example:99999", "x.example");
        set_fails("allowed_domains", "2130706433", "2130706433");
        set_fails("allowed_domains", "a..b", "a..b");
        set_ok("network_hosts", "api.test=127.0.0.1");
        set_fails("network_hosts", "api.test", "NAME=ADDRESS");
        set_fails("network_hosts", "api.test=example.com", "NAME=ADDRESS");
        set_fails("network_hosts", "10.0.0.1=10.0.0.2", "NAME=ADDRESS");
        set_ok("max_network_bytes", "1m");
        cr_assert_eq(p->network_max_bytes, 1 << 20);
        set_fails("max_concurrent_connections", "0", "max_concurrent_connections");
}

Test(policy, lists_append)
{
        set_ok("allowed_commands", "ls");
        set_ok("allowed_commands", "cat");
        cr_assert_eq(p->allowed_commands.n, 2);
        cr_assert(strlist_contains(&p->allowed_commands, "ls"));
        cr_assert(strlist_contains(&p->allowed_commands, "cat"));
        cr_assert_not(strlist_contains(&p->allowed_commands, "rm"));
        set_ok("restricted_modules", "os");
        set_ok("allowed_domains", "*.example.com");
        set_ok("allow_degraded", "landlock");
        cr_assert(strlist_contains(&p->allow_degraded, "landlock"));
        set_fails("allowed_commands", "", "empty");
}

Test(policy, rootfs_path)
{
        set_ok("rootfs", "/srv/root");
        cr_assert_str_eq(p->rootfs, "/srv/root");
        set_ok("rootfs", "/srv/other"); /* replaces, does not leak */
        cr_assert_str_eq(p->rootfs, "/srv/other");
        set_fails("rootfs", "relative/root", "absolute");
}

Test(policy, unknown_key)
{
        set_fails("memroy_limit", "256m", "memroy_limit");
        cr_assert_eq(err.code, -ENOENT);
        set_fails("module_overrides", "os", "mapping");
        cr_assert_lt(abox_policy_set(p, NULL, "x", &err), 0);
        cr_assert_lt(abox_policy_set(p, "env", NULL, &err), 0);
}

Test(policy, mounts_valid)
{
        char spec[256];
        snprintf(spec, sizeof spec, "%s:/data", srcdir);
        set_ok("mounts", spec);
        snprintf(spec, sizeof spec, "%s:/data2:rw", srcdir);
        set_ok("mounts", spec);
        snprintf(spec, sizeof spec, "%s:/tmp/in:ro", srcdir);
        set_ok("mounts", spec);
        cr_assert_eq(p->n_mounts, 3);
        cr_assert_str_eq(p->mounts[0].src, srcdir);
        cr_assert_str_eq(p->mounts[0].dst, "/data");
        cr_assert_not(p->mounts[0].rw, "read-only unless :rw is given");
        cr_assert(p->mounts[1].rw);
        cr_assert_not(p->mounts[2].rw);
}

Test(policy, mount_sources)
{
        set_fails("mounts", "/nonexistent/abox/xyz:/data", "does not exist");
        set_fails("mounts", "relative/dir:/data", "absolute");
        set_fails("mounts", "/data", "SRC:DST");
        set_fails("mounts", ":/data", "SRC:DST");
        set_fails("mounts", "/dev/null:/data", "neither");
        cr_assert_eq(p->n_mounts, 0);
}

Test(policy, mount_targets)
{
        static const char *const bad[] = {
                "/",        "/proc/x", "/proc",   "/usr",   "/usr/local", "/etc",
                "/dev/shm", "/lib64",  "/a/../b", "/a/./b", "/..",        "/a/..",
                "data",     "/a//b",   "/data/",  "/tmp",   "/workspace", "",
        };
        char spec[512];
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                snprintf(spec, sizeof spec, "%s:%s", srcdir, bad[i]);
                set_fails("mounts", spec, "mount target");
        }
        cr_assert_eq(p->n_mounts, 0);
        /* Names that merely start like a reserved one are fine. */
        snprintf(spec, sizeof spec, "%s:/usrdata", srcdir);
        set_ok("mounts", spec);
        snprintf(spec, sizeof spec, "%s:/workspace/in", srcdir);
        set_ok("mounts", spec);
}

Test(policy, mount_modes)
{
        char spec[256];
        snprintf(spec, sizeof spec, "%s:/data:bogus", srcdir);
        set_fails("mounts", spec, "ro or rw");
        snprintf(spec, sizeof spec, "%s:/data:RW", srcdir);
        set_fails("mounts", spec, "ro or rw");
        snprintf(spec, sizeof spec, "%s:/data:", srcdir);
        set_fails("mounts", spec, "ro or rw");
        cr_assert_eq(p->n_mounts, 0);
}

Test(policy, env)
{
        set_ok("env", "NAME=VALUE");
        set_ok("env", "_x1=");
        set_ok("env", "PATHS=a=b"); /* only the first '=' separates */
        cr_assert_eq(p->env.n, 3);
        cr_assert_str_eq(p->env.items[0], "NAME=VALUE");
        set_fails("env", "1BAD=x", "not a valid name");
        set_fails("env", "=x", "NAME=VALUE");
        set_fails("env", "NOVALUE", "NAME=VALUE");
        set_fails("env", "A-B=x", "not a valid name");
        set_fails("env", "A B=x", "not a valid name");
        cr_assert_eq(p->env.n, 3);
}

Test(policy, overrides_by_function)
{
        struct strlist fns = { 0 };
        cr_assert_eq(strlist_append(&fns, "join"), 0);
        cr_assert_eq(policy_set_override(p, "os.path", true, &fns, &err), 0);
        strlist_done(&fns);
        cr_assert_eq(p->n_overrides, 1);
        cr_assert_str_eq(p->overrides[0].module, "os.path");
        cr_assert(p->overrides[0].allowed);
        cr_assert(strlist_contains(&p->overrides[0].functions, "join"));
}

Test(policy, dup_is_deep)
{
        char spec[256];
        snprintf(spec, sizeof spec, "%s:/data:rw", srcdir);
        set_ok("mounts", spec);
        set_ok("env", "A=1");
        set_ok("allowed_commands", "ls");
        set_ok("allow_degraded", "cgroup");
        set_ok("rootfs", "/srv/root");
        set_ok("memory_limit", "1g");
        struct strlist fns = { 0 };
        cr_assert_eq(strlist_append(&fns, "join"), 0);
        cr_assert_eq(policy_set_override(p, "os.path", true, &fns, &err), 0);
        strlist_done(&fns);

        struct abox_policy *copy = abox_policy_dup(p);
        cr_assert_not_null(copy);
        cr_assert_neq(copy->mounts, p->mounts, "mounts must not be shared");
        cr_assert_neq(copy->env.items, p->env.items);
        cr_assert_neq(copy->rootfs, p->rootfs);
        /* Freeing the original must leave the copy whole (ASan/valgrind
         * would flag a shallow copy here; the string checks catch it too). */
        abox_policy_free(p);
        p = NULL;
        cr_assert_eq(copy->memory_max_bytes, GiB);
        cr_assert_eq(copy->n_mounts, 1);
        cr_assert_str_eq(copy->mounts[0].src, srcdir);
        cr_assert_str_eq(copy->mounts[0].dst, "/data");
        cr_assert(copy->mounts[0].rw);
        cr_assert_str_eq(copy->env.items[0], "A=1");
        cr_assert_str_eq(copy->allowed_commands.items[0], "ls");
        cr_assert_str_eq(copy->allow_degraded.items[0], "cgroup");
        cr_assert_str_eq(copy->rootfs, "/srv/root");
        cr_assert_eq(copy->n_overrides, 1);
        cr_assert_str_eq(copy->overrides[0].module, "os.path");
        cr_assert_str_eq(copy->overrides[0].functions.items[0], "join");
        /* The copy stays independently editable. */
        cr_assert_eq(abox_policy_set(copy, "env", "B=2", &err), 0);
        cr_assert_eq(copy->env.n, 2);
        abox_policy_free(copy);
}

Test(policy, free_null_is_safe)
{
        abox_policy_free(NULL);
        cr_assert(true);
}

Test(policy, field_table_is_consistent)
{
        /* Every field is findable under its own section and numeric bounds
         * are ordered; a typo in the table would break a front end. */
        size_t n;
        const struct field *f = policy_fields(&n);
        cr_assert_gt(n, 10);
        for (size_t i = 0; i < n; i++) {
                cr_assert_eq(policy_field_find(f[i].section, f[i].name), &f[i], "%s", f[i].name);
                if (f[i].type <= FIELD_CORES)
                        cr_assert_lt(f[i].min, f[i].max, "%s bounds", f[i].name);
                if (f[i].type == FIELD_ENUM)
                        cr_assert_not_null(f[i].choices);
        }
}

/* The warm pool hands a sandbox only to a request whose policy builds the
 * same one: every field of the table must make policy_equal differ (a new
 * field it forgets would let a pool serve the wrong policy). pool_size shapes
 * the pool, not the sandbox. */
Test(policy, equal_sees_every_field)
{
        size_t n;
        const struct field *f = policy_fields(&n);
        for (size_t i = 0; i < n; i++) {
                struct abox_policy *q = abox_policy_dup(p);
                void *at = (char *)q + f[i].offset;
                switch (f[i].type) {
                case FIELD_SIZE:
                case FIELD_DURATION:
                case FIELD_COUNT:
                case FIELD_CORES: *(uint64_t *)at += 1; break;
                case FIELD_ENUM: *(int *)at = *(int *)at ? 0 : 1; break;
                case FIELD_PATH:
                        free(*(char **)at);
                        *(char **)at = strdup("/elsewhere");
                        break;
                case FIELD_LIST:
                case FIELD_ENV:
                case FIELD_SECRETS:
                case FIELD_HOSTS: cr_assert_eq(strlist_append(at, "X=1"), 0); break;
                case FIELD_MOUNTS: {
                        char spec[256];
                        snprintf(spec, sizeof spec, "%s:/data", srcdir);
                        cr_assert_eq(abox_policy_set(q, "mounts", spec, &err), 0, "%s", err.msg);
                        break;
                }
                case FIELD_OVERRIDES: {
                        struct strlist none = { 0 };
                        cr_assert_eq(policy_set_override(q, "os.path", true, &none, &err), 0);
                        break;
                }
                }
                bool same = strcmp(f[i].name, "pool_size") == 0;
                cr_assert_eq(policy_equal(p, q), same, "%s", f[i].name);
                cr_assert(policy_equal(q, q));
                abox_policy_free(q);
        }
        /* Given or not matters even when the value is the default: an empty
         * allowlist refuses every command, a bare mode turns the guards on. */
        const char *const set_only[][2] = { { "mode", "blacklist" }, { "pool_size", "3" } };
        for (size_t i = 0; i < ELEMENTSOF(set_only); i++) {
                struct abox_policy *q = abox_policy_dup(p);
                cr_assert_eq(abox_policy_set(q, set_only[i][0], set_only[i][1], &err), 0);
                cr_assert_eq(policy_equal(p, q), i == 1, "%s", set_only[i][0]);
                abox_policy_free(q);
        }
        struct abox_policy *q = abox_policy_dup(p);
        policy_field_clear(q, policy_field_find(SECTION_POLICY, "allowed_commands"));
        cr_assert(policy_is_set(q, "allowed_commands"));
        cr_assert_not(policy_equal(p, q), "allowed_commands: []");
        abox_policy_free(q);
}
