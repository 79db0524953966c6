/* Audit log.  Each event is built whole in memory and written with one
 * write() on an O_APPEND descriptor, so concurrent writers never interleave
 * lines and a crash never damages lines already written.  Past max_size the
 * file is renamed to FILE.1 (replacing the previous one) and a new one
 * begins.  An event is "alert" level when the run came within 10 % of its
 * memory or time limit, or broke more than one rule. */
#include "audit.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CODE_HEAD_CHARS 200

static void sha256_hex(const char *data, size_t len, char out[65])
{
        struct sha256_ctx ctx;
        uint8_t digest[SHA256_DIGEST_SIZE];
        sha256_init(&ctx);
        sha256_update(&ctx, len, (const uint8_t *)data);
        sha256_digest(&ctx, sizeof digest, digest);
        for (size_t i = 0; i < sizeof digest; i++)
                snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* The first n UTF-8 characters, never cutting one in half. */
static size_t head_bytes(const char *s, size_t len, size_t n)
{
        size_t i = 0;
        while (i < len && n > 0) {
                i++;
                while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
                        i++;
                n--;
        }
        return i;
}

static const char *alert_reason(const struct abox_policy *p, const struct abox_result *res)
{
        if (res->n_violations > 1)
                return "repeated violations";
        if (res->memory_peak_bytes >= p->memory_max_bytes / 10 * 9)
                return "memory within 10% of its limit";
        if (res->time_ms >= p->timeout_ms / 10 * 9)
                return "time within 10% of its limit";
        return NULL;
}

static void timestamp(char *now, size_t len)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(now, len, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(now + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* A session's own events (created, ended, expired): no code, no result. */
static json_t *session_object(const struct audit_event *ev)
{
        char now[32];
        timestamp(now, sizeof now);
        return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "time", now, "level", "info", "event",
                         ev->event, "session", ev->session ? json_string(ev->session) : json_null(),
                         "tenant", ev->tenant ? json_string(ev->tenant) : json_null(), "reason",
                         ev->reason ? json_string(ev->reason) : json_null());
}

static json_t *event_object(const struct abox_policy *p, const struct audit_event *ev,
                            const struct abox_result *res)
{
        char now[32], sha[65];
        if (!res)
                return session_object(ev);
        timestamp(now, sizeof now);
        sha256_hex(ev->code ? ev->code : "", ev->code ? ev->code_len : 0, sha);
        size_t head =
                head_bytes(ev->code ? ev->code : "", ev->code ? ev->code_len : 0, CODE_HEAD_CHARS);
        size_t clean_len;
        _cleanup_free_ char *clean = utf8_sanitize(ev->code ? ev->code : "", head, &clean_len);
        json_t *violations = json_array();
        for (size_t i = 0; violations && i < res->n_violations; i++)
                json_array_append_new(violations,
                                      json_pack("{s:s,s:s,s:s}", "rule", res->violations[i].rule,
                                                "target", res->violations[i].target, "detail",
                                                res->violations[i].detail));
        const char *alert = alert_reason(p, res);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s%}", "time", now, "level",
                              alert ? "alert" : "info", "event", ev->event, "language",
                              ev->language, "code_sha256", sha, "code_head", clean ? clean : "",
                              clean ? clean_len : 0);
        if (!o)
                return NULL;
        json_object_set_new(o, "session", ev->session ? json_string(ev->session) : json_null());
        json_object_set_new(o, "tenant", ev->tenant ? json_string(ev->tenant) : json_null());
        json_object_set_new(o, "status", json_string(abox_status_name(res->status)));
        json_object_set_new(o, "limit",
                            res->limit ? json_string(abox_limit_name(res->limit)) : json_null());
        json_object_set_new(o, "time_ms", json_integer((json_int_t)res->time_ms));
        json_object_set_new(o, "memory_peak_bytes",
                            json_integer((json_int_t)res->memory_peak_bytes));
        json_object_set_new(o, "violations", violations ? violations : json_array());
        if (alert)
                json_object_set_new(o, "alert", json_string(alert));
        return o;
}

static int rotate_if_needed(const char *path, uint64_t max_bytes, size_t adding)
{
        struct stat st;
        if (stat(path, &st) < 0 || (uint64_t)st.st_size + adding <= max_bytes)
                return 0;
        char old[4200];
        snprintf(old, sizeof old, "%s.1", path);
        return rename(path, old) < 0 && errno != ENOENT ? -errno : 0;
}

int audit_write(const struct abox_policy *p, const struct audit_event *ev,
                const struct abox_result *res, struct abox_error *err)
{
        if (!p->audit_path)
                return 0;
        json_t *o = event_object(p, ev, res);
        _cleanup_free_ char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line)
                return abox_error_set(err, -ENOMEM, "audit: out of memory");
        size_t len = strlen(line);
        line[len] = '\n'; /* json_dumps's NUL becomes the line's end */
        if (strcmp(p->audit_path, "stderr") == 0)
                return write_all(STDERR_FILENO, line, len + 1);
        int r = rotate_if_needed(p->audit_path, p->audit_max_bytes, len + 1);
        _cleanup_close_ int fd =
                open(p->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (r < 0 || fd < 0)
                return abox_error_set(err, r < 0 ? r : -errno, "audit log: cannot write it");
        /* One write: the line lands whole or not at all, never interleaved. */
        ssize_t k = write(fd, line, len + 1);
        if (k != (ssize_t)len + 1)
                return abox_error_set(err, -EIO, "audit log: short write");
        return 0;
}
