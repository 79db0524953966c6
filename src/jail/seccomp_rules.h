/* The seccomp filter's rules, compiled by libseccomp at build time. */
#pragma once

#include <linux/filter.h>
#include <stddef.h>

/* The whole filter as a BPF program for this build's architecture, in
 * malloc'd memory; 0 or -errno. */
int seccomp_rules_compile(struct sock_filter **ret, size_t *ret_len);

/* The compiled program, written by tools/seccomp_bpf.c at build time. */
extern const struct sock_filter jail_seccomp_filter[];
extern const unsigned short jail_seccomp_filter_len;
