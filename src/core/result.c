/* Result accessors and the JSON form of docs/result.md.  Text from the
 * sandbox may hold any bytes; it is made valid UTF-8 (U+FFFD for each bad
 * sequence) before it reaches jansson, which insists on it. */
#include "result.h"

#include "base/cleanup.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct abox_result *result_new(void)
{
        struct abox_result *r = calloc(1, sizeof *r);
        if (r)
                r->exit_code = -1;
        return r;
}

void abox_result_free(struct abox_result *r)
{
        if (!r)
                return;
        free(r->out);
        free(r->err);
        free(r->value);
        free(r->error_type);
        free(r->error_message);
        free(r->traceback);
        for (size_t i = 0; i < r->n_violations; i++) {
                free(r->violations[i].rule);
                free(r->violations[i].target);
                free(r->violations[i].detail);
        }
        free(r->violations);
        strlist_done(&r->protections);
        free(r);
}

int result_add_violation(struct abox_result *r, const char *rule, const char *target,
                         const char *detail)
{
        struct violation *v = realloc(r->violations, (r->n_violations + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        r->violations = v;
        v[r->n_violations] = (struct violation){ strdup(rule), strdup(target), strdup(detail) };
        r->n_violations++;
        return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
        unsigned char c = s[0];
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
                n = 3;
                if (c == 0xE0)
                        lo = 0xA0;
                if (c == 0xED)
                        hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 4;
                if (c == 0xF0)
                        lo = 0x90;
                if (c == 0xF4)
                        hi = 0x8F;
        } else
                return 0;
        if (avail < n)
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
        return n;
}

char *utf8_sanitize(const char *s, size_t len, size_t *ret_len)
{
        /* Each bad byte becomes 3 bytes of U+FFFD. */
        if (len > (SIZE_MAX - 1) / 3)
                return NULL;
        char *out = malloc(len * 3 + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_seq((const unsigned char *)s + i, len - i);
                if (n == 0) {
                        memcpy(out + o, "\xEF\xBF\xBD", 3);
                        o += 3;
                        i++;
                        continue;
                }
                memcpy(out + o, s + i, n);
                o += n;
                i += n;
        }
        out[o] = '\0';
        *ret_len = o;
        return out;
}

enum abox_status abox_result_status(const struct abox_result *r)
{
        return r->status;
}

enum abox_limit abox_result_limit(const struct abox_result *r)
{
        return r->limit;
}

int abox_result_exit_code(const struct abox_result *r)
{
        return r->exit_code;
}

int abox_result_signal(const struct abox_result *r)
{
        return r->signal;
}

int abox_result_cli_status(const struct abox_result *r)
{
        switch (r->status) {
        case ABOX_STATUS_SANDBOX_ERROR: return 125;
        case ABOX_STATUS_BLOCKED: return 126;
        case ABOX_STATUS_TIMEOUT: return 124;
        default: break;
        }
        if (r->status == ABOX_STATUS_RESOURCE_EXCEEDED && r->limit == ABOX_LIMIT_MEMORY)
                return 137;
        if (r->signal > 0)
                return 128 + r->signal;
        if (r->exit_code >= 0)
                return r->exit_code & 0xff;
        return 1;
}

const char *abox_result_stdout(const struct abox_result *r, size_t *ret_len)
{
        if (ret_len)
                *ret_len = r->out_len;
        return r->out ? r->out : "";
}

const char *abox_result_stderr(const struct abox_result *r, size_t *ret_len)
{
        if (ret_len)
                *ret_len = r->err_len;
        return r->err ? r->err : "";
}

const char *abox_result_value(const struct abox_result *r)
{
        return r->value;
}

const char *abox_result_traceback(const struct abox_result *r)
{
        return r->traceback;
}

const char *abox_result_message(const struct abox_result *r)
{
        return r->message[0] ? r->message : NULL;
}

bool abox_result_state_lost(const struct abox_result *r)
{
        return r->state_lost;
}

/* jansson wants UTF-8; sandbox text is sanitised on the way in, so a failure
 * here is only ever memory. */
static json_t *text_or_null(const char *s)
{
        if (!s)
                return json_null();
        size_t n;
        _cleanup_free_ char *clean = utf8_sanitize(s, strlen(s), &n);
        return clean ? json_stringn(clean, n) : NULL;
}

static json_t *bytes_text(const char *s, size_t len)
{
        size_t n;
        _cleanup_free_ char *clean = utf8_sanitize(s ? s : "", s ? len : 0, &n);
        return clean ? json_stringn(clean, n) : NULL;
}

static json_t *result_object(const struct abox_result *r)
{
        json_t *o = json_object();
        if (!o)
                return NULL;
        json_t *violations = json_array(), *protections = json_array();
        for (size_t i = 0; violations && i < r->n_violations; i++)
                json_array_append_new(violations,
                                      json_pack("{s:o,s:o,s:o}", "rule",
                                                text_or_null(r->violations[i].rule), "target",
                                                text_or_null(r->violations[i].target), "detail",
                                                text_or_null(r->violations[i].detail)));
        for (size_t i = 0; protections && i < r->protections.n; i++)
                json_array_append_new(protections, json_string(r->protections.items[i]));
        const char *sig = r->signal > 0 ? sigabbrev_np(r->signal) : NULL;
        char signame[32] = "";
        if (sig)
                snprintf(signame, sizeof signame, "SIG%s", sig);
        json_t *error = json_null();
        if (r->error_type)
                error = json_pack("{s:o,s:o,s:o}", "type", text_or_null(r->error_type), "message",
                                  text_or_null(r->error_message ? r->error_message : ""),
                                  "traceback", text_or_null(r->traceback ? r->traceback : ""));
        json_object_set_new(o, "status", json_string(abox_status_name(r->status)));
        json_object_set_new(o, "limit",
                            r->limit ? json_string(abox_limit_name(r->limit)) : json_null());
        json_object_set_new(o, "exit_code",
                            r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
        json_object_set_new(o, "signal", sig ? json_string(signame) : json_null());
        json_object_set_new(o, "stdout", bytes_text(r->out, r->out_len));
        json_object_set_new(o, "stderr", bytes_text(r->err, r->err_len));
        json_object_set_new(o, "stdout_truncated", json_boolean(r->out_dropped > 0));
        json_object_set_new(o, "stderr_truncated", json_boolean(r->err_dropped > 0));
        json_object_set_new(o, "value", text_or_null(r->value));
        json_object_set_new(o, "error", error);
        json_object_set_new(o, "violations", violations);
        json_object_set_new(o, "redactions", json_integer(r->redactions));
        json_object_set_new(o, "time_ms", json_integer((json_int_t)r->time_ms));
        json_object_set_new(o, "cpu_ms", json_integer((json_int_t)r->cpu_ms));
        json_object_set_new(o, "memory_peak_bytes", json_integer((json_int_t)r->memory_peak_bytes));
        json_object_set_new(o, "protections", protections);
        json_object_set_new(o, "message", text_or_null(r->message[0] ? r->message : NULL));
        /* Only a session's results have state to lose. */
        if (r->in_session)
                json_object_set_new(o, "state_lost", json_boolean(r->state_lost));
        return o;
}

char *abox_result_json(const struct abox_result *r)
{
        json_t *o = result_object(r);
        if (!o)
                return NULL;
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

char *abox_error_json(const struct abox_error *e)
{
        struct abox_result *r = result_new();
        if (!r)
                return NULL;
        r->status = ABOX_STATUS_SANDBOX_ERROR;
        snprintf(r->message, sizeof r->message, "%s", e->msg);
        char *s = abox_result_json(r);
        abox_result_free(r);
        return s;
}
