/* The seccomp filter's rules: a deny list of what sandboxed code never needs.
 *
 * Refusals return EPERM rather than killing, so that a program probing for a
 * feature fails politely.  clone3 returns ENOSYS instead: its flags live in
 * memory a filter cannot read, and ENOSYS makes libc fall back to clone,
 * whose flags the filter can check.  Every other architecture (the 32-bit
 * int 0x80 entry, x32) gets EPERM for everything.
 *
 * libseccomp compiles these rules when agentbox is built (tools/seccomp_bpf.c
 * writes the program into the library): they depend on nothing else, and
 * compiling them took each run 0.3 ms on the path to the payload's start.
 */
#include "seccomp_rules.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Syscalls refused whatever their arguments. */
static const char *const denied[] = {
        /* the mount family: the root is fixed once built */
        "mount",
        "umount",
        "umount2",
        "pivot_root",
        "chroot",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        /* other processes' memory and state */
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "pidfd_getfd",
        /* the kernel itself */
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "iopl",
        "ioperm",
        "reboot",
        "swapon",
        "swapoff",
        "syslog",
        "acct",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "quotactl",
        "quotactl_fd",
        "lookup_dcookie",
        "uselib",
        "nfsservctl",
        "vhangup",
        "sethostname",
        "setdomainname",
        "fanotify_init",
        /* keyrings are shared with the host kernel */
        "keyctl",
        "add_key",
        "request_key",
        /* new namespaces: the sandbox keeps the ones it was given */
        "unshare",
        "setns",
        /* file handles bypass the mount tree (the "shocker" escape) */
        "open_by_handle_at",
        "name_to_handle_at",
        /* io_uring runs syscalls this filter never sees */
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
};

static const unsigned long ns_flags[] = { CLONE_NEWNS,     CLONE_NEWUSER, CLONE_NEWPID,
                                          CLONE_NEWNET,    CLONE_NEWIPC,  CLONE_NEWUTS,
                                          CLONE_NEWCGROUP, 0x80 /* CLONE_NEWTIME */ };

static int add_rules(scmp_filter_ctx ctx)
{
        const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
        int r;
        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                int nr = seccomp_syscall_resolve_name(denied[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not on this architecture */
                if ((r = seccomp_rule_add(ctx, eperm, nr, 0)) < 0)
                        return r;
        }
        /* clone with any namespace flag: one rule per flag, as libseccomp has
         * no "masked not equal" */
        for (size_t i = 0; i < ELEMENTSOF(ns_flags); i++)
                if ((r = seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1,
                                          SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]))) <
                    0)
                        return r;
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r < 0)
                return r;
        /* terminal injection */
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
        r = r
                    ?: seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                                        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
        /* raw and packet sockets */
        r = r ?: seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET));
        r = r
                    ?: seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1,
                                        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
        /* personality: only PER_LINUX.  The query (0xffffffff) is refused too:
         * libseccomp 2.5 cannot compare one argument twice in a rule, and
         * allowing it would let every flag through with it. */
        r = r ?: seccomp_rule_add(ctx, eperm, SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_NE, 0));
        return r;
}

/* The program libseccomp exported into fd, in malloc'd memory. */
static int read_program(int fd, struct sock_filter **ret, size_t *ret_len)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) ||
            st.st_size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter)))
                return -EIO;
        size_t len = (size_t)st.st_size;
        char *bpf = malloc(len);
        if (!bpf)
                return -ENOMEM;
        if (pread(fd, bpf, len, 0) != (ssize_t)len) {
                free(bpf);
                return -EIO;
        }
        *ret = (struct sock_filter *)bpf;
        *ret_len = len / sizeof(struct sock_filter);
        return 0;
}

int seccomp_rules_compile(struct sock_filter **ret, size_t *ret_len)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
        r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        r = r ?: add_rules(ctx);
        int fd = r < 0 ? -1 : memfd_create("seccomp", MFD_CLOEXEC);
        if (r == 0 && fd < 0)
                r = -errno;
        r = r ?: seccomp_export_bpf(ctx, fd);
        seccomp_release(ctx);
        r = r ?: read_program(fd, ret, ret_len);
        if (fd >= 0)
                close(fd);
        return r;
}
