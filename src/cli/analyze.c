/* moelens analyze RUN [--data DIR] [--domain NAME=PATH ...] [--only a,b] [--pairs FILE] [--out DIR]
 */
#include "analysis/lm/analyze.h"
#include "analysis/lm/intervene.h"
#include "cli/analyze_vision.h"
#include "cli/cli.h"
#include "cli/cli_intervene.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "dist/dist.h"
#include "model/lm_open.h"
#include "model/lm_run.h"
#include "model/lm_train.h"
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *data, *out;
    const char *dom_arg[64];
    int n_dom, ffn_block;
    AnalyzeOptions o;
} Args;

static void parse_domain(const char *cmd, void *args, const char *v) {
    Args *a = args;
    if (a->n_dom == 64) ml_fatal("analyze: at most 64 --domain options");
    a->dom_arg[a->n_dom++] = v;
}

static void parse_only(const char *cmd, void *args, const char *v) {
    if (analyze_parse_only(v, &((Args *)args)->o.only)) ml_fatal("%s", ml_errmsg());
}

#define O(f) offsetof(Args, o.f)
static const CliOpt opts[] = {
    {"--data", "DIR", OPT_STR, offsetof(Args, data), NULL,
     "a prepared text folder (its val.tokens and domains; default: the\nrun's data folder); "
     "for a GGUF model, one plain text file"},
    {"--domain", "NAME=PATH", OPT_FN, 0, parse_domain,
     "one plain text file per domain (repeatable; instead of --data)"},
    {"--only", "A,B,...", OPT_FN, 0, parse_only,
     "analyses to run, of those listed below (default: the first four;\nsensitivity is added by "
     "--pairs)"},
    {"--pairs", "FILE", OPT_STR, O(pairs), NULL,
     "routing sensitivity on minimal pairs: TSV lines text_a<TAB>text_b\n('#' comments); JS per "
     "layer, per-expert sensitivity with paired t\nand BH, top-G / bottom-G expert masking and "
     "the log-likelihood\npreference (with --only sensitivity the text set is optional)"},
    {"--mask-top", "G", OPT_INT, O(mask_top), NULL, "experts in each masked group (default 10)"},
    {"--sens-ppl-tokens", "N", OPT_LONG, O(sens_ppl_tokens), NULL,
     "validation tokens for the masking perplexity cost (default\n65536; 0 = off)"},
    {"--out", "DIR", OPT_STR, offsetof(Args, out), NULL, "output folder (default RUN/analysis)"},
    {"--max-tokens", "N", OPT_LONG, O(max_tokens), NULL,
     "input tokens analysed, spread over each source (default 1048576)"},
    {"--batch", "B", OPT_INT, O(batch), NULL, "windows per forward (default 8)"},
    {"--seq", "T", OPT_INT, O(seq), NULL, "window length (default the model's seq_len)"},
    {"--ffn-block", "N", OPT_INT, offsetof(Args, ffn_block), NULL,
     "the FFN (MoE) half runs over N tokens at a time (default 512; a run:\nas many as 32 MiB "
     "of its activations hold, if more), the output\nhead over 128 rows (a run: 32 MiB of "
     "logits, if more; N if less):\nmemory stays flat in --batch; 0: the whole batch at once\n"
     "(as eval --ffn-block 0; blocks agree within float rounding)"},
    {"--lens-tokens", "N", OPT_LONG, O(lens_tokens), NULL,
     "logit-lens token subsample (default 2048)"},
    {"--kprime-tokens", "N", OPT_LONG, O(kp_tokens), NULL,
     "tokens scored with only k' = 1..k experts (2k extra forwards on\nbatches spread evenly over "
     "the stream; default 32768; 0 = off)"},
    {"--prune-tokens", "N", OPT_LONG, O(prune_tokens), NULL,
     "prune: held-out tokens scored with only the n most salient\nexperts per layer (freq, reap; "
     "n = E*3/4, E/2, E/4, E/8, >= k;\n1 + 2*counts forwards of them; default 16384)"},
    {"--trace-tokens", "N", OPT_LONG, O(trace_tokens), NULL,
     "routing trace / shuffle-baseline tokens kept (default 1048576)"},
    {"--seed", "S", OPT_U64, O(seed), NULL,
     "shuffled-label baseline and bootstrap seed (default 1234)"},
    {"--boot", "N", OPT_INT, O(boot), NULL,
     "document-bootstrap resamples for bootstrap.json (default 1000;\n0 = off): 95 % intervals "
     "of NMI, n50, k' perplexity cost"},
    {"--quiet", NULL, OPT_FLAG, O(quiet), NULL, "no progress line"},
};
#undef O

