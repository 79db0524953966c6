/* The policy schema.  Every key an operator can set is one row of `fields`
 * below: its name (the YAML key, also what flags and API bodies use), the
 * section of the file it lives in, its type and its bounds.  Decoders look a
 * key up here and call policy_field_set(), so the YAML file, the command line
 * and the servers cannot disagree about names, units or limits. */
#include "policy.h"

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strbuf.h"
#include "error.h"
#include "net/rules.h"
#include "redact.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static const char *const backends[] = { "jail", "process", NULL };
static const char *const modes[] = { "blacklist", "whitelist", NULL };
static const char *const networks[] = { "none", "restricted", "full", NULL };

#define OFF(m)      offsetof(struct abox_policy, m)
#define MAX_PRELOAD 32 /* python_preload's modules */

static const struct field fields[] = {
        { "backend", SECTION_SANDBOX, FIELD_ENUM, OFF(backend), 0, 0, backends,
          "jail: namespaces, cgroups, seccomp and Landlock" },
        { "rootfs", SECTION_SANDBOX, FIELD_PATH, OFF(rootfs), 0, 0, NULL,
          "a directory whose usr/ replaces the host's /usr" },
        { "allow_degraded", SECTION_SANDBOX, FIELD_LIST, OFF(allow_degraded), 0, 0, NULL,
          "protections that may be missing on this host without refusing to run" },
        { "pool_size", SECTION_SANDBOX, FIELD_COUNT, OFF(pool_size), 0, 1024, NULL,
          "sandboxes a long-running agentbox keeps warm for this policy (0: none)" },
        { "python_preload", SECTION_SANDBOX, FIELD_LIST, OFF(python_preload), 0, 0, NULL,
          "Python modules a session's interpreter imports before its first cell (in the warm "
          "pool: ahead of the request)" },
        { "mode", SECTION_POLICY, FIELD_ENUM, OFF(module_mode), 0, 0, modes,
          "blacklist: restricted_modules are refused; whitelist: only allowed_modules" },
        { "restricted_modules", SECTION_POLICY, FIELD_LIST, OFF(restricted_modules), 0, 0, NULL,
          "Python modules the code may not import (blacklist mode)" },
        { "allowed_modules", SECTION_POLICY, FIELD_LIST, OFF(allowed_modules), 0, 0, NULL,
          "Python modules the code may import (whitelist mode)" },
        { "module_overrides", SECTION_POLICY, FIELD_OVERRIDES, OFF(overrides), 0, 0, NULL,
          "single functions of restricted modules let through" },
        { "allowed_commands", SECTION_POLICY, FIELD_LIST, OFF(allowed_commands), 0, 0, NULL,
          "commands a shell command line may run" },
        { "network_access", SECTION_POLICY, FIELD_ENUM, OFF(network), 0, 0, networks,
          "none: loopback only; restricted: allowed_domains through a proxy; full: host network" },
        { "allowed_domains", SECTION_POLICY, FIELD_LIST, OFF(allowed_domains), 0, 0, NULL,
          "destinations reachable when network_access is restricted: name, *.suffix or IP, "
          "optionally :port (default 80 and 443)" },
        { "network_hosts", SECTION_POLICY, FIELD_HOSTS, OFF(network_hosts), 0, 0, NULL,
          "NAME: address answers for the proxy's resolver; these addresses may be internal" },
        { "max_network_bytes", SECTION_POLICY, FIELD_SIZE, OFF(network_max_bytes), 1, 1024 * GiB,
          NULL, "bytes through the proxy per execution, both directions" },
        { "max_network_connections", SECTION_POLICY, FIELD_COUNT, OFF(network_max_connections), 1,
          1000000, NULL, "connections through the proxy per execution" },
        { "max_concurrent_connections", SECTION_POLICY, FIELD_COUNT, OFF(network_max_concurrent), 1,
          1024, NULL, "connections open through the proxy at once" },
        { "memory_limit", SECTION_POLICY, FIELD_SIZE, OFF(memory_max_bytes), 8 * MiB, 64 * GiB,
          NULL, "memory of the whole sandbox, swap off" },
        { "cpu_limit", SECTION_POLICY, FIELD_CORES, OFF(cpu_milli), 10, 1024ULL * 1000, NULL,
          "CPU share in cores (0.5, 1, 2)" },
        { "execution_timeout", SECTION_POLICY, FIELD_DURATION, OFF(timeout_ms), 1,
          24ULL * 3600 * 1000, NULL, "wall-clock seconds before the whole sandbox is killed" },
        { "cpu_time_limit", SECTION_POLICY, FIELD_DURATION, OFF(cpu_time_ms), 1,
          24ULL * 3600 * 1000, NULL, "CPU seconds of the whole sandbox" },
        { "max_output_size", SECTION_POLICY, FIELD_SIZE, OFF(output_max_bytes), 1, 1 * GiB, NULL,
          "bytes kept of stdout and of stderr each; the rest is drained and counted" },
        { "max_file_size", SECTION_POLICY, FIELD_SIZE, OFF(file_size_max_bytes), 1, 1024 * GiB,
          NULL, "largest file the code may write" },
        { "disk_limit", SECTION_POLICY, FIELD_SIZE, OFF(disk_max_bytes), 1 * MiB, 64 * GiB, NULL,
          "size of /tmp, /workspace and /dev/shm together" },
        { "pids_limit", SECTION_POLICY, FIELD_COUNT, OFF(pids_max), 1, 32768, NULL,
          "processes and threads at once" },
        { "open_files_limit", SECTION_POLICY, FIELD_COUNT, OFF(open_files_max), 16, 1 << 20, NULL,
          "open files per process" },
        { "mounts", SECTION_POLICY, FIELD_MOUNTS, OFF(mounts), 0, 0, NULL,
          "host paths bound in, \"SRC:DST\" read-only or \"SRC:DST:rw\"" },
        { "env", SECTION_POLICY, FIELD_ENV, OFF(env), 0, 0, NULL,
          "environment variables given to the code" },
        { "secrets", SECTION_POLICY, FIELD_SECRETS, OFF(secrets), 0, 0, NULL,
          "environment variables from the host's variables or files, redacted from all output" },
        { "redact_patterns", SECTION_POLICY, FIELD_LIST, OFF(redact_patterns), 0, 0, NULL,
          "extra POSIX extended regular expressions to redact" },
        { "redact_disable", SECTION_POLICY, FIELD_LIST, OFF(redact_disable), 0, 0, NULL,
          "built-in credential shapes not to redact" },
        { "audit.path", SECTION_POLICY, FIELD_PATH, OFF(audit_path), 0, 0, NULL,
          "the audit log: a file (JSON lines) or stderr" },
        { "audit.max_size", SECTION_POLICY, FIELD_SIZE, OFF(audit_max_bytes), 4096, 64 * GiB, NULL,
          "rotate the audit log past this size (one old file kept)" },
};

