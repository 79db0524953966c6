/* src/core/result.c: the result object every front end prints.  Its JSON
 * shape is a contract with outside callers (DESIGN.md "Result"), sandbox
 * text may hold any bytes, and the command line's exit status is derived
 * from it, so all three are pinned here.  The Python kernel's report
 * (src/runtime/report.c) is read into a result too, so it is tested here. */
#include <criterion/criterion.h>

#include "core/result.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sanitize(const char *s, size_t len, size_t *ret_len)
{
        char *out = utf8_sanitize(s, len, ret_len);
        cr_assert_not_null(out);
        cr_assert_eq(out[*ret_len], '\0', "the output is NUL-terminated");
        return out;
}

Test(utf8, valid_text_unchanged)
{
        /* ASCII, 2-, 3- and 4-byte sequences: é, €, 😀 */
        static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
        size_t n;
        char *out = sanitize(s, sizeof s - 1, &n);
        cr_assert_eq(n, sizeof s - 1);
        cr_assert_eq(memcmp(out, s, n), 0);
        free(out);
}

Test(utf8, invalid_bytes_become_replacement)
{
        static const struct {
                const char *in;
                size_t len;
                const char *want;
        } cases[] = {
                { "a\xFF"
                  "b",
                  3,
                  "a\xEF\xBF\xBD"
                  "b" },
                { "\x80", 1, "\xEF\xBF\xBD" },                 /* lone continuation */
                { "\xC3", 1, "\xEF\xBF\xBD" },                 /* truncated at the end */
                { "\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD" }, /* overlong '/' */
                { "\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* surrogate */
                { "\xF4\x90\x80\x80", 4,
                  "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* above U+10FFFF */
                { "\xE2\x82"
                  "x",
                  3,
                  "\xEF\xBF\xBD\xEF\xBF\xBD"
                  "x" }, /* cut short */
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                size_t n;
                char *out = sanitize(cases[i].in, cases[i].len, &n);
                cr_assert_eq(n, strlen(cases[i].want), "case %zu: length %zu", i, n);
                cr_assert_eq(memcmp(out, cases[i].want, n), 0, "case %zu", i);
                free(out);
        }
}

Test(utf8, nul_bytes_kept_and_empty_input)
{
        size_t n;
        char *out = sanitize("a\0b", 3, &n);
        cr_assert_eq(n, 3);
        cr_assert_eq(memcmp(out, "a\0b", 3), 0);
        free(out);
        out = sanitize("", 0, &n);
        cr_assert_eq(n, 0);
        free(out);
}

Test(utf8, worst_case_growth)
{
        /* Every byte invalid: exactly 3x, and the buffer must hold it. */
        char in[300];
        memset(in, 0xFE, sizeof in);
        size_t n;
        char *out = sanitize(in, sizeof in, &n);
        cr_assert_eq(n, 900);
        free(out);
}

/* A result with every field filled, including bytes jansson would refuse. */
static struct abox_result *full_result(void)
{
        struct abox_result *r = result_new();
        cr_assert_not_null(r);
        r->status = ABOX_STATUS_RESOURCE_EXCEEDED;
        r->limit = ABOX_LIMIT_MEMORY;
        r->exit_code = -1;
        r->signal = SIGKILL;
        r->out = strdup("hi\xFF\n");
        r->out_len = 4;
        r->err = strdup("oops\n");
        r->err_len = 5;
        r->out_dropped = 10;
        r->value = strdup("42");
        r->error_type = strdup("MemoryError");
        r->error_message = strdup("");
        r->traceback = strdup("Traceback...\n");
        cr_assert_eq(result_add_violation(r, "module", "os", "import of os is refused"), 0);
        r->redactions = 2;
        r->time_ms = 1500;
        r->cpu_ms = 1200;
        r->memory_peak_bytes = 268435456;
        cr_assert_eq(strlist_append(&r->protections, "userns"), 0);
        cr_assert_eq(strlist_append(&r->protections, "landlock:7"), 0);
        snprintf(r->message, sizeof r->message, "memory limit of 256 MB reached");
        return r;
}

static json_t *parse(char *text)
{
        cr_assert_not_null(text);
        json_error_t e;
        json_t *o = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        cr_assert_not_null(o, "not JSON (%s): %s", e.text, text);
        cr_assert(json_is_object(o));
        free(text);
        return o;
}

Test(result_json, has_every_field)
{
        static const char *const keys[] = {
                "status",  "limit",  "exit_code",         "signal",
                "stdout",  "stderr", "stdout_truncated",  "stderr_truncated",
                "value",   "error",  "violations",        "redactions",
                "time_ms", "cpu_ms", "memory_peak_bytes", "protections",
                "message",
        };
        struct abox_result *r = full_result();
        json_t *o = parse(abox_result_json(r));
        abox_result_free(r);
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
                cr_assert_not_null(json_object_get(o, keys[i]), "missing \"%s\"", keys[i]);
        cr_assert_eq(json_object_size(o), sizeof keys / sizeof *keys, "unexpected extra keys");
        json_decref(o);
}

Test(result_json, values)
{
        struct abox_result *r = full_result();
        json_t *o = parse(abox_result_json(r));
        abox_result_free(r);
        cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "resource_exceeded");
        cr_assert_str_eq(json_string_value(json_object_get(o, "limit")), "memory");
        cr_assert(json_is_null(json_object_get(o, "exit_code")), "no exit code after a signal");
        cr_assert_str_eq(json_string_value(json_object_get(o, "signal")), "SIGKILL");
        cr_assert_str_eq(json_string_value(json_object_get(o, "stdout")), "hi\xEF\xBF\xBD\n");
        cr_assert_str_eq(json_string_value(json_object_get(o, "stderr")), "oops\n");
        cr_assert(json_is_true(json_object_get(o, "stdout_truncated")));
        cr_assert(json_is_false(json_object_get(o, "stderr_truncated")));
        cr_assert_str_eq(json_string_value(json_object_get(o, "value")), "42");
        json_t *e = json_object_get(o, "error");
        cr_assert(json_is_object(e));
        cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "MemoryError");
        cr_assert_not_null(json_object_get(e, "message"));
        cr_assert_str_eq(json_string_value(json_object_get(e, "traceback")), "Traceback...\n");
        json_t *v = json_object_get(o, "violations");
        cr_assert_eq(json_array_size(v), 1);
        json_t *v0 = json_array_get(v, 0);
        cr_assert_str_eq(json_string_value(json_object_get(v0, "rule")), "module");
        cr_assert_str_eq(json_string_value(json_object_get(v0, "target")), "os");
        cr_assert_not_null(json_string_value(json_object_get(v0, "detail")));
        cr_assert_eq(json_integer_value(json_object_get(o, "redactions")), 2);
        cr_assert_eq(json_integer_value(json_object_get(o, "time_ms")), 1500);
        cr_assert_eq(json_integer_value(json_object_get(o, "cpu_ms")), 1200);
        cr_assert_eq(json_integer_value(json_object_get(o, "memory_peak_bytes")), 268435456);
        json_t *pr = json_object_get(o, "protections");
        cr_assert_eq(json_array_size(pr), 2);
        cr_assert_str_eq(json_string_value(json_array_get(pr, 1)), "landlock:7");
        cr_assert_str_eq(json_string_value(json_object_get(o, "message")),
                         "memory limit of 256 MB reached");
        json_decref(o);
}

