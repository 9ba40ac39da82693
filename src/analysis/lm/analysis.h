/* What the expert analyses of a trained language model share (docs/analysis.md). The driver
 * (analyze.c) streams text in batches through ONE forward pass each and hands every analysis the
 * batch's saved activations; each analysis accumulates, then writes JSON (summary) + CSV/.npy
 * (full arrays). Only MoE layers are analysed (dense FFN layers are skipped); layer index l counts
 * MoE layers, and `layers[l]` maps it to the model's block index. Each analysis declares its own
 * API in its header (routing.h, specialise.h, topk.h, lens.h, docstats.h, ...). */
#pragma once
#include "analysis/lm/an_vocab.h"
#include "core/npy.h"
#include "data/tokenizer.h"
#include "model/lm.h"
#include <cjson/cJSON.h>
#include <stdint.h>

/* One batch of the stream. The analyses see it twice: while lm_forward_observed runs, each MoE
 * layer's FFN rows (*_layer: reduce them, or copy the few rows a subsample needs), then after it
 * (*_accumulate: m->losses holds the per-token NLL; m->acts hold nothing per layer). */
typedef struct {
    LmModel *m;
    const int32_t *tokens, *targets, *domains; /* [N] (domains: global ids, 0..D-1) */
    const uint8_t *classes;                    /* [N] token class of each input token */
    int B, T, N;
    long offset;          /* global index of the batch's first token */
    const int32_t *units; /* [N] unit (document) of each token, for docstats.h */
} AnBatch;

/* The MoE layers of a model: returns their count and fills layers (n_layer entries of room). */
int an_moe_layers(const LmModel *m, int *layers);
/* Registries (LM analyses, vision analyses): rows of `stride` bytes whose first field is the name
 * (first points at row 0's). an_parse_names: "a,b,..." → bit i per row named (-1 + ml_error
 * "--only: unknown <what> 'x' (expected a, b or c)"); an_list_names: "a, b, c" into buf. */
int an_parse_names(const char *list, const char *const *first, size_t stride, int n, unsigned *bits,
                   const char *what);
void an_list_names(char *buf, size_t cap, const char *const *first, size_t stride, int n);
/* The index in layers[0..L) of model block `block`, or -1 (a dense layer). */
int an_moe_index(const int *layers, int L, int block);
/* Writes a cJSON object to dir/name atomically (and frees nothing). */
int an_write_json(const char *dir, const char *name, const cJSON *j);

/* dir/name as .npy (dtype a numpy descr). */
int an_write_npy(const char *dir, const char *name, const char *dtype, const int64_t *shape, int nd,
                 const void *data);
