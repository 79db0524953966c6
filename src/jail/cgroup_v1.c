/* cgroup v1: one hierarchy per controller.  Swap is capped with the memory
 * limit where swap accounting exists (memsw), and turned off for the group
 * (memory.swappiness) where it does not; the OOM kill count comes from
 * memory.oom_control (4.13+), CPU time from cpuacct. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(struct cgroup *cg, const struct cgroup_limits *lim)
{
        char buf[32];
        for (int c = 0; c < CG__MAX; c++)
                if (cg->dir[c] && mkdir(cg->dir[c], 0755) < 0 && errno != EEXIST)
                        return -errno;
        int r = 0;
        if (cg->dir[CG_MEMORY]) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)lim->memory_max_bytes);
                r = cgroup_write(cg->dir[CG_MEMORY], "memory.limit_in_bytes", buf);
                if (r == 0) {
                        int s = cgroup_write(cg->dir[CG_MEMORY], "memory.memsw.limit_in_bytes",
                                             buf);
                        /* No swap accounting (swapaccount=0): swap cannot be
                         * counted, so the group is told not to swap at all. */
                        if (s == -ENOENT)
                                s = cgroup_write(cg->dir[CG_MEMORY], "memory.swappiness", "0");
                        if (s < 0 && s != -ENOENT)
                                r = s;
                }
        }
        if (r == 0 && cg->dir[CG_PIDS]) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)lim->pids_max);
                r = cgroup_write(cg->dir[CG_PIDS], "pids.max", buf);
        }
        if (r == 0 && cg->dir[CG_CPU] && lim->cpu_milli) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)lim->cpu_milli * 100);
                r = cgroup_write(cg->dir[CG_CPU], "cpu.cfs_period_us", "100000");
                r = r ?: cgroup_write(cg->dir[CG_CPU], "cpu.cfs_quota_us", buf);
        }
        if (r < 0)
                return r;
        if (cg->dir[CG_MEMORY]) {
                cgroup_open_counter(cg, CGC_MEMORY_PEAK, cg->dir[CG_MEMORY],
                                    "memory.max_usage_in_bytes");
                cgroup_open_counter(cg, CGC_OOM_KILLS, cg->dir[CG_MEMORY], "memory.oom_control");
        }
        if (cg->dir[CG_PIDS])
                cgroup_open_counter(cg, CGC_PIDS_MAX_HITS, cg->dir[CG_PIDS], "pids.events");
        if (cg->dir[CG_CPUACCT])
                cgroup_open_counter(cg, CGC_CPU, cg->dir[CG_CPUACCT], "cpuacct.usage");
        return 0;
}

static int cpu_usage_us(struct cgroup *cg, uint64_t *ret)
{
        uint64_t ns;
        int r = cgroup_counter_read(cg, CGC_CPU, NULL, &ns);
        if (r == 0)
                *ret = ns / 1000;
        return r;
}

static int stats(struct cgroup *cg, struct cgroup_stats *ret)
{
        cgroup_counter_read(cg, CGC_MEMORY_PEAK, NULL, &ret->memory_peak_bytes);
        cgroup_counter_read(cg, CGC_OOM_KILLS, "oom_kill", &ret->oom_kills);
        cgroup_counter_read(cg, CGC_PIDS_MAX_HITS, "max", &ret->pids_max_hits);
        cpu_usage_us(cg, &ret->cpu_usage_us);
        return 0;
}

/* v1 has no cgroup.kill; the pid namespace's death normally ends everyone
 * first, so this only mops up after a failed start. */
static int kill_all(struct cgroup *cg)
{
        for (int c = 0; c < CG__MAX; c++) {
                if (!cg->dir[c])
                        continue;
                char path[600];
                snprintf(path, sizeof path, "%s/cgroup.procs", cg->dir[c]);
                FILE *f = fopen(path, "re");
                if (!f)
                        continue;
                int pid;
                while (fscanf(f, "%d", &pid) == 1)
                        kill(pid, SIGKILL);
                fclose(f);
        }
        return 0;
}

static int reset_peak(struct cgroup *cg)
{
        return cgroup_write(cg->dir[CG_MEMORY], "memory.max_usage_in_bytes", "0");
}

/* v1 has no memory.oom.group: an OOM kill takes one process and the rest
 * of the sandbox goes on.  So the kernel is told to pause the tasks that
 * hit the limit instead (oom_kill_disable) and to count the OOM on an
 * eventfd, on which the supervisor ends the whole sandbox, as v2 does by
 * itself.  The eventfd is registered before the killer is turned off: a
 * group no one is told about keeps the kernel's kill. */
static int oom_watch(struct cgroup *cg)
{
        char path[600], reg[64];
        snprintf(path, sizeof path, "%s/memory.oom_control", cg->dir[CG_MEMORY]);
        int ctl = open(path, O_RDONLY | O_CLOEXEC);
        if (ctl < 0)
                return -errno;
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = efd < 0 ? -errno : 0;
        snprintf(reg, sizeof reg, "%d %d", efd, ctl);
        r = r ?: cgroup_write(cg->dir[CG_MEMORY], "cgroup.event_control", reg);
        close(ctl);
        r = r ?: cgroup_write(cg->dir[CG_MEMORY], "memory.oom_control", "1");
        if (r < 0) {
                if (efd >= 0)
                        close(efd);
                return r;
        }
        return efd;
}

const struct cgroup_backend cgroup_v1_backend = { setup,    stats,      cpu_usage_us,
                                                  kill_all, reset_peak, oom_watch };
