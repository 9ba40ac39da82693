/* What the oracle helpers (llama_ref.c, llama_tok.c, llama_quant.c) share: starting llama.cpp
 * quietly with its CPU backend, reading a text file and tokenizing it.
 *
 * The npm package's prebuilt llama.cpp libraries load their CPU backend at run time, one library
 * per CPU generation (libggml-cpu-zen4.so, -haswell, ...): ORACLE_BACKENDS names their folder
 * (tests/cli/lib/oracle.sh sets it). A cmake build of the source links the backend in and leaves
 * the variable unset. */
#ifndef ORACLE_COMMON_H
#define ORACLE_COMMON_H
#include "ggml-backend.h"
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>

static void oracle_quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)level, (void)text, (void)user;
}

/* quiet: drop llama.cpp's log (the tools print their own results on stdout) */
static inline void oracle_start(int quiet) {
    if (quiet) llama_log_set(oracle_quiet, NULL);
    llama_backend_init();
    const char *dir = getenv("ORACLE_BACKENDS");
    if (dir && *dir) ggml_backend_load_all_from_path(dir);
}

/* The whole file in a new buffer (*len bytes), or NULL with a message naming the tool and file. */
static inline char *oracle_read_text(const char *tool, const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "%s: cannot read %s\n", tool, path), NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(*len + 1);
    if (fread(text, 1, *len, f) != (size_t)*len) {
        fprintf(stderr, "%s: cannot read %s\n", tool, path);
        fclose(f), free(text);
        return NULL;
    }
    fclose(f);
    return text;
}

/* Token ids of text (parse_special off; BOS/EOS as the file says when add_special), in a new
 * buffer; *n < 0 when llama.cpp fails. */
static inline llama_token *oracle_tokenize(const struct llama_vocab *vocab, const char *text,
                                           long len, int add_special, int *n) {
    int cap = (int)len + 16;
    llama_token *ids = malloc(sizeof(llama_token) * cap);
    *n = llama_tokenize(vocab, text, (int32_t)len, ids, cap, add_special, false);
    return ids;
}
#endif
