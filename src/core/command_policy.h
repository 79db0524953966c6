/* The shell command allowlist: which command lines may run at all.  The
 * kernel enforces the same list (Landlock execute rights, see
 * src/jail/execmap.c); this check gives the early, clear refusal. */
#pragma once

#include "policy.h"
#include "result.h"

/* Whether commands are restricted: allowed_commands was configured. */
bool command_policy_active(const struct abox_policy *p);
/* Adds a violation per refused command (the first one also becomes the
 * result's message); returns the number of violations, or -errno. */
int command_policy_check_shell(const struct abox_policy *p, const char *line, size_t len,
                               struct abox_result *res);
int command_policy_check_program(const struct abox_policy *p, const char *program,
                                 struct abox_result *res);
