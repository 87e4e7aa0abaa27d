// Process-level helpers for the command-line apps.
#ifndef CSHIMS_PROCESS_H
#define CSHIMS_PROCESS_H

/// Makes stdout line-buffered, so app output and stderr log lines interleave in order even when piped.
void cshims_line_buffer_stdout(void);

/// Names the calling thread (shown by `top -H`, `ps -L`, /proc/…/comm); cut to 15 bytes. Returns 0 or -errno.
int cshims_name_current_thread(const char *name);
#endif
