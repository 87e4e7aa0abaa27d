// Process-level helpers for the command-line apps.
#ifndef CSHIMS_PROCESS_H
#define CSHIMS_PROCESS_H

/// Makes stdout line-buffered, so app output and stderr log lines interleave in order even when piped.
void cshims_line_buffer_stdout(void);
#endif
