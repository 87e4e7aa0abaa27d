// Thin wrappers over liburing's `static inline` helpers and the socket syscalls the
// reactor needs. Owned by the Reactor module. Every function returns a negative errno
// on failure (never sets `errno` for Swift to read), so callers get typed errors directly.
#ifndef CSHIMS_URING_H
#define CSHIMS_URING_H
// liburing.h is deliberately NOT included here: it defines _GNU_SOURCE/_XOPEN_SOURCE before system
// headers, which makes this module's copies of them clash with Glibc's in Swift.
#include <sys/epoll.h>
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

/// Returns 1 when this kernel lets the process set up an io_uring instance, 0 otherwise.
int cshims_uring_available(void);

// MARK: io_uring

/// CQE flag bits and constants mirrored from <liburing/io_uring.h>.
enum {
    CSHIMS_CQE_F_BUFFER = 1U << 0,
    CSHIMS_CQE_F_MORE = 1U << 1,
    CSHIMS_CQE_BUFFER_SHIFT = 16,
};

/// Opaque io_uring instance plus one provided-buffer ring (buffer group 0).
typedef struct cshims_uring cshims_uring;

/// A completion copied out of the CQ ring (so Swift never touches the kernel layout).
typedef struct cshims_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
} cshims_cqe;

/// Creates a ring with `entries` SQEs (created disabled: call `cshims_uring_enable` on the
/// thread that will submit) and a provided-buffer ring of `buf_count` (power of two) buffers
/// of `buf_size` bytes. Returns NULL and stores -errno in `*err` on failure.
cshims_uring *cshims_uring_create(unsigned entries, unsigned buf_count, unsigned buf_size, int *err);
void cshims_uring_destroy(cshims_uring *u);
/// Enables a ring created disabled; the calling thread becomes its single issuer.
int cshims_uring_enable(cshims_uring *u);
/// Setup flags that were accepted by the kernel (for diagnostics).
unsigned cshims_uring_setup_flags(const cshims_uring *u);

int cshims_uring_prep_accept_multishot(cshims_uring *u, int fd, uint64_t user_data);
int cshims_uring_prep_recv_multishot(cshims_uring *u, int fd, uint64_t user_data);
int cshims_uring_prep_send(cshims_uring *u, int fd, const void *buf, size_t len, uint64_t user_data);
int cshims_uring_prep_poll(cshims_uring *u, int fd, unsigned mask, uint64_t user_data);
int cshims_uring_prep_read(cshims_uring *u, int fd, void *buf, unsigned len, uint64_t user_data);
int cshims_uring_prep_cancel(cshims_uring *u, uint64_t target, uint64_t user_data);

/// Submits queued SQEs and waits for at least one completion for at most `timeout_ns`
/// (-1: no limit, 0: do not wait). Returns 0 (also on timeout) or -errno.
int cshims_uring_submit_and_wait(cshims_uring *u, int64_t timeout_ns);
/// Hands the prepared SQEs to the kernel without waiting (0 or -errno).
int cshims_uring_submit(cshims_uring *u);
/// Prepared SQEs the kernel has not consumed yet (0: every prepared request was submitted).
unsigned cshims_uring_unsubmitted(cshims_uring *u);
/// Copies up to `max` completions into `out` and marks them seen. Returns the count.
unsigned cshims_uring_reap(cshims_uring *u, cshims_cqe *out, unsigned max);
/// Address of provided buffer `bid`.
void *cshims_uring_buffer(cshims_uring *u, unsigned bid);
unsigned cshims_uring_buffer_size(const cshims_uring *u);
/// Hands buffer `bid` back to the kernel (published on the next submit).
void cshims_uring_recycle_buffer(cshims_uring *u, unsigned bid);

// MARK: epoll

/// Unpacked copy of `struct epoll_event` (which is packed on x86-64).
typedef struct cshims_epoll_event {
    uint64_t data;
    uint32_t events;
} cshims_epoll_event;

int cshims_epoll_create(void);
int cshims_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits like epoll_wait (EINTR is reported as 0 events). Returns count or -errno.
int cshims_epoll_wait(int epfd, cshims_epoll_event *out, int max, int timeout_ms);

// MARK: sockets (all non-blocking, close-on-exec)

int cshims_eventfd(void);
int cshims_eventfd_signal(int fd);
int cshims_eventfd_drain(int fd);
/// socket + SO_REUSEADDR + bind + listen. Returns fd or -errno.
int cshims_listen(const struct sockaddr *addr, socklen_t len, int backlog);
/// accept4 (non-blocking, cloexec). Returns fd or -errno (-EAGAIN when none pending).
int cshims_accept(int fd, struct sockaddr_storage *addr, socklen_t *len);
/// socket + connect. Returns fd in `*fd`; result 0 (connected), -EINPROGRESS, or -errno.
int cshims_connect(const struct sockaddr *addr, socklen_t len, int *fd);
/// Like `cshims_connect`, but binds the socket to `local` first (port 0: chosen at connect time per 4-tuple).
int cshims_connect_from(const struct sockaddr *addr, socklen_t len, const struct sockaddr *local,
                        socklen_t local_len, int *fd);
int cshims_socket_error(int fd);
int cshims_set_nodelay(int fd);
/// SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, and TCP_USER_TIMEOUT to match. Returns 0 or -errno.
int cshims_set_keepalive(int fd, int idle_seconds, int interval_seconds, int count);
int cshims_set_linger_zero(int fd);
int cshims_sockname(int fd, struct sockaddr_storage *addr, socklen_t *len);
int cshims_peername(int fd, struct sockaddr_storage *addr, socklen_t *len);
/// send with MSG_NOSIGNAL, EINTR retried. Returns bytes or -errno.
ssize_t cshims_send(int fd, const void *buf, size_t len);
/// recv, EINTR retried. Returns bytes (0 = EOF) or -errno.
ssize_t cshims_recv(int fd, void *buf, size_t len);
int cshims_shutdown(int fd, int how);
int cshims_close(int fd);

/// malloc_usable_size; lets tests account for the memory a connection holds.
size_t cshims_malloc_usable_size(void *pointer);

/// Like `cshims_listen`, with SO_REUSEPORT as well: several sockets (one per event loop) listen on the same
/// address and the kernel spreads incoming connections over them. Returns fd or -errno.
int cshims_listen_reuseport(const struct sockaddr *addr, socklen_t len, int backlog);
#endif
