/* A session's sandbox, from the host.
 *
 * Theory of operation: the sandbox is built as for a one-shot run (same
 * plans, same protections, same fail-closed decision), but its payload is
 * the kernel in session mode (runtime/kernel.py) and its pid 1 is
 * agentbox-init in session mode (init/init.c).  The host holds three
 * channels, all outside the sandbox's pid namespace and cgroup:
 *
 *   kernel_fd   a seqpacket socket to the kernel: one order per execution,
 *               carrying the code and fresh stdout/stderr/report pipes; the
 *               kernel answers "d<wait status>".  At start the kernel sends
 *               "h" with a pidfd of itself: interrupts and kills go by it;
 *               or "e" and why its python_preload failed (shown as text).
 *   order_fd    a seqpacket socket to init: "r" + a new kernel socket
 *               restarts the interpreter (everything else in the sandbox is
 *               killed, the workspace stays); EOF ends the sandbox.
 *   pidfd       init's: killing it ends everything at once.
 *
 * An execution that passes its timeout gets SIGINT (KeyboardInterrupt) and
 * a grace period; past that, or past its CPU budget, or when a limit killed
 * it, the kernel is gone and is restarted empty: state_lost.
 */
#include "box.h"

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fd.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"
#include "net/proxy.h"
#include "supervise/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 30000 /* the sandbox and its interpreter, on a loaded host */
#define GRACE_MS         500   /* after SIGINT, before the kernel is killed */
#define GONE_WAIT_MS     2000  /* for init's word on how a dead kernel ended */
#define CPU_POLL_MS      20

struct box {
        struct run run;
        struct abox_policy *policy;
        struct jail_child child; /* init */
        int order_fd;
        int kernel_fd, kernel_pidfd;
        int scratch_fd, workspace_fd;
        uint32_t uid, gid; /* the workspace's owner on the host */
        struct net_proxy *proxy;
        bool broken;
};

static void abox_result_freep(struct abox_result **r)
{
        abox_result_free(*r);
}

static const struct abox_request no_request = { .language = ABOX_LANG_PYTHON };

const struct abox_policy *box_policy(const struct box *b)
{
        return b->policy;
}

int box_workspace_fd(const struct box *b)
{
        return b->workspace_fd;
}

void box_file_owner(const struct box *b, uint32_t *uid, uint32_t *gid)
{
        *uid = b->uid;
        *gid = b->gid;
}

bool box_broken(const struct box *b)
{
        return b->broken;
}

bool box_waiting(const struct box *b)
{
        /* Between executions nothing may arrive: init's exit or word that
         * the kernel ended, or the kernel's socket closing. */
        struct pollfd pfd[3] = { { b->child.pidfd, POLLIN, 0 },
                                 { b->child.msg_fd, POLLIN, 0 },
                                 { b->kernel_fd, POLLIN, 0 } };
        return !b->broken && poll(pfd, 3, 0) == 0;
}

/* The kernel's hello: "h" and its pidfd; or "e" and why it cannot start
 * (a python_preload that failed), which goes to err. */
static int await_hello(int kernel_fd, int timeout_ms, int *ret_pidfd, struct abox_error *err)
{
        struct pollfd pfd = { kernel_fd, POLLIN, 0 };
        int n;
        while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
                ;
        if (n == 0)
                return -ETIMEDOUT;
        char msg[512];
        int fd = -1;
        unsigned got = 0;
        ssize_t k = fd_recv_with(kernel_fd, msg, sizeof msg, MSG_DONTWAIT, &fd, 1, &got);
        if (k > 1 && msg[0] == 'e' && got == 0) {
                /* The kernel's words: shown as text, never trusted as such. */
                char why[sizeof msg];
                size_t len = 0;
                for (ssize_t i = 1; i < k && len < sizeof why - 1; i++)
                        why[len++] = msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '?';
                why[len] = '\0';
                return abox_error_set(err, -EINVAL, "%s", why);
        }
        if (k != 1 || msg[0] != 'h' || got != 1) {
                if (got)
                        close(fd);
                return -EPROTO;
        }
        *ret_pidfd = fd;
        return 0;
}

void box_stop(struct box *b)
{
        if (b->child.pidfd >= 0) {
                /* Killing pid 1 ends the pid namespace: every process in it. */
                jail_kill_and_reap(b->child.pid, b->child.pidfd);
                b->child.pidfd = safe_close(b->child.pidfd);
        }
        b->broken = true;
}

