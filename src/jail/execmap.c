/* Which files a sandbox may execute, when the policy restricts commands.
 *
 * A name is resolved the way the sandbox would find it: on its PATH, with
 * every symlink followed inside the sandbox's view of the system root (so
 * Debian's /usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk chain ends
 * at the file the kernel will really open).  Executing a file also opens its
 * ELF interpreter (the dynamic loader) or its #! interpreter with execute
 * rights, so those are added too.  The result is a list of sandbox paths
 * that landlock.c grants LANDLOCK_ACCESS_FS_EXECUTE on; nothing else under
 * the system directories is executable. */
#include "execmap.h"

#include "base/cleanup.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40

static int host_path(const char *root, const char *path, char *buf, size_t len)
{
        int n = snprintf(buf, len, "%s%s", root, path);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int exec_resolve_in_root(const char *root, const char *path, char *ret, size_t len)
{
        char todo[PATH_MAX], done[PATH_MAX] = "", host[PATH_MAX * 2];
        int links = 0;
        if (path[0] != '/' || strlen(path) >= sizeof todo)
                return -EINVAL;
        snprintf(todo, sizeof todo, "%s", path);
        size_t pos = 0;
        while (todo[pos]) {
                while (todo[pos] == '/')
                        pos++;
                if (!todo[pos])
                        break;
                size_t end = pos;
                while (todo[end] && todo[end] != '/')
                        end++;
                char comp[NAME_MAX + 1];
                if (end - pos > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, todo + pos, end - pos);
                comp[end - pos] = '\0';
                pos = end;
                if (strcmp(comp, ".") == 0)
                        continue;
                if (strcmp(comp, "..") == 0) {
                        char *slash = strrchr(done, '/');
                        if (slash)
                                *slash = '\0';
                        continue;
                }
                size_t dlen = strlen(done);
                if (dlen + 1 + strlen(comp) >= sizeof done)
                        return -ENAMETOOLONG;
                char candidate[PATH_MAX];
                int k = snprintf(candidate, sizeof candidate, "%s/%s", done, comp);
                if (k < 0 || (size_t)k >= sizeof candidate)
                        return -ENAMETOOLONG;
                int r = host_path(root, candidate, host, sizeof host);
                struct stat st;
                if (r < 0)
                        return r;
                if (lstat(host, &st) < 0)
                        return -errno;
                if (!S_ISLNK(st.st_mode)) {
                        memcpy(done, candidate, strlen(candidate) + 1);
                        continue;
                }
                if (++links > MAX_LINKS)
                        return -ELOOP;
                char target[PATH_MAX], rest[PATH_MAX];
                ssize_t n = readlink(host, target, sizeof target - 1);
                if (n < 0)
                        return -errno;
                target[n] = '\0';
                snprintf(rest, sizeof rest, "%s", todo + pos);
                int m = snprintf(todo, sizeof todo, "%s/%s", target, rest);
                if (m < 0 || (size_t)m >= sizeof todo)
                        return -ENAMETOOLONG;
                pos = 0;
                if (target[0] == '/')
                        done[0] = '\0';
        }
        if (strlen(done) >= len)
                return -ENAMETOOLONG;
        snprintf(ret, len, "%s", done[0] ? done : "/");
        return 0;
}

int exec_find(const char *root, const char *name, char *ret, size_t len)
{
        static const char *const path[] = { "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin",
                                            "/sbin" };
        char candidate[PATH_MAX], host[PATH_MAX * 2];
        if (strchr(name, '/'))
                return name[0] == '/' ? exec_resolve_in_root(root, name, ret, len) : -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(path); i++) {
                snprintf(candidate, sizeof candidate, "%s/%s", path[i], name);
                if (exec_resolve_in_root(root, candidate, ret, len) < 0)
                        continue;
                struct stat st;
                if (host_path(root, ret, host, sizeof host) == 0 && stat(host, &st) == 0 &&
                    S_ISREG(st.st_mode) && (st.st_mode & 0111))
                        return 0;
        }
        return -ENOENT;
}

/* The interpreter the kernel opens when executing the file: PT_INTERP of an
 * ELF file, or the #! line of a script (and, for "#!/usr/bin/env NAME",
 * NAME on PATH as the second).  Up to two; returns how many. */
int exec_interpreters(const char *root, const char *file, char ret[2][256])
{
        char host[PATH_MAX * 2], head[512];
        if (host_path(root, file, host, sizeof host) < 0)
                return 0;
        _cleanup_close_ int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0;
        ssize_t n = pread(fd, head, sizeof head - 1, 0);
        if (n < 4)
                return 0;
        head[n] = '\0';
        if (head[0] == '#' && head[1] == '!') {
                char interp[256] = "", arg[256] = "";
                if (sscanf(head + 2, " %255[^ \t\n] %255[^ \t\n]", interp, arg) < 1)
                        return 0;
                int k = exec_resolve_in_root(root, interp, ret[0], 256) == 0;
                const char *base = strrchr(interp, '/');
                if (k && base && strcmp(base, "/env") == 0 && arg[0] && arg[0] != '-')
                        k += exec_find(root, arg, ret[1], 256) == 0;
                return k;
        }
        if (memcmp(head, ELFMAG, SELFMAG) != 0 || head[EI_CLASS] != ELFCLASS64 ||
            (size_t)n < sizeof(Elf64_Ehdr))
                return 0;
        Elf64_Ehdr eh;
        memcpy(&eh, head, sizeof eh);
        for (unsigned i = 0; i < eh.e_phnum && i < 64; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * (uint64_t)eh.e_phentsize)) !=
                    sizeof ph)
                        return 0;
                if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz >= 256)
                        continue;
                char interp[256];
                if (pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
                        return 0;
                interp[ph.p_filesz] = '\0';
                return exec_resolve_in_root(root, interp, ret[0], 256) == 0;
        }
        return 0;
}

static int add_file(struct exec_map *map, const char *path)
{
        for (unsigned i = 0; i < map->n; i++)
                if (strcmp(map->files[i], path) == 0)
                        return 0;
        if (map->n >= EXEC_MAX_FILES)
                return -E2BIG;
        snprintf(map->files[map->n++], sizeof map->files[0], "%s", path);
        return 1;
}

int exec_map_add(struct exec_map *map, const char *root, const char *name)
{
        char file[256], interp[2][256];
        if (exec_find(root, name, file, sizeof file) < 0)
                return 0; /* not installed: nothing to allow */
        int r = add_file(map, file);
        if (r <= 0)
                return r;
        int k = exec_interpreters(root, file, interp);
        for (int i = 0; i < k && r >= 0; i++) {
                r = add_file(map, interp[i]);
                /* an interpreter found through env may itself be a script or ELF */
                if (r > 0) {
                        char inner[2][256];
                        int m = exec_interpreters(root, interp[i], inner);
                        for (int j = 0; j < m && r >= 0; j++)
                                r = add_file(map, inner[j]);
                }
        }
        return r < 0 ? r : 0;
}