static void usage(void) {
    char names[256];
    analyze_names(names, sizeof names);
    printf("usage: moelens analyze RUN [--data DIR | --domain NAME=PATH ...] [options]\n"
           "       moelens analyze MODEL.gguf (--data TEXT | --domain NAME=PATH ...) [options]\n\n"
           "Expert analyses of a trained language model over a text set with domains: one forward "
           "pass\n"
           "per batch, every analysis computed from its saved activations (docs/analysis.md).\n\n");
    cli_print_opts(CLI_OPTS(opts));
    printf(
        "Analyses (--only): %s\n\n"
        "A GGUF model: the text files are tokenized with the file's tokenizer (BOS first when it\n"
        "says) and scored as `moelens eval MODEL.gguf --text FILE --ctx T` scores them (chunks "
        "of T,\n"
        "default the model's context, at most 512; --data TEXT is one domain named after the "
        "file).\n"
        "Default --out: MODEL.gguf.run/analysis (moelens report MODEL.gguf.run draws it).\n\n"
        "Routing interventions (recorded in analyze.json as \"intervention\"):\n"
        "  --top-k K (or --route-k K)  route every MoE layer to K experts (k' sweeps then 1..K)\n",
        names);
    intervene_print_help(stdout);
    printf("\n"
           "Vision runs (config.json \"model\": \"vision\") or --images SET: moelens analyze RUN\n"
           "--images SET --help lists the vision analyses' options (docs/vision_analysis.md).\n");
}

