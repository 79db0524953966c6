/* The pure halves of the jail (rootfs, Landlock, seccomp, rlimits) and the
 * protection check.  These plans are the security boundary written down
 * before any syscall, so the tests assert what must never be in them (host
 * secrets bound in, executable scratch, a silently missing protection) as
 * much as what must. */
#include <criterion/criterion.h>

#include "core/policy.h"
#include "jail/cgroup.h"
#include "jail/jail.h"
#include "runtime/runtime.h"
#include "supervise/protections.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct abox_policy *p;
static struct abox_error err;
static char srcdir[] = "/tmp/abox-test-plans-XXXXXX";

static void setup(void)
{
        p = abox_policy_new();
        cr_assert_not_null(p);
        err = (struct abox_error){ 0 };
        cr_assert_not_null(mkdtemp(srcdir));
}

static void teardown(void)
{
        abox_policy_free(p);
        rmdir(srcdir);
}

static void add_mount(const char *dst, const char *mode)
{
        char spec[512];
        snprintf(spec, sizeof spec, "%s:%s%s", srcdir, dst, mode);
        int r = abox_policy_set(p, "mounts", spec, &err);
        cr_assert_eq(r, 0, "%s: %s", spec, err.msg);
}

/* ---- rootfs ---- */

TestSuite(rootfs, .init = setup, .fini = teardown);

static const struct rootfs_op *find_op(const struct rootfs_plan *plan, enum rootfs_op_kind kind,
                                       const char *dst, unsigned *ret_index)
{
        for (unsigned i = 0; i < plan->n_ops; i++)
                if (plan->ops[i].kind == kind && strcmp(plan->ops[i].dst, dst) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return &plan->ops[i];
                }
        return NULL;
}

static bool under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

Test(rootfs, default_binds_usr_read_only)
{
        struct rootfs_plan plan;
        cr_assert_eq(rootfs_plan_build(&plan, p, &err), 0, "%s", err.msg);
        const struct rootfs_op *usr = find_op(&plan, ROOTFS_BIND, "usr", NULL);
        cr_assert_not_null(usr);
        cr_assert_str_eq(usr->src, "/usr");
        cr_assert(usr->flags & ROOTFS_RDONLY, "/usr must be read-only");
        cr_assert_not_null(find_op(&plan, ROOTFS_PROC, "proc", NULL), "a fresh /proc");
        cr_assert_not_null(find_op(&plan, ROOTFS_SCRATCH, "tmp", NULL));
        cr_assert_not_null(find_op(&plan, ROOTFS_SCRATCH, "workspace", NULL));
        cr_assert_eq(plan.scratch_bytes, p->disk_max_bytes);
        char want[32];
        snprintf(want, sizeof want, "%llu", (unsigned long long)p->disk_max_bytes);
        cr_assert_str_eq(plan.scratch_size, want);
        rootfs_plan_done(&plan);
}

Test(rootfs, never_binds_host_secrets)
{
        static const char *const secret[] = { "/etc/shadow", "/etc/gshadow", "/etc/sudoers",
                                              "/root",       "/home",        "/run",
                                              "/var",        "/proc",        "/sys",
                                              "/boot",       "/tmp" };
        struct rootfs_plan plan;
        cr_assert_eq(rootfs_plan_build(&plan, p, &err), 0, "%s", err.msg);
        for (unsigned i = 0; i < plan.n_ops; i++) {
                const struct rootfs_op *op = &plan.ops[i];
                if (op->kind != ROOTFS_BIND)
                        continue;
                cr_assert(op->src[0] == '/', "bind sources are absolute: %s", op->src);
                /* Binding "/" or "/etc" whole would bring every secret in. */
                cr_assert_str_neq(op->src, "/");
                cr_assert_str_neq(op->src, "/etc");
                cr_assert_str_neq(op->src, "/dev", "/dev is a tmpfs with single nodes");
                for (size_t k = 0; k < sizeof secret / sizeof *secret; k++)
                        cr_assert_not(under(op->src, secret[k]), "binds %s", op->src);
                /* Host trees are read-only; only device nodes are writable. */
                cr_assert(op->flags & (ROOTFS_RDONLY | ROOTFS_DEVICE), "%s is writable", op->src);
        }
        rootfs_plan_done(&plan);
}

