/* Containment, in security order.
 *
 * contain_child() runs in the freshly cloned child — pid 1 of a new pid
 * namespace, holding every capability of its new user namespace and nothing
 * on the host.  The order matters:
 *
 *   0. cgroup     join it (unless clone3 already put us there), while we still
 *                 hold the supervisor's host credentials that own its files;
 *   1. ids        become the sandbox uid/gid, so that every file and
 *                 mount made below belongs to a mapped id (the kernel refuses
 *                 to create inodes for unmapped owners);
 *   2. mounts     build the root and pivot into it: needs CAP_SYS_ADMIN;
 *   3. hostname, loopback   need CAP_SYS_ADMIN / CAP_NET_ADMIN in the namespaces;
 *      (meanwhile the supervisor compiles the seccomp filter; we wait for it)
 *   4. cgroupns   after joining, so /proc/self/cgroup and a cgroupfs mount
 *                 show nothing of the host's tree;
 *   5. rlimits    before dropping caps, so hard limits can be set at all;
 *   6. caps       drop every capability, bounding set included;
 *   7. no_new_privs   no setuid or file-capability gain from here on;
 *   8. landlock   needs no_new_privs (or CAP_SYS_ADMIN, which is gone);
 *   9. seccomp    last: the filter refuses mount, unshare and friends that
 *                 the steps above still needed.
 *
 * Then the child becomes a tiny init: it forks the payload, which only moves
 * its fds into place and execs, reaps everything, and when the payload exits
 * kills whatever it left behind (daemonised grandchildren included) and
 * reports the payload's wait status.  init is not dumpable, so nothing in
 * the sandbox can open /proc/1/mem or /proc/1/exe (the path back to the host
 * binary that CVE-2019-5736 used); Landlock would refuse writing it anyway,
 * and its owner is not the sandbox's host uid.
 */
#include "jail.h"

#include "base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

_Noreturn static void fail(int msg_fd, enum jail_step step, int err, int index)
{
        struct jail_msg m = { .kind = JAIL_MSG_FAIL, .step = step, .err = err, .index = index };
        (void)!write(msg_fd, &m, sizeof m);
        _exit(1);
}

