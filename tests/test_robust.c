/* Bad input that once crashed, hung, wrapped or wrote half a result (issue 21): each test builds
 * the hostile file or value and checks for one clear error instead. */
#include "analysis/lm/intervene.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "data/images.h"
#include "data/tokenizer.h"
#include "model/lm_config.h"
#include "model/lm_io.h"
#include "model/vision.h"
#include "test.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char *tmp_path(const char *name) {
    return ml_path_join(test_tmpdir(), name);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    CHECK(ml_write_file_atomic(path, b, n) == 0);
}

TEST(robust_size_arithmetic_refuses_overflow) {
    size_t out;
    CHECK(ml_size_mul(SIZE_MAX / 2, 3, &out) == -1 && out == SIZE_MAX);
    CHECK(ml_size_mul(1 << 20, 1 << 20, &out) == 0 && out == (size_t)1 << 40);
    CHECK(ml_size_add(SIZE_MAX, 1, &out) == -1);
    int64_t big[3] = {4294967296LL, 4294967296LL, 2};
    CHECK(ml_shape_bytes(big, 3, 4, &out) == -1);
    int64_t neg[2] = {3, -1};
    CHECK(ml_shape_bytes(neg, 2, 4, &out) == -1);
    int64_t ok[2] = {3, 5};
    CHECK(ml_shape_bytes(ok, 2, 4, &out) == 0 && out == 60);
}

/* The audit's 192-byte .npy: a shape whose byte count overflows passed the truncation check. */
TEST(robust_npy_overflowing_shape_is_refused) {
    char *path = tmp_path("overflow.npy");
    char file[192];
    memset(file, ' ', sizeof file);
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
    file[8] = (char)(sizeof file - 10), file[9] = 0;
    memcpy(file + 10, h, strlen(h));
    file[sizeof file - 1] = '\n';
    write_bytes(path, file, sizeof file);
    NpyArray a;
    CHECK(npy_read(path, &a) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "too large") != NULL, "message: %s", ml_errmsg());
    ml_free(path);
}

TEST(robust_safetensors_truncated_names_real_size) {
    char *path = tmp_path("cut.safetensors");
    unsigned char b[8] = {100, 0, 0, 0, 0, 0, 0, 0}; /* a header of 100 bytes, none present */
    write_bytes(path, b, sizeof b);
    SafeTensors st;
    CHECK(st_open(&st, path) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "file size 8") != NULL, "message: %s", ml_errmsg());
    ml_free(path);
}

TEST(robust_safetensors_huge_shape_is_refused) {
    char *path = tmp_path("huge.safetensors");
    const char *json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e30,1e30],\"data_offsets\":[0,0]}}";
    size_t n = strlen(json);
    unsigned char *b = ml_alloc(8 + n);
    b[0] = (unsigned char)n;
    memcpy(b + 8, json, n);
    write_bytes(path, b, 8 + n);
    SafeTensors st;
    CHECK(st_open(&st, path) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "bad shape") != NULL, "message: %s", ml_errmsg());
    ml_free(b), ml_free(path);
}

TEST(robust_folder_given_for_a_file_says_so) {
    char *buf;
    CHECK(ml_read_file(test_tmpdir(), &buf, NULL) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "is a folder") != NULL, "message: %s", ml_errmsg());
    CHECK(ml_check_file(test_tmpdir()) != 0);
    SafeTensors st;
    CHECK(st_open(&st, test_tmpdir()) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "is a folder") != NULL, "message: %s", ml_errmsg());
}

/* An IDX header whose dimensions are 0 (or whose product wraps) made any image count pass the
 * size check: the loader then allocated gigabytes for a 16-byte file. */
