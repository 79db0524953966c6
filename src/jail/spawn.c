/* Starting a sandbox.  The child is cloned fork-style (no shared memory, its
 * own copy of the stack), so it may run in a threaded host process as long
 * as it allocates nothing.  A sync pipe orders the two sides:
 *
 *   parent: clone, loopback up, write the id maps, send "m"  ->  child: build the root
 *   parent: after_clone (cgroup, seccomp), send the filter  ->  child: finish
 *   child: "started" with its scratch fs fd, exec  ->  parent: reads it at the end
 *
 * so the parent's cgroup and seccomp work overlaps the child's mounts, and
 * nothing untrusted runs before the child is in its cgroup. */
#include "jail.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "core/error.h"

#include <errno.h>
#include <linux/sched.h>
#include <stdint.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP_TEXT_(id, text) text,
static const char *const step_texts[] = { JAIL_STEPS(STEP_TEXT_) };

const char *jail_step_text(enum jail_step s)
{
        return (unsigned)s < JAIL_STEP__MAX ? step_texts[s] : "set up the sandbox";
}

static int write_proc(pid_t pid, const char *file, const char *value)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
        return write_small_file(path, value);
}

static int map_ids(pid_t pid)
{
        bool root = geteuid() == 0;
        unsigned host_uid = root ? JAIL_HOST_ID_BASE + (unsigned)pid : (unsigned)geteuid();
        unsigned host_gid = root ? JAIL_HOST_ID_BASE + (unsigned)pid : (unsigned)getegid();
        char map[64];
        /* Unprivileged writers must deny setgroups before writing gid_map;
         * root allows it so the child can drop the host's supplementary groups. */
        int r = write_proc(pid, "setgroups", root ? "allow" : "deny");
        if (r < 0 && r != -ENOENT)
                return r;
        snprintf(map, sizeof map, "%d %u 1\n", JAIL_UID, host_uid);
        if ((r = write_proc(pid, "uid_map", map)) < 0)
                return r;
        snprintf(map, sizeof map, "%d %u 1\n", JAIL_GID, host_gid);
        return write_proc(pid, "gid_map", map);
}

static int send_go(int fd, const struct jail_plan *plan, bool loopback_up)
{
        struct jail_go g = { .n_join_fds = plan->n_join_fds,
                             .has_init = plan->init_fd >= 0,
                             .init_required = plan->init_required,
                             .filter_len = plan->seccomp.len,
                             .loopback_up = loopback_up,
                             .landlock = plan->landlock };
        int fds[JAIL_GO_MAX_FDS];
        unsigned n_fds = plan->n_join_fds;
        memcpy(fds, plan->join_fds, n_fds * sizeof(int));
        if (g.has_init)
                fds[n_fds++] = plan->init_fd;
        ssize_t n = fd_send_with(fd, &g, sizeof g, fds, n_fds);
        if (n < 0)
                return (int)n;
        int r = (size_t)n == sizeof g ? 0 : write_all(fd, (char *)&g + n, sizeof g - (size_t)n);
        return r
                       ?: write_all(fd, plan->seccomp.filter,
                                    plan->seccomp.len * sizeof *plan->seccomp.filter);
}

/* The child's set-up overlaps the parent's only when they run on different
 * CPUs, and a new task is often queued on its parent's CPU, where it waits
 * until the parent blocks (on a 2-CPU machine: 3 runs in 5, 0.15 ms at the
 * median, 1.5 ms at p90).  So the child starts on another CPU, if there is
 * one it may use, and takes its whole set back after "m" (before then the
 * parent may still be narrowing it). */
static void start_elsewhere(const struct jail_plan *plan, pid_t pid)
{
        cpu_set_t others = plan->cpus;
        int me = sched_getcpu();
        if (me >= 0 && me < CPU_SETSIZE)
                CPU_CLR(me, &others);
        if (me >= 0 && CPU_COUNT(&others) > 0)
                sched_setaffinity(pid, sizeof others, &others);
}

/* Whether the child has written to its message pipe (only a failure report
 * can be there before "go"). */
