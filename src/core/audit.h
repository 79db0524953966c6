/* The audit trail: one JSON line per event, to a file or stderr. */
#pragma once

#include "policy.h"
#include "result.h"

struct audit_event {
        const char *event;    /* "exec", "blocked", "limit" */
        const char *language; /* "python", "shell", "program" */
        const char *code;     /* after redaction; hashed whole, first 200 chars kept */
        size_t code_len;
        const char *session, *tenant; /* NULL when not known */
        const char *reason;           /* a session event's: why it ended */
};

/* Writes the event for a finished run (res NULL: a session's own event:
 * "session_start", "session_end").  Errors are returned, never fatal to
 * the run itself (the caller decides). */
int audit_write(const struct abox_policy *p, const struct audit_event *ev,
                const struct abox_result *res, struct abox_error *err);
