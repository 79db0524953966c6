/* cgroups, v1 and v2 behind one interface.
 *
 * Discovery reads /proc/self/mountinfo and /proc/self/cgroup: on a v2 host
 * (/sys/fs/cgroup is cgroup2) every controller lives in one tree; on a v1 or
 * hybrid host each controller has its own hierarchy, possibly shared
 * ("cpu,cpuacct").  Sandboxes get "<own cgroup>/agentbox/abox-<pid>-<rand>"
 * in each hierarchy they use, below the supervisor's own cgroup so the host's
 * limits on the supervisor still hold.  A supervisor killed by SIGKILL cannot
 * remove its cgroup; the next one sweeps empty groups whose owner pid is gone.
 */
#include "cgroup.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

static const char *const names[CG__MAX] = { "memory", "pids", "cpu", "cpuacct" };

const char *cgroup_controller_name(enum cgroup_controller c)
{
        return names[c];
}

int cgroup_write(const char *dir, const char *file, const char *value)
{
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        return write_small_file(path, value);
}

int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret)
{
        char path[512], buf[64];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int r = read_small_file(path, buf, sizeof buf);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno || end == buf)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "key value" lines (memory.events, cpu.stat, memory.oom_control). */
int cgroup_read_key(const char *dir, const char *file, const char *key, uint64_t *ret)
{
        char path[512], buf[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int r = read_small_file(path, buf, sizeof buf);
        if (r < 0)
                return r;
        size_t klen = strlen(key);
        for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
                        *ret = strtoull(line + klen + 1, NULL, 10);
                        return 0;
                }
        return -ENOENT;
}

/* The supervisor's own path in the hierarchy that carries `controller`
 * (NULL: the v2 tree), from /proc/self/cgroup. */
static int own_path(const char *controller, char *buf, size_t len)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -errno;
        char line[1024];
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                char *ctl = strchr(line, ':');
                char *path = ctl ? strchr(ctl + 1, ':') : NULL;
                if (!path)
                        continue;
                *path++ = '\0';
                ctl++;
                bool match = false;
                if (!controller)
                        match = *ctl == '\0';
                else
                        for (char *tok = strtok(ctl, ","); tok; tok = strtok(NULL, ","))
                                match |= strcmp(tok, controller) == 0;
                if (match) {
                        snprintf(buf, len, "%s", path);
                        return 0;
                }
        }
        return -ENOENT;
}

/* Where the v1 hierarchy of `controller` is mounted, and the cgroup path
 * that mount's root stands for (not "/" inside some containers). */
static int v1_mount(const char *controller, char *mnt, size_t mlen, char *root, size_t rlen)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        char line[2048];
        while (fgets(line, sizeof line, f)) {
                char r[512], m[512], fstype[64], opts[512];
                char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", r, m) != 2 ||
                    sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2)
                        continue;
                if (strcmp(fstype, "cgroup") != 0)
                        continue;
                for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ","))
                        if (strcmp(tok, controller) == 0) {
                                snprintf(mnt, mlen, "%s", m);
                                snprintf(root, rlen, "%s", r);
                                return 0;
                        }
        }
        return -ENOENT;
}

/* Writable here: the parent directory (own cgroup/agentbox) exists or can be made. */
static int prepare_parent(const char *dir)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return access(dir, W_OK) < 0 ? -errno : 0;
}

