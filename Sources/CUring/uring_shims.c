#include <liburing.h>
#include "uring_shims.h"
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

_Static_assert(CSHIMS_CQE_F_BUFFER == IORING_CQE_F_BUFFER, "flag mismatch");
_Static_assert(CSHIMS_CQE_F_MORE == IORING_CQE_F_MORE, "flag mismatch");
_Static_assert(CSHIMS_CQE_BUFFER_SHIFT == IORING_CQE_BUFFER_SHIFT, "shift mismatch");
#include <sys/mman.h>
#include <sys/syscall.h>

int cshims_uring_available(void) {
    struct io_uring ring;
    if (io_uring_queue_init(2, &ring, 0) != 0) return 0;
    io_uring_queue_exit(&ring);
    return 1;
}

struct cshims_uring {
    struct io_uring ring;
    unsigned flags;
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    unsigned char *bufs;
    unsigned buf_count;
    unsigned buf_size;
    unsigned pending_recycle;
};

enum { BGID = 0 };

static int init_ring(cshims_uring *u, unsigned entries) {
    // Preferred: one issuer thread, task work deferred to our wait (fewer interrupts).
    unsigned tries[] = {
        IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_R_DISABLED,
    };
    int ret = -EINVAL;
    for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        ret = io_uring_queue_init_params(entries, &u->ring, &p);
        if (ret == 0) { u->flags = p.flags; return 0; }
    }
    return ret;
}

cshims_uring *cshims_uring_create(unsigned entries, unsigned buf_count, unsigned buf_size, int *err) {
    cshims_uring *u = calloc(1, sizeof *u);
    if (!u) { *err = -ENOMEM; return NULL; }
    int ret = init_ring(u, entries);
    if (ret != 0) { free(u); *err = ret; return NULL; }
    u->buf_count = buf_count;
    u->buf_size = buf_size;
    u->br_bytes = (size_t)buf_count * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED) { ret = -errno; goto fail_ring; }
    u->br = br;
    u->bufs = mmap(NULL, (size_t)buf_count * buf_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (u->bufs == MAP_FAILED) { ret = -errno; goto fail_br; }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = buf_count;
    reg.bgid = BGID;
    ret = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (ret != 0) goto fail_bufs;
    io_uring_buf_ring_init(u->br);
    int mask = io_uring_buf_ring_mask(buf_count);
    for (unsigned i = 0; i < buf_count; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * buf_size, buf_size, i, mask, i);
    io_uring_buf_ring_advance(u->br, buf_count);
    return u;
fail_bufs:
    munmap(u->bufs, (size_t)buf_count * buf_size);
fail_br:
    munmap(u->br, u->br_bytes);
fail_ring:
    io_uring_queue_exit(&u->ring);
    free(u);
    *err = ret;
    return NULL;
}

void cshims_uring_destroy(cshims_uring *u) {
    if (!u) return;
    io_uring_queue_exit(&u->ring);
    munmap(u->bufs, (size_t)u->buf_count * u->buf_size);
    munmap(u->br, u->br_bytes);
    free(u);
}

int cshims_uring_enable(cshims_uring *u) {
    // liburing 2.3 declares io_uring_enable_rings but does not export it.
    int ret = (int)syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return ret < 0 ? -errno : 0;
}
unsigned cshims_uring_setup_flags(const cshims_uring *u) { return u->flags; }

