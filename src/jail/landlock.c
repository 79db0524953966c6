/* Landlock: the file and network rules the kernel checks on every access,
 * whatever the mounts say.  Read-only system directories, read-write scratch,
 * execution only from the system directories (so code written to /tmp cannot
 * be run), and signals and abstract unix sockets scoped to the sandbox
 * (ABI 6+).  TCP is left to the network namespace: with network_access none
 * or restricted it holds only loopback (and the proxy's socket), where
 * programs that talk to themselves must be able to bind and connect, and
 * Landlock's port rules cannot tell their own loopback from anything else.
 * The ruleset handles every filesystem right the running kernel's ABI
 * knows, so no file access is silently allowed; it handles no network
 * right, as said.
 *
 * Debian 12's headers stop at ABI 3, so the newer constants and the larger
 * ruleset attribute are spelled out here; the kernel takes the struct size
 * and refuses bits it does not know.
 */
#include "jail.h"

#include "base/cleanup.h"
#include "core/policy.h"
#include "execmap.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL               (1ULL << 1)

struct ll_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE                                                                                   \
        (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                           \
         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |                            \
         LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                              \
         LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |   \
         LANDLOCK_ACCESS_FS_TRUNCATE)

int landlock_abi(void)
{
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        return abi < 0 ? 0 : (int)abi;
}

static uint64_t fs_rights(int abi)
{
        uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */
        if (abi >= 2)
                all |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                all |= LANDLOCK_ACCESS_FS_TRUNCATE;
        if (abi >= 5)
                all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        return all;
}

/* Counts past the end so the builder can refuse instead of dropping a rule. */
static void rule(struct landlock_plan *plan, const char *path, uint64_t access)
{
        if (plan->n_rules < JAIL_MAX_RULES) {
                struct landlock_rule *r = &plan->rules[plan->n_rules];
                snprintf(r->path, sizeof r->path, "%s", path);
                r->access = access & plan->handled_fs;
        }
        plan->n_rules++;
}

int landlock_plan_build(struct landlock_plan *plan, const struct abox_policy *p,
                        const struct exec_map *only_exec)
{
        *plan = (struct landlock_plan){ .abi = landlock_abi() };
        if (plan->abi <= 0)
                return 0;
        plan->handled_fs = fs_rights(plan->abi);
        if (plan->abi >= 6)
                plan->scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;

        const uint64_t scratch = FS_READ | FS_WRITE;
        /* Listing directories anywhere is harmless (the root holds only what
         * was put there); reading files needs a rule below. */
        rule(plan, "/", LANDLOCK_ACCESS_FS_READ_DIR);
        /* With a command allowlist, execute rights go to the allowed files
         * only (and their interpreters); the system dirs are read-only. */
        const uint64_t sys = FS_READ | (only_exec ? 0 : LANDLOCK_ACCESS_FS_EXECUTE);
        rule(plan, "/usr", sys);
        rule(plan, "/etc", FS_READ);
        rule(plan, "/proc", FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE);
        rule(plan, "/dev", FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_IOCTL_DEV);
        rule(plan, "/tmp", scratch);
        rule(plan, "/workspace", scratch);
        rule(plan, "/dev/shm", scratch);
        /* /bin, /lib64 ... are links into /usr on merged systems; on others they
         * are read-only binds that need the same rights. */
        static const char *const sysdirs[] = { "/bin",   "/sbin",  "/lib",
                                               "/lib32", "/lib64", "/libx32" };
        for (size_t i = 0; i < ELEMENTSOF(sysdirs); i++)
                rule(plan, sysdirs[i], sys);
        for (unsigned i = 0; only_exec && i < only_exec->n; i++)
                rule(plan, only_exec->files[i],
                     LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE);
        for (size_t i = 0; i < p->n_mounts; i++)
                rule(plan, p->mounts[i].dst, p->mounts[i].rw ? scratch : FS_READ);
        if (plan->n_rules > JAIL_MAX_RULES)
                return -E2BIG;
        return 0;
}

int landlock_apply(const struct landlock_plan *plan)
{
        struct ll_ruleset_attr attr = {
                .handled_access_fs = plan->handled_fs,
                .handled_access_net = plan->handled_net,
                .scoped = plan->scoped,
        };
        size_t size = plan->abi >= 6   ? sizeof attr
                      : plan->abi >= 4 ? offsetof(struct ll_ruleset_attr, scoped)
                                       : offsetof(struct ll_ruleset_attr, handled_access_net);
        int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
        if (ruleset < 0)
                return -errno;
        int r = 0;
        for (unsigned i = 0; r == 0 && i < plan->n_rules; i++) {
                int fd = open(plan->rules[i].path, O_PATH | O_CLOEXEC);
                if (fd < 0)
                        continue; /* a system dir this host does not have */
                struct landlock_path_beneath_attr pb = { .allowed_access = plan->rules[i].access,
                                                         .parent_fd = fd };
                /* Rights that make no sense on a file (READ_DIR on /dev/null)
                 * are refused by the kernel; keep only the file ones then. */
                struct stat st;
                if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
                        pb.allowed_access &=
                                LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                LANDLOCK_ACCESS_FS_IOCTL_DEV;
                if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
                        r = -errno;
                close(fd);
        }
        if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
                r = -errno;
        close(ruleset);
        return r;
}
