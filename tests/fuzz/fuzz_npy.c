/* libFuzzer target: .npy header parsing and the data-size check (npy_read). */
#include "core/npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NpyArray a;
    if (npy_read(fuzz_file("npy", data, size), &a)) {
        fuzz_failed_with_message();
        return 0;
    }
    if (a.nbytes < 0 || (size_t)a.nbytes > size) abort(); /* data comes from the file */
    volatile unsigned char sink = 0;
    if (a.nbytes) sink ^= ((unsigned char *)a.data)[a.nbytes - 1];
    npy_free(&a);
    return 0;
}
