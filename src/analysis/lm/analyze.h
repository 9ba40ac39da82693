/* The analysis driver: streams a text set through the model in batches (one forward each) and feeds
 * every selected analysis from that batch's saved activations (docs/analysis.md). */
#pragma once
#include "data/shard.h"
#include "data/tokenizer.h"
#include "model/lm.h"
#include "model/lm_open.h"
#include <cjson/cJSON.h>

/* AN_ALL: the analyses of the streamed text set (the default); AN_SENSITIVITY reads a pairs file
 * (--pairs) and, for its perplexity cost, the same text set when one is given. */
enum {
    AN_ROUTING = 1,
    AN_SPECIALISE = 2,
    AN_TOPK = 4,
    AN_LENS = 8,
    AN_ALL = 15,
    AN_SENSITIVITY = 16,
    AN_PRUNE = 32 /* perplexity against experts kept (optional: extra forwards) */
};
/* "routing,lens,sensitivity,..." → mask; -1 + ml_error on an unknown name. */
int analyze_parse_only(const char *list, unsigned *mask);
/* "routing, specialise, ...": every analysis's name, in the order they run (for --help). */
void analyze_names(char *buf, size_t cap);

/* Sources of tokens (n_src may be 0 when only AN_SENSITIVITY runs): source s contributes global
 * domain ids base[s] + its shard's domain id. Either shards (src: windows of T inputs and their
 * next tokens, as lm_evaluate scores them) or, when ids != NULL, token arrays of
 * one domain each scored exactly as `moelens eval MODEL.gguf` scores a text (lm_score_ids):
 * chunks of T tokens back to back, the last one shorter, each chunk's first token unscored. */
typedef struct {
    int n_src;
    TokenShard **src;
    const int32_t *const *ids; /* [n_src] id sources (instead of src), or NULL */
    const long *n_ids;         /* [n_src] */
    int *base;
    int D;              /* global domains */
    const char **names; /* [D] */
} AnalyzeData;

/* Full windows of T tokens source s offers (id sources: whole chunks). */
long an_src_windows(const AnalyzeData *d, int s, int T);
/* Length (≥ 2) of an id source's last, shorter chunk (window index an_src_windows), else 0. */
int an_src_tail(const AnalyzeData *d, int s, int T);
/* Window w of source s: inputs, targets (−1: unscored) and global domain ids; returns its length
 * (T, or the tail's). */
int an_src_window(const AnalyzeData *d, int s, long w, int T, int32_t *in, int32_t *tg,
                  int32_t *dom);

/* Units of source s for the document bootstrap: shard documents, or an id source's chunks. */
long an_src_units(const AnalyzeData *d, int s, int T);
/* Unit of each of the len tokens of window w of source s (base: the source's first unit id). */
void an_src_window_units(const AnalyzeData *d, int s, long w, int T, int len, long base,
                         int32_t *units);

/* The stream's batches of one source: up to B of the nw windows taken (at most budget, spread
 * evenly over the all it offers), then an id source's short last chunk alone (when every chunk is
 * taken). */
typedef struct {
    int T, B;
    long nw, all, batches;
    int tail; /* the last chunk's length, or 0 */
} AnSrcPlan;
AnSrcPlan an_src_plan(const AnalyzeData *d, int s, int T, int B, long budget);
/* Batch bi of a source: b windows of Tb tokens. */
void an_batch_shape(const AnSrcPlan *q, long bi, int *b, int *Tb);
/* One batch's inputs, [B·T] each (units: the document bootstrap's, or NULL: not filled). */
typedef struct {
    int32_t *in, *tg, *dom, *units;
} AnBatchBufs;
/* Batch bi of source s into f (unit0: the source's first unit). */
void an_fill_batch(const AnalyzeData *d, int s, const AnSrcPlan *q, long bi, long unit0,
                   const AnBatchBufs *f);

typedef struct {
    const char *out_dir;
    unsigned only;     /* AN_* mask */
    int batch;         /* windows per forward */
    int seq;           /* window length (≤ seq_len; 0: seq_len) */
    long max_tokens;   /* total input tokens analysed (spread evenly over each source) */
    long lens_tokens;  /* logit-lens token subsample */
    long kp_tokens;    /* tokens scored with k' = 1..k (2k extra forwards per batch) */
    long trace_tokens; /* routing trace / shuffle-baseline tokens kept in memory */
    long prune_tokens; /* held-out tokens scored with experts pruned (AN_PRUNE) */
    uint64_t seed;
    int boot; /* document-bootstrap resamples (0: no bootstrap.json) */
    int quiet;
    const char *pairs;         /* minimal pairs TSV for AN_SENSITIVITY */
    int mask_top;              /* experts in each masked group (top-G, bottom-G) */
    long sens_ppl_tokens;      /* validation tokens for the masking perplexity cost (0: off) */
    const cJSON *intervention; /* routing intervention applied to the model (recorded), or NULL */
    const char *model_path;    /* recorded in analyze.json */
} AnalyzeOptions;
void analyze_default_options(AnalyzeOptions *o);

/* Runs the analyses and writes their files into o->out_dir (created), plus analyze.json (what ran,
 * tokens, seconds per phase, the routing convention of each MoE layer, the intervention). tok
 * (a run's tokenizer or a GGUF vocabulary) gives token classes, lens token texts and pair ids. */
int analyze_lm(LmModel *m, const LmTok *tok, const AnalyzeData *data, const AnalyzeOptions *o);
