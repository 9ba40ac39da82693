/* Image loaders: IDX gz, CIFAR binary, PNG folder trees, prepared folders, pixel helpers. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include "test.h"
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define FIX "tests/fixtures/images/"

static char *tmp_path(const char *name) {
    return ml_path_join(test_tmpdir(), name);
}

/* Writes an RGBA8 PNG with libpng's simplified API. */
static void write_rgba_png(const char *path, const uint8_t *rgba, int w, int h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION, img.width = w, img.height = h;
    img.format = PNG_FORMAT_RGBA;
    CHECK(png_image_write_to_file(&img, path, 0, rgba, 0, NULL));
}

TEST(images_idx_gz_fixture) {
    ImageSet s;
    CHECK(imageset_load(&s, FIX "t10k-images-idx3-ubyte.gz") == 0);
    CHECK(s.n == 20 && s.channels == 1 && s.size == 28 && s.n_levels == 1);
    int want[20] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0};
    for (int i = 0; i < 20; i++) CHECK(s.labels[i] == want[i]);
    CHECK(!strcmp(s.class_names[0][9], "Ankle boot"));
    CHECK_NEAR(s.pixels[400], 1 / 255.0, 1e-7); /* byte 400 of image 0 is 1 */
    imageset_free(&s);
    /* the folder form finds t10k only when train exists: here it must say what it expects */
    CHECK(imageset_load_idx_dir(&s, FIX, NULL) == -1);
    CHECK(strstr(ml_errmsg(), "train-images-idx3-ubyte") != NULL);
}

TEST(images_idx_truncated_and_resized) {
    char *buf;
    size_t len;
    CHECK(ml_read_file(FIX "t10k-images-idx3-ubyte.gz", &buf, &len) == 0);
    char *cut = tmp_path("cut-images-idx3-ubyte.gz");
    CHECK(ml_write_file_atomic(cut, buf, len / 2) == 0);
    ImageSet s;
    CHECK(imageset_load_idx(&s, cut, FIX "t10k-labels-idx1-ubyte.gz", NULL) == -1);
    CHECK_MSG(strstr(ml_errmsg(), cut) && strstr(ml_errmsg(), "truncated"), "%s", ml_errmsg());
    ImageLoadOpts o = imageset_default_opts();
    o.size = 14, o.channels = 3, o.max_images = 5;
    CHECK(imageset_load_idx(&s, FIX "t10k-images-idx3-ubyte.gz", FIX "t10k-labels-idx1-ubyte.gz",
                            &o) == 0);
    CHECK(s.n == 5 && s.size == 14 && s.channels == 3);
    imageset_free(&s);
    ml_free(buf), ml_free(cut);
}

TEST(images_cifar_binary) {
    /* CIFAR-100 layout: [coarse][fine][3072]; image i has every byte = 10*i, labels (i, 2i) */
    char *dir = tmp_path("cifar100");
    CHECK(ml_mkdir_p(dir) == 0);
    uint8_t rec[3 * 3074];
    for (int i = 0; i < 3; i++) {
        rec[i * 3074] = i, rec[i * 3074 + 1] = 2 * i;
        memset(rec + i * 3074 + 2, 10 * i, 3072);
        rec[i * 3074 + 2 + 1024] = 255; /* first pixel of the green plane */
    }
    char *train = ml_path_join(dir, "train.bin"), *test = ml_path_join(dir, "test.bin");
    CHECK(ml_write_file_atomic(train, rec, 2 * 3074) == 0);
    CHECK(ml_write_file_atomic(test, rec + 2 * 3074, 3074) == 0);
    ImageSet s;
    CHECK(imageset_load(&s, dir) == 0);
    CHECK(s.n == 3 && s.n_levels == 2 && s.n_classes[0] == 20 && s.n_classes[1] == 100);
    CHECK(s.labels[1] == 1 && s.labels[3 + 1] == 2 && s.labels[3 + 2] == 4);
    CHECK(s.split[0] == 0 && s.split[1] == 0 && s.split[2] == 1);
    CHECK_NEAR(s.pixels[3072 + 5], 10 / 255.0, 1e-7);
    CHECK_NEAR(s.pixels[3072 + 1024], 1.0, 1e-7);
    imageset_free(&s);
    /* a truncated record is named */
    CHECK(ml_write_file_atomic(test, rec, 3000) == 0);
    CHECK(imageset_load(&s, dir) == -1);
    CHECK_MSG(strstr(ml_errmsg(), "test.bin") && strstr(ml_errmsg(), "record"), "%s", ml_errmsg());
    /* CIFAR-10 single file: [label][3072] */
    uint8_t r10[2 * 3073] = {7};
    r10[3073] = 3;
    char *b10 = tmp_path("data_batch_1.bin");
    CHECK(ml_write_file_atomic(b10, r10, sizeof r10) == 0);
    CHECK(imageset_load(&s, b10) == 0);
    CHECK(s.n == 2 && s.n_levels == 1 && s.labels[0] == 7 && s.labels[1] == 3);
    imageset_free(&s);
    ml_free(dir), ml_free(train), ml_free(test), ml_free(b10);
}

