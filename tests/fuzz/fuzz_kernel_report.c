/* libFuzzer target: the Python kernel's JSON report (src/runtime/report.c).
 * The report is written by code inside the sandbox, so it is hostile input
 * to the supervisor.  Whatever it says, the result must still serialise to
 * valid JSON (src/core/result.c), which checks the UTF-8 sanitising too. */
#include "core/result.h"
#include "runtime/runtime.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct abox_result *r = result_new();
        if (!r)
                return 0;
        enum abox_limit hint = runtime_read_report((const char *)data, size, r);
        /* Only these two limits may be claimed from inside. */
        if (hint != ABOX_LIMIT_NONE && hint != ABOX_LIMIT_MEMORY && hint != ABOX_LIMIT_FILE_SIZE)
                abort();
        /* The same bytes as the program's output: arbitrary, not NUL-ended. */
        r->out = malloc(size ? size : 1);
        if (r->out) {
                for (size_t i = 0; i < size; i++)
                        r->out[i] = (char)data[i];
                r->out_len = size;
        }
        char *json = abox_result_json(r);
        if (json) {
                json_t *o = json_loads(json, JSON_ALLOW_NUL, NULL);
                if (!json_is_object(o))
                        abort(); /* the result must always be valid JSON */
                json_decref(o);
                free(json);
        }
        abox_result_free(r);
        return 0;
}
