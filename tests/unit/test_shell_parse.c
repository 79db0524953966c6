/* src/core/shell_parse.c and src/core/command_policy.c: the command
 * allowlist stands or falls with the parser finding every word the shell will
 * run as a command.  Each case pins the exact list of command words (text
 * after quote removal, and whether it was built from an expansion), or that
 * the line is refused.  Missing a word is a policy bypass; an extra word is
 * only a needless refusal, so the cases lean on the ways a word can hide:
 * quoting, substitutions, here-documents, compound commands and wrappers. */
#include <criterion/criterion.h>

#include "core/command_policy.h"
#include "core/policy.h"
#include "core/result.h"
#include "core/shell_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cw {
        const char *word;
        bool expanded;
};
#define LIT(w)                                                                                     \
        {                                                                                          \
                (w), false                                                                         \
        }
#define EXP(w)                                                                                     \
        {                                                                                          \
                (w), true                                                                          \
        }

/* "[rm] [x*]": what the parser found, for failure messages. */
static const char *describe(const struct shell_parse *p)
{
        static char buf[2048];
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < p->n && off < sizeof buf; i++) {
                int k = snprintf(buf + off, sizeof buf - off, "%s[%s%s]", i ? " " : "",
                                 p->commands[i].word, p->commands[i].expanded ? " (expanded)" : "");
                if (k < 0)
                        break;
                off += (size_t)k;
        }
        return buf;
}

/* Every comparison is made, and the parse freed, before asserting: a
 * failing case must not leak under ASan. */
static void check(const char *line, size_t len, const struct cw *want, size_t n_want)
{
        static char msg[4096];
        struct shell_parse p;
        int r = shell_parse(line, len, &p);
        bool ok = false;
        if (r != 0)
                snprintf(msg, sizeof msg, "refused \"%s\": %s", line, p.error);
        else if (p.error[0])
                snprintf(msg, sizeof msg, "\"%s\": an error text on success: %s", line, p.error);
        else if (p.n != n_want)
                snprintf(msg, sizeof msg, "\"%s\": %zu command words, expected %zu; found: %s",
                         line, p.n, n_want, describe(&p));
        else {
                ok = true;
                for (size_t i = 0; ok && i < n_want; i++) {
                        if (strcmp(p.commands[i].word, want[i].word) != 0) {
                                snprintf(msg, sizeof msg,
                                         "\"%s\": word %zu is '%s', expected '%s'; found: %s", line,
                                         i, p.commands[i].word, want[i].word, describe(&p));
                                ok = false;
                        } else if (p.commands[i].expanded != want[i].expanded) {
                                snprintf(msg, sizeof msg,
                                         "\"%s\": word %zu '%s' expanded=%d, expected %d", line, i,
                                         p.commands[i].word, p.commands[i].expanded,
                                         want[i].expanded);
                                ok = false;
                        }
                }
        }
        shell_parse_done(&p);
        cr_assert(ok, "%s", msg);
        cr_assert_null(p.commands);
        cr_assert_eq(p.n, 0);
}

static void check_fails(const char *line, size_t len, const char *needle)
{
        static char msg[4096];
        struct shell_parse p;
        int r = shell_parse(line, len, &p);
        bool ok = false;
        if (r != -EINVAL)
                snprintf(msg, sizeof msg, "\"%s\" was accepted (%d), found: %s", line, r,
                         describe(&p));
        else if (!memchr(p.error, '\0', sizeof p.error))
                snprintf(msg, sizeof msg, "the error is not a C string");
        else if (!strstr(p.error, needle))
                snprintf(msg, sizeof msg, "\"%s\": error '%s' lacks '%s'", line, p.error, needle);
        else
                ok = true;
        shell_parse_done(&p);
        cr_assert(ok, "%s", msg);
}

/* Literal lines only: the length comes from the literal, so NULs count. */
#define CMDS(line, ...)                                                                            \
        do {                                                                                       \
                static const struct cw want_[] = { __VA_ARGS__ };                                  \
                check((line), sizeof(line) - 1, want_, sizeof want_ / sizeof *want_);              \
        } while (0)
#define NO_CMDS(line)       check((line), sizeof(line) - 1, NULL, 0)
#define FAILS(line, needle) check_fails((line), sizeof(line) - 1, (needle))

/* ---- words and quoting ---- */

Test(shell_parse, quote_removal_names_the_command)
{
        CMDS("r''m -rf /", LIT("rm"));
        CMDS("\"r\"m x", LIT("rm"));
        CMDS("\\rm x", LIT("rm"));
        CMDS("r\\m", LIT("rm"));
        CMDS("'r'\"m\"", LIT("rm"));
        CMDS("'a b' c", LIT("a b"));
        CMDS("a\\ b c", LIT("a b"));
        CMDS("\"ec\"'ho' hi", LIT("echo"));
        CMDS("echo 'it''s'", LIT("echo"));
        CMDS("'$(c1)' x", LIT("$(c1)"));
        CMDS("\"\\$x\"", LIT("$x"));
        CMDS("\"a\\\\b\"", LIT("a\\b"));
        CMDS("\"a\\qb\"", LIT("a\\qb")); /* \ before other chars stays in "" */
}

Test(shell_parse, quoted_reserved_words_are_plain_commands)
{
        CMDS("\"if\" x", LIT("if"));
        CMDS("\\{ x", LIT("{"));
        CMDS("'fi'", LIT("fi"));
        CMDS("echo if then fi done esac '}'", LIT("echo"));
}

