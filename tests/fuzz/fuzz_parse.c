/* libFuzzer target: the number parsers (src/base/parse.c) that read every
 * size, duration and count an operator, an HTTP body or an MCP call sends.
 * Besides not crashing, results must be consistent: a size that parses
 * without a suffix equals the same text parsed as a plain integer, and a
 * refused input leaves the output untouched. */
#include "base/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 256)
                return 0;
        char s[257];
        memcpy(s, data, size);
        s[size] = '\0';

        const uint64_t untouched = 0x5a5a5a5a5a5a5a5aULL;
        uint64_t bytes = untouched, ms = untouched, milli = untouched, n = untouched;
        int rs = parse_size(s, &bytes);
        int rd = parse_duration_ms(s, &ms);
        int rm = parse_decimal_milli(s, &milli);
        int ru = parse_uint(s, UINT64_MAX, &n);
        if ((rs < 0 && bytes != untouched) || (rd < 0 && ms != untouched) ||
            (rm < 0 && milli != untouched) || (ru < 0 && n != untouched))
                abort();
        /* Plain digits: a size in bytes and a whole number agree. */
        if (rs == 0 && ru == 0 && bytes != n)
                abort();
        /* A plain decimal is seconds: the duration is its thousandths. */
        if (rd == 0 && rm == 0 && ms != milli)
                abort();
        if (rs == 0) {
                char buf[32];
                format_size(bytes, buf, sizeof buf);
                if (memchr(buf, '\0', sizeof buf) == NULL)
                        abort();
        }
        return 0;
}
