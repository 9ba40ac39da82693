/* A prepared text set: the folder `moelens data text` writes (docs/data.md):
 *   tokenizer.txt   byte-level BPE (trained on the train split if absent)
 *   train.tokens    token shard of the train documents
 *   val.tokens      token shard of the validation documents
 *   corpus.json     domains with documents/bytes/tokens per split, tokenizer path, vocab size */
#pragma once
#include "data/corpus.h"
#include "data/tokenizer.h"
#include <stdio.h>

typedef struct {
    int vocab_size;        /* when training a tokenizer */
    int retrain;           /* train a new tokenizer even if out_dir/tokenizer.txt exists */
    const char *tokenizer; /* use this tokenizer file instead (not copied) */
    int verbose;
} TextSetOptions;

/* Trains a tokenizer on the train documents of a split corpus. */
int textset_train_tokenizer(Tokenizer **t, const Corpus *c, int vocab_size, int verbose);
/* Writes the set into out_dir (created). */
int textset_build(const Corpus *c, const char *out_dir, const TextSetOptions *opt);
/* Prints a summary of a prepared text set (folder) or of one .tokens shard. */
int textset_info(const char *path, FILE *out);
