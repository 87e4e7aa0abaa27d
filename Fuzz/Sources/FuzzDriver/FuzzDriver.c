#include "FuzzDriver.h"

// Provided by libclang_rt.fuzzer (linked by -sanitize=fuzzer). SwiftPM renames each executable's entry point
// and aliases `main` to it, so the Swift @main calls libFuzzer's driver instead of libFuzzer providing main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int sv2_fuzz_run(int argc, char **argv, sv2_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
