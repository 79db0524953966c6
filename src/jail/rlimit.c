/* Per-process resource limits: the ones cgroups do not cover.  File size
 * (SIGXFSZ / EFBIG), open files, CPU seconds per process as a backstop to the
 * supervisor's whole-sandbox CPU accounting, and no core dumps (a core file
 * would land in the workspace and could hold secrets). */
#include "jail.h"

#include "core/policy.h"

#include <errno.h>
#include <sys/resource.h>

void rlimit_plan_build(struct rlimit_plan *plan, const struct abox_policy *p)
{
        *plan = (struct rlimit_plan){
                .fsize_bytes = p->file_size_max_bytes,
                .nofile = p->open_files_max,
                /* round up: the supervisor enforces the exact figure */
                .cpu_seconds = p->cpu_time_ms ? p->cpu_time_ms / 1000 + 1 : 0,
        };
}

static int set(int resource, rlim_t soft, rlim_t hard)
{
        struct rlimit rl = { soft, hard };
        return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

int rlimit_apply(const struct rlimit_plan *plan)
{
        int r = set(RLIMIT_FSIZE, plan->fsize_bytes, plan->fsize_bytes);
        r = r ?: set(RLIMIT_NOFILE, plan->nofile, plan->nofile);
        r = r ?: set(RLIMIT_CORE, 0, 0);
        if (r == 0 && plan->cpu_seconds)
                r = set(RLIMIT_CPU, plan->cpu_seconds, plan->cpu_seconds + 1);
        return r;
}