_Static_assert(ELEMENTSOF(fields) <= 64, "set_mask has one bit per field");

const struct field *policy_fields(size_t *ret_n)
{
        *ret_n = ELEMENTSOF(fields);
        return fields;
}

static void mark_set(struct abox_policy *p, const struct field *f)
{
        p->set_mask |= 1ULL << (f - fields);
}

bool policy_is_set(const struct abox_policy *p, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (strcmp(fields[i].name, name) == 0)
                        return p->set_mask & (1ULL << i);
        return false;
}

const struct field *policy_field_find(enum field_section section, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i].section == section && strcmp(fields[i].name, name) == 0)
                        return &fields[i];
        return NULL;
}

struct abox_policy *abox_policy_new(void)
{
        struct abox_policy *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->backend = BACKEND_JAIL;
        p->network = NETWORK_NONE;
        p->memory_max_bytes = 256 * MiB;
        p->timeout_ms = 30ULL * 1000;
        p->output_max_bytes = 1 * MiB;
        p->file_size_max_bytes = 64 * MiB;
        p->disk_max_bytes = 128 * MiB;
        p->pids_max = 64;
        p->open_files_max = 256;
        p->audit_max_bytes = 10 * MiB;
        p->network_max_bytes = 64 * MiB;
        p->network_max_connections = 256;
        p->network_max_concurrent = 32;
        return p;
}