TEST(robust_idx_header_bounded_by_file_size) {
    char *img = tmp_path("bad-images-idx3-ubyte"), *lab = tmp_path("bad-labels-idx1-ubyte");
    unsigned char h[16] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    write_bytes(img, h, sizeof h);
    unsigned char l[9] = {0, 0, 8, 1, 0, 0, 0, 1, 0};
    write_bytes(lab, l, sizeof l);
    ImageSet set;
    CHECK(imageset_load_idx(&set, img, lab, NULL) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "dimension") != NULL, "message: %s", ml_errmsg());
    /* 2^32-1 × 2^32-1 × 2^32-1 wraps size_t */
    unsigned char w[32] = {0,    0,    8,    3,    0xff, 0xff, 0xff, 0xff,
                           0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff};
    write_bytes(img, w, sizeof w);
    CHECK(imageset_load_idx(&set, img, lab, NULL) != 0);
    unsigned char x[32] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1};
    write_bytes(img, x, sizeof x); /* 2^31-1 one-pixel images in a 32-byte file */
    CHECK(imageset_load_idx(&set, img, lab, NULL) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "truncated") != NULL, "message: %s", ml_errmsg());
    ml_free(img), ml_free(lab);
}

/* Rewrites a PNG's IHDR height (and its CRC). */
static void png_set_height(const char *path, uint32_t height) {
    char *b;
    size_t n;
    CHECK(ml_read_file(path, &b, &n) == 0);
    unsigned char *ihdr = (unsigned char *)b + 12; /* "IHDR" + 13 data bytes + CRC */
    for (int i = 0; i < 4; i++) ihdr[8 + i] = (unsigned char)(height >> (24 - 8 * i));
    uint32_t crc = (uint32_t)crc32(0, ihdr, 17);
    for (int i = 0; i < 4; i++) ihdr[17 + i] = (unsigned char)(crc >> (24 - 8 * i));
    write_bytes(path, b, n);
    ml_free(b);
}

TEST(robust_png_tree_bounded_by_file_size) {
    char *root = tmp_path("pngtree"), *cls = ml_path_join(root, "a");
    char *png = ml_path_join(cls, "x.png");
    CHECK(ml_mkdir_p(cls) == 0);
    float *strip = ml_alloc_floats(3 * 16384);
    CHECK(png_write_chw(png, strip, 3, 16384, 1) == 0); /* tiny file, 16384×1 */
    ImageSet set;
    CHECK(imageset_load_png_dir(&set, root, NULL) != 0); /* native size would be 16384² */
    CHECK_MSG(strstr(ml_errmsg(), "square") != NULL, "message: %s", ml_errmsg());
    png_set_height(png, 16384); /* now claims 16384² pixels in ~100 bytes */
    uint8_t *rgba;
    int w, h;
    CHECK(png_read_rgba(png, &rgba, &w, &h) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "more pixels than the file") != NULL, "message: %s", ml_errmsg());
    ml_free(strip), ml_free(png), ml_free(cls), ml_free(root);
}

TEST(robust_lm_config_refuses_wrapping_and_nonfinite) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    CHECK(lm_config_set(&c, "d_model", "4294967424") != 0);
    CHECK(c.d_model == 128);
    CHECK(lm_config_set(&c, "rope_base", "1e39") != 0);
    CHECK(lm_config_set(&c, "lr", "nan") != 0);
    CHECK(lm_config_set(&c, "lr", "1e39") != 0);
    CHECK(lm_config_set(&c, "norm_eps", "inf") != 0);
    CHECK(lm_config_set(&c, "adam_eps", "-1e40") != 0);
    CHECK(lm_config_set(&c, "router_noise", "1e300") != 0);
    CHECK(lm_config_set(&c, "seed", "-1") != 0);
    LmConfig d = c;
    CHECK(lm_config_set(&d, "log_every", "0") == 0 && lm_config_finalize(&d) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "log_every") != NULL, "message: %s", ml_errmsg());
    d = c;
    CHECK(lm_config_set(&d, "steps", "-1") == 0 && lm_config_finalize(&d) != 0);
    d = c;
    CHECK(lm_config_set(&d, "beta2", "1") == 0 && lm_config_finalize(&d) != 0);
    d = c;
    CHECK(lm_config_finalize(&d) == 0); /* the preset itself passes */
}

