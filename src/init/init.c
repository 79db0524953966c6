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
 * non-dumpable again (so /proc/1 stays hidden from the payload) and waits.
 * When the payload (argv[1]) ends it kills what the payload left behind,
 * reaps the rest, writes one JAIL_MSG_EXIT with the payload's wait status
 * to fd 3 and exits.
 */
#include "jail/jail_msg.h"

#include <asm/unistd.h>

#define MSG_FD           3
#define SIGKILL_         9
#define EINTR_           4
#define WALL_            0x40000000
#define PR_SET_DUMPABLE_ 4

#if defined(__x86_64__)
static long sys4(long n, long a, long b, long c, long d)
{
        register long r10 __asm__("r10") = d;
        long r;
        __asm__ volatile("syscall"
                         : "=a"(r)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
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
static long sys4(long n, long a, long b, long c, long d)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;
        __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
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

__attribute__((noreturn, used)) void init_main(long *sp)
{
        long argc = sp[0];
        char **argv = (char **)(sp + 1);
        long payload = argc > 1 ? parse_pid(argv[1]) : -1;
        /* The exec made us dumpable again: hide /proc/1 from the payload. */
        sys4(__NR_prctl, PR_SET_DUMPABLE_, 0, 0, 0);
        struct jail_msg m = { .kind = JAIL_MSG_EXIT, .sealed = 1 };
        for (;;) {
                int st = 0;
                long p = sys4(__NR_wait4, -1, (long)&st, WALL_, 0);
                if (p == -EINTR_)
                        continue;
                if (p < 0)
                        break; /* no children left */
                if (p == payload) {
                        m.wstatus = st;
                        sys4(__NR_kill, -1, SIGKILL_, 0, 0);
                }
        }
        sys4(__NR_write, MSG_FD, (long)&m, sizeof m, 0);
        for (;;)
                sys4(__NR_exit_group, 0, 0, 0, 0);
}
