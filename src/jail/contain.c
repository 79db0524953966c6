/* Containment, in security order.
 *
 * contain_child() runs in the freshly cloned child — pid 1 of a new pid
 * namespace, holding every capability of its new user namespace and nothing
 * on the host.  The order matters:
 *
 *   0. sources    clone the host trees to bind (open_tree) while we still
 *                 have the supervisor's filesystem credentials;
 *   1. ids        become the sandbox uid/gid, so that every file and
 *                 mount made below belongs to a mapped id (the kernel refuses
 *                 to create inodes for unmapped owners);
 *   2. mounts     build the root and pivot into it: needs CAP_SYS_ADMIN;
 *   3. hostname, loopback   need CAP_SYS_ADMIN / CAP_NET_ADMIN in the namespaces;
 *      (meanwhile the supervisor decides the rest — protections, cgroup,
 *      Landlock rules, seccomp filter — and sends it in one "go")
 *   4. cgroup     join it through fds the supervisor opened (unless clone3
 *                 already put us there); then cgroupns, so /proc/self/cgroup
 *                 and a cgroupfs mount
 *                 show nothing of the host's tree;
 *   5. rlimits    before dropping caps, so hard limits can be set at all;
 *   6. caps       drop every capability, bounding set included;
 *   7. no_new_privs   no setuid or file-capability gain from here on;
 *   8. landlock   needs no_new_privs (or CAP_SYS_ADMIN, which is gone);
 *   9. seccomp    last: the filter refuses mount, unshare and friends that
 *                 the steps above still needed.
 *
 * Then it hands the supervisor its scratch filesystem (an fd: the disk
 * checks run outside, after the end), starts the payload with vfork — the
 * payload only moves its fds into place and execs — and becomes the
 * sandbox's init by exec'ing agentbox-init (src/init/) from the sealed
 * memfd the supervisor sent.  From then on no process in the sandbox runs
 * agentbox's binary: /proc/1/exe is a memfd no one can write, not the path
 * back to the host binary that CVE-2019-5736 used.  init reaps everything,
 * and when the payload exits it kills whatever was left behind (daemonised
 * grandchildren included) and reports the payload's wait status.
 *
 * Without that memfd (a host whose vm.memfd_noexec forbids executable
 * memfds, or an architecture agentbox-init is not built for) this process
 * stays init itself: non-dumpable, so nothing in the sandbox can open
 * /proc/1/exe or /proc/1/mem; Landlock would refuse writing the binary
 * anyway, and its owner is not the sandbox's host uid.
 */
#include "jail.h"

#include "base/cleanup.h"
#include "base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

_Noreturn static void fail(int msg_fd, enum jail_step step, int err, int index)
{
        struct jail_msg m = { .kind = JAIL_MSG_FAIL, .step = step, .err = err, .index = index };
        (void)!write(msg_fd, &m, sizeof m);
        _exit(1);
}

