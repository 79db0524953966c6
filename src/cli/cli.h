/* The agentbox command line: a thin front end over include/agentbox.h. */
#pragma once

#include "agentbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define EXIT_AGENTBOX_FAILED 125

struct setting {
        const char *key;
        const char *value;
};

struct cli {
        const char *command;
        const char *config;
        bool json;
        bool shell;           /* repl: cells are shell commands */
        const char *code_arg; /* -c */
        const char *file;     /* FILE or "-" */
        char **argv;          /* run: PROGRAM ARG... */
        struct setting *settings;
        size_t n_settings;
};

/* Parses argv after the subcommand; prints its own complaints.  Returns 0,
 * 1 when --help was shown, or -1 on a usage error. */
int cli_parse(struct cli *cli, int argc, char **argv);
void cli_done(struct cli *cli);
void cli_usage(FILE *f);

int cli_fail(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_print_result(const struct cli *cli, const struct abox_result *r);
int cli_check(const struct cli *cli, struct abox_policy *p);
int cli_repl(const struct cli *cli, struct abox_policy *p);
