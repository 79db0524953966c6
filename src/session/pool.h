/* The warm pool, as sessions see it. */
#pragma once

#include "agentbox.h"

struct box;

/* A warm box for a new session under policy p: *ret is NULL (and 0 is
 * returned) when the pool was built for another policy. */
int pool_take_box(struct abox_pool *pool, const struct abox_policy *p, struct box **ret,
                  struct abox_error *err);
