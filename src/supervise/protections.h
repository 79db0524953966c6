/* Which protections a policy needs, which this host has, and the names a
 * result lists.  Runs and `check` share this so they cannot disagree. */
#pragma once

#include "agentbox.h"
#include "core/policy.h"
#include "jail/probe.h"

#define PROTECTIONS_MAX 20

struct protection_set {
        struct abox_protection items[PROTECTIONS_MAX];
        size_t n;
        bool want_cg[CG__MAX];
};

/* every: also the rows this policy does not need (for `check`, which shows
 * what the host could enforce); they are never required. */
void protections_evaluate(const struct abox_policy *p, const struct jail_probe *probe, bool every,
                          struct protection_set *ret);
/* -EPERM with the first missing, required protection named. */
int protections_require(const struct protection_set *set, struct abox_error *err);
bool protection_in_force(const struct protection_set *set, const char *prefix);
/* Whether the policy requires the protection named (not allowed to degrade). */
bool protection_required(const struct protection_set *set, const char *name);
