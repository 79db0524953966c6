#include "files.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "base/parse.h"
#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PATH_BYTES 4096
#define MAX_LIST       10000
#define MAX_DEPTH      64

#define RESOLVE_FLAGS                                                                              \
        (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int open_below(int root, const char *path, uint64_t flags, mode_t mode)
{
        struct open_how how = { .flags = flags | O_CLOEXEC,
                                .mode = mode,
                                .resolve = RESOLVE_FLAGS };
        int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

/* The workspace is a tmpfs of the sandbox's user namespace: an inode can
 * only be made there by an id that namespace maps, and host root is not one.
 * So this thread acts as the sandbox's user while it touches the workspace
 * (fsuid and fsgid are per thread), which also means the host side has no
 * more rights there than the code inside. */
struct as_owner {
        int uid, gid;
        bool switched; /* uid and gid hold what to go back to */
};

/* The start of every file operation: the path checked (unless NULL), then
 * this thread switched to the workspace's owner; -EPERM if the switch did
 * not take (setfs*id report the old id either way, and an invalid id
 * changes nothing).  *old is restored by _cleanup_owner_ in any case. */
static int act_as_owner(const struct files_root *ws, const char *path, struct as_owner *old,
                        struct abox_error *err)
{
        int r = path ? files_check_path(path, err) : 0;
        if (r < 0)
                return r;
        old->gid = setfsgid(ws->gid);
        old->uid = setfsuid(ws->uid);
        old->switched = true;
        if (setfsuid((uid_t)-1) != (int)ws->uid || setfsgid((gid_t)-1) != (int)ws->gid)
                return abox_error_set(err, -EPERM, "cannot act as the sandbox's user here");
        return 0;
}

static void restore_owner(struct as_owner *old)
{
        if (!old->switched)
                return;
        setfsuid((uid_t)old->uid);
        setfsgid((gid_t)old->gid);
}

#define _cleanup_owner_ __attribute__((cleanup(restore_owner), unused))

int files_check_path(const char *path, struct abox_error *err)
{
        if (!path || !*path)
                return abox_error_set(err, -EINVAL, "no path given");
        size_t len = strlen(path);
        if (len >= MAX_PATH_BYTES)
                return abox_error_set(err, -ENAMETOOLONG, "the path is longer than 4 KiB");
        if (path[0] == '/')
                return abox_error_set(err, -EINVAL,
                                      "'%.200s' is absolute: paths are relative to /workspace",
                                      path);
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return abox_error_set(err, -EINVAL,
                                              "'%.200s' has a '..' component: refused", path);
                p += n;
                while (*p == '/')
                        p++;
        }
        return 0;
}

/* What went wrong below the workspace, in words. */
static int path_error(struct abox_error *err, int r, const char *path)
{
        switch (-r) {
        case ELOOP:
                return abox_error_set(err, -ELOOP,
                                      "'%.200s': a symbolic link on the way is not followed", path);
        case EXDEV: return abox_error_set(err, -EXDEV, "'%.200s' leads out of the workspace", path);
        case ENOENT: return abox_error_set(err, r, "'%.200s' does not exist", path);
        case ENOTDIR:
                return abox_error_set(err, r, "'%.200s': a component is not a directory", path);
        case ENOSPC:
        case EDQUOT: return abox_error_set(err, r, "the workspace is full (its disk limit)");
        default: return abox_error_set(err, r, "'%.200s': %s", path, strerror(-r));
        }
}

static int too_big(struct abox_error *err, const char *path, uint64_t max_bytes)
{
        char size[32];
        format_size(max_bytes, size, sizeof size);
        return abox_error_set(err, -EFBIG, "'%.200s' is larger than max_file_size (%s)", path,
                              size);
}

/* Splits path into its directory part (a copy, "" for none) and its last
 * component; refuses a path that names no file ("", ".", "dir/"). */
static int split(const char *path, char **ret_dir, const char **ret_leaf, struct abox_error *err)
{
        size_t len = strlen(path);
        while (len > 0 && path[len - 1] == '/')
                len--;
        const char *slash = memrchr(path, '/', len);
        const char *leaf = slash ? slash + 1 : path;
        size_t leaf_len = (size_t)(path + len - leaf);
        if (leaf_len == 0 || (leaf_len == 1 && leaf[0] == '.') || leaf[leaf_len] == '/')
                return abox_error_set(err, -EINVAL, "'%.200s' does not name a file", path);
        if (!(*ret_dir = strndup(path, slash ? (size_t)(slash - path) : 0)))
                return abox_error_set(err, -ENOMEM, "out of memory");
        *ret_leaf = leaf;
        return 0;
}

/* The directory dir (relative to root), made where missing, as an O_PATH fd. */
static int make_dirs(int root, const char *dir)
{
        int fd = open_below(root, *dir ? dir : ".", O_PATH | O_DIRECTORY, 0);
        if (fd != -ENOENT)
                return fd;
        _cleanup_close_ int at = open_below(root, ".", O_PATH | O_DIRECTORY, 0);
        if (at < 0)
                return at;
        _cleanup_free_ char *copy = strdup(dir);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (mkdirat(at, c, 0755) < 0 && errno != EEXIST)
                        return -errno;
                int next = open_below(at, c, O_PATH | O_DIRECTORY, 0);
                if (next < 0)
                        return next;
                close(at);
                at = next;
        }
        return TAKE_FD(at);
}

