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

/* for_check also tries what a run finds out by doing it: clones a throwaway
 * child to prove user namespaces work (a run's own clone reports the same
 * failure with context), and tests vm.memfd_noexec and agentbox-init's memfd
 * (a run sets both from its plan: a second memfd per run would be waste). */
void jail_probe(struct jail_probe *ret, bool for_check);
/* Whether vm.memfd_noexec can be set for a sandbox (root, Linux 6.3+). */
bool jail_can_memfd_noexec(void);
