/* A POSIX shell command line, reduced to what a command allowlist needs:
 * every word that stands in command position, anywhere — in lists,
 * pipelines, subshells, groups, if/while/for/case bodies, $(...) and
 * backticks (parsed recursively), and here-documents whose delimiter is
 * unquoted.  Quote removal follows the shell's rules (r''m, "r"m and \rm all
 * name rm).  Whatever the parser does not understand is an error: the caller
 * refuses it rather than guess. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SHELL_MAX_WORD 256

struct shell_command {
        char word[SHELL_MAX_WORD]; /* after quote removal */
        bool expanded;             /* built from $, `, globs or ~: not a literal name */
};

struct shell_parse {
        struct shell_command *commands;
        size_t n;
        char error[160]; /* set when shell_parse() fails */
};

/* 0, or -EINVAL with ret->error saying what could not be parsed. */
int shell_parse(const char *line, size_t len, struct shell_parse *ret);
void shell_parse_done(struct shell_parse *p);
