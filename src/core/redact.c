/* Redaction.  Secrets first (exact values, longest first so one secret that
 * contains another is removed whole), then the credential shapes.  Each
 * shape has literal hints that must appear before its regex runs, so the
 * common case — output with no credential in it — costs a few memmem calls.
 * regexec runs with REG_STARTEND so NUL bytes in the output are no barrier. */
#include "redact.h"

#include "base/cleanup.h"
#include "base/strbuf.h"
#include "error.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATTERNS 48
#define MIN_SECRET   4 /* shorter values would redact ordinary text */

static const struct {
        const char *name;
        const char *regex;
        const char *hints[3];
} builtins[] = {
        /* Greedy from the first BEGIN to the last END: encrypted keys carry
         * headers with '-' in them, and redacting the text between two keys
         * errs on the safe side.  \\< (glibc) anchors the token shapes at the
         * start of a word, so "risk-assessment-report" is not a key. */
        { "private_key",
          "-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----.*-----END ([A-Z0-9]+ )*PRIVATE KEY-----",
          { "PRIVATE KEY-----" } },
        { "aws_access_key", "\\<(AKIA|ASIA)[0-9A-Z]{16}", { "AKIA", "ASIA" } },
        { "github_token",
          "\\<(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
          { "gh", "github_pat_" } },
        { "slack_token", "\\<xox[abposr]-[A-Za-z0-9-]{10,}", { "xox" } },
        { "anthropic_key", "\\<sk-ant-[A-Za-z0-9_-]{20,}", { "sk-ant-" } },
        { "openai_key", "\\<sk-(proj-)?[A-Za-z0-9_-]{20,}", { "sk-" } },
        { "jwt", "\\<eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}", { "eyJ" } },
};

struct pattern {
        regex_t re;
        char label[64];
        const char *const *hints; /* NULL: always run */
};

struct redactor {
        struct strlist secrets; /* values, longest first */
        struct pattern patterns[MAX_PATTERNS];
        size_t n_patterns;
};

bool redact_builtin_known(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(builtins); i++)
                if (strcmp(builtins[i].name, name) == 0)
                        return true;
        return false;
}

void redactor_free(struct redactor *rd)
{
        if (!rd)
                return;
        strlist_done(&rd->secrets);
        for (size_t i = 0; i < rd->n_patterns; i++)
                regfree(&rd->patterns[i].re);
        free(rd);
}

static int by_length_desc(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
        return la < lb ? 1 : la > lb ? -1 : 0;
}

static int add_pattern(struct redactor *rd, const char *regex, const char *label,
                       const char *const *hints, struct abox_error *err)
{
        if (rd->n_patterns >= MAX_PATTERNS)
                return abox_error_set(err, -E2BIG, "at most %d redaction patterns", MAX_PATTERNS);
        struct pattern *pt = &rd->patterns[rd->n_patterns];
        int r = regcomp(&pt->re, regex, REG_EXTENDED);
        if (r != 0) {
                char why[128];
                regerror(r, &pt->re, why, sizeof why);
                return abox_error_set(err, -EINVAL, "redact_patterns: '%s': %s", regex, why);
        }
        snprintf(pt->label, sizeof pt->label, "[REDACTED:%s]", label);
        pt->hints = hints;
        rd->n_patterns++;
        return 0;
}

int redactor_new(const struct abox_policy *p, const struct strlist *secrets, struct redactor **ret,
                 struct abox_error *err)
{
        struct redactor *rd = calloc(1, sizeof *rd);
        if (!rd)
                return abox_error_set(err, -ENOMEM, "out of memory");
        int r = 0;
        for (size_t i = 0; r == 0 && secrets && i < secrets->n; i++) {
                const char *v = strchr(secrets->items[i], '=');
                if (v && strlen(v + 1) >= MIN_SECRET && strlist_append(&rd->secrets, v + 1) < 0)
                        r = abox_error_set(err, -ENOMEM, "out of memory");
        }
        if (rd->secrets.n)
                qsort(rd->secrets.items, rd->secrets.n, sizeof *rd->secrets.items, by_length_desc);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(builtins); i++)
                if (!strlist_contains(&p->redact_disable, builtins[i].name))
                        r = add_pattern(rd, builtins[i].regex, builtins[i].name, builtins[i].hints,
                                        err);
        for (size_t i = 0; r == 0 && i < p->redact_patterns.n; i++)
                r = add_pattern(rd, p->redact_patterns.items[i], "custom", NULL, err);
        if (r < 0) {
                redactor_free(rd);
                return r;
        }
        *ret = rd;
        return 0;
}

