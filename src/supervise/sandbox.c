/* The host side of one sandbox, shared by one-shot runs and sessions:
 * secrets, environment, the plans, the protections decision (fail closed),
 * the proxy, and turning the supervisor's observations into a result that
 * is classified, redacted and audited.  See run.c for the one-shot life and
 * src/session/ for the long one.
 */
#include "sandbox.h"

#include "agentbox.h"

#include "base/cleanup.h"
#include "base/parse.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"
#include "core/audit.h"
#include "core/command_policy.h"
#include "core/redact.h"
#include "base/fd.h"
#include "jail/cgroup.h"
#include "jail/execmap.h"
#include "jail/jail.h"
#include "net/proxy.h"
#include "protections.h"
#include "runtime/runtime.h"
#include "supervise.h"

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void run_done(struct run *run)
{
        rootfs_plan_done(&run->plan.rootfs);
        seccomp_plan_done(&run->plan.seccomp);
        runtime_done(&run->launch);
        safe_close(run->plan.cgroup_fd);
        safe_close(run->plan.init_fd);
        safe_close(run->oom_fd);
        for (size_t i = 0; i < run->n_rw_fds; i++)
                safe_close(run->rw_fds[i]);
        cgroup_destroy(run->cg);
        for (int i = 0; i < 2; i++) {
                safe_close(run->out[i]);
                safe_close(run->err[i]);
        }
        for (char **e = run->envp; e && *e; e++)
                free(*e);
        free(run->envp);
        /* Secret values do not linger in freed memory. */
        for (size_t i = 0; i < run->secrets.n; i++)
                explicit_bzero(run->secrets.items[i], strlen(run->secrets.items[i]));
        strlist_done(&run->secrets);
        redactor_free(run->redactor);
}

/* Reads each secret from its host source.  Messages name the secret, never
 * its value or where it came from. */
int run_resolve_secrets(const struct abox_policy *p, struct strlist *ret, struct abox_error *err)
{
        for (size_t i = 0; i < p->secrets.n; i++) {
                const char *spec = p->secrets.items[i], *eq = strchr(spec, '=');
                const char *src = eq + 1;
                int name_len = (int)(eq - spec);
                _cleanup_free_ char *value = NULL;
                size_t len = 0;
                if (strncmp(src, "env:", 4) == 0) {
                        const char *v = getenv(src + 4);
                        if (v && !(value = strdup(v)))
                                return abox_error_set(err, -ENOMEM, "out of memory");
                        len = v ? strlen(v) : 0;
                } else if (read_file_at(AT_FDCWD, src + 5, 65536, &value, &len) < 0) {
                        value = NULL;
                }
                if (!value)
                        return abox_error_set(err, -ENOENT,
                                              "secret '%.*s' is not available from its source",
                                              name_len, spec);
                while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
                        value[--len] = '\0';
                _cleanup_free_ char *item = NULL;
                if (asprintf(&item, "%.*s=%s", name_len, spec, value) < 0 ||
                    strlist_append(ret, item) < 0)
                        return abox_error_set(err, -ENOMEM, "out of memory");
                explicit_bzero(value, len);
                explicit_bzero(item, strlen(item));
        }
        return 0;
}

/* The payload's environment: a fixed base, then the policy's variables
 * (replacing a base entry of the same name).  Nothing of the caller's. */
