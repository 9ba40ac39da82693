/* Language-model checkpoints as safetensors. model.safetensors holds the weights with the full
 * config JSON in __metadata__["config"]; checkpoint.safetensors adds the AdamW moments
 * ("adam.m.<name>", "adam.v.<name>") and the training state (step, RNG states) so that --resume
 * continues bit-identically. Both are written atomically. */
#pragma once
#include "core/rng.h"
#include "model/lm.h"

typedef struct {
    int step;
    Rng data_rng;
} LmTrainState;

/* A model with expert-parallel storage (lm_create_shard) writes the same file as one holding
 * every expert: every rank of the expert group holding world rank 0 calls it, that rank writes
 * (and alone returns the result), the others send it their slabs. */
int lm_save(const LmModel *m, const char *path, const LmTrainState *state /* NULL: weights only */);
/* Reads the config from the file, builds the model and loads every tensor (shapes checked).
 * state != NULL: also restores AdamW moments and training state (needs with_grads). */
int lm_load(LmModel *m, const char *path, int with_grads, LmTrainState *state);
/* The same into lm_create_shard's storage: each rank reads its own experts' slabs of the file. */
int lm_load_shard(LmModel *m, const char *path, int with_grads, LmTrainState *state, int shards,
                  int shard);
/* Loads weights by name into an existing model (same config); used by the PyTorch fixture test. */
int lm_load_weights(LmModel *m, const char *path);
