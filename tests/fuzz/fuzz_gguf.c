/* libFuzzer target for the GGUF parser (scripts/fuzz.sh builds and runs it under ASan/UBSan).
 * Any input must either parse or fail with an error message; when it parses, every metadata
 * getter and the dequantisation of every supported tensor (a few rows) must stay in bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"

static void touch_metadata(const GgufFile *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const char *k = g->kv[i].key;
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f;
        int b;
        GgufStr s;
        char *c;
        if (!gguf_get_u32(g, k, &u32) + !gguf_get_u64(g, k, &u64) + !gguf_get_i64(g, k, &i64) +
                !gguf_get_f32(g, k, &f) + !gguf_get_bool(g, k, &b) + !gguf_get_str(g, k, &s) >
            3)
            abort(); /* a value has one type: at most u32/u64/i64 succeed together */
        if (!gguf_get_strdup(g, k, &c)) ml_free(c);
        GgufStr *ss;
        float *fs;
        int32_t *is;
        uint64_t n;
        if (!gguf_get_str_array(g, k, &ss, &n)) {
            volatile char sink = 0;
            for (uint64_t j = 0; j < n; j++)
                if (ss[j].len) sink ^= ss[j].ptr[ss[j].len - 1];
            (void)sink;
            ml_free(ss);
        }
        if (!gguf_get_f32_array(g, k, &fs, &n)) ml_free(fs);
        if (!gguf_get_i32_array(g, k, &is, &n)) ml_free(is);
    }
}

static void touch_tensors(const GgufFile *g) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const GgufTensor *t = &g->tensors[i];
        if (t->ne[0] > (1u << 16)) continue; /* keep the fuzzer's memory small */
        uint64_t rows = t->n_rows < 4 ? t->n_rows : 4;
        float *out = ml_alloc_floats((size_t)(rows * t->ne[0]) + 1);
        gguf_dequant_rows(t, 0, rows, out);
        if (t->n_rows) gguf_dequant_rows(t, t->n_rows - 1, 1, out);
        if (!gguf_dequant_rows(t, t->n_rows, 1, out)) abort(); /* past the end must fail */
        ml_free(out);
        if (gguf_tensor(g, t->name) == NULL) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    GgufFile *g;
    if (gguf_open_memory(&g, data, size, "fuzz.gguf")) {
        if (!ml_errmsg()[0]) abort(); /* a failure always says why */
        return 0;
    }
    touch_metadata(g);
    touch_tensors(g);
    gguf_close(g);
    return 0;
}
