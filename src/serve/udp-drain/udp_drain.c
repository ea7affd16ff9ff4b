/*
 * A UDP listener's socket drained by a thread of its own, in C (serve/udp-drain.ts loads it).
 * After a restart V8 is cold, and a burst (syslog-ng's loggen sends twice its rate in its first
 * second) overflowed the kernel's buffer before the JS reader thread took the datagrams off: this
 * thread does nothing but recvmmsg, stamp and queue, at a fraction of a microsecond a datagram,
 * so the kernel's buffer stays empty while the main thread catches up.
 *
 * Queued records use the JS reader thread's layout (serve/udp-reader-protocol.ts):
 *   u32 LE raw length | u16 LE peer port | u8 address length | f64 LE receive time | address | raw
 * except that the time is CLOCK_MONOTONIC in microseconds, rounded up; JS adds the wall clock's
 * offset (chain/clock.ts), the same clock its own stamps use. Records wait in chunks, in order,
 * up to a byte limit; past it a datagram is dropped and counted (the JS reader's READER_DROPS).
 */
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Datagrams per recvmmsg: one wake-up takes a burst's worth. */
#define BATCH 64
/* The largest UDP payload (IPv4 65,507; IPv6 without jumbograms 65,527), rounded up. */
#define MAX_DATAGRAM 65536
#define RECORD_HEAD 15
#define CHUNK_BYTES (256 * 1024)

typedef struct chunk {
  struct chunk *next;
  size_t used;
  uint32_t count;
  unsigned char data[];
} chunk_t;

typedef struct {
  int fd;
  int stopfd;
  pthread_t thread;
  int running;
  /* Set before the eventfd is written: a thread busy with a flood sees it between batches. */
  atomic_int stopping;
  pthread_mutex_t mu;
  /* Oldest first; the last is the one being filled. */
  chunk_t *first, *last;
  size_t queued;
  size_t limit;
  uint64_t dropped;
  int signaled;
  char error[160];
  napi_threadsafe_function wake;
  /* The receive buffers, here rather than on the thread's stack. */
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage peers[BATCH];
  unsigned char *bufs;
} drain_t;

/* The largest record (a 64 KiB datagram from the longest address) fits in one chunk. */
_Static_assert(RECORD_HEAD + INET6_ADDRSTRLEN + MAX_DATAGRAM <= CHUNK_BYTES, "a record must fit in a chunk");

static chunk_t *new_chunk(void) {
  chunk_t *c = malloc(sizeof(chunk_t) + CHUNK_BYTES);
  if (c) { c->next = NULL; c->used = 0; c->count = 0; }
  return c;
}

static void put_u32le(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

/* Appends one record; the caller holds mu. Returns 0 when the datagram is dropped. */
static int queue_record(drain_t *d, const unsigned char *raw, uint32_t len, const char *addr, uint8_t alen, uint16_t port, double at) {
  size_t need = RECORD_HEAD + alen + len;
  if (d->queued + need > d->limit) { d->dropped++; return 0; }
  chunk_t *c = d->last;
  if (!c || c->used + need > CHUNK_BYTES) {
    chunk_t *n = new_chunk();
    if (!n) { d->dropped++; return 0; }
    if (c) c->next = n; else d->first = n;
    d->last = c = n;
  }
  unsigned char *p = c->data + c->used;
  put_u32le(p, len);
  p[4] = port & 0xff; p[5] = port >> 8;
  p[6] = alen;
  memcpy(p + 7, &at, 8); /* x86-64 and arm64 are little-endian, as the f64 LE field wants */
  memcpy(p + RECORD_HEAD, addr, alen);
  memcpy(p + RECORD_HEAD + alen, raw, len);
  c->used += need;
  c->count++;
  d->queued += need;
  return 1;
}

static double monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  /* Rounded up: a stamp is never earlier than the moment the datagrams were read. */
  return (double)ts.tv_sec * 1e6 + (double)((ts.tv_nsec + 999) / 1000);
}

