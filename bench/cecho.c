/*
 * cecho: a minimal epoll echo server, the "physical limit" reference for the
 * sockplug benchmarks.
 *
 * Build:
 *     cc -O2 -Wall -Wextra -std=gnu11 -o bench/build/cecho bench/cecho.c
 *
 * Usage:
 *     cecho (--tcp ADDR:PORT | --tcp6 [ADDR]:PORT | --unix PATH
 *            | --udp ADDR:PORT) [--cpu C]
 *
 * Port 0 picks a free port.  Once the socket listens, one line
 * "listening PORT" (or "listening PATH" for --unix) is written to stdout and
 * flushed.  The server runs until SIGTERM or SIGINT and then exits 0 (a UNIX
 * socket path it created is removed).  Bad options or a socket that cannot be
 * bound: one line on stderr and exit 1.
 *
 * How it works: one thread, one level-triggered epoll set, non-blocking
 * sockets.  Stream sockets (TCP with TCP_NODELAY, or UNIX) are read with one
 * read() of up to 256 KiB per readiness event and the bytes are written back
 * at once; whatever the kernel does not take is queued for that connection,
 * which then waits for EPOLLOUT only (it is not read again until the queue is
 * empty, so a client that does not read cannot make the server buffer
 * without bound).  A connection with nothing queued costs no memory here
 * beyond the kernel socket.  UDP: recvmmsg() up to 64 datagrams, sendmmsg()
 * each back to its sender; datagrams the kernel will not take are dropped.
 * Signals arrive through a signalfd in the same epoll set.  RLIMIT_NOFILE is
 * raised to its hard limit so thousands of idle connections fit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
#define UDP_BATCH 64
#define UDP_MAX 65536
#define UDP_ROUNDS 8

enum kind { K_TCP, K_TCP6, K_UNIX, K_UDP };

/* Bytes the kernel did not take yet, per connection (indexed by fd). */
struct queue {
    size_t off, len;
    char data[];
};

static struct queue **queues;
static size_t nqueues;
static char rbuf[RBUF_SIZE];
static int epfd;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "cecho: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void usage(const char *why, const char *arg)
{
    fprintf(stderr,
            "cecho: %s%s (usage: cecho --tcp ADDR:PORT | --tcp6 [ADDR]:PORT "
            "| --unix PATH | --udp ADDR:PORT [--cpu C])\n",
            why, arg);
    exit(1);
}

/* Parse ADDR:PORT or [ADDR]:PORT into a sockaddr; an empty ADDR is "any". */
static socklen_t parseAddress(const char *spec, int wantV6,
                              struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL)
        die("address %s has no :PORT", spec);
    size_t hlen = (size_t)(colon - spec);
    if (hlen >= sizeof host)
        die("address %s is too long", spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    char *h = host;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h[hlen - 1] = '\0';
        h++;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
        die("bad port in %s", spec);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (!wantV6 && (*h == '\0' || inet_pton(AF_INET, h, &s4->sin_addr) == 1)) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (*h == '\0')
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        return sizeof *s4;
    }
    if (*h == '\0' || inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (*h == '\0')
            s6->sin6_addr = in6addr_any;
        return sizeof *s6;
    }
    die("bad address in %s", spec);
    return 0;
}

static void closeConn(int fd)
{
    if ((size_t)fd < nqueues && queues[fd] != NULL) {
        free(queues[fd]);
        queues[fd] = NULL;
    }
    close(fd); /* also removes it from the epoll set */
}

static void setEvents(int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, op, fd, &ev) < 0) {
        /* Only a full kernel table can get here; drop the connection. */
        closeConn(fd);
    }
}