int strlist_append(struct strlist *l, const char *s)
{
        char **items = realloc(l->items, (l->n + 1) * sizeof *items);
        if (!items)
                return -ENOMEM;
        l->items = items;
        if (!(items[l->n] = strdup(s)))
                return -ENOMEM;
        l->n++;
        return 0;
}

bool strlist_contains(const struct strlist *l, const char *s)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->items[i], s) == 0)
                        return true;
        return false;
}

/* The items with sep between them; the first error. */
static int append_items(struct strbuf *sb, const struct strlist *l, char sep)
{
        int r = 0;
        for (size_t i = 0; r == 0 && i < l->n; i++) {
                if (i)
                        r = strbuf_append(sb, &sep, 1);
                r = r ?: strbuf_append(sb, l->items[i], strlen(l->items[i]));
        }
        return r;
}

char *strlist_join(const struct strlist *l, char sep)
{
        struct strbuf sb = { 0 };
        if (append_items(&sb, l, sep) < 0) {
                strbuf_done(&sb);
                return NULL;
        }
        return strbuf_steal(&sb);
}

void strlist_done(struct strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        *l = (struct strlist){ 0 };
}

static int strlist_copy(struct strlist *dst, const struct strlist *src)
{
        *dst = (struct strlist){ 0 };
        for (size_t i = 0; i < src->n; i++)
                if (strlist_append(dst, src->items[i]) < 0)
                        return -ENOMEM;
        return 0;
}

/* Members by the field table: dup, free and equal each walk it, so a
 * key added to the table is copied, freed and compared without a fourth
 * list to keep.  Pointers are reached through the field's offset. */
#define MEMBER(p, f, type)  ((type *)(void *)((char *)(p) + (f)->offset))
#define CMEMBER(p, f, type) ((const type *)(const void *)((const char *)(p) + (f)->offset))

_Static_assert(sizeof(enum backend) == sizeof(int) && sizeof(enum module_mode) == sizeof(int) &&
                       sizeof(enum network_mode) == sizeof(int),
               "FIELD_ENUM members are compared as int");

static bool field_is_list(const struct field *f)
{
        return f->type == FIELD_LIST || f->type == FIELD_ENV || f->type == FIELD_SECRETS ||
               f->type == FIELD_HOSTS;
}

/* One owned member (a path, a list, the overrides, the mounts) freed and
 * left empty; with `release` false only forgotten: a shallow copy's
 * member still points at the original's. */
static void member_drop(struct abox_policy *p, const struct field *f, bool release)
{
        if (f->type == FIELD_PATH) {
                char **s = MEMBER(p, f, char *);
                if (release)
                        free(*s);
                *s = NULL;
        } else if (field_is_list(f)) {
                struct strlist *l = MEMBER(p, f, struct strlist);
                if (release)
                        strlist_done(l);
                *l = (struct strlist){ 0 };
        } else if (f->type == FIELD_OVERRIDES) {
                for (size_t i = 0; release && i < p->n_overrides; i++) {
                        free(p->overrides[i].module);
                        strlist_done(&p->overrides[i].functions);
                }
                if (release)
                        free(p->overrides);
                p->overrides = NULL, p->n_overrides = 0;
        } else if (f->type == FIELD_MOUNTS) {
                for (size_t i = 0; release && i < p->n_mounts; i++) {
                        free(p->mounts[i].src);
                        free(p->mounts[i].dst);
                }
                if (release)
                        free(p->mounts);
                p->mounts = NULL, p->n_mounts = 0;
        }
}

void abox_policy_free(struct abox_policy *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                member_drop(p, &fields[i], /* release= */ true);
        free(p);
}

static bool str_eq(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strlist_eq(const struct strlist *a, const struct strlist *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->items[i], b->items[i]) != 0)
                        return false;
        return true;
}

