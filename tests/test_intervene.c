/* Routing interventions: option parsing and its errors; the analyses' token texts and classes from
 * a run's tokenizer and from GGUF vocabularies (against gguf_detokenize, llama.cpp's vocab files).
 */
#include "analysis/lm/an_vocab.h"
#include "analysis/lm/intervene.h"
#include "core/error.h"
#include "core/mem.h"
#include "data/tokenizer.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TEST(intervene_parse_specs) {
    Intervention iv;
    intervene_init(&iv);
    CHECK(!intervene_active(&iv));
    CHECK(intervene_parse(&iv, "--mask", "0:3,2:1") == 0);
    CHECK(intervene_parse(&iv, "--router-bias", "1:2=-2.5,0:0=4") == 0);
    CHECK(intervene_parse(&iv, "--top-k", "1") == 0 && intervene_parse(&iv, "--renorm", "1") == 0);
    CHECK(iv.n_terms == 4 && iv.top_k == 1 && iv.renorm == 1);
    CHECK(iv.terms[0].layer == 0 && iv.terms[0].expert == 3 && isinf(iv.terms[0].value));
    CHECK(iv.terms[2].layer == 1 && iv.terms[2].expert == 2 && iv.terms[2].value == -2.5f);
    char line[256];
    intervene_describe(&iv, line, sizeof line);
    CHECK_MSG(strstr(line, "mask 0:3 mask 2:1 bias 1:2=-2.5 bias 0:0=+4"), "got %s", line);
    cJSON *j = intervene_json(&iv);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "mask")) == 2);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "router_bias")) == 2);
    cJSON_Delete(j);
    CHECK(intervene_parse(&iv, "--route-p", "0.9") == 0 && iv.top_p == 0.9);
    CHECK(intervene_parse(&iv, "--route-min", "0.05") == 0 && iv.min_p == 0.05);
    intervene_describe(&iv, line, sizeof line);
    CHECK_MSG(strstr(line, "route-p 0.9 route-min 0.05"), "got %s", line);
    j = intervene_json(&iv);
    CHECK(cJSON_GetObjectItem(j, "route_p")->valuedouble == 0.9);
    cJSON_Delete(j);
    const char *bad[][3] = {
        {"--mask", "", "empty"},           {"--mask", "1", "expected L:E"},
        {"--mask", "1:x", "expected L:E"}, {"--mask", "-1:2", "expected L:E"},
        {"--mask", "1:2,", "trailing"},    {"--mask", "1:2;3:4", "expected L:E"},
        {"--router-bias", "1:2", "L:E=V"}, {"--router-bias", "1:2=inf", "finite"},
        {"--top-k", "0", "positive"},      {"--top-k", "2x", "positive"},
        {"--renorm", "yes", "0 (raw"},     {"--route-p", "0", "(0, 1]"},
        {"--route-p", "1.5", "(0, 1]"},    {"--route-p", "x", "router mass"},
        {"--route-min", "1", "(0, 1)"},    {"--route-min", "-0.1", "(0, 1)"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(intervene_parse(&iv, bad[i][0], bad[i][1]) == -1);
        CHECK_MSG(!strncmp(ml_errmsg(), bad[i][0], strlen(bad[i][0])) &&
                      strstr(ml_errmsg(), bad[i][2]),
                  "%s %s: %s", bad[i][0], bad[i][1], ml_errmsg());
    }
    intervene_free(&iv);
}

/* A run's tokenizer: the vocabulary's classes are token_class's. */
TEST(an_vocab_run_tokenizer_classes) {
    const char *texts[1] = {"the cat sat on the mat, 42 times. The end"};
    size_t lens[1] = {strlen(texts[0])};
    BpeTrainOptions bo = {300, 0};
    Tokenizer *t = NULL;
    CHECK(tokenizer_train(&t, texts, lens, 1, &bo) == 0);
    LmTok lt = {t, NULL, NULL};
    AnVocab v;
    CHECK(an_vocab_build(&v, &lt) == 0);
    int V = tokenizer_vocab_size(t);
    uint8_t *a = ml_alloc(V), *b = ml_alloc(V);
    an_vocab_class_table(&v, LANG_EN, a, V);
    token_class_table(t, LANG_EN, b);
    CHECK(!memcmp(a, b, V));
    ml_free(a), ml_free(b), an_vocab_free(&v), tokenizer_free(t);
}

/* GGUF vocabularies of llama.cpp (the oracle's models/): every token's bytes equal
 * gguf_detokenize of that token alone; " the" (SentencePiece: "the", space-prefixed) is a
 * function word. */
static void check_gguf_vocab(const char *file, const char *the) {
    const char *o = getenv("MOELENS_ORACLE_DIR");
    char path[600];
    snprintf(path, sizeof path, "%s/llama.cpp/models/%s", o ? o : ".cache/oracle", file);
    struct stat st;
    if (stat(path, &st)) {
        printf("  skipped: no %s (oracle)\n", path);
        return;
    }
    GgufFile *g;
    GgufVocab *gv;
    CHECK(gguf_open(&g, path) == 0 && gguf_vocab_load(&gv, g) == 0);
    LmTok lt = {NULL, gv, g};
    AnVocab v;
    CHECK(an_vocab_build(&v, &lt) == 0);
    int bad = 0, checked = 0;
    for (int id = 0; id < v.V; id += 1 + id / 64, checked++) {
        char *txt;
        size_t n, m;
        int32_t i32 = id;
        gguf_detokenize(g, &i32, 1, &txt, &n);
        const char *s = an_vocab_bytes(&v, id, &m);
        bad += !v.special[id] && (m != n || memcmp(s, txt, n));
        ml_free(txt);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d tokens decode differently", file, bad, checked);
    int32_t *ids;
    long k;
    CHECK(gguf_vocab_encode(gv, the, strlen(the), &ids, &k) == 0);
    uint8_t *cls = ml_alloc(v.V);
    an_vocab_class_table(&v, LANG_EN, cls, v.V);
    CHECK_MSG(k == 1 && cls[ids[0]] == TOKCLASS_FUNCTION_WORD, "%s: '%s' → %ld tokens", file, the,
              k);
    printf("  %s: %d tokens checked\n", file, checked);
    ml_free(ids), ml_free(cls), an_vocab_free(&v), gguf_vocab_free(gv), gguf_close(g);
}

TEST(an_vocab_gguf_matches_detokenize) {
    check_gguf_vocab("ggml-vocab-gpt-2.gguf", " the");
    check_gguf_vocab("ggml-vocab-llama-spm.gguf", "the");
}