static void peer_of(const struct sockaddr_storage *ss, char *out, uint8_t *alen, uint16_t *port) {
  out[0] = 0;
  *port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, out, INET6_ADDRSTRLEN);
    *port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, out, INET6_ADDRSTRLEN);
    *port = ntohs(a->sin6_port);
  }
  *alen = (uint8_t)strlen(out);
}

static void *drain_main(void *arg) {
  drain_t *d = arg;
  struct pollfd pf[2] = { { .fd = d->fd, .events = POLLIN }, { .fd = d->stopfd, .events = POLLIN } };
  while (!atomic_load(&d->stopping)) {
    for (int i = 0; i < BATCH; i++) {
      d->iov[i].iov_base = d->bufs + (size_t)i * MAX_DATAGRAM;
      d->iov[i].iov_len = MAX_DATAGRAM;
      memset(&d->msgs[i].msg_hdr, 0, sizeof(d->msgs[i].msg_hdr));
      d->msgs[i].msg_hdr.msg_iov = &d->iov[i];
      d->msgs[i].msg_hdr.msg_iovlen = 1;
      d->msgs[i].msg_hdr.msg_name = &d->peers[i];
      d->msgs[i].msg_hdr.msg_namelen = sizeof(d->peers[i]);
    }
    int n = recvmmsg(d->fd, d->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        pthread_mutex_lock(&d->mu);
        snprintf(d->error, sizeof d->error, "recvmmsg: %s", strerror(errno));
        pthread_mutex_unlock(&d->mu);
        if (errno == EBADF || errno == ENOTSOCK) break;
      }
      if (poll(pf, 2, -1) < 0 && errno != EINTR) break;
      if (pf[1].revents) break;
      continue;
    }
    double at = monotonic_us();
    int wake = 0;
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < n; i++) {
      char addr[INET6_ADDRSTRLEN];
      uint8_t alen;
      uint16_t port;
      peer_of(&d->peers[i], addr, &alen, &port);
      queue_record(d, d->bufs + (size_t)i * MAX_DATAGRAM, d->msgs[i].msg_len, addr, alen, port, at);
    }
    if (d->queued > 0 && !d->signaled) { d->signaled = 1; wake = 1; }
    pthread_mutex_unlock(&d->mu);
    if (wake) napi_call_threadsafe_function(d->wake, NULL, napi_tsfn_nonblocking);
  }
  return NULL;
}

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static const char *errno_name(int e) {
  switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    default: return "EIO";
  }
}

/* Wakes the thread through its eventfd and waits for it to end. */
static void stop_thread(drain_t *d) {
  if (!d->running) return;
  atomic_store(&d->stopping, 1);
  uint64_t one = 1;
  if (write(d->stopfd, &one, sizeof one) < 0) { /* an eventfd write fails only on overflow, never here */ }
  pthread_join(d->thread, NULL);
  d->running = 0;
}

static void drain_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  drain_t *d = data;
  stop_thread(d);
  if (d->fd >= 0) close(d->fd);
  if (d->stopfd >= 0) close(d->stopfd);
  for (chunk_t *c = d->first; c;) { chunk_t *n = c->next; free(c); c = n; }
  free(d->bufs);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static void call_wake(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context; (void)data;
  if (!env || !js_cb) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 0, NULL, NULL);
}

#define CHECK(call) do { if ((call) != napi_ok) return throw_error(env, "ERR_IMMUTALOG_UDP", #call " failed"); } while (0)

