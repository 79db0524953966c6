/* agentbox repl: one session, many cells.
 *
 * On a terminal it prompts, reads a cell (more lines follow while brackets
 * are open or a line ends in ':' or '\', until an empty line) and shows the
 * result as `agentbox python` would.  Otherwise it reads cells separated by
 * lines that hold only "%%" and runs each as soon as it is complete, so a
 * script can drive a session through a pipe; with --json every result is
 * one JSON line.  A cell whose first character is '!' is a shell command
 * (with --shell every cell is).  The exit status is the last cell's.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cell {
        char *text;
        size_t len, cap;
};

static int cell_add(struct cell *c, const char *line, size_t n)
{
        if (c->len + n + 1 > c->cap) {
                size_t cap = (c->len + n + 1) * 2;
                char *t = realloc(c->text, cap);
                if (!t)
                        return -1;
                c->text = t;
                c->cap = cap;
        }
        memcpy(c->text + c->len, line, n);
        c->len += n;
        c->text[c->len] = '\0';
        return 0;
}

static bool is_separator(const char *line, size_t n)
{
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                n--;
        return n == 2 && line[0] == '%' && line[1] == '%';
}

/* Whether a terminal cell wants more lines: open brackets or strings
 * (roughly), a block opener, or a continuation backslash. */
static bool wants_more(const struct cell *c)
{
        int depth = 0;
        char quote = 0;
        for (size_t i = 0; i < c->len; i++) {
                char ch = c->text[i];
                if (quote) {
                        if (ch == '\\')
                                i++;
                        else if (ch == quote)
                                quote = 0;
                        continue;
                }
                if (ch == '#')
                        while (i + 1 < c->len && c->text[i + 1] != '\n')
                                i++;
                else if (ch == '\'' || ch == '"')
                        quote = ch;
                else if (ch == '(' || ch == '[' || ch == '{')
                        depth++;
                else if (ch == ')' || ch == ']' || ch == '}')
                        depth--;
        }
        size_t n = c->len;
        while (n > 0 && (c->text[n - 1] == '\n' || c->text[n - 1] == ' '))
                n--;
        return depth > 0 || (n > 0 && (c->text[n - 1] == ':' || c->text[n - 1] == '\\'));
}

static int run_cell(const struct cli *cli, struct abox_session *s, const struct cell *c)
{
        size_t len = c->len;
        while (len > 0 && (c->text[len - 1] == '\n' || c->text[len - 1] == '\r'))
                len--;
        struct abox_request req = { .language = cli->shell ? ABOX_LANG_SHELL : ABOX_LANG_PYTHON,
                                    .code = c->text,
                                    .code_len = len };
        if (len > 0 && c->text[0] == '!')
                req = (struct abox_request){ .language = ABOX_LANG_SHELL,
                                             .code = c->text + 1,
                                             .code_len = len - 1 };
        struct abox_result *res = NULL;
        struct abox_error err = { 0 };
        if (abox_session_run(s, &req, &res, &err) < 0)
                return cli_fail(cli, "%s", err.msg);
        int r = cli_print_result(cli, res);
        fflush(stdout);
        abox_result_free(res);
        return r;
}

static bool blank(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
                        return false;
        return true;
}

static int loop(const struct cli *cli, struct abox_session *s)
{
        bool tty = isatty(STDIN_FILENO);
        struct cell c = { 0 };
        char *line = NULL;
        size_t cap = 0;
        int status = 0;
        for (;;) {
                if (tty) {
                        fputs(c.len ? "... " : ">>> ", stdout);
                        fflush(stdout);
                }
                ssize_t n = getline(&line, &cap, stdin);
                bool ready;
                if (n < 0) {
                        ready = !blank(c.text, c.len);
                } else if (!tty && is_separator(line, (size_t)n)) {
                        ready = !blank(c.text, c.len);
                        if (!ready)
                                c.len = 0;
                } else if (tty && blank(line, (size_t)n)) {
                        ready = c.len > 0;
                } else {
                        if (cell_add(&c, line, (size_t)n) < 0) {
                                status = cli_fail(cli, "out of memory");
                                break;
                        }
                        /* On a terminal a one-line cell runs at once. */
                        ready = tty && c.len == (size_t)n && !wants_more(&c);
                }
                if (ready) {
                        status = run_cell(cli, s, &c);
                        c.len = 0;
                }
                if (n < 0)
                        break;
        }
        if (tty)
                fputc('\n', stdout);
        free(line);
        free(c.text);
        return status;
}

int cli_repl(const struct cli *cli, struct abox_policy *p)
{
        struct abox_sessions *reg = NULL;
        struct abox_session *s = NULL;
        struct abox_error err = { 0 };
        struct abox_session_options opt = {
                .language = cli->shell ? ABOX_LANG_SHELL : ABOX_LANG_PYTHON,
                .owner = "repl",
        };
        if (abox_sessions_new(NULL, &reg, &err) < 0 ||
            abox_session_create(reg, p, &opt, &s, &err) < 0) {
                abox_sessions_free(reg);
                return cli_fail(cli, "%s", err.msg);
        }
        int status = loop(cli, s);
        abox_session_destroy(s, NULL);
        abox_session_release(s);
        abox_sessions_free(reg);
        return status;
}
