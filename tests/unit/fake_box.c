/* A stand-in for src/session/box.c: the box interface (box.h) without a
 * sandbox, so that the session registry, the reaper and the warm pool can
 * be run under ThreadSanitizer, whose runtime cannot live in the fork-style
 * clone a real box makes of a threaded process.  Only the threading of the
 * code above the box is under test here; real boxes are tested by the
 * session suites.
 *
 * The "interpreter" knows just what tests/integration/session_threads.c
 * sends: `name = int`, `name += int`, `a + b`, `a * b`, and a bare int or
 * name, each giving its value as Python would show it.  A box's workspace
 * is a real temporary directory, so the file operations run for real; like
 * a real box's unmounted tmpfs, it stays usable through an fd a file
 * operation still holds after the box is freed, and goes at exit. */
#include "session/box.h"

#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VARS 8

static char parent[] = "/tmp/fake-box-XXXXXX";
static pthread_once_t parent_once = PTHREAD_ONCE_INIT;
static bool parent_made;

static void make_parent(void)
{
        parent_made = mkdtemp(parent) != NULL;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st, (void)type, (void)ftw;
        return remove(path);
}

__attribute__((destructor)) static void remove_parent(void)
{
        if (parent_made)
                nftw(parent, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct box {
        struct abox_policy *policy;
        char dir[96];
        int workspace_fd;
        bool stopped;
        struct {
                char name[16];
                long value;
        } vars[VARS];
        size_t n_vars;
};

static void pause_us(long us)
{
        struct timespec ts = { 0, us * 1000 };
        nanosleep(&ts, NULL);
}

int box_start(const struct abox_policy *p, struct box **ret, struct abox_error *err)
{
        struct box *b = calloc(1, sizeof *b);
        if (!b)
                return abox_error_set(err, -ENOMEM, "out of memory");
        b->workspace_fd = -1;
        pthread_once(&parent_once, make_parent);
        snprintf(b->dir, sizeof b->dir, "%s/XXXXXX", parent);
        b->policy = abox_policy_dup(p);
        if (!b->policy || !parent_made || !mkdtemp(b->dir) ||
            (b->workspace_fd = open(b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
                int r = b->policy && parent_made ? -errno : -ENOMEM;
                box_free(b);
                return abox_error_set(err, r, "fake box: %s", strerror(-r));
        }
        pause_us(500); /* a build takes a while: the pool's clients overtake it */
        *ret = b;
        return 0;
}

static long *var(struct box *b, const char *name, size_t len, bool make)
{
        for (size_t i = 0; i < b->n_vars; i++)
                if (strlen(b->vars[i].name) == len && memcmp(b->vars[i].name, name, len) == 0)
                        return &b->vars[i].value;
        if (!make || b->n_vars == VARS || len >= sizeof b->vars[0].name)
                return NULL;
        memcpy(b->vars[b->n_vars].name, name, len);
        b->vars[b->n_vars].value = 0;
        return &b->vars[b->n_vars++].value;
}

/* An int literal or a known name. */
static bool operand(struct box *b, const char *s, long *ret)
{
        while (*s == ' ')
                s++;
        char *end;
        long v = strtol(s, &end, 10);
        if (end != s && *end == '\0') {
                *ret = v;
                return true;
        }
        long *known = var(b, s, strlen(s), false);
        if (known)
                *ret = *known;
        return known != NULL;
}

/* Runs one line; true with *shown set when it has a value to show. */
static bool eval(struct box *b, const char *code, bool *shown, long *value)
{
        char line[64];
        if (strlen(code) >= sizeof line)
                return false;
        snprintf(line, sizeof line, "%s", code);
        *shown = false;
        char *op = strstr(line, "+=");
        if (op || (op = strchr(line, '='))) {
                bool add = op[0] == '+';
                char *name = line;
                size_t len = (size_t)(op - line);
                while (len > 0 && name[len - 1] == ' ')
                        len--;
                long rhs, *slot = var(b, name, len, !add);
                if (!slot || !operand(b, op + (add ? 2 : 1), &rhs))
                        return false;
                *slot = add ? *slot + rhs : rhs;
                return true;
        }
        long lhs, rhs;
        if ((op = strpbrk(line, "+*"))) {
                char sign = *op;
                *op = '\0';
                char *left_end = op;
                while (left_end > line && left_end[-1] == ' ')
                        *--left_end = '\0';
                if (!operand(b, line, &lhs) || !operand(b, op + 1, &rhs))
                        return false;
                *value = sign == '+' ? lhs + rhs : lhs * rhs;
        } else if (!operand(b, line, value)) {
                return false;
        }
        *shown = true;
        return true;
}

int box_exec(struct box *b, const struct abox_request *req, const char *session_id, bool once,
             struct abox_result **ret, struct abox_error *err)
{
        (void)session_id;
        struct abox_result *r = result_new();
        char *code = req->code ? strndup(req->code, req->code_len) : NULL;
        if (!r || !code) {
                free(code);
                abox_result_free(r);
                return abox_error_set(err, -ENOMEM, "out of memory");
        }
        pause_us(100); /* long enough for another caller to find it busy */
        bool shown = false;
        long value = 0;
        r->in_session = !once;
        if (eval(b, code, &shown, &value)) {
                r->status = ABOX_STATUS_SUCCESS;
                r->exit_code = 0;
                char buf[32];
                snprintf(buf, sizeof buf, "%ld", value);
                if (shown && !(r->value = strdup(buf))) {
                        free(code);
                        abox_result_free(r);
                        return abox_error_set(err, -ENOMEM, "out of memory");
                }
        } else {
                r->status = ABOX_STATUS_ERROR;
                r->exit_code = 1;
                snprintf(r->message, sizeof r->message, "the fake box cannot run: %s", code);
        }
        free(code);
        *ret = r;
        return 0;
}

void box_free(struct box *b)
{
        if (!b)
                return;
        if (b->workspace_fd >= 0)
                close(b->workspace_fd);
        abox_policy_free(b->policy);
        free(b);
}

const struct abox_policy *box_policy(const struct box *b)
{
        return b->policy;
}

int box_workspace_fd(const struct box *b)
{
        return b->workspace_fd;
}

void box_file_owner(const struct box *b, uint32_t *uid, uint32_t *gid)
{
        (void)b;
        *uid = (uint32_t)getuid();
        *gid = (uint32_t)getgid();
}

void box_stop(struct box *b)
{
        b->stopped = true;
}

bool box_broken(const struct box *b)
{
        return b->stopped;
}

bool box_waiting(const struct box *b)
{
        return !b->stopped;
}
