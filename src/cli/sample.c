/* moelens sample RUN --prompt TEXT */
#include "analysis/lm/intervene.h"
#include "cli/cli.h"
#include "cli/cli_intervene.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/lm_open.h"
#include "model/lm_run.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *prompt;
    int n_new, top_k;
    float temp;
    uint64_t seed;
} Args;

#define A(f) offsetof(Args, f)
static const CliOpt opts[] = {
    {"--prompt", "TEXT", OPT_STR, A(prompt), NULL, "the text to continue (required)"},
    {"--tokens", "N", OPT_INT, A(n_new), NULL, "tokens sampled (default 64)"},
    {"--temperature", "T", OPT_FLOAT, A(temp), NULL, "sampling temperature (0.8; 0 = greedy)"},
    {"--top-k", "K", OPT_INT, A(top_k), NULL,
     "sample among the K most likely tokens (40; routing: --route-k)"},
    {"--seed", "S", OPT_U64, A(seed), NULL, "sampling seed (1)"},
};
#undef A

static int cmd_sample(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        printf(
            "usage: moelens sample MODEL --prompt TEXT [--tokens N] [--temperature T] [--top-k K] "
            "[--seed S]\n\n"
            "Continues TEXT with N sampled tokens (default 64, temperature 0.8, top-k 40; T 0 = "
            "greedy).\n"
            "MODEL is a run folder or a .gguf file (context: its length, at most 512 tokens).\n\n"
            "Routing interventions (stated on stderr): --route-k K (experts per token; --top-k "
            "here\n"
            "is the sampling top-k), --renorm 0|1, --mask L:E[,L:E...] (router logit -inf),\n"
            "--router-bias L:E=V[,...] (add V to that router logit), --route-p P (top-p routing:\n"
            "the fewest picks whose router mass reaches P), --route-min M (skip picks after the\n"
            "first below mass M). L = block, E = expert. Skipping states mean_k on stderr.\n\n");
        cli_print_opts(CLI_OPTS(opts));
        return argc < 2 ? 1 : 0;
    }
    const char *run = NULL;
    Args args = {.n_new = 64, .top_k = 40, .temp = 0.8f, .seed = 1};
    Intervention iv;
    intervene_init(&iv);
    /* the table's --top-k (sampling) comes before the interventions' --top-k (routing) */
    CliGroup groups[] = {{.opts = CLI_OPTS(opts), .args = &args}, cli_intervention_group(&iv)};
    cli_parse_groups("sample", groups, 2, argc, argv, &run, 1);
    const char *prompt = args.prompt;
    int n_new = args.n_new, top_k = args.top_k;
    float temp = args.temp;
    uint64_t seed = args.seed;
    if (!run || !prompt) ml_fatal("sample: RUN and --prompt TEXT are required");
    if (n_new < 0 || top_k < 0 || temp < 0)
        ml_fatal("sample: --tokens, --top-k and --temperature must be >= 0");
    LmModel m;
    LmTok tok;
    if (lm_open(run, &m, &tok, 512)) ml_fatal("%s", ml_errmsg());
    if (intervene_active(&iv)) {
        if (intervene_apply(&iv, &m, 1, m.cfg.seq_len)) ml_fatal("sample: %s", ml_errmsg());
        char line[1024];
        intervene_describe(&iv, line, sizeof line);
        fprintf(stderr, "sample: %s\n", line);
    }
    int32_t *ids;
    long n;
    if (lm_tok_encode(&tok, prompt, strlen(prompt), &ids, &n)) ml_fatal("%s", ml_errmsg());
    if (n == 0) ml_fatal("sample: the prompt is empty");
    int32_t *all = ml_alloc(sizeof(int32_t) * (n + n_new));
    memcpy(all, ids, sizeof(int32_t) * n);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    long total = lm_generate(&m, all, n, n_new, temp, top_k, &rng);
    char *text;
    size_t len;
    if (lm_tok_decode(&tok, all, total, &text, &len)) ml_fatal("%s", ml_errmsg());
    fwrite(text, 1, len, stdout);
    putchar('\n');
    if (iv.top_p > 0 || iv.min_p > 0)
        fprintf(stderr, "sample: mean_k %.4f (experts run per token and MoE layer)\n",
                lm_mean_k(&m));
    ml_free(text), ml_free(all), ml_free(ids);
    intervene_free(&iv);
    lm_tok_free(&tok);
    lm_free(&m);
    return 0;
}
COMMAND("sample", cmd_sample, "continue a prompt with a trained language model")