Test(rootfs, passwd_is_synthesised)
{
        struct rootfs_plan plan;
        cr_assert_eq(rootfs_plan_build(&plan, p, &err), 0);
        const struct rootfs_op *pw = find_op(&plan, ROOTFS_FILE, "etc/passwd", NULL);
        cr_assert_not_null(pw, "etc/passwd is written, not bound from the host");
        cr_assert_not_null(strstr(pw->data, "sandbox:x:1000:1000:"));
        cr_assert_null(find_op(&plan, ROOTFS_BIND, "etc/passwd", NULL));
        rootfs_plan_done(&plan);
}

Test(rootfs, user_mounts_after_scratch)
{
        add_mount("/data", "");
        add_mount("/tmp/out", ":rw");
        struct rootfs_plan plan;
        cr_assert_eq(rootfs_plan_build(&plan, p, &err), 0, "%s", err.msg);
        unsigned i_data, i_out, i_tmp;
        const struct rootfs_op *data = find_op(&plan, ROOTFS_BIND, "data", &i_data);
        const struct rootfs_op *out = find_op(&plan, ROOTFS_BIND, "tmp/out", &i_out);
        cr_assert_not_null(data);
        cr_assert_not_null(out);
        cr_assert_not_null(find_op(&plan, ROOTFS_SCRATCH, "tmp", &i_tmp));
        cr_assert_str_eq(data->src, srcdir);
        cr_assert(data->flags & ROOTFS_RDONLY);
        cr_assert_not(out->flags & ROOTFS_RDONLY, ":rw is writable");
        cr_assert(out->flags & ROOTFS_NOEXEC, "writable binds are noexec");
        /* A bind below /tmp placed before the scratch tmpfs would be hidden. */
        cr_assert_gt(i_out, i_tmp);
        cr_assert_gt(i_data, i_tmp);
        rootfs_plan_done(&plan);
}

Test(rootfs, mounts_are_bounded_and_the_bound_fits)
{
        /* The policy refuses a mount past POLICY_MAX_MOUNTS, and the root
         * plan has room for every mount the policy accepts, with the Python
         * kernel's files on top (run_prepare adds them after the build). */
        char dir[600];
        snprintf(dir, sizeof dir, "%s/usr", srcdir);
        cr_assert_eq(mkdir(dir, 0755), 0);
        cr_assert_eq(abox_policy_set(p, "rootfs", srcdir, &err), 0, "%s", err.msg);
        for (int i = 0; i < POLICY_MAX_MOUNTS; i++) {
                char dst[32];
                snprintf(dst, sizeof dst, "/m%d", i);
                add_mount(dst, "");
        }
        char spec[512];
        snprintf(spec, sizeof spec, "%s:/one-too-many", srcdir);
        cr_assert_eq(abox_policy_set(p, "mounts", spec, &err), -E2BIG);
        cr_assert_not_null(strstr(err.msg, "at most"), "%s", err.msg);
        struct rootfs_plan plan;
        int r = rootfs_plan_build(&plan, p, &err);
        cr_assert_eq(r, 0, "%s", err.msg);
        for (int i = 0; i < RUNTIME_PYTHON_FILES; i++)
                cr_assert_eq(rootfs_plan_add_file(&plan, "etc/agentbox/f", "", 0), 0);
        rootfs_plan_done(&plan);
        snprintf(dir, sizeof dir, "%s/usr", srcdir);
        rmdir(dir);
}

/* Debian's Python gets an empty /etc/python3.X/sitecustomize.py, for the
 * version usr/bin/python3 names, and only for a name of that shape.
 * Returns the stub's path in the plan, or "" for none. */
