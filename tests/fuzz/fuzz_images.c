/* libFuzzer target: IDX (MNIST-style, raw or gzip) and CIFAR binaries. The first byte picks the
 * format; for IDX the rest is split into an images file and a labels file at byte 1's position. */
#include "data/images.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    ImageSet set;
    ImageLoadOpts o = imageset_default_opts();
    o.max_images = 64;
    o.size = 8; /* keep the output small; the parsing is what is fuzzed */
    int rc;
    if (data[0] & 1) {
        size_t cut = 2 + (size - 2) * data[1] / 256;
        const char *img = fuzz_file("idx-images", data + 2, cut - 2);
        const char *lab = fuzz_file("idx-labels", data + cut, size - cut);
        rc = imageset_load_idx(&set, img, lab, &o);
    } else {
        rc = imageset_load_cifar(&set, fuzz_file("data_batch_1.bin", data + 1, size - 1), &o);
    }
    if (rc) {
        fuzz_failed_with_message();
        return 0;
    }
    if (set.n < 0 || set.n > 64 * 2) abort();
    imageset_free(&set);
    return 0;
}
