/* The token texts the analyses need (token classes, lens token text), from either tokenizer a
 * model comes with: a run's own BPE or a GGUF file's vocabulary. GGUF tokens are decoded as
 * llama.cpp's token_to_piece (special = false) does, one token at a time: gpt2 byte-level tokens
 * map GPT-2's byte alphabet back to bytes, SentencePiece tokens turn "▁" into a space and <0xXX>
 * into the byte; control tokens (BOS, EOS, ...) keep their raw text for display and are class
 * "other". */
#pragma once
#include "model/lm_open.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int V;
    char *blob;       /* every token's bytes back to back */
    long *off;        /* [V + 1] */
    uint8_t *special; /* [V] 1: end-of-text / control token (class other) */
} AnVocab;

int an_vocab_build(AnVocab *v, const LmTok *tok);
void an_vocab_free(AnVocab *v);
/* Bytes of token id (not NUL-terminated); n = 0 for an id out of range. */
const char *an_vocab_bytes(const AnVocab *v, int id, size_t *n);
/* table[id] = token class (data/tokenizer.h rules) for id < table_size (ids past V: other). */
void an_vocab_class_table(const AnVocab *v, int lang, uint8_t *table, int table_size);
