/* The seccomp filter: a deny list of what sandboxed code never needs.
 *
 * Refusals return EPERM rather than killing, so that a program probing for a
 * feature fails politely.  clone3 returns ENOSYS instead: its flags live in
 * memory a filter cannot read, and ENOSYS makes libc fall back to clone,
 * whose flags the filter can check.  Every other architecture (the 32-bit
 * int 0x80 entry, x32) gets EPERM for everything.
 *
 * libseccomp compiles the filter in the parent; the child only hands the
 * finished BPF program to the kernel, so nothing allocates after clone.
 */
#include "jail.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "core/error.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static int build(struct sock_fprog *ret)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
        r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        r = r ?: add_rules(ctx);
        _cleanup_close_ int fd = -1;
        if (r == 0) {
                fd = memfd_create("seccomp", MFD_CLOEXEC);
                r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
        }
        seccomp_release(ctx);
        if (r < 0)
                return r;
        char *bpf = NULL;
        size_t len = 0;
        if (lseek(fd, 0, SEEK_SET) < 0 || (r = read_all(fd, 1 << 20, &bpf, &len)) < 0 || len == 0 ||
            len % sizeof(struct sock_filter)) {
                free(bpf);
                return r < 0 ? r : -EIO;
        }
        ret->filter = (struct sock_filter *)bpf;
        ret->len = (unsigned short)(len / sizeof(struct sock_filter));
        return 0;
}

/* The filter depends on nothing but this file, so a process builds it once.
 * Not for the build time alone: libseccomp's allocations spread over many
 * heap pages, and in a supervisor that clones a sandbox every few
 * milliseconds each page written after a clone costs a copy-on-write fault. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_fprog cache;

int seccomp_plan_build(struct sock_fprog *ret, struct abox_error *err)
{
        pthread_mutex_lock(&cache_lock);
        int r = cache.filter ? 0 : build(&cache);
        *ret = cache;
        pthread_mutex_unlock(&cache_lock);
        if (r < 0)
                return abox_error_set(err, r, "seccomp: cannot build the filter: %s", strerror(-r));
        return 0;
}

void seccomp_plan_done(struct sock_fprog *prog)
{
        /* The program is the process's cached one: nothing to free. */
        prog->filter = NULL;
}

int seccomp_apply(const struct sock_fprog *prog)
{
        /* TSYNC is not needed: the child is single-threaded.  The filter is
         * inherited by every process the payload starts. */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
                return -errno;
        return 0;
}
