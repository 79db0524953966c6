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

/* ---- sessions: one long-lived sandbox, many executions ----
 *
 * A session is one sandbox (its own namespaces, cgroup and /workspace) with a
 * Python interpreter that keeps its variables between executions; shell
 * commands run as fresh processes in the same sandbox and see the same
 * files.  Sessions live in a registry, which bounds how many there are (per
 * owner and in all) and ends them after an idle timeout or a maximum
 * lifetime.  Everything here may be called from many threads at once; a
 * session runs one execution at a time.
 */
struct abox_sessions; /* a registry */
struct abox_session;  /* a handle: one reference to a session */
struct abox_pool;

struct abox_sessions_config {
        size_t max_sessions;  /* in all; 0: 64 */
        size_t max_per_owner; /* 0: 16 */
        /* The registry's clock, in milliseconds (monotonic); NULL: the real
         * one.  Idle timeouts and lifetimes are measured by it. */
        uint64_t (*clock_ms)(void *data);
        void *clock_data;
        /* A thread that calls abox_sessions_reap() every second. */
        bool reaper;
};

/* Raises this process's soft RLIMIT_NOFILE to its hard limit: each session
 * holds a handful of descriptors. */
int abox_sessions_new(const struct abox_sessions_config *cfg, struct abox_sessions **ret,
                      struct abox_error *err);
/* Ends every session (an execution under way finishes first) and frees the
 * registry.  No other call on the registry or its sessions may overlap it
 * (a creation under way included); handles still held may only be
 * released afterwards. */
void abox_sessions_free(struct abox_sessions *reg);
/* Ends the sessions whose idle timeout or lifetime has passed; returns how
 * many it ended.  A session in the middle of an execution is not ended
 * there: it ends when the execution returns, whose result says so. */
size_t abox_sessions_reap(struct abox_sessions *reg);
/* Live sessions, of one owner or (NULL) of all. */
size_t abox_sessions_count(struct abox_sessions *reg, const char *owner);

struct abox_session_options {
        enum abox_language language; /* what the session is for: PYTHON or SHELL */
        const char *owner;           /* a tag; lookups must give the same one; NULL: "" */
        uint64_t idle_timeout_ms;    /* 0: 10 minutes */
        uint64_t max_lifetime_ms;    /* 0: 1 hour */
        bool wait_if_busy;           /* a second execution waits its turn (else -EBUSY) */
        /* A host directory (absolute; it must not exist yet, its parent
         * must) that receives a copy of /workspace when the session ends,
         * however it ends: files and directories, no links.  NULL: the
         * workspace goes with the session. */
        const char *keep_workspace;
        struct abox_pool *pool; /* start from a warm sandbox of this pool if it fits */
};

/* Starts a session under policy p (copied).  -EAGAIN when the owner or the
 * registry is at its maximum count: no one else's session is evicted. */
int abox_session_create(struct abox_sessions *reg, const struct abox_policy *p,
                        const struct abox_session_options *opt, struct abox_session **ret,
                        struct abox_error *err);
/* The session's id: 32 hex digits, 128 random bits. */
const char *abox_session_id(const struct abox_session *s);
/* Another handle on the session with this id, if its owner is `owner`
 * (-ENOENT otherwise: an id of someone else's is "not found"). */
int abox_session_find(struct abox_sessions *reg, const char *id, const char *owner,
                      struct abox_session **ret, struct abox_error *err);
/* Drops the handle; the session lives on until it ends. */
void abox_session_release(struct abox_session *s);
/* Ends the session now (after an execution under way): its processes,
 * cgroup, mounts and workspace are gone (the workspace kept first if the
 * session was made with keep_workspace; an error then says keeping failed,
 * the session has ended all the same).  The handle must still be released. */
int abox_session_destroy(struct abox_session *s, struct abox_error *err);

/* Runs Python code or a shell command in the session; the result is shaped
 * as a one-shot run's, with this execution's output.  When the interpreter
 * had to be killed (an interrupt did not stop it, or a limit killed it) it
 * is restarted empty, the workspace kept, and abox_result_state_lost() says
 * so.  -EBUSY when another execution is under way (unless wait_if_busy),
 * -ESHUTDOWN when the session has ended. */
int abox_session_run(struct abox_session *s, const struct abox_request *req,
                     struct abox_result **ret, struct abox_error *err);
bool abox_result_state_lost(const struct abox_result *r);

/* Workspace files.  Paths are relative to /workspace; absolute paths, ".."
 * and any symbolic link on the way are refused (the sandbox may have
 * planted them).  Binary-safe; sizes bounded by the policy's max_file_size
 * and disk size. */
int abox_session_put_file(struct abox_session *s, const char *path, const void *data, size_t len,
                          struct abox_error *err);
/* *ret is malloc'd (and NUL-terminated after len bytes); free() it. */
int abox_session_get_file(struct abox_session *s, const char *path, char **ret, size_t *ret_len,
                          struct abox_error *err);
struct abox_file {
        char *path; /* relative to /workspace */
        uint64_t size;
        char type; /* 'f' file, 'd' directory, 'l' link, '?' other */
};
int abox_session_list_files(struct abox_session *s, struct abox_file **ret, size_t *ret_count,
                            struct abox_error *err);
void abox_files_free(struct abox_file *files, size_t n);
/* Removes a file, a link, or an empty directory. */
int abox_session_remove_file(struct abox_session *s, const char *path, struct abox_error *err);

/* ---- the warm pool ----
 *
 * Sandboxes built ahead of time, each with its interpreter started and
 * waiting, refilled in the background.  Each is used once — for one
 * one-shot execution or as one new session — and never handed to a request
 * under a different policy. */
/* size 0: the policy's pool_size. */
int abox_pool_new(const struct abox_policy *p, size_t size, struct abox_pool **ret,
                  struct abox_error *err);
void abox_pool_free(struct abox_pool *pool);
/* Sandboxes ready now. */
size_t abox_pool_ready(struct abox_pool *pool);
/* abox_run through the pool: a Python or shell request under the pool's
 * policy runs in a warm sandbox (waiting for one if none is ready); any
 * other request runs in a fresh one, as abox_run would. */
int abox_pool_run(struct abox_pool *pool, const struct abox_policy *p,
                  const struct abox_request *req, struct abox_result **ret, struct abox_error *err);

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
