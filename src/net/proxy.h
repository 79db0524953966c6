/* The allowlist proxy: runs in the supervisor (never inside the sandbox),
 * on a listening socket that the sandbox created in its own network
 * namespace (127.0.0.1:3128 there), so the sandbox reaches it over its
 * loopback while the proxy's outbound connections leave from the host.
 *
 * One thread per sandbox polls every connection.  A connection speaks HTTP
 * (forward requests with an absolute URI, or CONNECT) or SOCKS5, told apart
 * by its first byte.  Each destination is checked against the rules before
 * any name is resolved; names are resolved here, outside the sandbox, and a
 * destination whose address leads inward (loopback, private, link-local,
 * ...) is refused unless the operator named that address or pinned that
 * name.  Refusals answer 403 (or a SOCKS5 refusal) with one line of reason
 * and are reported as violations.  Bytes, connections and concurrency are
 * capped per execution, and a request head must arrive within a deadline.
 */
#pragma once

#include "rules.h"

#include <stddef.h>
#include <stdint.h>

#define NET_PROXY_PORT       3128
#define NET_PROXY_MAX_EVENTS 64

struct net_proxy_config {
        const struct net_rule *rules;
        size_t n_rules;
        const struct net_pin *pins;
        size_t n_pins;
        uint64_t max_bytes;       /* relayed, both directions, per execution */
        uint64_t max_connections; /* allowed connections per execution */
        unsigned max_concurrent;  /* open client connections at once */
        unsigned head_timeout_ms; /* a request head (or SOCKS handshake) must arrive in this */
        unsigned connect_timeout_ms;
};

struct net_proxy_event {
        char target[NET_NAME_MAX + 10]; /* "host:port" */
        char reason[160];
};

struct net_proxy_report {
        uint64_t connections;                                /* allowed and connected upstream */
        uint64_t bytes;                                      /* relayed, both directions */
        struct net_proxy_event events[NET_PROXY_MAX_EVENTS]; /* refusals, first ones */
        size_t n_events;
        uint64_t events_dropped;
};

struct net_proxy;

/* Takes ownership of listen_fd.  The config is copied. */
int net_proxy_start(int listen_fd, const struct net_proxy_config *cfg, struct net_proxy **ret);
/* The report so far (ret may be NULL: dropped), and a fresh budget: a
 * session's next execution starts with its own counts and limits, as a
 * one-shot run does. */
void net_proxy_take(struct net_proxy *p, struct net_proxy_report *ret);
/* Stops the thread, closes every connection, and fills the report. */
void net_proxy_stop(struct net_proxy *p, struct net_proxy_report *ret);