static struct io_uring_sqe *sqe_for(cshims_uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        // SQ full: flush it to the kernel and try again.
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

int cshims_uring_prep_accept_multishot(cshims_uring *u, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_prep_recv_multishot(cshims_uring *u, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_prep_send(cshims_uring *u, int fd, const void *buf, size_t len, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_prep_poll(cshims_uring *u, int fd, unsigned mask, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, mask);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_prep_read(cshims_uring *u, int fd, void *buf, unsigned len, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_prep_cancel(cshims_uring *u, uint64_t target, uint64_t user_data) {
    struct io_uring_sqe *sqe = sqe_for(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int cshims_uring_submit(cshims_uring *u) {
    int ret = io_uring_submit(&u->ring);
    return ret < 0 ? ret : 0;
}

unsigned cshims_uring_unsubmitted(cshims_uring *u) { return io_uring_sq_ready(&u->ring); }

int cshims_uring_submit_and_wait(cshims_uring *u, int64_t timeout_ns) {
    if (u->pending_recycle) {
        io_uring_buf_ring_advance(u->br, u->pending_recycle);
        u->pending_recycle = 0;
    }
    int ret;
    if (timeout_ns == 0) {
        ret = io_uring_submit_and_get_events(&u->ring);
    } else {
        struct io_uring_cqe *cqe = NULL;
        struct __kernel_timespec ts;
        struct __kernel_timespec *tsp = NULL;
        if (timeout_ns > 0) {
            ts.tv_sec = timeout_ns / 1000000000LL;
            ts.tv_nsec = timeout_ns % 1000000000LL;
            tsp = &ts;
        }
        ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    }
    if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY) return 0;
    return ret < 0 ? ret : 0;
}

unsigned cshims_uring_cq_overflowed(cshims_uring *u) {
    unsigned flags = IO_URING_READ_ONCE(*u->ring.sq.kflags);
    return (flags & IORING_SQ_CQ_OVERFLOW) != 0 || IO_URING_READ_ONCE(*u->ring.cq.koverflow) != 0;
}

unsigned cshims_uring_reap(cshims_uring *u, cshims_cqe *out, unsigned max) {
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (n == max) break;
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

void *cshims_uring_buffer(cshims_uring *u, unsigned bid) { return u->bufs + (size_t)bid * u->buf_size; }
unsigned cshims_uring_buffer_size(const cshims_uring *u) { return u->buf_size; }

void cshims_uring_recycle_buffer(cshims_uring *u, unsigned bid) {
    io_uring_buf_ring_add(u->br, cshims_uring_buffer(u, bid), u->buf_size, bid,
                          io_uring_buf_ring_mask(u->buf_count), u->pending_recycle);
    u->pending_recycle++;
    // Never let unpublished buffers exceed the ring (offset would wrap onto live entries).
    if (u->pending_recycle == u->buf_count) {
        io_uring_buf_ring_advance(u->br, u->pending_recycle);
        u->pending_recycle = 0;
    }
}

// MARK: epoll

int cshims_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cshims_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int cshims_epoll_wait(int epfd, cshims_epoll_event *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].data = evs[i].data.u64;
        out[i].events = evs[i].events;
    }
    return n;
}

// MARK: sockets

int cshims_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cshims_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        if (write(fd, &one, sizeof one) >= 0) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : -errno; // counter saturated: already signalled
    }
}

int cshims_eventfd_drain(int fd) {
    uint64_t v;
    for (;;) {
        if (read(fd, &v, sizeof v) >= 0) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : -errno;
    }
}

/* One listening socket: SO_REUSEADDR always, SO_REUSEPORT when several loops share the port. */
static int listen_socket(const struct sockaddr *addr, socklen_t len, int backlog, int reuse_port) {
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) goto fail;
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
    if (bind(fd, addr, len) < 0) goto fail;
    if (listen(fd, backlog) < 0) goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int cshims_listen(const struct sockaddr *addr, socklen_t len, int backlog) {
    return listen_socket(addr, len, backlog, 0);
}

int cshims_accept(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    for (;;) {
        *len = sizeof *addr;
        int c = accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) return c;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return -errno;
    }
}

int cshims_connect(const struct sockaddr *addr, socklen_t len, int *out) {
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    *out = fd;
    if (connect(fd, addr, len) == 0) return 0;
    // EINTR on a non-blocking connect means it continues asynchronously.
    if (errno == EINPROGRESS || errno == EINTR) return -EINPROGRESS;
    return -errno;
}

int cshims_connect_from(const struct sockaddr *addr, socklen_t len, const struct sockaddr *local,
                        socklen_t local_len, int *out) {
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    *out = fd;
    // Defer the port choice to connect(), which picks it per 4-tuple: without this, bind() reserves a port per
    // source address for every destination and a load generator runs out after ~28k connections per address.
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, local, local_len) < 0) return -errno;
    if (connect(fd, addr, len) == 0) return 0;
    if (errno == EINPROGRESS || errno == EINTR) return -EINPROGRESS;
    return -errno;
}

int cshims_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

int cshims_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ? -errno : 0;
}

int cshims_set_keepalive(int fd, int idle_seconds, int interval_seconds, int count) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof idle_seconds) < 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_seconds, sizeof interval_seconds) < 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) < 0) return -errno;
    /* Unacknowledged data counts too: a peer that vanished while we were sending is noticed in the same time. */
    unsigned int user_timeout_ms = (unsigned int)(idle_seconds + interval_seconds * count) * 1000u;
    if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) < 0) return -errno;
    return 0;
}

int cshims_set_linger_zero(int fd) {
    struct linger l = {1, 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0 ? -errno : 0;
}

int cshims_sockname(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return getsockname(fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

int cshims_peername(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return getpeername(fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

ssize_t cshims_send(int fd, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t cshims_recv(int fd, void *buf, size_t len) {
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

int cshims_shutdown(int fd, int how) { return shutdown(fd, how) < 0 ? -errno : 0; }
int cshims_close(int fd) { return close(fd) < 0 && errno != EINTR ? -errno : 0; }

size_t cshims_malloc_usable_size(void *pointer) { return malloc_usable_size(pointer); }

int cshims_listen_reuseport(const struct sockaddr *addr, socklen_t len, int backlog) {
    return listen_socket(addr, len, backlog, 1);
}
