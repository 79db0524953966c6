#include "fd.h"

#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int read_all(int fd, size_t max, char **ret, size_t *ret_len)
{
        size_t len = 0, alloc = 4096;
        _cleanup_free_ char *buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == alloc) {
                        if (alloc > max)
                                return -EFBIG;
                        alloc *= 2;
                        char *p = realloc(buf, alloc + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                ssize_t k = read(fd, buf + len, alloc - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t)k;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_all(fd, max, ret, ret_len);
}

int read_small_file(const char *path, char *buf, size_t len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t k;
        do
                k = read(fd, buf, len - 1);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        buf[k] = '\0';
        while (k > 0 && buf[k - 1] == '\n')
                buf[--k] = '\0';
        return 0;
}

int write_small_file(const char *path, const char *value)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write_all(fd, value, strlen(value));
}

int fd_set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int pidfd_signal(int pidfd, int sig)
{
        if (pidfd < 0)
                return -EBADF;
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int close_all_except(const int *keep, size_t n)
{
        /* Insertion sort on the stack: this runs between clone and exec. */
        int sorted[16];
        size_t m = 0;
        for (size_t i = 0; i < n && m < 16; i++) {
                if (keep[i] < 0)
                        continue;
                size_t j = m++;
                while (j > 0 && sorted[j - 1] > keep[i]) {
                        sorted[j] = sorted[j - 1];
                        j--;
                }
                sorted[j] = keep[i];
        }
        unsigned lo = 0;
        for (size_t i = 0; i <= m; i++) {
                unsigned hi = i < m ? (unsigned)sorted[i] : ~0U;
                if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0)
                        return -errno;
                if (i < m)
                        lo = (unsigned)sorted[i] + 1;
        }
        return 0;
}

ssize_t fd_send_with(int sock, const void *buf, size_t len, const int *fds, unsigned n)
{
        union {
                char buf[CMSG_SPACE(FD_PASS_MAX * sizeof(int))];
                struct cmsghdr align;
        } control = { 0 };
        struct iovec iov = { (void *)buf, len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (n > FD_PASS_MAX)
                return -EINVAL;
        if (n) {
                msg.msg_control = control.buf;
                msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        }
        ssize_t k;
        do
                k = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

ssize_t fd_recv_with(int sock, void *buf, size_t len, int flags, int *fds, unsigned max,
                     unsigned *ret_n)
{
        union {
                char buf[CMSG_SPACE(FD_PASS_MAX * sizeof(int))];
                struct cmsghdr align;
        } control;
        struct iovec iov = { buf, len };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = control.buf,
                              .msg_controllen = sizeof control.buf };
        *ret_n = 0;
        ssize_t k;
        do
                k = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        int got[FD_PASS_MAX];
        unsigned n = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        unsigned m = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        for (unsigned i = 0; i < m && n < FD_PASS_MAX; i++)
                                memcpy(&got[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                }
        if (n > max || (msg.msg_flags & MSG_CTRUNC)) {
                for (unsigned i = 0; i < n; i++)
                        close(got[i]);
                return -EPROTO;
        }
        memcpy(fds, got, n * sizeof(int));
        *ret_n = n;
        return k;
}
