/*
 * loadgen: the load generator for the sockplug benchmarks.
 *
 * Build:
 *     cc -O2 -Wall -Wextra -std=gnu11 -o bench/build/loadgen bench/loadgen.c
 *
 * Usage:
 *     loadgen --mode MODE (--host ADDR --port N | --unix PATH) [--udp]
 *             [--conns N] [--size BYTES] [--inflight K] [--duration S]
 *             [--warmup S] [--lines N] [--cpu C]
 *
 * Defaults: --conns 1 --size 1024 --inflight 1 --duration 5 --warmup 1
 * --lines 10000.  MODE is stream, bulk, udp, connect, lines or idle; --udp
 * alone implies --mode udp.
 *
 * Output (every mode but idle): one JSON line on stdout with the keys mode,
 * conns, size, inflight, seconds, messages, bytes, rate, p50_us, p99_us,
 * errors, lost; exit 0.  A bad option, or a server that cannot be reached at
 * all (a probe connection, or for UDP a probe datagram that is never
 * answered, within 1 s), is one line on stderr and exit 1.
 *
 * How it measures: one thread, one level-triggered epoll set, non-blocking
 * sockets (TCP_NODELAY on TCP), a 256 KiB read buffer.  The clock is
 * CLOCK_MONOTONIC, read once per readiness event.  A run is warmup seconds
 * of load that is not counted, then duration seconds (the measured window,
 * reported as "seconds") in which every message that completes is counted
 * and its latency recorded in a log-linear histogram (16 buckets per power
 * of two, so p50_us/p99_us are within about 3%).  Everything stops at
 * warmup + duration + 2 s after start at the latest; at the end of a timed
 * mode each stream connection is shut down for writing and drained for up
 * to 300 ms so servers see a clean end of file.
 *
 *  - stream: each connection keeps K messages of SIZE bytes in flight (K=1 is
 *    ping-pong); a message completes when SIZE more bytes have come back;
 *    each completion queues a new message, and all messages queued in one
 *    event go out in one send().  latency = queued -> completed;
 *    bytes = messages * SIZE.
 *  - bulk: each connection writes whenever fewer than K*SIZE bytes are
 *    outstanding (byte granular, as much as fits); bytes = bytes echoed in
 *    the window; messages = SIZE-byte chunks completed; latency = the
 *    chunk's last byte queued -> its last byte echoed.
 *  - udp: N connected UDP sockets, K datagrams in flight each, sent and
 *    received with sendmmsg/recvmmsg.  The first 8 bytes of a datagram name
 *    its slot and generation (so SIZE >= 8); a datagram not answered within
 *    200 ms counts as lost (when the loss is noticed in the window) and is
 *    replaced; late answers are ignored.
 *  - connect: N clients, each looping socket -> connect -> send SIZE bytes ->
 *    read them back -> close(); messages = connections completed; latency =
 *    connect start -> close.  The client closes first, gracefully (plain
 *    close() after the whole echo was read, no SO_LINGER/RST tricks), so the
 *    TIME_WAIT sockets are the client's; on loopback Linux's default
 *    net.ipv4.tcp_tw_reuse=2 lets connect() reuse a TIME_WAIT port once it
 *    is one second old, so the sustained rate is bounded by the ephemeral
 *    range (32768-60999 by default: about 28,000 connections per second).
 *    A connect() that fails with EADDRNOTAVAIL counts as an error and is
 *    retried after a back-off.  No sysctl is changed.  On loopback the
 *    handshake has normally finished when connect() returns EINPROGRESS;
 *    TCP_INFO tells, and then the EPOLLOUT round trip is skipped.
 *    --inflight is ignored.
 *  - lines: each connection sends --lines lines of SIZE bytes (including the
 *    LF), "line 000123 xxxx...\n" with a number unique over the run, as fast
 *    as the server takes them, then shutdown(SHUT_WR) and reads (and
 *    discards) until the server closes.  messages = lines written,
 *    bytes = bytes written; the window is first byte -> last close and there
 *    is no warmup; warmup + duration + 2 s is only the time limit (lines
 *    not written by then are missing, unfinished connections are errors).
 *    No latency: p50_us = p99_us = 0.  --inflight is ignored (and echoed
 *    as given).
 *  - idle: opens N connections, at most 200 being set up at once; each
 *    sends 1 byte and reads it back.  Then "ready M" (M = connections open)
 *    goes to stdout, flushed, and loadgen waits until stdin reaches end of
 *    file (a stdin that epoll cannot watch, such as /dev/null or a regular
 *    file, counts as already at end of file) or until warmup + duration
 *    after start, then closes them all and exits 0 without JSON (pass a
 *    --duration longer than the measurement).  --size and --inflight are
 *    ignored.
 *
 * errors counts the whole run: failed connects, resets, a server closing
 * with bytes still owed (short read), failed sends; when it is not 0 one
 * line on stderr breaks it down by cause.  In stream, bulk, connect and
 * idle (before ready) a failed connection is retried after a back-off of
 * 5 ms doubling to 200 ms (reset when a message completes), so a dead server
 * costs a bounded number of attempts; in lines mode it is not retried.  A
 * UNIX connect() refused with EAGAIN (listen backlog full) is not an error:
 * like a TCP SYN left in the queue, it is tried again within 5 ms.  In idle
 * mode a connection that failed 20 times is given up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define MS 1000000LL
#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 512
#define TICK (5 * MS)
#define UDP_LOSS (200 * MS)
#define UDP_BATCH 64
#define BACKOFF_MIN (5 * MS)
#define BACKOFF_MAX (200 * MS)
#define DRAIN_TIME (300 * MS)
#define IDLE_SETUP 200
#define IDLE_GIVE_UP 20
#define STDIN_TAG UINT64_MAX

enum mode { M_STREAM, M_BULK, M_UDP, M_CONNECT, M_LINES, M_IDLE };
static const char *modeNames[] = {"stream",  "bulk",  "udp",
                                  "connect", "lines", "idle"};

enum state {
    S_NEW,        /* not started yet (idle mode) */
    S_CONNECTING, /* connect() in progress */
    S_OPEN,       /* connected, working */
    S_RETRY,      /* waiting for retryAt */
    S_READY,      /* idle: echo byte received */
    S_DRAIN,      /* end of run: shut down for writing, reading to EOF */
    S_DONE        /* closed for good */
};