/*
 * open(host, port, recvBufferSize, limitBytes, onReadable) -> drain handle; binds and starts the
 * thread. Throws `bind CODE host:port` as Node's dgram does.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_error(env, "ERR_IMMUTALOG_UDP", "open: expected host, port, recvBufferSize, limitBytes, onReadable");
  char host[64];
  size_t hl;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl));
  uint32_t port, rcvbuf, limit;
  CHECK(napi_get_value_uint32(env, argv[1], &port));
  CHECK(napi_get_value_uint32(env, argv[2], &rcvbuf));
  CHECK(napi_get_value_uint32(env, argv[3], &limit));
  if (port > 65535) return throw_error(env, "ERR_IMMUTALOG_UDP", "open: port out of range");

  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  int family;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    family = AF_INET; a4->sin_family = AF_INET; a4->sin_port = htons(port); sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    family = AF_INET6; a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); sl = sizeof *a6;
  } else {
    return throw_error(env, "ERR_IMMUTALOG_UDP", "open: expected an IPv4 or IPv6 address");
  }
  char msg[160];
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) { snprintf(msg, sizeof msg, "socket %s %s:%u", errno_name(errno), host, port); return throw_error(env, errno_name(errno), msg); }
  if (family == AF_INET6) {
    /* As Node's dgram with ipv6Only: only the wildcard `::` also takes IPv4. */
    int only = strcmp(host, "::") != 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
    int e = errno;
    close(fd);
    snprintf(msg, sizeof msg, "bind %s %s:%u", errno_name(e), host, port);
    return throw_error(env, errno_name(e), msg);
  }
  int want = (int)rcvbuf;
  if (want > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);

  drain_t *d = calloc(1, sizeof *d);
  if (!d) { close(fd); return throw_error(env, "ERR_IMMUTALOG_UDP", "open: out of memory"); }
  d->fd = fd;
  d->limit = limit;
  d->stopfd = eventfd(0, EFD_CLOEXEC);
  d->bufs = malloc((size_t)BATCH * MAX_DATAGRAM);
  pthread_mutex_init(&d->mu, NULL);
  if (d->stopfd < 0 || !d->bufs) { drain_finalize(env, d, NULL); return throw_error(env, "ERR_IMMUTALOG_UDP", "open: out of resources"); }

  napi_value name;
  CHECK(napi_create_string_utf8(env, "immutalog-udp-drain", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, NULL, call_wake, &d->wake) != napi_ok) {
    drain_finalize(env, d, NULL);
    return throw_error(env, "ERR_IMMUTALOG_UDP", "open: cannot create the wake-up call");
  }
  /* The listener's own handles keep the process alive, not this. */
  napi_unref_threadsafe_function(env, d->wake);
  if (pthread_create(&d->thread, NULL, drain_main, d) != 0) {
    napi_release_threadsafe_function(d->wake, napi_tsfn_abort);
    drain_finalize(env, d, NULL);
    return throw_error(env, "ERR_IMMUTALOG_UDP", "open: cannot start the drain thread");
  }
  d->running = 1;
  napi_value handle;
  CHECK(napi_create_external(env, d, drain_finalize, NULL, &handle));
  return handle;
}

/* The drain handle that is a call's only argument, or NULL with a JS error thrown. */
static drain_t *drain_arg(napi_env env, napi_callback_info info, const char *what) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s: expected a drain", what);
    napi_throw_error(env, "ERR_IMMUTALOG_UDP", msg);
    return NULL;
  }
  return p;
}

/* address(handle) -> { address, family, port, grantedBytes } */
static napi_value js_address(napi_env env, napi_callback_info info) {
  drain_t *d = drain_arg(env, info, "address");
  if (!d) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(d->fd, (struct sockaddr *)&ss, &sl);
  char addr[INET6_ADDRSTRLEN];
  uint8_t alen;
  uint16_t port;
  peer_of(&ss, addr, &alen, &port);
  int granted = 0;
  socklen_t gl = sizeof granted;
  getsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &granted, &gl);
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_create_string_latin1(env, addr, alen, &v));
  CHECK(napi_set_named_property(env, o, "address", v));
  CHECK(napi_create_string_utf8(env, ss.ss_family == AF_INET6 ? "IPv6" : "IPv4", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, o, "family", v));
  CHECK(napi_create_uint32(env, port, &v));
  CHECK(napi_set_named_property(env, o, "port", v));
  /* Linux reports twice the size asked for: the other half is its bookkeeping, socket(7). */
  CHECK(napi_create_uint32(env, (uint32_t)(granted / 2), &v));
  CHECK(napi_set_named_property(env, o, "grantedBytes", v));
  return o;
}

