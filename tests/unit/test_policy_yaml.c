/* src/core/policy_yaml.c: policy files.  The contract (DESIGN.md) is that the
 * seed shape loads as is, and that every mistake names the file, the line
 * and the key, because operators fix policies from the message alone.  The
 * file may come from a less trusted place, so aliases, depth and extra
 * documents are refused rather than interpreted. */
#include <criterion/criterion.h>

#include "core/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1ULL << 20)

static struct abox_policy *p;
static struct abox_error err;

static void setup(void)
{
        p = abox_policy_new();
        cr_assert_not_null(p);
        err = (struct abox_error){ 0 };
}

static void teardown(void)
{
        abox_policy_free(p);
}

TestSuite(yaml, .init = setup, .fini = teardown);

static int load(const char *text)
{
        err = (struct abox_error){ 0 };
        return abox_policy_load_string(p, text, strlen(text), "p.yaml", &err);
}

static void load_ok(const char *text)
{
        int r = load(text);
        cr_assert_eq(r, 0, "refused: %d %s\n---\n%s", r, err.msg, text);
}

/* Refused with a message that contains every needle given. */
static void load_fails(const char *text, const char *n1, const char *n2)
{
        int r = load(text);
        cr_assert_lt(r, 0, "accepted:\n%s", text);
        cr_assert_eq(err.code, r);
        cr_assert_not_null(strstr(err.msg, n1), "message '%s' lacks '%s'", err.msg, n1);
        if (n2)
                cr_assert_not_null(strstr(err.msg, n2), "message '%s' lacks '%s'", err.msg, n2);
}

/* The example of DESIGN.md, verbatim apart from indentation. */
static const char design_example[] =
        "agent_sandbox:\n"
        "  backend: jail            # jail (namespaces) | process\n"
        "  security_policy:\n"
        "    mode: blacklist        # or whitelist\n"
        "    restricted_modules: [os, subprocess, socket, ctypes, sys]\n"
        "    allowed_modules: [math, json, re, datetime, collections]\n"
        "    module_overrides: {os.path: {allowed: true, functions: [join, basename, dirname, "
        "exists]}}\n"
        "    memory_limit: 256m\n"
        "    cpu_limit: 1\n"
        "    execution_timeout: 30\n"
        "    network_access: none   # none | restricted | full\n"
        "    allowed_domains: [api.openai.com, \"*.example.com\"]\n"
        "    allowed_commands: [ls, cat, grep, python]\n"
        "    max_output_size: 10m\n"
        "    max_file_size: 100m\n";

Test(yaml, design_example_sets_every_value)
{
        /* Start from non-default values so that "unchanged" cannot pass. */
        p->memory_max_bytes = 1;
        p->timeout_ms = 1;
        p->network = NETWORK_FULL;
        p->backend = BACKEND_PROCESS;
        p->module_mode = MODULE_MODE_WHITELIST;
        load_ok(design_example);
        cr_assert_eq(p->backend, BACKEND_JAIL);
        cr_assert_eq(p->module_mode, MODULE_MODE_BLACKLIST);
        cr_assert_eq(p->restricted_modules.n, 5);
        cr_assert(strlist_contains(&p->restricted_modules, "ctypes"));
        cr_assert_eq(p->allowed_modules.n, 5);
        cr_assert(strlist_contains(&p->allowed_modules, "collections"));
        cr_assert_eq(p->n_overrides, 1);
        cr_assert_str_eq(p->overrides[0].module, "os.path");
        cr_assert(p->overrides[0].allowed);
        cr_assert_eq(p->overrides[0].functions.n, 4);
        cr_assert(strlist_contains(&p->overrides[0].functions, "dirname"));
        cr_assert_eq(p->memory_max_bytes, 256 * MiB);
        cr_assert_eq(p->cpu_milli, 1000);
        cr_assert_eq(p->timeout_ms, 30000);
        cr_assert_eq(p->network, NETWORK_NONE);
        cr_assert_eq(p->allowed_domains.n, 2);
        cr_assert(strlist_contains(&p->allowed_domains, "*.example.com"));
        cr_assert_eq(p->allowed_commands.n, 4);
        cr_assert(strlist_contains(&p->allowed_commands, "python"));
        cr_assert_eq(p->output_max_bytes, 10 * MiB);
        cr_assert_eq(p->file_size_max_bytes, 100 * MiB);
}

