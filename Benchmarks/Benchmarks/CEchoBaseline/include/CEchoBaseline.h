// Baseline for the reactor benchmark: a minimal C epoll echo server and the ping-pong client that
// drives every server under test (C, io_uring reactor, epoll reactor) identically.
#ifndef C_ECHO_BASELINE_H
#define C_ECHO_BASELINE_H
#include <stdint.h>

typedef struct c_echo_server c_echo_server;
/// Starts a level-triggered epoll echo server on 127.0.0.1 (ephemeral port) on its own thread.
c_echo_server *c_echo_server_start(int *port_out);
void c_echo_server_stop(c_echo_server *server);

typedef struct pp_client pp_client;
/// Opens `connections` TCP_NODELAY connections to 127.0.0.1:port. NULL on failure.
pp_client *pp_client_connect(int port, int connections, int message_size);
/// Every connection sends one message and waits for its full echo, `rounds` times (all connections
/// in parallel). Returns the number of completed round trips, or -1 on a socket error.
int64_t pp_client_run(pp_client *client, int rounds);
void pp_client_close(pp_client *client);
#endif
