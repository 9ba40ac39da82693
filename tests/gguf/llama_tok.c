/* Token ids from llama.cpp (the oracle's libllama) for tests/cli/gguf_pretok_default.sh:
 *   llama_tok MODEL.gguf TEXTFILE  →  one line: the ids, separated by spaces
 * Loads only the vocabulary (vocab_only: llama.cpp's own ggml-vocab-*.gguf files have no weights)
 * and tokenizes with add_special and parse_special off, as `moelens tokenize`. */
#include "oracle_common.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: llama_tok MODEL.gguf TEXTFILE\n");
        return 2;
    }
    oracle_start(1);
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = 1;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fprintf(stderr, "llama_tok: cannot load %s\n", argv[1]), 1;
    long len;
    char *text = oracle_read_text("llama_tok", argv[2], &len);
    if (!text) return 1;
    int n;
    llama_token *ids = oracle_tokenize(llama_model_get_vocab(model), text, len, 0, &n);
    if (n < 0) return fprintf(stderr, "llama_tok: tokenize failed\n"), 1;
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    llama_model_free(model);
    llama_backend_free();
    free(ids), free(text);
    return 0;
}
