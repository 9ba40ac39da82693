/* libFuzzer target: a PNG-tree image set (root/<class>/x.png) whose one image is the input, at
 * native size (the first image decides it) and resized. */
#include "core/fileio.h"
#include "data/images.h"
#include "fuzz_file.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char root[128], png[160];
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/moelens-fuzz-%d-pngtree", (int)getpid());
        snprintf(png, sizeof png, "%s/a/x.png", root);
        char cls[150];
        snprintf(cls, sizeof cls, "%s/a", root);
        if (ml_mkdir_p(cls)) abort();
    }
    FILE *fp = fopen(png, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size)) abort();
    fclose(fp);
    ImageSet set;
    ImageLoadOpts o = imageset_default_opts();
    o.size = size && (data[0] & 1) ? 16 : 0;
    if (imageset_load_png_dir(&set, root, &o)) {
        fuzz_failed_with_message();
        return 0;
    }
    if (set.n != 1 || set.size <= 0) abort();
    imageset_free(&set);
    return 0;
}
