/* The network allowlist (see rules.h).  Everything here is pure: the same
 * functions decide in policy validation, in the proxy and in unit tests. */
#include "rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A DNS name as hosts are written: labels of letters, digits, '-' and '_'
 * (seen in the wild), 1-63 bytes, not starting or ending with '-'.  Not
 * something the resolver would read as an IPv4 address in one of inet_aton's
 * old forms ("2130706433", "0x7f.1", "127.1"): those would slip past the
 * rule that IP literals never match a domain rule. */
static bool valid_name(const char *s)
{
        struct in_addr ignored;
        if (inet_aton(s, &ignored))
                return false;
        size_t len = strlen(s), label = 0;
        if (len == 0 || len > NET_NAME_MAX)
                return false;
        for (size_t i = 0; i <= len; i++) {
                char c = s[i];
                if (c == '.' || c == '\0') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
                if (!ok || (label == 0 && c == '-') || ++label > 63)
                        return false;
        }
        return true;
}

static int parse_ip(const char *s, struct net_addr *ret)
{
        *ret = (struct net_addr){ 0 };
        if (inet_pton(AF_INET, s, &ret->v4) == 1) {
                ret->family = AF_INET;
                return 0;
        }
        if (inet_pton(AF_INET6, s, &ret->v6) == 1) {
                ret->family = AF_INET6;
                return 0;
        }
        return -EINVAL;
}

