/* moelens export RUN --gguf OUT.gguf [--type f32|f16]: a llama-style moelens LM and its tokenizer
 * as a llama.cpp `llama` GGUF (docs/gguf.md, "Export"). */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/lm_export.h"
#include "model/lm_run.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *out, *type;
} Args;

static const CliOpt opts[] = {
    {"--gguf", "OUT.gguf", OPT_STR, offsetof(Args, out), NULL, "the GGUF file to write"},
    {"--type", "f32|f16", OPT_STR, offsetof(Args, type), NULL,
     "matrices as F32 (default) or F16; norms and routers stay F32"},
};

static void usage(void) {
    printf(
        "usage: moelens export RUN --gguf OUT.gguf [--type f32|f16]\n\n"
        "Writes the run's model and tokenizer as a GGUF file that llama.cpp loads, tokenizes and\n"
        "scores as `moelens eval RUN` does. The model must be llama-style (--set block=llama,\n"
        "expert_act=swiglu, learned token-level router, softmax scores, no shared or zero\n"
        "experts, no capacity limit, no qkv biases). Architecture:\n"
        "  llama  (Mixtral layout) without QK-norm; renormalised top-k (score=topk_softmax, or\n"
        "         softmax_topk with renorm=1); RoPE norm or neox (q/k rows then permuted); GQA;\n"
        "         tied or untied; all layers MoE, or all dense\n"
        "  olmoe  qk_norm=2 (full width), rope_mode=neox, softmax_topk with renorm=0,\n"
        "         n_kv_head = n_head, untied\n"
        "Anything else is refused with the option named.\n");
    cli_print_opts(CLI_OPTS(opts));
}

static int cmd_export(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return usage(), 0;
    const char *run = NULL;
    Args args = {.type = "f32"};
    cli_parse("export", CLI_OPTS(opts), &args, argc, argv, &run, 1);
    const char *out = args.out, *type = args.type;
    if (!run || !out)
        ml_fatal("export: RUN and --gguf OUT.gguf are required (see moelens export --help)");
    int f16 = !strcmp(type, "f16");
    if (!f16 && strcmp(type, "f32")) ml_fatal("export: --type expects f32 or f16, got '%s'", type);
    LmModel m;
    Tokenizer *tok;
    if (lm_run_open(run, &m, &tok)) ml_fatal("%s", ml_errmsg());
    char name[256]; /* general.name: the run folder's last component */
    snprintf(name, sizeof name, "%s", run);
    for (size_t n = strlen(name); n > 1 && name[n - 1] == '/'; n--) name[n - 1] = 0;
    const char *slash = strrchr(name, '/');
    if (slash) memmove(name, slash + 1, strlen(slash));
    if (lm_export_gguf(&m, tok, out, f16, name)) ml_fatal("%s", ml_errmsg());
    printf("wrote %s (%s, %d layers, %s, vocab %d)\n", out, lm_export_arch(&m.cfg), m.cfg.n_layer,
           f16 ? "f16" : "f32", m.cfg.vocab_size);
    tokenizer_free(tok);
    lm_free(&m);
    return 0;
}
COMMAND("export", cmd_export, "write a llama-style run as a GGUF file that llama.cpp runs")
