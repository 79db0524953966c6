/* Sessions and their registry.
 *
 * Locks: the registry's lock guards its list, its counts and every
 * session's reference count; a session's lock guards its box, its busy flag
 * and its clock readings.  Neither is held across anything slow — a box's
 * start, an execution, a teardown — and a session's lock is never taken
 * while the registry's is held for longer than a flag test.
 *
 * A session is created "starting" (counted, so the limits hold while its
 * sandbox is built, but not findable), then ready, then ended.  Ending
 * happens once, by destroy, the reaper, the registry's end, or a sandbox
 * that broke; it waits for an execution under way — the reaper does not
 * wait: a session busy past its lifetime ends when its execution returns,
 * and that result says so.
 */
#include "agentbox.h"

#include "base/cleanup.h"
#include "base/clock.h"
#include "box.h"
#include "core/audit.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/result.h"
#include "files.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_SESSIONS  64
#define DEFAULT_MAX_PER_OWNER 16
#define DEFAULT_IDLE_MS       600000ULL  /* 10 minutes */
#define DEFAULT_LIFETIME_MS   3600000ULL /* an hour */
#define REAP_INTERVAL_S       1

/* What a caller is told about a session being ended. */
#define ENDED_IDLE     "the session was idle past its timeout and has ended"
#define ENDED_LIFETIME "the session reached its maximum lifetime and has ended"
#define ENDED_BROKEN   "the session's sandbox ended"

struct abox_session {
        /* Under lock; NULL once the session has ended (an ended session is
         * off the list, and its registry may be freed before its handles). */
        struct abox_sessions *reg;
        struct abox_session *next;
        unsigned refs; /* atomic: handles, the list's, the reaper's */
        bool listed;   /* in the registry's list (its reference) */
        char id[33];
        char *owner;
        char *keep; /* a host directory for the workspace at the end, or NULL */
        uint64_t idle_ms, lifetime_ms, created_ms;
        bool wait_if_busy;

        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct box *box; /* NULL while starting and once ended */
        bool ready, busy, ended;
        /* To be ended now (by the reaper, or by the caller whose execution
         * just returned): no one may take it; ending_why is what a caller
         * refused meanwhile is told. */
        bool ending;
        const char *ending_why;
        bool end_after; /* the lifetime ran out mid-execution */
        uint64_t last_used_ms;
};

struct abox_sessions {
        pthread_mutex_t lock;
        struct abox_session *head;
        size_t n;
        size_t max_sessions, max_per_owner;
        uint64_t (*clock_ms)(void *data);
        void *clock_data;
        bool reaper, stopping;
        pthread_t reaper_thread;
        pthread_cond_t stop;
};

static uint64_t real_clock_ms(void *data)
{
        (void)data;
        return monotonic_ms();
}

static uint64_t now_of(const struct abox_sessions *reg)
{
        return reg->clock_ms(reg->clock_data);
}

static void audit_session(const struct abox_session *s, const struct box *box, const char *event,
                          const char *reason)
{
        const struct abox_policy *p = box_policy(box);
        struct audit_event ev = {
                .event = event, .session = s->id, .tenant = s->owner, .reason = reason
        };
        audit_write(p, &ev, NULL, NULL);
}

/* ---- the registry ---- */

static void *reaper_main(void *data)
{
        struct abox_sessions *reg = data;
        pthread_mutex_lock(&reg->lock);
        while (!reg->stopping) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += REAP_INTERVAL_S;
                pthread_cond_timedwait(&reg->stop, &reg->lock, &until);
                if (reg->stopping)
                        break;
                pthread_mutex_unlock(&reg->lock);
                abox_sessions_reap(reg);
                pthread_mutex_lock(&reg->lock);
        }
        pthread_mutex_unlock(&reg->lock);
        return NULL;
}

/* Each session holds a handful of fds (its init, channels, workspace): the
 * soft limit of 1024 would cap a server at a few hundred sessions. */
