/* What runs inside for each language: the argv, and the fds it is given. */
#pragma once

#include "agentbox.h"

#include <stdbool.h>
#include <stddef.h>

struct runtime_launch {
        char *argv[10];
        char *owned[3];
        int code_fd;   /* becomes fd 3: the Python source, sealed; -1 if none */
        int result_rd; /* read end of fd 4: the kernel's JSON report; -1 if none */
        int result_wr;
};

/* module_spec: the policy's module rules for the Python kernel, or NULL. */
int runtime_prepare(const struct abox_request *req, size_t max_value_bytes, const char *module_spec,
                    struct runtime_launch *ret, struct abox_error *err);
/* A session's interpreter: the kernel in its session loop (see kernel.py),
 * having imported the modules in preload ("a,b.c", or NULL) first. */
int runtime_prepare_session(size_t max_value_bytes, const char *preload, const char *module_spec,
                            struct runtime_launch *ret, struct abox_error *err);
/* A shell command line must be text (no NUL) and fit one argv string. */
int runtime_check_shell(const char *code, size_t len, struct abox_error *err);
/* Code on a sealed memfd, the way the kernel reads it; -errno with err set. */
int runtime_code_memfd(const char *code, size_t len, struct abox_error *err);
void runtime_done(struct runtime_launch *l);

/* A file Python's launch needs in the sandbox's root: dst relative to it. */
struct runtime_file {
        const char *dst;
        const void *data;
        size_t len;
};
/* The kernel's code, its source and (with module rules) the module policy's
 * code, which the boot line and kernel.py read from /etc/agentbox; returns
 * how many of ret it filled. */
#define RUNTIME_PYTHON_FILES 3
size_t runtime_python_files(bool module_rules, struct runtime_file ret[RUNTIME_PYTHON_FILES]);

struct abox_result;
/* Fills value and error from the kernel's report; returns the limit the
 * kernel saw the code run into (MemoryError, EFBIG), if any. */
enum abox_limit runtime_read_report(const char *text, size_t len, struct abox_result *r);
/* The limit hint value meaning "the policy layer refused something". */
#define RUNTIME_HINT_BLOCKED ((enum abox_limit) - 1)
