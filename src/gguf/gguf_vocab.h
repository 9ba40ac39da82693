/* The tokenizer stored in a GGUF file (tokenizer.ggml.*), encoding exactly as llama.cpp's
 * llama-vocab.cpp with add_special = false, parse_special = false (docs/gguf.md):
 *  - model "gpt2": byte-level BPE (merges by rank) after the pre-tokenizer named by
 *    tokenizer.ggml.pre: "gpt-2"/"olmo" (GPT-2 regex, data/pretok.h), "llama-bpe"/"llama3"
 *    (digits in groups of up to 3, case-insensitive contractions) and "qwen2" (single digits),
 *    "deepseek-llm" (a chain of six regexes) and "default" (also for a missing or empty key: a
 *    chain of four regexes with Unicode punctuation, gguf_pretok_default.c);
 *  - model "llama": SentencePiece-style BPE (merges by token score, "▁" for spaces, a space
 *    prefix, <0xXX> byte fallback), as Mixtral uses.
 * Other models or pre-tokenizers are one clear error naming the file and the value. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct GgufVocab GgufVocab;

int gguf_vocab_load(GgufVocab **v, const GgufFile *g);
void gguf_vocab_free(GgufVocab *v);
long gguf_vocab_size(const GgufVocab *v);
int gguf_vocab_bos(const GgufVocab *v); /* -1 if none */
int gguf_vocab_add_bos(const GgufVocab *v);
const char *gguf_vocab_model(const GgufVocab *v); /* "gpt2" / "llama" */
const char *gguf_vocab_pre(const GgufVocab *v);   /* pre-tokenizer name ("" for llama) */
/* Token ids of text[0..len) (no BOS/EOS); *ids ml_alloc'd. */
int gguf_vocab_encode(const GgufVocab *v, const char *text, size_t len, int32_t **ids, long *n);

/* Pre-tokenizer of llama.cpp's LLAMA3 (max_digits 3) and QWEN2 (max_digits 1) regexes:
 * byte length of the piece that starts at s (len >= 1). */
size_t pretok_llama3_next(const char *s, size_t len, int max_digits);
/* llama.cpp's DEEPSEEK_LLM pre-tokenizer: the byte lengths of all pieces of text (ml_alloc'd). */
size_t *pretok_deepseek_llm_split(const char *text, size_t len, size_t *npieces);
/* llama.cpp's DEFAULT, FALCON, STARCODER and DEEPSEEK_CODER pre-tokenizers: the byte lengths of
 * all pieces of text (ml_alloc'd). */
size_t *pretok_default_split(const char *text, size_t len, size_t *npieces);
size_t *pretok_falcon_split(const char *text, size_t len, size_t *npieces);
size_t *pretok_starcoder_split(const char *text, size_t len, size_t *npieces);
size_t *pretok_deepseek_coder_split(const char *text, size_t len, size_t *npieces);

/* Token ids back to text (llama.cpp's token_to_piece, special = false): *text ml_alloc'd,
 * NUL-terminated, *len bytes. */
int gguf_detokenize(const GgufFile *g, const int32_t *ids, long n, char **text, size_t *len);

/* A file's vocabulary as pieces, token by token (what gguf_detokenize and the analyses' token
 * texts are made of). */
typedef struct {
    GgufStr *toks;
    int32_t *types;
    uint64_t n, ntypes;
    int spm;          /* SentencePiece "llama" model (else gpt2 byte-level BPE) */
    int16_t inv[512]; /* GPT-2 byte alphabet: code point → byte, -1 if none */
} GgufPieces;
int gguf_pieces_open(GgufPieces *p, const GgufFile *g);
void gguf_pieces_close(GgufPieces *p);
int gguf_piece_is_control(const GgufPieces *p, uint64_t id);
/* Token id's piece into out (room for the token's length in bytes: a piece is never longer). */
size_t gguf_piece(const GgufPieces *p, uint64_t id, char *out);
