/* cgroup v2 placement (cgroup_v2_place) against the real kernel.
 *
 * On a v2 host the sandboxes' controllers must be passed down by a group
 * that holds no processes of its own.  This host binds memory, pids and cpu
 * to v1, so these tests use whichever controller its cgroup2 tree does
 * offer (hugetlb here; the first one listed on a pure v2 host): the rule
 * being tested, "no internal processes", is the kernel's and the same for
 * every controller.  Each test makes a group of its own at the top of the
 * tree and moves its processes there. */
#include "jail/cgroup.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static char mnt[256], ctrl[32], group[64], gdir[320], orig[256];
static pid_t helper = -1;
static bool enabled_at_top; /* the test turned ctrl on at the top, and turns it off */

static int write_file(const char *path, const char *value)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, value, strlen(value));
        int r = n < 0 ? -errno : 0;
        close(fd);
        return r;
}

static void read_file(const char *path, char *buf, size_t len)
{
        buf[0] = '\0';
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        size_t n = fread(buf, 1, len - 1, f);
        buf[n] = '\0';
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
}

static void own_path(char *buf, size_t len)
{
        char text[4096];
        FILE *f = fopen("/proc/self/cgroup", "re");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f)
                fclose(f);
        cr_assert_eq(cgroup_parse_own_path(text, NULL, buf, len), 0, "no 0:: line: %s", text);
}

static void join(const char *dir, pid_t pid)
{
        char path[600], num[16];
        snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        snprintf(num, sizeof num, "%d", pid);
        cr_assert_eq(write_file(path, num), 0, "cannot move %d into %s", pid, dir);
}

static void setup(void)
{
        char line[1024];
        FILE *mi = fopen("/proc/self/mountinfo", "re");
        cr_assert(mi);
        while (!mnt[0] && fgets(line, sizeof line, mi)) {
                char *sep = strstr(line, " - cgroup2 ");
                if (sep)
                        sscanf(line, "%*s %*s %*s %*s %255s", mnt);
        }
        fclose(mi);
        cr_assert(mnt[0], "this host has no cgroup2 tree mounted");
        char offered[256], path[600];
        snprintf(path, sizeof path, "%s/cgroup.controllers", mnt);
        read_file(path, offered, sizeof offered);
        cr_assert(sscanf(offered, "%31s", ctrl) == 1,
                  "the cgroup2 tree offers no controller to test the rule with");
        /* Offered to the test's group only if the top passes it down. */
        char ctl[256], tok[40];
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", mnt);
        read_file(path, ctl, sizeof ctl);
        if (!cgroup_list_has(ctl, ctrl)) {
                snprintf(tok, sizeof tok, "+%s", ctrl);
                cr_assert_eq(write_file(path, tok), 0, "cannot enable %s at the top", ctrl);
                enabled_at_top = true;
        }
        own_path(orig, sizeof orig);
        snprintf(group, sizeof group, "/abox-placetest-%d", getpid());
        snprintf(gdir, sizeof gdir, "%s%s", mnt, group);
        cr_assert_eq(mkdir(gdir, 0755), 0, "%s: %s", gdir, strerror(errno));
}

static void teardown(void)
{
        char path[600];
        snprintf(path, sizeof path, "%s%s", mnt, strcmp(orig, "/") ? orig : "");
        join(path, getpid());
        if (helper > 0) {
                kill(helper, SIGKILL);
                waitpid(helper, NULL, 0);
        }
        static const char *const subs[] = { "/agentbox-supervisor", "/agentbox/abox-x", "/agentbox",
                                            "" };
        for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
                snprintf(path, sizeof path, "%s%s", gdir, subs[i]);
                rmdir(path);
        }
        cr_expect_eq(access(gdir, F_OK), -1, "%s left behind", gdir);
        if (enabled_at_top) {
                char tok[40];
                snprintf(path, sizeof path, "%s/cgroup.subtree_control", mnt);
                snprintf(tok, sizeof tok, "-%s", ctrl);
                write_file(path, tok);
        }
}

static bool passes_down(const char *dir)
{
        char path[600], ctl[256];
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
        read_file(path, ctl, sizeof ctl);
        return cgroup_list_has(ctl, ctrl);
}

/* A process that only shares the group, as a login shell would. */
static void share_group(void)
{
        helper = fork();
        cr_assert_geq(helper, 0);
        if (helper == 0) {
                pause();
                _exit(0);
        }
        join(gdir, helper);
}

TestSuite(cgroup_v2_place, .init = setup, .fini = teardown, .timeout = 30);

