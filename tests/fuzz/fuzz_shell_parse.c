/* libFuzzer target: the shell command-line parser (src/core/shell_parse.c)
 * and the allowlist check on top of it (src/core/command_policy.c).  Command
 * lines come straight from the code a sandbox is asked to run, so any input
 * must end in a list of command words or a refusal — never a crash, a leak,
 * an over-read (the input is not NUL-terminated) or a runaway recursion.
 * Besides that, results must be consistent:
 *   - 0 or -EINVAL, with an error text exactly when refused;
 *   - every word a C string shorter than SHELL_MAX_WORD;
 *   - a NUL byte anywhere is refused;
 *   - parsing is deterministic;
 *   - the policy check refuses an unparsable line with one "(command line)"
 *     violation, and otherwise reports exactly the words that are expanded
 *     or whose basename is not on the allowlist, in order. */
#include "core/command_policy.h"
#include "core/policy.h"
#include "core/result.h"
#include "core/shell_parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const allowed[] = {
        "ls", "cat", "echo", "grep", "command", "exec", "eval", NULL
};

static const struct abox_policy *policy(void)
{
        static struct abox_policy *p;
        if (!p) {
                struct abox_error err = { 0 };
                p = abox_policy_new();
                if (!p)
                        abort();
                for (size_t i = 0; allowed[i]; i++)
                        if (abox_policy_set(p, "allowed_commands", allowed[i], &err) < 0)
                                abort();
        }
        return p;
}

static bool is_allowed(const char *word)
{
        const char *slash = strrchr(word, '/');
        const char *name = slash && slash[1] ? slash + 1 : word;
        for (size_t i = 0; allowed[i]; i++)
                if (strcmp(allowed[i], name) == 0)
                        return true;
        return false;
}

static void check_parse(const char *line, size_t size, const struct shell_parse *sp, int r)
{
        if (r != 0 && r != -EINVAL)
                abort();
        if (!memchr(sp->error, '\0', sizeof sp->error))
                abort();
        if ((r < 0) != (sp->error[0] != '\0'))
                abort(); /* an error text exactly when refused */
        if (r == 0 && memchr(line, '\0', size))
                abort(); /* a NUL byte must be refused */
        if (r == 0) {
                if (sp->n > 4096 || (sp->n && !sp->commands))
                        abort();
                for (size_t i = 0; i < sp->n; i++)
                        if (!memchr(sp->commands[i].word, '\0', SHELL_MAX_WORD))
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 1 << 20)
                return 0;
        /* An exact-size copy: reading past the end is an ASan error. */
        char *line = malloc(size ? size : 1);
        if (!line)
                return 0;
        memcpy(line, data, size);

        struct shell_parse a, b;
        int ra = shell_parse(line, size, &a);
        check_parse(line, size, &a, ra);
        int rb = shell_parse(line, size, &b);
        if (ra != rb || strcmp(a.error, b.error) != 0)
                abort();
        if (ra == 0) {
                if (a.n != b.n)
                        abort();
                for (size_t i = 0; i < a.n; i++)
                        if (strcmp(a.commands[i].word, b.commands[i].word) != 0 ||
                            a.commands[i].expanded != b.commands[i].expanded)
                                abort();
        }

        struct abox_result *res = result_new();
        if (!res)
                abort();
        int n = command_policy_check_shell(policy(), line, size, res);
        if (n < 0 || (size_t)n != res->n_violations)
                abort();
        if (n > 0 && strncmp(res->message, "Blocked: ", 9) != 0)
                abort();
        if (ra < 0) {
                if (n != 1 || strcmp(res->violations[0].target, "(command line)") != 0 ||
                    strcmp(res->violations[0].rule, "command") != 0)
                        abort();
        } else {
                size_t k = 0;
                for (size_t i = 0; i < a.n; i++) {
                        const struct shell_command *c = &a.commands[i];
                        if (!c->expanded && is_allowed(c->word))
                                continue;
                        if (k >= res->n_violations ||
                            strcmp(res->violations[k].rule, "command") != 0)
                                abort();
                        /* an expanded word is named as written, a literal one by basename */
                        const char *slash = strrchr(c->word, '/');
                        const char *name = c->expanded || !slash || !slash[1] ? c->word : slash + 1;
                        if (strcmp(res->violations[k].target, name) != 0)
                                abort();
                        k++;
                }
                if (k != res->n_violations)
                        abort();
        }
        abox_result_free(res);
        shell_parse_done(&a);
        shell_parse_done(&b);
        free(line);
        return 0;
}
