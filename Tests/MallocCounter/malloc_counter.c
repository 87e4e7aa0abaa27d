// See include/MallocCounter.h. glibc exports its allocator under __libc_* names, so forwarding needs no dlsym (which
// may itself allocate); free, memalign and friends stay glibc's, which is correct for memory from __libc_malloc.
#include "MallocCounter.h"
#include <stddef.h>

// Under a sanitizer its runtime owns malloc (and frees what its malloc returned): no wrappers then.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MALLOC_COUNTER_DISABLED 1
#endif
#endif

#ifdef MALLOC_COUNTER_DISABLED

int malloc_counter_available(void) { return 0; }
void malloc_counter_start(void) {}
uint64_t malloc_counter_stop(void) { return 0; }

#else

int malloc_counter_available(void) { return 1; }

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

#endif
