/* src/core/redact.c: the output filter.  Exact secret values (longest first,
 * every occurrence, NUL bytes no barrier, a cut-off beginning at the end of a
 * truncated output), the built-in credential shapes (each with a realistic
 * sample that must go and a near miss that must stay), redact_disable,
 * custom patterns, errors and the replacement count. */
#include <criterion/criterion.h>

#include "core/policy.h"
#include "core/redact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct abox_policy *p;
static struct strlist secrets;
static struct redactor *rd;
static struct abox_error err;

static void setup(void)
{
        p = abox_policy_new();
        cr_assert_not_null(p);
        secrets = (struct strlist){ 0 };
        rd = NULL;
        err = (struct abox_error){ 0 };
}

static void teardown(void)
{
        redactor_free(rd);
        strlist_done(&secrets);
        abox_policy_free(p);
}

TestSuite(redact, .init = setup, .fini = teardown);

static void add_secret(const char *item)
{
        cr_assert_eq(strlist_append(&secrets, item), 0);
}

static void set(const char *key, const char *value)
{
        cr_assert_eq(abox_policy_set(p, key, value, &err), 0, "%s=%s: %s", key, value, err.msg);
}

static void build(void)
{
        redactor_free(rd);
        rd = NULL;
        int r = redactor_new(p, &secrets, &rd, &err);
        cr_assert_eq(r, 0, "redactor_new: %d %s", r, err.msg);
        cr_assert_not_null(rd);
}

/* in[0..len) redacted must be exactly want[0..want_len) with n replacements. */
static void expect_n(const char *in, size_t len, bool tail_cut, const char *want, size_t want_len,
                     unsigned n)
{
        static char msg[8192];
        size_t out_len = 12345;
        unsigned count = 0;
        char *out = redact(rd, in, len, tail_cut, &out_len, &count);
        cr_assert_not_null(out);
        bool ok = false;
        if (out[out_len] != '\0')
                snprintf(msg, sizeof msg, "the output is not NUL-terminated");
        else if (out_len != want_len || memcmp(out, want, want_len) != 0)
                snprintf(msg, sizeof msg,
                         "redacting \"%.*s\" (tail_cut=%d) gave \"%.*s\" (%zu bytes), expected "
                         "\"%.*s\"",
                         (int)len, in, tail_cut, (int)out_len, out, out_len, (int)want_len, want);
        else if (count != n)
                snprintf(msg, sizeof msg, "\"%.*s\": %u redactions, expected %u", (int)len, in,
                         count, n);
        else
                ok = true;
        free(out); /* before asserting: a failing case must not leak under ASan */
        cr_assert(ok, "%s", msg);
}

/* C strings without NULs */
static void expect(const char *in, const char *want, unsigned n)
{
        expect_n(in, strlen(in), false, want, strlen(want), n);
}

static void unchanged(const char *in)
{
        expect(in, in, 0);
}

#define S "[REDACTED:secret]"

/* ---- secrets ---- */

Test(redact, secret_every_occurrence)
{
        add_secret("DB_PASSWORD=hunter2hunter");
        build();
        expect("password is hunter2hunter", "password is " S, 1);
        expect("hunter2hunter,hunter2hunter;x hunter2hunter", S "," S ";x " S, 3);
        expect("hunter2hunter2hunter", S, 1); /* overlapping occurrences: one span, no tail */
        unchanged("hunter2 hunter2hunte");
}

Test(redact, longest_secret_first)
{
        /* the short one first in the list: order must come from length */
        add_secret("SHORT=abcd1234");
        add_secret("LONG=abcd1234efgh");
        add_secret("MID=abcd1234ef");
        build();
        expect("abcd1234efgh and abcd1234ef and abcd1234", S " and " S " and " S, 3);
        expect("xabcd1234efghx", "x" S "x", 1);
}

Test(redact, nul_bytes_around_secret)
{
        add_secret("K=s3cr3tval");
        build();
        static const char in[] = "\0s3cr3tval\0\0s3cr3tval\0";
        static const char want[] = "\0" S "\0\0" S "\0";
        expect_n(in, sizeof in - 1, false, want, sizeof want - 1, 2);
        /* a NUL inside breaks the value: it is not the secret */
        static const char split[] = "s3cr\0"
                                    "3tval";
        expect_n(split, sizeof split - 1, false, split, sizeof split - 1, 0);
}

Test(redact, short_secrets_are_not_redacted)
{
        add_secret("A=abc");
        add_secret("B=x");
        add_secret("C=");
        add_secret("D=wxyz");
        build();
        unchanged("abc abc x y");
        expect("wxyz abc", S " abc", 1);
}

