/* The network allowlist: which destinations the proxy may connect to.
 *
 * Pure logic (no sockets, no DNS), shared by policy validation and the proxy:
 *
 *   allowed_domains entries   "api.example.com", "*.example.com",
 *                             "api.example.com:8443", "10.0.0.5", "[::1]:8080"
 *   network_hosts entries     "name=address": the proxy's resolver answers
 *                             name with address instead of asking DNS
 *
 * A name matches an exact rule, or a "*.suffix" rule when it has at least one
 * more label than the suffix (so "*.example.com" does not match
 * "example.com").  An IP literal matches only an IP rule for the same
 * address, never a domain rule.  A rule without a port allows 80 and 443.
 * Addresses that lead inward (loopback, private, link-local, multicast,
 * unspecified, ...) are refused after resolution unless the operator named
 * them: as an IP rule, or as the address of a network_hosts name.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_NAME_MAX 253

struct net_addr {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        };
};

struct net_rule {
        char host[NET_NAME_MAX + 1]; /* lowercase; for a wildcard, the suffix without "*." */
        bool wildcard;
        bool is_ip;
        struct net_addr ip; /* is_ip */
        uint16_t port;      /* 0: 80 and 443 */
};

struct net_pin {
        char host[NET_NAME_MAX + 1];
        struct net_addr addr;
};

/* Parses an allowed_domains entry; -EINVAL if it is not one. */
int net_rule_parse(const char *text, struct net_rule *ret);
/* Parses a network_hosts entry "name=address"; -EINVAL if it is not one. */
int net_pin_parse(const char *text, struct net_pin *ret);

/* A destination as a request names it: a host (name or IP literal, IPv6
 * with or without brackets) and a port. */
struct net_target {
        char host[NET_NAME_MAX + 1]; /* normalised: lowercase, no trailing dot, no brackets */
        bool is_ip;
        struct net_addr ip;
        uint16_t port;
};

/* Normalises host (as written in a request) into ret; -EINVAL if it is
 * neither a valid DNS name nor an IP literal, or port is 0. */
int net_target_make(const char *host, size_t len, uint16_t port, struct net_target *ret);
/* "host:port" (brackets around IPv6), for messages and violations. */
void net_target_format(const struct net_target *t, char *buf, size_t len);

/* Whether any rule allows the target (name and port; addresses come later). */
bool net_rules_allow(const struct net_rule *rules, size_t n, const struct net_target *t);
/* The addresses pinned for a name, in the order given (a name may be pinned
 * more than once), at most max; 0 if none. */
#define NET_ADDRS_MAX 16
size_t net_pins_find(const struct net_pin *pins, size_t n, const char *host, struct net_addr *ret,
                     size_t max);

/* Why an address must not be reached unless the operator named it: a short
 * phrase ("loopback", "private", ...), or NULL for an ordinary public
 * address.  IPv4-mapped and NAT64-embedded IPv4 addresses are judged by
 * their IPv4 part. */
const char *net_addr_inward(const struct net_addr *a);
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);
/* Whether two addresses reach the same host: equal, or the same IPv4
 * address written as IPv4 or embedded in an IPv6 one (mapped, NAT64,
 * SIIT), which an IPv6 socket reaches over IPv4. */
bool net_addr_same_host(const struct net_addr *a, const struct net_addr *b);
/* Whether an IP rule names exactly this address, for this port. */
bool net_rules_name_addr(const struct net_rule *rules, size_t n, const struct net_addr *a,
                         uint16_t port);