static const char *sitecustomize_for(const char *link_target)
{
        static char found[128];
        char path[600];
        snprintf(path, sizeof path, "%s/usr", srcdir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/usr/bin", srcdir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/usr/bin/python3", srcdir);
        unlink(path);
        cr_assert_eq(symlink(link_target, path), 0);
        cr_assert_eq(abox_policy_set(p, "rootfs", srcdir, &err), 0, "%s", err.msg);
        struct rootfs_plan plan;
        cr_assert_eq(rootfs_plan_build(&plan, p, &err), 0, "%s", err.msg);
        found[0] = '\0';
        for (unsigned i = 0; i < plan.n_ops; i++)
                if (strstr(plan.ops[i].dst, "sitecustomize.py")) {
                        cr_assert_eq(plan.ops[i].kind, ROOTFS_FILE);
                        cr_assert_eq(plan.ops[i].len, 0);
                        snprintf(found, sizeof found, "%s", plan.ops[i].dst);
                }
        rootfs_plan_done(&plan);
        unlink(path);
        snprintf(path, sizeof path, "%s/usr/bin", srcdir);
        rmdir(path);
        snprintf(path, sizeof path, "%s/usr", srcdir);
        rmdir(path);
        return found;
}

Test(rootfs, sitecustomize_stub_for_the_default_python_only)
{
        cr_assert_str_eq(sitecustomize_for("python3.13"), "etc/python3.13/sitecustomize.py");
        cr_assert_str_eq(sitecustomize_for("/usr/bin/python3.9"), "etc/python3.9/sitecustomize.py");
        cr_assert_str_eq(sitecustomize_for("python3.13/../../x"), "");
        cr_assert_str_eq(sitecustomize_for("python3."), "");
        cr_assert_str_eq(sitecustomize_for("pypy3"), "");
}

Test(rootfs, configured_rootfs)
{
        char usr[300];
        cr_assert_eq(abox_policy_set(p, "rootfs", srcdir, &err), 0);
        struct rootfs_plan plan;
        cr_assert_lt(rootfs_plan_build(&plan, p, &err), 0, "a rootfs without usr/ is refused");
        cr_assert_not_null(strstr(err.msg, "usr"));
        rootfs_plan_done(&plan);
        snprintf(usr, sizeof usr, "%s/usr", srcdir);
        cr_assert_eq(mkdir(usr, 0755), 0);
        int r = rootfs_plan_build(&plan, p, &err);
        const struct rootfs_op *op = r == 0 ? find_op(&plan, ROOTFS_BIND, "usr", NULL) : NULL;
        char src[300];
        snprintf(src, sizeof src, "%s", op ? op->src : "(none)");
        rootfs_plan_done(&plan);
        rmdir(usr);
        cr_assert_eq(r, 0, "%s", err.msg);
        cr_assert_str_eq(src, usr, "/usr comes from the configured root");
        cr_assert_eq(abox_policy_set(p, "rootfs", "/nonexistent/abox-root", &err), 0);
        cr_assert_lt(rootfs_plan_build(&plan, p, &err), 0);
        rootfs_plan_done(&plan);
}

/* ---- landlock ---- */

TestSuite(landlock, .init = setup, .fini = teardown);

static uint64_t rights(const struct landlock_plan *plan, const char *path)
{
        for (unsigned i = 0; i < plan->n_rules; i++)
                if (strcmp(plan->rules[i].path, path) == 0)
                        return plan->rules[i].access;
        cr_assert_fail("no Landlock rule for %s", path);
        return 0;
}

static void build_landlock(struct landlock_plan *plan)
{
        cr_assert_eq(landlock_plan_build(plan, p, NULL), 0);
        if (plan->abi == 0)
                cr_skip_test("Landlock is not available on this kernel");
}

#define X  LANDLOCK_ACCESS_FS_EXECUTE
#define W  LANDLOCK_ACCESS_FS_WRITE_FILE
#define RF LANDLOCK_ACCESS_FS_READ_FILE
#define MK LANDLOCK_ACCESS_FS_MAKE_REG