Test(redact, value_after_first_equals)
{
        add_secret("NOEQUALSSIGN");
        add_secret("K=a=bcdef");
        build();
        unchanged("NOEQUALSSIGN K=");
        expect("x a=bcdef y", "x " S " y", 1);
}

Test(redact, tail_cut_redacts_secret_prefix)
{
        add_secret("TOKEN=supersecret99");
        build();
        static const char in[] = "out: supe";
        expect_n(in, strlen(in), true, "out: " S, strlen("out: " S), 1);
        expect_n(in, strlen(in), false, in, strlen(in), 0);
        /* the longest prefix at the end: all but the last byte */
        static const char most[] = "supersecret9";
        expect_n(most, strlen(most), true, S, strlen(S), 1);
        /* fewer than 4 bytes of it are kept (ordinary text would go too) */
        static const char tiny[] = "out: sup";
        expect_n(tiny, strlen(tiny), true, tiny, strlen(tiny), 0);
        /* whole occurrences and a cut-off one */
        static const char both[] = "supersecret99 then supers";
        expect_n(both, strlen(both), true, S " then " S, strlen(S " then " S), 2);
        /* only at the very end */
        static const char mid[] = "supe rest";
        expect_n(mid, strlen(mid), true, mid, strlen(mid), 0);
}

Test(redact, secret_before_shapes)
{
        add_secret("AWS=AKIAIOSFODNN7EXAMPLE");
        build();
        expect("key AKIAIOSFODNN7EXAMPLE", "key " S, 1);
        expect("key AKIAIOSFODNN7EXAMPLF", "key [REDACTED:aws_access_key]", 1);
}

/* ---- built-in shapes ---- */

static const char pem_rsa[] = "-----BEGIN RSA PRIVATE KEY-----\n"
                              "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
                              "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
                              "-----END RSA PRIVATE KEY-----";

Test(redact, private_key)
{
        build();
        char in[1024];
        snprintf(in, sizeof in, "key:\n%s\ndone", pem_rsa);
        expect(in, "key:\n[REDACTED:private_key]\ndone", 1);
        expect("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
               "-----END PRIVATE KEY-----",
               "[REDACTED:private_key]", 1);
        expect("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n"
               "-----END OPENSSH PRIVATE KEY-----",
               "[REDACTED:private_key]", 1);
        expect("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04f\n"
               "-----END EC PRIVATE KEY-----",
               "[REDACTED:private_key]", 1);
        /* near misses: public material */
        unchanged("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
                  "-----END PUBLIC KEY-----");
        unchanged("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUF\n"
                  "-----END CERTIFICATE-----");
        unchanged("grep 'PRIVATE KEY-----' *.pem");
}

/* A legacy encrypted PEM key carries headers with '-' in them
 * (Proc-Type, DEK-Info: AES-128-CBC); it is still a private key. */
Test(redact, private_key_with_pem_headers)
{
        build();
        expect("-----BEGIN RSA PRIVATE KEY-----\n"
               "Proc-Type: 4,ENCRYPTED\n"
               "DEK-Info: AES-128-CBC,3F17F5316E2BAC89BFBDDE4D2B2E2D2A\n"
               "\n"
               "hDIrLK0Zk6Q0mqGN8c2ZsOlzwKeGMeC5HQjOzMbV9V0w3Hfg6y0MNL7yMchnYsJS\n"
               "-----END RSA PRIVATE KEY-----",
               "[REDACTED:private_key]", 1);
}

Test(redact, aws_access_key)
{
        build();
        expect("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
               "aws_access_key_id = [REDACTED:aws_access_key]\n", 1);
        expect("ASIAY34FZKBOKMUTVV7A", "[REDACTED:aws_access_key]", 1);
        expect("AKIAIOSFODNN7EXAMPLE AKIAI44QH8DHBEXAMPLE",
               "[REDACTED:aws_access_key] [REDACTED:aws_access_key]", 2);
        unchanged("AKIAIOSFODNN7EXAMP");   /* 14 after AKIA */
        unchanged("akiaiosfodnn7example"); /* lower case */
        unchanged("AKIBIOSFODNN7EXAMPLE");
        unchanged("AKIAiosfodnn7example");
}

Test(redact, github_token)
{
        build();
        expect("GITHUB_TOKEN=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",
               "GITHUB_TOKEN=[REDACTED:github_token]", 1);
        expect("gho_16C7e42F292c6912E7710c838347Ae178B4a", "[REDACTED:github_token]", 1);
        expect("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
               "[REDACTED:github_token]", 1);
        unchanged("ghp_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINU"); /* 35 */
        unchanged("ghx_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx");
        unchanged("github_pat_short");
        unchanged("git push origin gh-pages");
}