static bool hinted(const struct pattern *pt, const char *text, size_t len)
{
        if (!pt->hints)
                return true;
        for (size_t i = 0; i < 3 && pt->hints[i]; i++)
                if (memmem(text, len, pt->hints[i], strlen(pt->hints[i])))
                        return true;
        return false;
}

/* Every occurrence of every secret, overlapping ones included, is marked
 * first and each marked run becomes one [REDACTED:secret]: two secrets that
 * overlap in the text (abcdef, defghi in abcdefghi) leave no tail behind. */
static int redact_secrets(const char *src, size_t len, const struct strlist *secrets, bool tail_cut,
                          struct strbuf *out, unsigned *count)
{
        _cleanup_free_ unsigned char *mask = calloc(len ? len : 1, 1);
        bool any = false;
        if (!mask)
                return -ENOMEM;
        for (size_t i = 0; i < secrets->n; i++) {
                const char *secret = secrets->items[i];
                size_t slen = strlen(secret);
                for (const char *hit = src;
                     (hit = memmem(hit, len - (size_t)(hit - src), secret, slen)); hit++) {
                        memset(mask + (hit - src), 1, slen);
                        any = true;
                }
                /* A cut-off output must not keep the first bytes of a secret. */
                for (size_t k = slen - 1; tail_cut && k >= MIN_SECRET; k--)
                        if (k <= len && memcmp(src + len - k, secret, k) == 0) {
                                memset(mask + len - k, 1, k);
                                any = true;
                                break;
                        }
        }
        if (!any)
                return strbuf_append(out, src, len);
        for (size_t i = 0; i < len;) {
                size_t j = i;
                while (j < len && mask[j] == mask[i])
                        j++;
                int r = mask[i] ? strbuf_append(out, "[REDACTED:secret]", 17)
                                : strbuf_append(out, src + i, j - i);
                if (r < 0)
                        return r;
                *count += mask[i];
                i = j;
        }
        return 0;
}

static int replace_pattern(const char *src, size_t len, const struct pattern *pt,
                           struct strbuf *out, unsigned *count)
{
        size_t pos = 0;
        while (pos < len) {
                regmatch_t m = { .rm_so = (regoff_t)pos, .rm_eo = (regoff_t)len };
                if (regexec(&pt->re, src, 1, &m, REG_STARTEND | (pos ? REG_NOTBOL : 0)) != 0)
                        break;
                if (m.rm_eo <= m.rm_so) { /* an empty match: step past one byte */
                        size_t next = (size_t)m.rm_so + 1;
                        if (next > len)
                                break;
                        if (strbuf_append(out, src + pos, next - pos) < 0)
                                return -ENOMEM;
                        pos = next;
                        continue;
                }
                if (strbuf_append(out, src + pos, (size_t)m.rm_so - pos) < 0 ||
                    strbuf_append(out, pt->label, strlen(pt->label)) < 0)
                        return -ENOMEM;
                (*count)++;
                pos = (size_t)m.rm_eo;
        }
        return strbuf_append(out, src + pos, len - pos);
}

char *redact(const struct redactor *rd, const char *text, size_t len, bool tail_cut,
             size_t *ret_len, unsigned *count)
{
        struct strbuf cur = { 0 };
        if (strbuf_append(&cur, text ? text : "", text ? len : 0) < 0)
                return NULL;
        if (rd && rd->secrets.n) {
                struct strbuf next = { 0 };
                if (redact_secrets(cur.data, cur.len, &rd->secrets, tail_cut, &next, count) < 0 ||
                    !next.data) {
                        strbuf_done(&next);
                        strbuf_done(&cur);
                        return NULL;
                }
                strbuf_done(&cur);
                cur = next;
        }
        for (size_t i = 0; rd && i < rd->n_patterns; i++) {
                const struct pattern *pt = &rd->patterns[i];
                if (!hinted(pt, cur.data, cur.len))
                        continue;
                struct strbuf next = { 0 };
                int r = replace_pattern(cur.data, cur.len, pt, &next, count);
                if (r < 0 || !next.data) {
                        strbuf_done(&next);
                        if (r < 0) {
                                strbuf_done(&cur);
                                return NULL;
                        }
                        continue;
                }
                strbuf_done(&cur);
                cur = next;
        }
        *ret_len = cur.len;
        return strbuf_steal(&cur);
}
