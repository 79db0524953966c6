/* src/net: the allowlist rules and the proxy's request parsers.  These decide
 * what code in the sandbox may reach, so each rule of docs/policy.md's
 * network section has a test that would fail if it were loosened. */
#include <criterion/criterion.h>

#include "net/request.h"
#include "net/rules.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static struct net_rule rules[8];
static size_t n_rules;

static void allow(const char *text)
{
        cr_assert_eq(net_rule_parse(text, &rules[n_rules]), 0, "rule %s", text);
        n_rules++;
}

static bool allowed(const char *host, uint16_t port)
{
        struct net_target t;
        cr_assert_eq(net_target_make(host, strlen(host), port, &t), 0, "target %s", host);
        return net_rules_allow(rules, n_rules, &t);
}

static void setup(void)
{
        n_rules = 0;
}

TestSuite(rules, .init = setup);

Test(rules, exact_names_default_to_ports_80_and_443)
{
        allow("api.example.com");
        cr_assert(allowed("api.example.com", 80));
        cr_assert(allowed("API.Example.COM.", 443), "case and a trailing dot do not matter");
        cr_assert_not(allowed("api.example.com", 8080));
        cr_assert_not(allowed("example.com", 443));
        cr_assert_not(allowed("xapi.example.com", 443));
        cr_assert_not(allowed("api.example.com.evil.test", 443));
}

Test(rules, wildcards_need_one_more_label)
{
        allow("*.example.com:8443");
        cr_assert(allowed("a.example.com", 8443));
        cr_assert(allowed("a.b.example.com", 8443));
        cr_assert_not(allowed("example.com", 8443), "the wildcard does not match its suffix");
        cr_assert_not(allowed("aexample.com", 8443));
        cr_assert_not(allowed("a.example.com", 443), "an explicit port replaces 80 and 443");
}

Test(rules, ip_literals_match_only_ip_rules)
{
        allow("10.0.0.5");
        allow("[::1]:8080");
        cr_assert(allowed("10.0.0.5", 443));
        cr_assert_not(allowed("10.0.0.6", 443));
        cr_assert(allowed("[::1]", 8080));
        cr_assert(allowed("0:0::1", 8080), "IPv6 is compared as an address, not as text");
        cr_assert_not(allowed("::ffff:10.0.0.5", 443), "a mapped form is another literal");
        /* A name rule that an address could match is refused outright. */
        struct net_rule r;
        cr_assert_lt(net_rule_parse("*.0.0.5", &r), 0);
        n_rules = 0;
        allow("*.example.test");
        cr_assert_not(allowed("10.0.0.5", 443), "a literal never matches a name rule");
}

Test(rules, bad_rules_and_targets_are_refused)
{
        static const char *const bad[] = { "",        "*",           "*.com",   "**.a.com",
                                           "a..com",  "-a.com",      "a-.com",  "http://a.com",
                                           "a.com:0", "a.com:65536", "a.com:",  "a.com:x",
                                           "[::1",    "[::1]x",      "a b.com", "2130706433",
                                           "0x7f.1",  "127.1",       "a.com/x" };
        struct net_rule r;
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                cr_assert_lt(net_rule_parse(bad[i], &r), 0, "'%s' accepted", bad[i]);
        char long_name[300];
        memset(long_name, 'a', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        struct net_target t;
        cr_assert_lt(net_target_make(long_name, strlen(long_name), 80, &t), 0);
        cr_assert_lt(net_target_make("a.com", 5, 0, &t), 0, "port 0");
        cr_assert_lt(net_target_make("a\0b.com", 7, 80, &t), 0, "NUL in a name");
}

static struct net_addr addr(const char *text)
{
        struct net_addr a = { 0 };
        if (inet_pton(AF_INET, text, &a.v4) == 1)
                a.family = AF_INET;
        else {
                cr_assert_eq(inet_pton(AF_INET6, text, &a.v6), 1, "%s", text);
                a.family = AF_INET6;
        }
        return a;
}

static const char *inward(const char *text)
{
        struct net_addr a = addr(text);
        return net_addr_inward(&a);
}

/* The proxy refuses the host's own (public) addresses: written in IPv6 as
 * a mapped, NAT64 or SIIT address they reach the same IPv4 host. */
Test(rules, same_host_through_embedded_ipv4)
{
        struct net_addr own = addr("203.0.113.7");
        static const char *const same[] = { "203.0.113.7", "::ffff:203.0.113.7",
                                            "64:ff9b::cb00:7107", "::ffff:0:cb00:7107" };
        for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
                struct net_addr a = addr(same[i]);
                cr_assert(net_addr_same_host(&a, &own), "%s", same[i]);
                cr_assert(net_addr_same_host(&own, &a), "%s", same[i]);
        }
        static const char *const other[] = { "203.0.113.8", "2001:db8::cb00:7107", "::1" };
        for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
                struct net_addr a = addr(other[i]);
                cr_assert_not(net_addr_same_host(&a, &own), "%s", other[i]);
        }
        struct net_addr v6 = addr("2001:db8::1"), v6b = addr("2001:db8::1");
        cr_assert(net_addr_same_host(&v6, &v6b));
}