Test(redact, slack_token)
{
        build();
        expect("SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
               "SLACK=[REDACTED:slack_token]", 1);
        expect("xoxp-1234567890-abcdef", "[REDACTED:slack_token]", 1);
        unchanged("xoxz-1234567890-abcdef");
        unchanged("xoxb-12345");
}

Test(redact, anthropic_key)
{
        build();
        expect("ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD_-xy",
               "ANTHROPIC_API_KEY=[REDACTED:anthropic_key]", 1);
        expect("sk-ant-", "sk-ant-", 0);
        unchanged("sk-ant-short_key");
}

Test(redact, openai_key)
{
        build();
        expect("OPENAI_API_KEY=sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678",
               "OPENAI_API_KEY=[REDACTED:openai_key]", 1);
        expect("sk-Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx", "[REDACTED:openai_key]", 1);
        unchanged("sk-1234567890");
        unchanged("sk_Abc123Def456Ghi789Jkl012Mno345");
}

/* "sk-" inside an ordinary word is not the start of a key. */
Test(redact, openai_key_not_inside_words)
{
        build();
        unchanged("risk-assessment-report-2024");
        unchanged("mask-rcnn-resnet50-fpn-coco-2020");
}

Test(redact, jwt)
{
        build();
        expect("Authorization: Bearer "
               "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
               "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
               "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
               "Authorization: Bearer [REDACTED:jwt]", 1);
        unchanged("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"); /* two parts */
        unchanged("eyJhbGciOiJIUzI1NiJ9.payload.signature");
        unchanged("eyJ.eyJ.abc");
}

Test(redact, several_shapes_in_one_text)
{
        build();
        expect("a AKIAIOSFODNN7EXAMPLE b 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 c "
               "xoxb-1234567890-abc d",
               "a [REDACTED:aws_access_key] b [REDACTED:github_token] c [REDACTED:slack_token] d",
               3);
}