static bool member_equal(const struct abox_policy *a, const struct abox_policy *b,
                         const struct field *f)
{
        bool eq = true;
        switch (f->type) {
        case FIELD_SIZE:
        case FIELD_DURATION:
        case FIELD_COUNT:
        case FIELD_CORES: return *CMEMBER(a, f, uint64_t) == *CMEMBER(b, f, uint64_t);
        case FIELD_ENUM: return *CMEMBER(a, f, int) == *CMEMBER(b, f, int);
        case FIELD_PATH: return str_eq(*CMEMBER(a, f, char *), *CMEMBER(b, f, char *));
        case FIELD_LIST:
        case FIELD_ENV:
        case FIELD_SECRETS:
        case FIELD_HOSTS:
                return strlist_eq(CMEMBER(a, f, struct strlist), CMEMBER(b, f, struct strlist));
        case FIELD_OVERRIDES:
                eq = a->n_overrides == b->n_overrides;
                for (size_t i = 0; eq && i < a->n_overrides; i++)
                        eq = strcmp(a->overrides[i].module, b->overrides[i].module) == 0 &&
                             a->overrides[i].allowed == b->overrides[i].allowed &&
                             strlist_eq(&a->overrides[i].functions, &b->overrides[i].functions);
                return eq;
        case FIELD_MOUNTS:
                eq = a->n_mounts == b->n_mounts;
                for (size_t i = 0; eq && i < a->n_mounts; i++)
                        eq = strcmp(a->mounts[i].src, b->mounts[i].src) == 0 &&
                             strcmp(a->mounts[i].dst, b->mounts[i].dst) == 0 &&
                             a->mounts[i].rw == b->mounts[i].rw;
                return eq;
        }
        return false;
}

bool policy_equal(const struct abox_policy *a, const struct abox_policy *b)
{
        /* Every member that shapes a sandbox, and set_mask too: whether a
         * key was given at all switches rules on (an empty allowed_commands
         * refuses every command, a bare "mode" turns the Python guards on).
         * Not pool_size, which shapes the pool, not the sandbox. */
        uint64_t ignored = 0;
        bool eq = true;
        for (size_t i = 0; eq && i < ELEMENTSOF(fields); i++) {
                if (fields[i].offset == OFF(pool_size))
                        ignored = 1ULL << i;
                else
                        eq = member_equal(a, b, &fields[i]);
        }
        return eq && (a->set_mask & ~ignored) == (b->set_mask & ~ignored);
}

/* One owned member of src, copied into p's empty one. */
static int copy_member(struct abox_policy *p, const struct abox_policy *src, const struct field *f)
{
        if (f->type == FIELD_PATH) {
                const char *from = *CMEMBER(src, f, char *);
                char **to = MEMBER(p, f, char *);
                *to = from ? strdup(from) : NULL;
                return from && !*to ? -ENOMEM : 0;
        }
        if (field_is_list(f))
                return strlist_copy(MEMBER(p, f, struct strlist), CMEMBER(src, f, struct strlist));
        int r = 0;
        if (f->type == FIELD_OVERRIDES) {
                for (size_t i = 0; r == 0 && i < src->n_overrides; i++)
                        r = policy_set_override(p, src->overrides[i].module,
                                                src->overrides[i].allowed,
                                                &src->overrides[i].functions, NULL);
        } else if (f->type == FIELD_MOUNTS) {
                for (size_t i = 0; r == 0 && i < src->n_mounts; i++) {
                        struct mount_spec *m = realloc(p->mounts, (i + 1) * sizeof *m);
                        if (!m)
                                return -ENOMEM;
                        p->mounts = m;
                        m[i] = (struct mount_spec){ strdup(src->mounts[i].src),
                                                    strdup(src->mounts[i].dst), src->mounts[i].rw };
                        p->n_mounts = i + 1;
                        if (!m[i].src || !m[i].dst)
                                r = -ENOMEM;
                }
        }
        return r;
}

struct abox_policy *abox_policy_dup(const struct abox_policy *src)
{
        struct abox_policy *p = abox_policy_new();
        if (!p)
                return NULL;
        *p = *src;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                member_drop(p, &fields[i], /* release= */ false);
        int r = 0;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(fields); i++)
                r = copy_member(p, src, &fields[i]);
        if (r < 0) {
                abox_policy_free(p);
                return NULL;
        }
        return p;
}

void policy_field_clear(struct abox_policy *p, const struct field *f)
{
        mark_set(p, f);
        member_drop(p, f, /* release= */ true);
}

bool policy_module_name_valid(const char *s)
{
        bool start = true;
        if (!*s || strlen(s) > 200)
                return false;
        for (; *s; s++) {
                bool alpha = *s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z');
                bool digit = *s >= '0' && *s <= '9';
                if (*s == '.' && !start)
                        start = true;
                else if (alpha || (digit && !start))
                        start = false;
                else
                        return false;
        }
        return !start;
}

