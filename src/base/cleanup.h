/* Scope-bound cleanup, in the systemd manner: a local declared with one of
 * these attributes is released when it goes out of scope, so early returns on
 * error paths cannot leak.  TAKE_PTR/TAKE_FD hand ownership out of the scope. */
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
        free(*(void **)p);
}

/* Closing preserves errno: cleanup runs on error paths that still report it. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd)
{
        *fd = safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

/* A child that must not outlive the scope that made it (crun's cleanup_pid). */
static inline void killpidp(pid_t *pid)
{
        if (*pid > 0) {
                int saved = errno;
                kill(*pid, SIGKILL);
                while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                errno = saved;
        }
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_kill_   _cleanup_(killpidp)

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _t = (p);                                                            \
                (p) = NULL;                                                                        \
                _t;                                                                                \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _t = (fd);                                                                     \
                (fd) = -1;                                                                         \
                _t;                                                                                \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
