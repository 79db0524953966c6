/* POSIX shell grammar, enough to find every command word.
 *
 * Theory of operation: a tokenizer with one token of lookahead produces words
 * (already quote-removed, flagged when any part came from an expansion) and
 * operators; a recursive-descent parser walks lists, and-or lists,
 * pipelines, simple commands and the compound commands (subshell, group, if,
 * while, until, for, case), and records the word in command position of each
 * simple command.  A command substitution $(...) is parsed in place on the
 * same input, so nesting and case patterns inside it work; a backtick body is
 * unescaped and parsed as a string of its own; the body of a here-document
 * with an unquoted delimiter is scanned for substitutions the way the shell
 * expands it.  Function definitions, process substitution and anything else
 * outside POSIX sh are errors, and errors are refusals.
 */
#include "shell_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH    32
#define MAX_HEREDOCS 16
#define MAX_COMMANDS 4096

enum tok {
        T_EOF,
        T_WORD,
        T_NEWLINE,
        T_SEMI,    /* ; */
        T_AMP,     /* & */
        T_PIPE,    /* | */
        T_AND,     /* && */
        T_OR,      /* || */
        T_DSEMI,   /* ;; */
        T_LPAREN,  /* ( */
        T_RPAREN,  /* ) */
        T_REDIR,   /* < > >> <& >& <> >| */
        T_HEREDOC, /* << <<- */
};

struct word {
        char text[SHELL_MAX_WORD];
        size_t len;
        bool overflow;
        bool expanded;             /* some part is $..., `...`, a glob or ~ */
        bool quoted;               /* some part was quoted or escaped */
        bool io_number;            /* all digits and directly followed by < or > */
        size_t raw_start, raw_len; /* the word as written, in the parser's input */
};

struct token {
        enum tok kind;
        bool strip_tabs; /* <<- */
        struct word w;
};

struct heredoc {
        char delim[SHELL_MAX_WORD];
        bool quoted, strip_tabs;
};

struct parser {
        const char *s;
        size_t len, pos;
        int depth;
        bool have_peek;
        struct token peek;
        struct heredoc pending[MAX_HEREDOCS];
        int n_pending;
        struct shell_parse *out;
        bool failed;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
        if (!p->failed) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(p->out->error, sizeof p->out->error, fmt, ap);
                va_end(ap);
                p->failed = true;
        }
        return -EINVAL;
}

