/* Control groups: one interface, two backends (cgroup.c picks one).
 * A sandbox's cgroup is created before the sandbox starts, so its limits are
 * in force from the first instruction, and removed after its last process
 * has been reaped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct abox_error;
struct strlist;

enum cgroup_controller { CG_MEMORY, CG_PIDS, CG_CPU, CG_CPUACCT, CG__MAX };

struct cgroup_limits {
        uint64_t memory_max_bytes;
        uint64_t pids_max;
        uint64_t cpu_milli; /* 0: no cap */
};

struct cgroup_stats {
        uint64_t memory_peak_bytes;
        uint64_t cpu_usage_us;
        uint64_t oom_kills;
        uint64_t pids_max_hits;
};

/* What the supervisor reads from the group after (and CPU during) a run. */
enum cgroup_counter { CGC_MEMORY_PEAK, CGC_OOM_KILLS, CGC_PIDS_MAX_HITS, CGC_CPU, CGC__MAX };

struct cgroup {
        int version; /* 1 or 2 */
        const struct cgroup_backend *ops;
        char *dir[CG__MAX]; /* NULL: controller not in use; v1 may share dirs */
        char *parent[CG__MAX];
        int peak_fd; /* v2: memory.peak, once reset through it (reads must use it); <0 not */
        int counter[CGC__MAX]; /* opened at set-up, read with pread; -1: none */
};

struct cgroup_backend {
        int (*setup)(struct cgroup *cg, const struct cgroup_limits *lim);
        int (*stats)(struct cgroup *cg, struct cgroup_stats *ret);
        int (*cpu_usage_us)(struct cgroup *cg, uint64_t *ret);
        int (*kill_all)(struct cgroup *cg);
        int (*reset_peak)(struct cgroup *cg);
        int (*oom_watch)(struct cgroup *cg); /* NULL: an OOM already ends the group */
};

/* What this host offers, for `check` and for failing closed. */
struct cgroup_probe {
        int version; /* 0: none usable */
        bool have[CG__MAX];
        char parent[CG__MAX][512]; /* where sandbox groups go, per controller */
        char detail[160];
};

/* cgroup v2 placement: the group whose children get the controllers. */
struct cgroup_v2_place {
        char base[512];    /* its directory; sandboxes go in base/agentbox */
        char ctl[256];     /* its cgroup.subtree_control */
        char offered[256]; /* its cgroup.controllers */
        char note[160];    /* how it was chosen, when not simply the own group */
};

void cgroup_probe(struct cgroup_probe *ret);
/* Creates a cgroup with the controllers in want[] (which must be available). */
int cgroup_create(const struct cgroup_probe *probe, const struct cgroup_limits *lim,
                  const bool want[CG__MAX], struct cgroup **ret, struct abox_error *err);
/* pure parsing, for discovery and its tests */
int cgroup_parse_own_path(const char *proc_self_cgroup, const char *controller, char *buf,
                          size_t len);
int cgroup_parse_v1_mount(const char *mountinfo, const char *controller, char *mnt, size_t mlen,
                          char *root, size_t rlen);
int cgroup_parent_path(const char *mnt, const char *root, const char *own, char *buf, size_t len);
bool cgroup_list_has(const char *list, const char *word);
/* Finds, in the v2 tree mounted at mnt, the group that passes the words of
 * `want` ("memory pids") down, starting from the supervisor's own group
 * (`own`, from /proc/self/cgroup).  May move the calling process into a
 * leaf of its own group (see cgroup.c).  -EBUSY: no group can, note says
 * why; ret->base is then the own group. */
int cgroup_v2_place(const char *mnt, const char *own, const char *want,
                    struct cgroup_v2_place *ret);
int cgroup_attach(struct cgroup *cg, pid_t pid);
/* Opens, for writing, the files a task writes "0" to, to move itself into
 * the group: v1's "tasks" (a single-threaded task moving itself skips the
 * global threadgroup lock that makes writing another task's pid cost a
 * grace period).  None on v2, where clone3 places the child.  Returns the
 * number of fds, or -errno. */
int cgroup_open_join_fds(const struct cgroup *cg, int *fds, unsigned max);
/* v2: an O_PATH fd of the group for clone3's CLONE_INTO_CGROUP; -1 on v1. */
int cgroup_open_fd(const struct cgroup *cg);
bool cgroup_host_is_v2(void);
int cgroup_stats(struct cgroup *cg, struct cgroup_stats *ret);
int cgroup_cpu_usage_us(struct cgroup *cg, uint64_t *ret);
/* Starts the memory peak over (a session's next execution), where the
 * kernel allows: v1 always; v2 from 6.12, where a reset holds for reads
 * through the file descriptor that made it (kept in peak_fd).  Before
 * that, -errno and the peak stays the group's since it was made. */
int cgroup_reset_peak(struct cgroup *cg);
/* Where an OOM kill would take only one process (v1), has the group's
 * tasks wait at an OOM instead and returns an eventfd that counts it: the
 * caller must then end the whole group, and must watch the fd for the
 * group's whole life.  -EOPNOTSUPP where the kernel ends the group itself
 * (v2's memory.oom.group) or there is no memory controller. */
int cgroup_oom_watch(struct cgroup *cg);
void cgroup_destroy(struct cgroup *cg);
const char *cgroup_controller_name(enum cgroup_controller c);

/* helpers shared by the backends */
int cgroup_write(const char *dir, const char *file, const char *value);
/* A counter's text: a decimal number (what follows it is ignored). */
int cgroup_parse_u64(const char *s, uint64_t *ret);
int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret);
int cgroup_read_key(const char *dir, const char *file, const char *key, uint64_t *ret);
/* Opens dir/file for the counter at set-up, while the sandbox is still
 * being built: reading through the kept fd spares the end of every run
 * cgroupfs's open and close.  Quietly none if it cannot be opened. */
void cgroup_open_counter(struct cgroup *cg, enum cgroup_counter c, const char *dir,
                         const char *file);
/* A counter's number through an open fd: the whole text (key NULL), or
 * what follows "key ". */
int cgroup_fd_read(int fd, const char *key, uint64_t *ret);
int cgroup_counter_read(const struct cgroup *cg, enum cgroup_counter c, const char *key,
                        uint64_t *ret);

extern const struct cgroup_backend cgroup_v1_backend;
extern const struct cgroup_backend cgroup_v2_backend;

static inline void cgroup_destroy_p(struct cgroup **cg)
{
        cgroup_destroy(*cg);
}
