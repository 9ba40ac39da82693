/* `moelens data images`: prepares the emoji concept set or Fashion-MNIST as a prepared image
 * folder; data_info_images summarises a prepared image set for `moelens data info`. */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/data.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/emoji.h"
#include "data/images.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int data_images_main(int argc, char **argv);
int data_info_images(const char *path);

static const char *data_dir(void) {
    const char *d = getenv("MOELENS_DATA");
    return d && *d ? d : "data";
}

static void parse_styles(const char *list, int *sel) {
    memset(sel, 0, sizeof(int) * EMOJI_N_STYLES);
    if (!strcmp(list, "none")) return;
    char buf[256], *save;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < EMOJI_N_STYLES && strcmp(t, EMOJI_STYLE_NAMES[k])) k++;
        if (k == EMOJI_N_STYLES)
            ml_fatal("data images: unknown style '%s' (expected google, twitter, openmoji-color, "
                     "openmoji-black, fluent-modern, fluent-flat or fluent-high-contrast)",
                     t);
        sel[k] = 1;
    }
}

typedef struct {
    const char *set, *data, *out, *info;
    EmojiBuild b;
    int size, min_count, nmf_dims, subset;
} Args;

static void set_fashion(const char *cmd, void *args, const char *v) {
    ((Args *)args)->set = "fashion-mnist";
}
static void train_styles(const char *cmd, void *args, const char *v) {
    parse_styles(v, ((Args *)args)->b.train);
}
static void heldout_styles(const char *cmd, void *args, const char *v) {
    parse_styles(v, ((Args *)args)->b.heldout);
}

#define A(f) offsetof(Args, f)
static const CliOpt opts[] = {
    {"--set", "NAME", OPT_STR, A(set), NULL,
     "emoji (default): the THINGS-like emoji concept set;\nfashion-mnist: Debian "
     "dataset-fashion-mnist (also --fashion-mnist)"},
    {"--fashion-mnist", NULL, OPT_FN, 0, set_fashion, "the same as --set fashion-mnist"},
    {"--data", "DIR", OPT_STR, A(data), NULL, "data folder (default $MOELENS_DATA, else ./data)"},
    {"--out", "DIR", OPT_STR, A(out), NULL,
     "output (default DATA/images/emoji or DATA/images/fashion-mnist)"},
    {"--size", "N", OPT_INT, A(size), NULL,
     "image side in pixels (default 32 for emoji, 28 for fashion-mnist)"},
    {"--train-styles", "LIST", OPT_FN, 0, train_styles,
     "emoji styles to train on (default google,twitter,fluent-modern,\nfluent-flat,"
     "fluent-high-contrast)"},
    {"--heldout-styles", "LIST", OPT_FN, 0, heldout_styles,
     "held-out styles (default openmoji-color,openmoji-black; 'none')\nstyles: google twitter "
     "openmoji-color openmoji-black\nfluent-modern fluent-flat fluent-high-contrast"},
    {"--background", "G", OPT_FLOAT, A(b.background), NULL,
     "grey level in [0,1] that transparent pixels show (default 0.5)"},
    {"--random-bg", NULL, OPT_FLAG, A(b.random_bg), NULL,
     "a seeded random colour per image instead"},
    {"--seed", "N", OPT_U64, A(b.seed), NULL, "seed for --random-bg and NMF (default 1)"},
    {"--min-concepts", "N", OPT_INT, A(min_count), NULL,
     "keep attributes shared by >= N concepts (default 3)"},
    {"--nmf-dims", "K", OPT_INT, A(nmf_dims), NULL, "dense NMF attributes (default 49; 0 = none)"},
    {"--subset", "N", OPT_INT, A(subset), NULL,
     "fashion-mnist: first N images of each split (default all)"},
    {"--info", "PATH", OPT_STR, A(info), NULL,
     "summarise an image set (prepared folder, IDX, CIFAR, PNG tree)"},
};
#undef A

static void usage(void) {
    printf("usage: moelens data images [--set emoji|fashion-mnist] [options]\n"
           "Prepares an image set into a folder that `imageset_load` (and numpy) reads "
           "directly.\n");
    cli_print_opts(CLI_OPTS(opts));
}

static int prepare_emoji(const char *data, const char *out, const EmojiBuild *b, int min_count,
                         int nmf_dims) {
    EmojiSources src;
    emoji_default_sources(&src, data);
    int use[EMOJI_N_STYLES];
    for (int k = 0; k < EMOJI_N_STYLES; k++) use[k] = b->train[k] || b->heldout[k];
    double t0 = ml_now();
    EmojiConcepts ec;
    ImageSet set;
    int rc = emoji_concepts_load(&ec, &src, use);
    if (!rc) {
        int animate = 0, living = 0;
        for (int i = 0; i < ec.n; i++) animate += ec.c[i].animate, living += ec.c[i].living;
        printf("concepts %d (groups %d, subgroups %d; animate %d, inanimate %d, living %d; "
               "WordNet head found for %d) in %.1f s\n",
               ec.n, ec.n_groups, ec.n_subgroups, animate, ec.n - animate, living,
               ec.wordnet_mapped, ml_now() - t0);
        double t1 = ml_now();
        rc = emoji_images(&set, &ec, &src, b);
        if (!rc) {
            printf("images %d (%d styles, %dx%d) in %.1f s\n", set.n, set.n_styles, set.size,
                   set.size, ml_now() - t1);
            double t2 = ml_now();
            rc = emoji_write(out, &set, &ec, min_count, nmf_dims, b->seed);
            if (!rc) printf("wrote %s in %.1f s\n", out, ml_now() - t2);
            imageset_free(&set);
        }
        emoji_concepts_free(&ec);
    }
    emoji_sources_free(&src);
    return rc;
}

