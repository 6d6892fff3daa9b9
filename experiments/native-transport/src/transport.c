/*
 * Native TCP transport prototype (issue 17): one epoll set owns the listening and accepted
 * sockets; libuv watches the epoll fd itself (uv_poll), so the work runs on Node's main thread
 * inside its own event loop, with no extra thread. On each readiness of the epoll fd the addon
 * accepts, reads and flushes what it can, writing the results as fixed-size records into one
 * Int32Array and the bytes read into one reused Buffer, both owned by JavaScript, then makes ONE
 * call into JavaScript for the whole batch. Writes from JavaScript go straight to send(); what
 * the kernel does not take is copied into a per-connection queue and flushed on EPOLLOUT.
 *
 * Connections are named by (fd, generation): a generation check refuses calls meant for an
 * earlier connection whose fd number the kernel has reused.
 *
 * Linux only, IPv4 only, one instance per process (the prototype's scope; docs/native-transport.md).
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define MAX_FD 65536
#define MAX_EVENTS 512
#define REC_INTS 5
#define READ_CHUNK 65536
#define ACCEPT_PER_TURN 64

/* Record types (keep in step with lib/records.ts). */
enum { REC_OPEN = 1, REC_DATA = 2, REC_END = 3, REC_CLOSE = 4, REC_DRAIN = 5 };
/* Why the native side closed a connection (REC_CLOSE's 4th field). */
enum { NC_ERROR = 1, NC_ENDED = 2 };

enum { ST_FREE = 0, ST_LISTEN = 1, ST_OPEN = 2 };

typedef struct {
  uint8_t state;
  uint8_t reading;     /* EPOLLIN wanted (not paused, peer not ended) */
  uint8_t peer_ended;
  uint8_t ending;      /* end() called: shutdown and close once the queue is empty */
  uint8_t over_hwm;    /* a write left bytes queued: DRAIN when the queue empties */
  uint8_t no_delay;
  int32_t gen;
  char *out;           /* queued output: out[out_off, out_len) */
  size_t out_len, out_off, out_cap;
  uint32_t events;     /* epoll mask currently registered */
} conn_t;

static conn_t *conns;
static int epfd = -1;
static uv_poll_t poller;
static int poller_started;
static napi_ref callback_ref, records_ref, buffer_ref;
static napi_async_context async_ctx;
static int32_t *records;
static size_t records_cap; /* in records */
static size_t nrec;
static char *rbuf;
static size_t rbuf_len, rbuf_off;
static int32_t next_gen = 1;
static napi_env the_env;
static int in_batch;
static int64_t open_count;

static void push(int32_t type, int32_t fd, int32_t gen, int32_t a, int32_t b) {
  int32_t *r = records + nrec * REC_INTS;
  r[0] = type; r[1] = fd; r[2] = gen; r[3] = a; r[4] = b;
  nrec++;
}

static int want(int fd, uint32_t mask) {
  conn_t *c = &conns[fd];
  if (c->events == mask) return 0;
  struct epoll_event ev = { .events = mask, .data = { .u64 = (uint64_t)fd } };
  int rc = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
  if (rc == 0) c->events = mask;
  return rc;
}

static void update_mask(int fd) {
  conn_t *c = &conns[fd];
  uint32_t mask = 0;
  if (c->reading && !c->peer_ended) mask |= EPOLLIN;
  if (c->out_len > c->out_off) mask |= EPOLLOUT;
  want(fd, mask);
}

static void release(int fd) {
  conn_t *c = &conns[fd];
  if (c->state == ST_OPEN) open_count--;
  free(c->out);
  memset(c, 0, sizeof *c);
  close(fd); /* also removes it from the epoll set */
}

/* Native-detected end of a connection: close it and tell JavaScript. */
static void native_close(int fd, int32_t err, int32_t why) {
  int32_t gen = conns[fd].gen;
  release(fd);
  push(REC_CLOSE, fd, gen, err, why);
}

/* Queue bytes the kernel did not take. */
static int enqueue(conn_t *c, const char *data, size_t len) {
  if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + len > c->out_cap) {
    /* compact, then grow */
    if (c->out_off > 0) {
      memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
      c->out_len -= c->out_off;
      c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
      size_t cap = c->out_cap ? c->out_cap : 16384;
      while (cap < c->out_len + len) cap *= 2;
      char *grown = realloc(c->out, cap);
      if (!grown) return -1;
      c->out = grown;
      c->out_cap = cap;
    }
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  return 0;
}

