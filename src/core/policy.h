/* The policy: one struct, filled from one table of field descriptors
 * (policy.c) by every front end — YAML file, command-line flag, and later
 * HTTP bodies and MCP arguments.  Limits carry their units in their names. */
#pragma once

#include "agentbox.h"

#include <stdbool.h>
#include <stdint.h>

struct strlist {
        char **items;
        size_t n;
};

#define POLICY_MAX_MOUNTS 16
#define POLICY_MAX_LIST   4096

struct mount_spec {
        char *src;
        char *dst;
        bool rw;
};

struct module_override {
        char *module;
        bool allowed;
        struct strlist functions;
};

enum backend { BACKEND_JAIL, BACKEND_PROCESS };
enum module_mode { MODULE_MODE_BLACKLIST, MODULE_MODE_WHITELIST };
enum network_mode { NETWORK_NONE, NETWORK_RESTRICTED, NETWORK_FULL };

struct abox_policy {
        enum backend backend;
        char *rootfs; /* NULL: the host's /usr */
        struct strlist allow_degraded;

        enum module_mode module_mode;
        struct strlist restricted_modules;
        struct strlist allowed_modules;
        struct module_override *overrides;
        size_t n_overrides;
        struct strlist allowed_commands;
        enum network_mode network;
        struct strlist allowed_domains;
        struct strlist network_hosts; /* "name=address", answered by the proxy's resolver */
        uint64_t network_max_bytes;
        uint64_t network_max_connections;
        uint64_t network_max_concurrent;

        uint64_t memory_max_bytes;
        uint64_t cpu_milli; /* thousandths of a core; 0: no cap */
        uint64_t timeout_ms;
        uint64_t cpu_time_ms; /* 0: bounded by the timeout only */
        uint64_t output_max_bytes;
        uint64_t file_size_max_bytes;
        uint64_t disk_max_bytes;
        uint64_t pids_max;
        uint64_t open_files_max;

        struct mount_spec *mounts;
        size_t n_mounts;
        struct strlist env;     /* "NAME=VALUE" */
        struct strlist secrets; /* "NAME=env:HOSTVAR" or "NAME=file:/path" */
        struct strlist redact_patterns;
        struct strlist redact_disable;
        char *audit_path; /* NULL: no audit; "stderr" */
        uint64_t audit_max_bytes;

        uint64_t pool_size;            /* warm sandboxes a long-running process keeps; 0: no pool */
        struct strlist python_preload; /* modules a session kernel imports before its first cell */

        uint64_t set_mask; /* bit i: fields[i] was given a value */
};

enum field_section { SECTION_SANDBOX, SECTION_POLICY };

enum field_type {
        FIELD_SIZE,
        FIELD_DURATION,
        FIELD_COUNT,
        FIELD_CORES,
        FIELD_ENUM,
        FIELD_PATH,
        FIELD_LIST,
        FIELD_MOUNTS,
        FIELD_ENV,
        FIELD_OVERRIDES,
        FIELD_SECRETS,
        FIELD_HOSTS,
};

struct field {
        const char *name;
        enum field_section section;
        enum field_type type;
        size_t offset;
        uint64_t min, max;          /* numeric fields, in the field's unit */
        const char *const *choices; /* FIELD_ENUM, NULL-terminated */
        const char *doc;
};

const struct field *policy_fields(size_t *ret_n);
/* Whether the key was configured at all (an empty list counts). */
bool policy_is_set(const struct abox_policy *p, const char *name);
const struct field *policy_field_find(enum field_section section, const char *name);
/* Sets a field from one scalar; for list-like fields appends one item. */
int policy_field_set(struct abox_policy *p, const struct field *f, const char *value,
                     struct abox_error *err);
/* Empties a list-like field (a file's list replaces the one before). */
void policy_field_clear(struct abox_policy *p, const struct field *f);
bool policy_module_name_valid(const char *s);
int policy_set_override(struct abox_policy *p, const char *module, bool allowed,
                        const struct strlist *functions, struct abox_error *err);
int strlist_append(struct strlist *l, const char *s);
bool strlist_contains(const struct strlist *l, const char *s);
void strlist_done(struct strlist *l);
/* The items joined by sep, as a new string; NULL when out of memory. */
char *strlist_join(const struct strlist *l, char sep);
/* Whether two policies build the same sandbox (the warm pool's test). */
bool policy_equal(const struct abox_policy *a, const struct abox_policy *b);
/* Checks that hold across fields (cpu time vs timeout, ...). */
int policy_validate(const struct abox_policy *p, struct abox_error *err);

/* The module policy as the Python kernel reads it (see kernel.py), or NULL
 * when no module rule is configured; free() it. */
char *policy_module_spec(const struct abox_policy *p);