Test(shell_parse, empty_and_blank_lines)
{
        NO_CMDS("");
        NO_CMDS("   \t ");
        NO_CMDS("\n\n\n");
        NO_CMDS("# just a comment");
}

/* ---- simple commands ---- */

Test(shell_parse, assignments_before_the_command)
{
        CMDS("X=1 ls", LIT("ls"));
        CMDS("X=1 Y=2 ls -l", LIT("ls"));
        CMDS("_a9=1 ls", LIT("ls"));
        NO_CMDS("X=1");
        NO_CMDS("X=1 Y=2");
        CMDS("ls X=1", LIT("ls"));
        CMDS("X=$(c1) ls", LIT("c1"), LIT("ls"));
        CMDS("X=$(c1)", LIT("c1"));
        CMDS("X=`c1` Y=$(c2)", LIT("c1"), LIT("c2"));
        /* not assignments: the word is the command */
        CMDS("9a=1 ls", LIT("9a=1"));
        CMDS("=1 ls", LIT("=1"));
        CMDS("a-b=1 ls", LIT("a-b=1"));
        CMDS("\"X\"=1 ls", LIT("X=1"));
}

/* A quoted value does not stop a word from being an assignment: only its
 * name must be unquoted.  `X="a b" rm -rf /` runs rm. */
Test(shell_parse, assignment_with_quoted_value)
{
        CMDS("X=\"1\" ls", LIT("ls"));
        CMDS("X='a b' rm -rf /", LIT("rm"));
        CMDS("X=a\\ b rm", LIT("rm"));
        CMDS("X=\"$(c1)\" c2", LIT("c1"), LIT("c2"));
}

/* An assignment's name must be literal: X$A=1 is a command word built by
 * expansion (dash runs "X<value>=1"), and what follows is its argument. */
Test(shell_parse, expansion_in_assignment_name_is_a_command)
{
        CMDS("X$A=1 ls", EXP("X$A=1"));
        CMDS("X${A}=1 ls", EXP("X${A}=1"));
        CMDS("$A=1 ls", EXP("$A=1"));
}

Test(shell_parse, redirections_are_not_commands)
{
        CMDS("ls >f 2>&1 <in", LIT("ls"));
        CMDS("3>x cmd", LIT("cmd"));
        CMDS("12>x cmd", LIT("cmd"));
        CMDS(">f ls", LIT("ls"));
        CMDS("<in cat >out", LIT("cat"));
        CMDS("ls 2>/dev/null >>log", LIT("ls"));
        CMDS("ls >&2", LIT("ls"));
        CMDS("cat <>f", LIT("cat"));
        CMDS("ls >|f", LIT("ls"));
        CMDS("cmd <&-", LIT("cmd"));
        CMDS("ls>f", LIT("ls"));
        CMDS("a2>x cmd", LIT("a2")); /* not an io number: a2 is the command */
        CMDS("ls > $(c1)", LIT("ls"), LIT("c1"));
        CMDS("> `c1` ls", LIT("c1"), LIT("ls"));
        NO_CMDS(">f");
        FAILS("ls >", "expected a file name after a redirection");
        FAILS("ls > | x", "expected a file name after a redirection");
}

/* ---- lists and pipelines ---- */

Test(shell_parse, pipelines_and_lists)
{
        CMDS("a | b | c", LIT("a"), LIT("b"), LIT("c"));
        CMDS("a |\n b", LIT("a"), LIT("b"));
        CMDS("a; b && c || d & e", LIT("a"), LIT("b"), LIT("c"), LIT("d"), LIT("e"));
        CMDS("a&&b||c", LIT("a"), LIT("b"), LIT("c"));
        CMDS("a &", LIT("a"));
        CMDS("a & b &", LIT("a"), LIT("b"));
        CMDS("a;b;", LIT("a"), LIT("b"));
        CMDS("a &&\n\n b", LIT("a"), LIT("b"));
        CMDS("a\nb\n\nc", LIT("a"), LIT("b"), LIT("c"));
        CMDS("! a | b", LIT("a"), LIT("b"));
        CMDS("a && ! b", LIT("a"), LIT("b"));
        CMDS("!a", LIT("!a"));
        FAILS("| a", "syntax error near an operator");
        FAILS("a ||", "syntax error near an operator");
        FAILS("a && && b", "syntax error near an operator");
        FAILS("a ;; b", "unexpected ';;'");
        FAILS("; a", "syntax error near ';'");
        FAILS("a; ; b", "syntax error near ';'");
        FAILS("& a", "syntax error near '&'");
        FAILS("a & ; b", "syntax error near ';'");
        FAILS("a\n;", "syntax error near ';'");
}

Test(shell_parse, subshells_and_groups)
{
        CMDS("( a; b )", LIT("a"), LIT("b"));
        CMDS("(a)|(b)", LIT("a"), LIT("b"));
        CMDS("((a) && (b))", LIT("a"), LIT("b"));
        CMDS("{ a; b; }", LIT("a"), LIT("b"));
        CMDS("{ a\n}", LIT("a"));
        CMDS("{ a; } >f 2>&1", LIT("a"));
        CMDS("( a ) 2>/dev/null | b", LIT("a"), LIT("b"));
        CMDS("a && { b; c; } || ( d )", LIT("a"), LIT("b"), LIT("c"), LIT("d"));
        CMDS("{ { a; }; }", LIT("a"));
        FAILS("( a", "missing ')'");
        FAILS("a )", "unexpected ')'");
        FAILS("{ a }", "missing '}'");
        FAILS("{a;}", "unexpected '}'");
        FAILS("a; }", "unexpected '}'");
}