static int cmd_analyze(int argc, char **argv) {
    if (argc >= 2 && analyze_is_vision(argc, argv)) {
        if (dist_size() > 1) ml_fatal("analyze: a vision run is analysed in one process");
        return cmd_analyze_vision(argc, argv);
    }
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const char *run = NULL;
    Args args = {.ffn_block = INT_MIN};
    analyze_default_options(&args.o);
    Intervention iv;
    intervene_init(&iv);
    CliGroup groups[] = {{.opts = CLI_OPTS(opts), .args = &args}, cli_intervention_group(&iv)};
    cli_parse_groups("analyze", groups, 2, argc, argv, &run, 1);
    const char *data = args.data, *out = args.out;
    const char **dom_arg = args.dom_arg;
    int n_dom = args.n_dom;
    AnalyzeOptions o = args.o;
    if (args.ffn_block != INT_MIN) lm_ffn_block_set(args.ffn_block); /* given: exact */
    if (!run) ml_fatal("analyze: RUN is required");
    if (o.batch <= 0 || o.max_tokens <= 0 || o.lens_tokens < 0 || o.kp_tokens < 0 ||
        o.trace_tokens < 0 || o.prune_tokens < 0 || lm_ffn_block < 0)
        ml_fatal("analyze: --batch and --max-tokens must be positive, token counts and "
                 "--ffn-block non-negative");
    if (data && n_dom) ml_fatal("analyze: give --data or --domain, not both");
    if (o.pairs) o.only |= AN_SENSITIVITY;
    if ((o.only & AN_SENSITIVITY) && !o.pairs)
        ml_fatal("analyze: sensitivity needs a pairs file (--pairs FILE)");
    if (o.mask_top < 0 || o.sens_ppl_tokens < 0)
        ml_fatal("analyze: --mask-top and --sens-ppl-tokens must be non-negative");
    int gguf = lm_path_is_gguf(run);
    LmModel m;
    LmTok tok;
    if (lm_open(run, &m, &tok, o.seq > 0 ? o.seq : 512)) ml_fatal("%s", ml_errmsg());
    if (intervene_active(&iv) && intervene_apply(&iv, &m, o.batch, m.cfg.seq_len))
        ml_fatal("analyze: %s", ml_errmsg());
    cJSON *iv_json = intervene_json(&iv);
    o.intervention = iv_json, o.model_path = run;
    if (dist_rank() > 0) o.quiet = 1; /* under mpirun rank 0 alone reports */
    if (iv_json && !o.quiet) {
        char line[1024];
        intervene_describe(&iv, line, sizeof line);
        fprintf(stderr, "analyze: %s\n", line);
    }
    AnalyzeData d = {0};
    TokenShard *src[64] = {0};
    int32_t *ids[64] = {0};
    long n_ids[64] = {0};
    int base[64];
    const char *names[LM_MAX_DOMAINS];
    char *dir = NULL, *name_copy[64] = {0};
    d.src = src, d.base = base, d.names = names;
    if (gguf && data) { /* one plain text file, one domain named after it */
        if (ml_is_dir(data))
            ml_fatal("analyze: a GGUF model needs --data TEXT (a plain text file), not a folder");
        const char *b = strrchr(data, '/');
        name_copy[0] = ml_strdup(b ? b + 1 : data);
        char *dot = strchr(name_copy[0], '.');
        if (dot && dot != name_copy[0]) *dot = 0;
        dom_arg[0] = data, n_dom = 1;
    } else if (gguf && !n_dom && (o.only & AN_ALL)) {
        ml_fatal("analyze: a GGUF model needs --data TEXT or --domain NAME=PATH");
    }
    if (n_dom) {
        for (int i = 0; i < n_dom; i++) {
            const char *path = dom_arg[i];
            if (!name_copy[i]) {
                const char *eq = strchr(dom_arg[i], '=');
                if (!eq || eq == dom_arg[i] || !eq[1])
                    ml_fatal("analyze: --domain expects NAME=PATH, got '%s'", dom_arg[i]);
                name_copy[i] = ml_strdup(dom_arg[i]);
                name_copy[i][eq - dom_arg[i]] = 0;
                path = eq + 1;
            }
            if (gguf) { /* the text's ids, scored as `moelens eval MODEL.gguf` scores them */
                char *buf;
                size_t len;
                if (ml_read_file(path, &buf, &len) ||
                    lm_tok_encode(&tok, buf, len, &ids[i], &n_ids[i]))
                    ml_fatal("%s", ml_errmsg());
                ml_free(buf);
            } else if (shard_from_text_file(&src[i], tok.tok, path, name_copy[i])) {
                ml_fatal("%s", ml_errmsg());
            }
            base[i] = i, names[i] = name_copy[i];
        }
        d.n_src = d.D = n_dom;
        if (gguf) d.ids = (const int32_t *const *)ids, d.n_ids = n_ids;
    } else if (!gguf) {
        dir = data ? ml_strdup(data) : lm_run_data_dir(run);
        char *val = dir ? ml_path_join(dir, "val.tokens") : NULL;
        /* sensitivity alone needs text only for its perplexity cost: go on without it */
        int optional = !(o.only & AN_ALL) && !data && (!val || !ml_file_exists(val));
        ml_free(val);
        if (!optional && !dir)
            ml_fatal("analyze: %s does not record its data folder: give --data DIR or --domain "
                     "NAME=PATH",
                     run);
        if (!optional) {
            char *p = ml_path_join(dir, "val.tokens");
            if (shard_open(&src[0], p)) ml_fatal("%s", ml_errmsg());
            ml_free(p);
            d.n_src = 1, base[0] = 0, d.D = shard_num_domains(src[0]);
            if (d.D > LM_MAX_DOMAINS) ml_fatal("analyze: more than %d domains", LM_MAX_DOMAINS);
            for (int i = 0; i < d.D; i++) names[i] = shard_domain_name(src[0], i);
        }
    }
    char *out_dir = out ? ml_strdup(out) : NULL;
    if (!out_dir && gguf) { /* a run-like folder beside the model, so `moelens report` reads it */
        out_dir = ml_alloc(strlen(run) + 16);
        sprintf(out_dir, "%s.run/analysis", run);
    } else if (!out_dir) {
        out_dir = ml_path_join(run, "analysis");
    }
    o.out_dir = out_dir;
    if (analyze_lm(&m, &tok, &d, &o)) ml_fatal("analyze: %s", ml_errmsg());
    if (!o.quiet) fprintf(stderr, "analyze: wrote %s\n", out_dir);
    for (int i = 0; i < d.n_src; i++)
        if (src[i]) shard_close(src[i]);
    for (int i = 0; i < 64; i++) ml_free(name_copy[i]), ml_free(ids[i]);
    ml_free(dir), ml_free(out_dir);
    cJSON_Delete(iv_json);
    intervene_free(&iv);
    lm_tok_free(&tok);
    lm_free(&m);
    return 0;
}
COMMAND("analyze", cmd_analyze,
        "expert analyses of a trained LM: routing, lens, top-1 vs ensemble, specialisation")
