/* libFuzzer target: the output filter (src/core/redact.c).  Everything a
 * sandbox prints goes through it, so any output must be redacted without a
 * crash, a leak or an over-read, and what comes out must hold:
 *   - a NUL-terminated buffer of ret_len bytes;
 *   - no replacement counted means the text is unchanged;
 *   - a secret of 4 bytes or more is gone — checked when it shares no byte
 *     with the "[REDACTED:...]" labels, which could otherwise spell it;
 *   - with tail_cut, no 4-byte-or-longer beginning of it ends the output;
 *   - with every shape off and no custom pattern, the result is exactly
 *     that of a plain reference replacement.
 *
 * Input: byte 0 chooses options — bit 0 tail_cut, bit 1 every shape off,
 * bit 2 half of the shapes off, bits 3-4 a custom pattern, bit 5 a second,
 * fixed secret.  The rest is "SECRET\nTEXT": the secret up to the first
 * newline (at most 128 bytes; a NUL ends it, as in an environment value),
 * the text after it. */
#include "core/policy.h"
#include "core/redact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SECRET 4
#define LABEL      "[REDACTED:secret]"

static const char *const shapes[] = { "private_key", "aws_access_key", "github_token",
                                      "slack_token", "anthropic_key",  "openai_key",
                                      "jwt" };
static const char *const customs[] = { NULL, "[0-9]{6,}", "tok=[a-z]+", "(ab|ba)+c" };
static const char label_bytes[] = "[]:REDACTEDsecretcustomprivate_keyaws_access_keygithub_token"
                                  "slack_tokenanthropic_keyopenai_keyjwt";

static bool shares_label_byte(const char *s)
{
        for (; *s; s++)
                if (memchr(label_bytes, *s, sizeof label_bytes - 1))
                        return true;
        return false;
}

/* The plain replacement redact.c promises for one secret and no shapes:
 * every byte of every occurrence (overlapping ones too, and with tail_cut a
 * beginning of the secret that ends the text) is covered, and each maximal
 * covered run becomes one label. */
static char *reference(const char *text, size_t len, const char *secret, bool tail_cut,
                       size_t *ret_len)
{
        size_t slen = strlen(secret), n = 0;
        char *covered = calloc(len + 1, 1);
        char *out = malloc(len + (len / 2 + 1) * sizeof LABEL + 1);
        if (!covered || !out)
                abort();
        for (size_t pos = 0; pos + slen <= len; pos++)
                if (memcmp(text + pos, secret, slen) == 0)
                        memset(covered + pos, 1, slen);
        for (size_t k = slen - 1; tail_cut && k >= MIN_SECRET; k--)
                if (k <= len && memcmp(text + len - k, secret, k) == 0) {
                        memset(covered + len - k, 1, k);
                        break;
                }
        for (size_t i = 0; i < len;) {
                if (!covered[i]) {
                        out[n++] = text[i++];
                        continue;
                }
                memcpy(out + n, LABEL, sizeof LABEL - 1);
                n += sizeof LABEL - 1;
                while (i < len && covered[i])
                        i++;
        }
        free(covered);
        out[n] = '\0';
        *ret_len = n;
        return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > 1 << 16)
                return 0;
        unsigned opt = data[0];
        const char *rest = (const char *)data + 1;
        size_t rest_len = size - 1;
        const char *nl = memchr(rest, '\n', rest_len < 128 ? rest_len : 128);
        size_t secret_len = nl ? (size_t)(nl - rest) : 0;
        const char *text = nl ? nl + 1 : rest;
        size_t len = rest_len - (size_t)(text - rest);

        char item[2 + 128 + 1] = "K=";
        memcpy(item + 2, rest, secret_len);
        item[2 + secret_len] = '\0';
        const char *secret = item + 2; /* up to a NUL, like any C string */

        bool tail_cut = opt & 1, no_shapes = opt & 2, half = opt & 4, second = opt & 32;
        const char *custom = customs[(opt >> 3) & 3];

        struct abox_policy *p = abox_policy_new();
        struct abox_error err = { 0 };
        struct strlist secrets = { 0 };
        if (!p || strlist_append(&secrets, item) < 0)
                abort();
        if (second && strlist_append(&secrets, "OTHER=fixed-second-secret") < 0)
                abort();
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                if ((no_shapes || (half && i % 2)) &&
                    abox_policy_set(p, "redact_disable", shapes[i], &err) < 0)
                        abort();
        if (custom && abox_policy_set(p, "redact_patterns", custom, &err) < 0)
                abort();
        struct redactor *rd = NULL;
        if (redactor_new(p, &secrets, &rd, &err) < 0)
                abort();

        /* An exact-size copy: reading past the end is an ASan error. */
        char *in = malloc(len ? len : 1);
        if (!in)
                abort();
        memcpy(in, text, len);
        size_t out_len = 0;
        unsigned count = 0;
        char *out = redact(rd, in, len, tail_cut, &out_len, &count);
        if (!out || out[out_len] != '\0')
                abort();
        if (count == 0 && (out_len != len || memcmp(out, in, len) != 0))
                abort();
        if (count > 0 && !memmem(out, out_len, "[REDACTED:", 10))
                abort();
        size_t slen = strlen(secret);
        if (slen >= MIN_SECRET && !shares_label_byte(secret)) {
                if (memmem(out, out_len, secret, slen))
                        abort();
                if (tail_cut)
                        for (size_t k = MIN_SECRET; k < slen && k <= out_len; k++)
                                if (memcmp(out + out_len - k, secret, k) == 0)
                                        abort();
        }
        if (no_shapes && !custom && !second && slen >= MIN_SECRET) {
                size_t ref_len;
                char *ref = reference(in, len, secret, tail_cut, &ref_len);
                if (ref_len != out_len || memcmp(ref, out, out_len) != 0)
                        abort();
                free(ref);
        }
        free(out);
        free(in);
        redactor_free(rd);
        strlist_done(&secrets);
        abox_policy_free(p);
        return 0;
}