struct slot {
    uint32_t gen;
    uint8_t state; /* 0 = needs sending, 1 = in flight */
    int64_t ts;
};

struct conn {
    int fd;
    uint8_t state;
    uint8_t shut;
    uint32_t events; /* registered with epoll */
    uint32_t gen;    /* bumped per socket, tags epoll events */
    uint32_t failures;
    uint64_t sent, want, recv;
    uint64_t done;   /* messages (chunks, lines) completed on this socket */
    uint64_t pushed; /* bulk: chunk boundaries queued */
    int64_t t0;      /* connect start */
    int64_t retryAt, backoff;
    int64_t *ring; /* queue times of messages in flight */
    uint32_t rhead, rcount;
    /* lines */
    uint64_t lineNext;
    char *out;
    uint32_t outOff, outLen;
    /* udp */
    struct slot *slots;
    uint32_t toSend;
};

/* options */
static enum mode mode = M_STREAM;
static int modeSet, useUdp;
static const char *host, *unixPath;
static long port = -1;
static long nconns = 1, size = 1024, inflight = 1, nlines = 10000, cpu = -1;
static double duration = 5, warmup = 1;

static struct sockaddr_storage addr;
static socklen_t addrLen;
static int isTcp;
static char target[300];

static int epfd;
static struct conn *conns;
static char rbuf[RBUF_SIZE];
static char *pattern;
static size_t patternLen;
static char *lineTemplate;
static int lineDigits;

static int64_t now, tWarm, tEnd, tHard, tFirst = -1, tLast = -1;
static uint64_t gMessages, gBytes, gErrors, gLost;
static long nRetry, nActive, nReady, nSetup, nStarted, nDrain;
static int stdinEof;

static uint64_t hist[64 * 16];

static void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t clockNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- latency histogram: 16 linear buckets per power of two (ns) ---- */

static int bucketOf(uint64_t v)
{
    if (v < 16)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    return (msb - 3) * 16 + (int)((v >> (msb - 4)) & 15);
}

static double bucketMid(int b)
{
    if (b < 16)
        return b;
    int msb = b / 16 + 3;
    double width = (double)(1ULL << (msb - 4));
    return (16 + b % 16) * width + width / 2;
}

static void record(int64_t latency)
{
    hist[bucketOf(latency < 0 ? 0 : (uint64_t)latency)]++;
}

static double percentileUs(double p)
{
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++) {
        seen += hist[i];
        if (seen >= rank)
            return bucketMid((int)i) / 1000.0;
    }
    return 0;
}

static int inWindow(void) { return now >= tWarm && now < tEnd; }

/* ---- options ---- */

static long parseLong(const char *name, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < lo || x > hi)
        fatal("bad %s %s (want an integer from %ld to %ld)", name, v, lo, hi);
    return x;
}

