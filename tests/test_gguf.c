/* GGUF reader: metadata getters and dequantisation against gguf-py's numpy reference (fixture made
 * by tests/gguf/make_dequant_fixture.py), and one clear error for each kind of broken file (files
 * crafted here by a minimal writer, then damaged). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "test.h"

#define DEQ_FIX "tests/fixtures/gguf/dequant.gguf"

TEST(gguf_metadata_getters) {
    GgufFile *g;
    CHECK(gguf_open(&g, DEQ_FIX) == 0);
    if (!g) return;
    CHECK(g->version == 3 && g->alignment == 32 && g->n_tensors == 22);
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    int b;
    CHECK(gguf_get_u32(g, "t.u8", &u32) == 0 && u32 == 200);
    CHECK(gguf_get_u32(g, "t.u16", &u32) == 0 && u32 == 60000);
    CHECK(gguf_get_u32(g, "t.u32", &u32) == 0 && u32 == 4000000000u);
    CHECK(gguf_get_i64(g, "t.i8", &i64) == 0 && i64 == -5);
    CHECK(gguf_get_i64(g, "t.i16", &i64) == 0 && i64 == -300);
    CHECK(gguf_get_i64(g, "t.i32", &i64) == 0 && i64 == -7);
    CHECK(gguf_get_i64(g, "t.i64", &i64) == 0 && i64 == -(1LL << 40));
    CHECK(gguf_get_u64(g, "t.u64", &u64) == 0 && u64 == (1ULL << 40));
    CHECK(gguf_get_u32(g, "t.u64", &u32) == -1 && strstr(ml_errmsg(), "out of range"));
    CHECK(gguf_get_u32(g, "t.i8", &u32) == -1 && strstr(ml_errmsg(), "negative"));
    CHECK(gguf_get_f32(g, "t.f32", &f) == 0 && f == 0.25f);
    CHECK(gguf_get_f32(g, "t.f64", &f) == 0 && f == 1.5f);
    CHECK(gguf_get_bool(g, "t.bool", &b) == 0 && b == 1);
    char *s;
    CHECK(gguf_get_strdup(g, "t.str", &s) == 0 && !strcmp(s, "h\xc3\xa9llo"));
    ml_free(s);
    CHECK(gguf_get_strdup(g, "general.architecture", &s) == 0 && !strcmp(s, "fixture"));
    ml_free(s);
    GgufStr *strs;
    uint64_t n;
    CHECK(gguf_get_str_array(g, "t.strs", &strs, &n) == 0 && n == 4);
    if (n == 4) CHECK(strs[1].len == 0 && strs[2].len == 5 && !memcmp(strs[3].ptr, "end", 3));
    ml_free(strs);
    int32_t *ints;
    CHECK(gguf_get_i32_array(g, "t.i32s", &ints, &n) == 0 && n == 3 && ints[1] == -4);
    ml_free(ints);
    float *fs;
    CHECK(gguf_get_f32_array(g, "t.f32s", &fs, &n) == 0 && n == 2 && fs[1] == -2.5f);
    ml_free(fs);
    /* errors name the file and the key */
    CHECK(gguf_get_u32(g, "olmoe.block_count", &u32) == -1);
    CHECK(strstr(ml_errmsg(), DEQ_FIX) &&
          strstr(ml_errmsg(), "missing metadata key 'olmoe.block_count'"));
    CHECK(gguf_get_u32(g, "t.str", &u32) == -1 && strstr(ml_errmsg(), "'t.str' has type string"));
    CHECK(gguf_get_str_array(g, "t.f32s", &strs, &n) == -1 && strstr(ml_errmsg(), "array of f32"));
    u32 = 7;
    CHECK(gguf_opt_u32(g, "absent.key", &u32) == 0 && u32 == 7);
    const GgufTensor *t;
    CHECK(gguf_get_tensor(g, "blk.0.ffn_up_exps.weight", &t) == -1 &&
          strstr(ml_errmsg(), "missing tensor"));
    gguf_close(g);
}

TEST(gguf_dequant_matches_gguf_py) {
    GgufFile *g;
    CHECK(gguf_open(&g, DEQ_FIX) == 0);
    if (!g) return;
    const char *types[] = {"f32",  "f16",  "bf16", "q4_0", "q4_1", "q5_0",
                           "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"};
    float got[512], want[512];
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        char name[32];
        const GgufTensor *raw, *ref;
        snprintf(name, sizeof name, "raw.%s", types[k]);
        CHECK(gguf_get_tensor(g, name, &raw) == 0);
        snprintf(name, sizeof name, "want.%s", types[k]);
        CHECK(gguf_get_tensor(g, name, &ref) == 0);
        if (test_failed_now()) break;
        CHECK(raw->ne[0] == 256 && raw->n_rows == 2 && gguf_ttype_supported(raw->type));
        CHECK(gguf_dequant_rows(ref, 0, 2, want) == 0);
        CHECK(gguf_dequant_rows(raw, 0, 2, got) == 0);
        double worst = 0;
        for (int i = 0; i < 512; i++) {
            /* exact: gguf_quant.c rounds every product and sum as numpy does (no FMA) */
            if (memcmp(got + i, want + i, 4) && fabs(got[i] - want[i]) >= worst)
                worst = fabs(got[i] - want[i]);
        }
        int same = !memcmp(got, want, sizeof got);
        CHECK_MSG(same, "%s: dequantisation differs from gguf-py by up to %g", types[k], worst);
        /* a row range equals the same rows of the whole */
        float row1[256];
        CHECK(gguf_dequant_rows(raw, 1, 1, row1) == 0 && !memcmp(row1, got + 256, sizeof row1));
    }
    const GgufTensor *t = gguf_tensor(g, "raw.q8_0");
    CHECK(t && gguf_dequant_rows(t, 1, 2, got) == -1 && strstr(ml_errmsg(), "raw.q8_0"));
    gguf_close(g);
}

