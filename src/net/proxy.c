/* The allowlist proxy's event loop (see proxy.h).
 *
 * Theory of operation: every client connection is a small state machine —
 *
 *   HEAD        read the request head (HTTP) or greeting (SOCKS5)
 *   SOCKS_REQ   SOCKS5: read the CONNECT request
 *   RESOLVING   the name passed the rules; a lookup thread is asking DNS
 *   CONNECTING  the destination passed the rules and the address check;
 *               a non-blocking connect is under way
 *   RELAY       bytes flow both ways, counted against max_bytes
 *   FLUSH       an answer (refusal or error) is written, then the client closed
 *
 * Forwarded HTTP requests carry one request per connection ("Connection:
 * close" upstream) and only the declared body goes upstream after the head:
 * a second, pipelined request can never ride on an already checked
 * connection.  Names are resolved with getaddrinfo() on short-lived threads
 * of their own (RESOLVING), so a slow DNS server holds up neither the other
 * connections nor the end of the run; names that are not allowed are never
 * resolved, so a lookup cannot leak data.
 */
#include "proxy.h"

#include "request.h"

#include "base/clock.h"
#include "base/fd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <resolv.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 16384

enum conn_state { C_HEAD, C_SOCKS_REQ, C_RESOLVING, C_CONNECTING, C_RELAY, C_FLUSH };

struct lookup;

struct buf {
        char data[BUF_SIZE];
        size_t start, end;
};

struct conn {
        int cfd, ufd;
        enum conn_state state;
        bool socks;
        bool client_eof, upstream_eof;    /* read side saw EOF */
        bool up_shut, client_shut;        /* we shut down the write side */
        bool body_limited;                /* forwarded HTTP: only body_left more bytes go up */
        bool answered;                    /* FLUSH: the answer is out, the write side shut */
        bool got_answer, upstream_failed; /* RELAY: bytes came from upstream; it failed */
        size_t scanned;                   /* HEAD: bytes already searched for the head's end */
        uint64_t body_left;
        uint64_t deadline_ms; /* HEAD, SOCKS_REQ, CONNECTING, FLUSH */
        struct net_target target;
        struct lookup *lookup; /* RESOLVING: the name lookup waited for */
        /* CONNECTING: the destination's addresses, all checked; the next is
         * tried when one refuses (a name with an IPv6 address this host has
         * no route to, say). */
        struct net_addr addrs[NET_ADDRS_MAX];
        uint8_t n_addrs, next_addr;
        uint64_t connect_until_ms; /* all the attempts together */
        struct buf in;             /* client -> upstream (and the head while parsing) */
        struct buf out;            /* upstream -> client (and our answers) */
};

/* A connection opened ahead to the destination the last request went to,
 * for the next request to the same destination (see spare_open()). */
struct spare {
        int fd; /* -1: none */
        struct net_target target;
        struct net_addr addrs[NET_ADDRS_MAX];
        uint8_t n_addrs, next_addr;
        uint64_t until_ms;
};

struct net_proxy {
        struct net_proxy_config cfg;
        struct spare spare;
        struct net_rule *rules;
        struct net_pin *pins;
        int listen_fd, wake_fd;
        pthread_t thread;
        struct conn **conns;
        size_t n_conns;
        struct net_addr *own; /* this host's interface addresses: never reached by a name */
        size_t n_own;
        /* Finished lookups count up here (an eventfd: it cannot overflow
         * and drop a word, as a datagram queue can); the loop then looks at
         * every connection waiting for one. */
        struct lookup_budget *budget; /* with the lookups' eventfd */
        bool over_cap_noted;          /* max_concurrent reached, said once per execution */
        /* The report and the byte budget: the proxy thread writes them while
         * it handles events, a session's supervisor takes them between
         * executions. */
        pthread_mutex_t lock;
        bool bytes_exhausted;
        struct net_proxy_report report;
};

static void event(struct net_proxy *p, const struct net_target *t, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void event(struct net_proxy *p, const struct net_target *t, const char *fmt, ...)
{
        if (p->report.n_events >= NET_PROXY_MAX_EVENTS) {
                p->report.events_dropped++;
                return;
        }
        struct net_proxy_event *e = &p->report.events[p->report.n_events++];
        if (t)
                net_target_format(t, e->target, sizeof e->target);
        else
                snprintf(e->target, sizeof e->target, "-");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->reason, sizeof e->reason, fmt, ap);
        va_end(ap);
}

static size_t buf_len(const struct buf *b)
{
        return b->end - b->start;
}

static void buf_compact(struct buf *b)
{
        if (b->start == b->end)
                b->start = b->end = 0;
        else if (b->start > 0 && b->end == sizeof b->data) {
                memmove(b->data, b->data + b->start, b->end - b->start);
                b->end -= b->start;
                b->start = 0;
        }
}

static bool buf_put(struct buf *b, const void *data, size_t n)
{
        buf_compact(b);
        if (n > sizeof b->data - b->end)
                return false;
        memcpy(b->data + b->end, data, n);
        b->end += n;
        return true;
}

