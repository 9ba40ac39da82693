/* moelens tokenize MODEL.gguf --text FILE: the token ids of FILE's bytes under the model's own
 * tokenizer (as llama.cpp: no BOS/EOS, special tokens not parsed), separated by spaces. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf_vocab.h"

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) ml_fatal("tokenize: %s: cannot open", path);
    size_t cap = 1 << 16, len = 0;
    char *b = ml_alloc(cap);
    size_t got;
    while ((got = fread(b + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = ml_alloc(cap * 2);
            memcpy(nb, b, len);
            ml_free(b);
            b = nb, cap *= 2;
        }
    }
    fclose(f);
    *n = len;
    return b;
}

static const CliOpt opts[] = {{"--text", "FILE", OPT_STR, 0, NULL, "the text to tokenize"}};

static int cmd_tokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        printf("usage: moelens tokenize MODEL.gguf --text FILE\n\nPrints the token ids of FILE "
               "(its bytes as they "
               "are) under the model's tokenizer, separated by spaces, as llama.cpp's tokenizer "
               "gives them with "
               "add_special and parse_special off.\n");
        cli_print_opts(CLI_OPTS(opts));
        return argc < 2 ? 1 : 0;
    }
    const char *model = NULL, *text = NULL;
    cli_parse("tokenize", CLI_OPTS(opts), &text, argc, argv, &model, 1);
    if (!model || !text) ml_fatal("tokenize: MODEL.gguf and --text FILE are required");
    GgufFile *g;
    GgufVocab *v;
    if (gguf_open(&g, model) || gguf_vocab_load(&v, g)) ml_fatal("%s", ml_errmsg());
    size_t len;
    char *buf = read_all(text, &len);
    int32_t *ids;
    long n;
    if (gguf_vocab_encode(v, buf, len, &ids, &n)) ml_fatal("%s", ml_errmsg());
    for (long i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    ml_free(ids), ml_free(buf);
    gguf_vocab_free(v);
    gguf_close(g);
    return 0;
}
COMMAND("tokenize", cmd_tokenize, "token ids of a text under a GGUF model's tokenizer")
