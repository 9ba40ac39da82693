/* The GGUF writer (src/gguf/gguf_write.c), read back by moelens' own parser: every value type,
 * numeric and string arrays, F32/F16 tensors of 1..3 dimensions at 32-byte alignment; refusals
 * leave no file; f16 rounding as ggml. (gguf-py reads the exported files in
 * tests/cli/export_gguf.sh.) */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static char *tmp(const char *name) {
    return ml_path_join(test_tmpdir(), name);
}

static int64_t read_int(const GgufKV *kv, int bytes, int is_signed) {
    int64_t v = 0;
    uint64_t u = 0;
    memcpy(&u, kv->value, bytes);
    if (is_signed && bytes < 8 && (u >> (bytes * 8 - 1)) & 1) u |= ~0ull << (bytes * 8);
    memcpy(&v, &u, 8);
    return v;
}

TEST(gguf_write_metadata_every_type) {
    char *path = tmp("meta.gguf");
    GgufWriter *w = gguf_writer_new();
    const int32_t ia[3] = {-1, 7, 1 << 30};
    const float fa[2] = {0.5f, -2.25f};
    const uint8_t ba[3] = {1, 0, 5};
    const char *sa[3] = {"Ġthe", "", "a b"};
    CHECK(!gguf_w_u8(w, "t.u8", 200) && !gguf_w_i8(w, "t.i8", -100) &&
          !gguf_w_u16(w, "t.u16", 60000) && !gguf_w_i16(w, "t.i16", -30000) &&
          !gguf_w_u32(w, "t.u32", 4000000000u) && !gguf_w_i32(w, "t.i32", -2000000000) &&
          !gguf_w_u64(w, "t.u64", 1ull << 40) && !gguf_w_i64(w, "t.i64", -(1ll << 40)) &&
          !gguf_w_f32(w, "t.f32", 1e-5f) && !gguf_w_f64(w, "t.f64", 3.25) &&
          !gguf_w_bool(w, "t.bool", 1) && !gguf_w_str(w, "t.str", "gpt-2") &&
          !gguf_w_array(w, "t.ia", GGUF_T_INT32, ia, 3) &&
          !gguf_w_array(w, "t.fa", GGUF_T_FLOAT32, fa, 2) &&
          !gguf_w_array(w, "t.ba", GGUF_T_BOOL, ba, 3) && !gguf_w_str_array(w, "t.sa", sa, 3) &&
          !gguf_w_str_array(w, "t.empty", sa, 0));
    CHECK(!gguf_writer_write(w, path));
    GgufFile *g;
    CHECK_MSG(!gguf_open(&g, path), "%s", ml_errmsg());
    if (test_failed_now()) return;
    CHECK(g->version == 3 && g->n_kv == 17 && g->n_tensors == 0);
    CHECK(read_int(gguf_find(g, "t.u8"), 1, 0) == 200 &&
          read_int(gguf_find(g, "t.i8"), 1, 1) == -100);
    CHECK(read_int(gguf_find(g, "t.u16"), 2, 0) == 60000);
    CHECK(read_int(gguf_find(g, "t.i16"), 2, 1) == -30000);
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    int b;
    CHECK(!gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u);
    CHECK(!gguf_get_i64(g, "t.i32", &i64) && i64 == -2000000000);
    CHECK(!gguf_get_u64(g, "t.u64", &u64) && u64 == 1ull << 40);
    CHECK(!gguf_get_i64(g, "t.i64", &i64) && i64 == -(1ll << 40));
    CHECK(!gguf_get_f32(g, "t.f32", &f) && f == 1e-5f);
    CHECK(!gguf_get_f32(g, "t.f64", &f) && f == 3.25f &&
          gguf_find(g, "t.f64")->type == GGUF_T_FLOAT64);
    CHECK(!gguf_get_bool(g, "t.bool", &b) && b == 1);
    GgufStr s;
    CHECK(!gguf_get_str(g, "t.str", &s) && s.len == 5 && !memcmp(s.ptr, "gpt-2", 5));
    int32_t *ib;
    float *fb;
    GgufStr *ss;
    uint64_t n;
    CHECK(!gguf_get_i32_array(g, "t.ia", &ib, &n) && n == 3 && !memcmp(ib, ia, sizeof ia));
    ml_free(ib);
    CHECK(!gguf_get_f32_array(g, "t.fa", &fb, &n) && n == 2 && fb[1] == -2.25f);
    ml_free(fb);
    const GgufKV *kb = gguf_find(g, "t.ba");
    /* an array value starts with its element type and count */
    CHECK(kb->arr_type == GGUF_T_BOOL && kb->arr_n == 3 && kb->value[12] == 1 &&
          kb->value[13] == 0 && kb->value[14] == 1);
    CHECK(!gguf_get_str_array(g, "t.sa", &ss, &n) && n == 3);
    if (!test_failed_now()) {
        CHECK(ss[0].len == strlen("Ġthe") && !memcmp(ss[0].ptr, "Ġthe", ss[0].len));
        CHECK(ss[1].len == 0 && ss[2].len == 3 && !memcmp(ss[2].ptr, "a b", 3));
    }
    ml_free(ss);
    CHECK(gguf_find(g, "t.empty")->arr_n == 0);
    gguf_close(g);
    ml_free(path);
}