static int parse_port(const char *s, uint16_t *ret)
{
        if (!*s || strlen(s) > 5)
                return -EINVAL;
        unsigned v = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned)(*s - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port" into a lowercased host
 * (brackets dropped) and a port (0 if none). */
static int split_host_port(const char *text, char *host, size_t hlen, uint16_t *port)
{
        const char *end, *colon = NULL;
        *port = 0;
        if (text[0] == '[') {
                end = strchr(text, ']');
                if (!end || (end[1] != '\0' && end[1] != ':'))
                        return -EINVAL;
                if (end[1] == ':' && parse_port(end + 2, port) < 0)
                        return -EINVAL;
                text++;
        } else {
                colon = strchr(text, ':');
                /* More than one colon without brackets: a bare IPv6 address. */
                if (colon && strchr(colon + 1, ':'))
                        colon = NULL;
                if (colon && parse_port(colon + 1, port) < 0)
                        return -EINVAL;
                end = colon ? colon : text + strlen(text);
        }
        size_t n = (size_t)(end - text);
        if (n == 0 || n >= hlen)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                host[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
        host[n] = '\0';
        if (n > 1 && host[n - 1] == '.')
                host[n - 1] = '\0';
        return 0;
}

int net_rule_parse(const char *text, struct net_rule *ret)
{
        *ret = (struct net_rule){ 0 };
        char host[NET_NAME_MAX + 3];
        if (split_host_port(text, host, sizeof host, &ret->port) < 0)
                return -EINVAL;
        if (parse_ip(host, &ret->ip) == 0) {
                ret->is_ip = true;
                snprintf(ret->host, sizeof ret->host, "%.*s", NET_NAME_MAX, host);
                return 0;
        }
        const char *name = host;
        if (strncmp(host, "*.", 2) == 0) {
                ret->wildcard = true;
                name = host + 2;
        }
        /* A name must have a dot, so "*.com" and bare words are refused. */
        if (!valid_name(name) || (ret->wildcard && !strchr(name, '.')))
                return -EINVAL;
        snprintf(ret->host, sizeof ret->host, "%.*s", NET_NAME_MAX, name);
        return 0;
}

int net_pin_parse(const char *text, struct net_pin *ret)
{
        *ret = (struct net_pin){ 0 };
        const char *eq = strchr(text, '=');
        if (!eq || eq == text || (size_t)(eq - text) > NET_NAME_MAX)
                return -EINVAL;
        struct net_target t;
        if (net_target_make(text, (size_t)(eq - text), 1, &t) < 0 || t.is_ip)
                return -EINVAL;
        if (parse_ip(eq + 1, &ret->addr) < 0)
                return -EINVAL;
        snprintf(ret->host, sizeof ret->host, "%s", t.host);
        return 0;
}

int net_target_make(const char *host, size_t len, uint16_t port, struct net_target *ret)
{
        *ret = (struct net_target){ .port = port };
        if (port == 0 || len == 0 || len > NET_NAME_MAX + 2)
                return -EINVAL;
        if (host[0] == '[') {
                if (len < 3 || host[len - 1] != ']')
                        return -EINVAL;
                host++;
                len -= 2;
        }
        if (len > NET_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                char c = host[i];
                if (c == '\0')
                        return -EINVAL;
                ret->host[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        ret->host[len] = '\0';
        if (parse_ip(ret->host, &ret->ip) == 0) {
                ret->is_ip = true;
                return 0;
        }
        if (len > 1 && ret->host[len - 1] == '.')
                ret->host[len - 1] = '\0';
        return valid_name(ret->host) ? 0 : -EINVAL;
}

void net_target_format(const struct net_target *t, char *buf, size_t len)
{
        bool v6 = t->is_ip && t->ip.family == AF_INET6;
        snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port);
}

static bool port_ok(const struct net_rule *r, uint16_t port)
{
        return r->port ? r->port == port : port == 80 || port == 443;
}

bool net_rules_allow(const struct net_rule *rules, size_t n, const struct net_target *t)
{
        for (size_t i = 0; i < n; i++) {
                const struct net_rule *r = &rules[i];
                if (!port_ok(r, t->port) || r->is_ip != t->is_ip)
                        continue;
                if (r->is_ip) {
                        if (net_addr_equal(&r->ip, &t->ip))
                                return true;
                        continue;
                }
                if (!r->wildcard) {
                        if (strcmp(r->host, t->host) == 0)
                                return true;
                        continue;
                }
                size_t hl = strlen(t->host), sl = strlen(r->host);
                if (hl > sl + 1 && t->host[hl - sl - 1] == '.' &&
                    strcmp(t->host + hl - sl, r->host) == 0)
                        return true;
        }
        return false;
}

size_t net_pins_find(const struct net_pin *pins, size_t n, const char *host, struct net_addr *ret,
                     size_t max)
{
        size_t found = 0;
        for (size_t i = 0; i < n && found < max; i++)
                if (strcmp(pins[i].host, host) == 0)
                        ret[found++] = pins[i].addr;
        return found;
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
        if (a->family != b->family)
                return false;
        return a->family == AF_INET ? a->v4.s_addr == b->v4.s_addr
                                    : memcmp(&a->v6, &b->v6, sizeof a->v6) == 0;
}

bool net_rules_name_addr(const struct net_rule *rules, size_t n, const struct net_addr *a,
                         uint16_t port)
{
        for (size_t i = 0; i < n; i++)
                if (rules[i].is_ip && port_ok(&rules[i], port) && net_addr_equal(&rules[i].ip, a))
                        return true;
        return false;
}

static const char *inward_v4(uint32_t h)
{
        static const struct {
                uint32_t net, mask;
                const char *why;
        } ranges[] = {
                { 0x00000000, 0xff000000, "unspecified" },    /* 0.0.0.0/8 */
                { 0x7f000000, 0xff000000, "loopback" },       /* 127/8 */
                { 0x0a000000, 0xff000000, "private" },        /* 10/8 */
                { 0xac100000, 0xfff00000, "private" },        /* 172.16/12 */
                { 0xc0a80000, 0xffff0000, "private" },        /* 192.168/16 */
                { 0x64400000, 0xffc00000, "shared (CGNAT)" }, /* 100.64/10 */
                { 0xa9fe0000, 0xffff0000, "link-local" },     /* 169.254/16: cloud metadata */
                { 0xc0000000, 0xffffff00, "reserved" },       /* 192.0.0/24 */
                { 0xc6120000, 0xfffe0000, "benchmarking" },   /* 198.18/15 */
                { 0xe0000000, 0xf0000000, "multicast" },      /* 224/4 */
                { 0xf0000000, 0xf0000000, "reserved" },       /* 240/4, broadcast */
        };
        for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
                if ((h & ranges[i].mask) == ranges[i].net)
                        return ranges[i].why;
        return NULL;
}

/* The IPv4 address (host order) an address reaches: its own, or the one
 * an IPv4-mapped, NAT64 or SIIT IPv6 address embeds.  False for other
 * IPv6 addresses. */
static bool reaches_v4(const struct net_addr *a, uint32_t *ret)
{
        if (a->family == AF_INET) {
                *ret = ntohl(a->v4.s_addr);
                return true;
        }
        const uint8_t *b = a->v6.s6_addr;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
        static const uint8_t siit[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };
        if (memcmp(b, mapped, 12) != 0 && memcmp(b, nat64, 12) != 0 && memcmp(b, siit, 12) != 0)
                return false;
        *ret = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return true;
}

bool net_addr_same_host(const struct net_addr *a, const struct net_addr *b)
{
        uint32_t x, y;
        if (reaches_v4(a, &x) && reaches_v4(b, &y))
                return x == y;
        return net_addr_equal(a, b);
}

const char *net_addr_inward(const struct net_addr *a)
{
        uint32_t v4;
        if (reaches_v4(a, &v4))
                return inward_v4(v4);
        const uint8_t *b = a->v6.s6_addr;
        static const uint8_t zero[16] = { 0 };
        if (memcmp(b, zero, 16) == 0)
                return "unspecified";
        if (memcmp(b, zero, 15) == 0 && b[15] == 1)
                return "loopback";
        if (memcmp(b, zero, 12) == 0)
                return "reserved"; /* IPv4-compatible, deprecated */
        if ((b[0] & 0xfe) == 0xfc)
                return "private"; /* fc00::/7 */
        if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
                return "private"; /* 64:ff9b:1::/48, local-use NAT64 */
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
                return "link-local"; /* fe80::/10 */
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
                return "site-local"; /* fec0::/10 */
        if (b[0] == 0xff)
                return "multicast";
        if (b[0] == 0x20 && b[1] == 0x02)
                return "6to4"; /* 2002::/16 embeds an IPv4 address */
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
                return "teredo"; /* 2001::/32 */
        return NULL;
}
