#include "protections.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void add(struct protection_set *s, const char *name, bool available, bool required,
                const char *detail)
{
        if (s->n >= PROTECTIONS_MAX)
                return;
        struct abox_protection *p = &s->items[s->n++];
        snprintf(p->name, sizeof p->name, "%s", name);
        snprintf(p->detail, sizeof p->detail, "%s", detail);
        p->available = available;
        p->required = required;
}

static bool degraded(const struct abox_policy *p, const char *name, const char *family)
{
        return strlist_contains(&p->allow_degraded, name) ||
               (family && strlist_contains(&p->allow_degraded, family));
}

void protections_evaluate(const struct abox_policy *p, const struct jail_probe *probe, bool every,
                          struct protection_set *s)
{
        static const char *const namespaces[] = { "userns", "pidns", "mntns",
                                                  "ipcns",  "utsns", "cgroupns" };
        char name[32], detail[160];
        *s = (struct protection_set){ 0 };
        for (size_t i = 0; i < sizeof namespaces / sizeof *namespaces; i++)
                add(s, namespaces[i], probe->userns, true,
                    probe->userns ? "fresh namespace per run" : "user namespaces unavailable");
        if (p->network == NETWORK_FULL)
                add(s, "netns", probe->userns, false, "network_access: full shares the host's");
        else
                add(s, "netns", probe->userns, true, "loopback only");
        add(s, "seccomp", probe->seccomp, true, "deny list, EPERM");
        add(s, "no_new_privs", true, true, "no setuid or file-capability gain");
        add(s, "caps", true, true, "every capability dropped, bounding set too");
        snprintf(name, sizeof name, "landlock:%d", probe->landlock_abi);
        snprintf(detail, sizeof detail, "%s",
                 probe->landlock_abi >= 6 ? "files, execution, signal and abstract-socket scopes"
                 : probe->landlock_abi    ? "files and execution"
                                          : "not supported by this kernel");
        add(s, probe->landlock_abi ? name : "landlock", probe->landlock_abi > 0,
            !degraded(p, "landlock", NULL), detail);
        /* The command allowlist is only as strong as its kernel half. */
        if (policy_is_set(p, "allowed_commands"))
                add(s, "exec_allowlist", probe->landlock_abi > 0, !degraded(p, "landlock", NULL),
                    probe->landlock_abi > 0 ? "only the allowed programs can be executed"
                                            : "needs Landlock: any program could be executed");

        const struct cgroup_probe *cg = &probe->cgroup;
        static const struct {
                enum cgroup_controller c;
                const char *degrade;
        } controllers[] = { { CG_MEMORY, "cgroup:memory" },
                            { CG_PIDS, "cgroup:pids" },
                            { CG_CPU, "cgroup:cpu" } };
        for (size_t i = 0; i < sizeof controllers / sizeof *controllers; i++) {
                enum cgroup_controller c = controllers[i].c;
                bool needed = c != CG_CPU || p->cpu_milli || p->cpu_time_ms;
                if (!needed && !every)
                        continue;
                if (cg->version)
                        snprintf(name, sizeof name, "cgroup%d:%s", cg->version,
                                 cgroup_controller_name(c));
                else
                        snprintf(name, sizeof name, "cgroup:%s", cgroup_controller_name(c));
                /* A CPU-time limit is watched through the usage counter: on v1
                 * that is the cpuacct hierarchy, which may be missing even when
                 * cpu is there — then the limit would hold per process only. */
                bool available = cg->version && cg->have[c] &&
                                 !(c == CG_CPU && p->cpu_time_ms && cg->version == 1 &&
                                   !cg->have[CG_CPUACCT]);
                if (!needed) {
                        add(s, name, available, false,
                            available ? "not used: the policy sets no cpu_limit or cpu_time_limit"
                                      : "controller not available or not writable");
                        continue;
                }
                add(s, name, available, !degraded(p, controllers[i].degrade, "cgroup"),
                    available || cg->version == 2 ? cg->detail
                                                  : "controller not available or not writable");
                s->want_cg[c] = available;
        }
        /* CPU time is measured whenever the host can; v2 has it in every group. */
        s->want_cg[CG_CPUACCT] = cg->version && cg->have[CG_CPUACCT];
        add(s, "rlimits", true, true, "file size, open files, core dumps");
        /* CVE-2019-5736: no agentbox code in the sandbox but from a sealed
         * memfd.  Without one, pid 1 is a (non-dumpable) copy of agentbox:
         * only when the operator says so. */
        add(s, "sealed_init", probe->sealed_init, !degraded(p, "sealed_init", NULL),
            probe->sealed_init ? "pid 1 runs from a sealed memfd, not the agentbox binary"
                               : "no executable memfds here: pid 1 is a non-dumpable copy "
                                 "of agentbox");
        add(s, "memfd_noexec", probe->memfd_noexec, false,
            probe->memfd_noexec ? "no executable memfds (Landlock covers files only)"
                                : "needs root and Linux 6.3+: memfds stay executable");
}

int protections_require(const struct protection_set *s, struct abox_error *err)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].required && !s->items[i].available)
                        return abox_error_set(err, -EPERM,
                                              "required protection '%s' is not available on this "
                                              "host (%s); list it under allow_degraded to run "
                                              "without it",
                                              s->items[i].name, s->items[i].detail);
        return 0;
}

bool protection_in_force(const struct protection_set *s, const char *prefix)
{
        for (size_t i = 0; i < s->n; i++)
                if (strncmp(s->items[i].name, prefix, strlen(prefix)) == 0)
                        return s->items[i].available;
        return false;
}

bool protection_required(const struct protection_set *s, const char *name)
{
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->items[i].name, name) == 0)
                        return s->items[i].required;
        return false;
}
