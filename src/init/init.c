/* agentbox-init: the sandbox's pid 1 while untrusted code runs.
 *
 * Why a separate program: pid 1 must stay in the sandbox for the whole run
 * (it reaps, and its exit ends the pid namespace), and if it were agentbox
 * itself, /proc/1/exe would lead back to the agentbox binary on the host —
 * the path the runc escape (CVE-2019-5736) took.  So once the payload is
 * started, the setup process execs this program from a sealed memfd that
 * the supervisor filled: its /proc/1/exe is a file that no one can write.
 *
 * It is freestanding (no libc, a few hundred bytes of code): it makes itself
 * non-dumpable again (so /proc/1 stays hidden from the payload), says it
 * runs (JAIL_MSG_INIT, so a run its timeout ends still knows) and waits.
 * When the payload (argv[1]) ends it kills what the payload left behind,
 * reaps the rest, writes one JAIL_MSG_EXIT with the payload's wait status
 * to fd 3 and exits.
 *
 * Session mode (argv[2] is "-s", the payload's argv follows, the payload's
 * environment is ours): a session outlives its interpreter, so init stays
 * when the payload ends — it says so (JAIL_MSG_PAYLOAD) — and takes orders
 * from the supervisor on fd 4, a unix socket:
 *   'r' + an fd   kill every other process, reap them, and start the payload
 *                 again with that fd as its fd 3 (the interpreter's restart:
 *                 the namespaces and the workspace stay);
 *   'q' or EOF    kill everything, report JAIL_MSG_EXIT and exit — so the
 *                 session ends with the supervisor process, whichever of its
 *                 threads created it.
 */
#include "jail/jail_msg.h"

#include <asm/unistd.h>

#define MSG_FD            3
#define CTRL_FD           4
#define SIGKILL_          9
#define SIGCHLD_          17
#define EINTR_            4
#define WALL_             0x40000000
#define WNOHANG_          1
#define PR_SET_DUMPABLE_  4
#define PR_SET_PDEATHSIG_ 1
#define SIG_BLOCK_        0
#define SIG_SETMASK_      2
#define POLLIN_           1
#define SOL_SOCKET_       1
#define SCM_RIGHTS_       1
#define MSG_CMSG_CLOEXEC_ 0x40000000
#define O_RDWR_           2
#define O_CLOEXEC_        02000000
#define SFD_CLOEXEC_      02000000
#define SFD_NONBLOCK_     04000
#define AT_FDCWD_         (-100)
#define F_DUPFD_CLOEXEC_  1030

#if defined(__x86_64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        register long r9 __asm__("r9") = f;
        long r;
        __asm__ volatile("syscall"
                         : "=a"(r)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return r;
}
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call init_main\n"
        "  hlt\n");
#elif defined(__aarch64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;
        register long x4 __asm__("x4") = e;
        register long x5 __asm__("x5") = f;
        __asm__ volatile("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory");
        return x0;
}
__asm__(".globl _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  bl init_main\n"
        "  brk #0\n");
#else
#error "agentbox-init supports x86_64 and aarch64; other hosts use the in-process init"
#endif

static long sys4(long n, long a, long b, long c, long d)
{
        return sys6(n, a, b, c, d, 0, 0);
}

static long parse_pid(const char *s)
{
        long v = 0;
        if (!s || !*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > 1000000000)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        return v;
}

static void say(int kind, int wstatus)
{
        struct jail_msg m = { .kind = kind, .wstatus = wstatus, .sealed = 1 };
        sys4(__NR_write, MSG_FD, (long)&m, sizeof m, 0);
}

/* Reaps children until none is left, or (stop_at_payload) until the payload
 * has been reaped; its wait status goes to *ret_status. */
static void reap(long *payload, int *ret_status, int stop_at_payload)
{
        for (;;) {
                int st = 0;
                long p = sys4(__NR_wait4, -1, (long)&st, WALL_, 0);
                if (p == -EINTR_)
                        continue;
                if (p < 0)
                        return; /* no children left */
                if (p != *payload)
                        continue;
                *payload = -1;
                if (ret_status)
                        *ret_status = st;
                if (stop_at_payload)
                        return;
        }
}

/* Kills everything but us (pid 1 is spared by kill(-1)) and reaps it all. */
static void clear_out(long *payload, int *ret_status)
{
        sys4(__NR_kill, -1, SIGKILL_, 0, 0);
        reap(payload, ret_status, 0);
}

/* ---- session mode ---- */
struct iov_ {
        void *base;
        unsigned long len;
};
struct msghdr_ {
        void *name;
        int namelen;
        struct iov_ *iov;
        unsigned long iovlen;
        void *control;
        unsigned long controllen;
        int flags;
};
struct pollfd_ {
        int fd;
        short events, revents;
};

/* One order from the supervisor: its tag, and the fd it carries (or -1).
 * Returns 0 at EOF. */
static long take_order(char *tag, int *fd)
{
        /* cmsghdr (len, level, type) is 16 bytes on both arches, then the fd. */
        union {
                unsigned long align;
                char buf[32];
        } ctl;
        struct iov_ iov = { tag, 1 };
        struct msghdr_ mh = { 0, 0, &iov, 1, ctl.buf, sizeof ctl.buf, 0 };
        *fd = -1;
        long n = sys4(__NR_recvmsg, CTRL_FD, (long)&mh, MSG_CMSG_CLOEXEC_, 0);
        if (n <= 0 || mh.controllen < 20)
                return n; /* no control data to look at */
        unsigned long clen = *(unsigned long *)ctl.buf;
        int level = *(int *)(ctl.buf + 8), type = *(int *)(ctl.buf + 12);
        if (clen >= 20 && level == SOL_SOCKET_ && type == SCM_RIGHTS_) {
                *fd = *(int *)(ctl.buf + 16);
                /* More than one fd is a broken supervisor: close the rest. */
                for (unsigned long off = 20; off + 4 <= clen && off + 4 <= sizeof ctl.buf; off += 4)
                        sys4(__NR_close, *(int *)(ctl.buf + off), 0, 0, 0);
        }
        return n;
}

