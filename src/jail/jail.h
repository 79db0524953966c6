/* The jail: everything between "here is a plan" and "the payload runs".
 *
 * Each mechanism has a pure half, which builds a plan in the parent (where
 * allocation, libseccomp and error reporting are fine), and an apply half,
 * which the cloned child runs between clone and exec with no allocation and
 * no stdio.  A failing apply step reports {step, errno} through a pipe and
 * the parent turns it into a message.  src/jail knows nothing of JSON, HTTP
 * or Python.
 */
#pragma once

#include "jail_msg.h"

#include <linux/filter.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The uid and gid the payload runs as, inside the user namespace. */
#define JAIL_UID          1000
#define JAIL_GID          1000
/* Host uids for sandboxes when agentbox runs as root: BASE + the host pid of
 * the sandbox's init, so concurrent sandboxes never share one.  Above the
 * ranges systemd and container runtimes hand out, below 2^31. */
#define JAIL_HOST_ID_BASE 0x7E000000u

/* The root's fixed entries (about 45), the Python kernel's files
 * (RUNTIME_PYTHON_FILES), POLICY_MAX_MOUNTS, and room to spare. */
#define JAIL_MAX_OPS   96
#define JAIL_MAX_RULES 96 /* the fixed rules, POLICY_MAX_MOUNTS, EXEC_MAX_FILES */

/* ---- rootfs ---- */
enum rootfs_op_kind {
        ROOTFS_DIR,      /* mkdir dst */
        ROOTFS_SYMLINK,  /* symlink src -> dst */
        ROOTFS_BIND,     /* bind src (host) at dst */
        ROOTFS_FILE,     /* write data into dst */
        ROOTFS_COPY,     /* copy the host file src into dst (in the kernel) */
        ROOTFS_SCRATCH,  /* bind scratch/<src> at dst */
        ROOTFS_TMPFS,    /* a small tmpfs at dst, options in data */
        ROOTFS_PROC,     /* a fresh procfs at dst */
        ROOTFS_DEVPTS,   /* a private devpts instance at dst */
        ROOTFS_READONLY, /* make the existing dst a read-only bind of itself */
};

#define ROOTFS_RDONLY   (1u << 0)
#define ROOTFS_DEVICE   (1u << 1) /* a device node: keep dev, add noexec */
#define ROOTFS_NOEXEC   (1u << 2)
#define ROOTFS_OPTIONAL (1u << 3)

struct rootfs_op {
        enum rootfs_op_kind kind;
        unsigned flags;
        const char *src;
        const char *dst; /* relative to the new root, no leading slash */
        const char *data;
        size_t len; /* FILE: bytes of data; COPY: at most this many */
        mode_t mode;
};

struct rootfs_plan {
        struct rootfs_op ops[JAIL_MAX_OPS];
        unsigned n_ops;
        uint64_t scratch_bytes;        /* /tmp, /workspace and /dev/shm share it */
        char scratch_size[32];         /* the same, as tmpfs wants it */
        char *owned[JAIL_MAX_OPS * 2]; /* the texts ops point into */
        unsigned n_owned;
};

/* ---- landlock ---- */
struct landlock_rule {
        char path[256]; /* inside the sandbox; inline: the plan travels by pipe */
        uint64_t access;
};

struct landlock_plan {
        int abi; /* 0: not available */
        uint64_t handled_fs;
        uint64_t handled_net;
        uint64_t scoped;
        struct landlock_rule rules[JAIL_MAX_RULES];
        unsigned n_rules;
};

/* ---- rlimits ---- */
struct rlimit_plan {
        uint64_t fsize_bytes;
        uint64_t nofile;
        uint64_t cpu_seconds; /* 0: none */
};

/* ---- the whole plan for one sandbox ---- */
struct jail_plan {
        struct rootfs_plan rootfs;
        struct sock_fprog seccomp;
        struct landlock_plan landlock;
        struct rlimit_plan rlimits;
        bool share_net;
        uint16_t proxy_port; /* restricted network: the proxy listens here inside; 0: none */
        bool memfd_noexec;   /* set vm.memfd_noexec=2 for the sandbox */
        const char *hostname;
        char *const *argv;
        char *const *envp;
        const char *cwd;
        int stdout_fd, stderr_fd; /* write ends, become 1 and 2; -1: /dev/null */
        int cgroup_fd;            /* v2: clone straight into it; -1: none */
        int join_fds[4];          /* opened by the parent; the child writes "0" */
        unsigned n_join_fds;
        int extra_fds[2];    /* become 3 and 4 when >= 0 */
        int init_fd;         /* agentbox-init's sealed memfd; -1: the child stays init */
        bool init_required;  /* set by after_clone: if init_fd cannot be run, fail */
        int session_fd;      /* a session: agentbox-init's order socket (its fd 4); -1: none */
#define JAIL_SESSION_ARGV 16 /* a session's payload argv passes through init's: at most this */
        /* Set by jail_spawn: the CPUs the child may use, which it takes
         * back once the parent has started it elsewhere (spawn.c). */
        cpu_set_t cpus;
};

/* The steps the child reports failures of. */
#define JAIL_STEPS(X)                                                                              \
        X(SYNC, "wait for the supervisor")                                                         \
        X(CGROUP, "join the sandbox's cgroup")                                                     \
        X(MEMFD, "forbid executable memfds")                                                       \
        X(IDS, "switch to the sandbox uid and gid")                                                \
        X(CGROUPNS, "enter a new cgroup namespace")                                                \
        X(MOUNT_PRIVATE, "make mounts private")                                                    \
        X(MOUNT_OP, "build the root")                                                              \
        X(PIVOT, "pivot to the new root")                                                          \
        X(HOSTNAME, "set the hostname")                                                            \
        X(LOOPBACK, "bring up loopback")                                                           \
        X(RLIMITS, "set resource limits")                                                          \
        X(CAPS, "drop capabilities")                                                               \
        X(NO_NEW_PRIVS, "set no_new_privs")                                                        \
        X(LANDLOCK, "apply the Landlock ruleset")                                                  \
        X(SECCOMP, "load the seccomp filter")                                                      \
        X(FORK, "start the payload")                                                               \
        X(INIT, "start agentbox-init (sealed_init)")                                               \
        X(EXEC, "execute the program")