Test(yaml, block_lists_env_and_mounts)
{
        load_ok("agent_sandbox:\n"
                "  allow_degraded:\n"
                "    - cgroup:cpu\n"
                "  security_policy:\n"
                "    allowed_commands:\n"
                "      - ls\n"
                "      - cat\n"
                "    env:\n"
                "      LANG: C.UTF-8\n"
                "      TOKEN: \"a=b\"\n"
                "    mounts: [\"/usr/share:/data\", \"/usr/share:/out:rw\"]\n");
        cr_assert(strlist_contains(&p->allow_degraded, "cgroup:cpu"));
        cr_assert_eq(p->allowed_commands.n, 2);
        cr_assert_eq(p->env.n, 2);
        cr_assert_str_eq(p->env.items[0], "LANG=C.UTF-8");
        cr_assert_str_eq(p->env.items[1], "TOKEN=a=b");
        cr_assert_eq(p->n_mounts, 2);
        cr_assert_str_eq(p->mounts[1].dst, "/out");
        cr_assert(p->mounts[1].rw);
}

Test(yaml, list_replaces_rather_than_appends)
{
        /* A file states the whole list: loading it twice must not double it. */
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands: [ls, cat]\n");
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands: [grep]\n");
        cr_assert_eq(p->allowed_commands.n, 1);
        cr_assert_str_eq(p->allowed_commands.items[0], "grep");
}

Test(yaml, empty_list_value_clears)
{
        /* policy_yaml.c treats `key:` with nothing as "an empty list", the
         * same as `key: []`; both must leave the list empty. */
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands: [ls]\n");
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands: []\n");
        cr_assert_eq(p->allowed_commands.n, 0, "`key: []` clears");
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands: [ls]\n");
        load_ok("agent_sandbox:\n  security_policy:\n    allowed_commands:\n");
        cr_assert_eq(p->allowed_commands.n, 0, "`key:` kept %zu earlier item(s)",
                     p->allowed_commands.n);
}

Test(yaml, unknown_key_names_file_line_and_path)
{
        load_fails("agent_sandbox:\n"
                   "  security_policy:\n"
                   "    memory_limit: 256m\n"
                   "    memroy_limit: 256m\n",
                   "p.yaml:4: agent_sandbox.security_policy.memroy_limit: unknown key", NULL);
}

Test(yaml, unknown_top_level_key)
{
        load_fails("agent_sandbox: {}\nsandbox:\n  backend: jail\n", "p.yaml:2:", "sandbox");
}

Test(yaml, bad_value_names_line_and_key)
{
        load_fails("agent_sandbox:\n"
                   "  security_policy:\n"
                   "\n"
                   "    memory_limit: 256q\n",
                   "p.yaml:4: agent_sandbox.security_policy.memory_limit:", "256q");
        load_fails("agent_sandbox:\n  security_policy:\n    execution_timeout: 0\n",
                   "p.yaml:3: agent_sandbox.security_policy.execution_timeout:", "out of range");
        load_fails("agent_sandbox:\n  security_policy:\n    network_access: host\n",
                   "p.yaml:3:", "network_access");
}

Test(yaml, wrong_types)
{
        /* A list where one value is expected, and the reverse. */
        load_fails("agent_sandbox:\n  security_policy:\n    memory_limit: [256m, 512m]\n",
                   "p.yaml:3: agent_sandbox.security_policy.memory_limit:", "single value");
        load_fails("agent_sandbox:\n  security_policy:\n    memory_limit: {a: 1}\n", "memory_limit",
                   "single value");
        load_fails("agent_sandbox:\n  security_policy:\n    allowed_commands: ls\n",
                   "agent_sandbox.security_policy.allowed_commands", "list");
        load_fails("agent_sandbox:\n  security_policy:\n    allowed_commands: [[ls]]\n",
                   "allowed_commands", "single value");
        load_fails("agent_sandbox:\n  security_policy:\n    env: [A=1]\n", "env", "mapping");
        load_fails("agent_sandbox:\n  security_policy: [memory_limit]\n",
                   "agent_sandbox.security_policy", "mapping");
        load_fails("agent_sandbox: jail\n", "p.yaml:1:", "mapping");
        load_fails("- agent_sandbox\n", "p.yaml:1:", "agent_sandbox");
}

Test(yaml, empty_value_is_refused_for_scalars)
{
        load_fails("agent_sandbox:\n  security_policy:\n    memory_limit:\n", "memory_limit",
                   "needs a value");
}

Test(yaml, duplicate_key)
{
        load_fails("agent_sandbox:\n"
                   "  security_policy:\n"
                   "    memory_limit: 256m\n"
                   "    memory_limit: 1g\n",
                   "p.yaml:4:", "twice");
}

Test(yaml, duplicate_top_level_section)
{
        /* The second agent_sandbox would silently override the first one's
         * limits; it must be refused like any other duplicate key. */
        int r = load("agent_sandbox:\n"
                     "  security_policy:\n"
                     "    memory_limit: 256m\n"
                     "agent_sandbox:\n"
                     "  security_policy:\n"
                     "    memory_limit: 8g\n");
        cr_assert_lt(r, 0, "duplicate agent_sandbox accepted (memory now %llu bytes)",
                     (unsigned long long)p->memory_max_bytes);
}