static void move_fd(int from, int to)
{
        if (from != to)
                sys4(__NR_dup3, from, to, 0, 0);
}

/* The payload again, as a child of ours: fd 3 is its new channel to the
 * supervisor, 0-2 are /dev/null (its output goes through that channel). */
static long respawn(char **argv, char **envp, int chan)
{
        long pid = sys6(__NR_clone, SIGCHLD_, 0, 0, 0, 0, 0);
        if (pid != 0)
                return pid;
        unsigned long none = 0;
        sys4(__NR_rt_sigprocmask, SIG_SETMASK_, (long)&none, 0, 8);
        sys4(__NR_prctl, PR_SET_PDEATHSIG_, SIGKILL_, 0, 0);
        /* init holds nothing at 0-2, so both may have landed there: lift
         * them above the targets first. */
        chan = (int)sys4(__NR_fcntl, chan, F_DUPFD_CLOEXEC_, 10, 0);
        int null = (int)sys4(__NR_openat, AT_FDCWD_, (long)"/dev/null", O_RDWR_ | O_CLOEXEC_, 0);
        if (null >= 0)
                null = (int)sys4(__NR_fcntl, null, F_DUPFD_CLOEXEC_, 10, 0);
        if (chan < 0 || null < 0)
                sys4(__NR_exit_group, 127, 0, 0, 0);
        move_fd(chan, 3);
        for (int fd = 0; fd < 3; fd++)
                move_fd(null, fd);
        sys4(__NR_close_range, 4, ~0U, 0, 0);
        sys4(__NR_setsid, 0, 0, 0, 0);
        sys4(__NR_execve, (long)argv[0], (long)argv, (long)envp, 0);
        sys4(__NR_exit_group, 127, 0, 0, 0);
        return -1;
}

__attribute__((noreturn)) static void session(long payload, char **argv, char **envp)
{
        unsigned long chld = 1UL << (SIGCHLD_ - 1);
        sys4(__NR_rt_sigprocmask, SIG_BLOCK_, (long)&chld, 0, 8);
        long sfd = sys4(__NR_signalfd4, -1, (long)&chld, 8, SFD_CLOEXEC_ | SFD_NONBLOCK_);
        /* Without a signalfd nothing wakes us for a child: look every 100 ms. */
        struct timespec_ {
                long sec, nsec;
        } tick = { 0, 100000000 };
        int final = 0;
        for (;;) {
                struct pollfd_ pfd[2] = { { CTRL_FD, POLLIN_, 0 }, { (int)sfd, POLLIN_, 0 } };
                long n = sys6(__NR_ppoll, (long)pfd, sfd >= 0 ? 2 : 1, sfd >= 0 ? 0 : (long)&tick,
                              0, 8, 0);
                if (n == -EINTR_)
                        continue;
                if (n < 0)
                        break;
                if (sfd >= 0 && pfd[1].revents) {
                        char drain[128 * 4];
                        while (sys4(__NR_read, sfd, (long)drain, sizeof drain, 0) > 0)
                                ;
                }
                for (;;) {
                        int st = 0;
                        long p = sys4(__NR_wait4, -1, (long)&st, WALL_ | WNOHANG_, 0);
                        if (p <= 0)
                                break;
                        if (p == payload) {
                                say(JAIL_MSG_PAYLOAD, st);
                                payload = -1;
                        }
                }
                if (!pfd[0].revents)
                        continue;
                char tag = 0;
                int fd = -1;
                n = take_order(&tag, &fd);
                if (n == -EINTR_)
                        continue;
                if (n <= 0 || tag != 'r') {
                        if (fd >= 0)
                                sys4(__NR_close, fd, 0, 0, 0);
                        break;
                }
                clear_out(&payload, 0);
                if (fd >= 0) {
                        payload = respawn(argv, envp, fd);
                        sys4(__NR_close, fd, 0, 0, 0);
                        /* No new payload: say so, or the supervisor waits
                         * for a hello that will not come. */
                        if (payload < 0)
                                say(JAIL_MSG_PAYLOAD, 127 << 8);
                }
        }
        clear_out(&payload, &final);
        say(JAIL_MSG_EXIT, final);
        for (;;)
                sys4(__NR_exit_group, 0, 0, 0, 0);
}

__attribute__((noreturn, used)) void init_main(long *sp)
{
        long argc = sp[0];
        char **argv = (char **)(sp + 1);
        char **envp = argv + argc + 1;
        long payload = argc > 1 ? parse_pid(argv[1]) : -1;
        /* The exec made us dumpable again: hide /proc/1 from the payload. */
        sys4(__NR_prctl, PR_SET_DUMPABLE_, 0, 0, 0);
        if (argc > 3 && argv[2][0] == '-' && argv[2][1] == 's' && argv[2][2] == '\0')
                session(payload, argv + 3, envp);
        /* A run ended by its timeout never sees our EXIT: this says which
         * pid 1 it had. */
        say(JAIL_MSG_INIT, 0);
        int status = 0;
        reap(&payload, &status, 1);
        /* The payload is gone: what it left behind goes too. */
        clear_out(&payload, 0);
        say(JAIL_MSG_EXIT, status);
        for (;;)
                sys4(__NR_exit_group, 0, 0, 0, 0);
}
