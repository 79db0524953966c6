/* The sandbox's root filesystem.
 *
 * Theory of operation: the parent lists what the root must hold (rootfs_plan_build):
 * a skeleton of directories and the host's /bin-style links, read-only binds
 * of /usr and a handful of /etc files, synthesised passwd/group/hosts, a
 * minimal /dev, a fresh /proc, and one size-capped "scratch" tmpfs whose
 * subdirectories become /tmp, /workspace and /dev/shm (so one number caps
 * the disk).  The child (rootfs_apply) first clones every host tree it will
 * bind with open_tree(), before anything is mounted over the host's paths,
 * so a bind source can live anywhere — even under /tmp, where the new root
 * is assembled.  It then builds the root relative to its working directory,
 * pivots into it, drops the old root and makes the root itself read-only.
 * Binds are recursive and recursively read-only (mount_setattr), unlike
 * MS_BIND|MS_REMOUNT, which leaves submounts writable.
 */
#include "jail.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "core/error.h"
#include "core/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char passwd[] = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                             "sandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group[] = "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n";
static const char hosts[] = "127.0.0.1\tlocalhost agentbox\n::1\tlocalhost ip6-localhost\n";
static const char nsswitch[] = "passwd: files\ngroup: files\nhosts: files dns\n";

static const char *keep(struct rootfs_plan *plan, char *s)
{
        if (!s || plan->n_owned >= ELEMENTSOF(plan->owned)) {
                free(s);
                return NULL;
        }
        plan->owned[plan->n_owned++] = s;
        return s;
}

static int add(struct rootfs_plan *plan, enum rootfs_op_kind kind, unsigned flags, const char *src,
               const char *dst, const char *data, mode_t mode)
{
        if (plan->n_ops >= JAIL_MAX_OPS)
                return -E2BIG;
        plan->ops[plan->n_ops++] =
                (struct rootfs_op){ kind, flags, src, dst, data, data ? strlen(data) : 0, mode };
        return 0;
}

/* A small host file is copied into the root, which is cheaper than a bind
 * now and when the sandbox ends; a large one is bound.  The child copies it
 * in the kernel (sendfile): reading it here would cost the supervisor the
 * read and fresh pages for it before the clone. */
#define COPY_MAX ((size_t)256 * 1024)
static int add_copy(struct rootfs_plan *plan, const char *src, const char *dst,
                    const struct stat *st)
{
        if ((size_t)st->st_size > COPY_MAX)
                return add(plan, ROOTFS_BIND, ROOTFS_RDONLY, src, dst, NULL, 0);
        int r = add(plan, ROOTFS_COPY, 0, src, dst, NULL, 0644);
        if (r == 0)
                plan->ops[plan->n_ops - 1].len = COPY_MAX;
        return r;
}

static const char *host_path(struct rootfs_plan *plan, const char *sysroot, const char *rel)
{
        char *s = NULL;
        if (asprintf(&s, "%s/%s", sysroot, rel) < 0)
                return NULL;
        return keep(plan, s);
}

/* /bin, /lib64 and friends are links into /usr on merged-/usr systems and
 * directories elsewhere; mirror whichever the system root has. */
static int add_toplevel(struct rootfs_plan *plan, const char *sysroot, const char *name)
{
        const char *src = host_path(plan, sysroot, name);
        if (!src)
                return -ENOMEM;
        struct stat st;
        if (lstat(src, &st) < 0)
                return 0;
        if (S_ISLNK(st.st_mode)) {
                char target[256];
                ssize_t n = readlink(src, target, sizeof target - 1);
                if (n < 0)
                        return 0;
                target[n] = '\0';
                const char *t = keep(plan, strdup(target));
                return t ? add(plan, ROOTFS_SYMLINK, 0, t, name, NULL, 0) : -ENOMEM;
        }
        if (S_ISDIR(st.st_mode))
                return add(plan, ROOTFS_BIND, ROOTFS_RDONLY, src, name, NULL, 0);
        if (S_ISREG(st.st_mode))
                return add_copy(plan, src, name, &st);
        return 0;
}

