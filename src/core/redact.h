/* The output filter: secrets given to the sandbox and well-known credential
 * shapes are replaced before anything leaves ("[REDACTED:aws_access_key]").
 * Exact secret values are matched byte for byte; shapes are POSIX extended
 * regular expressions.  What it cannot catch — an encoded, split or
 * transformed secret — is said in docs/policy.md. */
#pragma once

#include "policy.h"

#include <stddef.h>

struct redactor;

/* secrets: "NAME=value" items whose values are redacted. */
int redactor_new(const struct abox_policy *p, const struct strlist *secrets, struct redactor **ret,
                 struct abox_error *err);
void redactor_free(struct redactor *rd);
/* A new buffer with every match replaced; *count grows by the number of
 * replacements.  tail_cut: the text was truncated after len bytes, so a
 * secret's beginning at the very end is redacted too. */
char *redact(const struct redactor *rd, const char *text, size_t len, bool tail_cut,
             size_t *ret_len, unsigned *count);
/* The names of the built-in shapes, for validating redact_disable. */
bool redact_builtin_known(const char *name);
