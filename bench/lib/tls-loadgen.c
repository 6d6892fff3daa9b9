/*
 * tls-loadgen.c - the TLS load side of `npm run bench`: loopback only, one thread, epoll,
 * non-blocking OpenSSL. The plain loadgen (../shared/tools/loadgen.c) speaks no TLS.
 *
 *   tls-connect  C clients loop: connect, full handshake (no resumption), write SIZE bytes,
 *                read them back, close_notify, close. Reports handshakes (connections) per second.
 *   tls-echo     N established TLS connections each keep DEPTH messages of SIZE bytes in
 *                flight; every echoed byte is counted. Reports messages per second.
 *   proxy-connect  No TLS: C clients loop connect, write the bytes of -x HEX (a PROXY header)
 *                and SIZE bytes in one write, read the SIZE bytes back, close. Reports connections
 *                per second. The plain loadgen cannot send a header first; without -x this is
 *                its tcp-connect, so a PROXY listener and a plain one meet the same client.
 *
 * Build: gcc -O2 -Wall -o tls-loadgen tls-loadgen.c -lssl -lcrypto
 * Output: one line on stdout, "RESULT key=value ...", in the plain loadgen's keys where they
 * mean the same (conns_per_s, msgs_per_s, srv_cpu, lg_cpu, errors); diagnostics on stderr.
 * The target must be 127.0.0.1; a SIGALRM watchdog ends a run that overruns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 4096
#define MAX_SIZE (1 << 20)
#define MAX_PREFIX 4096
#define SOURCES 16 /* tls-connect binds 127.0.0.2 .. 127.0.0.17: TIME_WAIT spreads over them */

enum { TLS_CONNECT, TLS_ECHO, PROXY_CONNECT };
enum { S_CONNECTING, S_HANDSHAKE, S_RUNNING, S_IDLE };

static struct {
    int mode, port, conns, depth, size, pid;
    double secs, warmup;
} opt = {.mode = -1, .conns = 16, .depth = 1, .size = 16, .secs = 3, .warmup = 1};

struct conn {
    int fd;
    SSL *ssl;
    int state;
    long long owed;     /* bytes still to write */
    long long awaited;  /* bytes still to read back */
    long long received; /* bytes read back so far (tls-echo) */
    int retry;          /* length of an SSL_write that must be retried as is (0: none) */
    unsigned events;    /* epoll interest now */
};

static struct conn conns[MAX_CONNS];
static SSL_CTX *ctx;
static int ep;
static unsigned char *pattern, *rbuf;
static unsigned char *wbuf; /* proxy-connect: the prefix, then SIZE bytes of pattern: one write */
static unsigned char prefix[MAX_PREFIX];
static int prefix_len;
static struct sockaddr_in target;
static unsigned next_source;
static int measuring, finished;
static unsigned long long counted, errors, conn_fail;
static double t_start_meas, t_end_meas, lg0, lg1;
static long srv0 = -1, srv1 = -1;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of the server, in clock ticks (fields 14 and 15 of /proc/PID/stat) */
static long server_ticks(void) {
    char path[64], buf[2048];
    if (opt.pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", opt.pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2) return -1;
    return utime + stime;
}

static void die(const char *what) {
    fprintf(stderr, "tls-loadgen: %s\n", what);
    exit(2);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "tls-loadgen: watchdog: the run overran its bound\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

static void want(struct conn *c, unsigned events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl MOD");
    c->events = events;
}

static void count_error(struct conn *c, const char *where) {
    errors++;
    if (errors <= 5) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "tls-loadgen: connection error in %s: %s (errno %d)\n", where, e ? ERR_error_string(e, NULL) : "-", errno);
    }
    ERR_clear_error();
    (void)c;
}

static void close_conn(struct conn *c, int clean) {
    if (c->ssl) {
        if (clean) SSL_shutdown(c->ssl); /* our close_notify; the peer's is not awaited */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = S_IDLE;
}

static int open_conn(struct conn *c) {
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.mode == TLS_CONNECT || opt.mode == PROXY_CONNECT) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002 + (next_source++ % SOURCES));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind to a 127.0.0.x source");
    }
    c->state = S_CONNECTING;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl ADD");
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        conn_fail++;
        close_conn(c, 0);
        return -1;
    }
    return 0;
}

/* One exchange's worth of bytes, or (tls-echo) the whole window to keep in flight. */
static void start_exchange(struct conn *c) {
    long long bytes = (long long)opt.size * (opt.mode == TLS_ECHO ? opt.depth : 1);
    c->owed = bytes;
    c->awaited = bytes;
    c->state = S_RUNNING;
}