/* ---- substitutions ---- */

Test(shell_parse, command_substitution_nested_three_deep)
{
        CMDS("echo $(a $(b $(c)))", LIT("echo"), LIT("a"), LIT("b"), LIT("c"));
        CMDS("$(a $(b $(c)))", LIT("a"), LIT("b"), LIT("c"), EXP("$(a $(b $(c)))"));
        CMDS("echo \"$(a \"$(b \"$(c)\")\")\"", LIT("echo"), LIT("a"), LIT("b"), LIT("c"));
        CMDS("echo $(a | b; c && d)", LIT("echo"), LIT("a"), LIT("b"), LIT("c"), LIT("d"));
        CMDS("echo $(\na\n)", LIT("echo"), LIT("a"));
        CMDS("echo $(a \")\")", LIT("echo"), LIT("a"));
        CMDS("\"$(c1)\"", LIT("c1"), EXP("\"$(c1)\""));
        CMDS("echo x$(c1)y", LIT("echo"), LIT("c1"));
        CMDS("echo $( (a) )", LIT("echo"), LIT("a"));
        FAILS("echo $(a", "missing ')'");
        FAILS("echo $(a $(b)", "missing ')'");
}

Test(shell_parse, backquotes_with_escaped_backquotes)
{
        CMDS("echo `a`", LIT("echo"), LIT("a"));
        CMDS("`a`", LIT("a"), EXP("`a`"));
        CMDS("echo `a \\`b\\` c`", LIT("echo"), LIT("a"), LIT("b"));
        /* three levels: \\\` inside \` inside ` */
        CMDS("echo `a \\`b \\\\\\`c\\\\\\`\\``", LIT("echo"), LIT("a"), LIT("b"), LIT("c"));
        CMDS("echo `a $(b)`", LIT("echo"), LIT("a"), LIT("b"));
        CMDS("echo \"`a`\"", LIT("echo"), LIT("a"));
        CMDS("echo `echo \\$x`", LIT("echo"), LIT("echo"));
        CMDS("echo '`a`'", LIT("echo"));
        CMDS("echo \\`a\\`", LIT("echo"));
        FAILS("echo `a", "unterminated backquote");
        FAILS("echo `a $(b`", "missing ')'");
}

/* In "`...`" the backslash also escapes ", so \" is a plain quote in the
 * body: "`c1 \"'\"; c2; : \"'\"`" runs c1, c2 and :. */
Test(shell_parse, backquote_in_double_quotes_unescapes_quote)
{
        CMDS("echo \"`c1 \\\"'\\\"; c2; : \\\"'\\\"`\"", LIT("echo"), LIT("c1"), LIT("c2"),
             LIT(":"));
        CMDS("echo \"`\\\"c1\\\"`\"", LIT("echo"), LIT("c1"));
}

Test(shell_parse, arithmetic_expansion)
{
        CMDS("echo $(( 1 + $(c1) ))", LIT("echo"), LIT("c1"));
        CMDS("echo $(( (1 + 2) * $(c1) ))", LIT("echo"), LIT("c1"));
        CMDS("echo $(( 1 + `c2` ))", LIT("echo"), LIT("c2"));
        CMDS("echo $(( x + y ))", LIT("echo")); /* names in $(( )) are variables */
        CMDS("echo $(( $(( 1 )) + ${x:-$(c3)} ))", LIT("echo"), LIT("c3"));
        CMDS("$((1))", EXP("$((1))"));
        FAILS("echo $(( 1 + 2", "unterminated $((");
}

Test(shell_parse, parameter_expansion)
{
        CMDS("echo ${x:-$(c1)}", LIT("echo"), LIT("c1"));
        CMDS("echo ${x:-`c1`}", LIT("echo"), LIT("c1"));
        CMDS("echo \"${x:-\"$(c1)\"}\"", LIT("echo"), LIT("c1"));
        CMDS("echo ${x:+${y:-$(c1)}}", LIT("echo"), LIT("c1"));
        CMDS("echo ${x#\\}} ; c1", LIT("echo"), LIT("c1"));
        CMDS("echo ${x:-'}'} ; c1", LIT("echo"), LIT("c1"));
        CMDS("echo ${#x} $# $? $$ $1 $@", LIT("echo"));
        /* a word built from expansions is reported as written */
        CMDS("$X", EXP("$X"));
        CMDS("${X}", EXP("${X}"));
        CMDS("${X:-ls}", EXP("${X:-ls}"));
        CMDS("a$X", EXP("a$X"));
        CMDS("r\"$X\"m", EXP("r\"$X\"m"));
        CMDS("$1", EXP("$1"));
        CMDS("$", LIT("$"));
        CMDS("a$", LIT("a$"));
        FAILS("echo ${x", "unterminated ${");
        FAILS("echo ${x:-'}", "unterminated single quote");
}

/* Inside "${...}" a single quote is an ordinary character (dash, POSIX), so
 * the first } closes the expansion and c1 is a command. */
Test(shell_parse, single_quote_in_braces_in_double_quotes_is_literal)
{
        CMDS("echo \"${x:-'}\" ; c1 ; echo \"'}\"", LIT("echo"), LIT("c1"), LIT("echo"));
}

/* ---- here-documents ---- */