/* Send what is queued; returns 0, or an errno on a fatal error. */
static int flush(int fd) {
  conn_t *c = &conns[fd];
  while (c->out_len > c->out_off) {
    ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  return 0;
}

static void accept_all(int lfd) {
  for (int i = 0; i < ACCEPT_PER_TURN; i++) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or an error the next turn sees again */
    if (fd >= MAX_FD || nrec + 3 > records_cap) {
      close(fd);
      if (fd >= MAX_FD) continue;
      return;
    }
    conn_t *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->state = ST_OPEN;
    c->reading = 1;
    c->gen = next_gen++;
    if (next_gen == INT32_MAX) next_gen = 1;
    c->no_delay = conns[lfd].no_delay;
    if (c->no_delay) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = (uint64_t)fd } };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      memset(c, 0, sizeof *c);
      close(fd);
      continue;
    }
    c->events = EPOLLIN;
    open_count++;
    push(REC_OPEN, fd, c->gen, (int32_t)ntohl(peer.sin_addr.s_addr), ntohs(peer.sin_port));
  }
}

/* Read once into the shared buffer; 1 when the buffer or record array is full. */
static int read_conn(int fd) {
  conn_t *c = &conns[fd];
  if (nrec + 2 > records_cap) return 1;
  size_t room = rbuf_len - rbuf_off;
  if (room < 1024) return 1;
  if (room > READ_CHUNK) room = READ_CHUNK;
  ssize_t n;
  do n = recv(fd, rbuf + rbuf_off, room, MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  if (n > 0) {
    push(REC_DATA, fd, c->gen, (int32_t)rbuf_off, (int32_t)n);
    rbuf_off += (size_t)n;
  } else if (n == 0) {
    c->peer_ended = 1;
    update_mask(fd);
    push(REC_END, fd, c->gen, 0, 0);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    native_close(fd, errno, NC_ERROR);
  }
  return 0;
}

static void writable(int fd) {
  conn_t *c = &conns[fd];
  int err = flush(fd);
  if (err) return native_close(fd, err, NC_ERROR);
  if (c->out_len > c->out_off) return;
  if (c->ending) {
    shutdown(fd, SHUT_WR);
    return native_close(fd, 0, NC_ENDED);
  }
  update_mask(fd);
  if (c->over_hwm) {
    c->over_hwm = 0;
    push(REC_DRAIN, fd, c->gen, 0, 0);
  }
}

static void deliver(void) {
  if (nrec == 0) return;
  napi_env env = the_env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, callback_ref, &cb);
  napi_get_global(env, &recv);
  napi_create_uint32(env, (uint32_t)nrec, &argv[0]);
  napi_create_uint32(env, (uint32_t)rbuf_off, &argv[1]);
  in_batch = 1;
  napi_status st = napi_make_callback(env, async_ctx, recv, cb, 2, argv, &result);
  in_batch = 0;
  nrec = 0;
  rbuf_off = 0;
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)handle; (void)status; (void)events;
  struct epoll_event evs[MAX_EVENTS];
  int n;
  do n = epoll_wait(epfd, evs, MAX_EVENTS, 0); while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; i++) {
    int fd = (int)evs[i].data.u64;
    conn_t *c = &conns[fd];
    if (c->state == ST_LISTEN) {
      accept_all(fd);
      continue;
    }
    if (c->state != ST_OPEN) continue;
    uint32_t e = evs[i].events;
    if (e & EPOLLOUT) {
      writable(fd);
      if (c->state != ST_OPEN) continue;
    }
    if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      if (!c->reading || c->peer_ended) {
        if (e & (EPOLLERR | EPOLLHUP)) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          native_close(fd, err ? err : ECONNRESET, NC_ERROR);
        }
        continue;
      }
      if (read_conn(fd)) break; /* full: the rest stay ready (level-triggered) for the next turn */
    }
  }
  deliver();
}

/* ---- JavaScript-facing functions ---- */

#define ARGS(count)                                              \
  size_t argc = count;                                           \
  napi_value argv[count];                                        \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static int32_t int_arg(napi_env env, napi_value v) {
  int32_t out = 0;
  napi_get_value_int32(env, v, &out);
  return out;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static conn_t *lookup(napi_env env, napi_value vfd, napi_value vgen, int *fd_out) {
  int fd = int_arg(env, vfd);
  int32_t gen = int_arg(env, vgen);
  if (fd < 0 || fd >= MAX_FD) return NULL;
  conn_t *c = &conns[fd];
  if (c->state != ST_OPEN || c->gen != gen) return NULL;
  *fd_out = fd;
  return c;
}

/* init(callback, records: Int32Array, buffer: Buffer) */
static napi_value js_init(napi_env env, napi_callback_info info) {
  ARGS(3);
  if (epfd >= 0) {
    napi_throw_error(env, NULL, "native transport: init() may be called once per process");
    return NULL;
  }
  the_env = env;
  napi_create_reference(env, argv[0], 1, &callback_ref);
  napi_create_reference(env, argv[1], 1, &records_ref);
  napi_create_reference(env, argv[2], 1, &buffer_ref);
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL);
  records = data;
  records_cap = length / REC_INTS;
  napi_get_buffer_info(env, argv[2], &data, &rbuf_len);
  rbuf = data;
  conns = calloc(MAX_FD, sizeof *conns);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  napi_value name;
  napi_create_string_utf8(env, "SwitchboardNativeTransport", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &async_ctx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &poller, epfd);
  return make_int(env, epfd);
}