static int read_exact(int fd, void *buf, size_t n)
{
        size_t got = 0;
        while (got < n) {
                ssize_t k = read(fd, (char *)buf + got, n - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -EPROTO;
                got += (size_t)k;
        }
        return 0;
}

/* The parent's "go": cgroup files to join and agentbox-init's memfd (fds),
 * the Landlock plan and the seccomp filter, sent once the parent has decided
 * everything. */
static int receive_go(int fd, struct jail_go *go, int *fds, struct sock_filter *filter,
                      struct sock_fprog *ret)
{
        unsigned got_fds = 0;
        ssize_t n = fd_recv_with(fd, go, sizeof *go, 0, fds, JAIL_GO_MAX_FDS, &got_fds);
        if (n <= 0)
                return -EPROTO;
        int r = read_exact(fd, (char *)go + n, sizeof *go - (size_t)n);
        if (r < 0)
                return r;
        if (go->n_join_fds + (go->has_init ? 1 : 0) != got_fds || go->filter_len == 0 ||
            go->filter_len > BPF_MAXINSNS || go->landlock.n_rules > JAIL_MAX_RULES)
                return -EPROTO;
        r = read_exact(fd, filter, go->filter_len * sizeof *filter);
        *ret = (struct sock_fprog){ .len = (unsigned short)go->filter_len, .filter = filter };
        return r;
}

/* Moves this (single-threaded) task into its cgroup through files the
 * parent opened: the kernel checks the opener's credentials, and a task
 * writing "0" to v1's "tasks" skips the global threadgroup lock that makes
 * writing another task's pid wait out an RCU grace period. */
static int join_cgroup(const int *fds, unsigned n)
{
        int r = 0;
        for (unsigned i = 0; i < n; i++) {
                if (r == 0 && write(fds[i], "0", 1) != 1)
                        r = -errno;
                close(fds[i]);
        }
        return r;
}

/* Landlock governs executing files, not memfds: without this, code could
 * copy any program into a memfd and fexecve it.  vm.memfd_noexec (6.3+)
 * belongs to the writer's pid namespace — ours — and 2 refuses executable
 * memfds there.  Written through the host's /proc while we still have the
 * credentials that own it — which only root has; for an ordinary user the
 * protection is absent and the result's protections list says so. */
static int memfd_noexec(void)
{
        int fd = open("/proc/sys/vm/memfd_noexec", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        ssize_t k = write(fd, "2", 1);
        int r = k == 1 ? 0 : -errno;
        close(fd);
        return r;
}

static int contain(const struct jail_plan *plan, int sync_fd, int *ret_step, int *ret_index,
                   int *ret_fds, int *ret_init, bool *ret_init_required)
{
        struct sock_filter filter[BPF_MAXINSNS];
        struct sock_fprog prog;
        struct jail_go go;
        int fds[JAIL_GO_MAX_FDS], sources[JAIL_MAX_OPS];
        for (size_t i = 0; i < JAIL_GO_MAX_FDS; i++)
                fds[i] = -1;
        char m;
        int r;
#define STEP(s, call)                                                                              \
        do {                                                                                       \
                *ret_step = JAIL_STEP_##s;                                                         \
                if ((r = (call)) < 0)                                                              \
                        return r;                                                                  \
        } while (0)
        /* Neither needs the id maps: start while the supervisor writes them. */
        if (plan->memfd_noexec)
                STEP(MEMFD, memfd_noexec());
        STEP(MOUNT_OP, rootfs_clone_sources(&plan->rootfs, sources, ret_index));
        STEP(SYNC, read(sync_fd, &m, 1) == 1 ? 0 : -EPIPE);
        /* All the CPUs back (spawn.c started us away from the parent's):
         * what the payload may use is the cgroup's business. */
        if (CPU_COUNT(&plan->cpus) > 0)
                sched_setaffinity(0, sizeof plan->cpus, &plan->cpus);
        /* A copy of the supervisor: nothing may read its memory or open its
         * executable through /proc.  Not before the id maps are written: an
         * unprivileged supervisor could not open our /proc files then. */
        STEP(IDS, prctl(PR_SET_DUMPABLE, 0) < 0 ? -errno : 0);
        STEP(IDS, ids_become_sandbox_user());
        /* The kernel clears the parent-death signal on any credential change:
         * set it again, or a SIGKILLed supervisor would leave us running.  If
         * the supervisor is already gone, the next read of the sync pipe
         * sees EOF and we stop there. */
        STEP(IDS, prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ? -errno : 0);
        STEP(MOUNT_OP, rootfs_apply(&plan->rootfs, sources, ret_index, &ret_fds[0]));
        STEP(PIVOT, rootfs_pivot());
        STEP(HOSTNAME, sethostname(plan->hostname, strlen(plan->hostname)) < 0 ? -errno : 0);
        STEP(SYNC, receive_go(sync_fd, &go, fds, filter, &prog));
        if (!plan->share_net && !go.loopback_up)
                STEP(LOOPBACK, net_loopback_up());
        /* The proxy's socket is made here, in our network namespace, and
         * handed to the supervisor, which serves it from outside. */
        if (plan->proxy_port)
                STEP(LOOPBACK,
                     (ret_fds[1] = net_proxy_listener(plan->proxy_port)) < 0 ? ret_fds[1] : 0);
        *ret_init = go.has_init && go.n_join_fds < JAIL_GO_MAX_FDS ? fds[go.n_join_fds] : -1;
        *ret_init_required = go.init_required;
        STEP(CGROUP, join_cgroup(fds, go.n_join_fds));
        STEP(CGROUPNS, unshare(CLONE_NEWCGROUP) < 0 ? -errno : 0);
        STEP(RLIMITS, rlimit_apply(&plan->rlimits));
        STEP(CAPS, caps_drop_all());
        STEP(NO_NEW_PRIVS, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0);
        if (go.landlock.abi > 0)
                STEP(LANDLOCK, landlock_apply(&go.landlock));
        STEP(SECCOMP, seccomp_apply(&prog));
#undef STEP
        return 0;
}

static const char *env_path(char *const *envp)
{
        for (; envp && *envp; envp++)
                if (strncmp(*envp, "PATH=", 5) == 0)
                        return *envp + 5;
        return "/usr/local/bin:/usr/bin:/bin";
}

/* execvpe without allocation: PATH entries are joined in a stack buffer. */
static int exec_search(char *const *argv, char *const *envp)
{
        const char *name = argv[0];
        if (strchr(name, '/')) {
                execve(name, argv, envp);
                return -errno;
        }
        int r = -ENOENT;
        char buf[4096];
        size_t nlen = strlen(name);
        for (const char *p = env_path(envp); *p;) {
                const char *end = strchrnul(p, ':');
                size_t dlen = (size_t)(end - p);
                if (dlen > 0 && dlen + 1 + nlen < sizeof buf) {
                        memcpy(buf, p, dlen);
                        buf[dlen] = '/';
                        memcpy(buf + dlen + 1, name, nlen + 1);
                        execve(buf, argv, envp);
                        if (errno != ENOENT && errno != ENOTDIR)
                                r = -errno;
                }
                p = *end ? end + 1 : end;
        }
        return r;
}

/* Tells the supervisor the payload is about to start, handing over the
 * scratch filesystem (after the end it checks the disk through that fd, as
 * agentbox-init is too small to) and the proxy's listening socket, if any. */
static int send_started(int sync_fd, const int *fds)
{
        return fd_send_with(sync_fd, "s", 1, fds, fds[1] >= 0 ? 2 : 1) == 1 ? 0 : -EPIPE;
}

/* Becomes the payload: fds into place, a new session, exec. */
/* Not inlined: the vfork child runs this on its own frames, below the
 * parent's, and must not write locals that contain_child() still uses. */
__attribute__((noinline)) _Noreturn static void payload(const struct jail_plan *plan, int msg_fd)
{
        /* Lift every source above the targets first, so no dup2 clobbers a
         * source that is still to be moved. */
        int src[5] = { -1, plan->stdout_fd, plan->stderr_fd, plan->extra_fds[0],
                       plan->extra_fds[1] };
        src[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 1; i < 3; i++)
                if (src[i] < 0)
                        src[i] = src[0];
        /* Above 0-4, and low: open_files_limit may be as small as 16. */
        msg_fd = fcntl(msg_fd, F_DUPFD_CLOEXEC, 5);
        for (int i = 0; i < 5; i++)
                if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
                        fail(msg_fd, JAIL_STEP_EXEC, errno, 0);
        for (int i = 0; i < 5; i++)
                if (src[i] >= 0 && dup2(src[i], i) < 0)
                        fail(msg_fd, JAIL_STEP_EXEC, errno, 0);
        /* Everything else ends at the exec (the message pipe only then). */
        syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int r = exec_search(plan->argv, plan->envp);
        fail(msg_fd, JAIL_STEP_EXEC, -r, 0);
}

static void format_pid(char *buf, pid_t pid)
{
        char tmp[16];
        int n = 0;
        do
                tmp[n++] = (char)('0' + pid % 10);
        while ((pid /= 10) > 0 && n < 15);
        while (n > 0)
                *buf++ = tmp[--n];
        *buf = '\0';
}

/* Puts fd at target (without CLOEXEC), first lifting whatever of ours sits
 * there out of the way. */
static int place_fd(int fd, int target, int *others, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (others[i] == target && (others[i] = fcntl(target, F_DUPFD_CLOEXEC, 5)) < 0)
                        return -1;
        if (fd == target)
                return fcntl(fd, F_SETFD, 0);
        return dup2(fd, target) < 0 ? -1 : 0;
}

/* Becomes agentbox-init: the message pipe as fd 3 (and a session's order
 * socket as fd 4), nothing else inherited.  A session's init gets the
 * payload's argv and environment, to start it again on order.  Returns only
 * if the exec failed. */
static void exec_init(const struct jail_plan *plan, int init_fd, int msg_fd, pid_t payload_pid)
{
        char pid[16];
        format_pid(pid, payload_pid);
        char *argv[3 + JAIL_SESSION_ARGV + 1] = { "agentbox-init", pid, NULL };
        char *const no_env[] = { NULL };
        char *const *envp = no_env;
        int session_fd = plan->session_fd;
        if (session_fd >= 0) {
                size_t n = 0;
                argv[2] = "-s";
                while (n < JAIL_SESSION_ARGV && plan->argv[n])
                        argv[3 + n] = plan->argv[n], n++;
                if (plan->argv[n])
                        return; /* would not fit: fail, never cut */
                argv[3 + n] = NULL;
                envp = plan->envp;
        }
        int others[2] = { init_fd, session_fd };
        if (place_fd(msg_fd, 3, others, 2) < 0)
                return;
        init_fd = others[0], session_fd = others[1];
        if (session_fd >= 0) {
                others[1] = -1;
                if (place_fd(session_fd, 4, others, 2) < 0)
                        return;
                init_fd = others[0];
        }
        syscall(SYS_close_range, 0, 2, CLOSE_RANGE_CLOEXEC);
        syscall(SYS_close_range, session_fd >= 0 ? 5 : 4, ~0U, CLOSE_RANGE_CLOEXEC);
        syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
}

/* The init of last resort, when agentbox-init could not be exec'd. */
_Noreturn static void reap(int msg_fd, pid_t payload_pid)
{
        struct jail_msg m = { .kind = JAIL_MSG_EXIT };
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, __WALL);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0)
                        break;
                if (p == payload_pid) {
                        m.wstatus = st;
                        kill(-1, SIGKILL);
                }
        }
        (void)!write(msg_fd, &m, sizeof m);
        _exit(0);
}

