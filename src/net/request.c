/* Parsing what clients ask the proxy for (see request.h).  Strict on
 * purpose: anything ambiguous is refused with 400 rather than guessed at,
 * because the proxy's check is only as good as its reading of the request. */
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum req_result refuse(struct http_request *r, int status, const char *reason)
{
        r->status = status;
        r->reason = reason;
        return REQ_ERROR;
}

static const char *find_crlfcrlf(const char *buf, size_t len)
{
        for (size_t i = 0; i + 3 < len; i++)
                if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
                    buf[i + 3] == '\n')
                        return buf + i;
        return NULL;
}

/* The end of the line at s; the head is known to hold "\r\n\r\n" before end. */
static const char *crlf(const char *s, const char *end)
{
        const char *e = memmem(s, (size_t)(end - s), "\r\n", 2);
        return e ? e : end;
}

static bool tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool parse_port(const char *s, size_t n, uint16_t *ret)
{
        unsigned v = 0;
        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return false;
        *ret = (uint16_t)v;
        return true;
}

/* "host", "host:port", "[v6]", "[v6]:port" of length n into a target. */
static bool parse_authority(const char *s, size_t n, uint16_t default_port, struct net_target *t)
{
        size_t host_len = n;
        uint16_t port = default_port;
        const char *colon = NULL;
        if (n && s[0] == '[') {
                const char *end = memchr(s, ']', n);
                if (!end)
                        return false;
                host_len = (size_t)(end - s) + 1;
                if (host_len < n) {
                        if (s[host_len] != ':')
                                return false;
                        colon = s + host_len;
                }
        } else {
                colon = memchr(s, ':', n);
                if (colon)
                        host_len = (size_t)(colon - s);
        }
        if (colon && !parse_port(colon + 1, n - host_len - 1, &port))
                return false;
        return port != 0 && net_target_make(s, host_len, port, t) == 0;
}

