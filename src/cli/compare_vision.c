/* moelens compare RUN... for vision runs: cross-seed expert matching (RSA, CKA, tuning, animacy).
 */
#include "analysis/vision/vision_analyze.h"
#include "analysis/vision/vision_compare.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/compare_vision.h"
#include "core/error.h"
#include "core/mem.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *out, *analysis;
    int perms;
    uint64_t seed;
} Args;

static const CliOpt opts[] = {
    {"--out", "DIR", OPT_STR, offsetof(Args, out), NULL,
     "write compare_vision.json and per-pair .npy matrices"},
    {"--perms", "P", OPT_INT, offsetof(Args, perms), NULL,
     "null re-matchings with one run's stimuli permuted (200)"},
    {"--analysis", "NAME", OPT_STR, offsetof(Args, analysis), NULL,
     "read RUN/NAME (default analysis)"},
    {"--seed", "S", OPT_U64, offsetof(Args, seed), NULL, "permutations (4321)"},
};

static void usage(void) {
    printf(
        "usage: moelens compare RUN RUN... [--out DIR] [--perms P] [--analysis NAME] [--seed S]\n"
        "       (vision runs, each analysed with moelens analyze RUN --images SET)\n\n"
        "For every pair of runs: expert × expert similarity by RDM Spearman, linear CKA and\n"
        "tuning profile (Pearson), Hungarian matching, and a null from P re-matchings with one\n"
        "run's stimuli (dimensions) permuted; matched experts' gate animacy agreement\n"
        "(docs/vision_analysis.md §5).\n");
    cli_print_opts(CLI_OPTS(opts));
}

int compare_is_vision(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') return vision_run_is_vision(argv[i]);
    return 0;
}

static void print_match(const char *what, const cJSON *m) {
    if (!m) return;
    printf("  %-7s matched %.3f  (identity %.3f, null %.3f ± %.3f, p %.4g)  match [", what,
           cJSON_GetObjectItem(m, "matched_mean")->valuedouble,
           cJSON_GetObjectItem(m, "identity_mean")->valuedouble,
           cJSON_GetObjectItem(m, "null_mean")->valuedouble,
           cJSON_GetObjectItem(m, "null_sd")->valuedouble,
           cJSON_GetObjectItem(m, "p")->valuedouble);
    const cJSON *x;
    int first = 1;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(m, "match")) {
        printf(first ? "%d" : " %d", x->valueint);
        first = 0;
    }
    printf("]\n");
}

int cmd_compare_vision(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char **runs = ml_alloc(sizeof(char *) * argc);
    Args args = {.analysis = "analysis", .perms = 200, .seed = 4321};
    int n = cli_parse("compare", CLI_OPTS(opts), &args, argc, argv, runs, argc);
    const char *out = args.out, *analysis = args.analysis;
    int perms = args.perms;
    uint64_t seed = args.seed;
    if (perms < 0) ml_fatal("compare: --perms must be ≥ 0");
    for (int i = 0; i < n; i++)
        if (!vision_run_is_vision(runs[i]))
            ml_fatal("compare: %s is not a vision run; compare vision runs with vision runs",
                     runs[i]);
    cJSON *j;
    if (vision_compare_runs(runs, n, analysis, perms, seed, out, &j)) ml_fatal("%s", ml_errmsg());
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "pairs")) {
        int a = cJSON_GetObjectItem(p, "a")->valueint, b = cJSON_GetObjectItem(p, "b")->valueint;
        printf("%s vs %s\n", runs[a], runs[b]);
        print_match("rsa", cJSON_GetObjectItem(p, "rsa"));
        print_match("cka", cJSON_GetObjectItem(p, "cka"));
        print_match("tuning", cJSON_GetObjectItem(p, "tuning"));
        const cJSON *an = cJSON_GetObjectItem(p, "animacy");
        if (an)
            printf("  animacy of matched experts: pearson %.3f, p %.4g\n",
                   cJSON_GetObjectItem(an, "pearson")->valuedouble,
                   cJSON_GetObjectItem(an, "p")->valuedouble);
    }
    cJSON_Delete(j);
    ml_free(runs);
    return 0;
}