void box_free(struct box *b)
{
        if (!b)
                return;
        box_stop(b);
        if (b->proxy) {
                struct net_proxy_report ignored;
                net_proxy_stop(b->proxy, &ignored);
        }
        safe_close(b->child.pidfd);
        safe_close(b->child.msg_fd);
        safe_close(b->child.sync_fd);
        safe_close(b->order_fd);
        safe_close(b->kernel_fd);
        safe_close(b->kernel_pidfd);
        /* The last reference to the scratch tmpfs: the workspace goes here. */
        safe_close(b->workspace_fd);
        safe_close(b->scratch_fd);
        run_done(&b->run);
        abox_policy_free(b->policy);
        free(b);
}

/* Why the sandbox did not come up, from its message pipe. */
static int start_failure(struct box *b, struct abox_error *err)
{
        struct jail_msg m;
        struct pollfd pfd = { b->child.msg_fd, POLLIN, 0 };
        if (poll(&pfd, 1, 1000) == 1 && read(b->child.msg_fd, &m, sizeof m) == (ssize_t)sizeof m &&
            m.kind == JAIL_MSG_FAIL) {
                if (m.step == JAIL_STEP_EXEC)
                        return abox_error_set(err, -m.err,
                                              "cannot start the session's interpreter: %s",
                                              strerror(m.err));
                return run_setup_error(&b->run, &m, err);
        }
        return abox_error_set(err, -EIO, "the session's sandbox ended while starting");
}

/* Starts the sandbox with agentbox-init in session mode as pid 1 and the
 * two sockets its kernel and init talk over. */
static int spawn_init(struct box *b, struct abox_error *err)
{
        int kern[2] = { -1, -1 }, order[2] = { -1, -1 };
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kern) < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, order) < 0) {
                int r = abox_error_set(err, -errno, "socketpair: %s", strerror(errno));
                safe_close(kern[0]);
                safe_close(kern[1]);
                return r;
        }
        b->kernel_fd = kern[0];
        b->order_fd = order[0];
        b->run.plan.extra_fds[0] = kern[1];
        b->run.plan.session_fd = order[1];
        struct spawn_ctx ctx = { &b->run, b->policy, &no_request, err };
        int r = jail_spawn(&b->run.plan, run_after_clone, &ctx, &b->child, err);
        safe_close(kern[1]);
        safe_close(order[1]);
        b->run.plan.extra_fds[0] = b->run.plan.session_fd = -1;
        if (r < 0)
                b->child.pidfd = -1;
        return r;
}

