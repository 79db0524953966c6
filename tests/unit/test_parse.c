/* src/base/parse.c: the number parsers behind every size, duration and
 * count an operator writes.  They are strict on purpose (a typo must not
 * silently become "unlimited" or "0"), so most cases here are refusals. */
#include <criterion/criterion.h>

#include "base/parse.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

/* Sentinel: a refused input must leave the output untouched, so callers
 * that ignore the return value at least keep their old (safe) value. */
#define UNTOUCHED 0xdeadbeefULL

static uint64_t size_ok(const char *s)
{
        uint64_t v = UNTOUCHED;
        int r = parse_size(s, &v);
        cr_assert_eq(r, 0, "parse_size(\"%s\") = %d, expected success", s, r);
        return v;
}

static void size_fails(const char *s, int want)
{
        uint64_t v = UNTOUCHED;
        int r = parse_size(s, &v);
        cr_assert_eq(r, want, "parse_size(\"%s\") = %d, expected %d", s, r, want);
        cr_assert_eq(v, UNTOUCHED, "parse_size(\"%s\") wrote %llu on failure", s,
                     (unsigned long long)v);
}

static uint64_t dur_ok(const char *s)
{
        uint64_t v = UNTOUCHED;
        int r = parse_duration_ms(s, &v);
        cr_assert_eq(r, 0, "parse_duration_ms(\"%s\") = %d, expected success", s, r);
        return v;
}

static void dur_fails(const char *s)
{
        uint64_t v = UNTOUCHED;
        int r = parse_duration_ms(s, &v);
        cr_assert_lt(r, 0, "parse_duration_ms(\"%s\") accepted (%llu ms)", s,
                     (unsigned long long)v);
        cr_assert_eq(v, UNTOUCHED);
}

Test(parse_size, plain_bytes)
{
        cr_assert_eq(size_ok("65536"), 65536);
        cr_assert_eq(size_ok("0"), 0);
        cr_assert_eq(size_ok("1b"), 1);
}

Test(parse_size, binary_suffixes)
{
        /* Sizes are binary: 256m is what cgroups and tmpfs call 256M. */
        cr_assert_eq(size_ok("256m"), 256 * MiB);
        cr_assert_eq(size_ok("1k"), 1 * KiB);
        cr_assert_eq(size_ok("2g"), 2 * GiB);
        cr_assert_eq(size_ok("1t"), 1 * TiB);
        cr_assert_eq(size_ok("3kb"), 3 * KiB);
        cr_assert_eq(size_ok("3KiB"), 3 * KiB);
        cr_assert_eq(size_ok("5MB"), 5 * MiB);
        cr_assert_eq(size_ok("5 MiB"), 5 * MiB);
}

Test(parse_size, fractions)
{
        cr_assert_eq(size_ok("1.5g"), GiB + GiB / 2);
        cr_assert_eq(size_ok("1.5GiB"), GiB + GiB / 2);
        cr_assert_eq(size_ok("0.5k"), 512);
        cr_assert_eq(size_ok("0.25m"), MiB / 4);
}

Test(parse_size, refuses_garbage)
{
        size_fails("256q", -EINVAL);
        size_fails("", -EINVAL);
        size_fails("-1", -EINVAL);
        size_fails("+1", -EINVAL);
        size_fails(" 1", -EINVAL);
        size_fails("m", -EINVAL);
        size_fails("1.", -EINVAL);
        size_fails(".5m", -EINVAL);
        size_fails("1.5.5m", -EINVAL);
        size_fails("1mm", -EINVAL);
        size_fails("1m ", -EINVAL);
        size_fails("0x10", -EINVAL);
}

Test(parse_size, refuses_fraction_of_a_byte)
{
        size_fails("0.5b", -EINVAL);
        size_fails("1.5", -EINVAL);
}

Test(parse_size, refuses_overflow)
{
        size_fails("18446744073709551616", -ERANGE);
        size_fails("99999999999999999999999999", -ERANGE);
        /* Fits the digit parser but not once multiplied by the unit. */
        size_fails("20000000t", -ERANGE);
        size_fails("17179869184g", -ERANGE);
}

