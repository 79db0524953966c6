/* Workspace files, from the host, through the workspace's directory fd.
 *
 * The sandbox owns everything under /workspace and may have planted links,
 * FIFOs or deep trees there; nothing here follows a link or leaves the
 * workspace: each path is resolved with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) below the
 * workspace fd, and files are opened without blocking and checked to be
 * regular files before a byte is read. */
#pragma once

#include "agentbox.h"
#include "base/cleanup.h"

#include <stddef.h>
#include <stdint.h>

/* The workspace as the file operations see it: its directory fd, the
 * sandbox user they act as, and the size cap of one file. */
struct files_root {
        int fd;
        uint32_t uid, gid;
        uint64_t max_bytes;
};

static inline void files_root_done(struct files_root *root)
{
        root->fd = safe_close(root->fd);
}

/* A path a caller may name: relative, no "..", under 4 KiB.  Pure. */
int files_check_path(const char *path, struct abox_error *err);

/* Writes atomically (a temporary file, then rename), creating missing
 * directories, as uid:gid (the sandbox's user on the host): new files are
 * the sandbox's, and the host has no more rights there than it. */
int files_put(const struct files_root *root, const char *path, const void *data, size_t len,
              struct abox_error *err);
/* The others act as the sandbox's user too. */
int files_get(const struct files_root *root, const char *path, char **ret, size_t *ret_len,
              struct abox_error *err);
int files_list(const struct files_root *root, struct abox_file **ret, size_t *ret_count,
               struct abox_error *err);
int files_remove(const struct files_root *root, const char *path, struct abox_error *err);
/* Copies the workspace to dest, a host directory this makes (0700; it must
 * not exist): regular files and directories, never following a link (links,
 * FIFOs and the like are left out), never leaving the workspace's
 * filesystem.  The copies belong to the caller.  Bounded by the root's
 * max_bytes per file and max_total in all (apparent sizes: a sparse file
 * the code made is not blown up on the host past the disk limit). */
int files_copy_out(const struct files_root *root, const char *dest, uint64_t max_total,
                   struct abox_error *err);