Test(shell_parse, heredoc_unquoted_body_is_expanded)
{
        CMDS("cat <<EOF\nhi $(c1)\nEOF\nc2", LIT("cat"), LIT("c1"), LIT("c2"));
        CMDS("cat <<EOF\n`c1`\nEOF", LIT("cat"), LIT("c1"));
        CMDS("cat <<EOF\n${x:-$(c1)} \"$(c2)\" '$(c3)'\nEOF", LIT("cat"), LIT("c1"), LIT("c2"),
             LIT("c3"));
        CMDS("cat <<EOF\n\\$(c1) \\`c2\\`\nEOF", LIT("cat"));
        CMDS("cat << EOF\n$(c1)\nEOF\nc2", LIT("cat"), LIT("c1"), LIT("c2"));
        CMDS("cat <<EOF | c1\n$(c2)\nEOF", LIT("cat"), LIT("c1"), LIT("c2"));
        CMDS("cat <<EOF; c1\n$(c2)\nEOF\nc3", LIT("cat"), LIT("c1"), LIT("c2"), LIT("c3"));
        CMDS("cat <<EOF\n$(c1)", LIT("cat"), LIT("c1")); /* ended by the end of input */
        CMDS("echo $(cat <<EOF\n$(c1)\nEOF\n)", LIT("echo"), LIT("cat"), LIT("c1"));
}

Test(shell_parse, heredoc_quoted_delimiter_body_is_not_expanded)
{
        CMDS("cat <<'EOF'\n$(c1)\nEOF\nc2", LIT("cat"), LIT("c2"));
        CMDS("cat <<\"EOF\"\n$(c1) `c3`\nEOF\nc2", LIT("cat"), LIT("c2"));
        CMDS("cat <<E\\OF\n$(c1)\nEOF\nc2", LIT("cat"), LIT("c2"));
        CMDS("cat <<E'O'F\n$(c1)\nEOF\nc2", LIT("cat"), LIT("c2"));
        /* the body ends only at the exact delimiter */
        CMDS("cat <<'EOF'\nEOF x\n EOF\nc1\nEOF\nc2", LIT("cat"), LIT("c2"));
}

Test(shell_parse, heredoc_strip_tabs)
{
        CMDS("cat <<-EOF\n\t$(c1)\n\t\tEOF\nc2", LIT("cat"), LIT("c1"), LIT("c2"));
        /* with <<- a tab-indented delimiter ends the body: c1 runs */
        CMDS("cat <<-'EOF'\n\tEOF\nc1\nEOF", LIT("cat"), LIT("c1"), LIT("EOF"));
        /* with << it does not: c1 is body text */
        CMDS("cat <<'EOF'\n\tEOF\nc1\nEOF\nc2", LIT("cat"), LIT("c2"));
}

Test(shell_parse, heredocs_two_on_one_line)
{
        CMDS("cat <<A <<'B'\n$(c1)\nA\n$(c2)\nB\nc3", LIT("cat"), LIT("c1"), LIT("c3"));
        CMDS("cat <<'A' <<B\n$(c1)\nA\n$(c2)\nB\nc3", LIT("cat"), LIT("c2"), LIT("c3"));
        CMDS("a <<A; b <<B\nx\nA\n$(c1)\nB", LIT("a"), LIT("b"), LIT("c1"));
}

Test(shell_parse, heredoc_errors)
{
        FAILS("cat <<", "expected a file name after a redirection");
        FAILS("cat <<EOF\n$(c1\nEOF", ""); /* a substitution left open in a body line */
        char line[512] = "cat";
        for (int i = 0; i < 17; i++)
                strcat(line, " <<E");
        check_fails(line, strlen(line), "too many here-documents");
}

/* The delimiter is the word after quote removal only: "$X" is the two bytes
 * $X, not an expansion.  Lines after the real delimiter are commands. */
Test(shell_parse, heredoc_delimiter_with_dollar_is_literal)
{
        CMDS("cat <<$X\n$X\nc2", LIT("cat"), LIT("c2"));
        CMDS("cat <<\"$X\"\n$X\nc2", LIT("cat"), LIT("c2"));
        CMDS("cat <<E${X}\nE${X}\nc2", LIT("cat"), LIT("c2"));
}

/* ---- compound commands ---- */

Test(shell_parse, if_elif_else)
{
        CMDS("if a; then b; elif c; then d; else e; fi", LIT("a"), LIT("b"), LIT("c"), LIT("d"),
             LIT("e"));
        CMDS("if a\nthen\n b\nelif c\nthen d\nelse\n e\nfi", LIT("a"), LIT("b"), LIT("c"), LIT("d"),
             LIT("e"));
        CMDS("if a; then b; fi; c", LIT("a"), LIT("b"), LIT("c"));
        CMDS("if a; then b; fi >out 2>&1 | c", LIT("a"), LIT("b"), LIT("c"));
        CMDS("if ! a && b; then :; fi", LIT("a"), LIT("b"), LIT(":"));
        CMDS("if if a; then b; fi; then c; fi", LIT("a"), LIT("b"), LIT("c"));
        FAILS("if a; then b", "missing 'fi'");
        FAILS("if a; fi", "unexpected 'fi'");
        FAILS("if a; then b; else c; elif d; then e; fi", "unexpected 'elif'");
        FAILS("fi", "unexpected 'fi'");
        FAILS("a; then b", "unexpected 'then'");
}

