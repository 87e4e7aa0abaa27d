// Counts this thread's heap allocations, for tests that assert a code path allocates nothing (or a known number).
// Linking this target into the test executable replaces glibc's malloc, calloc and realloc with thin wrappers that
// forward to glibc's own (__libc_malloc and friends) and count calls made by a thread between start and stop;
// other threads, and every thread outside a window, only pay one thread-local load per call.
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>

/// 1 when the wrappers are in place; 0 in a sanitizer build, whose runtime owns malloc (nothing is counted then).
int malloc_counter_available(void);

/// Starts counting this thread's malloc, calloc and realloc calls from zero.
void malloc_counter_start(void);

/// Stops counting on this thread and returns the calls counted since `malloc_counter_start`.
uint64_t malloc_counter_stop(void);

#endif
