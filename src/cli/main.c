/* agentbox: subcommand dispatch. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CODE (64u << 20)

static int read_code(const struct cli *cli, char **ret, size_t *ret_len)
{
        int fd = strcmp(cli->file, "-") == 0 ? STDIN_FILENO
                                             : open(cli->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return cli_fail(cli, "cannot open %s: %s", cli->file, strerror(errno));
        size_t len = 0, alloc = 65536;
        char *buf = malloc(alloc);
        for (ssize_t k = 1; buf && k > 0;) {
                if (len == alloc) {
                        char *p = alloc > MAX_CODE ? NULL : realloc(buf, alloc *= 2);
                        if (!p) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = p;
                }
                k = read(fd, buf + len, alloc - len);
                if (k < 0 && errno == EINTR)
                        k = 1;
                else if (k < 0) {
                        free(buf);
                        buf = NULL;
                } else
                        len += (size_t)k;
        }
        if (fd != STDIN_FILENO)
                close(fd);
        if (!buf || len > MAX_CODE)
                return cli_fail(cli, "cannot read %s: %s", cli->file,
                                buf ? "larger than 64 MiB" : "read error or out of memory");
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int make_policy(const struct cli *cli, struct abox_policy **ret)
{
        struct abox_error err = { 0 };
        struct abox_policy *p = abox_policy_new();
        if (!p)
                return cli_fail(cli, "out of memory");
        if (cli->config && abox_policy_load(p, cli->config, &err) < 0) {
                abox_policy_free(p);
                return cli_fail(cli, "%s", err.msg);
        }
        for (size_t i = 0; i < cli->n_settings; i++)
                if (abox_policy_set(p, cli->settings[i].key, cli->settings[i].value, &err) < 0) {
                        abox_policy_free(p);
                        return cli_fail(cli, "%s", err.msg);
                }
        *ret = p;
        return 0;
}

static int run(const struct cli *cli, struct abox_policy *p)
{
        struct abox_request req = { 0 };
        char *code = NULL;
        if (strcmp(cli->command, "run") == 0) {
                req.language = ABOX_LANG_PROGRAM;
                req.argv = (const char *const *)cli->argv;
        } else {
                req.language =
                        strcmp(cli->command, "python") == 0 ? ABOX_LANG_PYTHON : ABOX_LANG_SHELL;
                if (cli->code_arg) {
                        req.code = cli->code_arg;
                        req.code_len = strlen(cli->code_arg);
                } else {
                        int r = read_code(cli, &code, &req.code_len);
                        if (r)
                                return r;
                        req.code = code;
                }
        }
        struct abox_result *res = NULL;
        struct abox_error err = { 0 };
        int r = abox_run(p, &req, &res, &err);
        free(code);
        if (r < 0)
                return cli_fail(cli, "%s", err.msg);
        r = cli_print_result(cli, res);
        abox_result_free(res);
        return r;
}

int main(int argc, char **argv)
{
        static const char *const commands[] = { "python", "sh", "run", "check", "repl" };
        static const char *const later[] = { "serve", "mcp" };
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                cli_usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_AGENTBOX_FAILED : 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("agentbox 0.1.0\n");
                return 0;
        }
        struct cli cli = { .command = argv[1] };
        /* --json is honoured even when the command itself is wrong. */
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--json") == 0)
                        cli.json = true;
        bool known = false;
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
                known |= strcmp(argv[1], commands[i]) == 0;
        for (size_t i = 0; i < sizeof later / sizeof *later; i++)
                if (strcmp(argv[1], later[i]) == 0)
                        return cli_fail(&cli, "'%s' is not available in this version yet", argv[1]);
        if (!known)
                return cli_fail(&cli, "unknown command '%s' (python, sh, run, repl, check)",
                                argv[1]);
        int r = cli_parse(&cli, argc - 1, argv + 1);
        if (r != 0) {
                cli_done(&cli);
                return r > 0 ? 0 : EXIT_AGENTBOX_FAILED;
        }
        struct abox_policy *p = NULL;
        r = make_policy(&cli, &p);
        if (r == 0)
                r = strcmp(cli.command, "check") == 0  ? cli_check(&cli, p)
                    : strcmp(cli.command, "repl") == 0 ? cli_repl(&cli, p)
                                                       : run(&cli, p);
        abox_policy_free(p);
        cli_done(&cli);
        return r;
}