/* Keep the unsent tail of a write and wait for EPOLLOUT. */
static void enqueue(int fd, const char *data, size_t len)
{
    if ((size_t)fd >= nqueues) {
        size_t n = nqueues ? nqueues : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        struct queue **nq = realloc(queues, n * sizeof *nq);
        if (nq == NULL) {
            closeConn(fd);
            return;
        }
        memset(nq + nqueues, 0, (n - nqueues) * sizeof *nq);
        queues = nq;
        nqueues = n;
    }
    struct queue *q = malloc(sizeof *q + len);
    if (q == NULL) {
        closeConn(fd);
        return;
    }
    q->off = 0;
    q->len = len;
    memcpy(q->data, data, len);
    queues[fd] = q;
    setEvents(fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void onReadable(int fd)
{
    ssize_t n = read(fd, rbuf, sizeof rbuf);
    if (n == 0) {
        closeConn(fd);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            closeConn(fd);
        return;
    }
    ssize_t w = send(fd, rbuf, (size_t)n, MSG_NOSIGNAL);
    if (w == n)
        return;
    if (w < 0) {
        if (errno != EAGAIN) {
            closeConn(fd);
            return;
        }
        w = 0;
    }
    enqueue(fd, rbuf + w, (size_t)(n - w));
}

static void onWritable(int fd)
{
    struct queue *q = (size_t)fd < nqueues ? queues[fd] : NULL;
    if (q == NULL) {
        setEvents(fd, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    ssize_t w = send(fd, q->data + q->off, q->len - q->off, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            closeConn(fd);
        return;
    }
    q->off += (size_t)w;
    if (q->off == q->len) {
        free(q);
        queues[fd] = NULL;
        setEvents(fd, EPOLLIN, EPOLL_CTL_MOD);
    }
}

static void onAccept(int lfd, int isTcp)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE and friends: try again later */
        if (isTcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        setEvents(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
}

static struct mmsghdr umsgs[UDP_BATCH];
static struct iovec uiovs[UDP_BATCH];
static struct sockaddr_storage unames[UDP_BATCH];
static char *ubufs;

static void onDatagrams(int fd)
{
    for (int round = 0; round < UDP_ROUNDS; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            uiovs[i].iov_base = ubufs + (size_t)i * UDP_MAX;
            uiovs[i].iov_len = UDP_MAX;
            umsgs[i].msg_hdr.msg_iov = &uiovs[i];
            umsgs[i].msg_hdr.msg_iovlen = 1;
            umsgs[i].msg_hdr.msg_name = &unames[i];
            umsgs[i].msg_hdr.msg_namelen = sizeof unames[i];
            umsgs[i].msg_hdr.msg_control = NULL;
            umsgs[i].msg_hdr.msg_controllen = 0;
            umsgs[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(fd, umsgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++)
            uiovs[i].iov_len = umsgs[i].msg_len;
        int sent = 0;
        while (sent < n) {
            int s = sendmmsg(fd, umsgs + sent, (unsigned)(n - sent),
                             MSG_DONTWAIT);
            if (s <= 0) {
                if (s < 0 && errno != EAGAIN && errno != ENOBUFS) {
                    sent++; /* e.g. ECONNREFUSED from an old peer: skip it */
                    continue;
                }
                break; /* kernel buffer full: drop the rest */
            }
            sent += s;
        }
        if (n < UDP_BATCH)
            return;
    }
}

int main(int argc, char **argv)
{
    enum kind kind = K_TCP;
    const char *spec = NULL;
    long cpu = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int isKind = 1;
        enum kind k = K_TCP;
        if (strcmp(a, "--tcp") == 0)
            k = K_TCP;
        else if (strcmp(a, "--tcp6") == 0)
            k = K_TCP6;
        else if (strcmp(a, "--unix") == 0)
            k = K_UNIX;
        else if (strcmp(a, "--udp") == 0)
            k = K_UDP;
        else if (strcmp(a, "--cpu") == 0)
            isKind = 0;
        else
            usage("unknown option ", a);
        if (i + 1 >= argc)
            usage("no value for ", a);
        const char *v = argv[++i];
        if (isKind) {
            if (spec != NULL)
                usage("give exactly one of --tcp, --tcp6, --unix, --udp", "");
            kind = k;
            spec = v;
        } else {
            char *end;
            errno = 0;
            cpu = strtol(v, &end, 10);
            if (errno || end == v || *end != '\0' || cpu < 0 ||
                cpu >= CPU_SETSIZE)
                usage("bad --cpu ", v);
        }
    }
    if (spec == NULL)
        usage("give one of --tcp, --tcp6, --unix, --udp", "");

    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            die("cannot pin to that CPU: %s", strerror(errno));
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage ss;
    socklen_t slen;
    int lfd;
    if (kind == K_UNIX) {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        memset(&ss, 0, sizeof ss);
        if (strlen(spec) >= sizeof su->sun_path)
            die("UNIX socket path too long: %s", spec);
        su->sun_family = AF_UNIX;
        strcpy(su->sun_path, spec);
        slen = sizeof *su;
        struct stat st;
        if (lstat(spec, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(spec);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    } else {
        slen = parseAddress(spec, kind == K_TCP6, &ss);
        int type = kind == K_UDP ? SOCK_DGRAM : SOCK_STREAM;
        lfd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (lfd >= 0 && kind != K_UDP)
            setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    if (bind(lfd, (struct sockaddr *)&ss, slen) < 0)
        die("cannot bind: %s", strerror(errno));
    if (kind != K_UDP && listen(lfd, 65535) < 0)
        die("listen: %s", strerror(errno));

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.fd = lfd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    if (kind == K_UDP) {
        ubufs = malloc((size_t)UDP_BATCH * UDP_MAX);
        if (ubufs == NULL)
            die("out of memory%s", "");
    }

    if (kind == K_UNIX) {
        printf("listening %s\n", spec);
    } else {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        getsockname(lfd, (struct sockaddr *)&bound, &blen);
        unsigned port = bound.ss_family == AF_INET6
                            ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                            : ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("listening %u\n", port);
    }
    fflush(stdout);

    int isTcp = kind == K_TCP || kind == K_TCP6;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == sfd) {
                if (kind == K_UNIX)
                    unlink(spec);
                return 0;
            }
            if (fd == lfd) {
                if (kind == K_UDP)
                    onDatagrams(lfd);
                else
                    onAccept(lfd, isTcp);
                continue;
            }
            if (e & EPOLLOUT)
                onWritable(fd);
            else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                onReadable(fd);
        }
    }
}
