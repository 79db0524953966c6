/* The outcome of one run.  Filled by the supervisor, read by front ends only
 * through the accessors in agentbox.h, serialised in one place (result.c). */
#pragma once

#include "agentbox.h"
#include "policy.h"

struct violation {
        char *rule;
        char *target;
        char *detail;
};

struct abox_result {
        enum abox_status status;
        enum abox_limit limit;
        int exit_code; /* -1: none */
        int signal;    /* 0: none */
        char *out, *err;
        size_t out_len, err_len;
        uint64_t out_dropped, err_dropped;
        char *value;
        char *error_type, *error_message, *traceback;
        struct violation *violations;
        size_t n_violations;
        unsigned redactions;
        uint64_t time_ms, cpu_ms, memory_peak_bytes;
        struct strlist protections;
        char message[256];
        bool in_session; /* from a session: "state_lost" is part of the JSON */
        bool state_lost; /* the session's interpreter was restarted empty */
};

struct abox_result *result_new(void);
int result_add_violation(struct abox_result *r, const char *rule, const char *target,
                         const char *detail);
/* Replaces invalid UTF-8 in place-by-copy; returns a new string of *len bytes. */
char *utf8_sanitize(const char *s, size_t len, size_t *ret_len);
