/* moelens prune MODEL --keep F|N --by freq|reap --calib TEXT --out OUT.gguf: drops the least
 * salient routed experts of every MoE block, ranked on calibration text, and writes the smaller
 * model as GGUF (docs/gguf.md, "Pruning"). A run folder is exported first (moelens export). */
#include "analysis/lm/prune_rank.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "gguf/gguf_prune.h"
#include "model/lm_export.h"
#include "model/lm_open.h"
#include "model/lm_run.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *model, *keep, *calib, *out, *type;
    int crit, top_k, ctx;
} PruneArgs;

static void parse_by(const char *cmd, void *args, const char *v) {
    if ((((PruneArgs *)args)->crit = prune_criterion_parse(v)) < 0)
        ml_fatal("prune: %s", ml_errmsg());
}

static void parse_top_k(const char *cmd, void *args, const char *v) {
    if ((((PruneArgs *)args)->top_k = (int)cli_long(cmd, "--top-k", v)) < 1)
        ml_fatal("prune: --top-k expects a positive count");
}

static void parse_ctx(const char *cmd, void *args, const char *v) {
    if ((((PruneArgs *)args)->ctx = (int)cli_long(cmd, "--ctx", v)) < 2)
        ml_fatal("prune: --ctx expects at least 2 tokens");
}

#define A(f) offsetof(PruneArgs, f)
static const CliOpt opts[] = {
    {"--keep", "F|N", OPT_STR, A(keep), NULL,
     "a fraction of the experts in (0, 1] (\"0.5\", \"1.0\" = all) or a count\nper block "
     "(\"16\"); the same count in every block, chosen per block"},
    {"--by", "reap|freq", OPT_FN, 0, parse_by,
     "ranking on the calibration text: reap (default) = mean over the tokens\nrouted to the "
     "expert of router weight x |expert output|; freq = how\nmany tokens picked it"},
    {"--calib", "TEXT", OPT_STR, A(calib), NULL,
     "plain text file, tokenized with the model's tokenizer, run in chunks of\n--ctx tokens "
     "(default: the model's context, at most 512)"},
    {"--ctx", "N", OPT_FN, 0, parse_ctx, "calibration chunk length in tokens (at least 2)"},
    {"--top-k", "K", OPT_FN, 0, parse_top_k,
     "experts used per token in the pruned file (default: unchanged; it must\nnot exceed the "
     "experts kept)"},
    {"--type", "f32|f16", OPT_STR, A(type), NULL,
     "matrices of the export of a run folder (default f32)"},
    {"--out", "OUT.gguf", OPT_STR, A(out), NULL, "the pruned model"},
};
#undef A

static void usage(void) {
    printf(
        "usage: moelens prune MODEL --keep F|N --calib TEXT --out OUT.gguf [--by reap|freq]\n"
        "                     [--top-k K] [--ctx N] [--type f32|f16]\n\n"
        "Keeps the most salient routed experts of every MoE block and writes the pruned model as\n"
        "GGUF (llama.cpp loads it). MODEL: a GGUF file (olmoe, llama/Mixtral, qwen2moe, qwen3moe,\n"
        "deepseek; any quantisation: expert slabs are copied whole, never re-quantised) or a run\n"
        "folder, which is exported first as `moelens export` does.\n");
    cli_print_opts(CLI_OPTS(opts));
    printf("The kept ids are recorded in the file (moelens.prune.kept, per MoE block).\n");
}

static void parse_args(PruneArgs *a, int argc, char **argv) {
    *a = (PruneArgs){.type = "f32", .crit = PRUNE_REAP};
    cli_parse("prune", CLI_OPTS(opts), a, argc, argv, &a->model, 1);
    if (!a->model || !a->keep || !a->calib || !a->out)
        ml_fatal("prune: MODEL, --keep, --calib and --out are required (see moelens prune --help)");
    if (strcmp(a->type, "f32") && strcmp(a->type, "f16"))
        ml_fatal("prune: --type expects f32 or f16, got '%s'", a->type);
}