Test(rules, inward_addresses)
{
        static const char *const in[][2] = {
                { "127.0.0.1", "loopback" },
                { "127.255.1.2", "loopback" },
                { "10.1.2.3", "private" },
                { "172.16.0.1", "private" },
                { "172.31.255.255", "private" },
                { "192.168.1.1", "private" },
                { "169.254.169.254", "link-local" },
                { "0.0.0.0", "unspecified" },
                { "224.0.0.1", "multicast" },
                { "255.255.255.255", "reserved" },
                { "100.64.0.1", "shared (CGNAT)" },
                { "::1", "loopback" },
                { "::", "unspecified" },
                { "fe80::1", "link-local" },
                { "fd00::1", "private" },
                { "ff02::1", "multicast" },
                { "::ffff:127.0.0.1", "loopback" },
                { "::ffff:169.254.169.254", "link-local" },
                { "64:ff9b::a00:1", "private" },
                { "64:ff9b:1::808:808", "private" },
                { "::ffff:0:a00:1", "private" },
                { "2002:a00:1::", "6to4" },
        };
        for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
                const char *why = inward(in[i][0]);
                cr_assert_not_null(why, "%s not inward", in[i][0]);
                cr_assert_str_eq(why, in[i][1], "%s", in[i][0]);
        }
        static const char *const out[] = { "8.8.8.8", "172.32.0.1",      "192.169.0.1",
                                           "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8" };
        for (size_t i = 0; i < sizeof out / sizeof *out; i++)
                cr_assert_null(inward(out[i]), "%s is public", out[i]);
}

Test(rules, pins)
{
        struct net_pin pins[2];
        cr_assert_eq(net_pin_parse("API.test.=127.0.0.1", &pins[0]), 0);
        cr_assert_str_eq(pins[0].host, "api.test");
        cr_assert_eq(net_pin_parse("v6.test=::1", &pins[1]), 0);
        struct net_addr got[4];
        cr_assert_eq(net_pins_find(pins, 2, "api.test", got, 4), 1);
        cr_assert_eq(net_pins_find(pins, 2, "other.test", got, 4), 0);
        struct net_pin two[3];
        cr_assert_eq(net_pin_parse("both.test=::1", &two[0]), 0);
        cr_assert_eq(net_pin_parse("else.test=10.0.0.1", &two[1]), 0);
        cr_assert_eq(net_pin_parse("both.test=127.0.0.1", &two[2]), 0);
        cr_assert_eq(net_pins_find(two, 3, "both.test", got, 4), 2, "every pin, in order");
        cr_assert_eq(got[0].family, AF_INET6);
        cr_assert_eq(got[1].family, AF_INET);
        cr_assert_eq(net_pins_find(two, 3, "both.test", got, 1), 1, "at most max");
        struct net_pin p;
        cr_assert_lt(net_pin_parse("a.test=a.test", &p), 0);
        cr_assert_lt(net_pin_parse("=1.2.3.4", &p), 0);
        cr_assert_lt(net_pin_parse("1.2.3.4=1.2.3.4", &p), 0, "a pin names a name");
}

static enum req_result parse(const char *text, struct http_request *r)
{
        return http_parse_request(text, strlen(text), r);
}

