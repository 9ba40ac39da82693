/* libFuzzer target: a GGUF file's tokenizer (gguf_vocab_load, encode) and the pre-tokenizers.
 * Inputs that parse as GGUF load their vocabulary and encode a fixed text; every input is also
 * split by the llama3 and deepseek pre-tokenizers as text, whose pieces must tile it exactly. */
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "gguf/gguf_vocab.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void pretokenize(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    for (size_t at = 0; at < size;) {
        size_t n = pretok_llama3_next(s + at, size - at, 3);
        if (n == 0 || n > size - at) abort(); /* progress, within the text */
        at += n;
    }
    size_t *(*const splits[])(const char *, size_t, size_t *) = {
        pretok_deepseek_llm_split, pretok_default_split, pretok_falcon_split,
        pretok_starcoder_split, pretok_deepseek_coder_split};
    for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        size_t np, total = 0;
        size_t *lens = splits[k](s, size, &np);
        for (size_t i = 0; i < np; i++) {
            if (lens[i] == 0) abort();
            total += lens[i];
        }
        if (total != size) abort(); /* the pieces tile the text */
        ml_free(lens);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pretokenize(data, size);
    GgufFile *g;
    if (gguf_open_memory(&g, data, size, "fuzz.gguf")) return 0;
    GgufVocab *v;
    if (gguf_vocab_load(&v, g) == 0) {
        const char *text = "Hello world 123 \xc3\xa9 <|x|>\n";
        int32_t *ids;
        long n;
        if (gguf_vocab_encode(v, text, strlen(text), &ids, &n) == 0) {
            for (long i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= gguf_vocab_size(v)) abort();
            ml_free(ids);
        }
        gguf_vocab_free(v);
    } else if (!ml_errmsg()[0]) {
        abort();
    }
    gguf_close(g);
    return 0;
}