static int cur(const struct parser *p)
{
        return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int at(const struct parser *p, size_t off)
{
        return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static void put(struct word *w, int c)
{
        if (w->len + 1 < sizeof w->text)
                w->text[w->len++] = (char)c, w->text[w->len] = '\0';
        else
                w->overflow = true;
}

static int record(struct parser *p, const struct word *w)
{
        struct shell_parse *o = p->out;
        if (w->overflow)
                return fail(p, "a command name is longer than %d bytes", SHELL_MAX_WORD - 1);
        if (o->n >= MAX_COMMANDS)
                return fail(p, "more than %d commands", MAX_COMMANDS);
        struct shell_command *c = realloc(o->commands, (o->n + 1) * sizeof *c);
        if (!c)
                return fail(p, "out of memory");
        o->commands = c;
        memcpy(c[o->n].word, w->text, w->len + 1);
        c[o->n].expanded = w->expanded;
        o->n++;
        return 0;
}

static int parse_list(struct parser *p, enum tok end_tok, const char *const *end_words,
                      const char **ret_end);
static int read_dollar(struct parser *p, struct word *w, bool in_dquote);
static int read_backquote(struct parser *p, struct word *w, bool in_dquote);

/* Parses a string of its own (a backtick body) into the same output. */
static int parse_nested(struct parser *outer, const char *s, size_t len)
{
        if (outer->depth >= MAX_DEPTH)
                return fail(outer, "nested too deeply");
        struct parser p = { .s = s, .len = len, .depth = outer->depth + 1, .out = outer->out };
        int r = parse_list(&p, T_EOF, NULL, NULL);
        if (p.failed)
                outer->failed = true;
        return r;
}

/* Inside "..." or an unquoted here-document body: $ and ` expand, a
 * backslash escapes only $ ` " \ and newline. */
static int read_dquoted(struct parser *p, struct word *w, bool until_quote)
{
        for (;;) {
                int c = cur(p);
                if (c < 0)
                        return until_quote ? fail(p, "unterminated double quote") : 0;
                if (c == '"' && until_quote) {
                        p->pos++;
                        return 0;
                }
                if (c == '\\' && (at(p, 1) == '$' || at(p, 1) == '`' || at(p, 1) == '"' ||
                                  at(p, 1) == '\\' || at(p, 1) == '\n')) {
                        if (at(p, 1) != '\n')
                                put(w, at(p, 1));
                        p->pos += 2;
                        continue;
                }
                int r = 0;
                if (c == '$')
                        r = read_dollar(p, w, true);
                else if (c == '`')
                        r = read_backquote(p, w, true);
                else
                        put(w, c), p->pos++;
                if (r < 0)
                        return r;
        }
}

static int read_backquote(struct parser *p, struct word *w, bool in_dquote)
{
        p->pos++; /* ` */
        size_t cap = 256, n = 0;
        char *body = malloc(cap);
        if (!body)
                return fail(p, "out of memory");
        for (;;) {
                int c = cur(p);
                if (c < 0) {
                        free(body);
                        return fail(p, "unterminated backquote");
                }
                p->pos++;
                if (c == '`')
                        break;
                /* Within "...", a backquoted \" is a plain quote too. */
                if (c == '\\' && (cur(p) == '$' || cur(p) == '`' || cur(p) == '\\' ||
                                  (in_dquote && cur(p) == '"')))
                        c = cur(p), p->pos++;
                if (n + 1 >= cap) {
                        char *b = realloc(body, cap *= 2);
                        if (!b) {
                                free(body);
                                return fail(p, "out of memory");
                        }
                        body = b;
                }
                body[n++] = (char)c;
        }
        w->expanded = true;
        int r = parse_nested(p, body, n);
        free(body);
        return r;
}

/* Inside ${...} and $((...)): $ and ` still expand; anything else is
 * passed over. */
static int scan_char(struct parser *p, struct word *w, int c, bool in_dquote)
{
        if (c == '$')
                return read_dollar(p, w, in_dquote);
        if (c == '`')
                return read_backquote(p, w, in_dquote);
        p->pos++;
        return 0;
}

/* ${...}: may hold quotes, substitutions and nested braces.  Inside
 * double quotes a single quote in it is an ordinary character. */
static int read_braced(struct parser *p, struct word *w, bool in_dquote)
{
        p->pos += 2; /* ${ */
        for (;;) {
                int c = cur(p), r = 0;
                if (c < 0)
                        return fail(p, "unterminated ${");
                if (c == '}') {
                        p->pos++;
                        return 0;
                }
                if (c == '\\')
                        p->pos += 2;
                else if (c == '\'' && !in_dquote) {
                        const char *q = memchr(p->s + p->pos + 1, '\'', p->len - p->pos - 1);
                        if (!q)
                                return fail(p, "unterminated single quote");
                        p->pos = (size_t)(q - p->s) + 1;
                } else if (c == '"') {
                        struct word scratch = { 0 };
                        p->pos++;
                        r = read_dquoted(p, &scratch, true);
                } else
                        r = scan_char(p, w, c, in_dquote);
                if (r < 0)
                        return r;
        }
}

/* $((...)): arithmetic; it runs no command of its own but may hold $(...). */
static int read_arith(struct parser *p, struct word *w, bool in_dquote)
{
        int parens = 0;
        p->pos += 3; /* $(( */
        for (;;) {
                int c = cur(p), r = 0;
                if (c < 0)
                        return fail(p, "unterminated $((");
                if (c == ')' && parens == 0 && at(p, 1) == ')') {
                        p->pos += 2;
                        return 0;
                }
                if (c == '(')
                        parens++;
                else if (c == ')')
                        parens--;
                r = scan_char(p, w, c, in_dquote);
                if (r < 0)
                        return r;
        }
}

static int read_dollar(struct parser *p, struct word *w, bool in_dquote)
{
        int c = at(p, 1);
        w->expanded = true;
        if (c == '(' && at(p, 2) == '(')
                return read_arith(p, w, in_dquote);
        if (c == '(') {
                if (p->depth >= MAX_DEPTH)
                        return fail(p, "nested too deeply");
                if (p->have_peek)
                        return fail(p, "internal: lookahead across $(");
                p->pos += 2;
                p->depth++;
                int r = parse_list(p, T_RPAREN, NULL, NULL);
                p->depth--;
                return r;
        }
        if (c == '{')
                return read_braced(p, w, in_dquote);
        p->pos++;
        if (c >= 0 && strchr("@*#?-$!0123456789", c)) {
                p->pos++;
                return 0;
        }
        if (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
                while (cur(p) == '_' || (cur(p) >= 'A' && cur(p) <= 'Z') ||
                       (cur(p) >= 'a' && cur(p) <= 'z') || (cur(p) >= '0' && cur(p) <= '9'))
                        p->pos++;
                return 0;
        }
        w->expanded = false; /* a lone $ is literal */
        put(w, '$');
        return 0;
}

static bool is_meta(int c)
{
        return c < 0 || c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' ||
               c == '(' || c == ')' || c == '<' || c == '>';
}

/* '[' starts a glob only with a ']' later in the same word ("[" alone is
 * the test command). */
static bool bracket_closes(const struct parser *p)
{
        for (size_t i = p->pos + 1; i < p->len && !is_meta((unsigned char)p->s[i]); i++)
                if (p->s[i] == ']')
                        return true;
        return false;
}

static int read_word(struct parser *p, struct word *w)
{
        *w = (struct word){ 0 };
        size_t start = p->pos;
        bool all_digits = true;
        while (!is_meta(cur(p))) {
                int c = cur(p), r = 0;
                if (c == 0)
                        return fail(p, "NUL byte in the command line");
                if (c != '\\' && (c < '0' || c > '9'))
                        all_digits = false;
                if (c == '\\') {
                        if (at(p, 1) == '\n') {
                                p->pos += 2; /* line continuation */
                                continue;
                        }
                        if (at(p, 1) < 0) { /* at the very end: the shell keeps it */
                                w->quoted = true;
                                put(w, '\\');
                                p->pos++;
                                continue;
                        }
                        w->quoted = true;
                        put(w, at(p, 1));
                        p->pos += 2;
                } else if (c == '\'') {
                        const char *q = memchr(p->s + p->pos + 1, '\'', p->len - p->pos - 1);
                        if (!q)
                                return fail(p, "unterminated single quote");
                        w->quoted = true;
                        for (const char *x = p->s + p->pos + 1; x < q; x++)
                                put(w, *x);
                        p->pos = (size_t)(q - p->s) + 1;
                } else if (c == '"') {
                        w->quoted = true;
                        p->pos++;
                        r = read_dquoted(p, w, true);
                } else if (c == '$') {
                        r = read_dollar(p, w, false);
                } else if (c == '`') {
                        r = read_backquote(p, w, false);
                } else {
                        if (c == '*' || c == '?' || (c == '~' && p->pos == start) ||
                            (c == '[' && bracket_closes(p)))
                                w->expanded = true;
                        put(w, c);
                        p->pos++;
                }
                if (r < 0)
                        return r;
        }
        w->io_number = all_digits && p->pos > start && (cur(p) == '<' || cur(p) == '>');
        w->raw_start = start;
        w->raw_len = p->pos - start;
        if (w->expanded) {
                /* A word built from expansions is reported as written ($X, r$X). */
                size_t n = p->pos - start;
                w->overflow = n >= sizeof w->text;
                w->len = w->overflow ? sizeof w->text - 1 : n;
                memcpy(w->text, p->s + start, w->len);
                w->text[w->len] = '\0';
                w->overflow = false; /* the source text is only a label here */
        }
        return 0;
}

static int read_heredoc_bodies(struct parser *p)
{
        for (int i = 0; i < p->n_pending; i++) {
                const struct heredoc *h = &p->pending[i];
                size_t dlen = strlen(h->delim);
                for (;;) {
                        if (p->pos >= p->len)
                                break; /* the shell ends it at EOF too */
                        size_t line = p->pos;
                        const char *nl = memchr(p->s + line, '\n', p->len - line);
                        size_t end = nl ? (size_t)(nl - p->s) : p->len;
                        size_t text = line;
                        if (h->strip_tabs)
                                while (text < end && p->s[text] == '\t')
                                        text++;
                        p->pos = nl ? end + 1 : end;
                        if (end - text == dlen && memcmp(p->s + text, h->delim, dlen) == 0)
                                break;
                        if (!h->quoted) {
                                struct parser sub = { .s = p->s + line,
                                                      .len = end - line,
                                                      .depth = p->depth + 1,
                                                      .out = p->out };
                                struct word scratch = { 0 };
                                if (read_dquoted(&sub, &scratch, false) < 0 || sub.failed) {
                                        p->failed = true;
                                        return -EINVAL;
                                }
                        }
                }
        }
        p->n_pending = 0;
        return 0;
}

static int lex(struct parser *p, struct token *t)
{
        *t = (struct token){ 0 };
        for (;;) {
                int c = cur(p);
                if (c == ' ' || c == '\t')
                        p->pos++;
                else if (c == '\\' && at(p, 1) == '\n')
                        p->pos += 2;
                else if (c == '#')
                        while (cur(p) >= 0 && cur(p) != '\n')
                                p->pos++;
                else
                        break;
        }
        int c = cur(p), d = at(p, 1);
        static const struct {
                const char *text;
                enum tok kind;
        } ops[] = {
                { "&&", T_AND },     { "||", T_OR },    { ";;", T_DSEMI }, { "<<-", T_HEREDOC },
                { "<<", T_HEREDOC }, { ">>", T_REDIR }, { "<&", T_REDIR }, { ">&", T_REDIR },
                { "<>", T_REDIR },   { ">|", T_REDIR }, { ";", T_SEMI },   { "&", T_AMP },
                { "|", T_PIPE },     { "(", T_LPAREN }, { ")", T_RPAREN }, { "<", T_REDIR },
                { ">", T_REDIR },
        };
        if (c < 0)
                return t->kind = T_EOF, 0;
        if (c == '\n') {
                p->pos++;
                t->kind = T_NEWLINE;
                return read_heredoc_bodies(p);
        }
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
                size_t n = strlen(ops[i].text);
                if (c == ops[i].text[0] && (n < 2 || d == ops[i].text[1]) &&
                    (n < 3 || at(p, 2) == ops[i].text[2])) {
                        p->pos += n;
                        t->kind = ops[i].kind;
                        t->strip_tabs = n == 3;
                        return 0;
                }
        }
        t->kind = T_WORD;
        return read_word(p, &t->w);
}

static int peek(struct parser *p, struct token **ret)
{
        if (!p->have_peek) {
                /* Into a local first: a $(...) inside the word parses with
                 * this same parser, and its lookahead uses p->peek. */
                struct token t;
                int r = lex(p, &t);
                if (r < 0 || p->failed)
                        return r < 0 ? r : -EINVAL;
                p->peek = t;
                p->have_peek = true;
        }
        *ret = &p->peek;
        return 0;
}

static void consume(struct parser *p)
{
        p->have_peek = false;
}

static bool is_keyword(const struct token *t, const char *kw)
{
        return t->kind == T_WORD && !t->w.quoted && !t->w.expanded && strcmp(t->w.text, kw) == 0;
}

static int skip_newlines(struct parser *p)
{
        struct token *t;
        int r;
        while ((r = peek(p, &t)) == 0 && t->kind == T_NEWLINE)
                consume(p);
        return r;
}

static int expect_word(struct parser *p, const char *what, struct token **ret)
{
        int r = peek(p, ret);
        if (r < 0)
                return r;
        if ((*ret)->kind != T_WORD)
                return fail(p, "expected %s", what);
        return 0;
}

/* A here-document's delimiter is its word after quote removal only — no
 * expansion: <<"$X" ends at a line reading $X. */
static void heredoc_delim(const struct parser *p, const struct word *w, char *out, size_t len)
{
        size_t n = 0;
        const char *s = p->s + w->raw_start, *end = s + w->raw_len;
        while (s < end && n + 1 < len) {
                if (*s == '\'') {
                        for (s++; s < end && *s != '\'' && n + 1 < len; s++)
                                out[n++] = *s;
                        s++;
                } else if (*s == '"') {
                        for (s++; s < end && *s != '"' && n + 1 < len; s++) {
                                if (*s == '\\' && s + 1 < end && strchr("$`\"\\", s[1]))
                                        s++;
                                out[n++] = *s;
                        }
                        s++;
                } else if (*s == '\\' && s + 1 < end) {
                        out[n++] = s[1];
                        s += 2;
                } else {
                        out[n++] = *s++;
                }
        }
        out[n] = '\0';
}

static int parse_redirect(struct parser *p, const struct token *op)
{
        bool heredoc = op->kind == T_HEREDOC, strip = op->strip_tabs;
        consume(p);
        struct token *t;
        int r = expect_word(p, "a file name after a redirection", &t);
        if (r < 0)
                return r;
        if (heredoc) {
                if (p->n_pending >= MAX_HEREDOCS)
                        return fail(p, "too many here-documents");
                struct heredoc *h = &p->pending[p->n_pending++];
                heredoc_delim(p, &t->w, h->delim, sizeof h->delim);
                h->quoted = t->w.quoted;
                h->strip_tabs = strip;
        }
        consume(p);
        return 0;
}

/* NAME=value with NAME written plainly; the value may be quoted. */
/* The next token past any redirections (and the IO numbers before them),
 * which are parsed on the way: they may sit anywhere among a command's
 * words. */
static int peek_past_redirects(struct parser *p, struct token **ret)
{
        for (;;) {
                int r = peek(p, ret);
                if (r < 0)
                        return r;
                struct token *t = *ret;
                if (t->kind == T_REDIR || t->kind == T_HEREDOC) {
                        if ((r = parse_redirect(p, t)) < 0)
                                return r;
                } else if (t->kind == T_WORD && t->w.io_number) {
                        consume(p);
                } else {
                        return 0;
                }
        }
}

static bool is_assignment(const struct parser *p, const struct word *w)
{
        const char *s = p->s + w->raw_start, *end = s + w->raw_len;
        const char *c = s;
        for (; c < end && (*c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                           (c > s && *c >= '0' && *c <= '9'));
             c++)
                ;
        return c > s && c < end && *c == '=';
}

/* Quoting a builtin's name does not stop the shell from running it. */
static bool names(const struct word *w, const char *s)
{
        return !w->expanded && strcmp(w->text, s) == 0;
}

/* exec, command and builtin run their first operand as a command. */
static bool is_wrapper(const struct word *w)
{
        return names(w, "exec") || names(w, "command") || names(w, "builtin");
}

/* eval's operands, joined by spaces, are a command line of their own (and
 * so is trap's action); one built from expansions cannot be known and is
 * recorded as such.  first_only: trap takes one operand as its action. */
static int parse_eval_operands(struct parser *p, bool first_only)
{
        char line[4096];
        size_t n = 0;
        unsigned operands = 0; /* counted, not measured: trap '' EXIT has an empty action */
        struct word expanded = { .expanded = true };
        for (;;) {
                struct token *t;
                int r = peek_past_redirects(p, &t);
                if (r < 0)
                        return r;
                if (t->kind != T_WORD)
                        break;
                if (first_only && operands == 0 && t->w.text[0] == '-' && !t->w.expanded) {
                        consume(p); /* trap -p, trap -- */
                        continue;
                }
                if (first_only && operands++ > 0) {
                        consume(p); /* trap's signal names */
                        continue;
                }
                if (t->w.expanded) {
                        expanded.len = t->w.len;
                        memcpy(expanded.text, t->w.text, t->w.len + 1);
                }
                if (n + t->w.len + 2 >= sizeof line)
                        return fail(p, "eval's command line is too long");
                if (n)
                        line[n++] = ' ';
                memcpy(line + n, t->w.text, t->w.len);
                n += t->w.len;
                consume(p);
        }
        if (expanded.expanded && expanded.len)
                return record(p, &expanded);
        return parse_nested(p, line, n);
}

static int parse_simple(struct parser *p)
{
        bool have_command = false, wrapped = false;
        for (;;) {
                struct token *t;
                int r = peek_past_redirects(p, &t);
                if (r < 0)
                        return r;
                if (t->kind == T_WORD) {
                        if (wrapped && !(t->w.text[0] == '-' && !t->w.expanded)) {
                                if ((r = record(p, &t->w)) < 0)
                                        return r;
                                /* command exec rm, builtin command rm, command eval rm */
                                wrapped = is_wrapper(&t->w);
                                bool eval = names(&t->w, "eval"), trap = names(&t->w, "trap");
                                consume(p);
                                if ((eval || trap) && (r = parse_eval_operands(p, trap)) < 0)
                                        return r;
                                continue;
                        } else if (!have_command && !is_assignment(p, &t->w)) {
                                if ((r = record(p, &t->w)) < 0)
                                        return r;
                                have_command = true;
                                wrapped = is_wrapper(&t->w);
                                bool eval = names(&t->w, "eval"), trap = names(&t->w, "trap");
                                consume(p);
                                if ((r = peek(p, &t)) < 0)
                                        return r;
                                if (t->kind == T_LPAREN)
                                        return fail(p, "function definitions are not allowed");
                                if ((eval || trap) && (r = parse_eval_operands(p, trap)) < 0)
                                        return r;
                                continue;
                        }
                        consume(p);
                } else {
                        return 0;
                }
        }
}

/* After a compound command: optional redirections. */
static int parse_trailing_redirects(struct parser *p)
{
        struct token *t;
        return peek_past_redirects(p, &t);
}

static int parse_body(struct parser *p, const char *const *ends, const char **ret_end)
{
        const char *end = NULL;
        int r = parse_list(p, T_EOF, ends, &end);
        if (r < 0)
                return r;
        if (!end)
                return fail(p, "missing '%s'", ends[0]);
        if (ret_end)
                *ret_end = end;
        return 0;
}

static int parse_if(struct parser *p)
{
        static const char *const then_[] = { "then", NULL };
        static const char *const rest[] = { "fi", "elif", "else", NULL };
        static const char *const fi[] = { "fi", NULL };
        const char *end = "fi";
        int r;
        do {
                if ((r = parse_body(p, then_, NULL)) < 0 || (r = parse_body(p, rest, &end)) < 0)
                        return r;
        } while (strcmp(end, "elif") == 0);
        if (strcmp(end, "else") == 0)
                r = parse_body(p, fi, NULL);
        return r;
}

static int parse_loop(struct parser *p)
{
        static const char *const do_[] = { "do", NULL };
        static const char *const done[] = { "done", NULL };
        int r = parse_body(p, do_, NULL);
        return r ?: parse_body(p, done, NULL);
}

/* for NAME, case WORD: the word, then the next token past any newlines. */
static int word_then_peek(struct parser *p, const char *what, struct token **ret)
{
        int r = expect_word(p, what, ret);
        if (r < 0)
                return r;
        consume(p);
        if ((r = skip_newlines(p)) < 0)
                return r;
        return peek(p, ret);
}

static int parse_for(struct parser *p)
{
        static const char *const done[] = { "done", NULL };
        struct token *t;
        int r = word_then_peek(p, "a variable name after 'for'", &t);
        if (r < 0)
                return r;
        if (is_keyword(t, "in")) {
                consume(p);
                while ((r = peek(p, &t)) == 0 && t->kind == T_WORD)
                        consume(p); /* the words were scanned for substitutions */
                if (r < 0)
                        return r;
        }
        if (t->kind == T_SEMI || t->kind == T_NEWLINE)
                consume(p);
        if ((r = skip_newlines(p)) < 0 || (r = peek(p, &t)) < 0)
                return r;
        if (!is_keyword(t, "do"))
                return fail(p, "expected 'do' in a for loop");
        consume(p);
        return parse_body(p, done, NULL);
}

static int parse_case(struct parser *p)
{
        static const char *const item_end[] = { "esac", NULL };
        struct token *t;
        int r = word_then_peek(p, "a word after 'case'", &t);
        if (r < 0)
                return r;
        if (!is_keyword(t, "in"))
                return fail(p, "expected 'in' after 'case WORD'");
        consume(p);
        for (;;) {
                if ((r = skip_newlines(p)) < 0 || (r = peek(p, &t)) < 0)
                        return r;
                if (is_keyword(t, "esac")) {
                        consume(p);
                        return 0;
                }
                if (t->kind == T_LPAREN)
                        consume(p);
                /* patterns: word ( | word )* ) */
                for (;;) {
                        if ((r = expect_word(p, "a case pattern", &t)) < 0)
                                return r;
                        consume(p);
                        if ((r = peek(p, &t)) < 0)
                                return r;
                        if (t->kind == T_PIPE) {
                                consume(p);
                                continue;
                        }
                        if (t->kind != T_RPAREN)
                                return fail(p, "expected ')' after a case pattern");
                        consume(p);
                        break;
                }
                const char *end = NULL;
                if ((r = parse_list(p, T_DSEMI, item_end, &end)) < 0)
                        return r;
                if (end && strcmp(end, "esac") == 0)
                        return 0;
                if (!end)
                        consume(p); /* ;; */
        }
}

static int parse_compound(struct parser *p, struct token *t);

/* A command: compound or simple, by its first word.  Every compound command
 * nests a level, so hostile nesting ends in a refusal, not a stack overflow. */
static int parse_command(struct parser *p)
{
        struct token *t;
        int r = peek(p, &t);
        if (r < 0)
                return r;
        if (t->kind == T_WORD && !is_keyword(t, "{") && !is_keyword(t, "if") &&
            !is_keyword(t, "while") && !is_keyword(t, "until") && !is_keyword(t, "for") &&
            !is_keyword(t, "case"))
                return parse_simple(p);
        if (t->kind == T_REDIR || t->kind == T_HEREDOC)
                return parse_simple(p);
        if (p->depth >= MAX_DEPTH)
                return fail(p, "nested too deeply");
        p->depth++;
        r = parse_compound(p, t);
        p->depth--;
        return r ?: parse_trailing_redirects(p);
}

static int parse_compound(struct parser *p, struct token *t)
{
        static const char *const brace_end[] = { "}", NULL };
        int r;
        if (t->kind == T_LPAREN) {
                consume(p);
                r = parse_list(p, T_RPAREN, NULL, NULL);
        } else if (is_keyword(t, "{")) {
                consume(p);
                r = parse_body(p, brace_end, NULL);
        } else if (is_keyword(t, "if")) {
                consume(p);
                r = parse_if(p);
        } else if (is_keyword(t, "while") || is_keyword(t, "until")) {
                consume(p);
                r = parse_loop(p);
        } else if (is_keyword(t, "for")) {
                consume(p);
                r = parse_for(p);
        } else if (is_keyword(t, "case")) {
                consume(p);
                r = parse_case(p);
        } else {
                return fail(p, "syntax error near an operator");
        }
        return r;
}

static int parse_pipeline(struct parser *p)
{
        struct token *t;
        int r = peek(p, &t);
        if (r < 0)
                return r;
        if (is_keyword(t, "!"))
                consume(p);
        for (;;) {
                if ((r = parse_command(p)) < 0 || (r = peek(p, &t)) < 0)
                        return r;
                if (t->kind != T_PIPE)
                        return 0;
                consume(p);
                if ((r = skip_newlines(p)) < 0)
                        return r;
        }
}

static int parse_and_or(struct parser *p)
{
        for (;;) {
                struct token *t;
                int r = parse_pipeline(p);
                if (r < 0 || (r = peek(p, &t)) < 0)
                        return r;
                if (t->kind != T_AND && t->kind != T_OR)
                        return 0;
                consume(p);
                if ((r = skip_newlines(p)) < 0)
                        return r;
        }
}

static const char *ends_here(const struct token *t, const char *const *end_words)
{
        for (size_t i = 0; end_words && end_words[i]; i++)
                if (is_keyword(t, end_words[i]))
                        return end_words[i];
        return NULL;
}

/* A list up to end_tok (consumed) or one of end_words in command position
 * (consumed, returned in *ret_end). */
static int parse_list(struct parser *p, enum tok end_tok, const char *const *end_words,
                      const char **ret_end)
{
        static const char *const misplaced[] = { "then", "else", "elif", "fi", "do",
                                                 "done", "esac", "}",    "in", NULL };
        bool after_separator = true; /* as the shell: no ';' or '&' without a command */
        for (;;) {
                struct token *t;
                int r = peek(p, &t);
                if (r < 0)
                        return r;
                if (t->kind == T_SEMI || t->kind == T_AMP) {
                        if (after_separator)
                                return fail(p, "syntax error near '%s'",
                                            t->kind == T_SEMI ? ";" : "&");
                        after_separator = true;
                        consume(p);
                        continue;
                }
                if (t->kind == T_NEWLINE) {
                        after_separator = true;
                        consume(p);
                        continue;
                }
                if (t->kind == end_tok && end_tok != T_EOF) {
                        consume(p);
                        return 0;
                }
                if (t->kind == T_DSEMI && end_tok == T_DSEMI) {
                        return 0; /* the case parser consumes it */
                }
                const char *end = ends_here(t, end_words);
                if (end) {
                        consume(p);
                        if (ret_end)
                                *ret_end = end;
                        return 0;
                }
                if (t->kind == T_EOF) {
                        if (end_tok == T_RPAREN)
                                return fail(p, "missing ')'");
                        return 0; /* callers with end_words report what is missing */
                }
                if (ends_here(t, misplaced))
                        return fail(p, "unexpected '%s'", t->w.text);
                if (t->kind == T_RPAREN || t->kind == T_DSEMI)
                        return fail(p, "unexpected '%s'", t->kind == T_RPAREN ? ")" : ";;");
                if ((r = parse_and_or(p)) < 0)
                        return r;
                after_separator = false;
        }
}

int shell_parse(const char *line, size_t len, struct shell_parse *ret)
{
        *ret = (struct shell_parse){ 0 };
        if (memchr(line, '\0', len)) {
                snprintf(ret->error, sizeof ret->error, "NUL byte in the command line");
                return -EINVAL;
        }
        struct parser p = { .s = line, .len = len, .out = ret };
        int r = parse_list(&p, T_EOF, NULL, NULL);
        if (r == 0 && !p.failed && p.n_pending > 0)
                r = read_heredoc_bodies(&p);
        if (r < 0 || p.failed) {
                if (!ret->error[0])
                        snprintf(ret->error, sizeof ret->error, "cannot parse the command line");
                return -EINVAL;
        }
        return 0;
}

void shell_parse_done(struct shell_parse *p)
{
        free(p->commands);
        p->commands = NULL;
        p->n = 0;
}
