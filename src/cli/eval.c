/* moelens eval RUN [--data DIR] [--json]; moelens eval MODEL --text FILE [--ctx N] [--json] */
#include "analysis/lm/intervene.h"
#include "cli/cli.h"
#include "cli/cli_intervene.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm.h"
#include "model/lm_open.h"
#include "model/lm_run.h"
#include "model/lm_train.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *data, *text;
    int json, B, ctx, ffn_block;
    long max_windows;
} Args;

#define A(f) offsetof(Args, f)
static const CliOpt opts[] = {
    {"--data", "DIR", OPT_STR, A(data), NULL,
     "a run on a prepared text folder's validation split (default: the\nrun's data folder)"},
    {"--text", "FILE", OPT_STR, A(text), NULL,
     "a run or a GGUF file on a plain text file, in chunks of --ctx tokens"},
    {"--ctx", "N", OPT_INT, A(ctx), NULL,
     "chunk length with --text (default: the model's context length, for\na GGUF file at most "
     "512)"},
    {"--batch", "B", OPT_INT, A(B), NULL, "windows per forward with --data (default 8)"},
    {"--max-windows", "N", OPT_LONG, A(max_windows), NULL,
     "at most N validation windows, spread over the split (default all)"},
    {"--ffn-block", "N", OPT_INT, A(ffn_block), NULL,
     "the FFN (MoE) half runs over N tokens at a time (default 512: a whole\nchunk; a run: "
     "as many as 32 MiB of its activations hold, if more),\nthe output head over 128 rows (a "
     "run: 32 MiB of logits, if more; N if\nless); 0: both over the whole chunk"},
    {"--json", NULL, OPT_FLAG, A(json), NULL,
     "the last line printed is one JSON object with ppl, loss, tokens\nand domains"},
};
#undef A

static void usage(void) {
    printf(
        "usage: moelens eval RUN [--data DIR] [--batch B] [--max-windows N] [--json]\n"
        "       moelens eval MODEL --text FILE [--ctx N] [--ffn-block N] [--json]\n\n"
        "Perplexity of a trained model. Default: the validation split of the run's data folder\n"
        "(DIR/val.tokens), overall and per domain, in windows of seq_len + 1 tokens (seq_len\n"
        "inputs and their next tokens; each window starts where the last one's inputs ended).\n"
        "--text FILE (a run or a GGUF file, one convention for both, so a run and its export\n"
        "agree): the text is tokenized with the model's tokenizer (a GGUF file's: BOS first only\n"
        "if it sets add_bos_token) and scored in chunks of N tokens, back to back; in each chunk\n"
        "every token after the first is scored. Any text of two tokens or more.\n"
        "--ffn-block: each expert runs once over all its rows of an N-token block (its hidden\n"
        "activations streamed in pieces, so they take no more memory for a larger N); a smaller N\n"
        "holds fewer gathered rows but dequantises every expert once per block. 0 also runs the\n"
        "output head over the whole chunk (a 50k vocabulary's logits for 512 tokens, not 128)\n"
        "and is bit for bit what analyze --ffn-block 0 computes (blocks agree within float\n"
        "rounding).\n"
        "GGUF matrices in Q8_0, Q4_K and Q6_K run on integer dot-product kernels where the CPU\n"
        "has AVX-512 VNNI (activations rounded to 8 bits as llama.cpp rounds them), else they\n"
        "are dequantised and multiplied with sgemm (the path that agrees exactly with llama.cpp\n"
        "on F32 weights). MOELENS_QDOT=off or =on in the environment forces either;\n"
        "=avx512, =avx2 or =scalar picks that integer kernel (docs/gguf.md).\n\n");
    cli_print_opts(CLI_OPTS(opts));
    printf("\nRouting interventions (any model; recorded in the --json object as "
           "\"intervention\"):\n"
           "  --top-k K (or --route-k K)  route every MoE layer to K experts\n");
    intervene_print_help(stdout);
}

/* ", \"intervention\": {...}" for the JSON line, or "" (ml_free the result). */
static char *intervention_field(const Intervention *iv) {
    cJSON *j = intervene_json(iv);
    if (!j) return ml_strdup("");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *out = ml_alloc(strlen(s) + 32);
    sprintf(out, ", \"intervention\": %s", s);
    free(s);
    return out;
}

/* Finite weights can still overflow in the forward pass (a diverged run): say so, not "ppl nan". */
static void check_finite(double loss) {
    if (!isfinite(loss))
        ml_fatal("eval: the loss is %g: the model's activations overflow (weights of a diverged "
                 "run?)",
                 loss);
}

static void announce(const Intervention *iv) {
    if (!intervene_active(iv)) return;
    char line[1024];
    intervene_describe(iv, line, sizeof line);
    fprintf(stderr, "eval: %s\n", line);
}

/* Experts run per token under an intervention: into the record, and on stderr when skipping. */
static void report_mean_k(Intervention *iv, const LmModel *m) {
    if (!intervene_active(iv)) return;
    iv->mean_k = lm_mean_k(m);
    if (iv->top_p > 0 || iv->min_p > 0)
        fprintf(stderr, "eval: mean experts run per token and MoE layer: %.4f\n", iv->mean_k);
}

