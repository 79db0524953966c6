/* libFuzzer target: YAML policy files (src/core/policy_yaml.c).  Policy files
 * may come from less trusted places than the binary, so any input must end
 * in a clean success or an error naming the file — never a crash, a leak
 * (run under ASan/LSan) or an unbounded recursion.  A loaded policy is also
 * duplicated and freed, which walks every owned member it may have filled. */
#include "core/policy.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct abox_policy *p = abox_policy_new();
        if (!p)
                return 0;
        struct abox_error err = { 0 };
        int r = abox_policy_load_string(p, (const char *)data, size, "fuzz.yaml", &err);
        if (r < 0) {
                /* Every refusal but out-of-memory names the file. */
                if (r != -ENOMEM && (err.code != r || strncmp(err.msg, "fuzz.yaml", 9) != 0))
                        abort();
        } else {
                struct abox_policy *copy = abox_policy_dup(p);
                if (copy)
                        (void)policy_validate(copy, &err);
                abox_policy_free(copy);
        }
        abox_policy_free(p);
        return 0;
}
