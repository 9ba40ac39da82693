/* moelens compare RUN... [--margin PPL] [--out FILE.json] */
#include "analysis/lm/analysis.h"
#include "analysis/lm/compare.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/compare_vision.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    CompareOptions co;
    const char *out, *claims;
} Args;

static const CliOpt opts[] = {
    {"--margin", "PPL", OPT_DOUBLE, offsetof(Args, co.margin), NULL, "TOST margin (default 1)"},
    {"--margin-rel", "F", OPT_DOUBLE, offsetof(Args, co.margin_rel), NULL,
     "margin as a share of the pair's mean perplexity"},
    {"--paired", NULL, OPT_FLAG, offsetof(Args, co.paired), NULL, "paired t over seeds"},
    {"--claims", "FILE", OPT_STR, offsetof(Args, claims), NULL, "claims to judge"},
    {"--out", "FILE.json", OPT_STR, offsetof(Args, out), NULL, "write the JSON too"},
};

static void usage(void) {
    printf(
        "usage: moelens compare RUN... [--margin PPL | --margin-rel F] [--paired]\n"
        "                              [--claims FILE.json]\n"
        "                              [--out FILE.json]\n\n"
        "Val perplexity per design arm (a sweep's ARM of ARM-seedS folders, else router / routing\n"
        "level / top-k from each RUN/config.json;\n"
        "the last val_ppl of RUN/metrics.jsonl) over seeds: mean ± sd, and a TOST equivalence "
        "test\n"
        "(Welch t) for every pair of arms at the margin (default 1 PPL; equivalent when p < "
        "0.05).\n"
        "--margin-rel F: the margin is F times the pair's mean perplexity (0.02 = 2 %%).\n"
        "--paired: tests on the per-seed differences of runs with the same seed (a seed fixes\n"
        "the data order, so its effect is shared by the arms): paired t instead of Welch.\n"
        "--claims FILE: a JSON list of claims {claim, test: equivalent|better, a, b} judged\n"
        "(reproduced / not reproduced / inconclusive) into the JSON's findings. p-values are over\n"
        "the runs (seeds) of each arm.\n"
        "Prints a table; --out also writes the JSON (docs/analysis.md).\n"
        "Vision runs: expert matching across seeds instead (moelens compare VISION_RUN "
        "--help).\n\n");
    cli_print_opts(CLI_OPTS(opts));
}

static int cmd_compare(int argc, char **argv) {
    if (argc >= 2 && compare_is_vision(argc, argv)) return cmd_compare_vision(argc, argv);
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const char **runs = ml_alloc(sizeof(char *) * argc);
    Args args = {.co = {.margin = 1.0}};
    int n = cli_parse("compare", CLI_OPTS(opts), &args, argc, argv, runs, argc);
    CompareOptions co = args.co;
    const char *out = args.out, *claims_path = args.claims;
    if (!n) ml_fatal("compare: give at least one RUN");
    if (!(co.margin > 0)) ml_fatal("compare: --margin must be positive");
    if (co.margin_rel < 0 || co.margin_rel >= 1)
        ml_fatal("compare: --margin-rel must be in [0, 1)");
    cJSON *claims = NULL;
    if (claims_path) {
        char *buf;
        size_t len;
        if (ml_read_file(claims_path, &buf, &len)) ml_fatal("compare: %s", ml_errmsg());
        claims = cJSON_Parse(buf);
        ml_free(buf);
        if (!cJSON_IsArray(claims))
            ml_fatal("compare: %s: expected a JSON list of claims", claims_path);
        co.claims = claims;
    }
    cJSON *j;
    if (compare_runs(runs, n, &co, &j)) ml_fatal("compare: %s", ml_errmsg());
    printf("%-32s %3s %10s %8s\n", "arm", "n", "mean_ppl", "sd");
    cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "arms"))
        printf("%-32s %3d %10.3f %8.3f\n", cJSON_GetObjectItem(o, "arm")->valuestring,
               cJSON_GetObjectItem(o, "n")->valueint, cJSON_GetObjectItem(o, "mean")->valuedouble,
               cJSON_GetObjectItem(o, "sd")->valuedouble);
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "pairs")) {
        cJSON *p = cJSON_GetObjectItem(o, "p_tost");
        printf("TOST %s vs %s: diff %+.3f  p %s%.4g  %s\n",
               cJSON_GetObjectItem(o, "a")->valuestring, cJSON_GetObjectItem(o, "b")->valuestring,
               cJSON_GetObjectItem(o, "diff")->valuedouble, cJSON_IsNull(p) ? "n/a " : "",
               cJSON_IsNull(p) ? 0.0 : p->valuedouble,
               cJSON_IsTrue(cJSON_GetObjectItem(o, "equivalent")) ? "equivalent"
                                                                  : "not shown equivalent");
    }
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "findings"))
        printf("claim: %s: %s\n",
               cJSON_GetObjectItem(o, "claim") ? cJSON_GetObjectItem(o, "claim")->valuestring : "?",
               cJSON_GetObjectItem(o, "verdict")->valuestring);
    int rc = 0;
    if (out) {
        char *s = cJSON_Print(j);
        rc = ml_write_file_atomic(out, s, strlen(s));
        free(s);
        if (rc) ml_fatal("%s", ml_errmsg());
    }
    cJSON_Delete(j), cJSON_Delete(claims);
    ml_free(runs);
    return 0;
}
COMMAND("compare", cmd_compare, "val perplexity per design arm over seeds, with TOST equivalence")