static double parseSeconds(const char *name, const char *v, double lo)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !(x >= lo) || x > 86400)
        fatal("bad %s %s (want seconds, at least %g)", name, v, lo);
    return x;
}

static void parseOptions(int argc, char **argv)
{
    static const struct option longs[] = {
        {"mode", required_argument, 0, 'm'},
        {"host", required_argument, 0, 'h'},
        {"port", required_argument, 0, 'p'},
        {"unix", required_argument, 0, 'u'},
        {"udp", no_argument, 0, 'U'},
        {"conns", required_argument, 0, 'c'},
        {"size", required_argument, 0, 's'},
        {"inflight", required_argument, 0, 'k'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},
        {"lines", required_argument, 0, 'l'},
        {"cpu", required_argument, 0, 'C'},
        {0, 0, 0, 0}};
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "", longs, NULL);
        if (o == -1)
            break;
        switch (o) {
        case 'm': {
            size_t i;
            for (i = 0; i < sizeof modeNames / sizeof modeNames[0]; i++)
                if (strcmp(optarg, modeNames[i]) == 0)
                    break;
            if (i == sizeof modeNames / sizeof modeNames[0])
                fatal("bad --mode %s (want stream, bulk, udp, connect, "
                      "lines or idle)",
                      optarg);
            mode = (enum mode)i;
            modeSet = 1;
            break;
        }
        case 'h': host = optarg; break;
        case 'p': port = parseLong("--port", optarg, 1, 65535); break;
        case 'u': unixPath = optarg; break;
        case 'U': useUdp = 1; break;
        case 'c': nconns = parseLong("--conns", optarg, 1, 1000000); break;
        case 's': size = parseLong("--size", optarg, 1, 64L << 20); break;
        case 'k': inflight = parseLong("--inflight", optarg, 1, 65536); break;
        case 'd': duration = parseSeconds("--duration", optarg, 0.001); break;
        case 'w': warmup = parseSeconds("--warmup", optarg, 0); break;
        case 'l': nlines = parseLong("--lines", optarg, 1, 1L << 40); break;
        case 'C': cpu = parseLong("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
        default:
            if (optopt)
                fatal("option %s needs a value", argv[optind - 1]);
            fatal("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        fatal("unexpected argument %s", argv[optind]);
    if (useUdp && !modeSet)
        mode = M_UDP;
    if (!modeSet && !useUdp)
        fatal("--mode is required (stream, bulk, udp, connect, lines, idle)");
    if (useUdp && mode != M_UDP)
        fatal("--udp goes only with --mode udp");
    if (mode == M_UDP)
        useUdp = 1;
    if (unixPath != NULL && (host != NULL || port >= 0))
        fatal("give either --host and --port or --unix, not both");
    if (unixPath == NULL && (host == NULL || port < 0))
        fatal("give --host ADDR --port N, or --unix PATH");
    if (useUdp && unixPath != NULL)
        fatal("udp mode needs --host and --port, not --unix");
    if (mode == M_UDP && (size < 8 || size > 65507))
        fatal("udp mode needs --size from 8 to 65507");
    if ((mode == M_STREAM || mode == M_BULK || mode == M_UDP) &&
        (long long)size * inflight > (64LL << 20))
        fatal("--size times --inflight must be at most 64 MiB");
}

static void resolve(void)
{
    if (unixPath != NULL) {
        struct sockaddr_un *su = (struct sockaddr_un *)&addr;
        if (strlen(unixPath) >= sizeof su->sun_path)
            fatal("UNIX socket path too long: %s", unixPath);
        memset(&addr, 0, sizeof addr);
        su->sun_family = AF_UNIX;
        strcpy(su->sun_path, unixPath);
        addrLen = sizeof *su;
        snprintf(target, sizeof target, "%s", unixPath);
        return;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = useUdp ? SOCK_DGRAM : SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        fatal("cannot resolve --host %s: %s", host, gai_strerror(rc));
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    addrLen = res->ai_addrlen;
    freeaddrinfo(res);
    if (addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
    isTcp = !useUdp;
    snprintf(target, sizeof target, "%s port %ld", host, port);
}

/* ---- set-up probe: is anything there at all? ---- */

static void probe(void)
{
    int type = useUdp ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fatal("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, addrLen) < 0) {
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 1000) != 1)
                fatal("cannot connect to %s: timed out", target);
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0)
                fatal("cannot connect to %s: %s", target, strerror(err));
        } else if (errno != EAGAIN) { /* EAGAIN: UNIX backlog full, alive */
            fatal("cannot connect to %s: %s", target, strerror(errno));
        }
    }
    if (useUdp) {
        char msg[8];
        memset(msg, 0xff, sizeof msg);
        int answered = 0;
        for (int i = 0; i < 4 && !answered; i++) {
            if (send(fd, msg, sizeof msg, 0) < 0 && errno != EAGAIN)
                fatal("cannot reach %s: %s", target, strerror(errno));
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 250) == 1) {
                if (recv(fd, rbuf, sizeof rbuf, 0) < 0 && errno != EAGAIN)
                    fatal("cannot reach %s: %s", target, strerror(errno));
                answered = 1;
            }
        }
        if (!answered)
            fatal("no answer from %s to a probe datagram", target);
    }
    close(fd);
}

