#pragma once

#include "cgroup.h"

#include <stdbool.h>

struct jail_probe {
        bool userns;
        int landlock_abi;
        bool seccomp;
        bool memfd_noexec; /* vm.memfd_noexec exists and we may set it (root) */
        bool sealed_init;  /* agentbox-init can run from a sealed memfd */
        struct cgroup_probe cgroup;
};

/* try_userns clones a throwaway child to prove user namespaces work; runs
 * skip it, as their own clone reports the same failure with context. */
void jail_probe(struct jail_probe *ret, bool try_userns);
/* Whether vm.memfd_noexec can be set for a sandbox (root, Linux 6.3+). */
bool jail_can_memfd_noexec(void);