#define JAIL_STEP_ENTRY_(id, text) JAIL_STEP_##id,
enum jail_step { JAIL_STEPS(JAIL_STEP_ENTRY_) JAIL_STEP__MAX };
const char *jail_step_text(enum jail_step s);

/* The parent's "go": this header, join_fds as SCM_RIGHTS, then the filter. */
#define JAIL_GO_MAX_FDS 5 /* join_fds, then agentbox-init's memfd */
struct jail_go {
        uint32_t n_join_fds;
        uint32_t has_init;      /* the last fd is agentbox-init's sealed memfd */
        uint32_t init_required; /* no falling back to the child as pid 1 */
        uint32_t filter_len;    /* instructions */
        uint32_t loopback_up;   /* the parent brought loopback up already */
        struct landlock_plan landlock;
};

/* ---- building ---- */
struct abox_policy;
struct abox_error;
int rootfs_plan_build(struct rootfs_plan *plan, const struct abox_policy *p,
                      struct abox_error *err);
/* One more file in the root, from data that outlives the plan; -E2BIG when
 * the plan is full. */
int rootfs_plan_add_file(struct rootfs_plan *plan, const char *dst, const void *data, size_t len);
void rootfs_plan_done(struct rootfs_plan *plan);
int seccomp_plan_build(struct sock_fprog *ret, struct abox_error *err);
void seccomp_plan_done(struct sock_fprog *prog);
int landlock_abi(void);
struct exec_map;
/* only_exec: when commands are restricted, the files that may be executed. */
int landlock_plan_build(struct landlock_plan *plan, const struct abox_policy *p,
                        const struct exec_map *only_exec);
void rlimit_plan_build(struct rlimit_plan *plan, const struct abox_policy *p);

/* ---- applying (child side: no allocation, return -errno) ---- */
int rootfs_clone_sources(const struct rootfs_plan *plan, int *fds, int *ret_failed_op);
/* Builds the root from the clones (closing them) in the working directory;
 * *ret_scratch: the scratch filesystem's mount fd, which the caller owns. */
int rootfs_apply(const struct rootfs_plan *plan, int *fds, int *ret_failed_op, int *ret_scratch);
/* Inodes in a scratch filesystem no one has written to: its root and the
 * tmp, workspace and shm directories.  More means something was written. */
#define ROOTFS_SCRATCH_INODES 4
int rootfs_pivot(void);
int seccomp_apply(const struct sock_fprog *prog);
int landlock_apply(const struct landlock_plan *plan);
int rlimit_apply(const struct rlimit_plan *plan);
/* Whether a file under one of dirfds (directories; walked without following
 * any link) reached cap bytes since `since`. */
bool rlimit_file_size_hit(uint64_t cap, time_t since, const int *dirfds, unsigned n);
int net_loopback_up(void);
/* The same, from outside: in the network namespace of the process behind
 * pidfd, entered and left by the calling thread.  -EPERM where this
 * process may not enter it (an ordinary user: setns wants CAP_SYS_ADMIN in
 * our own user namespace); the child then does it itself. */
int net_loopback_up_in(int pidfd);
/* A TCP socket listening on 127.0.0.1:port of this network namespace. */
int net_proxy_listener(uint16_t port);
int ids_become_sandbox_user(void);
int caps_drop_all(void);

/* agentbox-init in a fresh sealed memfd (O_CLOEXEC), or -errno where the
 * host allows no executable memfd or the binary is not built here. */
int jail_init_memfd(void);
bool jail_init_available(void);

/* ---- spawning ---- */
struct jail_child {
        pid_t pid;
        int pidfd;
        int msg_fd;  /* read end: struct jail_msg */
        int sync_fd; /* the child says "started" here, with its scratch fs */
};

/* Clones the sandbox's pid 1 into fresh namespaces — straight into its v2
 * cgroup when plan->cgroup_fd is set — and maps its ids.  The child builds
 * its root while the parent runs after_clone(pid), which fills the rest of
 * the plan (landlock, seccomp, join_fds); then one "go" packet carries those
 * to the child, which joins its cgroup and finishes.  Nothing untrusted runs
 * before that. */
int jail_spawn(struct jail_plan *plan, int (*after_clone)(void *data, pid_t pid), void *data,
               struct jail_child *ret, struct abox_error *err);
/* Kills the sandbox (its pid 1, and with it the pid namespace) and reaps
 * it; jail_reap only waits.  Neither closes the child's fds. */
void jail_kill_and_reap(pid_t pid, int pidfd);
void jail_reap(pid_t pid);
/* Whether the child got as far as starting the payload (else its end was a
 * setup failure), with the fds it handed over: its scratch filesystem's
 * mount fd and the proxy's listening socket (-1 if none or not started).
 * Waits up to timeout_ms while the child is alive (pidfd); 0: does not
 * wait (the child is gone). */
bool jail_take_started(int sync_fd, int pidfd, int timeout_ms, int *ret_scratch, int *ret_listener);
/* Runs in the child: contains it in security order, then execs the payload
 * in place.  Never returns. */
_Noreturn void contain_child(const struct jail_plan *plan, int sync_fd, int msg_fd);