/* ---- connection plumbing ---- */

static void setEvents(struct conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events};
    ev.data.u64 = (uint64_t)(c - conns) | ((uint64_t)c->gen << 32);
    int op = c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
        fatal("epoll_ctl: %s", strerror(errno));
    c->events = events;
}

static void closeSocket(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->events = 0;
}

static void startConnect(struct conn *c);

static void scheduleRetry(struct conn *c)
{
    c->state = S_RETRY;
    c->retryAt = now + c->backoff;
    c->backoff *= 2;
    if (c->backoff > BACKOFF_MAX)
        c->backoff = BACKOFF_MAX;
    nRetry++;
}

/* Errors by cause, for one diagnostic line on stderr at the end. */
#define ERR_EOF 0       /* server closed while bytes were owed */
#define ERR_UNFINISHED -1 /* lines mode: still sending at the hard stop */
static struct {
    int code;
    uint64_t count;
} errTally[16];

static void countError(int code, uint64_t n)
{
    gErrors += n;
    for (size_t i = 0; i < sizeof errTally / sizeof errTally[0]; i++) {
        if (errTally[i].count == 0)
            errTally[i].code = code;
        if (errTally[i].code == code) {
            errTally[i].count += n;
            return;
        }
    }
}

static void reportErrors(void)
{
    if (gErrors == 0)
        return;
    fprintf(stderr, "loadgen: %s: %llu errors:", modeNames[mode],
            (unsigned long long)gErrors);
    for (size_t i = 0; i < sizeof errTally / sizeof errTally[0]; i++) {
        if (errTally[i].count == 0)
            break;
        int code = errTally[i].code;
        fprintf(stderr, " %s x%llu",
                code == ERR_EOF          ? "closed by server"
                : code == ERR_UNFINISHED ? "unfinished at hard stop"
                                         : strerror(code),
                (unsigned long long)errTally[i].count);
    }
    fputc('\n', stderr);
}

/* A connection failed: count it, then retry or give up as the mode says. */
static void fail(struct conn *c, int code)
{
    countError(code, 1);
    closeSocket(c);
    c->failures++;
    switch (mode) {
    case M_LINES:
        c->state = S_DONE;
        nActive--;
        break;
    case M_IDLE:
        if (c->state == S_READY) {
            nReady--;
            c->state = S_DONE;
        } else if (c->failures >= IDLE_GIVE_UP) {
            c->state = S_DONE;
            nSetup--;
        } else {
            scheduleRetry(c);
        }
        break;
    default:
        scheduleRetry(c);
    }
}

static void ringPush(struct conn *c, int64_t t)
{
    uint32_t cap = (uint32_t)inflight + 1;
    if (c->rcount == cap)
        return; /* cannot happen with a well-behaved server */
    c->ring[(c->rhead + c->rcount) % cap] = t;
    c->rcount++;
}

static int64_t ringPop(struct conn *c)
{
    uint32_t cap = (uint32_t)inflight + 1;
    if (c->rcount == 0)
        return now;
    int64_t t = c->ring[c->rhead];
    c->rhead = (c->rhead + 1) % cap;
    c->rcount--;
    return t;
}

/* Write what is queued (want - sent) from the pattern buffer. */
static int flush(struct conn *c)
{
    for (int i = 0; i < 8 && c->sent < c->want; i++) {
        uint64_t left = c->want - c->sent;
        size_t len = left < patternLen ? (size_t)left : patternLen;
        ssize_t w = send(c->fd, pattern, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            fail(c, errno);
            return -1;
        }
        c->sent += (uint64_t)w;
        if ((size_t)w < len)
            break;
    }
    setEvents(c, EPOLLIN | (c->sent < c->want ? EPOLLOUT : 0));
    return 0;
}

