/* Checking command words against allowed_commands.
 *
 * Every word in command position must be an allowed name, compared by
 * basename (/bin/rm is rm).  A word built from expansions ($X, $(...), globs)
 * cannot be known before it runs, so it is refused; so are eval, exec,
 * command, builtin, source and "." unless the literal word is allowed — and
 * when exec, command or builtin are allowed, the command they run is checked
 * in turn.  A command line the parser cannot parse is refused, never guessed. */
#include "command_policy.h"

#include "shell_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool command_policy_active(const struct abox_policy *p)
{
        return policy_is_set(p, "allowed_commands");
}

static const char *base_name(const char *path)
{
        const char *slash = strrchr(path, '/');
        return slash && slash[1] ? slash + 1 : path;
}

static int refuse(struct abox_result *res, const char *target, const char *detail)
{
        if (result_add_violation(res, "command", target, detail) < 0)
                return -ENOMEM;
        if (!res->message[0])
                snprintf(res->message, sizeof res->message, "Blocked: %s", detail);
        return 1;
}

static int check_word(const struct abox_policy *p, const struct shell_command *c,
                      struct abox_result *res)
{
        char detail[400];
        if (c->expanded) {
                snprintf(detail, sizeof detail,
                         "Command '%s' is built from an expansion and cannot be checked", c->word);
                return refuse(res, c->word, detail);
        }
        const char *name = base_name(c->word);
        if (strlist_contains(&p->allowed_commands, name))
                return 0;
        snprintf(detail, sizeof detail, "Command '%s' not in allowed list", name);
        return refuse(res, name, detail);
}

int command_policy_check_shell(const struct abox_policy *p, const char *line, size_t len,
                               struct abox_result *res)
{
        struct shell_parse parsed;
        if (shell_parse(line, len, &parsed) < 0) {
                char detail[300];
                snprintf(detail, sizeof detail, "cannot parse the command line: %s", parsed.error);
                shell_parse_done(&parsed);
                return refuse(res, "(command line)", detail);
        }
        int n = 0, r = 0;
        for (size_t i = 0; i < parsed.n && r >= 0; i++) {
                r = check_word(p, &parsed.commands[i], res);
                n += r > 0;
        }
        shell_parse_done(&parsed);
        return r < 0 ? r : n;
}

int command_policy_check_program(const struct abox_policy *p, const char *program,
                                 struct abox_result *res)
{
        struct shell_command c = { .expanded = false };
        snprintf(c.word, sizeof c.word, "%s", program);
        return check_word(p, &c, res);
}