static bool header_is(const char *line, size_t name_len, const char *name)
{
        return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* Headers the proxy consumes or replaces instead of forwarding. */
static bool hop_by_hop(const char *line, size_t name_len)
{
        static const char *const names[] = {
                "connection",
                "proxy-connection",
                "keep-alive",
                "proxy-authorization",
                "proxy-authenticate",
                "te",
                "upgrade",
                "host",
        };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                if (header_is(line, name_len, names[i]))
                        return true;
        return false;
}

static const char *trim(const char *s, const char *end, size_t *ret_len)
{
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret_len = (size_t)(end - s);
        return s;
}

enum req_result http_parse_request(const char *buf, size_t len, struct http_request *r)
{
        *r = (struct http_request){ 0 };
        const char *head_end = find_crlfcrlf(buf, len < REQ_HEAD_MAX ? len : REQ_HEAD_MAX);
        if (!head_end)
                return len >= REQ_HEAD_MAX ? refuse(r, 431, "request head too large") : REQ_MORE;
        r->head_len = (size_t)(head_end - buf) + 4;
        if (memchr(buf, '\0', r->head_len))
                return refuse(r, 400, "NUL byte in the request head");

        /* Request line: METHOD SP TARGET SP HTTP/1.x */
        const char *eol = crlf(buf, head_end + 2);
        const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
        if (!sp1 || sp1 == buf)
                return refuse(r, 400, "malformed request line");
        const char *tgt = sp1 + 1;
        const char *sp2 = memchr(tgt, ' ', (size_t)(eol - tgt));
        if (!sp2 || sp2 == tgt || (size_t)(eol - sp2) != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
            (sp2[8] != '0' && sp2[8] != '1'))
                return refuse(r, 400, "malformed request line");
        for (const char *c = buf; c < sp1; c++)
                if (!tchar(*c))
                        return refuse(r, 400, "malformed method");
        r->method_off = 0;
        r->method_len = (size_t)(sp1 - buf);
        size_t tlen = (size_t)(sp2 - tgt);
        for (const char *c = tgt; c < sp2; c++)
                if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
                        return refuse(r, 400, "control or non-ASCII byte in the request target");
        r->connect = r->method_len == 7 && memcmp(buf, "CONNECT", 7) == 0;

        if (r->connect) {
                /* CONNECT host:port, the port required. */
                const char *colon = tgt[0] == '[' ? memchr(tgt, ']', tlen) : tgt;
                if (!colon || !memchr(colon, ':', tlen - (size_t)(colon - tgt)) ||
                    !parse_authority(tgt, tlen, 0, &r->target))
                        return refuse(r, 400, "CONNECT needs host:port");
        } else {
                static const char scheme[] = "http://";
                if (tlen >= 8 && strncasecmp(tgt, "https://", 8) == 0)
                        return refuse(r, 501, "https:// through a forward request: use CONNECT");
                if (tlen < sizeof scheme || strncasecmp(tgt, scheme, sizeof scheme - 1) != 0)
                        return refuse(r, 400, "a proxy request needs an absolute http:// URI");
                const char *auth = tgt + sizeof scheme - 1;
                const char *auth_end = auth;
                while (auth_end < sp2 && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
                        auth_end++;
                if (memchr(auth, '@', (size_t)(auth_end - auth)))
                        return refuse(r, 400, "user information in the URI");
                if (!parse_authority(auth, (size_t)(auth_end - auth), 80, &r->target))
                        return refuse(r, 400, "bad host in the URI");
                r->path_off = (size_t)(auth_end - buf);
                r->path_len = (size_t)(sp2 - auth_end);
        }

        /* Headers: no folding, one Host that agrees with the target, one
         * Content-Length, no Transfer-Encoding on forwarded requests. */
        bool have_host = false, have_length = false;
        for (const char *line = eol + 2; line < head_end;) {
                const char *end = crlf(line, head_end + 2);
                if (*line == ' ' || *line == '\t')
                        return refuse(r, 400, "folded header line");
                const char *colon = memchr(line, ':', (size_t)(end - line));
                if (!colon || colon == line)
                        return refuse(r, 400, "malformed header line");
                for (const char *c = line; c < colon; c++)
                        if (!tchar(*c))
                                return refuse(r, 400, "malformed header name");
                size_t name_len = (size_t)(colon - line), vlen;
                /* A bare CR or LF inside a value is a line break to some
                 * servers: it could carry a header the check never saw. */
                for (const char *c = colon + 1; c < end; c++)
                        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                                return refuse(r, 400, "control byte in a header value");
                const char *v = trim(colon + 1, end, &vlen);
                if (header_is(line, name_len, "host")) {
                        struct net_target h;
                        if (have_host)
                                return refuse(r, 400, "more than one Host header");
                        have_host = true;
                        if (!parse_authority(v, vlen, r->connect ? r->target.port : 80, &h) ||
                            strcmp(h.host, r->target.host) != 0 || h.port != r->target.port)
                                return refuse(r, 400,
                                              "Host header differs from the request target");
                } else if (header_is(line, name_len, "content-length") && !r->connect) {
                        uint64_t n = 0;
                        if (have_length || vlen == 0 || vlen > 15)
                                return refuse(r, 400, "bad Content-Length");
                        for (size_t i = 0; i < vlen; i++) {
                                if (v[i] < '0' || v[i] > '9')
                                        return refuse(r, 400, "bad Content-Length");
                                n = n * 10 + (uint64_t)(v[i] - '0');
                        }
                        have_length = true;
                        r->content_length = n;
                } else if (header_is(line, name_len, "transfer-encoding") && !r->connect) {
                        return refuse(r, 501, "Transfer-Encoding in a request is not supported");
                }
                line = end + 2;
        }
        if (!have_host && sp2[8] == '1' && !r->connect)
                return refuse(r, 400, "HTTP/1.1 request without a Host header");
        return REQ_DONE;
}

static bool put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
        if (*at + n > cap)
                return false;
        memcpy(out + *at, s, n);
        *at += n;
        return true;
}

long http_upstream_head(const char *buf, const struct http_request *r, char *out, size_t cap)
{
        size_t at = 0;
        const char *head_end = buf + r->head_len - 2;
        const char *eol = crlf(buf, head_end);
        bool ok = put(out, cap, &at, buf + r->method_off, r->method_len) &&
                  put(out, cap, &at, " ", 1);
        if (r->path_len == 0 || buf[r->path_off] != '/')
                ok = ok && put(out, cap, &at, "/", 1);
        ok = ok && put(out, cap, &at, buf + r->path_off, r->path_len) &&
             put(out, cap, &at, " HTTP/1.1\r\n", 11);
        /* Host is always the checked target, whatever the client wrote (it
         * had to agree) or left out (HTTP/1.0). */
        char host[NET_NAME_MAX + 24];
        bool v6 = r->target.is_ip && strchr(r->target.host, ':');
        int hn = snprintf(host, sizeof host, "Host: %s%s%s", v6 ? "[" : "", r->target.host,
                          v6 ? "]" : "");
        if (r->target.port != 80)
                hn += snprintf(host + hn, sizeof host - (size_t)hn, ":%u", r->target.port);
        ok = ok && put(out, cap, &at, host, (size_t)hn) && put(out, cap, &at, "\r\n", 2);
        for (const char *line = eol + 2; ok && line < head_end;) {
                const char *end = crlf(line, head_end);
                const char *colon = memchr(line, ':', (size_t)(end - line));
                if (!hop_by_hop(line, (size_t)(colon - line)))
                        ok = put(out, cap, &at, line, (size_t)(end - line) + 2);
                line = end + 2;
        }
        static const char tail[] = "Connection: close\r\n\r\n";
        ok = ok && put(out, cap, &at, tail, sizeof tail - 1);
        return ok ? (long)at : -1;
}

int socks_parse_greeting(const unsigned char *buf, size_t len, size_t *ret_len)
{
        if (len < 2)
                return REQ_MORE;
        if (buf[0] != 5 || buf[1] == 0)
                return REQ_ERROR;
        if (len < 2u + buf[1])
                return REQ_MORE;
        *ret_len = 2u + buf[1];
        return memchr(buf + 2, 0, buf[1]) ? SOCKS_NO_AUTH : SOCKS_NO_METHOD;
}

static enum req_result socks_refuse(struct socks_request *r, uint8_t reply, const char *reason)
{
        r->reply = reply;
        r->reason = reason;
        return REQ_ERROR;
}

enum req_result socks_parse_request(const unsigned char *buf, size_t len, struct socks_request *r)
{
        *r = (struct socks_request){ 0 };
        if (len < 5)
                return REQ_MORE;
        if (buf[0] != 5 || buf[2] != 0)
                return socks_refuse(r, 1, "malformed SOCKS5 request");
        if (buf[1] != 1)
                return socks_refuse(r, 7, "only SOCKS5 CONNECT is supported");
        size_t addr_len;
        switch (buf[3]) {
        case 1: addr_len = 4; break;
        case 4: addr_len = 16; break;
        case 3: addr_len = 1u + buf[4]; break;
        default: return socks_refuse(r, 8, "unknown SOCKS5 address type");
        }
        if (len < 4 + addr_len + 2)
                return REQ_MORE;
        r->len = 4 + addr_len + 2;
        uint16_t port = (uint16_t)(buf[4 + addr_len] << 8 | buf[5 + addr_len]);
        char host[64];
        const char *name = host;
        size_t name_len;
        if (buf[3] == 3) {
                name = (const char *)buf + 5;
                name_len = buf[4];
        } else {
                static const char hex[] = "0123456789abcdef";
                size_t at = 0;
                if (buf[3] == 1) {
                        for (int i = 0; i < 4; i++) {
                                unsigned v = buf[4 + i];
                                if (v >= 100)
                                        host[at++] = (char)('0' + v / 100);
                                if (v >= 10)
                                        host[at++] = (char)('0' + v / 10 % 10);
                                host[at++] = (char)('0' + v % 10);
                                host[at++] = '.';
                        }
                } else {
                        for (int i = 0; i < 16; i += 2) {
                                host[at++] = hex[buf[4 + i] >> 4];
                                host[at++] = hex[buf[4 + i] & 15];
                                host[at++] = hex[buf[5 + i] >> 4];
                                host[at++] = hex[buf[5 + i] & 15];
                                host[at++] = ':';
                        }
                }
                name_len = at - 1;
        }
        if (net_target_make(name, name_len, port, &r->target) < 0)
                return socks_refuse(r, 1, "bad SOCKS5 destination");
        return REQ_DONE;
}