TEST(gguf_f16_conversion) {
    CHECK(gguf_f16_to_f32(0x3C00) == 1.0f);
    CHECK(gguf_f16_to_f32(0xC000) == -2.0f);
    CHECK(gguf_f16_to_f32(0x0001) == 5.9604644775390625e-08f); /* smallest subnormal */
    CHECK(gguf_f16_to_f32(0x03FF) == 6.097555160522461e-05f);  /* largest subnormal */
    CHECK(gguf_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(isinf(gguf_f16_to_f32(0x7C00)) && isnan(gguf_f16_to_f32(0x7E00)));
    CHECK(gguf_bf16_to_f32(0x3F80) == 1.0f);
}

/* ---- a minimal writer for crafted files: one u32 key, one string array, tensors of one type ----
 */

typedef struct {
    unsigned char buf[4096];
    size_t n;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    memcpy(b->buf + b->n, p, n);
    b->n += n;
}
static void put_u32(Buf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(Buf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(Buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

typedef struct {
    uint32_t version, type, n_dims;
    uint64_t ne0, offset, n_tensors_claimed;
    size_t data_bytes; /* bytes written after the (aligned) data start */
} Craft;

static Craft good_craft(void) {
    return (Craft){3, GGML_Q8_0, 2, 64, 0, 1, 2 * 2 * 34};
}

/* Returns the file size; the tensor "w" is ne0 x 2 of c->type. Offsets of fields in *at. */
static size_t craft(const Craft *c, Buf *b, size_t *header_end) {
    memset(b, 0, sizeof *b);
    put(b, "GGUF", 4);
    put_u32(b, c->version);
    put_u64(b, c->n_tensors_claimed);
    put_u64(b, 2);
    put_str(b, "test.block_count");
    put_u32(b, GGUF_T_UINT32);
    put_u32(b, 2);
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GGUF_T_ARRAY);
    put_u32(b, GGUF_T_STRING);
    put_u64(b, 2);
    put_str(b, "a");
    put_str(b, "bc");
    put_str(b, "w");
    put_u32(b, c->n_dims);
    put_u64(b, c->ne0);
    if (c->n_dims > 1) put_u64(b, 2);
    put_u32(b, c->type);
    put_u64(b, c->offset);
    *header_end = b->n;
    b->n = (b->n + 31) / 32 * 32 + c->data_bytes;
    return b->n;
}

static const char *write_craft(const Buf *b, size_t n, const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    fwrite(b->buf, 1, n, f);
    fclose(f);
    return path;
}

/* Opening must fail with a message that holds the path and `want`. */
static void expect_error(const Buf *b, size_t n, const char *name, const char *want) {
    const char *path = write_craft(b, n, name);
    GgufFile *g = NULL;
    int rc = gguf_open(&g, path);
    CHECK_MSG(rc == -1 && g == NULL, "%s: opened a broken file", name);
    CHECK_MSG(strstr(ml_errmsg(), path) && strstr(ml_errmsg(), want), "%s: error '%s' lacks '%s'",
              name, ml_errmsg(), want);
    gguf_close(g);
}

TEST(gguf_crafted_file_opens) {
    Buf b;
    size_t hdr, n = craft(&(Craft){3, GGML_Q8_0, 2, 64, 0, 1, 136}, &b, &hdr);
    GgufFile *g;
    CHECK(gguf_open(&g, write_craft(&b, n, "good.gguf")) == 0);
    if (!g) return;
    const GgufTensor *t = gguf_tensor(g, "w");
    CHECK(t && t->ne[0] == 64 && t->ne[1] == 2 && t->n_rows == 2 && t->nbytes == 136);
    CHECK(g->data_offset % 32 == 0 && g->data_offset >= hdr);
    GgufStr *tok;
    uint64_t nt;
    CHECK(gguf_get_str_array(g, "tokenizer.ggml.tokens", &tok, &nt) == 0 && nt == 2 &&
          tok[1].len == 2);
    ml_free(tok);
    gguf_close(g);
}

TEST(gguf_bad_files_give_one_clear_error) {
    Buf b;
    size_t hdr, n;
    Craft c = good_craft();
    n = craft(&c, &b, &hdr);
    b.buf[0] = 'X';
    expect_error(&b, n, "magic.gguf", "bad magic");
    c = good_craft(), c.version = 7, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "version.gguf", "bad GGUF version 7");
    c = good_craft(), c.version = 1, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "v1.gguf", "version 1");
    c = good_craft(), n = craft(&c, &b, &hdr);
    for (size_t cut = 24; cut < hdr; cut += 7) { /* every truncation inside the header */
        char name[32];
        snprintf(name, sizeof name, "trunc%zu.gguf", cut);
        expect_error(&b, cut, name, "truncated");
    }
    expect_error(&b, n - 1, "short.gguf", "tensor 'w'");
    expect_error(&b, n - 1, "short2.gguf", "past the end");
    c = good_craft(), c.offset = 8, c.data_bytes += 8, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "misaligned.gguf", "tensor 'w' has misaligned data");
    c = good_craft(), c.type = 5, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "type5.gguf", "tensor 'w' has unknown tensor type 5");
    c = good_craft(), c.type = 1000, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "type1000.gguf", "unknown tensor type 1000");
    c = good_craft(), c.ne0 = 48, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "block.gguf", "not a multiple of its block");
    c = good_craft(), c.n_dims = 5, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "dims.gguf", "5 dimensions");
    c = good_craft(), c.n_tensors_claimed = 1ULL << 60, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "count.gguf", "claims 1152921504606846976 tensors");
    c = good_craft(), c.ne0 = 1ULL << 62, c.type = GGML_F32, n = craft(&c, &b, &hdr);
    expect_error(&b, n, "shape.gguf", "absurd");
    expect_error(&b, 3, "tiny.gguf", "truncated");
    GgufFile *g;
    CHECK(gguf_open(&g, "/nonexistent/model.gguf") == -1 &&
          strstr(ml_errmsg(), "/nonexistent/model.gguf"));
}