static void fillLines(struct conn *c)
{
    uint32_t cap = (uint32_t)(size > 16384 ? size : 16384 / size * size);
    uint64_t base = (uint64_t)(c - conns) * (uint64_t)nlines;
    c->outOff = c->outLen = 0;
    while (c->outLen + (uint64_t)size <= cap && c->lineNext < (uint64_t)nlines) {
        char *p = c->out + c->outLen;
        memcpy(p, lineTemplate, (size_t)size);
        uint64_t num = base + c->lineNext;
        for (int d = lineDigits - 1; d >= 0; d--) {
            p[5 + d] = (char)('0' + num % 10);
            num /= 10;
        }
        c->outLen += (uint32_t)size;
        c->lineNext++;
    }
}

static int flushLines(struct conn *c)
{
    for (int i = 0; i < 16; i++) {
        if (c->outOff == c->outLen) {
            if (c->lineNext < (uint64_t)nlines) {
                fillLines(c);
            } else {
                if (!c->shut) {
                    shutdown(c->fd, SHUT_WR);
                    c->shut = 1;
                }
                break;
            }
        }
        ssize_t w = send(c->fd, c->out + c->outOff, c->outLen - c->outOff,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            fail(c, errno);
            return -1;
        }
        if (tFirst < 0)
            tFirst = now;
        c->outOff += (uint32_t)w;
        c->sent += (uint64_t)w;
        gBytes += (uint64_t)w;
        uint64_t lines = c->sent / (uint64_t)size;
        gMessages += lines - c->done;
        c->done = lines;
        if (c->outOff < c->outLen)
            break;
    }
    setEvents(c, EPOLLIN | (c->shut ? 0 : EPOLLOUT));
    return 0;
}

static void onConnected(struct conn *c)
{
    c->state = S_OPEN;
    c->sent = c->want = c->recv = c->done = c->pushed = 0;
    c->rhead = c->rcount = 0;
    switch (mode) {
    case M_STREAM:
        for (long i = 0; i < inflight; i++)
            ringPush(c, now);
        c->want = (uint64_t)inflight * (uint64_t)size;
        flush(c);
        break;
    case M_BULK:
        c->want = (uint64_t)inflight * (uint64_t)size;
        for (long i = 0; i < inflight; i++)
            ringPush(c, now);
        c->pushed = (uint64_t)inflight;
        flush(c);
        break;
    case M_CONNECT:
        c->want = (uint64_t)size;
        flush(c);
        break;
    case M_IDLE:
        c->want = 1;
        flush(c);
        break;
    case M_LINES:
        flushLines(c);
        break;
    case M_UDP:
        break;
    }
}

static void startConnect(struct conn *c)
{
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    c->gen++;
    c->events = 0;
    c->shut = 0;
    c->t0 = now;
    if (fd < 0) {
        c->fd = -1;
        fail(c, errno);
        return;
    }
    c->fd = fd;
    if (isTcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (struct sockaddr *)&addr, addrLen) == 0) {
        setEvents(c, EPOLLIN);
        onConnected(c);
        return;
    }
    if (errno == EAGAIN && addr.ss_family == AF_UNIX) {
        /* UNIX listen backlog full: like a TCP SYN waiting in the queue,
           not a failure; try again on the next tick. */
        closeSocket(c);
        c->state = S_RETRY;
        c->retryAt = now;
        nRetry++;
        return;
    }
    if (errno != EINPROGRESS) {
        fail(c, errno);
        return;
    }
    if (isTcp) {
        /* On loopback the handshake has usually finished by the time
           connect() returns EINPROGRESS: skip the EPOLLOUT round trip. */
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
            ti.tcpi_state == TCP_ESTABLISHED) {
            setEvents(c, EPOLLIN);
            onConnected(c);
            return;
        }
    }
    c->state = S_CONNECTING;
    setEvents(c, EPOLLIN | EPOLLOUT);
}

static void onConnectDone(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        fail(c, err);
        return;
    }
    onConnected(c);
}

static void completeMessages(struct conn *c)
{
    uint64_t newDone = c->recv / (uint64_t)size;
    if (newDone == c->done)
        return;
    int counted = inWindow();
    uint64_t n = newDone - c->done;
    for (uint64_t i = 0; i < n; i++) {
        int64_t t = ringPop(c);
        if (counted)
            record(now - t);
    }
    if (counted) {
        gMessages += n;
        if (mode == M_STREAM)
            gBytes += n * (uint64_t)size;
    }
    c->done = newDone;
    c->backoff = BACKOFF_MIN;
    if (mode == M_STREAM) {
        for (uint64_t i = 0; i < n; i++)
            ringPush(c, now);
        c->want += n * (uint64_t)size;
    }
}