Test(shell_parse, while_until)
{
        CMDS("while a; do b; done", LIT("a"), LIT("b"));
        CMDS("until a; do b; done", LIT("a"), LIT("b"));
        CMDS("while a\ndo\n b\ndone", LIT("a"), LIT("b"));
        CMDS("a | while read x; do b \"$x\"; done", LIT("a"), LIT("read"), LIT("b"));
        CMDS("while a; do b; done | c", LIT("a"), LIT("b"), LIT("c"));
        CMDS("while $(a); do break; done", LIT("a"), EXP("$(a)"), LIT("break"));
        FAILS("while a; do b", "missing 'done'");
        FAILS("while a; b; done", "unexpected 'done'");
        FAILS("done", "unexpected 'done'");
}

Test(shell_parse, for_loops)
{
        CMDS("for x in $(a); do b; done", LIT("a"), LIT("b"));
        CMDS("for x in `a` $(b); do c; done", LIT("a"), LIT("b"), LIT("c"));
        CMDS("for x in 1 2 3; do b $x; done", LIT("b"));
        CMDS("for x; do b; done", LIT("b"));
        CMDS("for x do b; done", LIT("b"));
        CMDS("for x\ndo b\ndone", LIT("b"));
        CMDS("for x in a b\ndo c; done", LIT("c"));
        CMDS("for x in; do b; done", LIT("b"));
        CMDS("for x in do; do b; done", LIT("b"));
        CMDS("for f in *.c; do cc -c \"$f\"; done", LIT("cc"));
        FAILS("for x in a; b; done", "expected 'do' in a for loop");
        FAILS("for ; do b; done", "expected a variable name after 'for'");
        FAILS("for x in a; do b", "missing 'done'");
}

Test(shell_parse, case_patterns)
{
        CMDS("case $x in (a|b) c1;; x) c2;; esac", LIT("c1"), LIT("c2"));
        CMDS("case x in\n a) c1 ;;\n *) c2\nesac", LIT("c1"), LIT("c2"));
        CMDS("case x in a|b|c) c1; c2 ;; esac", LIT("c1"), LIT("c2"));
        CMDS("case x in (x) c1; esac", LIT("c1"));
        CMDS("case x in a) ;; b) c1 ;; esac", LIT("c1"));
        CMDS("case $(c0) in *) c1;; esac", LIT("c0"), LIT("c1"));
        CMDS("case x in $(c0)) c1;; esac", LIT("c0"), LIT("c1"));
        CMDS("case x in esac", );
        CMDS("case x in x) c1;; esac; c2", LIT("c1"), LIT("c2"));
        CMDS("echo $(case x in a) c1;; esac)", LIT("echo"), LIT("c1"));
        CMDS("echo $(case x in (a) c1;; esac)", LIT("echo"), LIT("c1"));
        CMDS("case x in x) case y in y) c1;; esac;; esac", LIT("c1"));
        FAILS("case x a) ;; esac", "expected 'in' after 'case WORD'");
        FAILS("case x in a c1;; esac", "expected ')' after a case pattern");
        FAILS("case x in a) c1;;", "");
        FAILS("esac", "unexpected 'esac'");
}

/* ---- comments and line continuations ---- */

Test(shell_parse, comments)
{
        CMDS("a # b; c", LIT("a"));
        CMDS("a #b\nc", LIT("a"), LIT("c"));
        CMDS("a#b", LIT("a#b"));
        CMDS("a # $(c1) `c2`", LIT("a"));
        CMDS("a \\# b", LIT("a"));
        CMDS("a;#b\nc", LIT("a"), LIT("c"));
        CMDS("echo $(a # )\n)", LIT("echo"), LIT("a"));
        CMDS("a # x \\\nc2", LIT("a"), LIT("c2")); /* a comment does not continue */
        CMDS("echo '#' ; b", LIT("echo"), LIT("b"));
}

Test(shell_parse, line_continuations)
{
        CMDS("l\\\ns", LIT("ls"));
        CMDS("a \\\n&& b", LIT("a"), LIT("b"));
        CMDS("a \\\n b", LIT("a"));
        CMDS("\\\na", LIT("a"));
        CMDS("\"a\\\nb\"", LIT("ab"));
        CMDS("'a\\\nb'", LIT("a\\\nb"));
        CMDS("a \\", LIT("a")); /* dash keeps a backslash at the very end */
}

/* ---- wrappers ---- */

Test(shell_parse, exec_command_builtin_wrappers)
{
        CMDS("exec rm", LIT("exec"), LIT("rm"));
        CMDS("command rm -rf x", LIT("command"), LIT("rm"));
        CMDS("builtin cd /", LIT("builtin"), LIT("cd"));
        CMDS("command -p ls", LIT("command"), LIT("ls"));
        CMDS("exec -- rm", LIT("exec"), LIT("rm"));
        CMDS("exec 2>&1 rm", LIT("exec"), LIT("rm"));
        CMDS("exec >f 3<&0 rm", LIT("exec"), LIT("rm"));
        CMDS("exec >f", LIT("exec"));
        CMDS("X=1 exec rm", LIT("exec"), LIT("rm"));
        CMDS("exec $X", LIT("exec"), EXP("$X"));
        CMDS("ls exec rm", LIT("ls"));
}

