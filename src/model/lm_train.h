/* Training and evaluation of the language model on token shards (src/data/shard.h). A run folder
 * holds config.json, metrics.jsonl (one JSON object per logged step / evaluation),
 * checkpoint.safetensors (weights + AdamW + training state, for --resume), model.safetensors
 * (weights + config) and tokenizer.txt (a copy of the tokenizer the run was trained with). */
#pragma once
#include "data/shard.h"
#include "model/lm.h"

#define LM_TOKENIZER_FILE "tokenizer.txt" /* tokenizer name in a prepared text folder and a run */

typedef struct {
    const char *out_dir;  /* run folder (created) */
    const char *data_dir; /* prepared text folder: train.tokens, val.tokens, tokenizer.txt */
    int resume;           /* continue from out_dir/checkpoint.safetensors */
    int steps_override;   /* > 0: with resume, train up to this many steps */
    int stop_after;       /* > 0: behave as if interrupted after this many steps of this call */
    int quiet;            /* no progress line (warnings and errors still go to stderr) */
    int zero1;            /* under mpirun: shard AdamW over the ranks (ZeRO-1) */
    int ep;               /* under mpirun: > 1, experts spread over groups of this many ranks */
} LmTrainOptions;

/* A run folder holding LM_TEACHER_FILE trains by self-distillation against that frozen model
 * (ZEDA, `moelens adapt`): the loss is the per-token KL of the logits, not cross-entropy. */
#define LM_TEACHER_FILE "teacher.safetensors"

/* Trains; returns 0 when done, 130 when interrupted by SIGINT (checkpoint saved), -1 on error. */
int lm_train(const LmConfig *cfg, const LmTrainOptions *opt);

#define LM_MAX_DOMAINS 64
typedef struct {
    double loss; /* mean nats per scored token */
    long tokens;
    int n_domains;
    double domain_loss[LM_MAX_DOMAINS];
    long domain_tokens[LM_MAX_DOMAINS];
    long routed_slots, zero_slots; /* top-k slots of every MoE layer; those on zero experts */
} LmEval;

/* Mean loss over max_windows sequential windows of length T spread evenly over the split (≤ 0:
 * all), B at a time. Under mpirun every rank calls it: the batches are dealt out over the ranks
 * and the sums reduced, so every rank gets the one-process result. */
int lm_evaluate(LmModel *m, const TokenShard *s, int B, int T, long max_windows, LmEval *out);
