/* libFuzzer target: the proxy's request parsers (src/net/request.c) and the
 * allowlist's target and rule parsers (src/net/rules.c), which read bytes
 * that code inside the sandbox chooses.  The input is handed over in an
 * exact-size heap copy, so ASan catches any read past its end.  Besides not
 * crashing: a complete HTTP head lies inside the input, a forwarded request's
 * upstream head ends the way the proxy promises, and a parsed target
 * formats and re-parses to itself. */
#include "net/request.h"
#include "net/rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_target(const struct net_target *t)
{
        char text[NET_NAME_MAX + 10];
        net_target_format(t, text, sizeof text);
        struct net_rule r;
        if (net_rule_parse(text, &r) != 0 || r.port != t->port || r.is_ip != t->is_ip)
                abort();
        if (!net_rules_allow(&r, 1, t))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);

        struct http_request h;
        if (http_parse_request(buf, size, &h) == REQ_DONE) {
                if (h.head_len > size || h.head_len < 4)
                        abort();
                check_target(&h.target);
                if (!h.connect) {
                        static char out[REQ_HEAD_MAX + 64];
                        static const char tail[] = "Connection: close\r\n\r\n";
                        long n = http_upstream_head(buf, &h, out, sizeof out);
                        if (n >= 0 && ((size_t)n < sizeof tail - 1 ||
                                       memcmp(out + n - (sizeof tail - 1), tail, sizeof tail - 1)))
                                abort();
                }
        }
        size_t glen = 0;
        int g = socks_parse_greeting((const unsigned char *)buf, size, &glen);
        if ((g == SOCKS_NO_AUTH || g == SOCKS_NO_METHOD) && (glen < 2 || glen > size))
                abort();
        struct socks_request s;
        if (socks_parse_request((const unsigned char *)buf, size, &s) == REQ_DONE) {
                if (s.len > size)
                        abort();
                check_target(&s.target);
        }
        /* Rules and pins from short text. */
        if (size < 300) {
                char text[301];
                memcpy(text, data, size);
                text[size] = '\0';
                struct net_rule r;
                struct net_pin pin;
                struct net_addr a = { .family = 2 };
                (void)net_rule_parse(text, &r);
                (void)net_pin_parse(text, &pin);
                memcpy(&a.v4, data, size < 4 ? size : 4);
                (void)net_addr_inward(&a);
        }
        free(buf);
        return 0;
}