/* eval's operands are a command line of their own. */
Test(shell_parse, eval_operands_are_parsed)
{
        CMDS("eval rm", LIT("eval"), LIT("rm"));
        CMDS("eval \"c1; c2\" c3", LIT("eval"), LIT("c1"), LIT("c2"));
        CMDS("eval 'a | b && c'", LIT("eval"), LIT("a"), LIT("b"), LIT("c"));
        CMDS("eval eval c1", LIT("eval"), LIT("eval"), LIT("c1"));
        CMDS("eval 'echo $(c1)'", LIT("eval"), LIT("echo"), LIT("c1"));
        CMDS("eval $X", LIT("eval"), EXP("$X"));
        CMDS("eval \"$(c1)\"", LIT("eval"), LIT("c1"), EXP("\"$(c1)\""));
        CMDS("eval", LIT("eval"));
        CMDS("eval c1 >/dev/null", LIT("eval"), LIT("c1"));
        FAILS("eval 'f() { a; }'", "function definitions are not allowed");
        FAILS("eval \"'\"", "unterminated single quote");
}

/* Redirections may come before eval's operands: `eval >/dev/null rm` runs
 * rm; so does an eval run by command. */
Test(shell_parse, eval_operands_after_a_redirection)
{
        CMDS("eval >/dev/null rm", LIT("eval"), LIT("rm"));
        CMDS("eval 2>&1 rm", LIT("eval"), LIT("rm"));
        CMDS("command eval rm", LIT("command"), LIT("eval"), LIT("rm"));
}

/* A wrapper may run another wrapper: `command command rm` runs rm. */
Test(shell_parse, wrapper_of_a_wrapper)
{
        CMDS("command command rm", LIT("command"), LIT("command"), LIT("rm"));
        CMDS("command exec rm", LIT("command"), LIT("exec"), LIT("rm"));
        CMDS("builtin command rm", LIT("builtin"), LIT("command"), LIT("rm"));
}

/* Quoting a builtin's name does not stop it being the builtin (only
 * reserved words are affected): "command" rm runs rm. */
Test(shell_parse, quoted_wrapper_still_wraps)
{
        CMDS("\"command\" rm", LIT("command"), LIT("rm"));
        CMDS("\\exec rm", LIT("exec"), LIT("rm"));
        CMDS("c'omm'and rm", LIT("command"), LIT("rm"));
}

/* ---- globs, tilde, expansions in command position ---- */

Test(shell_parse, globs_and_tilde_are_expanded)
{
        CMDS("*", EXP("*"));
        CMDS("a?", EXP("a?"));
        CMDS("./x*", EXP("./x*"));
        CMDS("[ab]x", EXP("[ab]x"));
        CMDS("~/bin/tool", EXP("~/bin/tool"));
        CMDS("~", EXP("~"));
        CMDS("ls * ~", LIT("ls"));
        CMDS("x~", LIT("x~"));
        CMDS("\"*\"", LIT("*"));
        CMDS("\\*", LIT("*"));
        CMDS("'a?'", LIT("a?"));
        CMDS("\"~\"/x", LIT("~/x"));
}

/* `[` alone is not a bracket expression (no closing ]), so `[ -n x ]` runs
 * the command named [, a literal name an allowlist can hold. */
Test(shell_parse, lone_bracket_is_literal)
{
        CMDS("[ -n x ] && c1", LIT("["), LIT("c1"));
}

/* ---- refusals ---- */

Test(shell_parse, unterminated_quotes)
{
        FAILS("echo 'abc", "unterminated single quote");
        FAILS("echo \"abc", "unterminated double quote");
        FAILS("echo \"$(a)", "unterminated double quote");
        FAILS("'", "unterminated single quote");
}

Test(shell_parse, function_definitions_refused)
{
        FAILS("f() { rm -rf /; }", "function definitions are not allowed");
        FAILS("f () { a; }", "function definitions are not allowed");
        FAILS("f() ( a )", "function definitions are not allowed");
        FAILS("x; f() { a; }; f", "function definitions are not allowed");
        FAILS("echo $(f() { a; })", "function definitions are not allowed");
}

Test(shell_parse, process_substitution_refused)
{
        FAILS("cat <(a)", "expected a file name after a redirection");
        FAILS("diff <(a) <(b)", "expected a file name after a redirection");
        FAILS("a >(b)", "expected a file name after a redirection");
}

Test(shell_parse, nul_byte_refused)
{
        FAILS("a\0b", "NUL byte in the command line");
        FAILS("echo 'x\0y'", "NUL byte in the command line");
        FAILS("\0", "NUL byte in the command line");
}

static char *repeat_wrap(const char *open, const char *mid, const char *close, int n)
{
        size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
        char *s = malloc((lo + lc) * (size_t)n + lm + 1);
        cr_assert_not_null(s);
        char *e = s;
        for (int i = 0; i < n; i++, e += lo)
                memcpy(e, open, lo);
        memcpy(e, mid, lm);
        e += lm;
        for (int i = 0; i < n; i++, e += lc)
                memcpy(e, close, lc);
        *e = '\0';
        return s;
}

