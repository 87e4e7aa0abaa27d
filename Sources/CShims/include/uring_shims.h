// Thin wrappers over liburing's `static inline` helpers and the socket syscalls the
// reactor needs. Owned by the Reactor module.
#ifndef CSHIMS_URING_H
#define CSHIMS_URING_H
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/// Returns 1 when this kernel lets the process set up an io_uring instance, 0 otherwise.
int cshims_uring_available(void);
#endif