Test(cgroup_v2_place, a_supervisor_alone_in_its_group_moves_into_a_leaf)
{
        join(gdir, getpid());
        cr_assert_not(passes_down(gdir));
        struct cgroup_v2_place pl;
        cr_assert_eq(cgroup_v2_place(mnt, group, ctrl, &pl), 0, "%s", pl.note);
        cr_assert_str_eq(pl.base, gdir);
        cr_assert(passes_down(gdir), "the group does not pass %s down", ctrl);
        cr_assert(cgroup_list_has(pl.ctl, ctrl), "reported: %s", pl.ctl);
        cr_assert(strstr(pl.note, "supervisor moved into"), "%s", pl.note);
        char now[512], want[600];
        own_path(now, sizeof now);
        snprintf(want, sizeof want, "%s/agentbox-supervisor", group);
        cr_assert_str_eq(now, want);

        /* The sandboxes' parent below it passes the controller on in turn. */
        char parent[400], tok[40];
        snprintf(parent, sizeof parent, "%s/agentbox", gdir);
        cr_assert_eq(mkdir(parent, 0755), 0);
        snprintf(tok, sizeof tok, "+%s", ctrl);
        cr_assert_eq(cgroup_write(parent, "cgroup.subtree_control", tok), 0);
        snprintf(want, sizeof want, "%s/abox-x", parent);
        cr_assert_eq(mkdir(want, 0755), 0);

        /* The next run's probe starts from the leaf: same group, no move. */
        cr_assert_eq(cgroup_v2_place(mnt, now, ctrl, &pl), 0, "%s", pl.note);
        cr_assert_str_eq(pl.base, gdir);
        cr_assert_str_eq(pl.note, "");
}

Test(cgroup_v2_place, a_shared_group_is_left_alone_and_root_uses_the_top_of_the_tree)
{
        share_group();
        join(gdir, getpid());
        struct cgroup_v2_place pl;
        cr_assert_eq(cgroup_v2_place(mnt, group, ctrl, &pl), 0, "%s", pl.note);
        cr_assert_str_eq(pl.base, mnt);
        cr_assert(strstr(pl.note, "holds other processes"), "%s", pl.note);
        cr_assert_not(passes_down(gdir), "the shared group was changed");
        char now[512];
        own_path(now, sizeof now);
        cr_assert_str_eq(now, group, "the supervisor moved although it was not alone");
}

/* Runs fn as uid nobody in the group, delegated to nobody as systemd's
 * Delegate= does it (the directory and its procs and subtree files). */
static int as_delegated_user(int (*fn)(void))
{
        static const char *const files[] = { "", "/cgroup.procs", "/cgroup.subtree_control",
                                             "/cgroup.threads" };
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
                char path[600];
                snprintf(path, sizeof path, "%s%s", gdir, files[i]);
                cr_assert_eq(chown(path, NOBODY, NOBODY), 0, "%s", path);
        }
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
                        _exit(90);
                /* the parent moves this process into the group after fork */
                char now[512];
                for (int i = 0; i < 1000 && (own_path(now, sizeof now), strcmp(now, group)); i++)
                        usleep(1000);
                _exit(fn());
        }
        join(gdir, pid);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st), "status %#x", st);
        return WEXITSTATUS(st);
}

/* Exit codes name the first check that failed. */
static int user_alone(void)
{
        char now[512];
        struct cgroup_v2_place pl;
        if (cgroup_v2_place(mnt, group, ctrl, &pl) != 0)
                return 1;
        if (strcmp(pl.base, gdir) != 0)
                return 2;
        if (!passes_down(gdir))
                return 3;
        own_path(now, sizeof now);
        return strstr(now, "/agentbox-supervisor") ? 0 : 4;
}

static int user_shared(void)
{
        struct cgroup_v2_place pl;
        if (cgroup_v2_place(mnt, group, ctrl, &pl) != -EBUSY)
                return 1;
        if (strcmp(pl.base, gdir) != 0) /* never the top of the tree */
                return 2;
        if (!strstr(pl.note, "holds other processes"))
                return 3;
        return passes_down(gdir) ? 4 : 0;
}

Test(cgroup_v2_place, an_ordinary_user_with_a_delegated_group_moves_into_a_leaf)
{
        cr_assert_eq(as_delegated_user(user_alone), 0);
}

Test(cgroup_v2_place, an_ordinary_user_sharing_the_group_is_refused_with_the_reason)
{
        share_group();
        cr_assert_eq(as_delegated_user(user_shared), 0);
}
