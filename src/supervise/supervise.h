/* The event loop around one running sandbox. */
#pragma once

#include "base/strbuf.h"
#include "jail/cgroup.h"
#include "jail/jail.h"

#include <stdbool.h>
#include <stdint.h>

struct supervise_input {
        int pidfd;
        int msg_fd;
        int out_fd, err_fd;
        int report_fd; /* -1: none */
        uint64_t timeout_ms;
        uint64_t cpu_time_ms; /* 0: not watched */
        struct cgroup *cg;    /* NULL: no cgroup */
        int oom_fd;           /* cgroup_oom_watch's eventfd; -1: the kernel ends the group */
        size_t output_cap;
        size_t report_cap;
};

struct supervise_output {
        struct strbuf out, err, report;
        bool timed_out;
        bool cpu_exceeded;
        bool oom;         /* the group hit its memory limit (oom_fd): ended here */
        bool failed;      /* the sandbox could not be built, or the program not run */
        bool exited;      /* init reported the payload's end */
        bool sealed_init; /* agentbox-init said it runs (not the fallback init) */
        struct jail_msg fail, exit;
        uint64_t elapsed_ms;
        /* Filled in by the caller once the sandbox is gone: */
        bool disk_full, file_size_hit;
};

/* Runs until every pipe is drained and the sandbox's pid 1 has either
 * exited or reported the payload's end (out->exited: then it has killed and
 * reaped everything else and is exiting; the caller reaps it). */
int supervise(const struct supervise_input *in, struct supervise_output *out);
void supervise_output_done(struct supervise_output *out);
/* Reads what is there into sb (past its cap: counted as dropped); returns 0
 * at EOF, 1 if more may come.  fd must be non-blocking. */
int supervise_pump(int fd, struct strbuf *sb);
