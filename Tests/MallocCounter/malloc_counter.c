// See include/MallocCounter.h. glibc exports its allocator under __libc_* names, so forwarding needs no dlsym (which
// may itself allocate); free, memalign and friends stay glibc's, which is correct for memory from __libc_malloc.
#include "MallocCounter.h"
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);

// Initial-exec TLS in the executable: reading it never allocates.
static __thread int counting;
static __thread uint64_t counted;

void *malloc(size_t size) {
    if (counting) counted++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (counting) counted++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    if (counting) counted++;
    return __libc_realloc(pointer, size);
}

void malloc_counter_start(void) {
    counted = 0;
    counting = 1;
}

uint64_t malloc_counter_stop(void) {
    counting = 0;
    return counted;
}
