/* Identity inside the sandbox.
 *
 * The supervisor maps one id, JAIL_UID/JAIL_GID, to a host id: its own when
 * it is an ordinary user (the only mapping an unprivileged user namespace
 * allows), or JAIL_HOST_ID_BASE + the sandbox's host pid when it is root, so
 * that every concurrent sandbox is a different nobody on the host and cannot
 * signal or ptrace another.  Namespace uid 0 is never mapped: the
 * capabilities the child holds after clone come from creating the user
 * namespace, and setresuid to a non-root id keeps them (there is no mapped
 * root to lose) until caps_drop_all() clears every set, including the
 * bounding set, before anything untrusted runs.
 */
#include "jail.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int ids_become_sandbox_user(void)
{
        /* Drops the host's supplementary groups where the supervisor allowed
         * setgroups (as root); an unprivileged user namespace forbids it, and
         * there the groups are the user's own anyway.
         *
         * Raw syscalls, not glibc's wrappers: those apply the change to every
         * thread glibc knows of, and a child cloned from a threaded host
         * (a server, a pool's workers) inherits that list without the
         * threads — the wrapper would wait for them forever. */
        if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM)
                return -errno;
        if (syscall(SYS_setresgid, JAIL_GID, JAIL_GID, JAIL_GID) < 0)
                return -errno;
        if (syscall(SYS_setresuid, JAIL_UID, JAIL_UID, JAIL_UID) < 0)
                return -errno;
        return 0;
}

int caps_drop_all(void)
{
        /* The kernel answers EINVAL past its last capability. */
        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                        if (errno == EINVAL)
                                break;
                        return -errno;
                }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        return 0;
}