static int v1_parent(enum cgroup_controller c, char *buf, size_t len)
{
        char mnt[512], root[512], own[1024];
        int r = v1_mount(names[c], mnt, sizeof mnt, root, sizeof root);
        r = r ?: own_path(names[c], own, sizeof own);
        if (r < 0)
                return r;
        const char *rel = own;
        if (strcmp(root, "/") != 0 && strncmp(own, root, strlen(root)) == 0)
                rel = own + strlen(root);
        int n = snprintf(buf, len, "%s%s%sagentbox", mnt, rel,
                         rel[strlen(rel) - 1] == '/' ? "" : "/");
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool is_v2_host(void)
{
        struct statfs sf;
        return statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

static int v2_parent(char *buf, size_t len)
{
        char own[512];
        int r = own_path(NULL, own, sizeof own);
        if (r < 0)
                return r;
        int n = snprintf(buf, len, "/sys/fs/cgroup%s%sagentbox", own,
                         own[strlen(own) - 1] == '/' ? "" : "/");
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void cgroup_probe(struct cgroup_probe *ret)
{
        *ret = (struct cgroup_probe){ 0 };
        char dir[512];
        if (is_v2_host()) {
                char ctl[256] = "";
                if (v2_parent(dir, sizeof dir) < 0 || prepare_parent(dir) < 0) {
                        snprintf(ret->detail, sizeof ret->detail,
                                 "cgroup2 is mounted but not writable by this user");
                        return;
                }
                *strrchr(dir, '/') = '\0';
                read_small_file(strcat(dir, "/cgroup.controllers"), ctl, sizeof ctl);
                ret->version = 2;
                ret->have[CG_MEMORY] = strstr(ctl, "memory") != NULL;
                ret->have[CG_PIDS] = strstr(ctl, "pids") != NULL;
                ret->have[CG_CPU] = ret->have[CG_CPUACCT] = strstr(ctl, "cpu") != NULL;
                snprintf(ret->detail, sizeof ret->detail, "cgroup2: %s", ctl);
                return;
        }
        for (int c = 0; c < CG__MAX; c++)
                ret->have[c] = v1_parent(c, dir, sizeof dir) == 0 && prepare_parent(dir) == 0;
        if (ret->have[CG_MEMORY] || ret->have[CG_PIDS] || ret->have[CG_CPU])
                ret->version = 1;
        snprintf(ret->detail, sizeof ret->detail, "cgroup v1 hierarchies");
}

/* Removes empty sandbox groups whose supervisor is gone (SIGKILLed). */
static void sweep(const char *parent)
{
        DIR *d = opendir(parent);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                int pid;
                if (sscanf(de->d_name, "abox-%d-", &pid) != 1 || pid <= 0)
                        continue;
                if (kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                char path[1024];
                snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
                rmdir(path);
        }
        closedir(d);
}

int cgroup_create(const struct cgroup_limits *lim, const bool want[CG__MAX], struct cgroup **ret,
                  struct abox_error *err)
{
        _cleanup_(cgroup_destroy_p) struct cgroup *cg = calloc(1, sizeof *cg);
        if (!cg)
                return abox_error_set(err, -ENOMEM, "out of memory");
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                rnd = (uint64_t)time(NULL) ^ (uint64_t)clock();
        char name[64], parent[512];
        snprintf(name, sizeof name, "abox-%d-%016llx", getpid(), (unsigned long long)rnd);
        cg->version = is_v2_host() ? 2 : 1;
        cg->ops = cg->version == 2 ? &cgroup_v2_backend : &cgroup_v1_backend;
        for (int c = 0; c < CG__MAX; c++) {
                if (!want[c])
                        continue;
                int r = cg->version == 2 ? v2_parent(parent, sizeof parent)
                                         : v1_parent(c, parent, sizeof parent);
                r = r ?: prepare_parent(parent);
                if (r < 0)
                        return abox_error_set(err, r, "cgroup %s: no writable hierarchy (%s)",
                                              names[c], strerror(-r));
                sweep(parent);
                if (!(cg->parent[c] = strdup(parent)) ||
                    asprintf(&cg->dir[c], "%s/%s", parent, name) < 0) {
                        cg->dir[c] = NULL;
                        return abox_error_set(err, -ENOMEM, "out of memory");
                }
        }
        int r = cg->ops->setup(cg, lim);
        if (r < 0)
                return abox_error_set(err, r, "cannot set up the sandbox's cgroup: %s",
                                      strerror(-r));
        *ret = TAKE_PTR(cg);
        return 0;
}

/* v1 hierarchies may share a directory ("cpu,cpuacct"): act on each once. */
static bool first_use(const struct cgroup *cg, int c)
{
        if (!cg->dir[c])
                return false;
        for (int i = 0; i < c; i++)
                if (cg->dir[i] && strcmp(cg->dir[i], cg->dir[c]) == 0)
                        return false;
        return true;
}

int cgroup_attach(struct cgroup *cg, pid_t pid)
{
        char buf[32];
        snprintf(buf, sizeof buf, "%d", pid);
        for (int c = 0; c < CG__MAX; c++)
                if (first_use(cg, c)) {
                        int r = cgroup_write(cg->dir[c], "cgroup.procs", buf);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *ret)
{
        *ret = (struct cgroup_stats){ 0 };
        return cg->ops->stats(cg, ret);
}

int cgroup_cpu_usage_us(struct cgroup *cg, uint64_t *ret)
{
        return cg->ops->cpu_usage_us(cg, ret);
}

void cgroup_destroy(struct cgroup *cg)
{
        if (!cg)
                return;
        if (cg->ops)
                cg->ops->kill_all(cg);
        for (int c = CG__MAX - 1; c >= 0; c--) {
                if (first_use(cg, c))
                        /* The last exiting task may still be leaving the group. */
                        for (int tries = 0; rmdir(cg->dir[c]) < 0 && errno == EBUSY && tries < 200;
                             tries++) {
                                struct timespec ts = { 0, 1000000 };
                                nanosleep(&ts, NULL);
                        }
        }
        for (int c = 0; c < CG__MAX; c++) {
                free(cg->dir[c]);
                free(cg->parent[c]);
        }
        free(cg);
}