Test(landlock, scratch_writable_system_executable)
{
        struct landlock_plan plan;
        build_landlock(&plan);
        cr_assert_eq(plan.handled_fs & (X | W | RF | MK), X | W | RF | MK,
                     "execution and writes must be handled, or nothing restricts them");
        cr_assert_eq(rights(&plan, "/tmp") & (W | MK | RF), W | MK | RF);
        cr_assert_eq(rights(&plan, "/workspace") & (W | MK | RF), W | MK | RF);
        cr_assert(rights(&plan, "/usr") & X);
        cr_assert(rights(&plan, "/usr") & RF);
        cr_assert_not(rights(&plan, "/usr") & (W | MK), "/usr is read-only");
        cr_assert_not(rights(&plan, "/etc") & (W | X));
        cr_assert_not(rights(&plan, "/") & RF, "only listing at the root");
}

Test(landlock, nothing_writable_is_executable)
{
        /* The kernel-enforced allowlist rests on this: code written
         * anywhere (/tmp, /workspace, /dev/shm, rw mounts) cannot be run. */
        add_mount("/data", ":rw");
        add_mount("/ro", "");
        struct landlock_plan plan;
        build_landlock(&plan);
        cr_assert_not(rights(&plan, "/tmp") & X);
        cr_assert_not(rights(&plan, "/workspace") & X);
        cr_assert_not(rights(&plan, "/dev/shm") & X);
        cr_assert_not(rights(&plan, "/data") & X);
        cr_assert(rights(&plan, "/data") & W);
        cr_assert_not(rights(&plan, "/ro") & (W | MK | X));
        cr_assert(rights(&plan, "/ro") & RF);
        for (unsigned i = 0; i < plan.n_rules; i++) {
                uint64_t a = plan.rules[i].access;
                cr_assert_not((a & X) && (a & (W | MK)), "%s is writable and executable",
                              plan.rules[i].path);
                cr_assert_eq(a & ~plan.handled_fs, 0, "rule grants an unhandled right");
        }
}

Test(landlock, tcp_is_left_to_the_network_namespace)
{
        /* Loopback must work for programs that talk to themselves; the
         * namespace, not port rules, keeps everything else out of reach. */
        static const char *const modes[] = { "none", "restricted", "full" };
        for (size_t i = 0; i < 3; i++) {
                struct landlock_plan plan;
                cr_assert_eq(abox_policy_set(p, "network_access", modes[i], &err), 0);
                build_landlock(&plan);
                cr_assert_eq(plan.handled_net, 0, "network %s: no TCP rules", modes[i]);
        }
}

/* How many user mounts rootfs_plan_build accepts for the policy as it is. */
/* Adds mounts until the policy refuses one; the root plan must take them all. */
static int mounts_that_fit(void)
{
        int n = 0;
        for (;; n++) {
                char dst[32], spec[512];
                snprintf(dst, sizeof dst, "/m%d", n);
                snprintf(spec, sizeof spec, "%s:%s", srcdir, dst);
                if (abox_policy_set(p, "mounts", spec, &err) < 0)
                        break;
        }
        struct rootfs_plan rp;
        int r = rootfs_plan_build(&rp, p, &err);
        rootfs_plan_done(&rp);
        cr_assert_eq(r, 0, "%s", err.msg);
        return n;
}

Test(landlock, every_accepted_mount_gets_a_rule)
{
        /* Whatever rootfs_plan_build accepts must be reachable through
         * Landlock too; a rule dropped for lack of room makes a mount
         * silently unusable.  A configured rootfs holding only usr/ makes
         * the rootfs plan small, so it accepts the most user mounts. */
        char usr[300];
        snprintf(usr, sizeof usr, "%s/usr", srcdir);
        cr_assert_eq(mkdir(usr, 0755), 0);
        cr_assert_eq(abox_policy_set(p, "rootfs", srcdir, &err), 0);
        int n = mounts_that_fit();
        rmdir(usr);
        struct landlock_plan plan;
        build_landlock(&plan);
        for (int i = 0; i < n; i++) {
                bool found = false;
                for (unsigned k = 0; k < plan.n_rules; k++)
                        found |= strcmp(plan.rules[k].path, p->mounts[i].dst) == 0;
                cr_assert(found,
                          "mount %s (%d of %d accepted) has no Landlock rule "
                          "(%u rules, max %d)",
                          p->mounts[i].dst, i + 1, n, plan.n_rules, JAIL_MAX_RULES);
        }
}

