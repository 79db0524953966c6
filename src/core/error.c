#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int abox_error_set(struct abox_error *err, int code, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof err->msg, fmt, ap);
                va_end(ap);
                err->code = code;
        }
        return code;
}

#define NAME_ENTRY_(id, name) name,
static const char *const status_names[] = { ABOX_STATUSES(NAME_ENTRY_) };
static const char *const limit_names[] = { ABOX_LIMITS(NAME_ENTRY_) };

const char *abox_status_name(enum abox_status s)
{
        return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : NULL;
}

const char *abox_limit_name(enum abox_limit l)
{
        return (unsigned)l < sizeof limit_names / sizeof *limit_names ? limit_names[l] : NULL;
}