static char *export_tmp; /* the export of a run folder, removed at exit whatever happens */

static void remove_export(void) {
    if (export_tmp) unlink(export_tmp);
}

/* A run folder becomes a GGUF file next to OUT (removed at exit); a GGUF file is used as is. */
static char *gguf_source(const PruneArgs *a) {
    if (lm_path_is_gguf(a->model)) return ml_strdup(a->model);
    LmModel m;
    Tokenizer *tok;
    int n_keep;
    if (lm_run_open(a->model, &m, &tok) ||
        prune_parse_keep(a->keep, m.cfg.moe.n_experts, &n_keep)) /* before the export's cost */
        ml_fatal("prune: %s", ml_errmsg());
    char *path = ml_alloc(strlen(a->out) + 16);
    sprintf(path, "%s.export", a->out);
    export_tmp = path;
    atexit(remove_export);
    if (lm_export_gguf(&m, tok, path, !strcmp(a->type, "f16"), "pruned"))
        ml_fatal("prune: %s", ml_errmsg());
    tokenizer_free(tok);
    lm_free(&m);
    return path;
}

/* Ranks every MoE block's experts on the calibration text: kept [n_block, n_keep]. */
static void rank_experts(const PruneArgs *a, const char *src, int n_block, int n_keep,
                         int32_t *kept, double *tokens) {
    LmModel m;
    LmTok tok;
    if (lm_open(src, &m, &tok, a->ctx)) ml_fatal("prune: %s", ml_errmsg());
    char *buf;
    size_t len;
    int32_t *ids;
    long n;
    if (ml_read_file(a->calib, &buf, &len) || lm_tok_encode(&tok, buf, len, &ids, &n))
        ml_fatal("prune: %s", ml_errmsg());
    PruneStats s;
    prune_stats_init(&s, &m);
    if (prune_calibrate(&m, ids, n, m.cfg.seq_len, &s))
        ml_fatal("prune: %s: %s", a->calib, ml_errmsg());
    for (int l = 0; l < s.L; l++)
        if (s.layers[l] < n_block)
            prune_rank(&s, a->crit, l, n_keep, kept + (long)s.layers[l] * n_keep);
    *tokens = s.tokens;
    prune_stats_free(&s);
    ml_free(ids), ml_free(buf);
    lm_tok_free(&tok);
    lm_free(&m);
}

static int cmd_prune(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return usage(), 0;
    PruneArgs a;
    parse_args(&a, argc, argv);
    char *src = gguf_source(&a);
    GgufFile *g;
    int E, k, nb, n_keep;
    if (gguf_open(&g, src) || gguf_moe_shape(g, &E, &k, &nb)) ml_fatal("prune: %s", ml_errmsg());
    if (prune_parse_keep(a.keep, E, &n_keep)) ml_fatal("prune: %s", ml_errmsg());
    int top = a.top_k ? a.top_k : k;
    if (top > n_keep)
        ml_fatal("prune: %s: top-k %d exceeds the %d experts kept per block (--keep %s); give "
                 "--top-k %d or fewer, or keep more",
                 a.model, top, n_keep, a.keep, n_keep);
    int32_t *kept = ml_alloc(sizeof(int32_t) * (size_t)nb * n_keep);
    double tokens;
    rank_experts(&a, src, nb, n_keep, kept, &tokens);
    GgufPrunePlan plan = {n_keep, kept, a.top_k, prune_criterion_name(a.crit)};
    int rc = gguf_prune_write(g, &plan, a.out);
    if (rc)
        fprintf(stderr, "moelens: error: prune: %s\n", ml_errmsg());
    else
        printf("wrote %s: %d of %d experts kept per MoE block (by %s on %.0f calibration tokens of "
               "%s), top-k %d\n",
               a.out, n_keep, E, prune_criterion_name(a.crit), tokens, a.calib, top);
    gguf_close(g);
    ml_free(kept); /* src: a run's export is removed at exit */
    return rc ? 1 : 0;
}
COMMAND("prune", cmd_prune, "drop the least used routed experts of a MoE model, written as GGUF")