/* ---- seccomp: run the exported BPF on sample syscalls ---- */

static uint32_t bpf_run(const struct sock_fprog *prog, const struct seccomp_data *d)
{
        uint32_t A = 0, Xr = 0, mem[BPF_MEMWORDS] = { 0 };
        for (unsigned pc = 0; pc < prog->len; pc++) {
                const struct sock_filter *f = &prog->filter[pc];
                switch (f->code) {
                case BPF_LD | BPF_W | BPF_ABS:
                        cr_assert_lt(f->k, sizeof *d);
                        memcpy(&A, (const char *)d + f->k, 4);
                        break;
                case BPF_LD | BPF_IMM: A = f->k; break;
                case BPF_LD | BPF_MEM: A = mem[f->k]; break;
                case BPF_LDX | BPF_IMM: Xr = f->k; break;
                case BPF_ST: mem[f->k] = A; break;
                case BPF_ALU | BPF_AND | BPF_K: A &= f->k; break;
                case BPF_JMP | BPF_JA: pc += f->k; break;
                case BPF_JMP | BPF_JEQ | BPF_K: pc += A == f->k ? f->jt : f->jf; break;
                case BPF_JMP | BPF_JGT | BPF_K: pc += A > f->k ? f->jt : f->jf; break;
                case BPF_JMP | BPF_JGE | BPF_K: pc += A >= f->k ? f->jt : f->jf; break;
                case BPF_JMP | BPF_JSET | BPF_K: pc += (A & f->k) ? f->jt : f->jf; break;
                case BPF_RET | BPF_K: return f->k;
                case BPF_RET | BPF_A: return A;
                default: cr_assert_fail("BPF opcode 0x%x not modelled by this test", f->code);
                }
        }
        (void)Xr;
        cr_assert_fail("the filter ran off its end");
        return 0;
}

static uint32_t verdict(const struct sock_fprog *prog, uint32_t arch, long nr, uint64_t a0,
                        uint64_t a1)
{
        struct seccomp_data d = { .nr = (int)nr, .arch = arch, .args = { a0, a1 } };
        return bpf_run(prog, &d);
}

#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))

Test(seccomp, filter_denies_escapes)
{
#ifndef __x86_64__
        cr_skip_test("syscall numbers below are x86_64's");
#else
        struct sock_fprog prog = { 0 };
        cr_assert_eq(seccomp_plan_build(&prog, &err), 0, "%s", err.msg);
        cr_assert_gt(prog.len, 0);
        cr_assert_not_null(prog.filter);
        const uint32_t arch = AUDIT_ARCH_X86_64;
        cr_assert_eq(verdict(&prog, arch, SYS_read, 0, 0), SECCOMP_RET_ALLOW);
        cr_assert_eq(verdict(&prog, arch, SYS_mount, 0, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_ptrace, 0, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_unshare, 0, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_io_uring_setup, 0, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_open_by_handle_at, 0, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_clone3, 0, 0), ERRNO(ENOSYS));
        /* clone: threads and fork are fine, new namespaces are not. */
        cr_assert_eq(verdict(&prog, arch, SYS_clone, 0x3d0f00, 0), SECCOMP_RET_ALLOW);
        cr_assert_eq(verdict(&prog, arch, SYS_clone, 0x10000000 /* NEWUSER */ | 17, 0),
                     ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_clone, 0x00020000 /* NEWNS */, 0), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_socket, 17 /* AF_PACKET */, 3), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_socket, 2, 3 /* SOCK_RAW */), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_socket, 2, 1 /* SOCK_STREAM */), SECCOMP_RET_ALLOW);
        cr_assert_eq(verdict(&prog, arch, SYS_ioctl, 0, 0x5412 /* TIOCSTI */), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_ioctl, 0, 0x541C /* TIOCLINUX */), ERRNO(EPERM));
        cr_assert_eq(verdict(&prog, arch, SYS_ioctl, 0, 0x5401 /* TCGETS */), SECCOMP_RET_ALLOW);
        cr_assert_eq(verdict(&prog, arch, SYS_personality, 0, 0), SECCOMP_RET_ALLOW);
        cr_assert_eq(verdict(&prog, arch, SYS_personality, 0x0040000, 0), ERRNO(EPERM));
        /* The 32-bit entry and x32 numbers bypass every rule above. */
        cr_assert_eq(verdict(&prog, AUDIT_ARCH_I386, 3, 0, 0), ERRNO(EPERM));
        cr_assert_neq(verdict(&prog, arch, 0x40000000 | SYS_mount, 0, 0), SECCOMP_RET_ALLOW);
        seccomp_plan_done(&prog);
        cr_assert_null(prog.filter);