/* The few /etc entries programs need: the loader cache, certificates,
 * Debian's alternatives links and the time zone.  Debian's Python site
 * config only looks for apport's crash hook, a sys.path search on every
 * start: /etc/python3.X gets an empty sitecustomize.py instead. */
static int add_etc(struct rootfs_plan *plan, const char *sysroot)
{
        static const char *const entries[] = { "etc/ld.so.cache", "etc/ssl", "etc/alternatives",
                                               "etc/localtime" };
        int r = 0;
        r = r ?: add(plan, ROOTFS_FILE, 0, NULL, "etc/passwd", passwd, 0644);
        r = r ?: add(plan, ROOTFS_FILE, 0, NULL, "etc/group", group, 0644);
        r = r ?: add(plan, ROOTFS_FILE, 0, NULL, "etc/hosts", hosts, 0644);
        r = r ?: add(plan, ROOTFS_FILE, 0, NULL, "etc/hostname", "agentbox\n", 0644);
        r = r ?: add(plan, ROOTFS_FILE, 0, NULL, "etc/nsswitch.conf", nsswitch, 0644);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(entries); i++)
                r = add_toplevel(plan, sysroot, entries[i]);
        if (r < 0)
                return r;
        /* The version is the one usr/bin/python3 names ("python3.11"):
         * listing /etc to find every python3.X costs ~0.1 ms a run on ext4.
         * Another version finds its stdlib's link to /etc dangling, which
         * Python takes as no sitecustomize, as before this stub. */
        const char *python = host_path(plan, sysroot, "usr/bin/python3");
        char target[64];
        ssize_t n = python ? readlink(python, target, sizeof target - 1) : -1;
        if (n <= 0)
                return python ? 0 : -ENOMEM;
        target[n] = '\0';
        const char *version = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
        if (strncmp(version, "python3.", 8) != 0 || !version[8] ||
            strspn(version + 8, "0123456789") != strlen(version + 8))
                return 0;
        char *rel = NULL;
        if (asprintf(&rel, "etc/%s/sitecustomize.py", version) < 0 || !keep(plan, rel))
                return -ENOMEM;
        return add(plan, ROOTFS_FILE, 0, NULL, rel, "", 0644);
}

static int add_dev(struct rootfs_plan *plan)
{
        static const char *const nodes[] = { "null", "zero", "full", "random", "urandom" };
        static const char *const links[][2] = {
                { "/proc/self/fd", "dev/fd" },       { "/proc/self/fd/0", "dev/stdin" },
                { "/proc/self/fd/1", "dev/stdout" }, { "/proc/self/fd/2", "dev/stderr" },
                { "pts/ptmx", "dev/ptmx" },
        };
        static const char *const devpaths[] = { "dev/null", "dev/zero", "dev/full", "dev/random",
                                                "dev/urandom" };
        int r = add(plan, ROOTFS_TMPFS, 0, NULL, "dev", "mode=0755,size=64k,nr_inodes=64", 0);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(nodes); i++) {
                const char *src = host_path(plan, "/dev", nodes[i]);
                r = src ? add(plan, ROOTFS_BIND, ROOTFS_DEVICE, src, devpaths[i], NULL, 0)
                        : -ENOMEM;
        }
        r = r ?: add(plan, ROOTFS_DIR, 0, NULL, "dev/pts", NULL, 0755);
        r = r ?: add(plan, ROOTFS_DEVPTS, 0, NULL, "dev/pts", NULL, 0);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(links); i++)
                r = add(plan, ROOTFS_SYMLINK, 0, links[i][0], links[i][1], NULL, 0);
        r = r ?: add(plan, ROOTFS_DIR, 0, NULL, "dev/shm", NULL, 0755);
        r = r ?: add(plan, ROOTFS_SCRATCH, 0, "shm", "dev/shm", NULL, 0);
        return r;
}

