/* agentbox-init (src/init/), embedded in the library and handed to each
 * sandbox as a sealed memfd: the sandbox's pid 1 then runs a file that no
 * one — least of all the sandbox — can write (see contain.c). */
#include "jail.h"

#include "base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

/* Generated from src/init/init.c; empty where it is not built. */
extern const char jail_init_binary[];
extern const unsigned long jail_init_binary_len;

static int make_memfd(void)
{
        if (jail_init_binary_len == 0)
                return -ENOSYS;
        /* MFD_EXEC asks for an executable memfd explicitly (6.3+); older
         * kernels do not know the flag and make every memfd executable. */
        int fd = memfd_create("agentbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL)
                fd = memfd_create("agentbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
        int r = write_all(fd, jail_init_binary, jail_init_binary_len);
        /* Execute-only: a file its process cannot read makes the exec
         * non-dumpable from the start, so the payload (same uid, already
         * running) never gets a moment to open /proc/1/mem or /proc/1/fd
         * before agentbox-init's own prctl. */
        if (r == 0 && fchmod(fd, 0111) < 0)
                r = -errno;
        /* F_SEAL_EXEC (6.3+) also freezes the mode. */
        if (r == 0 && fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 &&
            fcntl(fd, F_ADD_SEALS, seals) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* Made once per process: sealed, the file cannot change, so every sandbox
 * may exec the same one; each gets its own descriptor of it.  Only a
 * success is kept: a passing failure (EMFILE, ENOMEM) must not refuse every
 * later run of a long-lived process, now that sealed_init is required. */
static int shared_fd = -1;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

int jail_init_memfd(void)
{
        pthread_mutex_lock(&shared_lock);
        int r = shared_fd >= 0 ? 0 : make_memfd();
        if (r >= 0 && shared_fd < 0)
                shared_fd = r;
        if (r >= 0 && (r = fcntl(shared_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                r = -errno;
        pthread_mutex_unlock(&shared_lock);
        return r;
}

bool jail_init_available(void)
{
        int fd = jail_init_memfd();
        if (fd < 0)
                return false;
        close(fd);
        return true;
}
