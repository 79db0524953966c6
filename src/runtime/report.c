/* The Python kernel's report: one JSON object on fd 4.  It comes from inside
 * the sandbox, so it is treated as untrusted text: size-capped by the
 * supervisor, parsed strictly, and only ever used to describe the user's own
 * code (its value and exception) — never to decide a status on its own. */
#include "runtime.h"

#include "base/cleanup.h"
#include "core/result.h"

#include <jansson.h>
#include <string.h>

static char *dup_string(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        if (!json_is_string(v))
                return NULL;
        size_t n;
        return utf8_sanitize(json_string_value(v), json_string_length(v), &n);
}

enum abox_limit runtime_read_report(const char *text, size_t len, struct abox_result *r)
{
        enum abox_limit hint = ABOX_LIMIT_NONE;
        if (len == 0)
                return hint;
        json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return hint;
        }
        r->value = dup_string(o, "value");
        json_t *e = json_object_get(o, "error");
        if (json_is_object(e)) {
                r->error_type = dup_string(e, "type");
                r->error_message = dup_string(e, "message");
                r->traceback = dup_string(e, "traceback");
        }
        json_t *v = json_object_get(o, "violations");
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
                if (i >= 100)
                        break;
                _cleanup_free_ char *rule = dup_string(item, "rule"),
                                    *target = dup_string(item, "target"),
                                    *detail = dup_string(item, "detail");
                if (rule && target && detail)
                        result_add_violation(r, rule, target, detail);
        }
        json_t *l = json_object_get(o, "limit");
        if (json_is_string(l)) {
                if (strcmp(json_string_value(l), "memory") == 0)
                        hint = ABOX_LIMIT_MEMORY;
                else if (strcmp(json_string_value(l), "file_size") == 0)
                        hint = ABOX_LIMIT_FILE_SIZE;
        }
        json_decref(o);
        return r->n_violations ? RUNTIME_HINT_BLOCKED : hint;
}