Test(shell_parse, nesting_limit_32)
{
        static const struct {
                const char *open, *close;
        } kinds[] = { { "$(", ")" }, { "(", ")" }, { "echo \"$(", ")\"" } };
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
                /* 32 levels parse: $( gives c and 32 expanded words, ( gives c,
                 * echo "$( gives 32 echo and c */
                static const size_t n_words[] = { 33, 1, 33 };
                char *ok = repeat_wrap(kinds[k].open, "c", kinds[k].close, 32);
                struct shell_parse p;
                int r = shell_parse(ok, strlen(ok), &p);
                size_t n = p.n;
                bool first_ok =
                        r == 0 && n && strcmp(p.commands[0].word, k == 2 ? "echo" : "c") == 0;
                bool last_ok =
                        r == 0 && n && strcmp(p.commands[n - 1].word, k == 0 ? ok : "c") == 0;
                shell_parse_done(&p);
                free(ok);
                cr_assert_eq(r, 0, "32 deep %s refused", kinds[k].open);
                cr_assert_eq(n, n_words[k], "32 deep %s: %zu words", kinds[k].open, n);
                cr_assert(first_ok && last_ok, "32 deep %s: wrong words", kinds[k].open);
                char *deep = repeat_wrap(kinds[k].open, "c", kinds[k].close, 33);
                check_fails(deep, strlen(deep), "nested too deeply");
                free(deep);
        }
        /* mixed kinds count together */
        char *mixed = malloc(4096);
        cr_assert_not_null(mixed);
        mixed[0] = '\0';
        for (int i = 0; i < 33; i++)
                strcat(mixed, i % 2 ? "$( " : "( ");
        strcat(mixed, "c");
        for (int i = 0; i < 33; i++)
                strcat(mixed, ")");
        check_fails(mixed, strlen(mixed), "nested too deeply");
        free(mixed);
}

/* Groups, if, while, for and case nest too: deep enough input must be
 * refused, not overflow the stack (agentbox itself dies on 1 MB of "{ "). */
Test(shell_parse, deep_compound_nesting_is_refused_not_a_crash)
{
        static const struct {
                const char *open, *close;
        } kinds[] = { { "{ ", "; }" },
                      { "if ", "; then :; fi" },
                      { "while ", "; do :; done" },
                      { "case x in x) ", ";; esac" } };
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
                char *s = repeat_wrap(kinds[k].open, "c", kinds[k].close, 200000);
                struct shell_parse p;
                int r = shell_parse(s, strlen(s), &p);
                shell_parse_done(&p);
                free(s);
                cr_assert_eq(r, -EINVAL, "200000 nested '%s' accepted", kinds[k].open);
        }
}

Test(shell_parse, size_limits)
{
        char name[300];
        memset(name, 'a', 255);
        name[255] = '\0';
        check(name, 255, (const struct cw[]){ LIT(name) }, 1);
        memset(name, 'a', 256);
        name[256] = '\0';
        check_fails(name, 256, "a command name is longer than 255 bytes");
        /* a long argument is fine: only command names are kept */
        char arg[1000] = "ls ";
        memset(arg + 3, 'b', 900);
        arg[903] = '\0';
        CMDS("ls", LIT("ls"));
        check(arg, strlen(arg), (const struct cw[]){ LIT("ls") }, 1);

        size_t n = 4097;
        char *many = malloc(n * 2 + 1);
        cr_assert_not_null(many);
        for (size_t i = 0; i < n; i++)
                memcpy(many + 2 * i, "a;", 2);
        many[n * 2] = '\0';
        struct shell_parse p;
        int r = shell_parse(many, 4096 * 2, &p);
        size_t got = p.n;
        shell_parse_done(&p);
        if (r != 0 || got != 4096)
                free(many);
        cr_assert_eq(r, 0, "4096 commands refused");
        cr_assert_eq(got, 4096);
        check_fails(many, n * 2, "more than 4096 commands");
        free(many);
}

/* ---- command_policy on top of the parser ---- */

static struct abox_policy *pol;
static struct abox_result *res;

static void policy_setup(void)
{
        pol = abox_policy_new();
        cr_assert_not_null(pol);
        struct abox_error err = { 0 };
        static const char *const allowed[] = { "ls", "cat", "grep", "command", NULL };
        for (size_t i = 0; allowed[i]; i++)
                cr_assert_eq(abox_policy_set(pol, "allowed_commands", allowed[i], &err), 0, "%s",
                             err.msg);
        res = result_new();
        cr_assert_not_null(res);
}

static void policy_teardown(void)
{
        abox_result_free(res);
        abox_policy_free(pol);
}

TestSuite(command_policy, .init = policy_setup, .fini = policy_teardown);

static void check_violation(size_t i, const char *target, const char *detail)
{
        cr_assert_lt(i, res->n_violations, "violation %zu missing (have %zu)", i,
                     res->n_violations);
        cr_assert_str_eq(res->violations[i].rule, "command");
        cr_assert_str_eq(res->violations[i].target, target);
        cr_assert_str_eq(res->violations[i].detail, detail);
}

static int shell(const char *line)
{
        return command_policy_check_shell(pol, line, strlen(line), res);
}

Test(command_policy, active_only_when_configured)
{
        cr_assert(command_policy_active(pol));
        struct abox_policy *fresh = abox_policy_new();
        cr_assert_not(command_policy_active(fresh));
        abox_policy_free(fresh);
}

Test(command_policy, allowed_line_passes)
{
        cr_assert_eq(shell("ls -la | grep x && cat f"), 0);
        cr_assert_eq(shell("/bin/ls; /usr/bin/cat f; X=1 ls $(cat y)"), 0);
        cr_assert_eq(shell("command ls"), 0);
        cr_assert_eq(res->n_violations, 0);
        cr_assert_eq(res->message[0], '\0');
}

Test(command_policy, refused_word_is_named)
{
        cr_assert_eq(shell("ls; rm -rf /"), 1);
        cr_assert_eq(res->n_violations, 1);
        check_violation(0, "rm", "Command 'rm' not in allowed list");
        cr_assert_str_eq(res->message, "Blocked: Command 'rm' not in allowed list");
}