static int add_user_mounts(struct rootfs_plan *plan, const struct abox_policy *p)
{
        for (size_t i = 0; i < p->n_mounts; i++) {
                const char *dst = keep(plan, strdup(p->mounts[i].dst + 1));
                if (!dst)
                        return -ENOMEM;
                int r = add(plan, ROOTFS_BIND, p->mounts[i].rw ? ROOTFS_NOEXEC : ROOTFS_RDONLY,
                            p->mounts[i].src, dst, NULL, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rootfs_plan_build(struct rootfs_plan *plan, const struct abox_policy *p, struct abox_error *err)
{
        static const char *const toplevel[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
        static const char *const skeleton[] = { "usr", "etc", "dev", "proc", "tmp", "workspace" };
        /* The rest of /proc that writes could reach is owned by the host's
         * root and so closed to the sandbox's uid already. */
        static const char *const proc_ro[] = { "proc/sys", "proc/sysrq-trigger" };
        const char *sysroot = p->rootfs ? p->rootfs : "";
        *plan = (struct rootfs_plan){ .scratch_bytes = p->disk_max_bytes };
        snprintf(plan->scratch_size, sizeof plan->scratch_size, "%llu",
                 (unsigned long long)p->disk_max_bytes);
        if (p->rootfs) {
                struct stat st;
                if (stat(p->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
                        return abox_error_set(err, -ENOENT, "the rootfs directory is missing");
                _cleanup_free_ char *usr = NULL;
                if (asprintf(&usr, "%s/usr", p->rootfs) < 0)
                        return abox_error_set(err, -ENOMEM, "out of memory");
                if (stat(usr, &st) < 0 || !S_ISDIR(st.st_mode))
                        return abox_error_set(err, -ENOENT, "the rootfs directory has no usr/");
        }
        int r = 0;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(skeleton); i++)
                r = add(plan, ROOTFS_DIR, 0, NULL, skeleton[i], NULL, 0755);
        const char *usr = host_path(plan, sysroot, "usr");
        r = r ?: usr ? add(plan, ROOTFS_BIND, ROOTFS_RDONLY, usr, "usr", NULL, 0) : -ENOMEM;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(toplevel); i++)
                r = add_toplevel(plan, sysroot, toplevel[i]);
        r = r ?: add_etc(plan, sysroot);
        r = r ?: add_dev(plan);
        r = r ?: add(plan, ROOTFS_PROC, 0, NULL, "proc", NULL, 0);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(proc_ro); i++)
                r = add(plan, ROOTFS_READONLY, ROOTFS_OPTIONAL, NULL, proc_ro[i], NULL, 0);
        r = r ?: add(plan, ROOTFS_SCRATCH, 0, "tmp", "tmp", NULL, 0);
        r = r ?: add(plan, ROOTFS_SCRATCH, 0, "workspace", "workspace", NULL, 0);
        r = r ?: add_user_mounts(plan, p);
        if (r == -E2BIG)
                return abox_error_set(err, r, "too many mounts (at most %d in all)", JAIL_MAX_OPS);
        if (r < 0)
                return abox_error_set(err, r, "out of memory");
        return 0;
}

int rootfs_plan_add_file(struct rootfs_plan *plan, const char *dst, const void *data, size_t len)
{
        int r = add(plan, ROOTFS_FILE, 0, NULL, dst, NULL, 0644);
        if (r == 0) {
                plan->ops[plan->n_ops - 1].data = data;
                plan->ops[plan->n_ops - 1].len = len;
        }
        return r;
}

void rootfs_plan_done(struct rootfs_plan *plan)
{
        for (unsigned i = 0; i < plan->n_owned; i++)
                free(plan->owned[i]);
        plan->n_owned = 0;
}

/* ---- apply: runs in the child, no allocation ---- */

/* The directories above each entry.  Entries come grouped (etc/..., dev/...),
 * so `made` remembers the last parent made, and most entries skip a mkdir
 * that would only say EEXIST. */
struct parents {
        char made[256];
};

static int mkdir_parents(const char *path, struct parents *done)
{
        char buf[256];
        const char *slash = strrchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : 0;
        if (n == 0)
                return 0;
        if (n >= sizeof buf)
                return -ENAMETOOLONG;
        memcpy(buf, path, n);
        buf[n] = '\0';
        if (strcmp(buf, done->made) == 0)
                return 0;
        for (char *s = buf + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (!c)
                        break;
        }
        memcpy(done->made, buf, n + 1);
        return 0;
}

static int make_mountpoint(const char *dst, bool dir, struct parents *done)
{
        int r = mkdir_parents(dst, done);
        if (r < 0)
                return r;
        if (dir)
                return mkdir(dst, 0755) < 0 && errno != EEXIST ? -errno : 0;
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static int setattr(int fd, uint64_t set)
{
        struct mount_attr attr = { .attr_set = set };
        return mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0 ? -errno
                                                                                           : 0;
}

static int clone_source(const struct rootfs_op *op)
{
        int fd = open_tree(AT_FDCWD, op->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (fd < 0)
                return -errno;
        uint64_t attrs = MOUNT_ATTR_NOSUID;
        if (op->flags & ROOTFS_RDONLY)
                attrs |= MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV;
        if (op->flags & ROOTFS_DEVICE)
                attrs |= MOUNT_ATTR_NOEXEC;
        else
                attrs |= MOUNT_ATTR_NODEV;
        if (op->flags & ROOTFS_NOEXEC)
                attrs |= MOUNT_ATTR_NOEXEC;
        int r = setattr(fd, attrs);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

static int make_scratch(const struct rootfs_plan *plan)
{
        int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        int r = 0;
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", plan->scratch_size, 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", "16384", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                r = -errno;
        int mnt = r < 0 ? -1
                        : fsmount(fs, FSMOUNT_CLOEXEC,
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (r == 0 && mnt < 0)
                r = -errno;
        close(fs);
        if (r < 0)
                return r;
        static const struct {
                const char *name;
                mode_t mode;
        } dirs[] = { { "tmp", 01777 }, { "workspace", 0755 }, { "shm", 01777 } };
        _Static_assert(ELEMENTSOF(dirs) + 1 == ROOTFS_SCRATCH_INODES, "the scratch skeleton");
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdirat(mnt, dirs[i].name, 0700) < 0 ||
                    fchmodat(mnt, dirs[i].name, dirs[i].mode, 0) < 0) {
                        r = -errno;
                        close(mnt);
                        return r;
                }
        return mnt;
}

static int write_file(const char *dst, const char *data, size_t n, mode_t mode)
{
        int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        ssize_t k = write(fd, data, n);
        int r = k == (ssize_t)n ? 0 : -EIO;
        close(fd);
        return r;
}

/* The host file opened before the switch of uid, copied without passing
 * through user space.  No link followed and no FIFO waited on (at open):
 * a rootfs tree may be writable by someone less trusted than the
 * supervisor.  A file that is gone or not regular is left out. */
static int open_copy_source(const struct rootfs_op *op)
{
        int fd = open(op->src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
                close(fd);
                fd = -1;
        }
        return fd;
}

static int copy_file(int src_fd, const char *dst, size_t max, mode_t mode)
{
        int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        ssize_t k = 1;
        for (size_t done = 0; done < max && (k = sendfile(fd, src_fd, NULL, max - done)) > 0;)
                done += (size_t)k;
        int r = k < 0 ? -errno : 0;
        close(fd);
        return r;
}

static int attach(int fd, const char *dst)
{
        return move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

static int readonly_self(const char *dst)
{
        int fd = open_tree(AT_FDCWD, dst, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (fd < 0)
                return -errno;
        int r = setattr(fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                    MOUNT_ATTR_NOEXEC);
        r = r ?: attach(fd, dst);
        close(fd);
        return r;
}

static int apply_op(const struct rootfs_plan *plan, const struct rootfs_op *op, int src_fd,
                    int scratch, struct parents *done)
{
        struct stat st;
        int r, fd;
        switch (op->kind) {
        case ROOTFS_DIR: return mkdir(op->dst, op->mode) < 0 && errno != EEXIST ? -errno : 0;
        case ROOTFS_SYMLINK:
                r = mkdir_parents(op->dst, done);
                return r ?: symlink(op->src, op->dst) < 0 ? -errno : 0;
        case ROOTFS_FILE:
                r = mkdir_parents(op->dst, done);
                return r ?: write_file(op->dst, op->data, op->len, op->mode);
        case ROOTFS_COPY:
                if (src_fd < 0)
                        return 0;
                r = mkdir_parents(op->dst, done);
                return r ?: copy_file(src_fd, op->dst, op->len, op->mode);
        case ROOTFS_BIND:
                if (fstat(src_fd, &st) < 0)
                        return -errno;
                r = make_mountpoint(op->dst, S_ISDIR(st.st_mode), done);
                return r ?: attach(src_fd, op->dst);
        case ROOTFS_SCRATCH:
                fd = open_tree(scratch, op->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = make_mountpoint(op->dst, true, done);
                r = r ?: attach(fd, op->dst);
                close(fd);
                return r;
        case ROOTFS_TMPFS:
                return mount("tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                             op->data) < 0
                               ? -errno
                               : 0;
        case ROOTFS_PROC:
                /* hidepid=invisible needs 5.8; an older kernel gets a plain procfs,
                 * which in a fresh pid namespace still shows only the sandbox. */
                if (mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "hidepid=invisible") < 0 &&
                    mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        return -errno;
                return 0;
        case ROOTFS_DEVPTS:
                return mount("devpts", op->dst, "devpts", MS_NOSUID | MS_NOEXEC,
                             "newinstance,ptmxmode=0666,mode=0620") < 0
                               ? -errno
                               : 0;
        case ROOTFS_READONLY:
                if (lstat(op->dst, &st) < 0)
                        return (op->flags & ROOTFS_OPTIONAL) ? 0 : -errno;
                return readonly_self(op->dst);
        }
        (void)plan;
        return -EINVAL;
}

/* Clones every host tree the root will bind, and opens every host file it
 * will copy, into fds[] (one per op, -1 for other ops).  Runs before the switch to the sandbox's uid, with the
 * supervisor's filesystem credentials, so a source may sit below
 * directories the sandbox user could not traverse; what the sandbox can do
 * with the files inside is still up to their permissions and Landlock. */
int rootfs_clone_sources(const struct rootfs_plan *plan, int *fds, int *ret_failed_op)
{
        *ret_failed_op = -1;
        for (unsigned i = 0; i < plan->n_ops; i++)
                fds[i] = -1;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        for (unsigned i = 0; i < plan->n_ops; i++) {
                if (plan->ops[i].kind == ROOTFS_COPY)
                        fds[i] = open_copy_source(&plan->ops[i]);
                if (plan->ops[i].kind == ROOTFS_BIND &&
                    (fds[i] = clone_source(&plan->ops[i])) < 0) {
                        *ret_failed_op = (int)i;
                        return fds[i];
                }
        }
        return 0;
}

int rootfs_apply(const struct rootfs_plan *plan, int *fds, int *ret_failed_op, int *ret_scratch)
{
        int r = 0, scratch = -1;
        unsigned i;
        struct parents done = { "" };
        *ret_failed_op = -1;
        if ((scratch = make_scratch(plan)) < 0)
                r = scratch;
        if (r == 0 && (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
                             "mode=0755,size=1m,nr_inodes=1024") < 0 ||
                       chdir("/tmp") < 0))
                r = -errno;
        for (i = 0; r == 0 && i < plan->n_ops; i++)
                if ((r = apply_op(plan, &plan->ops[i], fds[i], scratch, &done)) < 0)
                        *ret_failed_op = (int)i;
        for (i = 0; i < plan->n_ops; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        if (r < 0 && scratch >= 0)
                close(scratch);
        else
                *ret_scratch = scratch;
        return r;
}

/* Swaps the root for the one built in the working directory and detaches the
 * old one, so no path from inside leads back to the host's tree. */
int rootfs_pivot(void)
{
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return -errno;
        if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                return -errno;
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
                return -errno;
        return chdir("/workspace") < 0 ? -errno : 0;
}