/*
 * take(handle, out) -> [bytes, count]: whole records, oldest first, copied into `out`
 * (at least CHUNK_BYTES long). An empty take re-arms the wake-up call.
 */
static napi_value js_take(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (argc == 2) napi_get_value_external(env, argv[0], &p);
  drain_t *d = p;
  void *data = NULL;
  size_t outlen = 0;
  if (!d || napi_get_buffer_info(env, argv[1], &data, &outlen) != napi_ok) return throw_error(env, "ERR_IMMUTALOG_UDP", "take: expected a drain and a Buffer");
  size_t bytes = 0;
  uint32_t count = 0;
  pthread_mutex_lock(&d->mu);
  chunk_t *c = d->first;
  if (c && c->used > 0) {
    if (c->used > outlen) {
      pthread_mutex_unlock(&d->mu);
      return throw_error(env, "ERR_IMMUTALOG_UDP", "take: the buffer is smaller than a queued chunk");
    }
    memcpy(data, c->data, c->used);
    bytes = c->used;
    count = c->count;
    d->queued -= c->used;
    if (c->next) {
      d->first = c->next;
      free(c);
    } else {
      c->used = 0;
      c->count = 0;
    }
  }
  if (bytes == 0) d->signaled = 0;
  pthread_mutex_unlock(&d->mu);
  napi_value r, v;
  CHECK(napi_create_array_with_length(env, 2, &r));
  CHECK(napi_create_uint32(env, (uint32_t)bytes, &v));
  CHECK(napi_set_element(env, r, 0, v));
  CHECK(napi_create_uint32(env, count, &v));
  CHECK(napi_set_element(env, r, 1, v));
  return r;
}

/* close(handle): stops the thread and closes the socket; what is queued stays for take(). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  drain_t *d = drain_arg(env, info, "close");
  if (!d) return NULL;
  if (d->running) {
    stop_thread(d);
    napi_release_threadsafe_function(d->wake, napi_tsfn_release);
  }
  if (d->fd >= 0) { close(d->fd); d->fd = -1; }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* dropped(handle): datagrams dropped so far because the queue held its limit. */
static napi_value js_dropped(napi_env env, napi_callback_info info) {
  drain_t *d = drain_arg(env, info, "dropped");
  if (!d) return NULL;
  pthread_mutex_lock(&d->mu);
  double n = (double)d->dropped;
  pthread_mutex_unlock(&d->mu);
  napi_value v;
  CHECK(napi_create_double(env, n, &v));
  return v;
}

/* The last error the thread met (recvmmsg), or "" ; reading it clears it. */
static napi_value js_error(napi_env env, napi_callback_info info) {
  drain_t *d = drain_arg(env, info, "error");
  if (!d) return NULL;
  char e[sizeof d->error];
  pthread_mutex_lock(&d->mu);
  memcpy(e, d->error, sizeof e);
  d->error[0] = 0;
  pthread_mutex_unlock(&d->mu);
  napi_value s;
  CHECK(napi_create_string_utf8(env, e, NAPI_AUTO_LENGTH, &s));
  return s;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL },
    { "address", NULL, js_address, NULL, NULL, NULL, napi_default, NULL },
    { "take", NULL, js_take, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "error", NULL, js_error, NULL, NULL, NULL, napi_default, NULL },
    { "dropped", NULL, js_dropped, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_value n;
  napi_create_uint32(env, CHUNK_BYTES, &n);
  napi_set_named_property(env, exports, "CHUNK_BYTES", n);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
