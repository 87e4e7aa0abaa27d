#define _GNU_SOURCE
#include "process_shims.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

void cshims_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

int cshims_name_current_thread(const char *name) {
    // The kernel keeps 15 bytes plus the terminator; longer names are cut rather than refused.
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = '\0';
    return -pthread_setname_np(pthread_self(), truncated);
}
