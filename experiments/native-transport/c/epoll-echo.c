/*
 * Reference echo server for the native-transport experiment (issue 17): plain C, one thread,
 * level-triggered epoll, no library. The ceiling the Node servers are compared with. Follows the
 * bench server contract (bench/lib/server-contract.ts): port in argv[1] (0 = any), listens on
 * 127.0.0.1, prints `READY <port>`, exits 0 on SIGTERM. Bytes the kernel does not take are kept
 * per connection and reading from it stops until they are sent (so pipe16k stays correct).
 *
 *   gcc -O2 -Wall -o build/epoll-echo c/epoll-echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 65536
#define BUF 65536

typedef struct { char *pending; size_t len, off; } conn_t;
static conn_t conns[MAX_FD];
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static void drop(int ep, int fd) {
  free(conns[fd].pending);
  memset(&conns[fd], 0, sizeof conns[fd]);
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

static void set_mask(int ep, int fd, uint32_t mask) {
  struct epoll_event ev = { .events = mask, .data = { .fd = fd } };
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = { .s_addr = htonl(INADDR_LOOPBACK) } };
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 511) != 0) {
    perror("listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("READY %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = { .events = EPOLLIN, .data = { .fd = lfd } };
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  static char buf[BUF];
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, 1000);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (c >= MAX_FD) { close(c); continue; }
          struct epoll_event ev = { .events = EPOLLIN, .data = { .fd = c } };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      conn_t *c = &conns[fd];
      if (evs[i].events & EPOLLOUT) {
        while (c->off < c->len) {
          ssize_t w = send(fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
          if (w < 0) break;
          c->off += (size_t)w;
        }
        if (c->off < c->len) {
          if (errno != EAGAIN) drop(ep, fd);
          continue;
        }
        c->off = c->len = 0;
        set_mask(ep, fd, EPOLLIN);
        continue;
      }
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        if (r == 0 || errno != EAGAIN) drop(ep, fd);
        continue;
      }
      ssize_t w = send(fd, buf, (size_t)r, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN) { drop(ep, fd); continue; }
        w = 0;
      }
      if (w < r) {
        size_t rest = (size_t)(r - w);
        c->pending = realloc(c->pending, rest);
        memcpy(c->pending, buf + w, rest);
        c->len = rest;
        c->off = 0;
        set_mask(ep, fd, EPOLLOUT); /* stop reading until the rest is out */
      }
    }
  }
  return 0;
}
