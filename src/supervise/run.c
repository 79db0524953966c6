/* abox_run: one request, one fresh sandbox.
 *
 * Theory of operation: decide which protections this host gives and refuse
 * (fail closed) if the policy needs one it lacks; build every plan in the
 * parent (rootfs, seccomp BPF, Landlock rules, rlimits, argv and environment);
 * create the cgroup; clone the jail's init into it; supervise until init is
 * gone; read the cgroup's counters; classify; tear down.  Nothing of a
 * sandbox survives its run: the namespaces die with init, mounts with the
 * mount namespace, and the cgroup is removed here (or swept by the next run
 * if this process is killed).
 */
#include "sandbox.h"

#include "agentbox.h"

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/parse.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"
#include "core/audit.h"
#include "core/command_policy.h"
#include "core/redact.h"
#include "base/fd.h"
#include "jail/cgroup.h"
#include "jail/execmap.h"
#include "jail/jail.h"
#include "net/proxy.h"
#include "protections.h"
#include "runtime/runtime.h"
#include "supervise.h"

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int supervise_run(struct run *run, const struct abox_policy *p,
                         const struct abox_request *req, struct abox_result *res,
                         struct abox_error *err)
{
        struct jail_child child;
        struct spawn_ctx ctx = { run, p, req, err };
        run->since = time(NULL) - 1; /* a second of slack for the clock's granularity */
        int r = jail_spawn(&run->plan, run_after_clone, &ctx, &child, err);
        if (r < 0)
                return r;
        int scratch = -1, listener = -1;
        bool started = false;
        /* The run's clock (time_ms, the timeout) starts here, right after
         * the clone: waited_ms is its part before supervise() starts. */
        uint64_t t0 = monotonic_ms(), waited_ms = 0;
        struct net_proxy *proxy = NULL;
        r = run_ensure_redactor(run, p, err);
        if (r == 0) {
                /* The proxy must serve before the payload's first connect;
                 * and jail_take_started's wait is best spent while the
                 * payload starts. */
                started = jail_take_started(child.sync_fd, child.pidfd,
                                            p->timeout_ms < INT_MAX ? (int)p->timeout_ms : INT_MAX,
                                            &scratch, &listener);
                waited_ms = monotonic_ms() - t0;
                if (started && listener >= 0) {
                        r = run_start_proxy(p, listener, &proxy, err);
                        listener = -1; /* the proxy's now, or closed */
                }
        }
        if (r < 0) {
                jail_kill_and_reap(child.pid, child.pidfd);
                safe_close(scratch);
                close(child.pidfd);
                close(child.msg_fd);
                close(child.sync_fd);
                return r;
        }
        /* Our copies of the write ends would hold EOF back. */
        run->out[1] = safe_close(run->out[1]);
        run->err[1] = safe_close(run->err[1]);
        run->launch.result_wr = safe_close(run->launch.result_wr);
        run->launch.code_fd = safe_close(run->launch.code_fd);
        struct supervise_input in = {
                .pidfd = child.pidfd,
                .msg_fd = child.msg_fd,
                .out_fd = run->out[0],
                .err_fd = run->err[0],
                .report_fd = run->launch.result_rd,
                /* One deadline for the whole run, the wait above included. */
                .timeout_ms = waited_ms < p->timeout_ms ? p->timeout_ms - waited_ms : 1,
                .cpu_time_ms = p->cpu_time_ms,
                .cg = run->cg,
                .oom_fd = run->oom_fd,
                .output_cap = p->output_max_bytes,
                .report_cap = 2 * p->output_max_bytes + 65536,
        };
        struct supervise_output sup = { 0 };
        r = supervise(&in, &sup);
        bool supervise_failed = r < 0;
        if (r < 0)
                jail_kill_and_reap(child.pid, child.pidfd);
        safe_close(listener);
        if (started && sup.exited)
                run_inspect_disk(run, p, scratch, /* walk= */ true, &sup);
        struct net_proxy_report net = { 0 };
        if (proxy)
                net_proxy_stop(proxy, &net);
        run->sealed_init_ran = sup.sealed_init || (sup.exited && sup.exit.sealed == 1);
        safe_close(scratch);
        close(child.sync_fd);
        close(child.msg_fd);
        if (r == 0 && sup.failed && sup.fail.step != JAIL_STEP_EXEC) {
                r = run_setup_error(run, &sup.fail, err);
        } else if (r < 0) {
                abox_error_set(err, r, "supervising the sandbox failed: %s", strerror(-r));
        }
        if (r == 0) {
                struct cgroup_stats st = { 0 };
                if (run->cg)
                        cgroup_stats(run->cg, &st);
                res->time_ms = waited_ms + sup.elapsed_ms;
                res->cpu_ms = st.cpu_usage_us / 1000;
                res->memory_peak_bytes = st.memory_peak_bytes;
                run_classify(run, p, req, &sup, &st, res);
                if (proxy && run_report_network(&net, res) < 0)
                        r = abox_error_set(err, -ENOMEM, "out of memory");
                r = r ?: run_take_output(&sup.out, &res->out, &res->out_len, &res->out_dropped);
                r = r ?: run_take_output(&sup.err, &res->err, &res->err_len, &res->err_dropped);
                if (r < 0)
                        abox_error_set(err, r, "out of memory");
        }
        /* Only now: pid 1 may still be tearing the namespaces down, which
         * needs no one's attention until the cgroup goes. */
        if (!supervise_failed)
                jail_reap(child.pid);
        close(child.pidfd);
        supervise_output_done(&sup);
        return r;
}

int abox_run(const struct abox_policy *p, const struct abox_request *req, struct abox_result **ret,
             struct abox_error *err)
{
        if (!p || !req || !ret)
                return abox_error_set(err, -EINVAL, "missing policy, request or result");
        int r = policy_validate(p, err);
        r = r ?: run_audit_ready(p, err);
        if (r < 0)
                return r;
        struct run run = RUN_INIT;
        struct abox_result *res = result_new();
        if (!res)
                return abox_error_set(err, -ENOMEM, "out of memory");
        r = r ?: run_resolve_secrets(p, &run.secrets, err);
        int refused = r == 0 ? run_refuse_early(p, req, res) : 0;
        if (refused < 0)
                r = abox_error_set(err, refused, "out of memory");
        if (r == 0 && !refused) {
                r = run_prepare(&run, p, req, err);
                r = r ?: supervise_run(&run, p, req, res, err);
                if (r == 0)
                        run_protections_list(&run, res);
        }
        r = r ?: run_ensure_redactor(&run, p, err);
        if (r == 0 && run_redact_result(run.redactor, res) < 0)
                r = abox_error_set(err, -ENOMEM, "out of memory");
        if (r == 0)
                run_audit(p, req, run.redactor, res, NULL);
        run_done(&run);
        if (r < 0) {
                abox_result_free(res);
                return r;
        }
        *ret = res;
        return 0;
}

int abox_check(const struct abox_policy *p, struct abox_protection *ret, size_t n,
               size_t *ret_count, struct abox_error *err)
{
        if (!p)
                return abox_error_set(err, -EINVAL, "missing policy");
        struct jail_probe probe;
        struct protection_set set;
        jail_probe(&probe, /* for_check= */ true);
        protections_evaluate(p, &probe, /* every= */ true, &set);
        for (size_t i = 0; i < set.n && i < n; i++)
                ret[i] = set.items[i];
        if (ret_count)
                *ret_count = set.n;
        return policy_validate(p, err);
}