TEST(images_composite_and_resize) {
    /* 2×2 RGBA: opaque red, transparent, half-alpha white, opaque black */
    uint8_t px[16] = {255, 0, 0, 255, 9, 9, 9, 0, 255, 255, 255, 128, 0, 0, 0, 255};
    float bg[3] = {0.5f, 0.25f, 0.0f}, out[12];
    image_composite_rgba(px, 2, 2, bg, out);
    CHECK_NEAR(out[0], 1.0, 1e-6);   /* R of red */
    CHECK_NEAR(out[4 + 0], 0, 1e-6); /* G of red */
    CHECK_NEAR(out[1], 0.5, 1e-6);   /* transparent → background */
    CHECK_NEAR(out[4 + 1], 0.25, 1e-6);
    double a = 128 / 255.0;
    CHECK_NEAR(out[2], a + (1 - a) * 0.5, 1e-6);
    CHECK_NEAR(out[8 + 2], a, 1e-6);
    /* area resize 4×4 → 2×2 averages 2×2 blocks; 3→2 weights the shared middle pixel by 1/2 */
    float in[16], small[4];
    for (int i = 0; i < 16; i++) in[i] = i;
    image_resize_area(in, 1, 4, 4, small, 2, 2);
    CHECK_NEAR(small[0], (0 + 1 + 4 + 5) / 4.0, 1e-5);
    CHECK_NEAR(small[3], (10 + 11 + 14 + 15) / 4.0, 1e-5);
    float row[3] = {0, 3, 6}, two[2];
    image_resize_area(row, 1, 3, 1, two, 2, 1);
    CHECK_NEAR(two[0], (0 + 0.5 * 3) / 1.5, 1e-5);
    CHECK_NEAR(two[1], (0.5 * 3 + 6) / 1.5, 1e-5);
    float c[4] = {0.3f, 0.3f, 0.3f, 0.3f}, big[16]; /* constant stays constant when upsampling */
    image_resize_area(c, 1, 2, 2, big, 4, 4);
    for (int i = 0; i < 16; i++) CHECK_NEAR(big[i], 0.3, 1e-6);
}

