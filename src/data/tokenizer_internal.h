/* Inside of the Tokenizer, shared by tokenizer.c (load/save/encode), tokenizer_train.c and
 * tokclass.c. Not part of the API. */
#pragma once
#include "data/hashmap.h"
#include "data/tokenizer.h"

struct Tokenizer {
    int vocab_size; /* including end-of-text */
    int num_merges;
    char *bytes;     /* raw bytes of all tokens, back to back */
    size_t *tok_off; /* [vocab_size] */
    uint32_t *tok_len;
    char **tok_str; /* [vocab_size] GPT-2 byte-level strings */
    int32_t *merge_a, *merge_b, *merge_c;
    char **merge_str;
    U64Map pair_rank; /* (a << 32 | b) → rank */
    BytesMap vocab;   /* token bytes → id (end-of-text excluded: it is never produced by text) */
    /* Encode cache: pre-token bytes → (offset << 16 | count) into cache_ids. */
    BytesMap cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
};

#define TOKENIZER_EOT_TEXT "<|endoftext|>"

/* Building: tok_new, then the byte-level tokens beyond the 256 bytes and the merges, then
 * tok_finish (adds end-of-text, computes strings and lookups). -1 + ml_error on inconsistency. */
Tokenizer *tok_new(void);
int tok_add_token(Tokenizer *t, const char *bytes, size_t len); /* returns id */
void tok_add_merge(Tokenizer *t, int32_t a, int32_t b, int32_t c);
int tok_finish(Tokenizer *t);
