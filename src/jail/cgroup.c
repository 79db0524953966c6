/* cgroups, v1 and v2 behind one interface.
 *
 * Discovery reads /proc/self/mountinfo and /proc/self/cgroup: on a v2 host
 * (/sys/fs/cgroup is cgroup2) every controller lives in one tree; on a v1 or
 * hybrid host each controller has its own hierarchy, possibly shared
 * ("cpu,cpuacct").  Sandboxes get "<own cgroup>/agentbox/abox-<pid>-<rand>"
 * in each hierarchy they use, below the supervisor's own cgroup so the host's
 * limits on the supervisor still hold (on v2, cgroup_v2_place() says when
 * the kernel's rules make that impossible).  A supervisor killed by SIGKILL cannot
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

int cgroup_parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret)
{
        char path[512], buf[64];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int r = read_small_file(path, buf, sizeof buf);
        return r < 0 ? r : cgroup_parse_u64(buf, ret);
}

/* "key value" lines (memory.events, cpu.stat, memory.oom_control). */
static int parse_key(const char *buf, const char *key, uint64_t *ret)
{
        size_t klen = strlen(key);
        for (const char *line = buf; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
                        *ret = strtoull(line + klen + 1, NULL, 10);
                        return 0;
                }
        return -ENOENT;
}