Test(command_policy, every_refused_word_is_a_violation)
{
        cr_assert_eq(shell("rm a; ls | mv b c $(curl x)"), 3);
        cr_assert_eq(res->n_violations, 3);
        check_violation(0, "rm", "Command 'rm' not in allowed list");
        check_violation(1, "mv", "Command 'mv' not in allowed list");
        check_violation(2, "curl", "Command 'curl' not in allowed list");
        cr_assert_str_eq(res->message, "Blocked: Command 'rm' not in allowed list",
                         "the first refusal is the message");
}

Test(command_policy, basename_is_compared)
{
        cr_assert_eq(shell("/usr/local/bin/rm x"), 1);
        check_violation(0, "rm", "Command 'rm' not in allowed list");
        cr_assert_eq(shell("/usr/bin/"), 1);
        check_violation(1, "/usr/bin/", "Command '/usr/bin/' not in allowed list");
}

Test(command_policy, expansion_refused)
{
        cr_assert_eq(shell("$X"), 1);
        check_violation(0, "$X", "Command '$X' is built from an expansion and cannot be checked");
        cr_assert_eq(shell("~/ls"), 1);
        check_violation(1, "~/ls",
                        "Command '~/ls' is built from an expansion and cannot be checked");
        cr_assert_eq(shell("l*"), 1);
        check_violation(2, "l*", "Command 'l*' is built from an expansion and cannot be checked");
}

Test(command_policy, parse_error_refused)
{
        cr_assert_eq(shell("ls 'x"), 1);
        cr_assert_eq(res->n_violations, 1);
        check_violation(0, "(command line)",
                        "cannot parse the command line: unterminated single quote");
        cr_assert_str_eq(res->message,
                         "Blocked: cannot parse the command line: unterminated single quote");
}

Test(command_policy, wrappers_checked)
{
        cr_assert_eq(shell("exec ls"), 1);
        check_violation(0, "exec", "Command 'exec' not in allowed list");
        cr_assert_eq(shell("command rm"), 1);
        check_violation(1, "rm", "Command 'rm' not in allowed list");
        cr_assert_eq(shell("eval ls"), 1);
        check_violation(2, "eval", "Command 'eval' not in allowed list");
        cr_assert_eq(shell("eval 'ls; rm'"), 2, "eval's operands are checked");
        check_violation(3, "eval", "Command 'eval' not in allowed list");
        check_violation(4, "rm", "Command 'rm' not in allowed list");
}

/* With command allowed, what it runs must still be checked. */
Test(command_policy, wrapper_bypasses)
{
        cr_assert_eq(shell("command command rm"), 1, "command command rm was let through");
        check_violation(0, "rm", "Command 'rm' not in allowed list");
        cr_assert_eq(shell("\"command\" rm"), 1, "\"command\" rm was let through");
        check_violation(1, "rm", "Command 'rm' not in allowed list");
}

/* trap's action is a command line the shell runs later, as eval would:
 * with trap allowed, `trap 'rm -rf /' EXIT` must still check rm. */
Test(command_policy, trap_action_is_checked)
{
        struct abox_error err = { 0 };
        cr_assert_eq(abox_policy_set(pol, "allowed_commands", "trap", &err), 0, "%s", err.msg);
        cr_assert_eq(shell("trap 'ls; rm -rf /' EXIT"), 1, "the trap action was not checked");
        check_violation(0, "rm", "Command 'rm' not in allowed list");
}

/* An empty action is one operand: what follows are signal names, not a
 * command line (counting bytes of action text once took EXIT for it). */
Test(command_policy, empty_trap_action_is_not_a_command)
{
        struct abox_error err = { 0 };
        cr_assert_eq(abox_policy_set(pol, "allowed_commands", "trap", &err), 0, "%s", err.msg);
        cr_assert_eq(shell("trap '' EXIT INT"), 0, "signal names were taken for a command");
        cr_assert_eq(shell("trap -- '' EXIT"), 0, "signal names were taken for a command");
}

Test(command_policy, heredoc_delimiter_bypass)
{
        static const char line[] = "cat <<\"$X\"\n$X\nrm -rf /";
        cr_assert_eq(command_policy_check_shell(pol, line, sizeof line - 1, res), 1,
                     "rm after the here-document was let through");
        check_violation(0, "rm", "Command 'rm' not in allowed list");
}

Test(command_policy, nul_byte_in_line)
{
        static const char line[] = "ls\0rm";
        cr_assert_eq(command_policy_check_shell(pol, line, sizeof line - 1, res), 1);
        check_violation(0, "(command line)",
                        "cannot parse the command line: NUL byte in the command line");
}

Test(command_policy, check_program)
{
        cr_assert_eq(command_policy_check_program(pol, "ls", res), 0);
        cr_assert_eq(command_policy_check_program(pol, "/usr/bin/cat", res), 0);
        cr_assert_eq(res->n_violations, 0);
        cr_assert_eq(command_policy_check_program(pol, "/bin/rm", res), 1);
        check_violation(0, "rm", "Command 'rm' not in allowed list");
        cr_assert_eq(command_policy_check_program(pol, "python3", res), 1);
        check_violation(1, "python3", "Command 'python3' not in allowed list");
        /* a program is not parsed: '$X' is a file name, not an expansion */
        cr_assert_eq(command_policy_check_program(pol, "$X", res), 1);
        check_violation(2, "$X", "Command '$X' not in allowed list");
        cr_assert_str_eq(res->message, "Blocked: Command 'rm' not in allowed list");
}