static void print_result(const LmEval *ev, const TokenShard *s, int json, const Intervention *iv) {
    if (!json) {
        printf("tokens %ld  loss %.4f  ppl %.3f\n", ev->tokens, ev->loss, exp(ev->loss));
        if (ev->zero_slots)
            printf("skip ratio %.4f (routed slots on zero experts)\n",
                   (double)ev->zero_slots / ev->routed_slots);
        for (int d = 0; d < ev->n_domains; d++)
            if (ev->domain_tokens[d])
                printf("  %-12s tokens %-8ld loss %.4f  ppl %.3f\n", shard_domain_name(s, d),
                       ev->domain_tokens[d], ev->domain_loss[d], exp(ev->domain_loss[d]));
        return;
    }
    /* skip_ratio: the share of routed top-k slots that went to zero experts (work not done) */
    printf("{\"ppl\": %.6f, \"loss\": %.6f, \"tokens\": %ld, \"skip_ratio\": %.6f, \"domains\": {",
           exp(ev->loss), ev->loss, ev->tokens,
           ev->routed_slots ? (double)ev->zero_slots / ev->routed_slots : 0.0);
    int first = 1;
    for (int d = 0; d < ev->n_domains; d++) {
        if (!ev->domain_tokens[d]) continue;
        printf("%s\"%s\": {\"ppl\": %.6f, \"tokens\": %ld}", first ? "" : ", ",
               shard_domain_name(s, d), exp(ev->domain_loss[d]), ev->domain_tokens[d]);
        first = 0;
    }
    char *f = intervention_field(iv);
    printf("}%s}\n", f);
    ml_free(f);
}

/* A text file on any model, run or GGUF: its ids scored in chunks (lm_score_ids). */
static int eval_text(const char *path, const char *text, int ctx, int json, Intervention *iv) {
    LmModel m;
    LmTok tok;
    if (lm_open(path, &m, &tok, ctx > 0 ? ctx : 512)) ml_fatal("%s", ml_errmsg());
    if (ctx <= 0) ctx = m.cfg.seq_len;
    if (ctx > m.cfg.seq_len)
        ml_fatal("eval: --ctx %d exceeds the model's context length %d", ctx, m.cfg.seq_len);
    if (intervene_active(iv) && intervene_apply(iv, &m, 1, ctx)) ml_fatal("eval: %s", ml_errmsg());
    announce(iv);
    char *buf;
    size_t len;
    int32_t *ids;
    long n, scored;
    double nll;
    if (ml_read_file(text, &buf, &len) || lm_tok_encode(&tok, buf, len, &ids, &n) ||
        lm_score_ids(&m, ids, n, ctx, &nll, &scored))
        ml_fatal("%s", ml_errmsg());
    report_mean_k(iv, &m);
    double loss = nll / scored;
    check_finite(loss);
    if (json) {
        char *f = intervention_field(iv);
        printf("{\"ppl\": %.6f, \"loss\": %.8f, \"nll\": %.6f, \"tokens\": %ld, \"text_tokens\": "
               "%ld, \"ctx\": %d%s}\n",
               exp(loss), loss, nll, scored, n, ctx, f);
        ml_free(f);
    } else
        printf("tokens %ld (scored %ld, chunks of %d)  loss %.4f  ppl %.4f\n", n, scored, ctx, loss,
               exp(loss));
    ml_free(buf), ml_free(ids);
    intervene_free(iv);
    lm_tok_free(&tok);
    lm_free(&m);
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const char *run = NULL;
    Args args = {.B = 8, .ffn_block = INT_MIN};
    Intervention iv;
    intervene_init(&iv);
    CliGroup groups[] = {{.opts = CLI_OPTS(opts), .args = &args}, cli_intervention_group(&iv)};
    cli_parse_groups("eval", groups, 2, argc, argv, &run, 1);
    const char *data = args.data, *text = args.text;
    int json = args.json, B = args.B, ctx = args.ctx;
    long max_windows = args.max_windows;
    if (args.ffn_block != INT_MIN) lm_ffn_block_set(args.ffn_block); /* given: exact */
    if (!run) ml_fatal("eval: RUN is required");
    if (B <= 0) ml_fatal("eval: --batch must be positive");
    if (lm_ffn_block < 0) ml_fatal("eval: --ffn-block must be >= 0, got %d", lm_ffn_block);
    if (text && data) ml_fatal("eval: give --data DIR or --text FILE, not both");
    if (text) return eval_text(run, text, ctx, json, &iv);
    if (lm_path_is_gguf(run)) ml_fatal("eval: a GGUF model needs --text FILE");
    LmModel m;
    if (lm_run_open(run, &m, NULL)) ml_fatal("%s", ml_errmsg());
    TokenShard *s = NULL;
    char *dir = data ? ml_strdup(data) : lm_run_data_dir(run);
    if (!dir)
        ml_fatal("eval: %s does not record its data folder: give --data DIR or --text FILE", run);
    char *p = ml_path_join(dir, "val.tokens");
    int r = shard_open(&s, p);
    ml_free(p);
    if (r) ml_fatal("%s", ml_errmsg());
    if (shard_vocab_size(s) > m.cfg.vocab_size)
        ml_fatal("eval: data vocabulary exceeds the model's");
    if (intervene_active(&iv) && intervene_apply(&iv, &m, B, m.cfg.seq_len))
        ml_fatal("eval: %s", ml_errmsg());
    announce(&iv);
    LmEval ev;
    if (lm_evaluate(&m, s, B, m.cfg.seq_len, max_windows, &ev)) ml_fatal("eval: %s", ml_errmsg());
    check_finite(ev.loss);
    report_mean_k(&iv, &m);
    print_result(&ev, s, json, &iv);
    intervene_free(&iv);
    shard_close(s);
    ml_free(dir);
    lm_free(&m);
    return 0;
}
COMMAND("eval", cmd_eval, "perplexity of a trained model, overall and per domain")