/* The filter arrives from the parent once the child is in its cgroup. */
static int receive_filter(int fd, struct sock_filter *filter, size_t max, struct sock_fprog *ret)
{
        uint32_t n;
        if (read(fd, &n, sizeof n) != sizeof n || n == 0 || n > max)
                return -EPROTO;
        size_t want = n * sizeof *filter, got = 0;
        while (got < want) {
                ssize_t k = read(fd, (char *)filter + got, want - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -EPROTO;
                got += (size_t)k;
        }
        *ret = (struct sock_fprog){ .len = (unsigned short)n, .filter = filter };
        return 0;
}

/* Moves this (single-threaded) task into its cgroup.  Done first, while the
 * task still has the supervisor's host credentials that own those files. */
static int join_cgroup(const struct jail_plan *plan)
{
        for (unsigned i = 0; i < plan->n_cgroup_join; i++) {
                int fd = open(plan->cgroup_join[i], O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                ssize_t k = write(fd, "0", 1);
                int r = k == 1 ? 0 : -errno;
                close(fd);
                if (r < 0)
                        return r;
        }
        return 0;
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

static int contain(const struct jail_plan *plan, int sync_fd, bool in_cgroup, int *ret_step,
                   int *ret_index)
{
        struct sock_filter filter[BPF_MAXINSNS];
        struct sock_fprog prog;
        char go;
        int r;
#define STEP(s, call)                                                                              \
        do {                                                                                       \
                *ret_step = JAIL_STEP_##s;                                                         \
                if ((r = (call)) < 0)                                                              \
                        return r;                                                                  \
        } while (0)
        STEP(SYNC, read(sync_fd, &go, 1) == 1 ? 0 : -EPIPE);
        if (!in_cgroup)
                STEP(CGROUP, join_cgroup(plan));
        if (plan->memfd_noexec)
                STEP(MEMFD, memfd_noexec());
        STEP(IDS, ids_become_sandbox_user());
        /* The kernel clears the parent-death signal on any credential change:
         * set it again, or a SIGKILLed supervisor would leave us running.  If
         * the supervisor is already gone, the next read of the sync pipe
         * sees EOF and we stop there. */
        STEP(IDS, prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ? -errno : 0);
        STEP(MOUNT_OP, rootfs_apply(&plan->rootfs, ret_index));
        STEP(PIVOT, rootfs_pivot());
        STEP(HOSTNAME, sethostname(plan->hostname, strlen(plan->hostname)) < 0 ? -errno : 0);
        if (!plan->share_net)
                STEP(LOOPBACK, net_loopback_up());
        STEP(SYNC, receive_filter(sync_fd, filter, BPF_MAXINSNS, &prog));
        close(sync_fd);
        STEP(CGROUPNS, unshare(CLONE_NEWCGROUP) < 0 ? -errno : 0);
        STEP(RLIMITS, rlimit_apply(&plan->rlimits));
        STEP(CAPS, caps_drop_all());
        STEP(NO_NEW_PRIVS, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0);
        if (plan->landlock.abi > 0)
                STEP(LANDLOCK, landlock_apply(&plan->landlock));
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

_Noreturn static void payload(const struct jail_plan *plan, int msg_fd)
{
        /* Lift every source above the targets first, so no dup2 clobbers a
         * source that is still to be moved. */
        int src[5] = { -1, plan->stdout_fd, plan->stderr_fd, plan->extra_fds[0],
                       plan->extra_fds[1] };
        src[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        msg_fd = fcntl(msg_fd, F_DUPFD_CLOEXEC, 100);
        for (int i = 0; i < 5; i++)
                if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
                        fail(msg_fd, JAIL_STEP_EXEC, errno, 0);
        for (int i = 0; i < 5; i++)
                if (src[i] >= 0 && dup2(src[i], i) < 0)
                        fail(msg_fd, JAIL_STEP_EXEC, errno, 0);
        syscall(SYS_close_range, 5, 99, 0);
        syscall(SYS_close_range, 101, ~0U, 0);
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int r = exec_search(plan->argv, plan->envp);
        fail(msg_fd, JAIL_STEP_EXEC, -r, 0);
}

/* pid 1: reap until the payload is gone, then end everything it left. */
_Noreturn static void init(const struct jail_plan *plan, int msg_fd)
{
        prctl(PR_SET_DUMPABLE, 0);
        pid_t child = fork();
        if (child < 0)
                fail(msg_fd, JAIL_STEP_FORK, errno, 0);
        if (child == 0)
                payload(plan, msg_fd);
        close(plan->stdout_fd);
        close(plan->stderr_fd);
        for (int i = 0; i < 2; i++)
                if (plan->extra_fds[i] >= 0)
                        close(plan->extra_fds[i]);
        struct jail_msg m = { .kind = JAIL_MSG_EXIT };
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, __WALL);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0)
                        break;
                if (p == child) {
                        m.wstatus = st;
                        kill(-1, SIGKILL);
                }
        }
        struct statvfs sv;
        if (statvfs("/tmp", &sv) == 0 && (sv.f_bavail == 0 || sv.f_favail == 0))
                m.flags |= JAIL_EXIT_DISK_FULL;
        if (rlimit_file_size_hit(plan->rlimits.fsize_bytes))
                m.flags |= JAIL_EXIT_FILE_SIZE;
        (void)!write(msg_fd, &m, sizeof m);
        _exit(0);
}

_Noreturn void contain_child(const struct jail_plan *plan, int sync_fd, int msg_fd,
                             bool in_cgroup)
{
        /* Dies with the supervisor; and if it died before this line, the
         * first read of the sync pipe sees EOF. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Whatever the host process had open without O_CLOEXEC stops here. */
        const int keep[] = { sync_fd, msg_fd, plan->stdout_fd, plan->stderr_fd,
                             plan->extra_fds[0], plan->extra_fds[1] };
        if (plan->cgroup_fd >= 0)
                close(plan->cgroup_fd);
        if (close_all_except(keep, sizeof keep / sizeof *keep) < 0)
                fail(msg_fd, JAIL_STEP_SYNC, errno, -1);
        int step = JAIL_STEP_SYNC, index = -1;
        int r = contain(plan, sync_fd, in_cgroup, &step, &index);
        if (r < 0 && step == JAIL_STEP_SYNC)
                _exit(1); /* the supervisor gave up on us; it reports why */
        if (r < 0)
                fail(msg_fd, (enum jail_step)step, -r, index);
        init(plan, msg_fd);
}
