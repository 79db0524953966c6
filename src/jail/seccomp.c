/* The seccomp filter, as the child loads it.  Its rules and why are in
 * seccomp_rules.c; libseccomp compiled them when agentbox was built, so a
 * run only hands the finished BPF program to the kernel. */
#include "jail.h"
#include "seccomp_rules.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

int seccomp_plan_build(struct sock_fprog *ret, struct abox_error *err)
{
        (void)err;
        *ret = (struct sock_fprog){ .len = jail_seccomp_filter_len,
                                    .filter = (struct sock_filter *)jail_seccomp_filter };
        return 0;
}

void seccomp_plan_done(struct sock_fprog *prog)
{
        /* The program is the library's constant: nothing to free. */
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
