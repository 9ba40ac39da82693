/* libFuzzer target: the tokenizer file (tokenizer_load); a loaded tokenizer must encode and
 * decode a fixed text back to itself. */
#include "data/tokenizer.h"
#include "core/mem.h"
#include "fuzz_file.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Tokenizer *t;
    if (tokenizer_load(&t, fuzz_file("tok", data, size))) {
        fuzz_failed_with_message();
        return 0;
    }
    const char *text = "Hello, world! 12345 \xc3\xa9t\xc3\xa9\n\tcode();";
    int32_t *ids;
    long n;
    char *back;
    size_t len;
    if (tokenizer_encode(t, text, strlen(text), &ids, &n)) abort();
    if (tokenizer_decode(t, ids, n, &back, &len)) abort();
    if (len != strlen(text) || memcmp(back, text, len)) abort();
    ml_free(ids), ml_free(back);
    tokenizer_free(t);
    return 0;
}
