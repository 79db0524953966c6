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

#include <stddef.h>
#include <stdint.h>

/* A path a caller may name: relative, no "..", under 4 KiB.  Pure. */
int files_check_path(const char *path, struct abox_error *err);

/* Writes atomically (a temporary file, then rename), creating missing
 * directories, as uid:gid (the sandbox's user on the host): new files are
 * the sandbox's, and the host has no more rights there than it. */
int files_put(int root, uint32_t uid, uint32_t gid, const char *path, const void *data, size_t len,
              uint64_t max_bytes, struct abox_error *err);
/* The others act as uid:gid too. */
int files_get(int root, uint32_t uid, uint32_t gid, const char *path, uint64_t max_bytes,
              char **ret, size_t *ret_len, struct abox_error *err);
int files_list(int root, uint32_t uid, uint32_t gid, struct abox_file **ret, size_t *ret_count,
               struct abox_error *err);
int files_remove(int root, uint32_t uid, uint32_t gid, const char *path, struct abox_error *err);
