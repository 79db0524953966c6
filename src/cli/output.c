/* What a person (or a script with --json) sees of a result. */
#include "cli.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const struct cli *cli, const char *fmt, ...)
{
        char msg[sizeof((struct abox_error *)0)->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "agentbox: %s\n", msg);
        if (cli && cli->json) {
                struct abox_error e = { .code = -1 };
                snprintf(e.msg, sizeof e.msg, "%s", msg);
                char *json = abox_error_json(&e);
                if (json)
                        printf("%s\n", json);
                free(json);
        }
        return EXIT_AGENTBOX_FAILED;
}

int cli_print_result(const struct cli *cli, const struct abox_result *r)
{
        int status = abox_result_cli_status(r);
        if (cli->json) {
                char *json = abox_result_json(r);
                if (!json)
                        return cli_fail(NULL, "out of memory");
                printf("%s\n", json);
                free(json);
                return status;
        }
        size_t n;
        const char *out = abox_result_stdout(r, &n);
        fwrite(out, 1, n, stdout);
        const char *value = abox_result_value(r);
        if (value)
                printf("%sOut: %s\n", n && out[n - 1] != '\n' ? "\n" : "", value);
        fflush(stdout);
        const char *err = abox_result_stderr(r, &n);
        fwrite(err, 1, n, stderr);
        const char *msg = abox_result_message(r);
        if (msg)
                fprintf(stderr, "%sagentbox: %s\n", n && err[n - 1] != '\n' ? "\n" : "", msg);
        return status;
}

int cli_check(const struct cli *cli, struct abox_policy *p)
{
        struct abox_protection prot[32];
        size_t n = 0;
        struct abox_error err = { 0 };
        int r = abox_check(p, prot, 32, &n, &err);
        if (r < 0)
                return cli_fail(cli, "%s", err.msg);
        bool missing = false, full_net = false;
        for (size_t i = 0; i < n && i < 32; i++) {
                missing |= prot[i].required && !prot[i].available;
                full_net |= strcmp(prot[i].name, "netns") == 0 && !prot[i].required;
        }
        if (cli->json) {
                json_t *list = json_array();
                for (size_t i = 0; list && i < n && i < 32; i++)
                        json_array_append_new(
                                list, json_pack("{s:s, s:b, s:b, s:s}", "name", prot[i].name,
                                                "available", prot[i].available, "required",
                                                prot[i].required, "detail", prot[i].detail));
                json_t *doc = json_pack("{s:b, s:b, s:o}", "valid", 1, "runnable", !missing,
                                        "protections", list);
                char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                if (!text)
                        return cli_fail(cli, "out of memory");
                printf("%s\n", text);
                free(text);
                return missing ? 1 : 0;
        }
        printf("policy: %s is valid\n\n", cli->config ? cli->config : "(defaults)");
        printf("%-16s %-12s %-9s %s\n", "protection", "this host", "required", "detail");
        for (size_t i = 0; i < n && i < 32; i++)
                printf("%-16s %-12s %-9s %s\n", prot[i].name,
                       prot[i].available ? "enforced" : "MISSING", prot[i].required ? "yes" : "no",
                       prot[i].detail);
        if (full_net)
                printf("\nWARNING: network_access is full: sandboxed code shares this host's "
                       "network. Use it only for trusted code.\n");
        if (missing)
                printf("\nRuns with this policy will be refused here: a required protection is "
                       "missing.\n");
        return missing ? 1 : 0;
}