static bool child_spoke(int msg_fd)
{
        struct pollfd pfd = { msg_fd, POLLIN, 0 };
        return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

int jail_spawn(struct jail_plan *plan, int (*after_clone)(void *data, pid_t pid), void *data,
               struct jail_child *ret, struct abox_error *err)
{
        if (sched_getaffinity(0, sizeof plan->cpus, &plan->cpus) < 0)
                CPU_ZERO(&plan->cpus);
        int sync[2], msg[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0)
                return abox_error_set(err, -errno, "pipe: %s", strerror(errno));
        if (pipe2(msg, O_CLOEXEC) < 0) {
                int r = -errno;
                close(sync[0]);
                close(sync[1]);
                return abox_error_set(err, r, "pipe: %s", strerror(-r));
        }
        unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
                              CLONE_NEWUTS | CLONE_PIDFD | SIGCHLD;
        if (!plan->share_net)
                flags |= CLONE_NEWNET;
        int pidfd = -1;
        bool in_cgroup = false;
        pid_t pid = -1;
        if (plan->cgroup_fd >= 0) {
                /* v2: born in its cgroup, no migration at all. */
                struct clone_args args = {
                        .flags = (flags & ~(unsigned long)SIGCHLD) | CLONE_INTO_CGROUP,
                        .pidfd = (uint64_t)(uintptr_t)&pidfd,
                        .exit_signal = SIGCHLD,
                        .cgroup = (uint64_t)plan->cgroup_fd,
                };
                pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
                in_cgroup = pid >= 0;
        }
        if (!in_cgroup)
                pid = (pid_t)syscall(SYS_clone, flags, NULL, &pidfd, NULL, 0);
        if (pid == 0) {
                close(sync[1]);
                close(msg[0]);
                contain_child(plan, sync[0], msg[1]);
        }
        int r = pid < 0 ? -errno : 0;
        close(sync[0]);
        close(msg[1]);
        if (r < 0) {
                close(sync[1]);
                close(msg[0]);
                if (r == -EPERM || r == -ENOSPC || r == -EINVAL)
                        return abox_error_set(err, r,
                                              "cannot create namespaces (%s): user namespaces "
                                              "may be disabled on this host",
                                              strerror(-r));
                return abox_error_set(err, r, "clone: %s", strerror(-r));
        }
        start_elsewhere(plan, pid);
        /* Before the id maps: the child is still busy until it needs them. */
        bool loopback_up = !plan->share_net && net_loopback_up_in(pidfd) == 0;
        r = map_ids(pid);
        if (r < 0)
                abox_error_set(err, r, "cannot map the sandbox user: %s", strerror(-r));
        else if (write(sync[1], "m", 1) != 1)
                r = abox_error_set(err, -errno, "cannot start the sandbox: %s", strerror(errno));
        else if ((r = after_clone(data, pid)) < 0)
                ; /* after_clone set err */
        else if (plan->cgroup_fd >= 0 && !in_cgroup && plan->n_join_fds == 0) {
                /* clone3 could not place it (an old kernel): join the slow way. */
                int fd = openat(plan->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        r = abox_error_set(err, -errno, "cannot join the sandbox's cgroup: %s",
                                           strerror(errno));
                else
                        plan->join_fds[plan->n_join_fds++] = fd;
        }
        if (r == 0 && (r = send_go(sync[1], plan, loopback_up)) < 0)
                abox_error_set(err, r, "cannot start the sandbox: %s", strerror(-r));
        for (unsigned i = 0; i < plan->n_join_fds; i++)
                close(plan->join_fds[i]);
        plan->n_join_fds = 0;
        if (r < 0 && child_spoke(msg[0])) {
                /* The child failed first (building its root, say) and our
                 * write found it gone: its own report, on the message pipe,
                 * says why, and the caller reads it as after any start. */
                *err = (struct abox_error){ 0 };
                r = 0;
        }
        if (r < 0) {
                jail_kill_and_reap(pid, pidfd);
                close(pidfd);
                close(msg[0]);
                close(sync[1]);
                return r;
        }
        *ret = (struct jail_child){
                .pid = pid, .pidfd = pidfd, .msg_fd = msg[0], .sync_fd = sync[1]
        };
        return 0;
}

bool jail_take_started(int sync_fd, int pidfd, int timeout_ms, int *ret_scratch, int *ret_listener)
{
        char tag = 0;
        int fds[2] = { -1, -1 };
        unsigned got = 0;
        *ret_scratch = *ret_listener = -1;
        if (timeout_ms > 0) {
                /* Either the message comes, or the child ends without it. */
                struct pollfd pfd[2] = { { sync_fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
                while (poll(pfd, 2, timeout_ms) < 0 && errno == EINTR)
                        ;
        }
        ssize_t n = fd_recv_with(sync_fd, &tag, 1, MSG_DONTWAIT, fds, 2, &got);
        if (n != 1 || tag != 's' || got == 0) {
                for (unsigned i = 0; i < got; i++)
                        close(fds[i]);
                return false;
        }
        /* The scratch fd is a detached mount (fsmount): its last close
         * dissolves it, which waits for an RCU grace period (0.1-0.3 ms).
         * Paid here, while the payload starts, and not at the end, where
         * every run waits for it: a directory fd reaches the same files. */
        int dir = openat(fds[0], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
                close(fds[0]);
                fds[0] = dir;
        }
        *ret_scratch = fds[0];
        *ret_listener = fds[1];
        return true;
}

void jail_reap(pid_t pid)
{
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
                ;
}

void jail_kill_and_reap(pid_t pid, int pidfd)
{
        pidfd_signal(pidfd, SIGKILL);
        jail_reap(pid);
}
