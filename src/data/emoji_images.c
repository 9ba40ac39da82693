/* Emoji concept images: one per concept and style; OpenMoji and Fluent SVGs rendered once with
 * rsvg-convert. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/emoji.h"
#include "data/images_internal.h"
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

EmojiBuild emoji_default_build(void) {
    EmojiBuild b = {0};
    b.size = 32, b.render_size = 64, b.background = 0.5f, b.seed = 1;
    /* five styles to train on, both OpenMoji styles held out: the held-out set keeps a colour
     * and a line-art style, and line art is seen in training through Fluent's high-contrast */
    b.train[EMOJI_GOOGLE] = b.train[EMOJI_TWITTER] = 1;
    b.train[EMOJI_FLUENT_MODERN] = b.train[EMOJI_FLUENT_FLAT] = 1;
    b.train[EMOJI_FLUENT_HIGH_CONTRAST] = 1;
    b.heldout[EMOJI_OPENMOJI_COLOR] = b.heldout[EMOJI_OPENMOJI_BLACK] = 1;
    return b;
}

static int is_svg(const char *path) {
    size_t n = strlen(path);
    return n > 4 && !strcmp(path + n - 4, ".svg");
}

/* cache/<style>-<side>/<file>.png for an SVG source. */
static char *cache_path(const EmojiSources *src, int style, int side, const char *svg) {
    char sub[64], name[512];
    snprintf(sub, sizeof sub, "%s-%d", EMOJI_STYLE_NAMES[style], side);
    const char *base = strrchr(svg, '/');
    snprintf(name, sizeof name, "%s/%s", sub, base ? base + 1 : svg);
    strcpy(name + strlen(name) - 4, ".png");
    return ml_path_join(src->cache_dir, name);
}

/* Renders svg → png atomically (temp name, then rename). */
static int render_svg(const char *svg, const char *png, int side) {
    char tmp[4200], w[16];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", png, (int)getpid());
    snprintf(w, sizeof w, "%d", side);
    char *argv[] = {"rsvg-convert", "-w", w, "-h", w, "-o", tmp, (char *)svg, NULL};
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, "rsvg-convert", NULL, NULL, argv, environ))
        return ml_error("rsvg-convert not found (install Debian librsvg2-bin) to render %s", svg);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        unlink(tmp);
        return ml_error("%s: rsvg-convert failed (status %d)", svg, WEXITSTATUS(status));
    }
    if (rename(tmp, png)) {
        unlink(tmp);
        return ml_error("%s: cannot move rendered image into place", png);
    }
    return 0;
}

/* Renders every SVG that the chosen styles need and the cache lacks (in parallel). */
static int render_missing(const EmojiConcepts *ec, const EmojiSources *src, const int *use,
                          int side) {
    for (int k = 0; k < EMOJI_N_STYLES; k++) {
        if (!use[k]) continue;
        char sub[64];
        snprintf(sub, sizeof sub, "%s/%s-%d", src->cache_dir, EMOJI_STYLE_NAMES[k], side);
        if (ml_mkdir_p(sub)) return -1;
    }
    int failed = 0;
    char err[512] = "";
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < ec->n * EMOJI_N_STYLES; i++) {
        int c = i / EMOJI_N_STYLES, k = i % EMOJI_N_STYLES;
        const char *img = ec->c[c].image[k];
        if (!use[k] || !img || !is_svg(img) || failed) continue;
        char *png = cache_path(src, k, side, img);
        if (!ml_file_exists(png) && render_svg(img, png, side)) {
#pragma omp critical
            {
                if (!failed) snprintf(err, sizeof err, "%s", ml_errmsg());
                failed = 1;
            }
        }
        ml_free(png);
    }
    return failed ? ml_error("%s", err) : 0;
}

int emoji_images(ImageSet *set, const EmojiConcepts *ec, const EmojiSources *src,
                 const EmojiBuild *b) {
    int use[EMOJI_N_STYLES], styles[EMOJI_N_STYLES], ns = 0;
    for (int k = 0; k < EMOJI_N_STYLES; k++) {
        if (b->train[k] && b->heldout[k])
            return ml_error("style '%s' is both trained on and held out", EMOJI_STYLE_NAMES[k]);
        use[k] = b->train[k] || b->heldout[k];
        if (use[k]) styles[ns++] = k;
    }
    if (!ns) return ml_error("no image styles chosen");
    if (render_missing(ec, src, use, b->render_size)) return -1;
    int n = ec->n * ns;
    imageset_alloc(set, n, 3, b->size, 2);
    set->level_names[0] = ml_strdup("group"), set->level_names[1] = ml_strdup("subgroup");
    set->n_classes[0] = ec->n_groups, set->n_classes[1] = ec->n_subgroups;
    set->class_names[0] = strings_copy(ec->groups, ec->n_groups);
    set->class_names[1] = strings_copy(ec->subgroups, ec->n_subgroups);
    set->n_concepts = ec->n;
    set->concept = ml_alloc(sizeof(int32_t) * n), set->style = ml_alloc(sizeof(int32_t) * n);
    set->concept_names = ml_alloc(sizeof(char *) * ec->n);
    set->animate = ml_alloc(ec->n), set->living = ml_alloc(ec->n);
    set->fold_group = ml_alloc(sizeof(int32_t) * ec->n);
    for (int c = 0; c < ec->n; c++) {
        set->concept_names[c] = ml_strdup(ec->c[c].label);
        set->animate[c] = ec->c[c].animate, set->living[c] = ec->c[c].living;
        set->fold_group[c] = ec->c[c].fold_group;
    }
    set->n_styles = ns;
    set->style_names = ml_alloc(sizeof(char *) * ns);
    for (int s = 0; s < ns; s++) set->style_names[s] = ml_strdup(EMOJI_STYLE_NAMES[styles[s]]);
    int failed = 0;
    char err[512] = "";
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < n; i++) {
        int c = i / ns, s = i % ns, k = styles[s];
        const char *img = ec->c[c].image[k];
        char *png = is_svg(img) ? cache_path(src, k, b->render_size, img) : ml_strdup(img);
        float bg[3] = {b->background, b->background, b->background};
        if (b->random_bg) { /* per image, independent of thread order */
            Rng r;
            rng_seed(&r, b->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i);
            for (int ch = 0; ch < 3; ch++) bg[ch] = rng_uniform(&r);
        }
        set->labels[i] = ec->c[c].group_id, set->labels[n + i] = ec->c[c].subgroup_id;
        set->concept[i] = c, set->style[i] = s;
        set->split[i] = b->heldout[k] ? IMAGESET_HELDOUT : IMAGESET_TRAIN;
        if (!failed && imageset_put_png(set, i, png, bg)) {
#pragma omp critical
            {
                if (!failed) snprintf(err, sizeof err, "%s", ml_errmsg());
                failed = 1;
            }
        }
        ml_free(png);
    }
    if (failed) {
        imageset_free(set);
        return ml_error("%s", err);
    }
    return 0;
}