#endif
}

Test(seccomp, personality_only_per_linux)
{
#ifndef __x86_64__
        cr_skip_test("syscall numbers below are x86_64's");
#else
        /* Only PER_LINUX passes: libseccomp 2.5 cannot allow the query
         * (0xffffffff) without letting every flag through with it. */
        struct sock_fprog prog = { 0 };
        cr_assert_eq(seccomp_plan_build(&prog, &err), 0, "%s", err.msg);
        uint32_t query = verdict(&prog, AUDIT_ARCH_X86_64, SYS_personality, 0xffffffffu, 0);
        uint32_t linux32 = verdict(&prog, AUDIT_ARCH_X86_64, SYS_personality, 0x0008, 0);
        seccomp_plan_done(&prog);
        cr_assert_eq(query, ERRNO(EPERM), "personality(0xffffffff) gets 0x%x", query);
        cr_assert_eq(linux32, ERRNO(EPERM), "personality(PER_LINUX32) gets 0x%x", linux32);
#endif
}

/* ---- rlimits ---- */

Test(rlimit, plan_follows_policy)
{
        struct abox_policy *q = abox_policy_new();
        struct rlimit_plan plan;
        rlimit_plan_build(&plan, q);

        cr_assert_eq(plan.fsize_bytes, q->file_size_max_bytes);
        cr_assert_eq(plan.nofile, q->open_files_max);
        cr_assert_eq(plan.cpu_seconds, 0);
        cr_assert_eq(abox_policy_set(q, "cpu_time_limit", "2.5", NULL), 0);
        rlimit_plan_build(&plan, q);
        cr_assert_geq(plan.cpu_seconds * 1000, 2500, "the backstop never undercuts the limit");
        abox_policy_free(q);
}

/* ---- protections ---- */

TestSuite(protections, .init = setup, .fini = teardown);

static const struct jail_probe good_host = {
        .userns = true,
        .landlock_abi = 7,
        .seccomp = true,
        .sealed_init = true,
        .cgroup = { .version = 2, .have = { true, true, true, true }, .detail = "v2" },
};

static int require(const struct jail_probe *probe, struct protection_set *set)
{
        protections_evaluate(p, probe, /* every= */ false, set);
        err = (struct abox_error){ 0 };
        return protections_require(set, &err);
}

static bool listed(const struct protection_set *set, const char *name)
{
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->items[i].name, name) == 0)
                        return true;
        return false;
}