/* Lookup threads outlive the connection (and the proxy) that started them
 * until getaddrinfo returns: with a slow resolver a sandbox could pile them
 * up in the supervisor, outside every cgroup.  So there are at most this many
 * in the whole process, and — so that one sandbox cannot use them all up and
 * starve the others — at most MAX_LOOKUPS_EACH for one proxy; past either a
 * request is refused (503). */
#define MAX_LOOKUPS      256
#define MAX_LOOKUPS_EACH 64
static atomic_int lookups_running;

/* A proxy's count of its running lookups, and the eventfd they count
 * their ends on: both may outlive the proxy, until its last lookup ends. */
struct lookup_budget {
        atomic_int refs; /* the proxy's, and one per running lookup */
        atomic_int running;
        int done_fd;
};

static struct lookup_budget *budget_new(void)
{
        struct lookup_budget *b = calloc(1, sizeof *b);
        if (b && (b->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
                free(b);
                return NULL;
        }
        if (b)
                atomic_init(&b->refs, 1);
        return b;
}

static void budget_put(struct lookup_budget *b)
{
        if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
                close(b->done_fd);
                free(b);
        }
}

static void lookup_put(struct lookup *l);

static void conn_close(struct conn *c)
{
        lookup_put(c->lookup);
        if (c->cfd >= 0)
                close(c->cfd);
        if (c->ufd >= 0)
                close(c->ufd);
        free(c);
}

/* Answers and closes: an HTTP status with a one-line reason, or a SOCKS5
 * reply code. */
static void answer_http(struct conn *c, int status, const char *reason)
{
        const char *text = status == 403   ? "Forbidden"
                           : status == 400 ? "Bad Request"
                           : status == 408 ? "Request Timeout"
                           : status == 431 ? "Request Header Fields Too Large"
                           : status == 501 ? "Not Implemented"
                           : status == 502 ? "Bad Gateway"
                           : status == 503 ? "Service Unavailable"
                           : status == 504 ? "Gateway Timeout"
                                           : "Error";
        char msg[1024];
        int body = (int)strlen(reason) + 1;
        int n = snprintf(msg, sizeof msg,
                         "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                         "Content-Length: %d\r\n\r\n%s\n",
                         status, text, body, reason);
        c->out.start = c->out.end = 0;
        buf_put(&c->out, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        c->state = C_FLUSH;
        c->deadline_ms = monotonic_ms() + 2000;
        if (c->ufd >= 0) {
                close(c->ufd);
                c->ufd = -1;
        }
}

static void answer_socks(struct conn *c, uint8_t code)
{
        /* Appended: a client that sent greeting and request together still
         * gets the greeting's answer first. */
        const unsigned char reply[10] = { 5, code, 0, 1 };
        buf_put(&c->out, reply, sizeof reply);
        c->state = code == 0 ? C_RELAY : C_FLUSH;
        c->deadline_ms = monotonic_ms() + 2000;
        if (code != 0 && c->ufd >= 0) {
                close(c->ufd);
                c->ufd = -1;
        }
}

static void refuse(struct net_proxy *p, struct conn *c, int http_status, uint8_t socks_code,
                   const char *reason)
{
        if (c->socks)
                answer_socks(c, socks_code);
        else
                answer_http(c, http_status, reason);
        (void)p;
}

static void connect_next(struct net_proxy *p, struct conn *c, int last_err);

/* A non-blocking socket connecting to a:port, or -errno. */
static int connect_start(const struct net_addr *a, uint16_t port)
{
        struct sockaddr_storage sa = { 0 };
        socklen_t sa_len;
        if (a->family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                sin->sin_addr = a->v4;
                sa_len = sizeof *sin;
        } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                sin6->sin6_addr = a->v6;
                sa_len = sizeof *sin6;
        }
        int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A relay forwards what it has at once: no Nagle delay on top of the
         * client's and the server's own. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sa_len) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Checks every address a name gave (or the literal, or the pins), then
 * starts connecting to the first, the others kept to fall back on. */
static void connect_to(struct net_proxy *p, struct conn *c, const struct net_addr *addrs, size_t n,
                       bool pinned)
{
        const struct net_target *t = &c->target;
        char reason[400], target[NET_NAME_MAX + 10];
        net_target_format(t, target, sizeof target);
        /* Every address must pass, not just the first: a name answering with a
         * public and a private address is a rebinding attempt. */
        for (size_t i = 0; i < n; i++) {
                const char *why = net_addr_inward(&addrs[i]);
                for (size_t k = 0; !why && k < p->n_own; k++)
                        if (net_addr_same_host(&addrs[i], &p->own[k]))
                                why = "an address of this host";
                if (why && !pinned &&
                    !net_rules_name_addr(p->rules, p->cfg.n_rules, &addrs[i], t->port) &&
                    !t->is_ip) {
                        char a[INET6_ADDRSTRLEN];
                        inet_ntop(addrs[i].family, &addrs[i].v4, a, sizeof a);
                        snprintf(reason, sizeof reason,
                                 "%s resolves to %s (%s), which is not allowed", t->host, a, why);
                        event(p, t, "%s", reason);
                        refuse(p, c, 403, 2, reason);
                        return;
                }
        }
        if (n == 0) {
                refuse(p, c, 502, 4, "no address");
                return;
        }
        c->n_addrs = (uint8_t)(n < NET_ADDRS_MAX ? n : NET_ADDRS_MAX);
        memcpy(c->addrs, addrs, c->n_addrs * sizeof *addrs);
        c->next_addr = 0;
        c->connect_until_ms = monotonic_ms() + p->cfg.connect_timeout_ms;
        connect_next(p, c, 0);
}

