#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "test.h"
#include <string.h>

TEST(core_rng_is_deterministic_and_normal) {
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    double sum = 0, sq = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        float x = rng_normal(&a), y = rng_normal(&b);
        CHECK(x == y);
        sum += x;
        sq += x * x;
    }
    CHECK_NEAR(sum / n, 0.0, 0.03);
    CHECK_NEAR(sq / n, 1.0, 0.05);
}

TEST(core_safetensors_round_trip) {
    char *path = ml_path_join(test_tmpdir(), "t.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    SafeTensors w;
    st_init(&w);
    st_add_f32(&w, "a", a, shape, 2);
    st_set_meta(&w, "config", "{\"d\":1}");
    CHECK(st_write(&w, path) == 0);
    st_free(&w);
    SafeTensors r;
    CHECK(st_open(&r, path) == 0);
    CHECK(strcmp(st_meta(&r, "config"), "{\"d\":1}") == 0);
    float back[6];
    CHECK(st_read_f32(&r, "a", back, 6) == 0);
    CHECK(memcmp(a, back, sizeof a) == 0);
    CHECK(st_read_f32(&r, "a", back, 5) != 0); /* shape mismatch is an error */
    CHECK(strstr(ml_errmsg(), "'a'") != NULL);
    CHECK(st_read_f32(&r, "missing", back, 6) != 0);
    /* a part (an expert slab): the whole tensor's count checked, only [first, first + n) copied */
    float part[3] = {0, 0, 0};
    CHECK(st_read_f32_part(&r, "a", part, 6, 3, 3) == 0);
    CHECK(part[0] == 4 && part[1] == 5 && part[2] == 6);
    CHECK(st_read_f32_part(&r, "a", part, 3, 0, 3) != 0); /* the whole count must match */
    CHECK(st_read_f32_part(&r, "a", part, 6, 4, 3) != 0); /* past the end */
    st_free(&r);
    ml_free(path);
}

/* st_write_header + the caller's bytes in order + commit: the file st_write writes. */
TEST(core_safetensors_header_then_bytes) {
    char *p1 = ml_path_join(test_tmpdir(), "w1.safetensors"),
         *p2 = ml_path_join(test_tmpdir(), "w2.safetensors");
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
    int64_t sa[1] = {4}, sb[1] = {2};
    SafeTensors w;
    st_init(&w);
    st_add_f32(&w, "a", a, sa, 1);
    st_add_f32(&w, "b", b, sb, 1);
    CHECK(st_write(&w, p1) == 0);
    AtomicFile af;
    CHECK(st_write_header(&w, &af, p2) == 0);
    afile_write(&af, a, 2 * sizeof(float)); /* a in two pieces, as slabs come */
    afile_write(&af, a + 2, 2 * sizeof(float));
    afile_write(&af, b, sizeof b);
    CHECK(afile_commit(&af) == 0);
    st_free(&w);
    char *x, *y;
    size_t nx, ny;
    CHECK(ml_read_file(p1, &x, &nx) == 0 && ml_read_file(p2, &y, &ny) == 0);
    CHECK(nx == ny && memcmp(x, y, nx) == 0);
    ml_free(x), ml_free(y), ml_free(p1), ml_free(p2);
}

TEST(core_safetensors_truncated_is_clear_error) {
    char *path = ml_path_join(test_tmpdir(), "trunc.safetensors");
    float a[64] = {0};
    int64_t shape[1] = {64};
    SafeTensors w;
    st_init(&w);
    st_add_f32(&w, "weights", a, shape, 1);
    CHECK(st_write(&w, path) == 0);
    st_free(&w);
    char *buf;
    size_t len;
    CHECK(ml_read_file(path, &buf, &len) == 0);
    CHECK(ml_write_file_atomic(path, buf, len - 10) == 0);
    SafeTensors r;
    CHECK(st_open(&r, path) != 0);
    CHECK(strstr(ml_errmsg(), "weights") != NULL);
    CHECK(ml_write_file_atomic(path, buf, 4) == 0);
    CHECK(st_open(&r, path) != 0);
    memcpy(buf + 8, "garbage!", 8); /* corrupt header JSON */
    CHECK(ml_write_file_atomic(path, buf, len) == 0);
    CHECK(st_open(&r, path) != 0);
    ml_free(buf);
    ml_free(path);
}

TEST(core_npy_round_trip) {
    char *path = ml_path_join(test_tmpdir(), "a.npy");
    int32_t v[6] = {1, -2, 3, -4, 5, 6};
    int64_t shape[2] = {3, 2};
    CHECK(npy_write_i32(path, v, shape, 2) == 0);
    NpyArray a;
    CHECK(npy_read(path, &a) == 0);
    CHECK(strcmp(a.dtype, "<i4") == 0 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 2);
    CHECK(memcmp(a.data, v, sizeof v) == 0);
    npy_free(&a);
    ml_free(path);
}

TEST(core_atomic_abort_leaves_old_file) {
    char *path = ml_path_join(test_tmpdir(), "keep.txt");
    CHECK(ml_write_file_atomic(path, "old", 3) == 0);
    AtomicFile af;
    CHECK(afile_open(&af, path) == 0);
    afile_write(&af, "new-partial", 11);
    afile_abort(&af);
    char *buf;
    CHECK(ml_read_file(path, &buf, NULL) == 0);
    CHECK(strcmp(buf, "old") == 0);
    ml_free(buf);
    ml_free(path);
}