static void onReadable(struct conn *c)
{
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        if (c->state == S_DRAIN) {
            closeSocket(c);
            c->state = S_DONE;
            nDrain--;
        } else {
            fail(c, errno);
        }
        return;
    }
    if (r == 0) {
        if (c->state == S_DRAIN) {
            closeSocket(c);
            c->state = S_DONE;
            nDrain--;
        } else if (mode == M_LINES && c->shut) {
            closeSocket(c);
            c->state = S_DONE;
            nActive--;
            tLast = now;
        } else {
            fail(c, ERR_EOF); /* closed by the server with bytes owed */
        }
        return;
    }
    if (c->state == S_DRAIN)
        return;
    c->recv += (uint64_t)r;
    switch (mode) {
    case M_STREAM:
        completeMessages(c);
        flush(c);
        break;
    case M_BULK: {
        if (inWindow())
            gBytes += (uint64_t)r;
        completeMessages(c);
        c->want = c->recv + (uint64_t)inflight * (uint64_t)size;
        uint64_t chunks = c->want / (uint64_t)size;
        for (; c->pushed < chunks; c->pushed++)
            ringPush(c, now);
        flush(c);
        break;
    }
    case M_CONNECT:
        if (c->recv >= (uint64_t)size) {
            closeSocket(c);
            if (inWindow()) {
                gMessages++;
                gBytes += (uint64_t)size;
                record(now - c->t0);
            }
            c->backoff = BACKOFF_MIN;
            startConnect(c);
        }
        break;
    case M_IDLE:
        if (c->state == S_OPEN) {
            c->state = S_READY;
            nReady++;
            nSetup--;
            setEvents(c, EPOLLIN);
        }
        break;
    case M_LINES: /* whatever the server says back is discarded */
    case M_UDP:
        break;
    }
}

static void onEvent(struct conn *c, uint32_t e)
{
    if (c->state == S_CONNECTING) {
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            onConnectDone(c);
        return;
    }
    if (c->state != S_OPEN && c->state != S_READY && c->state != S_DRAIN)
        return;
    if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        uint32_t gen = c->gen;
        onReadable(c);
        if (c->gen != gen || c->fd < 0)
            return;
    }
    if ((e & EPOLLOUT) && c->state == S_OPEN) {
        if (mode == M_LINES)
            flushLines(c);
        else
            flush(c);
    }
}

/* ---- udp ---- */

static struct mmsghdr umsgs[UDP_BATCH];
static struct iovec uiovs[UDP_BATCH][2];
static uint32_t utokens[UDP_BATCH][2];
static char *ubufs;

static void udpSend(struct conn *c)
{
    uint32_t idx[UDP_BATCH];
    uint32_t k = 0;
    while (c->toSend > 0) {
        int n = 0;
        for (; k < (uint32_t)inflight && n < UDP_BATCH; k++) {
            struct slot *s = &c->slots[k];
            if (s->state != 0)
                continue;
            idx[n] = k;
            utokens[n][0] = k;
            utokens[n][1] = s->gen;
            uiovs[n][0].iov_base = utokens[n];
            uiovs[n][0].iov_len = 8;
            uiovs[n][1].iov_base = pattern;
            uiovs[n][1].iov_len = (size_t)size - 8;
            memset(&umsgs[n].msg_hdr, 0, sizeof umsgs[n].msg_hdr);
            umsgs[n].msg_hdr.msg_iov = uiovs[n];
            umsgs[n].msg_hdr.msg_iovlen = 2;
            n++;
        }
        if (n == 0)
            break;
        int s = sendmmsg(c->fd, umsgs, (unsigned)n, MSG_DONTWAIT);
        if (s < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                setEvents(c, EPOLLIN | EPOLLOUT);
            } else {
                /* ECONNREFUSED, ENOBUFS...: try again on the next tick */
                if (errno != ENOBUFS)
                    countError(errno, 1);
                setEvents(c, EPOLLIN);
            }
            return;
        }
        for (int i = 0; i < s; i++) {
            c->slots[idx[i]].state = 1;
            c->slots[idx[i]].ts = now;
        }
        c->toSend -= (uint32_t)s;
        if (s < n) {
            setEvents(c, EPOLLIN | EPOLLOUT);
            return;
        }
    }
    setEvents(c, EPOLLIN);
}