/* Starts connecting to the next address left; a 502 naming the last error
 * when none is. */
static void connect_next(struct net_proxy *p, struct conn *c, int last_err)
{
        if (c->ufd >= 0) {
                close(c->ufd);
                c->ufd = -1;
        }
        while (c->next_addr < c->n_addrs) {
                int fd = connect_start(&c->addrs[c->next_addr++], c->target.port);
                if (fd < 0) {
                        last_err = -fd;
                        continue;
                }
                /* An address that never answers (a dropped SYN) gets its
                 * share of the time left, so the next ones still get theirs. */
                c->ufd = fd;
                uint64_t now = monotonic_ms();
                uint64_t left = c->connect_until_ms > now ? c->connect_until_ms - now : 0;
                c->state = C_CONNECTING;
                c->deadline_ms = now + left / (uint64_t)(c->n_addrs - c->next_addr + 1);
                return;
        }
        char reason[400], target[NET_NAME_MAX + 10];
        net_target_format(&c->target, target, sizeof target);
        snprintf(reason, sizeof reason, "cannot connect to %s: %s", target,
                 strerror(last_err ? last_err : ECONNREFUSED));
        if (last_err == ETIMEDOUT)
                refuse(p, c, 504, 4, "the destination did not answer in time");
        else
                refuse(p, c, 502, 5, reason);
}

/* Name lookups run on short-lived threads of their own, so a slow DNS server
 * holds up neither the other connections nor the end of the run.  A lookup
 * belongs to its thread and to the connection waiting for it (two
 * references); the thread marks it done and counts one on the budget's
 * eventfd, which the proxy's loop polls. */
struct lookup {
        atomic_int refs;
        atomic_bool done; /* the results below are written, then this: release/acquire */
        struct lookup_budget *budget;
        char host[NET_NAME_MAX + 1];
        int err; /* getaddrinfo's */
        struct net_addr addrs[NET_ADDRS_MAX];
        size_t n;
};

static void lookup_put(struct lookup *l)
{
        if (l && atomic_fetch_sub(&l->refs, 1) == 1)
                free(l);
}

