/* src/base/strbuf.c: the buffer that captures sandbox output.  The cap is a
 * security property (a flood of output must cost no memory and be counted),
 * so the tests check stored and dropped bytes exactly. */
#include <criterion/criterion.h>

#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

Test(strbuf, append_and_terminate)
{
        struct strbuf sb = { 0 };
        cr_assert_eq(strbuf_append(&sb, "hello", 5), 0);
        cr_assert_eq(strbuf_append(&sb, ", world", 7), 0);
        cr_assert_eq(sb.len, 12);
        cr_assert_str_eq(sb.data, "hello, world");
        cr_assert_eq(sb.dropped, 0);
        strbuf_done(&sb);
        cr_assert_null(sb.data);
        cr_assert_eq(sb.len, 0);
}

Test(strbuf, binary_bytes_kept)
{
        /* Output may hold NULs; len, not strlen, is the truth. */
        struct strbuf sb = { 0 };
        cr_assert_eq(strbuf_append(&sb, "a\0b", 3), 0);
        cr_assert_eq(sb.len, 3);
        cr_assert_eq(memcmp(sb.data, "a\0b", 4), 0);
        strbuf_done(&sb);
}

Test(strbuf, empty_append_allocates_terminated_buffer)
{
        struct strbuf sb = { 0 };
        cr_assert_eq(strbuf_append(&sb, "", 0), 0);
        cr_assert_not_null(sb.data);
        cr_assert_str_eq(sb.data, "");
        strbuf_done(&sb);
}

Test(strbuf, grows_past_initial_allocation)
{
        struct strbuf sb = { 0 };
        char chunk[1000];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 100; i++)
                cr_assert_eq(strbuf_append(&sb, chunk, sizeof chunk), 0);
        cr_assert_eq(sb.len, 100000);
        cr_assert_gt(sb.alloc, sb.len);
        cr_assert_eq(sb.data[99999], 'x');
        cr_assert_eq(sb.data[100000], '\0');
        strbuf_done(&sb);
}

Test(strbuf, cap_counts_dropped_bytes)
{
        struct strbuf sb = { .cap = 8 };
        cr_assert_eq(strbuf_append(&sb, "12345", 5), 0);
        cr_assert_eq(strbuf_append(&sb, "67890", 5), 0); /* 3 kept, 2 dropped */
        cr_assert_eq(strbuf_append(&sb, "abc", 3), 0);   /* all dropped */
        cr_assert_eq(sb.len, 8);
        cr_assert_str_eq(sb.data, "12345678");
        cr_assert_eq(sb.dropped, 5);
        strbuf_done(&sb);
}

Test(strbuf, cap_bounds_memory_under_flood)
{
        /* 64 MiB offered to a 1 KiB cap must not allocate 64 MiB. */
        struct strbuf sb = { .cap = 1024 };
        char chunk[65536];
        memset(chunk, 'y', sizeof chunk);
        for (int i = 0; i < 1024; i++)
                cr_assert_eq(strbuf_append(&sb, chunk, sizeof chunk), 0);
        cr_assert_eq(sb.len, 1024);
        cr_assert_leq(sb.alloc, 4096);
        cr_assert_eq(sb.dropped, 1024ULL * 65536 - 1024);
        strbuf_done(&sb);
}

Test(strbuf, appendf_small_and_large)
{
        struct strbuf sb = { 0 };
        cr_assert_eq(strbuf_appendf(&sb, "%d-%s", 42, "x"), 0);
        cr_assert_str_eq(sb.data, "42-x");
        /* Larger than the 512-byte stack buffer: takes the heap path. */
        char big[2000];
        memset(big, 'z', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        cr_assert_eq(strbuf_appendf(&sb, "[%s]", big), 0);
        cr_assert_eq(sb.len, 4 + 2 + 1999);
        cr_assert_eq(sb.data[4], '[');
        cr_assert_eq(sb.data[sb.len - 1], ']');
        strbuf_done(&sb);
}

Test(strbuf, appendf_respects_cap)
{
        struct strbuf sb = { .cap = 4 };
        cr_assert_eq(strbuf_appendf(&sb, "%s", "abcdefgh"), 0);
        cr_assert_str_eq(sb.data, "abcd");
        cr_assert_eq(sb.dropped, 4);
        strbuf_done(&sb);
}

Test(strbuf, steal_hands_over_and_resets)
{
        struct strbuf sb = { .cap = 100 };
        cr_assert_eq(strbuf_append(&sb, "out", 3), 0);
        char *s = strbuf_steal(&sb);
        cr_assert_str_eq(s, "out");
        cr_assert_null(sb.data);
        cr_assert_eq(sb.len, 0);
        cr_assert_eq(sb.cap, 100, "the cap survives a steal");
        /* The strbuf is usable again and does not alias the stolen text. */
        cr_assert_eq(strbuf_append(&sb, "new", 3), 0);
        cr_assert_str_eq(s, "out");
        cr_assert_str_eq(sb.data, "new");
        free(s);
        strbuf_done(&sb);
}

Test(strbuf, steal_of_empty_is_empty_string)
{
        struct strbuf sb = { 0 };
        char *s = strbuf_steal(&sb);
        cr_assert_not_null(s, "steal never returns NULL on success");
        cr_assert_str_eq(s, "");
        free(s);
}

Test(strbuf, done_twice_is_safe)
{
        struct strbuf sb = { 0 };
        strbuf_done(&sb);
        strbuf_done(&sb);
        cr_assert_null(sb.data);
}
