/* Token ids from llama.cpp (the oracle's libllama) for tests/cli/gguf_pretok_default.sh:
 *   llama_tok MODEL.gguf TEXTFILE  →  one line: the ids, separated by spaces
 * Loads only the vocabulary (vocab_only: llama.cpp's own ggml-vocab-*.gguf files have no weights)
 * and tokenizes with add_special and parse_special off, as `moelens tokenize`. */
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>

#include "oracle_backends.h"

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)level, (void)text, (void)user;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: llama_tok MODEL.gguf TEXTFILE\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    oracle_load_backends();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = 1;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fprintf(stderr, "llama_tok: cannot load %s\n", argv[1]), 1;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return fprintf(stderr, "llama_tok: cannot read %s\n", argv[2]), 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(len + 1);
    if (fread(text, 1, len, f) != (size_t)len) return 1;
    fclose(f);
    int cap = (int)len + 16;
    llama_token *ids = malloc(sizeof(llama_token) * cap);
    int n = llama_tokenize(llama_model_get_vocab(model), text, (int32_t)len, ids, cap, 0, 0);
    if (n < 0) return fprintf(stderr, "llama_tok: tokenize failed\n"), 1;
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    llama_model_free(model);
    llama_backend_free();
    free(ids), free(text);
    return 0;
}
