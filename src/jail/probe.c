/* What this kernel and host can enforce, asked the kernel directly. */
#include "probe.h"

#include "jail.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static bool can_clone_userns(void)
{
        pid_t pid = (pid_t)syscall(
                SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | SIGCHLD,
                NULL, NULL, NULL, 0);
        if (pid == 0)
                _exit(0);
        if (pid < 0)
                return false;
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool jail_can_memfd_noexec(void)
{
        return geteuid() == 0 && access("/proc/sys/vm/memfd_noexec", W_OK) == 0;
}

void jail_probe(struct jail_probe *ret, bool for_check)
{
        *ret = (struct jail_probe){ .userns = true };
        ret->landlock_abi = landlock_abi();
        ret->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
        cgroup_probe(&ret->cgroup);
        /* A run learns these from what it actually built (its clone, its
         * memfd); only `check` has to try them. */
        if (for_check) {
                ret->userns = can_clone_userns();
                ret->memfd_noexec = jail_can_memfd_noexec();
                ret->sealed_init = jail_init_available();
        }
}
