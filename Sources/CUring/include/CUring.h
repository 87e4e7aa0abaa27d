// Umbrella header of the system glue the event loop needs: io_uring and socket helpers (the module links
// liburing and nothing else), plus the process helper of the command-line apps (plain libc).
#ifndef CURING_H
#define CURING_H
#include "uring_shims.h"
#include "process_shims.h"
#endif