int files_put(const struct files_root *ws, const char *path, const void *data, size_t len,
              struct abox_error *err)
{
        _cleanup_owner_ struct as_owner old = { 0 };
        int r = act_as_owner(ws, path, &old, err);
        if (r < 0)
                return r;
        if (len > ws->max_bytes)
                return too_big(err, path, ws->max_bytes);
        _cleanup_free_ char *dir = NULL;
        const char *leaf;
        if ((r = split(path, &dir, &leaf, err)) < 0)
                return r;
        _cleanup_close_ int at = make_dirs(ws->fd, dir);
        if (at < 0)
                return path_error(err, at, path);
        uint64_t rnd = 0;
        (void)!getrandom(&rnd, sizeof rnd, GRND_NONBLOCK);
        char tmp[40];
        snprintf(tmp, sizeof tmp, ".agentbox-put-%016llx", (unsigned long long)rnd);
        _cleanup_close_ int fd =
                openat(at, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return path_error(err, -errno, path);
        r = write_all(fd, data, len);
        /* rename replaces a link planted at the name; it never follows it. */
        if (r == 0 && renameat(at, tmp, at, leaf) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(at, tmp, 0);
                if (r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST)
                        return abox_error_set(err, -EISDIR, "'%.200s' is a directory", path);
                return path_error(err, r, path);
        }
        return 0;
}

int files_get(const struct files_root *ws, const char *path, char **ret, size_t *ret_len,
              struct abox_error *err)
{
        _cleanup_owner_ struct as_owner old = { 0 };
        int r = act_as_owner(ws, path, &old, err);
        if (r < 0)
                return r;
        /* Non-blocking: a FIFO the sandbox planted must not hang us. */
        _cleanup_close_ int fd = open_below(ws->fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
        if (fd < 0)
                return path_error(err, fd, path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return path_error(err, -errno, path);
        if (!S_ISREG(st.st_mode))
                return abox_error_set(err, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                                      "'%.200s' is not a regular file", path);
        if ((uint64_t)st.st_size > ws->max_bytes)
                return too_big(err, path, ws->max_bytes);
        char *buf = NULL;
        size_t n = 0;
        r = read_all(fd, ws->max_bytes, &buf, &n);
        if (r == -EFBIG)
                return abox_error_set(err, r, "'%.200s' grew past max_file_size", path);
        if (r < 0)
                return path_error(err, r, path);
        *ret = buf;
        *ret_len = n;
        return 0;
}

struct listing {
        struct abox_file *items;
        size_t n, cap;
};

static int list_add(struct listing *l, const char *prefix, const char *name, const struct stat *st)
{
        if (l->n == MAX_LIST)
                return -E2BIG;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct abox_file *items = realloc(l->items, cap * sizeof *items);
                if (!items)
                        return -ENOMEM;
                l->items = items;
                l->cap = cap;
        }
        char *path = NULL;
        if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", name) < 0)
                return -ENOMEM;
        l->items[l->n++] = (struct abox_file){
                .path = path,
                .size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0,
                .type = S_ISREG(st->st_mode)   ? 'f'
                        : S_ISDIR(st->st_mode) ? 'd'
                        : S_ISLNK(st->st_mode) ? 'l'
                                               : '?',
        };
        return 0;
}

/* Calls fn for every entry of the directory dirfd but "." and "..", until
 * one returns non-zero. */
static int each_entry(int dirfd, int (*fn)(int dirfd, const char *name, void *data), void *data)
{
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        int r = 0;
        struct dirent *e;
        while (r == 0 && (e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        r = fn(dirfd, e->d_name, data);
        closedir(d);
        return r;
}

/* Listing: depth-first, through fds, never through a link, never off the
 * workspace's filesystem. */
struct walk {
        dev_t dev;
        const char *prefix;
        int depth;
        struct listing *l;
};

static int walk_entry(int dirfd, const char *name, void *data)
{
        const struct walk *w = data;
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0; /* gone meanwhile */
        int r = list_add(w->l, w->prefix, name, &st);
        if (r < 0 || !S_ISDIR(st.st_mode) || st.st_dev != w->dev || w->depth >= MAX_DEPTH)
                return r;
        _cleanup_close_ int sub =
                openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return 0;
        struct walk below = { w->dev, w->l->items[w->l->n - 1].path, w->depth + 1, w->l };
        return each_entry(sub, walk_entry, &below);
}

/* Copying out: from (below the workspace) into to (on the host). */
struct copy {
        dev_t dev;
        int to, depth;
        uint64_t file_max, *bytes_left; /* apparent sizes: a sparse file counts whole */
        size_t *entries_left;
};

static int copy_file(int src, int dst, uint64_t size)
{
        /* At most the size checked, however the file grows meanwhile. */
        char buf[65536];
        ssize_t k = 0;
        while (size > 0 && (k = read(src, buf, size < sizeof buf ? size : sizeof buf)) > 0) {
                int r = write_all(dst, buf, (size_t)k);
                if (r < 0)
                        return r;
                size -= (uint64_t)k;
        }
        return k < 0 ? -errno : 0;
}

static int copy_entry(int from, const char *name, void *data)
{
        const struct copy *c = data;
        /* O_NOFOLLOW and O_NONBLOCK: a link is not opened, a FIFO not
         * waited on; what it is is checked on the fd. */
        _cleanup_close_ int src =
                openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0 || st.st_dev != c->dev ||
            !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
                return 0;
        if ((*c->entries_left)-- == 0)
                return -E2BIG;
        uint64_t size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        if (size > c->file_max || size > *c->bytes_left)
                return -EFBIG;
        *c->bytes_left -= size;
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int dst = openat(
                        c->to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                return dst < 0 ? -errno : copy_file(src, dst, size);
        }
        if (c->depth >= MAX_DEPTH)
                return 0;
        if (mkdirat(c->to, name, 0700) < 0)
                return -errno;
        _cleanup_close_ int sub =
                openat(c->to, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return -errno;
        struct copy below = *c;
        below.to = sub;
        below.depth++;
        return each_entry(src, copy_entry, &below);
}

int files_copy_out(const struct files_root *ws, const char *dest, uint64_t max_total,
                   struct abox_error *err)
{
        struct stat st;
        if (fstat(ws->fd, &st) < 0)
                return abox_error_set(err, -errno, "the workspace: %s", strerror(errno));
        if (mkdir(dest, 0700) < 0)
                return abox_error_set(err, -errno, "cannot keep the workspace in %.200s: %s", dest,
                                      strerror(errno));
        _cleanup_close_ int to = open(dest, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (to < 0)
                return abox_error_set(err, -errno, "cannot keep the workspace in %.200s: %s", dest,
                                      strerror(errno));
        _cleanup_close_ int from = openat(ws->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t bytes_left = max_total;
        size_t entries_left = MAX_LIST;
        struct copy c = { st.st_dev, to, 0, ws->max_bytes, &bytes_left, &entries_left };
        int r = from < 0 ? -errno : each_entry(from, copy_entry, &c);
        if (r == -EFBIG || r == -E2BIG)
                return abox_error_set(err, r,
                                      "keeping the workspace in %.200s: stopped at a file over "
                                      "max_file_size, past the disk limit in all, or past %d "
                                      "entries (what came before is there)",
                                      dest, MAX_LIST);
        if (r < 0)
                return abox_error_set(err, r, "keeping the workspace in %.200s: %s", dest,
                                      strerror(-r));
        return 0;
}

void abox_files_free(struct abox_file *files, size_t n)
{
        for (size_t i = 0; files && i < n; i++)
                free(files[i].path);
        free(files);
}

int files_list(const struct files_root *ws, struct abox_file **ret, size_t *ret_count,
               struct abox_error *err)
{
        _cleanup_owner_ struct as_owner old = { 0 };
        int r = act_as_owner(ws, NULL, &old, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(ws->fd, &st) < 0)
                return abox_error_set(err, -errno, "the workspace: %s", strerror(errno));
        struct listing l = { 0 };
        struct walk w = { st.st_dev, "", 0, &l };
        r = each_entry(ws->fd, walk_entry, &w);
        if (r < 0) {
                abox_files_free(l.items, l.n);
                return r == -E2BIG
                               ? abox_error_set(err, r, "the workspace has more than %d entries",
                                                MAX_LIST)
                               : abox_error_set(err, r, "cannot list the workspace: %s",
                                                strerror(-r));
        }
        *ret = l.items;
        *ret_count = l.n;
        return 0;
}

int files_remove(const struct files_root *ws, const char *path, struct abox_error *err)
{
        _cleanup_owner_ struct as_owner old = { 0 };
        int r = act_as_owner(ws, path, &old, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = NULL;
        const char *leaf;
        /* (!dir: for the analyser, which cannot see that split's errors
         * are negative.) */
        if ((r = split(path, &dir, &leaf, err)) < 0 || !dir)
                return r < 0 ? r : -ENOMEM;
        _cleanup_close_ int at = open_below(ws->fd, *dir ? dir : ".", O_PATH | O_DIRECTORY, 0);
        if (at < 0)
                return path_error(err, at, path);
        struct stat st;
        if (fstatat(at, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return path_error(err, -errno, path);
        if (unlinkat(at, leaf, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                        return abox_error_set(err, -ENOTEMPTY,
                                              "'%.200s' is a directory that is not empty", path);
                return path_error(err, -errno, path);
        }
        return 0;
}