static void raise_fd_limit(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int abox_sessions_new(const struct abox_sessions_config *cfg, struct abox_sessions **ret,
                      struct abox_error *err)
{
        if (!ret)
                return abox_error_set(err, -EINVAL, "missing result pointer");
        struct abox_sessions *reg = calloc(1, sizeof *reg);
        if (!reg)
                return abox_error_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->stop, NULL);
        reg->max_sessions = cfg && cfg->max_sessions ? cfg->max_sessions : DEFAULT_MAX_SESSIONS;
        reg->max_per_owner = cfg && cfg->max_per_owner ? cfg->max_per_owner : DEFAULT_MAX_PER_OWNER;
        reg->clock_ms = cfg && cfg->clock_ms ? cfg->clock_ms : real_clock_ms;
        reg->clock_data = cfg ? cfg->clock_data : NULL;
        raise_fd_limit();
        if (cfg && cfg->reaper) {
                int r = -pthread_create(&reg->reaper_thread, NULL, reaper_main, reg);
                if (r < 0) {
                        free(reg);
                        return abox_error_set(err, r, "cannot start the reaper: %s", strerror(-r));
                }
                reg->reaper = true;
        }
        *ret = reg;
        return 0;
}

static void session_free(struct abox_session *s)
{
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
        free(s->owner);
        free(s->keep);
        free(s);
}

/* Drops one reference; true when it was the last (the session is off the
 * list then, since the list holds one) and is to be freed. */
