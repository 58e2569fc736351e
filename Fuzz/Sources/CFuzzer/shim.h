// libFuzzer's driver, linked by -sanitize=fuzzer (compiler-rt's FuzzerDriver.cpp).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
