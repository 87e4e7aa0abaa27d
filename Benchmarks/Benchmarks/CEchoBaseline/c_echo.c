#define _GNU_SOURCE
#include "CEchoBaseline.h"
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct c_echo_server {
    int listen_fd, epoll_fd, stop_fd;
    pthread_t thread;
};

static void *server_main(void *arg) {
    c_echo_server *s = arg;
    struct epoll_event events[256];
    static __thread char buf[65536];
    for (;;) {
        int n = epoll_wait(s->epoll_fd, events, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; break; }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == s->stop_fd) return NULL;
            if (fd == s->listen_fd) {
                for (;;) {
                    int c = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                close(fd);
                continue;
            }
            ssize_t off = 0;
            while (off < r) { // echo; spins on EAGAIN, which small ping-pong never hits
                ssize_t w = send(fd, buf + off, r - off, MSG_NOSIGNAL);
                if (w < 0) { if (errno == EAGAIN || errno == EINTR) continue; close(fd); break; }
                off += w;
            }
        }
    }
    return NULL;
}

c_echo_server *c_echo_server_start(int *port_out) {
    c_echo_server *s = calloc(1, sizeof *s);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->listen_fd, 4096) < 0) {
        close(s->listen_fd);
        free(s);
        return NULL;
    }
    socklen_t len = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &len);
    *port_out = ntohs(a.sin_port);
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->listen_fd};
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev);
    ev.data.fd = s->stop_fd;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->stop_fd, &ev);
    pthread_create(&s->thread, NULL, server_main, s);
    return s;
}

void c_echo_server_stop(c_echo_server *s) {
    uint64_t one = 1;
    (void)!write(s->stop_fd, &one, sizeof one);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->epoll_fd);
    close(s->stop_fd);
    free(s); // accepted sockets are closed by the process exit / peer close
}

struct pp_client {
    int epoll_fd, count, size;
    int *fds;
    int *received;
    int *remaining;
    char *message;
};

pp_client *pp_client_connect(int port, int connections, int message_size) {
    pp_client *c = calloc(1, sizeof *c);
    c->count = connections;
    c->size = message_size;
    c->fds = calloc(connections, sizeof(int));
    c->received = calloc(connections, sizeof(int));
    c->remaining = calloc(connections, sizeof(int));
    c->message = malloc(message_size);
    memset(c->message, 'x', message_size);
    c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < connections; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            if (fd >= 0) close(fd);
            c->count = i;
            pp_client_close(c);
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fds[i] = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    }
    return c;
}

int64_t pp_client_run(pp_client *c, int rounds) {
    int64_t done = 0;
    int active = c->count;
    for (int i = 0; i < c->count; i++) {
        c->remaining[i] = rounds;
        c->received[i] = 0;
        if (send(c->fds[i], c->message, c->size, MSG_NOSIGNAL) != c->size) return -1;
    }
    struct epoll_event events[256];
    char buf[65536];
    while (active > 0) {
        int n = epoll_wait(c->epoll_fd, events, 256, 5000);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        if (n == 0) return -1; // server stalled
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            ssize_t r = recv(c->fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) return -1;
            c->received[i] += (int)r;
            while (c->received[i] >= c->size) {
                c->received[i] -= c->size;
                done++;
                if (--c->remaining[i] == 0) { active--; break; }
                if (send(c->fds[i], c->message, c->size, MSG_NOSIGNAL) != c->size) return -1;
            }
        }
    }
    return done;
}

void pp_client_close(pp_client *c) {
    for (int i = 0; i < c->count; i++) close(c->fds[i]);
    close(c->epoll_fd);
    free(c->fds);
    free(c->received);
    free(c->remaining);
    free(c->message);
    free(c);
}