static int build_env(const struct abox_policy *p, const struct strlist *secrets, char ***ret)
{
        static const char *const base[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace",
                                            "LANG=C.UTF-8", "TERM=dumb" };
        /* Restricted network: every common client finds the proxy; the
         * sandbox's own loopback stays direct. */
        static const char *const proxy[] = {
                "HTTP_PROXY=http://127.0.0.1:3128",   "http_proxy=http://127.0.0.1:3128",
                "HTTPS_PROXY=http://127.0.0.1:3128",  "https_proxy=http://127.0.0.1:3128",
                "ALL_PROXY=socks5h://127.0.0.1:3128", "all_proxy=socks5h://127.0.0.1:3128",
                "NO_PROXY=localhost,127.0.0.1,::1",   "no_proxy=localhost,127.0.0.1,::1",
        };
        _Static_assert(NET_PROXY_PORT == 3128, "the proxy variables name the port");
        bool restricted = p->network == NETWORK_RESTRICTED;
        size_t n = 0, max = ELEMENTSOF(base) + ELEMENTSOF(proxy) + p->env.n + secrets->n + 1;
        char **env = calloc(max, sizeof *env);
        if (!env)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(base); i++)
                if (!(env[n++] = strdup(base[i])))
                        goto oom;
        for (size_t i = 0; restricted && i < ELEMENTSOF(proxy); i++)
                if (!(env[n++] = strdup(proxy[i])))
                        goto oom;
        for (size_t i = 0; i < p->env.n + secrets->n; i++) {
                const char *item = i < p->env.n ? p->env.items[i] : secrets->items[i - p->env.n];
                size_t name_len = (size_t)(strchr(item, '=') - item) + 1;
                size_t j = 0;
                while (j < n && strncmp(env[j], item, name_len) != 0)
                        j++;
                char *copy = strdup(item);
                if (!copy)
                        goto oom;
                if (j < n)
                        free(env[j]);
                else
                        n++;
                env[j] = copy;
        }
        *ret = env;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(env[i]);
        free(env);
        return -ENOMEM;
}

/* The files the sandbox may execute under a command allowlist: the allowed
 * commands and the runtime itself (/bin/sh for shell runs, the interpreter
 * for Python), each with the interpreters the kernel opens for it. */
static int build_exec_map(const struct abox_policy *p, const struct abox_request *req, bool session,
                          struct exec_map *map)
{
        const char *root = p->rootfs ? p->rootfs : "";
        int r = 0;
        *map = (struct exec_map){ 0 };
        /* A session runs both: its kernel, and the shell it starts commands with. */
        if (session || req->language == ABOX_LANG_SHELL)
                r = exec_map_add(map, root, "/bin/sh");
        if (r == 0 && (session || req->language == ABOX_LANG_PYTHON))
                r = exec_map_add(map, root, "/usr/bin/python3");
        for (size_t i = 0; r == 0 && i < p->allowed_commands.n; i++)
                r = exec_map_add(map, root, p->allowed_commands.items[i]);
        if (r == 0 && req->language == ABOX_LANG_PROGRAM)
                r = exec_map_add(map, root, req->argv[0]);
        return r;
}

/* What the host gives, whether the policy may run with it (fail closed),
 * and the sandbox's cgroup. */
static int decide(struct run *run, const struct abox_policy *p, struct abox_error *err)
{
        jail_probe(&run->probe, /* for_check= */ false);
        /* The child copied the plan at clone: what it applies was fixed then. */
        run->probe.memfd_noexec = run->plan.memfd_noexec;
        run->probe.sealed_init = run->plan.init_fd >= 0;
        protections_evaluate(p, &run->probe, /* every= */ false, &run->prot);
        int r = protections_require(&run->prot, err);
        if (r < 0)
                return r;
        /* pids_limit counts the code's processes and threads: the group also
         * holds agentbox's own pid 1, which takes one more. */
        struct cgroup_limits lim = { p->memory_max_bytes, p->pids_max + 1, p->cpu_milli };
        bool any = false;
        for (int c = 0; c < CG__MAX; c++)
                any |= run->prot.want_cg[c];
        if (any &&
            (r = cgroup_create(&run->probe.cgroup, &lim, run->prot.want_cg, &run->cg, err)) < 0)
                return r;
        run->decided = true;
        return 0;
}

/* Compiling the credential shapes takes a while: it is done while the
 * payload starts, or (for a refused run) before the result is redacted. */
int run_ensure_redactor(struct run *run, const struct abox_policy *p, struct abox_error *err)
{
        return run->redactor ? 0 : redactor_new(p, &run->secrets, &run->redactor, err);
}

/* Runs while the child builds its root: everything the child needs only at
 * the end.  On a v2 host decide() ran before clone, for clone3. */