static void udpReceive(struct conn *c)
{
    size_t cap = (size_t)size;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            uiovs[i][0].iov_base = ubufs + (size_t)i * cap;
            uiovs[i][0].iov_len = cap;
            memset(&umsgs[i].msg_hdr, 0, sizeof umsgs[i].msg_hdr);
            umsgs[i].msg_hdr.msg_iov = uiovs[i];
            umsgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(c->fd, umsgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                countError(errno, 1);
            break;
        }
        int counted = inWindow();
        for (int i = 0; i < n; i++) {
            if (umsgs[i].msg_len < 8)
                continue;
            uint32_t tok[2];
            memcpy(tok, ubufs + (size_t)i * cap, 8);
            if (tok[0] >= (uint32_t)inflight)
                continue;
            struct slot *s = &c->slots[tok[0]];
            if (s->state != 1 || s->gen != tok[1])
                continue; /* late answer to a datagram counted as lost */
            if (counted) {
                record(now - s->ts);
                gMessages++;
                gBytes += (uint64_t)size;
            }
            s->gen++;
            s->state = 0;
            c->toSend++;
        }
        if (n < UDP_BATCH)
            break;
    }
    udpSend(c);
}

static void udpSetup(void)
{
    ubufs = malloc((size_t)UDP_BATCH * (size_t)size);
    if (ubufs == NULL)
        fatal("out of memory");
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       0);
        if (c->fd < 0)
            fatal("socket: %s", strerror(errno));
        if (connect(c->fd, (struct sockaddr *)&addr, addrLen) < 0)
            fatal("cannot connect UDP socket to %s: %s", target,
                  strerror(errno));
        c->slots = calloc((size_t)inflight, sizeof *c->slots);
        if (c->slots == NULL)
            fatal("out of memory");
        c->toSend = (uint32_t)inflight;
        c->state = S_OPEN;
        c->gen = 1;
        udpSend(c);
    }
}

static void udpTick(void)
{
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        for (long k = 0; k < inflight; k++) {
            struct slot *s = &c->slots[k];
            if (s->state == 1 && now - s->ts >= UDP_LOSS) {
                if (inWindow())
                    gLost++;
                s->gen++;
                s->state = 0;
                c->toSend++;
            }
        }
        if (c->toSend > 0)
            udpSend(c);
    }
}

/* ---- main loop ---- */

static void tick(void)
{
    if (mode == M_UDP)
        udpTick();
    if (nRetry > 0) {
        for (long i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            if (c->state == S_RETRY && c->retryAt <= now) {
                nRetry--;
                startConnect(c);
            }
        }
    }
}

static void startIdleConnections(void)
{
    while (nStarted < nconns && nSetup < IDLE_SETUP) {
        struct conn *c = &conns[nStarted++];
        nSetup++;
        startConnect(c);
    }
}

static int pollOnce(int64_t until, int64_t *nextTick)
{
    static struct epoll_event evs[MAX_EVENTS];
    int64_t wake = until < *nextTick ? until : *nextTick;
    int64_t delta = wake - now;
    int timeout = delta <= 0 ? 0 : (int)((delta + MS - 1) / MS);
    int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR)
        fatal("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        now = clockNs();
        uint64_t tag = evs[i].data.u64;
        if (tag == STDIN_TAG) {
            ssize_t r = read(0, rbuf, sizeof rbuf);
            if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) {
                stdinEof = 1;
                epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
            }
            continue;
        }
        struct conn *c = &conns[(uint32_t)tag];
        if ((uint32_t)(tag >> 32) != c->gen || c->fd < 0)
            continue; /* stale event for a socket closed in this batch */
        if (mode == M_UDP) {
            if (evs[i].events & (EPOLLIN | EPOLLERR))
                udpReceive(c);
            else if (evs[i].events & EPOLLOUT)
                udpSend(c);
        } else {
            onEvent(c, evs[i].events);
        }
    }
    now = clockNs();
    if (now >= *nextTick) {
        tick();
        *nextTick = now + TICK;
    }
    return n;
}

/* End of a timed run: shut stream sockets for writing, read to EOF. */
static void drain(void)
{
    int64_t until = now + DRAIN_TIME;
    if (until > tHard)
        until = tHard;
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->state == S_CONNECTING || c->state == S_RETRY) {
            closeSocket(c);
            c->state = S_DONE;
        }
        if (c->state == S_OPEN && mode != M_UDP) {
            shutdown(c->fd, SHUT_WR);
            c->state = S_DRAIN;
            setEvents(c, EPOLLIN);
            nDrain++;
        }
    }
    int64_t nextTick = INT64_MAX;
    while (nDrain > 0 && now < until)
        pollOnce(until, &nextTick);
}

static void idleRun(void)
{
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = STDIN_TAG;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0)
        stdinEof = 1; /* /dev/null, a regular file, or closed */
    int64_t nextTick = now + TICK;
    int printed = 0;
    int64_t until = tEnd;
    while (now < until) {
        if (!printed) {
            startIdleConnections();
            if (nStarted == nconns && nSetup == 0) {
                printf("ready %ld\n", nReady);
                fflush(stdout);
                printed = 1;
            }
        }
        if (printed && stdinEof)
            break;
        pollOnce(until, &nextTick);
    }
    if (!printed) {
        printf("ready %ld\n", nReady);
        fflush(stdout);
    }
    for (long i = 0; i < nconns; i++)
        closeSocket(&conns[i]);
    reportErrors();
}