Test(result_json, empty_result_uses_nulls)
{
        struct abox_result *r = result_new();
        r->exit_code = 0;
        json_t *o = parse(abox_result_json(r));
        abox_result_free(r);
        cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "success");
        cr_assert(json_is_null(json_object_get(o, "limit")));
        cr_assert_eq(json_integer_value(json_object_get(o, "exit_code")), 0);
        cr_assert(json_is_integer(json_object_get(o, "exit_code")));
        cr_assert(json_is_null(json_object_get(o, "signal")));
        cr_assert_str_eq(json_string_value(json_object_get(o, "stdout")), "");
        cr_assert(json_is_null(json_object_get(o, "value")));
        cr_assert(json_is_null(json_object_get(o, "error")));
        cr_assert(json_is_null(json_object_get(o, "message")));
        cr_assert_eq(json_array_size(json_object_get(o, "violations")), 0);
        cr_assert(json_is_array(json_object_get(o, "protections")));
        json_decref(o);
}

Test(result_json, stdout_with_nul_is_kept_whole)
{
        /* Output is bytes with a length; a NUL must not cut it short. */
        struct abox_result *r = result_new();
        r->out = malloc(3);
        memcpy(r->out, "a\0b", 3);
        r->out_len = 3;
        json_t *o = parse(abox_result_json(r));
        abox_result_free(r);
        cr_assert_eq(json_string_length(json_object_get(o, "stdout")), 3);
        json_decref(o);
}

