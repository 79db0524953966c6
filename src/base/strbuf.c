#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct strbuf *sb, size_t extra)
{
        if (sb->len + extra + 1 <= sb->alloc)
                return 0;
        size_t want = sb->alloc ? sb->alloc : 256;
        while (want < sb->len + extra + 1) {
                if (want > SIZE_MAX / 2)
                        return -ENOMEM;
                want *= 2;
        }
        char *p = realloc(sb->data, want);
        if (!p)
                return -ENOMEM;
        sb->data = p;
        sb->alloc = want;
        return 0;
}

int strbuf_append(struct strbuf *sb, const void *bytes, size_t n)
{
        size_t keep = n;
        if (sb->cap && sb->len + n > sb->cap)
                keep = sb->cap > sb->len ? sb->cap - sb->len : 0;
        sb->dropped += n - keep;
        int r = reserve(sb, keep);
        if (r < 0)
                return r;
        if (keep)
                memcpy(sb->data + sb->len, bytes, keep);
        sb->len += keep;
        sb->data[sb->len] = '\0';
        return 0;
}

int strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
        char small[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n < sizeof small)
                return strbuf_append(sb, small, (size_t)n);
        char *big = malloc((size_t)n + 1);
        if (!big)
                return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        int r = strbuf_append(sb, big, (size_t)n);
        free(big);
        return r;
}

void strbuf_done(struct strbuf *sb)
{
        free(sb->data);
        *sb = (struct strbuf){ 0 };
}

char *strbuf_steal(struct strbuf *sb)
{
        if (reserve(sb, 0) < 0 || !sb->data)
                return NULL;
        sb->data[sb->len] = '\0';
        char *p = sb->data;
        *sb = (struct strbuf){ .cap = sb->cap };
        return p;
}
