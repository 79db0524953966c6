/* libagentbox — run untrusted Python, shell and programs in a fresh jail.
 *
 * The shape is minijail's: build an opaque policy (defaults are safe), load a
 * YAML file and/or set single keys on it, then run a request.  A run that
 * happened — whatever the code did, including timeouts and memory kills —
 * returns 0 and a result; only agentbox's own failure (the sandbox could not
 * be built, a required protection is missing) returns -errno with a message
 * in the caller's struct abox_error.
 *
 * All functions are thread-safe in the sense that distinct objects may be used
 * from distinct threads; a policy may be shared read-only by concurrent runs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct abox_error {
        int code; /* -errno */
        char msg[256];
};

/* ---- statuses and limits: names are the JSON contract ---- */
#define ABOX_STATUSES(X)                                                                           \
        X(SUCCESS, "success")                                                                      \
        X(ERROR, "error")                                                                          \
        X(TIMEOUT, "timeout")                                                                      \
        X(RESOURCE_EXCEEDED, "resource_exceeded")                                                  \
        X(BLOCKED, "blocked")                                                                      \
        X(SANDBOX_ERROR, "sandbox_error")

#define ABOX_LIMITS(X)                                                                             \
        X(NONE, NULL)                                                                              \
        X(MEMORY, "memory")                                                                        \
        X(PIDS, "pids")                                                                            \
        X(OUTPUT, "output")                                                                        \
        X(FILE_SIZE, "file_size")                                                                  \
        X(DISK, "disk")                                                                            \
        X(CPU_TIME, "cpu_time")

#define ABOX_ENUM_ENTRY_(prefix, id, name) prefix##id,
#define ABOX_STATUS_ENTRY_(id, name)       ABOX_ENUM_ENTRY_(ABOX_STATUS_, id, name)
#define ABOX_LIMIT_ENTRY_(id, name)        ABOX_ENUM_ENTRY_(ABOX_LIMIT_, id, name)
enum abox_status { ABOX_STATUSES(ABOX_STATUS_ENTRY_) };
enum abox_limit { ABOX_LIMITS(ABOX_LIMIT_ENTRY_) };

const char *abox_status_name(enum abox_status s);
const char *abox_limit_name(enum abox_limit l); /* NULL for ABOX_LIMIT_NONE */

/* ---- policy ---- */
struct abox_policy;

struct abox_policy *abox_policy_new(void);
void abox_policy_free(struct abox_policy *p);
struct abox_policy *abox_policy_dup(const struct abox_policy *p);

/* Applies a YAML policy file (the shape in docs/policy.md) on top of the
 * current values.  Errors name the file, line and key. */
int abox_policy_load(struct abox_policy *p, const char *path, struct abox_error *err);
int abox_policy_load_string(struct abox_policy *p, const char *yaml, size_t len, const char *name,
                            struct abox_error *err);

/* Sets one key from text, the way a command-line flag or an HTTP body does:
 * `memory_limit` "256m", `execution_timeout` "2", `network_access` "none".
 * List keys (allowed_commands, mounts "SRC:DST[:rw]", env "NAME=VALUE", ...)
 * append one item. */
int abox_policy_set(struct abox_policy *p, const char *key, const char *value,
                    struct abox_error *err);

/* ---- running code ---- */
enum abox_language {
        ABOX_LANG_PYTHON,
        ABOX_LANG_SHELL,
        ABOX_LANG_PROGRAM,
};

struct abox_request {
        enum abox_language language;
        const char *code; /* PYTHON, SHELL: any bytes */
        size_t code_len;
        const char *const *argv; /* PROGRAM: NULL-terminated, argv[0] is the program */
};

struct abox_result;

int abox_run(const struct abox_policy *p, const struct abox_request *req, struct abox_result **ret,
             struct abox_error *err);

void abox_result_free(struct abox_result *r);
enum abox_status abox_result_status(const struct abox_result *r);
enum abox_limit abox_result_limit(const struct abox_result *r);
int abox_result_exit_code(const struct abox_result *r); /* -1 when it died of a signal */
int abox_result_signal(const struct abox_result *r);    /* 0 when none */
/* The command line's exit status for this result (see docs/cli.md). */
int abox_result_cli_status(const struct abox_result *r);
const char *abox_result_stdout(const struct abox_result *r, size_t *ret_len);
const char *abox_result_stderr(const struct abox_result *r, size_t *ret_len);
const char *abox_result_value(const struct abox_result *r); /* NULL when none */
/* The error's traceback as Python prints it, NULL when there was no error. */
const char *abox_result_traceback(const struct abox_result *r);
/* One sentence for a person when a limit, timeout or refusal ended the run. */
const char *abox_result_message(const struct abox_result *r);
/* The result object of docs/result.md as JSON text; free() it. */
char *abox_result_json(const struct abox_result *r);
/* The same shape for a run that could not happen (status sandbox_error). */
char *abox_error_json(const struct abox_error *e);

/* ---- what this host enforces ---- */
struct abox_protection {
        char name[32];  /* as in a result's "protections" */
        bool available; /* this host can enforce it */
        bool required;  /* the policy needs it (not in allow_degraded) */
        char detail[160];
};

/* Fills up to n entries; *ret_count gets how many there are. */
int abox_check(const struct abox_policy *p, struct abox_protection *ret, size_t n,
               size_t *ret_count, struct abox_error *err);

#ifdef __cplusplus
}
#endif
