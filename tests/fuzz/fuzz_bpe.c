/* libFuzzer target: BPE encoding of arbitrary bytes must decode to the same bytes. The tokenizer
 * is trained once, at start-up, on a fixed multi-script text (300 tokens). */
#include "core/mem.h"
#include "data/tokenizer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static Tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *texts[] = {
        "The quick brown fox jumps over the lazy dog. It's 2024; isn't it? ",
        "def f(x):\n    return x ** 2 + 1  # comment\n\tif (a && b) { c++; }\n",
        "Le caf\xc3\xa9 est tr\xc3\xa8s bon. \xce\xb1\xce\xb2\xce\xb3 \xe4\xb8\xad\xe6\x96\x87 "
        "\xf0\x9f\x98\x80 1234567 3.14159",
    };
    size_t lens[3];
    for (int i = 0; i < 3; i++) lens[i] = strlen(texts[i]);
    BpeTrainOptions o = {.vocab_size = 300};
    if (tokenizer_train(&tok, texts, lens, 3, &o)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t *ids;
    long n;
    char *back;
    size_t len;
    if (tokenizer_encode(tok, (const char *)data, size, &ids, &n)) abort();
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(tok)) abort();
    if (tokenizer_decode(tok, ids, n, &back, &len)) abort();
    if (len != size || memcmp(back, data, size)) abort(); /* exact on any bytes */
    ml_free(ids), ml_free(back);
    return 0;
}
