#ifndef SV2_FUZZ_DRIVER_H
#define SV2_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// A libFuzzer test callback (LLVMFuzzerTestOneInput's signature).
typedef int (*sv2_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver (LLVMFuzzerRunDriver) with the process arguments and `callback`.
int sv2_fuzz_run(int argc, char **argv, sv2_fuzz_callback callback);
#endif