int cgroup_read_key(const char *dir, const char *file, const char *key, uint64_t *ret)
{
        char path[512], buf[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int r = read_small_file(path, buf, sizeof buf);
        return r < 0 ? r : parse_key(buf, key, ret);
}

void cgroup_open_counter(struct cgroup *cg, enum cgroup_counter c, const char *dir,
                         const char *file)
{
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        cg->counter[c] = open(path, O_RDONLY | O_CLOEXEC);
}

/* cgroupfs makes the text afresh for a read at offset 0. */
int cgroup_fd_read(int fd, const char *key, uint64_t *ret)
{
        char buf[4096];
        if (fd < 0)
                return -ENOENT;
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return key ? parse_key(buf, key, ret) : cgroup_parse_u64(buf, ret);
}

int cgroup_counter_read(const struct cgroup *cg, enum cgroup_counter c, const char *key,
                        uint64_t *ret)
{
        return cgroup_fd_read(cg->counter[c], key, ret);
}

/* Discovery is pure text parsing (cgroup_parse_*), over one read each of
 * /proc/self/cgroup and /proc/self/mountinfo, so that it costs two reads a
 * run and unit tests can feed it any host's files. */

/* The path of the hierarchy that carries `controller` (NULL: the v2 tree) in
 * /proc/self/cgroup text. */
int cgroup_parse_own_path(const char *text, const char *controller, char *buf, size_t len)
{
        size_t clen = controller ? strlen(controller) : 0;
        for (const char *line = text; line && *line;) {
                const char *eol = strchrnul(line, '\n');
                const char *c1 = memchr(line, ':', (size_t)(eol - line));
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
                if (c2) {
                        bool match = false;
                        if (!controller)
                                match = c2 == c1 + 1;
                        for (const char *tok = c1 + 1; controller && tok < c2;) {
                                const char *end = memchr(tok, ',', (size_t)(c2 - tok));
                                if (!end)
                                        end = c2;
                                match |= (size_t)(end - tok) == clen &&
                                         memcmp(tok, controller, clen) == 0;
                                tok = end + 1;
                        }
                        if (match) {
                                int n = snprintf(buf, len, "%.*s", (int)(eol - c2 - 1), c2 + 1);
                                return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
                        }
                }
                line = *eol ? eol + 1 : NULL;
        }
        return -ENOENT;
}

/* Where the v1 hierarchy of `controller` is mounted, and the cgroup path
 * that mount's root stands for (not "/" inside some containers). */
int cgroup_parse_v1_mount(const char *mountinfo, const char *controller, char *mnt, size_t mlen,
                          char *root, size_t rlen)
{
        size_t clen = strlen(controller);
        for (const char *line = mountinfo; line && *line;) {
                const char *eol = strchrnul(line, '\n');
                char l[2048], r[512], m[512], fstype[64], opts[512];
                snprintf(l, sizeof l, "%.*s", (int)(eol - line), line);
                line = *eol ? eol + 1 : NULL;
                char *sep = strstr(l, " - ");
                if (!sep || sscanf(l, "%*s %*s %*s %511s %511s", r, m) != 2 ||
                    sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2 ||
                    strcmp(fstype, "cgroup") != 0)
                        continue;
                for (char *tok = opts; tok;) {
                        char *comma = strchr(tok, ',');
                        size_t n = comma ? (size_t)(comma - tok) : strlen(tok);
                        if (n == clen && memcmp(tok, controller, clen) == 0) {
                                int a = snprintf(mnt, mlen, "%s", m),
                                    b = snprintf(root, rlen, "%s", r);
                                return a < 0 || (size_t)a >= mlen || b < 0 || (size_t)b >= rlen
                                               ? -ENAMETOOLONG
                                               : 0;
                        }
                        tok = comma ? comma + 1 : NULL;
                }
        }
        return -ENOENT;
}

/* "<mount><own path relative to the mount's root>/agentbox" */
int cgroup_parent_path(const char *mnt, const char *root, const char *own, char *buf, size_t len)
{
        const char *rel = own;
        size_t rlen = strlen(root);
        if (strcmp(root, "/") != 0 && strncmp(own, root, rlen) == 0)
                rel = own + rlen;
        size_t n = strlen(rel);
        int k = snprintf(buf, len, "%s%s%sagentbox", mnt, rel, n && rel[n - 1] == '/' ? "" : "/");
        return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

/* Writable here: the parent directory (own cgroup/agentbox) exists or can be made. */
static int prepare_parent(const char *dir)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return access(dir, W_OK) < 0 ? -errno : 0;
}

/* Whether a space-separated list (cgroup.subtree_control) holds word:
 * "cpu" must not be found in "cpuset". */
bool cgroup_list_has(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

bool cgroup_host_is_v2(void)
{
        struct statfs sf;
        return statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The supervisor's leaf, when its own group must pass controllers down. */
#define V2_LEAF "agentbox-supervisor"

/* Enables in dir's subtree_control the words of `want` that dir offers and
 * does not pass down yet; reads back what it passes down and offers. */
static int v2_enable(const char *dir, const char *want, struct cgroup_v2_place *ret)
{
        char path[600], add[128] = "";
        snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
        ret->offered[0] = '\0';
        read_small_file(path, ret->offered, sizeof ret->offered);
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
        int r = read_small_file(path, ret->ctl, sizeof ret->ctl);
        if (r < 0)
                return r;
        for (const char *w = want; *w;) {
                size_t n = strcspn(w, " ");
                char word[32];
                snprintf(word, sizeof word, "%.*s", (int)n, w);
                if (cgroup_list_has(ret->offered, word) && !cgroup_list_has(ret->ctl, word))
                        snprintf(add + strlen(add), sizeof add - strlen(add), "%s+%s",
                                 add[0] ? " " : "", word);
                w += n + (w[n] == ' ');
        }
        if (!add[0])
                return 0;
        r = write_small_file(path, add);
        read_small_file(path, ret->ctl, sizeof ret->ctl);
        return r;
}

/* Whether this process is the only one in the group at dir. */
static bool v2_alone_in(const char *dir)
{
        char path[600], buf[64], *end;
        snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (read_small_file(path, buf, sizeof buf) < 0)
                return false;
        return strtol(buf, &end, 10) == getpid() && *end == '\0';
}

int cgroup_v2_place(const char *mnt, const char *own, const char *want, struct cgroup_v2_place *ret)
{
        *ret = (struct cgroup_v2_place){ 0 };
        char group[512];
        snprintf(group, sizeof group, "%s", own);
        char *slash = strrchr(group, '/');
        if (slash && strcmp(slash + 1, V2_LEAF) == 0)
                *slash = '\0'; /* moved there earlier: the group is its parent */
        if (strcmp(group, "/") == 0)
                group[0] = '\0';
        if ((size_t)snprintf(ret->base, sizeof ret->base, "%s%s", mnt, group) >= sizeof ret->base)
                return -ENAMETOOLONG;
        int r = v2_enable(ret->base, want, ret);
        if (r != -EBUSY)
                return r;
        /* "No internal processes": a group that is not the root may pass
         * controllers down only while it holds none itself.  When the
         * supervisor is alone in it (a systemd unit with Delegate=yes,
         * `systemd-run --scope`, a container's only process), it moves
         * itself into a leaf, as systemd's delegation rules expect. */
        char leaf[560], procs[600];
        snprintf(leaf, sizeof leaf, "%s/" V2_LEAF, ret->base);
        snprintf(procs, sizeof procs, "%s/cgroup.procs", leaf);
        if (v2_alone_in(ret->base) && (mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
            write_small_file(procs, "0") == 0 && v2_enable(ret->base, want, ret) == 0) {
                snprintf(ret->note, sizeof ret->note, "supervisor moved into %.80s/" V2_LEAF,
                         group[0] ? group : "");
                return 0;
        }
        /* Others share the group (a login shell's session, say).  The root
         * is exempt from the rule; only root may use it, and then the
         * host's limits on the supervisor's group no longer bound the
         * sandboxes, which the note says. */
        struct cgroup_v2_place top = { 0 };
        if (group[0] && access(mnt, W_OK) == 0 && v2_enable(mnt, want, &top) == 0) {
                snprintf(top.base, sizeof top.base, "%s", mnt);
                snprintf(top.note, sizeof top.note, "under the root: %.80s holds other processes",
                         group);
                *ret = top;
                return 0;
        }
        snprintf(ret->note, sizeof ret->note,
                 "%.60s holds other processes, so it cannot pass controllers down",
                 group[0] ? group : "/");
        return -EBUSY;
}

static void probe_v2(const char *own_text, struct cgroup_probe *ret)
{
        char own[512];
        struct cgroup_v2_place pl;
        if (cgroup_parse_own_path(own_text, NULL, own, sizeof own) < 0) {
                snprintf(ret->detail, sizeof ret->detail, "no cgroup2 line in /proc/self/cgroup");
                return;
        }
        int r = cgroup_v2_place("/sys/fs/cgroup", own, "memory pids cpu", &pl);
        if ((r < 0 && r != -EBUSY) ||
            (size_t)snprintf(ret->parent[0], sizeof ret->parent[0], "%s/agentbox", pl.base) >=
                    sizeof ret->parent[0] ||
            prepare_parent(ret->parent[0]) < 0) {
                snprintf(ret->detail, sizeof ret->detail,
                         "cgroup2 is mounted but not writable by this user");
                return;
        }
        ret->version = 2;
        ret->have[CG_MEMORY] = cgroup_list_has(pl.ctl, "memory");
        ret->have[CG_PIDS] = cgroup_list_has(pl.ctl, "pids");
        ret->have[CG_CPU] = cgroup_list_has(pl.ctl, "cpu");
        ret->have[CG_CPUACCT] = true; /* cpu.stat is in every v2 group */
        for (int c = 1; c < CG__MAX; c++)
                memcpy(ret->parent[c], ret->parent[0], sizeof ret->parent[c]);
        if (ret->have[CG_MEMORY] && ret->have[CG_PIDS])
                snprintf(ret->detail, sizeof ret->detail, "cgroup2 (%.40s)%s%.100s", pl.ctl,
                         pl.note[0] ? "; " : "", pl.note);
        else if (!cgroup_list_has(pl.offered, "memory") || !cgroup_list_has(pl.offered, "pids"))
                snprintf(ret->detail, sizeof ret->detail,
                         "cgroup2: no memory and pids controllers here (bound to v1, or not "
                         "given to agentbox's cgroup)");
        else
                snprintf(ret->detail, sizeof ret->detail,
                         "cgroup2: %.110s (see docs/architecture.md)", pl.note);
}

void cgroup_probe(struct cgroup_probe *ret)
{
        *ret = (struct cgroup_probe){ 0 };
        _cleanup_free_ char *own = NULL, *mountinfo = NULL;
        size_t len;
        if (read_file_at(AT_FDCWD, "/proc/self/cgroup", 1 << 16, &own, &len) < 0) {
                snprintf(ret->detail, sizeof ret->detail, "cannot read /proc/self/cgroup");
                return;
        }
        if (cgroup_host_is_v2()) {
                probe_v2(own, ret);
                return;
        }
        if (read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 22, &mountinfo, &len) < 0)
                return;
        for (int c = 0; c < CG__MAX; c++) {
                char mnt[512], root[512], path[512];
                ret->have[c] = cgroup_parse_v1_mount(mountinfo, names[c], mnt, sizeof mnt, root,
                                                     sizeof root) == 0 &&
                               cgroup_parse_own_path(own, names[c], path, sizeof path) == 0 &&
                               cgroup_parent_path(mnt, root, path, ret->parent[c],
                                                  sizeof ret->parent[c]) == 0 &&
                               prepare_parent(ret->parent[c]) == 0;
        }
        if (ret->have[CG_MEMORY] || ret->have[CG_PIDS] || ret->have[CG_CPU])
                ret->version = 1;
        snprintf(ret->detail, sizeof ret->detail, "cgroup v1 hierarchies");
}

/* A group whose supervisor died: its processes got SIGKILL from the kernel
 * (parent-death signal) but may still be exiting.  Make sure, then give the
 * kernel a moment to empty it; bounded, since this only follows a crash. */
static void remove_stale(const char *path)
{
        char procs[1100];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
        for (int tries = 0; rmdir(path) < 0 && errno == EBUSY && tries < 50; tries++) {
                FILE *f = fopen(procs, "re");
                int pid;
                while (f && fscanf(f, "%d", &pid) == 1)
                        kill(pid, SIGKILL);
                if (f)
                        fclose(f);
                struct timespec ts = { 0, 2000000 };
                nanosleep(&ts, NULL);
        }
}

/* Removes sandbox groups whose supervisor is gone (SIGKILLed). */
static void sweep(const char *parent)
{
        /* cgroupfs counts a directory's subdirectories in its link count:
         * with none (the usual case for a lone run) there is nothing to read. */
        struct stat st;
        if (stat(parent, &st) == 0 && st.st_nlink <= 2)
                return;
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
                remove_stale(path);
        }
        closedir(d);
}

int cgroup_create(const struct cgroup_probe *probe, const struct cgroup_limits *lim,
                  const bool want[CG__MAX], struct cgroup **ret, struct abox_error *err)
{
        _cleanup_(cgroup_destroy_p) struct cgroup *cg = calloc(1, sizeof *cg);
        if (!cg)
                return abox_error_set(err, -ENOMEM, "out of memory");
        cg->peak_fd = -1;
        for (int c = 0; c < CGC__MAX; c++)
                cg->counter[c] = -1;
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint64_t)time(NULL) ^ (uint64_t)clock();
        char name[64];
        snprintf(name, sizeof name, "abox-%d-%016llx", getpid(), (unsigned long long)rnd);
        cg->version = probe->version;
        cg->ops = cg->version == 2 ? &cgroup_v2_backend : &cgroup_v1_backend;
        for (int c = 0; c < CG__MAX; c++) {
                if (!want[c])
                        continue;
                if (!probe->have[c])
                        return abox_error_set(err, -ENOENT, "cgroup controller %s is not available",
                                              names[c]);
                bool swept = false;
                for (int i = 0; i < c; i++)
                        swept |= want[i] && strcmp(probe->parent[i], probe->parent[c]) == 0;
                if (!swept)
                        sweep(probe->parent[c]);
                if (!(cg->parent[c] = strdup(probe->parent[c])) ||
                    asprintf(&cg->dir[c], "%s/%s", probe->parent[c], name) < 0) {
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

int cgroup_open_join_fds(const struct cgroup *cg, int *fds, unsigned max)
{
        unsigned n = 0;
        if (cg->version != 1)
                return 0;
        for (int c = 0; c < CG__MAX; c++) {
                if (!first_use(cg, c))
                        continue;
                char path[600];
                snprintf(path, sizeof path, "%s/tasks", cg->dir[c]);
                int fd = n < max ? open(path, O_WRONLY | O_CLOEXEC) : -1;
                if (fd < 0) {
                        int r = n < max ? -errno : -E2BIG;
                        while (n > 0)
                                close(fds[--n]);
                        return r;
                }
                fds[n++] = fd;
        }
        return (int)n;
}

int cgroup_open_fd(const struct cgroup *cg)
{
        if (cg->version != 2)
                return -1;
        for (int c = 0; c < CG__MAX; c++)
                if (cg->dir[c])
                        return open(cg->dir[c], O_PATH | O_DIRECTORY | O_CLOEXEC);
        return -1;
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
        if (cg->peak_fd >= 0)
                close(cg->peak_fd);
        for (int c = 0; c < CGC__MAX; c++)
                if (cg->counter[c] >= 0)
                        close(cg->counter[c]);
        /* Usually the group is empty by now (its pid 1 was reaped, and the
         * pid namespace with it), and asking first spares reading every
         * cgroup.procs.  A busy group is killed once, then waited for: the
         * last exiting task may still be leaving it. */
        bool killed = false;
        for (int c = CG__MAX - 1; c >= 0; c--) {
                if (!first_use(cg, c))
                        continue;
                for (int tries = 0; rmdir(cg->dir[c]) < 0 && errno == EBUSY && tries < 200;
                     tries++) {
                        if (!killed && cg->ops) {
                                cg->ops->kill_all(cg);
                                killed = true;
                                continue;
                        }
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

int cgroup_oom_watch(struct cgroup *cg)
{
        return cg && cg->dir[CG_MEMORY] && cg->ops->oom_watch ? cg->ops->oom_watch(cg)
                                                              : -EOPNOTSUPP;
}

int cgroup_reset_peak(struct cgroup *cg)
{
        return cg && cg->dir[CG_MEMORY] ? cg->ops->reset_peak(cg) : 0;
}