/* listen(port, backlog, noDelay, host: uint32 IPv4) -> [fd, port] or -errno */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(4);
  int port = int_arg(env, argv[0]), backlog = int_arg(env, argv[1]);
  bool no_delay = false;
  napi_get_value_bool(env, argv[2], &no_delay);
  uint32_t host = 0;
  napi_get_value_uint32(env, argv[3], &host);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = { .s_addr = htonl(host) } };
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, backlog) != 0 || fd >= MAX_FD) {
    int err = fd >= MAX_FD ? EMFILE : errno;
    close(fd);
    return make_int(env, -err);
  }
  socklen_t alen = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &alen);
  conn_t *c = &conns[fd];
  memset(c, 0, sizeof *c);
  c->state = ST_LISTEN;
  c->no_delay = no_delay;
  struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = (uint64_t)fd } };
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  c->events = EPOLLIN;
  if (!poller_started) {
    uv_poll_start(&poller, UV_READABLE, on_poll);
    poller_started = 1;
  }
  return make_int(env, (int64_t)fd * 65536 + ntohs(addr.sin_port));
}

/* closeListener(fd) */
static napi_value js_close_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = int_arg(env, argv[0]);
  if (fd >= 0 && fd < MAX_FD && conns[fd].state == ST_LISTEN) {
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);
  }
  return NULL;
}

/*
 * write(fd, gen, bytes) -> queued bytes after the write (>= 0), or -errno (the connection is
 * then closed by the caller), or -1000000 when (fd, gen) is no longer open.
 */
static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  conn_t *c = lookup(env, argv[0], argv[1], &fd);
  if (!c) return make_int(env, -1000000);
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, argv[2], &type, &len, &data, &ab, &off);
  }
  size_t queued = c->out_len - c->out_off;
  if (queued == 0) {
    while (len > 0) {
      ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return make_int(env, -errno);
      }
      data = (char *)data + n;
      len -= (size_t)n;
    }
  }
  if (len > 0) {
    if (enqueue(c, data, len) != 0) return make_int(env, -ENOMEM);
    update_mask(fd);
  }
  queued = c->out_len - c->out_off;
  if (queued > 0) c->over_hwm = 1; /* DRAIN when it empties; JS forwards it only after a false write */
  return make_int(env, (int64_t)queued);
}

/* queued(fd, gen) -> bytes queued now, or -1 */
static napi_value js_queued(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  conn_t *c = lookup(env, argv[0], argv[1], &fd);
  return make_int(env, c ? (int64_t)(c->out_len - c->out_off) : -1);
}

/* setReading(fd, gen, on) */
static napi_value js_set_reading(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  conn_t *c = lookup(env, argv[0], argv[1], &fd);
  if (!c) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[2], &on);
  c->reading = on;
  update_mask(fd);
  return NULL;
}

/*
 * end(fd, gen) -> 1 when closed now (queue empty), 0 when it closes after the queue drains
 * (a REC_CLOSE with NC_ENDED follows), -1 when not open.
 */
static napi_value js_end(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  conn_t *c = lookup(env, argv[0], argv[1], &fd);
  if (!c) return make_int(env, -1);
  if (c->out_len > c->out_off) {
    c->ending = 1;
    c->reading = 0; /* what the peer sends after our end is discarded by the close */
    update_mask(fd);
    return make_int(env, 0);
  }
  shutdown(fd, SHUT_WR);
  release(fd);
  return make_int(env, 1);
}

/* destroy(fd, gen): close at once; with reset, an RST instead of a FIN */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  conn_t *c = lookup(env, argv[0], argv[1], &fd);
  if (!c) return NULL;
  bool reset = false;
  napi_get_value_bool(env, argv[2], &reset);
  if (reset) {
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  release(fd);
  return NULL;
}

/* openCount() -> connections open */
static napi_value js_open_count(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, open_count);
}

/* stop(): the poll handle stops so the process may exit once nothing else is pending */
static napi_value js_stop(napi_env env, napi_callback_info info) {
  (void)info;
  if (poller_started) {
    uv_poll_stop(&poller);
    poller_started = 0;
  }
  return NULL;
}

/* start(): watch again after stop() (a new listen() also starts it) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  (void)info;
  if (!poller_started && epfd >= 0) {
    uv_poll_start(&poller, UV_READABLE, on_poll);
    poller_started = 1;
  }
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL },
    { "listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL },
    { "closeListener", NULL, js_close_listener, NULL, NULL, NULL, napi_default, NULL },
    { "write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL },
    { "queued", NULL, js_queued, NULL, NULL, NULL, napi_default, NULL },
    { "setReading", NULL, js_set_reading, NULL, NULL, NULL, napi_default, NULL },
    { "end", NULL, js_end, NULL, NULL, NULL, napi_default, NULL },
    { "destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL },
    { "openCount", NULL, js_open_count, NULL, NULL, NULL, napi_default, NULL },
    { "stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL },
    { "start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