Test(http, forward_request_and_upstream_head)
{
        const char *req = "GET http://API.test:8080/p?q=1 HTTP/1.1\r\nHost: api.test:8080\r\n"
                          "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n"
                          "Proxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\nBODY";
        struct http_request r;
        cr_assert_eq(parse(req, &r), REQ_DONE);
        cr_assert_not(r.connect);
        cr_assert_str_eq(r.target.host, "api.test");
        cr_assert_eq(r.target.port, 8080);
        cr_assert_eq(r.head_len, strlen(req) - 4);
        char out[1024];
        long n = http_upstream_head(req, &r, out, sizeof out);
        cr_assert_gt(n, 0);
        out[n] = '\0';
        cr_assert_str_eq(out, "GET /p?q=1 HTTP/1.1\r\nHost: api.test:8080\r\nAccept: */*\r\n"
                              "Connection: close\r\n\r\n");
        cr_assert_eq(http_upstream_head(req, &r, out, 20), -1, "a short buffer is refused");

        /* HTTP/1.0 without Host: the checked target is written for it. */
        const char *old = "GET http://[::1]:8080/ HTTP/1.0\r\nX-A: b\r\n\r\n";
        cr_assert_eq(parse(old, &r), REQ_DONE);
        n = http_upstream_head(old, &r, out, sizeof out);
        cr_assert_gt(n, 0);
        out[n] = '\0';
        cr_assert_str_eq(
                out, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX-A: b\r\nConnection: close\r\n\r\n");
}

Test(http, connect_and_incomplete)
{
        struct http_request r;
        cr_assert_eq(parse("CONNECT a.test:443 HTTP/1.1\r\n\r\n", &r), REQ_DONE);
        cr_assert(r.connect);
        cr_assert_eq(r.target.port, 443);
        cr_assert_eq(parse("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &r),
                     REQ_DONE);
        cr_assert(r.target.is_ip);
        cr_assert_eq(parse("CONNECT a.test:443 HTTP/1.1\r\nHost: a", &r), REQ_MORE);
        cr_assert_eq(parse("", &r), REQ_MORE);
}

Test(http, refusals)
{
        static const struct {
                const char *req;
                int status;
        } cases[] = {
                { "CONNECT a.test HTTP/1.1\r\n\r\n", 400 },
                { "GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 501 },
                { "GET /relative HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://user@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test:81\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n folded\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n",
                  501 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1x\r\n\r\n",
                  400 },
                { "GET http://a.test/ HTTP/2.0\r\nHost: a.test\r\n\r\n", 400 },
                { "G(T http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://2130706433/ HTTP/1.1\r\nHost: 2130706433\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nX: a\nHost: b.test\r\nHost: a.test\r\n\r\n",
                  400 },
                { "GET http://a.test/x\ry HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://a.test/\x80 HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
                { "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: \x7f\r\n\r\n", 400 },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct http_request r;
                cr_assert_eq(parse(cases[i].req, &r), REQ_ERROR, "accepted: %s", cases[i].req);
                cr_assert_eq(r.status, cases[i].status, "%s: %d", cases[i].req, r.status);
                cr_assert_not_null(r.reason);
        }
        struct http_request r;
        const char nul[] = "GET http://a.test/ HTTP/1.1\r\nHost: a\0.test\r\n\r\n";
        cr_assert_eq(http_parse_request(nul, sizeof nul - 1, &r), REQ_ERROR);
        static char huge[REQ_HEAD_MAX + 10];
        memset(huge, 'a', sizeof huge);
        cr_assert_eq(http_parse_request(huge, sizeof huge, &r), REQ_ERROR);
        cr_assert_eq(r.status, 431);
}

Test(socks, greeting_and_requests)
{
        size_t len;
        cr_assert_eq(socks_parse_greeting((const unsigned char *)"\x05\x02\x02\x00", 4, &len),
                     SOCKS_NO_AUTH);
        cr_assert_eq(len, 4);
        cr_assert_eq(socks_parse_greeting((const unsigned char *)"\x05\x01\x02", 3, &len),
                     SOCKS_NO_METHOD);
        _Static_assert((int)SOCKS_NO_METHOD != (int)REQ_MORE, "a refusal is not 'more'");
        cr_assert_eq(socks_parse_greeting((const unsigned char *)"\x05\x02\x00", 3, &len),
                     REQ_MORE);
        cr_assert_eq(socks_parse_greeting((const unsigned char *)"\x04\x01\x00", 3, &len),
                     REQ_ERROR);

        struct socks_request r;
        const unsigned char dom[] = "\x05\x01\x00\x03\x08"
                                    "API.test"
                                    "\x01\xbb";
        cr_assert_eq(socks_parse_request(dom, sizeof dom - 1, &r), REQ_DONE);
        cr_assert_str_eq(r.target.host, "api.test");
        cr_assert_eq(r.target.port, 443);
        cr_assert_eq(r.len, sizeof dom - 1);
        cr_assert_eq(socks_parse_request(dom, 8, &r), REQ_MORE);
        const unsigned char v4[] = { 5, 1, 0, 1, 169, 254, 169, 254, 0, 80 };
        cr_assert_eq(socks_parse_request(v4, sizeof v4, &r), REQ_DONE);
        cr_assert_str_eq(r.target.host, "169.254.169.254");
        cr_assert(r.target.is_ip);
        const unsigned char bind[] = { 5, 2, 0, 1, 1, 2, 3, 4, 0, 80 };
        cr_assert_eq(socks_parse_request(bind, sizeof bind, &r), REQ_ERROR);
        cr_assert_eq(r.reply, 7, "BIND and UDP ASSOCIATE are not supported");
        const unsigned char empty_name[] = { 5, 1, 0, 3, 0, 0, 80 };
        cr_assert_eq(socks_parse_request(empty_name, sizeof empty_name, &r), REQ_ERROR);
}
