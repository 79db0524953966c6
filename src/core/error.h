#pragma once

#include "agentbox.h"

/* Records the first error's context and returns code, so that a failing call
 * reads `return abox_error_set(err, -errno, "...")`.  err may be NULL. */
int abox_error_set(struct abox_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