int policy_set_override(struct abox_policy *p, const char *module, bool allowed,
                        const struct strlist *functions, struct abox_error *err)
{
        if (!policy_module_name_valid(module))
                return abox_error_set(err, -EINVAL, "module_overrides: '%s' is not a module name",
                                      module);
        for (size_t i = 0; i < functions->n; i++)
                if (!policy_module_name_valid(functions->items[i]) ||
                    strchr(functions->items[i], '.'))
                        return abox_error_set(err, -EINVAL,
                                              "module_overrides: '%s' is not a function name",
                                              functions->items[i]);
        struct module_override *o = realloc(p->overrides, (p->n_overrides + 1) * sizeof *o);
        if (!o)
                return abox_error_set(err, -ENOMEM, "out of memory");
        p->overrides = o;
        o = &o[p->n_overrides];
        *o = (struct module_override){ .module = strdup(module), .allowed = allowed };
        p->n_overrides++;
        if (!o->module || strlist_copy(&o->functions, functions) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        return 0;
}

/* A sandbox path: absolute, normalised, and not inside what agentbox builds
 * itself (binds below /tmp and /workspace are fine: those are scratch). */
static bool valid_target(const char *dst)
{
        static const char *const reserved[] = { "/proc", "/dev", "/usr",   "/etc",   "/bin",
                                                "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };
        size_t len = strlen(dst);
        if (dst[0] != '/' || len < 2 || len >= 256 || dst[len - 1] == '/' || strstr(dst, "//"))
                return false;
        for (const char *c = dst; c; c = strchr(c + 1, '/'))
                if (strncmp(c, "/./", 3) == 0 || strcmp(c, "/.") == 0 ||
                    strncmp(c, "/../", 4) == 0 || strcmp(c, "/..") == 0)
                        return false;
        if (strcmp(dst, "/tmp") == 0 || strcmp(dst, "/workspace") == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
                size_t n = strlen(reserved[i]);
                if (strncmp(dst, reserved[i], n) == 0 && (dst[n] == '\0' || dst[n] == '/'))
                        return false;
        }
        return true;
}

/* The host's kernel interfaces are not the sandbox's to see: a bind of
 * /proc would show the host's processes, /sys and the cgroup trees its
 * devices and groups. */
static const char *kernel_interface(const char *path)
{
        static const struct {
                unsigned long magic;
                const char *name;
        } fs[] = {
                { PROC_SUPER_MAGIC, "procfs" },     { SYSFS_MAGIC, "sysfs" },
                { CGROUP_SUPER_MAGIC, "cgroupfs" }, { CGROUP2_SUPER_MAGIC, "cgroup2 tree" },
                { DEBUGFS_MAGIC, "debugfs" },       { TRACEFS_MAGIC, "tracefs" },
                { SECURITYFS_MAGIC, "securityfs" }, { BPF_FS_MAGIC, "bpffs" },
                { DEVPTS_SUPER_MAGIC, "devpts" },
        };
        struct statfs sf;
        if (statfs(path, &sf) < 0)
                return NULL;
        for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
                if ((unsigned long)sf.f_type == fs[i].magic)
                        return fs[i].name;
        return NULL;
}

static int add_mount(struct abox_policy *p, const char *value, struct abox_error *err)
{
        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return abox_error_set(err, -ENOMEM, "out of memory");
        char *dst = strchr(copy, ':');
        if (!dst || dst == copy)
                return abox_error_set(err, -EINVAL, "mount '%s' is not SRC:DST[:rw]", value);
        *dst++ = '\0';
        char *mode = strchr(dst, ':');
        bool rw = false;
        if (mode) {
                *mode++ = '\0';
                if (strcmp(mode, "rw") == 0)
                        rw = true;
                else if (strcmp(mode, "ro") != 0)
                        return abox_error_set(err, -EINVAL, "mount '%s': mode must be ro or rw",
                                              value);
        }
        if (copy[0] != '/')
                return abox_error_set(err, -EINVAL, "mount source '%s' must be an absolute path",
                                      copy);
        struct stat st;
        if (stat(copy, &st) < 0)
                return abox_error_set(err, -ENOENT, "mount source '%s' does not exist", copy);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return abox_error_set(err, -EINVAL,
                                      "mount source '%s' is neither a directory nor a file", copy);
        const char *kernel_fs = kernel_interface(copy);
        if (kernel_fs)
                return abox_error_set(err, -EINVAL,
                                      "mount source '%s' is on the host's %s, which is never bound "
                                      "into a sandbox",
                                      copy, kernel_fs);
        if (!valid_target(dst))
                return abox_error_set(err, -EINVAL,
                                      "mount target '%s' must be an absolute, normalised path "
                                      "outside /, /proc, /dev, /usr, /etc, /bin, /lib*, /sbin",
                                      dst);
        if (p->n_mounts >= POLICY_MAX_MOUNTS)
                return abox_error_set(err, -E2BIG, "at most %d mounts", POLICY_MAX_MOUNTS);
        struct mount_spec *m = realloc(p->mounts, (p->n_mounts + 1) * sizeof *m);
        if (!m)
                return abox_error_set(err, -ENOMEM, "out of memory");
        p->mounts = m;
        m[p->n_mounts] = (struct mount_spec){ strdup(copy), strdup(dst), rw };
        p->n_mounts++;
        if (!m[p->n_mounts - 1].src || !m[p->n_mounts - 1].dst)
                return abox_error_set(err, -ENOMEM, "out of memory");
        return 0;
}

static int add_env(struct abox_policy *p, const char *value, struct abox_error *err)
{
        const char *eq = strchr(value, '=');
        if (!eq || eq == value)
                return abox_error_set(err, -EINVAL, "env '%s' is not NAME=VALUE", value);
        for (const char *c = value; c < eq; c++)
                if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                      (c > value && *c >= '0' && *c <= '9')))
                        return abox_error_set(err, -EINVAL, "env name '%.*s' is not a valid name",
                                              (int)(eq - value), value);
        if (strlist_append(&p->env, value) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        return 0;
}

/* "NAME=env:HOSTVAR" or "NAME=file:/path"; resolved at run time, so a
 * policy can name secrets without holding them. */
static int add_secret(struct abox_policy *p, const char *value, struct abox_error *err)
{
        const char *eq = strchr(value, '=');
        if (!eq || eq == value ||
            (strncmp(eq + 1, "env:", 4) != 0 && strncmp(eq + 1, "file:", 5) != 0))
                return abox_error_set(err, -EINVAL,
                                      "secrets: '%s' is not NAME=env:HOSTVAR or NAME=file:PATH",
                                      value);
        _cleanup_free_ char *name = strndup(value, (size_t)(eq - value));
        _cleanup_free_ char *probe = NULL;
        if (!name || asprintf(&probe, "%s=x", name) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        struct strlist scratch = { 0 };
        struct abox_policy tmp = { .env = scratch };
        int r = add_env(&tmp, probe, err);
        strlist_done(&tmp.env);
        if (r < 0)
                return abox_error_set(err, -EINVAL, "secrets: '%s' is not a variable name", name);
        const char *src = eq + 1 + (eq[1] == 'e' ? 4 : 5);
        if (!*src || (eq[1] == 'f' && src[0] != '/'))
                return abox_error_set(err, -EINVAL, "secrets: %s needs a %s", name,
                                      eq[1] == 'e' ? "host variable name" : "absolute file path");
        if (strlist_append(&p->secrets, value) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        return 0;
}

static int set_number(struct abox_policy *p, const struct field *f, const char *value,
                      struct abox_error *err)
{
        static const char *const hints[] = {
                [FIELD_SIZE] = "a size such as 256m, 1g or 65536",
                [FIELD_DURATION] = "seconds such as 30, 1.5 or 500ms",
                [FIELD_COUNT] = "a whole number",
                [FIELD_CORES] = "a number of cores such as 0.5 or 2",
        };
        uint64_t v = 0;
        int r;
        switch (f->type) {
        case FIELD_SIZE: r = parse_size(value, &v); break;
        case FIELD_DURATION: r = parse_duration_ms(value, &v); break;
        case FIELD_CORES: r = parse_decimal_milli(value, &v); break;
        default: r = parse_uint(value, UINT64_MAX, &v); break;
        }
        if (r < 0)
                return abox_error_set(err, -EINVAL, "%s: '%s' is not %s", f->name, value,
                                      hints[f->type]);
        if (v < f->min || v > f->max) {
                char lo[32], hi[32];
                if (f->type == FIELD_SIZE) {
                        format_size(f->min, lo, sizeof lo);
                        format_size(f->max, hi, sizeof hi);
                } else if (f->type == FIELD_DURATION || f->type == FIELD_CORES) {
                        snprintf(lo, sizeof lo, "%g", (double)f->min / 1000);
                        snprintf(hi, sizeof hi, "%g", (double)f->max / 1000);
                } else {
                        snprintf(lo, sizeof lo, "%llu", (unsigned long long)f->min);
                        snprintf(hi, sizeof hi, "%llu", (unsigned long long)f->max);
                }
                return abox_error_set(err, -ERANGE, "%s: '%s' is out of range (%s to %s)", f->name,
                                      value, lo, hi);
        }
        memcpy((char *)p + f->offset, &v, sizeof v);
        return 0;
}

int policy_field_set(struct abox_policy *p, const struct field *f, const char *value,
                     struct abox_error *err)
{
        char *base = (char *)p + f->offset;
        struct net_rule rule;
        struct net_pin pin;
        mark_set(p, f);
        switch (f->type) {
        case FIELD_SIZE:
        case FIELD_DURATION:
        case FIELD_COUNT:
        case FIELD_CORES: return set_number(p, f, value, err);
        case FIELD_ENUM:
                for (int i = 0; f->choices[i]; i++)
                        if (strcmp(f->choices[i], value) == 0) {
                                memcpy(base, &i, sizeof i);
                                return 0;
                        }
                return abox_error_set(err, -EINVAL, "%s: '%s' is not one of %s%s%s%s%s", f->name,
                                      value, f->choices[0], f->choices[1] ? ", " : "",
                                      f->choices[1] ?: "", f->choices[2] ? ", " : "",
                                      f->choices[2] ?: "");
        case FIELD_PATH: {
                if (value[0] != '/' &&
                    !(f->offset == OFF(audit_path) && strcmp(value, "stderr") == 0))
                        return abox_error_set(err, -EINVAL, "%s: '%s' must be an absolute path",
                                              f->name, value);
                char *dup = strdup(value);
                if (!dup)
                        return abox_error_set(err, -ENOMEM, "out of memory");
                free(*(char **)base);
                *(char **)base = dup;
                return 0;
        }
        case FIELD_LIST:
                if (value[0] == '\0')
                        return abox_error_set(err, -EINVAL, "%s: empty item", f->name);
                if (((struct strlist *)base)->n >= POLICY_MAX_LIST)
                        return abox_error_set(err, -E2BIG, "%s: more than %d items", f->name,
                                              POLICY_MAX_LIST);
                if ((f->offset == OFF(restricted_modules) || f->offset == OFF(allowed_modules) ||
                     f->offset == OFF(python_preload)) &&
                    !policy_module_name_valid(value))
                        return abox_error_set(err, -EINVAL,
                                              "%s: '%.200s' is not a module name (dotted Python "
                                              "identifiers, at most 200 bytes)",
                                              f->name, value);
                if (f->offset == OFF(python_preload) && ((struct strlist *)base)->n >= MAX_PRELOAD)
                        return abox_error_set(err, -E2BIG, "%s: more than %d modules", f->name,
                                              MAX_PRELOAD);
                if (f->offset == OFF(allowed_domains) && net_rule_parse(value, &rule) < 0)
                        return abox_error_set(err, -EINVAL,
                                              "%s: '%.200s' is not a host name, *.suffix or IP "
                                              "address with an optional :port",
                                              f->name, value);
                if (strlist_append((struct strlist *)base, value) < 0)
                        return abox_error_set(err, -ENOMEM, "out of memory");
                return 0;
        case FIELD_MOUNTS: return add_mount(p, value, err);
        case FIELD_ENV: return add_env(p, value, err);
        case FIELD_SECRETS: return add_secret(p, value, err);
        case FIELD_HOSTS:
                if (net_pin_parse(value, &pin) < 0)
                        return abox_error_set(err, -EINVAL,
                                              "%s: '%.200s' is not NAME=ADDRESS (a host name and "
                                              "an IP address)",
                                              f->name, value);
                if (((struct strlist *)base)->n >= POLICY_MAX_LIST)
                        return abox_error_set(err, -E2BIG, "%s: more than %d items", f->name,
                                              POLICY_MAX_LIST);
                if (strlist_append((struct strlist *)base, value) < 0)
                        return abox_error_set(err, -ENOMEM, "out of memory");
                return 0;
        case FIELD_OVERRIDES:
                return abox_error_set(err, -EINVAL, "%s: needs a mapping (see docs/policy.md)",
                                      f->name);
        }
        return abox_error_set(err, -EINVAL, "%s: cannot be set", f->name);
}

int abox_policy_set(struct abox_policy *p, const char *key, const char *value,
                    struct abox_error *err)
{
        if (!p || !key || !value)
                return abox_error_set(err, -EINVAL, "missing policy, key or value");
        const struct field *f = policy_field_find(SECTION_POLICY, key);
        if (!f)
                f = policy_field_find(SECTION_SANDBOX, key);
        if (!f)
                return abox_error_set(err, -ENOENT, "unknown policy key '%s'", key);
        int r = policy_field_set(p, f, value, err);
        return r < 0 ? r : 0;
}

int policy_validate(const struct abox_policy *p, struct abox_error *err)
{
        for (size_t i = 0; i < p->redact_disable.n; i++)
                if (!redact_builtin_known(p->redact_disable.items[i]))
                        return abox_error_set(err, -EINVAL,
                                              "redact_disable: '%s' is not a built-in shape "
                                              "(private_key, aws_access_key, github_token, "
                                              "slack_token, anthropic_key, openai_key, jwt)",
                                              p->redact_disable.items[i]);
        static const char *const degradable[] = { "landlock",    "cgroup",     "cgroup:memory",
                                                  "cgroup:pids", "cgroup:cpu", "sealed_init" };
        for (size_t i = 0; i < p->allow_degraded.n; i++) {
                bool known = false;
                for (size_t j = 0; j < ELEMENTSOF(degradable); j++)
                        known |= strcmp(p->allow_degraded.items[i], degradable[j]) == 0;
                if (!known)
                        return abox_error_set(err, -EINVAL,
                                              "allow_degraded: '%s' is not one of landlock, "
                                              "cgroup, cgroup:memory, cgroup:pids, cgroup:cpu, "
                                              "sealed_init",
                                              p->allow_degraded.items[i]);
        }
        if (p->backend != BACKEND_JAIL)
                return abox_error_set(err, -EOPNOTSUPP,
                                      "backend 'process' is not available yet; use 'jail'");
        if (p->disk_max_bytes < 1 * MiB)
                return abox_error_set(err, -ERANGE, "disk_limit is too small");
        return 0;
}

static void append_list(struct strbuf *sb, const char *key, const struct strlist *l)
{
        strbuf_appendf(sb, "%s:", key);
        append_items(sb, l, ',');
        strbuf_append(sb, "\n", 1);
}

char *policy_module_spec(const struct abox_policy *p)
{
        if (!policy_is_set(p, "mode") && !policy_is_set(p, "restricted_modules") &&
            !policy_is_set(p, "allowed_modules") && !policy_is_set(p, "module_overrides"))
                return NULL;
        struct strbuf sb = { 0 };
        strbuf_appendf(&sb, "mode:%s\n",
                       p->module_mode == MODULE_MODE_WHITELIST ? "whitelist" : "blacklist");
        append_list(&sb, "restricted", &p->restricted_modules);
        append_list(&sb, "allowed", &p->allowed_modules);
        for (size_t i = 0; i < p->n_overrides; i++) {
                strbuf_appendf(&sb, "override:%s:%d:", p->overrides[i].module,
                               p->overrides[i].allowed ? 1 : 0);
                append_items(&sb, &p->overrides[i].functions, ',');
                strbuf_append(&sb, "\n", 1);
        }
        strbuf_appendf(&sb, "network:%d", p->network == NETWORK_NONE ? 0 : 1);
        return strbuf_steal(&sb);
}
