/* libFuzzer target: safetensors header and tensor table (st_open, st_find, st_read_f32,
 * st_read_f32_part). */
#include "core/mem.h"
#include "core/safetensors.h"
#include "fuzz_file.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SafeTensors st;
    if (st_open(&st, fuzz_file("st", data, size))) {
        fuzz_failed_with_message();
        return 0;
    }
    for (int i = 0; i < st.n; i++) {
        const StTensor *t = &st.tensors[i];
        if (st_find(&st, t->name) == NULL) abort();
        volatile unsigned char sink = 0; /* every byte of every tensor lies inside the file */
        for (size_t b = 0; b < t->nbytes; b += 97) sink ^= ((const unsigned char *)t->data)[b];
        if (t->nbytes) sink ^= ((const unsigned char *)t->data)[t->nbytes - 1];
        if (!strcmp(t->dtype, "F32") && t->nbytes <= (1 << 20)) {
            float *out = ml_alloc(t->nbytes + 4);
            int64_t count = (int64_t)(t->nbytes / 4);
            if (st_read_f32(&st, t->name, out, count)) abort();
            /* the second half alone (an expert-parallel rank's slab), and one element past */
            if (st_read_f32_part(&st, t->name, out, count, count / 2, count - count / 2)) abort();
            if (!st_read_f32_part(&st, t->name, out, count, count / 2, count - count / 2 + 1))
                abort();
            ml_free(out);
        }
    }
    st_meta(&st, "config");
    st_free(&st);
    return 0;
}