static bool unref(struct abox_session *s)
{
        return __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

static void ref(struct abox_session *s)
{
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

static void unlist_locked(struct abox_sessions *reg, struct abox_session *s)
{
        for (struct abox_session **pp = &reg->head; *pp; pp = &(*pp)->next)
                if (*pp == s) {
                        *pp = s->next;
                        reg->n--;
                        s->listed = false;
                        return;
                }
}

/* Never touches the registry: a handle may outlive it. */
static void release(struct abox_session *s)
{
        if (unref(s))
                session_free(s);
}

/* The workspace copied to the host directory the session was created
 * with, before the sandbox goes. */
static int keep_workspace(const struct abox_session *s, const struct box *box,
                          struct abox_error *err)
{
        const struct abox_policy *p = box_policy(box);
        struct files_root ws = { .fd = box_workspace_fd(box), .max_bytes = p->file_size_max_bytes };
        return files_copy_out(&ws, s->keep, p->disk_max_bytes, err);
}

/* Ends the session: waits out an execution under way, keeps the workspace
 * if asked to, frees the sandbox, takes it off the list.  Returns false if
 * it had ended already; *ret_kept gets keeping's outcome (0 or -errno, with
 * err set). */
static bool end_session(struct abox_session *s, const char *reason, int *ret_kept,
                        struct abox_error *err)
{
        pthread_mutex_lock(&s->lock);
        while (s->busy)
                pthread_cond_wait(&s->changed, &s->lock);
        if (s->ended) {
                pthread_mutex_unlock(&s->lock);
                return false;
        }
        s->ended = true;
        struct box *box = TAKE_PTR(s->box);
        struct abox_sessions *reg = TAKE_PTR(s->reg);
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        if (box) {
                /* Nothing may write the workspace while it is copied. */
                box_stop(box);
                struct abox_error kept_err = { 0 };
                int kept = s->keep ? keep_workspace(s, box, &kept_err) : 0;
                char why[sizeof kept_err.msg + 64];
                snprintf(why, sizeof why, "%s%s%s", reason, kept < 0 ? "; " : "",
                         kept < 0 ? kept_err.msg : "");
                audit_session(s, box, "session_end", why);
                box_free(box);
                if (ret_kept)
                        *ret_kept = kept;
                if (kept < 0 && err)
                        *err = kept_err;
        }
        if (reg) {
                pthread_mutex_lock(&reg->lock);
                bool listed = s->listed;
                unlist_locked(reg, s);
                pthread_mutex_unlock(&reg->lock);
                if (listed)
                        release(s); /* the list's reference; the caller holds one */
        }
        return true;
}

static bool expired(const struct abox_session *s, uint64_t now, const char **why)
{
        if (now - s->created_ms >= s->lifetime_ms) {
                *why = "lifetime";
                return true;
        }
        if (now - s->last_used_ms >= s->idle_ms) {
                *why = "idle";
                return true;
        }
        return false;
}

size_t abox_sessions_reap(struct abox_sessions *reg)
{
        if (!reg)
                return 0;
        /* Candidates under the registry's lock, with a reference each; the
         * decision and the teardown without it. */
        pthread_mutex_lock(&reg->lock);
        struct abox_session **cand = calloc(reg->n ? reg->n : 1, sizeof(struct abox_session *));
        size_t n = 0;
        for (struct abox_session *s = reg->head; cand && s; s = s->next) {
                ref(s);
                cand[n++] = s;
        }
        pthread_mutex_unlock(&reg->lock);
        if (!cand)
                return 0;
        size_t ended = 0;
        for (size_t i = 0; i < n; i++) {
                struct abox_session *s = cand[i];
                const char *why = NULL;
                bool now_end = false;
                pthread_mutex_lock(&s->lock);
                /* A session running an execution is not idle: only its
                 * lifetime can run out meanwhile, and then it is not killed
                 * mid-execution — it ends when the execution returns, and
                 * the result says so. */
                if (s->ready && !s->ended && expired(s, now_of(reg), &why) &&
                    !(s->busy && strcmp(why, "idle") == 0)) {
                        if (s->busy) {
                                s->end_after = true;
                        } else {
                                /* Decided under the lock, or a caller could
                                 * take it before end_session() does — and
                                 * see it ended right after its run. */
                                now_end = s->ending = true;
                                s->ending_why =
                                        strcmp(why, "idle") == 0 ? ENDED_IDLE : ENDED_LIFETIME;
                        }
                }
                pthread_mutex_unlock(&s->lock);
                if (now_end && end_session(s, why, NULL, NULL))
                        ended++;
                release(s);
        }
        free(cand);
        return ended;
}

size_t abox_sessions_count(struct abox_sessions *reg, const char *owner)
{
        size_t n = 0;
        pthread_mutex_lock(&reg->lock);
        for (struct abox_session *s = reg->head; s; s = s->next)
                if (!owner || strcmp(s->owner, owner) == 0)
                        n++;
        pthread_mutex_unlock(&reg->lock);
        return n;
}

void abox_sessions_free(struct abox_sessions *reg)
{
        if (!reg)
                return;
        if (reg->reaper) {
                pthread_mutex_lock(&reg->lock);
                reg->stopping = true;
                pthread_cond_signal(&reg->stop);
                pthread_mutex_unlock(&reg->lock);
                pthread_join(reg->reaper_thread, NULL);
        }
        for (;;) {
                pthread_mutex_lock(&reg->lock);
                struct abox_session *s = reg->head;
                if (s)
                        ref(s);
                pthread_mutex_unlock(&reg->lock);
                if (!s)
                        break;
                /* Ending takes it off the list and away from the registry;
                 * handles the caller still holds outlive both. */
                end_session(s, "shutdown", NULL, NULL);
                release(s);
        }
        pthread_mutex_destroy(&reg->lock);
        pthread_cond_destroy(&reg->stop);
        free(reg);
}

/* ---- sessions ---- */

/* keep_workspace must be a new directory in an existing one, known now
 * rather than at the end. */
static int check_keep(const char *path, struct abox_error *err)
{
        struct stat st;
        if (path[0] != '/')
                return abox_error_set(err, -EINVAL, "keep_workspace '%.200s' is not absolute",
                                      path);
        if (lstat(path, &st) == 0)
                return abox_error_set(err, -EEXIST, "keep_workspace '%.200s' exists already", path);
        _cleanup_free_ char *parent = strdup(path);
        if (!parent)
                return abox_error_set(err, -ENOMEM, "out of memory");
        char *slash = strrchr(parent, '/');
        slash[slash == parent ? 1 : 0] = '\0';
        if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
                return abox_error_set(err, -ENOENT,
                                      "keep_workspace '%.200s': its parent is not a directory",
                                      path);
        return 0;
}

static int new_id(char id[33])
{
        unsigned char raw[16];
        if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
                return -EIO;
        for (size_t i = 0; i < sizeof raw; i++)
                snprintf(id + 2 * i, 3, "%02x", raw[i]);
        return 0;
}

int abox_session_create(struct abox_sessions *reg, const struct abox_policy *p,
                        const struct abox_session_options *opt, struct abox_session **ret,
                        struct abox_error *err)
{
        if (!reg || !p || !ret)
                return abox_error_set(err, -EINVAL, "missing registry, policy or result pointer");
        struct abox_session_options none = { 0 };
        if (!opt)
                opt = &none;
        if (opt->language != ABOX_LANG_PYTHON && opt->language != ABOX_LANG_SHELL)
                return abox_error_set(err, -EINVAL, "a session is for Python or shell");
        struct abox_session *s = calloc(1, sizeof *s);
        if (!s || !(s->owner = strdup(opt->owner ? opt->owner : ""))) {
                free(s);
                return abox_error_set(err, -ENOMEM, "out of memory");
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        s->reg = reg;
        s->idle_ms = opt->idle_timeout_ms ? opt->idle_timeout_ms : DEFAULT_IDLE_MS;
        s->lifetime_ms = opt->max_lifetime_ms ? opt->max_lifetime_ms : DEFAULT_LIFETIME_MS;
        s->wait_if_busy = opt->wait_if_busy;
        int r = opt->keep_workspace ? check_keep(opt->keep_workspace, err) : 0;
        if (r == 0 && opt->keep_workspace && !(s->keep = strdup(opt->keep_workspace)))
                r = abox_error_set(err, -ENOMEM, "out of memory");
        if (r < 0) {
                session_free(s);
                return r;
        }
        if (new_id(s->id) < 0) {
                session_free(s);
                return abox_error_set(err, -EIO, "cannot draw a session id");
        }
        /* Counted from here, so concurrent creations cannot overshoot. */
        pthread_mutex_lock(&reg->lock);
        size_t mine = 0;
        for (struct abox_session *o = reg->head; o; o = o->next)
                mine += strcmp(o->owner, s->owner) == 0;
        if (reg->n >= reg->max_sessions)
                r = abox_error_set(err, -EAGAIN,
                                   "too many sessions: the maximum of %zu is reached (none is "
                                   "ended to make room)",
                                   reg->max_sessions);
        else if (mine >= reg->max_per_owner)
                r = abox_error_set(
                        err, -EAGAIN,
                        "too many sessions for this owner: the maximum of %zu is reached",
                        reg->max_per_owner);
        if (r == 0) {
                s->next = reg->head;
                reg->head = s;
                reg->n++;
                s->listed = true;
                s->refs = 2; /* the list's and the caller's */
        }
        pthread_mutex_unlock(&reg->lock);
        if (r < 0) {
                session_free(s);
                return r;
        }
        struct box *box = NULL;
        r = opt->pool ? pool_take_box(opt->pool, p, &box, err) : 0;
        if (r == 0 && !box)
                r = box_start(p, &box, err);
        /* Before the box is published: from then on the reaper may end the
         * session and free the box at any moment. */
        if (r == 0)
                audit_session(s, box, "session_start", NULL);
        pthread_mutex_lock(&s->lock);
        s->box = box;
        /* find() reads it under the registry's lock only. */
        __atomic_store_n(&s->ready, r == 0, __ATOMIC_RELEASE);
        s->ended = r < 0;
        s->created_ms = s->last_used_ms = now_of(reg);
        if (r < 0)
                s->reg = NULL;
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
                pthread_mutex_lock(&reg->lock);
                bool listed = s->listed;
                unlist_locked(reg, s);
                pthread_mutex_unlock(&reg->lock);
                if (listed)
                        release(s); /* the list's */
                release(s);
                return r;
        }
        *ret = s;
        return 0;
}

const char *abox_session_id(const struct abox_session *s)
{
        return s ? s->id : NULL;
}

int abox_session_find(struct abox_sessions *reg, const char *id, const char *owner,
                      struct abox_session **ret, struct abox_error *err)
{
        if (!reg || !id || !ret)
                return abox_error_set(err, -EINVAL, "missing registry, id or result pointer");
        pthread_mutex_lock(&reg->lock);
        struct abox_session *found = NULL;
        for (struct abox_session *s = reg->head; s && !found; s = s->next)
                if (strcmp(s->id, id) == 0 && strcmp(s->owner, owner ? owner : "") == 0 &&
                    __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
                        found = s;
        if (found)
                ref(found);
        pthread_mutex_unlock(&reg->lock);
        if (!found)
                return abox_error_set(err, -ENOENT, "no session '%.40s' for this owner", id);
        *ret = found;
        return 0;
}

void abox_session_release(struct abox_session *s)
{
        if (s)
                release(s);
}

int abox_session_destroy(struct abox_session *s, struct abox_error *err)
{
        if (!s)
                return abox_error_set(err, -EINVAL, "missing session");
        int kept = 0;
        if (!end_session(s, "destroyed", &kept, err))
                return abox_error_set(err, -ESHUTDOWN, "the session has ended already");
        return kept;
}

/* Takes the session for one execution: -EBUSY, -ESHUTDOWN, or 0 with the box. */
static int acquire(struct abox_session *s, struct box **ret, struct abox_error *err)
{
        pthread_mutex_lock(&s->lock);
        while (s->busy && !s->ended && s->wait_if_busy)
                pthread_cond_wait(&s->changed, &s->lock);
        int r = 0;
        if (s->ended || !s->box)
                r = abox_error_set(err, -ESHUTDOWN, "the session has ended");
        else if (s->ending)
                r = abox_error_set(err, -ESHUTDOWN, "%s", s->ending_why);
        else if (s->busy)
                r = abox_error_set(err, -EBUSY, "the session is busy running another execution");
        else
                s->busy = true, *ret = s->box;
        pthread_mutex_unlock(&s->lock);
        return r;
}

int abox_session_run(struct abox_session *s, const struct abox_request *req,
                     struct abox_result **ret, struct abox_error *err)
{
        if (!s || !req || !ret)
                return abox_error_set(err, -EINVAL, "missing session, request or result");
        struct box *box = NULL;
        int r = acquire(s, &box, err);
        if (r < 0)
                return r;
        r = box_exec(box, req, s->id, false, ret, err);
        pthread_mutex_lock(&s->lock);
        s->busy = false;
        if (s->reg)
                s->last_used_ms = now_of(s->reg);
        bool end = s->end_after || box_broken(box);
        s->ending = end; /* a caller waiting for the session must not take it now */
        s->ending_why = s->end_after ? ENDED_LIFETIME : ENDED_BROKEN;
        const char *why = s->end_after ? "lifetime" : "broken";
        if (end && r == 0) {
                struct abox_result *res = *ret;
                size_t len = strlen(res->message);
                snprintf(res->message + len, sizeof res->message - len, "%s%s", len ? "; " : "",
                         s->ending_why);
        }
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        if (end)
                end_session(s, why, NULL, NULL);
        return r;
}

/* The workspace for a file operation: a dup of its fd (which keeps the
 * workspace alive even if the session ends meanwhile), the user to act as,
 * and the size cap.  Counts as use of the session. */
static int workspace(struct abox_session *s, struct files_root *ret, struct abox_error *err)
{
        pthread_mutex_lock(&s->lock);
        int r = 0;
        if (s->ended || !s->box) {
                r = abox_error_set(err, -ESHUTDOWN, "the session has ended");
        } else {
                ret->fd = fcntl(box_workspace_fd(s->box), F_DUPFD_CLOEXEC, 3);
                box_file_owner(s->box, &ret->uid, &ret->gid);
                ret->max_bytes = box_policy(s->box)->file_size_max_bytes;
                if (s->reg)
                        s->last_used_ms = now_of(s->reg);
                if (ret->fd < 0)
                        r = abox_error_set(err, -errno, "cannot open the workspace: %s",
                                           strerror(errno));
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int abox_session_put_file(struct abox_session *s, const char *path, const void *data, size_t len,
                          struct abox_error *err)
{
        if (!s || (!data && len))
                return abox_error_set(err, -EINVAL, "missing session or data");
        _cleanup_(files_root_done) struct files_root ws = { .fd = -1 };
        int r = workspace(s, &ws, err);
        return r < 0 ? r : files_put(&ws, path, data ? data : "", len, err);
}

int abox_session_get_file(struct abox_session *s, const char *path, char **ret, size_t *ret_len,
                          struct abox_error *err)
{
        if (!s || !ret || !ret_len)
                return abox_error_set(err, -EINVAL, "missing session or result pointers");
        _cleanup_(files_root_done) struct files_root ws = { .fd = -1 };
        int r = workspace(s, &ws, err);
        return r < 0 ? r : files_get(&ws, path, ret, ret_len, err);
}

int abox_session_list_files(struct abox_session *s, struct abox_file **ret, size_t *ret_count,
                            struct abox_error *err)
{
        if (!s || !ret || !ret_count)
                return abox_error_set(err, -EINVAL, "missing session or result pointers");
        _cleanup_(files_root_done) struct files_root ws = { .fd = -1 };
        int r = workspace(s, &ws, err);
        return r < 0 ? r : files_list(&ws, ret, ret_count, err);
}

int abox_session_remove_file(struct abox_session *s, const char *path, struct abox_error *err)
{
        if (!s)
                return abox_error_set(err, -EINVAL, "missing session");
        _cleanup_(files_root_done) struct files_root ws = { .fd = -1 };
        int r = workspace(s, &ws, err);
        return r < 0 ? r : files_remove(&ws, path, err);
}