Test(protections, good_host_runs)
{
        struct protection_set set;
        cr_assert_eq(require(&good_host, &set), 0, "%s", err.msg);
        cr_assert(listed(&set, "userns"));
        cr_assert(listed(&set, "seccomp"));
        cr_assert(listed(&set, "landlock:7"));
        cr_assert(listed(&set, "cgroup2:memory"));
        cr_assert(listed(&set, "cgroup2:pids"));
        cr_assert_not(listed(&set, "cgroup2:cpu"), "no CPU cap asked for");
        cr_assert(protection_in_force(&set, "landlock"));
        cr_assert(set.want_cg[CG_MEMORY]);
        /* check shows the row all the same, as not required */
        protections_evaluate(p, &good_host, /* every= */ true, &set);
        cr_assert(listed(&set, "cgroup2:cpu"));
        cr_assert_not(set.want_cg[CG_CPU]);
        cr_assert_eq(abox_policy_set(p, "cpu_limit", "1", &err), 0);
        cr_assert_eq(require(&good_host, &set), 0);
        cr_assert(listed(&set, "cgroup2:cpu"));
        cr_assert(set.want_cg[CG_CPU]);
}

Test(protections, missing_sealed_init_refused_unless_degraded)
{
        struct jail_probe probe = good_host;
        probe.sealed_init = false;
        struct protection_set set;
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert(strstr(err.msg, "'sealed_init'"), "%s", err.msg);
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "sealed_init", &err), 0, "%s", err.msg);
        cr_assert_eq(require(&probe, &set), 0, "%s", err.msg);
}

Test(protections, missing_landlock_refused_unless_degraded)
{
        struct jail_probe probe = good_host;
        probe.landlock_abi = 0;
        struct protection_set set;
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert_not_null(strstr(err.msg, "'landlock'"), "%s", err.msg);
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "landlock", &err), 0);
        cr_assert_eq(require(&probe, &set), 0, "%s", err.msg);
        cr_assert_not(protection_in_force(&set, "landlock"), "not claimed when missing");
}

Test(protections, missing_cgroup_refused_unless_degraded)
{
        struct jail_probe probe = good_host;
        probe.cgroup.version = 0;
        memset(probe.cgroup.have, 0, sizeof probe.cgroup.have);
        struct protection_set set;
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert_not_null(strstr(err.msg, "cgroup"), "%s", err.msg);
        cr_assert_not(set.want_cg[CG_MEMORY]);
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "cgroup", &err), 0);
        cr_assert_eq(require(&probe, &set), 0, "%s", err.msg);
        cr_assert_not(protection_in_force(&set, "cgroup2:memory"));
}

Test(protections, degrading_one_controller_is_exact)
{
        struct jail_probe probe = good_host;
        probe.cgroup.have[CG_MEMORY] = false;
        struct protection_set set;
        cr_assert_lt(require(&probe, &set), 0);
        cr_assert_not_null(strstr(err.msg, "memory"), "%s", err.msg);
        /* Degrading pids must not excuse missing memory. */
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "cgroup:pids", &err), 0);
        cr_assert_lt(require(&probe, &set), 0);
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "cgroup:memory", &err), 0);
        cr_assert_eq(require(&probe, &set), 0, "%s", err.msg);
        cr_assert(protection_in_force(&set, "cgroup2:pids"));
        cr_assert_not(set.want_cg[CG_MEMORY]);
        cr_assert(set.want_cg[CG_PIDS]);
}

Test(protections, missing_namespaces_or_seccomp_refused)
{
        struct jail_probe probe = good_host;
        probe.userns = false;
        struct protection_set set;
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert_not_null(strstr(err.msg, "userns"), "%s", err.msg);
        probe = good_host;
        probe.seccomp = false;
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert_not_null(strstr(err.msg, "seccomp"), "%s", err.msg);
        /* Degrading something else does not help. */
        cr_assert_eq(abox_policy_set(p, "allow_degraded", "landlock", &err), 0);
        cr_assert_lt(require(&probe, &set), 0);
}

/* On v1 the CPU-time limit is watched through cpuacct: with cpu but no
 * cpuacct it would hold per process only, so it is reported missing. */
