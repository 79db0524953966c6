#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Parses "123" or "1.25" into thousandths without floating point, so that
 * "0.1" is exact and huge inputs overflow detectably.  Returns the number of
 * characters consumed. */
static int milli_prefix(const char *s, uint64_t *ret)
{
        const char *p = s;
        uint64_t whole = 0;
        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (whole > (UINT64_MAX / 1000 - 9) / 10)
                        return -ERANGE;
                whole = whole * 10 + (uint64_t)(*p - '0');
        }
        uint64_t frac = 0, scale = 100;
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                for (; isdigit((unsigned char)*p); p++) {
                        if (scale == 0 && *p != '0')
                                return -EINVAL; /* finer than a thousandth */
                        frac += (uint64_t)(*p - '0') * scale;
                        scale /= 10;
                }
        }
        *ret = whole * 1000 + frac;
        return (int)(p - s);
}

int parse_decimal_milli(const char *s, uint64_t *ret_milli)
{
        uint64_t v;
        int n = milli_prefix(s, &v);
        if (n < 0)
                return n;
        if (s[n] != '\0')
                return -EINVAL;
        *ret_milli = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "", 1 },
                { "b", 1 },
                { "k", 1ULL << 10 },
                { "kb", 1ULL << 10 },
                { "kib", 1ULL << 10 },
                { "m", 1ULL << 20 },
                { "mb", 1ULL << 20 },
                { "mib", 1ULL << 20 },
                { "g", 1ULL << 30 },
                { "gb", 1ULL << 30 },
                { "gib", 1ULL << 30 },
                { "t", 1ULL << 40 },
                { "tb", 1ULL << 40 },
                { "tib", 1ULL << 40 },
        };
        uint64_t milli;
        int n = milli_prefix(s, &milli);
        if (n < 0)
                return n;
        const char *suffix = s + n;
        while (*suffix == ' ')
                suffix++;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
                if (strcasecmp(suffix, units[i].suffix) != 0)
                        continue;
                uint64_t f = units[i].factor;
                /* milli * f / 1000 without overflowing the product. */
                uint64_t whole = milli / 1000, frac = milli % 1000;
                if (whole > UINT64_MAX / f)
                        return -ERANGE;
                uint64_t bytes = whole * f + frac * (f / 1000) + (frac * (f % 1000)) / 1000;
                if (units[i].factor == 1 && frac)
                        return -EINVAL; /* a fraction of a byte */
                *ret_bytes = bytes;
                return 0;
        }
        return -EINVAL;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
        uint64_t milli;
        int n = milli_prefix(s, &milli);
        if (n < 0)
                return n;
        const char *u = s + n;
        if (*u == '\0' || strcmp(u, "s") == 0) {
                *ret_ms = milli;
                return 0;
        }
        if (strcmp(u, "ms") == 0) {
                if (milli % 1000)
                        return -EINVAL;
                *ret_ms = milli / 1000;
                return 0;
        }
        if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0) {
                if (milli > UINT64_MAX / 60)
                        return -ERANGE;
                *ret_ms = milli * 60;
                return 0;
        }
        return -EINVAL;
}

int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;
        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; *s; s++) {
                if (!isdigit((unsigned char)*s))
                        return -EINVAL;
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

void format_size(uint64_t bytes, char *buf, unsigned len)
{
        static const char *const names[] = { "bytes", "KB", "MB", "GB", "TB" };
        unsigned i = 0;
        uint64_t unit = 1;
        while (i + 1 < sizeof names / sizeof names[0] && bytes >= unit * 1024)
                unit *= 1024, i++;
        if (bytes % unit == 0)
                snprintf(buf, len, "%llu %s", (unsigned long long)(bytes / unit), names[i]);
        else
                snprintf(buf, len, "%.1f %s", (double)bytes / (double)unit, names[i]);
}