Test(result_json, error_json_is_sandbox_error)
{
        struct abox_error e = { .code = -EPERM };
        snprintf(e.msg, sizeof e.msg, "required protection 'landlock' is not available");
        json_t *o = parse(abox_error_json(&e));
        cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "sandbox_error");
        cr_assert_str_eq(json_string_value(json_object_get(o, "message")), e.msg);
        cr_assert(json_is_null(json_object_get(o, "exit_code")));
        cr_assert_not_null(json_object_get(o, "protections"), "same shape as a run's result");
        json_decref(o);
}

static int cli_status(enum abox_status st, enum abox_limit lim, int code, int sig)
{
        struct abox_result *r = result_new();
        r->status = st;
        r->limit = lim;
        r->exit_code = code;
        r->signal = sig;
        int s = abox_result_cli_status(r);
        abox_result_free(r);
        return s;
}

Test(result_cli, exit_status_mapping)
{
        cr_assert_eq(cli_status(ABOX_STATUS_SUCCESS, ABOX_LIMIT_NONE, 0, 0), 0);
        cr_assert_eq(cli_status(ABOX_STATUS_ERROR, ABOX_LIMIT_NONE, 3, 0), 3, "passthrough");
        cr_assert_eq(cli_status(ABOX_STATUS_ERROR, ABOX_LIMIT_NONE, 255, 0), 255);
        cr_assert_eq(cli_status(ABOX_STATUS_TIMEOUT, ABOX_LIMIT_NONE, -1, SIGKILL), 124);
        cr_assert_eq(cli_status(ABOX_STATUS_BLOCKED, ABOX_LIMIT_NONE, -1, 0), 126);
        cr_assert_eq(cli_status(ABOX_STATUS_SANDBOX_ERROR, ABOX_LIMIT_NONE, -1, 0), 125);
        cr_assert_eq(cli_status(ABOX_STATUS_RESOURCE_EXCEEDED, ABOX_LIMIT_MEMORY, -1, SIGKILL),
                     137);
        /* A memory kill is 137 even when the kernel's report came via exit. */
        cr_assert_eq(cli_status(ABOX_STATUS_RESOURCE_EXCEEDED, ABOX_LIMIT_MEMORY, 1, 0), 137);
        cr_assert_eq(cli_status(ABOX_STATUS_ERROR, ABOX_LIMIT_NONE, -1, SIGSEGV), 128 + SIGSEGV);
        cr_assert_eq(cli_status(ABOX_STATUS_ERROR, ABOX_LIMIT_NONE, -1, SIGTERM), 128 + SIGTERM);
        cr_assert_eq(cli_status(ABOX_STATUS_RESOURCE_EXCEEDED, ABOX_LIMIT_CPU_TIME, -1, SIGXCPU),
                     128 + SIGXCPU);
}

