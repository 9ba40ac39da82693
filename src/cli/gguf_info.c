/* moelens info MODEL.gguf: what a GGUF model is (family, sizes, experts, top-k) and what it holds
 * (tensor types with counts and bytes). Run directories are not handled here yet. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "gguf/gguf_vocab.h"

/* Prints "label: value" for an integer key ARCH.suffix when the file has it. */
static void print_hparam(const GgufFile *g, const char *arch, const char *suffix,
                         const char *label) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v;
    if (gguf_find(g, key) && !gguf_get_u64(g, key, &v))
        printf("%-26s %llu\n", label, (unsigned long long)v);
}

static void print_tensor_types(const GgufFile *g) {
    uint64_t count[GGUF_TTYPE_COUNT] = {0}, bytes[GGUF_TTYPE_COUNT] = {0}, params = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const GgufTensor *t = &g->tensors[i];
        count[t->type]++, bytes[t->type] += t->nbytes;
        params += t->ne[0] * t->n_rows;
    }
    printf("%-26s %llu (%.3f B parameters)\n", "tensors", (unsigned long long)g->n_tensors,
           params / 1e9);
    for (int ty = 0; ty < GGUF_TTYPE_COUNT; ty++)
        if (count[ty])
            printf("  %-24s %llu tensors, %llu bytes%s\n", gguf_ttype_name((uint32_t)ty),
                   (unsigned long long)count[ty], (unsigned long long)bytes[ty],
                   gguf_ttype_supported((uint32_t)ty) ? "" : " (not supported)");
}

static int cmd_info(int argc, char **argv) {
    const char *path = cli_parse_path(
        "info", argc, argv, "a MODEL.gguf",
        "usage: moelens info MODEL.gguf\n\nFamily (architecture), sizes, experts, top-k, "
        "tokenizer, and the tensor types with their counts and bytes.\n");
    if (!path) return 0; /* --help */
    GgufFile *g;
    if (gguf_open(&g, path)) ml_fatal("%s", ml_errmsg());
    char *arch = NULL, *name = NULL;
    if (gguf_get_strdup(g, "general.architecture", &arch)) ml_fatal("%s", ml_errmsg());
    if (gguf_find(g, "general.name") && gguf_get_strdup(g, "general.name", &name))
        ml_fatal("%s", ml_errmsg());
    printf("%-26s %s\n", "file", path);
    printf("%-26s GGUF v%u, %zu bytes, alignment %u\n", "format", g->version, g->size,
           g->alignment);
    printf("%-26s %s\n", "architecture", arch);
    if (name) printf("%-26s %s\n", "name", name);
    static const char *const keys[][2] = {
        {"block_count", "layers"},
        {"embedding_length", "d_model"},
        {"feed_forward_length", "d_ff"},
        {"expert_feed_forward_length", "d_ff (expert)"},
        {"expert_shared_feed_forward_length", "d_ff (shared expert)"},
        {"attention.head_count", "heads"},
        {"attention.head_count_kv", "kv heads"},
        {"attention.key_length", "head dim"},
        {"context_length", "context"},
        {"expert_count", "experts"},
        {"expert_used_count", "top-k"},
        {"expert_shared_count", "shared experts"},
        {"leading_dense_block_count", "leading dense layers"},
        {"vocab_size", "vocab (hparam)"}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        print_hparam(g, arch, keys[i][0], keys[i][1]);
    GgufVocab *v;
    if (gguf_find(g, "tokenizer.ggml.model")) {
        if (gguf_vocab_load(&v, g) == 0) {
            printf("%-26s %s%s%s, %ld tokens\n", "tokenizer", gguf_vocab_model(v),
                   *gguf_vocab_pre(v) ? " / " : "", gguf_vocab_pre(v), gguf_vocab_size(v));
            gguf_vocab_free(v);
        } else {
            printf("%-26s unsupported: %s\n", "tokenizer", ml_errmsg());
        }
    }
    print_tensor_types(g);
    ml_free(arch), ml_free(name);
    gguf_close(g);
    return 0;
}
COMMAND("info", cmd_info, "family, sizes, experts and tensor types of a GGUF model")