int run_after_clone(void *data, pid_t pid)
{
        struct spawn_ctx *ctx = data;
        struct run *run = ctx->run;
        int r = 0;
        (void)pid;
        if (!run->decided && (r = decide(run, ctx->p, ctx->err)) < 0)
                return r;
        run->plan.init_required = protection_required(&run->prot, "sealed_init");
        /* A one-shot run's supervisor watches for the OOM that must end the
         * whole sandbox where the kernel would not (v1).  A session keeps
         * the kernel's kill of one process: its interpreter is restarted. */
        if (!run->session && run->cg)
                run->oom_fd = cgroup_oom_watch(run->cg);
        if (run->cg) {
                r = cgroup_open_join_fds(run->cg, run->plan.join_fds,
                                         ELEMENTSOF(run->plan.join_fds));
                if (r < 0)
                        return abox_error_set(ctx->err, r, "cannot join the sandbox's cgroup: %s",
                                              strerror(-r));
                run->plan.n_join_fds = (unsigned)r;
        }
        const struct exec_map *only = NULL;
        if (command_policy_active(ctx->p)) {
                if ((r = build_exec_map(ctx->p, ctx->req, run->session, &run->exec)) < 0)
                        return abox_error_set(ctx->err, r,
                                              "allowed_commands resolve to more than %d files",
                                              EXEC_MAX_FILES);
                only = &run->exec;
        }
        if (landlock_plan_build(&run->plan.landlock, ctx->p, only) < 0)
                return abox_error_set(ctx->err, -E2BIG, "too many Landlock rules for this policy");
        return seccomp_plan_build(&run->plan.seccomp, ctx->err);
}

_Static_assert(ELEMENTSOF(((struct runtime_launch *)0)->argv) <= JAIL_SESSION_ARGV,
               "a session's interpreter argv fits through agentbox-init's");