Test(result_cli, names_match_contract)
{
        cr_assert_str_eq(abox_status_name(ABOX_STATUS_SANDBOX_ERROR), "sandbox_error");
        cr_assert_str_eq(abox_status_name(ABOX_STATUS_RESOURCE_EXCEEDED), "resource_exceeded");
        cr_assert_str_eq(abox_limit_name(ABOX_LIMIT_FILE_SIZE), "file_size");
        cr_assert_str_eq(abox_limit_name(ABOX_LIMIT_CPU_TIME), "cpu_time");
        cr_assert_null(abox_limit_name(ABOX_LIMIT_NONE));
        cr_assert_null(abox_status_name((enum abox_status)99));
}

Test(result_accessors, defaults)
{
        struct abox_result *r = result_new();
        size_t n = 99;
        cr_assert_str_eq(abox_result_stdout(r, &n), "");
        cr_assert_eq(n, 0);
        cr_assert_eq(abox_result_exit_code(r), -1);
        cr_assert_eq(abox_result_signal(r), 0);
        cr_assert_null(abox_result_value(r));
        cr_assert_null(abox_result_message(r));
        abox_result_free(r);
        abox_result_free(NULL);
}

/* ---- runtime_read_report: untrusted JSON from inside the sandbox ---- */

static struct abox_result *report(const char *text, enum abox_limit *ret_hint)
{
        struct abox_result *r = result_new();
        cr_assert_not_null(r);
        *ret_hint = runtime_read_report(text, strlen(text), r);
        return r;
}

Test(report, value_and_error)
{
        enum abox_limit hint;
        struct abox_result *r = report("{\"value\":\"1\",\"error\":null}", &hint);
        cr_assert_eq(hint, ABOX_LIMIT_NONE);
        cr_assert_str_eq(r->value, "1");
        cr_assert_null(r->error_type);
        abox_result_free(r);
        r = report("{\"value\":null,\"error\":{\"type\":\"ZeroDivisionError\","
                   "\"message\":\"division by zero\",\"traceback\":\"T\"}}",
                   &hint);
        cr_assert_null(r->value);
        cr_assert_str_eq(r->error_type, "ZeroDivisionError");
        cr_assert_str_eq(r->error_message, "division by zero");
        cr_assert_str_eq(r->traceback, "T");
        abox_result_free(r);
}

Test(report, limit_hints)
{
        enum abox_limit hint;
        abox_result_free(report("{\"limit\":\"memory\"}", &hint));
        cr_assert_eq(hint, ABOX_LIMIT_MEMORY);
        abox_result_free(report("{\"limit\":\"file_size\"}", &hint));
        cr_assert_eq(hint, ABOX_LIMIT_FILE_SIZE);
        /* The code inside must not be able to claim other limits. */
        abox_result_free(report("{\"limit\":\"pids\"}", &hint));
        cr_assert_eq(hint, ABOX_LIMIT_NONE);
        abox_result_free(report("{\"limit\":1}", &hint));
        cr_assert_eq(hint, ABOX_LIMIT_NONE);
}

Test(report, malformed_is_ignored)
{
        static const char *const bad[] = {
                "",
                "{",
                "[1,2]",
                "\"value\"",
                "null",
                "{\"value\":1}",
                "{\"value\":\"a\",\"value\":\"b\"}", /* duplicate keys are refused */
                "{\"error\":\"boom\"}",
                "{\"error\":{\"type\":5}}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                enum abox_limit hint;
                struct abox_result *r = report(bad[i], &hint);
                cr_assert_eq(hint, ABOX_LIMIT_NONE, "%s", bad[i]);
                cr_assert_null(r->value, "%s", bad[i]);
                cr_assert_null(r->error_type, "%s", bad[i]);
                abox_result_free(r);
        }
}

Test(report, text_is_sanitised)
{
        /* \udc80 is a lone surrogate: jansson refuses it, so the report is
         * dropped whole; valid escapes pass through as UTF-8. */
        enum abox_limit hint;
        struct abox_result *r = report("{\"value\":\"caf\\u00e9\"}", &hint);
        cr_assert_str_eq(r->value, "caf\xC3\xA9");
        abox_result_free(r);
        r = report("{\"value\":\"\\udc80\"}", &hint);
        cr_assert_null(r->value);
        abox_result_free(r);
}