static void *lookup_run(void *arg)
{
        struct lookup *l = arg;
        /* Names are looked up as given: no search domains appended, so an
         * allowed wildcard cannot reach "x.allowed.example.<search domain>".
         * _res is this thread's own and steers glibc's DNS backend; the
         * other common one, nss-resolve, appends search domains only to
         * single-label names (which a wildcard never matches).  "name." would
         * be the general form, but /etc/hosts does not answer it. */
        if (res_init() == 0)
                _res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;
        l->err = getaddrinfo(l->host, NULL, &hints, &res);
        for (struct addrinfo *ai = l->err ? NULL : res; ai && l->n < NET_ADDRS_MAX;
             ai = ai->ai_next) {
                if (ai->ai_family == AF_INET) {
                        l->addrs[l->n].family = AF_INET;
                        l->addrs[l->n++].v4 = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
                } else if (ai->ai_family == AF_INET6) {
                        l->addrs[l->n].family = AF_INET6;
                        l->addrs[l->n++].v6 = ((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
                }
        }
        if (res)
                freeaddrinfo(res);
        atomic_store_explicit(&l->done, true, memory_order_release);
        /* If the proxy has stopped, nobody reads this any more: fine. */
        uint64_t one = 1;
        (void)!write(l->budget->done_fd, &one, sizeof one);
        atomic_fetch_sub(&l->budget->running, 1);
        budget_put(l->budget);
        lookup_put(l);
        atomic_fetch_sub(&lookups_running, 1);
        return NULL;
}

/* One running lookup more, if neither cap is reached. */
static bool lookup_slot_take(struct lookup_budget *b)
{
        if (atomic_fetch_add(&b->running, 1) >= MAX_LOOKUPS_EACH) {
                atomic_fetch_sub(&b->running, 1);
                return false;
        }
        if (atomic_fetch_add(&lookups_running, 1) >= MAX_LOOKUPS) {
                atomic_fetch_sub(&lookups_running, 1);
                atomic_fetch_sub(&b->running, 1);
                return false;
        }
        return true;
}

static void lookup_slot_give(struct lookup_budget *b)
{
        atomic_fetch_sub(&lookups_running, 1);
        atomic_fetch_sub(&b->running, 1);
}

static void start_lookup(struct net_proxy *p, struct conn *c)
{
        if (!lookup_slot_take(p->budget)) {
                event(p, &c->target, "too many name lookups under way");
                refuse(p, c, 503, 1, "too many name lookups under way");
                return;
        }
        struct lookup *l = calloc(1, sizeof *l);
        pthread_attr_t attr;
        pthread_t thread;
        if (!l) {
                lookup_slot_give(p->budget);
                refuse(p, c, 502, 4, "cannot resolve now");
                return;
        }
        atomic_init(&l->refs, 2);
        l->budget = p->budget;
        atomic_fetch_add(&p->budget->refs, 1);
        snprintf(l->host, sizeof l->host, "%s", c->target.host);
        int r = pthread_attr_init(&attr);
        r = r ?: pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = r ?: pthread_create(&thread, &attr, lookup_run, l);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                free(l);
                lookup_slot_give(p->budget);
                budget_put(p->budget);
                refuse(p, c, 502, 4, "cannot resolve now");
                return;
        }
        c->lookup = l;
        c->state = C_RESOLVING;
        c->deadline_ms = monotonic_ms() + p->cfg.connect_timeout_ms;
}

/* Lookups finished: their connections (those still there) go on. */
static void lookups_done(struct net_proxy *p)
{
        for (size_t i = 0; i < p->n_conns; i++) {
                struct conn *c = p->conns[i];
                if (c->state != C_RESOLVING || !c->lookup ||
                    !atomic_load_explicit(&c->lookup->done, memory_order_acquire))
                        continue;
                struct lookup *l = c->lookup;
                c->lookup = NULL;
                if (l->err) {
                        char reason[400];
                        snprintf(reason, sizeof reason, "cannot resolve %s: %s", l->host,
                                 gai_strerror(l->err));
                        refuse(p, c, 502, 4, reason);
                } else {
                        connect_to(p, c, l->addrs, l->n, false);
                }
                lookup_put(l);
        }
}

#define SPARE_MS 500 /* a spare's life, well within servers' idle timeouts */

static void spare_drop(struct net_proxy *p)
{
        if (p->spare.fd >= 0)
                close(p->spare.fd);
        p->spare.fd = -1;
}

/* When the origin has answered a forwarded HTTP request (its connection
 * carries just that one) and closed, a new connection to the same address
 * for the next request to that destination.  A client sends its requests
 * one after another, building each while the last is answered: sent
 * direct, the origin accepts the next connection while the client builds,
 * and through a proxy that connects only once the request is in, it
 * cannot — that overlap was most of what the proxy added to a small
 * request's latency.  Only to a destination that passed every check, at
 * the address it was reached at (itself checked); the spare carries no
 * byte until a request to exactly that host and port takes it, and counts
 * as that request's connection.  One at a time, for the last destination;
 * none after a refusal, a failure or a tunnel (CONNECT, SOCKS: their
 * clients keep them open themselves).  Opened at the origin's close, not
 * at its first bytes: then the origin's accept of the spare competed with
 * its own end of the last request (12-26 % on the median against 5-13 %,
 * bench/proxy.py, alternated). */
static void spare_open(struct net_proxy *p, const struct conn *c, uint64_t now)
{
        if (c->state != C_RELAY || !c->body_limited || !c->got_answer || !c->upstream_eof ||
            c->upstream_failed || buf_len(&c->out) > 0 || c->next_addr == 0 || p->bytes_exhausted ||
            p->report.connections >= p->cfg.max_connections)
                return;
        spare_drop(p);
        int fd = connect_start(&c->addrs[c->next_addr - 1], c->target.port);
        if (fd < 0)
                return;
        p->spare = (struct spare){ .fd = fd,
                                   .target = c->target,
                                   .n_addrs = c->n_addrs,
                                   .next_addr = c->next_addr,
                                   .until_ms = now + SPARE_MS };
        memcpy(p->spare.addrs, c->addrs, sizeof c->addrs);
}

/* The spare for c's destination, if there is one and it is still open. */
static bool spare_take(struct net_proxy *p, struct conn *c)
{
        struct spare *s = &p->spare;
        uint64_t now = monotonic_ms();
        if (s->fd < 0 || now >= s->until_ms || s->target.port != c->target.port ||
            s->target.is_ip != c->target.is_ip || strcmp(s->target.host, c->target.host) != 0)
                return false;
        /* The origin may have closed it since: then a connection of its own. */
        struct pollfd pfd = { s->fd, POLLIN | POLLRDHUP, 0 };
        if (poll(&pfd, 1, 0) != 0) {
                spare_drop(p);
                return false;
        }
        c->ufd = s->fd;
        s->fd = -1;
        memcpy(c->addrs, s->addrs, sizeof c->addrs);
        c->n_addrs = s->n_addrs;
        c->next_addr = s->next_addr;
        c->connect_until_ms = now + p->cfg.connect_timeout_ms;
        c->state = C_CONNECTING;
        c->deadline_ms = c->connect_until_ms;
        return true;
}

/* The destination is known: check it, resolve it, start connecting. */
static void open_upstream(struct net_proxy *p, struct conn *c)
{
        char reason[400], target[NET_NAME_MAX + 10];
        net_target_format(&c->target, target, sizeof target);
        if (!net_rules_allow(p->rules, p->cfg.n_rules, &c->target)) {
                snprintf(reason, sizeof reason, "%s is not in allowed_domains", target);
                event(p, &c->target, "not in allowed_domains");
                refuse(p, c, 403, 2, reason);
                return;
        }
        if (p->bytes_exhausted) {
                snprintf(reason, sizeof reason, "max_network_bytes (%llu) reached",
                         (unsigned long long)p->cfg.max_bytes);
                event(p, &c->target, "%s", reason);
                refuse(p, c, 403, 2, reason);
                return;
        }
        if (p->report.connections >= p->cfg.max_connections) {
                snprintf(reason, sizeof reason, "max_network_connections (%llu) reached",
                         (unsigned long long)p->cfg.max_connections);
                event(p, &c->target, "%s", reason);
                refuse(p, c, 403, 2, reason);
                return;
        }
        p->report.connections++;
        if (spare_take(p, c))
                return;
        const struct net_target *t = &c->target;
        struct net_addr pinned[NET_ADDRS_MAX];
        size_t n_pinned =
                t->is_ip ? 0
                         : net_pins_find(p->pins, p->cfg.n_pins, t->host, pinned, NET_ADDRS_MAX);
        if (t->is_ip)
                connect_to(p, c, &t->ip, 1, false);
        else if (n_pinned)
                connect_to(p, c, pinned, n_pinned, true);
        else
                start_lookup(p, c);
}

/* Whether a connect in progress has finished (loopback and nearby hosts
 * usually have by now): saves a trip round the event loop. */
static short connect_ready(int fd)
{
        struct pollfd pfd = { fd, POLLOUT, 0 };
        return poll(&pfd, 1, 0) == 1 ? pfd.revents : 0;
}

static void head_http(struct net_proxy *p, struct conn *c)
{
        struct http_request r;
        enum req_result res = http_parse_request(c->in.data + c->in.start, buf_len(&c->in), &r);
        if (res == REQ_MORE)
                return;
        if (res == REQ_ERROR) {
                answer_http(c, r.status, r.reason);
                return;
        }
        c->target = r.target;
        if (r.connect) {
                c->in.start += r.head_len; /* what follows (a TLS hello) goes up as is */
        } else {
                char head[REQ_HEAD_MAX + 64];
                long n = http_upstream_head(c->in.data + c->in.start, &r, head, sizeof head);
                if (n < 0) {
                        answer_http(c, 431, "request head too large");
                        return;
                }
                /* Replace the client's head with ours, keep the body bytes. */
                size_t rest = buf_len(&c->in) - r.head_len;
                uint64_t body = rest < r.content_length ? rest : r.content_length;
                char tail[BUF_SIZE];
                memcpy(tail, c->in.data + c->in.start + r.head_len, (size_t)body);
                c->in.start = c->in.end = 0;
                if (!buf_put(&c->in, head, (size_t)n) || !buf_put(&c->in, tail, (size_t)body)) {
                        answer_http(c, 431, "request head too large");
                        return;
                }
                c->body_limited = true;
                c->body_left = r.content_length - body;
        }
        c->socks = false;
        open_upstream(p, c);
}

static void head_socks(struct net_proxy *p, struct conn *c)
{
        const unsigned char *b = (const unsigned char *)c->in.data + c->in.start;
        if (c->state == C_HEAD) {
                size_t len;
                int g = socks_parse_greeting(b, buf_len(&c->in), &len);
                if (g == REQ_MORE)
                        return;
                if (g != SOCKS_NO_AUTH) {
                        const unsigned char no[2] = { 5, 0xff };
                        buf_put(&c->out, no, 2);
                        c->state = C_FLUSH;
                        c->deadline_ms = monotonic_ms() + 2000;
                        return;
                }
                const unsigned char yes[2] = { 5, 0 };
                buf_put(&c->out, yes, 2);
                c->in.start += len;
                c->state = C_SOCKS_REQ;
                b += len;
        }
        struct socks_request r;
        enum req_result res = socks_parse_request(b, buf_len(&c->in), &r);
        if (res == REQ_MORE)
                return;
        if (res == REQ_ERROR) {
                answer_socks(c, r.reply);
                return;
        }
        c->in.start += r.len;
        c->target = r.target;
        open_upstream(p, c);
}

static void on_connected(struct net_proxy *p, struct conn *c)
{
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err) {
                connect_next(p, c, err);
                return;
        }
        if (c->socks) {
                answer_socks(c, 0);
        } else if (!c->body_limited) {
                static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
                buf_put(&c->out, ok, sizeof ok - 1);
        }
        c->state = C_RELAY;
}