int run_prepare(struct run *run, const struct abox_policy *p, const struct abox_request *req,
                struct abox_error *err)
{
        _cleanup_free_ char *spec = policy_module_spec(p);
        _cleanup_free_ char *preload = NULL;
        if (run->session && p->python_preload.n > 0 &&
            !(preload = strlist_join(&p->python_preload, ',')))
                return abox_error_set(err, -ENOMEM, "out of memory");
        int r = run->session ? runtime_prepare_session(p->output_max_bytes, preload, spec,
                                                       &run->launch, err)
                             : runtime_prepare(req, p->output_max_bytes, spec, &run->launch, err);
        r = r ?: rootfs_plan_build(&run->plan.rootfs, p, err);
        if (r < 0)
                return r;
        if (run->session || req->language == ABOX_LANG_PYTHON) {
                struct runtime_file files[RUNTIME_PYTHON_FILES];
                size_t n = runtime_python_files(spec != NULL, files);
                /* JAIL_MAX_OPS leaves room for these: no policy fails here. */
                for (size_t i = 0; r == 0 && i < n; i++)
                        r = rootfs_plan_add_file(&run->plan.rootfs, files[i].dst, files[i].data,
                                                 files[i].len);
                if (r < 0)
                        return abox_error_set(err, r, "too many root entries for this policy");
        }
        rlimit_plan_build(&run->plan.rlimits, p);
        /* A session's CPU time is budgeted per execution, from the cgroup:
         * RLIMIT_CPU would count the interpreter's whole life. */
        if (run->session)
                run->plan.rlimits.cpu_seconds = 0;
        if (build_env(p, &run->secrets, &run->envp) < 0)
                return abox_error_set(err, -ENOMEM, "out of memory");
        /* A session's kernel has /dev/null for output: each execution gets
         * pipes of its own. */
        if (!run->session && (pipe2(run->out, O_CLOEXEC) < 0 || pipe2(run->err, O_CLOEXEC) < 0))
                return abox_error_set(err, -errno, "pipe: %s", strerror(errno));
        struct jail_plan *plan = &run->plan;
        plan->share_net = p->network == NETWORK_FULL;
        plan->memfd_noexec = jail_can_memfd_noexec();
        plan->proxy_port = p->network == NETWORK_RESTRICTED ? NET_PROXY_PORT : 0;
        for (size_t i = 0; i < p->n_mounts && run->n_rw_fds < POLICY_MAX_MOUNTS; i++)
                if (p->mounts[i].rw)
                        run->rw_fds[run->n_rw_fds++] =
                                open(p->mounts[i].src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int init_fd = jail_init_memfd();
        /* Out of descriptors or memory is this moment's trouble, not a host
         * without sealed_init: said as it is, not as a missing protection. */
        if (init_fd == -EMFILE || init_fd == -ENFILE || init_fd == -ENOMEM)
                return abox_error_set(err, init_fd, "cannot copy agentbox-init into a memfd: %s",
                                      strerror(-init_fd));
        plan->init_fd = init_fd >= 0 ? init_fd : -1;
        plan->hostname = "agentbox";
        plan->argv = !run->session && req->language == ABOX_LANG_PROGRAM ? (char *const *)req->argv
                                                                         : run->launch.argv;
        plan->envp = run->envp;
        plan->stdout_fd = run->out[1];
        plan->stderr_fd = run->err[1];
        plan->extra_fds[0] = run->launch.code_fd;
        plan->extra_fds[1] = run->launch.result_wr;
        /* v2 clones straight into the cgroup, so it must exist first; v1
         * decides while the child builds its root. */
        if (cgroup_host_is_v2()) {
                if ((r = decide(run, p, err)) < 0)
                        return r;
                plan->cgroup_fd = run->cg ? cgroup_open_fd(run->cg) : -1;
        }
        return 0;
}

int run_setup_error(const struct run *run, const struct jail_msg *fail, struct abox_error *err)
{
        const char *what = jail_step_text((enum jail_step)fail->step);
        if (fail->step == JAIL_STEP_MOUNT_OP && fail->index >= 0 &&
            (unsigned)fail->index < run->plan.rootfs.n_ops)
                return abox_error_set(err, -fail->err, "cannot build the sandbox: mount /%s: %s",
                                      run->plan.rootfs.ops[fail->index].dst, strerror(fail->err));
        return abox_error_set(err, -fail->err, "cannot build the sandbox: %s: %s", what,
                              strerror(fail->err));
}

void run_protections_list(const struct run *run, struct abox_result *res)
{
        for (size_t i = 0; i < run->prot.n; i++) {
                const struct abox_protection *pr = &run->prot.items[i];
                bool in_force = pr->available;
                if (strcmp(pr->name, "netns") == 0 && run->plan.share_net)
                        in_force = false;
                /* Known only once the run's init has reported. */
                if (strcmp(pr->name, "sealed_init") == 0)
                        in_force = run->sealed_init_ran;
                if (in_force)
                        strlist_append(&res->protections, pr->name);
        }
}

static enum abox_limit limit_of(const struct abox_policy *p, const struct supervise_output *sup,
                                const struct cgroup_stats *st, enum abox_limit hint, int sig)
{
        /* Only the kernel's evidence decides: the cgroup's counters, our own
         * kill, and what the scratch space shows after the end.  The Python
         * kernel's hints come from inside and only name which of those the
         * code ran into. */
        bool file_over = sup->exited && sup->file_size_hit;
        if (sup->cpu_exceeded || (sig == SIGXCPU && p->cpu_time_ms))
                return ABOX_LIMIT_CPU_TIME;
        if (st->oom_kills > 0 || sup->oom ||
            (hint == ABOX_LIMIT_MEMORY && st->memory_peak_bytes >= p->memory_max_bytes / 10 * 9))
                return ABOX_LIMIT_MEMORY;
        if (st->pids_max_hits > 0)
                return ABOX_LIMIT_PIDS;
        if (file_over)
                return ABOX_LIMIT_FILE_SIZE;
        if (sup->exited && sup->disk_full)
                return ABOX_LIMIT_DISK;
        if (sup->out.dropped || sup->err.dropped)
                return ABOX_LIMIT_OUTPUT;
        return ABOX_LIMIT_NONE;
}

static void describe(struct abox_result *res, const struct abox_policy *p,
                     const struct supervise_output *sup)
{
        char size[32];
        switch (res->limit) {
        case ABOX_LIMIT_MEMORY:
                format_size(p->memory_max_bytes, size, sizeof size);
                snprintf(res->message, sizeof res->message, "Memory limit exceeded (%s)", size);
                break;
        case ABOX_LIMIT_PIDS:
                snprintf(res->message, sizeof res->message, "Process limit reached (%llu)",
                         (unsigned long long)p->pids_max);
                break;
        case ABOX_LIMIT_CPU_TIME:
                snprintf(res->message, sizeof res->message, "CPU time limit exceeded (%g s)",
                         (double)p->cpu_time_ms / 1000);
                break;
        case ABOX_LIMIT_FILE_SIZE:
                format_size(p->file_size_max_bytes, size, sizeof size);
                snprintf(res->message, sizeof res->message, "File size limit exceeded (%s)", size);
                break;
        case ABOX_LIMIT_DISK:
                format_size(p->disk_max_bytes, size, sizeof size);
                snprintf(res->message, sizeof res->message, "Disk limit reached (%s)", size);
                break;
        case ABOX_LIMIT_OUTPUT:
                format_size(p->output_max_bytes, size, sizeof size);
                snprintf(res->message, sizeof res->message,
                         "Output limit exceeded: kept the first %s of each stream, dropped "
                         "%llu bytes",
                         size, (unsigned long long)(sup->out.dropped + sup->err.dropped));
                break;
        case ABOX_LIMIT_NONE: break;
        }
        if (res->status == ABOX_STATUS_TIMEOUT) {
                char cause[sizeof res->message];
                snprintf(cause, sizeof cause, "%s", res->message);
                snprintf(res->message, sizeof res->message, "Timed out after %g s%s%.200s%s",
                         (double)p->timeout_ms / 1000, cause[0] ? " (" : "", cause,
                         cause[0] ? ")" : "");
        }
}

void run_classify(struct run *run, const struct abox_policy *p, const struct abox_request *req,
                  struct supervise_output *sup, const struct cgroup_stats *st,
                  struct abox_result *res)
{
        enum abox_limit hint = runtime_read_report(sup->report.data, sup->report.len, res);
        int sig = 0, code = -1;
        if (sup->exited && WIFSIGNALED(sup->exit.wstatus))
                sig = WTERMSIG(sup->exit.wstatus);
        else if (sup->exited)
                code = WEXITSTATUS(sup->exit.wstatus);
        else
                sig = SIGKILL; /* init itself was killed: timeout or CPU budget */
        if (sup->failed && sup->fail.step == JAIL_STEP_EXEC) {
                code = sup->fail.err == ENOENT ? 127 : 126, sig = 0;
                snprintf(res->message, sizeof res->message, "cannot execute '%s': %s",
                         run->plan.argv[0], strerror(sup->fail.err));
        }
        res->exit_code = code;
        res->signal = sig;
        /* A timeout is the status; a limit that tripped on the way (a fork
         * bomb that spins until the deadline) is still named. */
        res->limit = limit_of(p, sup, st, hint, sig);
        if (hint == RUNTIME_HINT_BLOCKED) {
                /* The policy layer refused something: blocked, whatever the
                 * code did next.  (It cannot unblock itself this way.) */
                res->status = ABOX_STATUS_BLOCKED;
                /* As for a refused command line: the outcome is the refusal,
                 * not the interpreter's exit status. */
                res->exit_code = -1;
                res->signal = 0;
                describe(res, p, sup);
                if (!res->message[0])
                        snprintf(res->message, sizeof res->message, "Blocked: %.240s",
                                 res->violations[0].detail);
                return;
        }
        if (sup->timed_out)
                res->status = ABOX_STATUS_TIMEOUT;
        else if (res->limit != ABOX_LIMIT_NONE)
                res->status = ABOX_STATUS_RESOURCE_EXCEEDED;
        else if (code == 0 && !res->error_type)
                res->status = ABOX_STATUS_SUCCESS;
        else
                res->status = ABOX_STATUS_ERROR;
        describe(res, p, sup);
}

int run_take_output(struct strbuf *sb, char **ret, size_t *ret_len, uint64_t *ret_dropped)
{
        *ret_dropped = sb->dropped;
        *ret_len = sb->len;
        *ret = strbuf_steal(sb);
        return *ret ? 0 : -ENOMEM;
}

/* The allowlist proxy for network_access: restricted, on the socket the
 * sandbox made (ours from here on). */
int run_start_proxy(const struct abox_policy *p, int listener, struct net_proxy **ret,
                    struct abox_error *err)
{
        struct net_rule *rules = calloc(p->allowed_domains.n + 1, sizeof *rules);
        struct net_pin *pins = calloc(p->network_hosts.n + 1, sizeof *pins);
        int r = rules && pins ? 0 : -ENOMEM;
        /* Every entry was checked when the policy was set. */
        for (size_t i = 0; r == 0 && i < p->allowed_domains.n; i++)
                r = net_rule_parse(p->allowed_domains.items[i], &rules[i]);
        for (size_t i = 0; r == 0 && i < p->network_hosts.n; i++)
                r = net_pin_parse(p->network_hosts.items[i], &pins[i]);
        struct net_proxy_config cfg = {
                .rules = rules,
                .n_rules = p->allowed_domains.n,
                .pins = pins,
                .n_pins = p->network_hosts.n,
                .max_bytes = p->network_max_bytes,
                .max_connections = p->network_max_connections,
                .max_concurrent = (unsigned)p->network_max_concurrent,
                .head_timeout_ms = 5000,
                .connect_timeout_ms = 10000,
        };
        if (r == 0)
                r = net_proxy_start(listener, &cfg, ret);
        else
                close(listener);
        free(rules);
        free(pins);
        return r < 0 ? abox_error_set(err, r, "cannot start the network proxy: %s", strerror(-r))
                     : 0;
}

/* What the proxy refused becomes the result's network violations. */
int run_report_network(const struct net_proxy_report *net, struct abox_result *res)
{
        for (size_t i = 0; i < net->n_events; i++)
                if (result_add_violation(res, "network", net->events[i].target,
                                         net->events[i].reason) < 0)
                        return -ENOMEM;
        if (net->n_events && !res->message[0])
                snprintf(res->message, sizeof res->message,
                         "The network proxy refused %s%zu request%s (see violations)",
                         net->events_dropped ? "more than " : "", net->n_events,
                         net->n_events == 1 ? "" : "s");
        return 0;
}

/* The disk checks, once nothing in the sandbox can write any more (its
 * pid 1 has reaped the rest, or is gone): the scratch filesystem through
 * the directory fd taken from what pid 1 handed over, :rw mounts through
 * their host paths. */
void run_inspect_disk(const struct run *run, const struct abox_policy *p, int scratch, bool walk,
                      struct supervise_output *sup)
{
        static const char *const dirs[] = { "tmp", "workspace", "shm" };
        int fds[ELEMENTSOF(dirs) + POLICY_MAX_MOUNTS] = { 0 };
        unsigned n = 0;
        struct statvfs sv;
        bool written = true;
        if (scratch >= 0 && fstatvfs(scratch, &sv) == 0) {
                if (sv.f_bavail == 0 || sv.f_favail == 0)
                        sup->disk_full = true;
                /* Only its skeleton (the usual run): no file there to look at. */
                written = sv.f_files == 0 || sv.f_files - sv.f_ffree > ROOTFS_SCRATCH_INODES;
        }
        if (!walk)
                return;
        for (size_t i = 0; scratch >= 0 && written && i < ELEMENTSOF(dirs); i++)
                fds[n++] =
                        openat(scratch, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* :rw sources through the fds opened before the sandbox existed: by
         * now the sandbox may have put a link where a nested source was.
         * Reopened through "." for a fresh directory offset: a session scans
         * them again after every execution. */
        for (size_t i = 0; i < run->n_rw_fds; i++)
                fds[n++] = run->rw_fds[i] < 0 ? -1
                                              : openat(run->rw_fds[i], ".",
                                                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        sup->file_size_hit =
                rlimit_file_size_hit(run->plan.rlimits.fsize_bytes, run->since, fds, n);
        for (unsigned i = 0; i < n; i++)
                safe_close(fds[i]);
}

static int redact_field(const struct redactor *rd, char **s, size_t *len, bool cut, unsigned *count)
{
        if (!*s)
                return 0;
        size_t n = len ? *len : strlen(*s), out_len;
        char *clean = redact(rd, *s, n, cut, &out_len, count);
        if (!clean)
                return -ENOMEM;
        free(*s);
        *s = clean;
        if (len)
                *len = out_len;
        return 0;
}

/* Nothing leaves with a secret or a credential shape in it. */
int run_redact_result(const struct redactor *rd, struct abox_result *res)
{
        unsigned n = 0;
        int r = redact_field(rd, &res->out, &res->out_len, res->out_dropped > 0, &n);
        r = r ?: redact_field(rd, &res->err, &res->err_len, res->err_dropped > 0, &n);
        r = r ?: redact_field(rd, &res->value, NULL, false, &n);
        r = r ?: redact_field(rd, &res->error_message, NULL, false, &n);
        r = r ?: redact_field(rd, &res->traceback, NULL, false, &n);
        for (size_t i = 0; r == 0 && i < res->n_violations; i++) {
                r = redact_field(rd, &res->violations[i].detail, NULL, false, &n);
                r = r ?: redact_field(rd, &res->violations[i].target, NULL, false, &n);
        }
        if (r == 0 && res->message[0]) {
                /* The message can quote a violation, which can quote a secret. */
                size_t len;
                _cleanup_free_ char *clean =
                        redact(rd, res->message, strlen(res->message), false, &len, &n);
                if (!clean)
                        return -ENOMEM;
                snprintf(res->message, sizeof res->message, "%s", clean);
        }
        res->redactions += n;
        return r;
}

void run_audit(const struct abox_policy *p, const struct abox_request *req,
               const struct redactor *rd, const struct abox_result *res, const char *session)
{
        static const char *const languages[] = { "python", "shell", "program" };
        _cleanup_free_ char *joined = NULL;
        const char *code = req->code;
        size_t len = req->code_len;
        if (req->language == ABOX_LANG_PROGRAM) {
                struct strbuf sb = { 0 };
                for (size_t i = 0; req->argv && req->argv[i]; i++)
                        strbuf_appendf(&sb, "%s%s", i ? " " : "", req->argv[i]);
                len = sb.len;
                joined = strbuf_steal(&sb);
                code = joined;
        }
        unsigned ignored = 0;
        size_t clean_len = 0;
        _cleanup_free_ char *clean =
                redact(rd, code ? code : "", code ? len : 0, false, &clean_len, &ignored);
        struct audit_event ev = {
                .event = res->status == ABOX_STATUS_BLOCKED                 ? "blocked"
                         : res->limit || res->status == ABOX_STATUS_TIMEOUT ? "limit"
                                                                            : "exec",
                .language = languages[req->language],
                .code = clean,
                .code_len = clean_len,
                .session = session,
        };
        audit_write(p, &ev, res, NULL); /* writability was checked before the run */
}

/* An audit log that cannot be written fails the run before it starts. */
int run_audit_ready(const struct abox_policy *p, struct abox_error *err)
{
        if (!p->audit_path || strcmp(p->audit_path, "stderr") == 0)
                return 0;
        int fd = open(p->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return abox_error_set(err, -errno, "the audit log cannot be written");
        close(fd);
        return 0;
}

/* The policy's early refusal: a command line or program not on the
 * allowlist never gets a sandbox.  Returns 1 when refused (res filled). */
int run_refuse_early(const struct abox_policy *p, const struct abox_request *req,
                     struct abox_result *res)
{
        int n = 0;
        if (!command_policy_active(p))
                return 0;
        if (req->language == ABOX_LANG_SHELL)
                n = command_policy_check_shell(p, req->code ? req->code : "", req->code_len, res);
        else if (req->language == ABOX_LANG_PROGRAM && req->argv && req->argv[0])
                n = command_policy_check_program(p, req->argv[0], res);
        if (n <= 0)
                return n;
        res->status = ABOX_STATUS_BLOCKED;
        return 1;
}