TEST(gguf_write_tensors_f32_f16_aligned) {
    char *path = tmp("tensors.gguf");
    enum { A = 5, B = 3, E = 2 };
    float x[A * B * E], y[7];
    for (int i = 0; i < A * B * E; i++) x[i] = sinf((float)i) * 3.0f;
    for (int i = 0; i < 7; i++) y[i] = (float)i / 3.0f;
    GgufWriter *w = gguf_writer_new();
    uint64_t ne3[3] = {A, B, E}, ne1[1] = {7}, ne2[2] = {A * B, E};
    CHECK(!gguf_w_str(w, "general.architecture", "llama"));
    CHECK(!gguf_w_tensor(w, "stack", GGML_F32, x, 3, ne3));
    CHECK(!gguf_w_tensor(w, "vec", GGML_F32, y, 1, ne1)); /* 28 bytes: the next one is padded */
    CHECK(!gguf_w_tensor(w, "half", GGML_F16, x, 2, ne2));
    CHECK(!gguf_writer_write(w, path));
    GgufFile *g;
    CHECK_MSG(!gguf_open(&g, path), "%s", ml_errmsg());
    if (test_failed_now()) return;
    CHECK(g->n_tensors == 3 && g->alignment == 32 && g->data_offset % 32 == 0);
    const GgufTensor *t = gguf_tensor(g, "stack"), *v = gguf_tensor(g, "vec"),
                     *h = gguf_tensor(g, "half");
    CHECK(t && v && h);
    if (test_failed_now()) return;
    CHECK(t->n_dims == 3 && t->ne[0] == A && t->ne[1] == B && t->ne[2] == E && t->type == GGML_F32);
    CHECK(v->n_dims == 1 && v->ne[0] == 7 && h->n_dims == 2 && h->type == GGML_F16);
    CHECK(v->offset % 32 == 0 && h->offset % 32 == 0 && h->offset == 32 * 5);
    CHECK(!memcmp(t->data, x, sizeof x) && !memcmp(v->data, y, sizeof y));
    float back[A * B * E];
    CHECK(!gguf_dequant_rows(h, 0, E, back));
    for (int i = 0; i < A * B * E; i++) {
        CHECK_NEAR(back[i], x[i], 2e-3);
        CHECK(back[i] == gguf_f16_to_f32(gguf_f32_to_f16(x[i])));
    }
    CHECK(g->size == g->data_offset + h->offset + A * B * E * 2 + 4); /* padded end */
    gguf_close(g);
    ml_free(path);
}

TEST(gguf_write_refusals_leave_no_file) {
    char *path = tmp("refused.gguf");
    float x[4] = {0};
    uint64_t ne[2] = {2, 2}, zero[1] = {0};
    GgufWriter *w = gguf_writer_new();
    CHECK(!gguf_w_u32(w, "k", 1));
    CHECK(gguf_w_str(w, "k", "again") == -1 && strstr(ml_errmsg(), "duplicate metadata key 'k'"));
    gguf_writer_write(w, path);
    CHECK(!ml_file_exists(path));
    w = gguf_writer_new();
    CHECK(gguf_w_tensor(w, "q", GGML_Q8_0, x, 2, ne) == -1 && strstr(ml_errmsg(), "'q'"));
    CHECK(gguf_w_tensor(w, "z", GGML_F32, x, 1, zero) == -1 && strstr(ml_errmsg(), "ne[0] = 0"));
    CHECK(gguf_w_tensor(w, "d", GGML_F32, x, 5, ne) == -1);
    CHECK(gguf_w_array(w, "s", GGUF_T_STRING, x, 1) == -1);
    CHECK(!gguf_w_tensor(w, "t", GGML_F32, x, 2, ne));
    CHECK(gguf_w_tensor(w, "t", GGML_F32, x, 2, ne) == -1 &&
          strstr(ml_errmsg(), "duplicate tensor"));
    CHECK(gguf_w_str(w, "", "x") == -1);
    CHECK(gguf_writer_write(w, path) == -1 && strstr(ml_errmsg(), "not written"));
    CHECK(!ml_file_exists(path));
    ml_free(path);
}

TEST(gguf_write_f16_rounding) {
    /* nearest even, overflow to inf, subnormals, NaN; and every half round-trips */
    CHECK(gguf_f32_to_f16(1.0f) == 0x3C00 && gguf_f32_to_f16(-2.0f) == 0xC000);
    CHECK(gguf_f32_to_f16(65504.0f) == 0x7BFF && gguf_f32_to_f16(65520.0f) == 0x7C00);
    CHECK(gguf_f32_to_f16(1e10f) == 0x7C00 && gguf_f32_to_f16(-INFINITY) == 0xFC00);
    CHECK((gguf_f32_to_f16(NAN) & 0x7C00) == 0x7C00 && (gguf_f32_to_f16(NAN) & 0x3FF));
    CHECK(gguf_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00);     /* tie → even */
    CHECK(gguf_f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02);     /* tie → even (up) */
    CHECK(gguf_f32_to_f16(5.960464477539063e-08f) == 0x0001); /* smallest subnormal */
    CHECK(gguf_f32_to_f16(2.9e-08f) == 0x0000 && gguf_f32_to_f16(-0.0f) == 0x8000);
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue; /* NaN payloads */
        bad += gguf_f32_to_f16(gguf_f16_to_f32((uint16_t)h)) != h;
    }
    CHECK(bad == 0);
}
