// Loopback round-trip floor: a TCP ping-pong of share-sized frames (32 bytes out, 32 back) between two processes,
// for comparison with the share-acknowledgement latency `sv2 loadtest run` reports. The child echoes on one core,
// the parent times each round trip with CLOCK_MONOTONIC on another. Build and run with Benchmarks/loopback-rtt.sh.
//
//   loopback_rtt ROUNDS SERVER_CPU CLIENT_CPU INTERVAL_US  → p50, p90, p99, max in µs
// INTERVAL_US > 0 sleeps between round trips (light load: the cores idle and wake, as in a 5 shares/s run).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int full(int fd, char *buf, size_t n, int reading) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = reading ? read(fd, buf + done, n - done) : write(fd, buf + done, n - done);
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    int server_cpu = argc > 2 ? atoi(argv[2]) : 0, client_cpu = argc > 3 ? atoi(argv[3]) : 1;
    int interval_us = argc > 4 ? atoi(argv[4]) : 0;
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 1)) return perror("listen"), 1;
    getsockname(listener, (struct sockaddr *)&addr, &len);
    pid_t child = fork();
    char buf[32] = {0};
    if (child == 0) {
        pin(server_cpu);
        int fd = accept(listener, NULL, NULL);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        while (full(fd, buf, sizeof buf, 1) == 0 && full(fd, buf, sizeof buf, 0) == 0) {}
        _exit(0);
    }
    pin(client_cpu);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr)) return perror("connect"), 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t *samples = malloc(sizeof *samples * (size_t)rounds);
    for (int i = interval_us > 0 ? -10 : -1000; i < rounds; i++) {  // warm-up rounds first
        if (interval_us > 0) usleep((useconds_t)interval_us);
        uint64_t start = now_ns();
        if (full(fd, buf, sizeof buf, 0) || full(fd, buf, sizeof buf, 1)) return perror("ping"), 1;
        if (i >= 0) samples[i] = now_ns() - start;
    }
    close(fd);
    waitpid(child, NULL, 0);
    qsort(samples, (size_t)rounds, sizeof *samples, cmp);
    printf("loopback TCP round trip (32 B each way, %d rounds, %d µs apart): p50 %.1f µs, p90 %.1f µs, p99 %.1f µs, "
           "max %.1f µs\n", rounds, interval_us, samples[rounds / 2] / 1e3, samples[rounds * 9 / 10] / 1e3,
           samples[rounds * 99 / 100] / 1e3, samples[rounds - 1] / 1e3);
    return 0;
}
