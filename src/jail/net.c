/* The network namespace's one interface.  A fresh namespace has loopback
 * down; programs that talk to themselves over 127.0.0.1 expect it up.  With
 * network_access: restricted, the proxy's socket listens there too.
 * Bringing loopback up costs ~0.1 ms (IPv4 and IPv6 configure it): the
 * supervisor does it while the child builds its root, where it can. */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int net_loopback_up(void)
{
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct ifreq ifr = { 0 };
        memcpy(ifr.ifr_name, "lo", 3);
        int r = 0;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        else {
                ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
                if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                        r = -errno;
        }
        close(fd);
        return r;
}

int net_loopback_up_in(int pidfd)
{
        int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return -errno;
        if (setns(pidfd, CLONE_NEWNET) < 0) {
                int r = -errno;
                close(own);
                return r;
        }
        int r = net_loopback_up();
        /* A supervisor thread left in a sandbox's network would serve it
         * from there (the proxy): no going on after that. */
        if (setns(own, CLONE_NEWNET) < 0)
                abort();
        close(own);
        return r;
}

int net_proxy_listener(uint16_t port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1, r = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Every client of the proxy speaks first (a request head, a CONNECT,
         * a SOCKS greeting): with the connection handed over only once its
         * first bytes are in, the proxy wakes once for a connection and its
         * request instead of twice (bench/proxy.py: about a fifth of the
         * latency the proxy adds).  A connection that says nothing stays
         * with the kernel, bounded by the backlog, and reaches the proxy's
         * head timeout after this delay. */
        int defer_s = 5;
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 512) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}