TEST(robust_lm_config_json_integers_exact) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    CHECK(lm_config_from_json(&c, "{\"n_layer\": 2.7}", "cfg.json") != 0);
    CHECK_MSG(strstr(ml_errmsg(), "cfg.json") && strstr(ml_errmsg(), "n_layer"), "message: %s",
              ml_errmsg());
    CHECK(lm_config_from_json(&c, "{\"d_model\": 1e12}", "cfg.json") != 0);
    CHECK(c.d_model == 128);
    CHECK(lm_config_from_json(&c, "{\"rope_base\": 1e39}", "cfg.json") != 0);
    CHECK(lm_config_from_json(&c, "{\"seed\": 5000000000}", "cfg.json") == 0);
    CHECK(c.seed == 5000000000ull);
    CHECK(lm_config_from_json(&c, "{\"lr\": 0.000123456789}", "cfg.json") == 0);
    CHECK(c.lr == 0.000123456789f);
}

TEST(robust_vision_config_refuses_wrapping_and_nonfinite) {
    VisionConfig c;
    vision_preset(&c, "tiny");
    CHECK(vision_config_set(&c, "lr=1e39") != 0);
    CHECK(vision_config_set(&c, "tau=nan") != 0);
    CHECK(vision_config_set(&c, "seed=-1") != 0);
    CHECK(vision_config_set(&c, "batch=4294967360") != 0);
    CHECK(vision_config_from_json(&c, "{\"model\":\"vision\",\"batch\":64.5}") != 0);
    CHECK(vision_config_from_json(&c, "{\"model\":\"vision\",\"seed\":\"18446744073709551615\"}") ==
          0);
    CHECK(c.seed == UINT64_MAX);
    CHECK(vision_config_from_json(&c, "{\"model\":\"vision\",\"weight_decay\":-1}") != 0);
}

TEST(robust_router_bias_beyond_float_range) {
    Intervention iv;
    intervene_init(&iv);
    CHECK(intervene_parse(&iv, "--router-bias", "0:1=1e39") != 0);
    CHECK(intervene_parse(&iv, "--router-bias", "0:1=1e30") == 0);
    intervene_free(&iv);
}

/* Run under `make sanitize`: the truncated-vocabulary path used to leak its scratch buffer. */
TEST(robust_tokenizer_error_paths) {
    char *path = tmp_path("cut.tok");
    const char *text = "moelens-bpe 1 vocab 300 merges 0\n";
    write_bytes(path, text, strlen(text));
    Tokenizer *t;
    CHECK(tokenizer_load(&t, path) != 0);
    CHECK(strstr(ml_errmsg(), "truncated") != NULL);
    CHECK(tokenizer_load(&t, test_tmpdir()) != 0);
    CHECK(strstr(ml_errmsg(), "is a folder") != NULL);
    ml_free(path);
}

TEST(robust_error_message_may_quote_itself) {
    ml_error("inner %d", 7);
    ml_error("outer: %s", ml_errmsg());
    CHECK(strcmp(ml_errmsg(), "outer: inner 7") == 0);
}

static long dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

TEST(robust_stale_tmp_of_dead_process_removed) {
    char *dir = tmp_path("stale"), name[64];
    CHECK(ml_mkdir_p(dir) == 0);
    snprintf(name, sizeof name, "checkpoint.safetensors.tmp.%ld", dead_pid());
    char *dead = ml_path_join(dir, name);
    snprintf(name, sizeof name, "model.safetensors.tmp.%d", (int)getpid());
    char *live = ml_path_join(dir, name), *keep = ml_path_join(dir, "notes.tmp.txt");
    write_bytes(dead, "x", 1), write_bytes(live, "x", 1), write_bytes(keep, "x", 1);
    snprintf(name, sizeof name, "analysis.tmp.%ld", dead_pid());
    char *dead_dir = ml_path_join(dir, name), *inside = ml_path_join(dead_dir, "a.csv");
    CHECK(ml_mkdir_p(dead_dir) == 0);
    write_bytes(inside, "x", 1);
    CHECK(ml_remove_stale_tmp(dir) == 2);
    CHECK(!ml_file_exists(dead) && !ml_file_exists(dead_dir));
    CHECK(ml_file_exists(live) && ml_file_exists(keep));
    ml_free(dir), ml_free(dead), ml_free(live), ml_free(keep), ml_free(dead_dir), ml_free(inside);
}