Test(yaml, aliases_refused)
{
        load_fails("agent_sandbox:\n"
                   "  security_policy:\n"
                   "    allowed_commands: &cmds [ls, cat]\n"
                   "    allowed_modules: *cmds\n",
                   "p.yaml:4:", "alias");
}

Test(yaml, billion_laughs_refused_quickly)
{
        load_fails("a: &a [x, x, x, x, x, x, x, x, x]\n"
                   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                   "agent_sandbox: {}\n",
                   "p.yaml:2:", "alias");
}

Test(yaml, empty_and_comment_only_files)
{
        load_fails("", "p.yaml:", "empty");
        load_fails("# nothing here\n", "p.yaml:", "empty");
}

Test(yaml, two_documents)
{
        load_fails("agent_sandbox: {}\n---\nagent_sandbox: {}\n", "p.yaml:", "one YAML document");
}

Test(yaml, broken_yaml_names_a_line)
{
        load_fails("agent_sandbox:\n  security_policy:\n    memory_limit: [256m\n",
                   "p.yaml:", NULL);
        load_fails("agent_sandbox:\n\tbackend: jail\n", "p.yaml:2:", NULL);
}

Test(yaml, key_in_wrong_section)
{
        load_fails("agent_sandbox:\n  memory_limit: 256m\n",
                   "p.yaml:2: agent_sandbox.memory_limit:", "security_policy");
        load_fails("agent_sandbox:\n  security_policy:\n    backend: jail\n",
                   "p.yaml:3: agent_sandbox.security_policy.backend:", "agent_sandbox");
}

Test(yaml, deep_nesting_is_bounded)
{
        /* 10 000 nested flow lists: must be refused, not overflow the stack. */
        enum { DEPTH = 10000 };
        char *s = malloc(DEPTH * 2 + 64);
        cr_assert_not_null(s);
        char *q = s + sprintf(s, "agent_sandbox: ");
        memset(q, '[', DEPTH);
        memset(q + DEPTH, ']', DEPTH);
        strcpy(q + 2 * DEPTH, "\n");
        int r = load(s);
        free(s);
        cr_assert_lt(r, 0);
        cr_assert_not_null(strstr(err.msg, "p.yaml:1:"), "%s", err.msg);
}

Test(yaml, module_override_errors)
{
        load_fails("agent_sandbox:\n  security_policy:\n"
                   "    module_overrides: {os: {allowed: maybe}}\n",
                   "module_overrides", "true or false");
        load_fails("agent_sandbox:\n  security_policy:\n"
                   "    module_overrides: {os: {allow: true}}\n",
                   "module_overrides", "unknown key");
        load_fails("agent_sandbox:\n  security_policy:\n    module_overrides: [os]\n",
                   "module_overrides", "mapping");
}

Test(yaml, load_from_file_and_missing_file)
{
        char path[] = "/tmp/abox-test-yaml-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        static const char text[] = "agent_sandbox:\n  security_policy:\n    pids_limit: 7\n"
                                   "    bad_key: 1\n";
        cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
        close(fd);
        int r = abox_policy_load(p, path, &err);
        unlink(path);
        cr_assert_lt(r, 0);
        char want[64];
        snprintf(want, sizeof want, "%s:4:", path);
        cr_assert_not_null(strstr(err.msg, want), "'%s' lacks the real file name", err.msg);
        cr_assert_lt(abox_policy_load(p, "/nonexistent/abox.yaml", &err), 0);
        cr_assert_not_null(strstr(err.msg, "/nonexistent/abox.yaml"));
}

Test(yaml, oversized_input_refused)
{
        size_t len = (4u << 20) + 1;
        char *s = malloc(len);
        cr_assert_not_null(s);
        memset(s, ' ', len);
        int r = abox_policy_load_string(p, s, len, "big.yaml", &err);
        free(s);
        cr_assert_eq(r, -EFBIG);
        cr_assert_not_null(strstr(err.msg, "big.yaml"));
}

Test(yaml, network_hosts_may_give_a_name_several_addresses)
{
        load_ok("agent_sandbox:\n  security_policy:\n    network_hosts:\n"
                "      both.test: ['::1', 127.0.0.1]\n      one.test: 10.0.0.1\n");
        cr_assert_eq(p->network_hosts.n, 3);
        cr_assert_str_eq(p->network_hosts.items[0], "both.test=::1");
        cr_assert_str_eq(p->network_hosts.items[1], "both.test=127.0.0.1");
        cr_assert_str_eq(p->network_hosts.items[2], "one.test=10.0.0.1");
        load_fails("agent_sandbox:\n  security_policy:\n    network_hosts:\n"
                   "      a.test: [{x: 1}]\n",
                   ":4:", "expected an address");
        load_fails("agent_sandbox:\n  security_policy:\n    env:\n      A: [1, 2]\n",
                   ":4:", "expected NAME: value");
}