TEST(images_png_folder_hierarchy) {
    char *root = tmp_path("pngtree");
    const char *files[] = {"animal/cat/a.png", "animal/dog/b.png", "animal/dog/c.png",
                           "thing/cup/d.png", "thing/e.png"};
    uint8_t img[8 * 8 * 4];
    for (int f = 0; f < 5; f++) {
        for (int p = 0; p < 64; p++) {
            img[4 * p] = 40 * f, img[4 * p + 1] = 0, img[4 * p + 2] = 0;
            img[4 * p + 3] = p < 32 ? 255 : 0; /* top half opaque, bottom transparent */
        }
        char *path = ml_path_join(root, files[f]);
        char *slash = strrchr(path, '/');
        *slash = 0;
        CHECK(ml_mkdir_p(path) == 0);
        *slash = '/';
        write_rgba_png(path, img, 8, 8);
        ml_free(path);
    }
    ImageLoadOpts o = imageset_default_opts();
    o.size = 4, o.background = 1.0f;
    ImageSet s;
    CHECK(imageset_load_opts(&s, root, &o) == 0);
    CHECK(s.n == 5 && s.size == 4 && s.channels == 3 && s.n_levels == 2);
    CHECK(s.n_classes[0] == 2 && s.n_classes[1] == 4); /* animal/cat animal/dog thing thing/cup */
    CHECK(!strcmp(s.class_names[1][s.labels[5 + 1]], "animal/dog"));
    CHECK(!strcmp(s.class_names[1][s.labels[5 + 4]], "thing")); /* shallow image repeats */
    CHECK(!strcmp(s.class_names[0][s.labels[3]], "thing"));
    /* image 1: red 40/255 on top, white background (R=G=B=1) at the bottom */
    float *im1 = s.pixels + 1 * 3 * 16;
    CHECK_NEAR(im1[0], 40 / 255.0, 1e-6);
    CHECK_NEAR(im1[16 + 0], 0.0, 1e-6);
    CHECK_NEAR(im1[16 + 15], 1.0, 1e-6);
    imageset_free(&s);
    /* a corrupt PNG is named in the error */
    char *bad = ml_path_join(root, "thing/cup/z.png");
    char *good;
    size_t len;
    char *d = ml_path_join(root, files[3]);
    CHECK(ml_read_file(d, &good, &len) == 0);
    CHECK(ml_write_file_atomic(bad, good, len - 30) == 0);
    CHECK(imageset_load(&s, root) == -1);
    CHECK_MSG(strstr(ml_errmsg(), "z.png") && strstr(ml_errmsg(), "PNG"), "%s", ml_errmsg());
    ml_free(good), ml_free(bad), ml_free(d), ml_free(root);
}

TEST(images_prepared_roundtrip_and_split) {
    ImageSet s, t, h;
    CHECK(imageset_load(&s, FIX "t10k-images-idx3-ubyte.gz") == 0);
    for (int i = 0; i < s.n; i++) s.split[i] = i % 4 == 0;
    char *dir = tmp_path("prepared");
    CHECK(imageset_save(&s, dir) == 0);
    CHECK(imageset_is_prepared(dir));
    CHECK(imageset_load(&t, dir) == 0);
    CHECK(t.n == s.n && t.size == 28 && t.n_levels == 1 && t.n_classes[0] == 10);
    CHECK(!strcmp(t.class_names[0][0], "T-shirt/top"));
    for (int k = 0; k < s.n * 784; k++) CHECK_NEAR(t.pixels[k], s.pixels[k], 1e-6);
    imageset_split(&t, IMAGESET_HELDOUT, &h);
    CHECK(h.n == 5 && h.labels[1] == t.labels[4]);
    imageset_free(&h);
    imageset_free(&t);
    ImageLoadOpts o = imageset_default_opts();
    o.size = 32;
    CHECK(imageset_load_opts(&t, dir, &o) == 0 && t.size == 32);
    imageset_free(&t);
    imageset_free(&s);
    ml_free(dir);
}

/* Style families: the text before the first '-' names the package (the emoji set's seven styles
 * make four families), and a prefix alone is not a family of a longer one ("fluentx-a"). */
TEST(images_style_families_by_package_prefix) {
    char *names[] = {"google",        "twitter",     "openmoji-color", "openmoji-black",
                     "fluent-modern", "fluent-flat", "fluentx-a",      "fluent-high-contrast"};
    ImageSet s = {.n_styles = 8, .style_names = names};
    int32_t *fam = imageset_style_families(&s);
    int32_t want[8] = {0, 1, 2, 2, 4, 4, 6, 4};
    for (int i = 0; i < 8; i++)
        CHECK_MSG(fam[i] == want[i], "style %s: family %d", names[i], fam[i]);
    ml_free(fam);
}