/* From the sandbox's "started" to the kernel's hello. */
static int await_kernel(struct box *b, int listener, struct abox_error *err)
{
        /* A session's CPU budget is counted per execution from the cgroup
         * (RLIMIT_CPU would count the interpreter's whole life): without
         * the cgroup's counter it would silently not apply. */
        uint64_t used;
        if (b->policy->cpu_time_ms && (!b->run.cg || cgroup_cpu_usage_us(b->run.cg, &used) < 0)) {
                safe_close(listener);
                return abox_error_set(err, -EOPNOTSUPP,
                                      "cpu_time_limit in a session needs the cgroup's CPU "
                                      "counter, which this sandbox has not got (cgroups degraded)");
        }
        int r = listener >= 0 ? run_start_proxy(b->policy, listener, &b->proxy, err) : 0;
        if (r < 0)
                return r;
        r = await_hello(b->kernel_fd, START_TIMEOUT_MS, &b->kernel_pidfd, err);
        if (r == -ETIMEDOUT)
                return abox_error_set(err, r, "the session's interpreter did not start within %d s",
                                      START_TIMEOUT_MS / 1000);
        if (r < 0 && r != -EINVAL)
                return start_failure(b, err);
        if (r < 0)
                return r;
        b->workspace_fd =
                openat(b->scratch_fd, "workspace", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (b->workspace_fd < 0 || fstat(b->workspace_fd, &st) < 0)
                return abox_error_set(err, -errno, "cannot open the session's workspace: %s",
                                      strerror(errno));
        /* The kernel answered: agentbox-init (session mode) is pid 1. */
        b->run.sealed_init_ran = true;
        b->uid = st.st_uid;
        b->gid = st.st_gid;
        fd_set_nonblock(b->child.msg_fd);
        return 0;
}

static int start(struct box *b, const struct abox_policy *p, struct abox_error *err)
{
        b->run.session = true;
        if (!(b->policy = abox_policy_dup(p)))
                return abox_error_set(err, -ENOMEM, "out of memory");
        int r = run_resolve_secrets(b->policy, &b->run.secrets, err);
        r = r ?: run_prepare(&b->run, b->policy, &no_request, err);
        if (r < 0)
                return r;
        if (b->run.plan.init_fd < 0)
                return abox_error_set(err, -ENOTSUP,
                                      "sessions need agentbox-init, which this host cannot run "
                                      "(executable memfds are refused: vm.memfd_noexec=2)");
        r = spawn_init(b, err);
        r = r ?: run_ensure_redactor(&b->run, b->policy, err);
        if (r < 0)
                return r;
        int listener = -1; /* the proxy's, until it starts */
        if (!jail_take_started(b->child.sync_fd, b->child.pidfd, START_TIMEOUT_MS, &b->scratch_fd,
                               &listener))
                return start_failure(b, err);
        b->child.sync_fd = safe_close(b->child.sync_fd);
        return await_kernel(b, listener, err);
}

int box_start(const struct abox_policy *p, struct box **ret, struct abox_error *err)
{
        int r = policy_validate(p, err);
        r = r ?: run_audit_ready(p, err);
        if (r < 0)
                return r;
        struct box *b = calloc(1, sizeof *b);
        if (!b)
                return abox_error_set(err, -ENOMEM, "out of memory");
        *b = (struct box){ .run = RUN_INIT,
                           .child = { .pid = -1, .pidfd = -1, .msg_fd = -1, .sync_fd = -1 },
                           .order_fd = -1,
                           .kernel_fd = -1,
                           .kernel_pidfd = -1,
                           .scratch_fd = -1,
                           .workspace_fd = -1 };
        r = start(b, p, err);
        if (r < 0) {
                box_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

struct exec_state {
        struct supervise_output sup;
        bool done, kernel_gone, init_gone, interrupted, killed;
        int status; /* the kernel's "d" answer */
        bool have_payload_status;
        int payload_status; /* how the kernel ended, from init */
};

static void take_init_messages(struct box *b, struct exec_state *x)
{
        struct jail_msg m;
        ssize_t n;
        while ((n = read(b->child.msg_fd, &m, sizeof m)) == (ssize_t)sizeof m) {
                if (m.kind == JAIL_MSG_PAYLOAD)
                        x->have_payload_status = true, x->payload_status = m.wstatus;
                else if (m.kind == JAIL_MSG_EXIT)
                        x->init_gone = true;
        }
        if (n == 0)
                x->init_gone = true;
}

/* Starts the interpreter again, empty; the rest of the sandbox was killed
 * by init on the way.  On failure the box is broken, and err says why when
 * the kernel did. */
static int restart(struct box *b, struct abox_error *err)
{
        int kern[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kern) < 0)
                return b->broken = true, -errno;
        ssize_t n = fd_send_with(b->order_fd, "r", 1, &kern[1], 1);
        close(kern[1]);
        safe_close(b->kernel_fd);
        b->kernel_pidfd = safe_close(b->kernel_pidfd);
        b->kernel_fd = kern[0];
        int r = n == 1 ? await_hello(b->kernel_fd, START_TIMEOUT_MS, &b->kernel_pidfd, err)
                       : -EPIPE;
        if (r < 0) {
                b->broken = true;
                return r;
        }
        /* What init said about the previous interpreter (how it ended) is
         * stale now: left queued, the next execution would take it for
         * the new one's end. */
        struct exec_state stale = { 0 };
        take_init_messages(b, &stale);
        if (stale.init_gone) {
                b->broken = true;
                return -ESHUTDOWN;
        }
        return 0;
}

static void take_answer(struct box *b, struct exec_state *x)
{
        char buf[32];
        ssize_t n = recv(b->kernel_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                x->kernel_gone = true;
                return;
        }
        buf[n] = '\0';
        if (buf[0] == 'd') {
                x->done = true;
                x->status = atoi(buf + 1);
        }
}

/* The execution's event loop: output, the kernel's answer, init's word,
 * the deadline (interrupt, then kill) and the CPU budget. */
static void watch(struct box *b, int out_fd, int err_fd, int report_fd, uint64_t cpu0, bool once,
                  struct exec_state *x)
{
        const struct abox_policy *p = b->policy;
        enum { P_KERNEL, P_MSG, P_INIT, P_OOM, P_OUT, P_ERR, P_REPORT, P__MAX };
        struct strbuf *sinks[P__MAX] = { NULL,        NULL,        NULL,          NULL,
                                         &x->sup.out, &x->sup.err, &x->sup.report };
        struct pollfd pfd[P__MAX] = {
                { b->kernel_fd, POLLIN, 0 },   { b->child.msg_fd, POLLIN, 0 },
                { b->child.pidfd, POLLIN, 0 }, { b->run.oom_fd, POLLIN, 0 },
                { out_fd, POLLIN, 0 },         { err_fd, POLLIN, 0 },
                { report_fd, POLLIN, 0 },
        };
        uint64_t start = monotonic_ms(), deadline = start + p->timeout_ms, grace = 0;
        uint64_t killed_at = 0;
        /* init's word that the kernel ended counts as much as the socket's
         * EOF: a process the code forked may hold the socket open. */
        while (!x->done && !x->kernel_gone && !x->have_payload_status && !x->init_gone) {
                uint64_t now = monotonic_ms();
                if (x->killed && !killed_at)
                        killed_at = now;
                /* Killed and still no word (init stopped answering): done
                 * waiting; the restart that follows kills everything. */
                if (killed_at && now >= killed_at + GONE_WAIT_MS) {
                        x->kernel_gone = true;
                        break;
                }
                if (!x->interrupted && now >= deadline) {
                        /* A one-shot box has no state to save: no grace. */
                        x->interrupted = x->sup.timed_out = true;
                        pidfd_signal(b->kernel_pidfd, once ? SIGKILL : SIGINT);
                        grace = once ? now : now + GRACE_MS;
                } else if (x->interrupted && !x->killed && now >= grace) {
                        x->killed = true;
                        pidfd_signal(b->kernel_pidfd, SIGKILL);
                }
                uint64_t until = x->killed ? now + 1000 : x->interrupted ? grace : deadline;
                int wait = until > now ? (int)(until - now) : 0;
                if (p->cpu_time_ms && wait > CPU_POLL_MS)
                        wait = CPU_POLL_MS;
                int n = poll(pfd, P__MAX, wait);
                if (n < 0 && errno != EINTR)
                        break;
                uint64_t used;
                if (p->cpu_time_ms && !x->killed && b->run.cg &&
                    cgroup_cpu_usage_us(b->run.cg, &used) == 0 &&
                    used - cpu0 >= p->cpu_time_ms * 1000) {
                        x->sup.cpu_exceeded = x->killed = true;
                        pidfd_signal(b->kernel_pidfd, SIGKILL);
                }
                if (n <= 0)
                        continue;
                for (int i = P_OUT; i < P__MAX; i++)
                        if (pfd[i].revents && supervise_pump(pfd[i].fd, sinks[i]) == 0)
                                pfd[i].fd = -1;
                if (pfd[P_MSG].revents)
                        take_init_messages(b, x);
                if (pfd[P_OOM].revents && !x->sup.oom) {
                        /* A one-shot box's tasks wait at the memory limit
                         * (v1): the whole sandbox ends, as abox_run's does. */
                        x->sup.oom = x->killed = true;
                        pidfd_signal(b->child.pidfd, SIGKILL);
                        pfd[P_OOM].fd = -1;
                }
                if (pfd[P_INIT].revents)
                        x->init_gone = true;
                if (pfd[P_KERNEL].revents)
                        take_answer(b, x);
        }
        if (x->have_payload_status)
                x->kernel_gone = true;
        if (x->kernel_gone && !x->init_gone) {
                /* init tells how the kernel ended. */
                uint64_t until = monotonic_ms() + GONE_WAIT_MS;
                struct pollfd mp = { b->child.msg_fd, POLLIN, 0 };
                while (!x->have_payload_status && !x->init_gone && monotonic_ms() < until) {
                        if (poll(&mp, 1, 100) > 0)
                                take_init_messages(b, x);
                }
        }
        /* What the cell wrote is in the pipes by now (the kernel flushed before
         * answering); what a background process writes later is not ours. */
        for (int i = P_OUT; i < P__MAX; i++)
                if (pfd[i].fd >= 0)
                        supervise_pump(pfd[i].fd, sinks[i]);
        x->sup.elapsed_ms = monotonic_ms() - start;
}

static int send_order(struct box *b, const struct abox_request *req, const int fds[4])
{
        char tag = req->language == ABOX_LANG_SHELL ? 's' : 'p';
        ssize_t n = fd_send_with(b->kernel_fd, &tag, 1, fds, 4);
        return n == 1 ? 0 : n < 0 ? (int)n : -EPROTO;
}

static int finish(struct box *b, const struct abox_request *req, const char *session_id,
                  struct abox_result *res, struct abox_error *err)
{
        if (run_redact_result(b->run.redactor, res) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        run_audit(b->policy, req, b->run.redactor, res, session_id);
        return 0;
}

/* why: the restart's failure, or NULL when it worked. */
static void note_lost(struct abox_result *res, const char *why)
{
        size_t len = strlen(res->message);
        if (why)
                snprintf(res->message + len, sizeof res->message - len,
                         "%sthe interpreter could not be restarted%s%s", len ? "; " : "",
                         why[0] ? ": " : "", why);
        else
                snprintf(res->message + len, sizeof res->message - len, "%s%s", len ? "; " : "",
                         "the interpreter was restarted: its variables are lost, the workspace's "
                         "files are kept");
}

/* Sends the order; a session whose kernel died between executions (a
 * process it left behind, a limit) gets it started again, and *lost says so.
 * The new interpreter's start (and its python_preload) is not the cell's:
 * before is taken again, so its CPU, memory and budget start here. */
static int deliver(struct box *b, const struct abox_request *req, const int fds[4], bool once,
                   struct cgroup_stats *before, bool *lost, struct abox_error *err)
{
        int r = send_order(b, req, fds);
        if (r < 0 && once)
                return abox_error_set(err, r, "cannot reach the sandbox's interpreter: %s",
                                      strerror(-r));
        if (r >= 0)
                return 0;
        struct abox_error why = { 0 };
        if (restart(b, &why) < 0)
                return abox_error_set(err, -ESHUTDOWN, "the session's sandbox has ended%s%s",
                                      why.msg[0] ? ": " : "", why.msg);
        *lost = true;
        if (b->run.cg) {
                cgroup_stats(b->run.cg, before);
                (void)cgroup_reset_peak(b->run.cg);
        }
        r = send_order(b, req, fds);
        if (r < 0)
                return abox_error_set(err, r, "cannot reach the session's interpreter: %s",
                                      strerror(-r));
        return 0;
}

/* What the execution used and how it ended, into res. */
static int account(struct box *b, const struct abox_request *req, bool once, bool disk_full_before,
                   const struct cgroup_stats *before, struct exec_state *x, struct abox_result *res,
                   struct abox_error *err)
{
        struct cgroup_stats after = { 0 };
        if (b->run.cg)
                cgroup_stats(b->run.cg, &after);
        after.cpu_usage_us -= before->cpu_usage_us;
        after.oom_kills -= before->oom_kills;
        after.pids_max_hits -= before->pids_max_hits;
        x->sup.exited = true;
        x->sup.exit.wstatus = x->done                  ? x->status
                              : x->have_payload_status ? x->payload_status
                                                       : SIGKILL;
        /* A file that reached max_file_size failed a write (EFBIG, or
         * SIGXFSZ for a program that does not ignore it).  A session's
         * execution that ended well is taken not to have hit it (one that
         * caught EFBIG goes unreported) and its round trip skips the walk;
         * a one-shot run reports exactly what abox_run would. */
        run_inspect_disk(&b->run, b->policy, b->scratch_fd, once || x->sup.exit.wstatus != 0,
                         &x->sup);
        if (disk_full_before && x->sup.exit.wstatus == 0)
                x->sup.disk_full = false; /* full already, and this execution was fine */
        res->time_ms = x->sup.elapsed_ms;
        res->cpu_ms = after.cpu_usage_us / 1000;
        res->memory_peak_bytes = after.memory_peak_bytes;
        run_classify(&b->run, b->policy, req, &x->sup, &after, res);
        run_protections_list(&b->run, res);
        int r = 0;
        if (b->proxy) {
                struct net_proxy_report net;
                net_proxy_take(b->proxy, &net);
                r = run_report_network(&net, res);
        }
        r = r ?: run_take_output(&x->sup.out, &res->out, &res->out_len, &res->out_dropped);
        r = r ?: run_take_output(&x->sup.err, &res->err, &res->err_len, &res->err_dropped);
        supervise_output_done(&x->sup);
        return r < 0 ? abox_error_set(err, r, "out of memory") : 0;
}

/* A session's kernel that did not answer is started again, empty. */
static void recover(struct box *b, bool once, const struct exec_state *x, bool lost,
                    struct abox_result *res)
{
        struct abox_error why = { 0 };
        if (once) {
                /* used once: never restarted, never reused */
        } else if (x->init_gone) {
                b->broken = true;
                lost = true;
        } else if (!x->done) {
                lost = true;
                if (restart(b, &why) < 0)
                        b->broken = true;
        }
        if (lost) {
                res->state_lost = true;
                note_lost(res, b->broken ? why.msg : NULL);
        }
}

static int open_pipes(int out[2], int errp[2], int rep[2], struct abox_error *err)
{
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
                return abox_error_set(err, -errno, "pipe: %s", strerror(errno));
        for (int i = 0; i < 3; i++)
                fd_set_nonblock((int[]){ out[0], errp[0], rep[0] }[i]);
        return 0;
}

/* Runs one execution whose request passed the early checks. */
static int execute(struct box *b, const struct abox_request *req, bool once,
                   struct abox_result *res, struct abox_error *err)
{
        _cleanup_close_ int code = runtime_code_memfd(req->code, req->code_len, err);
        if (code < 0)
                return code;
        int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, rep[2] = { -1, -1 };
        int r = open_pipes(out, errp, rep, err);
        if (r < 0)
                goto out;
        struct cgroup_stats before = { 0 };
        if (b->run.cg) {
                cgroup_stats(b->run.cg, &before);
                (void)cgroup_reset_peak(b->run.cg);
        }
        bool lost = false, disk_full_before = false;
        struct statvfs sv;
        if (fstatvfs(b->scratch_fd, &sv) == 0)
                disk_full_before = sv.f_bavail == 0 || sv.f_favail == 0;
        b->run.since = time(NULL) - 1;
        if (b->proxy)
                net_proxy_take(b->proxy, NULL); /* between executions: no one's */
        /* Used once from here on (a request refused earlier left it unused). */
        b->broken = once;
        /* Ended whole by an OOM, as a one-shot run is (cgroup_oom_watch); a
         * session keeps the kernel's kill of one process. */
        if (once && b->run.cg && b->run.oom_fd < 0)
                b->run.oom_fd = cgroup_oom_watch(b->run.cg);
        r = deliver(b, req, (const int[4]){ code, out[1], errp[1], rep[1] }, once, &before, &lost,
                    err);
        if (r < 0)
                goto out;
        for (int i = 0; i < 2; i++)
                safe_close((int[]){ out[1], errp[1] }[i]);
        out[1] = errp[1] = -1;
        rep[1] = safe_close(rep[1]);
        struct exec_state x = { 0 };
        x.sup.out.cap = x.sup.err.cap = b->policy->output_max_bytes;
        x.sup.report.cap = 2 * b->policy->output_max_bytes + 65536;
        watch(b, out[0], errp[0], rep[0], before.cpu_usage_us, once, &x);
        r = account(b, req, once, disk_full_before, &before, &x, res, err);
        if (r == 0)
                recover(b, once, &x, lost, res);
out:
        for (int i = 0; i < 2; i++) {
                safe_close(out[i]);
                safe_close(errp[i]);
                safe_close(rep[i]);
        }
        return r;
}

int box_exec(struct box *b, const struct abox_request *req, const char *session_id, bool once,
             struct abox_result **ret, struct abox_error *err)
{
        if (b->broken)
                return abox_error_set(err, -ESHUTDOWN, "the session's sandbox has ended");
        if (req->language != ABOX_LANG_PYTHON && req->language != ABOX_LANG_SHELL)
                return abox_error_set(err, -EINVAL, "a session runs Python code or shell commands");
        int r = req->language == ABOX_LANG_SHELL
                        ? runtime_check_shell(req->code, req->code_len, err)
                        : 0;
        /* As for a one-shot run: an audit log that cannot be written fails
         * the execution before it runs (it may have gone since the start). */
        r = r ?: run_audit_ready(b->policy, err);
        if (r < 0)
                return r;
        _cleanup_(abox_result_freep) struct abox_result *res = result_new();
        if (!res)
                return abox_error_set(err, -ENOMEM, "out of memory");
        res->in_session = !once;
        int refused = run_refuse_early(b->policy, req, res);
        if (refused < 0)
                return abox_error_set(err, refused, "out of memory");
        r = refused ? 0 : execute(b, req, once, res, err);
        r = r ?: finish(b, req, session_id, res, err);
        if (r == 0)
                *ret = TAKE_PTR(res);
        return r;
}