/* Handles SSL_get_error: returns 1 to wait (interest set), 0 when the connection failed. */
static int wait_or_fail(struct conn *c, int ret, const char *where) {
    int err = SSL_get_error(c->ssl, ret);
    if (err == SSL_ERROR_WANT_READ) return want(c, EPOLLIN), 1;
    if (err == SSL_ERROR_WANT_WRITE) return want(c, EPOLLIN | EPOLLOUT), 1;
    count_error(c, where);
    close_conn(c, 0);
    return 0;
}

static void finished_exchange(struct conn *c) {
    if (measuring) counted++;
    close_conn(c, 1);
    if (!finished) open_conn(c);
}

/*
 * Acknowledge at once instead of delaying the ACK. The servers keep Nagle on (Node's default):
 * after the handshake a TLS 1.3 server writes its session tickets and then the echo, and Nagle
 * holds the echo until the tickets are acknowledged; against a delayed ACK (40 ms) the run would
 * measure that timer, not the server. Linux clears the flag after use, so it is set per read.
 */
static void quick_ack(struct conn *c) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

/* proxy-connect: the prefix and the payload (c->owed counts both), then the echo of the payload. */
static void plain_step(struct conn *c) {
    quick_ack(c);
    long long total = prefix_len + opt.size;
    while (c->owed > 0) {
        ssize_t w = write(c->fd, wbuf + (total - c->owed), (size_t)c->owed);
        if (w > 0) {
            c->owed -= w;
            continue;
        }
        if (w < 0 && errno == EAGAIN) return want(c, EPOLLIN | EPOLLOUT);
        count_error(c, "write");
        close_conn(c, 0);
        if (!finished) open_conn(c);
        return;
    }
    for (;;) {
        ssize_t r = read(c->fd, rbuf, MAX_SIZE);
        if (r > 0 && r <= c->awaited) {
            c->awaited -= r;
            if (c->awaited == 0) return finished_exchange(c);
            continue;
        }
        if (r < 0 && errno == EAGAIN) break;
        count_error(c, r == 0 ? "read: the server closed" : r > 0 ? "read: more bytes than were written" : "read");
        close_conn(c, 0);
        if (!finished) open_conn(c);
        return;
    }
    want(c, EPOLLIN);
}

static void step(struct conn *c) {
    if (c->state == S_CONNECTING && opt.mode == PROXY_CONNECT) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            conn_fail++;
            close_conn(c, 0);
            if (!finished) open_conn(c);
            return;
        }
        c->owed = prefix_len + opt.size;
        c->awaited = opt.size;
        c->state = S_RUNNING;
    }
    if (opt.mode == PROXY_CONNECT) return plain_step(c);
    if (c->state == S_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            conn_fail++;
            close_conn(c, 0);
            if (!finished && opt.mode == TLS_CONNECT) open_conn(c);
            return;
        }
        c->ssl = SSL_new(ctx);
        if (!c->ssl) die("SSL_new");
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_connect_state(c->ssl);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        c->state = S_HANDSHAKE;
    }
    if (c->state == S_HANDSHAKE) {
        quick_ack(c);
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            if (!wait_or_fail(c, r, "handshake") && !finished && opt.mode == TLS_CONNECT) open_conn(c);
            return;
        }
        start_exchange(c);
    }
    if (c->state != S_RUNNING) return;
    /* Read everything there is, then write what is owed; a write that wants to be repeated is. */
    if (opt.mode == TLS_CONNECT) quick_ack(c);
    for (;;) {
        int r = SSL_read(c->ssl, rbuf, MAX_SIZE);
        if (r > 0) {
            if (r > c->awaited) {
                count_error(c, "read: more bytes than were written");
                close_conn(c, 0);
                return;
            }
            c->awaited -= r;
            if (opt.mode == TLS_ECHO) {
                /* every whole message echoed frees a slot in the window: the next one goes out */
                long long messages = (c->received + r) / opt.size - c->received / opt.size;
                c->received += r;
                if (measuring) counted += messages;
                c->owed += messages * opt.size;
                c->awaited += messages * opt.size;
            } else if (c->awaited == 0) {
                finished_exchange(c);
                return;
            }
            continue;
        }
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) break;
        if (err == SSL_ERROR_WANT_WRITE) break;
        count_error(c, r == 0 ? "read: the server closed" : "read");
        close_conn(c, 0);
        if (!finished && opt.mode == TLS_CONNECT) open_conn(c);
        return;
    }
    while (c->owed > 0) {
        int len = c->retry ? c->retry : (int)(c->owed < 16384 ? c->owed : 16384);
        int w = SSL_write(c->ssl, pattern, len);
        if (w > 0) {
            c->retry = 0;
            c->owed -= w;
            continue;
        }
        c->retry = len;
        if (!wait_or_fail(c, w, "write") && !finished && opt.mode == TLS_CONNECT) open_conn(c);
        return;
    }
    want(c, EPOLLIN);
}

