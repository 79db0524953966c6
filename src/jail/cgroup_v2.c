/* cgroup v2: one tree.  The controllers must be enabled in the parent's
 * subtree_control, which the kernel refuses while the parent has processes
 * of its own ("no internal processes"): the sandboxes' parent is a dedicated
 * "agentbox" group with no processes, and the probe (cgroup_v2_place() in
 * cgroup.c) finds a group above it that can pass the controllers on, or
 * reports them missing so that runs fail closed.  memory.oom.group makes an
 * OOM end the whole sandbox, and cgroup.kill (5.14+) kills it in one write. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Enables what the sandbox uses in the agentbox parent; the group above
 * passes it on (the probe saw to that). */
static int enable_controllers(const struct cgroup *cg, const char *parent)
{
        static const struct {
                enum cgroup_controller c;
                const char *token;
        } map[] = { { CG_MEMORY, "+memory" }, { CG_PIDS, "+pids" }, { CG_CPU, "+cpu" } };
        char want[64] = "";
        for (size_t i = 0; i < sizeof map / sizeof *map; i++)
                if (cg->dir[map[i].c])
                        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
                                 want[0] ? " " : "", map[i].token);
        return want[0] ? cgroup_write(parent, "cgroup.subtree_control", want) : 0;
}

static int setup(struct cgroup *cg, const struct cgroup_limits *lim)
{
        const char *dir = NULL, *parent = NULL;
        for (int c = 0; c < CG__MAX; c++)
                if (cg->dir[c])
                        dir = cg->dir[c], parent = cg->parent[c];
        if (!dir)
                return 0;
        int r = enable_controllers(cg, parent);
        if (r < 0)
                return r;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        char buf[48];
        if (cg->dir[CG_MEMORY]) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)lim->memory_max_bytes);
                r = cgroup_write(dir, "memory.max", buf);
                int s = cgroup_write(dir, "memory.swap.max", "0");
                if (r == 0 && s < 0 && s != -ENOENT)
                        r = s;
                r = r ?: cgroup_write(dir, "memory.oom.group", "1");
        }
        if (r == 0 && cg->dir[CG_PIDS]) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)lim->pids_max);
                r = cgroup_write(dir, "pids.max", buf);
        }
        if (r == 0 && cg->dir[CG_CPU] && lim->cpu_milli) {
                snprintf(buf, sizeof buf, "%llu 100000", (unsigned long long)lim->cpu_milli * 100);
                r = cgroup_write(dir, "cpu.max", buf);
        }
        if (r < 0)
                return r;
        if (cg->dir[CG_MEMORY]) {
                cgroup_open_counter(cg, CGC_MEMORY_PEAK, dir, "memory.peak");
                cgroup_open_counter(cg, CGC_OOM_KILLS, dir, "memory.events");
        }
        if (cg->dir[CG_PIDS])
                cgroup_open_counter(cg, CGC_PIDS_MAX_HITS, dir, "pids.events");
        cgroup_open_counter(cg, CGC_CPU, dir, "cpu.stat");
        return 0;
}

static const char *any_dir(const struct cgroup *cg)
{
        for (int c = 0; c < CG__MAX; c++)
                if (cg->dir[c])
                        return cg->dir[c];
        return NULL;
}

static int cpu_usage_us(struct cgroup *cg, uint64_t *ret)
{
        return cgroup_counter_read(cg, CGC_CPU, "usage_usec", ret);
}

static int stats(struct cgroup *cg, struct cgroup_stats *ret)
{
        /* After a reset, only the fd that made it reads the new peak. */
        cgroup_fd_read(cg->peak_fd >= 0 ? cg->peak_fd : cg->counter[CGC_MEMORY_PEAK], NULL,
                       &ret->memory_peak_bytes);
        cgroup_counter_read(cg, CGC_OOM_KILLS, "oom_kill", &ret->oom_kills);
        cgroup_counter_read(cg, CGC_PIDS_MAX_HITS, "max", &ret->pids_max_hits);
        cpu_usage_us(cg, &ret->cpu_usage_us);
        return 0;
}

static int kill_all(struct cgroup *cg)
{
        const char *dir = any_dir(cg);
        return dir ? cgroup_write(dir, "cgroup.kill", "1") : 0;
}

/* memory.peak is reset per open file (6.12+): the reset holds for reads
 * through the fd that wrote it, so that fd is kept for the group's life.
 * An older kernel refuses the write (the file is read-only there), and is
 * not asked again for this group: PEAK_UNSUPPORTED. */
#define PEAK_UNSUPPORTED (-2)
static int reset_peak(struct cgroup *cg)
{
        if (cg->peak_fd == PEAK_UNSUPPORTED)
                return -EOPNOTSUPP;
        if (cg->peak_fd < 0) {
                char path[512];
                snprintf(path, sizeof path, "%s/memory.peak", cg->dir[CG_MEMORY]);
                if ((cg->peak_fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
                        int r = -errno;
                        cg->peak_fd = PEAK_UNSUPPORTED;
                        return r;
                }
        }
        if (pwrite(cg->peak_fd, "reset\n", 6, 0) == 6)
                return 0;
        int r = -errno;
        close(cg->peak_fd);
        cg->peak_fd = PEAK_UNSUPPORTED;
        return r;
}

const struct cgroup_backend cgroup_v2_backend = { setup,    stats,      cpu_usage_us,
                                                  kill_all, reset_peak, NULL };