_Noreturn void contain_child(const struct jail_plan *plan, int sync_fd, int msg_fd)
{
        /* Dies with the supervisor; and if it died before this line, the
         * first read of the sync pipe sees EOF. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The host process's signal dispositions and mask end here: an
         * ignored SIGCHLD would make init's wait4 miss the payload, an
         * ignored SIGPIPE would reach the payload through exec, and a
         * handler would run host code on a stack the vfork child shares. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Whatever the host process had open without O_CLOEXEC stops here,
         * its stdin, stdout and stderr included: pid 1 must hold none of
         * them (the payload gets its own). */
        const int keep[] = { sync_fd,
                             msg_fd,
                             plan->stdout_fd,
                             plan->stderr_fd,
                             plan->extra_fds[0],
                             plan->extra_fds[1],
                             plan->session_fd };
        if (plan->cgroup_fd >= 0)
                close(plan->cgroup_fd);
        if (close_all_except(keep, sizeof keep / sizeof *keep) < 0)
                fail(msg_fd, JAIL_STEP_SYNC, errno, -1);
        int step = JAIL_STEP_SYNC, index = -1, init_fd = -1;
        bool init_required = false;
        int handed[2] = { -1, -1 }; /* scratch fs, proxy listener */
        int r = contain(plan, sync_fd, &step, &index, handed, &init_fd, &init_required);
        if (r < 0 && step == JAIL_STEP_SYNC)
                _exit(1); /* the supervisor gave up on us; it reports why */
        if (r < 0)
                fail(msg_fd, (enum jail_step)step, -r, index);
        if (send_started(sync_fd, handed) < 0)
                _exit(1);
        close(handed[0]);
        if (handed[1] >= 0)
                close(handed[1]);
        close(sync_fd);
        /* vfork: the payload borrows our memory until its exec, instead of
         * copying the page tables of a whole supervisor. */
        pid_t child = vfork();
        if (child < 0)
                fail(msg_fd, JAIL_STEP_FORK, errno, 0);
        if (child == 0)
                payload(plan, msg_fd);
        const int theirs[] = { plan->stdout_fd, plan->stderr_fd, plan->extra_fds[0],
                               plan->extra_fds[1] };
        for (size_t i = 0; i < ELEMENTSOF(theirs); i++)
                if (theirs[i] >= 0)
                        close(theirs[i]);
        if (init_fd >= 0)
                exec_init(plan, init_fd, msg_fd, child);
        /* agentbox-init did not start.  Falling back to this copy of the
         * supervisor as pid 1 is allowed only where the policy lets
         * sealed_init degrade; a session cannot go on without init at all
         * (it restarts the interpreter): the supervisor sees it end. */
        int why = errno;
        if (plan->session_fd >= 0 || (init_fd >= 0 && init_required))
                kill(-1, SIGKILL);
        if (plan->session_fd < 0 && init_fd >= 0 && init_required)
                fail(msg_fd, JAIL_STEP_INIT, why ? why : EIO, 0);
        reap(msg_fd, child);
}