static void usage(void) {
    fprintf(stderr, "usage: tls-loadgen tls-connect|tls-echo|proxy-connect -p PORT [-c CONNS] [-d DEPTH] [-s SIZE] [-t SECS] [-w WARMUP] [-P SERVER_PID] [-x HEX]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    if (strcmp(argv[1], "tls-connect") == 0) opt.mode = TLS_CONNECT;
    else if (strcmp(argv[1], "tls-echo") == 0) opt.mode = TLS_ECHO;
    else if (strcmp(argv[1], "proxy-connect") == 0) opt.mode = PROXY_CONNECT;
    else usage();
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *flag = argv[i], *value = argv[i + 1];
        if (strcmp(flag, "-p") == 0) opt.port = atoi(value);
        else if (strcmp(flag, "-c") == 0) opt.conns = atoi(value);
        else if (strcmp(flag, "-d") == 0) opt.depth = atoi(value);
        else if (strcmp(flag, "-s") == 0) opt.size = atoi(value);
        else if (strcmp(flag, "-t") == 0) opt.secs = atof(value);
        else if (strcmp(flag, "-w") == 0) opt.warmup = atof(value);
        else if (strcmp(flag, "-P") == 0) opt.pid = atoi(value);
        else if (strcmp(flag, "-x") == 0) {
            size_t n = strlen(value);
            if (n % 2 != 0 || n / 2 > MAX_PREFIX) usage();
            for (size_t k = 0; k < n / 2; k++) {
                unsigned byte;
                if (sscanf(value + 2 * k, "%2x", &byte) != 1) usage();
                prefix[k] = (unsigned char)byte;
            }
            prefix_len = (int)(n / 2);
        } else usage();
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.conns < 1 || opt.conns > MAX_CONNS || opt.depth < 1 || opt.depth > 1024 ||
        opt.size < 1 || opt.size > MAX_SIZE || opt.secs <= 0 || opt.secs > 600 || opt.warmup < 0 || opt.warmup > 60)
        usage();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt.warmup + opt.secs + 60));

    target.sin_family = AF_INET;
    target.sin_port = htons(opt.port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* measuring, not authenticating: the bench's own certificate */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake a full one */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    pattern = malloc(16384);
    rbuf = malloc(MAX_SIZE);
    if (!pattern || !rbuf) die("malloc");
    for (int i = 0; i < 16384; i++) pattern[i] = (unsigned char)('a' + i % 26);
    wbuf = malloc(MAX_PREFIX + MAX_SIZE);
    if (!wbuf) die("malloc");
    memcpy(wbuf, prefix, prefix_len);
    for (int i = 0; i < opt.size; i++) wbuf[prefix_len + i] = pattern[i % 16384];
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    for (int i = 0; i < opt.conns; i++) open_conn(&conns[i]);
    double started = now_s(), warm_end = started + opt.warmup, end = warm_end + opt.secs;
    struct epoll_event events[256];
    for (long iter = 0; iter < 2000000000L; iter++) {
        double now = now_s();
        if (!measuring && !finished && now >= warm_end) {
            measuring = 1;
            counted = 0;
            t_start_meas = now;
            srv0 = server_ticks();
            lg0 = self_cpu();
        }
        if (measuring && now >= end) {
            measuring = 0;
            finished = 1;
            t_end_meas = now;
            srv1 = server_ticks();
            lg1 = self_cpu();
            break;
        }
        int n = epoll_wait(ep, events, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) step(events[i].data.ptr);
        if (errors > 1000) break;
    }
    double window = t_end_meas - t_start_meas;
    if (window <= 0) window = 1e-9;
    printf("RESULT mode=%s port=%d conns=%d depth=%d size=%d prefix=%d secs=%.3f count=%llu %s=%.1f",
           opt.mode == TLS_CONNECT ? "tls-connect" : opt.mode == PROXY_CONNECT ? "proxy-connect" : "tls-echo", opt.port, opt.conns, opt.depth, opt.size,
           prefix_len, window, counted, opt.mode == TLS_ECHO ? "msgs_per_s" : "conns_per_s", counted / window);
    if (srv0 >= 0 && srv1 >= 0) printf(" srv_cpu=%.1f", (srv1 - srv0) / (double)sysconf(_SC_CLK_TCK) / window * 100.0);
    else printf(" srv_cpu=NA");
    printf(" lg_cpu=%.1f errors=%llu conn_fail=%llu\n", (lg1 - lg0) / window * 100.0, errors, conn_fail);
    fflush(stdout);
    return errors > 0 ? 1 : 0;
}