Test(redact, builtin_names_known)
{
        static const char *const names[] = { "private_key", "aws_access_key", "github_token",
                                             "slack_token", "anthropic_key",  "openai_key",
                                             "jwt" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                cr_assert(redact_builtin_known(names[i]), "%s", names[i]);
        cr_assert_not(redact_builtin_known("secret"));
        cr_assert_not(redact_builtin_known("custom"));
        cr_assert_not(redact_builtin_known(""));
        cr_assert_not(redact_builtin_known("AWS_ACCESS_KEY"));
}

/* ---- configuration ---- */

Test(redact, disable_one_shape)
{
        set("redact_disable", "aws_access_key");
        add_secret("K=AKIAIOSFODNN7EXAMPLF");
        build();
        unchanged("AKIAIOSFODNN7EXAMPLE");
        expect("AKIAIOSFODNN7EXAMPLF", S, 1); /* secrets are not a shape */
        expect("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", "[REDACTED:github_token]", 1);
}

Test(redact, disable_all_shapes)
{
        static const char *const names[] = { "private_key", "aws_access_key", "github_token",
                                             "slack_token", "anthropic_key",  "openai_key",
                                             "jwt" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                set("redact_disable", names[i]);
        build();
        char in[1024];
        snprintf(in, sizeof in,
                 "%s AKIAIOSFODNN7EXAMPLE 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 "
                 "xoxb-1234567890-abc sk-ant-api03-abcdefghijklmnopqrstuvwxyz "
                 "sk-Abc123Def456Ghi789Jkl012 eyJhbGciOi.eyJzdWIiOi.SflKxwRJSM",
                 pem_rsa);
        unchanged(in);
}

Test(redact, anthropic_disabled_falls_to_openai)
{
        set("redact_disable", "anthropic_key");
        build();
        expect("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "[REDACTED:openai_key]", 1);
}

Test(redact, custom_pattern)
{
        set("redact_patterns", "token=[a-z0-9]{8,}");
        set("redact_patterns", "internal-[0-9]+\\.corp");
        build();
        expect("auth token=abcd1234efgh ok", "auth [REDACTED:custom] ok", 1);
        expect("host internal-42.corp and internal-7.corp",
               "host [REDACTED:custom] and [REDACTED:custom]", 2);
        unchanged("token=short internal-x.corp");
        /* anchors: ^ is the start of the text only */
        set("redact_patterns", "^BEGIN");
        build();
        expect("BEGIN x BEGIN", "[REDACTED:custom] x BEGIN", 1);
}

Test(redact, custom_pattern_sees_past_nul)
{
        set("redact_patterns", "pin=[0-9]{4}");
        build();
        static const char in[] = "a\0pin=1234\0b pin=5678";
        static const char want[] = "a\0[REDACTED:custom]\0b [REDACTED:custom]";
        expect_n(in, sizeof in - 1, false, want, sizeof want - 1, 2);
}

/* A pattern that can match the empty string ([0-9]* matches "" at 0) must
 * still redact its non-empty matches further on. */
Test(redact, custom_pattern_that_can_match_empty)
{
        set("redact_patterns", "[0-9]*");
        build();
        expect("id 12345 and 678", "id [REDACTED:custom] and [REDACTED:custom]", 2);
}

Test(redact, bad_regex_is_an_error)
{
        set("redact_patterns", "ok[a-z]+");
        set("redact_patterns", "(unclosed");
        struct redactor *r = NULL;
        int ret = redactor_new(p, &secrets, &r, &err);
        cr_assert_eq(ret, -EINVAL);
        cr_assert_null(r, "no redactor on failure");
        cr_assert_eq(err.code, -EINVAL);
        cr_assert_not_null(strstr(err.msg, "redact_patterns: '(unclosed': "), "message: %s",
                           err.msg);
}

Test(redact, too_many_patterns)
{
        char re[32];
        for (int i = 0; i < 41; i++) {
                snprintf(re, sizeof re, "<pat%d>", i);
                set("redact_patterns", re);
        }
        build(); /* 7 shapes + 41 */
        expect("x <pat40> <pat0> y", "x [REDACTED:custom] [REDACTED:custom] y", 2);
        set("redact_patterns", "one_too_many");
        struct redactor *r = NULL;
        cr_assert_eq(redactor_new(p, &secrets, &r, &err), -E2BIG);
        cr_assert_null(r);
        cr_assert_str_eq(err.msg, "at most 48 redaction patterns");
}

/* ---- counting and edge inputs ---- */

Test(redact, count_accumulates)
{
        add_secret("K=correcthorse");
        build();
        unsigned count = 5;
        size_t n;
        char *out = redact(rd, "correcthorse AKIAIOSFODNN7EXAMPLE", 33, false, &n, &count);
        cr_assert_not_null(out);
        cr_assert_eq(count, 7, "two more on top of 5, got %u", count);
        free(out);
        out = redact(rd, "nothing here", 12, false, &n, &count);
        cr_assert_eq(count, 7);
        cr_assert_str_eq(out, "nothing here");
        free(out);
}

Test(redact, empty_input)
{
        add_secret("K=correcthorse");
        build();
        expect_n("", 0, false, "", 0, 0);
        expect_n("", 0, true, "", 0, 0);
        size_t n = 99;
        unsigned count = 0;
        char *out = redact(rd, NULL, 0, false, &n, &count);
        cr_assert_not_null(out, "NULL text is empty text");
        cr_assert_eq(n, 0);
        cr_assert_eq(out[0], '\0');
        free(out);
}

Test(redact, no_redactor_copies)
{
        size_t n = 0;
        unsigned count = 0;
        static const char in[] = "AKIAIOSFODNN7EXAMPLE\0x";
        char *out = redact(NULL, in, sizeof in - 1, true, &n, &count);
        cr_assert_not_null(out);
        cr_assert_eq(n, sizeof in - 1);
        cr_assert_eq(memcmp(out, in, n), 0);
        cr_assert_eq(count, 0);
        free(out);
}

Test(redact, no_secrets_list)
{
        int r = redactor_new(p, NULL, &rd, &err);
        cr_assert_eq(r, 0, "%s", err.msg);
        expect("AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws_access_key]", 1);
}

Test(redact, large_text)
{
        add_secret("K=needle-in-haystack");
        build();
        size_t len = 1 << 20;
        char *in = malloc(len);
        cr_assert_not_null(in);
        memset(in, 'a', len);
        memcpy(in + len / 2, "needle-in-haystack", 18);
        memcpy(in + len - 18, "needle-in-haystack", 18);
        size_t n;
        unsigned count = 0;
        char *out = redact(rd, in, len, false, &n, &count);
        cr_assert_not_null(out);
        cr_assert_eq(count, 2);
        cr_assert_eq(n, len - 2 * 18 + 2 * strlen(S));
        cr_assert_null(memmem(out, n, "needle", 6));
        free(out);
        free(in);
}