int main(int argc, char **argv)
{
    parseOptions(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            fatal("cannot pin to CPU %ld: %s", cpu, strerror(errno));
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY &&
            (rlim_t)nconns + 16 > rl.rlim_cur)
            fatal("--conns %ld needs more file descriptors than the limit "
                  "of %llu",
                  nconns, (unsigned long long)rl.rlim_cur);
    }
    resolve();

    int64_t t0 = clockNs();
    probe();

    patternLen = (size_t)size * (size_t)inflight;
    if (patternLen < 65536)
        patternLen = 65536;
    pattern = malloc(patternLen);
    if (pattern == NULL)
        fatal("out of memory");
    for (size_t i = 0; i < patternLen; i++)
        pattern[i] = (char)('a' + i % 26);

    if (mode == M_LINES) {
        uint64_t maxNum = (uint64_t)nconns * (uint64_t)nlines;
        lineDigits = 6;
        for (uint64_t x = 1000000; x < maxNum && lineDigits < 20; x *= 10)
            lineDigits++;
        if (size < 5 + lineDigits + 1)
            fatal("lines mode needs --size of at least %d here",
                  5 + lineDigits + 1);
        lineTemplate = malloc((size_t)size);
        if (lineTemplate == NULL)
            fatal("out of memory");
        memset(lineTemplate, 'x', (size_t)size);
        memcpy(lineTemplate, "line ", 5);
        if (size > 5 + lineDigits + 1)
            lineTemplate[5 + lineDigits] = ' ';
        lineTemplate[size - 1] = '\n';
    }

    conns = calloc((size_t)nconns, sizeof *conns);
    if (conns == NULL)
        fatal("out of memory");
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = -1;
        c->backoff = BACKOFF_MIN;
        if (mode == M_STREAM || mode == M_BULK) {
            c->ring = malloc(((size_t)inflight + 1) * sizeof *c->ring);
            if (c->ring == NULL)
                fatal("out of memory");
        }
        if (mode == M_LINES) {
            size_t cap = size > 16384 ? (size_t)size
                                      : (size_t)(16384 / size * size);
            c->out = malloc(cap);
            if (c->out == NULL)
                fatal("out of memory");
        }
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        fatal("epoll_create1: %s", strerror(errno));

    now = clockNs();
    int64_t tStart = now;
    tWarm = mode == M_LINES ? tStart : tStart + (int64_t)(warmup * NS);
    tEnd = tStart + (int64_t)((warmup + duration) * NS);
    tHard = t0 + (int64_t)((warmup + duration + 2) * NS);

    if (mode == M_IDLE) {
        idleRun();
        return 0;
    }
    if (mode == M_UDP) {
        udpSetup();
    } else {
        for (long i = 0; i < nconns; i++) {
            if (mode == M_LINES)
                nActive++; /* fail() takes it back */
            startConnect(&conns[i]);
        }
    }

    int64_t nextTick = now + TICK;
    if (mode == M_LINES) {
        while (nActive > 0 && now < tHard)
            pollOnce(tHard, &nextTick);
        if (nActive > 0) {
            countError(ERR_UNFINISHED, (uint64_t)nActive);
            tLast = now;
        }
    } else {
        while (now < tEnd)
            pollOnce(tEnd, &nextTick);
        drain();
    }
    for (long i = 0; i < nconns; i++)
        closeSocket(&conns[i]);

    double seconds;
    if (mode == M_LINES)
        seconds = tFirst < 0 ? 0 : (double)(tLast - tFirst) / NS;
    else
        seconds = (double)(tEnd - tWarm) / NS;
    double rate = seconds > 0 ? (double)gMessages / seconds : 0;
    printf("{\"mode\": \"%s\", \"conns\": %ld, \"size\": %ld, "
           "\"inflight\": %ld, \"seconds\": %.6f, \"messages\": %llu, "
           "\"bytes\": %llu, \"rate\": %.1f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f, \"errors\": %llu, \"lost\": %llu}\n",
           modeNames[mode], nconns, size, inflight, seconds,
           (unsigned long long)gMessages, (unsigned long long)gBytes, rate,
           percentileUs(0.50), percentileUs(0.99),
           (unsigned long long)gErrors, (unsigned long long)gLost);
    fflush(stdout);
    reportErrors();
    return 0;
}