TEST(robust_folder_replaced_whole) {
    char *final = tmp_path("analysis"), *old = ml_path_join(final, "old.csv");
    CHECK(ml_mkdir_p(final) == 0);
    write_bytes(old, "old", 3);
    char *tmp = ml_dir_begin(final), *fresh = ml_path_join(tmp, "new.csv");
    write_bytes(fresh, "new", 3);
    CHECK(ml_file_exists(old)); /* untouched until the commit */
    CHECK(ml_dir_commit(tmp, final) == 0);
    char *now = ml_path_join(final, "new.csv");
    CHECK(ml_file_exists(now) && !ml_file_exists(old) && !ml_file_exists(tmp));
    ml_free(final), ml_free(old), ml_free(tmp), ml_free(fresh), ml_free(now);
}

/* ml_alloc rounded sizes near 2^64 up to a tiny block; now such a request is fatal (exit 1). */
TEST(robust_alloc_near_size_max_is_fatal) {
    size_t sizes[2] = {SIZE_MAX - 10, SIZE_MAX / 4 * 3};
    for (int i = 0; i < 2; i++) {
        pid_t p = fork();
        if (p == 0) {
            freopen("/dev/null", "w", stderr);
            ml_alloc(sizes[i]);
            _exit(0); /* returned a block: the bug */
        }
        int status;
        waitpid(p, &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1, "size %zu: status %d", sizes[i],
                  status);
    }
}

TEST(robust_checkpoint_config_error_names_file) {
    char *path = tmp_path("badcfg.safetensors");
    SafeTensors st;
    st_init(&st);
    st_set_meta(&st, "format", "moelens-lm-1");
    st_set_meta(&st, "config", "{\"log_every\": 0}");
    CHECK(st_write(&st, path) == 0);
    st_free(&st);
    LmModel m;
    CHECK(lm_load(&m, path, 0, NULL) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "badcfg.safetensors") && strstr(ml_errmsg(), "log_every"),
              "message: %s", ml_errmsg());
    ml_free(path);
}

static int write_then_fail(const char *dir, void *ctx) {
    char *p = ml_path_join(dir, "partial.csv");
    write_bytes(p, "x", 1);
    ml_free(p);
    *(int *)ctx += 1;
    return ml_error("analysis failed half-way");
}

/* analyze and analyze vision write through ml_dir_write: a failure leaves the old folder whole. */
static int write_new_csv(const char *dir, void *ctx) {
    char *p = ml_path_join(dir, "new.csv");
    write_bytes(p, ctx, strlen(ctx));
    ml_free(p);
    return 0;
}

TEST(robust_folder_write_keeps_other_outputs) {
    char *final = tmp_path("an3"), *old = ml_path_join(final, "old.csv");
    char *fresh = ml_path_join(final, "new.csv"), *buf;
    CHECK(ml_mkdir_p(final) == 0);
    write_bytes(old, "old", 3), write_bytes(fresh, "stale", 5);
    CHECK(ml_dir_write(final, write_new_csv, "fresh") == 0);
    CHECK(ml_file_exists(old)); /* an output this run did not write stays */
    CHECK(ml_read_file(fresh, &buf, NULL) == 0 && !strcmp(buf, "fresh"));
    ml_free(buf), ml_free(final), ml_free(old), ml_free(fresh);
}

TEST(robust_failed_folder_write_keeps_old) {
    char *final = tmp_path("an2"), *old = ml_path_join(final, "old.csv");
    CHECK(ml_mkdir_p(final) == 0);
    write_bytes(old, "old", 3);
    int calls = 0;
    CHECK(ml_dir_write(final, write_then_fail, &calls) != 0 && calls == 1);
    char *partial = ml_path_join(final, "partial.csv"), name[64];
    CHECK(ml_file_exists(old) && !ml_file_exists(partial));
    snprintf(name, sizeof name, "an2.tmp.%d", (int)getpid());
    char *tmp = tmp_path(name);
    CHECK(!ml_file_exists(tmp));
    ml_free(final), ml_free(old), ml_free(partial), ml_free(tmp);
}