static int prepare_fashion(const char *data, const char *out, int size, int subset) {
    char *dir = ml_path_join(data, "deb/dataset-fashion-mnist/usr/share/datasets/fashion-mnist");
    if (!ml_is_dir(dir)) {
        ml_free(dir);
        dir = ml_strdup("/usr/share/datasets/fashion-mnist");
    }
    ImageLoadOpts o = imageset_default_opts();
    o.size = size, o.max_images = subset;
    ImageSet set;
    double t0 = ml_now();
    int rc = imageset_load_idx_dir(&set, dir, &o);
    ml_free(dir);
    if (rc) return -1;
    rc = imageset_save(&set, out);
    if (!rc)
        printf("wrote %s: %d images %dx%d in %.1f s\n", out, set.n, set.size, set.size,
               ml_now() - t0);
    imageset_free(&set);
    return rc;
}

int data_images_main(int argc, char **argv) {
    const char *cmd = "data images";
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    Args args = {.set = "emoji",
                 .data = data_dir(),
                 .b = emoji_default_build(),
                 .min_count = 3,
                 .nmf_dims = 49};
    cli_parse(cmd, CLI_OPTS(opts), &args, argc, argv, NULL, 0);
    if (args.info) return data_info_images(args.info);
    const char *set = args.set, *data = args.data, *out = args.out;
    EmojiBuild b = args.b;
    int size = args.size, min_count = args.min_count, nmf_dims = args.nmf_dims,
        subset = args.subset;
    if (size < 0 || size > 1024) ml_fatal("%s: --size must be in 1..1024, got %d", cmd, size);
    if (b.background < 0 || b.background > 1) ml_fatal("%s: --background must be in [0,1]", cmd);
    if (nmf_dims < 0 || min_count < 1 || subset < 0)
        ml_fatal("%s: --nmf-dims, --subset must be >= 0 and --min-concepts >= 1", cmd);
    char defout[4096];
    int rc;
    if (!strcmp(set, "fashion-mnist")) {
        snprintf(defout, sizeof defout, "%s/images/fashion-mnist", data);
        rc = prepare_fashion(data, out ? out : defout, size, subset);
    } else if (!strcmp(set, "emoji")) {
        snprintf(defout, sizeof defout, "%s/images/emoji", data);
        if (size) b.size = size;
        rc = prepare_emoji(data, out ? out : defout, &b, min_count, nmf_dims);
    } else {
        ml_fatal("%s: unknown --set '%s' (expected emoji or fashion-mnist)", cmd, set);
    }
    if (rc) ml_fatal("%s", ml_errmsg());
    return 0;
}

int data_info_images(const char *path) {
    ImageSet s;
    if (imageset_load(&s, path)) ml_fatal("%s", ml_errmsg());
    int heldout = 0;
    for (int i = 0; i < s.n; i++) heldout += s.split[i] == IMAGESET_HELDOUT;
    printf("%s: %d images, %d channel%s, %dx%d; train %d, held out %d\n", path, s.n, s.channels,
           s.channels == 1 ? "" : "s", s.size, s.size, s.n - heldout, heldout);
    for (int l = 0; l < s.n_levels; l++) {
        int *count = ml_alloc(sizeof(int) * (s.n_classes[l] + 1));
        for (int i = 0; i < s.n; i++) count[s.labels[(size_t)l * s.n + i]]++;
        printf("level %d '%s': %d classes\n", l, s.level_names[l], s.n_classes[l]);
        for (int k = 0; k < s.n_classes[l]; k++)
            printf("  %-28s %d\n", s.class_names[l][k], count[k]);
        ml_free(count);
    }
    if (s.n_concepts) {
        int animate = 0, living = 0;
        for (int c = 0; c < s.n_concepts; c++) animate += s.animate[c], living += s.living[c];
        printf("concepts %d (animate %d, inanimate %d, living %d)\n", s.n_concepts, animate,
               s.n_concepts - animate, living);
    }
    for (int k = 0; k < s.n_styles; k++) {
        int c = 0;
        for (int i = 0; i < s.n; i++) c += s.style[i] == k;
        printf("style %-20s %d images\n", s.style_names[k], c);
    }
    imageset_free(&s);
    return 0;
}

static int images_claims(const char *path) {
    return imageset_is_prepared(path);
}
DATA_SUBCOMMAND("images", data_images_main, "prepare the emoji concept set or Fashion-MNIST images")
DATA_INFO_HANDLER(images_claims, data_info_images)
