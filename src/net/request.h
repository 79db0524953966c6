/* What a client inside the sandbox asks the proxy for: an HTTP forward
 * request (absolute URI), an HTTP CONNECT, or a SOCKS5 CONNECT.
 *
 * Pure parsers over a byte buffer, fed again as more bytes arrive; they never
 * read past `len` and never allocate, so libFuzzer can drive them directly
 * (tests/fuzz/fuzz_proxy_request.c).
 */
#pragma once

#include "rules.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_HEAD_MAX 16384 /* bytes of an HTTP request head */

enum req_result {
        REQ_MORE = 0,  /* incomplete: read more */
        REQ_DONE = 1,  /* complete: see struct http_request */
        REQ_ERROR = -1 /* refuse: see status and reason */
};

struct http_request {
        bool connect;             /* CONNECT: a tunnel, else a forwarded request */
        struct net_target target; /* where to */
        size_t head_len;          /* bytes of buf the head took */
        uint64_t content_length;  /* forwarded request: body bytes after the head */
        /* forwarded request: the request line's pieces, as offsets into buf */
        size_t method_off, method_len, path_off, path_len;
        int status;         /* REQ_ERROR: the HTTP status to answer with */
        const char *reason; /* REQ_ERROR: one line for the client and the result */
};

/* Parses an HTTP request head from buf[0..len). */
enum req_result http_parse_request(const char *buf, size_t len, struct http_request *ret);

/* Writes the head to send upstream for a forwarded request: origin-form
 * request line, the client's headers minus hop-by-hop and Proxy-* ones, and
 * "Connection: close" (one request per connection, so every request is
 * checked).  Returns its length, or -1 if cap is too small. */
long http_upstream_head(const char *buf, const struct http_request *r, char *out, size_t cap);

/* SOCKS5.  The greeting: SOCKS_NO_AUTH if it offers "no authentication",
 * SOCKS_NO_METHOD if it does not (refuse), REQ_MORE, or REQ_ERROR (not
 * SOCKS5).  *ret_len: its length, when complete. */
enum { SOCKS_NO_AUTH = 1, SOCKS_NO_METHOD = 2 };
int socks_parse_greeting(const unsigned char *buf, size_t len, size_t *ret_len);

struct socks_request {
        struct net_target target;
        size_t len;
        uint8_t reply; /* REQ_ERROR: the SOCKS5 reply code to send */
        const char *reason;
};

enum req_result socks_parse_request(const unsigned char *buf, size_t len,
                                    struct socks_request *ret);