TEST(gguf_unsupported_type_errors_at_dequant) {
    Buf b;
    size_t hdr;
    Craft c = good_craft();
    c.type = GGML_Q2_K, c.ne0 = 256, c.data_bytes = 2 * 84;
    size_t n = craft(&c, &b, &hdr);
    GgufFile *g;
    CHECK(gguf_open(&g, write_craft(&b, n, "q2k.gguf")) == 0);
    if (!g) return;
    float out[512];
    CHECK(gguf_dequant_rows(&g->tensors[0], 0, 1, out) == -1);
    CHECK(strstr(ml_errmsg(), "tensor 'w' has type q2_K") && strstr(ml_errmsg(), "q2k.gguf"));
    gguf_close(g);
}

/* Cases made by tests/cli/gguf_oracle.sh (llama-quantize outputs and gguf-py's dequantisation of
 * them): for each DIR/X.gguf with DIR/X.want.gguf, every tensor's rows must match. Skipped unless
 * MOELENS_GGUF_CASES=DIR is set. */
#include <dirent.h>

static void compare_case(const char *path, const char *want_path) {
    GgufFile *g, *w;
    CHECK_MSG(gguf_open(&g, path) == 0 && gguf_open(&w, want_path) == 0, "%s", ml_errmsg());
    if (test_failed_now()) return;
    int compared = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const GgufTensor *ref = &w->tensors[i], *t = gguf_tensor(g, ref->name);
        CHECK_MSG(t && t->ne[0] == ref->ne[0] && t->n_rows == ref->n_rows, "%s: tensor %s", path,
                  ref->name);
        if (!t || test_failed_now()) break;
        size_t n = (size_t)(t->ne[0] * t->n_rows);
        float *a = ml_alloc_floats(n), *b = ml_alloc_floats(n);
        CHECK(gguf_dequant_rows(t, 0, t->n_rows, a) == 0 &&
              gguf_dequant_rows(ref, 0, ref->n_rows, b) == 0);
        size_t bad = 0;
        for (size_t k = 0; k < n; k++)
            if (fabs(a[k] - b[k]) > 1e-6 * (fabs(b[k]) + 1e-3)) bad++;
        CHECK_MSG(bad == 0, "%s: %s (%s): %zu of %zu values differ from gguf-py", path, t->name,
                  gguf_ttype_name(t->type), bad, n);
        ml_free(a), ml_free(b);
        compared++;
    }
    printf("  %s: %d tensors match gguf-py\n", path, compared);
    gguf_close(g), gguf_close(w);
}

TEST(gguf_oracle_cases) {
    const char *dir = getenv("MOELENS_GGUF_CASES");
    if (!dir) return; /* run by tests/cli/gguf_oracle.sh */
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return;
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".gguf") || strstr(e->d_name, ".want.")) continue;
        char path[1024], want[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(want, sizeof want, "%s/%.*s.want.gguf", dir, (int)(n - 5), e->d_name);
        FILE *f = fopen(want, "rb");
        if (!f) continue;
        fclose(f);
        compare_case(path, want);
        cases++;
    }
    closedir(d);
    CHECK_MSG(cases > 0, "no cases in %s", dir);
}
