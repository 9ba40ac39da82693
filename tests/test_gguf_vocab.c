/* GGUF tokenizers against llama.cpp's own test vectors (models/ggml-vocab-NAME.gguf with .inp/.out
 * in the oracle source, scripts/oracle.sh). Skips with a message when the oracle is not fetched. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mem.h"
#include "data/pretok.h"
#include "gguf/gguf_vocab.h"
#include "test.h"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = ml_alloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static const char *models_dir(void) {
    static char dir[512];
    const char *o = getenv("MOELENS_ORACLE_DIR");
    snprintf(dir, sizeof dir, "%s/llama.cpp/models", o ? o : ".cache/oracle");
    struct stat st;
    return stat(dir, &st) == 0 ? dir : NULL;
}

/* Number of failing cases of one vocab (-1: files missing). */
static int run_vectors(const char *name, int *total) {
    const char *dir = models_dir();
    char path[600];
    size_t ni = 0, no = 0;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *outp = slurp(path, &no);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    GgufFile *g = NULL;
    GgufVocab *v = NULL;
    if (!inp || !outp || gguf_open(&g, path) || gguf_vocab_load(&v, g)) {
        CHECK_MSG(0, "%s: %s", name, inp && outp ? ml_errmsg() : "missing .inp/.out");
        ml_free(inp), ml_free(outp), gguf_close(g);
        return -1;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *o = outp, *end = inp + ni;
    int bad = 0;
    *total = 0;
    while (p < end && o < outp + no) {
        char *q = strstr(p, sep);
        size_t tl = q ? (size_t)(q - p) : (size_t)(end - p);
        char *nl = strchr(o, '\n');
        if (nl) *nl = 0;
        int32_t *ids;
        long n;
        gguf_vocab_encode(v, p, tl, &ids, &n);
        char *e = o;
        long k = 0;
        int ok = 1;
        for (;; k++) {
            while (*e == ' ') e++;
            if (!*e) break;
            long want = strtol(e, &e, 10);
            if (k >= n || ids[k] != want) ok = 0;
        }
        if (k != n) ok = 0;
        if (!ok) {
            bad++;
            if (bad <= 3) {
                fprintf(stderr, "  %s: '%.*s'\n    want %s\n    got ", name,
                        (int)(tl < 60 ? tl : 60), p, o);
                for (long j = 0; j < n && j < 30; j++) fprintf(stderr, " %d", ids[j]);
                fprintf(stderr, "\n");
            }
        }
        ml_free(ids);
        (*total)++;
        if (!q || !nl) break;
        p = q + strlen(sep);
        o = nl + 1;
    }
    gguf_vocab_free(v);
    gguf_close(g);
    ml_free(inp), ml_free(outp);
    return bad;
}

static void check_vocab(const char *name) {
    if (!models_dir()) {
        printf("  skipped: no oracle (sh scripts/oracle.sh --src-only fetches llama.cpp's vocab "
               "tests)\n");
        return;
    }
    int total = 0, bad = run_vectors(name, &total);
    printf("  %s: %d vectors, %d differ\n", name, total, bad);
    CHECK_MSG(bad == 0 && total > 10, "%s: %d of %d llama.cpp tokenizer vectors differ", name, bad,
              total);
}

TEST(gguf_vocab_gpt2_vectors) {
    check_vocab("gpt-2");
}
TEST(gguf_vocab_llama_bpe_vectors) {
    check_vocab("llama-bpe");
}
TEST(gguf_vocab_qwen2_vectors) {
    check_vocab("qwen2");
}
TEST(gguf_vocab_deepseek_llm_vectors) {
    check_vocab("deepseek-llm");
}
/* mpt: the GPT-2 regex (as olmo) with 178 USER_DEFINED tokens split out first */
TEST(gguf_vocab_mpt_vectors) {
    check_vocab("mpt");
}
/* the regex chains with Unicode punctuation or single digits (src/gguf/gguf_pretok_default.c) */
TEST(gguf_vocab_falcon_vectors) {
    check_vocab("falcon");
}
TEST(gguf_vocab_starcoder_vectors) {
    check_vocab("starcoder");
}
TEST(gguf_vocab_refact_vectors) {
    check_vocab("refact");
}
TEST(gguf_vocab_command_r_vectors) {
    check_vocab("command-r");
}
TEST(gguf_vocab_deepseek_coder_vectors) {
    check_vocab("deepseek-coder");
}
TEST(gguf_vocab_llama_spm_vectors) {
    check_vocab("llama-spm");
}
/* phi-3: the SentencePiece "llama" model (its pre key says "default", which SPM ignores) */
TEST(gguf_vocab_phi3_vectors) {
    check_vocab("phi-3");
}

TEST(gguf_pretok_llama3_digits_and_spaces) {
    const char *s = "12345 ab\n\n  x's";
    size_t n = strlen(s), i = 0;
    const char *want3[] = {"123", "45", " ab", "\n\n", " ", " x", "'s"};
    for (int k = 0; k < 7; k++) {
        size_t m = pretok_llama3_next(s + i, n - i, 3);
        CHECK_MSG(m == strlen(want3[k]) && !memcmp(s + i, want3[k], m), "piece %d: '%.*s'", k,
                  (int)m, s + i);
        i += m;
    }
    CHECK(i == n);
    CHECK(pretok_llama3_next("12", 2, 1) == 1);
}
