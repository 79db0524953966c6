/* A growable byte buffer with an optional cap.  Bytes past the cap are
 * counted, not stored, so a flood of input costs no memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
        char *data; /* always NUL-terminated when non-NULL */
        size_t len;
        size_t alloc;
        size_t cap;     /* 0: unlimited */
        size_t dropped; /* bytes refused because of cap */
};

int strbuf_append(struct strbuf *sb, const void *bytes, size_t n);
int strbuf_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_done(struct strbuf *sb);
/* Hands the buffer to the caller (never NULL on success); the strbuf is reset. */
char *strbuf_steal(struct strbuf *sb);
