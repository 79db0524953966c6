/* Flags.  Each policy flag is a row mapping it to a policy key; values are
 * collected in order and applied after --config is loaded, so flags override
 * the file wherever they stand on the line. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
        const char *flag;
        const char *key;
} policy_flags[] = {
        { "timeout", "execution_timeout" },
        { "memory", "memory_limit" },
        { "cpus", "cpu_limit" },
        { "pids", "pids_limit" },
        { "output-limit", "max_output_size" },
        { "file-size", "max_file_size" },
        { "disk", "disk_limit" },
        { "network", "network_access" },
        { "allow-domain", "allowed_domains" },
        { "allow-command", "allowed_commands" },
        { "deny-module", "restricted_modules" },
        { "allow-module", "allowed_modules" },
        { "mount", "mounts" },
        { "env", "env" },
        { "cpu-time", "cpu_time_limit" },
        { "open-files", "open_files_limit" },
        { "rootfs", "rootfs" },
        { "allow-degraded", "allow_degraded" },
        { "secret", "secrets" },
        { "redact", "redact_patterns" },
        { "audit-log", "audit.path" },
        { "network-host", "network_hosts" },
};
#define N_POLICY_FLAGS (sizeof policy_flags / sizeof *policy_flags)

enum { OPT_CONFIG = 1000, OPT_JSON, OPT_HELP, OPT_SHELL, OPT_POLICY_BASE };

void cli_usage(FILE *f)
{
        fputs("usage: agentbox python [OPTIONS] (-c CODE | FILE | -)\n"
              "       agentbox sh     [OPTIONS] (-c COMMAND | FILE | -)\n"
              "       agentbox run    [OPTIONS] -- PROGRAM [ARG...]\n"
              "       agentbox repl   [OPTIONS] [--shell]\n"
              "       agentbox check  [--config FILE] [--json]\n"
              "\n"
              "options:\n"
              "  --config FILE         policy file (YAML, see docs/policy.md)\n"
              "  --json                print the result as JSON (docs/result.md)\n"
              "  --timeout SECONDS     wall-clock limit (default 30)\n"
              "  --memory SIZE         memory limit (default 256m)\n"
              "  --cpus N              CPU share in cores\n"
              "  --cpu-time SECONDS    CPU time limit\n"
              "  --pids N              processes and threads (default 64)\n"
              "  --output-limit SIZE   bytes kept of stdout and stderr each (default 1m)\n"
              "  --file-size SIZE      largest file (default 64m)\n"
              "  --disk SIZE           /tmp + /workspace + /dev/shm (default 128m)\n"
              "  --open-files N        open files per process (default 256)\n"
              "  --network MODE        none | restricted | host (default none)\n"
              "  --allow-domain HOST[:PORT]  reachable through the proxy when restricted\n"
              "                        (HOST: name, *.suffix or IP; PORT default 80 and 443)\n"
              "  --network-host NAME=ADDRESS  the proxy's resolver answers NAME with ADDRESS\n"
              "  --mount SRC:DST[:rw]  bind a host path in (read-only unless :rw)\n"
              "  --env NAME=VALUE      environment variable for the code\n"
              "  --rootfs DIR          use DIR/usr instead of the host's /usr\n"
              "  --allow-degraded P    run even if protection P is missing here\n"
              "  --secret NAME=env:VAR|NAME=file:PATH   a secret for the code, redacted from "
              "output\n"
              "  --redact REGEX        also redact matches of REGEX (POSIX extended)\n"
              "  --audit-log FILE      append one JSON line per run (or 'stderr')\n"
              "  --allow-command, --allow-module, --deny-module NAME\n"
              "  --shell               repl: cells are shell commands (else Python; a cell\n"
              "                        starting with '!' is a shell command either way)\n"
              "\n"
              "repl: one session; on a terminal, a prompt; otherwise cells separated by\n"
              "lines holding only %%, each result printed (one JSON line with --json).\n"
              "\n"
              "exit status: the program's own; 128+N for signal N; 124 timeout;\n"
              "125 agentbox failed; 126 refused by policy; 137 memory limit.\n",
              f);
}

static int add_setting(struct cli *cli, const char *key, const char *value)
{
        struct setting *s = realloc(cli->settings, (cli->n_settings + 1) * sizeof *s);
        if (!s)
                return -1;
        cli->settings = s;
        /* --network host is the command line's name for the policy's "full". */
        if (strcmp(key, "network_access") == 0 && strcmp(value, "host") == 0)
                value = "full";
        s[cli->n_settings++] = (struct setting){ key, value };
        return 0;
}

int cli_parse(struct cli *cli, int argc, char **argv)
{
        struct option opts[N_POLICY_FLAGS + 5];
        size_t n = 0;
        opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
        opts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
        opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
        bool is_repl = strcmp(cli->command, "repl") == 0;
        if (is_repl)
                opts[n++] = (struct option){ "shell", no_argument, NULL, OPT_SHELL };
        for (size_t i = 0; i < N_POLICY_FLAGS; i++)
                opts[n++] = (struct option){ policy_flags[i].flag, required_argument, NULL,
                                             OPT_POLICY_BASE + (int)i };
        opts[n] = (struct option){ 0 };
        bool is_run = strcmp(cli->command, "run") == 0;
        /* Leading ':' makes a missing value return ':' instead of '?'. */
        /* run stops at PROGRAM; repl takes its code from standard input */
        const char *shortopts = is_run ? "+:h" : is_repl ? ":h" : ":hc:";
        optind = 1;
        opterr = 0;
        for (int c; (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1;) {
                if (c == 'c')
                        cli->code_arg = optarg;
                else if (c == OPT_CONFIG)
                        cli->config = optarg;
                else if (c == OPT_JSON)
                        cli->json = true;
                else if (c == OPT_SHELL)
                        cli->shell = true;
                else if (c == 'h' || c == OPT_HELP)
                        return cli_usage(stdout), 1;
                else if (c >= OPT_POLICY_BASE && c < OPT_POLICY_BASE + (int)N_POLICY_FLAGS) {
                        if (add_setting(cli, policy_flags[c - OPT_POLICY_BASE].key, optarg) < 0)
                                return cli_fail(cli, "out of memory"), -1;
                } else if (c == ':')
                        return cli_fail(cli, "option %s needs a value", argv[optind - 1]), -1;
                else
                        return cli_fail(cli, "unknown option '%s' (see agentbox --help)",
                                        argv[optind - 1]),
                               -1;
        }
        int rest = argc - optind;
        if (is_run) {
                if (rest == 0)
                        return cli_fail(cli,
                                        "run needs a program: agentbox run -- PROGRAM [ARG...]"),
                               -1;
                cli->argv = argv + optind;
                return 0;
        }
        if (strcmp(cli->command, "check") == 0 || is_repl) {
                if (rest > 0)
                        return cli_fail(cli, "%s takes no arguments%s", cli->command,
                                        is_repl ? ": cells come from standard input" : ""),
                               -1;
                return 0;
        }
        if (cli->code_arg && rest > 0)
                return cli_fail(cli, "give either -c CODE or a file, not both"), -1;
        if (!cli->code_arg && rest != 1)
                return cli_fail(cli, "%s needs -c CODE, a FILE, or - for standard input",
                                cli->command),
                       -1;
        if (!cli->code_arg)
                cli->file = argv[optind];
        return 0;
}

void cli_done(struct cli *cli)
{
        free(cli->settings);
}
