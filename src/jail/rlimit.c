/* Per-process resource limits: the ones cgroups do not cover.  File size
 * (SIGXFSZ / EFBIG), open files, CPU seconds per process as a backstop to the
 * supervisor's whole-sandbox CPU accounting, and no core dumps (a core file
 * would land in the workspace and could hold secrets). */
#include "jail.h"

#include "core/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

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

/* Whether a write ran into RLIMIT_FSIZE: a file written during this run
 * that reached the limit.  A shell or a program that ignores SIGXFSZ and
 * carries on leaves no other trace, but the file does.  (A file written to
 * exactly the limit, no byte more, is reported too: the kernel does not
 * tell the two apart.)  Runs in the supervisor after the sandbox is gone,
 * over a tree the sandbox wrote: no link is followed, depth and entries are
 * bounded, so a hostile tree costs little; only files modified since
 * `since` count, so large files already on a :rw mount do not. */
static bool scan(int dirfd, dev_t dev, uint64_t cap, time_t since, int depth, unsigned *budget)
{
        char buf[4096];
        bool hit = false;
        for (long n; !hit && (n = syscall(SYS_getdents64, dirfd, buf, sizeof buf)) > 0;)
                for (long off = 0; !hit && off < n;) {
                        struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
                        off += de->d_reclen;
                        if (de->d_name[0] == '.' &&
                            (de->d_name[1] == '\0' ||
                             (de->d_name[1] == '.' && de->d_name[2] == '\0')))
                                continue;
                        if (*budget == 0)
                                return false;
                        (*budget)--;
                        struct stat st;
                        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= cap &&
                            st.st_mtime >= since)
                                hit = true;
                        /* Not into another filesystem: a mount below a :rw
                         * source is not the sandbox's to fill. */
                        else if (S_ISDIR(st.st_mode) && st.st_dev == dev && depth < 16) {
                                int fd = openat(dirfd, de->d_name,
                                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                                if (fd >= 0) {
                                        hit = scan(fd, dev, cap, since, depth + 1, budget);
                                        close(fd);
                                }
                        }
                }
        return hit;
}

bool rlimit_file_size_hit(uint64_t cap, time_t since, const int *dirfds, unsigned n)
{
        unsigned budget = 20000;
        for (unsigned i = 0; i < n; i++) {
                struct stat st;
                if (dirfds[i] >= 0 && fstat(dirfds[i], &st) == 0 &&
                    scan(dirfds[i], st.st_dev, cap, since, 0, &budget))
                        return true;
        }
        return false;
}
