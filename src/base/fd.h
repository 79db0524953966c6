/* Small fd helpers.  The *_raw ones are async-signal-safe and allocate
 * nothing: the jail's child uses them between clone and exec. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

int write_all(int fd, const void *buf, size_t n);
/* Reads until EOF into a fresh buffer, refusing more than max bytes (-EFBIG). */
int read_all(int fd, size_t max, char **ret, size_t *ret_len);
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Reads one small value from a file (cgroup and proc knobs); NUL-terminated,
 * trailing newline removed. */
int read_small_file(const char *path, char *buf, size_t len);
int write_small_file(const char *path, const char *value);
int fd_set_nonblock(int fd);
/* Signals the process behind a pidfd; -EBADF for a negative pidfd. */
int pidfd_signal(int pidfd, int sig);
/* Closes every fd, 0 to 2 included, except those in keep[] (at most 16).  No
 * allocation: the jail's child calls it right after clone. */
int close_all_except(const int *keep, size_t n);

/* Passing descriptors over a unix socket (SCM_RIGHTS), both allocation-free
 * so the jail's child can use them.  fd_send_with sends len bytes with n fds
 * (at most FD_PASS_MAX; none if n is 0) in one sendmsg and returns the bytes
 * sent or -errno.  fd_recv_with receives up to len bytes and the fds sent
 * with them (close-on-exec) and returns the bytes or -errno; more fds than
 * max, or a truncated set, is -EPROTO with none left open. */
#define FD_PASS_MAX 8
ssize_t fd_send_with(int sock, const void *buf, size_t len, const int *fds, unsigned n);
ssize_t fd_recv_with(int sock, void *buf, size_t len, int flags, int *fds, unsigned max,
                     unsigned *ret_n);
