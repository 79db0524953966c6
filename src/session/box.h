/* A box: one live sandbox with the session kernel waiting in it.  Sessions
 * and the warm pool are built of boxes; a box knows nothing of ids, owners,
 * clocks or locks (session.c has those) and is used by one thread at a time.
 */
#pragma once

#include "agentbox.h"

#include <stdbool.h>
#include <stdint.h>

struct box;

/* Builds the sandbox under policy p (copied) and waits for its kernel. */
int box_start(const struct abox_policy *p, struct box **ret, struct abox_error *err);
/* One execution, Python or shell.  A kernel that dies or must be killed is
 * restarted before this returns (the result says state_lost).  `once`: a
 * one-shot run from the pool — a timeout kills at once, nothing restarts,
 * the result has no session fields, and the box is broken afterwards.
 * Returns -errno only when agentbox itself failed; -ESHUTDOWN once the
 * sandbox is gone for good. */
int box_exec(struct box *b, const struct abox_request *req, const char *session_id, bool once,
             struct abox_result **ret, struct abox_error *err);
/* Kills every process of the sandbox; its workspace stays readable (for
 * a last copy) until box_free. */
void box_stop(struct box *b);
/* Kills the sandbox and releases all it held (processes, cgroup, mounts,
 * workspace, fds). */
void box_free(struct box *b);

const struct abox_policy *box_policy(const struct box *b);
/* The workspace directory (O_PATH), for the file operations. */
int box_workspace_fd(const struct box *b);
/* The owner (uid, gid) that files the sandbox may change must have. */
void box_file_owner(const struct box *b, uint32_t *uid, uint32_t *gid);
/* Whether the sandbox is gone for good (its init ended). */
bool box_broken(const struct box *b);
/* Whether an idle box's kernel is still there, waiting (a warm box can die
 * in the pool: a host OOM killer, an administrator). */
bool box_waiting(const struct box *b);
