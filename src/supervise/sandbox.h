/* One sandbox's life on the host side, shared by one-shot runs (run.c) and
 * sessions (src/session/): the plan, the protections decided for it, its
 * cgroup, and turning what the supervisor saw into a result.  Internal: the
 * front ends see only include/agentbox.h. */
#pragma once

#include "agentbox.h"

#include "base/strbuf.h"
#include "core/policy.h"
#include "jail/cgroup.h"
#include "jail/execmap.h"
#include "jail/jail.h"
#include "jail/probe.h"
#include "protections.h"
#include "runtime/runtime.h"
#include "supervise.h"

#include <stdbool.h>
#include <time.h>

struct redactor;
struct net_proxy;
struct net_proxy_report;

struct run {
        struct jail_plan plan;
        struct runtime_launch launch;
        struct jail_probe probe;
        struct protection_set prot;
        struct exec_map exec;
        struct strlist secrets; /* "NAME=value", resolved */
        struct redactor *redactor;
        bool decided;
        bool session;                  /* a session's sandbox: its kernel loops, init restarts it */
        int rw_fds[POLICY_MAX_MOUNTS]; /* :rw mount sources, for the file-size check */
        size_t n_rw_fds;
        bool sealed_init_ran; /* the exit report came from agentbox-init */
        time_t since;         /* files modified from here on count for the file-size check */
        struct cgroup *cg;
        int oom_fd; /* cgroup_oom_watch's, for supervise(); <0: none */
        int out[2], err[2];
        char **envp;
};

struct spawn_ctx {
        struct run *run;
        const struct abox_policy *p;
        const struct abox_request *req;
        struct abox_error *err;
};

#define RUN_INIT                                                                                   \
        {                                                                                          \
                .out = { -1, -1 }, .err = { -1, -1 }, .oom_fd = -1, .plan.cgroup_fd = -1,          \
                .plan.init_fd = -1, .plan.session_fd = -1                                          \
        }

void run_done(struct run *run);
/* Reads each secret from its host source. */
int run_resolve_secrets(const struct abox_policy *p, struct strlist *ret, struct abox_error *err);
/* Every plan for the sandbox, built before it is cloned.  For a session
 * (run->session) req says nothing: its interpreter is the session kernel. */
int run_prepare(struct run *run, const struct abox_policy *p, const struct abox_request *req,
                struct abox_error *err);
/* jail_spawn's after_clone; data is a struct spawn_ctx. */
int run_after_clone(void *data, pid_t pid);
int run_ensure_redactor(struct run *run, const struct abox_policy *p, struct abox_error *err);
/* The message for a setup step the sandbox reported failing. */
int run_setup_error(const struct run *run, const struct jail_msg *fail, struct abox_error *err);
void run_protections_list(const struct run *run, struct abox_result *res);
/* Status, limit, exit code and message from what the supervisor saw. */
void run_classify(struct run *run, const struct abox_policy *p, const struct abox_request *req,
                  struct supervise_output *sup, const struct cgroup_stats *st,
                  struct abox_result *res);
int run_take_output(struct strbuf *sb, char **ret, size_t *ret_len, uint64_t *ret_dropped);
/* Starts the allowlist proxy on the listener the sandbox made (taking it). */
int run_start_proxy(const struct abox_policy *p, int listener, struct net_proxy **ret,
                    struct abox_error *err);
int run_report_network(const struct net_proxy_report *net, struct abox_result *res);
/* The disk checks through the scratch filesystem's fd and the :rw mounts;
 * walk: also look for a file that reached max_file_size (a tree walk). */
void run_inspect_disk(const struct run *run, const struct abox_policy *p, int scratch, bool walk,
                      struct supervise_output *sup);
int run_redact_result(const struct redactor *rd, struct abox_result *res);
/* The audit line of one execution; session is its id, or NULL. */
void run_audit(const struct abox_policy *p, const struct abox_request *req,
               const struct redactor *rd, const struct abox_result *res, const char *session);
int run_audit_ready(const struct abox_policy *p, struct abox_error *err);
/* The policy's early refusal of a command line or program: 1 when refused
 * (res filled), 0 when not, -errno. */
int run_refuse_early(const struct abox_policy *p, const struct abox_request *req,
                     struct abox_result *res);