Test(parse_size, largest_exact_values)
{
        /* 16383 TiB is below UINT64_MAX: must not be mistaken for overflow. */
        cr_assert_eq(size_ok("16383t"), 16383ULL * TiB);
}

Test(parse_duration, seconds_by_default)
{
        cr_assert_eq(dur_ok("30"), 30000);
        cr_assert_eq(dur_ok("1.5"), 1500);
        cr_assert_eq(dur_ok("0.001"), 1);
        cr_assert_eq(dur_ok("2s"), 2000);
}

Test(parse_duration, zero_is_parsed)
{
        /* The parser accepts 0; rejecting it is the policy's min (1 ms). */
        cr_assert_eq(dur_ok("0"), 0);
}

Test(parse_duration, milliseconds_and_minutes)
{
        cr_assert_eq(dur_ok("500ms"), 500);
        cr_assert_eq(dur_ok("0ms"), 0);
        cr_assert_eq(dur_ok("2m"), 120000);
        cr_assert_eq(dur_ok("1min"), 60000);
}

Test(parse_duration, refusals)
{
        dur_fails("-1");
        dur_fails("");
        dur_fails("1h");
        dur_fails("1.5ms"); /* there is no sub-millisecond resolution */
        dur_fails("30 s");
        dur_fails("s");
        dur_fails("18446744073709551616");
}

Test(parse_uint, bounds)
{
        uint64_t v = UNTOUCHED;
        cr_assert_eq(parse_uint("64", 100, &v), 0);
        cr_assert_eq(v, 64);
        cr_assert_eq(parse_uint("100", 100, &v), 0);
        cr_assert_eq(v, 100);
        v = UNTOUCHED;
        cr_assert_eq(parse_uint("101", 100, &v), -ERANGE);
        cr_assert_eq(parse_uint("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        cr_assert_eq(parse_uint("", 100, &v), -EINVAL);
        cr_assert_eq(parse_uint("-1", 100, &v), -EINVAL);
        cr_assert_eq(parse_uint("1.0", 100, &v), -EINVAL);
        cr_assert_eq(parse_uint("1 ", 100, &v), -EINVAL);
        cr_assert_eq(v, UNTOUCHED);
}

Test(parse_decimal_milli, exact_without_floats)
{
        uint64_t v = UNTOUCHED;
        cr_assert_eq(parse_decimal_milli("0.1", &v), 0);
        cr_assert_eq(v, 100); /* not 99 as a double would round */
        cr_assert_eq(parse_decimal_milli("2", &v), 0);
        cr_assert_eq(v, 2000);
        cr_assert_eq(parse_decimal_milli("1.25", &v), 0);
        cr_assert_eq(v, 1250);
        v = UNTOUCHED;
        cr_assert_lt(parse_decimal_milli("1,5", &v), 0);
        cr_assert_lt(parse_decimal_milli("1e3", &v), 0);
        cr_assert_lt(parse_decimal_milli("", &v), 0);
        cr_assert_eq(v, UNTOUCHED);
}

static void expect_format(uint64_t bytes, const char *want)
{
        char buf[32];
        memset(buf, 'x', sizeof buf);
        format_size(bytes, buf, sizeof buf);
        cr_assert_str_eq(buf, want, "format_size(%llu) = \"%s\", expected \"%s\"",
                         (unsigned long long)bytes, buf, want);
}

Test(format_size, round_units)
{
        expect_format(0, "0 bytes");
        expect_format(1023, "1023 bytes");
        expect_format(KiB, "1 KB");
        expect_format(256 * MiB, "256 MB");
        expect_format(64 * GiB, "64 GB");
        expect_format(1024 * GiB, "1 TB");
}

Test(format_size, fractions_and_extremes)
{
        expect_format(GiB + GiB / 2, "1.5 GB");
        expect_format(1536, "1.5 KB");
        /* TB is the largest unit: it must not run past the name table. */
        expect_format(2048 * TiB, "2048 TB");
}

Test(format_size, truncates_to_buffer)
{
        char buf[4] = "zzz";
        format_size(256 * MiB, buf, sizeof buf);
        cr_assert_str_eq(buf, "256");
}
