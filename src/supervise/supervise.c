/* Supervising one sandbox: one poll loop over pid 1's pidfd, its message
 * pipe, the payload's stdout and stderr, and the Python kernel's report.
 *
 * Output is read as fast as it comes and kept only up to the cap; the rest is
 * counted and dropped, so a program that floods gigabytes neither blocks on a
 * full pipe nor grows our memory.  The wall-clock deadline and the CPU-time
 * budget are checked here, outside the sandbox: killing its pid 1 ends the
 * pid namespace, daemonised grandchildren included.  The loop ends when pid 1
 * is gone — not at EOF, which a process could hold back — and then drains
 * the pipes, whose writers are all dead by then.  Or sooner: once pid 1 has
 * reported the payload's end it has killed and reaped every other process,
 * so when the pipes are at EOF too nothing in the sandbox can act any more.
 * The caller then does its work while pid 1's exit tears the namespaces
 * down (about half a millisecond), and reaps it afterwards.
 */
#include "supervise.h"

#include "base/clock.h"
#include "base/fd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CPU_POLL_MS 20

int supervise_pump(int fd, struct strbuf *sb)
{
        char buf[65536];
        for (int rounds = 0; rounds < 16; rounds++) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n > 0) {
                        if (strbuf_append(sb, buf, (size_t)n) < 0)
                                sb->dropped += (size_t)n;
                        continue;
                }
                if (n == 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN ? 1 : 0;
        }
        return 1;
}

static void take_messages(int fd, struct supervise_output *out, int *open)
{
        struct jail_msg m;
        for (;;) {
                ssize_t n = read(fd, &m, sizeof m);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n != (ssize_t)sizeof m) {
                        *open = 0;
                        return;
                }
                if (m.kind == JAIL_MSG_FAIL && !out->failed)
                        out->failed = true, out->fail = m;
                else if (m.kind == JAIL_MSG_EXIT)
                        out->exited = true, out->exit = m;
                else if (m.kind == JAIL_MSG_INIT)
                        out->sealed_init = true;
        }
}

static void check_cpu(const struct supervise_input *in, struct supervise_output *out)
{
        uint64_t used_us;
        if (out->cpu_exceeded || out->timed_out || !in->cg ||
            cgroup_cpu_usage_us(in->cg, &used_us) < 0)
                return;
        if (used_us >= in->cpu_time_ms * 1000) {
                out->cpu_exceeded = true;
                pidfd_signal(in->pidfd, SIGKILL);
        }
}

int supervise(const struct supervise_input *in, struct supervise_output *out)
{
        enum { P_INIT, P_MSG, P_OOM, P_OUT, P_ERR, P_REPORT, P__MAX };
        struct strbuf *sinks[P__MAX] = { NULL, NULL, NULL, &out->out, &out->err, &out->report };
        struct pollfd pfd[P__MAX] = {
                { in->pidfd, POLLIN, 0 },  { in->msg_fd, POLLIN, 0 }, { in->oom_fd, POLLIN, 0 },
                { in->out_fd, POLLIN, 0 }, { in->err_fd, POLLIN, 0 }, { in->report_fd, POLLIN, 0 },
        };
        out->out.cap = out->err.cap = in->output_cap;
        out->report.cap = in->report_cap;
        for (int i = P_MSG; i < P__MAX; i++)
                if (pfd[i].fd >= 0)
                        fd_set_nonblock(pfd[i].fd);
        uint64_t start = monotonic_ms(), deadline = start + in->timeout_ms;
        bool init_alive = true;
        int msg_open = 1;
        while (init_alive) {
                uint64_t now = monotonic_ms();
                if (!out->timed_out && now >= deadline) {
                        out->timed_out = true;
                        pidfd_signal(in->pidfd, SIGKILL);
                }
                int wait = out->timed_out ? 1000 : (int)(deadline - now);
                if (in->cpu_time_ms && wait > CPU_POLL_MS)
                        wait = CPU_POLL_MS;
                int n = poll(pfd, P__MAX, wait);
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (in->cpu_time_ms)
                        check_cpu(in, out);
                if (n <= 0)
                        continue;
                if (pfd[P_MSG].revents)
                        take_messages(in->msg_fd, out, &msg_open);
                if (pfd[P_OOM].revents && !out->oom) {
                        /* The group's tasks wait at the limit: the whole
                         * sandbox ends, as an OOM ends it under v2. */
                        out->oom = true;
                        pidfd_signal(in->pidfd, SIGKILL);
                        pfd[P_OOM].fd = -1;
                }
                for (int i = P_OUT; i < P__MAX; i++)
                        if (pfd[i].revents && supervise_pump(pfd[i].fd, sinks[i]) == 0)
                                pfd[i].fd = -1;
                if (!msg_open)
                        pfd[P_MSG].fd = -1;
                if (pfd[P_INIT].revents)
                        init_alive = false;
                if (out->exited && pfd[P_OUT].fd < 0 && pfd[P_ERR].fd < 0 && pfd[P_REPORT].fd < 0) {
                        out->elapsed_ms = monotonic_ms() - start;
                        return 0;
                }
        }
        /* Every process of the sandbox is gone: drain to EOF, boundedly. */
        uint64_t drain_deadline = monotonic_ms() + 2000;
        for (;;) {
                bool open = false;
                for (int i = P_OUT; i < P__MAX; i++)
                        if (pfd[i].fd >= 0) {
                                if (supervise_pump(pfd[i].fd, sinks[i]) == 0)
                                        pfd[i].fd = -1;
                                else
                                        open = true;
                        }
                if (msg_open)
                        take_messages(in->msg_fd, out, &msg_open);
                if ((!open && !msg_open) || monotonic_ms() > drain_deadline)
                        break;
                pfd[P_INIT].fd = pfd[P_OOM].fd = -1;
                pfd[P_MSG].fd = msg_open ? in->msg_fd : -1;
                poll(pfd, P__MAX, 50);
        }
        out->elapsed_ms = monotonic_ms() - start;
        return 0;
}

void supervise_output_done(struct supervise_output *out)
{
        strbuf_done(&out->out);
        strbuf_done(&out->err);
        strbuf_done(&out->report);
}