static void count(struct net_proxy *p, size_t n)
{
        p->report.bytes += n;
        if (!p->bytes_exhausted && p->report.bytes > p->cfg.max_bytes) {
                p->bytes_exhausted = true;
                event(p, NULL, "max_network_bytes (%llu) reached: connections cut",
                      (unsigned long long)p->cfg.max_bytes);
        }
}

/* Reads what fits from fd into b; false at EOF or on error. */
static bool fill(int fd, struct buf *b, size_t max, bool *eof)
{
        buf_compact(b);
        size_t room = sizeof b->data - b->end;
        if (room > max)
                room = max;
        if (room == 0)
                return true;
        ssize_t n = read(fd, b->data + b->end, room);
        if (n > 0) {
                b->end += (size_t)n;
                return true;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        *eof = true;
        return n == 0;
}

static bool drain(int fd, struct buf *b, size_t *ret_sent)
{
        *ret_sent = 0;
        if (buf_len(b) == 0)
                return true;
        ssize_t n = send(fd, b->data + b->start, buf_len(b), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        b->start += (size_t)n;
        *ret_sent = (size_t)n;
        buf_compact(b);
        return true;
}

/* One connection's turn after poll.  Returns false when it is finished. */
static bool step(struct net_proxy *p, struct conn *c, short cev, short uev, uint64_t now)
{
        size_t sent;
        if (c->state == C_HEAD || c->state == C_SOCKS_REQ) {
                if (now >= c->deadline_ms) {
                        if (c->socks || c->state == C_SOCKS_REQ)
                                return false;
                        answer_http(c, 408, "the request head did not arrive in time");
                        return true;
                }
                if (!drain(c->cfd, &c->out, &sent))
                        return false;
                if (cev & (POLLIN | POLLHUP | POLLERR)) {
                        bool eof = false;
                        if (!fill(c->cfd, &c->in, SIZE_MAX, &eof) || eof)
                                return false;
                        if (buf_len(&c->in) == 0)
                                return true;
                        if (c->state == C_HEAD && c->in.data[c->in.start] == 5)
                                c->socks = true;
                        if (c->socks) {
                                head_socks(p, c);
                        } else {
                                /* Parse only once a head could be complete:
                                 * a byte-at-a-time client must not cost a
                                 * rescan of the whole head per byte. */
                                size_t len = buf_len(&c->in);
                                size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
                                if (len >= REQ_HEAD_MAX || memmem(c->in.data + c->in.start + from,
                                                                  len - from, "\r\n\r\n", 4))
                                        head_http(p, c);
                                c->scanned = len;
                        }
                }
        }
        if (c->state == C_FLUSH) {
                /* The answer first; then the client's unread bytes (a request
                 * body) are read and dropped until it closes, so the close
                 * does not turn into a reset that destroys the answer. */
                if (!drain(c->cfd, &c->out, &sent) || now >= c->deadline_ms ||
                    (cev & (POLLERR | POLLNVAL)))
                        return false;
                if (buf_len(&c->out) > 0)
                        return true;
                if (!c->answered) {
                        shutdown(c->cfd, SHUT_WR);
                        c->answered = true;
                }
                char sink[4096];
                ssize_t n = read(c->cfd, sink, sizeof sink);
                return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
        }
        if (c->state == C_RESOLVING) {
                if (cev & (POLLERR | POLLHUP | POLLNVAL))
                        return false; /* the client is gone */
                if (now >= c->deadline_ms)
                        refuse(p, c, 504, 4, "the name lookup did not finish in time");
                return true;
        }
        if (c->state == C_CONNECTING) {
                if (cev & (POLLERR | POLLHUP | POLLNVAL))
                        return false; /* the client is gone */
                if (now >= c->deadline_ms) {
                        connect_next(p, c, ETIMEDOUT);
                        return true;
                }
                if (!(uev & (POLLOUT | POLLERR | POLLHUP)))
                        uev = connect_ready(c->ufd);
                if (uev & (POLLOUT | POLLERR | POLLHUP))
                        on_connected(p, c);
                if (c->state != C_RELAY)
                        return true;
        }
        if (c->state != C_RELAY)
                return true;
        if (p->bytes_exhausted)
                return false;
        /* poll reports errors whatever was asked for: a side that failed
         * (a reset) ends the connection, else poll would report it again at
         * once, forever.  A side that is finished both ways is not polled. */
        if ((cev | uev) & (POLLERR | POLLNVAL))
                return false;
        /* client -> upstream */
        if ((cev & (POLLIN | POLLHUP | POLLERR)) && !c->client_eof) {
                size_t max = c->body_limited
                                     ? (size_t)(c->body_left < SIZE_MAX ? c->body_left : SIZE_MAX)
                                     : SIZE_MAX;
                size_t before = buf_len(&c->in);
                if (max == 0) {
                        /* The body is complete: nothing more may go up on this
                         * connection; whatever the client sends is dropped. */
                        char sink[4096];
                        ssize_t n = read(c->cfd, sink, sizeof sink);
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                c->client_eof = true;
                } else if (!fill(c->cfd, &c->in, max, &c->client_eof)) {
                        return false;
                }
                if (c->body_limited)
                        c->body_left -= buf_len(&c->in) - before;
        }
        if (!drain(c->ufd, &c->in, &sent))
                return false;
        count(p, sent);
        /* upstream -> client */
        if ((uev & (POLLIN | POLLHUP | POLLERR)) && !c->upstream_eof &&
            !fill(c->ufd, &c->out, SIZE_MAX, &c->upstream_eof)) {
                c->upstream_failed = true;
                return false;
        }
        if (!drain(c->cfd, &c->out, &sent))
                return false;
        count(p, sent);
        c->got_answer |= sent > 0;
        /* Half-closes travel once the bytes before them have. */
        if (c->client_eof && buf_len(&c->in) == 0 && !c->up_shut) {
                shutdown(c->ufd, SHUT_WR);
                c->up_shut = true;
        }
        if (c->upstream_eof && buf_len(&c->out) == 0 && !c->client_shut) {
                shutdown(c->cfd, SHUT_WR);
                c->client_shut = true;
        }
        return !(c->up_shut && c->client_shut) &&
               !(c->upstream_eof && buf_len(&c->out) == 0 && c->body_limited && c->body_left == 0);
}

static void accept_all(struct net_proxy *p)
{
        for (;;) {
                int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                if (p->n_conns >= p->cfg.max_concurrent) {
                        /* Over the concurrency cap: closed at once, noted once. */
                        close(fd);
                        if (!p->over_cap_noted)
                                event(p, NULL,
                                      "max concurrent connections (%u) reached: connection closed",
                                      p->cfg.max_concurrent);
                        p->over_cap_noted = true;
                        continue;
                }
                struct conn *c = calloc(1, sizeof *c);
                if (!c) {
                        close(fd);
                        continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c->cfd = fd;
                c->ufd = -1;
                c->deadline_ms = monotonic_ms() + p->cfg.head_timeout_ms;
                /* The head has often arrived with the connection: read it
                 * now rather than after another poll. */
                if (step(p, c, POLLIN, 0, monotonic_ms()))
                        p->conns[p->n_conns++] = c;
                else
                        conn_close(c);
        }
}

static void *loop(void *arg)
{
        struct net_proxy *p = arg;
        size_t cap = (size_t)p->cfg.max_concurrent * 2 + 4;
        struct pollfd *pfd = calloc(cap, sizeof *pfd);
        if (!pfd)
                return NULL;
        for (;;) {
                uint64_t now = monotonic_ms();
                int wait = 1000;
                pfd[0] = (struct pollfd){ p->wake_fd, POLLIN, 0 };
                pfd[1] = (struct pollfd){ p->listen_fd, POLLIN, 0 };
                pfd[2] = (struct pollfd){ p->budget->done_fd, POLLIN, 0 };
                /* A spare is watched for the origin closing it, and ends with
                 * its life. */
                pfd[3] = (struct pollfd){ p->spare.fd, POLLIN | POLLRDHUP, 0 };
                if (p->spare.fd >= 0) {
                        int left = p->spare.until_ms > now ? (int)(p->spare.until_ms - now) : 0;
                        if (left < wait)
                                wait = left;
                }
                for (size_t i = 0; i < p->n_conns; i++) {
                        struct conn *c = p->conns[i];
                        short ce = 0, ue = 0;
                        switch (c->state) {
                        case C_HEAD:
                        case C_SOCKS_REQ:
                                ce = (short)(POLLIN | (buf_len(&c->out) ? POLLOUT : 0));
                                break;
                        case C_RESOLVING: break; /* its deadline, and errors */
                        case C_CONNECTING: ue = POLLOUT; break;
                        case C_FLUSH: ce = buf_len(&c->out) ? POLLOUT : POLLIN; break;
                        case C_RELAY:
                                ce = (short)((c->client_eof || buf_len(&c->in) == BUF_SIZE
                                                      ? 0
                                                      : POLLIN) |
                                             (buf_len(&c->out) ? POLLOUT : 0));
                                ue = (short)((c->upstream_eof || buf_len(&c->out) == BUF_SIZE
                                                      ? 0
                                                      : POLLIN) |
                                             (buf_len(&c->in) ? POLLOUT : 0));
                                break;
                        }
                        bool client_done = c->client_eof && c->client_shut;
                        bool upstream_done = c->upstream_eof && c->up_shut;
                        pfd[4 + 2 * i] = (struct pollfd){ client_done ? -1 : c->cfd, ce, 0 };
                        pfd[5 + 2 * i] = (struct pollfd){ upstream_done ? -1 : c->ufd, ue, 0 };
                        if (c->state != C_RELAY) {
                                int left = c->deadline_ms > now ? (int)(c->deadline_ms - now) : 0;
                                if (left < wait)
                                        wait = left;
                        }
                }
                int n = poll(pfd, 4 + 2 * p->n_conns, wait);
                if (n < 0 && errno != EINTR)
                        break;
                if (n > 0 && pfd[0].revents)
                        break;
                pthread_mutex_lock(&p->lock);
                uint64_t finished;
                if (n > 0 && (pfd[2].revents & POLLIN) &&
                    read(p->budget->done_fd, &finished, sizeof finished) ==
                            (ssize_t)sizeof finished)
                        lookups_done(p);
                now = monotonic_ms();
                if (p->spare.fd >= 0 && ((n > 0 && pfd[3].revents) || now >= p->spare.until_ms))
                        spare_drop(p);
                size_t n_before = p->n_conns;
                for (size_t i = 0, j = 0; i < n_before; i++) {
                        struct conn *c = p->conns[i];
                        if (step(p, c, pfd[4 + 2 * i].revents,
                                 c->ufd >= 0 ? pfd[5 + 2 * i].revents : 0, now)) {
                                p->conns[j++] = c;
                        } else {
                                spare_open(p, c, now);
                                conn_close(c);
                        }
                        if (i + 1 == n_before)
                                p->n_conns = j;
                }
                if (n > 0 && (pfd[1].revents & POLLIN))
                        accept_all(p);
                pthread_mutex_unlock(&p->lock);
        }
        free(pfd);
        return NULL;
}

int net_proxy_start(int listen_fd, const struct net_proxy_config *cfg, struct net_proxy **ret)
{
        struct net_proxy *p = calloc(1, sizeof *p);
        if (!p) {
                close(listen_fd);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->lock, NULL);
        p->cfg = *cfg;
        p->listen_fd = listen_fd;
        p->spare.fd = -1;
        p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        p->budget = budget_new();
        p->rules = calloc(cfg->n_rules + 1, sizeof *p->rules);
        p->pins = calloc(cfg->n_pins + 1, sizeof *p->pins);
        /* an array of connection pointers */
        p->conns = calloc(cfg->max_concurrent + 1,
                          sizeof *p->conns); // NOLINT(bugprone-sizeof-expression)
        int r = p->wake_fd < 0 || !p->budget || !p->rules || !p->pins || !p->conns ? -ENOMEM : 0;
        /* A service bound to 0.0.0.0 on this host answers on its public
         * address too: that address is inward as well.  Without the list
         * the guard would lapse: the proxy does not start (fail closed). */
        struct ifaddrs *ifs = NULL;
        if (r == 0 && getifaddrs(&ifs) < 0)
                r = -errno;
        if (r == 0) {
                size_t count = 0;
                for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
                        count++;
                p->own = calloc(count + 1, sizeof *p->own);
                for (struct ifaddrs *i = ifs; p->own && i; i = i->ifa_next) {
                        if (!i->ifa_addr)
                                continue;
                        struct net_addr *a = &p->own[p->n_own];
                        if (i->ifa_addr->sa_family == AF_INET) {
                                a->family = AF_INET;
                                a->v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
                                p->n_own++;
                        } else if (i->ifa_addr->sa_family == AF_INET6) {
                                a->family = AF_INET6;
                                a->v6 = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                                p->n_own++;
                        }
                }
                freeifaddrs(ifs);
                if (!p->own)
                        r = -ENOMEM;
        }
        if (r == 0) {
                memcpy(p->rules, cfg->rules, cfg->n_rules * sizeof *p->rules);
                memcpy(p->pins, cfg->pins, cfg->n_pins * sizeof *p->pins);
                fd_set_nonblock(listen_fd);
                r = -pthread_create(&p->thread, NULL, loop, p);
        }
        if (r < 0) {
                if (p->wake_fd >= 0)
                        close(p->wake_fd);
                budget_put(p->budget);
                close(listen_fd);
                free(p->rules);
                free(p->pins);
                free(p->conns);
                free(p->own);
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

void net_proxy_take(struct net_proxy *p, struct net_proxy_report *ret)
{
        pthread_mutex_lock(&p->lock);
        if (ret)
                *ret = p->report;
        p->report = (struct net_proxy_report){ 0 };
        p->bytes_exhausted = false;
        p->over_cap_noted = false;
        pthread_mutex_unlock(&p->lock);
}

void net_proxy_stop(struct net_proxy *p, struct net_proxy_report *ret)
{
        uint64_t one = 1;
        (void)!write(p->wake_fd, &one, sizeof one);
        pthread_join(p->thread, NULL);
        for (size_t i = 0; i < p->n_conns; i++)
                conn_close(p->conns[i]);
        spare_drop(p);
        *ret = p->report;
        close(p->wake_fd);
        /* Lookups still running count on the budget's eventfd, which no
         * one reads now, and the last of them frees it. */
        budget_put(p->budget);
        close(p->listen_fd);
        free(p->rules);
        free(p->pins);
        free(p->conns);
        free(p->own);
        pthread_mutex_destroy(&p->lock);
        free(p);
}
