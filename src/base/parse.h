/* Number parsing for human-written values: sizes ("256m", "1.5GiB"),
 * durations in seconds ("30", "1.5", "500ms") and bounded integers.
 * Everything is strict: trailing garbage, signs and overflow are errors. */
#pragma once

#include <stdint.h>

int parse_size(const char *s, uint64_t *ret_bytes);
int parse_duration_ms(const char *s, uint64_t *ret_ms);
int parse_uint(const char *s, uint64_t max, uint64_t *ret);
int parse_decimal_milli(const char *s, uint64_t *ret_milli); /* "1.5" -> 1500 */
/* Writes a short human form ("256 MB", "1.5 GB") for messages. */
void format_size(uint64_t bytes, char *buf, unsigned len);