Test(protections, cpu_time_on_v1_needs_cpuacct)
{
        struct jail_probe probe = good_host;
        probe.cgroup.version = 1;
        probe.cgroup.have[CG_CPUACCT] = false;
        struct protection_set set;
        cr_assert_eq(abox_policy_set(p, "cpu_limit", "1", &err), 0);
        cr_assert_eq(require(&probe, &set), 0, "a CPU share alone needs no cpuacct: %s", err.msg);
        cr_assert_eq(abox_policy_set(p, "cpu_time_limit", "2", &err), 0);
        cr_assert_eq(require(&probe, &set), -EPERM);
        cr_assert_not_null(strstr(err.msg, "cgroup1:cpu"), "%s", err.msg);
        probe.cgroup.have[CG_CPUACCT] = true;
        cr_assert_eq(require(&probe, &set), 0, "%s", err.msg);
}

/* cgroup discovery: what /proc/self/cgroup and mountinfo say, as parsed. */
Test(cgroup_discovery, own_path_by_controller_and_v2)
{
        const char *text = "12:pids:/user.slice/a\n"
                           "4:cpu,cpuacct:/user.slice/b\n"
                           "3:cpuset:/\n"
                           "0::/system.slice/agentbox.service\n";
        char buf[256];
        cr_assert_eq(cgroup_parse_own_path(text, "pids", buf, sizeof buf), 0);
        cr_assert_str_eq(buf, "/user.slice/a");
        cr_assert_eq(cgroup_parse_own_path(text, "cpuacct", buf, sizeof buf), 0);
        cr_assert_str_eq(buf, "/user.slice/b");
        /* "cpu" is a whole name in "cpu,cpuacct", not a prefix of "cpuset". */
        cr_assert_eq(cgroup_parse_own_path(text, "cpu", buf, sizeof buf), 0);
        cr_assert_str_eq(buf, "/user.slice/b");
        cr_assert_eq(cgroup_parse_own_path(text, NULL, buf, sizeof buf), 0);
        cr_assert_str_eq(buf, "/system.slice/agentbox.service");
        cr_assert_eq(cgroup_parse_own_path(text, "memory", buf, sizeof buf), -ENOENT);
        cr_assert_eq(cgroup_parse_own_path(text, "pids", buf, 5), -ENAMETOOLONG);
}

Test(cgroup_discovery, v1_mount_and_the_root_it_stands_for)
{
        const char *mi =
                "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
                "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                "32 25 0:28 /lxc/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                "33 25 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n";
        char mnt[256], root[256], parent[512];
        cr_assert_eq(cgroup_parse_v1_mount(mi, "memory", mnt, sizeof mnt, root, sizeof root), 0);
        cr_assert_str_eq(mnt, "/sys/fs/cgroup/memory");
        cr_assert_str_eq(root, "/lxc/c1");
        cr_assert_eq(cgroup_parse_v1_mount(mi, "cpu", mnt, sizeof mnt, root, sizeof root), 0);
        cr_assert_str_eq(mnt, "/sys/fs/cgroup/cpu,cpuacct");
        cr_assert_eq(cgroup_parse_v1_mount(mi, "pids", mnt, sizeof mnt, root, sizeof root),
                     -ENOENT);
        /* A container's mount root is cut off the own path; "/" is not. */
        cr_assert_eq(cgroup_parent_path("/sys/fs/cgroup/memory", "/lxc/c1", "/lxc/c1/svc", parent,
                                        sizeof parent),
                     0);
        cr_assert_str_eq(parent, "/sys/fs/cgroup/memory/svc/agentbox");
        cr_assert_eq(cgroup_parent_path("/sys/fs/cgroup", "/", "/", parent, sizeof parent), 0);
        cr_assert_str_eq(parent, "/sys/fs/cgroup/agentbox");
        cr_assert_eq(cgroup_parent_path("/sys/fs/cgroup", "/", "/a", parent, 10), -ENAMETOOLONG);
}

Test(cgroup_discovery, subtree_control_words)
{
        cr_assert(cgroup_list_has("cpuset cpu io memory pids", "cpu"));
        cr_assert(!cgroup_list_has("cpuset io memory", "cpu"));
        cr_assert(cgroup_list_has("memory\n", "memory"));
        cr_assert(!cgroup_list_has("hugetlb", "memory"));
        cr_assert(!cgroup_list_has("", "pids"));
}
