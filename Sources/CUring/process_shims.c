#include "process_shims.h"
#include <stdio.h>

void cshims_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
